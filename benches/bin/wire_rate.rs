//! Prints the parse and emit rates of update-heavy packets on one core.
//!
//! Shared machines are noisy: each figure is the best of many rounds, which is the closest
//! to what one quiet core does. `cargo run --release -p routed-benches --bin wire_rate`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use routed_benches::{count_tlvs, dump_packets, dump_updates, parse_stream};

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
    let tlvs = count_tlvs(&packets);
    let parse = best_of(40, || {
        black_box(parse_stream(&packets));
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
