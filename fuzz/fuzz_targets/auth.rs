#![no_main]
//! Feeds an authenticating receiver arbitrary datagrams, some of them correctly signed by a
//! peer that knows the key (so that the counter, index and challenge logic is reached), and
//! checks that nothing panics and that the neighbour table stays within its bound.

use babel_core::auth::{sign, Authenticator, AuthReply, Key, KeyType, PseudoHeader};
use libfuzzer_sys::fuzz_target;
use std::net::Ipv6Addr;

fuzz_target!(|data: &[u8]| {
    let keys = vec![
        Key::new("k", KeyType::HmacSha256, vec![7; 64]).expect("valid key"),
        Key::new("b", KeyType::Blake2s128, vec![9; 16]).expect("valid key"),
    ];
    let mut rx = Authenticator::new(keys.clone(), [1; 32], 8);
    let mut replies: Vec<AuthReply> = Vec::new();
    // The input is a sequence of records: [flags, src, time, len, bytes...].
    let mut rest = data;
    let mut now = 0u64;
    while rest.len() >= 4 {
        let (flags, src, dt, len) = (rest[0], rest[1], rest[2], rest[3] as usize);
        rest = &rest[4..];
        let body = &rest[..len.min(rest.len())];
        rest = &rest[body.len()..];
        now += dt as u64 * 10;
        let ph = PseudoHeader {
            src: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, src as u16 % 16),
            src_port: 6696,
            dst: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 6),
            dst_port: 6696,
        };
        let mut packet = vec![42, 2];
        packet.extend_from_slice(&(body.len() as u16).to_be_bytes());
        packet.extend_from_slice(body);
        if flags & 1 != 0 {
            // Signed by someone with the key: exercises everything after the MAC check.
            sign(&mut packet, &keys, &ph);
        } else if flags & 2 != 0 {
            // Raw bytes, header and trailer included.
            packet = body.to_vec();
        }
        let _ = rx.open(now, &packet, &ph, flags & 4 != 0, &mut replies);
        assert!(rx.tracked_neighbours() <= 8);
        replies.truncate(64);
    }
});
