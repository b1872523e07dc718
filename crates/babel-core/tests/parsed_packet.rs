//! `Node::handle_parsed_packet` (a datagram parsed once for every node that receives it, as
//! the simulator does with a multicast) does exactly what `Node::handle_packet` does with
//! the same bytes: the same packets sent, routes installed, events and counters, for
//! well-formed traffic and for datagrams that are dropped or partly ignored.

use std::net::Ipv6Addr;
use std::time::Duration;

use babel_core::wire::{self, Encoder, RouterId, Tlv, Update, INFINITY};
use babel_core::{Config, InterfaceConfig, InterfaceEvent, Node, PreparsedPacket, Timestamp};

mod common;
use common::tlvs::{hello, ihu};

const OUR_LL: &str = "fe80::1";

fn node() -> Node {
    // Two neighbours fit; the third sender is refused.
    let config = Config {
        max_neighbours: 2,
        ..Config::default()
    };
    let mut n = Node::new(
        config,
        RouterId([2, 0, 0, 0, 0, 0, 0, 1]),
        1,
        99,
        Timestamp::from_secs(1),
    );
    n.handle_interface(
        Timestamp::from_secs(1),
        InterfaceEvent::Up {
            ifindex: 1,
            name: "eth0".into(),
            config: InterfaceConfig::wired(),
            link_local: Some(OUR_LL.parse().unwrap()),
            ipv4: None,
            mtu: 1500,
        },
    );
    n
}

/// Everything the node has to say at `now`, in order.
fn outputs(n: &mut Node, now: Timestamp) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(t) = n.poll_transmit(now, &mut buf) {
        out.push(format!("tx {t:?} {:?}", &buf[..t.len.min(buf.len())]));
    }
    while let Some(r) = n.poll_route() {
        out.push(format!("route {r:?}"));
    }
    while let Some(e) = n.poll_event() {
        out.push(format!("event {e:?}"));
    }
    out.push(format!("stats {:?}", n.stats()));
    out
}

fn with_body(body: &[u8]) -> Vec<u8> {
    let mut p = vec![42, 2];
    p.extend_from_slice(&(body.len() as u16).to_be_bytes());
    p.extend_from_slice(body);
    p
}

/// The body of a datagram (its TLVs) as the encoder frames them.
fn body(p: &[u8]) -> &[u8] {
    &p[4..]
}

/// How many TLVs a datagram's body holds.
fn tlv_count(p: &[u8]) -> usize {
    wire::TlvIter::new(body(p)).count()
}

/// The datagrams of one round from `src`: a hello, an IHU for us and updates of a few
/// destinations (some retracted), then the malformed ones.
fn round(src: Ipv6Addr, r: u16) -> Vec<Vec<u8>> {
    let k = src.segments()[7];
    let greeting = [hello(r, false), ihu(OUR_LL.parse().unwrap(), 96)];
    let mut e = Encoder::new(1400, Some(src));
    for t in &greeting {
        e.push(t).unwrap();
    }
    for d in 0..80u16 {
        let retracted = (d + r) % 17 == 0;
        e.push(&Tlv::Update(Update {
            flags: 0,
            interval: 400,
            seqno: r / 3,
            metric: if retracted {
                INFINITY
            } else {
                96 * (1 + d % 5) + r
            },
            prefix: Some(format!("2001:db8:{d:x}::/48").parse().unwrap()),
            src_prefix: None,
            router_id: Some(RouterId([2, 0, 0, 0, 0, 0, (d >> 8) as u8, d as u8 + 2])),
            next_hop: None,
            unknown_subtlvs: vec![],
        }))
        .unwrap();
    }
    let mut packets = e.finish();
    assert!(
        tlv_count(&packets[0]) > 32,
        "a batch boundary inside a datagram"
    );
    let good = packets[0].clone();
    let mut e = Encoder::new(1400, Some(src));
    for t in &greeting {
        e.push(t).unwrap();
    }
    let greeting = e.finish().remove(0);
    // A bad header.
    let mut bad = good.clone();
    bad[0] = 43;
    packets.push(bad);
    // A TLV that overruns the body: the rest of the datagram is lost.
    let mut b = body(&good).to_vec();
    b.extend_from_slice(&[8, 200, 1, 2]);
    packets.push(with_body(&b));
    // An update with a prefix longer than its address (ignored), between good TLVs.
    let mut b = body(&greeting).to_vec();
    b.extend_from_slice(&[8, 10, 2, 0, 200, 0, 0, 0, 1, 0, 0, 0]);
    b.extend_from_slice(body(&good));
    packets.push(with_body(&b));
    // An empty body.
    packets.push(with_body(&[]));
    // Noise after a valid header.
    let noise: Vec<u8> = (0..200u16)
        .map(|i| (i.wrapping_mul(31) ^ r ^ k) as u8)
        .collect();
    packets.push(with_body(&noise));
    packets
}

#[test]
fn a_parsed_datagram_is_handled_exactly_as_its_bytes() {
    let (mut a, mut b) = (node(), node());
    let mut now = Timestamp::from_secs(1);
    let mut handled = 0;
    // Two neighbours, one refused (the node holds two), our own address looped back, a
    // source that is not link-local; and a datagram on an interface the node does not have.
    let senders = ["fe80::2", "fe80::3", "fe80::4", OUR_LL, "2001:db8::5"];
    for r in 1..40u16 {
        for (s, src) in senders.iter().enumerate() {
            let src: Ipv6Addr = src.parse().unwrap();
            let ifindex = if r % 10 == 9 && s == 0 { 9 } else { 1 };
            for p in round(src, r) {
                now += Duration::from_millis(7);
                a.handle_packet(now, ifindex, src, true, &p);
                b.handle_parsed_packet(now, ifindex, true, &PreparsedPacket::parse(src, &p));
                assert_eq!(
                    outputs(&mut a, now),
                    outputs(&mut b, now),
                    "round {r} from {src}"
                );
                handled += 1;
            }
        }
        now += Duration::from_secs(1);
        for n in [&mut a, &mut b] {
            if n.poll_timeout().is_some_and(|t| t <= now) {
                n.handle_timeout(now);
            }
        }
        assert_eq!(outputs(&mut a, now), outputs(&mut b, now), "round {r}");
    }
    assert!(handled > 1000);
    let s = a.stats();
    assert!(s.updates_received > 1000 && s.packets_dropped > 0 && s.tlvs_ignored > 0);
    assert!(s.over_limit > 0, "the third neighbour was refused: {s:?}");
    assert!(a.reported_routes().count() > 0);
}
