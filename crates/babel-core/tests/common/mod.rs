//! Shared helpers of the golden-capture tests: reading the pcapng files made by
//! `tests/data/capture.sh` and pulling the Babel datagrams out of them.

#![allow(dead_code)] // each test binary uses its own subset

pub mod mesh;
pub mod tlvs;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use babel_core::wire::{parse_packet, ParsedPacket, PORT};
use pcap_parser::pcapng::Block;
use pcap_parser::{Linktype, PcapBlockOwned, PcapNGSlice};

/// Every capture made by `capture.sh`, by file stem.
pub const CAPTURES: &[&str] = &[
    "basic",
    "timestamps",
    "compressed",
    "v4viav6",
    "source-specific",
    "requests",
    "hmac",
];

/// The committed capture, or the one in `$GOLDEN_CAPTURE_DIR` when that is set (to check a
/// fresh run of `capture.sh` with `OUT_DIR=...` against the same tests).
pub fn capture_path(name: &str) -> PathBuf {
    let dir = match std::env::var_os("GOLDEN_CAPTURE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join("data"),
    };
    dir.join(format!("{name}.pcapng"))
}

/// One UDP datagram to or from the Babel port, as captured.
#[derive(Debug, Clone)]
pub struct Datagram {
    /// The frame number as tshark counts it: 1 for the first packet of the file.
    pub frame: usize,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub payload: Vec<u8>,
}

impl Datagram {
    /// The IPv6 source address, which the receiver takes as the default IPv6 next hop.
    pub fn src_v6(&self) -> Option<Ipv6Addr> {
        match self.src {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        }
    }

    /// Parses the payload the way a receiver does.
    pub fn parse(&self) -> ParsedPacket {
        parse_packet(&self.payload, self.src_v6()).unwrap_or_else(|e| {
            panic!("frame {}: packet rejected: {e}", self.frame);
        })
    }
}

pub const LINKTYPE_ETHERNET: Linktype = Linktype(1);
pub const LINKTYPE_LINUX_SLL: Linktype = Linktype(113);
pub const LINKTYPE_LINUX_SLL2: Linktype = Linktype(276);

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const IPPROTO_UDP: u8 = 17;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The ethertype and network-layer bytes of a link-layer frame.
fn network_layer(linktype: Linktype, frame: &[u8]) -> Option<(u16, &[u8])> {
    match linktype {
        LINKTYPE_ETHERNET => {
            let mut ethertype = be16(frame, 12)?;
            let mut at = 14;
            while ethertype == ETHERTYPE_VLAN {
                ethertype = be16(frame, at + 2)?;
                at += 4;
            }
            Some((ethertype, frame.get(at..)?))
        }
        // Linux cooked capture v1: 16-byte header, protocol in the last two octets.
        LINKTYPE_LINUX_SLL => Some((be16(frame, 14)?, frame.get(16..)?)),
        // Linux cooked capture v2: 20-byte header, protocol in the first two octets.
        LINKTYPE_LINUX_SLL2 => Some((be16(frame, 0)?, frame.get(20..)?)),
        _ => None,
    }
}

/// Source, destination and UDP segment of an IPv4 or IPv6 packet, if it carries UDP.
fn udp_segment(ethertype: u16, ip: &[u8]) -> Option<(IpAddr, IpAddr, &[u8])> {
    match ethertype {
        ETHERTYPE_IPV6 => {
            let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            let payload_len = be16(ip, 4)? as usize;
            let mut next = *ip.get(6)?;
            let mut rest = ip.get(40..40 + payload_len)?;
            // Hop-by-hop, routing and destination options headers: skip them.
            while matches!(next, 0 | 43 | 60) {
                let len = (*rest.get(1)? as usize + 1) * 8;
                next = *rest.first()?;
                rest = rest.get(len..)?;
            }
            (next == IPPROTO_UDP).then_some((
                IpAddr::V6(Ipv6Addr::from(src)),
                IpAddr::V6(Ipv6Addr::from(dst)),
                rest,
            ))
        }
        ETHERTYPE_IPV4 => {
            let ihl = (*ip.first()? as usize & 0x0f) * 4;
            let total = be16(ip, 2)? as usize;
            let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (*ip.get(9)? == IPPROTO_UDP).then_some((
                IpAddr::V4(Ipv4Addr::from(src)),
                IpAddr::V4(Ipv4Addr::from(dst)),
                ip.get(ihl..total)?,
            ))
        }
        _ => None,
    }
}

/// The Babel datagram in a captured frame, if there is one.
pub fn babel_datagram(linktype: Linktype, frame_no: usize, frame: &[u8]) -> Option<Datagram> {
    let (ethertype, ip) = network_layer(linktype, frame)?;
    let (src, dst, udp) = udp_segment(ethertype, ip)?;
    let (sport, dport) = (be16(udp, 0)?, be16(udp, 2)?);
    let udp_len = be16(udp, 4)? as usize;
    if sport != PORT && dport != PORT {
        return None;
    }
    Some(Datagram {
        frame: frame_no,
        src,
        dst,
        payload: udp.get(8..udp_len)?.to_vec(),
    })
}

/// Reads a pcapng file and returns its Babel datagrams (UDP port 6696), in capture order.
/// Frames are numbered like tshark numbers them, counting frames of other protocols too.
pub fn read_babel_datagrams(name: &str) -> Vec<Datagram> {
    let path = capture_path(name);
    let data =
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let slice = PcapNGSlice::from_slice(&data)
        .unwrap_or_else(|e| panic!("{}: not a pcapng file: {e:?}", path.display()));
    let mut linktypes: Vec<Linktype> = Vec::new();
    let mut frame_no = 0;
    let mut out = Vec::new();
    for block in slice {
        let block = block.unwrap_or_else(|e| panic!("{}: bad block: {e:?}", path.display()));
        let PcapBlockOwned::NG(block) = block else {
            panic!("{}: legacy pcap block inside pcapng", path.display());
        };
        let (if_id, frame) = match &block {
            Block::SectionHeader(_) => {
                linktypes.clear();
                continue;
            }
            Block::InterfaceDescription(idb) => {
                linktypes.push(idb.linktype);
                continue;
            }
            Block::EnhancedPacket(epb) => {
                let len = (epb.caplen as usize).min(epb.data.len());
                (epb.if_id as usize, &epb.data[..len])
            }
            Block::SimplePacket(spb) => {
                let len = (spb.origlen as usize).min(spb.data.len());
                (0, &spb.data[..len])
            }
            _ => continue,
        };
        frame_no += 1;
        let linktype = *linktypes.get(if_id).unwrap_or_else(|| {
            panic!(
                "{}: frame {frame_no} on unknown interface {if_id}",
                path.display()
            )
        });
        assert!(
            [LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2].contains(&linktype),
            "{}: unsupported link type {linktype:?}",
            path.display()
        );
        if let Some(d) = babel_datagram(linktype, frame_no, frame) {
            out.push(d);
        }
    }
    assert!(!out.is_empty(), "{}: no Babel datagram", path.display());
    out
}
