//! Linux nexthop objects (RTM_NEWNEXTHOP, Linux 5.3 and later), which the installer shares
//! between the routes through one neighbour.
//!
//! A route with its own gateway makes the kernel set up a next hop for that route alone:
//! for IPv6 two per-CPU allocations and a device lookup per route, about half of what adding
//! a route costs. A route that names a nexthop object (RTA_NH_ID) only takes a reference.
//! netlink-packet-route has no nexthop messages, so these few are built and read here.

use std::net::IpAddr;

use crate::nl::{align4, NLMSG_HDRLEN};

pub(crate) const RTM_NEWNEXTHOP: u16 = 104;
pub(crate) const RTM_DELNEXTHOP: u16 = 105;
pub(crate) const RTM_GETNEXTHOP: u16 = 106;
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;

const NHA_ID: u16 = 1;
const NHA_OIF: u16 = 5;
const NHA_GATEWAY: u16 = 6;

/// RTNH_F_ONLINK: the gateway is on the link even if no local address covers it.
const RTNH_F_ONLINK: u32 = 4;

/// struct nhmsg: family, scope, protocol, reserved, flags.
const NHMSG_LEN: usize = 8;

/// Appends one netlink message of type `kind` with an nhmsg header and attributes.
fn append(
    buf: &mut Vec<u8>,
    kind: u16,
    flags: u16,
    seq: u32,
    nhmsg: [u8; NHMSG_LEN],
    attrs: &[(u16, &[u8])],
) {
    let start = buf.len();
    buf.extend_from_slice(&[0; NLMSG_HDRLEN]);
    buf.extend_from_slice(&nhmsg);
    for (t, v) in attrs {
        let len = 4 + v.len();
        buf.extend_from_slice(&(len as u16).to_ne_bytes());
        buf.extend_from_slice(&t.to_ne_bytes());
        buf.extend_from_slice(v);
        buf.resize(start + align4(buf.len() - start), 0);
    }
    let len = (buf.len() - start) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    buf[start + 4..start + 6].copy_from_slice(&kind.to_ne_bytes());
    buf[start + 6..start + 8].copy_from_slice(&flags.to_ne_bytes());
    buf[start + 8..start + 12].copy_from_slice(&seq.to_ne_bytes());
}

fn family(a: &IpAddr) -> u8 {
    match a {
        IpAddr::V4(_) => libc::AF_INET as u8,
        IpAddr::V6(_) => libc::AF_INET6 as u8,
    }
}

/// A request for a new nexthop object through `gateway` on `ifindex`, of protocol `proto`.
/// No id is given: the kernel picks an unused one and tells it in the echo (the caller sets
/// NLM_F_ECHO), so the objects of other software are never touched.
pub(crate) fn new_request(
    buf: &mut Vec<u8>,
    flags: u16,
    seq: u32,
    proto: u8,
    gateway: IpAddr,
    ifindex: u32,
) {
    // Like the routes: an IPv4 neighbour is on the link even when no local address covers
    // it (e.g. /32 addresses on mesh interfaces).
    let nh_flags = if gateway.is_ipv4() { RTNH_F_ONLINK } else { 0 };
    let f = nh_flags.to_ne_bytes();
    let header = [family(&gateway), 0, proto, 0, f[0], f[1], f[2], f[3]];
    let gw: Vec<u8> = match gateway {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    let oif = ifindex.to_ne_bytes();
    append(
        buf,
        RTM_NEWNEXTHOP,
        flags,
        seq,
        header,
        &[(NHA_OIF, &oif), (NHA_GATEWAY, &gw)],
    );
}

/// A delete (RTM_DELNEXTHOP) or get (RTM_GETNEXTHOP) request for object `id`.
pub(crate) fn id_request(buf: &mut Vec<u8>, kind: u16, flags: u16, seq: u32, id: u32) {
    let idb = id.to_ne_bytes();
    append(buf, kind, flags, seq, [0; NHMSG_LEN], &[(NHA_ID, &idb)]);
}

/// A dump request for every nexthop object.
pub(crate) fn dump_request(buf: &mut Vec<u8>, flags: u16, seq: u32) {
    append(buf, RTM_GETNEXTHOP, flags, seq, [0; NHMSG_LEN], &[]);
}

/// One raw message of a datagram: type, flags, sequence number and payload.
pub(crate) struct Raw<'a> {
    pub kind: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// Splits a datagram into raw messages; stops at the first inconsistent length.
pub(crate) fn raw_frames(buf: &[u8]) -> Vec<Raw<'_>> {
    let mut out = Vec::new();
    let mut off = 0;
    while buf.len().saturating_sub(off) >= NLMSG_HDRLEN {
        let h = &buf[off..off + NLMSG_HDRLEN];
        let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() - off {
            break;
        }
        out.push(Raw {
            kind: u16::from_ne_bytes([h[4], h[5]]),
            seq: u32::from_ne_bytes([h[8], h[9], h[10], h[11]]),
            payload: &buf[off + NLMSG_HDRLEN..off + len],
        });
        off += align4(len);
    }
    out
}

/// The errno of an NLMSG_ERROR payload (0 for an ack), if it is long enough.
pub(crate) fn error_code(payload: &[u8]) -> Option<i32> {
    let b = payload.get(0..4)?;
    Some(-i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// Protocol and id of an RTM_NEWNEXTHOP payload (`None` if it is malformed or has no id).
pub(crate) fn parse(payload: &[u8]) -> Option<(u8, u32)> {
    let proto = *payload.get(2)?;
    let mut off = NHMSG_LEN;
    while payload.len().saturating_sub(off) >= 4 {
        let len = u16::from_ne_bytes([payload[off], payload[off + 1]]) as usize;
        let kind = u16::from_ne_bytes([payload[off + 2], payload[off + 3]]) & 0x3fff;
        if len < 4 || len > payload.len() - off {
            return None;
        }
        if kind == NHA_ID && len == 8 {
            let v = &payload[off + 4..off + 8];
            return Some((proto, u32::from_ne_bytes([v[0], v[1], v[2], v[3]])));
        }
        off += align4(len);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_frame_and_parse_back() {
        let mut buf = Vec::new();
        new_request(&mut buf, 5, 7, 42, "fe80::1".parse().unwrap(), 3);
        id_request(&mut buf, RTM_GETNEXTHOP, 1, 8, 1234);
        dump_request(&mut buf, 0x301, 9);
        let f = raw_frames(&buf);
        assert_eq!(f.len(), 3);
        assert_eq!((f[0].kind, f[0].seq), (RTM_NEWNEXTHOP, 7));
        // nhmsg, NHA_OIF (8 bytes), NHA_GATEWAY (4 + 16).
        assert_eq!(f[0].payload.len(), NHMSG_LEN + 8 + 20);
        assert_eq!(f[0].payload[0], libc::AF_INET6 as u8);
        assert_eq!(f[0].payload[2], 42);
        assert_eq!(parse(f[0].payload), None, "no id in a new request");
        assert_eq!((f[1].kind, f[1].seq), (RTM_GETNEXTHOP, 8));
        assert_eq!(parse(f[1].payload), Some((0, 1234)));
        assert_eq!(f[2].payload.len(), NHMSG_LEN);

        let mut v4 = Vec::new();
        new_request(&mut v4, 5, 1, 42, "192.0.2.2".parse().unwrap(), 3);
        let f = raw_frames(&v4);
        assert_eq!(f[0].payload[0], libc::AF_INET as u8);
        assert_eq!(
            u32::from_ne_bytes(f[0].payload[4..8].try_into().unwrap()),
            RTNH_F_ONLINK
        );
    }

    #[test]
    fn garbage_is_refused_without_panic() {
        assert!(raw_frames(&[0xff; 15]).is_empty());
        let mut buf = Vec::new();
        id_request(&mut buf, RTM_GETNEXTHOP, 1, 8, 1234);
        // Truncated datagram: the message is dropped.
        assert!(raw_frames(&buf[..buf.len() - 1]).is_empty());
        // Attribute longer than the payload, or shorter than its header.
        let mut p = raw_frames(&buf)[0].payload.to_vec();
        p[NHMSG_LEN] = 200;
        assert_eq!(parse(&p), None);
        p[NHMSG_LEN] = 2;
        assert_eq!(parse(&p), None);
        assert_eq!(parse(&[1, 2]), None);
        assert_eq!(error_code(&[1]), None);
        assert_eq!(error_code(&(-17i32).to_ne_bytes()), Some(17));
    }
}
