//! Whatever a netlink socket hands over, the readers of netdriver's codec answer with a value
//! or a refusal, never a panic: framing, route, link, address, rule and nexthop payloads,
//! built from plausible headers and attributes and then cut or corrupted.

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
    }
    let _ = monitor::link_event(p, false);
    let _ = monitor::addr_event(p, true);
    let _ = rule::source_rule(p);
    let _ = nexthop::parse(p);
    let _ = nexthop::link_change(nl::RTM_NEWLINK, p);
    let _ = nl::error_code(p);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn payload_readers_never_panic(p in payload()) {
        read_all(&p);
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
