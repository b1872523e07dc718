//! Golden tests: packets captured from a real babeld 1.12 (see `tests/data/README.md` and
//! `tests/data/capture.sh`) must parse without a single ignored TLV, carry what each scenario
//! produced, and survive a round trip through our encoder.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use babel_core::wire::{
    ae, for_each_tlv, max_payload_for_mtu, tlv_type, Encoder, Packet, ParsedPacket, Prefix,
    RouterId, Tlv, TlvIter, Update, INFINITY, UPDATE_FLAG_DEFAULT_PREFIX, UPDATE_FLAG_ROUTER_ID,
};
use common::{
    babel_datagram, read_babel_datagrams, Datagram, CAPTURES, LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2,
};

/// The router-id capture.sh gives node N (a = 1, b = 2, c = 3).
fn rid(n: u8) -> RouterId {
    RouterId([0x02, 0xbc, 0, 0, 0, 0, 0, n])
}

/// The link-local address of a veth end whose MAC capture.sh fixed to 02:bc:00:00:XX:YY.
fn link_local(xx: u8, yy: u8) -> Ipv6Addr {
    Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        0x00bc,
        0x00ff,
        0xfe00,
        u16::from_be_bytes([xx, yy]),
    )
}

fn p(s: &str) -> Prefix {
    s.parse().unwrap_or_else(|e| panic!("bad prefix {s}: {e}"))
}

/// Every datagram of a capture with its parse, asserting that the parse lost nothing.
fn parsed(name: &str) -> Vec<(Datagram, ParsedPacket)> {
    read_babel_datagrams(name)
        .into_iter()
        .map(|d| {
            let pkt = d.parse();
            assert!(
                pkt.errors.is_empty(),
                "{name} frame {}: TLVs ignored: {:?}",
                d.frame,
                pkt.errors
            );
            (d, pkt)
        })
        .collect()
}

/// Every update of a capture with the datagram it came in.
fn updates(packets: &[(Datagram, ParsedPacket)]) -> Vec<(&Datagram, &Update)> {
    packets
        .iter()
        .flat_map(|(d, pkt)| {
            pkt.tlvs.iter().filter_map(move |t| match t {
                Tlv::Update(u) => Some((d, u)),
                _ => None,
            })
        })
        .collect()
}

/// (router-id, prefix) of every update that announces a route (not a retraction).
fn announced(packets: &[(Datagram, ParsedPacket)]) -> BTreeSet<(RouterId, Prefix)> {
    updates(packets)
        .into_iter()
        .filter(|(_, u)| !u.is_retraction())
        .map(|(d, u)| {
            let prefix = u.prefix.expect("a route with a metric has a prefix");
            let id = u
                .router_id
                .unwrap_or_else(|| panic!("frame {}: update without router-id", d.frame));
            (id, prefix)
        })
        .collect()
}

/// The updates of a packet whose TLV on the wire had the given AE and Omitted fields, as
/// decided by `keep(ae, omitted)`, paired with that raw TLV's offset.
fn updates_with_raw(d: &Datagram, keep: impl Fn(u8, u8) -> bool) -> Vec<Update> {
    let packet = Packet::new_checked(&d.payload[..]).expect("valid packet");
    let wanted: BTreeSet<usize> = {
        let mut iter = TlvIter::new(packet.body());
        let mut offsets = BTreeSet::new();
        loop {
            let offset = iter.offset();
            match iter.next() {
                Some(Ok(raw))
                    if raw.tlv_type == tlv_type::UPDATE
                        && raw.body.len() >= 4
                        && keep(raw.body[0], raw.body[3]) =>
                {
                    offsets.insert(offset);
                }
                Some(_) => {}
                None => break,
            }
        }
        offsets
    };
    let mut out = Vec::new();
    for_each_tlv(packet.body(), d.src_v6(), |offset, r| {
        if wanted.contains(&offset) {
            match r {
                Ok(Tlv::Update(u)) => out.push(u),
                other => panic!("frame {}: update at {offset} parsed as {other:?}", d.frame),
            }
        }
    });
    out
}

#[test]
fn every_captured_packet_parses_without_ignored_tlvs() {
    for name in CAPTURES {
        let packets = parsed(name);
        let mut counts: BTreeMap<u8, usize> = BTreeMap::new();
        for (d, pkt) in &packets {
            assert!(!pkt.tlvs.is_empty(), "{name} frame {}: empty body", d.frame);
            for t in pkt.tlvs.iter().chain(&pkt.trailer) {
                assert!(
                    !matches!(t, Tlv::Unknown { .. }),
                    "{name} frame {}: babeld sent a TLV we do not know: {t:?}",
                    d.frame
                );
                *counts.entry(t.tlv_type()).or_default() += 1;
            }
            if *name != "hmac" {
                assert!(pkt.trailer.is_empty(), "{name} frame {}: trailer", d.frame);
            }
        }
        println!(
            "{name}: {} packets, TLV type counts {counts:?}",
            packets.len()
        );
    }
}

#[test]
fn basic_line_of_three_nodes() {
    let packets = parsed("basic");
    let all: Vec<&Tlv> = packets.iter().flat_map(|(_, p)| &p.tlvs).collect();

    // Start-up: wildcard route requests and wildcard retractions (RFC 8966: a starting node asks for a full dump).
    assert!(all
        .iter()
        .any(|t| matches!(t, Tlv::RouteRequest(r) if r.prefix.is_none())));
    assert!(all
        .iter()
        .any(|t| matches!(t, Tlv::Update(u) if u.prefix.is_none() && u.metric == INFINITY)));

    // Hellos from both ends of the link, and IHUs naming the other end.
    let a = link_local(0x0a, 0x0b);
    let b = link_local(0x0b, 0x0a);
    for (me, other) in [(a, b), (b, a)] {
        let mine: Vec<&Tlv> = packets
            .iter()
            .filter(|(d, _)| d.src == IpAddr::V6(me))
            .flat_map(|(_, p)| &p.tlvs)
            .collect();
        assert!(mine
            .iter()
            .any(|t| matches!(t, Tlv::Hello(h) if h.interval == 400 && !h.is_unicast())));
        assert!(
            mine.iter().any(|t| matches!(t, Tlv::Ihu(i)
                if i.addr == Some(IpAddr::V6(other)) && i.rxcost < INFINITY)),
            "no IHU from {me} about {other}"
        );
    }

    // Every node's four prefixes, with its router-id, reach the middle link; nothing else.
    let mut expected = BTreeSet::new();
    for n in 1..=3u8 {
        expected.insert((rid(n), p(&format!("192.0.2.{n}/32"))));
        expected.insert((rid(n), p(&format!("2001:db8:0:{n}::1/128"))));
        expected.insert((rid(n), p(&format!("198.51.100.{}/28", 16 * n))));
        expected.insert((rid(n), p(&format!("2001:db8:{n}::/48"))));
    }
    assert_eq!(announced(&packets), expected);

    // IPv4 routes go through the sender's IPv4 address on the link (a Next Hop TLV), IPv6
    // routes through the packet's source address.
    for (d, u) in updates(&packets) {
        let Some(prefix) = u.prefix else { continue };
        let want = if prefix.is_v4() {
            match d.src {
                IpAddr::V6(s) if s == a => IpAddr::V4(Ipv4Addr::new(10, 12, 0, 1)),
                _ => IpAddr::V4(Ipv4Addr::new(10, 12, 0, 2)),
            }
        } else {
            d.src
        };
        assert_eq!(u.next_hop, Some(want), "frame {}: {prefix}", d.frame);
        // Routes a originates have metric 0 on this link; c's have crossed one hop.
        if u.router_id == Some(rid(3)) && !u.is_retraction() {
            assert!(u.metric > 0, "frame {}: {prefix}", d.frame);
        }
    }
}

#[test]
fn timestamps_answer_the_hellos_they_echo() {
    let packets = parsed("timestamps");
    // RFC 9616: every hello of an interface with timestamps carries one.
    let mut hello_ts: BTreeMap<IpAddr, BTreeSet<u32>> = BTreeMap::new();
    let mut ihus = 0;
    for (d, pkt) in &packets {
        for t in &pkt.tlvs {
            match t {
                Tlv::Hello(h) => {
                    let ts = h
                        .timestamp
                        .unwrap_or_else(|| panic!("frame {}: hello without timestamp", d.frame));
                    hello_ts.entry(d.src).or_default().insert(ts);
                }
                // RFC 9616: the origin timestamp of an IHU is the timestamp of the last
                // hello received from the neighbour it is about.
                Tlv::Ihu(i) => {
                    let Some(ts) = i.timestamps else { continue };
                    let about = i.addr.expect("IHU names its neighbour");
                    assert!(
                        hello_ts.get(&about).is_some_and(|s| s.contains(&ts.origin)),
                        "frame {}: IHU origin {} is no hello timestamp of {about}",
                        d.frame,
                        ts.origin
                    );
                    ihus += 1;
                }
                _ => {}
            }
        }
    }
    assert_eq!(hello_ts.len(), 2, "hellos from both nodes");
    assert!(ihus >= 2, "only {ihus} IHUs with timestamps");
}

#[test]
fn compressed_prefixes_expand_inside_their_48() {
    let packets = parsed("compressed");
    let block = p("2001:db8:77::/48");
    let mut compressed_v6 = 0;
    for (d, _) in &packets {
        for u in updates_with_raw(d, |_, omitted| omitted > 0) {
            let prefix = u.prefix.expect("compressed update has a prefix");
            if prefix.is_v6() && prefix.plen() == 64 {
                assert!(block.contains(&prefix), "frame {}: {prefix}", d.frame);
                compressed_v6 += 1;
            }
        }
    }
    assert!(
        compressed_v6 >= 40,
        "only {compressed_v6} compressed /64 updates"
    );

    let ours: BTreeSet<Prefix> = announced(&packets)
        .into_iter()
        .filter(|(id, _)| *id == rid(1))
        .map(|(_, p)| p)
        .collect();
    let mut expected: BTreeSet<Prefix> = (0..50)
        .map(|i| p(&format!("2001:db8:77:{}::/64", i * 3 + 1)))
        .collect();
    expected.extend((0..30).map(|i| p(&format!("198.18.{}.0/24", i * 5 + 2))));
    expected.insert(p("192.0.2.1/32"));
    expected.insert(p("2001:db8:0:1::1/128"));
    assert_eq!(ours, expected);
}

#[test]
fn v4_via_v6_updates_carry_ipv4_prefixes_through_ipv6_next_hops() {
    let packets = parsed("v4viav6");
    let mut seen = BTreeSet::new();
    for (d, _) in &packets {
        for u in updates_with_raw(d, |ae_code, _| ae_code == ae::V4_VIA_V6) {
            assert!(u.is_v4_via_v6(), "frame {}: {u:?}", d.frame);
            // RFC 9229: with no Next Hop TLV, the next hop is the packet's source.
            assert_eq!(u.next_hop, Some(d.src), "frame {}", d.frame);
            seen.insert(u.prefix.expect("AE 4 has a prefix"));
        }
    }
    for want in ["198.51.100.16/28", "198.51.100.32/28", "192.0.2.1/32"] {
        assert!(seen.contains(&p(want)), "no AE 4 update for {want}");
    }
    // There is no IPv4 address on the link, so no IPv4 next hop anywhere.
    for (d, u) in updates(&packets) {
        assert!(
            !matches!(u.next_hop, Some(IpAddr::V4(_))),
            "frame {}: {u:?}",
            d.frame
        );
    }
}

#[test]
fn source_specific_updates_carry_their_source_prefix() {
    let packets = parsed("source-specific");
    let pairs: BTreeSet<(Prefix, Option<Prefix>)> = updates(&packets)
        .into_iter()
        .filter(|(_, u)| u.router_id == Some(rid(1)) && !u.is_retraction())
        .filter_map(|(_, u)| Some((u.prefix?, u.src_prefix)))
        .collect();
    let expected: BTreeSet<(Prefix, Option<Prefix>)> = [
        ("2001:db8:5::/48", Some("2001:db8:100::/56")),
        ("2001:db8:6::/48", Some("2001:db8:200::/48")),
        ("2001:db8:0:1::1/128", None),
        ("192.0.2.1/32", None),
    ]
    .into_iter()
    .map(|(d, s)| (p(d), s.map(p)))
    .collect();
    assert_eq!(pairs, expected);

    // When a stops, b asks for the source-specific routes it lost, source prefix included.
    let asked: BTreeSet<(Option<Prefix>, Option<Prefix>)> = packets
        .iter()
        .flat_map(|(_, pkt)| &pkt.tlvs)
        .filter_map(|t| match t {
            Tlv::RouteRequest(r) => Some((r.prefix, r.src_prefix)),
            _ => None,
        })
        .collect();
    for (d, s) in [
        ("2001:db8:5::/48", "2001:db8:100::/56"),
        ("2001:db8:6::/48", "2001:db8:200::/48"),
    ] {
        assert!(
            asked.contains(&(Some(p(d)), Some(p(s)))),
            "no route request for {d} from {s}: {asked:?}"
        );
    }
}

#[test]
fn requests_for_lost_routes() {
    let packets = parsed("requests");
    let all: Vec<&Tlv> = packets.iter().flat_map(|(_, p)| &p.tlvs).collect();
    assert!(all
        .iter()
        .any(|t| matches!(t, Tlv::RouteRequest(r) if r.prefix.is_none())));
    let specific: BTreeSet<Prefix> = all
        .iter()
        .filter_map(|t| match t {
            Tlv::RouteRequest(r) => r.prefix,
            _ => None,
        })
        .collect();
    assert!(!specific.is_empty(), "no route request for a prefix");

    let seqno: Vec<_> = all
        .iter()
        .filter_map(|t| match t {
            Tlv::SeqnoRequest(r) => Some(r),
            _ => None,
        })
        .collect();
    assert!(seqno.len() >= 2, "only {} seqno requests", seqno.len());
    for r in &seqno {
        assert!(r.hop_count >= 1 && r.router_id.is_valid(), "{r:?}");
        assert!([rid(1), rid(2), rid(3)].contains(&r.router_id), "{r:?}");
    }
    // The link a - b is cut: b asks for a fresh seqno of a's source-specific route too.
    assert!(
        seqno.iter().any(|r| r.router_id == rid(1)
            && r.prefix == p("2001:db8:5::/48")
            && r.src_prefix == Some(p("2001:db8:100::/56"))),
        "no seqno request for a's source-specific route: {seqno:?}"
    );
}

#[test]
fn hmac_packets_carry_pc_and_mac_and_answer_challenges() {
    let packets = parsed("hmac");
    let mut last_pc: BTreeMap<IpAddr, u32> = BTreeMap::new();
    let mut requests: BTreeMap<IpAddr, Vec<Vec<u8>>> = BTreeMap::new();
    let mut replies = 0;
    for (d, pkt) in &packets {
        // RFC 8967: one MAC per key in the trailer; HMAC-SHA256 is 32 octets.
        assert_eq!(pkt.trailer.len(), 1, "frame {}", d.frame);
        assert!(
            matches!(&pkt.trailer[0], Tlv::Mac(m) if m.len() == 32),
            "frame {}",
            d.frame
        );
        // RFC 8967: exactly one PC per packet, increasing per sender.
        let pcs: Vec<u32> = pkt
            .tlvs
            .iter()
            .filter_map(|t| match t {
                Tlv::Pc(pc) => Some(pc.pc),
                _ => None,
            })
            .collect();
        assert_eq!(pcs.len(), 1, "frame {}", d.frame);
        if let Some(prev) = last_pc.insert(d.src, pcs[0]) {
            assert!(
                pcs[0] > prev,
                "frame {}: PC {} after {prev}",
                d.frame,
                pcs[0]
            );
        }
        for t in &pkt.tlvs {
            match t {
                Tlv::ChallengeRequest(n) => requests.entry(d.src).or_default().push(n.clone()),
                // RFC 8967: the reply echoes a nonce the other side sent us.
                Tlv::ChallengeReply(n) => {
                    let asked = requests.get(&d.dst).is_some_and(|v| v.contains(n));
                    assert!(
                        asked,
                        "frame {}: reply to a nonce {} never sent",
                        d.frame, d.dst
                    );
                    replies += 1;
                }
                _ => {}
            }
        }
    }
    assert_eq!(requests.len(), 2, "challenge requests from both nodes");
    assert!(replies >= 2, "only {replies} challenge replies");
}

/// Masks the update flags our encoder recomputes.
fn normalise(t: &Tlv) -> Tlv {
    match t {
        Tlv::Update(u) => Tlv::Update(Update {
            flags: u.flags & !(UPDATE_FLAG_DEFAULT_PREFIX | UPDATE_FLAG_ROUTER_ID),
            ..u.clone()
        }),
        other => other.clone(),
    }
}

/// The TLVs that carry meaning on their own: Router-Id, Next Hop and padding only set up
/// the parse state, which the encoder rebuilds as it sees fit.
fn meaningful(tlvs: &[Tlv]) -> Vec<Tlv> {
    tlvs.iter()
        .filter(|t| {
            !matches!(
                t,
                Tlv::RouterId(_) | Tlv::NextHop(_) | Tlv::Pad1 | Tlv::PadN(_)
            )
        })
        .map(normalise)
        .collect()
}

#[test]
fn captured_tlvs_survive_our_encoder() {
    let max = max_payload_for_mtu(1500);
    for name in CAPTURES {
        let (mut babeld_bytes, mut our_bytes) = (0usize, 0usize);
        for (d, pkt) in parsed(name) {
            let original = meaningful(&pkt.tlvs);
            let mut enc = Encoder::new(max, d.src_v6());
            for t in &original {
                enc.push(t)
                    .unwrap_or_else(|e| panic!("{name} frame {}: {e}: {t:?}", d.frame));
            }
            let mut again = Vec::new();
            for bytes in enc.finish() {
                our_bytes += bytes.len();
                let re = babel_core::wire::parse_packet(&bytes, d.src_v6())
                    .unwrap_or_else(|e| panic!("{name} frame {}: {e}", d.frame));
                assert!(
                    re.errors.is_empty(),
                    "{name} frame {}: {:?}",
                    d.frame,
                    re.errors
                );
                assert!(re.trailer.is_empty());
                again.extend(meaningful(&re.tlvs));
            }
            babeld_bytes += Packet::new_checked(&d.payload[..])
                .expect("valid")
                .header_and_body()
                .len();
            assert_eq!(again, original, "{name} frame {}", d.frame);

            // Trailer TLVs (MACs) carry no parse state: each one on its own.
            for t in &pkt.trailer {
                let mut bytes = Vec::new();
                babel_core::wire::emit_stateless(&mut bytes, t).expect("trailer TLV encodes");
                let mut back = Vec::new();
                for_each_tlv(&bytes, None, |_, r| back.push(r.expect("parses back")));
                assert_eq!(back, vec![t.clone()], "{name} frame {}", d.frame);
            }
        }
        println!("{name}: babeld sent {babeld_bytes} bytes of header and body, we re-encode them in {our_bytes}");
    }
}

/// The committed captures are all Ethernet; captures on Linux's "any" device use cooked
/// headers. Rebuild a captured frame under each header and check the same datagram comes out.
#[test]
fn cooked_link_layers_give_the_same_datagrams() {
    let data = std::fs::read(common::capture_path("basic")).expect("read capture");
    let d = &read_babel_datagrams("basic")[0];
    // The Ethernet frame of the first datagram: find its IPv6 header after 14 octets.
    let eth_start = data
        .windows(d.payload.len())
        .position(|w| w == d.payload.as_slice())
        .expect("payload is in the file")
        - 48
        - 14;
    let frame = &data[eth_start..eth_start + 14 + 48 + d.payload.len()];
    assert_eq!(frame[12..14], [0x86, 0xdd], "an IPv6 Ethernet frame");
    let ip = &frame[14..];

    let mut sll = vec![
        0, 0, 0, 1, 0, 6, 2, 0xbc, 0, 0, 0x0a, 0x0b, 0, 0, 0x86, 0xdd,
    ];
    sll.extend_from_slice(ip);
    let mut sll2 = vec![
        0x86, 0xdd, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0xbc, 0, 0, 0x0a, 0x0b, 0, 0,
    ];
    sll2.extend_from_slice(ip);
    for (linktype, bytes) in [
        (LINKTYPE_ETHERNET, frame.to_vec()),
        (LINKTYPE_LINUX_SLL, sll),
        (LINKTYPE_LINUX_SLL2, sll2),
    ] {
        let got = babel_datagram(linktype, 1, &bytes)
            .unwrap_or_else(|| panic!("{linktype:?}: no datagram"));
        assert_eq!((got.src, got.dst), (d.src, d.dst), "{linktype:?}");
        assert_eq!(got.payload, d.payload, "{linktype:?}");
    }
}
