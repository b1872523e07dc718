//! Prints bytes sent per node in each simulated second of a scenario (to look at the
//! start-up burst and the steady state).
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: timeline SCENARIO [DURATION]");
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
    let n = s.topo.n as f64;
    for (sec, b) in s.sent_per_second.iter().enumerate() {
        println!("{sec}\t{:.1}", *b as f64 / n);
    }
}
