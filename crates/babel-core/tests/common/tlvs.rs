//! The TLVs a test neighbour sends to become a neighbour.

use std::net::{IpAddr, Ipv6Addr};

use babel_core::wire::{Hello, Ihu, Prefix, Tlv};

/// A hello with a 4 s interval; `unicast` sets the unicast flag.
pub fn hello(seqno: u16, unicast: bool) -> Tlv {
    Tlv::Hello(Hello {
        flags: if unicast { 0x8000 } else { 0 },
        seqno,
        interval: 400,
        timestamp: None,
        unknown_subtlvs: vec![],
    })
}

/// An IHU for `to` with a 12 s interval.
pub fn ihu(to: Ipv6Addr, rxcost: u16) -> Tlv {
    Tlv::Ihu(Ihu {
        rxcost,
        interval: 1200,
        addr: Some(IpAddr::V6(to)),
        timestamps: None,
        unknown_subtlvs: vec![],
    })
}

/// The prefixes of the Update TLVs among `tlvs`, in order (wildcards left out).
pub fn update_prefixes(tlvs: &[Tlv]) -> Vec<Prefix> {
    tlvs.iter()
        .filter_map(|t| match t {
            Tlv::Update(u) => u.prefix,
            _ => None,
        })
        .collect()
}
