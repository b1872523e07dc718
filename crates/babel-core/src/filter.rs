//! babeld-style filters: `in`, `out`, `redistribute` and `install`. Each is an ordered list
//! of rules; the first rule whose every match holds decides, and a list where nothing
//! matches allows (except `redistribute`, where only local addresses are allowed by default,
//! as in babeld).

use std::net::IpAddr;

use crate::wire::{Prefix, RouterId, INFINITY};

/// The conditions of a rule. Every field that is set must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterMatch {
    /// `ip P`: the route's prefix lies inside P.
    pub prefix: Option<Prefix>,
    /// `eq N`, `le N`, `ge N` on the prefix length.
    pub plen_eq: Option<u8>,
    pub plen_le: Option<u8>,
    pub plen_ge: Option<u8>,
    /// `src-ip P`: the source prefix lies inside P (a plain route has source `::/0`).
    pub src_prefix: Option<Prefix>,
    pub src_plen_eq: Option<u8>,
    pub src_plen_le: Option<u8>,
    pub src_plen_ge: Option<u8>,
    /// `neigh A`: learned from this neighbour (in).
    pub neigh: Option<IpAddr>,
    /// `id R`: originated by this router-id (in).
    pub router_id: Option<RouterId>,
    /// `if NAME`: learned on / sent on / through this interface.
    pub ifname: Option<String>,
    /// `proto N`: the kernel protocol of a redistributed route.
    pub proto: Option<u8>,
    /// `local`: a local address rather than a kernel route (redistribute).
    pub local: Option<bool>,
}

/// What a matching rule does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterAction {
    /// `deny`; otherwise `allow`.
    pub deny: bool,
    /// `metric N`: added to the metric (`in`, `out`), or the metric itself (`redistribute`).
    pub metric: Option<u16>,
    /// `src-prefix P`: the route is taken as source-specific from P (`in`, `redistribute`).
    pub src_prefix: Option<Prefix>,
    /// `table N` (`install`).
    pub table: Option<u32>,
    /// `pref-src A` (`install`).
    pub pref_src: Option<IpAddr>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterRule {
    pub matches: FilterMatch,
    pub action: FilterAction,
}

/// The four filter lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub input: Vec<FilterRule>,
    pub output: Vec<FilterRule>,
    pub redistribute: Vec<FilterRule>,
    pub install: Vec<FilterRule>,
}

impl Filters {
    /// Whether an install filter gives routes `a` as their preferred source.
    pub(crate) fn installs_pref_src(&self, a: IpAddr) -> bool {
        self.install.iter().any(|r| r.action.pref_src == Some(a))
    }
}

/// What a filter list decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterResult {
    pub allow: bool,
    pub metric: Option<u16>,
    pub src_prefix: Option<Prefix>,
    pub table: Option<u32>,
    pub pref_src: Option<IpAddr>,
}

impl FilterResult {
    /// The metric to add (`in`, `out`): infinity when denied.
    pub fn add_metric(&self) -> u16 {
        if self.allow {
            self.metric.unwrap_or(0)
        } else {
            INFINITY
        }
    }
}

/// What is known of a route when a filter runs.
#[derive(Debug, Clone, Default)]
pub struct FilterInput<'a> {
    pub prefix: Option<Prefix>,
    pub src_prefix: Option<Prefix>,
    pub neigh: Option<IpAddr>,
    pub router_id: Option<RouterId>,
    pub ifname: Option<&'a str>,
    pub proto: Option<u8>,
    pub local: Option<bool>,
}

fn plen_ok(plen: u8, eq: Option<u8>, le: Option<u8>, ge: Option<u8>) -> bool {
    eq.is_none_or(|n| plen == n) && le.is_none_or(|n| plen <= n) && ge.is_none_or(|n| plen >= n)
}

impl FilterMatch {
    pub fn matches(&self, r: &FilterInput<'_>) -> bool {
        if let Some(p) = &self.prefix {
            match &r.prefix {
                Some(rp) if p.contains(rp) => {}
                _ => return false,
            }
        }
        if self.plen_eq.is_some() || self.plen_le.is_some() || self.plen_ge.is_some() {
            let Some(rp) = &r.prefix else { return false };
            if !plen_ok(rp.plen(), self.plen_eq, self.plen_le, self.plen_ge) {
                return false;
            }
        }
        // A plain route's source prefix is the whole address space of its family.
        let src = r.src_prefix.or_else(|| {
            r.prefix.map(|p| {
                let unspecified = if p.is_v4() {
                    IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
                } else {
                    IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
                };
                Prefix::new(unspecified, 0).unwrap_or(p)
            })
        });
        if let Some(p) = &self.src_prefix {
            match &src {
                Some(sp) if p.contains(sp) => {}
                _ => return false,
            }
        }
        if self.src_plen_eq.is_some() || self.src_plen_le.is_some() || self.src_plen_ge.is_some() {
            let plen = src.map_or(0, |p| p.plen());
            if !plen_ok(plen, self.src_plen_eq, self.src_plen_le, self.src_plen_ge) {
                return false;
            }
        }
        if self.neigh.is_some() && self.neigh != r.neigh {
            return false;
        }
        if self.router_id.is_some() && self.router_id != r.router_id {
            return false;
        }
        if let Some(name) = &self.ifname {
            if r.ifname != Some(name.as_str()) {
                return false;
            }
        }
        if self.proto.is_some() && self.proto != r.proto {
            return false;
        }
        if self.local.is_some() && self.local != r.local {
            return false;
        }
        true
    }
}

/// Runs one list: the first matching rule decides; `default_allow` when none matches.
pub fn apply(rules: &[FilterRule], r: &FilterInput<'_>, default_allow: bool) -> FilterResult {
    for rule in rules {
        if rule.matches.matches(r) {
            let a = &rule.action;
            return FilterResult {
                allow: !a.deny && a.metric.is_none_or(|m| m < INFINITY),
                metric: a.metric,
                src_prefix: a.src_prefix,
                table: a.table,
                pref_src: a.pref_src,
            };
        }
    }
    FilterResult {
        allow: default_allow,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    fn rule(m: FilterMatch, a: FilterAction) -> FilterRule {
        FilterRule {
            matches: m,
            action: a,
        }
    }

    #[test]
    fn first_match_wins_with_ip_and_plen_bounds() {
        let rules = vec![
            rule(
                FilterMatch {
                    prefix: Some(p("10.0.0.0/8")),
                    plen_ge: Some(24),
                    ..Default::default()
                },
                FilterAction {
                    deny: true,
                    ..Default::default()
                },
            ),
            rule(
                FilterMatch {
                    prefix: Some(p("10.0.0.0/8")),
                    ..Default::default()
                },
                FilterAction {
                    metric: Some(128),
                    ..Default::default()
                },
            ),
        ];
        let input = |s: &str| FilterInput {
            prefix: Some(p(s)),
            ..Default::default()
        };
        assert_eq!(
            apply(&rules, &input("10.1.2.0/24"), true).add_metric(),
            INFINITY
        );
        assert_eq!(apply(&rules, &input("10.1.0.0/16"), true).add_metric(), 128);
        assert_eq!(
            apply(&rules, &input("192.168.0.0/16"), true).add_metric(),
            0
        );
        assert!(!apply(&rules, &input("192.168.0.0/16"), false).allow);
    }

    #[test]
    fn src_ip_neigh_id_if_proto_local_and_install_actions() {
        let nb: IpAddr = "fe80::1".parse().unwrap();
        let rules = vec![rule(
            FilterMatch {
                src_prefix: Some(p("2001:db8::/32")),
                src_plen_ge: Some(48),
                neigh: Some(nb),
                router_id: Some(RouterId([2; 8])),
                ifname: Some("eth0".into()),
                proto: Some(3),
                local: Some(false),
                ..Default::default()
            },
            FilterAction {
                table: Some(100),
                pref_src: Some("2001:db8::1".parse().unwrap()),
                ..Default::default()
            },
        )];
        let mut input = FilterInput {
            prefix: Some(p("::/0")),
            src_prefix: Some(p("2001:db8:1::/48")),
            neigh: Some(nb),
            router_id: Some(RouterId([2; 8])),
            ifname: Some("eth0"),
            proto: Some(3),
            local: Some(false),
        };
        let r = apply(&rules, &input, true);
        assert_eq!(r.table, Some(100));
        assert!(r.pref_src.is_some());
        input.ifname = Some("eth1");
        assert_eq!(apply(&rules, &input, true).table, None);
        input.ifname = Some("eth0");
        input.src_prefix = None;
        assert_eq!(
            apply(&rules, &input, true).table,
            None,
            "plain route has source ::/0"
        );
    }
}
