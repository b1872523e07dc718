//! Prints bytes sent per node in each simulated second of a scenario (to look at the
//! start-up burst and the steady state).
mod common;

fn main() {
    let Some(s) = common::run_from_args("timeline SCENARIO [DURATION]") else {
        return;
    };
    let n = s.topo.n as f64;
    for (sec, b) in s.sent_per_second.iter().enumerate() {
        println!("{sec}\t{:.1}", *b as f64 / n);
    }
}
