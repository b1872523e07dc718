//! routed and babeld 1.12 side by side in two network namespaces: each learns the other's
//! IPv4 and IPv6 addresses into its kernel table, and traffic crosses.

use std::time::Duration;

use e2e::Lab;

const ROUTED: &str = env!("CARGO_BIN_EXE_routed");

fn pair(name: &str, ipv4_link: bool) {
    let Some(mut lab) = Lab::new(name, true) else {
        return;
    };
    let a = lab.node("a", &["10.255.0.1/32", "fd00:255::1/128"]);
    let b = lab.node("b", &["10.255.0.2/32", "fd00:255::2/128"]);
    lab.link(&a, "eth-b", &b, "eth-a");
    if ipv4_link {
        lab.ip(&a, "addr add 10.0.12.1/24 dev eth-b");
        lab.ip(&b, "addr add 10.0.12.2/24 dev eth-a");
    }
    lab.routed(ROUTED, "routed-a", &a, &["-H", "1", "eth-b"]);
    lab.babeld("babeld-b", &b, &["eth-a"]);
    let ta = lab.wait_routes(&a, &["10.255.0.2", "fd00:255::2"]);
    let tb = lab.wait_routes(&b, &["10.255.0.1", "fd00:255::1"]);
    eprintln!(
        "{name}: routed learned babeld's prefixes in {ta:?}, babeld learned routed's in {tb:?}"
    );
    let v4 = lab.babel_routes(&a, "-4");
    let line = v4
        .lines()
        .find(|l| l.starts_with("10.255.0.2 "))
        .unwrap_or_default()
        .to_string();
    if ipv4_link {
        assert!(
            line.contains("via 10.0.12.2"),
            "IPv4 next hop expected: {line}"
        );
    } else {
        assert!(
            line.contains("via inet6 fe80:"),
            "v4-via-v6 next hop expected: {line}"
        );
    }
    let v4b = lab.babel_routes(&b, "-4");
    assert!(v4b.contains("10.255.0.1"), "{v4b}");
    let t4 = lab.wait_connect(&a, "10.255.0.1", &b, "10.255.0.2", Duration::from_secs(10));
    let t6 = lab.wait_connect(
        &b,
        "fd00:255::2",
        &a,
        "fd00:255::1",
        Duration::from_secs(10),
    );
    eprintln!("{name}: IPv4 traffic crossed after {t4:?}, IPv6 after {t6:?}");
}

#[test]
fn routed_babeld_pair_v4_via_v6() {
    pair("pair-v4v6", false);
}

#[test]
fn routed_babeld_pair_ipv4_next_hops() {
    pair("pair-v4nh", true);
}

/// An interface that does not exist when routed starts is used once it appears (after its
/// link-local address leaves DAD), dropped when it goes down, and used again when it returns.
#[test]
fn interface_appearing_later_going_down_and_returning() {
    let Some(mut lab) = Lab::new("later", true) else {
        return;
    };
    let a = lab.node("a", &["10.255.0.1/32", "fd00:255::1/128"]);
    let b = lab.node("b", &["10.255.0.2/32", "fd00:255::2/128"]);
    lab.routed(ROUTED, "routed-a", &a, &["-H", "1", "eth-b"]);
    std::thread::sleep(Duration::from_millis(500));
    lab.link(&a, "eth-b", &b, "eth-a");
    lab.babeld("babeld-b", &b, &["eth-a"]);
    let t = lab.wait_routes(&a, &["10.255.0.2", "fd00:255::2"]);
    lab.wait_routes(&b, &["10.255.0.1"]);
    eprintln!("late interface: routes learned {t:?} after it appeared");
    lab.ip(&a, "link set eth-b down");
    let gone = lab.wait_for(Duration::from_secs(10), || {
        lab.all_babel_routes(&a).trim().is_empty()
    });
    assert!(
        gone.is_some(),
        "routes through a downed interface stayed:\n{}",
        lab.all_babel_routes(&a)
    );
    lab.ip(&a, "link set eth-b up");
    let t = lab.wait_routes(&a, &["10.255.0.2", "fd00:255::2"]);
    eprintln!("interface back up: routes learned again in {t:?}");
    lab.wait_connect(&a, "10.255.0.1", &b, "10.255.0.2", Duration::from_secs(10));
}
