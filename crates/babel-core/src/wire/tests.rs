//! Wire tests on static packet bytes, named after the RFC sections they check.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;

fn ll(last: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, last)
}

fn packet(body: &[u8]) -> Vec<u8> {
    let mut p = vec![42, 2];
    p.extend_from_slice(&(body.len() as u16).to_be_bytes());
    p.extend_from_slice(body);
    p
}

fn pfx(s: &str) -> Prefix {
    s.parse().unwrap()
}

/// The prefixes of the updates of a packet, in order.
fn update_prefixes(p: &ParsedPacket) -> Vec<Prefix> {
    p.tlvs
        .iter()
        .filter_map(|t| {
            if let Tlv::Update(u) = t {
                u.prefix
            } else {
                None
            }
        })
        .collect()
}

const ID: RouterId = RouterId([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0, 0x11]);

#[test]
fn rfc8966_4_2_header_checks() {
    assert_eq!(
        parse_packet(&[42], None),
        Err(PacketError::TooShort { len: 1 })
    );
    assert_eq!(
        parse_packet(&[43, 2, 0, 0], None),
        Err(PacketError::BadMagic(43))
    );
    assert_eq!(
        parse_packet(&[42, 1, 0, 0], None),
        Err(PacketError::BadVersion(1))
    );
    assert_eq!(
        parse_packet(&[42, 2, 0, 5, 0], None),
        Err(PacketError::BodyOverrun {
            body_len: 5,
            available: 1
        })
    );
    let p = parse_packet(&[42, 2, 0, 0], None).unwrap();
    assert!(p.tlvs.is_empty() && p.trailer.is_empty() && p.errors.is_empty());
}

#[test]
fn rfc8966_4_6_5_hello_with_rfc9616_timestamp() {
    // Hello: flags 0x8000 (unicast), seqno 0x1234, interval 400 cs, timestamp sub-TLV.
    let body = [
        4, 12, 0x80, 0, 0x12, 0x34, 0x01, 0x90, 3, 4, 0, 0, 0x30, 0x39,
    ];
    let p = parse_packet(&packet(&body), Some(ll(1))).unwrap();
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let Tlv::Hello(h) = &p.tlvs[0] else {
        panic!("{:?}", p.tlvs)
    };
    assert!(h.is_unicast());
    assert_eq!(
        (h.seqno, h.interval, h.timestamp),
        (0x1234, 400, Some(12345))
    );
    let mut e = Encoder::new(1400, Some(ll(1)));
    e.push(&p.tlvs[0]).unwrap();
    assert_eq!(
        e.finish(),
        vec![packet(&body)],
        "hello re-emits identically"
    );
}

#[test]
fn rfc8966_4_6_6_ihu_link_local_ae3_with_timestamps() {
    let mut body = vec![5, 24, 3, 0, 0x01, 0x00, 0x05, 0xdc];
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 2]);
    body.extend_from_slice(&[3, 8, 0, 0, 0, 1, 0, 0, 0, 2]);
    let p = parse_packet(&packet(&body), Some(ll(1))).unwrap();
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let Tlv::Ihu(i) = &p.tlvs[0] else { panic!() };
    assert_eq!(i.rxcost, 256);
    assert_eq!(i.interval, 1500);
    assert_eq!(i.addr, Some(IpAddr::V6(ll(2))));
    assert_eq!(
        i.timestamps,
        Some(IhuTimestamps {
            origin: 1,
            receive: 2
        })
    );
    let mut out = Vec::new();
    emit_stateless(&mut out, &p.tlvs[0]).unwrap();
    assert_eq!(out, body);
}

/// Three updates as babeld sends them: the first sets the default prefix (flag 0x80),
/// the next ones omit the octets they share with it.
fn compressed_updates_body() -> Vec<u8> {
    let mut b = vec![6, 10, 0, 0];
    b.extend_from_slice(&ID.0);
    // fd77:0:0:1::/64, flags 0x80, omitted 0
    b.extend_from_slice(&[8, 18, 2, 0x80, 64, 0, 0x06, 0x40, 0, 7, 0, 96]);
    b.extend_from_slice(&[0xfd, 0x77, 0, 0, 0, 0, 0, 1]);
    // fd77:0:0:2::/64, omitted 7 (flag 0x80 again, as babeld does for plen >= 48)
    b.extend_from_slice(&[8, 11, 2, 0x80, 64, 7, 0x06, 0x40, 0, 7, 0, 96, 2]);
    // fd77:0:0:2:1::/80 omits 9 octets against fd77:0:0:2::
    b.extend_from_slice(&[8, 11, 2, 0x80, 80, 9, 0x06, 0x40, 0, 7, 0, 96, 1]);
    b
}

#[test]
fn rfc8966_4_6_9_update_prefix_compression_is_undone() {
    let p = parse_packet(&packet(&compressed_updates_body()), Some(ll(9))).unwrap();
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let ups: Vec<&Update> = p
        .tlvs
        .iter()
        .filter_map(|t| {
            if let Tlv::Update(u) = t {
                Some(u)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(ups.len(), 3);
    assert_eq!(ups[0].prefix, Some(pfx("fd77:0:0:1::/64")));
    assert_eq!(ups[1].prefix, Some(pfx("fd77:0:0:2::/64")));
    assert_eq!(ups[2].prefix, Some(pfx("fd77:0:0:2:1::/80")));
    for u in &ups {
        assert_eq!(u.router_id, Some(ID));
        assert_eq!(
            u.next_hop,
            Some(IpAddr::V6(ll(9))),
            "next hop defaults to the source"
        );
        assert_eq!((u.interval, u.seqno, u.metric), (1600, 7, 96));
    }
}

#[test]
fn encoder_compresses_like_babeld_and_output_is_canonical() {
    let p = parse_packet(&packet(&compressed_updates_body()), Some(ll(9))).unwrap();
    let mut e = Encoder::new(1400, Some(ll(9)));
    for t in p.tlvs.iter().filter(|t| matches!(t, Tlv::Update(_))) {
        e.push(t).unwrap();
    }
    assert_eq!(e.finish(), vec![packet(&compressed_updates_body())]);
}

#[test]
fn rfc8966_4_6_9_omitted_without_default_prefix_is_ignored_and_parsing_goes_on() {
    let mut b = vec![6, 10, 0, 0];
    b.extend_from_slice(&ID.0);
    b.extend_from_slice(&[8, 11, 2, 0, 64, 7, 0, 100, 0, 1, 0, 10, 2]);
    b.extend_from_slice(&[8, 13, 1, 0, 24, 0, 0, 100, 0, 1, 0, 10, 10, 1, 2]);
    let p = parse_packet(&packet(&b), Some(ll(1))).unwrap();
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].error, TlvError::NoDefaultPrefix { tlv_type: 8 });
    // The IPv4 update after it still parses; it has no IPv4 next hop yet.
    let Tlv::Update(u) = p.tlvs.last().unwrap() else {
        panic!()
    };
    assert_eq!(u.prefix, Some(pfx("10.1.2.0/24")));
    assert_eq!(u.next_hop, None);
}

#[test]
fn rfc8966_4_6_9_router_id_flag_takes_low_octets_of_prefix() {
    let mut b = vec![8, 26, 2, 0xc0, 128, 0, 0, 100, 0, 1, 0, 0];
    b.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0]);
    b.extend_from_slice(&ID.0);
    let p = parse_packet(&packet(&b), Some(ll(1))).unwrap();
    let Tlv::Update(u) = &p.tlvs[0] else {
        panic!("{:?}", p)
    };
    assert_eq!(u.router_id, Some(ID));
    // And the encoder uses the flag instead of a Router-Id TLV, like babeld.
    let mut e = Encoder::new(1400, Some(ll(1)));
    e.push(&p.tlvs[0]).unwrap();
    assert_eq!(e.finish(), vec![packet(&b)]);
}

#[test]
fn rfc9229_ae4_update_has_ipv4_prefix_and_ipv6_next_hop() {
    let mut b = vec![6, 10, 0, 0];
    b.extend_from_slice(&ID.0);
    b.extend_from_slice(&[8, 13, 4, 0x80, 24, 0, 0, 100, 0, 3, 1, 0, 10, 200, 1]);
    let p = parse_packet(&packet(&b), Some(ll(5))).unwrap();
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let Tlv::Update(u) = &p.tlvs[1] else { panic!() };
    assert_eq!(u.prefix, Some(pfx("10.200.1.0/24")));
    assert_eq!(u.next_hop, Some(IpAddr::V6(ll(5))));
    assert!(u.is_v4_via_v6());
    let mut e = Encoder::new(1400, Some(ll(5)));
    e.push(&p.tlvs[1]).unwrap();
    assert_eq!(e.finish(), vec![packet(&b)]);
}

#[test]
fn rfc8966_4_6_8_next_hop_tlvs_set_the_next_hop_per_family() {
    let mut b = vec![7, 6, 1, 0, 192, 0, 2, 1];
    b.extend_from_slice(&[7, 10, 3, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
    b.extend_from_slice(&[6, 10, 0, 0]);
    b.extend_from_slice(&ID.0);
    b.extend_from_slice(&[8, 13, 1, 0, 24, 0, 0, 100, 0, 3, 1, 0, 10, 0, 1]);
    b.extend_from_slice(&[8, 12, 2, 0, 16, 0, 0, 100, 0, 3, 1, 0, 0x20, 0x01]);
    let p = parse_packet(&packet(&b), Some(ll(1))).unwrap();
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let ups: Vec<&Update> = p
        .tlvs
        .iter()
        .filter_map(|t| {
            if let Tlv::Update(u) = t {
                Some(u)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(
        ups[0].next_hop,
        Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
    );
    assert_eq!(ups[1].next_hop, Some(IpAddr::V6(ll(7))));
    assert_eq!(ups[1].prefix, Some(pfx("2001::/16")));
}

#[test]
fn rfc9079_source_prefix_subtlv_in_update_and_requests() {
    let mut b = vec![6, 10, 0, 0];
    b.extend_from_slice(&ID.0);
    // 2001:db8::/32 from fd00:1::/32: sub-TLV 128, length 5, plen 32, 4 octets.
    b.extend_from_slice(&[
        8, 21, 2, 0x00, 32, 0, 0, 100, 0, 3, 1, 0, 0x20, 0x01, 0x0d, 0xb8,
    ]);
    b.extend_from_slice(&[128, 5, 32, 0xfd, 0, 0, 1]);
    b.extend_from_slice(&[
        9, 13, 2, 32, 0x20, 0x01, 0x0d, 0xb8, 128, 5, 32, 0xfd, 0, 0, 1,
    ]);
    let p = parse_packet(&packet(&b), Some(ll(1))).unwrap();
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let Tlv::Update(u) = &p.tlvs[1] else { panic!() };
    assert_eq!(u.src_prefix, Some(pfx("fd00:1::/32")));
    let Tlv::RouteRequest(r) = &p.tlvs[2] else {
        panic!()
    };
    assert_eq!(r.prefix, Some(pfx("2001:db8::/32")));
    assert_eq!(r.src_prefix, Some(pfx("fd00:1::/32")));
}

#[test]
fn rfc8966_4_4_unknown_mandatory_subtlv_ignores_the_tlv_but_not_its_state() {
    // An update with flag 0x80 and an unknown mandatory sub-TLV 200: the update is ignored,
    // but the default prefix it set is used by the next update.
    let mut b = vec![6, 10, 0, 0];
    b.extend_from_slice(&ID.0);
    b.extend_from_slice(&[8, 20, 2, 0x80, 64, 0, 0, 100, 0, 1, 0, 5]);
    b.extend_from_slice(&[0xfd, 0x77, 0, 0, 0, 0, 0, 1, 200, 0]);
    b.extend_from_slice(&[8, 11, 2, 0, 64, 7, 0, 100, 0, 1, 0, 5, 9]);
    // An unknown non-mandatory sub-TLV is kept.
    b.extend_from_slice(&[4, 9, 0, 0, 0, 1, 0, 100, 77, 1, 0xab]);
    let p = parse_packet(&packet(&b), Some(ll(1))).unwrap();
    assert_eq!(
        p.errors.iter().map(|e| e.error.clone()).collect::<Vec<_>>(),
        vec![TlvError::UnknownMandatorySubTlv {
            tlv_type: 8,
            sub_type: 200
        }]
    );
    let Tlv::Update(u) = &p.tlvs[1] else {
        panic!("{:?}", p.tlvs)
    };
    assert_eq!(u.prefix, Some(pfx("fd77:0:0:9::/64")));
    let Tlv::Hello(h) = &p.tlvs[2] else { panic!() };
    assert_eq!(
        h.unknown_subtlvs,
        vec![UnknownSubTlv {
            sub_type: 77,
            body: vec![0xab]
        }]
    );
}

#[test]
fn rfc8966_4_3_unknown_tlv_is_kept_and_skipped() {
    let b = [99, 3, 1, 2, 3, 0, 1, 2, 0, 0];
    let p = parse_packet(&packet(&b), None).unwrap();
    assert_eq!(
        p.tlvs,
        vec![
            Tlv::Unknown {
                tlv_type: 99,
                body: vec![1, 2, 3]
            },
            Tlv::Pad1,
            Tlv::PadN(2)
        ]
    );
}

#[test]
fn truncated_tlv_stops_the_body_and_is_reported() {
    let b = [4, 6, 0, 0, 0, 1, 0, 100, 8, 200, 1];
    let p = parse_packet(&packet(&b), None).unwrap();
    assert_eq!(p.tlvs.len(), 1);
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].error, TlvError::Truncated { tlv_type: 8 });
    assert_eq!(p.errors[0].offset, 8);
}

#[test]
fn malformed_fields_give_typed_errors() {
    let cases: Vec<(Vec<u8>, TlvError)> = vec![
        (
            vec![8, 10, 9, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff],
            TlvError::UnknownAe { tlv_type: 8, ae: 9 },
        ),
        (
            vec![8, 14, 1, 0, 33, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4],
            TlvError::BadPlen {
                tlv_type: 8,
                ae: 1,
                plen: 33,
            },
        ),
        (
            vec![8, 12, 1, 0, 32, 5, 0, 0, 0, 0, 0, 1, 1, 2],
            TlvError::OmittedTooLong {
                tlv_type: 8,
                omitted: 5,
            },
        ),
        (
            vec![8, 12, 2, 0, 64, 0, 0, 0, 0, 0, 0, 1, 1, 2],
            TlvError::TooShort { tlv_type: 8 },
        ),
        (vec![4, 2, 0, 0], TlvError::TooShort { tlv_type: 4 }),
        (
            vec![10, 14, 0, 0, 0, 1, 5, 0, 1, 2, 3, 4, 5, 6, 7, 8],
            TlvError::UnknownAe {
                tlv_type: 10,
                ae: 0,
            },
        ),
        (
            vec![6, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            TlvError::InvalidRouterId,
        ),
        (
            vec![9, 5, 2, 8, 0xfd, 128, 0],
            TlvError::BadSubTlv { tlv_type: 9 },
        ),
        (
            vec![5, 6, 7, 0, 0, 1, 0, 1],
            TlvError::UnknownAe { tlv_type: 5, ae: 7 },
        ),
    ];
    for (body, want) in cases {
        let p = parse_packet(&packet(&body), Some(ll(1))).unwrap();
        assert_eq!(
            p.errors.iter().map(|e| e.error.clone()).collect::<Vec<_>>(),
            vec![want],
            "{body:?}"
        );
    }
}

#[test]
fn rfc8967_trailer_tlvs_are_parsed_separately() {
    let body = [17, 8, 0, 0, 0, 7, 1, 2, 3, 4, 18, 2, 9, 9];
    let mut p = packet(&body);
    p.extend_from_slice(&[16, 4, 0xde, 0xad, 0xbe, 0xef, 0]);
    let parsed = parse_packet(&p, None).unwrap();
    assert_eq!(
        parsed.tlvs,
        vec![
            Tlv::Pc(Pc {
                pc: 7,
                index: vec![1, 2, 3, 4]
            }),
            Tlv::ChallengeRequest(vec![9, 9])
        ]
    );
    assert_eq!(
        parsed.trailer,
        vec![Tlv::Mac(vec![0xde, 0xad, 0xbe, 0xef]), Tlv::Pad1]
    );
    let view = Packet::new_checked(&p[..]).unwrap();
    assert_eq!(view.body(), &body);
    assert_eq!(view.trailer().len(), 7);
}

#[test]
fn encoder_splits_at_mtu_and_repeats_state_in_each_packet() {
    let mut e = Encoder::new(max_payload_for_mtu(200), Some(ll(1)));
    let n = 100u16;
    let mut sent = Vec::new();
    for i in 0..n {
        let u = Update {
            flags: 0,
            interval: 1600,
            seqno: 1,
            metric: 96 + i,
            prefix: Some(Prefix::v6(Ipv6Addr::new(0xfd77, 0, 0, i, 0, 0, 0, 0), 64).unwrap()),
            src_prefix: None,
            router_id: Some(ID),
            next_hop: Some(IpAddr::V6(ll(1))),
            unknown_subtlvs: vec![],
        };
        e.push(&Tlv::Update(u.clone())).unwrap();
        sent.push(u);
    }
    let packets = e.finish();
    assert!(packets.len() > 5, "{} packets", packets.len());
    let mut got = Vec::new();
    for p in &packets {
        assert!(
            p.len() <= 152,
            "packet of {} bytes exceeds MTU budget",
            p.len()
        );
        let parsed = parse_packet(p, Some(ll(1))).unwrap();
        assert!(parsed.errors.is_empty());
        // Each packet names the router-id again: receivers keep no state across packets.
        assert!(matches!(parsed.tlvs[0], Tlv::RouterId(ID)));
        got.extend(parsed.tlvs.into_iter().filter_map(|t| match t {
            Tlv::Update(mut u) => {
                u.flags = 0;
                Some(u)
            }
            _ => None,
        }));
    }
    assert_eq!(got, sent);
}

#[test]
fn encoder_rejects_what_cannot_be_encoded() {
    let mut e = Encoder::new(1400, None);
    let no_id = Update {
        flags: 0,
        interval: 0,
        seqno: 0,
        metric: 0,
        prefix: Some(pfx("10.0.0.0/8")),
        src_prefix: None,
        router_id: None,
        next_hop: None,
        unknown_subtlvs: vec![],
    };
    assert!(matches!(
        e.push(&Tlv::Update(no_id)),
        Err(EmitError::Invalid(_))
    ));
    assert!(matches!(
        e.push(&Tlv::Mac(vec![0; 300])),
        Err(EmitError::Invalid(_))
    ));
    let mut small = Encoder::new(20, None);
    assert!(matches!(
        small.push(&Tlv::Mac(vec![0; 100])),
        Err(EmitError::TooLarge { .. })
    ));
    assert!(small.is_empty());
    assert!(e.is_empty(), "failed pushes leave nothing behind");
}

#[test]
fn rfc8966_4_6_9_all_octets_omitted() {
    // A /128 whose 16 octets all come from the default prefix, and an IPv4 /32 likewise.
    let mut b = vec![6, 10, 0, 0];
    b.extend_from_slice(&ID.0);
    b.extend_from_slice(&[8, 26, 2, 0x80, 128, 0, 0, 1, 0, 1, 0, 1]);
    b.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
    b.extend_from_slice(&[8, 10, 2, 0, 128, 16, 0, 1, 0, 1, 0, 2]);
    b.extend_from_slice(&[8, 14, 1, 0x80, 32, 0, 0, 1, 0, 1, 0, 3, 10, 0, 0, 1]);
    b.extend_from_slice(&[8, 10, 1, 0, 32, 4, 0, 1, 0, 1, 0, 4]);
    let p = parse_packet(&packet(&b), Some(ll(1))).unwrap();
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let prefixes: Vec<_> = update_prefixes(&p);
    assert_eq!(
        prefixes,
        vec![
            pfx("fd00::9/128"),
            pfx("fd00::9/128"),
            pfx("10.0.0.1/32"),
            pfx("10.0.0.1/32")
        ]
    );
}

#[test]
fn rfc9229_ae4_and_ae1_keep_separate_default_prefixes() {
    // AE 1 sets 10.1.0.0/16 as its default, AE 4 sets 10.2.0.0/16 as its own; a compressed
    // AE 1 update then expands against 10.1, a compressed AE 4 one against 10.2.
    let mut b = vec![6, 10, 0, 0];
    b.extend_from_slice(&ID.0);
    b.extend_from_slice(&[7, 6, 1, 0, 192, 0, 2, 1]);
    b.extend_from_slice(&[8, 12, 1, 0x80, 16, 0, 0, 1, 0, 1, 0, 1, 10, 1]);
    b.extend_from_slice(&[8, 12, 4, 0x80, 16, 0, 0, 1, 0, 1, 0, 1, 10, 2]);
    b.extend_from_slice(&[8, 11, 1, 0, 24, 2, 0, 1, 0, 1, 0, 1, 7]);
    b.extend_from_slice(&[8, 11, 4, 0, 24, 2, 0, 1, 0, 1, 0, 1, 8]);
    let p = parse_packet(&packet(&b), Some(ll(1))).unwrap();
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let prefixes: Vec<_> = update_prefixes(&p);
    assert_eq!(
        prefixes,
        vec![
            pfx("10.1.0.0/16"),
            pfx("10.2.0.0/16"),
            pfx("10.1.7.0/24"),
            pfx("10.2.8.0/24")
        ]
    );
    // The encoder keeps them apart too: re-encoding gives the same prefixes back.
    let mut e = Encoder::new(1400, Some(ll(1)));
    for t in p.tlvs.iter().filter(|t| matches!(t, Tlv::Update(_))) {
        e.push(t).unwrap();
    }
    let again = parse_packet(&e.finish()[0], Some(ll(1))).unwrap();
    let back: Vec<_> = update_prefixes(&again);
    assert_eq!(back, prefixes);
}

#[test]
fn rfc8966_4_6_9_wildcard_update_must_be_a_retraction() {
    let b = [8, 10, 0, 0, 0, 0, 0, 1, 0, 1, 0, 96];
    let p = parse_packet(&packet(&b), Some(ll(1))).unwrap();
    assert_eq!(p.errors[0].error, TlvError::WildcardNotRetraction);
    let b = [8, 10, 0, 0, 0, 0, 0, 1, 0, 1, 0xff, 0xff];
    let p = parse_packet(&packet(&b), Some(ll(1))).unwrap();
    let Tlv::Update(u) = &p.tlvs[0] else { panic!() };
    assert!(u.prefix.is_none() && u.is_retraction());
}

#[test]
fn malformed_next_hop_resets_next_hops() {
    let mut b = vec![7, 10, 3, 0, 0, 0, 0, 0, 0, 0, 0, 7];
    b.extend_from_slice(&[7, 4, 2, 0, 1, 2]);
    b.extend_from_slice(&[6, 10, 0, 0]);
    b.extend_from_slice(&ID.0);
    b.extend_from_slice(&[8, 12, 2, 0, 16, 0, 0, 100, 0, 3, 1, 0, 0x20, 0x01]);
    let p = parse_packet(&packet(&b), Some(ll(1))).unwrap();
    let Tlv::Update(u) = p.tlvs.last().unwrap() else {
        panic!()
    };
    assert_eq!(
        u.next_hop,
        Some(IpAddr::V6(ll(1))),
        "back to the packet's source"
    );
}
