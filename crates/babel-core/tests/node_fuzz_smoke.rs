//! The `node` fuzz target's driver, run on pseudo-random inputs in ordinary tests, so that
//! every `cargo test` exercises the engine with hostile packet and event sequences.

use babel_core::testing::{drive_node, fuzz_node};

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

#[test]
fn an_install_filters_preferred_source_is_reported_only_while_it_is_local() {
    // One wired interface, one neighbour sending a hello, an IHU and an update of one of
    // eight IPv4 destinations every 512 ms; then install filters giving 10.0.0.0/8 the
    // preferred source 192.0.2.7 (command 19), that address gone (258) and back (6), each
    // followed by a drain of the route changes (op 8), after which the driver also checks
    // that no reported route names an address that is not local.
    let mut data = vec![2, 0, 0];
    for i in 0..24u8 {
        // op 1 on interface 1 from fe80::2, four TLVs (kind, x, y): a hello (seqno i,
        // interval 4 s), an IHU (rxcost 256), an update of 10.(i % 8).0.0/16 (metric 256),
        // and a second hello that is ignored (same seqno); then 512 ms pass (op 4).
        data.extend_from_slice(&[1, 0, 0, 3]);
        data.extend_from_slice(&[0, 0, i, 0x01, 0x90]);
        data.extend_from_slice(&[1, 0x01, 0x90, 0x01, 0x00]);
        data.extend_from_slice(&[3, 0, i % 8, 0x01, 0x00]);
        data.extend_from_slice(&[0, 0, i, 0x01, 0x90]);
        data.extend_from_slice(&[4, 0, 32]);
    }
    let pref = "192.0.2.7".parse().unwrap();
    let with = |node: &babel_core::Node| {
        node.reported_routes()
            .filter(|r| r.prefix.is_v4() && r.metric < 0xFFFF)
            .map(|r| r.pref_src == Some(pref))
            .collect::<Vec<_>>()
    };
    data.extend_from_slice(&[6, 0, 19, 8]);
    let v4 = with(&drive_node(&data));
    assert_eq!(v4, vec![true; 8]);
    data.extend_from_slice(&[6, 1, 2, 8]);
    assert_eq!(with(&drive_node(&data)), vec![false; 8]);
    data.extend_from_slice(&[6, 0, 6, 8]);
    assert_eq!(with(&drive_node(&data)), vec![true; 8]);
}
