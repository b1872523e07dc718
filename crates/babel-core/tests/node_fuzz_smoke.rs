//! The `node` fuzz target's driver, run on pseudo-random inputs in ordinary tests, so that
//! every `cargo test` exercises the engine with hostile packet and event sequences.

use babel_core::testing::fuzz_node;

#[test]
fn arbitrary_sequences_do_not_panic_and_stay_bounded() {
    let mut x = 0x1234_5678_9abc_def0u64;
    for round in 0..60 {
        let len = 64 + (round * 37) % 4000;
        let mut data = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.push((x >> 24) as u8);
        }
        fuzz_node(&data);
    }
}

#[test]
fn structured_ops_build_a_populated_table() {
    // Interface up, then many well-formed packets with hellos and updates, then timers.
    let mut data = vec![2, 0, 0];
    for i in 0..200u16 {
        data.extend_from_slice(&[1, 0, (i % 3) as u8, 4]);
        data.extend_from_slice(&[0, (i >> 8) as u8, i as u8, 0, 100]);
        data.extend_from_slice(&[1, 0, 1, 0, 96]);
        data.extend_from_slice(&[2, (i >> 8) as u8, i as u8, 1, 0]);
        data.extend_from_slice(&[3, 0, i as u8, 0, 200]);
    }
    data.extend_from_slice(&[7, 50, 8]);
    fuzz_node(&data);
}
