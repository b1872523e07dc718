#![no_main]
//! Feeds arbitrary datagrams to the packet parser, then re-encodes what it understood and
//! checks that the encoder's output parses back to the same TLVs.

use babel_core::wire::{parse_packet, Encoder, Tlv};
use libfuzzer_sys::fuzz_target;
use std::net::Ipv6Addr;

fuzz_target!(|data: &[u8]| {
    let src = Some(Ipv6Addr::new(0xfe80, 0, 0, 0, 1, 2, 3, 4));
    let Ok(parsed) = parse_packet(data, src) else {
        return;
    };
    // Whatever parsed must re-encode and parse back to the same messages.
    let mut enc = Encoder::new(1400, src);
    let mut sent = Vec::new();
    for tlv in parsed.tlvs {
        if matches!(tlv, Tlv::RouterId(_) | Tlv::NextHop(_) | Tlv::Pad1 | Tlv::PadN(_)) {
            continue;
        }
        if enc.push(&tlv).is_ok() {
            sent.push(tlv);
        }
    }
    let mut back = Vec::new();
    for p in enc.finish() {
        let parsed = parse_packet(&p, src).expect("encoder output is a valid packet");
        assert!(parsed.errors.is_empty(), "encoder output has errors: {:?}", parsed.errors);
        back.extend(
            parsed
                .tlvs
                .into_iter()
                .filter(|t| !matches!(t, Tlv::RouterId(_) | Tlv::NextHop(_))),
        );
    }
    assert_eq!(back.len(), sent.len());
    for (a, b) in sent.iter().zip(back.iter()) {
        assert_eq!(normalise(a), normalise(b));
    }
});

/// Flags the encoder recomputes are not part of a TLV's meaning.
fn normalise(t: &Tlv) -> Tlv {
    let mut t = t.clone();
    if let Tlv::Update(u) = &mut t {
        u.flags &= 0x3f;
    }
    t
}
