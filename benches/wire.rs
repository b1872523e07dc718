//! Parsing and emitting update-heavy packets, as a neighbour's full dump arrives.
//!
//! Throughput is reported in bytes (MB/s); the TLV rate is printed once at start so that
//! both figures can be read off one run: `cargo bench -p routed-benches --bench wire`.

use std::hint::black_box;

use babel_core::wire::parse_packet;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use routed_benches::{count_tlvs, dump_packets, dump_updates, parse_stream, SRC};

fn bench_wire(c: &mut Criterion) {
    let updates = dump_updates(10_000);
    let packets = dump_packets(&updates, 1500);
    let bytes: usize = packets.iter().map(Vec::len).sum();
    let tlvs = count_tlvs(&packets);
    eprintln!(
        "wire bench input: {} packets, {} bytes, {} TLVs ({} updates), {:.1} bytes/TLV",
        packets.len(),
        bytes,
        tlvs,
        updates.len(),
        bytes as f64 / tlvs as f64
    );

    let mut g = c.benchmark_group("wire");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("parse_stream_10k_updates", |b| {
        b.iter(|| black_box(parse_stream(&packets)))
    });
    g.bench_function("parse_collect_10k_updates", |b| {
        b.iter(|| {
            for p in &packets {
                black_box(parse_packet(p, Some(SRC)).expect("valid"));
            }
        })
    });
    g.bench_function("emit_10k_updates", |b| {
        b.iter(|| black_box(dump_packets(&updates, 1500)))
    });
    g.finish();

    let mut g = c.benchmark_group("wire_tlvs");
    g.throughput(Throughput::Elements(tlvs as u64));
    g.bench_function("parse_stream_10k_updates", |b| {
        b.iter(|| black_box(count_tlvs(&packets)))
    });
    g.finish();
}

criterion_group!(benches, bench_wire);
criterion_main!(benches);
