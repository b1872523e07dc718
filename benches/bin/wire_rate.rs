//! Prints the parse and emit rates of update-heavy packets on one core.
//!
//! Shared machines are noisy: each figure is the best of many rounds, which is the closest
//! to what one quiet core does. `cargo run --release -p routed-benches --bin wire_rate`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use babel_core::wire::{for_each_tlv, Packet, Tlv};
use routed_benches::{dump_packets, dump_updates, SRC};

fn best_of(rounds: usize, mut f: impl FnMut()) -> Duration {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let updates = dump_updates(100_000);
    let packets = dump_packets(&updates, 1500);
    let bytes: usize = packets.iter().map(Vec::len).sum();
    let mut tlvs = 0usize;
    for p in &packets {
        let view = Packet::new_checked(&p[..]).expect("valid");
        for_each_tlv(view.body(), Some(SRC), |_, r| tlvs += r.is_ok() as usize);
    }
    let parse = best_of(40, || {
        let mut n = 0u64;
        for p in &packets {
            let view = Packet::new_checked(&p[..]).expect("valid");
            for_each_tlv(view.body(), Some(SRC), |_, r| {
                if let Ok(Tlv::Update(u)) = r {
                    n += u.metric as u64;
                }
            });
        }
        black_box(n);
    });
    let emit = best_of(20, || {
        black_box(dump_packets(&updates, 1500));
    });
    let secs = parse.as_secs_f64();
    println!(
        "input: {} packets, {} bytes, {} TLVs ({} updates, MTU 1500)",
        packets.len(),
        bytes,
        tlvs,
        updates.len()
    );
    println!(
        "parse: {:.0} MB/s, {:.1} M TLVs/s ({:.1} ns/TLV)",
        bytes as f64 / secs / 1e6,
        tlvs as f64 / secs / 1e6,
        secs * 1e9 / tlvs as f64
    );
    let secs = emit.as_secs_f64();
    println!(
        "emit:  {:.0} MB/s, {:.1} M TLVs/s",
        bytes as f64 / secs / 1e6,
        tlvs as f64 / secs / 1e6
    );
}
