//! routed: a Babel routing daemon (a drop-in for babeld) and its client `babelctl`.
//!
//! - [`config`]: babeld's command line and configuration statements, parsed and typed;
//! - [`daemon`]: the `routed` event loop (socket, netlink, kernel routes, control socket);
//! - [`decode`]: Babel packets, from pcap/pcapng captures or hex, to JSON (`babelctl decode`);
//! - [`logger`]: the daemon's log lines.

#![forbid(unsafe_code)]

pub mod config;
pub mod control;
pub mod daemon;
pub mod decode;
pub mod logger;
