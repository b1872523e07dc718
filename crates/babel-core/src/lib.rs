//! babel-core: the Babel routing protocol (RFC 8966) as a sans-IO state machine.
//!
//! This crate performs no I/O, reads no clock and owns no global randomness. Time and
//! seeds are passed in; packets go in as bytes and come out through `poll_*` calls.
//!
//! The [`wire`] module is the complete wire format: packets, TLVs, sub-TLVs and prefix
//! compression, parsed from bytes and emitted back.

#![forbid(unsafe_code)]

pub mod auth;
pub mod wire;
