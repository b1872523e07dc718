//! The kernel route installer: protocol-42 routes, replaced atomically, pipelined in batches.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use babel_core::wire::Prefix;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::monitor::RouteEvent;
use crate::nexthop;
use crate::nl::{
    self, RouteHeader, RouteMsg, AF_INET, AF_INET6, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK,
    NLM_F_CREATE, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_ECHO, NLM_F_EXCL, NLM_F_REPLACE,
    NLM_F_REQUEST,
};

/// RTPROT_BABEL: the routing protocol number Linux reserves for Babel.
pub const RTPROT_BABEL: u8 = 42;

/// Where and how routes are installed.
#[derive(Clone, Debug)]
pub struct InstallerConfig {
    /// Kernel table (babeld's `export-table`; default main, 254).
    pub table: u32,
    /// rtm_protocol of installed routes (default 42).
    pub protocol: u8,
    /// Most route messages sent in one datagram before their acks are collected.
    pub batch: usize,
    /// Routes through the same neighbour share one kernel nexthop object (Linux 5.3 and
    /// later; without them every route carries its gateway, as it does anyway when this is
    /// off).
    pub nexthop_objects: bool,
    /// How long a nexthop object no route names any more is kept at least before it is
    /// deleted ([`RouteInstaller::collect_nexthops`]: two checks this far apart must find it
    /// unused), so that a route that flaps back within it finds its object still there; also
    /// the first interval between the checks of an object in use, and the least time between
    /// a route's removal or replacement and a check.
    pub nexthop_grace: Duration,
}

impl Default for InstallerConfig {
    fn default() -> Self {
        InstallerConfig {
            table: crate::RT_TABLE_MAIN,
            protocol: RTPROT_BABEL,
            batch: 512,
            nexthop_objects: true,
            nexthop_grace: Duration::from_secs(30),
        }
    }
}

/// Where a route's packets go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextHop {
    /// Through `gateway` on interface `ifindex`. An IPv4 route may have an IPv6 next hop
    /// (RFC 9229, installed with RTA_VIA).
    Gateway { gateway: IpAddr, ifindex: u32 },
    /// An unreachable route (RTN_UNREACHABLE): packets are dropped with an ICMP error.
    Unreachable,
}

/// A route as the installer puts it in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelRoute {
    pub dst: Prefix,
    /// Source prefix (IPv6 only: RFC 9079 source-specific routing, RTA_SRC).
    pub src: Option<Prefix>,
    pub next_hop: NextHop,
    /// Kernel priority (RTA_PRIORITY; babeld's `kernel-priority`, default 0). Linux turns 0
    /// into 1024 for IPv6.
    pub metric: u32,
    /// Preferred source address of packets this host sends along the route (RTA_PREFSRC;
    /// babeld's `pref-src` install filter action). Must be a local address of the route's
    /// family.
    pub pref_src: Option<IpAddr>,
}

impl KernelRoute {
    /// A route to `dst` through `gateway` on `ifindex`.
    pub fn via(dst: Prefix, gateway: IpAddr, ifindex: u32, metric: u32) -> Self {
        KernelRoute {
            dst,
            src: None,
            next_hop: NextHop::Gateway { gateway, ifindex },
            metric,
            pref_src: None,
        }
    }

    /// An unreachable route to `dst`.
    pub fn unreachable(dst: Prefix, metric: u32) -> Self {
        KernelRoute {
            dst,
            src: None,
            next_hop: NextHop::Unreachable,
            metric,
            pref_src: None,
        }
    }

    /// The same route, specific to source prefix `src`.
    pub fn from_src(mut self, src: Prefix) -> Self {
        self.src = Some(src);
        self
    }

    /// The same route, with preferred source address `pref_src`.
    pub fn with_pref_src(mut self, pref_src: IpAddr) -> Self {
        self.pref_src = Some(pref_src);
        self
    }

    /// Why Linux cannot take this route, if it cannot.
    fn check(&self) -> Result<(), &'static str> {
        if let Some(a) = self.pref_src {
            if a.is_ipv4() != self.dst.is_v4() {
                return Err("preferred source address of the other family");
            }
        }
        if let Some(src) = self.src {
            if self.dst.is_v4() {
                return Err(
                    "Linux has no source-specific IPv4 routes (use a source table and a rule)",
                );
            }
            if src.is_v4() {
                return Err("source and destination prefixes of different families");
            }
        }
        if let NextHop::Gateway { gateway, .. } = self.next_hop {
            if self.dst.is_v6() && gateway.is_ipv4() {
                return Err("IPv6 route with an IPv4 next hop");
            }
        }
        Ok(())
    }
}

/// An operation on the kernel table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteOp {
    /// Install a new route (NLM_F_CREATE | NLM_F_EXCL): fails with EEXIST when any route
    /// with the same destination, source and metric is there, ours or not, so a route of
    /// another protocol is never overwritten.
    Add(KernelRoute),
    /// Install or atomically replace (NLM_F_REPLACE | NLM_F_CREATE) the route with the same
    /// destination, source and metric. Linux matches on those alone, not on the protocol:
    /// a foreign route with the same key is replaced too.
    Replace(KernelRoute),
    /// Remove our route with the same destination, source and metric, whatever its next hop.
    Remove(KernelRoute),
}

impl RouteOp {
    fn route(&self) -> &KernelRoute {
        match self {
            RouteOp::Add(r) | RouteOp::Replace(r) | RouteOp::Remove(r) => r,
        }
    }
    fn verb(&self) -> &'static str {
        match self {
            RouteOp::Add(_) => "add",
            RouteOp::Replace(_) => "replace",
            RouteOp::Remove(_) => "remove",
        }
    }
}

/// Why one route operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteErrorKind {
    /// The kernel refused it: errno and its text.
    Kernel { errno: i32, text: String },
    /// Not sent: Linux cannot express this route.
    Invalid(&'static str),
    /// The request could not be sent, or its acknowledgement was lost twice.
    Io { errno: i32, text: String },
}

/// A failed route operation, with the prefix it was about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct RouteError {
    /// "add", "replace", "remove", "purge" or "dump".
    pub op: &'static str,
    pub dst: Option<Prefix>,
    pub src: Option<Prefix>,
    pub kind: RouteErrorKind,
}

impl RouteError {
    /// The errno, for kernel and socket errors.
    pub fn errno(&self) -> Option<i32> {
        match &self.kind {
            RouteErrorKind::Kernel { errno, .. } | RouteErrorKind::Io { errno, .. } => Some(*errno),
            RouteErrorKind::Invalid(_) => None,
        }
    }

    fn io(op: &'static str, e: &io::Error) -> Self {
        let errno = e.raw_os_error().unwrap_or(0);
        RouteError {
            op,
            dst: None,
            src: None,
            kind: RouteErrorKind::Io {
                errno,
                text: e.to_string(),
            },
        }
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.op)?;
        if let Some(d) = self.dst {
            write!(f, " {d}")?;
        }
        if let Some(s) = self.src {
            write!(f, " from {s}")?;
        }
        match &self.kind {
            RouteErrorKind::Kernel { errno, text } => write!(f, ": {text} (errno {errno})"),
            RouteErrorKind::Invalid(why) => write!(f, ": {why}"),
            RouteErrorKind::Io { errno, text } => write!(f, ": {text} (errno {errno})"),
        }
    }
}

/// One request of a batch: the serialized message (its sequence number is set when sent)
/// and what to say if it fails.
pub(crate) struct Request {
    pub(crate) bytes: Vec<u8>,
    pub(crate) op: &'static str,
    pub(crate) dst: Option<Prefix>,
    pub(crate) src: Option<Prefix>,
    /// A remove: "no such route" on a resend means the first send did it.
    pub(crate) remove: bool,
}

/// Counters of the installer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InstallerStats {
    /// Route messages sent (resends included).
    pub sent: u64,
    /// Datagrams sent.
    pub datagrams: u64,
    /// Acks lost to a receive-buffer overrun (those requests were sent again).
    pub acks_lost: u64,
    /// Nexthop objects created.
    pub nexthops_created: u64,
    /// Nexthop objects made again when their link came back, before routes named them
    /// (counted in `nexthops_created` too).
    pub nexthops_restored: u64,
    /// Nexthop objects forgotten because their link went down or away (the kernel flushes
    /// them with it), as told by the link notifications, or because a dump no longer had
    /// them.
    pub nexthops_flushed: u64,
    /// Nexthop objects found gone only when routes naming them failed (a failed batch, a
    /// lookup and a resend: the slow path the link notifications avoid).
    pub nexthops_stale: u64,
    /// Nexthop objects deleted because no route named them any more.
    pub nexthops_collected: u64,
    /// Checks of the nexthop objects that may be unused: dumps of the kernel's routes
    /// ([`RouteInstaller::collect_nexthops`]).
    pub nexthops_checks: u64,
}

/// Installs and removes kernel routes over its own netlink socket.
///
/// Calls are synchronous: Linux applies route messages inside the `sendmsg` that carries
/// them, so a batch costs one send and then reads acks that are already queued. A daemon can
/// call it from its event loop; big batches take milliseconds per thousand routes.
pub struct RouteInstaller {
    sock: Socket,
    config: InstallerConfig,
    seq: u32,
    send_buf: Vec<u8>,
    recv_buf: Vec<u8>,
    stats: InstallerStats,
    /// Our nexthop objects; `None` when not used.
    nexthops: Option<nexthop::Objects>,
    /// Subscribed to link notifications while nexthop objects are used: Linux flushes a
    /// link's objects when it goes down, loses its carrier or goes away, and says so only
    /// in the link's RTM_NEWLINK/RTM_DELLINK (no RTM_DELNEXTHOP).
    links: Option<Socket>,
    /// Neighbours whose nexthop object the kernel refused during this `apply`: their routes
    /// carry the gateway (and get the kernel's error for it, if any).
    nexthops_refused: HashSet<(IpAddr, u32)>,
}

/// Most nexthop objects one installer keeps: one per neighbour and interface in use. At the
/// cap, routes through further neighbours carry their gateway, and the objects that may be
/// unused are checked within the grace period (however long their intervals have grown),
/// so that those no route names make room.
const MAX_NEXTHOPS: usize = 1024;

impl RouteInstaller {
    /// Opens the netlink socket.
    pub fn new(config: InstallerConfig) -> io::Result<Self> {
        let sock = open_socket()?;
        nl::set_rcvbuf(&sock, nl::SOCKET_RCVBUF);
        // Error acks carry only the request's header, not the whole request.
        let _ = sock.set_cap_ack(true);
        let mut config = config;
        config.batch = config.batch.clamp(1, 4096);
        let nexthop_objects = config.nexthop_objects;
        let grace = config.nexthop_grace;
        let links = if nexthop_objects {
            match open_link_socket() {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::debug!("no link notifications for the nexthop objects: {e}");
                    None
                }
            }
        } else {
            None
        };
        Ok(RouteInstaller {
            sock,
            config,
            seq: 0,
            send_buf: Vec::with_capacity(64 * 1024),
            recv_buf: Vec::with_capacity(nl::RECV_BUF),
            stats: InstallerStats::default(),
            nexthops: nexthop_objects.then(|| nexthop::Objects::new(grace)),
            links,
            nexthops_refused: HashSet::new(),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &InstallerConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> InstallerStats {
        self.stats
    }

    /// Installs a new route; EEXIST if a route with the same destination, source and metric
    /// is already there (of any protocol: it is left alone).
    pub fn add(&mut self, route: &KernelRoute) -> Result<(), RouteError> {
        self.one(RouteOp::Add(*route))
    }

    /// Installs `route`, atomically replacing the one with the same destination, source and
    /// metric: there is no moment without a route. Linux does not look at the protocol when
    /// matching, so use [`RouteInstaller::add`] for a prefix not installed yet.
    pub fn replace(&mut self, route: &KernelRoute) -> Result<(), RouteError> {
        self.one(RouteOp::Replace(*route))
    }

    /// Removes our route with `route`'s destination, source and metric.
    pub fn remove(&mut self, route: &KernelRoute) -> Result<(), RouteError> {
        self.one(RouteOp::Remove(*route))
    }

    /// Installs (or replaces with) an unreachable route to `dst`.
    pub fn add_unreachable(&mut self, dst: Prefix, metric: u32) -> Result<(), RouteError> {
        self.one(RouteOp::Replace(KernelRoute::unreachable(dst, metric)))
    }

    fn one(&mut self, op: RouteOp) -> Result<(), RouteError> {
        match self.apply(&[op]).into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    /// Applies many operations, pipelined: up to `batch` messages go out in one datagram
    /// before the acks are read. Returns the failed ones, with their index in `ops`.
    pub fn apply(&mut self, ops: &[RouteOp]) -> Vec<(usize, RouteError)> {
        let mut errors = Vec::new();
        // Serialized a batch at a time: a big change set must not hold every message in
        // memory at once.
        let per = self.config.batch;
        let mut reqs = Vec::with_capacity(per.min(ops.len()));
        let mut index = Vec::with_capacity(per.min(ops.len()));
        let mut nhs = Vec::with_capacity(per.min(ops.len()));
        self.nexthops_refused.clear();
        // Objects the kernel flushed since the last call are forgotten before any route
        // names them.
        self.follow_links();
        // A remove or replace may leave the object its route named unused.
        let moved = ops.iter().any(|op| !matches!(op, RouteOp::Add(_)));
        for (c, chunk) in ops.chunks(per).enumerate() {
            reqs.clear();
            index.clear();
            nhs.clear();
            for (k, op) in chunk.iter().enumerate() {
                let i = c * per + k;
                let r = op.route();
                if let Err(why) = r.check() {
                    errors.push((
                        i,
                        RouteError {
                            op: op.verb(),
                            dst: Some(r.dst),
                            src: r.src,
                            kind: RouteErrorKind::Invalid(why),
                        },
                    ));
                    continue;
                }
                let nh = match op {
                    RouteOp::Add(r) | RouteOp::Replace(r) => self.nexthop(r),
                    RouteOp::Remove(_) => None,
                };
                reqs.push(self.request(op, nh));
                index.push(i);
                nhs.push(nh);
            }
            let mut errs = self.run(&reqs);
            // A nexthop object the kernel flushed (its link went down or away, taking the
            // routes through it along) fails the routes that name it: they are sent again
            // through a new one.
            let failed: BTreeSet<u32> = errs.iter().filter_map(|(k, _)| nhs[*k]).collect();
            let gone: Vec<u32> = failed
                .into_iter()
                .filter(|&id| self.nexthop_gone(id))
                .collect();
            if !gone.is_empty() {
                self.stats.nexthops_stale += gone.len() as u64;
                if let Some(objs) = self.nexthops.as_mut() {
                    for &id in &gone {
                        objs.forget(id);
                    }
                }
                let (again, kept): (Vec<_>, Vec<_>) = errs
                    .into_iter()
                    .partition(|(k, _)| nhs[*k].is_some_and(|id| gone.contains(&id)));
                errs = kept;
                let mut retry = Vec::with_capacity(again.len());
                for (k, _) in &again {
                    let op = &ops[index[*k]];
                    let nh = self.nexthop(op.route());
                    nhs[*k] = nh;
                    retry.push(self.request(op, nh));
                }
                for (j, e) in self.run(&retry) {
                    errs.push((again[j].0, e));
                }
            }
            for (k, e) in errs {
                errors.push((index[k], e));
            }
        }
        if moved {
            if let Some(objs) = self.nexthops.as_mut() {
                objs.moved(Instant::now());
            }
        }
        errors.sort_by_key(|(i, _)| *i);
        errors
    }

    /// The nexthop object for `r`'s next hop, created on first use. `None` for a route that
    /// carries its gateway itself: unreachable, source-specific (Linux refuses nexthop
    /// objects there), with a preferred source, through a next hop of the other family or
    /// without an interface, or when nexthop objects are off, unsupported or capped.
    fn nexthop(&mut self, r: &KernelRoute) -> Option<u32> {
        let NextHop::Gateway { gateway, ifindex } = r.next_hop else {
            return None;
        };
        if r.src.is_some()
            || r.pref_src.is_some()
            || ifindex == 0
            || gateway.is_ipv4() != r.dst.is_v4()
        {
            return None;
        }
        let key = (gateway, ifindex);
        let objs = self.nexthops.as_mut()?;
        if let Some(id) = objs.name(&key) {
            return Some(id);
        }
        if self.nexthops_refused.contains(&key) {
            return None;
        }
        if objs.len() >= MAX_NEXTHOPS {
            // At the cap: the route carries its gateway (no object in use is deleted to
            // make room), and the objects that may be unused are checked soon.
            objs.hurry(Instant::now() + self.config.nexthop_grace);
            return None;
        }
        match self.create_nexthop(gateway, ifindex) {
            Ok(id) => {
                self.stats.nexthops_created += 1;
                let objs = self.nexthops.as_mut()?;
                objs.created(key, id, Instant::now());
                objs.name(&key)
            }
            Err(errno) => {
                if errno == libc::EOPNOTSUPP {
                    tracing::info!("the kernel has no nexthop objects: routes carry their gateway");
                    self.nexthops = None;
                    self.links = None;
                } else {
                    tracing::debug!(
                        "nexthop {gateway} on {ifindex}: {} (errno {errno})",
                        nl::errno_text(errno)
                    );
                    self.nexthops_refused.insert(key);
                }
                None
            }
        }
    }

    /// Creates a nexthop object; the kernel picks its id and echoes it. Returns the id or
    /// the errno.
    fn create_nexthop(&mut self, gateway: IpAddr, ifindex: u32) -> Result<u32, i32> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        self.send_buf.clear();
        nexthop::new_request(
            &mut self.send_buf,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_ECHO,
            seq,
            self.config.protocol,
            gateway,
            ifindex,
        );
        let errno = |e: io::Error| e.raw_os_error().unwrap_or(libc::EIO);
        self.send().map_err(errno)?;
        let mut id = None;
        loop {
            match self.recv(0) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(errno(e)),
            }
            for f in nl::frames(&self.recv_buf).0 {
                if f.seq != seq {
                    continue;
                }
                match f.kind {
                    nexthop::RTM_NEWNEXTHOP => {
                        id = nexthop::parse(f.payload)
                            .filter(|&(p, _)| p == self.config.protocol)
                            .map(|(_, i)| i)
                    }
                    NLMSG_ERROR => {
                        return match nl::error_code(f.payload) {
                            Some(0) => id.ok_or(libc::EPROTO),
                            Some(code) => Err(code),
                            None => Err(libc::EPROTO),
                        };
                    }
                    _ => {}
                }
            }
        }
    }

    /// Whether our nexthop object `id` is no longer in the kernel (or is no longer ours).
    fn nexthop_gone(&mut self, id: u32) -> bool {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        self.send_buf.clear();
        nexthop::id_request(
            &mut self.send_buf,
            nexthop::RTM_GETNEXTHOP,
            NLM_F_REQUEST,
            seq,
            id,
        );
        if self.send().is_err() {
            return false;
        }
        loop {
            match self.recv(0) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
            for f in nl::frames(&self.recv_buf).0 {
                if f.seq != seq {
                    continue;
                }
                match f.kind {
                    nexthop::RTM_NEWNEXTHOP => {
                        return nexthop::parse(f.payload)
                            .is_none_or(|(p, _)| p != self.config.protocol)
                    }
                    NLMSG_ERROR => {
                        return nl::error_code(f.payload) == Some(libc::ENOENT);
                    }
                    _ => {}
                }
            }
        }
    }

    /// Every nexthop object of our protocol in the kernel, and the members of every group.
    fn nexthop_dump(&mut self) -> Result<NexthopDump, RouteError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        self.send_buf.clear();
        nexthop::dump_request(&mut self.send_buf, NLM_F_REQUEST | NLM_F_DUMP, seq);
        send_on(&self.sock, &self.send_buf).map_err(|e| RouteError::io("dump", &e))?;
        let mut d = NexthopDump::default();
        loop {
            recv_on(&self.sock, &mut self.recv_buf, 0).map_err(|e| RouteError::io("dump", &e))?;
            for f in nl::frames(&self.recv_buf).0 {
                if f.seq != seq {
                    continue;
                }
                d.interrupted |= f.flags & NLM_F_DUMP_INTR != 0;
                match f.kind {
                    nexthop::RTM_NEWNEXTHOP => {
                        if let Some((p, id)) = nexthop::parse(f.payload) {
                            if p == self.config.protocol {
                                d.ours.insert(id);
                            }
                        }
                        nexthop::group_members(f.payload, |id| {
                            d.members.insert(id);
                        });
                    }
                    NLMSG_DONE => return Ok(d),
                    NLMSG_ERROR => match nl::error_code(f.payload) {
                        // A kernel without nexthop objects has none of ours.
                        Some(0) | Some(libc::EOPNOTSUPP) | None => return Ok(d),
                        Some(errno) => {
                            return Err(RouteError {
                                op: "dump",
                                dst: None,
                                src: None,
                                kind: RouteErrorKind::Kernel {
                                    errno,
                                    text: nl::errno_text(errno),
                                },
                            })
                        }
                    },
                    _ => {}
                }
            }
        }
    }

    /// Reads the link notifications queued since the last call and forgets the nexthop
    /// objects of every link that went down, lost its carrier or went away: Linux flushed
    /// them (and the routes that named them) before telling, and sends no RTM_DELNEXTHOP.
    /// After an overrun, which may have dropped some of those notifications, the objects are
    /// checked against a dump. When a link comes back, the objects that routes named when it
    /// went (within the grace period) are made again, ready for those routes' return.
    ///
    /// [`RouteInstaller::apply`] does this first; a daemon can also call it as soon as its
    /// monitor reports a link change, so that this work is done before the route changes
    /// that follow, not on their path.
    pub fn follow_links(&mut self) {
        let Some(sock) = self.links.as_ref() else {
            return;
        };
        let mut overrun = false;
        let mut flushed = 0;
        let now = Instant::now();
        // Links up again after a flush, latest state last.
        let mut came_up: Vec<u32> = Vec::new();
        loop {
            match recv_on(sock, &mut self.recv_buf, libc::MSG_DONTWAIT) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    overrun = true;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
            let Some(objs) = self.nexthops.as_mut() else {
                continue;
            };
            for f in nl::frames(&self.recv_buf).0 {
                match nexthop::link_change(f.kind, f.payload) {
                    Some((ifindex, true)) => {
                        flushed += objs.forget_link(ifindex, now, MAX_NEXTHOPS);
                        came_up.retain(|&i| i != ifindex);
                    }
                    Some((ifindex, false)) if !came_up.contains(&ifindex) => came_up.push(ifindex),
                    _ => {}
                }
            }
        }
        self.stats.nexthops_flushed += flushed as u64;
        for ifindex in came_up {
            let grace = self.config.nexthop_grace;
            let Some(back) = self
                .nexthops
                .as_mut()
                .map(|o| o.take_flushed(ifindex, now, grace))
            else {
                break;
            };
            for (gateway, ifindex) in back {
                if self
                    .nexthops
                    .as_ref()
                    .is_none_or(|o| o.len() >= MAX_NEXTHOPS)
                {
                    break;
                }
                match self.create_nexthop(gateway, ifindex) {
                    Ok(id) => {
                        self.stats.nexthops_created += 1;
                        self.stats.nexthops_restored += 1;
                        if let Some(o) = self.nexthops.as_mut() {
                            o.created((gateway, ifindex), id, now);
                        }
                    }
                    Err(errno) => tracing::debug!(
                        "nexthop {gateway} on {ifindex} not made again: {} (errno {errno})",
                        nl::errno_text(errno)
                    ),
                }
            }
        }
        if overrun && self.nexthops.as_ref().is_some_and(|o| o.len() > 0) {
            match self.nexthop_dump() {
                // An interrupted dump may miss objects that are there.
                Ok(d) if !d.interrupted => {
                    self.forget_vanished_nexthops(&d.ours);
                }
                Ok(_) => tracing::debug!("nexthop objects not checked: the dump was interrupted"),
                // The routes naming a vanished object fail and are sent again.
                Err(e) => tracing::debug!("nexthop objects not checked after an overrun: {e}"),
            }
        }
    }

    /// Deletes our nexthop objects `ids` (named by no route of ours). Returns whether all
    /// are gone.
    fn delete_nexthops(&mut self, ids: &[u32]) -> bool {
        let reqs = delete_requests(ids, "nexthop delete");
        let mut kept = vec![false; ids.len()];
        let mut deleted = vec![true; ids.len()];
        for (k, e) in self.run(&reqs) {
            deleted[k] = false;
            if e.errno() != Some(libc::ENOENT) {
                tracing::debug!("nexthop {}: {e}", ids[k]);
                kept[k] = true;
            }
        }
        let mut all = true;
        if let Some(objs) = self.nexthops.as_mut() {
            for (k, &id) in ids.iter().enumerate() {
                if kept[k] {
                    all = false;
                } else {
                    objs.forget(id);
                    if deleted[k] {
                        self.stats.nexthops_collected += 1;
                    }
                }
            }
        }
        all
    }

    /// Forgets our objects that are not in `present` (the ids of our protocol in a nexthop
    /// dump): the kernel flushed them behind our back, and may give their ids to other
    /// objects, so they are never deleted. Returns how many (counted as flushed).
    fn forget_vanished_nexthops(&mut self, present: &HashSet<u32>) -> usize {
        let Some(objs) = self.nexthops.as_mut() else {
            return 0;
        };
        let gone: Vec<u32> = objs.ids().filter(|id| !present.contains(id)).collect();
        for &id in &gone {
            objs.forget(id);
        }
        self.stats.nexthops_flushed += gone.len() as u64;
        gone.len()
    }

    /// Checks the nexthop objects that may be unused, if a check is due
    /// ([`RouteInstaller::next_nexthop_collection`]), and deletes those that no route named
    /// at this check nor at the one before (at least the grace period earlier), and that no
    /// route op of ours named since that one. Returns how many were deleted.
    ///
    /// A check dumps the kernel's routes, IPv4 and (for IPv6 objects) IPv6, of every table
    /// and protocol: a route of any kind that names one of our objects would be deleted with
    /// it, so it keeps the object. No route is recorded per object: the dump is the truth.
    /// A route that flaps away and back within the grace period finds its object still
    /// there. An interrupted dump (NLM_F_DUMP_INTR) tells nothing; two checks in a row are
    /// needed all the same, in case one missed a route without saying so.
    pub fn collect_nexthops(&mut self) -> usize {
        self.follow_links();
        let now = Instant::now();
        if self
            .nexthops
            .as_ref()
            .and_then(|o| o.next_check())
            .is_none_or(|at| at > now)
        {
            return 0;
        }
        self.check_nexthops(now)
    }

    fn check_nexthops(&mut self, now: Instant) -> usize {
        let Some(objs) = self.nexthops.as_mut() else {
            return 0;
        };
        let (n, due) = objs.begin_check(now);
        if due.is_empty() {
            return 0;
        }
        self.stats.nexthops_checks += 1;
        let v6 = due.iter().any(|&(_, v6)| v6);
        let due: Vec<u32> = due.into_iter().map(|(id, _)| id).collect();
        let seen = self.nexthops_in_use(v6);
        let now = Instant::now();
        let seen = match seen {
            Ok(Some(seen)) => seen,
            failed => {
                match failed {
                    Err(e) => tracing::debug!("nexthop objects not checked: {e}"),
                    _ => tracing::debug!("nexthop objects not checked: a dump was interrupted"),
                }
                if let Some(objs) = self.nexthops.as_mut() {
                    objs.check_failed(&due, now);
                }
                return 0;
            }
        };
        // Only ids still ours in the kernel are deleted: one the kernel flushed behind our
        // back (and might have given to another object since) is only forgotten.
        self.forget_vanished_nexthops(&seen.ours);
        let Some(objs) = self.nexthops.as_mut() else {
            return 0;
        };
        let unused = objs.checked(n, &due, |id| seen.named.contains(&id), now);
        if unused.is_empty() {
            return 0;
        }
        // One that cannot be deleted is tried again at a later check.
        let before = self.stats.nexthops_collected;
        self.delete_nexthops(&unused);
        (self.stats.nexthops_collected - before) as usize
    }

    /// Our nexthop objects in the kernel, and the ids that routes or groups name: the
    /// routes of every table and protocol, IPv4 and (if `v6`) IPv6. `None` if a dump was
    /// interrupted (the kernel's tables changed while it ran).
    fn nexthops_in_use(&mut self, v6: bool) -> Result<Option<InUse>, RouteError> {
        let d = self.nexthop_dump()?;
        let mut used: HashSet<u32> = d.members;
        let mut intact = !d.interrupted;
        let families: &[u8] = if v6 { &[AF_INET, AF_INET6] } else { &[AF_INET] };
        for &family in families {
            // Consecutive routes mostly name the same object: one set lookup per run.
            let mut last = None;
            intact &= self.dump_raw(nl::RTM_GETROUTE, family, nl::RTMSG_LEN, |kind, p| {
                if kind == nl::RTM_NEWROUTE {
                    nl::each_attr(p, nl::RTMSG_LEN, |k, v| {
                        if k == nl::RTA_NH_ID {
                            let id = nl::u32_of(v);
                            if id != last {
                                last = id;
                                used.extend(id);
                            }
                        }
                    });
                }
            })?;
        }
        Ok(intact.then_some(InUse {
            ours: d.ours,
            named: used,
        }))
    }

    /// When [`RouteInstaller::collect_nexthops`] has objects to check next (`None`: no
    /// object may be unused).
    pub fn next_nexthop_collection(&self) -> Option<Instant> {
        self.nexthops.as_ref()?.next_check()
    }

    /// Removes every nexthop object of our protocol (after our routes: a nexthop object
    /// still in use would take its routes along, in every table). Returns how many.
    fn purge_nexthops(&mut self) -> Result<usize, RouteError> {
        if let Some(objs) = self.nexthops.as_mut() {
            objs.clear();
        }
        let mut ours: Vec<u32> = self.nexthop_dump()?.ours.into_iter().collect();
        ours.sort_unstable();
        let reqs = delete_requests(&ours, "purge");
        let mut gone = 0;
        for (_, e) in self.run(&reqs) {
            if e.errno() != Some(libc::ENOENT) {
                return Err(e);
            }
            gone += 1;
        }
        Ok(reqs.len() - gone)
    }

    /// Our routes (this installer's protocol and table), both families.
    pub fn dump(&mut self) -> Result<Vec<RouteEvent>, RouteError> {
        let mut out = Vec::new();
        for m in self.dump_own()? {
            if let Some(ev) = nl::route_event(&m, true) {
                out.push(ev);
            }
        }
        Ok(out)
    }

    /// Removes every route of our protocol in our table (leftovers of an earlier run, or
    /// everything at shutdown). Returns how many were removed.
    /// Our nexthop objects go after the routes, whatever table those were in.
    ///
    /// Never inlined: it runs at start and exit only, and the installer thread's loop,
    /// which stays mapped while the daemon runs, must not carry it (`release_start_up_pages`).
    #[inline(never)]
    pub fn purge(&mut self) -> Result<usize, RouteError> {
        let n = self.purge_protocol(self.config.protocol)?;
        match self.purge_nexthops() {
            Ok(k) if k > 0 => tracing::debug!("removed {k} nexthop objects"),
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot remove our nexthop objects: {e}"),
        }
        Ok(n)
    }

    /// Removes every route of protocol `proto` in our table. The dump is read on a socket of
    /// its own and our routes are deleted as it goes, 1,024 at a time: the table is
    /// never held in memory whole. Deleting while dumping makes Linux restart an IPv6 dump
    /// and skip as many routes as it had sent, so passes are repeated until one finds
    /// nothing (each pass sees at least half of what is left).
    pub fn purge_protocol(&mut self, proto: u8) -> Result<usize, RouteError> {
        let mut removed = 0;
        let mut dumper = Dumper::new().map_err(|e| RouteError::io("dump", &e))?;
        let mut chunk: Vec<Request> = Vec::with_capacity(PURGE_CHUNK);
        let mut left = 0;
        for _ in 0..PURGE_PASSES {
            let before = removed;
            let mut found: usize = 0;
            for family in [AF_INET, AF_INET6] {
                dumper.each(nl::RTM_GETROUTE, family, nl::RTMSG_LEN, |kind, p| {
                    if kind != nl::RTM_NEWROUTE {
                        return Ok(());
                    }
                    let Some(m) = RouteMsg::parse(p) else {
                        return Ok(());
                    };
                    if !self.is_ours(&m, proto) {
                        return Ok(());
                    }
                    found += 1;
                    chunk.push(purge_request(m));
                    if chunk.len() >= PURGE_CHUNK {
                        removed += self.delete_all(&chunk)?;
                        chunk.clear();
                    }
                    Ok(())
                })?;
            }
            removed += self.delete_all(&chunk)?;
            chunk.clear();
            // What this pass found and could not remove.
            left = found.saturating_sub(removed - before);
            // Done, or a pass that removed nothing (routes that keep answering "no such
            // route"): another dump would not do better.
            if found == 0 || removed == before {
                break;
            }
        }
        if left > 0 {
            tracing::warn!(
                left,
                table = self.config.table,
                "purge: routes left in place"
            );
        }
        Ok(removed)
    }

    /// Sends the delete requests; returns how many removed a route. A route that vanished
    /// meanwhile (ESRCH) is as good as removed, but not counted; any other failure is
    /// returned.
    fn delete_all(&mut self, reqs: &[Request]) -> Result<usize, RouteError> {
        if reqs.is_empty() {
            return Ok(0);
        }
        let mut gone = 0;
        for (_, e) in self.run(reqs) {
            if e.errno() != Some(libc::ESRCH) {
                return Err(e);
            }
            gone += 1;
        }
        Ok(reqs.len() - gone)
    }

    fn dump_own(&mut self) -> Result<Vec<RouteMsg>, RouteError> {
        let (proto, table) = (self.config.protocol, self.config.table);
        self.dump_whole("route", nl::RTM_GETROUTE, nl::RTMSG_LEN, |kind, p, out| {
            if kind == nl::RTM_NEWROUTE {
                if let Some(m) = RouteMsg::parse(p) {
                    if is_ours(&m, proto, table) {
                        out.push(m);
                    }
                }
            }
        })
    }

    /// Dumps both families (message type `kind`, family header of `hdr_len` bytes), `f`
    /// collecting what it wants of each message, until the kernel's answer comes whole
    /// (see [`until_whole`]; `what` names the dump in the log).
    pub(crate) fn dump_whole<T>(
        &mut self,
        what: &str,
        kind: u16,
        hdr_len: usize,
        mut f: impl FnMut(u16, &[u8], &mut Vec<T>),
    ) -> Result<Vec<T>, RouteError> {
        until_whole(what, |out| {
            let mut whole = true;
            for family in [AF_INET, AF_INET6] {
                whole &= self.dump_raw(kind, family, hdr_len, |k, p| f(k, p, out))?;
            }
            Ok(whole)
        })
    }

    /// Sends one dump request (message type `kind`, a family header of `hdr_len` bytes for
    /// `family`) and hands each message of its answer to `f` (type and payload). Returns
    /// whether the answer came whole (`false`: the kernel's tables changed while it ran,
    /// NLM_F_DUMP_INTR).
    pub(crate) fn dump_raw(
        &mut self,
        kind: u16,
        family: u8,
        hdr_len: usize,
        mut f: impl FnMut(u16, &[u8]),
    ) -> Result<bool, RouteError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        self.send_buf.clear();
        nl::dump_request(&mut self.send_buf, kind, family, hdr_len, seq);
        send_on(&self.sock, &self.send_buf).map_err(|e| RouteError::io("dump", &e))?;
        read_dump(&self.sock, &mut self.recv_buf, seq, |k, p| {
            f(k, p);
            Ok(())
        })
    }

    fn is_ours(&self, m: &RouteMsg, proto: u8) -> bool {
        is_ours(m, proto, self.config.table)
    }

    /// The request for `op`; an add or replace names nexthop object `nh` if given.
    fn request(&self, op: &RouteOp, nh: Option<u32>) -> Request {
        let r = op.route();
        match op {
            RouteOp::Add(r) => Request {
                bytes: serialize_route(
                    &self.route_message(r, nh),
                    nl::RTM_NEWROUTE,
                    NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                ),
                op: "add",
                dst: Some(r.dst),
                src: r.src,
                remove: false,
            },
            RouteOp::Replace(r) => Request {
                // Replace-or-create in one message: the kernel swaps the route in place.
                bytes: serialize_route(
                    &self.route_message(r, nh),
                    nl::RTM_NEWROUTE,
                    NLM_F_REQUEST | NLM_F_ACK | NLM_F_REPLACE | NLM_F_CREATE,
                ),
                op: "replace",
                dst: Some(r.dst),
                src: r.src,
                remove: false,
            },
            RouteOp::Remove(_) => Request {
                bytes: serialize_route(
                    &self.remove_message(r),
                    nl::RTM_DELROUTE,
                    NLM_F_REQUEST | NLM_F_ACK,
                ),
                op: "remove",
                dst: Some(r.dst),
                src: r.src,
                remove: true,
            },
        }
    }

    fn header(&self, r: &KernelRoute) -> RouteMsg {
        RouteMsg {
            header: RouteHeader {
                family: if r.dst.is_v4() { AF_INET } else { AF_INET6 },
                dst_len: r.dst.plen(),
                src_len: r.src.map_or(0, |s| s.plen()),
                // Tables above 255 only fit in RTA_TABLE (0 is RT_TABLE_UNSPEC).
                table: u8::try_from(self.config.table).unwrap_or(0),
                protocol: self.config.protocol,
                ..RouteHeader::default()
            },
            dst: Some(r.dst.addr()),
            src: r.src.map(|s| s.addr()),
            table: Some(self.config.table),
            ..RouteMsg::default()
        }
    }

    fn route_message(&self, r: &KernelRoute, nh: Option<u32>) -> RouteMsg {
        let mut m = self.header(r);
        m.header.scope = nl::RT_SCOPE_UNIVERSE;
        m.priority = Some(r.metric);
        match (r.next_hop, nh) {
            (NextHop::Unreachable, _) => m.header.kind = nl::RTN_UNREACHABLE,
            // The nexthop object holds gateway, interface and on-link flag.
            (NextHop::Gateway { .. }, Some(id)) => {
                m.header.kind = nl::RTN_UNICAST;
                m.nh_id = Some(id);
            }
            (NextHop::Gateway { gateway, ifindex }, None) => {
                m.header.kind = nl::RTN_UNICAST;
                if ifindex != 0 {
                    m.oif = Some(ifindex);
                }
                match (r.dst.addr(), gateway) {
                    // RFC 9229 §3: an IPv4 prefix through an IPv6 next hop; Linux takes the
                    // next hop of the other family as RTA_VIA.
                    (IpAddr::V4(_), gw @ IpAddr::V6(_)) => m.via = Some(gw),
                    (IpAddr::V4(_), gw @ IpAddr::V4(_)) => {
                        // Like babeld: the neighbour is on the link even when no local
                        // address covers it (e.g. /32 addresses on mesh interfaces).
                        m.header.flags |= nl::RTNH_F_ONLINK;
                        m.gateway = Some(gw);
                    }
                    (_, gw) => m.gateway = Some(gw),
                }
                m.pref_src = r.pref_src;
            }
        }
        m
    }

    fn remove_message(&self, r: &KernelRoute) -> RouteMsg {
        let mut m = self.header(r);
        // Any scope and any type: the destination, source, table, protocol and metric
        // identify our route.
        m.header.scope = nl::RT_SCOPE_NOWHERE;
        m.header.kind = nl::RTN_UNSPEC;
        if r.metric != 0 {
            m.priority = Some(r.metric);
        }
        m
    }

    fn send(&mut self) -> io::Result<()> {
        send_on(&self.sock, &self.send_buf)
    }

    fn recv(&mut self, flags: libc::c_int) -> io::Result<()> {
        recv_on(&self.sock, &mut self.recv_buf, flags)
    }

    /// Sends `reqs` in batches and collects one ack per request. Requests whose ack was lost
    /// (receive buffer overrun) are sent once more: replaces are idempotent, and a repeated
    /// remove that finds nothing counts as done.
    pub(crate) fn run(&mut self, reqs: &[Request]) -> Vec<(usize, RouteError)> {
        let mut errors = Vec::new();
        let mut pending: Vec<usize> = (0..reqs.len()).collect();
        for attempt in 0..2 {
            let mut lost = Vec::new();
            let batch = if attempt == 0 {
                self.config.batch
            } else {
                (self.config.batch / 8).max(1)
            };
            for chunk in pending.chunks(batch) {
                let base = self.seq.wrapping_add(1);
                self.seq = self.seq.wrapping_add(chunk.len() as u32);
                self.send_buf.clear();
                let last = chunk.len() - 1;
                for (k, &i) in chunk.iter().enumerate() {
                    let start = self.send_buf.len();
                    self.send_buf.extend_from_slice(&reqs[i].bytes);
                    // nlmsg_seq sits at bytes 8..12 of the header.
                    let seq = base.wrapping_add(k as u32).to_ne_bytes();
                    self.send_buf[start + 8..start + 12].copy_from_slice(&seq);
                    // Only the last message asks for an ack: Linux reports every failure
                    // anyway, and one ack instead of hundreds halves the netlink traffic.
                    if k != last {
                        let flags = u16::from_ne_bytes([
                            self.send_buf[start + 6],
                            self.send_buf[start + 7],
                        ]) & !NLM_F_ACK;
                        self.send_buf[start + 6..start + 8].copy_from_slice(&flags.to_ne_bytes());
                    }
                }
                self.stats.sent += chunk.len() as u64;
                self.stats.datagrams += 1;
                if let Err(e) = self.send() {
                    for &i in chunk {
                        errors.push((i, fail(&reqs[i], RouteError::io("send", &e).kind)));
                    }
                    continue;
                }
                // known[k]: message k failed (error reported) or, for the last, was acked.
                let mut known = vec![false; chunk.len()];
                let mut overrun = false;
                while !known[last] {
                    // Linux handled the whole datagram inside sendmsg: every answer is queued
                    // already, so an empty socket means the rest were dropped.
                    match self.recv(libc::MSG_DONTWAIT) {
                        Ok(()) => {}
                        Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                            overrun = true;
                            continue;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    }
                    let (frames, _) = nl::frames(&self.recv_buf);
                    for f in frames {
                        let k = f.seq.wrapping_sub(base) as usize;
                        if k >= chunk.len() || known[k] || f.kind != NLMSG_ERROR {
                            continue;
                        }
                        let Some(errno) = nl::error_code(f.payload) else {
                            continue;
                        };
                        let req = &reqs[chunk[k]];
                        match errno {
                            0 if k == last => known[k] = true,
                            0 => {}
                            errno => {
                                known[k] = true;
                                if attempt > 0 && req.remove && errno == libc::ESRCH {
                                    continue;
                                }
                                let kind = RouteErrorKind::Kernel {
                                    errno,
                                    text: nl::errno_text(errno),
                                };
                                errors.push((chunk[k], fail(req, kind)));
                            }
                        }
                    }
                }
                // Without the final ack, or after an overrun that may have eaten error
                // reports, the outcome of every message not reported failed is unknown.
                let acked: Vec<bool> = if known[last] && !overrun {
                    vec![true; chunk.len()]
                } else {
                    known
                };
                lost.extend(
                    chunk
                        .iter()
                        .zip(&acked)
                        .filter(|(_, a)| !**a)
                        .map(|(i, _)| *i),
                );
            }
            if lost.is_empty() {
                return errors;
            }
            self.stats.acks_lost += lost.len() as u64;
            tracing::warn!(lost = lost.len(), "netlink acks lost, sending again");
            pending = lost;
        }
        for i in pending {
            let kind = RouteErrorKind::Io {
                errno: libc::ENOBUFS,
                text: "acknowledgement lost".into(),
            };
            errors.push((i, fail(&reqs[i], kind)));
        }
        errors
    }
}

/// Deletes found by one purge sent at a time: the purge holds at most this many requests.
const PURGE_CHUNK: usize = 1024;

/// Most dump-and-delete passes of one purge (each removes at least half of what is left).
const PURGE_PASSES: usize = 32;

/// Most times a dump is asked for while the kernel says its answer was interrupted.
const DUMP_TRIES: usize = 3;

/// Runs `dump`, which fills the vector it is given and says whether the kernel's answer
/// came whole (not NLM_F_DUMP_INTR: the tables changed while it ran, so an object may be
/// missing or given twice), until an answer comes whole, at most [`DUMP_TRIES`] times; then
/// the last answer stands (what = "route", "rule": for the log).
fn until_whole<T>(
    what: &str,
    mut dump: impl FnMut(&mut Vec<T>) -> Result<bool, RouteError>,
) -> Result<Vec<T>, RouteError> {
    let mut out = Vec::new();
    for _ in 0..DUMP_TRIES {
        out.clear();
        if dump(&mut out)? {
            return Ok(out);
        }
    }
    tracing::debug!("{what} dump interrupted {DUMP_TRIES} times in a row: using the last answer");
    Ok(out)
}

/// Opens a blocking netlink route socket with a receive timeout, as the installer and the
/// purge's dumps use.
fn open_socket() -> io::Result<Socket> {
    let mut sock = Socket::new(NETLINK_ROUTE)?;
    sock.bind_auto()?;
    sock.set_non_blocking(false)?;
    let timeout = std::time::Duration::from_secs(5);
    nix::sys::socket::setsockopt(
        &sock,
        nix::sys::socket::sockopt::ReceiveTimeout,
        &nix::sys::time::TimeVal::new(timeout.as_secs() as _, 0),
    )
    .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
    Ok(sock)
}

/// A netlink route socket subscribed to link notifications (read without blocking).
fn open_link_socket() -> io::Result<Socket> {
    let mut sock = Socket::new(NETLINK_ROUTE)?;
    sock.bind(&SocketAddr::new(0, libc::RTMGRP_LINK as u32))?;
    Ok(sock)
}

fn send_on(sock: &Socket, buf: &[u8]) -> io::Result<()> {
    sock.send_to(buf, &SocketAddr::new(0, 0), 0).map(|_| ())
}

fn recv_on(sock: &Socket, buf: &mut Vec<u8>, flags: libc::c_int) -> io::Result<()> {
    buf.clear();
    buf.reserve(nl::RECV_BUF);
    sock.recv(buf, flags).map(|_| ())
}

/// Reads the answer to dump request `seq`, one datagram at a time, handing each message
/// (type and payload) to `f`; stops at the end of the dump, a kernel error, or the first
/// error of `f`. Returns whether the dump was consistent: false if the kernel marked a
/// message NLM_F_DUMP_INTR (the tables changed while it ran).
fn read_dump(
    sock: &Socket,
    buf: &mut Vec<u8>,
    seq: u32,
    mut f: impl FnMut(u16, &[u8]) -> Result<(), RouteError>,
) -> Result<bool, RouteError> {
    let mut intact = true;
    loop {
        recv_on(sock, buf, 0).map_err(|e| RouteError::io("dump", &e))?;
        let (frames, _) = nl::frames(buf);
        for fr in frames {
            if fr.seq != seq {
                continue;
            }
            intact &= fr.flags & NLM_F_DUMP_INTR == 0;
            match fr.kind {
                NLMSG_DONE => return Ok(intact),
                NLMSG_ERROR => {
                    return match nl::error_code(fr.payload) {
                        Some(errno) if errno != 0 => Err(RouteError {
                            op: "dump",
                            dst: None,
                            src: None,
                            kind: RouteErrorKind::Kernel {
                                errno,
                                text: nl::errno_text(errno),
                            },
                        }),
                        _ => Ok(intact),
                    };
                }
                nl::NLMSG_OVERRUN => {}
                kind => f(kind, fr.payload)?,
            }
        }
    }
}

/// What a nexthop dump found.
#[derive(Default)]
struct NexthopDump {
    /// The ids of our protocol's objects.
    ours: HashSet<u32>,
    /// The ids that groups name (a group of any protocol may name one of our objects).
    members: HashSet<u32>,
    /// NLM_F_DUMP_INTR: the objects changed while the dump ran.
    interrupted: bool,
}

/// What a check found.
struct InUse {
    /// The ids of our protocol's objects.
    ours: HashSet<u32>,
    /// The ids that routes (of any table and protocol) or groups name.
    named: HashSet<u32>,
}

/// A socket of its own for the dumps of a purge, so that deletes can go out on the
/// installer's socket while a dump is half read.
struct Dumper {
    sock: Socket,
    buf: Vec<u8>,
    seq: u32,
}

impl Dumper {
    fn new() -> io::Result<Self> {
        Ok(Dumper {
            sock: open_socket()?,
            buf: Vec::with_capacity(nl::RECV_BUF),
            seq: 0,
        })
    }

    /// Sends one dump request and hands its messages to `f` as they arrive. If `f` fails
    /// the rest of the dump is left unread: the socket is closed with the dumper.
    fn each(
        &mut self,
        kind: u16,
        family: u8,
        hdr_len: usize,
        f: impl FnMut(u16, &[u8]) -> Result<(), RouteError>,
    ) -> Result<(), RouteError> {
        self.seq = self.seq.wrapping_add(1);
        let mut out = Vec::with_capacity(128);
        nl::dump_request(&mut out, kind, family, hdr_len, self.seq);
        send_on(&self.sock, &out).map_err(|e| RouteError::io("dump", &e))?;
        read_dump(&self.sock, &mut self.buf, self.seq, f).map(|_| ())
    }
}

/// The delete request for a dumped route of ours.
fn purge_request(m: RouteMsg) -> Request {
    let (dst, src) = match nl::route_prefixes(&m) {
        Some((d, s)) => (Some(d), s),
        None => (None, None),
    };
    Request {
        bytes: serialize_route(
            &delete_message(m),
            nl::RTM_DELROUTE,
            NLM_F_REQUEST | NLM_F_ACK,
        ),
        op: "purge",
        dst,
        src,
        remove: true,
    }
}

pub(crate) fn serialize_route(m: &RouteMsg, kind: u16, flags: u16) -> Vec<u8> {
    let mut buf = Vec::with_capacity(128);
    m.append(&mut buf, kind, flags, 0);
    buf
}

/// Whether a dumped route is one of ours: protocol `proto`, table `table`, not a clone.
fn is_ours(m: &RouteMsg, proto: u8, table: u32) -> bool {
    m.header.protocol == proto && m.table() == table && m.header.flags & nl::RTM_F_CLONED == 0
}

fn fail(req: &Request, kind: RouteErrorKind) -> RouteError {
    RouteError {
        op: req.op,
        dst: req.dst,
        src: req.src,
        kind,
    }
}

/// A delete request for a dumped route: its identifying fields, nothing else.
fn delete_message(dumped: RouteMsg) -> RouteMsg {
    let mut header = dumped.header;
    header.flags = 0;
    // A route through a nexthop object is dumped with the object's gateway and interface
    // too; Linux matches an IPv4 delete that names them against the route's own next hop,
    // which it has none of, so the id identifies it instead.
    let nh = dumped.nh_id.is_some();
    RouteMsg {
        header,
        dst: dumped.dst,
        src: dumped.src,
        priority: dumped.priority,
        table: dumped.table,
        nh_id: dumped.nh_id,
        oif: dumped.oif.filter(|_| !nh),
        gateway: dumped.gateway.filter(|_| !nh),
        via: dumped.via.filter(|_| !nh),
        pref_src: None,
    }
}

/// One RTM_DELNEXTHOP request per object id, reported as `op` when it fails.
fn delete_requests(ids: &[u32], op: &'static str) -> Vec<Request> {
    ids.iter()
        .map(|&id| {
            let mut bytes = Vec::with_capacity(32);
            nexthop::id_request(
                &mut bytes,
                nexthop::RTM_DELNEXTHOP,
                NLM_F_REQUEST | NLM_F_ACK,
                0,
                id,
            );
            Request {
                bytes,
                op,
                dst: None,
                src: None,
                remove: true,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn an_interrupted_dump_is_asked_for_again_and_only_its_last_answer_kept() {
        // Interrupted once (an object given twice), then whole: the whole answer alone.
        let mut answers = vec![(vec![1, 2, 2, 3], false), (vec![1, 2, 3, 4], true)].into_iter();
        let mut calls = 0;
        let got = until_whole("test", |out: &mut Vec<u32>| {
            calls += 1;
            let (a, whole) = answers.next().expect("asked once too often");
            out.extend(a);
            Ok(whole)
        });
        assert_eq!(got.unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(calls, 2);
        // Interrupted every time: asked DUMP_TRIES times, and the last answer stands.
        let mut calls = 0;
        let got = until_whole("test", |out: &mut Vec<u32>| {
            calls += 1;
            out.push(calls);
            Ok(false)
        });
        assert_eq!(got.unwrap(), vec![DUMP_TRIES as u32]);
        assert_eq!(calls as usize, DUMP_TRIES);
        // An error ends it at once.
        let mut calls = 0;
        let got = until_whole("test", |_: &mut Vec<u32>| {
            calls += 1;
            Err(RouteError::io(
                "dump",
                &io::Error::from(io::ErrorKind::TimedOut),
            ))
        });
        assert!(got.is_err());
        assert_eq!(calls, 1);
    }

    #[test]
    fn invalid_routes_are_refused_before_sending() {
        let v4_ss = KernelRoute::unreachable(p("10.0.0.0/8"), 0).from_src(p("192.0.2.0/24"));
        assert!(v4_ss.check().is_err());
        let mixed = KernelRoute::unreachable(p("2001:db8::/32"), 0).from_src(p("10.0.0.0/8"));
        assert!(mixed.check().is_err());
        let v6_via_v4 = KernelRoute::via(p("2001:db8::/32"), "10.0.0.1".parse().unwrap(), 2, 0);
        assert!(v6_via_v4.check().is_err());
        let ok = KernelRoute::via(p("10.0.0.0/8"), "fe80::1".parse().unwrap(), 2, 0);
        assert!(ok.check().is_ok());
    }

    #[test]
    fn error_text_names_the_prefix_and_errno() {
        let e = RouteError {
            op: "replace",
            dst: Some(p("2001:db8::/48")),
            src: Some(p("2001:db8:1::/48")),
            kind: RouteErrorKind::Kernel {
                errno: libc::ENODEV,
                text: nl::errno_text(libc::ENODEV),
            },
        };
        assert_eq!(
            e.to_string(),
            "replace 2001:db8::/48 from 2001:db8:1::/48: No such device (errno 19)"
        );
        assert_eq!(e.errno(), Some(libc::ENODEV));
    }
}
