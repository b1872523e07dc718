//! The netlink monitor: links, addresses and routes, dumped once and then followed live.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use babel_core::wire::Prefix;
use futures::Stream;
use netlink_packet_core::{NetlinkPayload, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{RouteFlags, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, AsyncSocket, SocketAddr, TokioSocket};

use crate::nl;

// Multicast group bits (RTMGRP_*) of rtnetlink.
const RTMGRP_LINK: u32 = libc::RTMGRP_LINK as u32;
const RTMGRP_IPV4_IFADDR: u32 = libc::RTMGRP_IPV4_IFADDR as u32;
const RTMGRP_IPV4_ROUTE: u32 = libc::RTMGRP_IPV4_ROUTE as u32;
const RTMGRP_IPV6_IFADDR: u32 = libc::RTMGRP_IPV6_IFADDR as u32;
const RTMGRP_IPV6_ROUTE: u32 = libc::RTMGRP_IPV6_ROUTE as u32;

/// What the monitor follows.
#[derive(Clone, Debug)]
pub struct MonitorConfig {
    /// Follow routes (for redistribution). Off: links and addresses only.
    pub routes: bool,
    /// Tables whose routes are reported; empty means every table.
    pub route_tables: Vec<u32>,
    /// Socket receive buffer in bytes. Events beyond it are dropped by the kernel and
    /// reported as [`NetEvent::Overrun`], followed by a re-dump.
    pub rcvbuf: usize,
    /// Route notifications of this protocol are dropped in the kernel, before they reach
    /// the socket, and left out of dumps too. A daemon sets its own protocol here: it knows
    /// its routes, the monitor need not remember them for a resynchronisation, and writing
    /// 100,000 routes would otherwise queue 100,000 notifications of its own changes,
    /// overrun the buffer and force a full re-dump.
    pub ignore_protocol: Option<u8>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            routes: true,
            route_tables: vec![crate::RT_TABLE_MAIN],
            rcvbuf: nl::SOCKET_RCVBUF,
            ignore_protocol: None,
        }
    }
}

/// A link appeared, changed or went away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkEvent {
    pub ifindex: u32,
    pub name: String,
    /// Administratively up (IFF_UP) and running (IFF_RUNNING: carrier and operational).
    pub up: bool,
    pub mtu: u32,
    /// RTM_DELLINK: the interface is gone.
    pub removed: bool,
}

/// An address was added, changed (flags) or removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrEvent {
    pub ifindex: u32,
    pub addr: IpAddr,
    pub plen: u8,
    /// RTM_NEWADDR (true) or RTM_DELADDR (false).
    pub added: bool,
    /// Duplicate address detection is not finished (IFA_F_TENTATIVE) or failed: the address
    /// cannot be used as a source yet.
    pub tentative: bool,
    /// Duplicate address detection failed (IFA_F_DADFAILED).
    pub dad_failed: bool,
}

/// The kind of a route (rtm_type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKind {
    Unicast,
    Unreachable,
    Blackhole,
    Prohibit,
    Local,
    Other(u8),
}

impl From<RouteType> for RouteKind {
    fn from(t: RouteType) -> Self {
        match t {
            RouteType::Unicast => RouteKind::Unicast,
            RouteType::Unreachable => RouteKind::Unreachable,
            RouteType::BlackHole => RouteKind::Blackhole,
            RouteType::Prohibit => RouteKind::Prohibit,
            RouteType::Local => RouteKind::Local,
            other => RouteKind::Other(u8::from(other)),
        }
    }
}

/// A kernel route was added, replaced or removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteEvent {
    pub prefix: Prefix,
    /// Source prefix of an IPv6 source-specific route.
    pub src: Option<Prefix>,
    pub table: u32,
    /// rtm_protocol: who installed it (2 kernel, 3 boot, 4 static, 42 babel, ...).
    pub protocol: u8,
    /// RTA_PRIORITY (0 when absent).
    pub metric: u32,
    pub kind: RouteKind,
    pub ifindex: Option<u32>,
    /// RTA_GATEWAY or RTA_VIA.
    pub gateway: Option<IpAddr>,
    /// RTM_NEWROUTE (true) or RTM_DELROUTE (false).
    pub added: bool,
}

/// One item of the monitor's stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetEvent {
    Link(LinkEvent),
    Addr(AddrEvent),
    Route(RouteEvent),
    /// The initial dump (or a re-dump) is complete: everything before this describes the
    /// whole current state.
    DumpDone,
    /// The kernel dropped events (socket overrun, ENOBUFS). A full re-dump follows, ended by
    /// [`NetEvent::DumpDone`]. Just before that `DumpDone`, the monitor reports as removed
    /// every link, address and route it had reported that the re-dump no longer shows, so
    /// a consumer that applies the events in order ends with the kernel's state.
    Overrun,
}

type RouteKey = (Prefix, Option<Prefix>, u32, u32);

fn route_key(r: &RouteEvent) -> RouteKey {
    (r.prefix, r.src, r.table, r.metric)
}

/// One kind of object the monitor has reported and not withdrawn, and during a
/// resynchronisation which of them the re-dump (or a live event) confirmed.
struct Tracked<K, V> {
    known: HashMap<K, V>,
    seen: HashSet<K>,
}

impl<K, V> Default for Tracked<K, V> {
    fn default() -> Self {
        Tracked {
            known: HashMap::new(),
            seen: HashSet::new(),
        }
    }
}

impl<K: Copy + Eq + Hash + Ord, V> Tracked<K, V> {
    fn insert(&mut self, k: K, v: V, resync: bool) {
        self.known.insert(k, v);
        if resync {
            self.seen.insert(k);
        }
    }

    fn remove(&mut self, k: &K) -> Option<V> {
        self.seen.remove(k);
        self.known.remove(k)
    }

    /// Takes out, in key order, what was not confirmed since the resynchronisation started.
    fn take_stale(&mut self) -> Vec<V> {
        let mut keys: Vec<K> = self
            .known
            .keys()
            .filter(|k| !self.seen.contains(k))
            .copied()
            .collect();
        keys.sort_unstable();
        self.seen.clear();
        keys.iter().filter_map(|k| self.known.remove(k)).collect()
    }
}

/// What the monitor has reported and not withdrawn: what a consumer believes. After an
/// overrun, entries the re-dump does not confirm are reported removed.
#[derive(Default)]
struct Known {
    links: Tracked<u32, LinkEvent>,
    addrs: Tracked<(u32, IpAddr, u8), AddrEvent>,
    routes: Tracked<RouteKey, RouteEvent>,
}

impl Known {
    fn record(&mut self, ev: &NetEvent, resync: bool) {
        match ev {
            NetEvent::Link(l) if l.removed => {
                self.links.remove(&l.ifindex);
                // The kernel removes a vanished link's addresses (it may not say so).
                self.addrs.known.retain(|k, _| k.0 != l.ifindex);
            }
            NetEvent::Link(l) => self.links.insert(l.ifindex, l.clone(), resync),
            NetEvent::Addr(a) => {
                let k = (a.ifindex, a.addr, a.plen);
                if a.added {
                    self.addrs.insert(k, *a, resync);
                } else {
                    self.addrs.remove(&k);
                }
            }
            NetEvent::Route(r) => {
                let k = route_key(r);
                if r.added {
                    self.routes.insert(k, *r, resync);
                } else {
                    self.routes.remove(&k);
                }
            }
            NetEvent::DumpDone | NetEvent::Overrun => {}
        }
    }

    fn clear_seen(&mut self) {
        self.links.seen.clear();
        self.addrs.seen.clear();
        self.routes.seen.clear();
    }

    /// Removal events for everything not confirmed since the resynchronisation started:
    /// addresses and routes first, then links.
    fn stale(&mut self, out: &mut VecDeque<NetEvent>) {
        for mut a in self.addrs.take_stale() {
            a.added = false;
            out.push_back(NetEvent::Addr(a));
        }
        for mut r in self.routes.take_stale() {
            r.added = false;
            out.push_back(NetEvent::Route(r));
        }
        for mut l in self.links.take_stale() {
            l.up = false;
            l.removed = true;
            out.push_back(NetEvent::Link(l));
        }
    }
}

/// Counters of the monitor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MonitorStats {
    /// Completed dumps (the initial one included).
    pub dumps: u64,
    /// Socket overruns (ENOBUFS).
    pub overruns: u64,
    /// Links, addresses and routes reported removed after a resynchronisation because the
    /// re-dump no longer showed them (their removal events had been lost).
    pub stale_removed: u64,
    /// Messages that could not be parsed, and dump requests the kernel refused.
    pub malformed: u64,
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Links,
    Addrs,
    Routes4,
    Routes6,
}

/// The netlink monitor, a [`Stream`] of [`NetEvent`]s: an initial dump of links, addresses
/// and (optionally) routes, then live events. Must be created inside a tokio runtime.
pub struct Monitor {
    sock: TokioSocket,
    config: MonitorConfig,
    buf: Vec<u8>,
    queue: VecDeque<NetEvent>,
    /// Dump steps still to run; the front one is running when `dump_seq` is set.
    steps: VecDeque<Step>,
    dump_seq: Option<u32>,
    resync_pending: bool,
    /// A resynchronisation after an overrun is running: unconfirmed state is withdrawn at
    /// its end.
    resyncing: bool,
    known: Known,
    seq: u32,
    stats: MonitorStats,
}

impl Monitor {
    /// Opens the netlink socket, subscribes to the groups and starts the initial dump.
    pub fn new(config: MonitorConfig) -> io::Result<Self> {
        let mut sock = TokioSocket::new(NETLINK_ROUTE)?;
        let mut groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
        if config.routes {
            groups |= RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
        }
        {
            let s = sock.socket_mut();
            nl::set_rcvbuf(s, config.rcvbuf);
            if let Some(proto) = config.ignore_protocol {
                socket2::SockRef::from(&*s).attach_filter(&ignore_protocol_filter(proto))?;
            }
            s.bind(&SocketAddr::new(0, groups))?;
        }
        let mut m = Monitor {
            sock,
            config,
            buf: Vec::with_capacity(nl::RECV_BUF),
            queue: VecDeque::new(),
            steps: VecDeque::new(),
            dump_seq: None,
            resync_pending: false,
            resyncing: false,
            known: Known::default(),
            seq: 0,
            stats: MonitorStats::default(),
        };
        // Subscribed before dumping: an event racing the dump is seen twice, never lost.
        m.start_dump()?;
        Ok(m)
    }

    /// Counters.
    pub fn stats(&self) -> MonitorStats {
        self.stats
    }

    fn start_dump(&mut self) -> io::Result<()> {
        self.steps.clear();
        self.steps.extend([Step::Links, Step::Addrs]);
        if self.config.routes {
            self.steps.extend([Step::Routes4, Step::Routes6]);
        }
        self.resync_pending = false;
        // What the previous (interrupted) dump confirmed may be stale already.
        self.known.clear_seen();
        self.send_step()
    }

    fn send_step(&mut self) -> io::Result<()> {
        let Some(step) = self.steps.front().copied() else {
            self.dump_seq = None;
            return Ok(());
        };
        self.seq = self.seq.wrapping_add(1);
        let msg = match step {
            Step::Links => RouteNetlinkMessage::GetLink(LinkMessage::default()),
            Step::Addrs => RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            Step::Routes4 | Step::Routes6 => {
                let mut r = RouteMessage::default();
                r.header.address_family = if matches!(step, Step::Routes4) {
                    AddressFamily::Inet
                } else {
                    AddressFamily::Inet6
                };
                RouteNetlinkMessage::GetRoute(r)
            }
        };
        let mut buf = Vec::with_capacity(64);
        nl::append(&mut buf, msg, NLM_F_REQUEST | NLM_F_DUMP, self.seq);
        self.sock
            .socket_ref()
            .send_to(&buf, &SocketAddr::new(0, 0), 0)?;
        self.dump_seq = Some(self.seq);
        Ok(())
    }

    /// A dump step ended (NLMSG_DONE, or an error for its request).
    fn step_done(&mut self) -> io::Result<()> {
        self.steps.pop_front();
        if self.steps.is_empty() {
            self.dump_seq = None;
            self.stats.dumps += 1;
            if self.resync_pending {
                // Events were lost or the dump was inconsistent: dump again before saying
                // anything is complete or stale.
                return self.start_dump();
            }
            if self.resyncing {
                self.resyncing = false;
                let before = self.queue.len();
                self.known.stale(&mut self.queue);
                self.stats.stale_removed += (self.queue.len() - before) as u64;
            }
            self.queue.push_back(NetEvent::DumpDone);
            Ok(())
        } else {
            self.send_step()
        }
    }

    fn overrun(&mut self) -> io::Result<()> {
        self.stats.overruns += 1;
        self.resyncing = true;
        self.queue.push_back(NetEvent::Overrun);
        if self.dump_seq.is_some() {
            self.resync_pending = true;
            Ok(())
        } else {
            self.start_dump()
        }
    }

    fn handle_datagram(&mut self) -> io::Result<()> {
        let buf = std::mem::take(&mut self.buf);
        let (frames, complete) = nl::frames(&buf);
        if !complete {
            self.stats.malformed += 1;
        }
        for f in frames {
            let in_dump = self.dump_seq == Some(f.seq) && f.seq != 0;
            if in_dump && f.flags & NLM_F_DUMP_INTR != 0 {
                // The dump was interrupted by a change: its result may be inconsistent.
                self.resync_pending = true;
            }
            let Some(msg) = f.msg else {
                self.stats.malformed += 1;
                continue;
            };
            match msg.payload {
                NetlinkPayload::Done(_) if in_dump => self.step_done()?,
                NetlinkPayload::Error(e) if in_dump => {
                    if e.code.is_some() {
                        self.stats.malformed += 1;
                    }
                    self.step_done()?;
                }
                NetlinkPayload::Overrun(_) => self.overrun()?,
                NetlinkPayload::InnerMessage(inner) => {
                    if let Some(ev) = self.convert(inner) {
                        self.known.record(&ev, self.resyncing);
                        self.queue.push_back(ev);
                    }
                }
                _ => {}
            }
        }
        self.buf = buf;
        Ok(())
    }

    fn convert(&self, msg: RouteNetlinkMessage) -> Option<NetEvent> {
        match msg {
            RouteNetlinkMessage::NewLink(l) => link_event(&l, false).map(NetEvent::Link),
            RouteNetlinkMessage::DelLink(l) => link_event(&l, true).map(NetEvent::Link),
            RouteNetlinkMessage::NewAddress(a) => addr_event(&a, true).map(NetEvent::Addr),
            RouteNetlinkMessage::DelAddress(a) => addr_event(&a, false).map(NetEvent::Addr),
            RouteNetlinkMessage::NewRoute(r) => self.route_event(&r, true).map(NetEvent::Route),
            RouteNetlinkMessage::DelRoute(r) => self.route_event(&r, false).map(NetEvent::Route),
            _ => None,
        }
    }

    fn route_event(&self, m: &RouteMessage, added: bool) -> Option<RouteEvent> {
        if !self.config.routes
            || m.header.flags.contains(RouteFlags::Cloned)
            // Dump replies are not filtered in the kernel.
            || self.config.ignore_protocol == Some(u8::from(m.header.protocol))
        {
            return None;
        }
        let table = nl::route_table(m);
        if !self.config.route_tables.is_empty() && !self.config.route_tables.contains(&table) {
            return None;
        }
        nl::route_event(m, added)
    }
}

fn link_event(m: &LinkMessage, removed: bool) -> Option<LinkEvent> {
    // Bridge-port (AF_BRIDGE) notifications describe the same links again; skip them.
    if m.header.interface_family != AddressFamily::Unspec {
        return None;
    }
    let flags = m.header.flags;
    let mut ev = LinkEvent {
        ifindex: m.header.index,
        name: String::new(),
        up: !removed && flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::Running),
        mtu: 0,
        removed,
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => ev.name = n.clone(),
            LinkAttribute::Mtu(mtu) => ev.mtu = *mtu,
            _ => {}
        }
    }
    Some(ev)
}

fn addr_event(m: &AddressMessage, added: bool) -> Option<AddrEvent> {
    let mut addr = None;
    let mut local = None;
    let mut flags = AddressFlags::from_bits_retain(u32::from(m.header.flags.bits()));
    for a in &m.attributes {
        match a {
            AddressAttribute::Address(x) => addr = Some(*x),
            AddressAttribute::Local(x) => local = Some(*x),
            // IFA_FLAGS carries all 32 bits; the header only the low 8.
            AddressAttribute::Flags(f) => flags = *f,
            _ => {}
        }
    }
    // IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on point-to-point).
    let addr = match m.header.family {
        AddressFamily::Inet => local.or(addr)?,
        AddressFamily::Inet6 => addr.or(local)?,
        _ => return None,
    };
    let dad_failed = flags.contains(AddressFlags::Dadfailed);
    Some(AddrEvent {
        ifindex: m.header.index,
        addr,
        plen: m.header.prefix_len,
        added,
        tentative: flags.contains(AddressFlags::Tentative) || dad_failed,
        dad_failed,
    })
}

impl Stream for Monitor {
    type Item = io::Result<NetEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(ev) = this.queue.pop_front() {
                return Poll::Ready(Some(Ok(ev)));
            }
            this.buf.clear();
            this.buf.reserve(nl::RECV_BUF);
            let res = ready!(this.sock.poll_recv(cx, &mut this.buf));
            let step = match res {
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => this.overrun(),
                Err(e) => Err(e),
                Ok(()) => this.handle_datagram(),
            };
            if let Err(e) = step {
                return Poll::Ready(Some(Err(e)));
            }
        }
    }
}

/// A classic BPF socket filter that drops route notifications (RTM_NEWROUTE, RTM_DELROUTE
/// without NLM_F_MULTI) of protocol `proto` and accepts everything else. It reads the first
/// message of each datagram: a notification is alone in its datagram, and dump replies
/// (NLM_F_MULTI) always pass.
pub(crate) fn ignore_protocol_filter(proto: u8) -> Vec<socket2::SockFilter> {
    use socket2::SockFilter as F;
    // Byte offsets in struct nlmsghdr (native byte order) and struct rtmsg after it.
    let (type_lo, type_hi, flags_lo) = if cfg!(target_endian = "little") {
        (4, 5, 6)
    } else {
        (5, 4, 7)
    };
    const RTM_PROTOCOL: u32 = 16 + 5;
    const LDB: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
    const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const JSET: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
    const RET: u16 = 0x06; // BPF_RET | BPF_K
    const NLM_F_MULTI: u32 = 2;
    // Jump offsets count from the next instruction; 9 accepts, 10 drops.
    vec![
        F::new(LDB, 0, 0, type_hi),
        F::new(JEQ, 0, 7, 0),
        F::new(LDB, 0, 0, type_lo),
        F::new(JEQ, 1, 0, 24), // RTM_NEWROUTE
        F::new(JEQ, 0, 4, 25), // RTM_DELROUTE
        F::new(LDB, 0, 0, flags_lo),
        F::new(JSET, 2, 0, NLM_F_MULTI),
        F::new(LDB, 0, 0, RTM_PROTOCOL),
        F::new(JEQ, 1, 0, u32::from(proto)),
        F::new(RET, 0, 0, u32::MAX),
        F::new(RET, 0, 0, 0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::address::AddressHeaderFlags;

    #[test]
    fn tentative_from_header_or_ifa_flags() {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet6;
        m.header.prefix_len = 64;
        m.header.index = 3;
        m.header.flags = AddressHeaderFlags::Tentative;
        m.attributes
            .push(AddressAttribute::Address("fe80::1".parse().unwrap()));
        let ev = addr_event(&m, true).unwrap();
        assert!(ev.tentative && !ev.dad_failed);
        // IFA_FLAGS wins over the header byte.
        m.attributes
            .push(AddressAttribute::Flags(AddressFlags::Permanent));
        let ev = addr_event(&m, true).unwrap();
        assert!(!ev.tentative);
        m.attributes.pop();
        m.attributes.push(AddressAttribute::Flags(
            AddressFlags::Tentative | AddressFlags::Dadfailed,
        ));
        let ev = addr_event(&m, true).unwrap();
        assert!(ev.tentative && ev.dad_failed);
        // An address message without an address is dropped, not a panic.
        m.attributes.clear();
        assert_eq!(addr_event(&m, true), None);
    }
}
