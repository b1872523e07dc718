//! Linux nexthop objects (RTM_NEWNEXTHOP, Linux 5.3 and later), which the installer shares
//! between the routes through one neighbour.
//!
//! A route with its own gateway makes the kernel set up a next hop for that route alone:
//! for IPv6 two per-CPU allocations and a device lookup per route, about half of what adding
//! a route costs. A route that names a nexthop object (RTA_NH_ID) only takes a reference.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use babel_core::wire::Prefix;
use hashbrown::HashTable;

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

/// Size of struct ifinfomsg: family, pad, type (16 bits), index, flags, change (32 bits).
const IFINFOMSG_LEN: usize = 16;

/// The interface of link notification `kind` (RTM_NEWLINK or RTM_DELLINK) with payload `p`,
/// and whether Linux has flushed its nexthop objects. Linux removes a device's objects when
/// it goes away (NETDEV_UNREGISTER), goes down (NETDEV_DOWN), or changes state with neither
/// IFF_RUNNING nor IFF_LOWER_UP (NETDEV_CHANGE: carrier loss), and the RTM_NEWLINK sent
/// after it carries the same flags. A dormant link (carrier, not running) keeps them.
pub(crate) fn link_change(kind: u16, p: &[u8]) -> Option<(u32, bool)> {
    if kind != nl::RTM_NEWLINK && kind != nl::RTM_DELLINK {
        return None;
    }
    let h = p.get(0..IFINFOMSG_LEN)?;
    // Bridge-port (AF_BRIDGE) notifications describe the same links again.
    if h[0] != libc::AF_UNSPEC as u8 {
        return None;
    }
    let ifindex = nl::u32_of(&h[4..8])?;
    let flags = nl::u32_of(&h[8..12])?;
    let up = flags & libc::IFF_UP as u32 != 0;
    let lower = flags & (libc::IFF_RUNNING | libc::IFF_LOWER_UP) as u32 != 0;
    Some((ifindex, kind == nl::RTM_DELLINK || !up || !lower))
}

/// Hashes a kernel object id (the kernel picks them, one after the other: nothing for an
/// attacker to choose) with one multiplication, where SipHash would cost a route change
/// three times more than the rest of its bookkeeping.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.0 = (u64::from(i) ^ self.0).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type IdMap<V> = HashMap<u32, V, BuildHasherDefault<IdHasher>>;

/// A neighbour: gateway and interface index.
pub(crate) type Neighbour = (IpAddr, u32);

/// One of our nexthop objects.
#[derive(Clone, Debug)]
struct Object {
    neighbour: Neighbour,
    /// Our routes that name it.
    refs: u32,
    /// When `refs` last fell to 0 (or when it was created, before a route named it).
    unused_since: Option<Instant>,
    /// A route op naming it (or naming the object it replaced) had an unknown outcome: it is
    /// never deleted, since a route may use it that `refs` does not count.
    pinned: bool,
    /// Its number in the route table's entries (`None`: none was free; then it is pinned).
    slot: Option<u16>,
}

/// Bits of a route table entry that hold the object's slot.
const SLOT_BITS: u32 = 11;
const SLOTS: usize = 1 << SLOT_BITS;
const SLOT_MASK: u64 = SLOTS as u64 - 1;

/// Which object each route names: one 64-bit word a route (9 bytes in the table, against 17
/// for a map from a 64-bit digest to a 32-bit id): the route's digest less its low 11 bits,
/// and the object's slot in them. Two routes of 100,000 share their 53 bits with a
/// probability of about 5e-7; a slot freed by a forgotten object is given out again only
/// after the entries that name it are dropped.
struct RouteTable {
    t: HashTable<u64>,
}

impl RouteTable {
    fn hash_key(k: u64) -> u64 {
        // The digest's bits, random, both low (bucket) and high (tag).
        k ^ (k << SLOT_BITS)
    }

    fn hash_entry(e: &u64) -> u64 {
        Self::hash_key(e >> SLOT_BITS)
    }

    fn get(&self, digest: u64) -> Option<u16> {
        let k = digest >> SLOT_BITS;
        self.t
            .find(Self::hash_key(k), |&e| e >> SLOT_BITS == k)
            .map(|&e| (e & SLOT_MASK) as u16)
    }

    /// Sets the slot of route `digest` (`None`: no object); returns the previous one.
    fn set(&mut self, digest: u64, slot: Option<u16>) -> Option<u16> {
        let k = digest >> SLOT_BITS;
        let h = Self::hash_key(k);
        match self.t.find_entry(h, |&e| e >> SLOT_BITS == k) {
            Ok(mut entry) => {
                let prev = (*entry.get() & SLOT_MASK) as u16;
                match slot {
                    Some(s) => *entry.get_mut() = (k << SLOT_BITS) | u64::from(s),
                    None => {
                        entry.remove();
                    }
                }
                Some(prev)
            }
            Err(_) => {
                if let Some(s) = slot {
                    self.t
                        .insert_unique(h, (k << SLOT_BITS) | u64::from(s), Self::hash_entry);
                }
                None
            }
        }
    }
}

/// The installer's nexthop objects and which of its routes name which object, so that an
/// object no route names any more can be deleted (after a grace period) and an object the
/// kernel flushed with its link is forgotten.
///
/// A route is known by a 64-bit digest of its key (destination, source, metric) under a
/// per-process random key, not by the key: no one can make two routes' digests collide on
/// purpose.
pub(crate) struct Objects {
    by_neighbour: HashMap<Neighbour, u32>,
    objects: IdMap<Object>,
    routes: RouteTable,
    /// The object of each slot; `None` for a slot that is free or dead.
    slots: Vec<Option<u32>>,
    /// Slots no entry names.
    free: Vec<u16>,
    /// Slots of forgotten objects that entries may still name.
    dead: Vec<u16>,
    digest: RandomState,
    /// Neighbours whose object, named by routes, Linux flushed with its link, and when: made
    /// again when the link comes back, before the routes return.
    flushed: Vec<(Neighbour, Instant)>,
}

impl Objects {
    pub(crate) fn new() -> Self {
        Objects {
            by_neighbour: HashMap::new(),
            objects: IdMap::default(),
            routes: RouteTable {
                t: HashTable::new(),
            },
            slots: vec![None; SLOTS],
            free: (0..SLOTS as u16).rev().collect(),
            dead: Vec::new(),
            digest: RandomState::new(),
            flushed: Vec::new(),
        }
    }

    /// A free slot for `id`; when none is left, the entries that name dead slots are dropped
    /// first (a pass over the table, once per 1,000 or so forgotten objects).
    fn take_slot(&mut self, id: u32) -> Option<u16> {
        if self.free.is_empty() && !self.dead.is_empty() {
            let mut dead = vec![false; SLOTS];
            for &s in &self.dead {
                dead[usize::from(s)] = true;
            }
            self.routes.t.retain(|e| !dead[(*e & SLOT_MASK) as usize]);
            self.free.append(&mut self.dead);
        }
        let s = self.free.pop()?;
        self.slots[usize::from(s)] = Some(id);
        Some(s)
    }

    /// The object of a slot.
    fn at(&mut self, slot: Option<u16>) -> Option<&mut Object> {
        let id = (*self.slots.get(usize::from(slot?))?)?;
        self.objects.get_mut(&id)
    }

    /// The digest of a route key.
    pub(crate) fn route_digest(&self, dst: Prefix, src: Option<Prefix>, metric: u32) -> u64 {
        // Three fixed-size words (IPv4 as IPv4-mapped, the lengths and the metric in the
        // third): fewer, longer writes than the derived Hash of the tuple.
        let word = |a: IpAddr| match a {
            IpAddr::V4(v) => u128::from(v.to_ipv6_mapped()),
            IpAddr::V6(v) => u128::from(v),
        };
        let lengths = u64::from(dst.plen())
            | u64::from(dst.is_v4()) << 8
            | u64::from(src.map_or(0, |s| s.plen())) << 16
            | u64::from(src.is_some()) << 24
            | u64::from(metric) << 32;
        let src = src.map_or(0, |s| word(s.addr()));
        self.digest.hash_one((word(dst.addr()), src, lengths))
    }

    /// The object for `n`, if we have one.
    pub(crate) fn get(&self, n: &Neighbour) -> Option<u32> {
        self.by_neighbour.get(n).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.objects.len()
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.objects.keys().copied()
    }

    /// A new object `id` for `n`, named by no route yet.
    pub(crate) fn created(&mut self, n: Neighbour, id: u32, now: Instant) {
        self.forget(id);
        let slot = self.take_slot(id);
        self.by_neighbour.insert(n, id);
        self.objects.insert(
            id,
            Object {
                neighbour: n,
                refs: 0,
                unused_since: Some(now),
                pinned: slot.is_none(),
                slot,
            },
        );
    }

    /// Forgets object `id` (deleted, or flushed by the kernel). Routes that named it are
    /// gone with it; their entries are dropped when those routes are next replaced or
    /// removed.
    pub(crate) fn forget(&mut self, id: u32) -> bool {
        match self.objects.remove(&id) {
            Some(o) => {
                if self.by_neighbour.get(&o.neighbour) == Some(&id) {
                    self.by_neighbour.remove(&o.neighbour);
                }
                if let Some(s) = o.slot {
                    self.slots[usize::from(s)] = None;
                    self.dead.push(s);
                }
                true
            }
            None => false,
        }
    }

    /// Forgets every object on interface `ifindex` (the kernel flushed them with the link);
    /// returns how many. The neighbours of those that routes named are remembered (at most
    /// `keep` of them, the latest) for [`Objects::take_flushed`].
    pub(crate) fn forget_link(&mut self, ifindex: u32, now: Instant, keep: usize) -> usize {
        let ids: Vec<u32> = self
            .objects
            .iter()
            .filter(|(_, o)| o.neighbour.1 == ifindex)
            .map(|(&id, _)| id)
            .collect();
        for &id in &ids {
            if let Some(o) = self.objects.get(&id) {
                if o.refs > 0 {
                    let n = o.neighbour;
                    self.flushed.retain(|(m, _)| *m != n);
                    self.flushed.push((n, now));
                }
            }
            self.forget(id);
        }
        if self.flushed.len() > keep {
            let extra = self.flushed.len() - keep;
            self.flushed.drain(..extra);
        }
        ids.len()
    }

    /// The neighbours on `ifindex` whose objects were flushed less than `within` ago and that
    /// have none now; forgets them, and every one flushed longer ago.
    pub(crate) fn take_flushed(
        &mut self,
        ifindex: u32,
        now: Instant,
        within: Duration,
    ) -> Vec<Neighbour> {
        self.flushed
            .retain(|(_, t)| now.saturating_duration_since(*t) < within);
        let mut out = Vec::new();
        self.flushed.retain(|(n, _)| {
            if n.1 != ifindex {
                return true;
            }
            out.push(*n);
            false
        });
        out.retain(|n| !self.by_neighbour.contains_key(n));
        out
    }

    /// Route `route` (a digest) now names object `nh`, or no object (`None`: it carries its
    /// gateway, or was removed).
    pub(crate) fn set_route(&mut self, route: u64, nh: Option<u32>, now: Instant) {
        // An object we do not know (or without a slot) is not counted.
        let slot = nh.and_then(|id| self.objects.get(&id)).and_then(|o| o.slot);
        let prev = self.routes.set(route, slot);
        if prev == slot {
            return;
        }
        if let Some(o) = self.at(slot) {
            o.refs += 1;
            o.unused_since = None;
        }
        if let Some(o) = self.at(prev) {
            o.refs = o.refs.saturating_sub(1);
            if o.refs == 0 {
                o.unused_since = Some(now);
            }
        }
    }

    /// An operation on `route` naming `nh` had an unknown outcome: the object it named and
    /// the one it may have replaced are kept until the purge.
    pub(crate) fn pin_route(&mut self, route: u64, nh: Option<u32>) {
        let prev = self.routes.get(route);
        let prev = prev.and_then(|s| self.slots[usize::from(s)]);
        for id in [prev, nh].into_iter().flatten() {
            if let Some(o) = self.objects.get_mut(&id) {
                o.pinned = true;
                o.unused_since = None;
            }
        }
    }

    fn unused(&self) -> impl Iterator<Item = (u32, Instant)> + '_ {
        self.objects
            .iter()
            .filter(|(_, o)| o.refs == 0 && !o.pinned)
            .filter_map(|(&id, o)| o.unused_since.map(|t| (id, t)))
    }

    /// Objects no route has named for `grace` or longer.
    pub(crate) fn expired(&self, now: Instant, grace: Duration) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .unused()
            .filter(|&(_, t)| now.saturating_duration_since(t) >= grace)
            .map(|(id, _)| id)
            .collect();
        v.sort_unstable();
        v
    }

    /// The object no route has named for longest.
    pub(crate) fn oldest_unused(&self) -> Option<u32> {
        self.unused()
            .min_by_key(|&(id, t)| (t, id))
            .map(|(id, _)| id)
    }

    /// When the next object will have been unused for `grace`.
    pub(crate) fn next_expiry(&self, grace: Duration) -> Option<Instant> {
        self.unused().map(|(_, t)| t + grace).min()
    }

    /// Objects `ids` count as unused from `now` on (a failed deletion is tried again after
    /// another grace period).
    pub(crate) fn touch(&mut self, ids: &[u32], now: Instant) {
        for id in ids {
            if let Some(o) = self.objects.get_mut(id) {
                if o.refs == 0 {
                    o.unused_since = Some(now);
                }
            }
        }
    }

    /// Routes known to name an object (entries of flushed objects included until those
    /// routes are touched).
    pub(crate) fn routes_len(&self) -> usize {
        self.routes.t.len()
    }

    pub(crate) fn clear(&mut self) {
        self.by_neighbour.clear();
        self.objects.clear();
        self.routes = RouteTable {
            t: HashTable::new(),
        };
        self.slots.iter_mut().for_each(|s| *s = None);
        self.free = (0..SLOTS as u16).rev().collect();
        self.dead.clear();
        self.flushed.clear();
    }
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

    fn link_msg(flags: u32, ifindex: u32, family: u8) -> Vec<u8> {
        let mut p = vec![family, 0, 0, 0];
        p.extend_from_slice(&ifindex.to_ne_bytes());
        p.extend_from_slice(&flags.to_ne_bytes());
        p.extend_from_slice(&0u32.to_ne_bytes());
        p
    }

    #[test]
    fn links_whose_objects_linux_flushes() {
        let (up, running, lower) = (
            libc::IFF_UP as u32,
            libc::IFF_RUNNING as u32,
            libc::IFF_LOWER_UP as u32,
        );
        let new = |f| link_change(nl::RTM_NEWLINK, &link_msg(f, 7, 0));
        assert_eq!(new(up | running | lower), Some((7, false)));
        // Dormant: carrier without IFF_RUNNING keeps its objects.
        assert_eq!(new(up | lower), Some((7, false)));
        assert_eq!(new(up), Some((7, true)), "carrier loss");
        assert_eq!(
            new(running | lower),
            Some((7, true)),
            "administratively down"
        );
        let gone = link_change(nl::RTM_DELLINK, &link_msg(up | running, 7, 0));
        assert_eq!(gone, Some((7, true)));
        // Bridge ports, other messages and short payloads are not link changes.
        assert_eq!(link_change(nl::RTM_NEWLINK, &link_msg(0, 7, 7)), None);
        assert_eq!(link_change(RTM_DELNEXTHOP, &link_msg(0, 7, 0)), None);
        assert_eq!(link_change(nl::RTM_NEWLINK, &link_msg(0, 7, 0)[..12]), None);
    }

    #[test]
    fn objects_count_the_routes_naming_them() {
        let t0 = Instant::now();
        let grace = Duration::from_secs(30);
        let later = |s| t0 + Duration::from_secs(s);
        let mut o = Objects::new();
        let (na, nb) = (
            ("fe80::a".parse().unwrap(), 2),
            ("fe80::b".parse().unwrap(), 3),
        );
        o.created(na, 10, t0);
        o.created(nb, 11, t0);
        assert_eq!(o.get(&na), Some(10));
        // Created and not named yet: unused from creation.
        assert_eq!(o.next_expiry(grace), Some(later(30)));
        let r1 = o.route_digest("2001:db8:1::/48".parse().unwrap(), None, 0);
        let r2 = o.route_digest("2001:db8:2::/48".parse().unwrap(), None, 0);
        assert_ne!(r1, r2);
        o.set_route(r1, Some(10), t0);
        o.set_route(r2, Some(10), t0);
        assert_eq!(o.expired(later(60), grace), vec![11]);
        // r1 moves to b, then away from objects (an unreachable route): a keeps r2.
        o.set_route(r1, Some(11), later(1));
        o.set_route(r1, Some(11), later(2));
        assert_eq!(o.expired(later(60), grace), Vec::<u32>::new());
        o.set_route(r1, None, later(5));
        assert_eq!(o.expired(later(34), grace), Vec::<u32>::new());
        assert_eq!(o.expired(later(35), grace), vec![11]);
        assert_eq!(o.oldest_unused(), Some(11));
        // r2 goes: a is unused from then on, b stays the longest unused.
        o.set_route(r2, None, later(8));
        assert_eq!(o.expired(later(36), grace), vec![11]);
        assert_eq!(o.oldest_unused(), Some(11));
        assert_eq!(o.next_expiry(grace), Some(later(35)));
        // An unknown outcome pins both objects it may involve.
        o.set_route(r1, Some(10), later(9));
        o.pin_route(r1, Some(11));
        o.set_route(r1, None, later(10));
        assert_eq!(o.expired(later(100), grace), Vec::<u32>::new());
        assert_eq!(o.next_expiry(grace), None);
        // A flushed link's objects are forgotten; routes naming them count for nothing.
        o.set_route(r2, Some(10), later(10));
        assert_eq!(o.forget_link(2, later(11), 8), 1);
        assert_eq!((o.get(&na), o.len()), (None, 1));
        o.set_route(r2, None, later(12));
        // The neighbour comes back with its link, within the grace period; not twice.
        assert_eq!(o.take_flushed(3, later(12), grace), vec![]);
        assert_eq!(o.take_flushed(2, later(12), grace), vec![na]);
        assert_eq!(o.take_flushed(2, later(12), grace), vec![]);
        // An unused object's neighbour is not remembered; one flushed long ago is dropped.
        o.created(na, 12, later(13));
        assert_eq!(o.forget_link(2, later(14), 8), 1);
        assert_eq!(o.take_flushed(2, later(14), grace), vec![]);
        o.set_route(r1, Some(11), later(15));
        assert_eq!(o.forget_link(3, later(15), 8), 1);
        assert_eq!(o.take_flushed(3, later(45), grace), vec![]);
        o.clear();
        assert_eq!((o.len(), o.routes_len()), (0, 0));
    }

    #[test]
    fn slots_of_forgotten_objects_are_reused_only_once_no_route_names_them() {
        let t0 = Instant::now();
        let grace = Duration::from_secs(1);
        let mut o = Objects::new();
        let route = |o: &Objects, i: u32| {
            o.route_digest(
                Prefix::v6(
                    std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16),
                    128,
                )
                .unwrap(),
                None,
                i,
            )
        };
        // 5,000 objects flushed each with a route naming it: their entries stay behind.
        for i in 0..5000u32 {
            let n = (IpAddr::from([10, 0, (i >> 8) as u8, i as u8]), 1);
            o.created(n, i + 1, t0);
            let r = route(&o, i);
            o.set_route(r, Some(i + 1), t0);
            assert!(o.forget(i + 1));
        }
        assert!(o.routes_len() < 5000, "entries of dead slots were dropped");
        // A new object, in a reused slot, named by one route.
        let x = (IpAddr::from([192, 0, 2, 1]), 2);
        o.created(x, 9999, t0);
        let r = route(&o, 7000);
        o.set_route(r, Some(9999), t0);
        // Every old route goes: none of them may count against the new object.
        for i in 0..5000u32 {
            let r = route(&o, i);
            o.set_route(r, None, t0);
        }
        assert_eq!(o.expired(t0 + grace, grace), Vec::<u32>::new());
        assert_eq!(o.routes_len(), 1);
        o.set_route(r, None, t0);
        assert_eq!(o.expired(t0 + grace, grace), vec![9999]);
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
