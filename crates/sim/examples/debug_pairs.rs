//! Prints the broken pairs and a few node route tables at the end of a scenario.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: debug_pairs SCENARIO [DURATION]");
        return;
    };
    let mut sc = match sim::Scenario::load(std::path::Path::new(path)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
    };
    if let Some(d) = args.get(2).and_then(|d| d.parse().ok()) {
        sc.duration_s = d;
    }
    let mut s = match sim::Sim::new(sc, None, false) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
    };
    s.run(&mut |_, _| {});
    let broken = s.broken_pairs();
    println!("{} broken pairs", broken.len());
    for (a, b, f) in broken.iter().take(20) {
        println!("  {a} -> {b}: {f:?}");
    }
    let mut shown = std::collections::BTreeSet::new();
    let extra: Vec<u32> = std::env::var("SHOW").ok().map(|v| v.split(",").filter_map(|x| x.parse().ok()).collect()).unwrap_or_default();
    for (a, b) in extra.iter().map(|&x| (x, x)).chain(broken.iter().take(3).map(|p| (p.0, p.1))) {
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
