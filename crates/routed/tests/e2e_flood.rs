//! A hostile neighbour floods routed with 1,000,000 distinct prefixes while a legitimate
//! neighbour (babeld) sits on another interface. routed keeps the flooder to its share of the
//! route table (`max-routes-per-neighbour`, set live over the read-write control socket),
//! counts the refusals, stays within a memory bound computed from its limits, and keeps
//! forwarding traffic over the legitimate routes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use e2e::feeder::{self, Feed};
use e2e::Lab;

const ROUTED: &str = env!("CARGO_BIN_EXE_routed");
const PORT: u16 = 33131;
const FLOOD: u32 = 1_000_000;
/// The flooder's share of routed's table.
const PER_NEIGHBOUR: usize = 10_000;
/// What one route entry may cost routed at most, everything included (the entry, its source,
/// its kernel route's bookkeeping, its share of the hash tables): measured about 400 bytes.
const BYTES_PER_ENTRY: u64 = 2048;
/// Bounded buffers besides the table (socket and netlink buffers, queues, allocator slack).
const SLACK: u64 = 32 << 20;

fn status_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("counter {name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no counter {name} in:\n{text}"))
}

fn flood_routes(lab: &Lab, ns: &str) -> usize {
    lab.babel_routes(ns, "-6")
        .lines()
        .filter(|l| l.starts_with("2001:db8:"))
        .count()
}

#[test]
fn a_flood_of_a_million_prefixes_is_contained() {
    let Some(mut lab) = Lab::new("flood", true) else {
        return;
    };
    let r = lab.node("r", &["10.255.0.1/32", "fd00:255::1/128"]);
    let b = lab.node("b", &["10.255.1.2/32", "fd00:255:1::2/128"]);
    let f = lab.node("f", &[]);
    lab.link(&r, "eth-b", &b, "eth-r");
    lab.link(&r, "eth-f", &f, "eth-r");
    let port = PORT.to_string();
    let routed = lab.routed(
        ROUTED,
        "routed-r",
        &r,
        &[
            "-H",
            "1",
            "-G",
            &port,
            "-C",
            "max-routes 100000",
            // The flooder's routes are not passed on to babeld.
            "-C",
            "out ip 2001:db8::/32 deny",
            "eth-b",
            "eth-f",
        ],
    );
    lab.babeld("babeld-b", &b, &["eth-r"]);
    lab.wait_routes(&r, &["10.255.1.2", "fd00:255:1::2"]);
    lab.wait_routes(&b, &["10.255.0.1", "fd00:255::1"]);
    lab.wait_connect(&r, "10.255.0.1", &b, "10.255.1.2", Duration::from_secs(10));

    // The limit is lowered at run time, over the read-write control socket.
    let answer = lab.wait_control(
        &r,
        PORT,
        &format!("max-routes-per-neighbour {PER_NEIGHBOUR}"),
    );
    assert_eq!(answer, "ok\n");
    let before = lab.wait_control(&r, PORT, "counters");
    assert_eq!(counter(&before, "over-limit-routes-per-neighbour"), 0);

    let pid = lab.pid(routed).expect("routed runs");
    let base_kib = status_kib(pid, "VmHWM:");
    let bound_kib = base_kib + (PER_NEIGHBOUR as u64 * BYTES_PER_ENTRY + SLACK) / 1024;

    // The flood: one full dump of a million prefixes, shuffled, then hellos.
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = mpsc::channel();
    let ns_path = format!("/run/netns/{f}");
    let stop2 = stop.clone();
    let flooder = std::thread::spawn(move || {
        let file = std::fs::File::open(&ns_path).expect("open namespace");
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let feed = Feed {
            iface: "eth-r".into(),
            prefixes: FLOOD,
            shuffled: true,
            interval: Duration::from_secs(600),
            hold: Duration::from_secs(600),
            metric: 0,
            packets_per_second: 1000,
            ..Feed::default()
        };
        feeder::run(&feed, &stop2, |sent, took| {
            let _ = done_tx.send((sent.clone(), took));
        })
    });
    let (sent, took) = match done_rx.recv_timeout(Duration::from_secs(90)) {
        Ok(x) => x,
        Err(_) => {
            stop.store(true, Ordering::Relaxed);
            panic!("the flood did not finish: {:?}", flooder.join());
        }
    };
    eprintln!(
        "flood: {} updates in {} packets in {:.1} s",
        sent.updates,
        sent.packets,
        took.as_secs_f64()
    );

    // Wait until routed has read everything (the refusal counter stops moving).
    let mut last = 0;
    let mut text = String::new();
    lab.wait_for(Duration::from_secs(30), || {
        text = lab.wait_control(&r, PORT, "counters");
        let now = counter(&text, "over-limit-routes-per-neighbour");
        let settled = now == last && now > 0;
        last = now;
        if !settled {
            std::thread::sleep(Duration::from_millis(500));
        }
        settled
    });
    let refused = counter(&text, "over-limit-routes-per-neighbour");
    let received = counter(&text, "updates-received");
    eprintln!("routed: {received} updates received, {refused} refused at the per-neighbour limit");
    // Every update beyond the flooder's share that reached routed was refused (babeld sent a
    // handful of the updates received), and most of the flood did reach it (a loaded machine
    // may lose some datagrams in the socket buffer).
    assert!(
        refused <= received - PER_NEIGHBOUR as u64
            && refused + 100 >= received - PER_NEIGHBOUR as u64,
        "{received} updates received, {refused} refused:\n{text}"
    );
    assert!(
        received >= FLOOD as u64 / 2,
        "only {received} of {FLOOD} updates reached routed:\n{text}\n{}",
        lab.logs()
    );
    assert_eq!(counter(&text, "over-limit-routes"), 0, "{text}");

    // The flooder holds exactly its share of kernel routes.
    let ok = lab.wait_for(Duration::from_secs(30), || {
        flood_routes(&lab, &r) == PER_NEIGHBOUR
    });
    assert!(
        ok.is_some(),
        "routed has {} of the flooder's routes installed, expected {PER_NEIGHBOUR}",
        flood_routes(&lab, &r)
    );

    // Memory stayed within the bound computed from the limits.
    let hwm_kib = status_kib(pid, "VmHWM:");
    eprintln!(
        "routed peak RSS: {} KiB before the flood, {hwm_kib} KiB after (bound {bound_kib} KiB)",
        base_kib
    );
    assert!(
        hwm_kib <= bound_kib,
        "routed's peak RSS {hwm_kib} KiB is above the bound {bound_kib} KiB"
    );

    // The legitimate neighbour's routes are still installed and carry traffic both ways.
    lab.wait_routes(&r, &["10.255.1.2", "fd00:255:1::2"]);
    lab.wait_routes(&b, &["10.255.0.1", "fd00:255::1"]);
    lab.wait_connect(&r, "10.255.0.1", &b, "10.255.1.2", Duration::from_secs(10));
    lab.wait_connect(
        &b,
        "fd00:255:1::2",
        &r,
        "fd00:255::1",
        Duration::from_secs(10),
    );
    assert!(
        !lab.babel_routes(&b, "-6").contains("2001:db8:"),
        "the out filter kept the flood away from babeld"
    );
    assert!(
        lab.log(routed).contains("limit max-routes-per-neighbour"),
        "no log line about the refusals:\n{}",
        lab.logs()
    );

    stop.store(true, Ordering::Relaxed);
    flooder.join().expect("flooder").expect("flooder ran");
}
