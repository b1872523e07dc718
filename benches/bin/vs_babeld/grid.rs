//! Start-up of a k×k grid of namespaces (veth links between neighbours), every node running
//! the same daemon and announcing one /128 on its loopback: the time until every node has a
//! route to every other node's address, then the steady-state traffic each node sends per
//! second (interface counters over a window) and the daemons' CPU over that window.

use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::lab::{cpu_seconds_exact, exec, peak_rss_mib, Lab};

#[derive(Debug, Clone, Copy)]
pub struct Grid {
    /// Seconds from the start of the daemons to full reachability (NaN if not reached),
    /// median of the runs.
    pub converge: f64,
    /// Per node, per second, over the window.
    pub bytes: f64,
    pub packets: f64,
    /// Daemon CPU per node per second over the window, in milliseconds.
    pub cpu_ms: f64,
    /// The largest peak RSS of a node, MiB.
    pub rss: f64,
}

fn addr(i: usize) -> String {
    format!("fd00:99::{:x}", i + 1)
}

/// Sum of transmitted bytes and packets over the interfaces of /proc/net/dev (`lo` left out).
pub fn tx_totals(proc_net_dev: &str) -> (u64, u64) {
    let mut bytes = 0;
    let mut packets = 0;
    for line in proc_net_dev.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if f.len() >= 10 {
            bytes += f[8];
            packets += f[9];
        }
    }
    (bytes, packets)
}

pub fn run(
    daemon: &Path,
    k: usize,
    runs: u32,
    window: Duration,
    timeout: Duration,
) -> Result<Grid, String> {
    let tag = daemon
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut lab = Lab::new(&format!("grid-{tag}"))?;
    let n = k * k;
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        nodes.push(lab.node(&format!("{i}"), &[&format!("{}/128", addr(i))])?);
    }
    let mut ifaces: Vec<Vec<String>> = vec![Vec::new(); n];
    for r in 0..k {
        for c in 0..k {
            let i = r * k + c;
            let mut join = |j: usize| -> Result<(), String> {
                let (ai, bi) = (format!("g{j}"), format!("g{i}"));
                lab.link(&nodes[i], &ai, &nodes[j], &bi)?;
                ifaces[i].push(ai);
                ifaces[j].push(bi);
                Ok(())
            };
            if c + 1 < k {
                join(i + 1)?;
            }
            if r + 1 < k {
                join(i + k)?;
            }
        }
    }
    // Let the link-local addresses leave the tentative state before the start.
    sleep(Duration::from_secs(2));
    let mut times = Vec::new();
    let mut pids = Vec::new();
    for run in 0..runs {
        if run > 0 {
            // The daemons remove their routes when they stop.
            lab.stop_all();
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(10)
                && nodes.iter().any(|ns| !lab.babel_routes(ns).is_empty())
            {
                sleep(Duration::from_millis(100));
            }
        }
        let start = Instant::now();
        pids.clear();
        for i in 0..n {
            let ifs: Vec<&str> = ifaces[i].iter().map(String::as_str).collect();
            pids.push(lab.daemon(daemon, &nodes[i], &format!("n{i}"), &[], &ifs)?);
        }
        let mut converge = f64::NAN;
        let mut done = vec![false; n];
        while start.elapsed() < timeout {
            for i in 0..n {
                if !done[i] {
                    let routes = lab.babel_routes(&nodes[i]);
                    done[i] = (0..n).filter(|&j| j != i).all(|j| {
                        let a = addr(j);
                        routes.iter().any(|l| {
                            let mut w = l.split_whitespace();
                            w.next() == Some(a.as_str()) && l.contains(" via ")
                        })
                    });
                }
            }
            if done.iter().all(|d| *d) {
                converge = start.elapsed().as_secs_f64();
                break;
            }
            sleep(Duration::from_millis(100));
        }
        times.push(converge);
    }
    println!("  grid {k}x{k}, {tag}: time to full reachability (s) {times:.2?}");
    // Steady state: let the start-up triggered traffic pass, then count.
    sleep(Duration::from_secs(5));
    let read = || -> Result<(u64, u64, f64), String> {
        let (mut b, mut p, mut cpu) = (0u64, 0u64, 0f64);
        for (i, ns) in nodes.iter().enumerate() {
            let (x, y) = tx_totals(&exec(ns, &["cat", "/proc/net/dev"])?);
            b += x;
            p += y;
            cpu += cpu_seconds_exact(pids[i]).unwrap_or(0.0);
        }
        Ok((b, p, cpu))
    };
    let t0 = Instant::now();
    let (b0, p0, c0) = read()?;
    sleep(window);
    let (b1, p1, c1) = read()?;
    let secs = t0.elapsed().as_secs_f64();
    let rss = pids
        .iter()
        .filter_map(|&p| peak_rss_mib(p))
        .fold(0.0, f64::max);
    let per = |x: f64| x / n as f64 / secs;
    Ok(Grid {
        converge: crate::median(&times),
        bytes: per((b1 - b0) as f64),
        packets: per((p1 - p0) as f64),
        cpu_ms: per((c1 - c0) * 1000.0),
        rss,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmit_counters_leave_out_loopback() {
        let dev = "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:     500       5    0    0    0     0          0         0      500       5    0    0    0     0       0          0\n   \
g1:    1000      10    0    0    0     0          0         0     2000      20    0    0    0     0       0          0\n   \
g5:    3000      30    0    0    0     0          0         0     4000      40    0    0    0     0       0          0\n";
        assert_eq!(tx_totals(dev), (6000, 60));
    }
}
