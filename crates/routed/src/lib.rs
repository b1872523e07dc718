//! routed: a Babel routing daemon (a drop-in for babeld) and its client `babelctl`.
//!
//! - [`config`]: babeld's command line and configuration statements, parsed and typed;
//! - [`decode`]: Babel packets, from pcap/pcapng captures or hex, to JSON (`babelctl decode`).

#![forbid(unsafe_code)]

pub mod config;
pub mod decode;
