//! Link costs against babeld 1.12, read from both daemons' `dump`.
//!
//! RFC 9616 round-trip times: with timestamps on both ends of a link, each daemon measures an
//! RTT from the other's Hello and IHU timestamps, turns it into a penalty (`rttcost`) with
//! the same rtt-min / rtt-max / max-rtt-penalty, and adds it to the link's cost and so to
//! the metric of every route through it. The link is a veth pair, whose RTT is a few
//! microseconds to a millisecond, so rtt-min and rtt-max are set below it (1 and 2 µs): any
//! RTT measured from the other daemon's timestamps then costs the whole penalty, and none
//! (timestamps not understood, or a sample of 0) costs nothing.
//!
//! Wireless links: ETX costs on both ends, on a clean link and on one that loses a quarter of
//! the Babel packets each way (dropped by nftables in both namespaces).

use std::time::Duration;

use e2e::{args, have_nft, parse_dump, run, skip, DumpLine, Lab};

const ROUTED: &str = env!("CARGO_BIN_EXE_routed");
const PENALTY: u32 = 150;

/// routed in `a` (on `eth-b`) and babeld in `b` (on `eth-a`), each with the interface
/// statement `iface` gives for its interface and a control socket on `port`, once each has
/// the other's addresses in its kernel table. `before` runs on the two namespaces first.
fn start(
    name: &str,
    port: u16,
    iface: impl Fn(&str) -> String,
    before: impl Fn(&str),
) -> Option<(Lab, String, String)> {
    let mut lab = Lab::new(name, true)?;
    let (a, b) = lab.pair();
    before(&a);
    before(&b);
    let port = port.to_string();
    let (ia, ib) = (iface("eth-b"), iface("eth-a"));
    lab.routed(
        ROUTED,
        "routed-a",
        &a,
        &args(&["-g", &port], &[&ia], &["eth-b"]),
    );
    lab.babeld("babeld-b", &b, &args(&["-g", &port], &[&ib], &["eth-a"]));
    lab.wait_routes(&a, &["10.255.0.2", "fd00:255::2"]);
    lab.wait_routes(&b, &["10.255.0.1", "fd00:255::1"]);
    Some((lab, a, b))
}

/// Reads both daemons' `dump` until `ok` holds for both, for at most `secs`; fails the
/// test with both dumps and `what` otherwise.
fn until_both(
    lab: &Lab,
    (a, b): (&str, &str),
    port: u16,
    secs: u64,
    what: &str,
    ok: impl Fn(&[DumpLine]) -> bool,
) -> (Vec<DumpLine>, Vec<DumpLine>) {
    let (mut da, mut db) = (Vec::new(), Vec::new());
    let done = lab.wait_for(Duration::from_secs(secs), || {
        da = parse_dump(&lab.wait_control(a, port, "dump"));
        db = parse_dump(&lab.wait_control(b, port, "dump"));
        ok(&da) && ok(&db)
    });
    assert!(
        done.is_some(),
        "{what}:\nrouted: {da:#?}\nbabeld: {db:#?}\n{}",
        lab.logs()
    );
    (da, db)
}

fn neighbour(d: &[DumpLine]) -> Option<&DumpLine> {
    let mut n = d.iter().filter(|l| l.object == "neighbour");
    let first = n.next()?;
    n.next().is_none().then_some(first)
}

fn num(l: &DumpLine, field: &str) -> Option<f64> {
    l.fields.get(field)?.parse().ok()
}

/// Whether the installed routes of `d` (the other daemon's prefixes, which it announces
/// with metric 0) all have metric `cost`, the cost of the one link.
fn at_link_cost(d: &[DumpLine], cost: f64) -> bool {
    let metrics: Vec<Option<f64>> = d
        .iter()
        .filter(|l| l.object == "route" && l.fields.get("installed").is_some_and(|i| i == "yes"))
        .map(|l| num(l, "metric"))
        .collect();
    metrics.len() >= 2 && metrics.iter().all(|&m| m == Some(cost))
}

/// Whether `d`'s one neighbour has an RTT and the whole penalty in its cost.
fn penalised(d: &[DumpLine]) -> bool {
    let Some(n) = neighbour(d) else { return false };
    matches!(
        (num(n, "rtt"), num(n, "rttcost"), num(n, "txcost"), num(n, "cost")),
        (Some(rtt), Some(rc), Some(tx), Some(c))
            if rtt > 0.002 && rc == PENALTY as f64 && tx < 65535.0 && c == tx + rc
    )
}

#[test]
fn rtt_from_babelds_timestamps_and_babeld_from_routeds_costs_the_penalty() {
    const PORT: u16 = 33125;
    let iface = |name: &str| {
        format!(
            "interface {name} type tunnel hello-interval 1 enable-timestamps true \
             rtt-min 0.001 rtt-max 0.002 max-rtt-penalty {PENALTY}"
        )
    };
    let Some((lab, a, b)) = start("rtt", PORT, iface, |_| {}) else {
        return;
    };
    // A few hellos and IHUs each way give both an RTT sample.
    let (da, db) = until_both(
        &lab,
        (&a, &b),
        PORT,
        20,
        "no RTT penalty on both ends",
        penalised,
    );
    eprintln!(
        "routed's neighbour: {:?}\nbabeld's neighbour: {:?}",
        neighbour(&da),
        neighbour(&db)
    );
    // The penalty is in the metric of the routes learned over the link.
    until_both(
        &lab,
        (&a, &b),
        PORT,
        10,
        "routes not at the penalised link cost",
        |d| {
            neighbour(d)
                .and_then(|n| num(n, "cost"))
                .is_some_and(|c| at_link_cost(d, c))
        },
    );
}

/// A link both ends declare wireless: costs by ETX (babeld's `link-quality`), which on a
/// loss-free link is the nominal 256 each way on both daemons, and so the metric of the
/// routes over it.
#[test]
fn on_a_wireless_link_both_compute_the_same_etx_cost() {
    const PORT: u16 = 33126;
    let iface = |name: &str| format!("interface {name} type wireless hello-interval 1");
    let Some((lab, a, b)) = start("wifi", PORT, iface, |_| {}) else {
        return;
    };
    until_both(
        &lab,
        (&a, &b),
        PORT,
        20,
        "costs or metrics not 256 on both ends",
        |d| {
            neighbour(d).is_some_and(|n| {
                ["rxcost", "txcost", "cost"]
                    .iter()
                    .all(|f| num(n, f) == Some(256.0))
            }) && at_link_cost(d, 256.0)
        },
    );
}

/// ETX from the costs each end prints: the product of the two directions' expected
/// transmission counts, in units of 256 (RFC 8966 A.2.2, as babeld computes it).
fn etx(rx: f64, tx: f64) -> f64 {
    if rx < 256.0 && tx < 256.0 {
        return tx;
    }
    ((tx.max(256.0) * rx.max(256.0) + 128.0) / 256.0).floor()
}

/// A wireless link that drops a quarter of the Babel packets each way: both ends see the
/// loss in their hello histories (rxcost), learn the other's from its IHUs (txcost), and
/// combine the two into the same ETX cost, which the routes over the link carry.
#[test]
fn on_a_lossy_wireless_link_both_see_the_loss_and_combine_it_alike() {
    const PORT: u16 = 33127;
    if !have_nft() {
        skip("no nft (install the Debian package nftables)");
        return;
    }
    let drop_a_quarter = |ns: &str| {
        for rule in [
            "add table inet loss",
            "add chain inet loss in { type filter hook input priority 0; }",
            "add rule inet loss in udp dport 6696 numgen random mod 4 0 drop",
        ] {
            run("ip", &["netns", "exec", ns, "nft", rule]);
        }
    };
    let iface = |name: &str| format!("interface {name} type wireless hello-interval 0.5");
    let Some((lab, a, b)) = start("lossy", PORT, iface, drop_a_quarter) else {
        return;
    };
    let (da, db) = until_both(
        &lab,
        (&a, &b),
        PORT,
        40,
        "loss not seen or not combined alike",
        |d| {
            let Some(n) = neighbour(d) else { return false };
            let (Some(rx), Some(tx), Some(cost)) =
                (num(n, "rxcost"), num(n, "txcost"), num(n, "cost"))
            else {
                return false;
            };
            rx > 256.0 && tx > 256.0 && tx < 65535.0 && cost == etx(rx, tx) && at_link_cost(d, cost)
        },
    );
    eprintln!(
        "routed's neighbour: {:?}\nbabeld's neighbour: {:?}",
        neighbour(&da),
        neighbour(&db)
    );
}
