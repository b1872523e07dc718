//! The protocol engine under load: a `Node` taking full dumps from its neighbours.
//!
//! `cargo bench -p routed-benches --bench engine` prints, before the criterion runs:
//! - the memory per route entry with 100,000 prefixes from 1 and from 10 neighbours, live
//!   and peak (growth of the tables and the flush of the triggered updates included),
//!   measured with a counting global allocator; for 1 neighbour also with the routes and
//!   events drained after every packet, as the daemon does.
//!
//! - rates for every case below, timed by the CPU time of the bench thread (shared machines
//!   are noisy: time on CPU is the closest to what one quiet core does).
//!   `ENGINE_RATES_ONLY=1` stops there; `ENGINE_PROFILE_INSTALL=1` only repeats installs,
//!   `ENGINE_PROFILE_REFRESH=1` only shuffled refreshes, for `perf record`.
//!
//! Then criterion measures:
//! - `engine/refresh_100k` and `engine/install_100k`: a neighbour's full dump of 100,000
//!   prefixes, already known (refresh) or new (install), in updates per second;
//! - `engine/refresh_100k_shuffled`: the same dump in random prefix order;
//! - `engine/update_cost/N`: a batch of 1,000 updates into a table of N route entries, from
//!   1,000 to 1,000,000 (always 10 neighbours per prefix) — the cost per update must stay
//!   flat.

use std::hint::black_box;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use babel_core::wire::{max_payload_for_mtu, Encoder, Hello, Ihu, Prefix, RouterId, Tlv, Update};
use babel_core::{Config, InterfaceConfig, InterfaceEvent, Node, Timestamp};
use criterion::{BatchSize, Criterion, Throughput};

use routed_benches::{Counting, ALLOCATED, PEAK};

#[global_allocator]
static GLOBAL: Counting = Counting;

const IFINDEX: u32 = 1;
const OUR_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

fn neighbour_addr(k: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0x100, k as u16 + 2)
}

fn prefix(i: usize) -> Prefix {
    Prefix::v6(
        Ipv6Addr::new(0x2001, 0xdb8, (i >> 16) as u16, i as u16, 0, 0, 0, 0),
        64,
    )
    .expect("valid")
}

/// The packets of neighbour `k`'s full dump of the prefixes in `order`, each originated by
/// one of 100 routers, as babeld would pack them.
fn dump(k: usize, order: &[usize], seqno: u16) -> Vec<Vec<u8>> {
    let src = neighbour_addr(k);
    let mut enc = Encoder::new(max_payload_for_mtu(1500), Some(src));
    for &i in order {
        let origin = (i % 100) as u8 + 1;
        let u = Update {
            flags: 0,
            interval: 1600,
            seqno,
            metric: 100 + k as u16,
            prefix: Some(prefix(i)),
            src_prefix: None,
            router_id: Some(RouterId([0x02, 0, 0, 0, 0, 0, 1, origin])),
            next_hop: None,
            unknown_subtlvs: vec![],
        };
        enc.push(&Tlv::Update(u)).expect("fits");
    }
    enc.finish()
}

fn greeting(k: usize, seqno: u16) -> Vec<u8> {
    let src = neighbour_addr(k);
    let mut enc = Encoder::new(1400, Some(src));
    enc.push(&Tlv::Hello(Hello {
        flags: 0,
        seqno,
        interval: 400,
        timestamp: None,
        unknown_subtlvs: vec![],
    }))
    .expect("fits");
    enc.push(&Tlv::Ihu(Ihu {
        rxcost: 96,
        interval: 1200,
        addr: Some(IpAddr::V6(OUR_LL)),
        timestamps: None,
        unknown_subtlvs: vec![],
    }))
    .expect("fits");
    enc.finish().remove(0)
}

/// A node with one wired interface and `neighbours` established neighbours on it.
fn node_with_neighbours(neighbours: usize) -> (Node, Timestamp) {
    let mut now = Timestamp::from_secs(1);
    let mut node = Node::new(
        Config::default(),
        RouterId([0x02, 0, 0, 0, 0, 0, 0, 0xaa]),
        1,
        7,
        now,
    );
    node.handle_interface(
        now,
        InterfaceEvent::Up {
            ifindex: IFINDEX,
            name: "eth0".into(),
            config: InterfaceConfig::wired(),
            link_local: Some(OUR_LL),
            ipv4: None,
            mtu: 1500,
        },
    );
    for s in 1..=2 {
        for k in 0..neighbours {
            node.handle_packet(now, IFINDEX, neighbour_addr(k), true, &greeting(k, s));
        }
        now += Duration::from_millis(10);
    }
    drain(&mut node, now);
    (node, now)
}

fn feed(node: &mut Node, now: Timestamp, k: usize, packets: &[Vec<u8>]) {
    let src = neighbour_addr(k);
    for p in packets {
        node.handle_packet(now, IFINDEX, src, true, p);
    }
}

fn drain(node: &mut Node, now: Timestamp) -> usize {
    let mut n = 0;
    while node.poll_route().is_some() {
        n += 1;
    }
    while node.poll_event().is_some() {}
    let mut buf = Vec::new();
    while node.poll_transmit(now, &mut buf).is_some() {}
    n
}

/// A node holding `prefixes` × `neighbours` route entries.
fn populated(prefixes: usize, neighbours: usize) -> (Node, Timestamp, Vec<usize>) {
    let (mut node, now) = node_with_neighbours(neighbours);
    let order: Vec<usize> = (0..prefixes).collect();
    for k in 0..neighbours {
        feed(&mut node, now, k, &dump(k, &order, 10));
        drain(&mut node, now);
    }
    assert_eq!(node.table_stats().route_entries, prefixes * neighbours);
    (node, now, order)
}

fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    let mut x = seed;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

/// Heap of a node fed `prefixes` × `neighbours` routes: the bytes live at the end and the
/// peak while it took them in and flushed the triggered updates they caused (the dump
/// packets themselves excluded), and its table stats. `per_packet`: routes and events are
/// drained after every packet, as the daemon does after each read; else after the whole
/// dump (the event queue then fills up to its bound).
fn memory_of(
    prefixes: usize,
    neighbours: usize,
    per_packet: bool,
) -> (usize, usize, babel_core::TableStats) {
    let base = ALLOCATED.load(Ordering::Relaxed);
    let (mut node, mut now) = node_with_neighbours(neighbours);
    let order: Vec<usize> = (0..prefixes).collect();
    let mut peak = 0;
    for k in 0..neighbours {
        let before = ALLOCATED.load(Ordering::Relaxed);
        let packets = dump(k, &order, 10);
        let packet_bytes = ALLOCATED.load(Ordering::Relaxed) - before;
        PEAK.store(ALLOCATED.load(Ordering::Relaxed), Ordering::Relaxed);
        if per_packet {
            for p in &packets {
                feed(&mut node, now, k, std::slice::from_ref(p));
                drain(&mut node, now);
            }
        } else {
            feed(&mut node, now, k, &packets);
        }
        drain(&mut node, now);
        // The triggered updates the dump caused go out within half a second.
        now += Duration::from_secs(1);
        node.handle_timeout(now);
        drain(&mut node, now);
        peak = peak.max(PEAK.load(Ordering::Relaxed) - packet_bytes - base);
    }
    let live = ALLOCATED.load(Ordering::Relaxed) - base - order.capacity() * 8;
    let st = node.table_stats();
    assert_eq!(st.route_entries, prefixes * neighbours);
    drop(black_box(node));
    (live, peak, st)
}

fn memory_report() {
    for (neighbours, per_packet) in [(1, false), (1, true), (10, false)] {
        let (live, peak, st) = memory_of(100_000, neighbours, per_packet);
        eprintln!(
            "engine memory: {} prefixes x {} neighbours = {} route entries ({} sources), \
             drained {}: {} bytes live, {} peak; {:.1} B per entry live, {:.1} peak \
             (route table {:.1} B/entry, sources {:.1} B/entry)",
            st.destinations,
            neighbours,
            st.route_entries,
            st.sources,
            if per_packet { "per packet" } else { "per dump" },
            live,
            peak,
            live as f64 / st.route_entries as f64,
            peak as f64 / st.route_entries as f64,
            st.route_bytes as f64 / st.route_entries as f64,
            st.source_bytes as f64 / st.route_entries as f64,
        );
    }
}

fn bench_engine(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.warm_up_time(Duration::from_secs(2));

    let order: Vec<usize> = (0..100_000).collect();
    let packets = dump(0, &order, 10);
    let shuffled_packets = dump(0, &shuffled(100_000, 99), 10);
    g.throughput(Throughput::Elements(100_000));
    {
        let (mut node, now) = node_with_neighbours(1);
        feed(&mut node, now, 0, &packets);
        drain(&mut node, now);
        g.bench_function("refresh_100k", |b| {
            b.iter(|| {
                feed(&mut node, now, 0, &packets);
                black_box(drain(&mut node, now));
            })
        });
        g.bench_function("refresh_100k_shuffled", |b| {
            b.iter(|| {
                feed(&mut node, now, 0, &shuffled_packets);
                black_box(drain(&mut node, now));
            })
        });
    }
    g.bench_function("install_100k", |b| {
        b.iter_batched(
            || node_with_neighbours(1),
            |(mut node, now)| {
                feed(&mut node, now, 0, &packets);
                let installed = drain(&mut node, now);
                assert_eq!(installed, 100_000);
                node
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("install_100k_shuffled", |b| {
        b.iter_batched(
            || node_with_neighbours(1),
            |(mut node, now)| {
                feed(&mut node, now, 0, &shuffled_packets);
                let installed = drain(&mut node, now);
                assert_eq!(installed, 100_000);
                node
            },
            BatchSize::PerIteration,
        )
    });

    // The cost of 1,000 updates as the table grows from 1,000 to 1,000,000 entries.
    g.throughput(Throughput::Elements(1_000));
    for (prefixes, neighbours) in [(100, 10), (1_000, 10), (10_000, 10), (100_000, 10)] {
        let (mut node, now, order) = populated(prefixes, neighbours);
        // 1,000 prefixes spread over the whole table, from the last neighbour.
        // 1,000 updates spread over the whole table (small tables see prefixes repeated).
        let batch: Vec<usize> = (0..1_000).map(|j| order[j * order.len() / 1_000]).collect();
        let k = neighbours - 1;
        let batch_packets = dump(k, &batch, 10);
        let entries = prefixes * neighbours;
        g.bench_function(format!("update_cost/{entries}"), |b| {
            b.iter(|| {
                feed(&mut node, now, k, &batch_packets);
                black_box(drain(&mut node, now));
            })
        });
    }
    g.finish();
}

/// A clock of the time this thread spent on a CPU (Linux `schedstat`, nanoseconds), so that
/// rates mean "on one core" even when the machine is shared; wall time elsewhere.
#[derive(Clone, Copy)]
struct CpuClock(Option<u64>, Instant);

impl CpuClock {
    fn now() -> Self {
        let on_cpu = std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok());
        CpuClock(on_cpu, Instant::now())
    }
    fn elapsed(self) -> Duration {
        match (self.0, CpuClock::now().0) {
            (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
            _ => self.1.elapsed(),
        }
    }
}

/// Mean CPU time of `f` over `rounds` runs (setup excluded). The CPU clock is only as fine
/// as the scheduler tick, so each run must be long (tens of milliseconds).
fn mean_of(
    rounds: usize,
    mut setup: impl FnMut() -> (Node, Timestamp),
    mut f: impl FnMut(&mut Node, Timestamp),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..rounds {
        let (mut node, now) = setup();
        let t = CpuClock::now();
        f(&mut node, now);
        total += t.elapsed();
        drop(black_box(node));
    }
    total / rounds as u32
}

fn rate_report() {
    let order: Vec<usize> = (0..100_000).collect();
    let packets = dump(0, &order, 10);
    let shuffled_packets = dump(0, &shuffled(100_000, 99), 10);
    let per_sec = |n: usize, d: Duration| n as f64 / d.as_secs_f64() / 1e6;
    let fresh = || node_with_neighbours(1);
    for (name, p) in [("in order", &packets), ("shuffled", &shuffled_packets)] {
        let d = mean_of(8, fresh, |node, now| {
            feed(node, now, 0, p);
            drain(node, now);
        });
        eprintln!(
            "engine rate (CPU time): install 100k {name}: {:.2} M updates/s",
            per_sec(100_000, d)
        );
    }
    let (mut node, now) = node_with_neighbours(1);
    feed(&mut node, now, 0, &packets);
    drain(&mut node, now);
    for (name, p) in [("in order", &packets), ("shuffled", &shuffled_packets)] {
        let rounds = 20;
        let t = CpuClock::now();
        for _ in 0..rounds {
            feed(&mut node, now, 0, p);
            drain(&mut node, now);
        }
        let d = t.elapsed() / rounds;
        eprintln!(
            "engine rate (CPU time): refresh 100k {name}: {:.2} M updates/s",
            per_sec(100_000, d)
        );
    }
    drop(node);
    for (prefixes, neighbours) in [(100, 10), (1_000, 10), (10_000, 10), (100_000, 10)] {
        let (mut node, now, order) = populated(prefixes, neighbours);
        // 1,000 updates spread over the whole table (small tables see prefixes repeated).
        let batch: Vec<usize> = (0..1_000).map(|j| order[j * order.len() / 1_000]).collect();
        let k = neighbours - 1;
        let batch_packets = dump(k, &batch, 10);
        let rounds = 2_000u32;
        let t = CpuClock::now();
        for _ in 0..rounds {
            feed(&mut node, now, k, &batch_packets);
            drain(&mut node, now);
        }
        let d = t.elapsed() / rounds;
        eprintln!(
            "engine rate (CPU time): 1,000 updates into {:>9} route entries: {:.0} ns/update",
            prefixes * neighbours,
            d.as_secs_f64() * 1e9 / 1_000.0
        );
    }
}

fn main() {
    if std::env::var_os("ENGINE_PROFILE_INSTALL").is_some() {
        // For `perf record`: nothing but installs of a shuffled 100k dump.
        let packets = dump(0, &shuffled(100_000, 99), 10);
        for _ in 0..20 {
            let (mut node, now) = node_with_neighbours(1);
            feed(&mut node, now, 0, &packets);
            drain(&mut node, now);
        }
        return;
    }
    if std::env::var_os("ENGINE_PROFILE_REFRESH").is_some() {
        // For `perf record`: nothing but refreshes of a known table, in random order.
        let order: Vec<usize> = (0..100_000).collect();
        let (mut node, now) = node_with_neighbours(1);
        feed(&mut node, now, 0, &dump(0, &order, 10));
        drain(&mut node, now);
        let packets = dump(0, &shuffled(100_000, 99), 10);
        let t = CpuClock::now();
        for _ in 0..50 {
            feed(&mut node, now, 0, &packets);
            drain(&mut node, now);
        }
        let d = t.elapsed() / 50;
        eprintln!(
            "refresh 100k shuffled: {:.0} ns/update",
            d.as_secs_f64() * 1e9 / 1e5
        );
        return;
    }
    memory_report();
    rate_report();
    if std::env::var_os("ENGINE_RATES_ONLY").is_some() {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench_engine(&mut c);
    c.final_summary();
}
