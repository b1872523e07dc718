//! From a captured frame to a UDP datagram: the link layers a capture of Babel traffic is
//! likely to use (Ethernet with VLAN tags, Linux cooked captures, raw IP), then IPv6 (with its
//! extension headers) or IPv4, then UDP.
//!
//! Everything here reads untrusted bytes: each length is checked before use and a frame that
//! does not fit is simply not a datagram.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Link types (the `LINKTYPE_*` numbers of the pcap and pcapng formats).
pub mod linktype {
    pub const ETHERNET: u32 = 1;
    /// `DLT_RAW` as some systems write it in place of [`RAW`].
    pub const RAW_BSD: u32 = 12;
    pub const RAW_OPENBSD: u32 = 14;
    pub const RAW: u32 = 101;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;
}

/// Whether frames of this link type can be decoded.
pub fn is_supported(lt: u32) -> bool {
    use linktype::*;
    matches!(
        lt,
        ETHERNET | RAW_BSD | RAW_OPENBSD | RAW | LINUX_SLL | IPV4 | IPV6 | LINUX_SLL2
    )
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
/// More stacked VLAN tags than this and the frame is not looked at.
const MAX_VLAN_TAGS: usize = 4;
/// More IPv6 extension headers than this and the packet is not looked at.
const MAX_EXT_HEADERS: usize = 8;

const IPPROTO_HOPOPTS: u8 = 0;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ROUTING: u8 = 43;
const IPPROTO_FRAGMENT: u8 = 44;
const IPPROTO_AH: u8 = 51;
const IPPROTO_DSTOPTS: u8 = 60;

/// One UDP datagram found in a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    /// The UDP payload as far as it was captured.
    pub payload: &'a [u8],
    /// The payload length the UDP header announces (larger than `payload.len()` when the
    /// capture cut the frame short).
    pub udp_payload_len: usize,
    /// The first fragment of a fragmented IP datagram: the payload is incomplete.
    pub fragmented: bool,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Finds the UDP datagram in a frame of link type `lt`. `None` for anything else: another
/// protocol, a non-first fragment, an unsupported link type, a frame too short to tell.
pub fn udp_in_frame(lt: u32, frame: &[u8]) -> Option<UdpDatagram<'_>> {
    use linktype::*;
    match lt {
        ETHERNET => {
            let ethertype = be16(frame, 12)?;
            by_ethertype(ethertype, frame.get(14..)?)
        }
        LINUX_SLL => {
            // 16 octets: packet type, ARPHRD type, address length, 8 octets of address,
            // then the protocol (an ethertype for IP).
            let proto = be16(frame, 14)?;
            by_ethertype(proto, frame.get(16..)?)
        }
        LINUX_SLL2 => {
            // 20 octets, the protocol first.
            let proto = be16(frame, 0)?;
            by_ethertype(proto, frame.get(20..)?)
        }
        RAW | RAW_BSD | RAW_OPENBSD => by_version(frame),
        IPV4 => ipv4(frame),
        IPV6 => ipv6(frame),
        _ => None,
    }
}

fn by_ethertype(mut ethertype: u16, mut rest: &[u8]) -> Option<UdpDatagram<'_>> {
    for _ in 0..=MAX_VLAN_TAGS {
        match ethertype {
            ETHERTYPE_IPV6 => return ipv6(rest),
            ETHERTYPE_IPV4 => return ipv4(rest),
            ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD => {
                // 802.1Q tag: 2 octets of TCI, then the encapsulated ethertype.
                ethertype = be16(rest, 2)?;
                rest = rest.get(4..)?;
            }
            _ => return None,
        }
    }
    None
}

fn by_version(packet: &[u8]) -> Option<UdpDatagram<'_>> {
    match packet.first()? >> 4 {
        4 => ipv4(packet),
        6 => ipv6(packet),
        _ => None,
    }
}

fn ipv6(p: &[u8]) -> Option<UdpDatagram<'_>> {
    if p.len() < 40 || p[0] >> 4 != 6 {
        return None;
    }
    let payload_len = be16(p, 4)? as usize;
    let src: [u8; 16] = p[8..24].try_into().ok()?;
    let dst: [u8; 16] = p[24..40].try_into().ok()?;
    // The payload length bounds the packet (Ethernet pads short frames); 0 is a jumbogram,
    // whose real length lives in a hop-by-hop option: take what was captured.
    let end = if payload_len == 0 {
        p.len()
    } else {
        (40 + payload_len).min(p.len())
    };
    let mut body = &p[40..end];
    let mut next = p[6];
    let mut fragmented = false;
    for _ in 0..=MAX_EXT_HEADERS {
        match next {
            IPPROTO_UDP => {
                return udp(
                    IpAddr::V6(Ipv6Addr::from(src)),
                    IpAddr::V6(Ipv6Addr::from(dst)),
                    body,
                    fragmented,
                )
            }
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS => {
                let len = (*body.get(1)? as usize + 1) * 8;
                next = *body.first()?;
                body = body.get(len..)?;
            }
            IPPROTO_AH => {
                let len = (*body.get(1)? as usize + 2) * 4;
                next = *body.first()?;
                body = body.get(len..)?;
            }
            IPPROTO_FRAGMENT => {
                let off_flags = be16(body, 2)?;
                if off_flags & 0xfff8 != 0 {
                    // Not the first fragment: no UDP header here.
                    return None;
                }
                fragmented = off_flags & 1 != 0;
                next = *body.first()?;
                body = body.get(8..)?;
            }
            _ => return None,
        }
    }
    None
}

fn ipv4(p: &[u8]) -> Option<UdpDatagram<'_>> {
    if p.len() < 20 || p[0] >> 4 != 4 {
        return None;
    }
    let ihl = (p[0] & 0x0f) as usize * 4;
    if ihl < 20 || p[9] != IPPROTO_UDP {
        return None;
    }
    let total = be16(p, 2)? as usize;
    let frag = be16(p, 6)?;
    if frag & 0x1fff != 0 {
        return None;
    }
    let fragmented = frag & 0x2000 != 0;
    // A total length below the header (segmentation offload writes 0) is not usable: take
    // what was captured then.
    let end = if total < ihl {
        p.len()
    } else {
        total.min(p.len())
    };
    let body = p.get(ihl..end)?;
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    udp(IpAddr::V4(src), IpAddr::V4(dst), body, fragmented)
}

fn udp(src: IpAddr, dst: IpAddr, seg: &[u8], fragmented: bool) -> Option<UdpDatagram<'_>> {
    let src_port = be16(seg, 0)?;
    let dst_port = be16(seg, 2)?;
    let len = be16(seg, 4)? as usize;
    if seg.len() < 8 {
        return None;
    }
    // A UDP length below the header size is malformed; take what was captured then.
    let udp_payload_len = if len >= 8 { len - 8 } else { seg.len() - 8 };
    let avail = seg.len() - 8;
    let payload = &seg[8..8 + udp_payload_len.min(avail)];
    Some(UdpDatagram {
        src,
        dst,
        src_port,
        dst_port,
        payload,
        udp_payload_len,
        fragmented,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp_bytes(payload: &[u8]) -> Vec<u8> {
        let mut u = Vec::new();
        u.extend_from_slice(&6696u16.to_be_bytes());
        u.extend_from_slice(&6696u16.to_be_bytes());
        u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(payload);
        u
    }

    fn ipv6_bytes(next: u8, inner: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(inner.len() as u16).to_be_bytes());
        p.push(next);
        p.push(1);
        p.extend_from_slice(&"fe80::1".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&"ff02::1:6".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(inner);
        p
    }

    fn ether(ethertype: u16, inner: &[u8]) -> Vec<u8> {
        let mut f = vec![0x33, 0x33, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(inner);
        f
    }

    #[test]
    fn ethernet_ipv6_udp_with_padding_is_bounded_by_lengths() {
        let mut f = ether(
            ETHERTYPE_IPV6,
            &ipv6_bytes(IPPROTO_UDP, &udp_bytes(b"\x2a\x02\0\0")),
        );
        f.extend_from_slice(&[0xee; 10]); // trailing Ethernet padding
        let d = udp_in_frame(linktype::ETHERNET, &f).unwrap();
        assert_eq!(d.payload, b"\x2a\x02\0\0");
        assert_eq!(d.src, "fe80::1".parse::<IpAddr>().unwrap());
        assert_eq!(d.dst, "ff02::1:6".parse::<IpAddr>().unwrap());
        assert_eq!((d.src_port, d.dst_port, d.fragmented), (6696, 6696, false));
    }

    #[test]
    fn vlan_tags_and_hop_by_hop_header_are_skipped() {
        let mut hbh = vec![IPPROTO_UDP, 0, 5, 2, 0, 0, 1, 0]; // router alert, 8 octets
        hbh.extend_from_slice(&udp_bytes(b"xyz"));
        let ip = ipv6_bytes(IPPROTO_HOPOPTS, &hbh);
        let mut tagged = vec![0x00, 0x05];
        tagged.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        tagged.extend_from_slice(&ip);
        let mut outer = vec![0x00, 0x07];
        outer.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        outer.extend_from_slice(&tagged);
        let f = ether(ETHERTYPE_QINQ, &outer);
        assert_eq!(
            udp_in_frame(linktype::ETHERNET, &f).unwrap().payload,
            b"xyz"
        );
    }

    #[test]
    fn fragments_are_flagged_or_skipped() {
        let mut first = vec![IPPROTO_UDP, 0, 0, 1, 0, 0, 0, 9]; // offset 0, M set
        first.extend_from_slice(&udp_bytes(b"abcd"));
        let packet = ipv6_bytes(IPPROTO_FRAGMENT, &first);
        let d = udp_in_frame(linktype::IPV6, &packet).unwrap();
        assert!(d.fragmented);
        let mut later = vec![IPPROTO_UDP, 0, 0, 0x10, 0, 0, 0, 9]; // offset 2, last
        later.extend_from_slice(b"more data");
        assert!(udp_in_frame(linktype::IPV6, &ipv6_bytes(IPPROTO_FRAGMENT, &later)).is_none());
    }

    #[test]
    fn linux_cooked_and_raw_ipv4() {
        let mut ip4 = vec![
            0x45,
            0,
            0,
            0,
            0,
            0,
            0x40,
            0,
            1,
            IPPROTO_UDP,
            0,
            0,
            10,
            0,
            0,
            1,
            10,
            0,
            0,
            2,
        ];
        let u = udp_bytes(b"hi");
        let total = (20 + u.len()) as u16;
        ip4[2..4].copy_from_slice(&total.to_be_bytes());
        ip4.extend_from_slice(&u);
        let d = udp_in_frame(linktype::RAW, &ip4).unwrap();
        assert_eq!(d.payload, b"hi");
        assert_eq!(d.src, "10.0.0.1".parse::<IpAddr>().unwrap());

        let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
        sll.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        sll.extend_from_slice(&ip4);
        assert_eq!(
            udp_in_frame(linktype::LINUX_SLL, &sll).unwrap().payload,
            b"hi"
        );

        let mut sll2 = ETHERTYPE_IPV6.to_be_bytes().to_vec();
        sll2.extend_from_slice(&[0; 18]);
        sll2.extend_from_slice(&ipv6_bytes(IPPROTO_UDP, &udp_bytes(b"v6")));
        assert_eq!(
            udp_in_frame(linktype::LINUX_SLL2, &sll2).unwrap().payload,
            b"v6"
        );
    }

    #[test]
    fn short_and_foreign_frames_are_not_datagrams() {
        let full = ether(
            ETHERTYPE_IPV6,
            &ipv6_bytes(IPPROTO_UDP, &udp_bytes(b"payload")),
        );
        for cut in 0..(14 + 40 + 8) {
            assert!(
                udp_in_frame(linktype::ETHERNET, &full[..cut]).is_none(),
                "cut {cut}"
            );
        }
        // Cut inside the payload: the datagram is there, shorter than announced.
        let d = udp_in_frame(linktype::ETHERNET, &full[..full.len() - 3]).unwrap();
        assert_eq!((d.payload.len(), d.udp_payload_len), (4, 7));
        assert!(udp_in_frame(linktype::ETHERNET, &ether(0x0806, &[0; 28])).is_none());
        assert!(udp_in_frame(147, &full).is_none());
        // TCP inside IPv6.
        assert!(udp_in_frame(linktype::IPV6, &ipv6_bytes(6, &[0; 20])).is_none());
    }
}
