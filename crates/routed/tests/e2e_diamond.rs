//! A diamond a–b–d / a–c–d, routed and babeld mixed (a and c routed, b and d babeld). The
//! a–b–d path is cheaper; when its b–d link is cut (behind a switch, so no carrier changes),
//! traffic from a to d moves to c, and back when the link returns.

use std::time::Duration;

use e2e::{Lab, CONVERGE};

const ROUTED: &str = env!("CARGO_BIN_EXE_routed");

fn route_dev(lab: &Lab, ns: &str, family: &str, dst: &str) -> Option<String> {
    let routes = lab.babel_routes(ns, family);
    let l = routes
        .lines()
        .find(|l| l.split_whitespace().next() == Some(dst))?;
    if l.starts_with("unreachable") {
        return None;
    }
    let w: Vec<&str> = l.split_whitespace().collect();
    w.iter()
        .position(|x| *x == "dev")
        .and_then(|i| w.get(i + 1))
        .map(|s| s.to_string())
}

#[test]
fn diamond_fails_over_and_back() {
    let Some(mut lab) = Lab::new("diamond", true) else {
        return;
    };
    let a = lab.host("a", 1);
    let b = lab.host("b", 2);
    let c = lab.host("c", 3);
    let d = lab.host("d", 4);
    lab.link(&a, "eth-b", &b, "eth-a");
    lab.link(&a, "eth-c", &c, "eth-a");
    // b and d meet through a switch, so that cutting them apart changes no carrier: both
    // find out through Babel (lost hellos), not from the kernel.
    let sw = lab.node("sw", &[]);
    lab.ip(&sw, "link add br0 type bridge stp_state 0 mcast_snooping 0");
    lab.link(&b, "eth-d", &sw, "p1");
    lab.link(&d, "eth-b", &sw, "p2");
    lab.ip(&sw, "link set p1 master br0");
    lab.ip(&sw, "link set p2 master br0");
    lab.ip(&sw, "link set br0 up");
    lab.link(&c, "eth-d", &d, "eth-c");
    // Metric smoothing off (-M 0) everywhere: babeld's smoothing would otherwise keep b on
    // its detour for some 30 s after the link returns, which is not what this test is about.
    // The c side costs more: rxcost 300 at both ends of both of its links.
    let routed_a = e2e::args(
        &["-H", "1", "-M", "0", "-g", "33123"],
        &["interface eth-c rxcost 300"],
        &["eth-b", "eth-c"],
    );
    lab.routed(ROUTED, "routed-a", &a, &routed_a);
    lab.babeld(
        "babeld-b",
        &b,
        &["-M", "0", "-g", "33123", "eth-a", "eth-d"],
    );
    let routed_c = e2e::args(
        &["-H", "1", "-M", "0"],
        &["default rxcost 300"],
        &["eth-a", "eth-d"],
    );
    lab.routed(ROUTED, "routed-c", &c, &routed_c);
    let babeld_d = e2e::args(
        &["-M", "0"],
        &["interface eth-c rxcost 300"],
        &["eth-b", "eth-c"],
    );
    lab.babeld("babeld-d", &d, &babeld_d);
    lab.wait_routes(&a, &["10.255.0.4", "fd00:255::4"]);
    lab.wait_routes(&d, &["10.255.0.1", "fd00:255::1"]);
    let settled = lab.wait_for(CONVERGE, || {
        route_dev(&lab, &a, "-4", "10.255.0.4").as_deref() == Some("eth-b")
            && route_dev(&lab, &a, "-6", "fd00:255::4").as_deref() == Some("eth-b")
    });
    assert!(
        settled.is_some(),
        "a does not prefer the b path:\n{}\n{}",
        lab.all_babel_routes(&a),
        lab.logs()
    );
    lab.wait_connect(&a, "10.255.0.1", &d, "10.255.0.4", Duration::from_secs(10));

    // Every kernel route change at a from here on, to check that the switch is a replace.
    let mon = lab.spawn(
        "ip-monitor-a",
        &a,
        "ip",
        &["monitor".to_string(), "route".to_string()],
    );
    std::thread::sleep(Duration::from_millis(200));
    // Cut b–d: a hears of it only through Babel.
    lab.ip(&sw, "link set p2 nomaster");
    let t = lab.wait_for(CONVERGE, || {
        route_dev(&lab, &a, "-4", "10.255.0.4").as_deref() == Some("eth-c")
            && route_dev(&lab, &a, "-6", "fd00:255::4").as_deref() == Some("eth-c")
    });
    let Some(t) = t else {
        panic!(
            "a did not move to the c path:\n{}\n{}",
            lab.all_babel_routes(&a),
            lab.logs()
        );
    };
    let t4 = lab.wait_connect(&a, "10.255.0.1", &d, "10.255.0.4", Duration::from_secs(15));
    let t6 = lab.wait_connect(
        &d,
        "fd00:255::4",
        &a,
        "fd00:255::1",
        Duration::from_secs(15),
    );
    let changes = lab.log(mon);
    assert!(
        changes.contains("10.255.0.4"),
        "ip monitor saw no change: {changes}"
    );
    assert!(
        !changes.lines().any(|l| l.starts_with("Deleted")
            && (l.contains("10.255.0.4 ") || l.contains("fd00:255::4 "))),
        "the route was deleted before the new one was added (a black hole):\n{changes}"
    );
    eprintln!("failover: a's routes moved to c in {t:?}; traffic after a further {t4:?} (IPv4) and {t6:?} (IPv6)");

    // The link returns: traffic goes back to b.
    lab.ip(&sw, "link set p2 master br0");
    let t = lab.wait_for(CONVERGE, || {
        route_dev(&lab, &a, "-4", "10.255.0.4").as_deref() == Some("eth-b")
            && route_dev(&lab, &a, "-6", "fd00:255::4").as_deref() == Some("eth-b")
    });
    let Some(t) = t else {
        panic!(
            "a did not return to the b path:\n{}\na: {}\nb: {}\n{}",
            lab.all_babel_routes(&a),
            lab.wait_control(&a, 33123, "dump"),
            lab.wait_control(&b, 33123, "dump"),
            lab.logs()
        );
    };
    lab.wait_connect(&a, "10.255.0.1", &d, "10.255.0.4", Duration::from_secs(10));
    eprintln!("recovery: a's routes back through b in {t:?}");
}

/// `counter NAME VALUE` of a `counters` answer.
fn counter(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some("counter") && w.next() == Some(name))
            .then(|| w.next()?.parse().ok())
            .flatten()
    })
}

/// Three routed nodes a, b and c, each linked to the other two (`eth-X` towards X); a's
/// link to c costs more, and a's control socket is on `port`. Returns the namespaces and the
/// daemons' indices.
fn triangle(lab: &mut Lab, port: u16) -> ([String; 3], [usize; 3]) {
    let a = lab.host("a", 1);
    let b = lab.host("b", 2);
    let c = lab.host("c", 3);
    lab.link(&a, "eth-b", &b, "eth-a");
    lab.link(&a, "eth-c", &c, "eth-a");
    lab.link(&b, "eth-c", &c, "eth-b");
    let port = port.to_string();
    let routed_a = e2e::args(
        &["-H", "1", "-M", "0", "-g", &port],
        &["interface eth-c rxcost 300"],
        &["eth-b", "eth-c"],
    );
    let ia = lab.routed(ROUTED, "routed-a", &a, &routed_a);
    let ib = lab.routed(
        ROUTED,
        "routed-b",
        &b,
        &e2e::args(&["-H", "1", "-M", "0"], &[], &["eth-a", "eth-c"]),
    );
    let ic = lab.routed(
        ROUTED,
        "routed-c",
        &c,
        &e2e::args(&["-H", "1", "-M", "0"], &[], &["eth-a", "eth-b"]),
    );
    ([a, b, c], [ia, ib, ic])
}

/// Our nexthop objects in `ns`: (id, device).
fn babel_nexthops(lab: &Lab, ns: &str) -> Vec<(String, String)> {
    lab.ip(ns, "nexthop show proto 42")
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let at = |k: &str| w.iter().position(|x| *x == k).and_then(|i| w.get(i + 1));
            Some((at("id")?.to_string(), at("dev")?.to_string()))
        })
        .collect()
}

/// The nexthop object a route of a names (`nhid`), if any.
fn route_nhid(lab: &Lab, ns: &str, family: &str, dst: &str) -> Option<String> {
    let routes = lab.babel_routes(ns, family);
    let line = routes
        .lines()
        .find(|l| l.split_whitespace().next() == Some(dst))?
        .to_string();
    let w: Vec<&str> = line.split_whitespace().collect();
    let i = w.iter().position(|x| *x == "nhid")?;
    w.get(i + 1).map(|s| s.to_string())
}

/// When c goes away for good, a's routes through c go, and so does c's nexthop object once
/// two of the installer's checks, the grace period (30 s) apart, found it unused: the first
/// comes at most 60 s after the routes went (the grace period after they moved, or the
/// interval of objects found in use, 60 s after they were made). b's object, still named by
/// a's route to b, stays.
#[test]
fn an_unused_nexthop_object_is_deleted_after_two_checks() {
    let Some(mut lab) = Lab::new("nhgc", false) else {
        return;
    };
    let port = 33125;
    let ([a, _, _], [_, _, ic]) = triangle(&mut lab, port);
    // Each directly, through its own object.
    let both = |lab: &Lab| {
        route_dev(lab, &a, "-6", "fd00:255::2").as_deref() == Some("eth-b")
            && route_dev(lab, &a, "-6", "fd00:255::3").as_deref() == Some("eth-c")
            && route_nhid(lab, &a, "-6", "fd00:255::2").is_some()
            && route_nhid(lab, &a, "-6", "fd00:255::3").is_some()
    };
    assert!(
        lab.wait_for(CONVERGE, || both(&lab)).is_some(),
        "a has no routes through objects to b and c\n{}",
        lab.all_babel_routes(&a)
    );
    let to_b = route_nhid(&lab, &a, "-6", "fd00:255::2").expect("route to b");
    let to_c = route_nhid(&lab, &a, "-6", "fd00:255::3").expect("route to c");
    let objects = babel_nexthops(&lab, &a);
    assert!(
        objects
            .iter()
            .any(|(id, dev)| *id == to_b && dev == "eth-b")
            && objects
                .iter()
                .any(|(id, dev)| *id == to_c && dev == "eth-c"),
        "{objects:?}"
    );
    // c stops (its links stay up: no flush); a drops it after a few lost hellos.
    lab.stop(ic, Duration::from_secs(10));
    assert!(
        lab.wait_for(CONVERGE, || route_nhid(&lab, &a, "-6", "fd00:255::3")
            .is_none())
            .is_some(),
        "a kept its route to c\n{}",
        lab.all_babel_routes(&a)
    );
    // Unused, c's object stays for the grace period at least, then goes; b's stays with its
    // route.
    assert!(babel_nexthops(&lab, &a).iter().any(|(id, _)| *id == to_c));
    let gone = lab.wait_for(Duration::from_secs(90) + CONVERGE, || {
        !babel_nexthops(&lab, &a).iter().any(|(id, _)| *id == to_c)
    });
    assert!(
        gone.is_some(),
        "c's nexthop object is still there: {:?}\n{}",
        babel_nexthops(&lab, &a),
        lab.logs()
    );
    assert!(babel_nexthops(&lab, &a).iter().any(|(id, _)| *id == to_b));
    assert_eq!(
        route_nhid(&lab, &a, "-6", "fd00:255::2").as_deref(),
        Some(to_b.as_str())
    );
    let counters = lab.wait_control(&a, port, "counters");
    assert_eq!(
        counter(&counters, "kernel-nexthops-collected"),
        Some(1),
        "{counters}"
    );
    assert!(
        counter(&counters, "kernel-nexthops-checks").unwrap_or(0) >= 2,
        "{counters}"
    );
}

/// A triangle of routed nodes: a reaches b directly (eth-b) and, for more, through c. b's
/// end of the a–b link goes down, so a's eth-b loses its carrier and Linux flushes the
/// nexthop objects on it with their routes; a moves to c, and back to eth-b when the carrier
/// returns, without first naming the flushed object (a failed replace, a lookup and a resend:
/// `kernel-nexthops-stale` would count it).
#[test]
fn carrier_loss_and_recovery_reinstall_routes_without_a_failed_replace() {
    let Some(mut lab) = Lab::new("carrier", false) else {
        return;
    };
    let port = 33124;
    let ([a, b, _], _) = triangle(&mut lab, port);
    let via = |dev: &str| {
        route_dev(&lab, &a, "-4", "10.255.0.2").as_deref() == Some(dev)
            && route_dev(&lab, &a, "-6", "fd00:255::2").as_deref() == Some(dev)
    };
    assert!(
        lab.wait_for(CONVERGE, || via("eth-b")).is_some(),
        "a never reached b directly\n{}",
        lab.all_babel_routes(&a)
    );
    let before = lab.wait_control(&a, port, "counters");
    assert_eq!(
        counter(&before, "kernel-nexthops-flushed"),
        Some(0),
        "{before}"
    );
    // At least b's (c's may still be on its way).
    let created = counter(&before, "kernel-nexthops-created").expect("counter");
    assert!(created >= 1, "{before}");

    lab.ip(&b, "link set eth-a down");
    assert!(
        lab.wait_for(CONVERGE, || via("eth-c")).is_some(),
        "a did not move to c\n{}",
        lab.all_babel_routes(&a)
    );
    lab.ip(&b, "link set eth-a up");
    assert!(
        lab.wait_for(CONVERGE, || via("eth-b")).is_some(),
        "a did not come back to eth-b\n{}",
        lab.all_babel_routes(&a)
    );
    let mut after = String::new();
    lab.wait_for(CONVERGE, || {
        after = lab.wait_control(&a, port, "counters");
        counter(&after, "kernel-nexthops-created").unwrap_or(0) > created
    });
    // The objects on eth-b were forgotten when its carrier went, and new ones made for the
    // routes back: no route named a flushed object.
    assert!(
        counter(&after, "kernel-nexthops-flushed").unwrap_or(0) >= 1,
        "{after}"
    );
    assert!(
        counter(&after, "kernel-nexthops-created").unwrap_or(0) > created,
        "{after}"
    );
    assert_eq!(
        counter(&after, "kernel-nexthops-stale"),
        Some(0),
        "{after}\n{}",
        lab.logs()
    );
    // The IPv6 route names an object that exists (an IPv4 route through an IPv6 next hop
    // carries its gateway).
    let nhs = lab.ip(&a, "nexthop show");
    let routes = lab.babel_routes(&a, "-6");
    let line = routes
        .lines()
        .find(|l| l.starts_with("fd00:255::2 "))
        .expect("route");
    let id = line
        .split_whitespace()
        .skip_while(|w| *w != "nhid")
        .nth(1)
        .unwrap_or_else(|| panic!("no nexthop object: {line}"));
    assert!(
        nhs.lines().any(|l| l.starts_with(&format!("id {id} "))),
        "{line}\n{nhs}"
    );
}
