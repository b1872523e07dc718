//! Linux nexthop objects (RTM_NEWNEXTHOP, Linux 5.3 and later), which the installer shares
//! between the routes through one neighbour.
//!
//! A route with its own gateway makes the kernel set up a next hop for that route alone:
//! for IPv6 two per-CPU allocations and a device lookup per route, about half of what adding
//! a route costs. A route that names a nexthop object (RTA_NH_ID) only takes a reference.

use std::net::IpAddr;

use crate::nl::{self, MsgBuilder};

pub(crate) const RTM_NEWNEXTHOP: u16 = 104;
pub(crate) const RTM_DELNEXTHOP: u16 = 105;
pub(crate) const RTM_GETNEXTHOP: u16 = 106;

const NHA_ID: u16 = 1;
const NHA_OIF: u16 = 5;
const NHA_GATEWAY: u16 = 6;

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
    let mut b = MsgBuilder::new(buf, kind, flags, seq, &nhmsg);
    for (t, v) in attrs {
        b.attr(*t, v);
    }
    b.finish();
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
    let nh_flags = if gateway.is_ipv4() {
        nl::RTNH_F_ONLINK
    } else {
        0
    };
    let f = nh_flags.to_ne_bytes();
    let header = [nl::family_of(&gateway), 0, proto, 0, f[0], f[1], f[2], f[3]];
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

/// Protocol and id of an RTM_NEWNEXTHOP payload (`None` if it is malformed or has no id).
pub(crate) fn parse(payload: &[u8]) -> Option<(u8, u32)> {
    let proto = *payload.get(2)?;
    let mut id = None;
    nl::each_attr(payload, NHMSG_LEN, |kind, v| {
        if kind == NHA_ID && v.len() == 4 {
            id = nl::u32_of(v);
        }
    })?;
    Some((proto, id?))
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
        let f = nl::frames(&buf).0;
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
        let f = nl::frames(&v4).0;
        assert_eq!(f[0].payload[0], libc::AF_INET as u8);
        assert_eq!(
            u32::from_ne_bytes(f[0].payload[4..8].try_into().unwrap()),
            nl::RTNH_F_ONLINK
        );
    }

    #[test]
    fn garbage_is_refused_without_panic() {
        assert!(nl::frames(&[0xff; 15]).0.is_empty());
        let mut buf = Vec::new();
        id_request(&mut buf, RTM_GETNEXTHOP, 1, 8, 1234);
        // Truncated datagram: the message is dropped.
        assert!(nl::frames(&buf[..buf.len() - 1]).0.is_empty());
        // Attribute longer than the payload, or shorter than its header.
        let mut p = nl::frames(&buf).0[0].payload.to_vec();
        p[NHMSG_LEN] = 200;
        assert_eq!(parse(&p), None);
        p[NHMSG_LEN] = 2;
        assert_eq!(parse(&p), None);
        assert_eq!(parse(&[1, 2]), None);
        assert_eq!(nl::error_code(&[1]), None);
        assert_eq!(nl::error_code(&(-17i32).to_ne_bytes()), Some(17));
    }
}
