//! Locally originated routes ("xroutes"): addresses and redistributed kernel routes that
//! this node announces with its own router-id and seqno.

use crate::route::RouteKey;
use crate::wire::Prefix;

/// A route the caller asks the node to announce. The `redistribute` filter decides whether
/// it is announced, and may change its metric or make it source-specific.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xroute {
    pub prefix: Prefix,
    pub src_prefix: Option<Prefix>,
    pub metric: u16,
    /// The kernel protocol of a redistributed route (`proto` in filters); 0 if unknown.
    pub proto: u8,
    /// A local address rather than a kernel route (`local` in filters).
    pub local: bool,
    /// The interface the route or address is on, if any (`if` in filters).
    pub ifindex: Option<u32>,
}

/// An announced xroute, after the `redistribute` filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XrouteView {
    pub prefix: Prefix,
    pub src_prefix: Option<Prefix>,
    pub metric: u16,
}

impl XrouteView {
    pub(crate) fn key(&self) -> RouteKey {
        RouteKey::new(self.prefix, self.src_prefix)
    }
}
