//! A synthetic Babel neighbour: it says hello on one interface, tells everyone it hears them
//! (a wildcard IHU), then advertises N prefixes from one router-id, in prefix order or
//! shuffled, and sends that full dump again every `--interval` seconds, like a real
//! neighbour's periodic updates, until killed or until `--hold` runs out.
//!
//! Used by the side-by-side benchmark against babeld (the flood test calls the same code,
//! `e2e::feeder`, from a thread):
//! `babel_feeder --if IFACE --prefixes 100000 [--order sorted|shuffled] [--interval 8]`.
//! With `--flap M2` every dump after the first alternates the metric between `--metric` and
//! M2 and carries a new seqno (so the change is feasible at once), which makes the
//! receiver switch all its routes between this neighbour and another one at every dump.
//! Run it inside the namespace that holds IFACE (`ip netns exec NS babel_feeder ...`).

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use e2e::feeder::{self, Feed};

fn usage() -> &'static str {
    "usage: babel_feeder --if IFACE --prefixes N [--order sorted|shuffled] [--interval SECONDS] \
     [--hold SECONDS] [--metric M] [--flap M2] [--router-id 1-255] [--pps PACKETS_PER_SECOND]"
}

fn parse_args() -> Result<Feed, String> {
    let mut a = Feed::default();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--if" => a.iface = v()?,
            "--prefixes" => a.prefixes = v()?.parse().map_err(|e| format!("--prefixes: {e}"))?,
            "--order" => {
                a.shuffled = match v()?.as_str() {
                    "sorted" => false,
                    "shuffled" => true,
                    o => return Err(format!("--order: {o:?} is not sorted or shuffled")),
                }
            }
            "--interval" => {
                let secs: f64 = v()?.parse().map_err(|e| format!("--interval: {e}"))?;
                if !(0.1..=3600.0).contains(&secs) {
                    return Err("--interval must be 0.1 to 3600 seconds".into());
                }
                a.interval = Duration::from_secs_f64(secs)
            }
            "--hold" => {
                a.hold = Duration::from_secs(v()?.parse().map_err(|e| format!("--hold: {e}"))?)
            }
            "--metric" => a.metric = v()?.parse().map_err(|e| format!("--metric: {e}"))?,
            "--flap" => a.flap = Some(v()?.parse().map_err(|e| format!("--flap: {e}"))?),
            "--router-id" => {
                a.router_id = v()?.parse().map_err(|e| format!("--router-id: {e}"))?;
                if a.router_id == 0 {
                    return Err("--router-id must be 1 to 255".into());
                }
            }
            "--pps" => {
                a.packets_per_second = v()?.parse().map_err(|e| format!("--pps: {e}"))?;
                if a.packets_per_second == 0 {
                    return Err("--pps must be positive".into());
                }
            }
            "--help" | "-h" => return Err(usage().into()),
            o => return Err(format!("unknown argument {o:?}\n{}", usage())),
        }
    }
    if a.iface.is_empty() {
        return Err(format!("--if is required\n{}", usage()));
    }
    Ok(a)
}

fn run(feed: Feed) -> Result<(), String> {
    let never = AtomicBool::new(false);
    feeder::run(&feed, &never, |sent, took| {
        eprintln!(
            "babel_feeder: dump {}: {} updates in {} packets in {:.2} s",
            sent.dumps,
            feed.prefixes,
            sent.packets,
            took.as_secs_f64()
        )
    })
    .map(|_| ())
}

fn main() -> ExitCode {
    match parse_args().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("babel_feeder: {e}");
            ExitCode::FAILURE
        }
    }
}
