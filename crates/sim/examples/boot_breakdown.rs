//! Where a scenario's traffic comes from: for each window of simulated time, the Update
//! TLVs the nodes sent by cause (periodic dumps, dumps asked for by wildcard requests,
//! updates sent one by one, reliable ones and their resends), the triggered updates queued
//! by cause, the requests sent, the Update TLVs received, and the simulator events.
//!
//! `cargo run --release -p sim --example boot_breakdown -- FILE [DURATION_S] [STEP_S]`
//! (defaults: 40 s in steps of 5 s).
use babel_core::SentStats;

fn sum(s: &sim::Sim) -> SentStats {
    let mut t = SentStats::default();
    for n in s.live_nodes() {
        let x = &n.stats().sent;
        t.dump_updates += x.dump_updates;
        t.requested_dump_updates += x.requested_dump_updates;
        t.single_updates += x.single_updates;
        t.reliable_updates += x.reliable_updates;
        t.resent_updates += x.resent_updates;
        t.wildcard_requests += x.wildcard_requests;
        t.wildcard_requests_ignored += x.wildcard_requests_ignored;
        t.wildcard_requests_sent += x.wildcard_requests_sent;
        t.seqno_requests += x.seqno_requests;
        t.seqno_requests_forwarded += x.seqno_requests_forwarded;
        t.triggered_new += x.triggered_new;
        t.triggered_switch += x.triggered_switch;
        t.triggered_retraction += x.triggered_retraction;
        t.triggered_worse += x.triggered_worse;
        t.triggered_satisfied += x.triggered_satisfied;
        t.triggered_seqno += x.triggered_seqno;
        t.triggered_better += x.triggered_better;
        t.triggered_other += x.triggered_other;
    }
    t
}

fn row(s: &SentStats) -> [u64; 18] {
    [
        s.dump_updates,
        s.requested_dump_updates,
        s.single_updates,
        s.reliable_updates,
        s.resent_updates,
        s.triggered_new,
        s.triggered_switch,
        s.triggered_retraction,
        s.triggered_worse,
        s.triggered_satisfied,
        s.triggered_seqno,
        s.triggered_better,
        s.triggered_other,
        s.wildcard_requests_sent,
        s.wildcard_requests,
        s.wildcard_requests_ignored,
        s.seqno_requests,
        s.seqno_requests_forwarded,
    ]
}

const NAMES: [&str; 18] = [
    "sent:dump",
    "sent:req-dump",
    "sent:single",
    "sent:reliable",
    "sent:resent",
    "trig:new",
    "trig:switch",
    "trig:retract",
    "trig:worse",
    "trig:satisf",
    "trig:seqno",
    "trig:better",
    "trig:other",
    "wild:sent",
    "wild:recv",
    "wild:ignored",
    "seqreq:orig",
    "seqreq:fwd",
];

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
    for n in NAMES {
        print!(" {n:>13}");
    }
    println!();
    let (mut ev0, mut rx0, mut prev) = (0u64, 0u64, [0u64; NAMES.len()]);
    let mut total = [0u64; NAMES.len()];
    let mut t = 0;
    while t < end {
        t = (t + step_us).min(end);
        s.set_end_us(t);
        s.run(&mut |_, _| {});
        let (ev, rx, cur) = (s.events_processed, s.updates_received(), row(&sum(&s)));
        print!("{:>8.1} {:>10} {:>10}", t as f64 / 1e6, ev - ev0, rx - rx0);
        for i in 0..cur.len() {
            print!(" {:>13}", cur[i] - prev[i]);
        }
        println!();
        (ev0, rx0, prev, total) = (ev, rx, cur, cur);
    }
    print!("{:>8} {:>10} {:>10}", "total", ev0, rx0);
    for v in total {
        print!(" {v:>13}");
    }
    println!();
}
