//! Netlink plumbing shared by the monitor and the installer: framing, parsing, conversions.

use std::net::IpAddr;

use crate::monitor::{RouteEvent, RouteKind};
use babel_core::wire::Prefix;
use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteVia};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

pub(crate) type RtMsg = NetlinkMessage<RouteNetlinkMessage>;

/// Size of a netlink message header.
pub(crate) const NLMSG_HDRLEN: usize = 16;

/// Receive buffer for one netlink datagram. The kernel sizes dump datagrams to at most 32 KiB;
/// twice that leaves room.
pub(crate) const RECV_BUF: usize = 64 * 1024;

/// Socket receive buffer asked for (the kernel doubles it). Overflow means lost events
/// (monitor) or lost acks (installer), so it is generous.
pub(crate) const SOCKET_RCVBUF: usize = 4 * 1024 * 1024;

/// Appends one request to `buf`, with its header fields set and 4-byte alignment kept.
pub(crate) fn append(buf: &mut Vec<u8>, inner: RouteNetlinkMessage, flags: u16, seq: u32) {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(inner));
    msg.finalize();
    let len = msg.buffer_len();
    let start = buf.len();
    buf.resize(start + align4(len), 0);
    msg.serialize(&mut buf[start..start + len]);
}

pub(crate) fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// One framed message of a received datagram: its header fields and the parse result.
pub(crate) struct Framed {
    pub seq: u32,
    pub flags: u16,
    pub msg: Option<RtMsg>,
}

/// Splits a datagram into messages. A message that does not parse is returned with `msg`
/// `None` (the caller counts it); a frame whose length is inconsistent ends the walk.
pub(crate) fn frames(buf: &[u8]) -> (Vec<Framed>, bool) {
    let mut out = Vec::new();
    let mut off = 0;
    while buf.len().saturating_sub(off) >= NLMSG_HDRLEN {
        let Some(len) = buf
            .get(off..off + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(|b| u32::from_ne_bytes(b) as usize)
        else {
            return (out, false);
        };
        if len < NLMSG_HDRLEN || off + len > buf.len() {
            return (out, false);
        }
        let frame = &buf[off..off + len];
        let flags = u16::from_ne_bytes([frame[6], frame[7]]);
        let seq = u32::from_ne_bytes([frame[8], frame[9], frame[10], frame[11]]);
        let msg = RtMsg::deserialize(frame).ok();
        out.push(Framed { seq, flags, msg });
        off += align4(len);
    }
    (out, off >= buf.len())
}

pub(crate) fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

pub(crate) fn via_addr(v: &RouteVia) -> Option<IpAddr> {
    match v {
        RouteVia::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteVia::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// The table of a route: RTA_TABLE when present (tables above 255), else the header's.
pub(crate) fn route_table(m: &RouteMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(m.header.table as u32)
}

/// Destination and source prefixes of a route message (`None` for a family other than IPv4
/// or IPv6, or an inconsistent length).
pub(crate) fn route_prefixes(m: &RouteMessage) -> Option<(Prefix, Option<Prefix>)> {
    let unspecified = match m.header.address_family {
        AddressFamily::Inet => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        AddressFamily::Inet6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    let mut dst = unspecified;
    let mut src = unspecified;
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(d) => dst = route_addr(d)?,
            RouteAttribute::Source(s) => src = route_addr(s)?,
            _ => {}
        }
    }
    let dst = Prefix::new(dst, m.header.destination_prefix_length).ok()?;
    let src = if m.header.source_prefix_length > 0 {
        Some(Prefix::new(src, m.header.source_prefix_length).ok()?)
    } else {
        None
    };
    Some((dst, src))
}

/// Asks for a large receive buffer (netlink or UDP socket): SO_RCVBUFFORCE (root) goes past
/// rmem_max; without the privilege, SO_RCVBUF gets what the system allows.
pub(crate) fn set_rcvbuf(s: &impl std::os::fd::AsFd, size: usize) {
    use nix::sys::socket::{setsockopt, sockopt};
    if setsockopt(s, sockopt::RcvBufForce, &size).is_err() {
        let _ = setsockopt(s, sockopt::RcvBuf, &size);
    }
}

/// The text of an errno, as strerror gives it.
pub(crate) fn errno_text(errno: i32) -> String {
    nix::errno::Errno::from_raw(errno).desc().to_string()
}

/// The route a kernel route message describes, as the monitor and the installer's dump report
/// it.
pub(crate) fn route_event(m: &RouteMessage, added: bool) -> Option<RouteEvent> {
    let (prefix, src) = route_prefixes(m)?;
    let mut ev = RouteEvent {
        prefix,
        src,
        table: route_table(m),
        protocol: m.header.protocol.into(),
        metric: 0,
        kind: RouteKind::from(m.header.kind),
        ifindex: None,
        gateway: None,
        added,
    };
    for a in &m.attributes {
        match a {
            RouteAttribute::Priority(p) => ev.metric = *p,
            RouteAttribute::Oif(i) => ev.ifindex = Some(*i),
            RouteAttribute::Gateway(g) => ev.gateway = route_addr(g),
            RouteAttribute::Via(v) => ev.gateway = via_addr(v),
            _ => {}
        }
    }
    Some(ev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::route::RouteHeader;

    #[test]
    fn framing_round_trip_and_garbage() {
        let mut buf = Vec::new();
        for seq in 1..=3u32 {
            let mut m = RouteMessage::default();
            m.header.address_family = AddressFamily::Inet6;
            m.header.destination_prefix_length = 64;
            m.header.table = RouteHeader::RT_TABLE_MAIN;
            m.attributes
                .push(RouteAttribute::Destination(RouteAddress::Inet6(
                    "2001:db8::".parse().unwrap(),
                )));
            append(&mut buf, RouteNetlinkMessage::NewRoute(m), 1, seq);
        }
        let (f, complete) = frames(&buf);
        assert!(complete);
        assert_eq!(f.iter().map(|f| f.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        let Some(NetlinkMessage {
            payload: NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(m)),
            ..
        }) = &f[0].msg
        else {
            panic!("not a route")
        };
        let (dst, src) = route_prefixes(m).unwrap();
        assert_eq!(dst.to_string(), "2001:db8::/64");
        assert_eq!(src, None);
        assert_eq!(route_table(m), 254);

        // Truncated and nonsense lengths stop the walk without a panic.
        let (f, complete) = frames(&buf[..buf.len() - 3]);
        assert_eq!(f.len(), 2);
        assert!(!complete);
        let mut bad = buf.clone();
        bad[0..4].copy_from_slice(&5u32.to_ne_bytes());
        assert!(frames(&bad).0.is_empty());
        assert!(frames(&[0xff; 7]).0.is_empty());
    }
}
