//! Side-by-side benchmark of routed and babeld on the same work, in network namespaces.
//!
//! `vs_babeld [ingest] [flap] [failover] [grid] [OPTIONS]` (as root; no section means all of
//! them). Each section runs babeld, then routed, on the same set-up, with the same babeld
//! command line (routed is a drop-in), and one table of both figures and their ratio is
//! printed at the end:
//!
//! - `ingest`: a synthetic neighbour (`babel_feeder`, built beside this binary) advertises N
//!   prefixes over a veth pair; until every prefix is in the kernel table: wall time, the
//!   daemon's CPU time and its peak resident memory (median of `--runs`, the two daemons'
//!   runs alternating).
//! - `flap`: two synthetic neighbours advertise the same prefixes, one of them flapping its
//!   metric at every dump, so every route moves between them; route changes per second
//!   reaching the kernel, from a netlink listener in the daemon's namespace.
//! - `failover`: a diamond of four daemons with 1 s hellos and a 1 ms UDP stream across it;
//!   the outage when the used link is cut silently (100% loss) or loses its carrier
//!   (median of `--runs`; `--cut silent|carrier` for one kind only). Both daemons' diamonds
//!   run side by side and take turns, alternating which is cut first (`--turns sequential`:
//!   all of babeld's runs, then routed's).
//! - `grid`: a k×k grid of daemons started at once: time until every node reaches every
//!   other node's address, then steady-state bytes and packets sent per node per second.

mod failover;
mod flap;
mod grid;
mod lab;
mod probe;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread::sleep;
use std::time::{Duration, Instant};

use lab::{cpu_seconds, peak_rss_mib, Lab};

struct Args {
    sections: Vec<String>,
    sizes: Vec<u32>,
    routed: PathBuf,
    babeld: PathBuf,
    shuffled: bool,
    timeout: Duration,
    flap_prefixes: u32,
    flaps: u32,
    flap_interval: f64,
    runs: u32,
    grid: usize,
    window: Duration,
    cuts: Vec<failover::Cut>,
    /// Failover: the two diamonds take turns cut by cut (else all of babeld's cuts first).
    turns: bool,
    /// Ingest: copy each daemon's /proc/PID/smaps here once it holds the whole table, and
    /// the addresses of its resident code pages (`.code-pages`).
    smaps: Option<PathBuf>,
}

const SECTIONS: [&str; 4] = ["ingest", "flap", "failover", "grid"];

const USAGE: &str = "usage: vs_babeld [ingest] [flap] [failover] [grid] [--prefixes N,M] \
[--order sorted|shuffled] [--timeout SECONDS] [--flap-prefixes N] [--flaps N] \
[--flap-interval SECONDS] [--runs N] [--cut silent|carrier|both] [--turns alternate|sequential] [--grid K] [--window SECONDS] [--routed PATH] [--babeld PATH] [--smaps DIR]";

/// The addresses of the resident pages of a process's executable file mappings, one per line
/// in hexadecimal (from /proc/PID/pagemap: which 4 KiB pages of its code it holds, to
/// tell which functions put a 64 KiB block of the binary in memory).
fn resident_code_pages(pid: u32) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    let mut pagemap = std::fs::File::open(format!("/proc/{pid}/pagemap"))?;
    let mut out = String::new();
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        // The program's and its libraries' code (not the vDSO's or vsyscall's).
        let file = f.nth(3).is_some_and(|path| path.starts_with('/'));
        if !perms.contains('x') || !file {
            continue;
        }
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else {
            continue;
        };
        let mut entries = vec![0u8; ((b - a) / 4096 * 8) as usize];
        pagemap.seek(SeekFrom::Start(a / 4096 * 8))?;
        pagemap.read_exact(&mut entries)?;
        for (i, e) in entries.chunks_exact(8).enumerate() {
            let e = u64::from_le_bytes(e.try_into().expect("8 bytes"));
            // Bit 63: present in memory.
            if e >> 63 == 1 {
                out.push_str(&format!("{:x}\n", a + i as u64 * 4096));
            }
        }
    }
    Ok(out)
}

pub fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// The routed that runs on routers, `target/static/routed` (scripts/static-routed.sh), when it
/// has been built; otherwise the ordinary release build beside this program.
fn default_routed() -> PathBuf {
    let built = sibling("routed");
    let stat = built
        .parent()
        .and_then(|d| d.parent())
        .map(|t| t.join("static").join("routed"));
    match stat {
        Some(p) if p.exists() => p,
        _ => built,
    }
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        sections: Vec::new(),
        sizes: vec![10_000, 100_000],
        routed: default_routed(),
        babeld: PathBuf::from("babeld"),
        shuffled: false,
        timeout: Duration::from_secs(120),
        flap_prefixes: 20_000,
        flaps: 4,
        flap_interval: 4.0,
        runs: 5,
        grid: 5,
        window: Duration::from_secs(30),
        cuts: vec![failover::Cut::Silent, failover::Cut::Carrier],
        turns: true,
        smaps: None,
    };
    let mut it = std::env::args().skip(1);
    fn num<T: std::str::FromStr>(k: &str, v: String) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        v.parse().map_err(|e| format!("{k} {v:?}: {e}"))
    }
    while let Some(k) = it.next() {
        if SECTIONS.contains(&k.as_str()) {
            a.sections.push(k);
            continue;
        }
        let mut v = || it.next().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--prefixes" => {
                a.sizes = v()?
                    .split(',')
                    .map(|s| num(&k, s.to_string()))
                    .collect::<Result<_, _>>()?
            }
            "--routed" => a.routed = v()?.into(),
            "--smaps" => a.smaps = Some(v()?.into()),
            "--babeld" => a.babeld = v()?.into(),
            "--order" => a.shuffled = v()? == "shuffled",
            "--timeout" => a.timeout = Duration::from_secs(num(&k, v()?)?),
            "--flap-prefixes" => a.flap_prefixes = num(&k, v()?)?,
            "--flaps" => a.flaps = num::<u32>(&k, v()?)?.max(1),
            "--flap-interval" => a.flap_interval = num::<f64>(&k, v()?)?.clamp(1.0, 60.0),
            "--runs" => a.runs = num::<u32>(&k, v()?)?.max(1),
            "--grid" => a.grid = num::<usize>(&k, v()?)?.clamp(2, 10),
            "--window" => a.window = Duration::from_secs(num(&k, v()?)?),
            "--turns" => {
                a.turns = match v()?.as_str() {
                    "alternate" => true,
                    "sequential" => false,
                    o => return Err(format!("--turns {o:?}: alternate or sequential")),
                }
            }
            "--cut" => {
                a.cuts = match v()?.as_str() {
                    "silent" => vec![failover::Cut::Silent],
                    "carrier" => vec![failover::Cut::Carrier],
                    "both" => vec![failover::Cut::Silent, failover::Cut::Carrier],
                    o => return Err(format!("--cut {o:?}: silent, carrier or both")),
                }
            }
            "--help" | "-h" => return Err(USAGE.into()),
            o => return Err(format!("unknown argument {o:?}\n{USAGE}")),
        }
    }
    if a.sections.is_empty() {
        a.sections = SECTIONS.iter().map(|s| s.to_string()).collect();
    }
    Ok(a)
}

pub fn median(sorted_or_not: &[f64]) -> f64 {
    let mut v: Vec<f64> = sorted_or_not
        .iter()
        .copied()
        .filter(|x| !x.is_nan())
        .collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

#[derive(Debug, Clone, Copy)]
struct Ingest {
    seconds: f64,
    cpu: f64,
    rss: f64,
    installed: usize,
}

/// A row of the ingest table: its name and the figure of one run.
type IngestFigure = (&'static str, fn(&Ingest) -> f64);

/// `daemon` takes a dump of `n` prefixes, ordered, timed and recorded as `args` say.
fn ingest(daemon: &Path, n: u32, args: &Args) -> Result<Ingest, String> {
    let (shuffled, timeout) = (args.shuffled, args.timeout);
    let tag = daemon
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut lab = Lab::new(&format!("in-{tag}"))?;
    let feed = lab.node("f", &[])?;
    let dut = lab.node("d", &[])?;
    lab.link(&feed, "vsb0", &dut, "vsb1")?;
    let pid = lab.daemon(daemon, &dut, "daemon", &["-h", "1"], &["vsb1"])?;
    // Wait for the link-local address and the daemon to come up.
    sleep(Duration::from_secs(3));
    let listener = probe::RouteListener::start(&dut)?;
    let feeder = sibling("babel_feeder").to_string_lossy().into_owned();
    let count = n.to_string();
    let start = Instant::now();
    let order = if shuffled { "shuffled" } else { "sorted" };
    lab.spawn(
        &feed,
        &[
            &feeder,
            "--if",
            "vsb0",
            "--prefixes",
            &count,
            "--order",
            order,
        ],
        "feeder",
    )?;
    // The kernel tells a listener about every route installed; the table is dumped (which
    // holds the table's lock against the daemon's inserts, and costs the daemon CPU time in
    // lock contention) only once that many routes have come.
    let mut installed = 0;
    while start.elapsed() < timeout {
        if listener.seen() >= n as usize {
            installed = lab.babel_routes(&dut).len();
            if installed >= n as usize {
                break;
            }
        }
        sleep(Duration::from_millis(250));
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid).unwrap_or(f64::NAN);
    let rss = peak_rss_mib(pid).unwrap_or(f64::NAN);
    // Where the memory is, mapping by mapping, as the daemon holds the whole table.
    if let Some(dir) = args.smaps.as_deref() {
        let to = dir.join(format!("{tag}-{n}.smaps"));
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::copy(format!("/proc/{pid}/smaps"), &to))
            .map_err(|e| format!("{}: {e}", to.display()))?;
        let to = dir.join(format!("{tag}-{n}.code-pages"));
        resident_code_pages(pid)
            .and_then(|pages| std::fs::write(&to, pages))
            .map_err(|e| format!("{}: {e}", to.display()))?;
    }
    let _ = listener.finish();
    if installed < n as usize {
        installed = lab.babel_routes(&dut).len();
    }
    Ok(Ingest {
        seconds,
        cpu,
        rss,
        installed,
    })
}

/// The table: one row per figure, babeld, routed and their ratio.
#[derive(Default)]
struct Table {
    rows: Vec<(String, f64, f64)>,
    notes: Vec<String>,
}

impl Table {
    fn row(&mut self, what: impl Into<String>, b: f64, r: f64) {
        let what = what.into();
        println!("  {what}: babeld {b:.2}, routed {r:.2}");
        self.rows.push((what, b, r));
    }

    fn print(&self) {
        println!();
        println!("| work | babeld | routed | routed/babeld |");
        println!("|---|---:|---:|---:|");
        for (what, b, r) in &self.rows {
            println!("| {what} | {} | {} | {:.2} |", fmt(*b), fmt(*r), r / b);
        }
        for n in &self.notes {
            println!("\nnote: {n}");
        }
    }
}

fn fmt(x: f64) -> String {
    if x.is_nan() {
        "—".into()
    } else if x.abs() >= 10_000.0 {
        format!("{:.0}", x)
    } else {
        format!("{:.2}", x)
    }
}

fn section(args: &Args, name: &str, t: &mut Table) -> Result<(), String> {
    let both = [("babeld", &args.babeld), ("routed", &args.routed)];
    match name {
        "ingest" => {
            for &n in &args.sizes {
                // babeld's and routed's runs alternate, so that both see the same spells of
                // load; each figure is the median of the runs.
                let (mut bs, mut rs) = (Vec::new(), Vec::new());
                for i in 1..=args.runs {
                    let b = ingest(&args.babeld, n, args)?;
                    let r = ingest(&args.routed, n, args)?;
                    if args.runs > 1 {
                        println!(
                            "  ingest {n}, run {i}: babeld {:.2} s, {:.2} s CPU, {:.2} MiB; \
                             routed {:.2} s, {:.2} s CPU, {:.2} MiB",
                            b.seconds, b.cpu, b.rss, r.seconds, r.cpu, r.rss
                        );
                    }
                    bs.push(b);
                    rs.push(r);
                }
                let o = if args.shuffled { " shuffled" } else { "" };
                let of = if args.runs > 1 {
                    format!(", median of {}", args.runs)
                } else {
                    String::new()
                };
                let figures: [IngestFigure; 3] = [
                    ("time to install all (s)", |x| x.seconds),
                    ("daemon CPU time (s)", |x| x.cpu),
                    ("daemon peak RSS (MiB)", |x| x.rss),
                ];
                for (what, get) in figures {
                    let m = |v: &[Ingest]| median(&v.iter().map(get).collect::<Vec<_>>());
                    t.row(format!("ingest {n}{o}: {what}{of}"), m(&bs), m(&rs));
                }
                if args.runs > 1 {
                    let range = |v: &[Ingest]| {
                        let x: Vec<f64> = v.iter().map(|x| x.rss).collect();
                        let lo = x.iter().copied().fold(f64::INFINITY, f64::min);
                        let hi = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        format!("{lo:.2}-{hi:.2}")
                    };
                    t.notes.push(format!(
                        "ingest {n}: peak RSS over {} runs: babeld {} MiB, routed {} MiB",
                        args.runs,
                        range(&bs),
                        range(&rs)
                    ));
                }
                for (name, v) in [("babeld", &bs), ("routed", &rs)] {
                    for x in v.iter().filter(|x| x.installed < n as usize) {
                        t.notes.push(format!(
                            "ingest {n}: {name} had installed {} of {n} when a run stopped",
                            x.installed
                        ));
                    }
                }
            }
        }
        "flap" => {
            let n = args.flap_prefixes;
            let mut res = Vec::new();
            for (name, d) in both {
                let f = flap::run(d, n, args.flaps, args.flap_interval)?;
                if f.flaps < args.flaps as usize {
                    t.notes.push(format!(
                        "flap {n}: {name} moved every route in {} of {} flaps",
                        f.flaps, args.flaps
                    ));
                }
                if f.overruns > 0 {
                    t.notes.push(format!(
                        "flap {n}: the listener lost events {} times under {name}",
                        f.overruns
                    ));
                }
                res.push(f);
            }
            let (b, r) = (res[0], res[1]);
            t.row(
                format!("flap {n}: kernel route changes/s, median of flaps"),
                b.rate,
                r.rate,
            );
            t.row(
                format!("flap {n}: kernel route changes/s, best flap"),
                b.best,
                r.best,
            );
            t.row(
                format!("flap {n}: route changes per daemon CPU-second"),
                b.per_cpu,
                r.per_cpu,
            );
            t.row(
                format!("flap {n}: route messages per flap"),
                b.per_flap,
                r.per_flap,
            );
            t.row(
                format!("flap {n}: daemon CPU time, whole run (s)"),
                b.cpu,
                r.cpu,
            );
        }
        "failover" => {
            for &cut in &args.cuts {
                let what = match cut {
                    failover::Cut::Silent => "silent drop",
                    failover::Cut::Carrier => "carrier loss",
                };
                // Both diamonds live side by side: neither runs after the other's teardown.
                // They take turns, the first cut of each run going to babeld and routed
                // alternately (or, with `--turns sequential`, babeld's cuts come first, and
                // each diamond is cut about 5 s after its previous heal, not 15 s).
                let mut labs = Vec::new();
                for (slot, (_, d)) in both.iter().enumerate() {
                    labs.push(failover::Diamond::new(d, slot)?);
                }
                let mut v = [Vec::new(), Vec::new()];
                let runs = args.runs as usize;
                for i in 0..2 * runs {
                    let k = if !args.turns {
                        i / runs
                    } else if (i / 2) % 2 == 0 {
                        i % 2
                    } else {
                        1 - i % 2
                    };
                    v[k].push(labs[k].run_once(cut, Duration::from_secs(30))?);
                }
                drop(labs);
                let mut med = Vec::new();
                for (k, (name, _)) in both.iter().enumerate() {
                    println!("  failover {what}, {name}: outages (ms) {:.1?}", v[k]);
                    if v[k].iter().any(|x| x.is_nan()) {
                        t.notes.push(format!(
                            "failover {what}: under {name} the stream did not come back in some runs"
                        ));
                    }
                    med.push(median(&v[k]));
                }
                t.row(
                    format!("failover, {what}: outage (ms), median of {}", args.runs),
                    med[0],
                    med[1],
                );
            }
        }
        "grid" => {
            let k = args.grid;
            let b = grid::run(&args.babeld, k, args.runs, args.window, args.timeout)?;
            let r = grid::run(&args.routed, k, args.runs, args.window, args.timeout)?;
            let g = format!("grid {k}x{k}");
            t.row(
                format!(
                    "{g}: time to full reachability (s), median of {}",
                    args.runs
                ),
                b.converge,
                r.converge,
            );
            t.row(
                format!("{g}: bytes sent per node per second"),
                b.bytes,
                r.bytes,
            );
            t.row(
                format!("{g}: packets sent per node per second"),
                b.packets,
                r.packets,
            );
            t.row(
                format!("{g}: daemon CPU per node (ms/s)"),
                b.cpu_ms,
                r.cpu_ms,
            );
            t.row(format!("{g}: largest daemon peak RSS (MiB)"), b.rss, r.rss);
        }
        _ => unreachable!("sections are checked when parsed"),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("vs_babeld: {e}");
            return ExitCode::from(2);
        }
    };
    if !args.routed.exists() {
        eprintln!(
            "vs_babeld: routed binary {} not found (build it with scripts/static-routed.sh)",
            args.routed.display()
        );
        return ExitCode::FAILURE;
    }
    println!("routed: {}", args.routed.display());
    let mut table = Table::default();
    let mut status = ExitCode::SUCCESS;
    for s in &args.sections {
        println!("{s}...");
        if let Err(e) = section(&args, s, &mut table) {
            eprintln!("vs_babeld: {s}: {e}");
            status = ExitCode::FAILURE;
        }
    }
    table.print();
    status
}
