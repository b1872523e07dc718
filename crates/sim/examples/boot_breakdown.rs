//! Where a scenario's traffic comes from: for each window of simulated time, the Update
//! TLVs the nodes sent by cause (periodic dumps, dumps asked for by wildcard requests,
//! updates sent one by one, reliable ones and their resends), the triggered updates queued
//! by cause, the requests sent, the Update TLVs received, and the simulator events.
//!
//! `cargo run --release -p sim --example boot_breakdown -- FILE [DURATION_S] [STEP_S]`
//! (defaults: 40 s in steps of 5 s).
use babel_core::SentStats;

/// The columns: a name and the counter it shows.
type Col = (&'static str, fn(&SentStats) -> u64);
const COLS: [Col; 18] = [
    ("sent:dump", |s| s.dump_updates),
    ("sent:req-dump", |s| s.requested_dump_updates),
    ("sent:single", |s| s.single_updates),
    ("sent:reliable", |s| s.reliable_updates),
    ("sent:resent", |s| s.resent_updates),
    ("trig:new", |s| s.triggered_new),
    ("trig:switch", |s| s.triggered_switch),
    ("trig:retract", |s| s.triggered_retraction),
    ("trig:worse", |s| s.triggered_worse),
    ("trig:satisf", |s| s.triggered_satisfied),
    ("trig:seqno", |s| s.triggered_seqno),
    ("trig:better", |s| s.triggered_better),
    ("trig:other", |s| s.triggered_other),
    ("wild:sent", |s| s.wildcard_requests_sent),
    ("wild:recv", |s| s.wildcard_requests),
    ("wild:ignored", |s| s.wildcard_requests_ignored),
    ("seqreq:orig", |s| s.seqno_requests),
    ("seqreq:fwd", |s| s.seqno_requests_forwarded),
];

/// Each column summed over the live nodes.
fn row(s: &sim::Sim) -> [u64; COLS.len()] {
    let mut r = [0; COLS.len()];
    for n in s.live_nodes() {
        for (v, (_, get)) in r.iter_mut().zip(COLS.iter()) {
            *v += get(&n.stats().sent);
        }
    }
    r
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: boot_breakdown SCENARIO [DURATION_S] [STEP_S]");
        return;
    };
    let dur: f64 = args.get(2).and_then(|d| d.parse().ok()).unwrap_or(40.0);
    let step: f64 = args.get(3).and_then(|d| d.parse().ok()).unwrap_or(5.0);
    let mut sc = match sim::Scenario::load(std::path::Path::new(path)) {
        Ok(sc) => sc,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
    };
    sc.duration_s = dur;
    let mut s = match sim::Sim::new(sc, None, false) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
    };
    let end = s.end_us();
    let step_us = (step * 1e6) as u64;
    print!("{:>8} {:>10} {:>10}", "until_s", "events", "upd:recv");
    for (n, _) in COLS {
        print!(" {n:>13}");
    }
    println!();
    let (mut ev0, mut rx0, mut prev) = (0u64, 0u64, [0u64; COLS.len()]);
    let mut t = 0;
    while t < end {
        t = (t + step_us).min(end);
        s.set_end_us(t);
        s.run(&mut |_, _| {});
        let (ev, rx, cur) = (s.events_processed, s.updates_received(), row(&s));
        print!("{:>8.1} {:>10} {:>10}", t as f64 / 1e6, ev - ev0, rx - rx0);
        for i in 0..cur.len() {
            print!(" {:>13}", cur[i] - prev[i]);
        }
        println!();
        (ev0, rx0, prev) = (ev, rx, cur);
    }
    print!("{:>8} {:>10} {:>10}", "total", ev0, rx0);
    for v in prev {
        print!(" {v:>13}");
    }
    println!();
}
