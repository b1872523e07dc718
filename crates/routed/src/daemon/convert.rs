//! From the babeld-style configuration (`crate::config`) to the engine's parameters
//! (`babel_core::InterfaceConfig`, `babel_core::Config`, `babel_core::Filters`), and the
//! `redistribute` filter evaluated with babeld's exact rules.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use babel_core::diversity::{Channel, Diversity};
use babel_core::filter::{FilterAction as CoreAction, FilterInput, FilterMatch, FilterRule};
use babel_core::wire::{Prefix, INFINITY};
use babel_core::LinkType;

use crate::config::{self, Family, Filter, Globals, InterfaceType, ProtoMatch, Verdict};

/// Linux's RTPROT_BOOT: routes added by hand (`ip route add` without `proto`).
pub const RTPROT_BOOT: u8 = 3;

/// Whether the kernel calls `name` a wireless interface (babeld's autodetection).
pub fn is_wireless(name: &str) -> bool {
    let base = Path::new("/sys/class/net").join(name);
    base.join("wireless").exists() || base.join("phy80211").exists()
}

/// The engine's parameters for one interface: its `interface`/`default` statements, then the
/// command-line globals (`-h`, `-H`, `-s`, `-w`), then babeld's defaults.
pub fn interface_config(
    c: &config::InterfaceConfig,
    g: &Globals,
    wireless_hw: bool,
) -> babel_core::InterfaceConfig {
    let link_type = match c.kind {
        Some(InterfaceType::Wired) => LinkType::Wired,
        Some(InterfaceType::Wireless) => LinkType::Wireless,
        Some(InterfaceType::Tunnel) => LinkType::Tunnel,
        None if g.all_wireless == Some(true) || wireless_hw => LinkType::Wireless,
        None => LinkType::Wired,
    };
    let mut out = match link_type {
        LinkType::Wired => babel_core::InterfaceConfig::wired(),
        LinkType::Wireless => babel_core::InterfaceConfig::wireless(),
        LinkType::Tunnel => babel_core::InterfaceConfig::tunnel(),
    };
    let global_hello = match link_type {
        LinkType::Wireless => g.wireless_hello_interval,
        _ => g.wired_hello_interval,
    };
    if let Some(h) = c.hello_interval.or(global_hello) {
        // A zero interval would mean "no scheduled hellos"; babeld refuses it too.
        out.hello_interval = h.max(Duration::from_millis(10));
    }
    out.update_interval = c.update_interval;
    out.cost = c.rxcost;
    out.split_horizon = c.split_horizon.or(match (link_type, g.split_horizon) {
        (LinkType::Wired, Some(false)) => Some(false),
        _ => None,
    });
    out.timestamps = c.enable_timestamps;
    if let Some(v) = c.rtt_min {
        out.rtt_min = v;
    }
    if let Some(v) = c.rtt_max {
        out.rtt_max = v;
    }
    out.max_rtt_penalty = c.max_rtt_penalty;
    if let Some(d) = c.rtt_decay {
        out.rtt_decay = d.clamp(1, 255) as u8;
    }
    if let Some(u) = c.unicast {
        // babeld's `unicast`: hellos stay multicast, everything else goes unicast.
        out.unicast = u;
    }
    if let Some(v) = c.v4_via_v6 {
        out.v4_via_v6 = v;
    }
    out.link_quality = c.link_quality;
    out.channel = c.channel.map(|ch| match ch {
        config::Channel::Interfering => Channel::Interfering,
        config::Channel::NonInterfering => Channel::NonInterfering,
        config::Channel::Number(n) => Channel::Number(n),
    });
    out
}

/// Parameters the engine does not implement: named so the daemon can say so once.
pub fn unsupported_parameters(c: &config::InterfaceConfig) -> Vec<&'static str> {
    let mut v = Vec::new();
    if c.faraway.is_some() {
        v.push("faraway");
    }
    if c.rfc6126_compatible.is_some() {
        v.push("rfc6126-compatible");
    }
    v
}

/// Global statements the daemon accepts (babeld's) but does not implement: named so that it
/// says so at start-up rather than ignore them silently.
pub fn unsupported_globals(g: &config::Globals) -> Vec<&'static str> {
    let mut v = Vec::new();
    if g.allow_duplicates.is_some() {
        v.push("allow-duplicates (-A)");
    }
    v
}

fn family_prefix(f: Family) -> Prefix {
    let addr = match f {
        Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    // A /0 never has host bits: this cannot fail.
    Prefix::new(addr, 0).unwrap_or_else(|_| unreachable!())
}

fn core_match(f: &Filter) -> FilterMatch {
    let mut m = FilterMatch {
        // A family restriction without a prefix is the family's whole space.
        prefix: f.prefix.or_else(|| f.family.map(family_prefix)),
        plen_ge: f.plen_ge,
        plen_le: f.plen_le,
        src_prefix: f.src_prefix,
        src_plen_ge: f.src_plen_ge,
        src_plen_le: f.src_plen_le,
        neigh: f.neigh,
        router_id: f.id,
        ifname: f.ifname.clone(),
        ..Default::default()
    };
    match f.proto {
        Some(ProtoMatch::Kernel(p)) => {
            m.proto = Some(p);
            m.local = Some(false);
        }
        Some(ProtoMatch::Local) => m.local = Some(true),
        None => {}
    }
    m
}

/// One configuration filter as an engine rule.
pub fn core_rule(f: &Filter) -> FilterRule {
    let a = &f.action;
    FilterRule {
        matches: core_match(f),
        action: CoreAction {
            deny: a.verdict == Verdict::Deny,
            metric: match a.verdict {
                Verdict::Metric(m) => Some(m),
                _ => None,
            },
            src_prefix: a.src_prefix,
            table: a.table.map(u32::from),
            pref_src: a.pref_src,
        },
    }
}

/// The engine's filters. The `redistribute` list is evaluated by the daemon
/// ([`redistribute`]), which hands the engine only routes to announce, so the engine's own
/// list allows everything it is given.
pub fn core_filters(f: &config::Filters) -> babel_core::Filters {
    babel_core::Filters {
        input: f.input.iter().map(core_rule).collect(),
        output: f.output.iter().map(core_rule).collect(),
        redistribute: vec![FilterRule::default()],
        install: f.install.iter().map(core_rule).collect(),
    }
}

/// The engine's node-wide configuration.
pub fn core_config(c: &config::Config) -> babel_core::Config {
    let mut core = babel_core::Config {
        smoothing_half_life: c.globals.smoothing_half_life(),
        filters: core_filters(&c.filters),
        diversity: Diversity {
            kind: c.globals.diversity.unwrap_or(0),
            factor: c.globals.diversity_factor(),
        },
        ..babel_core::Config::default()
    };
    super::limits::apply(c, &mut core);
    core
}

/// A local address or kernel route offered for redistribution.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub prefix: Prefix,
    pub src_prefix: Option<Prefix>,
    pub ifname: Option<&'a str>,
    /// The kernel protocol; `None` for a local address.
    pub proto: Option<u8>,
}

/// Whether some `redistribute` filter can accept a kernel route (not a local address): only
/// then does the daemon need to follow the kernel's routes. Without one, [`redistribute`]
/// refuses every kernel route, and the daemon need not be told of (nor dump) any.
pub fn redistributes_kernel_routes(filters: &[Filter]) -> bool {
    filters.iter().any(|f| {
        f.proto != Some(ProtoMatch::Local)
            && !matches!(f.action.verdict, Verdict::Deny | Verdict::Metric(INFINITY))
    })
}

/// babeld's `redistribute` decision: the first filter that matches decides; a filter without
/// `proto` or `local` matches neither local addresses nor routes of protocol boot; when no
/// filter matches, local addresses are announced (babeld's implicit final `redistribute local
/// allow`) and kernel routes are not. Returns the metric and the source prefix to announce.
pub fn redistribute(filters: &[Filter], c: &Candidate<'_>) -> Option<(u16, Option<Prefix>)> {
    let local = c.proto.is_none();
    let input = FilterInput {
        prefix: Some(c.prefix),
        src_prefix: c.src_prefix,
        ifname: c.ifname,
        proto: c.proto,
        local: Some(local),
        ..Default::default()
    };
    for f in filters {
        if f.proto.is_none() && (local || c.proto == Some(RTPROT_BOOT)) {
            continue;
        }
        if !core_match(f).matches(&input) {
            continue;
        }
        let metric = match f.action.verdict {
            Verdict::Allow => 0,
            Verdict::Deny => return None,
            Verdict::Metric(INFINITY) => return None,
            Verdict::Metric(m) => m,
        };
        return Some((metric, f.action.src_prefix.or(c.src_prefix)));
    }
    if local {
        Some((0, c.src_prefix))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_statement;
    use crate::config::Statement;

    fn filter(line: &str) -> Filter {
        match parse_statement(line) {
            Ok(Some(Statement::Filter { filter, .. })) => filter,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    fn kernel(prefix: &str, proto: u8) -> Candidate<'static> {
        Candidate {
            prefix: p(prefix),
            src_prefix: None,
            ifname: Some("eth0"),
            proto: Some(proto),
        }
    }

    #[test]
    fn kernel_routes_are_followed_only_for_a_filter_that_can_take_one() {
        let fs = |lines: &[&str]| -> Vec<Filter> { lines.iter().map(|l| filter(l)).collect() };
        assert!(!redistributes_kernel_routes(&[]));
        assert!(!redistributes_kernel_routes(&fs(&[
            "redistribute local",
            "redistribute local deny",
            "redistribute ip 10.0.0.0/8 deny",
            "redistribute metric 65535",
        ])));
        assert!(redistributes_kernel_routes(&fs(&["redistribute"])));
        assert!(redistributes_kernel_routes(&fs(&[
            "redistribute local deny",
            "redistribute proto 4 metric 128",
        ])));
        // The predicate agrees with the filter: a kernel route it would take.
        let f = fs(&["redistribute local", "redistribute ip 10.0.0.0/8 le 24"]);
        assert!(redistributes_kernel_routes(&f));
        let c = Candidate {
            prefix: "10.1.0.0/16".parse().unwrap(),
            src_prefix: None,
            ifname: None,
            proto: Some(4),
        };
        assert_eq!(redistribute(&f, &c), Some((0, None)));
        assert_eq!(redistribute(&f[..1], &c), None);
    }

    #[test]
    fn redistribute_defaults_like_babeld() {
        let local = Candidate {
            prefix: p("10.0.0.1/32"),
            src_prefix: None,
            ifname: Some("lo"),
            proto: None,
        };
        assert_eq!(
            redistribute(&[], &local),
            Some((0, None)),
            "local addresses by default"
        );
        assert_eq!(
            redistribute(&[], &kernel("10.1.0.0/16", 4)),
            None,
            "no kernel routes by default"
        );
        let rules = vec![filter("redistribute ip 10.0.0.0/8 metric 128")];
        assert_eq!(
            redistribute(&rules, &kernel("10.1.0.0/16", 4)),
            Some((128, None))
        );
        // A filter without proto matches neither boot routes nor local addresses.
        assert_eq!(
            redistribute(&rules, &kernel("10.1.0.0/16", RTPROT_BOOT)),
            None
        );
        assert_eq!(redistribute(&rules, &local), Some((0, None)));
        let rules = vec![filter("redistribute proto 3 allow")];
        assert_eq!(
            redistribute(&rules, &kernel("10.1.0.0/16", RTPROT_BOOT)),
            Some((0, None))
        );
        let rules = vec![filter("redistribute local deny")];
        assert_eq!(redistribute(&rules, &local), None);
        let rules = vec![
            filter("redistribute ip 10.0.0.0/8 le 24 deny"),
            filter("redistribute ip 10.0.0.0/8 allow"),
        ];
        assert_eq!(redistribute(&rules, &kernel("10.1.0.0/16", 4)), None);
        assert_eq!(
            redistribute(&rules, &kernel("10.1.1.128/25", 4)),
            Some((0, None))
        );
        assert_eq!(redistribute(&rules, &kernel("192.168.0.0/16", 4)), None);
    }

    #[test]
    fn filters_map_to_engine_rules() {
        let r = core_rule(&filter(
            "in ip 10.0.0.0/8 ge 16 neigh fe80::1 if eth0 metric 300",
        ));
        assert_eq!(r.matches.prefix, Some(p("10.0.0.0/8")));
        assert_eq!(r.matches.plen_ge, Some(16));
        assert_eq!(r.matches.neigh, Some("fe80::1".parse().unwrap()));
        assert_eq!(r.matches.ifname.as_deref(), Some("eth0"));
        assert_eq!(r.action.metric, Some(300));
        assert!(!r.action.deny);
        let r = core_rule(&filter("install ip ::/0 table 100"));
        assert_eq!(r.action.table, Some(100));
        let r = core_rule(&filter("out deny"));
        assert!(r.action.deny);
        // A family-only restriction becomes the family's whole space.
        let r = core_rule(&filter("in le 64 deny"));
        assert_eq!(r.matches.prefix.map(|x| x.is_v6()), Some(true));
    }

    #[test]
    fn interface_parameters_follow_statements_then_globals() {
        let g = Globals {
            wired_hello_interval: Some(Duration::from_secs(1)),
            split_horizon: Some(false),
            ..Default::default()
        };
        let c = config::InterfaceConfig::default();
        let i = interface_config(&c, &g, false);
        assert_eq!(i.link_type, LinkType::Wired);
        assert_eq!(i.hello_interval, Duration::from_secs(1));
        assert_eq!(i.split_horizon, Some(false));
        let c = config::InterfaceConfig {
            kind: Some(InterfaceType::Wireless),
            hello_interval: Some(Duration::from_millis(500)),
            rxcost: Some(300),
            v4_via_v6: Some(false),
            ..Default::default()
        };
        let i = interface_config(&c, &g, false);
        assert_eq!(i.link_type, LinkType::Wireless);
        assert_eq!(i.hello_interval, Duration::from_millis(500));
        assert_eq!(i.nominal_cost(), 300);
        assert!(!i.v4_via_v6);
        assert!(i.split_horizon.is_none());
        assert_eq!(i.link_quality, None);
        assert_eq!(i.channel(), Channel::Interfering);
        let c = config::InterfaceConfig {
            link_quality: Some(false),
            channel: Some(config::Channel::Number(6)),
            ..Default::default()
        };
        let i = interface_config(&c, &g, true);
        assert_eq!(i.link_quality, Some(false));
        assert_eq!(i.channel(), Channel::Number(6));
        assert!(unsupported_parameters(&c).is_empty());
    }

    #[test]
    fn diversity_from_the_command_line_and_statements() {
        let mut c = crate::config::Config::default();
        assert_eq!(core_config(&c).diversity, Diversity::default());
        c.globals.diversity = Some(3);
        c.globals.diversity_factor = Some(64);
        assert_eq!(
            core_config(&c).diversity,
            Diversity {
                kind: 3,
                factor: 64
            }
        );
    }

    #[test]
    fn allow_duplicates_is_named_as_without_effect() {
        let mut g = config::Globals::default();
        assert!(unsupported_globals(&g).is_empty());
        g.allow_duplicates = Some(64);
        assert_eq!(unsupported_globals(&g), vec!["allow-duplicates (-A)"]);
    }
}
