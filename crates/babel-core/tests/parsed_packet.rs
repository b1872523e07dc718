//! `Node::handle_parsed_packet` (a datagram parsed once for every node that receives it, as
//! the simulator does with a multicast) does exactly what `Node::handle_packet` does with
//! the same bytes: the same packets sent, routes installed, events and counters, for
//! well-formed traffic and for datagrams that are dropped or partly ignored.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use babel_core::wire::{Encoder, Hello, Ihu, RouterId, Tlv, Update, INFINITY};
use babel_core::{Config, InterfaceConfig, InterfaceEvent, Node, ParsedPacket, Timestamp};

const OUR_LL: &str = "fe80::1";

fn node() -> Node {
    let mut n = Node::new(
        Config::default(),
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

/// The datagrams of one round from neighbour `k` (fe80::k): a hello, an IHU for us and
/// updates of a few destinations (some retracted), then the malformed ones.
fn round(k: u16, r: u16) -> Vec<Vec<u8>> {
    let src = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, k);
    let mut e = Encoder::new(1400, Some(src));
    e.push(&Tlv::Hello(Hello {
        flags: 0,
        seqno: r,
        interval: 400,
        timestamp: None,
        unknown_subtlvs: vec![],
    }))
    .unwrap();
    e.push(&Tlv::Ihu(Ihu {
        rxcost: 96,
        interval: 1200,
        addr: Some(IpAddr::V6(OUR_LL.parse().unwrap())),
        timestamps: None,
        unknown_subtlvs: vec![],
    }))
    .unwrap();
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
    assert!(packets.len() >= 2, "a batch boundary inside a datagram");
    let good = packets[0].clone();
    // A bad header.
    let mut bad = good.clone();
    bad[0] = 43;
    packets.push(bad);
    // A TLV that overruns the body: the rest of the datagram is lost.
    let mut body = good[4..].to_vec();
    body.extend_from_slice(&[8, 200, 1, 2]);
    packets.push(with_body(&body));
    // An update with a prefix longer than its address (ignored), between good TLVs.
    let mut body = good[4..40.min(good.len())].to_vec();
    body.extend_from_slice(&[8, 10, 2, 0, 200, 0, 0, 0, 1, 0, 0, 0]);
    body.extend_from_slice(&good[4..]);
    packets.push(with_body(&body));
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
    for r in 1..40u16 {
        for k in [2u16, 3] {
            let src = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, k);
            for p in round(k, r) {
                now += Duration::from_millis(7);
                a.handle_packet(now, 1, src, true, &p);
                b.handle_parsed_packet(now, 1, src, true, &ParsedPacket::parse(src, &p));
                assert_eq!(outputs(&mut a, now), outputs(&mut b, now), "round {r}");
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
    assert!(handled > 400);
    let s = a.stats();
    assert!(s.updates_received > 1000 && s.packets_dropped > 0 && s.tlvs_ignored > 0);
    assert!(a.reported_routes().count() > 0);
}
