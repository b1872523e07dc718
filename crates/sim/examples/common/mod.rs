//! What the debugging examples share: load the scenario named on the command line, with an
//! optional duration override, and run it to the end.

/// Runs `SCENARIO [DURATION]` from the command line; prints `usage` or the error and returns
/// `None` when it cannot.
pub fn run_from_args(usage: &str) -> Option<sim::Sim> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: {usage}");
        return None;
    };
    let mut sc = sim::Scenario::load(std::path::Path::new(path))
        .map_err(|e| eprintln!("{e}"))
        .ok()?;
    if let Some(d) = args.get(2).and_then(|d| d.parse().ok()) {
        sc.duration_s = d;
    }
    let mut s = sim::Sim::new(sc, None, false)
        .map_err(|e| eprintln!("{e}"))
        .ok()?;
    s.run(&mut |_, _| {});
    Some(s)
}
