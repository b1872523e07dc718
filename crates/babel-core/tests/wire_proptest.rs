//! Property tests of the wire format: whatever the encoder emits parses back to the same
//! messages, at any MTU; the parser never panics, whatever the bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use babel_core::wire::*;
use proptest::prelude::*;

fn v4_prefix() -> impl Strategy<Value = Prefix> {
    (any::<u32>(), 0u8..=32).prop_map(|(a, l)| Prefix::v4(Ipv4Addr::from(a), l).unwrap())
}

fn v6_prefix() -> impl Strategy<Value = Prefix> {
    // Bias towards shared beginnings so that compression is exercised.
    (any::<u128>(), 0u8..=128, prop::bool::ANY).prop_map(|(a, l, shared)| {
        let a = if shared {
            (0xfd77u128 << 112) | (a & 0xffff) << 64
        } else {
            a
        };
        Prefix::v6(Ipv6Addr::from(a), l).unwrap()
    })
}

fn link_local() -> impl Strategy<Value = Ipv6Addr> {
    any::<u64>().prop_map(|low| Ipv6Addr::from((0xfe80u128 << 112) | low as u128))
}

fn v6_addr() -> impl Strategy<Value = Ipv6Addr> {
    prop_oneof![link_local(), any::<u128>().prop_map(Ipv6Addr::from)]
}

fn router_id() -> impl Strategy<Value = RouterId> {
    any::<[u8; 8]>()
        .prop_filter("valid router-id", |b| RouterId(*b).is_valid())
        .prop_map(RouterId)
}

fn unknown_subtlvs() -> impl Strategy<Value = Vec<UnknownSubTlv>> {
    prop::collection::vec(
        (4u8..=127, prop::collection::vec(any::<u8>(), 0..6))
            .prop_map(|(sub_type, body)| UnknownSubTlv { sub_type, body }),
        0..2,
    )
}

fn src_for(p: Prefix) -> BoxedStrategy<Option<Prefix>> {
    let s = if p.is_v4() {
        v4_prefix().boxed()
    } else {
        v6_prefix().boxed()
    };
    prop::option::of(s.prop_filter("non-zero length", |s| s.plen() > 0)).boxed()
}

fn update() -> impl Strategy<Value = Update> {
    // RFC 8966 §4.6.9: a wildcard update is always a retraction.
    let wildcard = (any::<u16>(), any::<u16>()).prop_map(|(i, s)| Update {
        flags: 0,
        interval: i,
        seqno: s,
        metric: INFINITY,
        prefix: None,
        src_prefix: None,
        router_id: None,
        next_hop: None,
        unknown_subtlvs: vec![],
    });
    let v6 = (v6_prefix(), v6_addr()).prop_map(|(p, nh)| (p, IpAddr::V6(nh)));
    let v4 = (v4_prefix(), any::<u32>()).prop_map(|(p, nh)| (p, IpAddr::V4(Ipv4Addr::from(nh))));
    let v4v6 = (v4_prefix(), v6_addr()).prop_map(|(p, nh)| (p, IpAddr::V6(nh)));
    let routed = prop_oneof![v6, v4, v4v6]
        .prop_flat_map(|(p, nh)| (Just(p), Just(nh), src_for(p)))
        .prop_flat_map(|(p, nh, src)| {
            (
                Just((p, nh, src)),
                router_id(),
                any::<(u16, u16, u16)>(),
                0u8..0x40,
                unknown_subtlvs(),
            )
        })
        .prop_map(|((p, nh, src), id, (i, s, m), flags, subs)| Update {
            flags,
            interval: i,
            seqno: s,
            metric: m,
            prefix: Some(p),
            src_prefix: src,
            router_id: Some(id),
            next_hop: Some(nh),
            unknown_subtlvs: subs,
        });
    prop_oneof![1 => wildcard, 8 => routed]
}

fn any_prefix() -> impl Strategy<Value = Prefix> {
    prop_oneof![v4_prefix(), v6_prefix()]
}

fn bytes(n: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..n)
}

fn tlv() -> impl Strategy<Value = Tlv> {
    prop_oneof![
        (any::<u16>(), any::<u16>())
            .prop_map(|(opaque, interval)| Tlv::AckRequest(AckRequest { opaque, interval })),
        any::<u16>().prop_map(|opaque| Tlv::Ack(Ack { opaque })),
        (
            any::<(u16, u16, u16)>(),
            any::<Option<u32>>(),
            unknown_subtlvs()
        )
            .prop_map(
                |((flags, seqno, interval), timestamp, unknown_subtlvs)| Tlv::Hello(Hello {
                    flags,
                    seqno,
                    interval,
                    timestamp,
                    unknown_subtlvs
                })
            ),
        (
            any::<(u16, u16)>(),
            prop::option::of(prop_oneof![
                any::<u32>().prop_map(|a| IpAddr::V4(a.into())),
                v6_addr().prop_map(IpAddr::V6)
            ]),
            any::<Option<(u32, u32)>>()
        )
            .prop_map(|((rxcost, interval), addr, ts)| Tlv::Ihu(Ihu {
                rxcost,
                interval,
                addr,
                timestamps: ts.map(|(origin, receive)| IhuTimestamps { origin, receive }),
                unknown_subtlvs: vec![],
            })),
        update().prop_map(Tlv::Update),
        update().prop_map(Tlv::Update),
        update().prop_map(Tlv::Update),
        prop::option::of(any_prefix())
            .prop_flat_map(|p| (
                Just(p),
                match p {
                    Some(p) => src_for(p),
                    None => Just(None).boxed(),
                }
            ))
            .prop_map(|(prefix, src_prefix)| Tlv::RouteRequest(RouteRequest {
                prefix,
                src_prefix,
                unknown_subtlvs: vec![]
            })),
        any_prefix()
            .prop_flat_map(|p| (Just(p), src_for(p), any::<(u16, u8, [u8; 8])>()))
            .prop_map(
                |(prefix, src_prefix, (seqno, hop_count, id))| Tlv::SeqnoRequest(SeqnoRequest {
                    seqno,
                    hop_count,
                    router_id: RouterId(id),
                    prefix,
                    src_prefix,
                    unknown_subtlvs: vec![],
                })
            ),
        (any::<u32>(), bytes(32)).prop_map(|(pc, index)| Tlv::Pc(Pc { pc, index })),
        bytes(192).prop_map(Tlv::ChallengeRequest),
        bytes(192).prop_map(Tlv::ChallengeReply),
        bytes(64).prop_map(Tlv::Mac),
        (20u8..=255, bytes(40)).prop_map(|(tlv_type, body)| Tlv::Unknown { tlv_type, body }),
    ]
}

fn normalise(t: Tlv) -> Option<Tlv> {
    match t {
        Tlv::RouterId(_) | Tlv::NextHop(_) => None,
        Tlv::Update(mut u) => {
            u.flags &= !(UPDATE_FLAG_DEFAULT_PREFIX | UPDATE_FLAG_ROUTER_ID);
            Some(Tlv::Update(u))
        }
        t => Some(t),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parse_of_emit_is_identity(
        tlvs in prop::collection::vec(tlv(), 0..60),
        mtu in 300usize..1500,
        src in link_local(),
    ) {
        let mut enc = Encoder::new(max_payload_for_mtu(mtu), Some(src));
        for t in &tlvs {
            enc.push(t).unwrap();
        }
        let packets = enc.finish();
        let mut back = Vec::new();
        for p in &packets {
            prop_assert!(p.len() <= max_payload_for_mtu(mtu));
            let parsed = parse_packet(p, Some(src)).unwrap();
            prop_assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
            back.extend(parsed.tlvs.into_iter().filter_map(normalise));
        }
        let want: Vec<Tlv> = tlvs.into_iter().filter_map(normalise).collect();
        prop_assert_eq!(back, want);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_packet(&bytes, None);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_bodies(
        body in prop::collection::vec(any::<u8>(), 0..600),
        trailer in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut p = vec![42, 2];
        p.extend_from_slice(&(body.len() as u16).to_be_bytes());
        p.extend_from_slice(&body);
        p.extend_from_slice(&trailer);
        let parsed = parse_packet(&p, Some(Ipv6Addr::LOCALHOST)).unwrap();
        // Every TLV is either understood or reported; nothing is silently lost.
        prop_assert!(parsed.tlvs.len() + parsed.errors.len() <= body.len() + trailer.len());
    }
}
