//! The route table (RFC 8966 §3.2.6): one entry per (prefix, source prefix, neighbour),
//! grouped by (prefix, source prefix) in a hash map, so that an update costs one hash lookup
//! and a walk over the few entries of its prefix — never a scan of the table.

use std::net::IpAddr;
use std::num::NonZeroU16;
use std::time::Duration;

use crate::hash::FxHashMap;
use crate::index::IndexTable;
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
    /// The hash of the key for the route table's index.
    #[inline]
    pub(crate) fn index_hash(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = crate::hash::FxHasher::default();
        self.hash(&mut h);
        h.finish()
    }

    pub fn new(prefix: Prefix, src_prefix: Option<Prefix>) -> Self {
        RouteKey {
            prefix,
            src_prefix: src_prefix.filter(|p| p.plen() > 0),
        }
    }
}

/// The smoothed metric's time is kept as the low 16 bits of a time in seconds: its age is
/// held at most this (by [`RouteEntry::set_time`], which every live entry goes through at
/// least once per hold time, and [`RouteTable::rebase`] after a gap in time), so that the
/// 16 bits never wrap. An age this long is as good as infinite: smoothing converges within
/// 15 half-lives, and half-lives are at most 3,600 s (babeld's `-M` bound).
const SMOOTHED_AGE_MAX: u16 = 54_000;
/// An age beyond this (and the largest possible, [`SMOOTHED_AGE_MAX`] plus a hold time and
/// some lateness of the sweep) is a time in the future.
const SMOOTHED_AGE_FUTURE: u16 = 62_000;
/// The longest hold time an entry keeps (24 bits of milliseconds, 4.6 hours; the wire's
/// longest interval gives 38 minutes).
const HOLD_MS_MAX: u32 = (1 << 24) - 1;

/// The largest neighbour index an entry holds (see [`RouteEntry::new`]). It also bounds
/// the entries of a destination, and so a source's count of them (`Source::refs`, 16 bits).
pub(crate) const NEIGH_MAX: u32 = u16::MAX as u32 - 2;

/// One route entry: what one neighbour advertised for one destination, in 32 bytes. The
/// router-id and next hop are shared by many entries: they are stored once in the table's
/// [`Interner`]s and named here by 16-bit indices (see [`RouteTable::router_id`],
/// [`RouteTable::next_hop`]); the times are kept in 32 bits relative to the current time
/// (see [`RouteEntry::time`]).
///
/// The layout is fixed (`repr(C)`) for [`Entries`]: the neighbour field, which is never
/// zero, comes after the first 24 bytes, where a `Vec` of entries fits instead.
#[derive(Debug, Clone)]
#[repr(C)]
pub(crate) struct RouteEntry {
    /// Index of the source in the source table.
    pub src: u32,
    /// Last feasible update (RFC 8966 §3.5.3 refreshes the timer only then): the low 32
    /// bits of its time in milliseconds, read back relative to the current time (entries
    /// live for their hold time, far less than the 49 days 32 bits wrap in).
    time: u32,
    /// The router-id, as an index in [`RouteTable::router_id`]'s interner: a refresh checks
    /// it without a lookup in the (large, cache-cold) source table.
    rid: u16,
    /// The next hop, as an index in [`RouteTable::next_hop`]'s interner.
    nh: u16,
    pub seqno: u16,
    pub refmetric: u16,
    /// The link cost of the neighbour, kept up to date when it changes.
    pub cost: u16,
    /// Added by the `in` filter.
    pub add_metric: u16,
    /// babeld's smoothed metric, for hysteresis.
    pub smoothed: u16,
    /// The low 16 bits of the time in seconds of the last smoothing step (see
    /// [`SMOOTHED_AGE_MAX`]).
    smoothed_time: u16,
    /// Index of the neighbour in the node's neighbour table, plus one.
    neigh: NonZeroU16,
    /// Route expiry, in milliseconds after `time` (3.5 × the advertised interval), 24 bits.
    hold: [u8; 3],
    /// Diversity routing: the channels of the hops before the neighbour (0: none).
    pub channels: [u8; crate::diversity::KEPT_CHANNELS],
}

impl RouteEntry {
    /// A new entry; its router-id and next hop are set by [`RouteTable::push_entry`]. A
    /// neighbour index beyond [`NEIGH_MAX`] is held as one more, which `push_entry`
    /// refuses.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        neigh: u32,
        src: u32,
        seqno: u16,
        refmetric: u16,
        cost: u16,
        add_metric: u16,
        hold_ms: u32,
        channels: [u8; crate::diversity::KEPT_CHANNELS],
        now: Timestamp,
    ) -> Self {
        let mut e = RouteEntry {
            src,
            time: 0,
            neigh: NonZeroU16::MIN.saturating_add(neigh.min(NEIGH_MAX + 1) as u16),
            rid: 0,
            nh: 0,
            seqno,
            refmetric,
            cost,
            add_metric,
            smoothed: INFINITY,
            smoothed_time: now.as_secs() as u16,
            hold: [0; 3],
            channels,
        };
        e.set_time(now);
        e.set_hold_ms(hold_ms);
        // RFC 8966 §3.6: a new route is compared by what it is worth now (babeld starts it
        // at INFINITY / 2, which delays a better route by half a minute per hop); `select`
        // keeps the hysteresis with a margin instead.
        e.smoothed = e.metric();
        e
    }

    /// Index of the neighbour in the node's neighbour table.
    #[inline]
    pub(crate) fn neigh(&self) -> u32 {
        self.neigh.get() as u32 - 1
    }

    pub(crate) fn metric(&self) -> u16 {
        (self.refmetric as u32 + self.cost as u32 + self.add_metric as u32).min(INFINITY as u32)
            as u16
    }

    /// The time of the last feasible update, `now` being the current time.
    #[inline]
    pub(crate) fn time(&self, now: Timestamp) -> Timestamp {
        let now_ms = now.as_millis();
        let age = (now_ms as u32).wrapping_sub(self.time) as i32 as i64;
        Timestamp::from_millis((now_ms as i64 - age).max(0) as u64)
    }

    /// Sets the time of the last feasible update to `now`. Also keeps the age of the
    /// smoothed metric's time within [`SMOOTHED_AGE_MAX`].
    #[inline]
    pub(crate) fn set_time(&mut self, now: Timestamp) {
        self.time = now.as_millis() as u32;
        let now_s = now.as_secs() as u16;
        if now_s.wrapping_sub(self.smoothed_time) > SMOOTHED_AGE_MAX {
            self.smoothed_time = now_s.wrapping_sub(SMOOTHED_AGE_MAX);
        }
    }

    #[inline]
    pub(crate) fn hold_ms(&self) -> u32 {
        u32::from_le_bytes([self.hold[0], self.hold[1], self.hold[2], 0])
    }

    /// Sets the hold time, at most [`HOLD_MS_MAX`].
    #[inline]
    pub(crate) fn set_hold_ms(&mut self, ms: u32) {
        let b = ms.min(HOLD_MS_MAX).to_le_bytes();
        self.hold = [b[0], b[1], b[2]];
    }

    pub(crate) fn expires(&self, now: Timestamp) -> Timestamp {
        self.time(now) + Duration::from_millis(self.hold_ms() as u64)
    }

    /// When the route is asked for again if it is still selected (7/8 of its hold time,
    /// RFC 8966 §3.8.2.3 with babeld's timing): the first time the sweep may act on it.
    pub(crate) fn refresh_at(&self, now: Timestamp) -> Timestamp {
        self.time(now) + Duration::from_millis(self.hold_ms() as u64 * 7 / 8)
    }

    /// The next time after `now` the sweep has something to do with this entry: the
    /// refresh request if it is still ahead, else the expiry (a retracted entry is
    /// flushed at its expiry).
    pub(crate) fn sweep_at(&self, now: Timestamp) -> Timestamp {
        let refresh = self.refresh_at(now);
        if self.refmetric < INFINITY && refresh > now {
            refresh
        } else {
            self.expires(now)
        }
    }

    /// Starts the smoothed metric afresh at `metric`, as of `now`.
    pub(crate) fn reset_smoothed(&mut self, metric: u16, now: Timestamp) {
        self.smoothed = metric;
        self.smoothed_time = now.as_secs() as u16;
    }

    /// babeld's route smoothing: an exponential average of the metric with a half-life in
    /// seconds, used only to add hysteresis to route selection (RFC 8966 §3.6).
    pub(crate) fn smoothed_metric(&mut self, metric: u16, now: Timestamp, half_life: u32) -> u16 {
        let age = (now.as_secs() as u16).wrapping_sub(self.smoothed_time);
        // A route that was unreachable starts afresh at its metric, like a new one.
        if half_life == 0
            || metric == INFINITY
            || self.smoothed == INFINITY
            || age > SMOOTHED_AGE_FUTURE
            || self.smoothed == metric
        {
            self.reset_smoothed(metric, now);
            return metric;
        }
        let age = age as u32;
        let mut sm = self.smoothed as i64;
        let target = metric as i64;
        // Seconds since the last step, counted up to `age`.
        let mut t = 0u32;
        // Whole half-lives first, then the remaining seconds at 2^(1/hl) per second.
        while t.saturating_add(half_life) <= age && (target - sm).abs() >= 4 {
            sm += (target - sm) / 2;
            t += half_life;
        }
        let per_sec = two_to_the_one_over(half_life) - 0x10000;
        while t < age && (target - sm).abs() >= 4 {
            sm += (target - sm) * per_sec / 0x10000;
            t += 1;
        }
        if (target - sm).abs() < 4 {
            sm = target;
        }
        self.smoothed = sm.clamp(0, INFINITY as i64) as u16;
        self.smoothed_time = now.as_secs() as u16;
        self.smoothed
    }

    /// Moves the entry's times from being read relative to `old` to being read relative
    /// to `now` (see [`RouteTable::rebase`]).
    fn rebase(&mut self, old: Timestamp, now: Timestamp) {
        let time = self.time(old);
        let age_s = (old.as_secs() as u16).wrapping_sub(self.smoothed_time) as u64;
        let smoothed_at = old.as_secs().saturating_sub(age_s);
        let age_s = now
            .as_secs()
            .saturating_sub(smoothed_at)
            .min(SMOOTHED_AGE_MAX as u64) as u16;
        self.smoothed_time = (now.as_secs() as u16).wrapping_sub(age_s);
        // Anything older than 2^30 ms (12 days) long expired: kept that old.
        let floor = now.saturating_sub(Duration::from_millis(1 << 30));
        self.time = time.max(floor).as_millis() as u32;
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

/// Values that many route entries share (router-ids, next hops), stored once and named by
/// a 16-bit index, with a count of the entries naming each: a value is dropped when its
/// last entry goes. At most 65,536 values are held at once (a new one beyond that is
/// refused: see [`RouteTable::push_entry`]).
#[derive(Debug)]
pub(crate) struct Interner<T> {
    values: Vec<T>,
    refs: Vec<u32>,
    index: FxHashMap<T, u16>,
    free: Vec<u16>,
    /// The index last interned: consecutive updates (a neighbour's dump) mostly share
    /// their router-id and next hop, and this spares them the hash lookup.
    last: u16,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            values: Vec::new(),
            refs: Vec::new(),
            index: FxHashMap::default(),
            free: Vec::new(),
            last: 0,
        }
    }
}

impl<T: Copy + Eq + std::hash::Hash> Interner<T> {
    /// The value of index `i`.
    #[inline]
    pub(crate) fn get(&self, i: u16) -> T {
        self.values[i as usize]
    }

    /// The index of `v`, counting one more holder; `None` when 65,536 other values are
    /// held.
    pub(crate) fn intern(&mut self, v: T) -> Option<u16> {
        let l = self.last as usize;
        if l < self.values.len() && self.refs[l] > 0 && self.values[l] == v {
            self.refs[l] += 1;
            return Some(self.last);
        }
        if let Some(&i) = self.index.get(&v) {
            self.refs[i as usize] += 1;
            self.last = i;
            return Some(i);
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.values[i as usize] = v;
                self.refs[i as usize] = 1;
                i
            }
            None => {
                let i = u16::try_from(self.values.len()).ok()?;
                self.values.push(v);
                self.refs.push(1);
                i
            }
        };
        self.index.insert(v, i);
        self.last = i;
        Some(i)
    }

    /// The index of `v` if it is held, without counting a holder.
    #[inline]
    pub(crate) fn lookup(&self, v: T) -> Option<u16> {
        let l = self.last as usize;
        if l < self.values.len() && self.refs[l] > 0 && self.values[l] == v {
            return Some(self.last);
        }
        self.index.get(&v).copied()
    }

    /// One holder of index `i` less: the value goes with the last.
    pub(crate) fn release(&mut self, i: u16) {
        let r = &mut self.refs[i as usize];
        debug_assert!(*r > 0);
        *r = r.saturating_sub(1);
        if *r == 0 {
            self.index.remove(&self.values[i as usize]);
            self.free.push(i);
        }
    }

    /// Values held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    fn heap_bytes(&self) -> usize {
        self.values.capacity() * (std::mem::size_of::<T>() + 4)
            + self.index.capacity() * (std::mem::size_of::<T>() + 3)
            + self.free.capacity() * 2
    }
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

/// A jump of the current time longer than this moves the entries' times (see
/// [`RouteTable::rebase`]): they are read relative to the current time, in 16 bits of
/// seconds for the smoothed metric.
pub(crate) const REBASE_GAP: Duration = Duration::from_secs(3600);

/// [`DueTimes`]' reserved value: nothing is due in the slot.
const DUE_NEVER: DueCell = DueCell::MAX;
/// The unit of a stored due time: 1/64 s. 16 bits of it read back relative to the current
/// time span 512 s either way.
const DUE_TICK_MICROS: u64 = 15_625;
/// How far from the current time a due time is stored (2^14 ticks, 256 s: half of what
/// reads back). One further ahead (a route's hold time is longer only for update intervals
/// above a minute) is stored at the span: still a lower bound, the sweep then walks the
/// slot, finds nothing and stores the next one. Due times are behind only until the next
/// sweep, or [`DueTimes::rebase`] after a jump of the clock longer than [`DUE_REBASE_GAP`].
const DUE_SPAN: Duration = Duration::from_micros(DUE_TICK_MICROS << 14);
/// A jump of the current time longer than this moves the passed due times to the current
/// time (see [`DueTimes::rebase`]): a stored time must not fall 512 s behind.
pub(crate) const DUE_REBASE_GAP: Duration = Duration::from_secs(128);

/// `t` in [`DUE_TICK_MICROS`] units, rounded down, modulo 2^16.
#[inline]
fn due_ticks(t: Timestamp) -> DueCell {
    (t.as_micros() / DUE_TICK_MICROS) as DueCell
}

/// Per slot, a lower bound of the next time the sweep has something to do with one of
/// its entries, in 2 bytes: the time in ticks of 1/64 s, rounded down, stored modulo 2^16
/// and read back relative to the current time; [`DUE_NEVER`] for none. A slot read as due
/// up to a tick early is walked and found with nothing to do: the sweep then stores the
/// same lower bound again but wakes for the exact time it computed from the entries (see
/// `Node::sweep`), so an early time costs one walk of the slot, never a busy loop. Two bytes
/// a slot instead of four: 196 KiB less at 100,000 destinations.
#[derive(Debug, Default)]
pub(crate) struct DueTimes(Paged<DueCell>);

/// One slot's stored due time (see [`DueTimes`]).
type DueCell = u16;

impl DueTimes {
    /// Asks the memory system for slot `i`'s cell (see [`Paged::prefetch`]).
    #[inline]
    pub(crate) fn prefetch(&self, i: u32) {
        self.0.prefetch(i as usize);
    }

    /// `at` as stored, `now` being the current time.
    #[inline]
    fn encode(at: Timestamp, now: Timestamp) -> DueCell {
        if at.as_micros() == u64::MAX {
            return DUE_NEVER;
        }
        let at = at.min(now + DUE_SPAN).max(now - DUE_SPAN);
        let t = due_ticks(at);
        // A time that would read as none is kept a tick earlier (still a lower bound).
        if t == DUE_NEVER {
            t - 1
        } else {
            t
        }
    }

    /// What `raw` reads as, `now` being the current time.
    #[inline]
    fn decode(raw: DueCell, now: Timestamp) -> Timestamp {
        if raw == DUE_NEVER {
            return Timestamp::from_micros(u64::MAX);
        }
        let now_t = (now.as_micros() / DUE_TICK_MICROS) as i64;
        let ahead = raw.wrapping_sub(now_t as DueCell) as i16 as i64;
        Timestamp::from_micros((now_t + ahead).max(0) as u64 * DUE_TICK_MICROS)
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// A new slot, with nothing due.
    fn push_never(&mut self) {
        self.0.push(DUE_NEVER);
    }

    /// Slot `i` has nothing due.
    fn set_never(&mut self, i: u32) {
        self.0[i as usize] = DUE_NEVER;
    }

    /// The due time of slot `i` (rounded down to the tick), `now` being the current time.
    #[inline]
    pub(crate) fn get(&self, i: u32, now: Timestamp) -> Timestamp {
        Self::decode(self.0[i as usize], now)
    }

    /// Something is due in slot `i` at `now` (false when there is no slot `i`). Reads the
    /// stored time without building a [`Timestamp`].
    #[inline]
    pub(crate) fn is_due(&self, i: u32, now: Timestamp) -> bool {
        self.0
            .get(i as usize)
            .is_some_and(|&raw| raw != DUE_NEVER && raw.wrapping_sub(due_ticks(now)) as i16 <= 0)
    }

    /// Sets the due time of slot `i` to `at` (rounded down), `now` being the current time.
    #[inline]
    pub(crate) fn set(&mut self, i: u32, at: Timestamp, now: Timestamp) {
        self.0[i as usize] = Self::encode(at, now);
    }

    /// Lowers the due time of slot `i` to `at` (rounded down) if it is later.
    #[inline]
    pub(crate) fn lower(&mut self, i: u32, at: Timestamp, now: Timestamp) {
        let d = &mut self.0[i as usize];
        if at < Self::decode(*d, now) {
            *d = Self::encode(at, now);
        }
    }

    /// The current time jumped from `old` to `now`: the due times that have passed are
    /// moved to `now` (rounded down: they stay due), so that none is old enough to be
    /// misread. The others are within [`DUE_SPAN`] of `old`, and ahead of `now`.
    pub(crate) fn rebase(&mut self, old: Timestamp, now: Timestamp) {
        for i in 0..self.0.len() {
            let d = &mut self.0[i];
            if *d != DUE_NEVER && Self::decode(*d, old) < now {
                *d = Self::encode(now, now);
            }
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.0.heap_bytes()
    }
}

/// All the entries of one destination, in 32 bytes: the first lives inline, so that a
/// destination heard from one neighbour costs no extra allocation and an update to it no
/// extra cache miss; two or more live in a vector. The vector takes the place of the inline
/// entry's first 24 bytes and the variant is told by the entry's neighbour field, which is
/// never zero (see [`RouteEntry`]). No entries is an empty vector, which allocates nothing.
#[derive(Debug, Clone)]
pub(crate) enum Entries {
    One(RouteEntry),
    Many(Vec<RouteEntry>),
}

impl Default for Entries {
    fn default() -> Self {
        Entries::Many(Vec::new())
    }
}

impl std::ops::Deref for Entries {
    type Target = [RouteEntry];
    #[inline]
    fn deref(&self) -> &[RouteEntry] {
        match self {
            Entries::One(e) => std::slice::from_ref(e),
            Entries::Many(v) => v,
        }
    }
}

impl std::ops::DerefMut for Entries {
    #[inline]
    fn deref_mut(&mut self) -> &mut [RouteEntry] {
        match self {
            Entries::One(e) => std::slice::from_mut(e),
            Entries::Many(v) => v,
        }
    }
}

impl Entries {
    /// The entries live outside the slot.
    #[inline]
    pub(crate) fn spilled(&self) -> bool {
        matches!(self, Entries::Many(v) if v.capacity() > 0)
    }

    fn push(&mut self, e: RouteEntry) {
        *self = match std::mem::take(self) {
            Entries::One(first) => Entries::Many(vec![first, e]),
            Entries::Many(v) if v.is_empty() => Entries::One(e),
            Entries::Many(mut v) => {
                if v.len() == v.capacity() {
                    // Most destinations have a handful of entries: grow one at a time up to
                    // 16, then by half, so that a million entries do not carry a million
                    // empty ones.
                    let extra = if v.len() < 16 { 1 } else { v.len() / 2 };
                    v.reserve_exact(extra);
                }
                v.push(e);
                Entries::Many(v)
            }
        };
    }

    /// Removes entry `idx`, the last one taking its place. A vector at most half used
    /// gives its room back and a lone entry goes back inline: entries that only hear
    /// unfeasible updates are flushed for good, and their room should go with them.
    fn swap_remove(&mut self, idx: usize) -> RouteEntry {
        match std::mem::take(self) {
            Entries::One(e) => e,
            Entries::Many(mut v) => {
                let e = v.swap_remove(idx);
                *self = if v.len() == 1 {
                    Entries::One(v.swap_remove(0))
                } else {
                    if v.len() * 2 <= v.capacity() {
                        v.shrink_to_fit();
                    }
                    Entries::Many(v)
                };
                e
            }
        }
    }

    /// Room for entries outside the slot.
    fn heap_capacity(&self) -> usize {
        match self {
            Entries::One(_) => 0,
            Entries::Many(v) => v.capacity(),
        }
    }
}

/// [`Slot`] flags: the key is an IPv4 prefix;
const V4: u8 = 1;
/// it has a source prefix, kept in [`RouteTable`]'s side map (RFC 9079 routes are rare);
const HAS_SRC: u8 = 2;
/// the slot is queued for `poll_route`;
const DIRTY: u8 = 4;
/// the destination is one of our own;
const OWN: u8 = 8;
/// a route was reported for it;
const REPORTED: u8 = 16;
/// and that report has a table or preferred source (see `RouteTable::reported_extra`).
const EXTRA: u8 = 32;

/// All the entries of one destination, with its key and what was reported for it, in one
/// cache line.
#[derive(Debug, Clone)]
#[repr(align(64))]
pub(crate) struct Slot {
    pub entries: Entries,
    /// The destination's address (IPv4 in the first 4 bytes) and length; the source
    /// prefix, if any, is in the table's side map. Here rather than in an array of its own:
    /// what reads the key reads the slot too.
    addr: [u8; 16],
    plen: u8,
    flags: u8,
    /// Index in `entries` of the selected (installed) route, or [`NONE`].
    pub selected: u16,
    /// What was last reported to the installer (when `REPORTED`): the next hop and
    /// interface, as an index in the table's [`Interner`] of them (which it holds a count
    /// of), and the metric.
    rep_hop: u16,
    rep_metric: u16,
    /// Marks that keep this destination's key (pending updates): the slot is not freed
    /// while there are any.
    pins: u32,
    /// The first of the sources (RFC 8966 §3.2.5) of this destination, which keep its key
    /// here too: the others follow from it (see `SourceTable::find`). [`NO_SOURCE`] when
    /// there is none.
    sources: u32,
}

/// The destination of slot `i` of `slots`, whose source prefix, if any, is in `srcs`.
fn key_of(slots: &Paged<Slot>, srcs: &FxHashMap<u32, Prefix>, i: u32) -> RouteKey {
    let s = &slots[i as usize];
    let prefix = if s.flags & V4 != 0 {
        let a = [s.addr[0], s.addr[1], s.addr[2], s.addr[3]];
        Prefix::from_masked(IpAddr::V4(a.into()), s.plen)
    } else {
        Prefix::from_masked(IpAddr::V6(s.addr.into()), s.plen)
    };
    let src_prefix = if s.flags & HAS_SRC != 0 {
        srcs.get(&i).copied()
    } else {
        None
    };
    RouteKey { prefix, src_prefix }
}

/// See [`Slot::sort_key`].
type SortKey = (bool, u128, u8, u8);

/// A copy of a slot's [`SortKey`] (the first four) and the slot's number: 32 bytes, where
/// a `(SortKey, u32)` would take 48 (the number cannot go in the key's padding).
type KeyedSlot = (bool, u128, u8, u8, u32);

/// The most slots [`RouteTable::sort_slots`] sorts by copies of their keys (128 KiB of
/// copies at most).
const SORT_KEYED_MAX: usize = 4096;

/// No source: see [`Slot::sources`].
pub(crate) const NO_SOURCE: u32 = u32::MAX;

impl Slot {
    /// Nothing but pins keeps the slot: it is no destination of the table.
    fn idle(&self) -> bool {
        self.entries.is_empty() && self.flags & (REPORTED | DIRTY) == 0
    }

    pub(crate) fn selected(&self) -> Option<&RouteEntry> {
        self.entries.get(self.selected as usize)
    }

    pub(crate) fn find(&self, neigh: u32) -> Option<usize> {
        self.entries.iter().position(|e| e.neigh() == neigh)
    }

    /// Queued for `poll_route`.
    #[inline]
    pub(crate) fn dirty(&self) -> bool {
        self.flags & DIRTY != 0
    }

    #[inline]
    pub(crate) fn set_dirty(&mut self, on: bool) {
        self.set_flag(DIRTY, on);
    }

    /// The destination is one of our own (an xroute), which overrides what is learned: a
    /// copy of that fact, so that an update need not look the key up among the xroutes.
    #[inline]
    pub(crate) fn own(&self) -> bool {
        self.flags & OWN != 0
    }

    #[inline]
    pub(crate) fn set_own(&mut self, on: bool) {
        self.set_flag(OWN, on);
    }

    #[inline]
    fn set_flag(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }

    /// What orders the slot's key among others (that of [`RouteKey`]): IPv4 before IPv6,
    /// then address and length; equal for two slots only when both have a source prefix
    /// (see [`RouteTable::cmp_keys`]).
    #[inline]
    fn sort_key(&self) -> SortKey {
        let addr = u128::from_be_bytes(self.addr);
        (self.flags & V4 == 0, addr, self.plen, self.flags & HAS_SRC)
    }

    /// The slot's key is `key` (packed as `packed`), whose source prefix the side map
    /// `srcs` holds.
    #[inline]
    fn has_key(
        &self,
        packed: &PackedKey,
        key: &RouteKey,
        srcs: &FxHashMap<u32, Prefix>,
        i: u32,
    ) -> bool {
        self.addr == packed.addr
            && self.plen == packed.plen
            && self.flags & (V4 | HAS_SRC) == packed.flags
            && key.src_prefix.is_none_or(|sp| srcs.get(&i) == Some(&sp))
    }
}

/// What a slot holds of a key, to compare slots with it.
struct PackedKey {
    addr: [u8; 16],
    plen: u8,
    /// [`V4`] and [`HAS_SRC`].
    flags: u8,
}

impl PackedKey {
    #[inline]
    fn of(key: &RouteKey) -> Self {
        let (addr, _) = key.prefix.octets();
        let mut flags = if key.prefix.is_v4() { V4 } else { 0 };
        if key.src_prefix.is_some() {
            flags |= HAS_SRC;
        }
        PackedKey {
            addr,
            plen: key.prefix.plen(),
            flags,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct RouteTable {
    pub slots: Paged<Slot>,
    /// Per slot, a lower bound of the next time the sweep has something to do with one
    /// of its entries: the sweep reads this small array (4 bytes a slot) and skips the
    /// slots not due.
    pub due: DueTimes,
    /// Live slots, hashed by their key (which only the slot holds): 8 bytes a cell, where
    /// a map holding the keys took 40 and a control byte (see docs/performance.md,
    /// 2026-11-26 "route index of slot numbers"). A lookup reads one run of cells and then
    /// the slot, which the caller reads anyway.
    index: IndexTable,
    free: Vec<u32>,
    entries: usize,
    /// Entries per neighbour, indexed by the neighbour's index.
    per_neighbour: Vec<u32>,
    /// The table and preferred source of the reports that have them, by slot.
    reported_extra: FxHashMap<u32, (Option<u32>, Option<IpAddr>)>,
    /// The source prefixes of the slots that have one (RFC 9079), by slot.
    src_prefixes: FxHashMap<u32, Prefix>,
    /// The router-ids of the entries.
    ids: Interner<RouterId>,
    /// The next hops of the entries.
    hops: Interner<IpAddr>,
    /// The next hops and interfaces of the reports.
    report_hops: Interner<(IpAddr, u32)>,
    /// Counts the slots freed: a slot number found by key stays that key's while this
    /// has not moved (slots are never moved, only freed and reused).
    frees: u32,
}

impl RouteTable {
    #[inline]
    pub(crate) fn find(&self, key: &RouteKey) -> Option<u32> {
        self.find_hashed(key, key.index_hash())
    }

    /// [`RouteTable::find`] with the key's [`RouteKey::index_hash`] already computed.
    #[inline]
    pub(crate) fn find_hashed(&self, key: &RouteKey, hash: u64) -> Option<u32> {
        let (slots, srcs) = (&self.slots, &self.src_prefixes);
        let packed = PackedKey::of(key);
        self.index
            .find(hash, |i| slots[i as usize].has_key(&packed, key, srcs, i))
    }

    /// The order of the keys of slots `a` and `b` (that of [`RouteKey`]), without building
    /// them.
    pub(crate) fn cmp_keys(&self, a: u32, b: u32) -> std::cmp::Ordering {
        let (x, y) = (&self.slots[a as usize], &self.slots[b as usize]);
        x.sort_key()
            .cmp(&y.sort_key())
            .then_with(|| self.cmp_sources(a, b))
    }

    /// The order of two slots whose [`Slot::sort_key`]s are equal: by source prefix when
    /// they have one (the destinations are then the same), else they are the same slot.
    fn cmp_sources(&self, a: u32, b: u32) -> std::cmp::Ordering {
        if self.slots[a as usize].flags & HAS_SRC != 0 {
            self.key(a).cmp(&self.key(b))
        } else {
            std::cmp::Ordering::Equal
        }
    }

    /// Puts slot numbers in the order of their keys ([`RouteTable::cmp_keys`]). A sort of
    /// up to [`SORT_KEYED_MAX`] slots reads each slot's key once, into a copy beside its
    /// number, and compares the copies: a full dump sorts every destination, and reading
    /// two slots for each comparison was a tenth of a steady mesh's work in the simulator
    /// (docs/simulator.md). The copies take 32 bytes a slot for the sort's time; a larger
    /// sort (a large table's dump, on a router short of memory) compares the slots where
    /// they are. The order is the same either way.
    pub(crate) fn sort_slots(&self, slots: &mut [u32]) {
        if slots.len() > SORT_KEYED_MAX {
            self.sort_slots_in_place(slots);
        } else {
            self.sort_slots_keyed(slots);
        }
    }

    fn sort_slots_in_place(&self, slots: &mut [u32]) {
        slots.sort_unstable_by(|&a, &b| self.cmp_keys(a, b));
    }

    fn sort_slots_keyed(&self, slots: &mut [u32]) {
        if slots.len() < 2 {
            return;
        }
        let mut keyed: Vec<KeyedSlot> = slots
            .iter()
            .map(|&i| {
                let (v6, addr, plen, src) = self.slots[i as usize].sort_key();
                (v6, addr, plen, src, i)
            })
            .collect();
        // `cmp_keys`, on the copies.
        keyed.sort_unstable_by(|x, y| {
            (x.0, x.1, x.2, x.3)
                .cmp(&(y.0, y.1, y.2, y.3))
                .then_with(|| self.cmp_sources(x.4, y.4))
        });
        for (to, k) in slots.iter_mut().zip(keyed) {
            *to = k.4;
        }
    }

    /// The destination of slot `i`.
    #[inline]
    pub(crate) fn key(&self, i: u32) -> RouteKey {
        key_of(&self.slots, &self.src_prefixes, i)
    }

    /// No slot can be added: the index holds 24-bit slot numbers (16.7 million
    /// destinations, a gigabyte of slots).
    pub(crate) fn full(&self) -> bool {
        self.free.is_empty() && self.slots.len() > crate::index::MAX_VALUE as usize
    }

    /// The stages of a batch of lookups whose cache misses overlap (see `Node::warm`):
    /// each asks for memory that the next one reads, without waiting for it. Only a matter
    /// of speed. First the index cells of a key's hash,
    #[inline]
    pub(crate) fn prefetch_cells(&self, hash: u64) {
        self.index.prefetch(hash);
    }

    /// then the slot those cells most likely name (its first cache line, with the key),
    #[inline]
    pub(crate) fn prefetch_slot(&self, hash: u64) {
        if let Some(i) = self.index.first_candidate(hash) {
            self.slots.prefetch(i as usize);
        }
    }

    /// and, once the slot is found, its entries when they do not live in the slot.
    #[inline]
    pub(crate) fn prefetch_entries(&self, slot: u32) {
        if let Some(s) = self.slots.get(slot as usize) {
            if s.entries.spilled() {
                // 32-byte entries: two to a cache line.
                for i in (0..s.entries.len()).step_by(2) {
                    prefetch_index::prefetch_index(&s.entries[..], i);
                }
            }
        }
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
        let packed = PackedKey::of(key);
        let slot = Slot {
            entries: Entries::default(),
            addr: packed.addr,
            plen: packed.plen,
            flags: packed.flags | if own { OWN } else { 0 },
            selected: NONE,
            rep_hop: 0,
            rep_metric: 0,
            pins: 0,
            sources: NO_SOURCE,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                self.due.set_never(i);
                i
            }
            None => {
                self.slots.push(slot);
                self.due.push_never();
                (self.slots.len() - 1) as u32
            }
        };
        if let Some(sp) = key.src_prefix {
            self.src_prefixes.insert(i, sp);
        }
        let (slots, srcs) = (&self.slots, &self.src_prefixes);
        self.index
            .insert(key.index_hash(), i, |v| key_of(slots, srcs, v).index_hash());
        i
    }

    /// The router-id of entry `e`.
    #[inline]
    pub(crate) fn router_id(&self, e: &RouteEntry) -> RouterId {
        self.ids.get(e.rid)
    }

    /// Asks the memory system for the router-id of entry `e`, which an update for its
    /// destination compares first (see `Node::warm`). Only a matter of speed.
    #[inline]
    pub(crate) fn prefetch_router_id(&self, e: &RouteEntry) {
        if (e.rid as usize) < self.ids.values.len() {
            prefetch_index::prefetch_index(&self.ids.values, e.rid as usize);
        }
    }

    /// The index of router-id `id` for one more holder (a source); `None` when 65,536
    /// others are held.
    pub(crate) fn hold_id(&mut self, id: RouterId) -> Option<u16> {
        self.ids.intern(id)
    }

    /// One holder of router-id index `i` less.
    pub(crate) fn release_id(&mut self, i: u16) {
        self.ids.release(i);
    }

    /// The index of router-id `id`, if anything holds it.
    #[inline]
    pub(crate) fn id_index(&self, id: RouterId) -> Option<u16> {
        self.ids.lookup(id)
    }

    /// The router-id of index `i`.
    #[inline]
    pub(crate) fn id_at(&self, i: u16) -> RouterId {
        self.ids.get(i)
    }

    /// The next hop of entry `e`.
    #[inline]
    pub(crate) fn next_hop(&self, e: &RouteEntry) -> IpAddr {
        self.hops.get(e.nh)
    }

    /// Sets the router-id and next hop of entry `idx` of `slot`. False (and nothing
    /// changed) when one of them is new and its interner is full.
    pub(crate) fn set_origin(
        &mut self,
        slot: u32,
        idx: usize,
        router_id: RouterId,
        next_hop: IpAddr,
    ) -> bool {
        let e = &self.slots[slot as usize].entries[idx];
        let (rid, nh) = (e.rid, e.nh);
        let same_id = self.ids.get(rid) == router_id;
        let same_nh = self.hops.get(nh) == next_hop;
        if same_id && same_nh {
            return true;
        }
        let new_rid = if same_id {
            rid
        } else {
            match self.ids.intern(router_id) {
                Some(r) => r,
                None => return false,
            }
        };
        let new_nh = if same_nh {
            nh
        } else {
            match self.hops.intern(next_hop) {
                Some(n) => n,
                None => {
                    if !same_id {
                        self.ids.release(new_rid);
                    }
                    return false;
                }
            }
        };
        if !same_id {
            self.ids.release(rid);
        }
        if !same_nh {
            self.hops.release(nh);
        }
        let e = &mut self.slots[slot as usize].entries[idx];
        e.rid = new_rid;
        e.nh = new_nh;
        true
    }

    /// The router-ids, the entries' next hops and the reports' next hops held.
    #[cfg(test)]
    pub(crate) fn interned(&self) -> (usize, usize, usize) {
        (self.ids.len(), self.hops.len(), self.report_hops.len())
    }

    /// The current time jumped from `old` to `now` (by more than [`REBASE_GAP`]): entry
    /// times, kept relative to the current time, are moved so that they read the same, and
    /// the slots' due times that have passed are moved to `now` (see [`DueTimes::rebase`]).
    pub(crate) fn rebase(&mut self, old: Timestamp, now: Timestamp) {
        for i in 0..self.slots.len() {
            for e in self.slots[i].entries.iter_mut() {
                e.rebase(old, now);
            }
        }
        self.due.rebase(old, now);
    }

    /// Frees a slot that has no entries and nothing left to report.
    pub(crate) fn maybe_free(&mut self, i: u32) {
        let Some(s) = self.slots.get(i as usize) else {
            return;
        };
        if s.idle()
            && s.pins == 0
            && s.sources == NO_SOURCE
            && self.index.remove(self.key(i).index_hash(), i, |v| {
                key_of(&self.slots, &self.src_prefixes, v).index_hash()
            })
        {
            self.slots[i as usize].entries = Entries::default();
            self.src_prefixes.remove(&i);
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
                if s.has_key(&PackedKey::of(key), key, &self.src_prefixes, hint) {
                    debug_assert_eq!(self.find(key), Some(hint));
                    return Some(hint);
                }
            }
        }
        self.find(key)
    }

    /// The first source of slot `i` ([`NO_SOURCE`]: none).
    #[inline]
    pub(crate) fn first_source(&self, i: u32) -> u32 {
        self.slots.get(i as usize).map_or(NO_SOURCE, |s| s.sources)
    }

    /// Makes `src` the first source of slot `i`; with [`NO_SOURCE`], the slot is freed if
    /// nothing else holds it.
    pub(crate) fn set_first_source(&mut self, i: u32, src: u32) {
        if let Some(s) = self.slots.get_mut(i as usize) {
            s.sources = src;
            if src == NO_SOURCE {
                self.maybe_free(i);
            }
        }
    }

    /// A mark names slot `i`: it stays until [`RouteTable::unpin`].
    pub(crate) fn pin(&mut self, i: u32) {
        if let Some(s) = self.slots.get_mut(i as usize) {
            s.pins += 1;
        }
    }

    /// A mark of slot `i` is gone; the slot is freed if nothing else holds it.
    pub(crate) fn unpin(&mut self, i: u32) {
        if let Some(s) = self.slots.get_mut(i as usize) {
            s.pins = s.pins.saturating_sub(1);
            self.maybe_free(i);
        }
    }

    pub(crate) fn is_live(&self, i: u32) -> bool {
        self.slots
            .get(i as usize)
            .is_some_and(|_| self.find(&self.key(i)) == Some(i))
    }

    /// What was last reported for slot `i`.
    pub(crate) fn reported(&self, i: u32) -> Option<FullReport> {
        let s = self.slots.get(i as usize)?;
        if s.flags & REPORTED == 0 {
            return None;
        }
        let (table, pref_src) = if s.flags & EXTRA != 0 {
            self.reported_extra.get(&i).copied().unwrap_or_default()
        } else {
            (None, None)
        };
        let (next_hop, ifindex) = self.report_hops.get(s.rep_hop);
        Some(FullReport {
            next_hop,
            ifindex,
            metric: s.rep_metric,
            table,
            pref_src,
        })
    }

    /// Records what was reported for slot `i`. A report whose next hop and interface are
    /// new while 65,536 pairs are held (which takes as many neighbours or IPv4 next hops) is
    /// recorded as none: the next one is then reported as an addition.
    pub(crate) fn set_reported(&mut self, i: u32, r: Option<FullReport>) {
        let Some(s) = self.slots.get_mut(i as usize) else {
            return;
        };
        let (old, old_hop) = (s.flags, s.rep_hop);
        s.flags &= !(REPORTED | EXTRA);
        let new = r.and_then(|r| {
            let hop = self.report_hops.intern((r.next_hop, r.ifindex))?;
            Some((r, hop))
        });
        if old & REPORTED != 0 {
            if old & EXTRA != 0 {
                self.reported_extra.remove(&i);
            }
            self.report_hops.release(old_hop);
        }
        if let Some((r, hop)) = new {
            let mut flags = REPORTED;
            if r.table.is_some() || r.pref_src.is_some() {
                self.reported_extra.insert(i, (r.table, r.pref_src));
                flags |= EXTRA;
            }
            let s = &mut self.slots[i as usize];
            s.flags |= flags;
            s.rep_hop = hop;
            s.rep_metric = r.metric;
        }
    }

    /// Adds entry `e` with its router-id and next hop. False (and nothing added) when its
    /// neighbour's index does not fit the entry's 16 bits or the router-id or next hop is new
    /// while 65,536 are held: the caller refuses the route.
    pub(crate) fn push_entry(
        &mut self,
        slot: u32,
        mut e: RouteEntry,
        router_id: RouterId,
        next_hop: IpAddr,
    ) -> bool {
        if e.neigh() > NEIGH_MAX {
            return false;
        }
        let Some(rid) = self.ids.intern(router_id) else {
            return false;
        };
        let Some(nh) = self.hops.intern(next_hop) else {
            self.ids.release(rid);
            return false;
        };
        e.rid = rid;
        e.nh = nh;
        let n = e.neigh() as usize;
        self.slots[slot as usize].entries.push(e);
        self.entries += 1;
        if self.per_neighbour.len() <= n {
            self.per_neighbour.resize(n + 1, 0);
        }
        self.per_neighbour[n] += 1;
        true
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
        if let Some(c) = self.per_neighbour.get_mut(e.neigh() as usize) {
            *c = c.saturating_sub(1);
        }
        self.ids.release(e.rid);
        self.hops.release(e.nh);
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
            .iter()
            .filter(|&i| !self.slots[i as usize].idle())
            .count()
    }

    /// Live slot indices, in no particular order.
    pub(crate) fn live_slots(&self) -> Vec<u32> {
        self.index.iter().collect()
    }

    /// The slots whose last report has preferred source `a`, in order.
    pub(crate) fn reporting_pref_src(&self, a: IpAddr) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .reported_extra
            .iter()
            .filter(|(_, (_, p))| *p == Some(a))
            .map(|(i, _)| *i)
            .collect();
        v.sort_unstable();
        v
    }

    /// Approximate heap bytes held by the table, by capacity.
    pub(crate) fn heap_bytes(&self) -> usize {
        let entries: usize = self
            .slots
            .iter()
            .map(|s| s.entries.heap_capacity() * std::mem::size_of::<RouteEntry>())
            .sum();
        entries
            + self.slots.heap_bytes()
            + self.due.heap_bytes()
            + self.index.heap_bytes()
            + self.free.capacity() * 4
            + self.per_neighbour.capacity() * 4
            + self.reported_extra.capacity() * 32
            + self.src_prefixes.capacity() * 24
            + self.ids.heap_bytes()
            + self.hops.heap_bytes()
            + self.report_hops.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(neigh: u32) -> RouteEntry {
        RouteEntry::new(
            neigh,
            0,
            0,
            100,
            96,
            0,
            56_000,
            [0; crate::diversity::KEPT_CHANNELS],
            Timestamp::ZERO,
        )
    }

    fn id(b: u8) -> RouterId {
        RouterId([b; 8])
    }

    fn ll(b: u8) -> IpAddr {
        IpAddr::V6(std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, b as u16))
    }

    #[test]
    fn table_cells_keep_their_sizes() {
        // What a destination and an entry cost (docs/performance.md, issue 7).
        let sizes = (
            std::mem::size_of::<Slot>(),
            std::mem::size_of::<Entries>(),
            std::mem::size_of::<RouteEntry>(),
            std::mem::size_of::<DueCell>(),
        );
        assert_eq!(
            sizes,
            (64, 32, 32, 2),
            "Slot, Entries, RouteEntry, due time"
        );
        // The due times cost their 2 bytes a slot, and a page's room at most.
        let t = table_of(5000);
        let held = t.due.heap_bytes();
        assert!(
            (2 * 5000..2 * 5000 + 2 * 1024 + 256).contains(&held),
            "{held}"
        );
    }

    /// A table of `n` destinations (IPv4 /24s), none with entries.
    fn table_of(n: u32) -> RouteTable {
        let mut t = RouteTable::default();
        for n in 0..n {
            let key = RouteKey::new(
                Prefix::new(IpAddr::V4(std::net::Ipv4Addr::from(n << 8)), 24).unwrap(),
                None,
            );
            t.create(&key, false);
        }
        t
    }

    fn ms(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    /// `at` rounded down to a due time's tick.
    fn tick_floor(at: Timestamp) -> Timestamp {
        Timestamp::from_micros(at.as_micros() / DUE_TICK_MICROS * DUE_TICK_MICROS)
    }

    #[test]
    fn due_times_round_down_to_the_tick_and_read_back_relative_to_now() {
        let mut d = DueTimes::default();
        d.push_never();
        let never = Timestamp::from_micros(u64::MAX);
        let now = ms(10_000);
        assert_eq!(d.get(0, now), never);
        assert!(!d.is_due(0, now) && !d.is_due(0, never) && !d.is_due(1, now));
        // A lower bound, less than a tick early: never late.
        for at in [
            ms(12_345),
            Timestamp::from_micros(12_343_750),
            Timestamp::from_micros(12_359_374),
            ms(4_000),
            now,
        ] {
            d.set(0, at, now);
            let want = tick_floor(at);
            assert_eq!(d.get(0, now), want, "{at:?}");
            assert!(want <= at && at - want < Duration::from_micros(DUE_TICK_MICROS));
            for t in [now, at, want, ms(20_000)] {
                let t = t.max(now);
                assert_eq!(d.is_due(0, t), t >= want, "{at:?} at {t:?}");
            }
        }
        // Lowered only by an earlier time.
        d.set(0, ms(12_000), now);
        d.lower(0, ms(13_000), now);
        assert_eq!(d.get(0, now), ms(12_000));
        d.lower(0, Timestamp::from_micros(11_000_500), now);
        assert_eq!(d.get(0, now), ms(11_000));
        d.lower(0, never, now);
        assert_eq!(d.get(0, now), ms(11_000));
        d.set(0, never, now);
        assert_eq!(d.get(0, now), never);
        d.lower(0, ms(15_000), now);
        assert_eq!(d.get(0, now), ms(15_000));
        // Further ahead than the span: stored at the span, still a lower bound.
        d.set(0, now + Duration::from_secs(3 * 3600), now);
        assert_eq!(d.get(0, now), tick_floor(now + DUE_SPAN));
    }

    #[test]
    fn due_times_read_back_across_the_16_bit_wrap_never_late() {
        let mut d = DueTimes::default();
        d.push_never();
        let wrap = DUE_TICK_MICROS << 16;
        let tick = Duration::from_micros(DUE_TICK_MICROS);
        // Due times up to the span ahead and behind, across the wrap of 16 bits of ticks,
        // read from either side of it.
        for base in [
            wrap - 20_000,
            wrap - 1,
            wrap,
            wrap + 7,
            3 * wrap - 5,
            40 * wrap + 3,
        ] {
            let base = Timestamp::from_micros(base);
            for off in [0, 1, 999, 16_000_000, DUE_SPAN.as_micros() as u64 / 2] {
                let off = Duration::from_micros(off);
                for now in [base, base + off, base + 2 * off + Duration::from_micros(3)] {
                    let at = base + off;
                    d.set(0, at, now);
                    let got = d.get(0, now);
                    assert!(got <= at, "read late: {at:?} {got:?} now {now:?}");
                    // Less than a tick early (two, for the tick whose number is the
                    // reserved value; see below).
                    assert!(at - got < 2 * tick, "{at:?} {got:?}");
                    assert_eq!(d.is_due(0, now), now >= got);
                }
            }
        }
        // The tick whose number is the reserved value reads a tick earlier, not as none.
        let at = Timestamp::from_micros(u64::from(DUE_NEVER) * DUE_TICK_MICROS + 5);
        let now = at - Duration::from_secs(1);
        d.set(0, at, now);
        assert_eq!(d.get(0, now), tick_floor(at) - tick);
        d.lower(0, at, now);
        assert_eq!(d.get(0, now), tick_floor(at) - tick, "still not none");
    }

    #[test]
    fn passed_due_times_stay_due_after_a_long_jump_in_time() {
        let mut t = table_of(4);
        let old = Timestamp::from_micros((DUE_TICK_MICROS << 16) * 5 - 3_000_250);
        t.due.set(0, old - Duration::from_secs(5), old);
        t.due.set(1, old + Duration::from_secs(200), old);
        t.due.set(2, old + Duration::from_secs(4 * 3600), old);
        // A jump of 150 s, then one of 30 days, which 16 bits of ticks would misread.
        let now = old + Duration::from_secs(150);
        t.due.rebase(old, now);
        assert_eq!(t.due.get(0, now), tick_floor(now));
        assert!(t.due.is_due(0, now));
        assert_eq!(
            t.due.get(1, now),
            tick_floor(old + Duration::from_secs(200))
        );
        assert!(!t.due.is_due(1, now));
        assert_eq!(t.due.get(2, now), tick_floor(old + DUE_SPAN));
        assert_eq!(t.due.get(3, now), Timestamp::from_micros(u64::MAX));
        let later = now + Duration::from_secs(30 * 86_400);
        t.rebase(now, later);
        for i in 0..3 {
            assert!(t.due.is_due(i, later), "slot {i}");
            assert_eq!(t.due.get(i, later), tick_floor(later));
        }
        assert!(!t.due.is_due(3, later));
        assert_eq!(t.due.get(3, later), Timestamp::from_micros(u64::MAX));
    }

    #[test]
    fn the_index_finds_every_live_slot_by_key_through_creates_and_frees() {
        // The index holds slot numbers only and compares the keys in the slots: keys
        // that differ only in length, family or source prefix must not be confused, and a
        // freed slot (kept, with its old key, for reuse) must not be found.
        let key = |n: u32| {
            let v6 = Prefix::new(
                IpAddr::V6(std::net::Ipv6Addr::from(
                    (0x2001_0db8u128 << 96) | (n as u128 / 4) << 64,
                )),
                64 + (n % 2) as u8,
            )
            .unwrap();
            let v4 = Prefix::new(
                IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + (n / 4) * 256)),
                24,
            )
            .unwrap();
            match n % 4 {
                0 | 1 => RouteKey::new(v6, None),
                2 => RouteKey::new(v4, None),
                _ => RouteKey::new(
                    v6,
                    Some(Prefix::new(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), 128).unwrap()),
                ),
            }
        };
        let mut t = RouteTable::default();
        let mut model: std::collections::BTreeMap<u32, u32> = Default::default();
        let mut rng = crate::rng::Rng::new(7);
        for step in 0..6000u32 {
            let n = rng.below(1500) as u32;
            match model.get(&n) {
                Some(&slot) if step % 3 != 0 => {
                    // Its last entry goes: the slot is freed.
                    t.remove_entry(slot, 0);
                    t.maybe_free(slot);
                    assert!(!t.is_live(slot));
                    model.remove(&n);
                }
                Some(_) => {}
                None => {
                    let slot = t.find_or_create(&key(n));
                    assert!(t.push_entry(slot, entry(1), id(1), ll(1)));
                    model.insert(n, slot);
                }
            }
            if step % 500 == 0 {
                for k in 0..1500 {
                    assert_eq!(
                        t.find(&key(k)),
                        model.get(&k).copied(),
                        "key {k}, step {step}"
                    );
                }
            }
        }
        let mut live = t.live_slots();
        live.sort_unstable();
        let mut want: Vec<u32> = model.values().copied().collect();
        want.sort_unstable();
        assert_eq!(live, want);
        assert_eq!(t.prefix_count(), model.len());
        assert!(want.iter().all(|&s| t.is_live(s)));
        // The slots give their keys back, and sort as their keys do (updates are sent in
        // that order).
        for (&n, &slot) in &model {
            assert_eq!(t.key(slot), key(n));
        }
        let mut by_slot = live.clone();
        t.sort_slots(&mut by_slot);
        live.sort_unstable_by_key(|&s| t.key(s));
        assert_eq!(by_slot, live);
    }

    #[test]
    fn slots_sort_as_their_keys_whether_by_copies_or_in_place() {
        // Full dumps go out in key order (prefix compression, and the same packets for
        // the same table): sorts of few slots compare copies of their keys, larger ones
        // the slots themselves; both must give the order of the keys: IPv4 before IPv6,
        // by address, shorter before longer, a destination without a source prefix before
        // the same with one, and several source prefixes of one destination by source.
        let key = |n: u32| {
            let dst = match n % 3 {
                0 => Prefix::new(
                    IpAddr::V4(std::net::Ipv4Addr::from(n.rotate_left(13))),
                    [0, 8, 24, 32][(n / 3 % 4) as usize],
                ),
                1 => Prefix::new(
                    IpAddr::V6(std::net::Ipv6Addr::from((n as u128).rotate_right(29))),
                    [0, 48, 128][(n / 3 % 3) as usize],
                ),
                _ => Prefix::new(
                    IpAddr::V6(std::net::Ipv6Addr::from(
                        (0x2001_0db8u128 << 96) | (n as u128 % 7) << 64,
                    )),
                    64 + (n % 5) as u8,
                ),
            }
            .unwrap();
            let src = (n % 3 == 2 && n % 4 != 0).then(|| {
                Prefix::new(
                    IpAddr::V6(std::net::Ipv6Addr::from((n as u128 % 11) << 100)),
                    28,
                )
                .unwrap()
            });
            RouteKey::new(dst, src)
        };
        let mut t = RouteTable::default();
        let mut slots = Vec::new();
        let mut n = 0;
        while slots.len() < SORT_KEYED_MAX + 600 {
            let k = key(n);
            if t.find(&k).is_none() {
                slots.push(t.create(&k, false));
            }
            n += 1;
        }
        for want in ["0.0.0.0/0", "::/0"] {
            let p: Prefix = want.parse().unwrap();
            assert!(slots.iter().any(|&s| t.key(s) == RouteKey::new(p, None)));
        }
        // Keys that only their source prefixes tell apart, and nothing else.
        let mut tied: Vec<u32> = slots
            .iter()
            .copied()
            .filter(|&s| t.key(s).src_prefix.is_some())
            .collect();
        tied.sort_unstable_by_key(|&s| t.key(s));
        tied.truncate(60);
        let firsts = tied
            .iter()
            .filter(|&&s| t.key(s).prefix == t.key(tied[0]).prefix);
        assert!(
            firsts.count() >= 5,
            "the test must have keys only sources tell apart"
        );
        // The copies are as small as said.
        assert_eq!(std::mem::size_of::<KeyedSlot>(), 32);
        let mut rng = crate::rng::Rng::new(3);
        let mut shuffled = |v: &[u32], len: usize| {
            let mut v = v.to_vec();
            for i in (1..v.len()).rev() {
                v.swap(i, rng.below(i as u64 + 1) as usize);
            }
            v.truncate(len);
            v
        };
        type Sort = fn(&RouteTable, &mut [u32]);
        let sorts: [(&str, Sort); 3] = [
            ("keyed", RouteTable::sort_slots_keyed),
            ("in place", RouteTable::sort_slots_in_place),
            ("either", RouteTable::sort_slots),
        ];
        let lens = [
            0,
            1,
            2,
            3,
            50,
            500,
            SORT_KEYED_MAX,
            SORT_KEYED_MAX + 1,
            slots.len(),
        ];
        for (set, len) in lens.iter().map(|&len| (&slots, len)).chain([
            (&tied, 2),
            (&tied, 7),
            (&tied, tied.len()),
        ]) {
            let some = shuffled(set, len);
            let mut want = some.clone();
            want.sort_unstable_by_key(|&s| t.key(s));
            for (name, sort) in sorts {
                let mut got = some.clone();
                sort(&t, &mut got);
                assert_eq!(got, want, "{name}, {len} slots");
            }
        }
    }

    #[test]
    fn router_ids_and_next_hops_are_shared_and_dropped_with_their_last_entry() {
        let mut t = RouteTable::default();
        let a = t.find_or_create(&RouteKey::new("2001:db8::/32".parse().unwrap(), None));
        let b = t.find_or_create(&RouteKey::new("2001:db8:1::/48".parse().unwrap(), None));
        assert!(t.push_entry(a, entry(1), id(1), ll(1)));
        assert!(t.push_entry(b, entry(1), id(1), ll(1)));
        assert!(t.push_entry(b, entry(2), id(2), ll(2)));
        assert_eq!(t.interned(), (2, 2, 0));
        let e = &t.slots[b as usize].entries[1];
        assert_eq!((t.router_id(e), t.next_hop(e)), (id(2), ll(2)));
        // A new next hop for the entry of neighbour 1 in `a`: the old one is still b's.
        assert!(t.set_origin(a, 0, id(1), ll(3)));
        assert_eq!(t.interned(), (2, 3, 0));
        let e = &t.slots[a as usize].entries[0];
        assert_eq!((t.router_id(e), t.next_hop(e)), (id(1), ll(3)));
        t.set_reported(
            a,
            Some(FullReport {
                next_hop: ll(3),
                ifindex: 7,
                metric: 196,
                table: None,
                pref_src: None,
            }),
        );
        t.remove_entry(a, 0);
        assert_eq!(
            t.interned(),
            (2, 2, 1),
            "the report keeps ll(3) with its interface"
        );
        assert_eq!(
            t.reported(a).map(|r| (r.next_hop, r.ifindex)),
            Some((ll(3), 7))
        );
        t.set_reported(a, None);
        assert_eq!(t.interned(), (2, 2, 0));
        t.remove_entry(b, 1);
        assert_eq!(t.interned(), (1, 1, 0));
        t.remove_entry(b, 0);
        assert_eq!(t.interned(), (0, 0, 0));
        // Freed indices are reused.
        assert!(t.push_entry(b, entry(3), id(9), ll(9)));
        assert_eq!(t.interned(), (1, 1, 0));
        let e = &t.slots[b as usize].entries[0];
        assert_eq!((t.router_id(e), t.next_hop(e)), (id(9), ll(9)));
    }

    #[test]
    fn a_full_interner_refuses_new_values_only() {
        let mut t = RouteTable::default();
        let a = t.find_or_create(&RouteKey::new("2001:db8::/32".parse().unwrap(), None));
        for n in 0..=u16::MAX as u32 {
            let e = entry(n % 1000);
            let nh = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            assert!(t.push_entry(a, e, id(1), nh), "{n}");
        }
        let extra = IpAddr::V4(std::net::Ipv4Addr::new(11, 0, 0, 1));
        assert!(!t.push_entry(a, entry(1), id(1), extra));
        assert!(!t.set_origin(a, 0, id(2), extra));
        assert_eq!(t.router_id(&t.slots[a as usize].entries[0]), id(1));
        assert!(t.set_origin(a, 0, id(2), IpAddr::V4([10, 0, 0, 1].into())));
        assert_eq!(t.interned(), (2, 65_535, 0), "10.0.0.0 went with its entry");
        assert_eq!(t.entry_count(), 65_536);
    }

    #[test]
    fn entry_times_read_back_across_the_32_bit_wrap_and_a_rebase() {
        let mut e = entry(1);
        // 2^32 ms plus a bit: the stored low bits wrapped.
        let t0 = Timestamp::from_millis((1u64 << 32) + 5_000);
        e.set_time(t0);
        e.set_hold_ms(56_000);
        let now = t0 + Duration::from_secs(20);
        assert_eq!(e.time(now), t0);
        assert_eq!(e.expires(now), t0 + Duration::from_secs(56));
        assert_eq!(e.refresh_at(now), t0 + Duration::from_secs(49));
        // A jump of 60 days: the node rebases its entries.
        let later = now + Duration::from_secs(60 * 86_400);
        e.rebase(now, later);
        assert!(e.expires(later) < later, "an old entry stays expired");
        let age = later - e.time(later);
        assert!(age >= Duration::from_secs(12 * 86_400), "{age:?}");
    }

    #[test]
    fn hold_time_keeps_24_bits_of_milliseconds() {
        let mut e = entry(1);
        e.set_hold_ms(2_293_725);
        assert_eq!(e.hold_ms(), 2_293_725);
        e.set_hold_ms(u32::MAX);
        assert_eq!(e.hold_ms(), (1 << 24) - 1);
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
        assert!(t.push_entry(a, entry(1), id(1), ll(1)));
        assert!(t.push_entry(a, entry(2), id(1), ll(2)));
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
        e.reset_smoothed(1000, Timestamp::ZERO);
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

    #[test]
    fn smoothed_metric_time_survives_16_bit_wrap_of_seconds() {
        // Smoothing that starts just before the 16-bit seconds wrap continues after it.
        let t0 = Timestamp::from_secs(65_534);
        let mut e = entry(1);
        e.reset_smoothed(1000, t0);
        let s = e.smoothed_metric(200, t0 + Duration::from_secs(4), 4);
        assert!((590..=610).contains(&s), "{s}");
        // An entry refreshed but not smoothed for a day: its smoothing age is held, and
        // the next step converges as it would after a day.
        e.reset_smoothed(1000, t0);
        let mut t = t0;
        for _ in 0..(86_400 / 50) {
            t += Duration::from_secs(50);
            e.set_time(t);
        }
        assert_eq!(e.smoothed_metric(200, t, 4), 200);
        assert_eq!(e.smoothed_metric(200, t, 3600), 200);
    }
}
