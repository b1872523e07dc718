//! Redistribution, filtered like babeld: local addresses by default, kernel routes of the
//! import tables when a `redistribute` filter allows them (never protocol boot without an
//! explicit `proto 3`), kept current from netlink events.

use std::time::Duration;

use e2e::{parse_dump, Lab};

const ROUTED: &str = env!("CARGO_BIN_EXE_routed");
const PORT: u16 = 33123;

#[test]
fn kernel_routes_and_local_addresses_are_redistributed_like_babeld() {
    let Some(mut lab) = Lab::new("redist", true) else {
        return;
    };
    let a = lab.node("a", &["10.255.0.1/32", "10.255.0.11/32", "fd00:255::1/128"]);
    let b = lab.node("b", &["10.255.0.2/32"]);
    lab.link(&a, "eth-b", &b, "eth-a");
    let port = PORT.to_string();
    let routed_args = e2e::args(
        &["-H", "1", "-T", "254", "-T", "100"],
        &[
            "redistribute local ip 10.255.0.11/32 deny",
            "redistribute ip 10.77.0.0/16 allow",
            "redistribute ip 10.78.0.0/16 allow",
            "redistribute ip fd77::/16 metric 128",
        ],
        &["eth-b"],
    );
    lab.routed(ROUTED, "routed-a", &a, &routed_args);
    lab.babeld("babeld-b", &b, &["-g", &port, "eth-a"]);
    // Present before routed starts (initial dump) and added later (live events).
    lab.ip(&a, "route add 10.77.1.0/24 dev lo proto static");
    lab.wait_routes(&b, &["10.255.0.1", "fd00:255::1", "10.77.1.0/24"]);
    lab.ip(&a, "-6 route add fd77:1::/48 dev lo proto static");
    lab.ip(&a, "route add 10.78.0.0/16 dev lo proto static table 100");
    lab.ip(&a, "route add 10.77.2.0/24 dev lo");
    lab.wait_routes(&b, &["fd77:1::/48", "10.78.0.0/16"]);
    let d = parse_dump(&lab.wait_control(&b, PORT, "dump"));
    let route = |p: &str| {
        d.iter()
            .find(|l| l.object == "route" && l.fields["prefix"] == p)
            .cloned()
    };
    assert_eq!(
        route("fd77:1::/48")
            .map(|r| r.fields["refmetric"].clone())
            .as_deref(),
        Some("128"),
        "metric 128 from the filter"
    );
    assert!(
        route("10.255.0.11/32").is_none(),
        "a denied local address was announced"
    );
    assert!(
        route("10.77.2.0/24").is_none(),
        "a protocol-boot route was announced without proto 3"
    );
    assert!(route("127.0.0.1/32").is_none() && route("::1/128").is_none());

    // Removal is followed: babeld sees the retraction and removes its route.
    lab.ip(&a, "route del 10.77.1.0/24 dev lo proto static");
    let gone = lab.wait_for(Duration::from_secs(10), || {
        !lab.babel_routes(&b, "-4")
            .lines()
            .any(|l| l.starts_with("10.77.1.0/24 "))
    });
    assert!(
        gone.is_some(),
        "retraction of a removed kernel route not seen:\n{}",
        lab.logs()
    );
    // And a new local address is announced.
    lab.ip(&a, "addr add 10.255.0.21/32 dev lo");
    lab.wait_routes(&b, &["10.255.0.21"]);
}

#[test]
fn ipv4_routes_flushed_with_their_link_are_retracted() {
    let Some(mut lab) = Lab::new("redist-flush", true) else {
        return;
    };
    let a = lab.node("a", &["10.255.0.1/32"]);
    let b = lab.node("b", &["10.255.0.2/32"]);
    lab.link(&a, "eth-b", &b, "eth-a");
    // Two uplinks of a, each with a static route through it: Linux removes an IPv4 route
    // through a link that goes down or away without telling anyone. A third route, through
    // up1, has a preferred source on up0: it goes with that address (silently before
    // Linux 6.6).
    for (i, dev) in ["up0", "up1"].iter().enumerate() {
        lab.ip(&a, &format!("link add {dev} type veth peer name {dev}p"));
        lab.ip(&a, &format!("link set {dev}p up"));
        lab.ip(&a, &format!("link set {dev} up"));
        lab.ip(&a, &format!("addr add 192.0.{i}.1/24 dev {dev}"));
        lab.ip(
            &a,
            &format!("route add 10.9.{i}.0/24 via 192.0.{i}.2 dev {dev} proto static"),
        );
    }
    lab.ip(&a, "addr add 198.51.100.1/24 dev up0");
    lab.ip(
        &a,
        "route add 10.9.2.0/24 via 192.0.1.2 dev up1 src 198.51.100.1 proto static",
    );
    let routed_args = e2e::args(
        &["-H", "1"],
        &["redistribute ip 10.9.0.0/16 le 24 allow"],
        &["eth-b"],
    );
    lab.routed(ROUTED, "routed-a", &a, &routed_args);
    lab.babeld("babeld-b", &b, &["-g", &PORT.to_string(), "eth-a"]);
    lab.wait_routes(&b, &["10.9.0.0/24", "10.9.1.0/24", "10.9.2.0/24"]);

    // The kernel flushed `prefix` with `why`, and babeld sees it retracted.
    let flushed = |prefix: &str, why: &str| {
        assert!(
            lab.ip(&a, &format!("route show {prefix}"))
                .trim()
                .is_empty(),
            "the kernel kept {prefix}"
        );
        let retracted = lab.wait_for(Duration::from_secs(10), || {
            !lab.babel_routes(&b, "-4")
                .lines()
                .any(|l| l.split_whitespace().next() == Some(prefix))
        });
        assert!(
            retracted.is_some(),
            "a route flushed with {why} is still announced:\n{}\n{}",
            lab.babel_routes(&b, "-4"),
            lab.logs()
        );
    };
    lab.ip(&a, "addr del 198.51.100.1/24 dev up0");
    flushed("10.9.2.0/24", "its preferred source");
    lab.ip(&a, "link set up0 down");
    flushed("10.9.0.0/24", "its link (set down)");
    lab.ip(&a, "link del up1");
    flushed("10.9.1.0/24", "its link (deleted)");
}
