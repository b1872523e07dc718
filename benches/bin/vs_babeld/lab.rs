//! Network namespaces, veth links and daemons for the side-by-side runs; everything started
//! is stopped and removed when the lab is dropped, even after an error.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// `ip ARGS`, its standard output, or its error text.
pub fn ip(args: &[&str]) -> Result<String, String> {
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

/// A program run inside a namespace (`ip netns exec`), its standard output.
pub fn exec(ns: &str, cmd: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(cmd)
        .output()
        .map_err(|e| format!("{}: {e}", cmd[0]))?;
    if !out.status.success() {
        return Err(format!(
            "{} in {ns}: {}",
            cmd.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A set of namespaces (named `vsb-<tag>-<pid>-<short>`), their links and processes.
pub struct Lab {
    prefix: String,
    pub dir: PathBuf,
    namespaces: Vec<String>,
    children: Vec<Child>,
}

impl Lab {
    pub fn new(tag: &str) -> Result<Lab, String> {
        let prefix = format!("vsb-{tag}-{}-", std::process::id());
        let dir = std::env::temp_dir().join(&prefix);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Lab {
            prefix,
            dir,
            namespaces: Vec::new(),
            children: Vec::new(),
        })
    }

    /// Namespace `short`, with `lo` up and `addrs` on it.
    pub fn node(&mut self, short: &str, addrs: &[&str]) -> Result<String, String> {
        let ns = format!("{}{short}", self.prefix);
        ip(&["netns", "add", &ns])?;
        self.namespaces.push(ns.clone());
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        for a in addrs {
            ip(&["-n", &ns, "addr", "add", a, "dev", "lo"])?;
        }
        Ok(ns)
    }

    /// A veth pair, `a_if` in `a` and `b_if` in `b`, both up.
    pub fn link(&self, a: &str, a_if: &str, b: &str, b_if: &str) -> Result<(), String> {
        ip(&[
            "-n", a, "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b,
        ])?;
        ip(&["-n", a, "link", "set", a_if, "up"])?;
        ip(&["-n", b, "link", "set", b_if, "up"])?;
        Ok(())
    }

    /// Starts `cmd` in `ns`, output to `<dir>/<log>.log`; returns its pid (`ip netns exec`
    /// execs the program, so it is the program's own).
    pub fn spawn(&mut self, ns: &str, cmd: &[&str], log: &str) -> Result<u32, String> {
        let path = self.dir.join(format!("{log}.log"));
        let f = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(cmd)
            .stdin(Stdio::null())
            .stdout(f.try_clone().map_err(|e| e.to_string())?)
            .stderr(f)
            .spawn()
            .map_err(|e| format!("{}: {e}", cmd[0]))?;
        let pid = child.id();
        self.children.push(child);
        Ok(pid)
    }

    /// Starts a daemon (routed or babeld, same command line) in `ns` on `ifaces`.
    pub fn daemon(
        &mut self,
        daemon: &Path,
        ns: &str,
        name: &str,
        extra: &[&str],
        ifaces: &[&str],
    ) -> Result<u32, String> {
        let d = daemon.to_string_lossy().into_owned();
        let pid = self.dir.join(format!("{name}.pid"));
        let state = self.dir.join(format!("{name}.state"));
        let _ = std::fs::remove_file(&state);
        let (pid, state) = (
            pid.to_string_lossy().into_owned(),
            state.to_string_lossy().into_owned(),
        );
        let mut cmd: Vec<&str> = vec![&d, "-I", &pid, "-S", &state, "-d", "0"];
        cmd.extend_from_slice(extra);
        cmd.extend_from_slice(ifaces);
        self.spawn(ns, &cmd, name)
    }

    /// Babel routes (protocol 42) in `ns`, one line each.
    pub fn babel_routes(&self, ns: &str) -> Vec<String> {
        ip(&["-n", ns, "-6", "route", "show", "proto", "42"])
            .map(|s| s.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }
}

impl Lab {
    /// Stops every process started so far (SIGTERM, then SIGKILL after 5 s).
    pub fn stop_all(&mut self) {
        for c in &self.children {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
        }
        for c in &mut self.children {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop_all();
        for ns in &self.namespaces {
            let _ = ip(&["netns", "del", ns]);
        }
        // VSB_KEEP=1 keeps the daemons' logs.
        if std::env::var_os("VSB_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("logs kept in {}", self.dir.display());
        }
    }
}

/// CPU seconds (user + system) of a process, from /proc.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// CPU time of a process's live threads in seconds, exact: the scheduler's nanosecond
/// count of each thread (`/proc/PID/task/TID/schedstat`). `cpu_seconds` counts 10 ms ticks
/// sampled at timer interrupts, too coarse for a daemon that runs a few milliseconds in a
/// measuring window; this one misses the time of threads that have exited.
pub fn cpu_seconds_exact(pid: u32) -> Option<f64> {
    let mut ns = 0u64;
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let stat = std::fs::read_to_string(t.path().join("schedstat")).ok()?;
        ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(ns as f64 / 1e9)
}

/// Peak resident set size in MiB, from /proc.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs `f` on a thread that has entered network namespace `ns`: sockets it opens live there.
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<std::thread::JoinHandle<Result<T, String>>, String> {
    let path = format!("/run/netns/{ns}");
    let file = File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    std::thread::Builder::new()
        .name(format!("in-{ns}"))
        .spawn(move || {
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| format!("setns: {e}"))?;
            Ok(f())
        })
        .map_err(|e| e.to_string())
}
