//! Sources and feasibility distances (RFC 8966 §2.4, §3.5.1).

use hashbrown::HashTable;

use crate::neighbour::seqno_newer;
use crate::paged::Paged;
use crate::route::RouteKey;
use crate::time::Timestamp;
use crate::wire::{RouterId, INFINITY};

/// RFC 8966 §3.2.5: a source is a (prefix, source prefix, router-id) triple; its
/// feasibility distance is the pair (seqno, metric) of the best update we advertised for it.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub id: RouterId,
    pub key: RouteKey,
    pub seqno: u16,
    pub metric: u16,
    /// Last time the feasibility distance was set.
    pub time: Timestamp,
    /// Route entries that point at this source.
    pub refs: u32,
}

/// A read-only view of a source, for `dump` and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceView {
    pub router_id: RouterId,
    pub prefix: crate::wire::Prefix,
    pub src_prefix: Option<crate::wire::Prefix>,
    pub seqno: u16,
    pub metric: u16,
}

/// A source's feasibility distance and when it was set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Distance {
    pub seqno: u16,
    pub metric: u16,
    pub time: Timestamp,
}

/// RFC 8966 §3.5.1: the feasibility condition of [`SourceTable::feasible`], against a
/// distance already looked up (`None`: no source).
#[inline]
pub(crate) fn feasible_against(
    d: Option<Distance>,
    seqno: u16,
    refmetric: u16,
    now: Timestamp,
    gc: std::time::Duration,
) -> bool {
    if refmetric == INFINITY {
        return true;
    }
    let Some(s) = d else {
        return true;
    };
    // babeld: a feasibility distance older than the GC time is stale and ignored.
    if now - s.time > gc {
        return true;
    }
    seqno_newer(seqno, s.seqno) || (seqno == s.seqno && refmetric < s.metric)
}

/// The hash of a source, for the index (which stores slab numbers only).
#[inline]
fn source_hash(id: RouterId, key: &RouteKey) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = crate::hash::FxHasher::default();
    h.write_u64(u64::from_ne_bytes(id.0));
    key.hash(&mut h);
    h.finish()
}

#[derive(Debug, Default)]
pub(crate) struct SourceTable {
    slab: Paged<Option<Source>>,
    free: Vec<u32>,
    /// Live slab numbers, hashed by the (router-id, key) of their source.
    index: HashTable<u32>,
}

impl SourceTable {
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    #[inline]
    pub(crate) fn find(&self, id: RouterId, key: &RouteKey) -> Option<u32> {
        let slab = &self.slab;
        self.index
            .find(source_hash(id, key), |&i| {
                slab[i as usize]
                    .as_ref()
                    .is_some_and(|s| s.id == id && s.key == *key)
            })
            .copied()
    }

    pub(crate) fn get(&self, i: u32) -> Option<&Source> {
        self.slab.get(i as usize).and_then(|s| s.as_ref())
    }

    pub(crate) fn get_mut(&mut self, i: u32) -> Option<&mut Source> {
        self.slab.get_mut(i as usize).and_then(|s| s.as_mut())
    }

    /// Finds or creates the source. A new source has an infinite feasibility distance, so
    /// that any update for it is feasible (RFC 8966 §3.5.1).
    pub(crate) fn find_or_create(
        &mut self,
        id: RouterId,
        key: &RouteKey,
        seqno: u16,
        now: Timestamp,
    ) -> u32 {
        if let Some(i) = self.find(id, key) {
            return i;
        }
        self.create(id, key, seqno, now)
    }

    /// Adds a source known to be absent, with an infinite feasibility distance.
    pub(crate) fn create(
        &mut self,
        id: RouterId,
        key: &RouteKey,
        seqno: u16,
        now: Timestamp,
    ) -> u32 {
        debug_assert!(self.find(id, key).is_none());
        let src = Source {
            id,
            key: *key,
            seqno,
            metric: INFINITY,
            time: now,
            refs: 0,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = Some(src);
                i
            }
            None => {
                self.slab.push(Some(src));
                (self.slab.len() - 1) as u32
            }
        };
        let slab = &self.slab;
        self.index.insert_unique(source_hash(id, key), i, |&j| {
            slab[j as usize]
                .as_ref()
                .map_or(0, |s| source_hash(s.id, &s.key))
        });
        i
    }

    pub(crate) fn retain(&mut self, i: u32) {
        if let Some(s) = self.get_mut(i) {
            s.refs += 1;
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
        gc: std::time::Duration,
    ) -> bool {
        feasible_against(
            src.and_then(|i| self.distance(i)),
            seqno,
            refmetric,
            now,
            gc,
        )
    }

    /// The feasibility distance of source `i`, copied out, so that a route selection over
    /// several entries of one source looks the source up once.
    #[inline]
    pub(crate) fn distance(&self, i: u32) -> Option<Distance> {
        self.get(i).map(|s| Distance {
            seqno: s.seqno,
            metric: s.metric,
            time: s.time,
        })
    }

    /// RFC 8966 §3.7.3: after advertising (seqno, metric) for a source, its feasibility
    /// distance becomes that pair if the seqno is newer or the metric smaller. `known` is
    /// the source's index when the caller has it (the announced route entry's source).
    pub(crate) fn note_advertised(
        &mut self,
        id: RouterId,
        key: &RouteKey,
        seqno: u16,
        metric: u16,
        now: Timestamp,
        known: Option<u32>,
    ) {
        if metric == INFINITY {
            return;
        }
        let i = match known {
            Some(i) => {
                debug_assert!(self.get(i).is_some_and(|s| s.id == id && s.key == *key));
                i
            }
            None => self.find_or_create(id, key, seqno, now),
        };
        if let Some(s) = self.get_mut(i) {
            if seqno_newer(seqno, s.seqno) || s.metric == INFINITY && seqno == s.seqno {
                s.seqno = seqno;
                s.metric = metric;
            } else if seqno == s.seqno && metric < s.metric {
                s.metric = metric;
            }
            s.time = now;
        }
    }

    /// RFC 8966 §3.5.1: sources no route refers to are forgotten after the GC time.
    pub(crate) fn gc(&mut self, now: Timestamp, gc: std::time::Duration) -> usize {
        let mut n = 0;
        for i in 0..self.slab.len() {
            let dead = matches!(&self.slab[i], Some(s) if s.refs == 0 && now - s.time > gc);
            if dead {
                let h = self.slab[i]
                    .as_ref()
                    .map_or(0, |s| source_hash(s.id, &s.key));
                if let Ok(e) = self.index.find_entry(h, |&j| j as usize == i) {
                    e.remove();
                }
                self.slab[i] = None;
                self.free.push(i as u32);
                n += 1;
            }
        }
        n
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Source> {
        self.slab.iter().flatten()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slab.heap_bytes() + self.index.allocation_size() + self.free.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key(s: &str) -> RouteKey {
        RouteKey::new(s.parse().unwrap(), None)
    }

    const GC: Duration = Duration::from_secs(180);

    #[test]
    fn rfc8966_3_5_1_feasibility_condition() {
        let mut t = SourceTable::default();
        let id = RouterId([1; 8]);
        let k = key("2001:db8::/48");
        let now = Timestamp::from_secs(1);
        // No source: everything is feasible.
        assert!(t.feasible(t.find(id, &k), 5, 300, now, GC));
        t.note_advertised(id, &k, 5, 300, now, None);
        let s = t.find(id, &k);
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
        let mut t = SourceTable::default();
        let id = RouterId([1; 8]);
        let k = key("10.0.0.0/8");
        let now = Timestamp::from_secs(1);
        t.note_advertised(id, &k, 5, 300, now, None);
        t.note_advertised(id, &k, 5, 400, now, None);
        let s = t.get(t.find(id, &k).unwrap()).unwrap();
        assert_eq!((s.seqno, s.metric), (5, 300));
        t.note_advertised(id, &k, 6, 900, now, None);
        let s = t.get(t.find(id, &k).unwrap()).unwrap();
        assert_eq!((s.seqno, s.metric), (6, 900));
    }

    #[test]
    fn rfc8966_3_5_1_unreferenced_sources_are_collected() {
        let mut t = SourceTable::default();
        let id = RouterId([1; 8]);
        let now = Timestamp::from_secs(1);
        let a = t.find_or_create(id, &key("10.0.0.0/8"), 1, now);
        let _b = t.find_or_create(id, &key("10.1.0.0/16"), 1, now);
        t.retain(a);
        assert_eq!(t.gc(now + Duration::from_secs(100), GC), 0);
        assert_eq!(t.gc(now + Duration::from_secs(181), GC), 1);
        assert_eq!(t.len(), 1);
        t.release(a);
        assert_eq!(t.gc(now + Duration::from_secs(181), GC), 1);
        assert_eq!(t.len(), 0);
    }
}
