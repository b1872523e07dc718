//! Prints the broken pairs and a few node route tables at the end of a scenario.
mod common;

fn main() {
    let Some(s) = common::run_from_args("debug_pairs SCENARIO [DURATION]") else {
        return;
    };
    if std::env::var_os("STRETCH").is_some() {
        let mut shown = 0;
        for d in 0..s.topo.n {
            let dist = sim::check::bfs_hops(&s.net, &s.alive, d);
            for src in 0..s.topo.n {
                let (f, hops) = sim::check::Checker::fate(&s.net, &s.fib, &s.alive, src, d);
                if f == sim::check::Fate::Delivered
                    && src != d
                    && hops > dist[src as usize]
                    && shown < 6
                {
                    shown += 1;
                    println!("{src} -> {d}: {hops} hops, shortest {}", dist[src as usize]);
                    if let Some(node) = s.node(src) {
                        for r in node.routes_for(s.prefixes[d as usize], None) {
                            println!("   {r:?}");
                        }
                    }
                }
            }
        }
    }
    let broken = s.broken_pairs();
    println!("{} broken pairs", broken.len());
    for (a, b, f) in broken.iter().take(20) {
        println!("  {a} -> {b}: {f:?}");
    }
    let mut shown = std::collections::BTreeSet::new();
    let extra: Vec<u32> = std::env::var("SHOW")
        .ok()
        .map(|v| v.split(",").filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_default();
    for (a, b) in extra
        .iter()
        .map(|&x| (x, x))
        .chain(broken.iter().take(3).map(|p| (p.0, p.1)))
    {
        for n in [a, b] {
            if shown.insert(n) {
                if let Some(node) = s.node(n) {
                    println!("node {n} seqno {}:", node.seqno());
                    for r in node.routes() {
                        println!("  {r:?}");
                    }
                    for src in node.sources() {
                        println!("  src {src:?}");
                    }
                }
            }
        }
    }
}

/// Pairs whose installed path is longer than the shortest one (set STRETCH=1).
#[allow(dead_code)]
fn unused() {}
