#![no_main]
//! A `Node` behind an RFC 8967 authenticator, as the daemon runs it with `key` set on an
//! interface: arbitrary datagrams, some signed with the interface key by senders that also
//! answer challenges, go through `Authenticator::open` and, when accepted, into the node.
//! Nothing may panic and the authenticator's neighbour table stays within its bound.

use babel_core::auth::{sign, AuthReply, Authenticator, Key, KeyType, PseudoHeader};
use babel_core::wire::{Encoder, RouterId, Tlv};
use babel_core::{Config, InterfaceConfig, InterfaceEvent, Node, Timestamp};
use libfuzzer_sys::fuzz_target;
use std::net::Ipv6Addr;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let key = Key::new("k", KeyType::HmacSha256, vec![3; 64]).expect("valid key");
    let mut rx = Authenticator::new(vec![key.clone()], [5; 32], 4);
    let mut senders: Vec<Authenticator> = (0..4u8)
        .map(|i| Authenticator::new(vec![key.clone()], [i + 10; 32], 4))
        .collect();
    let mut now = Timestamp::from_secs(1);
    let config = Config {
        max_neighbours: 4,
        max_route_entries: 500,
        max_sources: 500,
        max_pending_requests: 32,
        max_queued_packets: 64,
        max_queued_events: 64,
        ..Config::default()
    };
    let mut node = Node::new(config, RouterId([2, 0, 0, 0, 0, 0, 0, 1]), 0, 7, now);
    let ours = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    node.handle_interface(
        now,
        InterfaceEvent::Up {
            ifindex: 1,
            name: "mesh0".into(),
            config: InterfaceConfig::wireless(),
            link_local: Some(ours),
            ipv4: None,
            mtu: 1500,
        },
    );
    let mut replies = Vec::new();
    let mut buf = Vec::new();
    let mut rest = data;
    let mut steps = 0;
    while rest.len() >= 4 && steps < 500 {
        steps += 1;
        let (flags, who, dt, len) = (rest[0], rest[1] % 4, rest[2], rest[3] as usize);
        rest = &rest[4..];
        let body = &rest[..len.min(rest.len())];
        rest = &rest[body.len()..];
        now += Duration::from_millis(dt as u64 * 20);
        let src = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, who as u16 + 2);
        let multicast = flags & 4 != 0;
        let ph = PseudoHeader {
            src,
            src_port: 6696,
            dst: if multicast { "ff02::1:6".parse().expect("valid") } else { ours },
            dst_port: 6696,
        };
        let mut packet = vec![42, 2];
        packet.extend_from_slice(&(body.len() as u16).to_be_bytes());
        packet.extend_from_slice(body);
        let packet = match flags & 3 {
            // Sealed by a sender with the key: PC and MAC in place.
            0 => senders[who as usize].seal(&packet, &ph).unwrap_or(packet),
            // Signed without a counter.
            1 => {
                sign(&mut packet, std::slice::from_ref(&key), &ph);
                packet
            }
            // Raw bytes as they came.
            _ => body.to_vec(),
        };
        if rx.open(now.as_millis(), &packet, &ph, multicast, &mut replies).is_ok() {
            node.handle_packet(now, 1, src, multicast, &packet);
        }
        // The senders answer our challenges, as babeld would.
        for r in replies.drain(..) {
            if let AuthReply::ChallengeRequest { to, nonce } = r {
                let i = (to.segments()[7].saturating_sub(2) as usize).min(3);
                let mut e = Encoder::new(1400, Some(to));
                if e.push(&Tlv::ChallengeReply(nonce)).is_ok() {
                    for p in e.finish() {
                        let back = PseudoHeader { src: to, dst: ours, ..ph };
                        if let Some(sealed) = senders[i].seal(&p, &back) {
                            let mut ignored = Vec::new();
                            let _ = rx.open(now.as_millis(), &sealed, &back, false, &mut ignored);
                        }
                    }
                }
            }
        }
        node.handle_timeout(now);
        while node.poll_transmit(now, &mut buf).is_some() {}
        while node.poll_route().is_some() {}
        while node.poll_event().is_some() {}
        assert!(rx.tracked_neighbours() <= 4);
    }
});
