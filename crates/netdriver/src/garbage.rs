//! Whatever a netlink socket hands over, the readers of netdriver's codec answer with a value
//! or a refusal, never a panic: framing, route, link, address, rule and nexthop payloads,
//! built from plausible headers and attributes and then cut or corrupted, and route messages
//! whose RTA_MULTIPATH holds next hops of lying lengths.

use crate::{monitor, nexthop, nl, rule};
use proptest::prelude::*;

/// A payload: a family header of `hdr` bytes (mostly AF_INET/AF_INET6 with small lengths),
/// then attributes with small type numbers and values of any length, some lengths lying.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    let header = prop::collection::vec(
        prop_oneof![Just(2u8), Just(10u8), Just(0u8), Just(7u8), any::<u8>()],
        0..24,
    );
    let attr = (
        0u16..40,
        prop::collection::vec(any::<u8>(), 0..24),
        prop_oneof![4 => Just(0i8), 1 => -8i8..8],
    );
    (header, prop::collection::vec(attr, 0..8), any::<usize>()).prop_map(|(h, attrs, cut)| {
        let mut p = h;
        for (kind, v, lie) in attrs {
            let len = (4 + v.len() as i32 + i32::from(lie)).clamp(0, 0xffff) as u16;
            p.extend_from_slice(&len.to_ne_bytes());
            p.extend_from_slice(&kind.to_ne_bytes());
            p.extend_from_slice(&v);
            p.resize(nl::align4(p.len()), 0);
        }
        let keep = cut % (p.len() + 1);
        if keep * 4 < p.len() {
            p.truncate(keep);
        }
        p
    })
}

fn read_all(p: &[u8]) {
    if let Some(m) = nl::RouteMsg::parse(p) {
        let _ = nl::route_prefixes(&m);
        let _ = nl::route_event(&m, true);
        let _ = m.table();
        let _ = nl::route_paths(p, &m, |_| {});
    }
    let _ = monitor::link_event(p, false);
    let _ = monitor::addr_event(p, true);
    let _ = rule::source_rule(p);
    let _ = nexthop::parse(p);
    let _ = nexthop::link_change(nl::RTM_NEWLINK, p);
    let _ = nl::error_code(p);
}

/// A route message (struct rtmsg of family AF_INET or AF_INET6) whose RTA_MULTIPATH holds
/// rtnexthop entries, their lengths and nested attributes sometimes lying.
fn multipath() -> impl Strategy<Value = Vec<u8>> {
    let nested = (
        prop_oneof![Just(5u16), Just(18u16), 0u16..40],
        prop::collection::vec(any::<u8>(), 0..20),
        prop_oneof![4 => Just(0i8), 1 => -6i8..6],
    );
    let entry = (
        any::<u8>(),
        any::<u32>(),
        prop::collection::vec(nested, 0..3),
        prop_oneof![4 => Just(0i8), 1 => -10i8..10],
    );
    let family = prop_oneof![Just(2u8), Just(10u8), any::<u8>()];
    (family, prop::collection::vec(entry, 0..4), 0usize..4).prop_map(|(family, entries, tail)| {
        let mut mp = Vec::new();
        for (flags, ifindex, attrs, lie) in entries {
            let start = mp.len();
            mp.extend_from_slice(&[0, 0, flags, 0]);
            mp.extend_from_slice(&ifindex.to_ne_bytes());
            for (kind, v, lie) in attrs {
                let len = (4 + v.len() as i32 + i32::from(lie)).clamp(0, 0xffff) as u16;
                mp.extend_from_slice(&len.to_ne_bytes());
                mp.extend_from_slice(&kind.to_ne_bytes());
                mp.extend_from_slice(&v);
                mp.resize(nl::align4(mp.len()), 0);
            }
            let len = ((mp.len() - start) as i32 + i32::from(lie)).clamp(0, 0xffff) as u16;
            mp[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        }
        mp.extend(std::iter::repeat_n(0xa5, tail));
        let mut p = vec![family, 0, 0, 0, 254, 4, 0, 1, 0, 0, 0, 0];
        let len = (4 + mp.len()).min(0xffff) as u16;
        p.extend_from_slice(&len.to_ne_bytes());
        p.extend_from_slice(&9u16.to_ne_bytes());
        p.extend_from_slice(&mp);
        p
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn payload_readers_never_panic(p in payload()) {
        read_all(&p);
    }

    #[test]
    fn multipath_readers_never_panic(p in multipath()) {
        read_all(&p);
        if let Some(m) = nl::RouteMsg::parse(&p) {
            let mut n = 0;
            // Each path read stands for at least one rtnexthop header in the payload.
            let _ = nl::route_paths(&p, &m, |_| n += 1);
            prop_assert!(n * 8 <= p.len());
        }
    }

    #[test]
    fn datagrams_frame_and_read_without_panic(
        msgs in prop::collection::vec((any::<u16>(), payload(), -20i32..20), 0..5),
        tail in prop::collection::vec(any::<u8>(), 0..20),
    ) {
        let mut buf = Vec::new();
        for (kind, p, lie) in &msgs {
            let len = (nl::NLMSG_HDRLEN as i32 + p.len() as i32 + lie).max(0) as u32;
            buf.extend_from_slice(&len.to_ne_bytes());
            buf.extend_from_slice(&kind.to_ne_bytes());
            buf.extend_from_slice(&[0; 6]);
            buf.extend_from_slice(&[0; 4]);
            buf.extend_from_slice(p);
            buf.resize(nl::align4(buf.len()), 0);
        }
        buf.extend_from_slice(&tail);
        let (frames, _whole) = nl::frames(&buf);
        prop_assert!(frames.len() <= msgs.len() + tail.len() / nl::NLMSG_HDRLEN + 1);
        for f in frames {
            read_all(f.payload);
        }
    }
}
