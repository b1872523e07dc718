//! The route installer in a namespace, checked against `ip -j route` and the monitor.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use babel_core::wire::Prefix;
use common::Netns;
use futures::StreamExt;
use netdriver::{
    InstallerConfig, KernelRoute, Monitor, MonitorConfig, NetEvent, RouteErrorKind, RouteInstaller,
    RouteKind, RouteOp,
};
use serde_json::Value;

fn p(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A namespace with two links (d0, d1) carrying 192.0.2.1/24 and 198.51.100.1/24.
fn setup() -> Option<(Netns, u32, u32)> {
    let ns = Netns::new()?;
    common::local_link(&ns, "d0");
    common::local_link(&ns, "d1");
    ns.ip("addr add 192.0.2.1/24 dev d0");
    ns.ip("addr add 198.51.100.1/24 dev d1");
    // With their carriers (Linux reports them a moment later): IPv6 addresses added meanwhile
    // are tentative until then, and refused as preferred sources.
    wait_link(&ns.name, "d0", true);
    wait_link(&ns.name, "d1", true);
    let (d0, d1) = (ns.ifindex("d0"), ns.ifindex("d1"));
    Some((ns, d0, d1))
}

/// Our routes of one family as `ip -j` shows them.
fn routes(ns: &Netns, family: &str, table: &str) -> Vec<Value> {
    routes_in(&ns.name, family, table)
}

fn routes_in(name: &str, family: &str, table: &str) -> Vec<Value> {
    match common::ip_json_in(name, &format!("{family} route show proto 42 table {table}")) {
        Value::Array(v) => v,
        other => panic!("unexpected ip output {other}"),
    }
}

fn find<'a>(rs: &'a [Value], dst: &str) -> Vec<&'a Value> {
    rs.iter().filter(|r| r["dst"] == dst).collect()
}

/// Exactly one route to `dst` exists; returns it.
fn one(ns: &Netns, family: &str, dst: &str) -> Value {
    one_in(&ns.name, family, dst)
}

fn one_in(name: &str, family: &str, dst: &str) -> Value {
    let rs = routes_in(name, family, "main");
    let found = find(&rs, dst);
    assert_eq!(found.len(), 1, "routes to {dst}: {rs:?}");
    found[0].clone()
}

#[test]
fn replace_v6_and_v4_routes_and_change_next_hop_without_a_gap() {
    let Some((ns, d0, d1)) = setup() else { return };
    let name = ns.name.clone();
    let check = move |family: &str, dst: &str| one_in(&name, family, dst);
    ns.block_on(move || async move {
        let mut monitor = Monitor::new(MonitorConfig::default()).expect("monitor");
        loop {
            if monitor.next().await.unwrap().unwrap() == NetEvent::DumpDone {
                break;
            }
        }
        let mut inst = RouteInstaller::new(InstallerConfig::default()).expect("installer");
        let v6 = p("2001:db8:1::/48");
        let v4 = p("10.1.0.0/16");

        inst.replace(&KernelRoute::via(v6, ip("fe80::1"), d0, 0))
            .expect("v6");
        inst.replace(&KernelRoute::via(v4, ip("192.0.2.2"), d0, 0))
            .expect("v4");
        let r = check("-6", "2001:db8:1::/48");
        assert_eq!(
            (r["gateway"].as_str(), r["dev"].as_str()),
            (Some("fe80::1"), Some("d0"))
        );
        let r = check("-4", "10.1.0.0/16");
        assert_eq!(
            (r["gateway"].as_str(), r["dev"].as_str()),
            (Some("192.0.2.2"), Some("d0"))
        );
        assert!(
            r["flags"].as_array().unwrap().iter().any(|f| f == "onlink"),
            "{r}"
        );

        // New next hops, twice: each step leaves exactly one route in place.
        for (gw6, gw4, dev, name) in [
            ("fe80::2", "198.51.100.2", d1, "d1"),
            ("fe80::3", "192.0.2.3", d0, "d0"),
        ] {
            inst.replace(&KernelRoute::via(v6, ip(gw6), dev, 0))
                .expect("v6 again");
            let r = check("-6", "2001:db8:1::/48");
            assert_eq!(
                (r["gateway"].as_str(), r["dev"].as_str()),
                (Some(gw6), Some(name))
            );
            inst.replace(&KernelRoute::via(v4, ip(gw4), dev, 0))
                .expect("v4 again");
            let r = check("-4", "10.1.0.0/16");
            assert_eq!(
                (r["gateway"].as_str(), r["dev"].as_str()),
                (Some(gw4), Some(name))
            );
        }

        // The kernel announced each change as a new route and never withdrew one: the
        // replace was atomic.
        let mut seen = Vec::new();
        while let Ok(Some(ev)) =
            tokio::time::timeout(Duration::from_millis(300), monitor.next()).await
        {
            if let NetEvent::Route(r) = ev.unwrap() {
                if r.protocol == 42 {
                    seen.push(r);
                }
            }
        }
        assert!(
            seen.iter().all(|r| r.added),
            "a route was withdrawn: {seen:?}"
        );
        assert_eq!(
            seen.iter().filter(|r| r.prefix == v6).count(),
            3,
            "{seen:?}"
        );
        assert_eq!(
            seen.iter().filter(|r| r.prefix == v4).count(),
            3,
            "{seen:?}"
        );
        let last6 = seen.iter().rev().find(|r| r.prefix == v6).unwrap();
        assert_eq!(
            (last6.gateway, last6.ifindex),
            (Some(ip("fe80::3")), Some(d0))
        );

        // The installer's own dump agrees.
        let mut own = inst.dump().expect("dump");
        own.sort_by_key(|r| r.prefix);
        assert_eq!(own.len(), 2);
        assert_eq!(own[0].prefix, v4);
        assert_eq!(own[0].gateway, Some(ip("192.0.2.3")));
        assert_eq!(own[1].metric, 1024, "Linux stores IPv6 priority 0 as 1024");

        inst.remove(&KernelRoute::via(v6, ip("fe80::3"), d0, 0))
            .expect("remove v6");
        inst.remove(&KernelRoute::via(v4, ip("192.0.2.3"), d0, 0))
            .expect("remove v4");
        assert!(inst.dump().expect("dump").is_empty());
        let e = inst
            .remove(&KernelRoute::via(v4, ip("192.0.2.3"), d0, 0))
            .unwrap_err();
        assert_eq!(e.errno(), Some(3), "no such process (ESRCH): {e}");
        assert!(e.to_string().contains("10.1.0.0/16"), "{e}");
    });
}

#[test]
fn ipv4_route_through_ipv6_link_local_next_hop() {
    let Some((ns, d0, _)) = setup() else { return };
    ns.block_on(move || async move {
        let mut inst = RouteInstaller::new(InstallerConfig::default()).expect("installer");
        // RFC 9229: an IPv4 prefix with an IPv6 next hop.
        inst.replace(&KernelRoute::via(p("10.2.0.0/16"), ip("fe80::1"), d0, 0))
            .expect("v4 via v6");
    });
    let r = one(&ns, "-4", "10.2.0.0/16");
    assert_eq!(r["via"]["family"], "inet6", "{r}");
    assert_eq!(r["via"]["host"], "fe80::1", "{r}");
    assert_eq!(r["dev"], "d0");
    let get = ns.ip_json("-4 route get 10.2.3.4");
    assert_eq!(get[0]["dev"], "d0", "{get}");
}

#[test]
fn source_specific_ipv6_routes_coexist_and_are_removed_one_by_one() {
    let Some((ns, d0, d1)) = setup() else { return };
    let dst = p("2001:db8:2::/48");
    ns.block_on(move || async move {
        let mut inst = RouteInstaller::new(InstallerConfig::default()).expect("installer");
        let a = KernelRoute::via(dst, ip("fe80::1"), d0, 0).from_src(p("2001:db8:aa::/48"));
        let b = KernelRoute::via(dst, ip("fe80::2"), d1, 0).from_src(p("2001:db8:bb::/48"));
        let plain = KernelRoute::via(dst, ip("fe80::3"), d0, 0);
        assert!(inst
            .apply(&[
                RouteOp::Replace(a),
                RouteOp::Replace(b),
                RouteOp::Replace(plain)
            ])
            .is_empty());
        assert_eq!(inst.dump().unwrap().len(), 3);
        inst.remove(&a)
            .expect("remove the first source-specific route");
        let left = inst.dump().unwrap();
        assert_eq!(left.len(), 2);
        assert!(left.iter().any(|r| r.src == Some(p("2001:db8:bb::/48"))));
        assert!(left.iter().any(|r| r.src.is_none()));
        // Linux has no source-specific IPv4 routes: refused before sending.
        let v4 =
            KernelRoute::via(p("10.0.0.0/8"), ip("192.0.2.2"), d0, 0).from_src(p("192.0.2.0/24"));
        let e = inst.replace(&v4).unwrap_err();
        assert!(matches!(e.kind, RouteErrorKind::Invalid(_)), "{e}");
    });
    let rs = routes(&ns, "-6", "main");
    let to_dst = find(&rs, "2001:db8:2::/48");
    assert_eq!(to_dst.len(), 2, "{rs:?}");
    let ss = to_dst
        .iter()
        .find(|r| r.get("from").is_some())
        .expect("a from route");
    assert_eq!(ss["from"], "2001:db8:bb::/48");
    assert_eq!(ss["gateway"], "fe80::2");
}

#[test]
fn unreachable_routes_and_replacing_them_by_a_gateway() {
    let Some((ns, d0, _)) = setup() else { return };
    ns.block_on(move || async move {
        let mut inst = RouteInstaller::new(InstallerConfig::default()).expect("installer");
        inst.add_unreachable(p("2001:db8:3::/48"), 0)
            .expect("v6 unreachable");
        inst.add_unreachable(p("10.3.0.0/16"), 0)
            .expect("v4 unreachable");
        let own = inst.dump().unwrap();
        assert_eq!(own.len(), 2);
        assert!(own.iter().all(|r| r.kind == RouteKind::Unreachable));
    });
    assert_eq!(one(&ns, "-6", "2001:db8:3::/48")["type"], "unreachable");
    assert_eq!(one(&ns, "-4", "10.3.0.0/16")["type"], "unreachable");
    ns.block_on(move || async move {
        let mut inst = RouteInstaller::new(InstallerConfig::default()).expect("installer");
        inst.replace(&KernelRoute::via(
            p("2001:db8:3::/48"),
            ip("fe80::1"),
            d0,
            0,
        ))
        .expect("v6 replace");
        inst.replace(&KernelRoute::via(p("10.3.0.0/16"), ip("192.0.2.2"), d0, 0))
            .expect("v4 replace");
    });
    let r6 = one(&ns, "-6", "2001:db8:3::/48");
    assert_eq!(r6["gateway"], "fe80::1", "{r6}");
    assert!(r6.get("type").is_none_or(|t| t == "unicast"), "{r6}");
    let r4 = one(&ns, "-4", "10.3.0.0/16");
    assert_eq!(r4["gateway"], "192.0.2.2", "{r4}");
    // And an unreachable route is removed like any other.
    ns.block_on(move || async move {
        let mut inst = RouteInstaller::new(InstallerConfig::default()).expect("installer");
        inst.add_unreachable(p("2001:db8:33::/48"), 0).unwrap();
        inst.add_unreachable(p("10.33.0.0/16"), 0).unwrap();
        inst.remove(&KernelRoute::unreachable(p("2001:db8:33::/48"), 0))
            .expect("remove v6 unreachable");
        inst.remove(&KernelRoute::unreachable(p("10.33.0.0/16"), 0))
            .expect("remove v4 unreachable");
    });
    assert!(find(&routes(&ns, "-6", "main"), "2001:db8:33::/48").is_empty());
    assert!(find(&routes(&ns, "-4", "main"), "10.33.0.0/16").is_empty());
}

#[test]
fn purge_removes_our_routes_and_nothing_else() {
    let Some((ns, d0, _)) = setup() else { return };
    // Not ours: another protocol in main, and protocol 42 in another table.
    ns.ip("route add 10.9.0.0/16 via 192.0.2.9 proto static");
    ns.ip("-6 route add 2001:db8:9::/48 via fe80::9 dev d0 proto static");
    ns.ip("route add 10.8.0.0/16 via 192.0.2.8 proto 42 table 100");
    // Leftovers of an earlier run.
    ns.ip("route add 10.7.0.0/16 via 192.0.2.7 proto 42");
    ns.ip("-6 route add 2001:db8:7::/48 via fe80::7 dev d0 proto 42");
    let removed = ns.block_on(move || async move {
        let mut inst = RouteInstaller::new(InstallerConfig::default()).expect("installer");
        inst.add_unreachable(p("2001:db8:6::/48"), 0).unwrap();
        inst.replace(&KernelRoute::via(p("10.6.0.0/16"), ip("fe80::6"), d0, 0))
            .unwrap();
        let n = inst.purge().expect("purge");
        assert!(inst.dump().unwrap().is_empty());
        n
    });
    assert_eq!(removed, 4);
    assert!(routes(&ns, "-4", "main").is_empty());
    assert!(routes(&ns, "-6", "main").is_empty());
    assert_eq!(routes(&ns, "-4", "100").len(), 1, "other table untouched");
    let statics = ns.ip_json("route show proto static");
    assert_eq!(statics.as_array().unwrap().len(), 1);
    let statics6 = ns.ip_json("-6 route show proto static");
    assert_eq!(statics6.as_array().unwrap().len(), 1);
    // purge_protocol names the protocol: here, static routes of the main table.
    let n = ns.block_on(|| async {
        let mut inst = RouteInstaller::new(InstallerConfig::default()).unwrap();
        inst.purge_protocol(4).unwrap()
    });
    assert_eq!(n, 2);
    assert!(ns
        .ip_json("route show proto static")
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(routes(&ns, "-4", "100").len(), 1);
}

#[test]
fn purge_of_a_large_table_removes_every_route_of_ours() {
    // Many times the purge's chunk, in both families: the deletes go out while the dump is
    // read, and Linux restarts an IPv6 dump that a delete interrupted, so the passes must
    // still find every route and count each once.
    let Some((ns, d0, _)) = setup() else { return };
    ns.ip("-6 route add 2001:db8:9::/48 via fe80::9 dev d0 proto static");
    let (v4, v6) = (3_000u32, 12_000u32);
    let removed = ns.block_on(move || async move {
        let mut inst = RouteInstaller::new(InstallerConfig::default()).expect("installer");
        let mut ops = Vec::new();
        for i in 0..v4 {
            let dst = p(&format!("10.{}.{}.0/24", i / 256, i % 256));
            ops.push(RouteOp::Add(KernelRoute::via(dst, ip("192.0.2.7"), d0, 0)));
        }
        for i in 0..v6 {
            let dst = p(&format!(
                "2001:db8:{:x}:{:x}::/64",
                0x100 + i / 4096,
                i % 4096
            ));
            ops.push(RouteOp::Add(KernelRoute::unreachable(dst, 0)));
        }
        let errors = inst.apply(&ops);
        assert!(errors.is_empty(), "{:?}", errors.first());
        assert_eq!(inst.dump().unwrap().len(), (v4 + v6) as usize);
        let n = inst.purge().expect("purge");
        assert!(inst.dump().unwrap().is_empty());
        n
    });
    assert_eq!(removed, (v4 + v6) as usize);
    assert!(routes(&ns, "-4", "main").is_empty());
    assert!(routes(&ns, "-6", "main").is_empty());
    let statics6 = ns.ip_json("-6 route show proto static");
    assert_eq!(
        statics6.as_array().unwrap().len(),
        1,
        "not ours: left alone"
    );
}

#[test]
fn purge_of_an_empty_table_removes_nothing() {
    let Some((ns, _, _)) = setup() else { return };
    let n = ns.block_on(|| async {
        RouteInstaller::new(InstallerConfig::default())
            .unwrap()
            .purge()
            .unwrap()
    });
    assert_eq!(n, 0);
    assert!(!ns.ip_json("route show").as_array().unwrap().is_empty());
}

#[test]
fn export_table_and_metric_are_honoured() {
    let Some((ns, d0, _)) = setup() else { return };
    ns.block_on(move || async move {
        let cfg = InstallerConfig {
            table: 1000,
            ..InstallerConfig::default()
        };
        let mut inst = RouteInstaller::new(cfg).expect("installer");
        inst.replace(&KernelRoute::via(
            p("2001:db8:4::/48"),
            ip("fe80::1"),
            d0,
            17,
        ))
        .unwrap();
        inst.replace(&KernelRoute::via(p("10.4.0.0/16"), ip("192.0.2.2"), d0, 17))
            .unwrap();
        assert_eq!(inst.dump().unwrap().len(), 2);
    });
    assert!(routes(&ns, "-6", "main").is_empty());
    let r6 = routes(&ns, "-6", "1000");
    assert_eq!(r6.len(), 1, "{r6:?}");
    assert_eq!(r6[0]["metric"], 17);
    let r4 = routes(&ns, "-4", "1000");
    assert_eq!(r4.len(), 1, "{r4:?}");
    assert_eq!(r4[0]["metric"], 17);
}

#[test]
fn batch_reports_each_failure_at_its_index_and_installs_the_rest() {
    let Some((ns, d0, _)) = setup() else { return };
    ns.block_on(move || async move {
        let mut inst = RouteInstaller::new(InstallerConfig::default()).expect("installer");
        let ops = [
            RouteOp::Replace(KernelRoute::via(
                p("2001:db8:10::/48"),
                ip("fe80::1"),
                d0,
                0,
            )),
            // No such interface.
            RouteOp::Replace(KernelRoute::via(
                p("2001:db8:11::/48"),
                ip("fe80::1"),
                9999,
                0,
            )),
            RouteOp::Replace(KernelRoute::via(p("10.10.0.0/16"), ip("192.0.2.2"), d0, 0)),
            // Nothing to remove.
            RouteOp::Remove(KernelRoute::unreachable(p("10.11.0.0/16"), 0)),
            RouteOp::Replace(KernelRoute::unreachable(p("10.12.0.0/16"), 0)),
        ];
        let errors = inst.apply(&ops);
        let at: Vec<usize> = errors.iter().map(|(i, _)| *i).collect();
        assert_eq!(at, vec![1, 3], "{errors:?}");
        let (_, e1) = &errors[0];
        assert_eq!(e1.dst, Some(p("2001:db8:11::/48")));
        assert_eq!(e1.errno(), Some(19), "{e1}"); // ENODEV
        assert!(e1.to_string().contains("No such device"), "{e1}");
        assert_eq!(errors[1].1.op, "remove");
        assert_eq!(inst.dump().unwrap().len(), 3);
    });
}

#[test]
fn ten_thousand_routes_in_one_batch() {
    let Some((ns, d0, _)) = setup() else { return };
    let n = 10_000u32;
    ns.block_on(move || async move {
        let mut inst = RouteInstaller::new(InstallerConfig::default()).expect("installer");
        let ops: Vec<RouteOp> = (0..n)
            .map(|i| {
                let dst = if i % 2 == 0 {
                    Prefix::v6(
                        std::net::Ipv6Addr::new(0x2001, 0xdb8, 0x100, i as u16, 0, 0, 0, 0),
                        64,
                    )
                    .unwrap()
                } else {
                    Prefix::v4(std::net::Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap()
                };
                let gw = if dst.is_v6() {
                    ip("fe80::1")
                } else {
                    ip("192.0.2.2")
                };
                RouteOp::Replace(KernelRoute::via(dst, gw, d0, 0))
            })
            .collect();
        let errors = inst.apply(&ops);
        assert!(
            errors.is_empty(),
            "{} errors, first {:?}",
            errors.len(),
            errors.first()
        );
        assert_eq!(inst.dump().unwrap().len(), n as usize);
        // Replacing them all again changes nothing in the count.
        assert!(inst.apply(&ops).is_empty());
    });
    let v6 = routes(&ns, "-6", "main").len();
    let v4 = routes(&ns, "-4", "main").len();
    assert_eq!((v6, v4), (5_000, 5_000));
    let purged = ns.block_on(|| async {
        RouteInstaller::new(InstallerConfig::default())
            .unwrap()
            .purge()
            .unwrap()
    });
    assert_eq!(purged, n as usize);
    assert!(routes(&ns, "-6", "main").is_empty());
}

#[test]
fn add_leaves_a_foreign_route_alone_where_replace_would_take_it() {
    let Some((ns, d0, _)) = setup() else { return };
    ns.ip("-6 route add 2001:db8:50::/48 via fe80::50 dev d0 proto static");
    ns.ip("route add 10.50.0.0/16 via 192.0.2.50 proto static");
    ns.block_on(move || async move {
        let mut inst = RouteInstaller::new(InstallerConfig::default()).expect("installer");
        let v6 = KernelRoute::via(p("2001:db8:50::/48"), ip("fe80::1"), d0, 0);
        let v4 = KernelRoute::via(p("10.50.0.0/16"), ip("192.0.2.2"), d0, 0);
        let errors = inst.apply(&[RouteOp::Add(v6), RouteOp::Add(v4)]);
        assert_eq!(errors.len(), 2, "{errors:?}");
        for (_, e) in &errors {
            assert_eq!(e.errno(), Some(17), "EEXIST: {e}");
            assert_eq!(e.op, "add");
        }
        // A fresh prefix is added; adding it twice is refused; replacing it is fine.
        let fresh = KernelRoute::via(p("2001:db8:51::/48"), ip("fe80::1"), d0, 0);
        inst.add(&fresh).expect("add");
        assert_eq!(inst.add(&fresh).unwrap_err().errno(), Some(17));
        inst.replace(&KernelRoute::via(
            p("2001:db8:51::/48"),
            ip("fe80::2"),
            d0,
            0,
        ))
        .expect("replace");
    });
    let statics = ns.ip_json("-6 route show proto static");
    assert_eq!(statics[0]["gateway"], "fe80::50", "{statics}");
    let statics = ns.ip_json("route show proto static");
    assert_eq!(statics[0]["gateway"], "192.0.2.50", "{statics}");
    assert_eq!(one(&ns, "-6", "2001:db8:51::/48")["gateway"], "fe80::2");
}

/// `ip -j rule` of one family in `ns`.
fn rules(ns: &Netns, family: &str) -> Vec<Value> {
    match ns.ip_json(&format!("{family} rule show")) {
        Value::Array(v) => v,
        other => panic!("unexpected ip output {other}"),
    }
}

#[test]
fn ipv4_source_specific_routes_through_a_source_table_and_rule() {
    let Some((ns, d0, _)) = setup() else { return };
    // A foreign rule in our priority range but another table: never touched.
    ns.ip("rule add from 203.0.113.0/24 lookup 500 priority 105");
    ns.ip("addr add 192.168.7.9/32 dev d1");
    let (rule, leftover) = ns.block_on(move || async move {
        let mut inst = RouteInstaller::new(InstallerConfig {
            table: 10,
            ..InstallerConfig::default()
        })
        .expect("installer");
        let mut tables = netdriver::SourceTables::default();
        let src = p("192.168.7.0/24");
        let (table, rule) = tables.acquire(src).unwrap();
        let rule = rule.expect("a new source gets a rule");
        assert_eq!(table, 10);
        // The route goes into the source table without the source prefix.
        inst.replace(&KernelRoute::via(p("10.7.0.0/16"), ip("192.0.2.2"), d0, 0))
            .expect("route in the source table");
        inst.add_rule(&rule).expect("rule");
        let again = inst.add_rule(&rule).unwrap_err();
        assert_eq!(again.errno(), Some(libc::EEXIST), "{again}");
        let dumped = inst.dump_rules().expect("dump rules");
        assert!(
            dumped.iter().any(|d| d.rule == rule && d.protocol == 42),
            "our rule carries protocol 42: {dumped:?}"
        );

        // A leftover of an earlier run (same ranges) is purged; the foreign rule stays.
        let leftover = tables.rule(p("172.16.0.0/12"), 11);
        inst.add_rule(&leftover).expect("leftover");
        let n = inst
            .purge_rules(|r| tables.is_ours(r) && *r != rule)
            .unwrap();
        assert_eq!(n, 1);
        (rule, leftover)
    });
    let rs = rules(&ns, "-4");
    let ours: Vec<&Value> = rs.iter().filter(|r| r["table"] == "10").collect();
    assert_eq!(ours.len(), 1, "{rs:?}");
    assert_eq!(ours[0]["priority"], rule.priority, "{rs:?}");
    assert_eq!(ours[0]["src"], "192.168.7.0", "{rs:?}");
    assert_eq!(ours[0]["srclen"], 24, "{rs:?}");
    assert!(
        !rs.iter()
            .any(|r| r["priority"] == leftover.priority && r["table"] == "11"),
        "{rs:?}"
    );
    assert!(
        rs.iter().any(|r| r["table"] == "500"),
        "foreign rule: {rs:?}"
    );
    // The kernel looks it up: from the source prefix through the table, from elsewhere not.
    let from = ns.ip_json("-4 route get 10.7.1.1 from 192.168.7.9");
    assert_eq!(from[0]["gateway"], "192.0.2.2", "{from}");
    let other = common::ip_json_in(&ns.name, "-4 route show table 10");
    assert_eq!(other[0]["dst"], "10.7.0.0/16", "{other}");
    let plain = std::process::Command::new("ip")
        .args(["-n", &ns.name, "-4", "route", "get", "10.7.1.1"])
        .output()
        .unwrap();
    assert!(!plain.status.success(), "no route without the source");

    // At exit everything of ours goes, the foreign rule stays.
    ns.block_on(move || async move {
        let mut inst = RouteInstaller::new(InstallerConfig {
            table: 10,
            ..InstallerConfig::default()
        })
        .unwrap();
        let tables = netdriver::SourceTables::default();
        assert_eq!(inst.purge_rules(|r| tables.is_ours(r)).unwrap(), 1);
        assert_eq!(inst.purge().unwrap(), 1);
    });
    let rs = rules(&ns, "-4");
    assert!(!rs.iter().any(|r| r["table"] == "10"), "{rs:?}");
    assert!(rs.iter().any(|r| r["table"] == "500"), "{rs:?}");
}

/// The start-up and exit purge of source rules removes rules of protocol 42 only: an
/// administrator's rules in our priority and table ranges (another protocol, or none, like a
/// babeld leftover or a plain `ip rule add`) stay, even one with the very selector of ours.
#[test]
fn rule_purge_removes_only_rules_of_our_protocol() {
    let Some(ns) = Netns::new() else { return };
    // In the default ranges (tables 10..20, priorities 100..133 for IPv4, 100..229 for IPv6).
    ns.ip("rule add from 192.168.7.0/24 lookup 12 priority 108 proto static");
    ns.ip("-6 rule add from 2001:db8:7::/48 lookup 15 priority 180 proto boot");
    ns.ip("rule add from 10.1.0.0/16 lookup 13 priority 116");
    // A leftover of an earlier run of ours.
    ns.ip("rule add from 172.16.0.0/12 lookup 11 priority 120 proto 42");
    let removed = ns.block_on(|| async {
        let mut inst = RouteInstaller::new(InstallerConfig::default()).expect("installer");
        let tables = netdriver::SourceTables::default();
        // Ours, with the same source, priority and table as the administrator's static rule.
        let same = tables.rule(p("192.168.7.0/24"), 12);
        assert_eq!(same.priority, 108);
        inst.add_rule(&same)
            .expect("our rule beside the static one");
        let dumped = inst.dump_rules().expect("dump");
        let protocols = |src: &str| -> Vec<u8> {
            let mut v: Vec<u8> = dumped
                .iter()
                .filter(|d| d.rule.src == p(src))
                .map(|d| d.protocol)
                .collect();
            v.sort();
            v
        };
        assert_eq!(protocols("192.168.7.0/24"), [4, 42], "{dumped:?}");
        assert_eq!(protocols("2001:db8:7::/48"), [3], "{dumped:?}");
        assert_eq!(protocols("10.1.0.0/16"), [0], "{dumped:?}");
        inst.purge_rules(|r| tables.is_ours(r)).expect("purge")
    });
    assert_eq!(removed, 2, "ours and the leftover of ours");
    let v4 = rules(&ns, "-4");
    let v6 = rules(&ns, "-6");
    let has = |rs: &[Value], src: &str, proto: &str| {
        rs.iter()
            .any(|r| r["src"] == src && r["protocol"].as_str().unwrap_or("unspec") == proto)
    };
    assert!(
        has(&v4, "192.168.7.0", "static"),
        "static rule removed: {v4:?}"
    );
    assert!(
        has(&v6, "2001:db8:7::", "boot"),
        "boot rule removed: {v6:?}"
    );
    assert!(
        has(&v4, "10.1.0.0", "unspec"),
        "rule without protocol removed: {v4:?}"
    );
    assert!(
        !v4.iter()
            .chain(&v6)
            .any(|r| r["protocol"] == "babel" || r["protocol"] == "42"),
        "a rule of ours is left: {v4:?} {v6:?}"
    );
}

#[test]
fn preferred_source_address_is_installed() {
    let Some((ns, d0, _)) = setup() else { return };
    ns.ip("addr add 2001:db8:ff::1/128 dev d0");
    // Usable as a preferred source once Linux's address work (run a moment later, even
    // without duplicate address detection) has cleared its tentative flag.
    for _ in 0..200 {
        let a = ns.ip_json("-6 addr show dev d0");
        let tentative = a[0]["addr_info"].as_array().is_some_and(|v| {
            v.iter()
                .any(|x| x["local"] == "2001:db8:ff::1" && x["tentative"] == true)
        });
        if !tentative {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    ns.block_on(move || async move {
        let mut inst = RouteInstaller::new(InstallerConfig::default()).expect("installer");
        inst.replace(
            &KernelRoute::via(p("10.3.0.0/16"), ip("192.0.2.2"), d0, 0)
                .with_pref_src(ip("198.51.100.1")),
        )
        .expect("v4 with prefsrc");
        inst.replace(
            &KernelRoute::via(p("2001:db8:3::/48"), ip("fe80::1"), d0, 0)
                .with_pref_src(ip("2001:db8:ff::1")),
        )
        .expect("v6 with prefsrc");
        // Not a local address: the kernel refuses it, and says which route.
        let e = inst
            .replace(
                &KernelRoute::via(p("10.4.0.0/16"), ip("192.0.2.2"), d0, 0)
                    .with_pref_src(ip("203.0.113.77")),
            )
            .unwrap_err();
        assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
        assert!(e.to_string().contains("10.4.0.0/16"), "{e}");
        // Another family: refused before sending.
        let e = inst
            .replace(
                &KernelRoute::via(p("10.5.0.0/16"), ip("192.0.2.2"), d0, 0)
                    .with_pref_src(ip("2001:db8:ff::1")),
            )
            .unwrap_err();
        assert!(matches!(e.kind, RouteErrorKind::Invalid(_)), "{e}");
    });
    assert_eq!(one(&ns, "-4", "10.3.0.0/16")["prefsrc"], "198.51.100.1");
    assert_eq!(
        one(&ns, "-6", "2001:db8:3::/48")["prefsrc"],
        "2001:db8:ff::1"
    );
    let get = ns.ip_json("-4 route get 10.3.1.1");
    assert_eq!(get[0]["prefsrc"], "198.51.100.1", "{get}");
}

/// Our nexthop objects (protocol 42) as `ip -j nexthop` shows them.
fn our_nexthops(ns: &Netns) -> Vec<Value> {
    match ns.ip_json("nexthop show") {
        Value::Array(v) => v.into_iter().filter(|n| n["protocol"] == "babel").collect(),
        other => panic!("unexpected ip output {other}"),
    }
}

#[test]
fn routes_through_one_neighbour_share_a_nexthop_object_that_survives_a_carrier_loss() {
    let Some((ns, d0, _)) = setup() else { return };
    let name = ns.name.clone();
    ns.block_on(move || async move {
        let mut inst = RouteInstaller::new(InstallerConfig::default()).expect("installer");
        let mut ops: Vec<RouteOp> = (1..=3)
            .map(|i| {
                RouteOp::Add(KernelRoute::via(
                    p(&format!("2001:db8:{i}::/48")),
                    ip("fe80::1"),
                    d0,
                    0,
                ))
            })
            .collect();
        ops.extend((1..=2).map(|i| {
            RouteOp::Add(KernelRoute::via(
                p(&format!("10.{i}.0.0/16")),
                ip("192.0.2.2"),
                d0,
                0,
            ))
        }));
        // Routes that keep their own gateway: source-specific, and IPv4 via IPv6.
        ops.push(RouteOp::Add(
            KernelRoute::via(p("2001:db8:8::/48"), ip("fe80::1"), d0, 0)
                .from_src(p("2001:db8:99::/48")),
        ));
        ops.push(RouteOp::Add(KernelRoute::via(
            p("10.8.0.0/16"),
            ip("fe80::1"),
            d0,
            0,
        )));
        assert_eq!(inst.apply(&ops), vec![]);
        let r6 = routes_in(&name, "-6", "main");
        let r4 = routes_in(&name, "-4", "main");
        assert_eq!((r6.len(), r4.len()), (4, 3), "{r6:?} {r4:?}");
        let nh6 = find(&r6, "2001:db8:1::/48")[0]["nhid"].clone();
        let nh4 = find(&r4, "10.1.0.0/16")[0]["nhid"].clone();
        assert!(nh6.is_u64() && nh4.is_u64() && nh6 != nh4, "{r6:?} {r4:?}");
        for r in r6.iter().chain(&r4) {
            let dst = r["dst"].as_str().unwrap();
            if dst.starts_with("2001:db8:8:") || dst == "10.8.0.0/16" {
                assert!(r["nhid"].is_null(), "{r}");
            } else {
                let want = if dst.contains(':') { &nh6 } else { &nh4 };
                assert_eq!(&r["nhid"], want, "{r}");
            }
            assert_eq!(r["dev"], "d0", "{r}");
        }
        assert_eq!(find(&r6, "2001:db8:2::/48")[0]["gateway"], "fe80::1");
        assert_eq!(find(&r4, "10.2.0.0/16")[0]["gateway"], "192.0.2.2");
    });
    assert_eq!(our_nexthops(&ns).len(), 2, "{:?}", our_nexthops(&ns));

    // A carrier loss makes Linux flush the nexthop objects of the link with their routes.
    // The installer's next route through the same neighbour gets a new one.
    ns.ip("link set d0p down");
    // Linux's link-watch work flushes them a moment later.
    wait_link(&ns.name, "d0", false);
    assert!(our_nexthops(&ns).is_empty());
    ns.ip("link set d0p up");
    wait_link(&ns.name, "d0", true);
    let name = ns.name.clone();
    ns.block_on(move || async move {
        let mut inst = RouteInstaller::new(InstallerConfig::default()).expect("installer");
        inst.replace(&KernelRoute::via(
            p("2001:db8:5::/48"),
            ip("fe80::1"),
            d0,
            0,
        ))
        .unwrap();
        let first = one_in(&name, "-6", "2001:db8:5::/48")["nhid"].clone();
        // The object this installer knows is flushed behind its back.
        common::run("ip", &["-n", &name, "link", "set", "d0p", "down"]);
        wait_link(&name, "d0", false);
        common::run("ip", &["-n", &name, "link", "set", "d0p", "up"]);
        wait_link(&name, "d0", true);
        inst.replace(&KernelRoute::via(
            p("2001:db8:6::/48"),
            ip("fe80::1"),
            d0,
            0,
        ))
        .unwrap();
        let second = one_in(&name, "-6", "2001:db8:6::/48")["nhid"].clone();
        assert!(second.is_u64() && second != first, "{first} {second}");
        inst.replace(&KernelRoute::via(p("10.6.0.0/16"), ip("192.0.2.2"), d0, 0))
            .unwrap();
        // Not ours: a static nexthop object the purge must leave alone.
        common::run(
            "ip",
            &[
                "-n",
                &name,
                "nexthop",
                "add",
                "id",
                "500",
                "via",
                "192.0.2.50",
                "dev",
                "d0",
            ],
        );
        common::run(
            "ip",
            &["-n", &name, "route", "add", "10.50.0.0/16", "nhid", "500"],
        );
        // The purge takes our routes (IPv4 ones through an object too, and the two with
        // their own gateway that the carrier loss left in place) and our objects.
        assert_eq!(inst.purge().unwrap(), 4);
    });
    assert!(routes(&ns, "-6", "main").is_empty());
    assert!(routes(&ns, "-4", "main").is_empty());
    assert!(our_nexthops(&ns).is_empty());
    let all = ns.ip_json("nexthop show");
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    assert_eq!(all[0]["id"], 500);
    assert_eq!(ns.ip_json("route show 10.50.0.0/16")[0]["nhid"], 500);
}

/// Waits until `dev` has its carrier (`up`) or has lost it and its nexthop objects.
fn wait_link(name: &str, dev: &str, up: bool) {
    for _ in 0..200 {
        let l = common::ip_json_in(name, &format!("link show dev {dev}"));
        let carrier = l[0]["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "LOWER_UP"));
        let objects = common::ip_json_in(name, &format!("nexthop show dev {dev}"));
        let flushed = objects.as_array().is_some_and(|a| a.is_empty());
        if carrier == up && (up || flushed) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!(
        "{dev} in {name} did not go {}",
        if up { "up" } else { "down" }
    );
}

/// Moves `routes` (IPv6 /48s) to `gateway` on `ifindex` in one batch; returns the installer's
/// route messages sent for it.
fn move_routes(inst: &mut RouteInstaller, routes: &[Prefix], gateway: &str, ifindex: u32) -> u64 {
    let before = inst.stats().sent;
    let ops: Vec<RouteOp> = routes
        .iter()
        .map(|&d| RouteOp::Replace(KernelRoute::via(d, ip(gateway), ifindex, 0)))
        .collect();
    assert_eq!(inst.apply(&ops), vec![]);
    inst.stats().sent - before
}

#[test]
fn after_a_carrier_loss_and_recovery_routes_go_back_without_a_failed_replace() {
    let Some((ns, d0, d1)) = setup() else { return };
    let name = ns.name.clone();
    ns.block_on(move || async move {
        let mut inst = RouteInstaller::new(InstallerConfig::default()).expect("installer");
        let dsts: Vec<Prefix> = (1..=3).map(|i| p(&format!("2001:db8:{i}::/48"))).collect();
        assert_eq!(move_routes(&mut inst, &dsts, "fe80::1", d0), 3);
        let v4 = KernelRoute::via(p("10.1.0.0/16"), ip("192.0.2.2"), d0, 0);
        inst.replace(&v4).unwrap();
        let first = one_in(&name, "-6", "2001:db8:1::/48")["nhid"].clone();
        assert!(first.is_u64(), "{first}");

        // Carrier loss on d0: Linux flushes its nexthop objects and the routes naming them,
        // and sends no RTM_DELNEXTHOP. The routes fail over to d1 in one message each.
        common::run("ip", &["-n", &name, "link", "set", "d0p", "down"]);
        wait_link(&name, "d0", false);
        assert_eq!(move_routes(&mut inst, &dsts, "fe80::2", d1), 3);
        assert_eq!(one_in(&name, "-6", "2001:db8:1::/48")["dev"], "d1");

        // The carrier comes back and the routes go back through the same neighbour: still
        // one message each (no replace naming the flushed object, no lookup, no resend).
        common::run("ip", &["-n", &name, "link", "set", "d0p", "up"]);
        wait_link(&name, "d0", true);
        assert_eq!(move_routes(&mut inst, &dsts, "fe80::1", d0), 3);
        let before = inst.stats().sent;
        inst.replace(&v4).unwrap();
        assert_eq!(inst.stats().sent - before, 1);
        let s = inst.stats();
        assert_eq!(s.nexthops_stale, 0, "{s:?}");
        assert_eq!(s.nexthops_flushed, 2, "{s:?}");
        // fe80::1 and 192.0.2.2 on d0, fe80::2 on d1, then fe80::1 and 192.0.2.2 again
        // (made when d0's carrier came back, as both were in use when it went).
        assert_eq!(s.nexthops_created, 5, "{s:?}");
        assert_eq!(s.nexthops_restored, 2, "{s:?}");
        for d in &dsts {
            let r = one_in(&name, "-6", &d.to_string());
            assert_eq!(r["dev"], "d0", "{r}");
            assert!(r["nhid"].is_u64() && r["nhid"] != first, "{r} {first}");
        }
        assert_eq!(one_in(&name, "-4", "10.1.0.0/16")["dev"], "d0");
    });
}

/// The ids of our nexthop objects.
fn our_nexthop_ids(name: &str) -> Vec<u64> {
    let mut ids: Vec<u64> = match common::ip_json_in(name, "nexthop show") {
        Value::Array(v) => v
            .into_iter()
            .filter(|n| n["protocol"] == "babel")
            .filter_map(|n| n["id"].as_u64())
            .collect(),
        other => panic!("unexpected ip output {other}"),
    };
    ids.sort_unstable();
    ids
}

fn nhid(name: &str, family: &str, dst: &str) -> u64 {
    one_in(name, family, dst)["nhid"].as_u64().expect("nhid")
}

/// Runs the installer's nexthop checks as they fall due until `total` objects in all were
/// deleted, or `max` checks were done; returns the checks done.
fn collect_until(inst: &mut RouteInstaller, total: u64, max: u64) -> u64 {
    let start = inst.stats().nexthops_checks;
    while inst.stats().nexthops_collected < total && inst.stats().nexthops_checks - start < max {
        let Some(at) = inst.next_nexthop_collection() else {
            break;
        };
        std::thread::sleep(at.saturating_duration_since(std::time::Instant::now()));
        inst.collect_nexthops();
    }
    inst.stats().nexthops_checks - start
}

#[test]
fn unused_nexthop_objects_are_deleted_after_two_checks_and_used_ones_stay() {
    let Some((ns, d0, _)) = setup() else { return };
    let name = ns.name.clone();
    ns.block_on(move || async move {
        let grace = Duration::from_millis(300);
        let mut inst = RouteInstaller::new(InstallerConfig {
            nexthop_grace: grace,
            ..InstallerConfig::default()
        })
        .expect("installer");
        let (a1, a2, b) = (
            p("2001:db8:1::/48"),
            p("2001:db8:2::/48"),
            p("2001:db8:3::/48"),
        );
        let c = KernelRoute::via(p("10.3.0.0/16"), ip("192.0.2.3"), d0, 0);
        let ops = vec![
            RouteOp::Add(KernelRoute::via(a1, ip("fe80::a"), d0, 0)),
            RouteOp::Add(KernelRoute::via(a2, ip("fe80::a"), d0, 0)),
            RouteOp::Add(KernelRoute::via(b, ip("fe80::b"), d0, 0)),
            RouteOp::Add(c),
        ];
        assert_eq!(inst.apply(&ops), vec![]);
        let (nh_a, nh_b, nh_c) = (
            nhid(&name, "-6", "2001:db8:1::/48"),
            nhid(&name, "-6", "2001:db8:3::/48"),
            nhid(&name, "-4", "10.3.0.0/16"),
        );
        let mut all = vec![nh_a, nh_b, nh_c];
        all.sort_unstable();
        assert_eq!(our_nexthop_ids(&name), all);
        // New objects are checked once the grace period is over, not before.
        let first = inst
            .next_nexthop_collection()
            .expect("new objects are checked");
        assert!(first > std::time::Instant::now());

        // b moves to a's neighbour and c is withdrawn: b's and c's objects are unused.
        inst.replace(&KernelRoute::via(b, ip("fe80::a"), d0, 0))
            .unwrap();
        inst.remove(&c).unwrap();
        assert_eq!(inst.collect_nexthops(), 0);
        assert_eq!(inst.stats().nexthops_checks, 0);
        assert_eq!(our_nexthop_ids(&name), all);

        // b flaps back: through the same object, none created.
        let created = inst.stats().nexthops_created;
        inst.replace(&KernelRoute::via(b, ip("fe80::b"), d0, 0))
            .unwrap();
        assert_eq!(nhid(&name, "-6", "2001:db8:3::/48"), nh_b);
        assert_eq!(inst.stats().nexthops_created, created);

        // The first check finds c's object unused and keeps it; the second, a grace
        // period later, deletes it. The routes all stay.
        assert_eq!(collect_until(&mut inst, 1, 1), 1);
        assert_eq!(inst.stats().nexthops_collected, 0);
        assert_eq!(our_nexthop_ids(&name), all);
        assert_eq!(collect_until(&mut inst, 1, 1), 1);
        assert_eq!(inst.stats().nexthops_collected, 1);
        let mut left = vec![nh_a, nh_b];
        left.sort_unstable();
        assert_eq!(our_nexthop_ids(&name), left);
        assert_eq!(routes_in(&name, "-6", "main").len(), 3);
        // Both left were found in use, and no route moved since: no check is due.
        assert_eq!(inst.next_nexthop_collection(), None);

        // b is withdrawn for good: its object goes after two more checks, a's (used by two
        // routes) stays, and so do they.
        inst.remove(&KernelRoute::via(b, ip("fe80::b"), d0, 0))
            .unwrap();
        assert_eq!(collect_until(&mut inst, 2, 4), 2);
        assert_eq!(our_nexthop_ids(&name), vec![nh_a]);
        assert_eq!(nhid(&name, "-6", "2001:db8:1::/48"), nh_a);
        assert_eq!(nhid(&name, "-6", "2001:db8:2::/48"), nh_a);
        assert_eq!(inst.stats().nexthops_collected, 2);
        assert_eq!(inst.stats().nexthops_checks, 4);
    });
}

#[test]
fn a_nexthop_object_named_by_a_route_of_another_table_or_protocol_or_a_group_is_kept() {
    let Some((ns, d0, _)) = setup() else { return };
    let name = ns.name.clone();
    ns.block_on(move || async move {
        let grace = Duration::from_millis(200);
        let mut inst = RouteInstaller::new(InstallerConfig {
            nexthop_grace: grace,
            ..InstallerConfig::default()
        })
        .expect("installer");
        let ours = [
            KernelRoute::via(p("2001:db8:1::/48"), ip("fe80::a"), d0, 0),
            KernelRoute::via(p("2001:db8:2::/48"), ip("fe80::b"), d0, 0),
            KernelRoute::via(p("10.1.0.0/16"), ip("192.0.2.2"), d0, 0),
        ];
        let ops: Vec<RouteOp> = ours.iter().map(|r| RouteOp::Add(*r)).collect();
        assert_eq!(inst.apply(&ops), vec![]);
        let nh_a = nhid(&name, "-6", "2001:db8:1::/48");
        let nh_b = nhid(&name, "-6", "2001:db8:2::/48");
        let nh_4 = nhid(&name, "-4", "10.1.0.0/16");
        let ip_in = |args: &str| {
            let mut v = vec!["-n", name.as_str()];
            v.extend(args.split_whitespace());
            common::run("ip", &v);
        };
        // Routes of other software name a's object (another table and protocol) and the
        // IPv4 one (the main table, another protocol); a group names b's.
        ip_in(&format!(
            "-6 route add 2001:db8:99::/48 nhid {nh_a} table 100 proto static"
        ));
        ip_in(&format!("route add 10.99.0.0/16 nhid {nh_4} proto 99"));
        ip_in(&format!("nexthop add id 700 group {nh_b}"));
        // Our routes go: as far as ours go, every object is unused.
        let ops: Vec<RouteOp> = ours.iter().map(|r| RouteOp::Remove(*r)).collect();
        assert_eq!(inst.apply(&ops), vec![]);
        assert_eq!(collect_until(&mut inst, 1, 4), 1);
        // Found in use: no other check, until a route of ours moves.
        assert_eq!(inst.next_nexthop_collection(), None);
        let mut all = vec![nh_a, nh_b, nh_4];
        all.sort_unstable();
        assert_eq!(our_nexthop_ids(&name), all);
        let other = KernelRoute::via(p("2001:db8:5::/48"), ip("fe80::a"), d0, 0);
        for _ in 0..3 {
            inst.add(&other).unwrap();
            inst.remove(&other).unwrap();
            assert_eq!(collect_until(&mut inst, 1, 3), 1);
        }
        assert_eq!(inst.stats().nexthops_collected, 0);
        assert_eq!(our_nexthop_ids(&name), all);
        let t100 = common::ip_json_in(&name, "-6 route show table 100");
        assert_eq!(t100[0]["nhid"], nh_a, "{t100}");
        assert_eq!(
            common::ip_json_in(&name, "nexthop show id 700")[0]["id"],
            700
        );

        // The foreign routes and the group go: after two checks, so do the objects.
        ip_in("-6 route del 2001:db8:99::/48 table 100");
        ip_in("route del 10.99.0.0/16");
        ip_in("nexthop del id 700");
        inst.add(&other).unwrap();
        inst.remove(&other).unwrap();
        collect_until(&mut inst, 3, 6);
        assert_eq!(inst.stats().nexthops_collected, 3);
        assert_eq!(our_nexthop_ids(&name), Vec::<u64>::new());
    });
}

#[test]
fn at_the_cap_routes_carry_their_gateway_until_checks_free_unused_objects() {
    let Some((ns, d0, _)) = setup() else { return };
    let name = ns.name.clone();
    ns.block_on(move || async move {
        let mut inst = RouteInstaller::new(InstallerConfig {
            nexthop_grace: Duration::from_millis(300),
            ..InstallerConfig::default()
        })
        .expect("installer");
        // 1,024 neighbours (the cap), one route through each.
        let route = |i: u32| {
            KernelRoute::via(
                p(&format!("2001:db8:{i:x}::/48")),
                ip(&format!("fe80::{:x}", i + 1)),
                d0,
                0,
            )
        };
        let ops: Vec<RouteOp> = (0..1024).map(|i| RouteOp::Add(route(i))).collect();
        assert_eq!(inst.apply(&ops), vec![]);
        assert_eq!(our_nexthop_ids(&name).len(), 1024);
        // A neighbour more while every object is in use: the route carries its gateway.
        inst.add(&route(1024)).unwrap();
        assert!(one_in(&name, "-6", "2001:db8:400::/48")["nhid"].is_null());
        // Routes 7 and 3 are withdrawn: their objects go after two checks, and the next
        // new neighbour gets an object. No object in use is deleted.
        let nh7 = nhid(&name, "-6", "2001:db8:7::/48");
        let nh3 = nhid(&name, "-6", "2001:db8:3::/48");
        inst.remove(&route(7)).unwrap();
        inst.remove(&route(3)).unwrap();
        inst.add(&route(1025)).unwrap();
        assert!(one_in(&name, "-6", "2001:db8:401::/48")["nhid"].is_null());
        assert_eq!(collect_until(&mut inst, 2, 4), 2);
        assert_eq!(inst.stats().nexthops_collected, 2);
        inst.add(&route(1026)).unwrap();
        let ids = our_nexthop_ids(&name);
        assert_eq!(ids.len(), 1023);
        assert!(!ids.contains(&nh7) && !ids.contains(&nh3));
        let new = nhid(&name, "-6", "2001:db8:402::/48");
        assert!(ids.contains(&new));
        assert_eq!(routes_in(&name, "-6", "main").len(), 1025);
    });
}
