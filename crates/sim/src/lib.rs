//! babel-sim: many real babel-core [`babel_core::Node`]s over a simulated network in
//! virtual time. One seed gives one run, byte for byte.
//!
//! - [`scenario`]: the TOML scenario files.
//! - [`topology`]: line, ring, grid, random geometric graph, edge lists.
//! - [`net`]: links with delay, jitter, independent and bursty loss, per direction.
//! - [`sim`]: the event queue, the nodes, churn and mobility.
//! - [`check`]: forwarding paths on installed routes, black holes and loops.
//! - [`report`], [`plots`], [`pcap`]: what comes out.

#![forbid(unsafe_code)]

pub mod check;
pub mod net;
pub mod pcap;
pub mod plots;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod topology;

pub use report::Report;
pub use scenario::Scenario;
pub use sim::Sim;

/// Runs a scenario to the end and returns its report. `reproducible` leaves the
/// wall-clock figures out so that the same scenario and seed give the same bytes.
pub fn run_scenario(
    sc: Scenario,
    seed: Option<u64>,
    reproducible: bool,
) -> Result<(Sim, Report), String> {
    let t0 = std::time::Instant::now();
    let mut sim = Sim::new(sc, seed, false)?;
    sim.run(&mut |_, _| {});
    let wall =
        (!reproducible).then(|| (t0.elapsed().as_secs_f64(), report::rss_bytes().unwrap_or(0)));
    let r = Report::build(&sim, wall);
    Ok((sim, r))
}
