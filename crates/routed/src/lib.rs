//! routed: a Babel routing daemon (a drop-in for babeld) and its client `babelctl`.
//!
//! [`decode`] turns Babel packets, from pcap/pcapng captures or hex, into JSON
//! (`babelctl decode`).

#![forbid(unsafe_code)]

pub mod decode;
pub mod control;
