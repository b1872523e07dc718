//! Linux side of routed: sockets, netlink monitor and kernel route installer.
//!
//! Empty for now; it grows with the daemon issue.
