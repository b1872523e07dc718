//! Sources and feasibility distances (RFC 8966 §2.4, §3.5.1).

use std::time::Duration;

use crate::neighbour::seqno_newer;
use crate::paged::Paged;
use crate::route::{RouteTable, NEIGH_MAX};
use crate::time::Timestamp;
use crate::wire::{RouterId, INFINITY};

/// RFC 8966 §3.2.5: a source is a (prefix, source prefix, router-id) triple; its
/// feasibility distance is the pair (seqno, metric) of the best update we advertised for it.
/// The prefixes are those of a route table slot, which the source keeps alive: a source
/// costs no copy of its key. The sources of one slot are a list that starts in the slot
/// (`RouteTable::first_source`), so that finding one costs no index: the slot is at hand
/// whenever a source is looked for, and most destinations have one source. 14 bytes, all
/// of 16-bit fields (its next-source index in two halves), so that a page of 1,024 sources
/// is 14 KiB: at 100,000 destinations 196 KiB less than with a 32-bit index and time.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// The router-id, as an index in the route table's router-id interner, which the
    /// source holds a count of (`RouteTable::id_at`).
    rid: u16,
    /// The next source of the same slot ([`crate::route::NO_SOURCE`]: the last; [`FREE`]:
    /// this is a free place of the slab), low half then high half (see [`Source::next`]).
    next: [u16; 2],
    pub seqno: u16,
    pub metric: u16,
    /// Route entries that point at this source. They are all of the source's destination,
    /// where there is one entry per neighbour and neighbour indices are at most
    /// [`NEIGH_MAX`] (65,533): 65,534 entries, and one more retained while an entry is
    /// refused, fit (see [`SourceTable::retain`]).
    pub refs: u16,
    /// When the feasibility distance was last set: the low 16 bits of that time in
    /// [`TICK_MICROS`] units, read back relative to the current time (see [`Source::age`]).
    time: u16,
}

/// The unit of a source's time: 1/16 s. 16 bits of it wrap after 68 minutes.
const TICK_MICROS: u64 = 62_500;

/// `t` in [`TICK_MICROS`] units, rounded down, modulo 2^16.
#[inline]
fn ticks(t: Timestamp) -> u16 {
    (t.as_micros() / TICK_MICROS) as u16
}

// What `Source::refs` counts at most (see there) fits its 16 bits.
const _: () = assert!(NEIGH_MAX + 2 <= u16::MAX as u32);

impl Source {
    /// Time since the feasibility distance was set, never more than the truth and less by
    /// at most two ticks (1/8 s): the times are whole ticks, rounded down, and a tick is
    /// taken off. The 16 bits of ticks wrap after 68 minutes; an age beyond the GC time is
    /// held just past it by [`SourceTable::gc`] (every [`SOURCE_CHECK`] at most) and
    /// [`SourceTable::rebase`]: every use of the age only asks whether it is beyond the GC
    /// time, and so an old distance is never taken for stale early.
    #[inline]
    fn age(&self, now: Timestamp) -> Duration {
        let t = ticks(now).wrapping_sub(self.time).saturating_sub(1);
        Duration::from_micros(u64::from(t) * TICK_MICROS)
    }

    /// The next source of the same slot (see the field).
    #[inline]
    fn next(&self) -> u32 {
        u32::from(self.next[0]) | u32::from(self.next[1]) << 16
    }

    #[inline]
    fn set_next(&mut self, next: u32) {
        self.next = [next as u16, (next >> 16) as u16];
    }

    /// The router-id.
    pub(crate) fn id(&self, routes: &RouteTable) -> RouterId {
        routes.id_at(self.rid)
    }

    #[inline]
    fn set_time(&mut self, now: Timestamp) {
        self.time = ticks(now);
    }

    /// Holds the age at just past `gc`, as of `now`.
    fn hold_stale(&mut self, now: Timestamp, gc: Duration) {
        // Two ticks more than `gc` (rounded up) reads as more than `gc` (see `age`).
        let past = (gc.as_micros() as u64)
            .div_ceil(TICK_MICROS)
            .min(u16::MAX as u64 / 2)
            + 2;
        self.time = ticks(now).wrapping_sub(past as u16);
    }
}

/// The longest the engine lets its sources go without [`SourceTable::gc`] or
/// [`SourceTable::rebase`] holding their ages (see [`Source::age`]), well within the 68
/// minutes their times wrap in.
pub(crate) const SOURCE_CHECK: Duration = Duration::from_secs(20 * 60);

/// A read-only view of a source, for `dump` and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceView {
    pub router_id: RouterId,
    pub prefix: crate::wire::Prefix,
    pub src_prefix: Option<crate::wire::Prefix>,
    pub seqno: u16,
    pub metric: u16,
}

/// A source's feasibility distance and how long ago it was set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Distance {
    pub seqno: u16,
    pub metric: u16,
    pub age: Duration,
}

/// RFC 8966 §3.5.1: the feasibility condition of [`SourceTable::feasible`], against a
/// distance already looked up (`None`: no source).
#[inline]
pub(crate) fn feasible_against(
    d: Option<Distance>,
    seqno: u16,
    refmetric: u16,
    gc: Duration,
) -> bool {
    if refmetric == INFINITY {
        return true;
    }
    let Some(s) = d else {
        return true;
    };
    // babeld: a feasibility distance older than the GC time is stale and ignored.
    if s.age > gc {
        return true;
    }
    seqno_newer(seqno, s.seqno) || (seqno == s.seqno && refmetric < s.metric)
}

/// [`Source::next`] of a free place of the slab.
const FREE: u32 = u32::MAX - 1;

#[derive(Debug, Default)]
pub(crate) struct SourceTable {
    slab: Paged<Source>,
    free: Vec<u32>,
    /// Live sources.
    live: usize,
}

impl SourceTable {
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// The source of `id` for the destination of route table slot `slot`.
    #[inline]
    pub(crate) fn find(&self, id: RouterId, slot: u32, routes: &RouteTable) -> Option<u32> {
        if routes.first_source(slot) == crate::route::NO_SOURCE {
            return None;
        }
        // Every source holds its router-id in the interner.
        let rid = routes.id_index(id)?;
        self.list(slot, routes)
            .find(|(_, s)| s.rid == rid)
            .map(|(i, _)| i)
    }

    /// The sources of slot `slot`, with their places in the slab.
    #[inline]
    fn list<'a>(
        &'a self,
        slot: u32,
        routes: &RouteTable,
    ) -> impl Iterator<Item = (u32, &'a Source)> + 'a {
        let mut i = routes.first_source(slot);
        std::iter::from_fn(move || {
            let s = self.slab.get(i as usize)?;
            debug_assert_ne!(s.next(), FREE);
            let at = i;
            i = s.next();
            Some((at, s))
        })
    }

    /// Asks the memory system for source `i`, without waiting for it (see `Node::warm`).
    #[inline]
    pub(crate) fn prefetch(&self, i: u32) {
        self.slab.prefetch(i as usize);
    }

    pub(crate) fn get(&self, i: u32) -> Option<&Source> {
        self.slab.get(i as usize).filter(|s| s.next() != FREE)
    }

    pub(crate) fn get_mut(&mut self, i: u32) -> Option<&mut Source> {
        self.slab.get_mut(i as usize).filter(|s| s.next() != FREE)
    }

    /// Finds or creates the source. A new source has an infinite feasibility distance, so
    /// that any update for it is feasible (RFC 8966 §3.5.1). `None` when it is new and its
    /// router-id is too (see [`SourceTable::create`]).
    pub(crate) fn find_or_create(
        &mut self,
        id: RouterId,
        slot: u32,
        seqno: u16,
        now: Timestamp,
        routes: &mut RouteTable,
    ) -> Option<u32> {
        if let Some(i) = self.find(id, slot, routes) {
            return Some(i);
        }
        self.create(id, slot, seqno, now, routes)
    }

    /// Adds a source known to be absent, with an infinite feasibility distance, for the
    /// destination of route table slot `slot`, which it holds. `None` (and nothing added)
    /// when its router-id is new while 65,536 are held.
    pub(crate) fn create(
        &mut self,
        id: RouterId,
        slot: u32,
        seqno: u16,
        now: Timestamp,
        routes: &mut RouteTable,
    ) -> Option<u32> {
        debug_assert!(self.find(id, slot, routes).is_none());
        let mut src = Source {
            rid: routes.hold_id(id)?,
            next: [0; 2],
            seqno,
            metric: INFINITY,
            refs: 0,
            time: ticks(now),
        };
        src.set_next(routes.first_source(slot));
        let i = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = src;
                i
            }
            None => {
                self.slab.push(src);
                (self.slab.len() - 1) as u32
            }
        };
        routes.set_first_source(slot, i);
        self.live += 1;
        Some(i)
    }

    /// The router-id of source `i`.
    pub(crate) fn router_id(&self, i: u32, routes: &RouteTable) -> Option<RouterId> {
        self.get(i).map(|s| s.id(routes))
    }

    /// One more route entry points at source `i`. Its 16-bit count cannot overflow (see
    /// [`Source::refs`]); were it to, this panics rather than wrap, which would let the
    /// source be collected while entries point at it.
    pub(crate) fn retain(&mut self, i: u32) {
        if let Some(s) = self.get_mut(i) {
            s.refs = s
                .refs
                .checked_add(1)
                .expect("more route entries than neighbours point at a source");
        }
    }

    pub(crate) fn release(&mut self, i: u32) {
        if let Some(s) = self.get_mut(i) {
            s.refs = s.refs.saturating_sub(1);
        }
    }

    /// RFC 8966 §3.5.1: an update (seqno, metric) is feasible when it is a retraction, when
    /// there is no feasibility distance for its source, or when it is strictly better than
    /// the feasibility distance: a newer seqno, or the same seqno and a smaller metric.
    pub(crate) fn feasible(
        &self,
        src: Option<u32>,
        seqno: u16,
        refmetric: u16,
        now: Timestamp,
        gc: Duration,
    ) -> bool {
        feasible_against(
            src.and_then(|i| self.distance(i, now)),
            seqno,
            refmetric,
            gc,
        )
    }

    /// The feasibility distance of source `i`, copied out, so that a route selection over
    /// several entries of one source looks the source up once.
    #[inline]
    pub(crate) fn distance(&self, i: u32, now: Timestamp) -> Option<Distance> {
        self.get(i).map(|s| Distance {
            seqno: s.seqno,
            metric: s.metric,
            age: s.age(now),
        })
    }

    /// RFC 8966 §3.7.3: after advertising (seqno, metric) for a source, its feasibility
    /// distance becomes that pair if the seqno is newer or the metric smaller. `known` is
    /// the source's index when the caller has it (the announced route entry's source).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn note_advertised(
        &mut self,
        id: RouterId,
        slot: u32,
        seqno: u16,
        metric: u16,
        now: Timestamp,
        known: Option<u32>,
        routes: &mut RouteTable,
    ) {
        if metric == INFINITY {
            return;
        }
        let i = match known {
            Some(i) => {
                debug_assert_eq!(self.find(id, slot, routes), Some(i));
                i
            }
            None => match self.find_or_create(id, slot, seqno, now, routes) {
                Some(i) => i,
                None => return,
            },
        };
        if let Some(s) = self.get_mut(i) {
            if seqno_newer(seqno, s.seqno) || s.metric == INFINITY && seqno == s.seqno {
                s.seqno = seqno;
                s.metric = metric;
            } else if seqno == s.seqno && metric < s.metric {
                s.metric = metric;
            }
            s.set_time(now);
        }
    }

    /// RFC 8966 §3.5.1: sources no route refers to are forgotten after the GC time; the
    /// route table slots they held are freed if nothing else holds them. The ages of the
    /// sources kept are held (see [`Source::age`]).
    pub(crate) fn gc(&mut self, now: Timestamp, gc: Duration, routes: &mut RouteTable) -> usize {
        let mut dead = Vec::new();
        for slot in 0..routes.slots.len() as u32 {
            let mut i = routes.first_source(slot);
            while let Some(s) = self.slab.get_mut(i as usize) {
                if s.age(now) > gc {
                    if s.refs == 0 {
                        dead.push((i, slot));
                    } else {
                        s.hold_stale(now, gc);
                    }
                }
                i = s.next();
            }
        }
        // In slab order, so that the places (and the slots) are reused in the same order
        // whatever the slots' order.
        dead.sort_unstable();
        for &(i, slot) in &dead {
            let (next, rid) = (self.slab[i as usize].next(), self.slab[i as usize].rid);
            self.unlink(i, slot, next, routes);
            routes.release_id(rid);
            self.slab[i as usize].set_next(FREE);
            self.free.push(i);
            self.live -= 1;
        }
        dead.len()
    }

    /// The current time jumped from `old` to `now`, or the sources went unchecked for
    /// [`SOURCE_CHECK`]: every age that has gone past `gc` is held just past it (the others
    /// still read right).
    pub(crate) fn rebase(&mut self, old: Timestamp, now: Timestamp, gc: Duration) {
        let jump = now - old;
        for i in 0..self.slab.len() {
            let s = &mut self.slab[i];
            if s.next() != FREE && s.age(old).saturating_add(jump) > gc {
                s.hold_stale(now, gc);
            }
        }
    }

    /// Takes source `i` (followed by `next`) out of the list of slot `slot`.
    fn unlink(&mut self, i: u32, slot: u32, next: u32, routes: &mut RouteTable) {
        let mut at = routes.first_source(slot);
        if at == i {
            routes.set_first_source(slot, next);
            return;
        }
        while let Some(s) = self.slab.get_mut(at as usize) {
            if s.next() == i {
                s.set_next(next);
                return;
            }
            at = s.next();
        }
        debug_assert!(false, "source {i} not in the list of slot {slot}");
    }

    /// The live sources with their slots, in no particular order.
    pub(crate) fn iter<'a>(
        &'a self,
        routes: &'a RouteTable,
    ) -> impl Iterator<Item = (u32, &'a Source)> + 'a {
        (0..routes.slots.len() as u32)
            .flat_map(move |slot| self.list(slot, routes).map(move |(_, s)| (slot, s)))
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slab.heap_bytes() + self.free.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key(routes: &mut RouteTable, s: &str) -> u32 {
        routes.find_or_create(&crate::route::RouteKey::new(s.parse().unwrap(), None))
    }

    const GC: Duration = Duration::from_secs(180);

    #[test]
    fn rfc8966_3_5_1_feasibility_condition() {
        let mut r = RouteTable::default();
        let mut t = SourceTable::default();
        let id = RouterId([1; 8]);
        let k = key(&mut r, "2001:db8::/48");
        let now = Timestamp::from_secs(1);
        // No source: everything is feasible.
        assert!(t.feasible(t.find(id, k, &r), 5, 300, now, GC));
        t.note_advertised(id, k, 5, 300, now, None, &mut r);
        let s = t.find(id, k, &r);
        assert!(t.feasible(s, 5, 299, now, GC), "smaller metric, same seqno");
        assert!(
            !t.feasible(s, 5, 300, now, GC),
            "equal metric is not feasible"
        );
        assert!(!t.feasible(s, 4, 10, now, GC), "older seqno");
        assert!(t.feasible(s, 6, 1000, now, GC), "newer seqno");
        assert!(
            t.feasible(s, 4, INFINITY, now, GC),
            "retractions are always feasible"
        );
    }

    #[test]
    fn rfc8966_3_7_3_feasibility_distance_only_improves() {
        let mut r = RouteTable::default();
        let mut t = SourceTable::default();
        let id = RouterId([1; 8]);
        let k = key(&mut r, "10.0.0.0/8");
        let now = Timestamp::from_secs(1);
        t.note_advertised(id, k, 5, 300, now, None, &mut r);
        t.note_advertised(id, k, 5, 400, now, None, &mut r);
        let s = t.get(t.find(id, k, &r).unwrap()).unwrap();
        assert_eq!((s.seqno, s.metric), (5, 300));
        t.note_advertised(id, k, 6, 900, now, None, &mut r);
        let s = t.get(t.find(id, k, &r).unwrap()).unwrap();
        assert_eq!((s.seqno, s.metric), (6, 900));
    }

    #[test]
    fn rfc8966_3_5_1_unreferenced_sources_are_collected() {
        let mut r = RouteTable::default();
        let mut t = SourceTable::default();
        let id = RouterId([1; 8]);
        let now = Timestamp::from_secs(1);
        let (ka, kb) = (key(&mut r, "10.0.0.0/8"), key(&mut r, "10.1.0.0/16"));
        let a = t.find_or_create(id, ka, 1, now, &mut r).unwrap();
        let _b = t.find_or_create(id, kb, 1, now, &mut r).unwrap();
        t.retain(a);
        assert_eq!(t.gc(now + Duration::from_secs(100), GC, &mut r), 0);
        assert_eq!(t.gc(now + Duration::from_secs(181), GC, &mut r), 1);
        assert_eq!(t.len(), 1);
        t.release(a);
        assert_eq!(t.gc(now + Duration::from_secs(181), GC, &mut r), 1);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn a_source_keeps_its_destination_until_collected() {
        let mut r = RouteTable::default();
        let mut t = SourceTable::default();
        let id = RouterId([1; 8]);
        let now = Timestamp::from_secs(1);
        let k = crate::route::RouteKey::new("10.0.0.0/8".parse().unwrap(), None);
        let slot = r.find_or_create(&k);
        let s = t.create(id, slot, 1, now, &mut r).unwrap();
        r.maybe_free(slot);
        assert_eq!(r.find(&k), Some(slot), "the source pins the slot");
        assert_eq!(
            r.prefix_count(),
            0,
            "an empty pinned slot is no destination"
        );
        assert_eq!(t.find(id, slot, &r), Some(s));
        assert_eq!(t.gc(now + Duration::from_secs(181), GC, &mut r), 1);
        assert_eq!(r.find(&k), None, "collecting the source frees the slot");
        // The freed slot is reused, and its new key is the one sources see.
        let k2 = crate::route::RouteKey::new("10.9.0.0/16".parse().unwrap(), None);
        let slot2 = r.find_or_create(&k2);
        assert_eq!(slot2, slot);
        assert_eq!(t.find(id, slot2, &r), None);
    }

    #[test]
    fn sources_of_one_destination_are_found_and_collected_in_any_order() {
        // Several router-ids announce one prefix: each is found, and collecting one (the
        // first, one in the middle, the last of the slot's list) keeps the others.
        let mut r = RouteTable::default();
        let mut t = SourceTable::default();
        let now = Timestamp::from_secs(1);
        let k = crate::route::RouteKey::new("10.0.0.0/8".parse().unwrap(), None);
        let other = key(&mut r, "10.1.0.0/16");
        let slot = r.find_or_create(&k);
        let ids: Vec<RouterId> = (1..=5).map(|b| RouterId([b; 8])).collect();
        let srcs: Vec<u32> = ids
            .iter()
            .map(|&id| t.find_or_create(id, slot, 1, now, &mut r).unwrap())
            .collect();
        let o = t.find_or_create(ids[0], other, 1, now, &mut r).unwrap();
        assert_ne!(o, srcs[0], "same router-id, other destination");
        for (id, s) in ids.iter().zip(&srcs) {
            assert_eq!(t.find(*id, slot, &r), Some(*s));
        }
        assert_eq!(t.find(RouterId([9; 8]), slot, &r), None);
        let later = now + Duration::from_secs(181);
        for (round, keep) in [[0, 2, 4], [0, 4, 4], [4, 4, 4]].iter().enumerate() {
            for (n, &s) in srcs.iter().enumerate() {
                if keep.contains(&n) && t.get(s).is_some_and(|x| x.refs == 0) {
                    t.retain(s);
                } else if !keep.contains(&n) && t.get(s).is_some_and(|x| x.refs > 0) {
                    t.release(s);
                }
            }
            t.retain(o);
            t.gc(later, GC, &mut r);
            for (n, id) in ids.iter().enumerate() {
                let want = keep.contains(&n).then_some(srcs[n]);
                assert_eq!(t.find(*id, slot, &r), want, "round {round}, source {n}");
            }
            assert_eq!(t.find(ids[0], other, &r), Some(o));
            assert_eq!(r.find(&k), Some(slot), "sources hold the slot");
        }
        t.release(srcs[4]);
        t.gc(later, GC, &mut r);
        assert_eq!(t.find(ids[4], slot, &r), None);
        assert_eq!(r.find(&k), None, "the last source gone, the slot is freed");
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_source_is_14_bytes() {
        // What a destination's source costs (docs/performance.md, issue 7).
        assert_eq!(std::mem::size_of::<Source>(), 14);
    }

    #[test]
    fn rfc8966_3_5_1_a_stale_distance_stays_stale_though_its_16_bit_time_wraps() {
        // A feasibility distance older than the GC time is ignored. Source times are 16
        // bits of 1/16 s (68 minutes): the collection every 30 s, and a rebase after a jump
        // of the clock, keep an old distance old.
        let mut r = RouteTable::default();
        let mut t = SourceTable::default();
        let id = RouterId([1; 8]);
        let k = key(&mut r, "10.0.0.0/8");
        let t0 = Timestamp::from_secs(1);
        t.note_advertised(id, k, 5, 300, t0, None, &mut r);
        let s = t.find(id, k, &r);
        t.retain(s.unwrap());
        let mut at = t0;
        for _ in 0..(3 * 3600 / 30) {
            at += Duration::from_secs(30);
            t.gc(at, GC, &mut r);
            assert_eq!(
                t.feasible(s, 5, 1000, at, GC),
                at - t0 > GC,
                "{:?} after",
                at - t0
            );
        }
        // Fresh again once advertised; then the clock jumps by exactly 2^16 ticks, which
        // the low 16 bits of the time do not see.
        t.note_advertised(id, k, 6, 300, at, s, &mut r);
        assert!(!t.feasible(s, 6, 1000, at + Duration::from_secs(60), GC));
        let before = at + Duration::from_secs(60);
        let after = before + Duration::from_micros(TICK_MICROS << 16);
        t.rebase(before, after, GC);
        assert!(t.feasible(s, 6, 1000, after, GC), "stale after the jump");
    }

    #[test]
    fn rfc8966_3_5_1_a_distance_is_stale_after_the_gc_time_never_before() {
        // The time is kept in ticks of 1/16 s: a distance must not be taken for stale
        // before the GC time has passed (an update it makes infeasible would be taken),
        // and is by two ticks after it, wherever within a tick it was set.
        let id = RouterId([1; 8]);
        let tick = Duration::from_micros(TICK_MICROS);
        for within in [0, 1, 31_250, 62_499] {
            let mut r = RouteTable::default();
            let mut t = SourceTable::default();
            let k = key(&mut r, "10.0.0.0/8");
            let t0 = Timestamp::from_secs(7) + Duration::from_micros(within);
            t.note_advertised(id, k, 5, 300, t0, None, &mut r);
            let s = t.find(id, k, &r);
            let mut dt = GC - Duration::from_secs(1);
            while dt <= GC {
                assert!(!t.feasible(s, 5, 1000, t0 + dt, GC), "{within} µs, {dt:?}");
                dt += Duration::from_micros(7_777);
            }
            assert!(!t.feasible(s, 5, 1000, t0 + GC, GC));
            let late = GC + 2 * tick + Duration::from_micros(1);
            assert!(t.feasible(s, 5, 1000, t0 + late, GC), "{within} µs");
            // Held there by the collection, still stale much later.
            t.retain(s.unwrap());
            t.gc(t0 + late, GC, &mut r);
            assert!(t.feasible(s, 5, 1000, t0 + late + Duration::from_secs(600), GC));
        }
    }
}
