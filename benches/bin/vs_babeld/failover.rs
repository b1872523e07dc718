//! Failover in a diamond s–a–d / s–b–d, hello interval 1 s everywhere. A UDP stream (one
//! datagram a millisecond) flows from s to d; the link s uses to reach d is cut, either
//! silently (a blackhole queue at both ends: every packet dropped, the carrier stays up) or by
//! carrier loss (the far end goes down). The outage is the worst loss in the stream after the
//! cut, timed by the sender's clock (see [`outage`]).

use std::net::Ipv6Addr;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::lab::{ip, Lab};
use crate::probe::{outage, Stream};

const S_ADDR: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xfa, 0, 0, 0, 0, 0, 1);
const D_ADDR: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xfa, 0, 0, 0, 0, 0, 4);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    Silent,
    Carrier,
}

/// One diamond of four daemons, cut and healed again run after run.
pub struct Diamond {
    lab: Lab,
    s: String,
    a: String,
    b: String,
    d: String,
}

impl Diamond {
    /// Builds the diamond and starts `daemon` on its four nodes; `slot` tells two diamonds
    /// of the same daemon apart.
    pub fn new(daemon: &Path, slot: usize) -> Result<Diamond, String> {
        let tag = daemon
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut lab = Lab::new(&format!("fo{slot}-{tag}"))?;
        let s = lab.node("s", &[&format!("{S_ADDR}/128")])?;
        let a = lab.node("a", &[])?;
        let b = lab.node("b", &[])?;
        let d = lab.node("d", &[&format!("{D_ADDR}/128")])?;
        lab.link(&s, "s-a", &a, "a-s")?;
        lab.link(&s, "s-b", &b, "b-s")?;
        lab.link(&a, "a-d", &d, "d-a")?;
        lab.link(&b, "b-d", &d, "d-b")?;
        let opts = ["-h", "1", "-H", "1", "-M", "0"];
        for (ns, name, ifs) in [
            (&s, "s", ["s-a", "s-b"]),
            (&a, "a", ["a-s", "a-d"]),
            (&b, "b", ["b-s", "b-d"]),
            (&d, "d", ["d-a", "d-b"]),
        ] {
            lab.daemon(daemon, ns, name, &opts, &ifs)?;
        }
        Ok(Diamond { lab, s, a, b, d })
    }

    /// One cut: waits until the diamond has converged, cuts the link s uses, waits for the
    /// stream to come back (or `timeout`), heals the link. The outage in ms (NaN when the
    /// stream did not come back).
    pub fn run_once(&mut self, cut: Cut, timeout: Duration) -> Result<f64, String> {
        let (lab, s, a, b, d) = (&self.lab, &self.s, &self.a, &self.b, &self.d);
        // Converged: s has a route to d, and both paths exist (a and b each reach d).
        let dev = wait_route(lab, s, timeout)?;
        for ns in [a, b] {
            wait_route(lab, ns, timeout)?;
        }
        // Let the neighbours' costs settle after the previous cut.
        sleep(Duration::from_secs(4));
        let dev = current_dev(lab, s).unwrap_or(dev);
        let (far_ns, far_if) = if dev == "s-a" { (a, "a-s") } else { (b, "b-s") };
        let stream = Stream::start(s, S_ADDR, d, D_ADDR, Duration::from_millis(1))?;
        sleep(Duration::from_millis(500));
        let at = stream.start.elapsed().as_micros() as u64;
        let at_wall = SystemTime::now();
        match cut {
            Cut::Silent => {
                for (ns, i) in [(s, dev.as_str()), (far_ns, far_if)] {
                    tc(ns, &["qdisc", "replace", "dev", i, "root", "blackhole"])?;
                }
            }
            Cut::Carrier => {
                ip(&["-n", far_ns, "link", "set", far_if, "down"])?;
            }
        }
        // Wait for the route to move (or give up), with a margin for the stream after it.
        let t0 = Instant::now();
        let mut back = false;
        while t0.elapsed() < timeout {
            sleep(Duration::from_millis(100));
            if current_dev(lab, s).is_some_and(|x| x != dev) {
                back = true;
                break;
            }
        }
        sleep(Duration::from_millis(if back { 700 } else { 0 }));
        let (arrivals, sent) = stream.finish()?;
        let o = outage(&arrivals, at);
        if std::env::var_os("VSB_KEEP").is_some() {
            // Wall-clock times, to set against the daemons' logs and `ip -ts monitor`.
            let wall = |us: u64| {
                let t = at_wall + Duration::from_micros(us) - Duration::from_micros(at);
                t.duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64()
            };
            match o {
                Some(o) => eprintln!(
                    "  cut of {dev} at {:.6}: {} of {sent} datagrams lost in a row, \
                     {:.3} ms from {:.6}; {} received",
                    wall(at),
                    o.lost,
                    o.span as f64 / 1000.0,
                    wall(o.from),
                    arrivals.len()
                ),
                None => eprintln!(
                    "  cut of {dev} at {:.6}: the stream did not come back",
                    wall(at)
                ),
            }
        }
        // Heal the link for the next run.
        match cut {
            Cut::Silent => {
                for (ns, i) in [(s, dev.as_str()), (far_ns, far_if)] {
                    let _ = tc(ns, &["qdisc", "del", "dev", i, "root"]);
                }
            }
            Cut::Carrier => {
                ip(&["-n", far_ns, "link", "set", far_if, "up"])?;
            }
        }
        Ok(o.map_or(f64::NAN, |o| o.span as f64 / 1000.0))
    }
}

fn tc(ns: &str, args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("tc")
        .args(["-n", ns])
        .args(args)
        .output()
        .map_err(|e| format!("tc: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "tc {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The interface of `ns`'s Babel route to d, if it has a usable one.
fn current_dev(lab: &Lab, ns: &str) -> Option<String> {
    let dst = format!("{D_ADDR}");
    lab.babel_routes(ns).into_iter().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.first() != Some(&dst.as_str()) {
            return None;
        }
        let i = w.iter().position(|x| *x == "dev")?;
        w.get(i + 1).map(|s| s.to_string())
    })
}

fn wait_route(lab: &Lab, ns: &str, timeout: Duration) -> Result<String, String> {
    let t0 = Instant::now();
    loop {
        if let Some(d) = current_dev(lab, ns) {
            return Ok(d);
        }
        if t0.elapsed() > timeout {
            return Err(format!("{ns}: no route to {D_ADDR} after {timeout:?}"));
        }
        sleep(Duration::from_millis(200));
    }
}
