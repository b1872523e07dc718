//! The RFC 9079 §6 planner of routed's kernel side under a burst: 100,000 plain IPv4 routes
//! are installed, then `0.0.0.0/0 from 192.168.0.0/16` comes (every plain route gets a copy
//! in the source table), then goes (every copy is removed).
//!
//! `cargo bench -p routed-benches --bench planner` prints, for each of the two changes: the
//! CPU time of the planning (in all, and the longest turn of the daemon's loop: one message),
//! the number of kernel operations, the messages handed to the installer thread and the
//! largest, and the memory (counting global allocator) at its peak during the change above
//! what was live before it, and what stays live after it (the planner's own state: the
//! plain routes and the copies). The planning goes through `Feed` as the daemon's kernel
//! side does it (`plan`, then `step` while work is left); each message is dropped as soon as
//! it is made, as the installer thread frees it once applied.

use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use babel_core::wire::Prefix;
use babel_core::{InstalledRoute, RouteChange};
use netdriver::SourceTables;
use routed::daemon::kernel::{Feed, KernelConfig, Op, Planner, Reported};

use routed_benches::{Counting, ALLOCATED, PEAK};

#[global_allocator]
static GLOBAL: Counting = Counting;

const ROUTES: u32 = 100_000;

/// The engine's reported routes, as `Node::reported_routes` hands them out.
struct Engine(Vec<InstalledRoute>);

impl Reported for Engine {
    fn each_reported(&self, f: &mut dyn FnMut(InstalledRoute)) {
        self.0.iter().cloned().for_each(f);
    }
}

fn route(prefix: Prefix, src_prefix: Option<Prefix>) -> InstalledRoute {
    InstalledRoute {
        prefix,
        src_prefix,
        next_hop: "fe80::1".parse().expect("address"),
        ifindex: 3,
        metric: 96,
        table: None,
        pref_src: None,
    }
}

/// CPU time of this thread.
#[allow(unsafe_code)] // the clock call, and nothing else
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

struct Figures {
    cpu: Duration,
    longest: Duration,
    ops: usize,
    largest: usize,
    messages: usize,
    peak: usize,
    kept: isize,
}

/// Plans one change as the daemon's kernel side does, dropping each message once made.
fn measure(feed: &mut Feed, change: &RouteChange, engine: &Engine) -> Figures {
    let before = ALLOCATED.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let started = cpu_time();
    let mut messages = Vec::new();
    let mut out: Vec<Op> = Vec::new();
    feed.plan(std::slice::from_ref(change), &mut out, engine);
    let mut longest = cpu_time() - started;
    messages.push(out.len());
    drop(out);
    loop {
        let turn = cpu_time();
        let mut out: Vec<Op> = Vec::new();
        if !feed.step(&mut out, engine) {
            break;
        }
        messages.push(out.len());
        drop(out);
        longest = longest.max(cpu_time() - turn);
    }
    let cpu = cpu_time() - started;
    let peak = PEAK.load(Ordering::Relaxed) - before;
    let kept = ALLOCATED.load(Ordering::Relaxed) as isize - before as isize;
    Figures {
        cpu,
        longest,
        ops: messages.iter().sum(),
        largest: messages.iter().copied().max().unwrap_or(0),
        messages: messages.len(),
        peak,
        kept,
    }
}

fn print(what: &str, f: &Figures) {
    println!(
        "{what}: {:.1} ms CPU (longest turn {:.2} ms), {} operations in {} messages (largest \
         {}), peak {:.2} MB above before, {:+.2} MB kept after",
        f.cpu.as_secs_f64() * 1e3,
        f.longest.as_secs_f64() * 1e3,
        f.ops,
        f.messages,
        f.largest,
        f.peak as f64 / 1e6,
        f.kept as f64 / 1e6,
    );
}

fn main() {
    let mut feed = Feed::new(Planner::new(KernelConfig {
        table: 254,
        priority: 0,
        reflect_metric: false,
        source_tables: SourceTables::new(10, 10, 100),
        ipv6_subtrees: true,
    }));
    let plain: Vec<InstalledRoute> = (0..ROUTES)
        .map(|i| {
            let a = Ipv4Addr::from(0x0a00_0000 + (i << 8));
            route(Prefix::v4(a, 24).expect("prefix"), None)
        })
        .collect();
    let mut engine = Engine(Vec::new());
    // The plain routes go in while no source table exists: nothing kept, main table only.
    let mut out = Vec::new();
    for r in &plain {
        engine.0.push(r.clone());
        feed.plan(&[RouteChange::Install(r.clone())], &mut out, &engine);
        out.clear();
    }
    drop(out);
    let wide = route(
        "0.0.0.0/0".parse().expect("prefix"),
        Some("192.168.0.0/16".parse().expect("prefix")),
    );
    engine.0.push(wide.clone());
    let f = measure(&mut feed, &RouteChange::Install(wide.clone()), &engine);
    print(
        &format!("0.0.0.0/0 from 192.168.0.0/16 in, over {ROUTES} plain routes"),
        &f,
    );
    engine.0.pop();
    let f = measure(&mut feed, &RouteChange::Retract(wide), &engine);
    print("0.0.0.0/0 from 192.168.0.0/16 out", &f);
}
