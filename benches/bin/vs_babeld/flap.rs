//! Kernel programming: the daemon under test has two neighbours advertising the same
//! prefixes; one of them flaps its metric for all of them at every dump (with a new seqno,
//! so the change is feasible at once), which moves every route from one neighbour to the
//! other and back. A netlink listener in the daemon's namespace timestamps every route the
//! daemon writes; each flap is one burst of N route changes.

use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::lab::{cpu_seconds, Lab};
use crate::probe::{flap_windows, RouteListener};
use crate::sibling;

#[derive(Debug, Clone, Copy)]
pub struct Flap {
    /// Median over the flaps of route changes per second within a burst.
    pub rate: f64,
    /// The best burst.
    pub best: f64,
    /// Flaps in which every route moved.
    pub flaps: usize,
    /// Route messages per flap (N when every route moved once).
    pub per_flap: f64,
    /// Daemon CPU seconds over the whole run.
    pub cpu: f64,
    /// Route messages per second of daemon CPU time (user and system: the kernel's work on
    /// the daemon's netlink messages is included), over the whole run.
    pub per_cpu: f64,
    pub overruns: u64,
}

pub fn run(daemon: &Path, n: u32, flaps: u32, interval: f64) -> Result<Flap, String> {
    let tag = daemon
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut lab = Lab::new(&format!("flap-{tag}"))?;
    let feed = lab.node("f", &[])?;
    let dut = lab.node("d", &[])?;
    lab.link(&feed, "fa", &dut, "da")?;
    lab.link(&feed, "fb", &dut, "db")?;
    // Smoothing off: the route moves at the update, not seconds later.
    let pid = lab.daemon(
        daemon,
        &dut,
        "daemon",
        &["-h", "1", "-H", "1", "-M", "0"],
        &["da", "db"],
    )?;
    sleep(Duration::from_secs(3));
    let listener = RouteListener::start(&dut)?;
    let cpu0 = cpu_seconds(pid).unwrap_or(f64::NAN);
    let feeder = sibling("babel_feeder").to_string_lossy().into_owned();
    let count = n.to_string();
    // Steady neighbour: metric 100; it refreshes its dump rarely (no changes).
    lab.spawn(
        &feed,
        &[
            &feeder,
            "--if",
            "fa",
            "--prefixes",
            &count,
            "--metric",
            "100",
            "--router-id",
            "1",
            "--interval",
            "30",
            "--pps",
            "4000",
        ],
        "feeder-a",
    )?;
    // Flapping neighbour: metric 0 (better than a), then 300 (worse), at every dump.
    let iv = format!("{interval}");
    lab.spawn(
        &feed,
        &[
            &feeder,
            "--if",
            "fb",
            "--prefixes",
            &count,
            "--metric",
            "0",
            "--flap",
            "300",
            "--router-id",
            "2",
            "--interval",
            &iv,
            "--pps",
            "4000",
        ],
        "feeder-b",
    )?;
    // Three hellos before the first dump, then the install, then the flaps.
    let total = Duration::from_secs_f64(2.5 + interval * (flaps as f64 + 1.0) + 1.0);
    let start = Instant::now();
    while start.elapsed() < total {
        sleep(Duration::from_millis(200));
    }
    let cpu = cpu_seconds(pid).unwrap_or(f64::NAN) - cpu0;
    let log = listener.finish()?;
    drop(lab);
    // The flapping neighbour dumps every `interval` from the first install on: flap k's
    // changes are those of the k-th interval after the first route (the install is k = 0).
    let Some(&t0) = log.new.first() else {
        return Err(format!("{tag}: no route reached the kernel"));
    };
    let step = (interval * 1e6) as u64;
    let windows = flap_windows(&log.new, t0.saturating_sub(200_000), step);
    let shown: Vec<String> = windows
        .iter()
        .map(|(f, l, c)| format!("{c} in {:.0} ms", (l - f) as f64 / 1e3))
        .collect();
    println!(
        "  flap, {tag}: per interval {}; {} deletions",
        shown.join(", "),
        log.deleted
    );
    // Every flap window counts, complete or not: a daemon that drops part of a flap's
    // updates shows it in the route messages per flap.
    let mut rates: Vec<f64> = Vec::new();
    let mut sizes = Vec::new();
    let mut full = 0;
    for &(first, last, count) in windows.iter().skip(1).take(flaps as usize) {
        if count > 1 && last > first {
            rates.push(count as f64 / ((last - first) as f64 / 1e6));
            sizes.push(count as f64);
            full += usize::from(count as u32 >= n);
        }
    }
    rates.sort_by(f64::total_cmp);
    Ok(Flap {
        rate: crate::median(&rates),
        best: rates.last().copied().unwrap_or(f64::NAN),
        flaps: full,
        per_flap: sizes.iter().sum::<f64>() / (sizes.len().max(1) as f64),
        cpu,
        per_cpu: log.new.len() as f64 / cpu,
        overruns: log.overruns,
    })
}
