//! The netlink monitor inside a namespace.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::Netns;
use futures::StreamExt;
use netdriver::{AddrEvent, LinkEvent, Monitor, MonitorConfig, NetEvent, RouteEvent};
use tokio::time::timeout;

/// Reads events until one satisfies `pred`, failing after 10 s.
async fn expect<F: FnMut(&NetEvent) -> bool>(m: &mut Monitor, what: &str, mut pred: F) -> NetEvent {
    let fut = async {
        loop {
            let ev = m
                .next()
                .await
                .expect("stream ended")
                .expect("monitor error");
            if pred(&ev) {
                return ev;
            }
        }
    };
    timeout(Duration::from_secs(20), fut)
        .await
        .unwrap_or_else(|_| panic!("no event: {what}"))
}

/// Drains the initial dump; returns what it contained.
async fn initial_dump(m: &mut Monitor) -> Vec<NetEvent> {
    let mut out = Vec::new();
    loop {
        let ev = timeout(Duration::from_secs(10), m.next())
            .await
            .expect("dump timed out")
            .expect("stream ended")
            .expect("monitor error");
        if ev == NetEvent::DumpDone {
            return out;
        }
        out.push(ev);
    }
}

fn link<'a>(ev: &'a NetEvent, name: &str) -> Option<&'a LinkEvent> {
    match ev {
        NetEvent::Link(l) if l.name == name => Some(l),
        _ => None,
    }
}

fn addr(ev: &NetEvent, a: IpAddr) -> Option<AddrEvent> {
    match ev {
        NetEvent::Addr(x) if x.addr == a => Some(*x),
        _ => None,
    }
}

#[test]
fn monitor_sees_dump_then_link_up_down_addresses_and_routes() {
    let Some(ns) = Netns::new() else { return };
    common::local_link(&ns, "d0");
    ns.ip("addr add 192.0.2.1/24 dev d0");
    ns.ip("route add 198.51.100.0/24 via 192.0.2.9 proto static metric 7");
    let name = ns.name.clone();
    let ns_ip = move |args: &str| {
        let mut full = vec!["-n", name.as_str()];
        full.extend(args.split_whitespace());
        common::run("ip", &full);
    };
    ns.block_on(move || async move {
        let mut m = Monitor::new(MonitorConfig::default()).expect("monitor");
        let dump = initial_dump(&mut m).await;
        let d0 = dump
            .iter()
            .find_map(|e| link(e, "d0"))
            .expect("d0 in the dump")
            .clone();
        assert!(d0.up && d0.mtu == 1500 && !d0.removed);
        assert!(dump.iter().any(|e| link(e, "lo").is_some()));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let dumped = dump
            .iter()
            .find_map(|e| addr(e, a))
            .expect("address in dump");
        assert_eq!(
            (dumped.ifindex, dumped.plen, dumped.added),
            (d0.ifindex, 24, true)
        );
        let static_route = dump
            .iter()
            .find_map(|e| match e {
                NetEvent::Route(r) if r.prefix.to_string() == "198.51.100.0/24" => Some(*r),
                _ => None,
            })
            .expect("static route in dump");
        assert_eq!(static_route.protocol, 4);
        assert_eq!(static_route.metric, 7);
        assert_eq!(static_route.table, 254);
        assert_eq!(static_route.gateway, Some("192.0.2.9".parse().unwrap()));

        // Live: down, up, an address, a route, a new link, its removal.
        ns_ip("link set d0 down");
        expect(&mut m, "d0 down", |e| link(e, "d0").is_some_and(|l| !l.up)).await;
        ns_ip("link set d0 up");
        expect(&mut m, "d0 up", |e| link(e, "d0").is_some_and(|l| l.up)).await;
        ns_ip("link set d0 mtu 1400");
        expect(&mut m, "mtu", |e| {
            link(e, "d0").is_some_and(|l| l.mtu == 1400)
        })
        .await;

        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        ns_ip("addr add 2001:db8::1/64 dev d0");
        // (Linux may announce it tentative first, even with DAD off, then usable.)
        let ev = expect(&mut m, "address usable", |e| {
            addr(e, v6).is_some_and(|a| !a.tentative)
        })
        .await;
        let ev = addr(&ev, v6).unwrap();
        assert!(
            ev.added && ev.plen == 64 && ev.ifindex == d0.ifindex,
            "{ev:?}"
        );

        ns_ip("route add 2001:db8:5::/48 dev d0 proto static metric 33");
        let ev = expect(
            &mut m,
            "route added",
            |e| matches!(e, NetEvent::Route(r) if r.prefix.to_string() == "2001:db8:5::/48"),
        )
        .await;
        let NetEvent::Route(RouteEvent {
            added,
            protocol,
            metric,
            ifindex,
            ..
        }) = ev
        else {
            unreachable!()
        };
        assert!(added);
        assert_eq!((protocol, metric, ifindex), (4, 33, Some(d0.ifindex)));
        ns_ip("route del 2001:db8:5::/48 dev d0 proto static metric 33");
        expect(&mut m, "route removed", |e| {
            matches!(e, NetEvent::Route(r) if r.prefix.to_string() == "2001:db8:5::/48" && !r.added)
        })
        .await;

        ns_ip("addr del 2001:db8::1/64 dev d0");
        expect(&mut m, "address removed", |e| {
            addr(e, v6).is_some_and(|a| !a.added)
        })
        .await;

        ns_ip("link add d1 type veth peer name d1p");
        expect(&mut m, "d1 appears, down", |e| {
            link(e, "d1").is_some_and(|l| !l.up)
        })
        .await;
        ns_ip("link del d1");
        expect(&mut m, "d1 removed", |e| {
            link(e, "d1").is_some_and(|l| l.removed)
        })
        .await;
        assert_eq!(m.stats().dumps, 1);
        assert_eq!(m.stats().overruns, 0);
    });
}

#[test]
fn routes_of_the_ignored_protocol_are_neither_notified_nor_dumped() {
    let Some(ns) = Netns::new() else { return };
    common::local_link(&ns, "d0");
    let name = ns.name.clone();
    let ip = move |args: &str| {
        let mut full = vec!["-n", name.as_str()];
        full.extend(args.split_whitespace());
        common::run("ip", &full);
    };
    ip("route add 2001:db8:9::/48 dev d0 proto 42");
    ns.block_on(move || async move {
        let cfg = MonitorConfig {
            ignore_protocol: Some(42),
            ..MonitorConfig::default()
        };
        let mut m = Monitor::new(cfg).expect("monitor");
        // A route of that protocol already there is left out of the initial dump (the
        // daemon knows its own routes; the monitor need not remember them for a resync),
        // while the others are there.
        let dump = initial_dump(&mut m).await;
        assert!(
            !dump
                .iter()
                .any(|e| matches!(e, NetEvent::Route(r) if r.protocol == 42)),
            "{dump:?}"
        );
        assert!(
            dump.iter().any(|e| matches!(e, NetEvent::Route(r)
                if r.prefix.to_string() == "fe80::/64")),
            "{dump:?}"
        );
        for args in [
            "route add 2001:db8:1::/48 dev d0 proto 42",
            "route del 2001:db8:9::/48 dev d0 proto 42",
            "route add 2001:db8:2::/48 dev d0 proto static",
        ] {
            ip(args);
        }
        let ev = expect(&mut m, "a route event", |e| matches!(e, NetEvent::Route(_))).await;
        let NetEvent::Route(r) = ev else {
            unreachable!()
        };
        // The protocol-42 add and delete came first and never reached the socket.
        assert_eq!(r.prefix.to_string(), "2001:db8:2::/48");
        assert!(r.added);
        assert_eq!(m.stats().overruns, 0);
    });
}

#[test]
fn route_events_are_limited_to_the_configured_tables() {
    let Some(ns) = Netns::new() else { return };
    common::local_link(&ns, "d0");
    let name = ns.name.clone();
    ns.block_on(move || async move {
        let cfg = MonitorConfig {
            route_tables: vec![100],
            ..MonitorConfig::default()
        };
        let mut m = Monitor::new(cfg).expect("monitor");
        initial_dump(&mut m).await;
        for args in [
            "route add 2001:db8:1::/48 dev d0 table main",
            "route add 2001:db8:2::/48 dev d0 table 100",
        ] {
            let mut full = vec!["-n", name.as_str()];
            full.extend(args.split_whitespace());
            common::run("ip", &full);
        }
        let ev = expect(&mut m, "route in table 100", |e| {
            matches!(e, NetEvent::Route(_))
        })
        .await;
        let NetEvent::Route(r) = ev else {
            unreachable!()
        };
        // The main-table route came first and was filtered out.
        assert_eq!(r.prefix.to_string(), "2001:db8:2::/48");
        assert_eq!(r.table, 100);
    });
}

#[test]
fn tentative_and_dad_failed_addresses_are_reported_as_such() {
    let (Some(a), Some(b)) = (Netns::with_dad(true), Netns::with_dad(true)) else {
        return;
    };
    a.ip(&format!(
        "link add va type veth peer name vb netns {}",
        b.name
    ));
    b.ip("addr add 2001:db8::1/64 dev vb nodad");
    // Five probes: DAD lasts at least 5 s, so the monitor starts while it runs.
    a.exec(&["sysctl", "-qw", "net.ipv6.conf.va.dad_transmits=5"]);
    b.ip("link set vb up");
    a.ip("link set va up");
    let ifindex = a.ifindex("va");
    let name = a.name.clone();
    let (first, settled, dup_first, dup_failed) = a.block_on(move || async move {
        let mut m = Monitor::new(MonitorConfig::default()).expect("monitor");
        let dump = initial_dump(&mut m).await;
        let ll = |e: &NetEvent| match e {
            NetEvent::Addr(x)
                if x.added && matches!(x.addr, IpAddr::V6(v) if v.segments()[0] == 0xfe80) =>
            {
                Some(*x)
            }
            _ => None,
        };
        let first = dump.iter().find_map(ll).expect("link-local in the dump");
        let settled = expect(&mut m, "DAD completes", |e| {
            ll(e).is_some_and(|x| !x.tentative)
        })
        .await;
        let settled = ll(&settled).unwrap();

        // A duplicate: the peer holds the address already, so DAD fails here.
        let dup: IpAddr = "2001:db8::1".parse().unwrap();
        common::run(
            "ip",
            &["-n", &name, "addr", "add", "2001:db8::1/64", "dev", "va"],
        );
        let dup_first = expect(&mut m, "duplicate added", |e| addr(e, dup).is_some()).await;
        let dup_failed = expect(&mut m, "DAD fails", |e| {
            addr(e, dup).is_some_and(|x| x.dad_failed)
        })
        .await;
        (
            first,
            settled,
            addr(&dup_first, dup).unwrap(),
            addr(&dup_failed, dup).unwrap(),
        )
    });
    assert!(
        first.tentative,
        "a fresh link-local address is tentative: {first:?}"
    );
    assert!(!first.dad_failed);
    assert_eq!(settled.addr, first.addr);
    assert_eq!(settled.ifindex, ifindex);
    assert!(dup_first.tentative && !dup_first.dad_failed);
    assert!(dup_failed.tentative && dup_failed.dad_failed);
}

#[test]
fn overrun_is_reported_and_followed_by_a_full_redump() {
    let Some(ns) = Netns::new() else { return };
    common::local_link(&ns, "d0");
    let ifindex = ns.ifindex("d0");
    ns.block_on(move || async move {
        let cfg = MonitorConfig {
            rcvbuf: 4096,
            ..MonitorConfig::default()
        };
        let mut m = Monitor::new(cfg).expect("monitor");
        initial_dump(&mut m).await;
        // While nobody reads the monitor, far more route events than its buffer holds.
        let mut inst = netdriver::RouteInstaller::new(Default::default()).unwrap();
        let ops: Vec<_> = (0..2000u16)
            .map(|i| {
                let dst = babel_core::wire::Prefix::v6(
                    std::net::Ipv6Addr::new(0x2001, 0xdb8, 0x77, i, 0, 0, 0, 0),
                    64,
                )
                .unwrap();
                netdriver::RouteOp::Replace(netdriver::KernelRoute::via(
                    dst,
                    "fe80::1".parse().unwrap(),
                    ifindex,
                    0,
                ))
            })
            .collect();
        assert!(inst.apply(&ops).is_empty());
        expect(&mut m, "overrun", |e| *e == NetEvent::Overrun).await;
        // The re-dump that follows holds every route, whatever the lost events said.
        let mut ours = std::collections::HashSet::new();
        expect(&mut m, "re-dump done", |e| {
            if let NetEvent::Route(r) = e {
                if r.protocol == 42 && r.added {
                    ours.insert(r.prefix);
                }
            }
            *e == NetEvent::DumpDone
        })
        .await;
        assert_eq!(ours.len(), 2000);
        assert!(m.stats().overruns >= 1);
        assert!(m.stats().dumps >= 2);
    });
}

/// What a consumer builds from the events: links by index, addresses by (index, address).
#[derive(Default, Debug)]
struct Model {
    links: std::collections::BTreeMap<u32, String>,
    addrs: std::collections::BTreeSet<(u32, IpAddr, u8)>,
}

impl Model {
    fn apply(&mut self, ev: &NetEvent) {
        match ev {
            NetEvent::Link(l) if l.removed => {
                self.links.remove(&l.ifindex);
                self.addrs.retain(|a| a.0 != l.ifindex);
            }
            NetEvent::Link(l) => {
                self.links.insert(l.ifindex, l.name.clone());
            }
            NetEvent::Addr(a) if a.added => {
                self.addrs.insert((a.ifindex, a.addr, a.plen));
            }
            NetEvent::Addr(a) => {
                self.addrs.remove(&(a.ifindex, a.addr, a.plen));
            }
            _ => {}
        }
    }
}

/// The kernel's links and addresses, from `ip -j addr`.
fn kernel_state(ns: &str) -> Model {
    let v = common::ip_json_in(ns, "addr show");
    let mut m = Model::default();
    for link in v.as_array().unwrap() {
        let idx = link["ifindex"].as_u64().unwrap() as u32;
        m.links
            .insert(idx, link["ifname"].as_str().unwrap().to_string());
        for a in link["addr_info"].as_array().unwrap() {
            let addr: IpAddr = a["local"].as_str().unwrap().parse().unwrap();
            m.addrs
                .insert((idx, addr, a["prefixlen"].as_u64().unwrap() as u8));
        }
    }
    m
}

#[test]
fn after_an_overrun_the_events_end_in_the_kernels_state() {
    let Some(ns) = Netns::new() else { return };
    common::local_link(&ns, "d0");
    common::local_link(&ns, "d1");
    // Present at the initial dump, removed while the monitor is overrun: only the
    // resynchronisation can tell.
    for i in 0..40 {
        ns.ip(&format!("addr add 10.40.0.{i}/32 dev d0"));
    }
    let name = ns.name.clone();
    let (model, stats) = ns.block_on(move || async move {
        let cfg = MonitorConfig {
            rcvbuf: 4096,
            routes: false,
            ..MonitorConfig::default()
        };
        let mut m = Monitor::new(cfg).expect("monitor");
        let mut model = Model::default();
        for ev in initial_dump(&mut m).await {
            model.apply(&ev);
        }
        assert!(model.addrs.iter().any(|a| a.1.to_string() == "10.40.0.7"));
        // A burst while nobody reads: adds, removals, a link that goes away.
        let batch: String = (0..40)
            .map(|i| format!("addr del 10.40.0.{i}/32 dev d0\n"))
            .chain((0..300).map(|i| format!("addr add 10.41.{}.{}/32 dev d1\n", i / 200, i % 200)))
            .chain(std::iter::once("link del d0\n".to_string()))
            .collect();
        let path = std::env::temp_dir().join(format!("ndtest-batch-{}", std::process::id()));
        std::fs::write(&path, batch).unwrap();
        common::run("ip", &["-n", &name, "-batch", path.to_str().unwrap()]);
        let _ = std::fs::remove_file(&path);
        let mut overrun = false;
        // Apply everything until an overrun's resynchronisation is done and all is quiet.
        loop {
            match timeout(Duration::from_secs(2), m.next()).await {
                Ok(Some(Ok(ev))) => {
                    if ev == NetEvent::Overrun {
                        overrun = true;
                    }
                    model.apply(&ev);
                }
                Ok(other) => panic!("monitor: {other:?}"),
                Err(_) => break,
            }
        }
        assert!(overrun, "the burst did not overrun the monitor");
        (model, m.stats())
    });
    let kernel = kernel_state(&ns.name);
    eprintln!(
        "overruns {}, dumps {}, stale removals {}, addresses left {}",
        stats.overruns,
        stats.dumps,
        stats.stale_removed,
        kernel.addrs.len()
    );
    assert_eq!(model.links, kernel.links);
    assert_eq!(model.addrs, kernel.addrs);
    assert!(!model.links.values().any(|n| n == "d0"));
    assert!(stats.overruns >= 1 && stats.dumps >= 2, "{stats:?}");
    assert!(stats.stale_removed > 0, "{stats:?}");
}

/// A consumer's kernel routes of protocol static: prefix (followed by " table N" outside
/// the main table) → the output interface reported; and every removal reported, in order.
#[derive(Default, Debug)]
struct Routes(std::collections::BTreeMap<String, Option<u32>>, Vec<String>);

impl Routes {
    fn apply(&mut self, ev: &NetEvent) {
        let NetEvent::Route(r) = ev else { return };
        if r.protocol != 4 {
            return;
        }
        let key = match r.table {
            254 => r.prefix.to_string(),
            t => format!("{} table {t}", r.prefix),
        };
        if r.added {
            self.0.insert(key, r.ifindex);
        } else {
            self.0.remove(&key);
            self.1.push(key);
        }
    }
}

/// Applies the events until none comes for half a second.
async fn settle(m: &mut Monitor, routes: &mut Routes) {
    loop {
        match timeout(Duration::from_millis(500), m.next()).await {
            Ok(Some(Ok(ev))) => routes.apply(&ev),
            Ok(other) => panic!("monitor: {other:?}"),
            Err(_) => return,
        }
    }
}

/// The kernel's static routes, both families, keyed as [`Routes`] keys them: → the indexes
/// of the links of its usable (not dead) paths.
fn kernel_routes(ns: &str) -> std::collections::BTreeMap<String, Vec<u32>> {
    let links = common::ip_json_in(ns, "link show");
    let index = |dev: &str| {
        links
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["ifname"] == dev)
            .and_then(|l| l["ifindex"].as_u64())
            .unwrap_or_else(|| panic!("no link {dev}")) as u32
    };
    let mut out = std::collections::BTreeMap::new();
    for family in ["-4", "-6"] {
        let v = common::ip_json_in(ns, &format!("{family} route show proto static table all"));
        for r in v.as_array().unwrap() {
            let dst = r["dst"].as_str().unwrap();
            let dst = match (dst, family) {
                ("default", "-4") => "0.0.0.0/0".to_string(),
                ("default", _) => "::/0".to_string(),
                (d, "-4") if !d.contains('/') => format!("{d}/32"),
                (d, _) if !d.contains('/') => format!("{d}/128"),
                (d, _) => d.to_string(),
            };
            let dst = match r["table"].as_str() {
                Some(t) => format!("{dst} table {t}"),
                None => dst,
            };
            let hops = match r["nexthops"].as_array() {
                Some(hops) => hops.clone(),
                None => vec![r.clone()],
            };
            let live: Vec<u32> = hops
                .iter()
                .filter(|h| {
                    !h["flags"]
                        .as_array()
                        .is_some_and(|f| f.iter().any(|f| f == "dead"))
                })
                .filter_map(|h| h["dev"].as_str().map(index))
                .collect();
            // Routes `append`ed under one key are listed one by one.
            out.entry(dst).or_insert_with(Vec::new).extend(live);
        }
    }
    out
}

/// The consumer knows the kernel's routes, each through one of its usable paths.
fn assert_same(step: &str, ns: &str, routes: &Routes) {
    let kernel = kernel_routes(ns);
    let believed: Vec<&String> = routes.0.keys().collect();
    assert_eq!(
        believed,
        kernel.keys().collect::<Vec<_>>(),
        "after {step}: the events left the consumer believing other routes than the kernel has \
         (kernel: {kernel:?})"
    );
    for (prefix, ifindex) in &routes.0 {
        let live = &kernel[prefix];
        if !live.is_empty() {
            assert!(
                ifindex.is_some_and(|i| live.contains(&i)),
                "after {step}: {prefix} reported through link {ifindex:?}, the kernel's usable \
                 paths are through {live:?}"
            );
        }
    }
}

/// Runs `ip -n NS ARGS` for each line of `script`, then applies the monitor's events and
/// compares the consumer's routes with the kernel's.
async fn step(m: &mut Monitor, routes: &mut Routes, ns: &str, script: &str) {
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut full = vec!["-n", ns];
        full.extend(line.split_whitespace());
        common::run("ip", &full);
    }
    settle(m, routes).await;
    assert_same(script.trim(), ns, routes);
}

#[test]
fn ipv4_routes_the_kernel_flushes_with_their_link_are_reported_removed() {
    let Some(ns) = Netns::new() else { return };
    for dev in ["d0", "d1", "d2", "d3"] {
        common::local_link(&ns, dev);
    }
    ns.ip("addr add 192.0.2.1/24 dev d0");
    ns.ip("addr add 198.51.100.1/24 dev d1");
    ns.ip("addr add 203.0.113.1/24 dev d2");
    ns.ip("addr add 10.3.0.1/24 dev d3");
    ns.ip("-6 addr add 2001:db8:a::1/64 dev d0");
    let static_route = |r: &str| ns.ip(&format!("route add proto static {r}"));
    static_route("10.9.0.0/16 via 192.0.2.2 dev d0");
    // Linux keeps a host-scope route through a link that goes down.
    static_route("10.8.0.0/16 dev d0 scope host");
    static_route("10.99.0.0/16 nexthop via 192.0.2.2 dev d0 nexthop via 198.51.100.2 dev d1");
    static_route("10.10.0.0/16 via 198.51.100.2 dev d1");
    static_route("10.11.0.0/16 via 203.0.113.2 dev d2");
    static_route("10.12.0.0/16 via 10.3.0.2 dev d3");
    static_route("2001:db8:9::/48 via 2001:db8:a::2 dev d0");
    let name = ns.name.clone();
    let (d0, d1) = (ns.ifindex("d0"), ns.ifindex("d1"));
    ns.block_on(move || async move {
        let mut m = Monitor::new(MonitorConfig::default()).expect("monitor");
        let mut routes = Routes::default();
        for ev in initial_dump(&mut m).await {
            routes.apply(&ev);
        }
        assert_same("the initial dump", &name, &routes);
        assert_eq!(routes.0.len(), 7, "{routes:?}");

        // Carrier loss: Linux keeps the routes (marked linkdown), so must the consumer.
        step(&mut m, &mut routes, &name, "link set d1p down").await;
        assert!(routes.0.contains_key("10.10.0.0/16"));
        step(&mut m, &mut routes, &name, "link set d1p up").await;

        // Down: the IPv4 routes through d0 go without a message (the IPv6 one with its
        // own); the multipath route keeps its path through d1.
        step(&mut m, &mut routes, &name, "link set d0 down").await;
        assert!(!routes.0.contains_key("10.9.0.0/16"));
        assert!(!routes.0.contains_key("2001:db8:9::/48"));
        assert!(routes.0.contains_key("10.8.0.0/16"));
        assert_eq!(routes.0.get("10.99.0.0/16"), Some(&Some(d1)));

        // Up again: Linux revives the dead path, so the route survives d1 going down.
        step(&mut m, &mut routes, &name, "link set d0 up").await;
        step(&mut m, &mut routes, &name, "link set d1 down").await;
        assert_eq!(routes.0.get("10.99.0.0/16"), Some(&Some(d0)));
        assert!(!routes.0.contains_key("10.10.0.0/16"));

        // A deleted link, and a link without IPv4 address, take their routes along.
        step(&mut m, &mut routes, &name, "link del d2").await;
        assert!(!routes.0.contains_key("10.11.0.0/16"));
        step(&mut m, &mut routes, &name, "addr del 10.3.0.1/24 dev d3").await;
        assert!(!routes.0.contains_key("10.12.0.0/16"));
        // Deleting d0 takes the multipath route as a whole, though d1 comes back first.
        step(&mut m, &mut routes, &name, "link set d1 up\nlink del d0").await;
        assert_eq!(
            routes.0.keys().collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "{routes:?}"
        );
    });
}

#[test]
fn a_route_stays_while_one_of_its_paths_remains() {
    let Some(ns) = Netns::new() else { return };
    common::local_link(&ns, "d0");
    common::local_link(&ns, "d1");
    ns.ip("addr add 192.0.2.1/24 dev d0");
    ns.ip("addr add 198.51.100.1/24 dev d1");
    ns.ip("-6 addr add 2001:db8:a::1/64 dev d0");
    ns.ip("-6 addr add 2001:db8:b::1/64 dev d1");
    // Two IPv4 routes under one key (`append`), listed one by one in the initial dump.
    ns.ip("route add 10.97.0.0/16 via 192.0.2.2 dev d0 proto static");
    ns.ip("route append 10.97.0.0/16 via 198.51.100.2 dev d1 proto static");
    let name = ns.name.clone();
    let (d0, d1) = (ns.ifindex("d0"), ns.ifindex("d1"));
    ns.block_on(move || async move {
        let mut m = Monitor::new(MonitorConfig::default()).expect("monitor");
        let mut routes = Routes::default();
        for ev in initial_dump(&mut m).await {
            routes.apply(&ev);
        }
        assert_same("the initial dump", &name, &routes);
        step(
            &mut m,
            &mut routes,
            &name,
            "route del 10.97.0.0/16 via 192.0.2.2 dev d0 proto static",
        )
        .await;
        assert_eq!(routes.0.get("10.97.0.0/16"), Some(&Some(d1)));
        step(
            &mut m,
            &mut routes,
            &name,
            "route del 10.97.0.0/16 proto static",
        )
        .await;
        assert!(!routes.0.contains_key("10.97.0.0/16"));

        // An IPv6 multipath route comes in one message (RTA_MULTIPATH); each path that
        // goes, in one message of its own.
        step(
            &mut m,
            &mut routes,
            &name,
            "-6 route add 2001:db8:99::/48 proto static \
             nexthop via 2001:db8:a::2 dev d0 nexthop via 2001:db8:b::2 dev d1",
        )
        .await;
        assert_eq!(routes.0.get("2001:db8:99::/48"), Some(&Some(d0)));
        step(
            &mut m,
            &mut routes,
            &name,
            "-6 route del 2001:db8:99::/48 via 2001:db8:a::2 dev d0",
        )
        .await;
        assert_eq!(routes.0.get("2001:db8:99::/48"), Some(&Some(d1)));
        // A path added to the route, then the other one's link deleted.
        step(
            &mut m,
            &mut routes,
            &name,
            "-6 route append 2001:db8:99::/48 proto static via 2001:db8:a::2 dev d0",
        )
        .await;
        step(&mut m, &mut routes, &name, "link del d1").await;
        assert_eq!(routes.0.get("2001:db8:99::/48"), Some(&Some(d0)));
        // The last path goes: so does the route.
        step(
            &mut m,
            &mut routes,
            &name,
            "-6 route del 2001:db8:99::/48 via 2001:db8:a::2 dev d0",
        )
        .await;
        assert!(!routes.0.contains_key("2001:db8:99::/48"));
    });
}

#[test]
fn ipv4_routes_the_kernel_flushes_with_their_preferred_source_are_reported_removed() {
    let Some(ns) = Netns::new() else { return };
    for dev in ["d0", "d1", "d2", "d3"] {
        common::local_link(&ns, dev);
    }
    ns.ip("addr add 192.0.2.1/24 dev d0");
    ns.ip("addr add 198.51.100.1/24 dev d1");
    // The sources: 10.200.0.1 on d2 only, 10.201.0.1 on d2 and d1, and on d3 a primary
    // address with two secondary ones of its subnet.
    ns.ip("addr add 10.200.0.1/24 dev d2");
    ns.ip("addr add 10.201.0.1/24 dev d2");
    ns.ip("addr add 10.201.0.1/32 dev d1");
    ns.ip("addr add 10.30.0.1/24 dev d3");
    ns.ip("addr add 10.30.0.5/24 dev d3");
    ns.ip("addr add 10.30.0.6/24 dev d3");
    let static_route = |r: &str| ns.ip(&format!("route add proto static {r}"));
    static_route("10.20.0.0/16 via 192.0.2.2 dev d0 src 10.200.0.1");
    static_route(
        "10.21.0.0/16 src 10.200.0.1 nexthop via 192.0.2.2 dev d0 nexthop via 198.51.100.2 dev d1",
    );
    static_route("10.22.0.0/16 via 192.0.2.2 dev d0");
    ns.ip("route append 10.22.0.0/16 via 198.51.100.2 dev d1 src 10.200.0.1 proto static");
    // Appended under one key with the same next hop, one with the source.
    static_route("10.29.0.0/16 via 198.51.100.2 dev d1");
    ns.ip("route append 10.29.0.0/16 via 198.51.100.2 dev d1 src 10.200.0.1 proto static");
    static_route("10.23.0.0/16 via 198.51.100.2 dev d1 src 10.200.0.1 table 100");
    static_route("10.24.0.0/16 via 192.0.2.2 dev d0 src 10.201.0.1");
    static_route("10.25.0.0/16 via 192.0.2.2 dev d0");
    static_route("10.26.0.0/16 via 192.0.2.2 dev d0 src 10.30.0.1");
    static_route("10.27.0.0/16 via 192.0.2.2 dev d0 src 10.30.0.5");
    static_route("10.28.0.0/16 via 192.0.2.2 dev d0 src 10.30.0.6");
    let name = ns.name.clone();
    let (d0, d1) = (ns.ifindex("d0"), ns.ifindex("d1"));
    ns.block_on(move || async move {
        let config = MonitorConfig {
            route_tables: vec![254, 100],
            ..MonitorConfig::default()
        };
        let mut m = Monitor::new(config).expect("monitor");
        let mut routes = Routes::default();
        for ev in initial_dump(&mut m).await {
            routes.apply(&ev);
        }
        assert_same("the initial dump", &name, &routes);
        assert_eq!(routes.0.len(), 10, "{routes:?}");

        // d1 still has the address: Linux keeps its routes.
        step(&mut m, &mut routes, &name, "addr del 10.201.0.1/24 dev d2").await;
        assert!(routes.0.contains_key("10.24.0.0/16"));
        // Gone from the host: Linux removes the main table's routes from it (without a
        // word before 6.6), each reported removed once. The multipath route goes as a
        // whole; of the routes appended under one key, the one from the address, even
        // with the next hop of the other; the route of table 100 stays.
        step(&mut m, &mut routes, &name, "addr del 10.200.0.1/24 dev d2").await;
        routes.1.sort();
        assert_eq!(routes.1, ["10.20.0.0/16", "10.21.0.0/16"], "{routes:?}");
        assert_eq!(routes.0.get("10.22.0.0/16"), Some(&Some(d0)));
        assert_eq!(routes.0.get("10.29.0.0/16"), Some(&Some(d1)));
        assert!(routes.0.contains_key("10.23.0.0/16 table 100"));
        step(&mut m, &mut routes, &name, "addr del 10.201.0.1/32 dev d1").await;
        assert!(!routes.0.contains_key("10.24.0.0/16"));

        // A secondary address removed alone takes its routes; deleting the link takes
        // those from its primary address, and keeps those from the secondary one left.
        step(&mut m, &mut routes, &name, "addr del 10.30.0.6/24 dev d3").await;
        assert!(!routes.0.contains_key("10.28.0.0/16"));
        step(&mut m, &mut routes, &name, "link del d3").await;
        assert!(!routes.0.contains_key("10.26.0.0/16"));
        assert!(routes.0.contains_key("10.27.0.0/16"));
        // Reported once each, the route left by the appended one's removal never.
        let mut removed: Vec<&str> = routes.1.iter().map(String::as_str).collect();
        removed.sort_unstable();
        assert_eq!(
            removed,
            [
                "10.20.0.0/16",
                "10.21.0.0/16",
                "10.24.0.0/16",
                "10.26.0.0/16",
                "10.28.0.0/16"
            ]
        );
    });
}
