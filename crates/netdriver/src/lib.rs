//! Linux side of routed: the Babel UDP socket, the netlink monitor and the kernel route
//! installer.
//!
//! The protocol core (`babel-core`) is sans-IO; this crate moves bytes and kernel state. Each
//! piece is driven by the daemon's tokio loop:
//!
//! - [`BabelSocket`]: one UDP socket on `[::]:6696`, multicast membership per interface,
//!   receive with the arrival interface and destination address, send scoped to an interface.
//! - [`Monitor`]: a [`futures::Stream`] of link, address and route events: an initial dump,
//!   then live events; after a netlink overrun, a re-dump and removals for what vanished.
//!   A multipath route is one route, removed with its last path; IPv4 routes that Linux
//!   flushes silently with their link (down, deleted, without IPv4 address) are reported
//!   removed.
//! - [`RouteInstaller`]: atomic route replace and remove with protocol 42, pipelined in batches,
//!   errors reported per route; routes through one neighbour share a kernel nexthop object,
//!   forgotten when Linux flushes it with its link and deleted once no route names it.
//! - [`SourceTables`] and [`RouteInstaller::add_rule`]: IPv4 source-specific routes through
//!   policy routing (a table per source prefix and a `from SRC lookup TABLE` rule).
//! - [`Alarm`]: the daemon loop's next deadline on a timerfd (one wake-up per deadline).
//! - [`release_start_up_pages`]: the pages of the binary that only the start-up used, given
//!   back once the daemon runs.

mod alarm;
#[cfg(test)]
mod garbage;
mod install;
mod monitor;
mod nexthop;
mod nl;
// The one module with unsafe code: madvise over the program's own read-only pages.
#[allow(unsafe_code)]
mod release;
mod rule;
mod socket;

pub use alarm::Alarm;
pub use install::{
    InstallerConfig, InstallerStats, KernelRoute, NextHop, RouteError, RouteErrorKind,
    RouteInstaller, RouteOp, RTPROT_BABEL,
};
pub use monitor::{
    AddrEvent, LinkEvent, Monitor, MonitorConfig, MonitorStats, NetEvent, RouteEvent, RouteKind,
};
pub use release::release_start_up_pages;
pub use rule::{
    DumpedRule, SourceRule, SourceTables, TablesExhausted, DEFAULT_FIRST_RULE_PRIORITY,
    DEFAULT_FIRST_TABLE, DEFAULT_SOURCE_TABLES,
};
pub use socket::{BabelSocket, Received, SocketConfig, SocketStats, BABEL_GROUP, BABEL_PORT};

/// The kernel's main routing table.
pub const RT_TABLE_MAIN: u32 = 254;
