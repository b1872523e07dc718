//! Route filters (`in`, `out`, `redistribute`, `install`) as plain data.
//!
//! This module depends only on `babel_core::wire` and std, so that it can move unchanged to
//! `babel-core/src/filter.rs`, where the engine will evaluate filters. Semantics follow
//! babeld 1.12: a filter list is scanned in order and the first filter whose every match holds
//! decides; a filter without an action allows.

use std::net::IpAddr;

use babel_core::wire::{Prefix, RouterId};

/// Address family a filter is restricted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

/// Which kernel routes a `proto`/`local` match selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtoMatch {
    /// `proto N`: kernel routes whose routing protocol number is N.
    Kernel(u8),
    /// `local`: the node's own local addresses.
    Local,
}

/// What a matching filter does to the route's metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Verdict {
    /// `allow`: accept, metric unchanged (for `redistribute`, metric 0).
    #[default]
    Allow,
    /// `deny`: ignore the route.
    Deny,
    /// `metric N` (1..=65535): for `in`/`out`, add N to the metric; for `redistribute`, announce
    /// with metric N. 65535 is infinity, i.e. the same as `deny`.
    Metric(u16),
}

impl Verdict {
    /// The value babeld stores for this verdict: 0 for allow, 65535 (infinity) for deny.
    pub fn add_metric(self) -> u16 {
        match self {
            Verdict::Allow => 0,
            Verdict::Deny => u16::MAX,
            Verdict::Metric(m) => m,
        }
    }
}

/// The action part of a filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FilterAction {
    pub verdict: Verdict,
    /// `src-prefix P`: in a `redistribute` filter, announce the route as source-specific
    /// from P.
    pub src_prefix: Option<Prefix>,
    /// `table T` (1..=65535): in an `install` filter, the kernel table to install into.
    pub table: Option<u16>,
    /// `pref-src A`: preferred source address for the installed route.
    pub pref_src: Option<IpAddr>,
}

/// One filter line. Every `Some` match must hold for the filter to apply.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Filter {
    /// The family the filter is restricted to. Set by `ip`, `src-ip`, `src-prefix` or
    /// `pref-src`; babeld also restricts a filter with a prefix-length bound (`eq`, `le`, `ge`,
    /// `src-*`) and no address to IPv6, and so does the parser.
    pub family: Option<Family>,
    /// `ip P`: the destination lies within P.
    pub prefix: Option<Prefix>,
    /// `ge N` / `eq N`: destination prefix length at least N (in the family's own units).
    pub plen_ge: Option<u8>,
    /// `le N` / `eq N`: destination prefix length at most N.
    pub plen_le: Option<u8>,
    /// `src-ip P`: the source prefix lies within P.
    pub src_prefix: Option<Prefix>,
    pub src_plen_ge: Option<u8>,
    pub src_plen_le: Option<u8>,
    /// `neigh A`: learned from the neighbour with this (link-local) address.
    pub neigh: Option<IpAddr>,
    /// `id R`: originated by this router-id.
    pub id: Option<RouterId>,
    /// `proto N` or `local`. When absent, a redistribute filter matches every non-local kernel
    /// route except those of protocol "boot" (3).
    pub proto: Option<ProtoMatch>,
    /// `if NAME`: learned over / announced over / forwarding through this interface.
    pub ifname: Option<String>,
    pub action: FilterAction,
}

/// The four filter lists, each applied first-match-wins.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filters {
    /// `in`: routes learned from neighbours.
    pub input: Vec<Filter>,
    /// `out`: routes announced to neighbours.
    pub output: Vec<Filter>,
    /// `redistribute`: kernel routes and local addresses announced into Babel.
    pub redistribute: Vec<Filter>,
    /// `install`: routes installed into the kernel.
    pub install: Vec<Filter>,
}

/// Which list a filter statement adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FilterKind {
    In,
    Out,
    Redistribute,
    Install,
}

impl FilterKind {
    pub fn keyword(self) -> &'static str {
        match self {
            FilterKind::In => "in",
            FilterKind::Out => "out",
            FilterKind::Redistribute => "redistribute",
            FilterKind::Install => "install",
        }
    }
}

impl Filters {
    pub fn list(&self, kind: FilterKind) -> &[Filter] {
        match kind {
            FilterKind::In => &self.input,
            FilterKind::Out => &self.output,
            FilterKind::Redistribute => &self.redistribute,
            FilterKind::Install => &self.install,
        }
    }

    pub fn list_mut(&mut self, kind: FilterKind) -> &mut Vec<Filter> {
        match kind {
            FilterKind::In => &mut self.input,
            FilterKind::Out => &mut self.output,
            FilterKind::Redistribute => &mut self.redistribute,
            FilterKind::Install => &mut self.install,
        }
    }
}
