//! Linux nexthop objects (RTM_NEWNEXTHOP, Linux 5.3 and later), which the installer shares
//! between the routes through one neighbour.
//!
//! A route with its own gateway makes the kernel set up a next hop for that route alone:
//! for IPv6 two per-CPU allocations and a device lookup per route, about half of what adding
//! a route costs. A route that names a nexthop object (RTA_NH_ID) only takes a reference.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::nl::{self, MsgBuilder};

pub(crate) const RTM_NEWNEXTHOP: u16 = 104;
pub(crate) const RTM_DELNEXTHOP: u16 = 105;
pub(crate) const RTM_GETNEXTHOP: u16 = 106;

const NHA_ID: u16 = 1;
const NHA_GROUP: u16 = 2;
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

/// The ids of the members of a nexthop group (NHA_GROUP: struct nexthop_grp, an id, a weight
/// and padding, 8 bytes each), handed to `f`; nothing for an object that is not a group.
pub(crate) fn group_members(payload: &[u8], mut f: impl FnMut(u32)) {
    nl::each_attr(payload, NHMSG_LEN, |kind, v| {
        if kind == NHA_GROUP {
            for m in v.chunks_exact(8) {
                if let Some(id) = nl::u32_of(m) {
                    f(id);
                }
            }
        }
    });
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
/// more than the rest of its bookkeeping.
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

/// Longest interval between two checks of an object that keeps being found in use.
pub(crate) const MAX_CHECK_INTERVAL: Duration = Duration::from_secs(600);

/// One of our nexthop objects. Which routes name it is not kept: a check (a dump of the
/// kernel's routes) tells whether any does.
#[derive(Clone, Debug)]
struct Object {
    neighbour: Neighbour,
    /// The number of checks begun when a route op last named it (`None`: none has).
    named_at: Option<u64>,
    /// It may be named by no route: made and not checked yet, or a route was removed or
    /// replaced since the check that last found it in use (see also [`Objects::moved`]).
    maybe_unused: bool,
    /// The check that found it unused, with every check since: the next one that finds it
    /// unused too deletes it, if no route op named it meanwhile.
    unused_at: Option<u64>,
    /// When it is checked next (if it may be unused).
    check_at: Instant,
    /// How long after the next check that finds it in use it is checked again: the grace
    /// period at first, doubled by each such check up to [`MAX_CHECK_INTERVAL`].
    interval: Duration,
}

/// The installer's nexthop objects, with what it takes to delete those no route names any
/// more, and to forget those the kernel flushed with their link.
///
/// No route is recorded. An object that a route op named, or that a removal or replacement
/// may have left unused, is checked against the kernel's routes (a dump of every table,
/// both families: a route of any table or protocol that names it would go with it), and
/// deleted only when two checks at least a grace period apart found it unused and no route
/// op named it since the first. An object found in use is checked again later and later
/// (from the grace period, doubling up to [`MAX_CHECK_INTERVAL`]), and only if a route was
/// removed or replaced meanwhile.
pub(crate) struct Objects {
    by_neighbour: HashMap<Neighbour, u32>,
    objects: IdMap<Object>,
    /// Checks begun so far.
    checks: u64,
    /// When a route was first removed or replaced since the last check began (any object
    /// may have lost its last route: cheaper, at a route op, than finding which one). The
    /// objects found in use are checked again no sooner than the grace period after it, so
    /// that a burst of changes is over before a check.
    moved: Option<Instant>,
    /// How long an object stays unused before it is deleted, at least.
    grace: Duration,
    /// New objects are wanted at the cap: the objects that may be unused are checked by then,
    /// however long their intervals have grown.
    hurry: Option<Instant>,
    /// Neighbours whose object, named by routes, Linux flushed with its link, and when: made
    /// again when the link comes back, before the routes return.
    flushed: Vec<(Neighbour, Instant)>,
}

impl Objects {
    pub(crate) fn new(grace: Duration) -> Self {
        Objects {
            by_neighbour: HashMap::new(),
            objects: IdMap::default(),
            checks: 0,
            moved: None,
            grace,
            hurry: None,
            flushed: Vec::new(),
        }
    }

    /// The object for `n`, if we have one.
    #[cfg(test)]
    pub(crate) fn get(&self, n: &Neighbour) -> Option<u32> {
        self.by_neighbour.get(n).copied()
    }

    /// The object for `n`, if we have one, which a route op is about to name.
    pub(crate) fn name(&mut self, n: &Neighbour) -> Option<u32> {
        let id = *self.by_neighbour.get(n)?;
        if let Some(o) = self.objects.get_mut(&id) {
            o.named_at = Some(self.checks);
        }
        Some(id)
    }

    /// A route was removed or replaced at `now` (whatever it named before may be unused).
    pub(crate) fn moved(&mut self, now: Instant) {
        if self.moved.is_none() {
            self.moved = Some(now);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.objects.len()
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.objects.keys().copied()
    }

    /// A new object `id` for `n`, named by no route yet: checked after the grace period.
    pub(crate) fn created(&mut self, n: Neighbour, id: u32, now: Instant) {
        let grace = self.grace;
        self.forget(id);
        self.by_neighbour.insert(n, id);
        self.objects.insert(
            id,
            Object {
                neighbour: n,
                named_at: None,
                maybe_unused: true,
                unused_at: None,
                check_at: now + grace,
                interval: grace,
            },
        );
    }

    /// Forgets object `id` (deleted, or flushed by the kernel).
    pub(crate) fn forget(&mut self, id: u32) -> bool {
        match self.objects.remove(&id) {
            Some(o) => {
                if self.by_neighbour.get(&o.neighbour) == Some(&id) {
                    self.by_neighbour.remove(&o.neighbour);
                }
                true
            }
            None => false,
        }
    }

    /// Forgets every object on interface `ifindex` (the kernel flushed them with the link);
    /// returns how many. The neighbours of those in use as far as is known (named by a
    /// route op, and not found unused since) are remembered (at most `keep` of them, the
    /// latest) for [`Objects::take_flushed`].
    pub(crate) fn forget_link(&mut self, ifindex: u32, now: Instant, keep: usize) -> usize {
        let ids: Vec<u32> = self
            .objects
            .iter()
            .filter(|(_, o)| o.neighbour.1 == ifindex)
            .map(|(&id, _)| id)
            .collect();
        for &id in &ids {
            if let Some(o) = self.objects.get(&id) {
                let used = match (o.named_at, o.unused_at) {
                    (Some(named), Some(unused)) => named >= unused,
                    (named, _) => named.is_some(),
                };
                if used {
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

    /// New objects are wanted but the cap is reached: the objects that may be unused are
    /// checked at `at` at the latest.
    pub(crate) fn hurry(&mut self, at: Instant) {
        if self.hurry.is_none_or(|h| h > at) {
            self.hurry = Some(at);
        }
    }

    /// Whether `o` may be unused, and when it is to be checked then.
    fn check_at(&self, o: &Object) -> Option<Instant> {
        if o.maybe_unused {
            Some(o.check_at)
        } else {
            self.moved.map(|t| o.check_at.max(t + self.grace))
        }
    }

    /// When the next check is due (`None`: no object may be unused). A check looks at
    /// every object that may be unused, except those waiting for the grace period to end
    /// since a check found them unused: objects found in use keep being checked together.
    pub(crate) fn next_check(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut waiting = false;
        for o in &self.objects {
            let Some(at) = self.check_at(o.1) else {
                continue;
            };
            next = Some(next.map_or(at, |t| t.min(at)));
            waiting |= o.1.unused_at.is_none();
        }
        match (next, self.hurry) {
            // A hurry shortens the intervals of objects found in use, never the grace
            // period between the two checks that find an object unused.
            (Some(t), Some(h)) if waiting => Some(t.min(h)),
            (t, _) => t,
        }
    }

    /// Begins a check at `now`: returns its number and the objects it looks at, with
    /// whether each is IPv6 (an IPv4 route may name an IPv6 object, not the reverse: IPv6
    /// routes are dumped only for IPv6 objects). Any route op from here on names objects
    /// after this check began.
    pub(crate) fn begin_check(&mut self, now: Instant) -> (u64, Vec<(u32, bool)>) {
        let mut due: Vec<(u32, bool)> = self
            .objects
            .iter()
            .filter(|(_, o)| {
                self.check_at(o).is_some() && (o.unused_at.is_none() || o.check_at <= now)
            })
            .map(|(&id, o)| (id, o.neighbour.0.is_ipv6()))
            .collect();
        due.sort_unstable();
        if self.moved.take().is_some() {
            for o in self.objects.values_mut() {
                o.maybe_unused = true;
            }
        }
        self.checks += 1;
        (self.checks, due)
    }

    /// Check `n` of objects `due` is done: `in_use` tells which ids routes name. Returns the
    /// ids to delete: found unused by this check and by an earlier one, and named by no
    /// route op since that one. An object found in use is checked again after a longer
    /// interval (if a route moves meanwhile); one found unused for the first time, after
    /// `grace`.
    pub(crate) fn checked(
        &mut self,
        n: u64,
        due: &[u32],
        in_use: impl Fn(u32) -> bool,
        now: Instant,
    ) -> Vec<u32> {
        self.hurry = None;
        let grace = self.grace;
        let mut delete = Vec::new();
        for &id in due {
            let Some(o) = self.objects.get_mut(&id) else {
                continue;
            };
            if in_use(id) {
                o.maybe_unused = false;
                o.unused_at = None;
                o.interval = (o.interval * 2).min(MAX_CHECK_INTERVAL);
                o.check_at = now + o.interval;
                continue;
            }
            o.check_at = now + grace;
            match o.unused_at {
                Some(first) if o.named_at.is_none_or(|named| named < first) => delete.push(id),
                _ => o.unused_at = Some(n),
            }
        }
        delete
    }

    /// A check of objects `due` told nothing (the dump failed or was interrupted): they are
    /// checked again after `grace`.
    pub(crate) fn check_failed(&mut self, due: &[u32], now: Instant) {
        self.hurry = None;
        for id in due {
            if let Some(o) = self.objects.get_mut(id) {
                o.check_at = now + self.grace;
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        self.by_neighbour.clear();
        self.objects.clear();
        self.moved = None;
        self.hurry = None;
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

    fn neighbours() -> (Neighbour, Neighbour) {
        (
            ("fe80::a".parse().unwrap(), 2),
            ("fe80::b".parse().unwrap(), 3),
        )
    }

    fn ids(due: &[(u32, bool)]) -> Vec<u32> {
        due.iter().map(|&(id, _)| id).collect()
    }

    /// Begins a check at `now` and ends it with `in_use`; returns the ids looked at and
    /// those to delete.
    fn check(o: &mut Objects, now: Instant, in_use: impl Fn(u32) -> bool) -> (Vec<u32>, Vec<u32>) {
        let (n, due) = o.begin_check(now);
        let due = ids(&due);
        let delete = o.checked(n, &due, in_use, now);
        (due, delete)
    }

    #[test]
    fn an_object_found_unused_by_two_checks_a_grace_period_apart_is_deleted() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut o = Objects::new(Duration::from_secs(30));
        let (na, nb) = neighbours();
        o.created(na, 10, t0);
        o.created(nb, 11, t0);
        assert_eq!(o.name(&na), Some(10));
        assert_eq!(o.name(&nb), Some(11));
        // New objects are checked after the grace period.
        assert_eq!(o.next_check(), Some(at(30)));
        let (n, due) = o.begin_check(at(30));
        assert_eq!(due, vec![(10, true), (11, true)]);
        assert_eq!(o.checked(n, &[10, 11], |_| true, at(30)), vec![]);
        // Both in use, and no route moved: no check.
        assert_eq!(o.next_check(), None);
        // A route moves at 40: a check at 90, the grace period after the move and the
        // doubled interval (60 s) after the last check. b is unused for the first time.
        o.moved(at(40));
        assert_eq!(o.next_check(), Some(at(90)));
        assert_eq!(check(&mut o, at(90), |id| id == 10), (vec![10, 11], vec![]));
        // b is checked again the grace period later, and deleted; a is not looked at.
        assert_eq!(o.next_check(), Some(at(120)));
        assert_eq!(check(&mut o, at(120), |id| id == 10), (vec![11], vec![11]));
        assert!(o.forget(11));
        assert_eq!((o.get(&nb), o.len()), (None, 1));
        assert_eq!(o.next_check(), None);
    }

    #[test]
    fn an_object_named_since_the_first_check_that_found_it_unused_is_kept() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut o = Objects::new(Duration::from_secs(30));
        let (na, _) = neighbours();
        // Made, but the route op naming it failed: unused at the first check.
        o.created(na, 10, t0);
        assert_eq!(check(&mut o, at(30), |_| false), (vec![10], vec![]));
        // A route flaps back through it and away again; a dump that misses the route
        // (interrupted, say) must not delete it.
        assert_eq!(o.name(&na), Some(10));
        o.moved(at(50));
        assert_eq!(o.next_check(), Some(at(60)));
        assert_eq!(check(&mut o, at(60), |_| false), (vec![10], vec![]));
        // Unused at two checks with no route op between: deleted.
        assert_eq!(o.next_check(), Some(at(90)));
        assert_eq!(check(&mut o, at(90), |_| false), (vec![10], vec![10]));
        assert!(o.forget(10));
        // A failed check changes nothing but the time of the next one.
        o.created(na, 12, at(100));
        let (_, due) = o.begin_check(at(130));
        assert_eq!(ids(&due), vec![12]);
        o.check_failed(&[12], at(130));
        assert_eq!(o.next_check(), Some(at(160)));
        assert_eq!(check(&mut o, at(160), |_| false), (vec![12], vec![]));
    }

    #[test]
    fn objects_in_use_are_checked_less_and_less_often_while_routes_move() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut o = Objects::new(Duration::from_secs(30));
        let (na, nb) = neighbours();
        o.created(na, 10, t0);
        assert_eq!(check(&mut o, at(30), |_| true), (vec![10], vec![]));
        // Intervals of 60, 120, 240, 480 s, then 600 s (the most).
        // A route moves the grace period before each.
        for when in [90, 210, 450, 930, 1530, 2130] {
            o.moved(at(when - 30));
            assert_eq!(o.next_check(), Some(at(when)));
            assert_eq!(check(&mut o, at(when), |_| true), (vec![10], vec![]));
        }
        // At the cap, new objects are wanted: the objects in use are checked by the time
        // given, not the one found unused, which waits for its grace period.
        o.created(nb, 11, at(2130));
        o.moved(at(2140));
        assert_eq!(
            check(&mut o, at(2160), |id| id == 10),
            (vec![10, 11], vec![])
        );
        o.moved(at(2170));
        o.hurry(at(2175));
        assert_eq!(o.next_check(), Some(at(2175)));
        assert_eq!(check(&mut o, at(2175), |id| id == 10), (vec![10], vec![]));
        assert_eq!(o.next_check(), Some(at(2190)));
        o.hurry(at(2180));
        assert_eq!(o.next_check(), Some(at(2190)), "only b may be unused");
        assert_eq!(check(&mut o, at(2190), |id| id == 10), (vec![11], vec![11]));
        o.clear();
        assert_eq!((o.len(), o.next_check()), (0, None));
    }

    #[test]
    fn objects_flushed_with_their_link_are_forgotten_and_the_used_ones_remembered() {
        let t0 = Instant::now();
        let grace = Duration::from_secs(30);
        let later = |s| t0 + Duration::from_secs(s);
        let mut o = Objects::new(grace);
        let (na, nb) = neighbours();
        o.created(na, 10, t0);
        o.created(nb, 11, t0);
        o.name(&na);
        // A flushed link's objects are forgotten.
        assert_eq!(o.forget_link(2, later(11), 8), 1);
        assert_eq!((o.get(&na), o.len()), (None, 1));
        // The neighbour comes back with its link, within the grace period; not twice.
        assert_eq!(o.take_flushed(3, later(12), grace), vec![]);
        assert_eq!(o.take_flushed(2, later(12), grace), vec![na]);
        assert_eq!(o.take_flushed(2, later(12), grace), vec![]);
        // A neighbour no route op named is not remembered, nor one found unused since.
        o.created(na, 12, later(13));
        assert_eq!(o.forget_link(2, later(14), 8), 1);
        assert_eq!(o.take_flushed(2, later(14), grace), vec![]);
        o.name(&nb);
        assert_eq!(check(&mut o, later(30), |_| false), (vec![11], vec![]));
        assert_eq!(o.forget_link(3, later(31), 8), 1);
        assert_eq!(o.take_flushed(3, later(32), grace), vec![]);
        // One flushed long ago is dropped.
        o.created(nb, 13, later(40));
        o.name(&nb);
        assert_eq!(o.forget_link(3, later(41), 8), 1);
        assert_eq!(o.take_flushed(3, later(71), grace), vec![]);
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
        // Found by garbage::payload_readers_never_panic: negating it overflowed.
        assert_eq!(nl::error_code(&i32::MIN.to_ne_bytes()), Some(i32::MAX));
    }
}
