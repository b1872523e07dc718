//! Lines of three nodes, babeld–routed–babeld and routed–babeld–routed: every end learns the
//! other end's IPv4 and IPv6 prefixes into its kernel table and traffic crosses the middle,
//! with IPv4 routes through IPv6 next hops (RFC 9229) and through IPv4 next hops.

use std::time::Duration;

use e2e::Lab;

const ROUTED: &str = env!("CARGO_BIN_EXE_routed");

fn line(name: &str, routed_in_middle: bool, ipv4_links: bool) {
    let Some(mut lab) = Lab::new(name, true) else {
        return;
    };
    let a = lab.node("a", &["10.255.0.1/32", "fd00:255::1/128"]);
    let b = lab.node("b", &["10.255.0.2/32", "fd00:255::2/128"]);
    let c = lab.node("c", &["10.255.0.3/32", "fd00:255::3/128"]);
    lab.link(&a, "eth-b", &b, "eth-a");
    lab.link(&b, "eth-c", &c, "eth-b");
    if ipv4_links {
        lab.ip(&a, "addr add 10.0.12.1/24 dev eth-b");
        lab.ip(&b, "addr add 10.0.12.2/24 dev eth-a");
        lab.ip(&b, "addr add 10.0.23.2/24 dev eth-c");
        lab.ip(&c, "addr add 10.0.23.3/24 dev eth-b");
    }
    let start = |lab: &mut Lab, routed: bool, n: &str, ns: &str, ifs: &[&str]| {
        if routed {
            let mut args = vec!["-H", "1"];
            args.extend_from_slice(ifs);
            lab.routed(ROUTED, &format!("routed-{n}"), ns, &args);
        } else {
            lab.babeld(&format!("babeld-{n}"), ns, ifs);
        }
    };
    start(&mut lab, !routed_in_middle, "a", &a, &["eth-b"]);
    start(&mut lab, routed_in_middle, "b", &b, &["eth-a", "eth-c"]);
    start(&mut lab, !routed_in_middle, "c", &c, &["eth-b"]);
    let ta = lab.wait_routes(
        &a,
        &["10.255.0.3", "fd00:255::3", "10.255.0.2", "fd00:255::2"],
    );
    let tc = lab.wait_routes(
        &c,
        &["10.255.0.1", "fd00:255::1", "10.255.0.2", "fd00:255::2"],
    );
    let tb = lab.wait_routes(
        &b,
        &["10.255.0.1", "fd00:255::1", "10.255.0.3", "fd00:255::3"],
    );
    eprintln!("{name}: a learned c's prefixes in {ta:?}, c learned a's in {tc:?}, b had both after {tb:?}");
    let route = lab.babel_routes(&a, "-4");
    let r = route
        .lines()
        .find(|l| l.starts_with("10.255.0.3 "))
        .unwrap_or_default();
    if ipv4_links {
        assert!(r.contains("via 10.0.12.2"), "IPv4 next hop expected: {r}");
    } else {
        assert!(r.contains("via inet6 fe80:"), "IPv6 next hop expected: {r}");
    }
    let t4 = lab.wait_connect(&a, "10.255.0.1", &c, "10.255.0.3", Duration::from_secs(10));
    let t6 = lab.wait_connect(
        &c,
        "fd00:255::3",
        &a,
        "fd00:255::1",
        Duration::from_secs(10),
    );
    eprintln!("{name}: end-to-end IPv4 traffic after {t4:?}, IPv6 after {t6:?}");
}

#[test]
fn babeld_routed_babeld_v4_via_v6() {
    line("brb-v4v6", true, false);
}

#[test]
fn babeld_routed_babeld_ipv4_next_hops() {
    line("brb-v4nh", true, true);
}

#[test]
fn routed_babeld_routed_v4_via_v6() {
    line("rbr-v4v6", false, false);
}

#[test]
fn routed_babeld_routed_ipv4_next_hops() {
    line("rbr-v4nh", false, true);
}
