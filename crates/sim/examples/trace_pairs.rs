//! Steps through a scenario one simulated second at a time from `FROM` seconds and prints
//! how many pairs are broken, and for the first broken pair the route entries of every
//! node along its path (for chasing pairs that stay unreachable).
//!
//! `trace_pairs SCENARIO FROM TO`
use sim::check::{Checker, Fate};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: trace_pairs SCENARIO FROM TO");
        return;
    }
    let sc = sim::Scenario::load(std::path::Path::new(&args[1])).expect("scenario");
    let from: u64 = args[2].parse().expect("FROM");
    let to: u64 = args[3].parse().expect("TO");
    let mut s = sim::Sim::new(sc, None, false).expect("sim");
    let watch: Option<(u32, u32)> = std::env::var("PAIR").ok().and_then(|v| {
        let (a, b) = v.split_once(',')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    });
    for t in from..=to {
        s.set_end_us(t * 1_000_000);
        s.run(&mut |_, _| {});
        let broken = s.broken_pairs();
        println!("t={t} broken={}", broken.len());
        let pair = watch.or(broken.first().map(|p| (p.0, p.1)));
        let Some((a, d)) = pair else { continue };
        if std::env::var_os("QUIET").is_some() {
            continue;
        }
        let (f, _) = Checker::fate(&s.net, &s.fib, &s.alive, a, d);
        println!("  pair {a} -> {d}: {f:?}");
        let mut cur = a;
        for _ in 0..20 {
            if let Some(node) = s.node(cur) {
                println!("   node {cur}:");
                for r in node.routes_for(s.prefixes[d as usize], None) {
                    println!("     {r:?}");
                }
                for src in node.sources() {
                    if src.prefix == s.prefixes[d as usize] {
                        println!("     src {src:?}");
                    }
                }
            }
            let nh = s.fib.get(cur, d);
            if cur == d || nh == u32::MAX || f == Fate::Delivered {
                break;
            }
            cur = nh;
        }
    }
}
