//! Forwarding checks on the installed routes: which connected pairs have a working path,
//! which end in a black hole or a loop, and loop episodes tracked exactly as routes change.

use std::collections::{BTreeMap, VecDeque};

use crate::net::{Net, NONE};

/// Per node, per destination: the next-hop node of the installed route, or NONE.
/// Stored by destination: the walks (loop tracking, pair checks) follow one destination
/// from node to node, and stay within its row. 16 bits a hop (the simulator has at most
/// 5000 nodes): n² of them are far beyond the caches, and every route change misses.
#[derive(Debug, Clone)]
pub struct Fib {
    pub n: u32,
    next: Vec<u16>,
}

const FIB_NONE: u16 = u16::MAX;

impl Fib {
    pub fn new(n: u32) -> Fib {
        assert!(
            n < FIB_NONE as u32,
            "the forwarding table holds 16-bit node numbers"
        );
        Fib {
            n,
            next: vec![FIB_NONE; (n as usize) * (n as usize)],
        }
    }
    #[inline]
    pub fn get(&self, node: u32, dest: u32) -> u32 {
        match self.next[dest as usize * self.n as usize + node as usize] {
            FIB_NONE => NONE,
            h => h as u32,
        }
    }
    /// Asks the memory system for every next hop towards `dest` (a row of 2 bytes per
    /// node), so that a walk along a path to it, each hop depending on the last, does not
    /// wait for a cache miss per hop. Only a matter of speed.
    pub fn warm_row(&self, dest: u32) {
        let n = self.n as usize;
        let row = &self.next[dest as usize * n..(dest as usize + 1) * n];
        for i in (0..row.len()).step_by(32).chain(row.len().checked_sub(1)) {
            prefetch_index::prefetch_index(row, i);
        }
    }
    /// Sets a next hop (a node number or NONE) and returns the old one.
    pub fn set(&mut self, node: u32, dest: u32, nh: u32) -> u32 {
        let v = if nh < self.n { nh as u16 } else { FIB_NONE };
        match std::mem::replace(
            &mut self.next[dest as usize * self.n as usize + node as usize],
            v,
        ) {
            FIB_NONE => NONE,
            h => h as u32,
        }
    }
}

/// What happened to the packets of one (source, destination) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Delivered,
    /// No route, or a next hop that is dead or not reachable over a usable link.
    BlackHole,
    Loop,
}

/// Result of checking every pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairCounts {
    pub connected: u64,
    pub blackholes: u64,
    pub loops: u64,
}

impl PairCounts {
    pub fn broken(&self) -> u64 {
        self.blackholes + self.loops
    }
}

/// Checks all pairs, incrementally: only destinations whose routes changed are looked at
/// again, unless the topology changed, and a destination whose changed next hops all still
/// lead towards it (each to a working node nearer to it, by the walk of the last check) keeps
/// its counts without a walk.
#[derive(Debug, Clone)]
pub struct Checker {
    n: u32,
    pub comp: Vec<u32>,
    comp_size: Vec<u32>,
    /// Per destination: the nodes whose next hop changed since the last check (`dirty`
    /// says whether the destination is listed in `dirty_list`; an overflowing list is
    /// cleared and `all_nodes` set: the destination is walked again).
    dirty: Vec<bool>,
    dirty_list: Vec<u32>,
    changed: Vec<Vec<u16>>,
    all_nodes: Vec<bool>,
    all_dirty: bool,
    per_dest: Vec<(u32, u32)>,
    /// Per destination, per node (`dest * n + node`), as of the walk of the last check:
    /// the hops to the destination of a working path, or HOLE, LOOP or UNKNOWN (a node not
    /// walked). The working nodes' values only need to decrease along their paths.
    pot: Vec<u16>,
    stack: Vec<u32>,
    connected: u64,
    /// Bit `u * n + v`: the link from `u` to `v` is usable (what `hop_ok` asks of the
    /// network, without the adjacency search), as of the last topology change.
    usable: Vec<u64>,
    /// Destinations checked by walking, and kept by the short cut (for the bench).
    pub walked: u64,
    pub kept: u64,
}

// Values of `Checker::pot` other than a hop count (the simulator has at most 5000 nodes).
const UNKNOWN: u16 = u16::MAX;
const VISITING: u16 = u16::MAX - 1;
const HOLE: u16 = u16::MAX - 2;
const LOOP: u16 = u16::MAX - 3;
/// A changed-node list longer than n / CHANGED_SHARE (and 16) walks the destination again.
const CHANGED_SHARE: usize = 8;

/// Whether `u` can forward to `nh` right now.
#[inline]
fn hop_ok(net: &Net, alive: &[bool], u: u32, nh: u32) -> bool {
    nh != NONE
        && (nh as usize) < alive.len()
        && alive[nh as usize]
        && net.adjacent(u, nh).is_some_and(|e| net.usable(e))
}

impl Checker {
    pub fn new(n: u32) -> Checker {
        Checker {
            n,
            comp: vec![0; n as usize],
            comp_size: vec![0; n as usize],
            dirty: vec![false; n as usize],
            dirty_list: Vec::new(),
            changed: vec![Vec::new(); n as usize],
            all_nodes: vec![false; n as usize],
            all_dirty: true,
            per_dest: vec![(0, 0); n as usize],
            pot: vec![UNKNOWN; n as usize * n as usize],
            stack: Vec::new(),
            connected: 0,
            usable: Vec::new(),
            walked: 0,
            kept: 0,
        }
    }

    pub fn topology_changed(&mut self) {
        self.all_dirty = true;
    }

    /// `node`'s next hop towards `dest` changed.
    pub fn route_changed(&mut self, node: u32, dest: u32) {
        if self.all_dirty {
            return;
        }
        let d = dest as usize;
        if !self.dirty[d] {
            self.dirty[d] = true;
            self.dirty_list.push(dest);
        }
        if !self.all_nodes[d] {
            let list = &mut self.changed[d];
            if list.len() >= (self.n as usize / CHANGED_SHARE).max(16) {
                list.clear();
                self.all_nodes[d] = true;
            } else {
                list.push(node as u16);
            }
        }
    }

    /// Whether the changes to `dest`'s routes since the last check leave every node's fate
    /// as it was: every changed node worked, and now forwards over a usable link to a node
    /// that worked and was nearer. Then every path still descends the old hop counts to the
    /// destination (the unchanged hops did, the topology is the same), and the hop counts
    /// stay valid for the next check.
    fn unchanged(&self, fib: &Fib, alive: &[bool], dest: u32) -> bool {
        let n = self.n as usize;
        if self.all_nodes[dest as usize] || !alive[dest as usize] {
            return false;
        }
        let row = &self.pot[dest as usize * n..][..n];
        self.changed[dest as usize].iter().all(|&u| {
            let u = u as u32;
            let nh = fib.get(u, dest);
            if nh >= self.n || !alive[nh as usize] {
                return false;
            }
            let bit = u as usize * n + nh as usize;
            let (pu, pnh) = (row[u as usize], row[nh as usize]);
            self.usable[bit / 64] & (1 << (bit % 64)) != 0 && pu < LOOP && pnh < pu
        })
    }

    fn recompute_components(&mut self, net: &Net, alive: &[bool]) {
        let n = self.n as usize;
        self.usable.clear();
        self.usable.resize((n * n).div_ceil(64), 0);
        for (id, e) in net.edges.iter().enumerate() {
            if net.usable(id as u32) {
                for (u, v) in [(e.a, e.b), (e.b, e.a)] {
                    let bit = u as usize * n + v as usize;
                    self.usable[bit / 64] |= 1 << (bit % 64);
                }
            }
        }
        let mut parent: Vec<u32> = (0..self.n).collect();
        fn find(p: &mut [u32], mut x: u32) -> u32 {
            while p[x as usize] != x {
                let g = p[p[x as usize] as usize];
                p[x as usize] = g;
                x = g;
            }
            x
        }
        for (id, e) in net.edges.iter().enumerate() {
            if alive[e.a as usize] && alive[e.b as usize] && net.connects(id as u32) {
                let (ra, rb) = (find(&mut parent, e.a), find(&mut parent, e.b));
                if ra != rb {
                    parent[ra.max(rb) as usize] = ra.min(rb);
                }
            }
        }
        self.comp_size.iter_mut().for_each(|s| *s = 0);
        for (i, &live) in alive.iter().enumerate().take(n) {
            let r = find(&mut parent, i as u32);
            self.comp[i] = if live { r } else { NONE };
            if live {
                self.comp_size[r as usize] += 1;
            }
        }
        self.connected = self
            .comp_size
            .iter()
            .map(|&s| s as u64 * (s as u64).saturating_sub(1))
            .sum();
    }

    /// Walks every live source towards `dest`, memoized: O(n) per destination.
    fn check_dest(&mut self, net: &Net, fib: &Fib, alive: &[bool], dest: u32) -> (u32, u32) {
        let n = self.n;
        let row = &mut self.pot[dest as usize * n as usize..][..n as usize];
        row.fill(UNKNOWN);
        if !alive[dest as usize] {
            return (0, 0);
        }
        let cd = self.comp[dest as usize];
        row[dest as usize] = 0;
        fib.warm_row(dest);
        let (mut holes, mut loops) = (0u32, 0u32);
        for s in 0..n {
            if s == dest || self.comp[s as usize] != cd {
                continue;
            }
            let mut u = s;
            self.stack.clear();
            let fate = loop {
                match row[u as usize] {
                    UNKNOWN => {}
                    VISITING => break LOOP,
                    p => break p,
                }
                row[u as usize] = VISITING;
                self.stack.push(u);
                let nh = fib.get(u, dest);
                // `hop_ok`, with the usable links of the last topology change.
                let bit = u as usize * n as usize + nh as usize;
                if nh == NONE
                    || nh >= n
                    || !alive[nh as usize]
                    || self.usable[bit / 64] & (1 << (bit % 64)) == 0
                {
                    debug_assert!(!hop_ok(net, alive, u, nh));
                    break HOLE;
                }
                debug_assert!(hop_ok(net, alive, u, nh));
                u = nh;
            };
            if fate < LOOP {
                // A working path: the hop counts back along the stack.
                let len = self.stack.len() as u16;
                for (k, &v) in self.stack.iter().enumerate() {
                    row[v as usize] = fate + len - k as u16;
                }
            } else {
                for &v in &self.stack {
                    row[v as usize] = fate;
                }
                if fate == HOLE {
                    holes += 1;
                } else {
                    loops += 1;
                }
            }
        }
        (holes, loops)
    }

    /// Brings the counts up to date and returns them.
    pub fn check(&mut self, net: &Net, fib: &Fib, alive: &[bool]) -> PairCounts {
        let list = std::mem::take(&mut self.dirty_list);
        if self.all_dirty {
            self.recompute_components(net, alive);
            for d in 0..self.n {
                self.per_dest[d as usize] = self.check_dest(net, fib, alive, d);
            }
            self.walked += self.n as u64;
            self.all_dirty = false;
        } else {
            for &d in &list {
                if self.unchanged(fib, alive, d) {
                    self.kept += 1;
                } else {
                    self.walked += 1;
                    self.per_dest[d as usize] = self.check_dest(net, fib, alive, d);
                }
            }
        }
        // The changes listed since the last check are all accounted for.
        for &d in &list {
            self.dirty[d as usize] = false;
            self.all_nodes[d as usize] = false;
            self.changed[d as usize].clear();
        }
        self.dirty_list = list;
        self.dirty_list.clear();
        #[cfg(debug_assertions)]
        self.cross_check(net, fib, alive);
        let (h, l) = self
            .per_dest
            .iter()
            .fold((0u64, 0u64), |(h, l), &(a, b)| (h + a as u64, l + b as u64));
        PairCounts {
            connected: self.connected,
            blackholes: h,
            loops: l,
        }
    }

    /// Debug builds: the counts kept by the short cut are those of a walk of every
    /// destination.
    #[cfg(debug_assertions)]
    fn cross_check(&self, net: &Net, fib: &Fib, alive: &[bool]) {
        let mut full = self.clone();
        for d in 0..self.n {
            let counts = full.check_dest(net, fib, alive, d);
            assert_eq!(counts, self.per_dest[d as usize], "destination {d}");
        }
    }

    /// The fate of one pair, walking the installed routes.
    pub fn fate(net: &Net, fib: &Fib, alive: &[bool], src: u32, dest: u32) -> (Fate, u32) {
        let mut u = src;
        let mut hops = 0u32;
        while u != dest {
            if hops > fib.n {
                return (Fate::Loop, hops);
            }
            let nh = fib.get(u, dest);
            if !hop_ok(net, alive, u, nh) {
                return (Fate::BlackHole, hops);
            }
            u = nh;
            hops += 1;
        }
        (Fate::Delivered, hops)
    }
}

/// Hop distances from `dest` over connecting edges between live nodes.
pub fn bfs_hops(net: &Net, alive: &[bool], dest: u32) -> Vec<u32> {
    let mut dist = vec![NONE; net.n as usize];
    if !alive[dest as usize] {
        return dist;
    }
    dist[dest as usize] = 0;
    let mut q = VecDeque::from([dest]);
    while let Some(u) = q.pop_front() {
        for &(v, e) in &net.adj[u as usize] {
            if alive[v as usize] && dist[v as usize] == NONE && net.connects(e) {
                dist[v as usize] = dist[u as usize] + 1;
                q.push_back(v);
            }
        }
    }
    dist
}

/// One forwarding loop episode.
#[derive(Debug, Clone)]
pub struct LoopEpisode {
    pub dest: u32,
    pub members: Vec<u32>,
    pub start_us: u64,
    pub end_us: Option<u64>,
}

/// Loops on installed routes, found exactly when a next hop changes: a loop starts when a
/// route change closes a cycle, and ends when any member changes its next hop (or dies).
#[derive(Debug, Default)]
pub struct LoopTracker {
    active: BTreeMap<u32, Vec<LoopEpisode>>,
    pub finished: Vec<LoopEpisode>,
    mark: Vec<u32>,
    stamp: u32,
    /// The path being walked (kept to spare an allocation per route change).
    path: Vec<u32>,
}

impl LoopTracker {
    pub fn new(n: u32) -> LoopTracker {
        LoopTracker {
            mark: vec![0; n as usize],
            ..Default::default()
        }
    }

    /// `node`'s next hop towards `dest` changed from `old` to `new`.
    pub fn next_hop_changed(
        &mut self,
        fib: &Fib,
        now_us: u64,
        node: u32,
        dest: u32,
        old: u32,
        new: u32,
    ) {
        if old == new {
            return;
        }
        if let Some(v) = self.active.get_mut(&dest) {
            let mut i = 0;
            while i < v.len() {
                if v[i].members.contains(&node) {
                    let mut ep = v.swap_remove(i);
                    ep.end_us = Some(now_us);
                    self.finished.push(ep);
                } else {
                    i += 1;
                }
            }
            if v.is_empty() {
                self.active.remove(&dest);
            }
        }
        if new == NONE {
            return;
        }
        // Does the new path come back to `node`?
        fib.warm_row(dest);
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.mark.iter_mut().for_each(|m| *m = 0);
            self.stamp = 1;
        }
        let mut members = std::mem::take(&mut self.path);
        members.clear();
        members.push(node);
        self.mark[node as usize] = self.stamp;
        let mut u = new;
        loop {
            if u == node {
                let mut members = members.clone();
                members.sort_unstable();
                self.active.entry(dest).or_default().push(LoopEpisode {
                    dest,
                    members,
                    start_us: now_us,
                    end_us: None,
                });
                break;
            }
            if u == NONE
                || u == dest
                || (u as usize) >= self.mark.len()
                || self.mark[u as usize] == self.stamp
            {
                break;
            }
            self.mark[u as usize] = self.stamp;
            members.push(u);
            u = fib.get(u, dest);
        }
        self.path = members;
    }

    pub fn active_count(&self) -> usize {
        self.active.values().map(Vec::len).sum()
    }

    /// Every episode, with those still open ending at `now_us`.
    pub fn all(&self, now_us: u64) -> Vec<LoopEpisode> {
        let mut v = self.finished.clone();
        for eps in self.active.values() {
            for e in eps {
                let mut e = e.clone();
                e.end_us = Some(now_us);
                v.push(e);
            }
        }
        v.sort_by(|a, b| (a.start_us, a.dest, &a.members).cmp(&(b.start_us, b.dest, &b.members)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{LinkMode, LinkSpec};

    fn line_net(n: u32) -> Net {
        Net::new(
            n,
            &crate::topology::line(n),
            LinkMode::P2p,
            LinkSpec::default(),
        )
    }

    #[test]
    fn finds_paths_black_holes_and_loops() {
        let net = line_net(4);
        let alive = vec![true; 4];
        let mut fib = Fib::new(4);
        // Routes towards 3 along the line.
        fib.set(0, 3, 1);
        fib.set(1, 3, 2);
        fib.set(2, 3, 3);
        assert_eq!(
            Checker::fate(&net, &fib, &alive, 0, 3),
            (Fate::Delivered, 3)
        );
        let mut c = Checker::new(4);
        let pc = c.check(&net, &fib, &alive);
        assert_eq!(pc.connected, 12);
        // Only the three pairs towards node 3 work.
        assert_eq!(pc.broken(), 9);
        assert_eq!(pc.loops, 0);
        // A loop between 1 and 2 for destination 3.
        fib.set(2, 3, 1);
        c.route_changed(2, 3);
        let pc2 = c.check(&net, &fib, &alive);
        assert_eq!(pc2.loops, 3);
        assert_eq!(Checker::fate(&net, &fib, &alive, 0, 3).0, Fate::Loop);
        // A next hop over a missing link is a black hole.
        fib.set(2, 3, 0);
        assert_eq!(Checker::fate(&net, &fib, &alive, 2, 3).0, Fate::BlackHole);
        // A dead node splits the components.
        let alive2 = vec![true, true, false, true];
        let mut c2 = Checker::new(4);
        assert_eq!(c2.check(&net, &fib, &alive2).connected, 2);
    }

    #[test]
    fn a_link_taken_down_turns_the_paths_over_it_into_black_holes() {
        // A ring 0-1-2-3-0; every node sends clockwise (u -> u + 1).
        let ring = [(0, 1), (1, 2), (2, 3), (0, 3)];
        let mut net = Net::new(4, &ring, LinkMode::P2p, LinkSpec::default());
        let alive = vec![true; 4];
        let mut fib = Fib::new(4);
        for d in 0..4u32 {
            for u in 0..4u32 {
                if u != d {
                    fib.set(u, d, (u + 1) % 4);
                }
            }
        }
        let mut c = Checker::new(4);
        assert_eq!(c.check(&net, &fib, &alive).broken(), 0);
        // Link 1-2 down, routes unchanged: the ring stays connected, and the pairs whose
        // path crosses 1 -> 2 are black holes: 1 to 2, 3, 0; 0 to 2, 3; 3 to 2.
        net.set_up(1, 2, false);
        c.topology_changed();
        let pc = c.check(&net, &fib, &alive);
        assert_eq!(pc.connected, 12);
        assert_eq!((pc.blackholes, pc.loops), (6, 0));
        assert_eq!(Checker::fate(&net, &fib, &alive, 0, 3).0, Fate::BlackHole);
        // Back up: everything works again.
        net.set_up(1, 2, true);
        c.topology_changed();
        assert_eq!(c.check(&net, &fib, &alive).broken(), 0);
        // A next hop that is no neighbour (0 sends to 2 directly) is a black hole too.
        fib.set(0, 3, 2);
        c.route_changed(0, 3);
        let pc = c.check(&net, &fib, &alive);
        assert_eq!((pc.blackholes, pc.loops), (1, 0));
    }

    #[test]
    fn next_hop_changes_are_counted_with_or_without_a_walk() {
        // A 3x3 grid (0 1 2 / 3 4 5 / 6 7 8), every node routing towards 8 along the
        // rows first: 0 -> 1 -> 2 -> 5 -> 8.
        let grid = crate::topology::grid(3, 3);
        let net = Net::new(9, &grid, LinkMode::P2p, LinkSpec::default());
        let alive = vec![true; 9];
        let mut fib = Fib::new(9);
        for u in 0..8u32 {
            fib.set(u, 8, if u % 3 < 2 { u + 1 } else { u + 3 });
        }
        let mut c = Checker::new(9);
        let full = |fib: &Fib| {
            let mut f = Checker::new(9);
            f.check(&net, fib, &alive)
        };
        // Only the 8 pairs towards 8 work.
        assert_eq!(c.check(&net, &fib, &alive).broken(), 72 - 8);
        // 0 and 4 switch to their other neighbour nearer to 8: nothing is walked.
        for (u, nh) in [(0, 3), (4, 7)] {
            fib.set(u, 8, nh);
            c.route_changed(u, 8);
        }
        let walked = c.walked;
        assert_eq!(c.check(&net, &fib, &alive), full(&fib));
        assert_eq!((c.walked, c.kept), (walked, 1));
        // 7 sends back to 4, which sends to 7: a loop for 7 and 4, and for 3, 6 and 0 that
        // lead into it.
        fib.set(7, 8, 4);
        c.route_changed(7, 8);
        let pc = c.check(&net, &fib, &alive);
        assert_eq!((c.walked, c.kept), (walked + 1, 1));
        assert_eq!(pc, full(&fib));
        assert_eq!((pc.blackholes, pc.loops), (64, 5));
        // 5 drops its route: 5, 2 and 1 become black holes.
        fib.set(5, 8, NONE);
        c.route_changed(5, 8);
        let pc = c.check(&net, &fib, &alive);
        assert_eq!(pc, full(&fib));
        assert_eq!((pc.blackholes, pc.loops), (67, 5));
    }

    #[test]
    fn loop_tracker_opens_and_closes_episodes() {
        let mut fib = Fib::new(4);
        let mut t = LoopTracker::new(4);
        let set = |fib: &mut Fib, t: &mut LoopTracker, now, u, d, nh| {
            let old = fib.set(u, d, nh);
            t.next_hop_changed(fib, now, u, d, old, nh);
        };
        set(&mut fib, &mut t, 0, 0, 3, 1);
        set(&mut fib, &mut t, 0, 1, 3, 2);
        assert_eq!(t.active_count(), 0);
        set(&mut fib, &mut t, 100, 2, 3, 0);
        assert_eq!(t.active_count(), 1);
        set(&mut fib, &mut t, 400, 1, 3, 3);
        assert_eq!(t.active_count(), 0);
        let all = t.all(1000);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].members, vec![0, 1, 2]);
        assert_eq!((all[0].start_us, all[0].end_us), (100, Some(400)));
    }
}
