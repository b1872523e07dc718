//! Steps through a scenario and prints, whenever it changes, what the listed nodes hold for
//! one destination (entries with seqno, metric, feasibility, and the feasibility distance).
//!
//! `trace_dest SCENARIO FROM_S TO_S STEP_MS DEST NODE,NODE,...`
fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 7 {
        eprintln!("usage: trace_dest SCENARIO FROM_S TO_S STEP_MS DEST NODE,NODE,...");
        return;
    }
    let sc = sim::Scenario::load(std::path::Path::new(&a[1])).expect("scenario");
    let from: f64 = a[2].parse().expect("FROM");
    let to: f64 = a[3].parse().expect("TO");
    let step: u64 = a[4].parse().expect("STEP");
    let d: u32 = a[5].parse().expect("DEST");
    let nodes: Vec<u32> = a[6].split(',').filter_map(|x| x.parse().ok()).collect();
    let mut s = sim::Sim::new(sc, None, false).expect("sim");
    let mut last: Vec<String> = vec![String::new(); nodes.len()];
    let mut t = (from * 1e6) as u64;
    while t <= (to * 1e6) as u64 {
        s.set_end_us(t);
        s.run(&mut |_, _| {});
        for (k, &n) in nodes.iter().enumerate() {
            let mut line = String::new();
            if let Some(node) = s.node(n) {
                for r in node.routes_for(s.prefixes[d as usize], None) {
                    let nb = r.neighbour.segments()[5].wrapping_sub(1);
                    line += &format!(
                        " [via {nb} s{} m{} rm{}{}{}]",
                        r.seqno,
                        r.metric,
                        r.refmetric,
                        if r.installed { " SEL" } else { "" },
                        if r.feasible { "" } else { " unf" }
                    );
                }
                for src in node.sources() {
                    if src.prefix == s.prefixes[d as usize] {
                        line += &format!(" FD s{} m{}", src.seqno, src.metric);
                    }
                }
            } else {
                line = " dead".into();
            }
            if line != last[k] {
                println!("{:.3} n{n}:{line}", t as f64 / 1e6);
                last[k] = line;
            }
        }
        t += step * 1000;
    }
}
