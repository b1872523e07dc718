//! Netlink plumbing shared by the monitor and the installer: framing, the few rtnetlink
//! messages netdriver sends and reads, conversions.
//!
//! The messages are built and read here, not with a general rtnetlink crate: a daemon reads
//! links (name, flags, MTU), addresses and routes, and writes routes, rules and nexthop
//! objects. A general parser of every message kind and attribute (link kinds, VF tables,
//! traffic control...) was a fifth of the daemon's code, all of it resident
//! (docs/performance.md). Attributes not listed here are skipped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::monitor::{RouteEvent, RouteKind};
use babel_core::wire::Prefix;

/// Size of a netlink message header (struct nlmsghdr).
pub(crate) const NLMSG_HDRLEN: usize = 16;

// Message types (linux/netlink.h, linux/rtnetlink.h).
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
pub(crate) const NLMSG_OVERRUN: u16 = 4;
pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_DELLINK: u16 = 17;
pub(crate) const RTM_GETLINK: u16 = 18;
pub(crate) const RTM_NEWADDR: u16 = 20;
pub(crate) const RTM_DELADDR: u16 = 21;
pub(crate) const RTM_GETADDR: u16 = 22;
pub(crate) const RTM_NEWROUTE: u16 = 24;
pub(crate) const RTM_DELROUTE: u16 = 25;
pub(crate) const RTM_GETROUTE: u16 = 26;
pub(crate) const RTM_NEWRULE: u16 = 32;
pub(crate) const RTM_DELRULE: u16 = 33;
pub(crate) const RTM_GETRULE: u16 = 34;

// Header flags.
pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_ECHO: u16 = 0x8;
pub(crate) const NLM_F_DUMP_INTR: u16 = 0x10;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
pub(crate) const NLM_F_REPLACE: u16 = 0x100;
pub(crate) const NLM_F_EXCL: u16 = 0x200;
pub(crate) const NLM_F_CREATE: u16 = 0x400;
pub(crate) const NLM_F_APPEND: u16 = 0x800;

// Route attributes (enum rtattr_type_t).
const RTA_DST: u16 = 1;
const RTA_SRC: u16 = 2;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTA_VIA: u16 = 18;
pub(crate) const RTA_NH_ID: u16 = 30;

// rtm_type values.
pub(crate) const RTN_UNSPEC: u8 = 0;
pub(crate) const RTN_UNICAST: u8 = 1;
const RTN_LOCAL: u8 = 2;
const RTN_BLACKHOLE: u8 = 6;
pub(crate) const RTN_UNREACHABLE: u8 = 7;
const RTN_PROHIBIT: u8 = 8;

// rtm_scope values.
pub(crate) const RT_SCOPE_UNIVERSE: u8 = 0;
pub(crate) const RT_SCOPE_HOST: u8 = 254;
pub(crate) const RT_SCOPE_NOWHERE: u8 = 255;

/// rtm_flags: RTM_F_CLONED (a cached clone, not a route of the table).
pub(crate) const RTM_F_CLONED: u32 = 0x200;
/// rtm_flags: RTNH_F_ONLINK (the gateway is on the link even if no address covers it).
pub(crate) const RTNH_F_ONLINK: u32 = 4;
/// rtnh_flags (and rtm_flags of a one-path route): RTNH_F_DEAD, the path's link is down.
pub(crate) const RTNH_F_DEAD: u8 = 1;
/// Size of struct rtnexthop: length (16 bits), flags, hops, ifindex (32 bits).
const RTNEXTHOP_LEN: usize = 8;

pub(crate) const AF_INET: u8 = libc::AF_INET as u8;
pub(crate) const AF_INET6: u8 = libc::AF_INET6 as u8;

/// Receive buffer for one netlink datagram. The kernel sizes dump datagrams to at most 32 KiB;
/// twice that leaves room.
pub(crate) const RECV_BUF: usize = 64 * 1024;

/// Socket receive buffer asked for (the kernel doubles it). Overflow means lost events
/// (monitor) or lost acks (installer), so it is generous.
pub(crate) const SOCKET_RCVBUF: usize = 4 * 1024 * 1024;

pub(crate) fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// One netlink message being appended to a buffer: header, family header, attributes.
pub(crate) struct MsgBuilder<'a> {
    buf: &'a mut Vec<u8>,
    start: usize,
}

impl<'a> MsgBuilder<'a> {
    /// Starts a message of type `kind` with family header `header` (struct rtmsg,
    /// ifinfomsg...). Its sequence number may be patched later (bytes 8..12).
    pub(crate) fn new(
        buf: &'a mut Vec<u8>,
        kind: u16,
        flags: u16,
        seq: u32,
        header: &[u8],
    ) -> Self {
        let start = buf.len();
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(header);
        buf.resize(start + align4(buf.len() - start), 0);
        MsgBuilder { buf, start }
    }

    /// Appends attribute `kind` with value `v` (padded to 4 bytes).
    pub(crate) fn attr(&mut self, kind: u16, v: &[u8]) -> &mut Self {
        self.buf
            .extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(v);
        let len = self.start + align4(self.buf.len() - self.start);
        self.buf.resize(len, 0);
        self
    }

    pub(crate) fn u32(&mut self, kind: u16, v: u32) -> &mut Self {
        self.attr(kind, &v.to_ne_bytes())
    }

    /// An address attribute: 4 bytes for IPv4, 16 for IPv6.
    pub(crate) fn ip(&mut self, kind: u16, a: IpAddr) -> &mut Self {
        match a {
            IpAddr::V4(a) => self.attr(kind, &a.octets()),
            IpAddr::V6(a) => self.attr(kind, &a.octets()),
        }
    }

    /// Sets the message length.
    pub(crate) fn finish(self) {
        let len = (self.buf.len() - self.start) as u32;
        self.buf[self.start..self.start + 4].copy_from_slice(&len.to_ne_bytes());
    }
}

/// One message of a received datagram: type, flags, sequence number and payload (what
/// follows the netlink header).
pub(crate) struct Raw<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// Splits a datagram into messages. A frame whose length is inconsistent ends the walk;
/// the flag says whether the whole datagram was walked.
pub(crate) fn frames(buf: &[u8]) -> (Vec<Raw<'_>>, bool) {
    let mut out = Vec::new();
    let mut off = 0;
    while buf.len().saturating_sub(off) >= NLMSG_HDRLEN {
        let h = &buf[off..off + NLMSG_HDRLEN];
        let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() - off {
            return (out, false);
        }
        out.push(Raw {
            kind: u16::from_ne_bytes([h[4], h[5]]),
            flags: u16::from_ne_bytes([h[6], h[7]]),
            seq: u32::from_ne_bytes([h[8], h[9], h[10], h[11]]),
            payload: &buf[off + NLMSG_HDRLEN..off + len],
        });
        off += align4(len);
    }
    (out, off >= buf.len())
}

/// The errno of an NLMSG_ERROR payload (0 for an ack), if it is long enough. The kernel
/// sends a negative errno; the one value that has no positive (`i32::MIN`) reads as
/// `i32::MAX`, an errno no system has.
pub(crate) fn error_code(payload: &[u8]) -> Option<i32> {
    let b = payload.get(0..4)?;
    Some(i32::from_ne_bytes([b[0], b[1], b[2], b[3]]).saturating_neg())
}

/// Calls `f` with the type (without the nested and byte-order bits) and value of each
/// attribute after a family header of `hdr` bytes. `None` if the payload is shorter than
/// the header or an attribute's length is inconsistent.
pub(crate) fn each_attr<'a>(
    payload: &'a [u8],
    hdr: usize,
    mut f: impl FnMut(u16, &'a [u8]),
) -> Option<()> {
    let mut off = hdr;
    if payload.len() < hdr {
        return None;
    }
    while payload.len() - off >= 4 {
        let len = u16::from_ne_bytes([payload[off], payload[off + 1]]) as usize;
        let kind = u16::from_ne_bytes([payload[off + 2], payload[off + 3]]) & 0x3fff;
        if len < 4 || len > payload.len() - off {
            return None;
        }
        f(kind, &payload[off + 4..off + len]);
        off += align4(len).min(payload.len() - off);
    }
    Some(())
}

pub(crate) fn u32_of(v: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(v.get(0..4)?.try_into().ok()?))
}

/// An address of family `family` (AF_INET: 4 bytes, AF_INET6: 16).
pub(crate) fn ip_of(family: u8, v: &[u8]) -> Option<IpAddr> {
    match (family, v.len()) {
        (AF_INET, 4) => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(v).ok()?))),
        (AF_INET6, 16) => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(v).ok()?))),
        _ => None,
    }
}

/// The address of an RTA_VIA value (struct rtvia: a 16-bit family, then the address).
fn via_of(v: &[u8]) -> Option<IpAddr> {
    let f = u16::from_ne_bytes([*v.first()?, *v.get(1)?]);
    ip_of(u8::try_from(f).ok()?, &v[2..])
}

pub(crate) fn family_of(a: &IpAddr) -> u8 {
    match a {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

/// struct rtmsg.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RouteHeader {
    pub family: u8,
    pub dst_len: u8,
    pub src_len: u8,
    pub tos: u8,
    pub table: u8,
    pub protocol: u8,
    pub scope: u8,
    pub kind: u8,
    pub flags: u32,
}

/// Size of struct rtmsg.
pub(crate) const RTMSG_LEN: usize = 12;

impl RouteHeader {
    fn parse(p: &[u8]) -> Option<Self> {
        let b = p.get(0..RTMSG_LEN)?;
        Some(RouteHeader {
            family: b[0],
            dst_len: b[1],
            src_len: b[2],
            tos: b[3],
            table: b[4],
            protocol: b[5],
            scope: b[6],
            kind: b[7],
            flags: u32_of(&b[8..12])?,
        })
    }

    pub(crate) fn bytes(&self) -> [u8; RTMSG_LEN] {
        let f = self.flags.to_ne_bytes();
        [
            self.family,
            self.dst_len,
            self.src_len,
            self.tos,
            self.table,
            self.protocol,
            self.scope,
            self.kind,
            f[0],
            f[1],
            f[2],
            f[3],
        ]
    }
}

/// A route message as netdriver reads it: the header and the attributes it uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RouteMsg {
    pub header: RouteHeader,
    pub dst: Option<IpAddr>,
    pub src: Option<IpAddr>,
    pub table: Option<u32>,
    pub priority: Option<u32>,
    pub oif: Option<u32>,
    pub gateway: Option<IpAddr>,
    /// RTA_VIA: a next hop of the other family (RFC 9229).
    pub via: Option<IpAddr>,
    pub pref_src: Option<IpAddr>,
    /// RTA_NH_ID: the route goes through a nexthop object.
    pub nh_id: Option<u32>,
}

impl RouteMsg {
    /// Parses an RTM_NEWROUTE/RTM_DELROUTE payload; `None` if it is malformed (short
    /// header, inconsistent attribute lengths, an address of the wrong size).
    pub(crate) fn parse(p: &[u8]) -> Option<Self> {
        let header = RouteHeader::parse(p)?;
        let fam = header.family;
        let mut m = RouteMsg {
            header,
            ..RouteMsg::default()
        };
        let mut ok = true;
        let mut addr = |v: &[u8]| {
            let a = ip_of(fam, v);
            ok &= a.is_some();
            a
        };
        let num = u32_of;
        each_attr(p, RTMSG_LEN, |kind, v| match kind {
            RTA_DST => m.dst = addr(v),
            RTA_SRC => m.src = addr(v),
            RTA_GATEWAY => m.gateway = addr(v),
            RTA_PREFSRC => m.pref_src = addr(v),
            RTA_TABLE => m.table = num(v),
            RTA_PRIORITY => m.priority = num(v),
            RTA_OIF => m.oif = num(v),
            RTA_NH_ID => m.nh_id = num(v),
            RTA_VIA => m.via = via_of(v),
            _ => {}
        })?;
        ok.then_some(m)
    }

    /// The table: RTA_TABLE when present (tables above 255), else the header's.
    pub(crate) fn table(&self) -> u32 {
        self.table.unwrap_or(u32::from(self.header.table))
    }

    /// Appends this message as a request of type `kind`: the header, then the attributes
    /// that are set, in the order the installer has always sent them.
    pub(crate) fn append(&self, buf: &mut Vec<u8>, kind: u16, flags: u16, seq: u32) {
        let mut b = MsgBuilder::new(buf, kind, flags, seq, &self.header.bytes());
        if let Some(a) = self.dst {
            b.ip(RTA_DST, a);
        }
        if let Some(a) = self.src {
            b.ip(RTA_SRC, a);
        }
        if let Some(t) = self.table {
            b.u32(RTA_TABLE, t);
        }
        if let Some(p) = self.priority {
            b.u32(RTA_PRIORITY, p);
        }
        if let Some(id) = self.nh_id {
            b.u32(RTA_NH_ID, id);
        }
        if let Some(i) = self.oif {
            b.u32(RTA_OIF, i);
        }
        if let Some(a) = self.via {
            let mut v = Vec::with_capacity(18);
            v.extend_from_slice(&u16::from(family_of(&a)).to_ne_bytes());
            match a {
                IpAddr::V4(a) => v.extend_from_slice(&a.octets()),
                IpAddr::V6(a) => v.extend_from_slice(&a.octets()),
            }
            b.attr(RTA_VIA, &v);
        }
        if let Some(a) = self.gateway {
            b.ip(RTA_GATEWAY, a);
        }
        if let Some(a) = self.pref_src {
            b.ip(RTA_PREFSRC, a);
        }
        b.finish();
    }
}

/// A dump request of type `kind` for one family, with a family header of `hdr_len` bytes
/// whose first byte is the family (rtmsg, fib_rule_hdr, ifinfomsg, ifaddrmsg).
pub(crate) fn dump_request(buf: &mut Vec<u8>, kind: u16, family: u8, hdr_len: usize, seq: u32) {
    let mut h = [0u8; 16];
    h[0] = family;
    MsgBuilder::new(buf, kind, NLM_F_REQUEST | NLM_F_DUMP, seq, &h[..hdr_len]).finish();
}

impl From<u8> for RouteKind {
    fn from(t: u8) -> Self {
        match t {
            RTN_UNICAST => RouteKind::Unicast,
            RTN_UNREACHABLE => RouteKind::Unreachable,
            RTN_BLACKHOLE => RouteKind::Blackhole,
            RTN_PROHIBIT => RouteKind::Prohibit,
            RTN_LOCAL => RouteKind::Local,
            other => RouteKind::Other(other),
        }
    }
}

/// Destination and source prefixes of a route message (`None` for a family other than IPv4
/// or IPv6, or an inconsistent length).
pub(crate) fn route_prefixes(m: &RouteMsg) -> Option<(Prefix, Option<Prefix>)> {
    let unspecified = match m.header.family {
        AF_INET => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        AF_INET6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    let dst = Prefix::new(m.dst.unwrap_or(unspecified), m.header.dst_len).ok()?;
    let src = if m.header.src_len > 0 {
        Some(Prefix::new(m.src.unwrap_or(unspecified), m.header.src_len).ok()?)
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
pub(crate) fn route_event(m: &RouteMsg, added: bool) -> Option<RouteEvent> {
    let (prefix, src) = route_prefixes(m)?;
    Some(RouteEvent {
        prefix,
        src,
        table: m.table(),
        protocol: m.header.protocol,
        metric: m.priority.unwrap_or(0),
        kind: RouteKind::from(m.header.kind),
        ifindex: m.oif,
        gateway: m.via.or(m.gateway),
        added,
    })
}

/// One path (next hop) of a route message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RoutePath {
    /// RTA_GATEWAY or RTA_VIA.
    pub gateway: Option<IpAddr>,
    /// The output interface (`None` for none, as for a blackhole route).
    pub ifindex: Option<u32>,
    /// rtnh_flags (RTNH_F_DEAD, RTNH_F_LINKDOWN...).
    pub flags: u8,
}

/// Calls `f` with each path of the route message `m` read from payload `p`: each
/// rtnexthop of RTA_MULTIPATH, or else the one path of the message's own attributes.
/// `None` if RTA_MULTIPATH is malformed (an entry shorter than its header or running past
/// the attribute, bytes left over, a nested attribute with an inconsistent length or an
/// address of the wrong size); some paths may have been passed to `f` by then.
pub(crate) fn route_paths(p: &[u8], m: &RouteMsg, mut f: impl FnMut(RoutePath)) -> Option<()> {
    let mut multipath = None;
    each_attr(p, RTMSG_LEN, |kind, v| {
        if kind == RTA_MULTIPATH {
            multipath = Some(v);
        }
    })?;
    let Some(mut v) = multipath else {
        f(RoutePath {
            gateway: m.via.or(m.gateway),
            ifindex: m.oif,
            // A one-path route carries its path's flags in rtm_flags.
            flags: m.header.flags as u8,
        });
        return Some(());
    };
    while !v.is_empty() {
        let h = v.get(..RTNEXTHOP_LEN)?;
        let len = usize::from(u16::from_ne_bytes([h[0], h[1]]));
        let entry = v.get(..len).filter(|_| len >= RTNEXTHOP_LEN)?;
        let ifindex = u32_of(&h[4..8]).filter(|&i| i != 0);
        let (mut gateway, mut ok) = (None, true);
        each_attr(entry, RTNEXTHOP_LEN, |kind, a| match kind {
            RTA_GATEWAY => {
                gateway = ip_of(m.header.family, a);
                ok &= gateway.is_some();
            }
            RTA_VIA => {
                gateway = via_of(a);
                ok &= gateway.is_some();
            }
            _ => {}
        })?;
        if !ok {
            return None;
        }
        f(RoutePath {
            gateway,
            ifindex,
            flags: h[2],
        });
        v = &v[align4(len).min(v.len())..];
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(dst: &str, plen: u8) -> RouteMsg {
        RouteMsg {
            header: RouteHeader {
                family: AF_INET6,
                dst_len: plen,
                table: 254,
                protocol: 42,
                kind: RTN_UNICAST,
                ..RouteHeader::default()
            },
            dst: Some(dst.parse().unwrap()),
            table: Some(1000),
            priority: Some(7),
            oif: Some(3),
            gateway: Some("fe80::1".parse().unwrap()),
            ..RouteMsg::default()
        }
    }

    #[test]
    fn framing_round_trip_and_garbage() {
        let mut buf = Vec::new();
        for seq in 1..=3u32 {
            route("2001:db8::", 64).append(&mut buf, RTM_NEWROUTE, 1, seq);
        }
        let (f, complete) = frames(&buf);
        assert!(complete);
        assert_eq!(f.iter().map(|f| f.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!((f[0].kind, f[0].flags), (RTM_NEWROUTE, 1));
        let m = RouteMsg::parse(f[0].payload).unwrap();
        assert_eq!(m, route("2001:db8::", 64));
        let (dst, src) = route_prefixes(&m).unwrap();
        assert_eq!(dst.to_string(), "2001:db8::/64");
        assert_eq!(src, None);
        assert_eq!(m.table(), 1000);
        let ev = route_event(&m, true).unwrap();
        assert_eq!(
            (ev.metric, ev.ifindex, ev.kind, ev.protocol),
            (7, Some(3), RouteKind::Unicast, 42)
        );
        assert_eq!(ev.gateway, Some("fe80::1".parse().unwrap()));

        // Truncated and nonsense lengths stop the walk without a panic.
        let (f, complete) = frames(&buf[..buf.len() - 3]);
        assert_eq!(f.len(), 2);
        assert!(!complete);
        let mut bad = buf.clone();
        bad[0..4].copy_from_slice(&5u32.to_ne_bytes());
        assert!(frames(&bad).0.is_empty());
        assert!(frames(&[0xff; 7]).0.is_empty());
    }

    #[test]
    fn malformed_route_payloads_are_refused() {
        let mut buf = Vec::new();
        route("2001:db8::", 64).append(&mut buf, RTM_NEWROUTE, 0, 1);
        let p = frames(&buf).0[0].payload.to_vec();
        // Short header.
        assert_eq!(RouteMsg::parse(&p[..11]), None);
        // An attribute running past the end.
        let mut long = p.clone();
        long[RTMSG_LEN] = 200;
        assert_eq!(RouteMsg::parse(&long), None);
        // An IPv4 destination in an IPv6 route.
        let mut m = route("2001:db8::", 64);
        m.dst = Some("192.0.2.0".parse().unwrap());
        let mut buf = Vec::new();
        m.append(&mut buf, RTM_NEWROUTE, 0, 1);
        assert_eq!(RouteMsg::parse(frames(&buf).0[0].payload), None);
        // A table-less header only message is fine: the header's table counts.
        let h = RouteHeader {
            family: AF_INET,
            table: 254,
            ..RouteHeader::default()
        };
        let m = RouteMsg::parse(&h.bytes()).unwrap();
        assert_eq!(m.table(), 254);
        assert_eq!(route_prefixes(&m).unwrap().0.to_string(), "0.0.0.0/0");
    }

    #[test]
    fn via_round_trips() {
        let mut m = route("2001:db8::", 64);
        m.header.family = AF_INET;
        m.header.dst_len = 24;
        m.dst = Some("192.0.2.0".parse().unwrap());
        m.gateway = None;
        m.via = Some("fe80::2".parse().unwrap());
        let mut buf = Vec::new();
        m.append(&mut buf, RTM_NEWROUTE, 0, 1);
        let back = RouteMsg::parse(frames(&buf).0[0].payload).unwrap();
        assert_eq!(back, m);
        assert_eq!(route_event(&back, true).unwrap().gateway, m.via);
    }

    /// An rtnexthop: length, flags, hops, ifindex, then its attributes.
    fn rtnh(flags: u8, ifindex: u32, attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut v = vec![0, 0, flags, 0];
        v.extend_from_slice(&ifindex.to_ne_bytes());
        for (kind, a) in attrs {
            v.extend_from_slice(&((4 + a.len()) as u16).to_ne_bytes());
            v.extend_from_slice(&kind.to_ne_bytes());
            v.extend_from_slice(a);
            v.resize(align4(v.len()), 0);
        }
        let len = (v.len() as u16).to_ne_bytes();
        v[..2].copy_from_slice(&len);
        v
    }

    /// A route message with RTA_MULTIPATH `mp`, and its paths (`None`: refused).
    fn paths_of(family: u8, mp: &[u8]) -> Option<Vec<RoutePath>> {
        let mut m = route("2001:db8::", 64);
        m.header.family = family;
        m.dst = None;
        m.gateway = None;
        m.oif = None;
        let mut buf = Vec::new();
        let mut b = MsgBuilder::new(&mut buf, RTM_NEWROUTE, 0, 1, &m.header.bytes());
        b.attr(RTA_MULTIPATH, mp);
        b.finish();
        let p = frames(&buf).0[0].payload;
        let m = RouteMsg::parse(p)?;
        let mut out = Vec::new();
        route_paths(p, &m, |r| out.push(r))?;
        Some(out)
    }

    #[test]
    fn multipath_paths_are_read_and_checked() {
        let a: Ipv6Addr = "2001:db8:a::2".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:b::2".parse().unwrap();
        let mut mp = rtnh(0, 3, &[(RTA_GATEWAY, &a.octets())]);
        mp.extend(rtnh(RTNH_F_DEAD, 5, &[(RTA_GATEWAY, &b.octets())]));
        assert_eq!(
            paths_of(AF_INET6, &mp),
            Some(vec![
                RoutePath {
                    gateway: Some(a.into()),
                    ifindex: Some(3),
                    flags: 0
                },
                RoutePath {
                    gateway: Some(b.into()),
                    ifindex: Some(5),
                    flags: RTNH_F_DEAD
                },
            ])
        );
        // An IPv4 route through an IPv6 next hop (RTA_VIA), and one without gateway.
        let mut via = vec![AF_INET6, 0];
        via.extend_from_slice(&a.octets());
        let mut mp4 = rtnh(0, 3, &[(RTA_VIA, &via)]);
        mp4.extend(rtnh(0, 4, &[]));
        let got = paths_of(AF_INET, &mp4).unwrap();
        assert_eq!(got[0].gateway, Some(a.into()));
        assert_eq!((got[1].gateway, got[1].ifindex), (None, Some(4)));
        // Without RTA_MULTIPATH, the message's own gateway and interface.
        let mut buf = Vec::new();
        route("2001:db8::", 64).append(&mut buf, RTM_NEWROUTE, 0, 1);
        let p = frames(&buf).0[0].payload;
        let mut one = Vec::new();
        route_paths(p, &RouteMsg::parse(p).unwrap(), |r| one.push(r)).unwrap();
        assert_eq!(
            one,
            vec![RoutePath {
                gateway: Some("fe80::1".parse().unwrap()),
                ifindex: Some(3),
                flags: 0
            }]
        );

        // Refused, never a panic: an entry shorter than its header, one running past the
        // attribute, bytes left over, an address of the wrong size, a nested length lying.
        let mut short = mp.clone();
        short[..2].copy_from_slice(&4u16.to_ne_bytes());
        assert_eq!(paths_of(AF_INET6, &short), None);
        let mut long = mp.clone();
        long[..2].copy_from_slice(&200u16.to_ne_bytes());
        assert_eq!(paths_of(AF_INET6, &long), None);
        assert_eq!(
            paths_of(AF_INET6, &[mp.as_slice(), &[1, 2, 3]].concat()),
            None
        );
        assert_eq!(paths_of(AF_INET, &mp), None);
        let mut nested = mp.clone();
        nested[8..10].copy_from_slice(&30u16.to_ne_bytes());
        assert_eq!(paths_of(AF_INET6, &nested), None);
        assert_eq!(paths_of(AF_INET6, &[]), Some(vec![]));
    }
}
