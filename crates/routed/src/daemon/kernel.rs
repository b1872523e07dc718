//! The engine's route changes applied to the kernel, on a dedicated thread: the installer is
//! synchronous and a large batch takes milliseconds, which must not stall the event loop.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::mpsc;
use std::thread::JoinHandle;

use babel_core::wire::INFINITY;
use babel_core::{InstalledRoute, RouteChange};
use netdriver::{InstallerConfig, KernelRoute, RouteInstaller, RouteOp, RTPROT_BABEL};

/// How routes are put in the kernel.
#[derive(Debug, Clone)]
pub struct KernelConfig {
    /// The export table (babeld's `-t`, `export-table`; default main).
    pub table: u32,
    /// babeld's `kernel-priority` (`-k`).
    pub priority: u32,
    /// babeld's `reflect-kernel-metric`: the Babel metric is added to the priority.
    pub reflect_metric: bool,
}

/// One operation and the table it applies to.
pub type TableOp = (u32, RouteOp);

enum Msg {
    Ops(Vec<TableOp>),
    /// Remove every protocol-42 route in these tables, then answer.
    Purge(Vec<u32>, mpsc::Sender<usize>),
}

/// The kernel side: converts route changes, and sends them to the installer thread.
pub struct Kernel {
    config: KernelConfig,
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<JoinHandle<()>>,
    /// Every table we installed into, to purge at exit.
    tables: BTreeSet<u32>,
}

/// A kernel route for an engine route: unreachable while the route is held (retracted).
pub fn kernel_route(r: &InstalledRoute, priority: u32) -> KernelRoute {
    let k = if r.metric == INFINITY {
        KernelRoute::unreachable(r.prefix, priority)
    } else {
        KernelRoute::via(r.prefix, r.next_hop, r.ifindex, priority)
    };
    match r.src_prefix {
        Some(s) => k.from_src(s),
        None => k,
    }
}

impl KernelConfig {
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

    /// The kernel operations for one change. A change of next hop is one atomic replace;
    /// a change of table or priority installs the new route before removing the old one.
    pub fn ops(&self, change: &RouteChange, out: &mut Vec<TableOp>) {
        match change {
            RouteChange::Install(r) => out.push((
                self.table(r),
                RouteOp::Replace(kernel_route(r, self.priority(r))),
            )),
            RouteChange::Retract(r) => out.push((
                self.table(r),
                RouteOp::Remove(kernel_route(r, self.priority(r))),
            )),
            RouteChange::Change { old, new } => {
                let (ot, op) = (self.table(old), self.priority(old));
                let (nt, np) = (self.table(new), self.priority(new));
                out.push((nt, RouteOp::Replace(kernel_route(new, np))));
                if ot != nt || op != np {
                    out.push((ot, RouteOp::Remove(kernel_route(old, op))));
                }
            }
        }
    }
}

fn installer_thread(rx: mpsc::Receiver<Msg>, default_table: u32) {
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
    // Routes we installed, per table (destination, source, priority). A replace of a key
    // not ours is sent as an add (CREATE|EXCL), so a foreign route is never overwritten.
    // A 64-bit digest of each key under a per-process random key is kept, not the key: 8
    // bytes a route instead of 48, and no one can make another route's key collide with
    // ours on purpose.
    let digest = RandomState::new();
    let key = |k: &KernelRoute| -> u64 { digest.hash_one((k.dst, k.src, k.metric)) };
    let mut ours: BTreeMap<u32, HashSet<u64>> = BTreeMap::new();
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Ops(ops) => {
                // Runs of the same table go out as one pipelined batch, in order.
                let mut i = 0;
                while i < ops.len() {
                    let table = ops[i].0;
                    let mut j = i;
                    // At most a few thousand at a time, to bound the copies.
                    while j < ops.len() && ops[j].0 == table && j - i < 4096 {
                        j += 1;
                    }
                    let mine = ours.entry(table).or_default();
                    let batch: Vec<RouteOp> = ops[i..j]
                        .iter()
                        .map(|(_, op)| match op {
                            RouteOp::Replace(k) if !mine.contains(&key(k)) => RouteOp::Add(*k),
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
                    let mut failed = vec![false; batch.len()];
                    for (k, _) in &errors {
                        failed[*k] = true;
                    }
                    for (op, bad) in batch.iter().zip(&failed) {
                        match op {
                            RouteOp::Add(k) | RouteOp::Replace(k) if !bad => {
                                mine.insert(key(k));
                            }
                            RouteOp::Remove(k) => {
                                mine.remove(&key(k));
                            }
                            _ => {}
                        }
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
            }
            Msg::Purge(tables, done) => {
                let mut n = 0;
                for t in tables {
                    if !get(t, &mut installers) {
                        continue;
                    }
                    if let Some(inst) = installers.get_mut(&t) {
                        match inst.purge() {
                            Ok(k) => {
                                n += k;
                                ours.remove(&t);
                            }
                            Err(e) => {
                                tracing::error!("cannot remove our routes from table {t}: {e}")
                            }
                        }
                    }
                }
                let _ = done.send(n);
            }
        }
    }
}

impl Kernel {
    /// Starts the installer thread.
    pub fn start(config: KernelConfig) -> std::io::Result<Kernel> {
        let (tx, rx) = mpsc::channel();
        let table = config.table;
        let thread = std::thread::Builder::new()
            .name("routed-kernel".into())
            .spawn(move || installer_thread(rx, table))?;
        let mut tables = BTreeSet::new();
        tables.insert(table);
        Ok(Kernel {
            config,
            tx: Some(tx),
            thread: Some(thread),
            tables,
        })
    }

    pub fn config(&self) -> &KernelConfig {
        &self.config
    }

    /// Queues a batch of changes (in order) for the installer thread.
    pub fn apply(&mut self, changes: &[RouteChange]) {
        if changes.is_empty() {
            return;
        }
        let mut ops = Vec::with_capacity(changes.len() + 4);
        for c in changes {
            self.config.ops(c, &mut ops);
        }
        for (t, _) in &ops {
            self.tables.insert(*t);
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Ops(ops));
        }
    }

    /// Removes every protocol-42 route from `extra` tables and every table used so far,
    /// after the queued operations. Blocks until done; returns how many were removed.
    pub fn purge(&mut self, extra: &[u32]) -> usize {
        let mut tables: Vec<u32> = self.tables.iter().copied().collect();
        for t in extra {
            if !tables.contains(t) {
                tables.push(*t);
            }
        }
        let (done_tx, done_rx) = mpsc::channel();
        match &self.tx {
            Some(tx) if tx.send(Msg::Purge(tables, done_tx)).is_ok() => done_rx.recv().unwrap_or(0),
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

    #[test]
    fn changes_become_atomic_replaces() {
        let c = KernelConfig {
            table: 254,
            priority: 0,
            reflect_metric: false,
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
            (254, RouteOp::Replace(k)) => {
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
            matches!(
                ops[0],
                (100, RouteOp::Replace(KernelRoute { metric: 202, .. }))
            ),
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
}
