//! Side-by-side benchmark of routed and babeld on the same work, in network namespaces.
//!
//! `vs_babeld [--prefixes 10000,100000] [--routed PATH] [--babeld PATH] [--order sorted|shuffled]`
//! (as root). For each daemon and each size, a synthetic neighbour (`babel_feeder`, built
//! beside this binary) advertises the prefixes over a veth pair, and the run measures, until
//! every prefix is in the daemon's kernel table: the wall time, the daemon's CPU time and its
//! peak resident memory. It prints a table of both figures and their ratio.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

struct Args {
    sizes: Vec<u32>,
    routed: PathBuf,
    babeld: PathBuf,
    shuffled: bool,
    timeout: Duration,
}

fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        sizes: vec![10_000, 100_000],
        routed: sibling("routed"),
        babeld: PathBuf::from("babeld"),
        shuffled: false,
        timeout: Duration::from_secs(120),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--prefixes" => {
                a.sizes = v()?
                    .split(',')
                    .map(|s| s.parse().map_err(|e| format!("--prefixes {s:?}: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--routed" => a.routed = v()?.into(),
            "--babeld" => a.babeld = v()?.into(),
            "--order" => a.shuffled = v()? == "shuffled",
            "--timeout" => {
                a.timeout =
                    Duration::from_secs(v()?.parse().map_err(|e| format!("--timeout: {e}"))?)
            }
            o => {
                return Err(format!(
                    "unknown argument {o:?}\nusage: vs_babeld [--prefixes N,M] [--routed PATH] \
                     [--babeld PATH] [--order sorted|shuffled] [--timeout SECONDS]"
                ))
            }
        }
    }
    Ok(a)
}

fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Two namespaces joined by a veth pair; removed, with every process started in them, on drop.
struct Pair {
    feed: String,
    dut: String,
    children: Vec<Child>,
}

impl Pair {
    fn new(tag: &str) -> Result<Pair, String> {
        let id = std::process::id();
        let p = Pair {
            feed: format!("vsb-f-{tag}-{id}"),
            dut: format!("vsb-d-{tag}-{id}"),
            children: Vec::new(),
        };
        ip(&["netns", "add", &p.feed])?;
        ip(&["netns", "add", &p.dut])?;
        ip(&[
            "link", "add", "vsb0", "netns", &p.feed, "type", "veth", "peer", "name", "vsb1",
            "netns", &p.dut,
        ])?;
        for (ns, dev) in [(&p.feed, "vsb0"), (&p.dut, "vsb1")] {
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(p)
    }

    fn spawn(&mut self, ns: &str, cmd: &[&str], log: &Path) -> Result<u32, String> {
        let log = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(cmd)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e}", cmd[0]))?;
        let pid = child.id();
        self.children.push(child);
        Ok(pid)
    }

    fn route_count(&self) -> usize {
        ip(&["-n", &self.dut, "-6", "route", "show", "proto", "42"])
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
        }
        for c in &mut self.children {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = ip(&["netns", "del", &self.feed]);
        let _ = ip(&["netns", "del", &self.dut]);
    }
}

/// CPU seconds (user + system) of a process, from /proc.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Peak resident set size in MiB, from /proc.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[derive(Debug, Clone, Copy)]
struct Ingest {
    seconds: f64,
    cpu: f64,
    rss: f64,
    installed: usize,
}

fn ingest(daemon: &Path, n: u32, shuffled: bool, timeout: Duration) -> Result<Ingest, String> {
    let tag = daemon
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut pair = Pair::new(&tag)?;
    let dir = std::env::temp_dir().join(format!("vsb-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let pidfile = dir.join("pid");
    let state = dir.join("state");
    let _ = std::fs::remove_file(&state);
    let d = daemon.to_string_lossy().into_owned();
    let (pf, sf) = (
        pidfile.to_string_lossy().into_owned(),
        state.to_string_lossy().into_owned(),
    );
    // The same babeld command line for both daemons: routed is a drop-in.
    let dut = pair.dut.clone();
    let pid = pair.spawn(
        &dut,
        &[&d, "-I", &pf, "-S", &sf, "-h", "1", "-d", "0", "vsb1"],
        &dir.join("daemon.log"),
    )?;
    // Wait for the link-local address and the daemon to come up.
    sleep(Duration::from_secs(3));
    let feeder = sibling("babel_feeder");
    let feeder = feeder.to_string_lossy().into_owned();
    let count = n.to_string();
    let feed = pair.feed.clone();
    let start = Instant::now();
    pair.spawn(
        &feed,
        &[
            &feeder,
            "--if",
            "vsb0",
            "--prefixes",
            &count,
            "--order",
            if shuffled { "shuffled" } else { "sorted" },
        ],
        &dir.join("feeder.log"),
    )?;
    let mut installed = 0;
    while start.elapsed() < timeout {
        installed = pair.route_count();
        if installed >= n as usize {
            break;
        }
        sleep(Duration::from_millis(250));
    }
    let r = Ingest {
        seconds: start.elapsed().as_secs_f64(),
        cpu: cpu_seconds(pid).unwrap_or(f64::NAN),
        rss: peak_rss_mib(pid).unwrap_or(f64::NAN),
        installed,
    };
    drop(pair);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(r)
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
            "vs_babeld: routed binary {} not found (build it with `cargo build --release -p routed`)",
            args.routed.display()
        );
        return ExitCode::FAILURE;
    }
    println!(
        "{:<34} {:>12} {:>12} {:>8}",
        "work", "babeld", "routed", "routed/babeld"
    );
    for &n in &args.sizes {
        let b = ingest(&args.babeld, n, args.shuffled, args.timeout);
        let r = ingest(&args.routed, n, args.shuffled, args.timeout);
        let (b, r) = match (b, r) {
            (Ok(b), Ok(r)) => (b, r),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("vs_babeld: {e}");
                return ExitCode::FAILURE;
            }
        };
        let rows = [
            ("time to install all (s)", b.seconds, r.seconds),
            ("daemon CPU time (s)", b.cpu, r.cpu),
            ("daemon peak RSS (MiB)", b.rss, r.rss),
        ];
        for (what, bv, rv) in rows {
            println!(
                "{:<34} {:>12.2} {:>12.2} {:>8.2}",
                format!("ingest {n}: {what}"),
                bv,
                rv,
                rv / bv
            );
        }
        for (name, x) in [("babeld", b), ("routed", r)] {
            if x.installed < n as usize {
                println!(
                    "  note: {name} had installed {} of {n} when the run stopped",
                    x.installed
                );
            }
        }
    }
    ExitCode::SUCCESS
}
