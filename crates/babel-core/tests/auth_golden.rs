//! RFC 8967 interoperability on real babeld 1.12 packets: the MACs babeld computed verify
//! with our implementation, and fail with another key or a changed byte.

mod common;

use std::net::IpAddr;

use babel_core::auth::{verify, Key, KeyType, PseudoHeader, Reject};
use common::read_babel_datagrams;

/// The key of `hmac.pcapng`, as given to babeld by `capture.sh` (see data/README.md).
fn capture_key() -> Key {
    // 32 octets, as babeld was given them: no padding on our side either.
    Key::new("k1", KeyType::HmacSha256, (0u8..32).collect()).unwrap()
}

fn ph(src: IpAddr, dst: IpAddr) -> PseudoHeader {
    let (IpAddr::V6(src), IpAddr::V6(dst)) = (src, dst) else {
        panic!("Babel over IPv6 only in this capture")
    };
    PseudoHeader {
        src,
        src_port: 6696,
        dst,
        dst_port: 6696,
    }
}

#[test]
fn rfc8967_babeld_macs_verify_with_our_hmac_sha256() {
    let datagrams = read_babel_datagrams("hmac");
    assert!(datagrams.len() >= 10, "capture too small");
    let key = capture_key();
    let wrong = Key::new("k2", KeyType::HmacSha256, vec![0x55; 64]).unwrap();
    for d in &datagrams {
        let ph = ph(d.src, d.dst);
        assert_eq!(
            verify(&d.payload, std::slice::from_ref(&key), &ph),
            Ok(()),
            "frame {}: babeld's MAC does not verify",
            d.frame
        );
        assert_eq!(
            verify(&d.payload, std::slice::from_ref(&wrong), &ph),
            Err(Reject::BadMac)
        );
        // One flipped bit in the body, or another destination, breaks it.
        let mut tampered = d.payload.clone();
        tampered[5] ^= 0x01;
        assert_eq!(
            verify(&tampered, std::slice::from_ref(&key), &ph),
            Err(Reject::BadMac)
        );
        let mut other = ph;
        other.dst_port = 6697;
        assert_eq!(
            verify(&d.payload, std::slice::from_ref(&key), &other),
            Err(Reject::BadMac)
        );
    }
}
