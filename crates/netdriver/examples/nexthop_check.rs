//! What one check of the nexthop objects costs the installer: the dump of the kernel's
//! routes (every table, both families) that tells which objects routes still name.
//!
//! Runs in a fresh network namespace of its own (needs root), with one veth link r0. For
//! each count N it installs N IPv6 /64 routes through one neighbour (one nexthop object),
//! then, a number of times, a route through a second neighbour (a second object) that is
//! withdrawn again: the first check after it finds the second object unused and keeps it,
//! the second deletes it. Prints the time of each kind of check, best and median, during
//! which the installer (routed's installer thread) does nothing else.
//!
//! `cargo run -p netdriver --release --example nexthop_check [-- N... [--runs R]]`
//! (default: 10000 100000, 5 runs)

use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use babel_core::wire::Prefix;
use netdriver::{InstallerConfig, KernelRoute, RouteInstaller, RouteOp};

mod lab;
use lab::{ifindex, own_namespace};

/// Waits for the next check and runs it; returns its time and the objects it deleted.
fn next_check(inst: &mut RouteInstaller) -> Result<(Duration, usize), String> {
    let at = inst
        .next_nexthop_collection()
        .ok_or("no check is due: no object may be unused")?;
    std::thread::sleep(at.saturating_duration_since(Instant::now()));
    let checks = inst.stats().nexthops_checks;
    let start = Instant::now();
    let deleted = inst.collect_nexthops();
    let took = start.elapsed();
    if inst.stats().nexthops_checks != checks + 1 {
        return Err("collect_nexthops did not check".into());
    }
    Ok((took, deleted))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Best and median, in milliseconds.
fn summary(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort_unstable();
    (ms(v[0]), ms(v[v.len() / 2]))
}

fn main() -> Result<(), String> {
    let mut counts: Vec<u32> = Vec::new();
    let mut runs = 5;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--runs" {
            let r = args.next().ok_or("--runs needs a number")?;
            runs = r.parse().map_err(|_| format!("bad run count {r}"))?;
        } else {
            counts.push(a.parse().map_err(|_| format!("bad count {a}"))?);
        }
    }
    if counts.is_empty() {
        counts = vec![10_000, 100_000];
    }
    let runs = runs.max(1);
    own_namespace(&["r0"])?;
    let dev = ifindex("r0")?;
    let (gw1, gw2): (IpAddr, IpAddr) = ("fe80::1".parse().unwrap(), "fe80::2".parse().unwrap());

    for n in counts {
        let mut inst = RouteInstaller::new(InstallerConfig {
            nexthop_grace: Duration::from_millis(20),
            ..InstallerConfig::default()
        })
        .map_err(|e| e.to_string())?;
        let ops: Vec<RouteOp> = (0..n)
            .map(|i| {
                let dst = Prefix::v6(
                    Ipv6Addr::new(0x2001, 0xdb8, (i >> 16) as u16, i as u16, 0, 0, 0, 0),
                    64,
                )
                .expect("prefix");
                RouteOp::Add(KernelRoute::via(dst, gw1, dev, 0))
            })
            .collect();
        let errors = inst.apply(&ops);
        if let Some((_, e)) = errors.first() {
            return Err(format!("{} routes not installed, first: {e}", errors.len()));
        }
        drop(ops);
        // The check of the new object (in use), out of the way.
        next_check(&mut inst)?;
        let lone = KernelRoute::via("2001:db8:ffff::/48".parse().unwrap(), gw2, dev, 0);
        let (mut first, mut deleting) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            inst.add(&lone).map_err(|e| e.to_string())?;
            inst.remove(&lone).map_err(|e| e.to_string())?;
            let (t, deleted) = next_check(&mut inst)?;
            if deleted != 0 {
                return Err("the first check deleted an object".into());
            }
            first.push(t);
            let (t, deleted) = next_check(&mut inst)?;
            if deleted != 1 {
                return Err(format!("the second check deleted {deleted} objects"));
            }
            deleting.push(t);
        }
        let (fb, fm) = summary(first);
        let (db, dm) = summary(deleting);
        println!(
            "{n:>7} routes: first check {fm:7.1} ms (best {fb:.1}), deleting check {dm:7.1} ms \
             (best {db:.1}), {runs} runs"
        );
        inst.purge().map_err(|e| e.to_string())?;
    }
    Ok(())
}
