//! Kernel route kinds: IPv6 source-specific routes learned from babeld (RFC 9079), and an
//! unreachable route while a retracted route is held.

use std::time::Duration;

use e2e::Lab;

const ROUTED: &str = env!("CARGO_BIN_EXE_routed");

#[test]
fn source_specific_and_held_unreachable_routes() {
    let Some(mut lab) = Lab::new("routes", true) else {
        return;
    };
    let a = lab.node("a", &["10.255.0.1/32", "fd00:255::1/128"]);
    let b = lab.node("b", &["10.255.0.2/32", "fd00:255::2/128", "10.255.0.22/32"]);
    lab.link(&a, "eth-b", &b, "eth-a");
    // babeld announces fd88::/48 as specific to the source prefix fd99::/48.
    lab.ip(&b, "-6 route add fd88::/48 dev lo proto static");
    lab.routed(ROUTED, "routed-a", &a, &["-H", "1", "eth-b"]);
    lab.babeld(
        "babeld-b",
        &b,
        &[
            "-C",
            "redistribute ip fd88::/16 src-prefix fd99::/48 allow",
            "eth-a",
        ],
    );
    lab.wait_routes(&a, &["10.255.0.22", "fd88::/48"]);
    let v6 = lab.babel_routes(&a, "-6");
    let ss = v6
        .lines()
        .find(|l| l.starts_with("fd88::/48 "))
        .unwrap_or_default();
    assert!(
        ss.contains("from fd99::/48"),
        "source-specific route expected: {v6}"
    );
    assert!(ss.contains("via fe80:") && ss.contains("dev eth-b"), "{ss}");

    // babeld stops announcing 10.255.0.22 (babeld notices the address is gone on its next
    // kernel check, so the route may also simply expire at routed): routed then holds the
    // route as unreachable, and flushes it at the end of the hold time.
    lab.ip(&b, "addr del 10.255.0.22/32 dev lo");
    let held = lab.wait_for(e2e::CONVERGE, || {
        lab.babel_routes(&a, "-4")
            .lines()
            .any(|l| l.starts_with("unreachable 10.255.0.22 "))
    });
    assert!(
        held.is_some(),
        "no unreachable route while held:\n{}\n{}",
        lab.all_babel_routes(&a),
        lab.logs()
    );
    let flushed = lab.wait_for(Duration::from_secs(120), || {
        !lab.babel_routes(&a, "-4").contains("10.255.0.22")
    });
    assert!(
        flushed.is_some(),
        "the held route was never flushed:\n{}",
        lab.all_babel_routes(&a)
    );
    eprintln!(
        "unreachable route installed {:?} after the retraction, removed {:?} later",
        held.unwrap_or_default(),
        flushed.unwrap_or_default()
    );
    // The other routes are untouched.
    assert!(lab
        .babel_routes(&a, "-4")
        .lines()
        .any(|l| l.starts_with("10.255.0.2 via")));
}

#[test]
fn export_table_and_kernel_priority() {
    let Some(mut lab) = Lab::new("export", true) else {
        return;
    };
    let a = lab.node("a", &["10.255.0.1/32", "fd00:255::1/128"]);
    let b = lab.node("b", &["10.255.0.2/32", "fd00:255::2/128"]);
    lab.link(&a, "eth-b", &b, "eth-a");
    let r = lab.routed(
        ROUTED,
        "routed-a",
        &a,
        &["-H", "1", "-t", "100", "-k", "7", "eth-b"],
    );
    lab.babeld("babeld-b", &b, &["eth-a"]);
    lab.wait_routes(&a, &["10.255.0.2", "fd00:255::2"]);
    let t100 = lab.ip(&a, "-4 route show table 100 proto 42");
    assert!(
        t100.lines()
            .any(|l| l.starts_with("10.255.0.2 ") && l.contains("metric 7")),
        "{t100}"
    );
    let t100 = lab.ip(&a, "-6 route show table 100 proto 42");
    assert!(
        t100.lines()
            .any(|l| l.starts_with("fd00:255::2 ") && l.contains("metric 7")),
        "{t100}"
    );
    assert!(
        lab.ip(&a, "-4 route show table main proto 42")
            .trim()
            .is_empty(),
        "routes leaked into main"
    );
    assert!(lab
        .stop(r, Duration::from_secs(10))
        .is_some_and(|s| s.success()));
    assert_eq!(
        lab.all_babel_routes(&a).trim(),
        "",
        "export table not cleaned at exit"
    );
}

#[test]
fn a_foreign_route_with_our_key_is_never_overwritten() {
    let Some(mut lab) = Lab::new("foreign", true) else {
        return;
    };
    let [a, b] = lab.chain([
        ("a", &["10.255.0.1/32", "fd00:255::1/128"]),
        ("b", &["10.255.0.2/32", "fd00:255::2/128", "10.255.0.22/32"]),
    ]);
    // Someone else's route with the key routed would use (destination, metric 0, main).
    lab.ip(&a, "route add 10.255.0.22/32 dev lo proto static");
    let r = lab.routed(ROUTED, "routed-a", &a, &["-H", "1", "eth-b"]);
    lab.babeld("babeld-b", &b, &["eth-a"]);
    lab.wait_routes(&a, &["10.255.0.2", "fd00:255::2"]);
    let refused = |n: usize| {
        lab.wait_for(e2e::CONVERGE, || {
            lab.log(r)
                .matches("add 10.255.0.22/32: File exists")
                .count()
                >= n
        })
    };
    assert!(refused(1).is_some(), "no refused add:\n{}", lab.logs());
    let foreign = |lab: &Lab| {
        let main = lab.ip(&a, "-4 route show 10.255.0.22/32");
        assert!(
            main.contains("dev lo proto static") && !main.contains("unreachable"),
            "the foreign route was overwritten: {main}"
        );
        assert!(
            !lab.babel_routes(&a, "-4").contains("10.255.0.22"),
            "{}",
            lab.babel_routes(&a, "-4")
        );
    };
    foreign(&lab);
    // babeld retracts it: routed holds the route as unreachable, a replace of the same key,
    // which must not replace the foreign route either.
    lab.ip(&b, "addr del 10.255.0.22/32 dev lo");
    assert!(
        refused(2).is_some(),
        "the held route was not tried:\n{}",
        lab.logs()
    );
    foreign(&lab);
    // Nor does the purge at exit remove it.
    let status = lab.stop(r, Duration::from_secs(10)).expect("routed exits");
    assert!(status.success());
    foreign(&lab);
}
