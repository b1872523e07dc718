//! The engine's route changes applied to the kernel, on a dedicated thread: the installer is
//! synchronous and a large batch takes milliseconds, which must not stall the event loop.
//!
//! IPv4 source-specific routes go into a table of their own per source prefix, with a rule
//! `from SRC lookup TABLE` (Linux has no source-specific IPv4 routes): the tables start at
//! `first-table-number`, the rules at `first-rule-priority` (see `netdriver::SourceTables`).
//! Each source table also holds copies of the routes that must win over its own for the
//! most specific destination to win first (RFC 9079 §6; see [`Planner::ops`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use babel_core::wire::{Prefix, INFINITY};
use babel_core::{InstalledRoute, RouteChange};
use netdriver::{
    InstallerConfig, InstallerStats, KernelRoute, RouteInstaller, RouteOp, SourceRule,
    SourceTables, RTPROT_BABEL,
};

/// How routes are put in the kernel.
#[derive(Debug, Clone)]
pub struct KernelConfig {
    /// The export table (babeld's `-t`, `export-table`; default main).
    pub table: u32,
    /// babeld's `kernel-priority` (`-k`).
    pub priority: u32,
    /// babeld's `reflect-kernel-metric`: the Babel metric is added to the priority.
    pub reflect_metric: bool,
    /// Where IPv4 source-specific routes go: tables from `first-table-number`, rules from
    /// `first-rule-priority`.
    pub source_tables: SourceTables,
    /// babeld's `ipv6-subtrees`: IPv6 source-specific routes are native kernel routes with
    /// a source prefix (true, the default) or go to source tables like IPv4 ones (false).
    pub ipv6_subtrees: bool,
}

/// One operation and the table it applies to.
pub type TableOp = (u32, RouteOp);

/// What the installer thread does, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Route(u32, RouteOp),
    AddRule(SourceRule),
    RemoveRule(SourceRule),
}

enum Msg {
    Ops(Vec<Op>),
    /// Remove every protocol-42 route in these tables and the source rules of this
    /// allocator's ranges, then answer.
    Purge(Vec<u32>, SourceTables, mpsc::Sender<usize>),
    /// A link changed: read the link notifications now (nexthop objects flushed with a link
    /// are forgotten, and made again when it returns), ahead of the route changes.
    Links,
}

/// Most route operations queued for the installer thread before the daemon stops taking
/// route changes from the engine (with the chunk that crosses it, at most about 280 KB of
/// operations: four netlink datagrams' worth, enough to keep the thread busy; a chunk that
/// starts a sweep of source-table copies carries its first [`SWEEP_CHUNK`] too, one sweep's
/// at most, see [`Feed::plan`]). The rest
/// wait in the engine, 4 bytes each and merged per destination, and a sweep's copies in
/// the planner's cursor, until the thread catches up: a burst of a whole table is never
/// copied into the queue.
pub const IN_FLIGHT: usize = 2048;

/// The installer thread's progress, shared with the daemon.
#[derive(Default)]
struct Progress {
    /// Operations sent and not yet applied.
    in_flight: AtomicUsize,
    /// Signalled when `in_flight` falls below [`IN_FLIGHT`].
    room: tokio::sync::Notify,
    /// The daemon said that the installer thread is gone.
    gone_reported: std::sync::atomic::AtomicBool,
    /// The installers' nexthop object counters, summed: created, flushed with their link,
    /// made again when it returned, found gone by a failed route, deleted unused, and the
    /// checks (route dumps) that find the unused ones.
    nexthops: [AtomicU64; 6],
}

/// Names of [`Progress::nexthops`] in `babelctl counters`.
const NEXTHOP_COUNTERS: [&str; 6] = [
    "kernel-nexthops-created",
    "kernel-nexthops-flushed",
    "kernel-nexthops-restored",
    "kernel-nexthops-stale",
    "kernel-nexthops-collected",
    "kernel-nexthops-checks",
];

fn nexthop_counters(s: &InstallerStats) -> [u64; 6] {
    [
        s.nexthops_created,
        s.nexthops_flushed,
        s.nexthops_restored,
        s.nexthops_stale,
        s.nexthops_collected,
        s.nexthops_checks,
    ]
}

/// Publishes the nexthop counters of the open installers plus those of closed ones.
fn publish(installers: &BTreeMap<u32, RouteInstaller>, closed: &[u64; 6], progress: &Progress) {
    let mut sum = *closed;
    for i in installers.values() {
        for (a, b) in sum.iter_mut().zip(nexthop_counters(&i.stats())) {
            *a += b;
        }
    }
    for (c, v) in progress.nexthops.iter().zip(sum) {
        c.store(v, Ordering::Relaxed);
    }
}

/// Checks the nexthop objects that may be unused and deletes those found unused twice, in
/// every installer where a check is due; returns the next time one will be.
fn collect_nexthops(installers: &mut BTreeMap<u32, RouteInstaller>) -> Option<std::time::Instant> {
    let now = std::time::Instant::now();
    let mut next = None;
    for (t, inst) in installers.iter_mut() {
        if inst.next_nexthop_collection().is_some_and(|at| at <= now) {
            let n = inst.collect_nexthops();
            if n > 0 {
                tracing::debug!("kernel: deleted {n} unused nexthop objects (table {t})");
            }
        }
        next = match (next, inst.next_nexthop_collection()) {
            (Some(a), Some(b)) => Some(std::cmp::min(a, b)),
            (a, b) => a.or(b),
        };
    }
    next
}

/// The kernel side: converts route changes, and sends them to the installer thread.
pub struct Kernel {
    feed: Feed,
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<JoinHandle<()>>,
    progress: Arc<Progress>,
    /// Every table we installed into, to purge at exit.
    tables: BTreeSet<u32>,
}

/// Turns route changes into kernel operations, keeping track of the source tables.
#[derive(Debug)]
pub struct Planner {
    pub config: KernelConfig,
    /// The routes in source tables (of their own source): destination → source → the
    /// kernel route (without its source prefix).
    natives: BTreeMap<Prefix, BTreeMap<Prefix, KernelRoute>>,
    /// The plain routes of the families that use source tables, by destination, as
    /// installed: what a disambiguation copy is made of (RFC 9079 §6). Kept only while some
    /// source table holds a route (`natives` is not empty): read from the engine's
    /// [`Reported`] routes when the first one comes, dropped after the last one goes.
    plain: BTreeMap<Prefix, KernelRoute>,
    /// The copies installed: (source, destination) → the route in the source's table.
    copies: HashMap<(Prefix, Prefix), KernelRoute>,
    /// The copies being brought in line with a source table's route that came or went, a
    /// chunk at a time (see [`Planner::resume`]).
    sweep: Option<Sweep>,
    /// Most destinations a sweep syncs at a time ([`SWEEP_CHUNK`]; smaller in tests).
    chunk: usize,
}

/// Most destinations a sweep of copies syncs at a time, so most operations it hands over
/// at a time (one netlink datagram's worth, about 100 KB of operations). A new source
/// table's route to 0.0.0.0/0 next to 100,000 plain routes makes 100,000 copies: they go to
/// the installer thread a chunk at a time as it makes room (see [`IN_FLIGHT`]), with the
/// engine's other route changes in between, instead of in one message.
pub const SWEEP_CHUNK: usize = 1024;

/// A kernel route for an engine route: unreachable while the route is held (retracted), with
/// the preferred source address of an install filter's `pref-src`.
pub fn kernel_route(r: &InstalledRoute, priority: u32) -> KernelRoute {
    let mut k = if r.metric == INFINITY {
        KernelRoute::unreachable(r.prefix, priority)
    } else {
        KernelRoute::via(r.prefix, r.next_hop, r.ifindex, priority)
    };
    if let Some(a) = r.pref_src {
        // Like babeld, only an address of the route's family is used.
        if r.metric != INFINITY && a.is_ipv4() == r.prefix.is_v4() {
            k = k.with_pref_src(a);
        }
    }
    match r.src_prefix {
        Some(s) => k.from_src(s),
        None => k,
    }
}

impl KernelConfig {
    /// Whether a route needs a source table: source-specific IPv4, and IPv6 too without
    /// `ipv6-subtrees`.
    fn needs_source_table(&self, r: &InstalledRoute) -> bool {
        r.src_prefix.is_some() && self.tabled_family(&r.prefix)
    }

    /// Whether routes of this prefix's family can meet a source table: IPv4 always, IPv6
    /// without `ipv6-subtrees`.
    fn tabled_family(&self, p: &Prefix) -> bool {
        p.is_v4() || !self.ipv6_subtrees
    }

    fn priority(&self, r: &InstalledRoute) -> u32 {
        if self.reflect_metric && r.metric < INFINITY {
            self.priority.saturating_add(u32::from(r.metric))
        } else {
            self.priority
        }
    }

    fn table(&self, r: &InstalledRoute) -> u32 {
        r.table.unwrap_or(self.table)
    }

    /// The kernel operations for one change. A new route is an add (CREATE|EXCL), so a
    /// foreign route with the same key is never overwritten; a change of next hop is one
    /// atomic replace; a change of table or priority adds the new route before removing the
    /// old one.
    pub fn ops(&self, change: &RouteChange, out: &mut Vec<TableOp>) {
        match change {
            RouteChange::Install(r) => out.push((
                self.table(r),
                RouteOp::Add(kernel_route(r, self.priority(r))),
            )),
            RouteChange::Retract(r) => out.push((
                self.table(r),
                RouteOp::Remove(kernel_route(r, self.priority(r))),
            )),
            RouteChange::Change { old, new } => {
                let (ot, op) = (self.table(old), self.priority(old));
                let (nt, np) = (self.table(new), self.priority(new));
                if ot != nt || op != np {
                    out.push((nt, RouteOp::Add(kernel_route(new, np))));
                    out.push((ot, RouteOp::Remove(kernel_route(old, op))));
                } else {
                    out.push((nt, RouteOp::Replace(kernel_route(new, np))));
                }
            }
        }
    }
}

fn installer_thread(rx: mpsc::Receiver<Msg>, default_table: u32, progress: Arc<Progress>) {
    let mut installers: BTreeMap<u32, RouteInstaller> = BTreeMap::new();
    let get = |table: u32, installers: &mut BTreeMap<u32, RouteInstaller>| -> bool {
        if installers.contains_key(&table) {
            return true;
        }
        match RouteInstaller::new(InstallerConfig {
            table,
            protocol: RTPROT_BABEL,
            ..InstallerConfig::default()
        }) {
            Ok(i) => {
                installers.insert(table, i);
                true
            }
            Err(e) => {
                tracing::error!("cannot open a netlink socket for table {table}: {e}");
                false
            }
        }
    };
    get(default_table, &mut installers);
    // A new route comes as an add (CREATE|EXCL): a foreign route with its key (destination,
    // source, priority) stays, and the add fails. Such keys are remembered per table, and a
    // replace of one is sent as an add again, so it never overwrites the foreign route;
    // they go when an add succeeds or the route is removed. Only these failures are kept,
    // not every route we installed. A 64-bit digest of each key under a per-process random
    // key is kept, not the key: no one can make another route's key collide on purpose.
    let digest = RandomState::new();
    let key = |k: &KernelRoute| -> u64 { digest.hash_one((k.dst, k.src, k.metric)) };
    let mut not_ours: BTreeMap<u32, HashSet<u64>> = BTreeMap::new();
    // Counters of installers closed since.
    let mut closed = [0u64; 6];
    // Unused nexthop objects are checked for and deleted between messages.
    let mut collect_at: Option<std::time::Instant> = None;
    loop {
        let msg = match collect_at {
            None => match rx.recv() {
                Ok(m) => m,
                Err(_) => break,
            },
            Some(at) => {
                let wait = at.saturating_duration_since(std::time::Instant::now());
                match rx.recv_timeout(wait) {
                    Ok(m) => m,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        collect_at = collect_nexthops(&mut installers);
                        publish(&installers, &closed, &progress);
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
        };
        match msg {
            Msg::Ops(ops) => {
                // Runs of the same table go out as one pipelined batch, in order.
                let mut i = 0;
                while i < ops.len() {
                    let table = match &ops[i] {
                        Op::Route(t, _) => *t,
                        Op::AddRule(r) | Op::RemoveRule(r) => {
                            i += 1;
                            rule_op(&ops[i - 1], r, default_table, &mut installers, &get);
                            continue;
                        }
                    };
                    let mut j = i;
                    // At most a few thousand at a time, to bound the copies.
                    while j < ops.len()
                        && matches!(ops[j], Op::Route(t, _) if t == table)
                        && j - i < 4096
                    {
                        j += 1;
                    }
                    let theirs = not_ours.entry(table).or_default();
                    let batch: Vec<RouteOp> = ops[i..j]
                        .iter()
                        .filter_map(|op| match op {
                            Op::Route(_, op) => Some(op),
                            _ => None,
                        })
                        .map(|op| match op {
                            RouteOp::Replace(k)
                                if !theirs.is_empty() && theirs.contains(&key(k)) =>
                            {
                                RouteOp::Add(*k)
                            }
                            other => *other,
                        })
                        .collect();
                    i = j;
                    if !get(table, &mut installers) {
                        continue;
                    }
                    let Some(inst) = installers.get_mut(&table) else {
                        continue;
                    };
                    let started = std::time::Instant::now();
                    let errors = inst.apply(&batch);
                    tracing::debug!(
                        "kernel: {} route operations in table {table} in {:?}, {} failed",
                        batch.len(),
                        started.elapsed(),
                        errors.len()
                    );
                    note_foreign(theirs, &batch, &errors, &key);
                    if theirs.is_empty() {
                        theirs.shrink_to_fit();
                    }
                    for (k, e) in errors {
                        // A remove of a route that is already gone is harmless.
                        if matches!(batch[k], RouteOp::Remove(_)) && e.errno() == Some(libc::ESRCH)
                        {
                            continue;
                        }
                        tracing::warn!("kernel route {e}");
                    }
                }
                let n = ops.len();
                drop(ops);
                let before = progress.in_flight.fetch_sub(n, Ordering::AcqRel);
                if before.saturating_sub(n) < IN_FLIGHT {
                    progress.room.notify_one();
                }
            }
            Msg::Purge(tables, source_tables, done) => {
                let n = purge_tables(
                    &tables,
                    &source_tables,
                    default_table,
                    &mut installers,
                    &mut not_ours,
                    &mut closed,
                    &get,
                );
                let _ = done.send(n);
            }
            Msg::Links => {
                for inst in installers.values_mut() {
                    inst.follow_links();
                }
            }
        }
        collect_at = collect_nexthops(&mut installers);
        publish(&installers, &closed, &progress);
    }
}

/// Removes our routes from `tables` and our source rules (as `source_tables` tells them);
/// returns how many routes were removed. A purge runs at start and at shutdown only: not
/// inlined into the installer thread's loop, so that its code is not mapped with the loop's
/// (docs/performance.md, "Start-up pages given back").
#[inline(never)]
fn purge_tables(
    tables: &[u32],
    source_tables: &SourceTables,
    default_table: u32,
    installers: &mut BTreeMap<u32, RouteInstaller>,
    not_ours: &mut BTreeMap<u32, HashSet<u64>>,
    closed: &mut [u64; 6],
    get: &dyn Fn(u32, &mut BTreeMap<u32, RouteInstaller>) -> bool,
) -> usize {
    let mut n = 0;
    if get(default_table, installers) {
        if let Some(inst) = installers.get_mut(&default_table) {
            match inst.purge_rules(|r| source_tables.is_ours(r)) {
                Ok(k) if k > 0 => tracing::info!("removed {k} source rules"),
                Ok(_) => {}
                Err(e) => tracing::error!("cannot remove our source rules: {e}"),
            }
        }
    }
    for &t in tables {
        let open = installers.contains_key(&t);
        if !get(t, installers) {
            continue;
        }
        if let Some(inst) = installers.get_mut(&t) {
            match inst.purge() {
                Ok(k) => {
                    n += k;
                    not_ours.remove(&t);
                }
                Err(e) => {
                    tracing::error!("cannot remove our routes from table {t}: {e}")
                }
            }
        }
        // A table with no routes of ours yet (such as the ten source tables
        // purged at start) gives its socket and buffers back until it has one.
        if !open && t != default_table {
            if let Some(i) = installers.remove(&t) {
                for (a, b) in closed.iter_mut().zip(nexthop_counters(&i.stats())) {
                    *a += b;
                }
            }
        }
    }
    n
}

/// Brings `theirs`, the keys (as `key` digests them) of routes another protocol holds in a
/// table, up to date after `batch` ran there and failed at `errors` (index, error).
///
/// Only an add refused with EEXIST says that someone else's route holds the key. Any other
/// failure (no route to the gateway, the interface gone, a lost acknowledgement after which
/// our route may even be in place) says nothing about the owner: marking the key then would
/// turn our later replaces of it into adds, and a route of ours installed after all would
/// keep a stale next hop. Such a failure leaves the set as it was. An add that succeeded,
/// and any remove, forget the key.
fn note_foreign(
    theirs: &mut HashSet<u64>,
    batch: &[RouteOp],
    errors: &[(usize, netdriver::RouteError)],
    key: &dyn Fn(&KernelRoute) -> u64,
) {
    let mut errno: Vec<Option<Option<i32>>> = vec![None; batch.len()];
    for (i, e) in errors {
        if let Some(slot) = errno.get_mut(*i) {
            *slot = Some(e.errno());
        }
    }
    for (op, failed) in batch.iter().zip(errno) {
        match (op, failed) {
            (RouteOp::Add(k), Some(Some(libc::EEXIST))) => {
                theirs.insert(key(k));
            }
            (RouteOp::Add(_), Some(_)) => {}
            (RouteOp::Add(k), None) | (RouteOp::Remove(k), _) if !theirs.is_empty() => {
                theirs.remove(&key(k));
            }
            _ => {}
        }
    }
}

/// Adds or removes a source rule, through the default table's installer.
fn rule_op(
    op: &Op,
    r: &SourceRule,
    default_table: u32,
    installers: &mut BTreeMap<u32, RouteInstaller>,
    get: &dyn Fn(u32, &mut BTreeMap<u32, RouteInstaller>) -> bool,
) {
    if !get(default_table, installers) {
        return;
    }
    let Some(inst) = installers.get_mut(&default_table) else {
        return;
    };
    let res = match op {
        Op::AddRule(_) => inst.add_rule(r).or_else(|e| {
            // A leftover with the same key: ours now.
            if e.errno() == Some(libc::EEXIST) {
                Ok(())
            } else {
                Err(e)
            }
        }),
        _ => inst.remove_rule(r).or_else(|e| {
            if e.errno() == Some(libc::ENOENT) {
                Ok(())
            } else {
                Err(e)
            }
        }),
    };
    match res {
        Ok(()) => tracing::debug!(
            "kernel: {} rule {r}",
            match op {
                Op::AddRule(_) => "added",
                _ => "removed",
            }
        ),
        Err(e) => tracing::warn!("kernel rule {r}: {e}"),
    }
}

/// The routes the engine has handed to the installer so far (the last report of each
/// destination): the planner reads the plain ones when the first source table appears,
/// rather than keeping a copy of every route for the few meshes that have source tables.
pub trait Reported {
    fn each_reported(&self, f: &mut dyn FnMut(InstalledRoute));
}

impl Reported for babel_core::Node {
    fn each_reported(&self, f: &mut dyn FnMut(InstalledRoute)) {
        self.reported_routes().for_each(f);
    }
}

impl Planner {
    pub fn new(config: KernelConfig) -> Self {
        Planner {
            config,
            natives: BTreeMap::new(),
            plain: BTreeMap::new(),
            copies: HashMap::new(),
            sweep: None,
            chunk: SWEEP_CHUNK,
        }
    }

    /// Whether some source table holds a route, or a sweep of copies is under way: the
    /// plain routes are kept and their copies followed.
    fn tables_in_use(&self) -> bool {
        !self.natives.is_empty() || self.sweep.is_some()
    }

    /// Whether a sweep of copies is under way ([`Self::resume`] continues it).
    pub fn busy(&self) -> bool {
        self.sweep.is_some()
    }

    /// Whether `change` is of a route that goes to a source table: while a sweep is under
    /// way it must wait for its end. Changes of other routes may be planned between the
    /// sweep's chunks.
    pub fn tabled(&self, change: &RouteChange) -> bool {
        self.config.needs_source_table(change.route())
    }

    /// Forgets every route and copy, and a sweep under way (the tables were purged).
    fn clear(&mut self) {
        self.natives.clear();
        self.plain = BTreeMap::new();
        self.copies = HashMap::new();
        self.sweep = None;
    }

    /// The source tables' routes to the destinations strictly less specific than `d`, by
    /// source: at most one map look-up per prefix length (33 for IPv4), none without any.
    fn natives_above(&self, d: Prefix) -> impl Iterator<Item = &BTreeMap<Prefix, KernelRoute>> {
        let lengths = if self.natives.is_empty() { 0 } else { d.plen() };
        (0..lengths).filter_map(move |plen| {
            Prefix::new(d.addr(), plen)
                .ok()
                .and_then(|a| self.natives.get(&a))
        })
    }

    /// Whether the table of source `s` holds a route (of its own) to a destination strictly
    /// less specific than `d`, so that `d` may need a copy there. A sweep under way counts
    /// its route as there for the destinations it has synced (coming) or not yet synced
    /// (going).
    fn covers(&self, s: Prefix, d: Prefix) -> bool {
        self.sweep.is_some_and(|w| w.src == s && w.covers(d))
            || self.natives_above(d).any(|m| m.contains_key(&s))
    }

    /// The sources whose tables hold a route (of their own) to a destination strictly less
    /// specific than `d`, as [`Self::covers`] counts them: the tables where `d` may need a
    /// copy.
    fn covering_sources(&self, d: Prefix) -> BTreeSet<Prefix> {
        let mut out: BTreeSet<Prefix> = self
            .natives_above(d)
            .flat_map(|m| m.keys().copied())
            .collect();
        if let Some(w) = self.sweep.filter(|w| w.covers(d)) {
            out.insert(w.src);
        }
        out
    }

    /// What the table of source `s` must hold for destination `d` as a copy (RFC 9079 §6):
    /// nothing when it has a route of its own to `d`, or no route of its own to a less
    /// specific destination that would otherwise catch `d`'s packets; else the route that a
    /// destination-first lookup picks for (`d`, `s`): the one to `d` with the most specific
    /// source strictly containing `s` (a plain route's source is the whole space).
    fn wanted_copy(&self, s: Prefix, d: Prefix) -> Option<KernelRoute> {
        let own = self.natives.get(&d);
        if own.is_some_and(|m| m.contains_key(&s)) {
            return None;
        }
        if !self.covers(s, d) {
            return None;
        }
        own.and_then(|m| {
            m.iter()
                .filter(|(src, _)| src.contains(&s) && **src != s)
                .max_by_key(|(src, _)| src.plen())
                .map(|(_, k)| *k)
        })
        .or_else(|| self.plain.get(&d).copied())
    }

    /// Brings the copy of `d` in `s`'s table (`table`) in line with [`Self::wanted_copy`]:
    /// an add, an atomic replace, a remove, or (a new priority is a new key) an add before
    /// the old one's removal.
    fn sync_copy(&mut self, s: Prefix, table: u32, d: Prefix, out: &mut Vec<Op>) {
        let want = self.wanted_copy(s, d);
        let have = self.copies.get(&(s, d)).copied();
        transition(table, have, want, out);
        self.set_copy(s, d, want);
    }

    fn set_copy(&mut self, s: Prefix, d: Prefix, copy: Option<KernelRoute>) {
        match copy {
            Some(w) => self.copies.insert((s, d), w),
            None => self.copies.remove(&(s, d)),
        };
    }

    /// Syncs the copies of `d` in the tables of `sources`. The table of a sweep's source
    /// may be released already (its last route went, a sweep is removing the copies left
    /// in it): the copies there still follow their routes until the sweep reaches them, so
    /// that one whose route goes meanwhile (which the sweep would no longer find) goes too.
    fn sync_sources(&mut self, sources: BTreeSet<Prefix>, d: Prefix, out: &mut Vec<Op>) {
        for s in sources {
            let table = self.config.source_tables.table(s).or_else(|| {
                self.sweep
                    .filter(|w| w.src == s && w.coming.is_none())
                    .map(|w| w.table)
            });
            if let Some(t) = table {
                self.sync_copy(s, t, d, out);
            }
        }
    }

    /// The sources strictly inside `src` whose tables may hold a copy of `d`, where a route
    /// from `src` to `d` may be the copy's origin.
    fn more_specific(&self, src: Prefix, d: Prefix) -> BTreeSet<Prefix> {
        self.covering_sources(d)
            .into_iter()
            .filter(|s2| src.contains(s2) && *s2 != src)
            .collect()
    }

    /// The sweep's next destinations strictly inside its `dst` (a plain route's or a source
    /// table's), at most `n`, after the last one synced: walking down from the last (the
    /// most specific first) while the route comes, up from the first (the least specific
    /// first) once it went. One range walk in each map, O(log N + n).
    fn next_inside(&self, w: &Sweep, n: usize) -> Vec<Prefix> {
        // (address, length) order puts a prefix before the prefixes inside it, and every
        // prefix after `dst` up to the host prefix of its last address is inside it.
        let (lo, hi) = match (w.coming.is_some(), w.at) {
            (true, None) => (w.dst, Bound::Included(w.last)),
            (true, Some(a)) => (w.dst, Bound::Excluded(a)),
            (false, at) => (at.unwrap_or(w.dst), Bound::Included(w.last)),
        };
        let (Bound::Included(h) | Bound::Excluded(h)) = hi else {
            return Vec::new();
        };
        // BTreeMap::range panics on an empty range given backwards or as (x, x) exclusive.
        if h < lo || (h == lo && matches!(hi, Bound::Excluded(_))) {
            return Vec::new();
        }
        let range = (Bound::Excluded(lo), hi);
        let plain = self.plain.range(range).map(|(p, _)| *p);
        let natives = self.natives.range(range).map(|(p, _)| *p);
        if w.coming.is_some() {
            merged(plain.rev(), natives.rev(), n, |a, b| a > b)
        } else {
            merged(plain, natives, n, |a, b| a < b)
        }
    }

    /// Continues the sweep under way: syncs at most [`SWEEP_CHUNK`] more destinations (so
    /// at most that many operations; the bound is on the destinations walked, so a chunk
    /// whose copies are all in place already is as short), and once it has synced them all, puts in the route
    /// and the rule that waited for the copies (see `Self::finish`). Nothing without a
    /// sweep.
    pub fn resume(&mut self, out: &mut Vec<Op>) {
        let Some(mut w) = self.sweep else {
            return;
        };
        let chunk = self.chunk.max(2);
        let start = out.len();
        let next = self.next_inside(&w, chunk);
        let exhausted = next.len() < chunk;
        for x in next {
            // At most two operations a destination.
            if out.len() - start + 2 > chunk {
                return;
            }
            // Synced from now on: the sweep counts its route for `x` as it will be.
            w.at = Some(x);
            self.sweep = Some(w);
            self.sync_copy(w.src, w.table, x, out);
        }
        if exhausted {
            self.sweep = None;
            self.finish(w, out);
        }
    }

    /// What a sweep leaves for after its copies: a coming route goes in (replacing a copy
    /// of its destination in place), its more specific sources' copies of its destination
    /// follow it, and the table's rule goes in with its first route; after a route went
    /// (its more specific sources' copies followed it at once), the plain routes are
    /// dropped after the last one.
    fn finish(&mut self, w: Sweep, out: &mut Vec<Op>) {
        if let Some((new, rule)) = w.coming {
            self.put_own(w.src, w.table, w.dst, new, out);
            if let Some(rule) = rule {
                out.push(Op::AddRule(rule));
            }
        }
        self.tables_released();
    }

    /// Puts `src`'s own route `new` to `d` in its table `table`, in place of its route
    /// there or of a copy of `d` that gives way, and has the more specific sources' copies
    /// of `d` follow it.
    fn put_own(&mut self, src: Prefix, table: u32, d: Prefix, new: KernelRoute, out: &mut Vec<Op>) {
        let have = self
            .natives
            .entry(d)
            .or_default()
            .insert(src, new)
            .or_else(|| self.copies.remove(&(src, d)));
        if have == Some(new) {
            out.push(Op::Route(table, RouteOp::Replace(new)));
        } else {
            transition(table, have, Some(new), out);
        }
        let sources = self.more_specific(src, d);
        self.sync_sources(sources, d, out);
    }

    /// After the last source table's route went and its copies with it: the plain routes
    /// are dropped, and the copies' map gives its room back (it does not shrink by itself;
    /// a table's worth of copies is megabytes).
    fn tables_released(&mut self) {
        if self.natives.is_empty() && self.sweep.is_none() {
            // No table left to copy into: every copy went with its table's routes.
            debug_assert!(self.copies.is_empty());
            self.plain = BTreeMap::new();
            self.copies = HashMap::new();
        } else if self.copies.capacity() > 64 && self.copies.len() < self.copies.capacity() / 4 {
            self.copies.shrink_to_fit();
        }
    }

    /// The operations for one change. Source-specific routes that need a source table go
    /// there (without the source prefix), the rule added with the table's first route and
    /// removed after its last.
    ///
    /// RFC 9079 §6: a `from SRC lookup TABLE` rule makes the lookup source-first, while
    /// source-specific routing must pick the most specific destination first. So each
    /// source table also holds copies of the routes to destinations strictly inside one of
    /// its own (plain routes, and source-specific ones of a less specific source), which
    /// the table's own route would otherwise wrongly catch; see `Planner::wanted_copy`. The
    /// copies follow every change of the routes they come from, in the same batch.
    ///
    /// A source table's route to a new destination, or one that goes, starts a sweep of
    /// the table's copies of the destinations inside it, which may be a whole table's
    /// worth: [`Self::resume`] plans it a chunk at a time (a coming route goes in after its
    /// copies, the rule with it). Changes of routes that go to no source table
    /// ([`Self::tabled`] false) may be planned between two chunks; the others wait for the
    /// sweep's end ([`Feed`] keeps them). One handed over anyway ends the sweep first.
    ///
    /// Cost: a plain route's change looks up its 33 (IPv4) or 129 (IPv6) less specific
    /// prefixes among the source-table destinations; a sweep's chunk is a range walk in two maps.
    /// The planner keeps each plain route of the families that use source tables (IPv4;
    /// IPv6 without `ipv6-subtrees`), as the kernel route it became, while a source table
    /// has a route: `reported` (the engine's reported routes, this change and the rest of
    /// its batch included) gives them when the first one comes.
    pub fn ops(&mut self, change: &RouteChange, out: &mut Vec<Op>, reported: &dyn Reported) {
        let r = change.route();
        let (Some(src), true) = (r.src_prefix, self.config.needs_source_table(r)) else {
            let mut v = Vec::new();
            self.config.ops(change, &mut v);
            out.extend(v.into_iter().map(|(t, op)| Op::Route(t, op)));
            if r.src_prefix.is_none()
                && self.tables_in_use()
                && self.config.tabled_family(&r.prefix)
            {
                self.plain_changed(change, r, out);
            }
            return;
        };
        while self.busy() {
            self.resume(out);
        }
        self.source_ops(change, r, src, out, reported);
    }

    /// A plain route changed while source tables exist: its copies follow. (Out of line,
    /// as the rest of the source tables' work: most daemons never run it, and a router keeps
    /// only the code it runs in memory.)
    #[cold]
    #[inline(never)]
    fn plain_changed(&mut self, change: &RouteChange, r: &InstalledRoute, out: &mut Vec<Op>) {
        match change {
            RouteChange::Retract(_) => self.plain.remove(&r.prefix),
            _ => self
                .plain
                .insert(r.prefix, kernel_route(r, self.config.priority(r))),
        };
        let sources = self.covering_sources(r.prefix);
        self.sync_sources(sources, r.prefix, out);
    }

    /// The operations for a change of a route that goes into source `src`'s table (no
    /// sweep is under way).
    #[cold]
    #[inline(never)]
    fn source_ops(
        &mut self,
        change: &RouteChange,
        r: &InstalledRoute,
        src: Prefix,
        out: &mut Vec<Op>,
        reported: &dyn Reported,
    ) {
        let d = r.prefix;
        let plain = |r: &InstalledRoute, p: u32| KernelRoute {
            src: None,
            ..kernel_route(r, p)
        };
        match change {
            RouteChange::Install(r) | RouteChange::Change { new: r, .. } => {
                let new = plain(r, self.config.priority(r));
                if self.natives.get(&d).is_some_and(|m| m.contains_key(&src)) {
                    let Some(table) = self.config.source_tables.table(src) else {
                        return;
                    };
                    self.put_own(src, table, d, new, out);
                    return;
                }
                let (table, rule) = match self.config.source_tables.acquire(src) {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("cannot install {d} from {src}: {e}");
                        return;
                    }
                };
                if self.natives.is_empty() {
                    self.read_plain(reported);
                }
                // The copies the new route would otherwise catch go in first, the most
                // specific first; the route, its more specific sources' copies and the rule
                // when the sweep ends (see `finish`).
                self.sweep = Some(Sweep::new(src, table, d, Some((new, rule))));
            }
            RouteChange::Retract(r) => {
                let Some(m) = self.natives.get_mut(&d) else {
                    return;
                };
                if m.remove(&src).is_none() {
                    return;
                }
                if m.is_empty() {
                    self.natives.remove(&d);
                }
                if let Some(table) = self.config.source_tables.table(src) {
                    let rule = self.config.source_tables.release(src);
                    if let Some(rule) = rule {
                        out.push(Op::RemoveRule(rule));
                    }
                    // A copy of `d` takes the route's place (atomically under the same key),
                    // and its more specific sources' copies of `d` follow it out at once
                    // (they do not depend on this table's copies); then the copies it
                    // caught go, the least specific first, a chunk at a time.
                    let want = self.wanted_copy(src, d);
                    transition(table, Some(plain(r, self.config.priority(r))), want, out);
                    self.set_copy(src, d, want);
                    self.sweep = Some(Sweep::new(src, table, d, None));
                    let sources = self.more_specific(src, d);
                    self.sync_sources(sources, d, out);
                }
                self.tables_released();
            }
        }
    }

    /// Reads the plain routes of the families that use source tables from the engine's
    /// reported routes (the first source table is about to get a route).
    fn read_plain(&mut self, reported: &dyn Reported) {
        let mut plain = BTreeMap::new();
        reported.each_reported(&mut |r| {
            if r.src_prefix.is_none() && self.config.tabled_family(&r.prefix) {
                plain.insert(r.prefix, kernel_route(&r, self.config.priority(&r)));
            }
        });
        self.plain = plain;
    }
}

/// The first `n` prefixes of two sorted walks merged (`first(a, b)`: `a` comes before `b`),
/// each once.
fn merged(
    a: impl Iterator<Item = Prefix>,
    b: impl Iterator<Item = Prefix>,
    n: usize,
    first: impl Fn(Prefix, Prefix) -> bool,
) -> Vec<Prefix> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    let mut out = Vec::with_capacity(n.min(1024));
    while out.len() < n {
        let next = match (a.peek(), b.peek()) {
            (Some(&x), Some(&y)) if x == y => {
                b.next();
                a.next()
            }
            (Some(&x), Some(&y)) if !first(x, y) => b.next(),
            (Some(_), _) => a.next(),
            (None, _) => b.next(),
        };
        match next {
            Some(p) => out.push(p),
            None => break,
        }
    }
    out
}

/// The copies of a source table's destinations strictly inside `dst`, brought in line a
/// chunk at a time after the table's own route to `dst` came or went
/// ([`Planner::resume`]). Between two chunks the planner counts the route as there for the
/// destinations synced (coming) or not yet synced (going): in (address, length) order the
/// synced ones are those from `at` up (coming) or up to `at` (going), so a destination and
/// every one inside it are always on the same side, and a plain change in between syncs
/// its copy as that side says.
#[derive(Clone, Copy, Debug)]
struct Sweep {
    src: Prefix,
    table: u32,
    dst: Prefix,
    /// The host prefix of `dst`'s last address: the last destination inside it.
    last: Prefix,
    /// The route coming and the rule that goes in with it (a table's first route); None:
    /// the route went.
    coming: Option<(KernelRoute, Option<SourceRule>)>,
    /// The last destination synced.
    at: Option<Prefix>,
}

impl Sweep {
    fn new(
        src: Prefix,
        table: u32,
        dst: Prefix,
        coming: Option<(KernelRoute, Option<SourceRule>)>,
    ) -> Self {
        let last = match dst.addr() {
            IpAddr::V4(a) => {
                let host = u32::MAX.checked_shr(u32::from(dst.plen())).unwrap_or(0);
                Prefix::v4(Ipv4Addr::from(u32::from(a) | host), 32)
            }
            IpAddr::V6(a) => {
                let host = u128::MAX.checked_shr(u32::from(dst.plen())).unwrap_or(0);
                Prefix::v6(Ipv6Addr::from(u128::from(a) | host), 128)
            }
        };
        Sweep {
            src,
            table,
            dst,
            last: last.unwrap_or(dst),
            coming,
            at: None,
        }
    }

    /// Whether destination `x` has been synced.
    fn synced(&self, x: Prefix) -> bool {
        match self.at {
            None => false,
            Some(a) if self.coming.is_some() => x >= a,
            Some(a) => x <= a,
        }
    }

    /// Whether the planner counts the route to `dst` as in `src`'s table for destination
    /// `x`.
    fn covers(&self, x: Prefix) -> bool {
        x != self.dst && self.dst.contains(&x) && self.synced(x) == self.coming.is_some()
    }
}

/// Most changes of source tables' routes that wait while a sweep is under way; the daemon
/// takes no more from the engine until they are planned (the engine keeps them, merged).
pub const MAX_WAITING: usize = 1024;

/// The planner between the engine and the installer thread, with the changes that wait for
/// a sweep of copies to end (those of source tables' routes; the others are planned between
/// two of its chunks). Changes of one route keep their order, merged while they wait (see
/// `Feed::wait`); changes of different routes may be planned in another order than the
/// engine's, as the engine itself merges them.
#[derive(Debug)]
pub struct Feed {
    pub planner: Planner,
    waiting: VecDeque<RouteChange>,
}

impl Feed {
    pub fn new(planner: Planner) -> Self {
        Feed {
            planner,
            waiting: VecDeque::new(),
        }
    }

    /// Plans `changes` into `out`, a sweep that one starts with its first chunk; those that
    /// must wait for a sweep (or behind others that wait) are kept for [`Feed::step`]. At
    /// most one sweep starts per call: once one has, the source tables' changes after it
    /// wait too, even if it ended within its first chunk (a sweep of fewer destinations
    /// than a chunk), so that one message carries at most one chunk of copies however many
    /// small sweeps the batch would start.
    pub fn plan(&mut self, changes: &[RouteChange], out: &mut Vec<Op>, reported: &dyn Reported) {
        let mut swept = false;
        for c in changes {
            if self.planner.tabled(c) && (swept || self.planner.busy() || !self.waiting.is_empty())
            {
                self.wait(c);
                continue;
            }
            let idle = !self.planner.busy();
            self.planner.ops(c, out, reported);
            if idle && self.planner.busy() {
                swept = true;
                self.planner.resume(out);
            }
        }
    }

    /// One bounded step of the work left, into `out`: the sweep's next chunk, or else the
    /// changes that waited, in order, until one starts a sweep (with its first chunk).
    /// Returns whether there was any.
    pub fn step(&mut self, out: &mut Vec<Op>, reported: &dyn Reported) -> bool {
        if self.planner.busy() {
            self.planner.resume(out);
            return true;
        }
        if self.waiting.is_empty() {
            return false;
        }
        while let Some(c) = self.waiting.pop_front() {
            self.planner.ops(&c, out, reported);
            if self.planner.busy() {
                self.planner.resume(out);
                break;
            }
        }
        if self.waiting.is_empty() {
            self.waiting = VecDeque::new();
        }
        true
    }

    /// Queues a change that must wait, merged with the one of its route that waits already
    /// (at most one does; nothing of either is planned yet): a route that came and went
    /// meanwhile is forgotten, one that changed twice changes once, one that went and came
    /// back changes in place (no sweep out and in), one that came back as it was is left
    /// alone. The merged change keeps the first one's place: changes of one route keep
    /// their order, those of different routes need not.
    fn wait(&mut self, c: &RouteChange) {
        let key = |c: &RouteChange| (c.route().prefix, c.route().src_prefix);
        let k = key(c);
        let Some(i) = self.waiting.iter().position(|w| key(w) == k) else {
            self.waiting.push_back(c.clone());
            return;
        };
        let old = match &self.waiting[i] {
            RouteChange::Install(_) => None,
            RouteChange::Retract(o) | RouteChange::Change { old: o, .. } => Some(o.clone()),
        };
        let new = match c {
            RouteChange::Install(n) | RouteChange::Change { new: n, .. } => Some(n.clone()),
            RouteChange::Retract(_) => None,
        };
        match (old, new) {
            (None, None) => {
                self.waiting.remove(i);
            }
            (Some(o), Some(n)) if o == n => {
                self.waiting.remove(i);
            }
            (None, Some(n)) => self.waiting[i] = RouteChange::Install(n),
            (Some(o), None) => self.waiting[i] = RouteChange::Retract(o),
            (Some(old), Some(new)) => self.waiting[i] = RouteChange::Change { old, new },
        }
    }

    /// Whether a sweep is under way or changes wait.
    pub fn pending(&self) -> bool {
        self.planner.busy() || !self.waiting.is_empty()
    }

    /// Whether fewer than [`MAX_WAITING`] changes wait.
    pub fn takes_changes(&self) -> bool {
        self.waiting.len() < MAX_WAITING
    }

    fn clear(&mut self) {
        self.planner.clear();
        self.waiting = VecDeque::new();
    }
}

/// The operations that take a table's route to one destination from `have` to `want` with
/// no moment without either: an atomic replace under the same key (destination and
/// priority), else the add before the removal.
fn transition(table: u32, have: Option<KernelRoute>, want: Option<KernelRoute>, out: &mut Vec<Op>) {
    match (have, want) {
        (None, None) => {}
        (Some(h), Some(w)) if h == w => {}
        (None, Some(w)) => out.push(Op::Route(table, RouteOp::Add(w))),
        (Some(h), None) => out.push(Op::Route(table, RouteOp::Remove(h))),
        (Some(h), Some(w)) if h.metric == w.metric => {
            out.push(Op::Route(table, RouteOp::Replace(w)))
        }
        (Some(h), Some(w)) => {
            out.push(Op::Route(table, RouteOp::Add(w)));
            out.push(Op::Route(table, RouteOp::Remove(h)));
        }
    }
}

impl Kernel {
    /// Starts the installer thread.
    pub fn start(config: KernelConfig) -> std::io::Result<Kernel> {
        let (tx, rx) = mpsc::channel();
        let table = config.table;
        let progress = Arc::new(Progress::default());
        let p = progress.clone();
        let thread = std::thread::Builder::new()
            .name("routed-kernel".into())
            .spawn(move || installer_thread(rx, table, p))?;
        let mut tables = BTreeSet::new();
        tables.insert(table);
        Ok(Kernel {
            feed: Feed::new(Planner::new(config)),
            tx: Some(tx),
            thread: Some(thread),
            progress,
            tables,
        })
    }

    /// Whether the installer thread has room for more operations (fewer than
    /// [`IN_FLIGHT`] queued). A thread that is gone has room: what is sent to it is
    /// dropped (and said once) rather than holding the engine's route changes forever.
    pub fn has_room(&self) -> bool {
        if self.progress.in_flight.load(Ordering::Acquire) < IN_FLIGHT {
            return true;
        }
        let gone = self.thread.as_ref().is_none_or(|t| t.is_finished());
        if gone && !self.progress.gone_reported.swap(true, Ordering::AcqRel) {
            tracing::error!(
                "the kernel route installer stopped: routes no longer reach the kernel"
            );
        }
        gone
    }

    /// Completes when the installer thread has made room after [`Kernel::has_room`] said no
    /// (possibly at once, if it made room in between).
    pub async fn room(&self) {
        self.progress.room.notified().await
    }

    pub fn config(&self) -> &KernelConfig {
        &self.feed.planner.config
    }

    /// A link changed (the monitor said so): the installer thread reads the kernel's link
    /// notifications now, in parallel with the engine's reaction, rather than when its route
    /// changes arrive.
    pub fn links_changed(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Links);
        }
    }

    /// `counter NAME VALUE` lines of the installer thread's nexthop object counters.
    pub fn counters(&self) -> String {
        let mut out = String::new();
        for (name, c) in NEXTHOP_COUNTERS.iter().zip(&self.progress.nexthops) {
            out.push_str(&format!("counter {name} {}\n", c.load(Ordering::Relaxed)));
        }
        out
    }

    /// Queues a batch of changes (in order) for the installer thread, then, if it has room,
    /// one step of the work left (a sweep's next chunk, or the changes that waited for it;
    /// see [`Feed`]): called again with no changes, the next step. The engine's next
    /// changes thus get their turn between two chunks of a sweep.
    pub fn apply(&mut self, changes: &[RouteChange], reported: &dyn Reported) {
        if !changes.is_empty() {
            let mut ops = Vec::with_capacity(changes.len() + 4);
            self.feed.plan(changes, &mut ops, reported);
            self.send(ops);
        }
        if self.feed.pending() && self.has_room() {
            let mut ops = Vec::new();
            self.feed.step(&mut ops, reported);
            self.send(ops);
        }
    }

    /// Whether work is left ([`Kernel::apply`] continues it while there is room).
    pub fn pending(&self) -> bool {
        self.feed.pending()
    }

    /// Whether more changes may be handed over: not while [`MAX_WAITING`] wait for a sweep.
    pub fn takes_changes(&self) -> bool {
        self.feed.takes_changes()
    }

    fn send(&mut self, ops: Vec<Op>) {
        if ops.is_empty() {
            return;
        }
        for op in &ops {
            if let Op::Route(t, _) = op {
                self.tables.insert(*t);
            }
        }
        if let Some(tx) = &self.tx {
            let n = ops.len();
            self.progress.in_flight.fetch_add(n, Ordering::AcqRel);
            if tx.send(Msg::Ops(ops)).is_err() {
                self.progress.in_flight.fetch_sub(n, Ordering::AcqRel);
            }
        }
    }

    /// Removes every protocol-42 route from `extra` tables, every table used so far and the
    /// source tables, and our source rules, after the queued operations. Blocks until done;
    /// returns how many routes were removed.
    pub fn purge(&mut self, extra: &[u32]) -> usize {
        let mut tables: Vec<u32> = self.tables.iter().copied().collect();
        for t in extra
            .iter()
            .copied()
            .chain(self.feed.planner.config.source_tables.tables())
        {
            if !tables.contains(&t) {
                tables.push(t);
            }
        }
        let source_tables = self.feed.planner.config.source_tables.clone();
        self.feed.planner.config.source_tables.clear();
        self.feed.clear();
        let (done_tx, done_rx) = mpsc::channel();
        match &self.tx {
            Some(tx) if tx.send(Msg::Purge(tables, source_tables, done_tx)).is_ok() => {
                done_rx.recv().unwrap_or(0)
            }
            _ => 0,
        }
    }

    /// Stops the thread after the queued operations.
    pub fn stop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netdriver::NextHop;

    fn route(metric: u16, table: Option<u32>) -> InstalledRoute {
        InstalledRoute {
            prefix: "10.1.0.0/16".parse().unwrap(),
            src_prefix: None,
            next_hop: "fe80::1".parse().unwrap(),
            ifindex: 3,
            metric,
            table,
            pref_src: None,
        }
    }

    fn refused(at: usize, errno: i32) -> (usize, netdriver::RouteError) {
        (
            at,
            netdriver::RouteError {
                op: "add",
                dst: None,
                src: None,
                kind: netdriver::RouteErrorKind::Kernel {
                    errno,
                    text: String::new(),
                },
            },
        )
    }

    #[test]
    fn only_an_add_refused_with_eexist_marks_a_route_as_someone_elses() {
        let digest = |k: &KernelRoute| u64::from(k.metric);
        let add = |metric| RouteOp::Add(kernel_route(&route(96, None), metric));
        let mut theirs = HashSet::new();
        // Five adds: one finds a foreign route, the others fail otherwise or succeed.
        let batch = [add(1), add(2), add(3), add(4), add(5)];
        let errors = [
            refused(0, libc::EEXIST),
            refused(1, libc::ENETUNREACH),
            refused(2, libc::ENODEV),
            (
                3,
                netdriver::RouteError {
                    op: "add",
                    dst: None,
                    src: None,
                    kind: netdriver::RouteErrorKind::Io {
                        errno: libc::ENOBUFS,
                        text: String::new(),
                    },
                },
            ),
        ];
        note_foreign(&mut theirs, &batch, &errors, &digest);
        assert_eq!(theirs, HashSet::from([1]), "only the EEXIST one is foreign");
        // A later add of the foreign key that fails otherwise keeps it marked; one that
        // succeeds, or a remove, forgets it.
        note_foreign(&mut theirs, &[add(1)], &[refused(0, libc::ENODEV)], &digest);
        assert_eq!(theirs, HashSet::from([1]));
        note_foreign(&mut theirs, &[add(1)], &[], &digest);
        assert!(theirs.is_empty());
        note_foreign(&mut theirs, &[add(7)], &[refused(0, libc::EEXIST)], &digest);
        let remove = RouteOp::Remove(kernel_route(&route(96, None), 7));
        note_foreign(&mut theirs, &[remove], &[], &digest);
        assert!(theirs.is_empty());
        // An error index past the batch is ignored, not a panic.
        note_foreign(&mut theirs, &[], &[refused(3, libc::EEXIST)], &digest);
        assert!(theirs.is_empty());
    }

    #[test]
    fn new_routes_are_adds_and_changes_atomic_replaces() {
        let c = KernelConfig {
            table: 254,
            priority: 0,
            reflect_metric: false,
            source_tables: SourceTables::default(),
            ipv6_subtrees: true,
        };
        let mut ops = Vec::new();
        c.ops(&RouteChange::Install(route(96, None)), &mut ops);
        c.ops(
            &RouteChange::Change {
                old: route(96, None),
                new: route(INFINITY, None),
            },
            &mut ops,
        );
        c.ops(&RouteChange::Retract(route(INFINITY, None)), &mut ops);
        assert_eq!(ops.len(), 3, "{ops:?}");
        match ops[0] {
            (254, RouteOp::Add(k)) => {
                assert_eq!(
                    k.next_hop,
                    NextHop::Gateway {
                        gateway: "fe80::1".parse().unwrap(),
                        ifindex: 3
                    }
                )
            }
            ref o => panic!("{o:?}"),
        }
        // A held route is replaced in place by an unreachable one: no gap.
        assert!(matches!(
            ops[1],
            (
                254,
                RouteOp::Replace(KernelRoute {
                    next_hop: NextHop::Unreachable,
                    ..
                })
            )
        ));
        assert!(matches!(ops[2], (254, RouteOp::Remove(_))));
    }

    #[test]
    fn table_or_priority_change_adds_before_removing() {
        let c = KernelConfig {
            table: 254,
            priority: 10,
            reflect_metric: true,
            source_tables: SourceTables::default(),
            ipv6_subtrees: true,
        };
        let mut ops = Vec::new();
        c.ops(
            &RouteChange::Change {
                old: route(96, None),
                new: route(192, Some(100)),
            },
            &mut ops,
        );
        assert!(
            matches!(ops[0], (100, RouteOp::Add(KernelRoute { metric: 202, .. }))),
            "{ops:?}"
        );
        assert!(
            matches!(
                ops[1],
                (254, RouteOp::Remove(KernelRoute { metric: 106, .. }))
            ),
            "{ops:?}"
        );
    }

    fn ss(prefix: &str, src: &str, metric: u16) -> InstalledRoute {
        InstalledRoute {
            prefix: prefix.parse().unwrap(),
            src_prefix: Some(src.parse().unwrap()),
            ..route(metric, None)
        }
    }

    #[test]
    fn without_ipv6_subtrees_ipv6_source_specific_routes_use_a_source_table_too() {
        let mut p = Planner::new(KernelConfig {
            table: 254,
            priority: 0,
            reflect_metric: false,
            source_tables: SourceTables::new(10, 2, 100),
            ipv6_subtrees: false,
        });
        let mut e = Reports::default();
        let mut ops = Vec::new();
        let mut r = ss("2001:db8::/32", "2001:db8:1::/48", 96);
        r.next_hop = "fe80::1".parse().unwrap();
        step(&mut p, &mut e, &RouteChange::Install(r.clone()), &mut ops);
        assert!(
            matches!(&ops[..], [Op::Route(10, RouteOp::Add(k)), Op::AddRule(rule)]
                if k.dst == r.prefix && k.src.is_none()
                    && rule.src == r.src_prefix.unwrap() && rule.table == 10),
            "{ops:?}"
        );
        ops.clear();
        step(&mut p, &mut e, &RouteChange::Retract(r), &mut ops);
        assert!(
            matches!(
                ops[..],
                [Op::RemoveRule(_), Op::Route(10, RouteOp::Remove(_))]
            ),
            "{ops:?}"
        );
        // A plain IPv6 route is unaffected.
        ops.clear();
        let plain = InstalledRoute {
            prefix: "2001:db8:2::/48".parse().unwrap(),
            ..route(96, None)
        };
        step(&mut p, &mut e, &RouteChange::Install(plain), &mut ops);
        assert!(matches!(ops[..], [Op::Route(254, _)]), "{ops:?}");
    }

    #[test]
    fn ipv4_source_specific_routes_use_a_source_table_and_a_rule() {
        let mut p = Planner::new(KernelConfig {
            table: 254,
            priority: 0,
            reflect_metric: false,
            source_tables: SourceTables::new(10, 2, 100),
            ipv6_subtrees: true,
        });
        let mut e = Reports::default();
        let mut ops = Vec::new();
        let a = ss("10.1.0.0/16", "192.168.1.0/24", 96);
        let b = ss("10.2.0.0/16", "192.168.1.0/24", 96);
        step(&mut p, &mut e, &RouteChange::Install(a.clone()), &mut ops);
        // The route first (without its source prefix), then the rule.
        assert_eq!(ops.len(), 2, "{ops:?}");
        match &ops[0] {
            Op::Route(10, RouteOp::Add(k)) => {
                assert_eq!((k.dst, k.src), (a.prefix, None));
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(
            ops[1],
            Op::AddRule(SourceRule {
                priority: 108,
                src: "192.168.1.0/24".parse().unwrap(),
                table: 10
            })
        );
        ops.clear();
        // A second destination from the same source shares the table; installing the same
        // route twice does not count it twice.
        step(&mut p, &mut e, &RouteChange::Install(b.clone()), &mut ops);
        step(&mut p, &mut e, &RouteChange::Install(b.clone()), &mut ops);
        assert!(
            matches!(
                ops[..],
                [
                    Op::Route(10, RouteOp::Add(_)),
                    Op::Route(10, RouteOp::Replace(_))
                ]
            ),
            "{ops:?}"
        );
        ops.clear();
        step(
            &mut p,
            &mut e,
            &RouteChange::Change {
                old: a.clone(),
                new: ss("10.1.0.0/16", "192.168.1.0/24", INFINITY),
            },
            &mut ops,
        );
        assert!(matches!(
            ops[..],
            [Op::Route(
                10,
                RouteOp::Replace(KernelRoute {
                    next_hop: NextHop::Unreachable,
                    src: None,
                    ..
                })
            )]
        ));
        ops.clear();
        step(&mut p, &mut e, &RouteChange::Retract(a.clone()), &mut ops);
        assert!(
            matches!(ops[..], [Op::Route(10, RouteOp::Remove(_))]),
            "{ops:?}"
        );
        ops.clear();
        // The last route out: the rule goes first, then the route.
        step(&mut p, &mut e, &RouteChange::Retract(b.clone()), &mut ops);
        assert!(
            matches!(ops[..], [Op::RemoveRule(r), Op::Route(10, RouteOp::Remove(_))] if r.table == 10),
            "{ops:?}"
        );
        ops.clear();
        // IPv6 source-specific routes stay native.
        step(
            &mut p,
            &mut e,
            &RouteChange::Install(ss("2001:db8::/32", "2001:db8:1::/48", 96)),
            &mut ops,
        );
        assert!(
            matches!(ops[..], [Op::Route(254, RouteOp::Add(k))] if k.src.is_some()),
            "{ops:?}"
        );
        ops.clear();
        // More sources than tables: the extra one is not installed, nothing is reused.
        for (i, src) in ["172.16.0.0/16", "172.17.0.0/16", "172.18.0.0/16"]
            .iter()
            .enumerate()
        {
            step(
                &mut p,
                &mut e,
                &RouteChange::Install(ss(&format!("10.{}.0.0/16", 50 + i), src, 96)),
                &mut ops,
            );
        }
        let rules: Vec<u32> = ops
            .iter()
            .filter_map(|o| match o {
                Op::AddRule(r) => Some(r.table),
                _ => None,
            })
            .collect();
        assert_eq!(rules, vec![10, 11]);
    }

    fn planner(reflect_metric: bool) -> Planner {
        Planner::new(KernelConfig {
            table: 254,
            priority: 0,
            reflect_metric,
            source_tables: SourceTables::new(10, 4, 100),
            ipv6_subtrees: true,
        })
    }

    fn via(prefix: &str, src: Option<&str>, nh: &str, metric: u16) -> InstalledRoute {
        InstalledRoute {
            prefix: prefix.parse().unwrap(),
            src_prefix: src.map(|s| s.parse().unwrap()),
            next_hop: nh.parse().unwrap(),
            ..route(metric, None)
        }
    }

    /// The (table, op kind, destination, gateway) of each route op, and the rules' tables.
    fn summary(ops: &[Op]) -> Vec<String> {
        ops.iter()
            .map(|o| match o {
                Op::Route(t, op) => {
                    let (kind, k) = match op {
                        RouteOp::Add(k) => ("add", k),
                        RouteOp::Replace(k) => ("replace", k),
                        RouteOp::Remove(k) => ("remove", k),
                    };
                    let gw = match k.next_hop {
                        NextHop::Gateway { gateway, .. } => gateway.to_string(),
                        ref other => format!("{other:?}"),
                    };
                    format!("{t} {kind} {} via {gw} metric {}", k.dst, k.metric)
                }
                Op::AddRule(r) => format!("add rule {} {}", r.src, r.table),
                Op::RemoveRule(r) => format!("remove rule {} {}", r.src, r.table),
            })
            .collect()
    }

    /// The engine's reported routes, kept as `Node::poll_route` keeps them.
    #[derive(Default)]
    struct Reports(BTreeMap<(Prefix, Option<Prefix>), InstalledRoute>);

    impl Reported for Reports {
        fn each_reported(&self, f: &mut dyn FnMut(InstalledRoute)) {
            self.0.values().cloned().for_each(f);
        }
    }

    /// One change as the daemon hands it over: reported by the engine, then planned.
    fn step(p: &mut Planner, e: &mut Reports, change: &RouteChange, ops: &mut Vec<Op>) {
        match change {
            RouteChange::Install(r) | RouteChange::Change { new: r, .. } => {
                e.0.insert((r.prefix, r.src_prefix), r.clone());
            }
            RouteChange::Retract(r) => {
                e.0.remove(&(r.prefix, r.src_prefix));
            }
        }
        plan(p, change, ops, e);
    }

    /// Plans one change and the whole sweep it starts, if any.
    fn plan(p: &mut Planner, change: &RouteChange, ops: &mut Vec<Op>, e: &dyn Reported) {
        p.ops(change, ops, e);
        while p.busy() {
            p.resume(ops);
        }
    }

    /// [`run`] for the install of a route of metric 96 to `d`, from `s`, through `nh`.
    fn install(
        p: &mut Planner,
        e: &mut Reports,
        d: &str,
        s: Option<&str>,
        nh: &str,
    ) -> Vec<String> {
        run(p, e, RouteChange::Install(via(d, s, nh, 96)))
    }

    fn run(p: &mut Planner, e: &mut Reports, change: RouteChange) -> Vec<String> {
        let mut ops = Vec::new();
        step(p, e, &change, &mut ops);
        summary(&ops)
    }

    #[test]
    fn rfc9079_6_a_more_specific_plain_route_is_copied_into_the_source_table() {
        // (10.0.0.0/8 from 192.168.0.0/16) and a plain 10.1.0.0/16: a packet from
        // 192.168.1.1 to 10.1.2.3 must take the /16, so the source table holds it too.
        let mut p = planner(false);
        let mut e = Reports::default();
        let plain = via("10.1.0.0/16", None, "192.0.2.16", 96);
        let ss = via("10.0.0.0/8", Some("192.168.0.0/16"), "192.0.2.8", 96);
        assert_eq!(
            run(&mut p, &mut e, RouteChange::Install(plain.clone())),
            ["254 add 10.1.0.0/16 via 192.0.2.16 metric 0"]
        );
        // Without a source table nothing is kept: the plain route is read from the engine's
        // reports when the first source-specific route comes.
        assert!(p.plain.is_empty());
        // The copy goes in with the table's own route, before the rule makes it live.
        assert_eq!(
            run(&mut p, &mut e, RouteChange::Install(ss.clone())),
            [
                "10 add 10.1.0.0/16 via 192.0.2.16 metric 0",
                "10 add 10.0.0.0/8 via 192.0.2.8 metric 0",
                "add rule 192.168.0.0/16 10",
            ]
        );
        // Neither a plain route to the same destination nor one outside it is copied.
        assert_eq!(
            install(&mut p, &mut e, "10.0.0.0/8", None, "192.0.2.1"),
            ["254 add 10.0.0.0/8 via 192.0.2.1 metric 0"]
        );
        assert_eq!(
            install(&mut p, &mut e, "172.16.0.0/12", None, "192.0.2.1"),
            ["254 add 172.16.0.0/12 via 192.0.2.1 metric 0"]
        );
        // A new next hop, a hold (unreachable), a retraction and a return: the copy follows.
        let moved = via("10.1.0.0/16", None, "192.0.2.17", 96);
        assert_eq!(
            run(
                &mut p,
                &mut e,
                RouteChange::Change {
                    old: plain.clone(),
                    new: moved.clone()
                }
            ),
            [
                "254 replace 10.1.0.0/16 via 192.0.2.17 metric 0",
                "10 replace 10.1.0.0/16 via 192.0.2.17 metric 0",
            ]
        );
        let held = via("10.1.0.0/16", None, "192.0.2.17", INFINITY);
        assert_eq!(
            run(
                &mut p,
                &mut e,
                RouteChange::Change {
                    old: moved,
                    new: held.clone()
                }
            ),
            [
                "254 replace 10.1.0.0/16 via Unreachable metric 0",
                "10 replace 10.1.0.0/16 via Unreachable metric 0",
            ]
        );
        assert_eq!(
            run(&mut p, &mut e, RouteChange::Retract(held)),
            [
                "254 remove 10.1.0.0/16 via Unreachable metric 0",
                "10 remove 10.1.0.0/16 via Unreachable metric 0",
            ]
        );
        assert_eq!(
            run(&mut p, &mut e, RouteChange::Install(plain.clone())),
            [
                "254 add 10.1.0.0/16 via 192.0.2.16 metric 0",
                "10 add 10.1.0.0/16 via 192.0.2.16 metric 0",
            ]
        );
        // The source-specific route goes: the rule, its route, then the copy.
        assert_eq!(
            run(&mut p, &mut e, RouteChange::Retract(ss)),
            [
                "remove rule 192.168.0.0/16 10",
                "10 remove 10.0.0.0/8 via 192.0.2.8 metric 0",
                "10 remove 10.1.0.0/16 via 192.0.2.16 metric 0",
            ]
        );
        assert!(p.copies.is_empty());
        assert!(
            p.plain.is_empty(),
            "the plain routes are dropped with the last table"
        );
        // Now plain changes touch the main table only.
        assert_eq!(
            run(&mut p, &mut e, RouteChange::Retract(plain)),
            ["254 remove 10.1.0.0/16 via 192.0.2.16 metric 0"]
        );
    }

    #[test]
    fn rfc9079_6_a_copy_changes_key_with_its_priority() {
        let mut p = planner(true);
        let mut e = Reports::default();
        install(
            &mut p,
            &mut e,
            "10.0.0.0/8",
            Some("192.168.0.0/16"),
            "192.0.2.8",
        );
        let plain = via("10.1.0.0/16", None, "192.0.2.16", 96);
        assert_eq!(
            run(&mut p, &mut e, RouteChange::Install(plain.clone())),
            [
                "254 add 10.1.0.0/16 via 192.0.2.16 metric 96",
                "10 add 10.1.0.0/16 via 192.0.2.16 metric 96",
            ]
        );
        // With reflect-kernel-metric a new metric is a new key: add, then remove.
        assert_eq!(
            run(
                &mut p,
                &mut e,
                RouteChange::Change {
                    old: plain,
                    new: via("10.1.0.0/16", None, "192.0.2.16", 128)
                }
            ),
            [
                "254 add 10.1.0.0/16 via 192.0.2.16 metric 128",
                "254 remove 10.1.0.0/16 via 192.0.2.16 metric 96",
                "10 add 10.1.0.0/16 via 192.0.2.16 metric 128",
                "10 remove 10.1.0.0/16 via 192.0.2.16 metric 96",
            ]
        );
    }

    #[test]
    fn rfc9079_6_source_specific_routes_of_a_less_specific_source_are_copied_too() {
        let mut p = planner(false);
        let mut e = Reports::default();
        // (10.0.0.0/8 from 192.168.1.0/24) would catch packets from 192.168.1.1 to
        // 10.1.2.3, which (10.1.0.0/16 from 192.168.0.0/16) must take: it is copied into the
        // /24's table, and preferred there to a plain 10.1.0.0/16 (a more specific source).
        install(&mut p, &mut e, "10.1.0.0/16", None, "192.0.2.16");
        let wide = via("10.1.0.0/16", Some("192.168.0.0/16"), "192.0.2.32", 96);
        assert_eq!(
            run(&mut p, &mut e, RouteChange::Install(wide.clone())),
            [
                "10 add 10.1.0.0/16 via 192.0.2.32 metric 0",
                "add rule 192.168.0.0/16 10"
            ]
        );
        assert_eq!(
            install(
                &mut p,
                &mut e,
                "10.0.0.0/8",
                Some("192.168.1.0/24"),
                "192.0.2.8"
            ),
            [
                "11 add 10.1.0.0/16 via 192.0.2.32 metric 0",
                "11 add 10.0.0.0/8 via 192.0.2.8 metric 0",
                "add rule 192.168.1.0/24 11",
            ]
        );
        // The source-specific origin changes next hop: the copy follows.
        let moved = via("10.1.0.0/16", Some("192.168.0.0/16"), "192.0.2.33", 96);
        assert_eq!(
            run(
                &mut p,
                &mut e,
                RouteChange::Change {
                    old: wide,
                    new: moved.clone()
                }
            ),
            [
                "10 replace 10.1.0.0/16 via 192.0.2.33 metric 0",
                "11 replace 10.1.0.0/16 via 192.0.2.33 metric 0",
            ]
        );
        // It goes: the plain route takes the copy's place.
        assert_eq!(
            run(&mut p, &mut e, RouteChange::Retract(moved)),
            [
                "remove rule 192.168.0.0/16 10",
                "10 remove 10.1.0.0/16 via 192.0.2.33 metric 0",
                "11 replace 10.1.0.0/16 via 192.0.2.16 metric 0",
            ]
        );
        // The /24's table gets a route of its own to 10.1.0.0/16: it replaces the copy in
        // place (the same key), and the copy replaces it when it goes, so that no packet
        // from the /24 to 10.1.0.0/16 falls to 10.0.0.0/8 in between.
        let own = via("10.1.0.0/16", Some("192.168.1.0/24"), "192.0.2.24", 96);
        assert_eq!(
            run(&mut p, &mut e, RouteChange::Install(own.clone())),
            ["11 replace 10.1.0.0/16 via 192.0.2.24 metric 0"]
        );
        assert_eq!(
            run(&mut p, &mut e, RouteChange::Retract(own)),
            ["11 replace 10.1.0.0/16 via 192.0.2.16 metric 0"]
        );
    }

    #[test]
    fn rfc9079_6_copies_go_in_before_a_wider_route_of_a_live_table() {
        let mut p = planner(false);
        let mut e = Reports::default();
        install(&mut p, &mut e, "10.1.0.0/16", None, "192.0.2.16");
        // The table of 192.168.0.0/16 is live (its rule is in) with an unrelated route.
        install(
            &mut p,
            &mut e,
            "172.16.0.0/12",
            Some("192.168.0.0/16"),
            "192.0.2.12",
        );
        // From 192.168.1.1, 10.1.2.3 must never take the new /8: the copy goes in first.
        assert_eq!(
            install(
                &mut p,
                &mut e,
                "10.0.0.0/8",
                Some("192.168.0.0/16"),
                "192.0.2.8"
            ),
            [
                "10 add 10.1.0.0/16 via 192.0.2.16 metric 0",
                "10 add 10.0.0.0/8 via 192.0.2.8 metric 0",
            ]
        );
    }

    #[test]
    fn rfc9079_6_copies_go_the_least_specific_first() {
        let mut p = planner(false);
        let mut e = Reports::default();
        install(&mut p, &mut e, "10.1.0.0/16", None, "192.0.2.16");
        install(
            &mut p,
            &mut e,
            "10.0.0.0/8",
            Some("192.168.0.0/16"),
            "192.0.2.8",
        );
        install(
            &mut p,
            &mut e,
            "172.16.0.0/12",
            Some("192.168.1.0/24"),
            "192.0.2.12",
        );
        let default = via("0.0.0.0/0", Some("192.168.1.0/24"), "192.0.2.1", 96);
        // The /24's table gets copies of 10.1.0.0/16 (plain) and 10.0.0.0/8 (from the
        // /16), the most specific first, then its own default route.
        assert_eq!(
            run(&mut p, &mut e, RouteChange::Install(default.clone())),
            [
                "11 add 10.1.0.0/16 via 192.0.2.16 metric 0",
                "11 add 10.0.0.0/8 via 192.0.2.8 metric 0",
                "11 add 0.0.0.0/0 via 192.0.2.1 metric 0",
            ]
        );
        // It goes: the default route, then the /8 copy before the /16 one, so that no
        // packet to 10.1.2.3 meets the /8 copy while the /16 one is gone.
        assert_eq!(
            run(&mut p, &mut e, RouteChange::Retract(default)),
            [
                "11 remove 0.0.0.0/0 via 192.0.2.1 metric 0",
                "11 remove 10.0.0.0/8 via 192.0.2.8 metric 0",
                "11 remove 10.1.0.0/16 via 192.0.2.16 metric 0",
            ]
        );
    }

    /// The kernel as far as the planner's operations go: routes by (table, destination,
    /// priority), source rules by priority, and a lookup through them as Linux does it
    /// (rules in priority order, the longest match in each table, the main table last).
    #[derive(Default)]
    struct FakeKernel {
        tables: BTreeMap<u32, BTreeMap<(Prefix, u32), KernelRoute>>,
        rules: BTreeSet<(u32, Prefix, u32)>,
        errors: Vec<String>,
    }

    impl FakeKernel {
        fn apply(&mut self, op: &Op) {
            let err = match op {
                Op::Route(t, RouteOp::Add(k)) => {
                    let t = self.tables.entry(*t).or_default();
                    t.insert((k.dst, k.metric), *k)
                        .map(|_| "add over an existing route")
                }
                Op::Route(t, RouteOp::Replace(k)) => {
                    self.tables
                        .entry(*t)
                        .or_default()
                        .insert((k.dst, k.metric), *k);
                    None
                }
                Op::Route(t, RouteOp::Remove(k)) => {
                    let t = self.tables.entry(*t).or_default();
                    t.remove(&(k.dst, k.metric))
                        .is_none()
                        .then_some("remove of a missing route")
                }
                Op::AddRule(r) => {
                    (!self.rules.insert((r.priority, r.src, r.table))).then_some("rule added twice")
                }
                Op::RemoveRule(r) => (!self.rules.remove(&(r.priority, r.src, r.table)))
                    .then_some("remove of a missing rule"),
            };
            if let Some(e) = err {
                self.errors.push(format!("{e}: {op:?}"));
            }
        }

        fn longest(&self, table: u32, to: Prefix) -> Option<NextHop> {
            self.tables
                .get(&table)?
                .values()
                .filter(|k| k.dst.contains(&to))
                .min_by_key(|k| (std::cmp::Reverse(k.dst.plen()), k.metric))
                .map(|k| k.next_hop)
        }

        fn lookup(&self, from: Prefix, to: Prefix) -> Option<NextHop> {
            self.rules
                .iter()
                .filter(|(_, src, _)| src.contains(&from))
                .find_map(|&(_, _, t)| self.longest(t, to))
                .or_else(|| self.longest(254, to))
        }
    }

    /// RFC 9079 §6 over the engine's routes: the most specific destination, then the most
    /// specific source (a plain route's source is the whole space).
    fn destination_first(e: &Reports, from: Prefix, to: Prefix) -> Option<NextHop> {
        e.0.values()
            .filter(|r| r.prefix.contains(&to) && r.src_prefix.is_none_or(|s| s.contains(&from)))
            .max_by_key(|r| {
                (
                    r.prefix.plen(),
                    r.src_prefix.map_or(-1, |s| i32::from(s.plen())),
                )
            })
            .map(|r| kernel_route(r, 0).next_hop)
    }

    /// Host prefixes at the start, the middle and the end of each prefix.
    /// The sources of the model checks' random routes (`None`: a plain route).
    const SRCS: [Option<&str>; 7] = [
        None,
        None,
        None,
        Some("192.168.0.0/16"),
        Some("192.168.1.0/24"),
        Some("192.168.1.128/25"),
        Some("192.0.0.0/8"),
    ];

    /// The source addresses the model checks look up from (one inside each source, and one
    /// outside all of them).
    const MODEL_FROM: [&str; 4] = [
        "192.168.0.0/16",
        "192.168.1.0/24",
        "192.168.1.128/25",
        "1.0.0.0/8",
    ];

    /// A small deterministic generator: `rand(n)` is in `0..n`.
    fn xorshift(mut state: u64) -> impl FnMut(usize) -> usize {
        move |n| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        }
    }

    fn probes(prefixes: &[&str]) -> Vec<Prefix> {
        let mut out = BTreeSet::new();
        for p in prefixes {
            let p: Prefix = p.parse().unwrap();
            let std::net::IpAddr::V4(a) = p.addr() else {
                continue;
            };
            let (first, size) = (u32::from(a), 1u64 << (32 - p.plen()));
            for at in [0, size / 2 + 1, size - 1] {
                let host = std::net::Ipv4Addr::from(first.wrapping_add(at as u32));
                out.insert(Prefix::new(std::net::IpAddr::V4(host), 32).unwrap());
            }
        }
        out.into_iter().collect()
    }

    /// Random batches of changes to nested destinations, plain and from nested sources,
    /// held or not, with and without reflect-kernel-metric, planned and applied to a fake
    /// kernel: after every batch each lookup is the destination-first one, with no failing
    /// operation; within a batch of one change, each lookup between two operations is the
    /// one before the change or the one after it.
    #[test]
    fn rfc9079_6_random_changes_keep_lookups_destination_first() {
        const DSTS: [&str; 7] = [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "10.1.0.0/16",
            "10.1.2.0/24",
            "10.1.2.128/25",
            "10.2.0.0/16",
            "11.0.0.0/8",
        ];
        let to = probes(&DSTS);
        let from = probes(&MODEL_FROM);
        let mut rand = xorshift(0x9E37_79B9_7F4A_7C15);
        for run_no in 0..60 {
            let mut p = planner(rand(2) == 0);
            let (mut e, mut k) = (Reports::default(), FakeKernel::default());
            for step in 0..40 {
                let before = Reports(e.0.clone());
                let mut batch = Vec::new();
                for _ in 0..1 + rand(4) {
                    let (d, s) = (DSTS[rand(DSTS.len())], SRCS[rand(SRCS.len())]);
                    let key = (d.parse().unwrap(), s.map(|s| s.parse().unwrap()));
                    let hop = ["192.0.2.1", "192.0.2.2", "192.0.2.3"][rand(3)];
                    let new = (rand(3) > 0).then(|| via(d, s, hop, [96, 128, INFINITY][rand(3)]));
                    if batch
                        .iter()
                        .any(|c: &RouteChange| (c.route().prefix, c.route().src_prefix) == key)
                    {
                        continue;
                    }
                    let old = e.0.get(&key).cloned();
                    match (old, new.clone()) {
                        (None, Some(n)) => batch.push(RouteChange::Install(n)),
                        (Some(o), None) => batch.push(RouteChange::Retract(o)),
                        (Some(o), Some(n)) if o != n => {
                            batch.push(RouteChange::Change { old: o, new: n })
                        }
                        _ => {}
                    }
                    match new {
                        Some(n) => e.0.insert(key, n),
                        None => e.0.remove(&key),
                    };
                }
                // The engine has reported the whole batch before the planner sees it.
                let mut ops = Vec::new();
                for c in &batch {
                    plan(&mut p, c, &mut ops, &e);
                }
                for (i, op) in ops.iter().enumerate() {
                    k.apply(op);
                    if batch.len() > 1 || i + 1 == ops.len() {
                        continue;
                    }
                    for (f, t) in from.iter().flat_map(|f| to.iter().map(move |t| (f, t))) {
                        let got = k.lookup(*f, *t);
                        assert!(
                            got == destination_first(&before, *f, *t)
                                || got == destination_first(&e, *f, *t),
                            "run {run_no} step {step}: from {f} to {t} after {op:?} of {batch:?}: \
                             {got:?}"
                        );
                    }
                }
                assert!(
                    k.errors.is_empty(),
                    "run {run_no} step {step}: {:?}",
                    k.errors
                );
                for (f, t) in from.iter().flat_map(|f| to.iter().map(move |t| (f, t))) {
                    assert_eq!(
                        k.lookup(*f, *t),
                        destination_first(&e, *f, *t),
                        "run {run_no} step {step}: from {f} to {t} after {batch:?}"
                    );
                }
                assert!(!p.natives.is_empty() || (p.copies.is_empty() && p.plain.is_empty()));
            }
        }
    }

    /// Applies a message's operations to the fake kernel; returns how many there were.
    fn apply_all(k: &mut FakeKernel, ops: &[Op]) -> usize {
        ops.iter().for_each(|o| k.apply(o));
        ops.len()
    }

    /// The engine reports `change`, then the daemon hands it to the feed: the message.
    fn hand(feed: &mut Feed, e: &mut Reports, change: RouteChange) -> Vec<Op> {
        match &change {
            RouteChange::Install(r) | RouteChange::Change { new: r, .. } => {
                e.0.insert((r.prefix, r.src_prefix), r.clone());
            }
            RouteChange::Retract(r) => {
                e.0.remove(&(r.prefix, r.src_prefix));
            }
        }
        let mut ops = Vec::new();
        feed.plan(&[change], &mut ops, e);
        ops
    }

    fn host(a: &str) -> Prefix {
        format!("{a}/32").parse().unwrap()
    }

    /// A source table's first route, 0.0.0.0/0, next to thousands of plain routes: their
    /// copies reach the installer in messages of at most half its in-flight bound (the
    /// last one with the route and the rule that wait for them), a plain change is planned
    /// between two of them and a source table's change waits for the end; the route goes
    /// in after every copy, the rule after the route, and after it goes, so do the copies,
    /// in chunks too.
    #[test]
    fn rfc9079_6_a_burst_of_copies_goes_to_the_installer_in_bounded_chunks() {
        const N: u32 = 5000;
        // Half the installer's in-flight bound, and the route and rule that end the sweep.
        let bound = IN_FLIGHT / 2 + 3;
        let mut feed = Feed::new(planner(false));
        let (mut e, mut k) = (Reports::default(), FakeKernel::default());
        let dst = |i: u32| format!("10.{}.{}.0/24", i >> 8, i & 255);
        for i in 0..N {
            let ops = hand(
                &mut feed,
                &mut e,
                RouteChange::Install(via(&dst(i), None, "192.0.2.1", 96)),
            );
            assert_eq!(apply_all(&mut k, &ops), 1);
        }
        let default = via("0.0.0.0/0", Some("192.168.0.0/16"), "192.0.2.254", 96);
        let mut messages = vec![hand(
            &mut feed,
            &mut e,
            RouteChange::Install(default.clone()),
        )];
        let mut rule_in = false;
        let mut n = 0;
        while let Some(ops) = messages.pop() {
            n += 1;
            assert!(ops.len() <= bound, "message {n}: {} operations", ops.len());
            for op in &ops {
                match op {
                    Op::AddRule(_) => {
                        // The rule makes the table live: every copy and the route are in.
                        assert_eq!(k.tables[&10].len(), N as usize + 1);
                        rule_in = true;
                    }
                    Op::Route(10, RouteOp::Add(r)) if r.dst.is_default() => {
                        assert_eq!(
                            k.tables[&10].len(),
                            N as usize,
                            "the route after the copies"
                        )
                    }
                    _ => {}
                }
                k.apply(op);
            }
            if n == 2 {
                // Between two chunks: a plain route near the end of the walk changes next
                // hop (planned now; its copy is made from it later), and a source table's
                // route comes (it waits for the end of the sweep).
                let old = e.0[&(dst(5).parse().unwrap(), None)].clone();
                let moved = via(&dst(5), None, "192.0.2.5", 96);
                let ops = hand(&mut feed, &mut e, RouteChange::Change { old, new: moved });
                assert_eq!(
                    summary(&ops),
                    ["254 replace 10.0.5.0/24 via 192.0.2.5 metric 0"]
                );
                apply_all(&mut k, &ops);
                let other = via("172.16.0.0/12", Some("192.168.1.0/24"), "192.0.2.12", 96);
                assert_eq!(hand(&mut feed, &mut e, RouteChange::Install(other)), []);
                assert!(feed.takes_changes() && feed.pending());
            }
            let mut next = Vec::new();
            if feed.step(&mut next, &e) {
                messages.push(next);
            }
        }
        assert!(rule_in && !feed.pending());
        assert!(n > N as usize / SWEEP_CHUNK, "{n} messages");
        assert!(k.errors.is_empty(), "{:?}", k.errors);
        let from = host("192.168.3.3");
        for (to, hop) in [
            ("10.0.5.9", "192.0.2.5"),
            ("10.0.6.9", "192.0.2.1"),
            ("10.19.135.1", "192.0.2.1"),
            ("11.0.0.1", "192.0.2.254"),
        ] {
            assert_eq!(
                k.lookup(from, host(to)),
                destination_first(&e, from, host(to))
            );
            assert_eq!(
                k.lookup(from, host(to)),
                Some(NextHop::Gateway {
                    gateway: hop.parse().unwrap(),
                    ifindex: 3
                }),
                "{to}"
            );
        }
        assert_eq!(k.tables[&11].len(), 1, "the route that waited is in");
        // The route goes: the rule and the route at once, then the copies, in chunks.
        let mut messages = vec![hand(&mut feed, &mut e, RouteChange::Retract(default))];
        assert_eq!(
            summary(&messages[0][..2]),
            [
                "remove rule 192.168.0.0/16 10",
                "10 remove 0.0.0.0/0 via 192.0.2.254 metric 0"
            ]
        );
        let mut n = 0;
        while let Some(ops) = messages.pop() {
            n += 1;
            assert!(ops.len() <= bound, "message {n}: {} operations", ops.len());
            apply_all(&mut k, &ops);
            let mut next = Vec::new();
            if feed.step(&mut next, &e) {
                messages.push(next);
            }
        }
        assert!(n > N as usize / SWEEP_CHUNK, "{n} messages");
        assert!(k.errors.is_empty(), "{:?}", k.errors);
        assert!(k.tables[&10].is_empty());
        assert!(feed.planner.copies.is_empty());
        // The last source table's route goes: the plain routes and the copies' room too.
        let other = via("172.16.0.0/12", Some("192.168.1.0/24"), "192.0.2.12", 96);
        apply_all(
            &mut k,
            &hand(&mut feed, &mut e, RouteChange::Retract(other)),
        );
        assert!(!feed.pending());
        assert!(feed.planner.plain.is_empty() && feed.planner.copies.capacity() == 0);
        assert!(k.errors.is_empty(), "{:?}", k.errors);
    }

    /// Reports `changes` as the engine does, hands them to the feed in one batch, then
    /// steps the work left to its end: every message applied to the fake kernel, each of
    /// at most `bound` operations. Returns how many messages there were.
    fn hand_all(
        feed: &mut Feed,
        e: &mut Reports,
        k: &mut FakeKernel,
        changes: &[RouteChange],
        bound: usize,
    ) -> usize {
        for c in changes {
            match c {
                RouteChange::Install(r) | RouteChange::Change { new: r, .. } => {
                    e.0.insert((r.prefix, r.src_prefix), r.clone());
                }
                RouteChange::Retract(r) => {
                    e.0.remove(&(r.prefix, r.src_prefix));
                }
            }
        }
        let mut ops = Vec::new();
        feed.plan(changes, &mut ops, e);
        let mut n = 0;
        loop {
            n += 1;
            assert!(ops.len() <= bound, "message {n}: {} operations", ops.len());
            apply_all(k, &ops);
            ops.clear();
            if !feed.step(&mut ops, e) {
                return n;
            }
        }
    }

    /// One batch brings twenty source table routes, each over fewer plain routes than a
    /// sweep's chunk: each sweep ends within its first chunk, but one message still carries
    /// at most one chunk of copies (and the route and rule that end it); the others wait
    /// for the next steps.
    #[test]
    fn rfc9079_6_small_sweeps_of_one_batch_go_one_per_message() {
        const ROUTES: u32 = 20;
        const PLAIN: u32 = 1000;
        let bound = SWEEP_CHUNK + 4;
        let mut feed = Feed::new(planner(false));
        let (mut e, mut k) = (Reports::default(), FakeKernel::default());
        let mut plain = Vec::new();
        for i in 0..ROUTES {
            for j in 0..PLAIN {
                let d = format!("10.{i}.{}.{}/32", j >> 8, j & 255);
                plain.push(RouteChange::Install(via(&d, None, "192.0.2.1", 96)));
            }
        }
        hand_all(&mut feed, &mut e, &mut k, &plain, plain.len());
        let tabled: Vec<RouteChange> = (0..ROUTES)
            .map(|i| {
                let d = format!("10.{i}.0.0/16");
                RouteChange::Install(via(&d, Some("192.168.0.0/16"), "192.0.2.254", 96))
            })
            .collect();
        let n = hand_all(&mut feed, &mut e, &mut k, &tabled, bound);
        assert!(n >= ROUTES as usize, "{n} messages");
        assert!(k.errors.is_empty(), "{:?}", k.errors);
        assert_eq!(k.tables[&10].len(), (ROUTES * (PLAIN + 1)) as usize);
        let from = host("192.168.3.3");
        for i in [0, 7, ROUTES - 1] {
            for (to, hop) in [
                (format!("10.{i}.0.5"), "192.0.2.1"),
                (format!("10.{i}.3.231"), "192.0.2.1"),
                (format!("10.{i}.200.1"), "192.0.2.254"),
            ] {
                assert_eq!(
                    k.lookup(from, host(&to)),
                    destination_first(&e, from, host(&to))
                );
                assert_eq!(
                    k.lookup(from, host(&to)),
                    Some(NextHop::Gateway {
                        gateway: hop.parse().unwrap(),
                        ifindex: 3
                    }),
                    "{to}"
                );
            }
        }
        // They go in one batch too: each sweep in messages of its own.
        let gone: Vec<RouteChange> = tabled
            .iter()
            .map(|c| match c {
                RouteChange::Install(r) => RouteChange::Retract(r.clone()),
                _ => unreachable!(),
            })
            .collect();
        let n = hand_all(&mut feed, &mut e, &mut k, &gone, bound);
        assert!(n >= ROUTES as usize, "{n} messages");
        assert!(k.errors.is_empty(), "{:?}", k.errors);
        assert!(k.tables[&10].is_empty() && k.rules.is_empty());
        assert!(feed.planner.copies.is_empty() && feed.planner.plain.is_empty());
    }

    /// A source table's route goes while a more specific source's table holds a copy of
    /// it: the copy follows it out in the first message, not after the sweep of the
    /// thousands of copies that the route caught in its own table.
    #[test]
    fn rfc9079_6_more_specific_copies_of_a_route_that_goes_follow_it_at_once() {
        let mut feed = Feed::new(planner(false));
        let (mut e, mut k) = (Reports::default(), FakeKernel::default());
        let plain: Vec<RouteChange> = (0..3000u32)
            .map(|j| {
                let d = format!("10.{}.{}.1/32", j >> 8, j & 255);
                RouteChange::Install(via(&d, None, "192.0.2.1", 96))
            })
            .collect();
        hand_all(&mut feed, &mut e, &mut k, &plain, plain.len());
        let wide = via("10.0.0.0/8", Some("192.168.0.0/16"), "192.0.2.8", 96);
        let narrow = via("0.0.0.0/0", Some("192.168.1.0/24"), "192.0.2.254", 96);
        let bound = SWEEP_CHUNK + 4;
        hand_all(
            &mut feed,
            &mut e,
            &mut k,
            &[RouteChange::Install(wide.clone())],
            bound,
        );
        hand_all(
            &mut feed,
            &mut e,
            &mut k,
            &[RouteChange::Install(narrow)],
            bound,
        );
        let pairs = [
            ("192.168.1.1", "10.200.0.1"),
            ("192.168.1.1", "10.0.0.1"),
            ("192.168.1.1", "10.11.183.1"),
            ("192.168.2.1", "10.200.0.1"),
            ("192.168.2.1", "10.3.4.1"),
        ];
        let check = |k: &FakeKernel, e: &Reports, when: &str| {
            for (f, t) in pairs {
                assert_eq!(
                    k.lookup(host(f), host(t)),
                    destination_first(e, host(f), host(t)),
                    "{when}: from {f} to {t}"
                );
            }
        };
        check(&k, &e, "before");
        assert_eq!(
            k.lookup(host("192.168.1.1"), host("10.200.0.1")),
            Some(NextHop::Gateway {
                gateway: "192.0.2.8".parse().unwrap(),
                ifindex: 3
            })
        );
        // The /8 goes: from the first message on, every lookup is the one without it.
        let mut ops = hand(&mut feed, &mut e, RouteChange::Retract(wide));
        let mut n = 0;
        loop {
            n += 1;
            assert!(ops.len() <= bound, "message {n}: {} operations", ops.len());
            apply_all(&mut k, &ops);
            check(&k, &e, &format!("after message {n}"));
            ops.clear();
            if !feed.step(&mut ops, &e) {
                break;
            }
        }
        assert!(n > 2, "{n} messages");
        assert!(k.errors.is_empty(), "{:?}", k.errors);
        assert!(k.tables.get(&10).is_none_or(|t| t.is_empty()));
    }

    /// Sweeps whose copies are all in place already (a table's route to 10.0.0.0/8 comes
    /// and goes next to its route to 0.0.0.0/0, which keeps every copy): no operation comes
    /// of them, yet each step walks at most a chunk of destinations, so the daemon's turns
    /// stay short however many there are (it bounds its rounds per turn, not only the
    /// installer's backlog).
    #[test]
    fn rfc9079_6_a_step_walks_at_most_a_chunk_of_destinations() {
        const N: u32 = 5000;
        let mut feed = Feed::new(planner(false));
        let (mut e, mut k) = (Reports::default(), FakeKernel::default());
        let plain: Vec<RouteChange> = (0..N)
            .map(|i| {
                let d = format!("10.{}.{}.0/24", i >> 8, i & 255);
                RouteChange::Install(via(&d, None, "192.0.2.1", 96))
            })
            .collect();
        hand_all(&mut feed, &mut e, &mut k, &plain, plain.len());
        let default = via("0.0.0.0/0", Some("192.168.0.0/16"), "192.0.2.254", 96);
        hand_all(
            &mut feed,
            &mut e,
            &mut k,
            &[RouteChange::Install(default)],
            SWEEP_CHUNK + 4,
        );
        assert_eq!(k.tables[&10].len(), N as usize + 1);
        let wide = via("10.0.0.0/8", Some("192.168.0.0/16"), "192.0.2.8", 96);
        for c in [
            RouteChange::Install(wide.clone()),
            RouteChange::Retract(wide),
        ] {
            let mut ops = hand(&mut feed, &mut e, c);
            assert!(ops.len() <= 2, "{:?}", summary(&ops));
            apply_all(&mut k, &ops);
            let (mut steps, mut walked_all) = (0, 0);
            while feed.pending() {
                // The destinations that this step syncs: not synced before, synced after
                // (or the sweep ended).
                let before = feed.planner.sweep.expect("a sweep");
                ops.clear();
                assert!(feed.step(&mut ops, &e));
                let after = feed.planner.sweep;
                let walked = feed
                    .planner
                    .plain
                    .keys()
                    .filter(|x| before.dst.contains(x) && **x != before.dst)
                    .filter(|x| !before.synced(**x) && after.is_none_or(|w| w.synced(**x)))
                    .count();
                assert!(walked <= SWEEP_CHUNK, "step {steps}: {walked} destinations");
                assert!(ops.len() <= 2, "{:?}", summary(&ops));
                apply_all(&mut k, &ops);
                walked_all += walked;
                steps += 1;
            }
            assert!(walked_all + SWEEP_CHUNK >= N as usize, "{walked_all}");
            assert!(steps >= N as usize / SWEEP_CHUNK, "{steps} steps");
            assert!(k.errors.is_empty(), "{:?}", k.errors);
            // The copies, the route to 0.0.0.0/0, and the one to 10.0.0.0/8 while it is in.
            assert_eq!(k.tables[&10].len(), e.0.len());
        }
    }

    /// Changes of source tables' routes that wait for a sweep are merged per route: one
    /// that came and went meanwhile is forgotten, one that changed thrice changes once,
    /// one that went and came back changes in place, one that came back as it was is left
    /// alone; the rest wait in their order, and the end state is the engine's.
    #[test]
    fn rfc9079_6_changes_that_wait_are_merged_per_route() {
        let mut feed = Feed::new(planner(false));
        feed.planner.chunk = 2;
        let (mut e, mut k) = (Reports::default(), FakeKernel::default());
        let mut plain: Vec<RouteChange> = (0..20u32)
            .map(|i| RouteChange::Install(via(&format!("10.{i}.1.0/24"), None, "192.0.2.1", 96)))
            .collect();
        let z = via("10.7.0.0/16", Some("192.168.2.0/24"), "192.0.2.7", 96);
        let w = via("10.8.0.0/16", Some("192.168.2.0/24"), "192.0.2.8", 96);
        plain.push(RouteChange::Install(z.clone()));
        plain.push(RouteChange::Install(w.clone()));
        hand_all(&mut feed, &mut e, &mut k, &plain, usize::MAX);
        // A sweep of twenty copies, two at a time.
        let default = via("0.0.0.0/0", Some("192.168.0.0/16"), "192.0.2.254", 96);
        let ops = hand(&mut feed, &mut e, RouteChange::Install(default));
        apply_all(&mut k, &ops);
        assert!(feed.planner.busy());
        let x = via("10.5.0.0/16", Some("192.168.1.0/24"), "192.0.2.5", 96);
        let y = |hop: &str| via("10.6.0.0/16", Some("192.168.1.0/24"), hop, 96);
        let z2 = via("10.7.0.0/16", Some("192.168.2.0/24"), "192.0.2.77", 128);
        let changes = [
            RouteChange::Install(x.clone()),
            RouteChange::Install(y("192.0.2.61")),
            RouteChange::Retract(z.clone()),
            RouteChange::Retract(x),
            RouteChange::Change {
                old: y("192.0.2.61"),
                new: y("192.0.2.62"),
            },
            RouteChange::Retract(w.clone()),
            RouteChange::Install(z2.clone()),
            RouteChange::Change {
                old: y("192.0.2.62"),
                new: y("192.0.2.63"),
            },
            RouteChange::Install(w),
        ];
        for c in changes {
            assert_eq!(hand(&mut feed, &mut e, c), []);
        }
        assert_eq!(
            Vec::from(feed.waiting.clone()),
            [
                RouteChange::Install(y("192.0.2.63")),
                RouteChange::Change { old: z, new: z2 },
            ]
        );
        let mut ops = Vec::new();
        while feed.step(&mut ops, &e) {
            apply_all(&mut k, &ops);
            ops.clear();
        }
        assert!(k.errors.is_empty(), "{:?}", k.errors);
        let to = probes(&["10.5.0.0/16", "10.6.0.0/16", "10.7.0.0/16", "10.8.0.0/16"]);
        let from = probes(&["192.168.0.0/16", "192.168.1.0/24", "192.168.2.0/24"]);
        for f in &from {
            for t in &to {
                assert_eq!(
                    k.lookup(*f, *t),
                    destination_first(&e, *f, *t),
                    "from {f} to {t}"
                );
            }
        }
    }

    /// A change whose operations may not all be in the kernel yet: its route's key and
    /// what the route was before it.
    type Undo = ((Prefix, Option<Prefix>), Option<InstalledRoute>);

    /// For each (from, to), the lookups allowed while the changes of `undo` are under way:
    /// the destination-first ones of `now` with any of them taken back.
    fn allowed(
        now: &Reports,
        undo: &[Undo],
        pairs: &[(Prefix, Prefix)],
    ) -> Vec<Vec<Option<NextHop>>> {
        let mut out = vec![Vec::new(); pairs.len()];
        for mask in 0..1u32 << undo.len() {
            let mut view = Reports(now.0.clone());
            for (i, (key, before)) in undo.iter().enumerate().rev() {
                if mask & (1 << i) != 0 {
                    match before {
                        Some(r) => view.0.insert(*key, r.clone()),
                        None => view.0.remove(key),
                    };
                }
            }
            for (set, (f, t)) in out.iter_mut().zip(pairs) {
                let hop = destination_first(&view, *f, *t);
                if !set.contains(&hop) {
                    set.push(hop);
                }
            }
        }
        out
    }

    /// Random changes handed to the feed one at a time, with small sweep chunks and steps
    /// of the work left at random moments in between: plain changes are planned between two
    /// chunks of a sweep, source tables' changes wait for its end. Between two operations
    /// each lookup is a destination-first one of the routes planned with any of the
    /// message's changes taken back, where a sweep's route counts as gone from the message
    /// that starts its sweep (a route that goes) or as in from the message that ends it (a
    /// route that comes; not before): its copies change no lookup. Whenever no work is
    /// left, each is the destination-first one of the engine's routes; no operation fails.
    #[test]
    fn rfc9079_6_chunked_sweeps_between_other_changes_keep_lookups_destination_first() {
        const DSTS: [&str; 8] = [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "10.1.0.0/16",
            "10.1.2.0/24",
            "10.1.2.128/25",
            "10.1.3.0/24",
            "10.2.0.0/16",
            "11.0.0.0/8",
        ];
        let to = probes(&DSTS);
        let from = probes(&MODEL_FROM);
        let pairs: Vec<(Prefix, Prefix)> = from
            .iter()
            .flat_map(|f| to.iter().map(move |t| (*f, *t)))
            .collect();
        let mut rand = xorshift(0x2545_F491_4F6C_DD1D);
        let (mut sweeps, mut waited, mut unchecked) = (0, 0, 0);
        let coming = |feed: &Feed| feed.planner.sweep.is_some_and(|w| w.coming.is_some());
        for run_no in 0..60 {
            let mut feed = Feed::new(planner(rand(2) == 0));
            feed.planner.chunk = 2 + rand(3);
            // The engine's routes, and the routes planned (those that wait are not).
            let (mut e, mut planned) = (Reports::default(), Reports::default());
            let mut k = FakeKernel::default();
            // The change whose sweep is under way, and whether its route comes.
            let mut sweep: Option<(Undo, bool)> = None;
            let mut step_no = 0;
            while step_no < 50 || feed.pending() {
                step_no += 1;
                let mut undo: Vec<Undo> = Vec::new();
                let before = sweep.clone();
                let mut ops = Vec::new();
                let mut plan_one = |c: &RouteChange, undo: &mut Vec<Undo>| {
                    let r = c.route();
                    let key = (r.prefix, r.src_prefix);
                    undo.push((key, planned.0.get(&key).cloned()));
                    match c {
                        RouteChange::Retract(_) => planned.0.remove(&key),
                        _ => planned.0.insert(key, r.clone()),
                    };
                };
                let busy = feed.planner.busy();
                if step_no > 50 || (feed.pending() && rand(3) == 0) {
                    // One step of the work left: the sweep's next chunk, or the changes
                    // that waited, up to one that starts a sweep.
                    let queue: Vec<RouteChange> = feed.waiting.iter().cloned().collect();
                    feed.step(&mut ops, &e);
                    let popped = queue.len() - feed.waiting.len();
                    for c in &queue[..popped] {
                        plan_one(c, &mut undo);
                    }
                    if !busy && feed.planner.busy() {
                        sweep = undo.last().cloned().map(|u| (u, coming(&feed)));
                    }
                } else {
                    let (d, s) = (DSTS[rand(DSTS.len())], SRCS[rand(SRCS.len())]);
                    let key = (d.parse().unwrap(), s.map(|s| s.parse().unwrap()));
                    let hop = ["192.0.2.1", "192.0.2.2", "192.0.2.3"][rand(3)];
                    let new = (rand(3) > 0).then(|| via(d, s, hop, [96, 128, INFINITY][rand(3)]));
                    let c = match (e.0.get(&key).cloned(), new) {
                        (None, Some(n)) => RouteChange::Install(n),
                        (Some(o), None) => RouteChange::Retract(o),
                        (Some(o), Some(n)) if o != n => RouteChange::Change { old: o, new: n },
                        _ => continue,
                    };
                    let waits = feed.planner.tabled(&c) && feed.pending();
                    ops = hand(&mut feed, &mut e, c.clone());
                    if waits {
                        waited += 1;
                        assert!(ops.is_empty(), "{ops:?}");
                    } else {
                        plan_one(&c, &mut undo);
                        if !busy && feed.planner.busy() {
                            sweep = undo.last().cloned().map(|u| (u, coming(&feed)));
                        }
                    }
                }
                if !feed.planner.busy() {
                    sweep = None;
                } else if !busy {
                    sweeps += 1;
                }
                // A sweep's copies change no lookup (each copy is the route that a
                // destination-first lookup picks anyway): a route that goes is out from the
                // message that starts its sweep on, one that comes is in from the message
                // that ends it. Until then it is not planned as far as lookups go.
                let mut view = Reports(planned.0.clone());
                match (&before, &sweep) {
                    (_, Some((u, true))) => {
                        // Coming and not yet in (started in this message or before).
                        if let Some(i) = undo.iter().rposition(|x| x == u) {
                            undo.remove(i);
                        }
                        match &u.1 {
                            Some(r) => view.0.insert(u.0, r.clone()),
                            None => view.0.remove(&u.0),
                        };
                    }
                    (Some((u, true)), None) => undo.push(u.clone()),
                    _ => {}
                }
                if undo.len() > 4 {
                    unchecked += 1;
                }
                let check = (undo.len() <= 4).then(|| allowed(&view, &undo, &pairs));
                for op in &ops {
                    k.apply(op);
                    let Some(allowed) = &check else { continue };
                    for ((f, t), set) in pairs.iter().zip(allowed) {
                        let got = k.lookup(*f, *t);
                        assert!(
                            set.contains(&got),
                            "run {run_no} step {step_no}: from {f} to {t} after {op:?} \
                             (under way: {undo:?}): {got:?}, allowed {set:?}"
                        );
                    }
                }
                assert!(
                    k.errors.is_empty(),
                    "run {run_no} step {step_no}: {:?}",
                    k.errors
                );
                if !feed.pending() {
                    assert_eq!(planned.0, e.0);
                    for (f, t) in &pairs {
                        assert_eq!(
                            k.lookup(*f, *t),
                            destination_first(&e, *f, *t),
                            "run {run_no} step {step_no}: from {f} to {t}"
                        );
                    }
                }
            }
            let p = &feed.planner;
            assert!(!p.natives.is_empty() || (p.copies.is_empty() && p.plain.is_empty()));
        }
        // The runs did what they are for.
        assert!(
            sweeps > 100 && waited > 20 && unchecked < 20,
            "{sweeps} sweeps, {waited} changes waited, {unchecked} messages unchecked"
        );
    }

    #[test]
    fn rfc9079_6_without_ipv6_subtrees_ipv6_plain_routes_are_copied() {
        let mut p = Planner::new(KernelConfig {
            ipv6_subtrees: false,
            ..planner(false).config
        });
        let mut e = Reports::default();
        install(
            &mut p,
            &mut e,
            "2001:db8::/32",
            Some("2001:db8:1::/48"),
            "fe80::1",
        );
        assert_eq!(
            install(&mut p, &mut e, "2001:db8:5::/48", None, "fe80::5"),
            [
                "254 add 2001:db8:5::/48 via fe80::5 metric 0",
                "10 add 2001:db8:5::/48 via fe80::5 metric 0",
            ]
        );
        // With subtrees the kernel disambiguates IPv6 itself: no copies.
        let mut p = planner(false);
        let mut e = Reports::default();
        install(
            &mut p,
            &mut e,
            "2001:db8::/32",
            Some("2001:db8:1::/48"),
            "fe80::1",
        );
        assert_eq!(
            install(&mut p, &mut e, "2001:db8:5::/48", None, "fe80::5"),
            ["254 add 2001:db8:5::/48 via fe80::5 metric 0"]
        );
    }

    #[test]
    fn pref_src_of_the_route_family_is_installed() {
        let mut r = route(96, None);
        r.pref_src = Some("192.0.2.1".parse().unwrap());
        assert_eq!(kernel_route(&r, 0).pref_src, r.pref_src);
        // Not on an unreachable route, not of the other family.
        r.metric = INFINITY;
        assert_eq!(kernel_route(&r, 0).pref_src, None);
        r.metric = 96;
        r.pref_src = Some("2001:db8::1".parse().unwrap());
        assert_eq!(kernel_route(&r, 0).pref_src, None);
    }
}
