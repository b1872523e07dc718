//! What a carrier loss costs the installer: routes fail over from one link to another and
//! come back once the carrier returns.
//!
//! Runs in a fresh network namespace of its own (needs root), with two veth links r0 and r1.
//! Each cycle takes r0's carrier away (Linux flushes its nexthop objects and the routes
//! naming them), moves the routes to a neighbour on r1 in one batch ("failover"), brings the
//! carrier back and moves them back to the neighbour on r0 ("recovery"). Prints the time of
//! each batch per route change (best and median of the cycles) and the route messages sent
//! per route: more than 1 means that routes first named a flushed object and were sent again.
//!
//! With `FOLLOW=1` the installer reads the link notifications (`follow_links`) as soon as
//! the carrier has changed, as routed does when its monitor reports it.
//!
//! `cargo run -p netdriver --release --example nexthop_failover [-- ROUTES [CYCLES]]`

use std::net::{IpAddr, Ipv6Addr};
use std::process::Command;
use std::time::Instant;

use babel_core::wire::Prefix;
use netdriver::{InstallerConfig, KernelRoute, RouteInstaller, RouteOp};

mod lab;
use lab::{ifindex, ip, own_namespace};

/// Waits until Linux has handled r0's carrier change: its nexthop objects flushed (down) or
/// its operational state up again.
fn settle(up: bool) -> Result<(), String> {
    for _ in 0..1000 {
        let out = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .map_err(|e| format!("cannot run ip: {e}"))
        };
        let done = if up {
            out(&["link", "show", "r0"])?.contains("state UP")
        } else {
            out(&["nexthop", "show", "dev", "r0"])?.trim().is_empty()
        };
        if done {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Err("r0 did not settle".into())
}

/// Moves every route to `gw` on `ifindex`; returns microseconds per route and messages
/// sent per route.
fn move_all(
    inst: &mut RouteInstaller,
    dsts: &[Prefix],
    gw: IpAddr,
    ifindex: u32,
) -> Result<(f64, f64), String> {
    let ops: Vec<RouteOp> = dsts
        .iter()
        .map(|&d| RouteOp::Replace(KernelRoute::via(d, gw, ifindex, 0)))
        .collect();
    let sent = inst.stats().sent;
    let start = Instant::now();
    let errors = inst.apply(&ops);
    let us = start.elapsed().as_secs_f64() * 1e6 / dsts.len() as f64;
    if let Some((_, e)) = errors.first() {
        return Err(format!("{} routes failed, first: {e}", errors.len()));
    }
    Ok((us, (inst.stats().sent - sent) as f64 / dsts.len() as f64))
}

fn summary(label: &str, mut v: Vec<(f64, f64)>) {
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let msgs = v.iter().map(|x| x.1).sum::<f64>() / v.len() as f64;
    println!(
        "{label:>9}: best {:8.2} µs, median {:8.2} µs per route change; {msgs:.2} messages per route",
        v[0].0,
        v[v.len() / 2].0
    );
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let n: u16 = args
        .next()
        .map(|s| s.parse().map_err(|_| format!("bad count {s}")))
        .transpose()?
        .unwrap_or(1);
    let cycles: usize = args
        .next()
        .map(|s| s.parse().map_err(|_| format!("bad cycle count {s}")))
        .transpose()?
        .unwrap_or(21);
    if n == 0 || cycles == 0 {
        return Err("ROUTES and CYCLES must be positive".into());
    }
    own_namespace(&["r0", "r1"])?;
    let (r0, r1) = (ifindex("r0")?, ifindex("r1")?);
    let (gw0, gw1): (IpAddr, IpAddr) = ("fe80::1".parse().unwrap(), "fe80::2".parse().unwrap());
    let dsts: Vec<Prefix> = (0..n)
        .map(|i| Prefix::v6(Ipv6Addr::new(0x2001, 0xdb8, i, 0, 0, 0, 0, 0), 48).expect("prefix"))
        .collect();
    // FOLLOW=1: the link notifications are read as soon as the carrier has changed, as routed
    // does when its monitor reports the change, not by the next batch.
    let follow = std::env::var_os("FOLLOW").is_some();
    let mut inst = RouteInstaller::new(InstallerConfig::default()).map_err(|e| e.to_string())?;
    move_all(&mut inst, &dsts, gw0, r0)?;
    let (mut failover, mut recovery) = (Vec::new(), Vec::new());
    for _ in 0..cycles {
        ip(&["link", "set", "r0p", "down"])?;
        settle(false)?;
        if follow {
            inst.follow_links();
        }
        failover.push(move_all(&mut inst, &dsts, gw1, r1)?);
        ip(&["link", "set", "r0p", "up"])?;
        settle(true)?;
        if follow {
            inst.follow_links();
        }
        recovery.push(move_all(&mut inst, &dsts, gw0, r0)?);
    }
    println!(
        "{n} IPv6 routes, {cycles} carrier losses{}",
        if follow {
            ", link notifications read ahead"
        } else {
            ""
        }
    );
    summary("failover", failover);
    summary("recovery", recovery);
    Ok(())
}
