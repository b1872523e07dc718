//! The route table (RFC 8966 §3.2.6): one entry per (prefix, source prefix, neighbour),
//! grouped by (prefix, source prefix) in a hash map, so that an update costs one hash lookup
//! and a walk over the few entries of its prefix — never a scan of the table.

use std::net::IpAddr;
use std::time::Duration;

use smallvec::SmallVec;

use crate::hash::FxHashMap;
use crate::paged::Paged;
use crate::time::Timestamp;
use crate::wire::{Prefix, RouterId, INFINITY};

/// A destination: a prefix and, for source-specific routes (RFC 9079), a source prefix.
/// A source prefix of length 0 is the same as none (RFC 9079 §2) and is stored as `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteKey {
    pub prefix: Prefix,
    pub src_prefix: Option<Prefix>,
}

/// Hashes the key as a few machine words (the derived hash feeds every byte and
/// discriminant separately, which shows in the per-update cost).
impl std::hash::Hash for RouteKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let (a, _) = self.prefix.octets();
        let w = u128::from_be_bytes(a);
        state.write_u64((w >> 64) as u64);
        state.write_u64(w as u64);
        let mut tag = self.prefix.plen() as u64 | (self.prefix.is_v4() as u64) << 8;
        if let Some(sp) = self.src_prefix {
            let (b, _) = sp.octets();
            let v = u128::from_be_bytes(b);
            tag |= (sp.plen() as u64 + 1) << 16;
            state.write_u64((v >> 64) as u64 ^ tag.rotate_left(32));
            state.write_u64(v as u64);
        }
        state.write_u64(tag);
    }
}

impl RouteKey {
    pub fn new(prefix: Prefix, src_prefix: Option<Prefix>) -> Self {
        RouteKey {
            prefix,
            src_prefix: src_prefix.filter(|p| p.plen() > 0),
        }
    }
}

/// One route entry: what one neighbour advertised for one destination.
#[derive(Debug, Clone)]
pub(crate) struct RouteEntry {
    /// Index of the neighbour in the node's neighbour table.
    pub neigh: u32,
    /// Index of the source in the source table.
    pub src: u32,
    /// The source's router-id, kept here to spare a lookup on every update.
    pub router_id: RouterId,
    pub next_hop: IpAddr,
    pub seqno: u16,
    pub refmetric: u16,
    /// The link cost of the neighbour, kept up to date when it changes.
    pub cost: u16,
    /// Added by the `in` filter.
    pub add_metric: u16,
    /// babeld's smoothed metric, for hysteresis.
    pub smoothed: u16,
    /// Seconds since the epoch of the last smoothing step.
    pub smoothed_time: u32,
    /// Last feasible update (RFC 8966 §3.5.3 refreshes the timer only then).
    pub time: Timestamp,
    /// Route expiry, in milliseconds after `time` (3.5 × the advertised interval).
    pub hold_ms: u32,
    /// Diversity routing: the channels of the hops before the neighbour (0: none). Fits in
    /// the entry's padding.
    pub channels: [u8; crate::diversity::KEPT_CHANNELS],
}

impl RouteEntry {
    pub(crate) fn metric(&self) -> u16 {
        (self.refmetric as u32 + self.cost as u32 + self.add_metric as u32).min(INFINITY as u32)
            as u16
    }

    pub(crate) fn expires(&self) -> Timestamp {
        self.time + Duration::from_millis(self.hold_ms as u64)
    }

    /// When the route is asked for again if it is still selected (7/8 of its hold time,
    /// RFC 8966 §3.8.2.3 with babeld's timing): the first time the sweep may act on it.
    pub(crate) fn refresh_at(&self) -> Timestamp {
        self.time + Duration::from_millis(self.hold_ms as u64 * 7 / 8)
    }

    /// The next time after `now` the sweep has something to do with this entry: the
    /// refresh request if it is still ahead, else the expiry (a retracted entry is
    /// flushed at its expiry).
    pub(crate) fn sweep_at(&self, now: Timestamp) -> Timestamp {
        let refresh = self.refresh_at();
        if self.refmetric < INFINITY && refresh > now {
            refresh
        } else {
            self.expires()
        }
    }

    /// babeld's route smoothing: an exponential average of the metric with a half-life in
    /// seconds, used only to add hysteresis to route selection (RFC 8966 §3.6).
    pub(crate) fn smoothed_metric(&mut self, metric: u16, now: Timestamp, half_life: u32) -> u16 {
        let now_s = now.as_secs().min(u32::MAX as u64) as u32;
        // A route that was unreachable starts afresh at its metric, like a new one.
        if half_life == 0
            || metric == INFINITY
            || self.smoothed == INFINITY
            || self.smoothed_time > now_s
            || self.smoothed == metric
        {
            self.smoothed = metric;
            self.smoothed_time = now_s;
            return metric;
        }
        let mut sm = self.smoothed as i64;
        let target = metric as i64;
        let mut t = self.smoothed_time;
        // Whole half-lives first, then the remaining seconds at 2^(1/hl) per second.
        while t.saturating_add(half_life) <= now_s && (target - sm).abs() >= 4 {
            sm += (target - sm) / 2;
            t += half_life;
        }
        let per_sec = two_to_the_one_over(half_life) - 0x10000;
        while t < now_s && (target - sm).abs() >= 4 {
            sm += (target - sm) * per_sec / 0x10000;
            t += 1;
        }
        if (target - sm).abs() < 4 {
            sm = target;
        }
        self.smoothed = sm.clamp(0, INFINITY as i64) as u16;
        self.smoothed_time = now_s;
        self.smoothed
    }
}

/// 2^(1/hl) in 16.16 fixed point.
fn two_to_the_one_over(hl: u32) -> i64 {
    match hl {
        1 => 131072,
        2 => 92682,
        3 => 82570,
        4 => 77935,
        _ => 0x10000 + 45426 / hl.max(1) as i64,
    }
}

/// What was last reported to the installer for one destination. The rare parts (a table
/// and a preferred source set by the `install` filter) live in [`RouteTable`]'s side map,
/// so that the common case fits in 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reported {
    pub next_hop: IpAddr,
    /// `table` or `pref_src` were set: see `RouteTable::reported_extra`.
    extra: bool,
    pub metric: u16,
    pub ifindex: u32,
}

/// A full report, as [`RouteTable::reported`] gives it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FullReport {
    pub next_hop: IpAddr,
    pub ifindex: u32,
    pub metric: u16,
    pub table: Option<u32>,
    pub pref_src: Option<IpAddr>,
}

pub(crate) const NONE: u16 = u16::MAX;

/// All the entries of one destination.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    /// The destination (also the index's key), here rather than in an array of its own:
    /// what reads it reads the slot too.
    pub key: RouteKey,
    /// The first entry lives inline: a destination heard from one neighbour costs no extra
    /// allocation, and an update to it no extra cache miss.
    pub entries: SmallVec<[RouteEntry; 1]>,
    reported: Option<Reported>,
    /// Index in `entries` of the selected (installed) route, or [`NONE`].
    pub selected: u16,
    /// Queued for `poll_route`.
    pub dirty: bool,
    /// The destination is one of our own (an xroute), which overrides what is learned: a
    /// copy of that fact, so that an update need not look the key up among the xroutes.
    pub own: bool,
    /// Sources that name this destination (and keep its key here): the slot is not freed
    /// while there are any.
    pins: u32,
}

impl Slot {
    /// Nothing but pins keeps the slot: it is no destination of the table.
    fn idle(&self) -> bool {
        self.entries.is_empty() && self.reported.is_none() && !self.dirty
    }

    pub(crate) fn selected(&self) -> Option<&RouteEntry> {
        self.entries.get(self.selected as usize)
    }

    pub(crate) fn find(&self, neigh: u32) -> Option<usize> {
        self.entries.iter().position(|e| e.neigh == neigh)
    }
}

#[derive(Debug, Default)]
pub(crate) struct RouteTable {
    pub slots: Paged<Slot>,
    /// Per slot, a lower bound of the next time the sweep has something to do with one
    /// of its entries: the sweep reads this small array and skips the slots not due.
    pub due: Paged<Timestamp>,
    /// Live slots by key. The key is kept here too (36 bytes more per destination than an
    /// index of slot numbers): a lookup that compares keys in the map's own cells and then
    /// loads the slot and its due time side by side measured faster on random refreshes
    /// than one that must load the slot to compare (`IndexTable`, as for sources).
    index: FxHashMap<RouteKey, u32>,
    free: Vec<u32>,
    entries: usize,
    /// Entries per neighbour, indexed by the neighbour's index.
    per_neighbour: Vec<u32>,
    /// The table and preferred source of the reports that have them, by slot.
    reported_extra: FxHashMap<u32, (Option<u32>, Option<IpAddr>)>,
    /// Counts the slots freed: a slot number found by key stays that key's while this
    /// has not moved (slots are never moved, only freed and reused).
    frees: u32,
}

impl RouteTable {
    #[inline]
    pub(crate) fn find(&self, key: &RouteKey) -> Option<u32> {
        self.index.get(key).copied()
    }

    #[cfg(test)]
    pub(crate) fn find_or_create(&mut self, key: &RouteKey) -> u32 {
        if let Some(i) = self.find(key) {
            return i;
        }
        self.create(key, false)
    }

    /// Adds a slot for a key known to be absent; `own` when it is one of our xroutes.
    pub(crate) fn create(&mut self, key: &RouteKey, own: bool) -> u32 {
        debug_assert!(self.find(key).is_none());
        let slot = Slot {
            key: *key,
            entries: SmallVec::new(),
            reported: None,
            selected: NONE,
            dirty: false,
            own,
            pins: 0,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                self.due[i as usize] = Timestamp::from_micros(u64::MAX);
                i
            }
            None => {
                self.slots.push(slot);
                self.due.push(Timestamp::from_micros(u64::MAX));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(*key, i);
        i
    }

    /// Frees a slot that has no entries and nothing left to report.
    pub(crate) fn maybe_free(&mut self, i: u32) {
        let Some(s) = self.slots.get(i as usize) else {
            return;
        };
        if s.idle() && s.pins == 0 && self.index.remove(&s.key).is_some() {
            self.slots[i as usize].entries = SmallVec::new();
            self.free.push(i);
            self.frees = self.frees.wrapping_add(1);
        }
    }

    /// An epoch for slot numbers: while it is unchanged, a slot found by key is still
    /// that key's (see [`RouteTable::find_hinted`]).
    #[inline]
    pub(crate) fn epoch(&self) -> u32 {
        self.frees
    }

    /// [`RouteTable::find`], sparing the hash lookup when `hint` is the slot the key was
    /// found in while the table was at `epoch` (`u32::MAX`: it was not found then).
    #[inline]
    pub(crate) fn find_hinted(&self, key: &RouteKey, hint: u32, epoch: u32) -> Option<u32> {
        if hint != u32::MAX && epoch == self.frees {
            if let Some(s) = self.slots.get(hint as usize) {
                if s.key == *key {
                    debug_assert_eq!(self.find(key), Some(hint));
                    return Some(hint);
                }
            }
        }
        self.find(key)
    }

    /// A source names slot `i`: it stays until [`RouteTable::unpin`].
    pub(crate) fn pin(&mut self, i: u32) {
        if let Some(s) = self.slots.get_mut(i as usize) {
            s.pins += 1;
        }
    }

    /// A source of slot `i` is gone; the slot is freed if nothing else holds it.
    pub(crate) fn unpin(&mut self, i: u32) {
        if let Some(s) = self.slots.get_mut(i as usize) {
            s.pins = s.pins.saturating_sub(1);
            self.maybe_free(i);
        }
    }

    pub(crate) fn is_live(&self, i: u32) -> bool {
        self.slots
            .get(i as usize)
            .is_some_and(|s| self.index.get(&s.key) == Some(&i))
    }

    /// What was last reported for slot `i`.
    pub(crate) fn reported(&self, i: u32) -> Option<FullReport> {
        let r = self.slots.get(i as usize)?.reported?;
        let (table, pref_src) = if r.extra {
            self.reported_extra.get(&i).copied().unwrap_or_default()
        } else {
            (None, None)
        };
        Some(FullReport {
            next_hop: r.next_hop,
            ifindex: r.ifindex,
            metric: r.metric,
            table,
            pref_src,
        })
    }

    pub(crate) fn set_reported(&mut self, i: u32, r: Option<FullReport>) {
        let Some(s) = self.slots.get_mut(i as usize) else {
            return;
        };
        if s.reported.is_some_and(|r| r.extra) {
            self.reported_extra.remove(&i);
        }
        s.reported = r.map(|r| {
            let extra = r.table.is_some() || r.pref_src.is_some();
            if extra {
                self.reported_extra.insert(i, (r.table, r.pref_src));
            }
            Reported {
                next_hop: r.next_hop,
                extra,
                metric: r.metric,
                ifindex: r.ifindex,
            }
        });
    }

    pub(crate) fn push_entry(&mut self, slot: u32, e: RouteEntry) {
        let v = &mut self.slots[slot as usize].entries;
        if v.len() == v.capacity() {
            // Most destinations have a handful of entries: grow one at a time up to 16, then
            // by half, so that a million entries do not carry a million empty ones.
            let extra = if v.len() < 16 { 1 } else { v.len() / 2 };
            v.reserve_exact(extra);
        }
        let n = e.neigh as usize;
        v.push(e);
        self.entries += 1;
        if self.per_neighbour.len() <= n {
            self.per_neighbour.resize(n + 1, 0);
        }
        self.per_neighbour[n] += 1;
    }

    /// Removes entry `idx` of `slot`, keeping the selected index right. Returns it.
    pub(crate) fn remove_entry(&mut self, slot: u32, idx: usize) -> RouteEntry {
        let s = &mut self.slots[slot as usize];
        let last = s.entries.len() - 1;
        let e = s.entries.swap_remove(idx);
        if s.selected as usize == idx {
            s.selected = NONE;
        } else if s.selected as usize == last {
            s.selected = idx as u16;
        }
        self.entries -= 1;
        if let Some(c) = self.per_neighbour.get_mut(e.neigh as usize) {
            *c = c.saturating_sub(1);
        }
        e
    }

    pub(crate) fn entry_count(&self) -> usize {
        self.entries
    }

    /// Entries learned from neighbour `neigh`.
    pub(crate) fn neighbour_entries(&self, neigh: u32) -> usize {
        self.per_neighbour
            .get(neigh as usize)
            .map_or(0, |&c| c as usize)
    }

    /// Destinations: live slots that hold more than pins. Walks the table (for stats).
    pub(crate) fn prefix_count(&self) -> usize {
        self.index
            .values()
            .filter(|&&i| !self.slots[i as usize].idle())
            .count()
    }

    /// Live slot indices, in no particular order.
    pub(crate) fn live_slots(&self) -> Vec<u32> {
        self.index.values().copied().collect()
    }

    /// Approximate heap bytes held by the table, by capacity.
    pub(crate) fn heap_bytes(&self) -> usize {
        let entries: usize = self
            .slots
            .iter()
            .filter(|s| s.entries.spilled())
            .map(|s| s.entries.capacity() * std::mem::size_of::<RouteEntry>())
            .sum();
        entries
            + self.slots.heap_bytes()
            + self.due.heap_bytes()
            + self.index.capacity() * 41
            + self.free.capacity() * 4
            + self.per_neighbour.capacity() * 4
            + self.reported_extra.capacity() * 32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(neigh: u32) -> RouteEntry {
        RouteEntry {
            neigh,
            src: 0,
            router_id: RouterId([1; 8]),
            next_hop: IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            seqno: 0,
            refmetric: 100,
            cost: 96,
            add_metric: 0,
            smoothed: 100,
            smoothed_time: 0,
            time: Timestamp::ZERO,
            hold_ms: 56_000,
            channels: [0; crate::diversity::KEPT_CHANNELS],
        }
    }

    #[test]
    fn diversity_channels_do_not_grow_the_entry() {
        assert!(std::mem::size_of::<RouteEntry>() <= 64);
    }

    #[test]
    fn rfc8966_3_2_6_one_entry_per_prefix_source_and_neighbour() {
        let mut t = RouteTable::default();
        let k1 = RouteKey::new("2001:db8::/32".parse().unwrap(), None);
        let k2 = RouteKey::new(
            "2001:db8::/32".parse().unwrap(),
            Some("2001:db8:1::/48".parse().unwrap()),
        );
        let k0 = RouteKey::new(
            "2001:db8::/32".parse().unwrap(),
            Some("::/0".parse().unwrap()),
        );
        assert_eq!(k0, k1, "a zero-length source prefix is no source prefix");
        let a = t.find_or_create(&k1);
        let b = t.find_or_create(&k2);
        assert_ne!(a, b);
        t.push_entry(a, entry(1));
        t.push_entry(a, entry(2));
        t.slots[a as usize].selected = 1;
        assert_eq!(t.slots[a as usize].find(2), Some(1));
        t.remove_entry(a, 0);
        assert_eq!(
            t.slots[a as usize].selected, 0,
            "selected index follows the swap"
        );
        assert_eq!(t.entry_count(), 1);
        assert_eq!((t.neighbour_entries(1), t.neighbour_entries(2)), (0, 1));
        t.remove_entry(a, 0);
        assert_eq!(t.neighbour_entries(2), 0);
        t.maybe_free(a);
        assert!(t.find(&k1).is_none());
        assert!(t.find(&k2).is_some());
    }

    #[test]
    fn rfc8966_3_6_smoothed_metric_converges_with_half_life() {
        let mut e = entry(1);
        e.smoothed = 1000;
        e.smoothed_time = 0;
        let s4 = e.smoothed_metric(200, Timestamp::from_secs(4), 4);
        assert!(
            (590..=610).contains(&s4),
            "one half-life halves the gap: {s4}"
        );
        let s = e.smoothed_metric(200, Timestamp::from_secs(60), 4);
        assert_eq!(s, 200);
        assert_eq!(
            e.smoothed_metric(INFINITY, Timestamp::from_secs(61), 4),
            INFINITY
        );
    }
}
