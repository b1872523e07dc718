//! Kernel installation beyond plain routes: IPv4 source-specific routes (and IPv6 ones with
//! `ipv6-subtrees false`) through policy routing (a table per source prefix, `from SRC
//! lookup TABLE` rules), and the `pref-src` action of install filters.

use std::time::Duration;

use e2e::{args, parse_dump, Lab};
use nix::sys::signal::Signal;

const ROUTED: &str = env!("CARGO_BIN_EXE_routed");
const PORT: u16 = 33123;

/// `ip -j -4 rule` (or `-6` for an IPv6 source) in `ns`.
fn rules_of(lab: &Lab, ns: &str, family: &str) -> Vec<serde_json::Value> {
    let out = lab.ip(ns, &format!("-j {family} rule show"));
    match serde_json::from_str(&out) {
        Ok(serde_json::Value::Array(v)) => v,
        _ => panic!("ip -j rule: {out}"),
    }
}

fn rules(lab: &Lab, ns: &str) -> Vec<serde_json::Value> {
    rules_of(lab, ns, "-4")
}

fn family_of(addr: &str) -> &'static str {
    if addr.contains(':') {
        "-6"
    } else {
        "-4"
    }
}

/// The table of the rule for source `src` (address, length) at `priority`, if there is one.
fn rule_table(lab: &Lab, ns: &str, src: (&str, u64), priority: u64) -> Option<String> {
    rules_of(lab, ns, family_of(src.0))
        .into_iter()
        .find(|r| r["src"] == src.0 && r["srclen"] == src.1 && r["priority"] == priority)
        .and_then(|r| r["table"].as_str().map(str::to_string))
}

/// Waits until `ns` routes `dst` from `src` through a rule at `priority` and a
/// protocol-42 route in its table; returns the table.
fn wait_source_route(lab: &Lab, ns: &str, dst: &str, src: (&str, u64), priority: u64) -> String {
    let mut table = None;
    let ok = lab.wait_for(Duration::from_secs(30), || {
        let Some(t) = rule_table(lab, ns, src, priority) else {
            return false;
        };
        let family = family_of(dst);
        let routes = lab.ip(ns, &format!("{family} route show table {t} proto 42"));
        let found = routes
            .lines()
            .any(|l| l.starts_with(&format!("{dst} ")) && !l.starts_with("unreachable"));
        table = Some(t);
        found
    });
    match (ok, table) {
        (Some(_), Some(t)) => t,
        _ => panic!(
            "{ns}: no route to {dst} from {}/{} (rules {:?}):\n{}\n{}",
            src.0,
            src.1,
            rules_of(lab, ns, family_of(dst)),
            lab.all_babel_routes(ns),
            lab.logs()
        ),
    }
}

/// Traffic from namespace `from`'s address `inside` the source prefix reaches `dst` in `to`
/// (waited for), and from its address `outside` it finds no route.
fn assert_only_from_source(
    lab: &Lab,
    (from, inside, outside): (&str, &str, &str),
    (to, dst): (&str, &str),
) {
    lab.wait_connect(from, inside, to, dst, Duration::from_secs(20));
    let other = lab.connect(from, outside.parse().unwrap(), to, dst.parse().unwrap());
    assert!(
        other.is_err(),
        "traffic from {outside}, outside the source prefix, crossed"
    );
}

/// a (babeld) announces 203.0.113.0/24 from 192.168.77.0/24; b and c (routed) install it in
/// a source table behind a rule, and traffic from inside the source prefix crosses while
/// traffic from elsewhere finds no route. b announces 198.51.100.0/24 from 10.99.0.0/16 the
/// same way; c installs it, babeld learns it (babeld 1.12 itself cannot install IPv4
/// source-specific routes: it logs "Function not implemented"). Leftover rules of protocol
/// 42 are removed at start, ours at SIGTERM; rules of other protocols or none stay.
#[test]
fn ipv4_source_specific_routes_go_through_source_tables_and_rules() {
    let Some(mut lab) = Lab::new("policy", true) else {
        return;
    };
    let [a, b, c] = lab.chain([
        ("a", &["203.0.113.1/32"]),
        ("b", &["192.168.77.2/32", "10.99.0.2/32"]),
        ("c", &["192.168.77.3/32", "10.99.0.3/32"]),
    ]);
    lab.ip(&a, "route add 203.0.113.0/24 dev lo proto static");
    lab.ip(&b, "route add 198.51.100.0/24 dev lo proto static");
    lab.ip(&b, "addr add 198.51.100.1/32 dev lo");
    // A leftover of an earlier run in our ranges (protocol 42), a foreign rule outside them,
    // and rules in our ranges that are not ours: one without a protocol (`ip rule add`, or a
    // babeld leftover) and one of protocol static.
    lab.ip(
        &b,
        "rule add from 172.16.0.0/12 lookup 12 priority 120 proto 42",
    );
    lab.ip(&b, "rule add from 172.16.0.0/12 lookup 77 priority 120");
    lab.ip(&b, "rule add from 172.17.0.0/16 lookup 13 priority 124");
    lab.ip(
        &b,
        "rule add from 172.18.0.0/16 lookup 14 priority 124 proto static",
    );
    let port = PORT.to_string();
    let babeld_a = args(
        &["-g", &port],
        &[
            "redistribute ip 203.0.113.0/24 src-prefix 192.168.77.0/24 metric 128",
            "redistribute local ip 203.0.113.0/24 le 32 deny",
        ],
        &["eth-b"],
    );
    lab.babeld("babeld-a", &a, &babeld_a);
    let routed_b_args = args(
        &["-H", "1"],
        &[
            "redistribute ip 198.51.100.0/24 src-prefix 10.99.0.0/16 metric 128",
            "redistribute local ip 198.51.100.0/24 le 32 deny",
        ],
        &["eth-a", "eth-c"],
    );
    let routed_b = lab.routed(ROUTED, "routed-b", &b, &routed_b_args);
    lab.routed(
        ROUTED,
        "routed-c",
        &c,
        &["-H", "1", "-C", "first-table-number 30", "eth-b"],
    );

    // b: the /24 source gets the first table and priority 100 + (32 - 24).
    let t = wait_source_route(&lab, &b, "203.0.113.0/24", ("192.168.77.0", 24), 108);
    assert_eq!(t, "10");
    let r = rules(&lab, &b);
    assert!(
        !r.iter().any(|x| x["table"] == "12"),
        "leftover rule kept: {r:?}"
    );
    assert!(
        r.iter().any(|x| x["table"] == "77"),
        "foreign rule removed: {r:?}"
    );
    assert!(
        r.iter().any(|x| x["table"] == "13") && r.iter().any(|x| x["table"] == "14"),
        "a rule in our ranges but not of protocol 42 removed: {r:?}"
    );
    // Nothing source-specific leaked into the main table.
    assert!(
        !lab.babel_routes(&b, "-4").contains("203.0.113."),
        "{}",
        lab.babel_routes(&b, "-4")
    );
    // From the source prefix, traffic crosses; from elsewhere it has no route.
    assert_only_from_source(&lab, (&b, "192.168.77.2", "10.99.0.2"), (&a, "203.0.113.1"));

    // c: a routed neighbour two hops away, tables from 30: both sources.
    let t1 = wait_source_route(&lab, &c, "203.0.113.0/24", ("192.168.77.0", 24), 108);
    let t2 = wait_source_route(&lab, &c, "198.51.100.0/24", ("10.99.0.0", 16), 116);
    let mut ts = [t1, t2];
    ts.sort();
    assert_eq!(ts, ["30".to_string(), "31".to_string()]);
    lab.wait_connect(
        &c,
        "192.168.77.3",
        &a,
        "203.0.113.1",
        Duration::from_secs(20),
    );
    lab.wait_connect(&c, "10.99.0.3", &b, "198.51.100.1", Duration::from_secs(20));

    // babeld learned routed's source-specific IPv4 route.
    let ok = lab.wait_for(Duration::from_secs(20), || {
        let d = parse_dump(&lab.wait_control(&a, PORT, "dump"));
        d.iter().any(|l| {
            l.object == "route"
                && l.fields.get("prefix").map(String::as_str) == Some("198.51.100.0/24")
                && l.fields.get("from").map(String::as_str) == Some("10.99.0.0/16")
        })
    });
    assert!(
        ok.is_some(),
        "babeld did not learn 198.51.100.0/24 from 10.99.0.0/16:\n{}",
        lab.wait_control(&a, PORT, "dump")
    );

    // SIGTERM: b's rules and source tables are gone.
    lab.signal(routed_b, Signal::SIGTERM);
    assert!(lab.stop(routed_b, Duration::from_secs(10)).is_some());
    let r = rules(&lab, &b);
    assert!(
        !r.iter()
            .any(|x| x["priority"] == 108 || x["priority"] == 116),
        "rules left after exit: {r:?}"
    );
    assert!(
        !r.iter().any(|x| x["protocol"] == "babel"),
        "rules of ours left after exit: {r:?}"
    );
    assert_eq!(
        r.iter().filter(|x| x["priority"] == 124).count(),
        2,
        "rules not of protocol 42 removed at exit: {r:?}"
    );
    assert_eq!(lab.ip(&b, "-4 route show table all proto 42"), "");
}

/// With `ipv6-subtrees false` (babeld's statement for kernels without IPv6 source routing),
/// an IPv6 source-specific route from babeld goes into a source table behind a `from SRC
/// lookup TABLE` rule like an IPv4 one: traffic from inside the source prefix crosses, from
/// elsewhere it finds no route; the rule is gone after SIGTERM.
#[test]
fn without_ipv6_subtrees_ipv6_source_specific_routes_go_through_source_tables() {
    let Some(mut lab) = Lab::new("policy6", true) else {
        return;
    };
    let [a, b] = lab.chain([
        ("a", &["2001:db8:aa::1/128"]),
        ("b", &["2001:db8:77::2/128", "2001:db8:99::2/128"]),
    ]);
    lab.ip(&a, "-6 route add 2001:db8:aa::/48 dev lo proto static");
    let port = PORT.to_string();
    let babeld_a = args(
        &["-g", &port],
        &[
            "redistribute ip 2001:db8:aa::/48 src-prefix 2001:db8:77::/48 metric 128",
            "redistribute local ip 2001:db8:aa::/48 le 128 deny",
        ],
        &["eth-b"],
    );
    lab.babeld("babeld-a", &a, &babeld_a);
    let routed_b = lab.routed(
        ROUTED,
        "routed-b",
        &b,
        &["-H", "1", "-C", "ipv6-subtrees false", "eth-a"],
    );
    // The /48 source: the first table, priority 100 + (128 - 48).
    let t = wait_source_route(&lab, &b, "2001:db8:aa::/48", ("2001:db8:77::", 48), 180);
    assert_eq!(t, "10");
    let main = lab.babel_routes(&b, "-6");
    assert!(!main.contains("2001:db8:aa:"), "{main}");
    assert_only_from_source(
        &lab,
        (&b, "2001:db8:77::2", "2001:db8:99::2"),
        (&a, "2001:db8:aa::1"),
    );
    lab.signal(routed_b, Signal::SIGTERM);
    assert!(lab.stop(routed_b, Duration::from_secs(10)).is_some());
    let r = rules_of(&lab, &b, "-6");
    assert!(
        !r.iter().any(|x| x["priority"] == 180),
        "rules left after exit: {r:?}"
    );
    assert_eq!(lab.ip(&b, "-6 route show table all proto 42"), "");
}

/// An install filter's `pref-src` reaches the kernel as the route's preferred source, for
/// both families, and only for the routes it matches.
#[test]
fn install_filter_pref_src_sets_the_preferred_source() {
    let Some(mut lab) = Lab::new("prefsrc", true) else {
        return;
    };
    let [a, b] = lab.chain([
        ("a", &["10.255.1.1/32", "10.255.1.11/32", "fd00:1::1/128"]),
        ("b", &["10.255.1.2/32", "fd00:1::2/128"]),
    ]);
    lab.babeld("babeld-a", &a, &["eth-b"]);
    let routed_b = args(
        &["-H", "1"],
        &[
            "install ip 10.255.1.1/32 pref-src 10.255.1.2",
            "install ip fd00:1::1/128 pref-src fd00:1::2",
        ],
        &["eth-a"],
    );
    lab.routed(ROUTED, "routed-b", &b, &routed_b);
    lab.wait_routes(&b, &["10.255.1.1", "10.255.1.11", "fd00:1::1"]);
    let v4 = lab.babel_routes(&b, "-4");
    let line = |text: &str, p: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(p))
            .unwrap_or_else(|| panic!("no route {p} in\n{text}"))
            .to_string()
    };
    assert!(line(&v4, "10.255.1.1").contains(" src 10.255.1.2"), "{v4}");
    assert!(!line(&v4, "10.255.1.11").contains(" src "), "{v4}");
    let v6 = lab.babel_routes(&b, "-6");
    assert!(line(&v6, "fd00:1::1").contains(" src fd00:1::2"), "{v6}");
    // The kernel uses it: a connection without an explicit source leaves from it.
    let get = lab.ip(&b, "-4 route get 10.255.1.1");
    assert!(get.contains("src 10.255.1.2"), "{get}");
}

/// An install filter's `pref-src` whose address goes and comes back. When 10.255.3.2 goes
/// Linux flushes the main table's routes with it as their preferred source (and refuses
/// new ones): routed puts them back without it, installs a route learned meanwhile without
/// it too, and gives them all the address back when it returns; a later retraction of one
/// reaches the kernel. The IPv6 route loses fd00:3::2 with the address (Linux drops it) and
/// gets it back once the address, added again with duplicate address detection, is past it.
#[test]
fn install_filter_pref_src_routes_follow_their_address() {
    let Some(mut lab) = Lab::new("prefsrc-back", true) else {
        return;
    };
    let [a, b] = lab.chain([
        ("a", &["10.255.3.1/32", "10.255.3.11/32", "fd00:3::1/128"]),
        ("b", &["10.255.3.2/32", "fd00:3::2/128"]),
    ]);
    lab.babeld("babeld-a", &a, &["eth-b"]);
    let routed_b = args(
        &["-H", "1"],
        &[
            "install ip 10.255.3.0/24 pref-src 10.255.3.2",
            "install ip fd00:3::/64 pref-src fd00:3::2",
        ],
        &["eth-a"],
    );
    lab.routed(ROUTED, "routed-b", &b, &routed_b);
    lab.wait_routes(&b, &["10.255.3.1", "10.255.3.11", "fd00:3::1"]);
    // The route to `p` in the main table (`None`: none), as `ip route` prints it.
    let route = |p: &str| {
        let family = family_of(p);
        lab.babel_routes(&b, family)
            .lines()
            .find(|l| l.split_whitespace().next() == Some(p))
            .map(str::to_string)
    };
    let with_src = |p: &str, src: Option<&str>| {
        route(p).is_some_and(|l| match src {
            Some(a) => l.contains(&format!(" src {a}")),
            None => !l.contains(" src "),
        })
    };
    let wait = |what: &str, f: &dyn Fn() -> bool| {
        let ok = lab.wait_for(Duration::from_secs(20), f);
        assert!(
            ok.is_some(),
            "{what}:\n{}\n{}",
            lab.all_babel_routes(&b),
            lab.logs()
        );
    };
    let v4 = ["10.255.3.1", "10.255.3.11"];
    wait("the routes with their preferred source", &|| {
        v4.iter().all(|p| with_src(p, Some("10.255.3.2")))
            && with_src("fd00:3::1", Some("fd00:3::2"))
    });

    // The address goes: Linux flushes the routes; routed puts them back without it.
    lab.ip(&b, "addr del 10.255.3.2/32 dev lo");
    wait("the routes back without their preferred source", &|| {
        v4.iter().all(|p| with_src(p, None))
    });
    // A route learned meanwhile goes in without it too.
    lab.ip(&a, "addr add 10.255.3.21/32 dev lo");
    wait("a new route without the preferred source", &|| {
        with_src("10.255.3.21", None)
    });

    // The address is back: every route gets it again.
    lab.ip(&b, "addr add 10.255.3.2/32 dev lo");
    wait("the routes with their preferred source again", &|| {
        ["10.255.3.1", "10.255.3.11", "10.255.3.21"]
            .iter()
            .all(|p| with_src(p, Some("10.255.3.2")))
    });
    // routed's later changes of them reach the kernel: a's address goes, babeld retracts
    // it, routed holds the route unreachable and then removes it.
    lab.ip(&a, "addr del 10.255.3.11/32 dev lo");
    wait("the retracted route held or gone", &|| {
        route("10.255.3.11").is_none_or(|l| l.starts_with("unreachable"))
            || lab
                .babel_routes(&b, "-4")
                .lines()
                .any(|l| l.starts_with("unreachable 10.255.3.11"))
    });

    // IPv6: Linux drops the preferred source with the address; it comes back on another
    // link, tentative until duplicate address detection is done, and then the route has
    // it again.
    lab.ip(&b, "addr del fd00:3::2/128 dev lo");
    wait("the IPv6 route without its preferred source", &|| {
        with_src("fd00:3::1", None)
    });
    lab.ip(&b, "addr add fd00:3::2/128 dev eth-a");
    wait("the IPv6 route with its preferred source again", &|| {
        with_src("fd00:3::1", Some("fd00:3::2"))
    });
}

/// RFC 9079 §6: the most specific destination wins first. a (babeld) announces 10.0.0.0/8
/// from 192.168.0.0/16 and c (babeld) a plain 10.1.0.0/16; b (routed) in between puts the
/// /8 in the source table, and so a copy of the /16, which the /8 would otherwise catch
/// (the source rule comes before the main table): a packet from 192.168.1.1 to 10.1.2.3
/// goes to c, one to 10.2.3.4 to a. When c's route goes, so does the copy.
#[test]
fn ipv4_source_tables_let_a_more_specific_destination_win() {
    let Some(mut lab) = Lab::new("disamb", true) else {
        return;
    };
    let [a, b, c] = lab.chain([
        ("a", &["198.18.0.1/32"]),
        ("b", &["192.168.1.1/32"]),
        ("c", &["198.18.0.3/32"]),
    ]);
    lab.ip(&a, "route add 10.0.0.0/8 dev lo proto static");
    lab.ip(&c, "route add 10.1.0.0/16 dev lo proto static");
    let port = PORT.to_string();
    let babeld_a = args(
        &["-g", &port],
        &["redistribute ip 10.0.0.0/8 src-prefix 192.168.0.0/16 metric 128"],
        &["eth-b"],
    );
    lab.babeld("babeld-a", &a, &babeld_a);
    let babeld_c = args(
        &["-g", &port],
        &["redistribute ip 10.1.0.0/16 metric 128"],
        &["eth-b"],
    );
    let babeld_c = lab.babeld("babeld-c", &c, &babeld_c);
    lab.routed(ROUTED, "routed-b", &b, &["-H", "1", "eth-a", "eth-c"]);

    let t = wait_source_route(&lab, &b, "10.0.0.0/8", ("192.168.0.0", 16), 116);
    lab.wait_routes(&b, &["10.1.0.0/16"]);
    let get = |dst: &str| lab.ip(&b, &format!("-4 route get {dst} from 192.168.1.1"));
    let copied = lab.wait_for(Duration::from_secs(20), || {
        get("10.1.2.3").contains("dev eth-c")
    });
    assert!(
        copied.is_some(),
        "10.1.2.3 from 192.168.1.1 does not take the /16: {}\ntable {t}:\n{}\n{}",
        get("10.1.2.3"),
        lab.ip(&b, &format!("-4 route show table {t}")),
        lab.logs()
    );
    let copy = lab.ip(&b, &format!("-4 route show table {t} proto 42"));
    assert!(
        copy.lines().any(|l| l.starts_with("10.1.0.0/16 ")),
        "{copy}"
    );
    // The rest of the /8 still goes through the source-specific route.
    assert!(get("10.2.3.4").contains("dev eth-a"), "{}", get("10.2.3.4"));

    // c's route goes: held unreachable, then removed, in the main table and the copy alike.
    lab.signal(babeld_c, Signal::SIGTERM);
    let state = |table: &str| {
        lab.ip(&b, &format!("-4 route show table {table} proto 42"))
            .lines()
            .find(|l| l.contains("10.1.0.0/16 "))
            .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
    };
    let followed = lab.wait_for(Duration::from_secs(60), || {
        let main = state("main");
        main.as_deref() != Some("10.1.0.0/16") && state(&t) == main
    });
    assert!(
        followed.is_some(),
        "the copy did not follow its route:\nmain: {:?}\ntable {t}:\n{}",
        state("main"),
        lab.ip(&b, &format!("-4 route show table {t}")),
    );
}
