//! The netlink monitor: links, addresses and routes, dumped once and then followed live.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use babel_core::wire::Prefix;
use futures::Stream;
use netlink_sys::{protocols::NETLINK_ROUTE, AsyncSocket, SocketAddr, TokioSocket};

use crate::nl::{
    self, RouteMsg, AF_INET, AF_INET6, NLMSG_DONE, NLMSG_ERROR, NLM_F_APPEND, NLM_F_DUMP_INTR,
    RTNH_F_DEAD, RT_SCOPE_HOST,
};

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
    /// Administratively up (IFF_UP), with or without carrier.
    pub admin_up: bool,
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
    /// An IPv4 address of a subnet that another address of the link has as its primary
    /// (IFA_F_SECONDARY).
    pub secondary: bool,
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

/// A kernel route was added, replaced or removed.
///
/// A route is reported while it has a usable path. A multipath route is one route: removing
/// one of its paths reports it again (with another path if the one reported went), removing
/// the last reports it removed. Linux removes IPv4 routes through a link that goes down, is
/// deleted or loses its last IPv4 address without a word (it does send the removals of
/// IPv6 routes); the monitor reports those removals itself. So it does for the IPv4 routes
/// of the main table whose preferred source (`src`) was an address the host no longer has,
/// which Linux before 6.6 also removes silently. A lost carrier removes nothing.
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
    /// Output interface (of the first usable path of a multipath route).
    pub ifindex: Option<u32>,
    /// RTA_GATEWAY or RTA_VIA (of the first usable path of a multipath route).
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

/// Paths of one route remembered one by one; the kernel's further paths are only counted.
const MAX_PATHS: usize = 32;

/// One path of a route the monitor remembers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Path {
    gateway: Option<IpAddr>,
    ifindex: Option<u32>,
    /// An IPv4 path whose link went down (RTNH_F_DEAD): Linux keeps it in a route that has
    /// other paths, unused, and revives it when the link comes back up.
    dead: bool,
    /// The paths one message brought share a group: for IPv4, one kernel route (fib_info),
    /// and another route `append`ed under the same key is another group.
    group: u8,
    /// RTA_PREFSRC of an IPv4 route, the same for the paths of a group: Linux removes the
    /// group when the host loses that address.
    pref_src: Option<Ipv4Addr>,
}

impl Path {
    /// The same next hop of the same kernel route: two IPv4 routes `append`ed under one key
    /// may share a next hop and differ in their preferred source, and go one without the
    /// other.
    fn same(&self, o: &Path) -> bool {
        (self.gateway, self.ifindex, self.pref_src) == (o.gateway, o.ifindex, o.pref_src)
    }
}

/// A route the monitor has reported and not withdrawn.
#[derive(Clone, Debug)]
struct KnownRoute {
    /// As last reported: gateway and ifindex are those of its first live path.
    ev: RouteEvent,
    /// Every path known one by one; empty (and nothing untracked) for the common route of
    /// one live path, the one `ev` names. (A boxed slice: a route's size matters when the
    /// kernel has 100,000 of them.)
    paths: Box<[Path]>,
    /// Paths the kernel listed beyond [`MAX_PATHS`]: counted, not known one by one.
    untracked: u16,
    /// rtm_scope host: Linux keeps such an IPv4 route when its link goes down.
    host_scope: bool,
    /// The preferred source of the one path `ev` names, when `paths` is empty.
    pref_src: Option<Ipv4Addr>,
}

impl KnownRoute {
    /// The route with these paths, or `None` if none of them is usable.
    fn with_paths(
        mut ev: RouteEvent,
        mut paths: Vec<Path>,
        untracked: u16,
        host_scope: bool,
    ) -> Option<KnownRoute> {
        let first = paths.iter().find(|p| !p.dead);
        if first.is_none() && untracked == 0 {
            return None;
        }
        ev.gateway = first.and_then(|p| p.gateway);
        ev.ifindex = first.and_then(|p| p.ifindex);
        let mut pref_src = None;
        if paths.len() == 1 && !paths[0].dead && untracked == 0 {
            pref_src = paths[0].pref_src;
            paths = Vec::new();
        }
        Some(KnownRoute {
            ev,
            paths: paths.into_boxed_slice(),
            untracked,
            host_scope,
            pref_src,
        })
    }

    fn one_path(&self) -> bool {
        self.paths.is_empty() && self.untracked == 0
    }

    fn paths(&self) -> Vec<Path> {
        if self.one_path() {
            vec![Path {
                gateway: self.ev.gateway,
                ifindex: self.ev.ifindex,
                dead: false,
                group: 0,
                pref_src: self.pref_src,
            }]
        } else {
            self.paths.to_vec()
        }
    }

    fn through(&self, ifindex: u32) -> bool {
        if self.one_path() {
            self.ev.ifindex == Some(ifindex)
        } else {
            self.paths.iter().any(|p| p.ifindex == Some(ifindex))
        }
    }
}

/// A route message as the monitor applies it.
struct RouteUpdate {
    /// Gateway and ifindex are not set yet: they come from `paths`.
    ev: RouteEvent,
    /// At most [`MAX_PATHS`].
    paths: Vec<Path>,
    /// Paths beyond [`MAX_PATHS`].
    untracked: u16,
    host_scope: bool,
    /// The paths join those known (NLM_F_APPEND, or a dump's second route under one key)
    /// instead of replacing them.
    append: bool,
}

/// What happened to the IPv4 paths through one link, as Linux handles them (net/ipv4/
/// fib_frontend.c, fib_semantics.c) without telling: a route left without a live path is
/// flushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LinkChange {
    /// The link lost IFF_UP (NETDEV_DOWN): its paths are dead, except those of host-scope
    /// routes.
    Down,
    /// Its last IPv4 address went: its paths are dead, host scope or not.
    NoAddress,
    /// The link is gone (NETDEV_UNREGISTER): every route with a path through it goes,
    /// with all of that route's paths.
    Removed,
    /// The link came up, or got an IPv4 address while up: its dead paths live again.
    Up,
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
    routes: Tracked<RouteKey, KnownRoute>,
    /// The paths of the routes reported removed at the last address removal because their
    /// preferred source went with it. Linux 6.6 and later send an RTM_DELROUTE for each such
    /// route right after the RTM_DELADDR (earlier kernels send nothing): that message is no
    /// news, and must not remove what is left of the route. Emptied at the next link or
    /// address message, which comes after the kernel's last one.
    unconfirmed_flushes: HashMap<RouteKey, Vec<Path>>,
}

impl Known {
    /// Records a link or address event (`seen`: it confirms the object during a dump) and
    /// queues the route changes Linux made with it silently.
    fn record(&mut self, ev: &NetEvent, seen: bool, out: &mut VecDeque<NetEvent>) {
        if matches!(ev, NetEvent::Link(_) | NetEvent::Addr(_)) {
            self.forget_unconfirmed_flushes();
        }
        match ev {
            NetEvent::Link(l) if l.removed => {
                self.links.remove(&l.ifindex);
                // The kernel removes a vanished link's addresses (it does say so for IPv4,
                // each before the link's removal; this is for those the monitor missed), in
                // its order: the primary addresses before the secondary ones.
                // (Sorted keys and two passes rather than a sort by flag: the sort of these
                // keys is compiled in already, and every sort instance adds kilobytes of
                // code to the daemon.)
                let mut gone: Vec<(u32, IpAddr, u8)> = self
                    .addrs
                    .known
                    .keys()
                    .filter(|k| k.0 == l.ifindex)
                    .copied()
                    .collect();
                gone.sort_unstable();
                for secondary in [false, true] {
                    for k in &gone {
                        match self.addrs.known.get(k) {
                            Some(a) if a.secondary == secondary => {
                                let a = *a;
                                self.addrs.remove(k);
                                self.address_gone(&a, out);
                            }
                            _ => {}
                        }
                    }
                }
                self.link_changed(l.ifindex, LinkChange::Removed, out);
            }
            NetEvent::Link(l) => {
                let was_up = self.links.known.get(&l.ifindex).map(|o| o.admin_up);
                self.links.insert(l.ifindex, l.clone(), seen);
                if !l.admin_up && was_up != Some(false) {
                    self.link_changed(l.ifindex, LinkChange::Down, out);
                } else if l.admin_up && was_up != Some(true) {
                    self.link_changed(l.ifindex, LinkChange::Up, out);
                }
            }
            NetEvent::Addr(a) => {
                let k = (a.ifindex, a.addr, a.plen);
                let v4 = a.addr.is_ipv4();
                if a.added {
                    let new = !self.addrs.known.contains_key(&k);
                    self.addrs.insert(k, *a, seen);
                    let up = self.links.known.get(&a.ifindex).is_some_and(|l| l.admin_up);
                    if v4 && new && up {
                        self.link_changed(a.ifindex, LinkChange::Up, out);
                    }
                } else {
                    self.addrs.remove(&k);
                    // Linux flushes by preferred source first, then (for the link's last
                    // address) the paths through the link.
                    self.address_gone(a, out);
                    let any_v4 = || {
                        self.addrs
                            .known
                            .keys()
                            .any(|&(i, a, _)| i == k.0 && a.is_ipv4())
                    };
                    if v4 && !any_v4() {
                        self.link_changed(a.ifindex, LinkChange::NoAddress, out);
                    }
                }
            }
            NetEvent::Route(_) | NetEvent::DumpDone | NetEvent::Overrun => {}
        }
    }

    /// Applies a route message and queues what the consumer is to learn from it.
    fn route(&mut self, u: RouteUpdate, in_dump: bool, seen: bool, out: &mut VecDeque<NetEvent>) {
        let k = route_key(&u.ev);
        if self.is_flush_confirmation(&k, &u) {
            return;
        }
        let old = self.routes.known.get(&k);
        if u.ev.added {
            // A dump lists the routes `append`ed under one key one by one.
            let append = u.append || (in_dump && self.routes.seen.contains(&k));
            let (paths, untracked) = match old {
                Some(old) if append => {
                    let mut paths = old.paths();
                    let group = (0..=u8::MAX)
                        .find(|g| paths.iter().all(|p| p.group != *g))
                        .unwrap_or(u8::MAX);
                    let mut more = 0u16;
                    for p in &u.paths {
                        if let Some(q) = paths.iter_mut().find(|q| q.same(p)) {
                            q.dead = p.dead;
                        } else if paths.len() < MAX_PATHS {
                            paths.push(Path { group, ..*p });
                        } else {
                            more = more.saturating_add(1);
                        }
                    }
                    let more = more.saturating_add(u.untracked);
                    (paths, old.untracked.saturating_add(more))
                }
                _ => (u.paths, u.untracked),
            };
            match KnownRoute::with_paths(u.ev, paths, untracked, u.host_scope) {
                Some(r) => {
                    out.push_back(NetEvent::Route(r.ev));
                    self.routes.insert(k, r, seen);
                }
                // Listed with every path dead: the kernel is flushing it.
                None => self.forget_route(&k, out),
            }
            return;
        }
        let Some(old) = old else {
            let mut ev = u.ev;
            let first = u.paths.first();
            ev.gateway = first.and_then(|p| p.gateway);
            ev.ifindex = first.and_then(|p| p.ifindex);
            out.push_back(NetEvent::Route(ev));
            return;
        };
        // The paths removed (Linux sends one message per path of an IPv6 route that goes).
        let mut paths = old.paths();
        let (mut matched, mut unknown) = (0, u.untracked);
        for p in &u.paths {
            match paths.iter().position(|q| q.same(p)) {
                Some(i) => {
                    paths.remove(i);
                    matched += 1;
                }
                None => unknown = unknown.saturating_add(1),
            }
        }
        if matched == 0 && old.untracked == 0 {
            // It names no path the monitor knows: the route as a whole goes.
            paths.clear();
        }
        let untracked = old.untracked.saturating_sub(unknown);
        self.set_paths(k, paths, untracked, out);
    }

    /// Gives known route `k` these paths, and reports it again if the path it is reported
    /// through changed, or removed if none is left.
    fn set_paths(
        &mut self,
        k: RouteKey,
        paths: Vec<Path>,
        untracked: u16,
        out: &mut VecDeque<NetEvent>,
    ) {
        let Some(old) = self.routes.known.get(&k) else {
            return;
        };
        let before = old.ev;
        match KnownRoute::with_paths(before, paths, untracked, old.host_scope) {
            Some(r) => {
                if r.ev != before {
                    out.push_back(NetEvent::Route(r.ev));
                }
                self.routes.known.insert(k, r);
            }
            None => self.forget_route(&k, out),
        }
    }

    /// Whether route message `u` for key `k` is the kernel's notice of a flush the monitor
    /// has reported already (see [`Known::unconfirmed_flushes`]): a removal naming only
    /// flushed paths. Any other message for the key ends the wait for a notice.
    fn is_flush_confirmation(&mut self, k: &RouteKey, u: &RouteUpdate) -> bool {
        let Some(flushed) = self.unconfirmed_flushes.get_mut(k) else {
            return false;
        };
        let named = |q: &Path| u.paths.iter().any(|p| p.same(q));
        let confirms = !u.ev.added
            && !u.paths.is_empty()
            && u.paths.iter().all(|p| flushed.iter().any(|q| q.same(p)));
        if confirms {
            // Appended routes under one key go one notice each.
            flushed.retain(|q| !named(q));
        }
        if !confirms || flushed.is_empty() {
            self.unconfirmed_flushes.remove(k);
        }
        confirms
    }

    fn forget_unconfirmed_flushes(&mut self) {
        if !self.unconfirmed_flushes.is_empty() {
            // A new map: one flush of 100,000 routes must not leave its capacity behind.
            self.unconfirmed_flushes = HashMap::new();
        }
    }

    /// Applies what Linux (fib_del_ifaddr, fib_sync_down_addr) does when IPv4 address
    /// `a` is removed and no link has it any more: every IPv4 route of the main table whose
    /// preferred source it was goes, as a whole (all the paths of a multipath route; of the
    /// routes `append`ed under one key, those with that source). Before 6.6 without a
    /// message; since, with one (see `unconfirmed_flushes`). For a link in a VRF, Linux
    /// flushes the VRF's table instead, and looks for the address in the VRF only; the
    /// monitor does not follow VRFs.
    fn address_gone(&mut self, a: &AddrEvent, out: &mut VecDeque<NetEvent>) {
        let IpAddr::V4(addr) = a.addr else {
            return;
        };
        // The address is still local (another link, or another prefix length on this one):
        // its local route stays, and the kernel keeps the routes.
        if addr.is_unspecified() || self.addrs.known.keys().any(|k| k.1 == a.addr) {
            return;
        }
        // A secondary address whose subnet has no primary left on its link: that happens
        // only while the link is deleted (its primary addresses go first), and then Linux
        // flushes nothing for it.
        let subnet = |x: IpAddr| Prefix::new(x, a.plen.min(32)).ok();
        let has_primary = |o: &AddrEvent| {
            o.ifindex == a.ifindex
                && !o.secondary
                && o.plen == a.plen
                && o.addr.is_ipv4()
                && subnet(o.addr) == subnet(a.addr)
        };
        if a.secondary && !self.addrs.known.values().any(has_primary) {
            return;
        }
        let from_addr = |p: &Path| p.pref_src == Some(addr);
        let keys = self.ipv4_routes_where(|k, r| {
            k.2 == crate::RT_TABLE_MAIN
                && (r.pref_src == Some(addr) || r.paths.iter().any(from_addr))
        });
        for k in keys {
            let Some(old) = self.routes.known.get(&k) else {
                continue;
            };
            let (flushed, paths): (Vec<Path>, Vec<Path>) =
                old.paths().into_iter().partition(from_addr);
            // The paths beyond MAX_PATHS are not known one by one: they go with the route
            // when none of those known is left (the common case of one kernel route).
            let untracked = if paths.is_empty() { 0 } else { old.untracked };
            self.unconfirmed_flushes
                .entry(k)
                .or_default()
                .extend(flushed);
            self.set_paths(k, paths, untracked, out);
        }
    }

    /// The keys of the known IPv4 routes that `f` picks, in order: what is reported does not
    /// depend on the hash map's order.
    fn ipv4_routes_where(&self, f: impl Fn(&RouteKey, &KnownRoute) -> bool) -> Vec<RouteKey> {
        let mut keys: Vec<RouteKey> = self
            .routes
            .known
            .iter()
            .filter(|(k, r)| k.0.addr().is_ipv4() && f(k, r))
            .map(|(k, _)| *k)
            .collect();
        keys.sort_unstable();
        keys
    }

    /// Removes a route and reports its removal.
    fn forget_route(&mut self, k: &RouteKey, out: &mut VecDeque<NetEvent>) {
        if let Some(r) = self.routes.remove(k) {
            out.push_back(NetEvent::Route(RouteEvent {
                added: false,
                ..r.ev
            }));
        }
    }

    /// Applies to the known IPv4 routes what Linux does silently to their paths through
    /// link `ifindex`, and reports the routes that changed or went.
    fn link_changed(&mut self, ifindex: u32, change: LinkChange, out: &mut VecDeque<NetEvent>) {
        for k in self.ipv4_routes_where(|_, r| r.through(ifindex)) {
            let Some(old) = self.routes.known.get(&k) else {
                continue;
            };
            let mut paths = old.paths();
            let on_link = |p: &Path| p.ifindex == Some(ifindex);
            match change {
                LinkChange::Down if old.host_scope => {}
                LinkChange::Down | LinkChange::NoAddress => {
                    paths
                        .iter_mut()
                        .filter(|p| on_link(p))
                        .for_each(|p| p.dead = true);
                }
                LinkChange::Up => {
                    paths
                        .iter_mut()
                        .filter(|p| on_link(p))
                        .for_each(|p| p.dead = false);
                }
                LinkChange::Removed => {
                    let groups: Vec<u8> = paths
                        .iter()
                        .filter(|p| on_link(p))
                        .map(|p| p.group)
                        .collect();
                    paths.retain(|p| !groups.contains(&p.group));
                }
            }
            let untracked = old.untracked;
            self.set_paths(k, paths, untracked, out);
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
        for r in self.routes.take_stale() {
            out.push_back(NetEvent::Route(RouteEvent {
                added: false,
                ..r.ev
            }));
        }
        for mut l in self.links.take_stale() {
            l.up = false;
            l.admin_up = false;
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
        let (kind, family, hdr_len) = match step {
            Step::Links => (nl::RTM_GETLINK, 0, IFINFOMSG_LEN),
            Step::Addrs => (nl::RTM_GETADDR, 0, IFADDRMSG_LEN),
            Step::Routes4 => (nl::RTM_GETROUTE, AF_INET, nl::RTMSG_LEN),
            Step::Routes6 => (nl::RTM_GETROUTE, AF_INET6, nl::RTMSG_LEN),
        };
        let mut buf = Vec::with_capacity(64);
        nl::dump_request(&mut buf, kind, family, hdr_len, self.seq);
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
            } else {
                // What this dump listed is no longer needed.
                self.known.clear_seen();
            }
            self.queue.push_back(NetEvent::DumpDone);
            Ok(())
        } else {
            self.send_step()
        }
    }

    fn overrun(&mut self) -> io::Result<()> {
        self.stats.overruns += 1;
        // The kernel's notices of flushes may be lost with the rest; the re-dump tells.
        self.known.forget_unconfirmed_flushes();
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
            match f.kind {
                NLMSG_DONE if in_dump => self.step_done()?,
                NLMSG_ERROR if in_dump => {
                    if nl::error_code(f.payload) != Some(0) {
                        self.stats.malformed += 1;
                    }
                    self.step_done()?;
                }
                nl::NLMSG_OVERRUN => self.overrun()?,
                kind => {
                    if self.convert(kind, f.flags, f.payload, in_dump).is_err() {
                        self.stats.malformed += 1;
                    }
                }
            }
        }
        self.buf = buf;
        Ok(())
    }

    /// Applies a message of type `kind` with header flags `flags` and queues its events
    /// (none for a message that is not reported: another type, a bridge port, a route of
    /// another table...).
    fn convert(&mut self, kind: u16, flags: u16, p: &[u8], in_dump: bool) -> Result<(), Malformed> {
        // During a dump, what it lists is marked (for a resynchronisation, and to tell the
        // routes of one key apart); during a resynchronisation, live events confirm too.
        let seen = in_dump || self.resyncing;
        let ev = match kind {
            nl::RTM_NEWLINK | nl::RTM_DELLINK => {
                link_event(p, kind == nl::RTM_DELLINK)?.map(NetEvent::Link)
            }
            nl::RTM_NEWADDR | nl::RTM_DELADDR => {
                addr_event(p, kind == nl::RTM_NEWADDR)?.map(NetEvent::Addr)
            }
            nl::RTM_NEWROUTE | nl::RTM_DELROUTE => {
                let m = RouteMsg::parse(p).ok_or(Malformed)?;
                if let Some(ev) = self.route_event(&m, kind == nl::RTM_NEWROUTE) {
                    let u = route_update(ev, &m, flags, p)?;
                    self.known.route(u, in_dump, seen, &mut self.queue);
                }
                return Ok(());
            }
            _ => None,
        };
        if let Some(ev) = ev {
            self.queue.push_back(ev.clone());
            self.known.record(&ev, seen, &mut self.queue);
        }
        Ok(())
    }

    fn route_event(&self, m: &RouteMsg, added: bool) -> Option<RouteEvent> {
        if !self.config.routes
            || m.header.flags & nl::RTM_F_CLONED != 0
            // Dump replies are not filtered in the kernel.
            || self.config.ignore_protocol == Some(m.header.protocol)
        {
            return None;
        }
        let table = m.table();
        if !self.config.route_tables.is_empty() && !self.config.route_tables.contains(&table) {
            return None;
        }
        nl::route_event(m, added)
    }
}

/// A route message's event and paths, as [`Known::route`] applies them.
fn route_update(
    ev: RouteEvent,
    m: &RouteMsg,
    flags: u16,
    p: &[u8],
) -> Result<RouteUpdate, Malformed> {
    // Linux keeps a dead path in an IPv4 route and revives it silently; it removes an
    // IPv6 route's paths (with a message each) or keeps them, dead or not.
    let v4 = m.header.family == AF_INET;
    // Linux keeps an IPv6 route whose preferred source goes (it only forgets the source).
    let pref_src = match m.pref_src {
        Some(IpAddr::V4(a)) if v4 => Some(a),
        _ => None,
    };
    let mut paths = Vec::new();
    let mut untracked = 0u16;
    nl::route_paths(p, m, |rp| {
        if paths.len() < MAX_PATHS {
            paths.push(Path {
                gateway: rp.gateway,
                ifindex: rp.ifindex,
                dead: v4 && rp.flags & RTNH_F_DEAD != 0,
                group: 0,
                pref_src,
            });
        } else {
            untracked = untracked.saturating_add(1);
        }
    })
    .ok_or(Malformed)?;
    Ok(RouteUpdate {
        ev,
        paths,
        untracked,
        host_scope: m.header.scope == RT_SCOPE_HOST,
        append: flags & NLM_F_APPEND != 0,
    })
}

/// A message that does not parse (counted in [`MonitorStats::malformed`]).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Malformed;

/// Size of struct ifinfomsg: family, pad, type (16 bits), index, flags, change (32 bits).
const IFINFOMSG_LEN: usize = 16;
/// Size of struct ifaddrmsg: family, prefix length, flags, scope, index (32 bits).
const IFADDRMSG_LEN: usize = 8;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_FLAGS: u16 = 8;
const IFA_F_SECONDARY: u32 = 0x01;
const IFA_F_DADFAILED: u32 = 0x08;
const IFA_F_TENTATIVE: u32 = 0x40;

/// An RTM_NEWLINK/RTM_DELLINK payload as a link event.
pub(crate) fn link_event(p: &[u8], removed: bool) -> Result<Option<LinkEvent>, Malformed> {
    let h = p.get(0..IFINFOMSG_LEN).ok_or(Malformed)?;
    let mut name = String::new();
    let mut mtu = 0;
    nl::each_attr(p, IFINFOMSG_LEN, |kind, v| match kind {
        IFLA_IFNAME => {
            let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
            name = String::from_utf8_lossy(&v[..end]).into_owned();
        }
        IFLA_MTU => mtu = nl::u32_of(v).unwrap_or(0),
        _ => {}
    })
    .ok_or(Malformed)?;
    // Bridge-port (AF_BRIDGE) notifications describe the same links again; skip them.
    if h[0] != libc::AF_UNSPEC as u8 {
        return Ok(None);
    }
    let flags = nl::u32_of(&h[8..12]).ok_or(Malformed)?;
    let up_running = (libc::IFF_UP | libc::IFF_RUNNING) as u32;
    Ok(Some(LinkEvent {
        ifindex: nl::u32_of(&h[4..8]).ok_or(Malformed)?,
        name,
        up: !removed && flags & up_running == up_running,
        admin_up: !removed && flags & libc::IFF_UP as u32 != 0,
        mtu,
        removed,
    }))
}

/// An RTM_NEWADDR/RTM_DELADDR payload as an address event (`None` for a family other than
/// IPv4 and IPv6, or a message without an address).
pub(crate) fn addr_event(p: &[u8], added: bool) -> Result<Option<AddrEvent>, Malformed> {
    let h = p.get(0..IFADDRMSG_LEN).ok_or(Malformed)?;
    let family = h[0];
    let mut addr = None;
    let mut local = None;
    let mut flags = u32::from(h[2]);
    let mut bad = false;
    let mut ip = |v: &[u8]| {
        let a = nl::ip_of(family, v);
        bad |= a.is_none();
        a
    };
    nl::each_attr(p, IFADDRMSG_LEN, |kind, v| match kind {
        IFA_ADDRESS => addr = ip(v),
        IFA_LOCAL => local = ip(v),
        // IFA_FLAGS carries all 32 bits; the header only the low 8.
        IFA_FLAGS => flags = nl::u32_of(v).unwrap_or(flags),
        _ => {}
    })
    .ok_or(Malformed)?;
    // IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on point-to-point).
    let addr = match family {
        AF_INET => local.or(addr),
        AF_INET6 => addr.or(local),
        _ => return Ok(None),
    };
    if bad {
        return Err(Malformed);
    }
    let Some(addr) = addr else {
        return Ok(None);
    };
    let dad_failed = flags & IFA_F_DADFAILED != 0;
    Ok(Some(AddrEvent {
        ifindex: nl::u32_of(&h[4..8]).ok_or(Malformed)?,
        addr,
        plen: h[1],
        added,
        tentative: flags & IFA_F_TENTATIVE != 0 || dad_failed,
        dad_failed,
        secondary: family == AF_INET && flags & IFA_F_SECONDARY != 0,
    }))
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
    use crate::nl::MsgBuilder;

    fn addr_msg(header_flags: u8, attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut b = MsgBuilder::new(
            &mut buf,
            nl::RTM_NEWADDR,
            0,
            1,
            &[AF_INET6, 64, header_flags, 0, 3, 0, 0, 0],
        );
        for (k, v) in attrs {
            b.attr(*k, v);
        }
        b.finish();
        nl::frames(&buf).0[0].payload.to_vec()
    }

    #[test]
    fn tentative_from_header_or_ifa_flags() {
        let a: std::net::Ipv6Addr = "fe80::1".parse().unwrap();
        let a = a.octets();
        let tentative = IFA_F_TENTATIVE as u8;
        let ev = addr_event(&addr_msg(tentative, &[(IFA_ADDRESS, &a)]), true)
            .unwrap()
            .unwrap();
        assert!(ev.tentative && !ev.dad_failed);
        assert_eq!((ev.ifindex, ev.plen, ev.addr), (3, 64, IpAddr::from(a)));
        // IFA_FLAGS wins over the header byte (0x80: IFA_F_PERMANENT).
        let p = addr_msg(
            tentative,
            &[(IFA_ADDRESS, &a), (IFA_FLAGS, &0x80u32.to_ne_bytes())],
        );
        assert!(!addr_event(&p, true).unwrap().unwrap().tentative);
        let both = (IFA_F_TENTATIVE | IFA_F_DADFAILED).to_ne_bytes();
        let p = addr_msg(0, &[(IFA_ADDRESS, &a), (IFA_FLAGS, &both)]);
        let ev = addr_event(&p, true).unwrap().unwrap();
        assert!(ev.tentative && ev.dad_failed);
        // An address message without an address is dropped, not a panic.
        assert_eq!(addr_event(&addr_msg(0, &[]), true), Ok(None));
        // An address of the wrong size, or a truncated message, is malformed.
        assert_eq!(
            addr_event(&addr_msg(0, &[(IFA_ADDRESS, &a[..4])]), true),
            Err(Malformed)
        );
        assert_eq!(addr_event(&addr_msg(0, &[])[..5], true), Err(Malformed));
    }

    #[test]
    fn link_messages_give_name_mtu_and_state() {
        let mut header = [0u8; IFINFOMSG_LEN];
        header[4..8].copy_from_slice(&7u32.to_ne_bytes());
        let flags = (libc::IFF_UP | libc::IFF_RUNNING) as u32;
        header[8..12].copy_from_slice(&flags.to_ne_bytes());
        let mut buf = Vec::new();
        let mut b = MsgBuilder::new(&mut buf, nl::RTM_NEWLINK, 0, 1, &header);
        b.attr(IFLA_IFNAME, b"veth0\0").u32(IFLA_MTU, 1400);
        b.finish();
        let p = nl::frames(&buf).0[0].payload.to_vec();
        let ev = link_event(&p, false).unwrap().unwrap();
        assert_eq!(
            ev,
            LinkEvent {
                ifindex: 7,
                name: "veth0".into(),
                up: true,
                admin_up: true,
                mtu: 1400,
                removed: false
            }
        );
        assert!(!link_event(&p, true).unwrap().unwrap().up);
        // Up but without carrier: not up.
        let mut down = p.clone();
        down[8..12].copy_from_slice(&(libc::IFF_UP as u32).to_ne_bytes());
        assert!(!link_event(&down, false).unwrap().unwrap().up);
        // A bridge port's copy is skipped; garbage is malformed.
        let mut bridge = p.clone();
        bridge[0] = libc::AF_BRIDGE as u8;
        assert_eq!(link_event(&bridge, false), Ok(None));
        assert_eq!(link_event(&p[..10], false), Err(Malformed));
        let mut long = p.clone();
        long[IFINFOMSG_LEN] = 250;
        assert_eq!(link_event(&long, false), Err(Malformed));
    }

    /// A route message for 2001:db8::/48 through `paths` (gateway fe80::N, ifindex N), or
    /// with `v4` for 10.99.0.0/16 (gateway 192.0.2.N): RTA_MULTIPATH for more than one.
    fn route_msg(kind: u16, v4: bool, paths: std::ops::RangeInclusive<u16>) -> Vec<u8> {
        let dst = if v4 { "10.99.0.0/16" } else { "2001:db8::/48" };
        route_msg_to(kind, dst, 254, paths, None)
    }

    /// A route message for `dst` in `table` through `paths`, as [`route_msg`], with
    /// preferred source `src`.
    fn route_msg_to(
        kind: u16,
        dst: &str,
        table: u8,
        paths: std::ops::RangeInclusive<u16>,
        src: Option<&str>,
    ) -> Vec<u8> {
        let dst: Prefix = dst.parse().unwrap();
        let v4 = dst.is_v4();
        let header = nl::RouteHeader {
            family: if v4 { AF_INET } else { AF_INET6 },
            dst_len: dst.plen(),
            table,
            protocol: 4,
            kind: nl::RTN_UNICAST,
            ..nl::RouteHeader::default()
        };
        let gw = |i: u16| match v4 {
            true => std::net::Ipv4Addr::new(192, 0, 2, i as u8)
                .octets()
                .to_vec(),
            false => std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, i)
                .octets()
                .to_vec(),
        };
        let mut buf = Vec::new();
        let mut b = MsgBuilder::new(&mut buf, kind, 0, 0, &header.bytes());
        b.ip(1, dst.addr());
        if let Some(src) = src {
            b.ip(7, src.parse().unwrap());
        }
        if paths.start() == paths.end() {
            b.u32(4, u32::from(*paths.start()))
                .attr(5, &gw(*paths.start()));
        } else {
            let mut mp = Vec::new();
            for i in paths {
                let gw = gw(i);
                mp.extend_from_slice(&(12 + gw.len() as u16).to_ne_bytes());
                mp.extend_from_slice(&[0, 0]);
                mp.extend_from_slice(&u32::from(i).to_ne_bytes());
                mp.extend_from_slice(&(4 + gw.len() as u16).to_ne_bytes());
                mp.extend_from_slice(&5u16.to_ne_bytes());
                mp.extend_from_slice(&gw);
            }
            b.attr(9, &mp);
        }
        b.finish();
        nl::frames(&buf).0[0].payload.to_vec()
    }

    fn apply(known: &mut Known, kind: u16, paths: std::ops::RangeInclusive<u16>) -> Vec<NetEvent> {
        apply_route(known, kind, false, paths)
    }

    fn apply_route(
        known: &mut Known,
        kind: u16,
        v4: bool,
        paths: std::ops::RangeInclusive<u16>,
    ) -> Vec<NetEvent> {
        apply_msg(known, kind, 0, &route_msg(kind, v4, paths))
    }

    /// Applies route message `p` of type `kind` with header flags `flags`.
    fn apply_msg(known: &mut Known, kind: u16, flags: u16, p: &[u8]) -> Vec<NetEvent> {
        let m = RouteMsg::parse(p).unwrap();
        let ev = nl::route_event(&m, kind == nl::RTM_NEWROUTE).unwrap();
        let mut out = VecDeque::new();
        known.route(
            route_update(ev, &m, flags, p).unwrap(),
            false,
            false,
            &mut out,
        );
        out.into()
    }

    #[test]
    fn paths_beyond_the_bound_are_counted_and_the_route_goes_with_the_last() {
        let mut known = Known::default();
        let ev = apply(&mut known, nl::RTM_NEWROUTE, 1..=40);
        assert!(matches!(ev[..], [NetEvent::Route(r)] if r.added && r.ifindex == Some(1)));
        let r = known.routes.known.values().next().unwrap();
        assert_eq!((r.paths.len(), r.untracked), (MAX_PATHS, 8));
        // Paths go one message each; the route stays while one is left.
        for i in 1..40 {
            let ev = apply(&mut known, nl::RTM_DELROUTE, i..=i);
            assert!(
                ev.iter()
                    .all(|e| matches!(e, NetEvent::Route(r) if r.added)),
                "path {i}: {ev:?}"
            );
        }
        let ev = apply(&mut known, nl::RTM_DELROUTE, 40..=40);
        assert!(matches!(ev[..], [NetEvent::Route(r)] if !r.added));
        assert!(known.routes.known.is_empty());
        // A removal naming no known path removes the route as a whole.
        apply(&mut known, nl::RTM_NEWROUTE, 1..=2);
        let ev = apply(&mut known, nl::RTM_DELROUTE, 7..=7);
        assert!(matches!(ev[..], [NetEvent::Route(r)] if !r.added));
    }

    fn link(known: &mut Known, ifindex: u32, admin_up: bool) -> Vec<NetEvent> {
        let l = LinkEvent {
            ifindex,
            name: format!("d{ifindex}"),
            up: admin_up,
            admin_up,
            mtu: 1500,
            removed: false,
        };
        let mut out = VecDeque::new();
        known.record(&NetEvent::Link(l), false, &mut out);
        out.into()
    }

    /// The route events: (added, ifindex).
    fn routes(ev: &[NetEvent]) -> Vec<(bool, Option<u32>)> {
        route_changes(ev)
            .into_iter()
            .map(|(_, added, ifindex)| (added, ifindex))
            .collect()
    }

    /// The route events: (prefix, added, ifindex).
    fn route_changes(ev: &[NetEvent]) -> Vec<(String, bool, Option<u32>)> {
        ev.iter()
            .filter_map(|e| match e {
                NetEvent::Route(r) => Some((r.prefix.to_string(), r.added, r.ifindex)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn ipv4_paths_die_and_revive_with_their_links_like_linux() {
        let mut known = Known::default();
        link(&mut known, 1, true);
        link(&mut known, 2, true);
        let ev = apply_route(&mut known, nl::RTM_NEWROUTE, true, 1..=2);
        assert_eq!(routes(&ev), vec![(true, Some(1))]);
        // Down: the path through 1 is dead, the route goes on through 2; again: no news.
        assert_eq!(routes(&link(&mut known, 1, false)), vec![(true, Some(2))]);
        assert_eq!(routes(&link(&mut known, 1, false)), vec![]);
        // Up: Linux revives the path.
        assert_eq!(routes(&link(&mut known, 1, true)), vec![(true, Some(1))]);
        assert_eq!(routes(&link(&mut known, 1, true)), vec![]);
        assert_eq!(routes(&link(&mut known, 2, false)), vec![]);
        assert_eq!(routes(&link(&mut known, 1, false)), vec![(false, Some(1))]);
        assert!(known.routes.known.is_empty());
        // An IPv6 route is left to the kernel's own messages.
        apply_route(&mut known, nl::RTM_NEWROUTE, false, 1..=1);
        assert_eq!(routes(&link(&mut known, 1, true)), vec![]);
        assert_eq!(routes(&link(&mut known, 1, false)), vec![]);
        assert_eq!(known.routes.known.len(), 1);
    }

    /// Applies an IPv4 route message for `dst` (see [`route_msg_to`]); `append`: NLM_F_APPEND.
    fn apply_v4(
        known: &mut Known,
        kind: u16,
        (dst, table): (&str, u8),
        paths: std::ops::RangeInclusive<u16>,
        src: Option<&str>,
        append: bool,
    ) -> Vec<NetEvent> {
        let flags = if append { NLM_F_APPEND } else { 0 };
        apply_msg(
            known,
            kind,
            flags,
            &route_msg_to(kind, dst, table, paths, src),
        )
    }

    /// Records the addition or removal of IPv4 address `addr` ("a.b.c.d/len") on `ifindex`.
    fn address(
        known: &mut Known,
        ifindex: u32,
        addr: &str,
        added: bool,
        secondary: bool,
    ) -> Vec<NetEvent> {
        let (a, plen) = addr.split_once('/').unwrap();
        let a = AddrEvent {
            ifindex,
            addr: a.parse().unwrap(),
            plen: plen.parse().unwrap(),
            added,
            tentative: false,
            dad_failed: false,
            secondary,
        };
        let mut out = VecDeque::new();
        known.record(&NetEvent::Addr(a), false, &mut out);
        out.into()
    }

    #[test]
    fn ipv4_routes_go_with_their_preferred_source_like_linux() {
        const NEW: u16 = nl::RTM_NEWROUTE;
        const DEL: u16 = nl::RTM_DELROUTE;
        let main = |dst| (dst, 254);
        let src = Some("198.51.100.1");
        let mut known = Known::default();
        for i in 1..=4 {
            link(&mut known, i, true);
        }
        address(&mut known, 3, "198.51.100.1/24", true, false);
        address(&mut known, 4, "198.51.100.1/32", true, false);
        // Through links 1 and 2, with a source on link 3 (and 4): one path, a multipath
        // route, routes appended under one key (one of them with the source; in 10.7/16
        // with the same next hop), a route without the source, and one with it in another
        // table.
        apply_v4(&mut known, NEW, main("10.1.0.0/16"), 1..=1, src, false);
        apply_v4(&mut known, NEW, main("10.2.0.0/16"), 1..=2, src, false);
        apply_v4(&mut known, NEW, main("10.3.0.0/16"), 1..=1, None, false);
        apply_v4(&mut known, NEW, main("10.3.0.0/16"), 2..=2, src, true);
        apply_v4(&mut known, NEW, main("10.4.0.0/16"), 1..=1, None, false);
        apply_v4(&mut known, NEW, ("10.5.0.0/16", 100), 1..=1, src, false);
        apply_v4(&mut known, NEW, main("10.7.0.0/16"), 1..=1, None, false);
        apply_v4(&mut known, NEW, main("10.7.0.0/16"), 1..=1, src, true);
        assert_eq!(known.routes.known.len(), 6);

        // Link 4 still has the address: Linux keeps the routes.
        let ev = address(&mut known, 3, "198.51.100.1/24", false, false);
        assert_eq!(route_changes(&ev), vec![]);
        // The host's last copy of it goes (before 6.6, not a word from Linux): the routes
        // of the main table from it go, multipath or not; of the appended ones, the one
        // from it only (10.3.0.0/16 stays through link 1, already the one reported).
        let ev = address(&mut known, 4, "198.51.100.1/32", false, false);
        assert_eq!(
            route_changes(&ev),
            vec![
                ("10.1.0.0/16".into(), false, Some(1)),
                ("10.2.0.0/16".into(), false, Some(1)),
            ]
        );
        let kept = ["10.3.0.0/16", "10.4.0.0/16", "10.5.0.0/16", "10.7.0.0/16"];
        assert_eq!(known_prefixes(&known), kept);

        // Since 6.6 Linux sends its removals next: no news, and the path left stays.
        for (dst, paths) in [
            ("10.1.0.0/16", 1..=1),
            ("10.2.0.0/16", 1..=2),
            ("10.3.0.0/16", 2..=2),
            ("10.7.0.0/16", 1..=1),
        ] {
            let ev = apply_v4(&mut known, DEL, main(dst), paths, src, false);
            assert_eq!(ev, vec![], "the kernel's removal of {dst}");
        }
        assert_eq!(known_prefixes(&known), kept);
        assert!(known.unconfirmed_flushes.is_empty());
        // The kernel's own removal of what is left is news again.
        let ev = apply_v4(&mut known, DEL, main("10.3.0.0/16"), 1..=1, None, false);
        assert_eq!(
            route_changes(&ev),
            vec![("10.3.0.0/16".into(), false, Some(1))]
        );

        // Without the notices (before 6.6), the next address message ends the wait: a
        // removal for the key after a new route under it is news.
        apply_v4(&mut known, NEW, main("10.6.0.0/16"), 1..=1, src, false);
        address(&mut known, 3, "198.51.100.1/24", true, false);
        let ev = address(&mut known, 3, "198.51.100.1/24", false, false);
        assert_eq!(
            route_changes(&ev),
            vec![("10.6.0.0/16".into(), false, Some(1))]
        );
        address(&mut known, 3, "198.51.100.1/24", true, false);
        apply_v4(&mut known, NEW, main("10.6.0.0/16"), 1..=1, src, false);
        let ev = apply_v4(&mut known, DEL, main("10.6.0.0/16"), 1..=1, src, false);
        assert_eq!(
            route_changes(&ev),
            vec![("10.6.0.0/16".into(), false, Some(1))]
        );
    }

    #[test]
    fn secondary_addresses_take_their_routes_unless_their_link_is_deleted() {
        let mut known = Known::default();
        link(&mut known, 1, true);
        link(&mut known, 2, true);
        // Routes through link 1 from a primary address of link 2 and two secondary ones.
        let route_from = |known: &mut Known, dst, src| {
            apply_v4(known, nl::RTM_NEWROUTE, (dst, 254), 1..=1, Some(src), false)
        };
        address(&mut known, 2, "198.51.100.1/24", true, false);
        address(&mut known, 2, "198.51.100.5/24", true, true);
        address(&mut known, 2, "198.51.100.6/24", true, true);
        route_from(&mut known, "10.1.0.0/16", "198.51.100.1");
        route_from(&mut known, "10.5.0.0/16", "198.51.100.5");
        route_from(&mut known, "10.6.0.0/16", "198.51.100.6");
        let gone = |prefix: &str| vec![(prefix.to_string(), false, Some(1))];
        // A secondary address removed while its primary is there: its route goes.
        let ev = address(&mut known, 2, "198.51.100.6/24", false, true);
        assert_eq!(route_changes(&ev), gone("10.6.0.0/16"));
        // Link 2 deleted: its primary's route goes, its secondary's stays (Linux gives up on
        // a secondary address without a primary).
        let ev = address(&mut known, 2, "198.51.100.1/24", false, false);
        assert_eq!(route_changes(&ev), gone("10.1.0.0/16"));
        let ev = address(&mut known, 2, "198.51.100.5/24", false, true);
        assert_eq!(route_changes(&ev), vec![]);
        assert_eq!(known_prefixes(&known), ["10.5.0.0/16"]);

        // Addresses the monitor missed the removal of go with their link, in Linux's order.
        address(&mut known, 2, "198.51.100.1/24", true, false);
        address(&mut known, 2, "198.51.100.5/24", true, true);
        route_from(&mut known, "10.1.0.0/16", "198.51.100.1");
        let mut out = VecDeque::new();
        let removed = LinkEvent {
            ifindex: 2,
            name: "d2".into(),
            up: false,
            admin_up: false,
            mtu: 1500,
            removed: true,
        };
        known.record(&NetEvent::Link(removed), false, &mut out);
        assert_eq!(route_changes(&Vec::from(out)), gone("10.1.0.0/16"));
        assert!(known.addrs.known.is_empty());
        assert_eq!(known_prefixes(&known), ["10.5.0.0/16"]);
    }

    /// The prefixes of the known routes, sorted.
    fn known_prefixes(known: &Known) -> Vec<String> {
        let mut v: Vec<String> = known
            .routes
            .known
            .values()
            .map(|r| r.ev.prefix.to_string())
            .collect();
        v.sort();
        v
    }
}
