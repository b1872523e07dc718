//! babel-core: the Babel routing protocol (RFC 8966) as a sans-IO state machine.
//!
//! This crate performs no I/O, reads no clock and owns no global randomness. Time and
//! seeds are passed in; packets go in as bytes and come out through `poll_*` calls.
//!
//! The [`wire`] module is the complete wire format: packets, TLVs, sub-TLVs and prefix
//! compression, parsed from bytes and emitted back. [`Node`] is the protocol engine:
//!
//! ```
//! use babel_core::{Node, Config, InterfaceEvent, InterfaceConfig, Timestamp};
//! use babel_core::wire::RouterId;
//! let now = Timestamp::ZERO;
//! let mut node = Node::new(Config::default(), RouterId([1; 8]), 0, 42, now);
//! node.handle_interface(now, InterfaceEvent::Up {
//!     ifindex: 2, name: "eth0".into(), config: InterfaceConfig::wired(),
//!     link_local: Some("fe80::1".parse().unwrap()), ipv4: None, mtu: 1500,
//! });
//! // The driver loop: run timers, then drain every output.
//! let mut buf = Vec::new();
//! while let Some(t) = node.poll_timeout() {
//!     if t > Timestamp::from_secs(1) { break; }
//!     node.handle_timeout(t);
//!     while let Some(tx) = node.poll_transmit(t, &mut buf) {
//!         assert_eq!(tx.len, buf.len()); // send buf[..] to tx.dst on tx.ifindex
//!     }
//!     while let Some(_change) = node.poll_route() {}
//!     while let Some(_event) = node.poll_event() {}
//! }
//! ```

#![forbid(unsafe_code)]

mod ack;
pub mod auth;
pub mod diversity;
pub mod filter;
mod hash;
mod index;
pub mod neighbour;
mod node;
mod paged;
mod pending;
mod request;
mod rng;
pub mod route;
pub mod source;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;
mod timer;
pub mod wire;
pub mod xroute;

pub use filter::{FilterAction, FilterMatch, FilterRule, Filters};
pub use node::{
    Command, Config, Event, InstalledRoute, InterfaceConfig, InterfaceEvent, InterfaceView, Limit,
    LinkType, NeighbourView, Node, PreparsedPacket, RouteChange, RouteEventKind, RouteView,
    SentStats, Stats, TableStats, Transmit,
};
pub use route::RouteKey;
pub use source::SourceView;
pub use time::Timestamp;
pub use xroute::{Xroute, XrouteView};
