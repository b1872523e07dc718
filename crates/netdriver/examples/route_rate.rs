//! How fast the batched installer puts routes in the kernel.
//!
//! Runs in a fresh network namespace of its own (needs root), with one veth link, and prints
//! route operations per second for 100,000 IPv6 and 100,000 IPv4 routes: first install,
//! replace with a new next hop, remove; then unbatched (one message per send) for comparison.
//!
//! `cargo run -p netdriver --release --example route_rate [-- COUNT]`

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use babel_core::wire::Prefix;
use netdriver::{InstallerConfig, KernelRoute, RouteInstaller, RouteOp};

mod lab;
use lab::{ifindex, ip, own_namespace};

fn routes(n: u32, v6: bool, gw: IpAddr, ifindex: u32) -> Vec<KernelRoute> {
    (0..n)
        .map(|i| {
            let dst = if v6 {
                let hi = (i >> 16) as u16;
                let lo = i as u16;
                Prefix::v6(Ipv6Addr::new(0x2001, 0xdb8, hi, lo, 0, 0, 0, 0), 64)
            } else {
                Prefix::v4(Ipv4Addr::from(0x0a00_0000 + i), 32)
            }
            .expect("prefix");
            KernelRoute::via(dst, gw, ifindex, 0)
        })
        .collect()
}

fn timed(label: &str, inst: &mut RouteInstaller, ops: &[RouteOp]) -> f64 {
    let start = Instant::now();
    let errors = inst.apply(ops);
    let secs = start.elapsed().as_secs_f64();
    let rate = ops.len() as f64 / secs;
    println!(
        "{label:<34} {:>7} ops  {:>8.3} s  {:>10.0} ops/s  errors {}",
        ops.len(),
        secs,
        rate,
        errors.len()
    );
    if let Some((_, e)) = errors.first() {
        println!("  first error: {e}");
    }
    rate
}

fn main() -> Result<(), String> {
    let n: u32 = std::env::args()
        .nth(1)
        .map(|s| s.parse().map_err(|_| format!("bad count {s}")))
        .transpose()?
        .unwrap_or(100_000);
    own_namespace(&["r0"])?;
    ip(&["addr", "add", "192.0.2.1/24", "dev", "r0"])?;
    let dev = ifindex("r0")?;

    let mut inst = RouteInstaller::new(InstallerConfig::default()).map_err(|e| e.to_string())?;
    println!(
        "routes: {n} per family, batch {} messages per datagram",
        inst.config().batch
    );
    for (v6, gw1, gw2) in [
        (true, "fe80::1", "fe80::2"),
        (false, "192.0.2.2", "192.0.2.3"),
    ] {
        let fam = if v6 { "IPv6" } else { "IPv4" };
        let first = routes(n, v6, gw1.parse().unwrap(), dev);
        let second = routes(n, v6, gw2.parse().unwrap(), dev);
        let install: Vec<_> = first.iter().map(|r| RouteOp::Replace(*r)).collect();
        let replace: Vec<_> = second.iter().map(|r| RouteOp::Replace(*r)).collect();
        let remove: Vec<_> = second.iter().map(|r| RouteOp::Remove(*r)).collect();
        timed(&format!("{fam} install (batched)"), &mut inst, &install);
        timed(
            &format!("{fam} replace next hop (batched)"),
            &mut inst,
            &replace,
        );
        let count = inst.dump().map_err(|e| e.to_string())?.len();
        println!(
            "{:<34} {count:>7} routes in the table",
            format!("{fam} check")
        );
        timed(&format!("{fam} remove (batched)"), &mut inst, &remove);
    }
    println!("installer counters: {:?}", inst.stats());

    // The same, one message per datagram, on a tenth of the routes.
    let m = (n / 10).max(1);
    let mut single = RouteInstaller::new(InstallerConfig {
        batch: 1,
        ..InstallerConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let first = routes(m, true, "fe80::1".parse().unwrap(), dev);
    let install: Vec<_> = first.iter().map(|r| RouteOp::Replace(*r)).collect();
    let remove: Vec<_> = first.iter().map(|r| RouteOp::Remove(*r)).collect();
    timed("IPv6 install (unbatched)", &mut single, &install);
    timed("IPv6 remove (unbatched)", &mut single, &remove);
    Ok(())
}
