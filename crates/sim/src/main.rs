//! `babel-sim`: run a scenario file, or measure the simulator's speed.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use clap::{Parser, Subcommand};
use sim::scenario::NodeRef;
use sim::{report, Report, Scenario, Sim};

#[derive(Parser)]
#[command(
    name = "babel-sim",
    version,
    about = "Discrete-event simulation of Babel meshes on the real babel-core",
    after_help = "On Linux with glibc, babel-sim starts itself again once with \
GLIBC_TUNABLES=glibc.malloc.hugetlb=1, so that its heap uses transparent huge pages \
(large meshes run 10-20% faster); BABEL_SIM_SMALL_PAGES=1 turns that off. Reports do not \
depend on it."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a scenario and print a summary table.
    Run {
        /// A scenario file (TOML).
        file: PathBuf,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Write the JSON report here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write SVG plots into this directory.
        #[arg(long)]
        plots: Option<PathBuf>,
        /// Write the traffic of the scenario's `measure.pcap_nodes` (node 0 if none) here.
        #[arg(long)]
        pcap: Option<PathBuf>,
        /// Leave wall-clock figures out of the report, so that it is byte-identical
        /// between runs of the same scenario and seed.
        #[arg(long)]
        reproducible: bool,
        /// Override the scenario's duration (seconds).
        #[arg(long)]
        duration: Option<f64>,
    },
    /// Measure speed: events/s, simulated/wall time and memory per node.
    Bench {
        /// Default: scenarios/grid-1000-churn.toml.
        file: Option<PathBuf>,
        /// Simulated seconds (default: the scenario's duration).
        #[arg(long)]
        duration: Option<f64>,
        #[arg(long)]
        seed: Option<u64>,
    },
}

fn progress_fn(total_us: u64) -> Box<dyn FnMut(u64, u64)> {
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total_us / 1_000_000);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} sim-s {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Box::new(move |now, ev| {
            bar.set_position(now / 1_000_000);
            bar.set_message(format!("{ev} events"));
            if now >= total_us {
                bar.finish_and_clear();
            }
        })
    } else {
        let start = Instant::now();
        let mut last = Instant::now();
        Box::new(move |now, ev| {
            if last.elapsed().as_secs() >= 10
                || (now >= total_us && start.elapsed().as_secs() >= 10)
            {
                last = Instant::now();
                eprintln!(
                    "progress: {:.0}/{:.0} simulated s, {} events, {:.0} s wall",
                    now as f64 / 1e6,
                    total_us as f64 / 1e6,
                    ev,
                    start.elapsed().as_secs_f64()
                );
            }
        })
    }
}

/// Seconds this thread spent on a CPU (Linux `schedstat`), so that speed can be read as
/// "on one quiet core" on a shared machine; wall-clock seconds elsewhere.
fn cpu_secs() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let wall = START.get_or_init(Instant::now).elapsed().as_secs_f64();
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(wall, |ns| ns as f64 / 1e9)
}

fn load(file: &std::path::Path, duration: Option<f64>) -> Result<Scenario> {
    let mut sc = Scenario::load(file).map_err(|e| anyhow!(e))?;
    if let Some(d) = duration {
        if !(d.is_finite() && d > 0.0) {
            return Err(anyhow!("--duration must be positive"));
        }
        sc.duration_s = d;
    }
    Ok(sc)
}

/// The simulated mesh's tables (hundreds of MB for a thousand nodes) are read at random
/// places: with the kernel's 4 KiB pages nearly every read also misses the TLB. glibc's
/// allocator backs its heap with transparent huge pages when the `glibc.malloc.hugetlb`
/// tunable is set (glibc 2.35 and later; nothing happens where the kernel has them off),
/// but tunables are read only when a process starts. So the simulator starts itself again
/// once with it (measured in docs/simulator.md, "Prefetching and huge pages": 10-20% less CPU on
/// grid-1000-churn). `BABEL_SIM_SMALL_PAGES=1`, or a `GLIBC_TUNABLES` that already names
/// the tunable, leaves it alone. Reports do not depend on it.
fn restart_with_huge_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        const TUNABLE: &str = "glibc.malloc.hugetlb";
        let current = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
        if current.contains(TUNABLE) || std::env::var_os("BABEL_SIM_SMALL_PAGES").is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let value = if current.is_empty() {
            format!("{TUNABLE}=1")
        } else {
            format!("{current}:{TUNABLE}=1")
        };
        // `exec` only returns when it failed: the run goes on with small pages.
        let _ = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("GLIBC_TUNABLES", value)
            .exec();
    }
}

fn main() -> Result<()> {
    restart_with_huge_pages();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run {
            file,
            seed,
            json,
            plots,
            pcap,
            reproducible,
            duration,
        } => {
            let mut sc = load(&file, duration)?;
            if pcap.is_some() && sc.measure.pcap_nodes.is_empty() {
                sc.measure.pcap_nodes.push(NodeRef::Index(0));
            }
            let t0 = Instant::now();
            let mut s = Sim::new(sc, seed, pcap.is_some())
                .map_err(|e| anyhow!("{}: {e}", file.display()))?;
            let mut progress = progress_fn(s.end_us());
            s.run(&mut *progress);
            let wall = (!reproducible)
                .then(|| (t0.elapsed().as_secs_f64(), report::rss_bytes().unwrap_or(0)));
            let r = Report::build(&s, wall);
            if let Some(p) = &json {
                std::fs::write(p, r.to_json())
                    .with_context(|| format!("writing {}", p.display()))?;
            }
            if let Some(dir) = &plots {
                for f in sim::plots::write_all(&s, dir).map_err(|e| anyhow!(e))? {
                    eprintln!("wrote {f}");
                }
            }
            if let (Some(p), Some(w)) = (&pcap, s.pcap.as_ref()) {
                std::fs::write(p, w.bytes()).with_context(|| format!("writing {}", p.display()))?;
                eprintln!("wrote {} ({} packets)", p.display(), w.packets);
            }
            print!("{}", r.summary());
        }
        Cmd::Bench {
            file,
            duration,
            seed,
        } => {
            let file = file.unwrap_or_else(|| PathBuf::from("scenarios/grid-1000-churn.toml"));
            let sc = load(&file, duration)?;
            let rss0 = report::rss_bytes().unwrap_or(0);
            let t0 = Instant::now();
            let cpu0 = cpu_secs();
            let mut s =
                Sim::new(sc, seed, false).map_err(|e| anyhow!("{}: {e}", file.display()))?;
            let mut progress = progress_fn(s.end_us());
            let warmup = s.warmup_us();
            // Wall clock and event count when the simulation passed the warm-up: the
            // steady state is measured from there.
            let mut at_warmup: Option<(f64, u64, u64, f64)> = None;
            s.run(&mut |now, ev| {
                if at_warmup.is_none() && now >= warmup {
                    at_warmup = Some((t0.elapsed().as_secs_f64(), now, ev, cpu_secs()));
                }
                progress(now, ev)
            });
            let wall = t0.elapsed().as_secs_f64();
            let cpu = cpu_secs() - cpu0;
            let rss1 = report::rss_bytes().unwrap_or(0);
            let r = Report::build(&s, Some((wall, rss1)));
            let n = r.nodes as f64;
            println!("scenario            {} ({} nodes)", r.scenario, r.nodes);
            println!("simulated           {:.1} s", r.simulated_s);
            println!("wall clock          {:.2} s", wall);
            println!("speed               {:.1}x real time", r.simulated_s / wall);
            println!(
                "events              {} ({:.0} events/s)",
                r.events,
                r.events as f64 / wall
            );
            println!(
                "cpu time            {:.2} s: {:.1}x real time on one core",
                cpu,
                r.simulated_s / cpu.max(1e-9)
            );
            let updates = s.updates_received();
            println!(
                "updates received    {} ({:.0} ns of CPU each, everything included)",
                updates,
                cpu * 1e9 / updates.max(1) as f64
            );
            if let Some((w0, t_us, ev0, c0)) = at_warmup {
                let sim_s = (s.end_us() - t_us) as f64 / 1e6;
                let w = (wall - w0).max(1e-9);
                println!(
                    "after warm-up       {:.1} s simulated in {:.2} s: {:.1}x real time, {:.0} events/s",
                    sim_s,
                    w,
                    sim_s / w,
                    r.events.saturating_sub(ev0) as f64 / w
                );
                let c = (cpu_secs() - c0).max(1e-9);
                println!(
                    "after warm-up, cpu  {:.2} s: {:.1}x real time on one core",
                    c,
                    sim_s / c
                );
                if let Some(u) = s.updates_after_warmup() {
                    println!(
                        "after warm-up, upd  {} ({:.0} ns of CPU each)",
                        u,
                        c * 1e9 / u.max(1) as f64
                    );
                }
            }
            println!(
                "memory per node     {:.0} B (RSS growth over nodes), {:.0} B (tables)",
                rss1.saturating_sub(rss0) as f64 / n,
                r.memory.table_bytes_per_node
            );
            println!(
                "overhead sent/node  {:.1} B/s",
                r.overhead.sent_bytes_per_node_s
            );
            println!(
                "churn events        {} (p95 convergence {:.2} s)",
                r.churn_events, r.convergence.p95_s
            );
            println!(
                "pair checks         {} destinations walked, {} kept unwalked",
                s.checker.walked, s.checker.kept
            );
        }
    }
    Ok(())
}
