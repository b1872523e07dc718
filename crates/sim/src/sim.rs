//! The discrete-event engine: one global queue ordered by (virtual time, sequence number),
//! the real babel-core `Node`s, and the network between them.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv6Addr};
use std::rc::Rc;
use std::time::Duration;

use babel_core::wire::{RouterId, INFINITY};
use babel_core::{
    Command, Config, Event, InterfaceConfig, InterfaceEvent, LinkType, Node, PreparsedPacket,
    RouteChange, Timestamp, Xroute,
};

use crate::check::{Checker, Fib, LoopTracker, PairCounts};
use crate::net::{
    decode_link_local, eui64_prefix, link_local, node_prefix, node_prefix_v4, Net, NONE,
};
use crate::pcap::PcapWriter;
use crate::rng::SimRng;
use crate::scenario::{
    node_names, Addressing, ChurnAction, IfaceKind, LinkMode, RandomKind, Scenario,
};
use crate::topology::{unit_disk, Topology};

pub const MULTICAST: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 6);
/// Ethernet (14) + IPv6 (40) + UDP (8): what an interface counter adds to a Babel packet.
pub const FRAME_OVERHEAD: u64 = 62;

/// A datagram in flight: its bytes, and its TLVs once parsed (at its first delivery; a
/// multicast reaches every node in range, and each would parse the same bytes).
#[derive(Debug)]
struct Datagram {
    bytes: Box<[u8]>,
    parsed: std::cell::OnceCell<PreparsedPacket>,
}

impl Datagram {
    fn new(bytes: Box<[u8]>) -> Datagram {
        Datagram {
            bytes,
            parsed: std::cell::OnceCell::new(),
        }
    }
}

#[derive(Debug)]
enum Ev {
    Start(u32),
    Wake(u32),
    /// A packet from `from`'s interface `from_if` to `to`'s `ifindex`: the addresses
    /// follow (the sender's link-local, and the group or the receiver's link-local).
    Deliver {
        to: u32,
        from: u32,
        edge: u32,
        ifindex: u32,
        from_if: u32,
        multicast: bool,
        data: Rc<Datagram>,
    },
    Churn(ChurnAction),
    Mobility,
    Sample,
}

/// A queued event: the heap holds these small keys, the events wait in `Sim::events` (the
/// heap moves entries around on every push and pop).
#[derive(Debug)]
struct Entry {
    time: u64,
    seq: u64,
    ev: u32,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.time == o.time && self.seq == o.seq
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    // Reversed: BinaryHeap is a max-heap and we want the earliest (time, seq) first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.time, o.seq).cmp(&(self.time, self.seq))
    }
}

/// Per-node traffic counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Traffic {
    pub sent_bytes: u64,
    pub sent_packets: u64,
    pub recv_bytes: u64,
    pub recv_packets: u64,
}

struct SimNode {
    node: Option<Node>,
    wake: u64,
    persisted_seqno: u16,
    incarnation: u32,
    total: Traffic,
    window: Traffic,
}

/// A churn event as it happened, for the report and the plots.
#[derive(Debug, Clone)]
pub struct ChurnRecord {
    pub at_us: u64,
    pub what: String,
    pub converged_after_us: Option<u64>,
}

/// One reachability sample.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at_us: u64,
    pub counts: PairCounts,
}

/// Mobility state of one node (random waypoint).
#[derive(Debug, Clone, Copy)]
struct Walker {
    moving: bool,
    target: (f64, f64),
    speed: f64,
    pause_until: f64,
}

pub struct Sim {
    pub sc: Scenario,
    pub seed: u64,
    pub topo: Topology,
    pub net: Net,
    now: u64,
    end: u64,
    queue: BinaryHeap<Entry>,
    seq: u64,
    /// The queued events, by the `ev` of their entry; `free` lists the empty places.
    events: Vec<Option<Ev>>,
    free: Vec<u32>,
    rng: SimRng,
    nodes: Vec<SimNode>,
    pub alive: Vec<bool>,
    pub fib: Fib,
    pub checker: Checker,
    pub loops: LoopTracker,
    pub events_processed: u64,
    pub churn: Vec<ChurnRecord>,
    pending: Vec<usize>,
    pub initial_convergence_us: Option<u64>,
    /// The last sample at which every counted pair worked (every node booted): the pairs
    /// still unreachable at the end of a run broke after it.
    pub all_working_us: Option<u64>,
    pub samples: Vec<Sample>,
    next_sample: u64,
    last_counts: PairCounts,
    last_sample_at: u64,
    /// Integrals of broken pairs over time (pair-microseconds).
    pub blackhole_pair_us: f64,
    pub loop_pair_us: f64,
    pub max_blackholes: u64,
    /// Bytes sent by the whole mesh in each simulated second.
    pub sent_per_second: Vec<u64>,
    warmup_us: u64,
    iface_config: InterfaceConfig,
    walkers: Vec<Walker>,
    pub positions: Vec<(f64, f64)>,
    pub pcap: Option<PcapWriter>,
    pcap_nodes: Vec<bool>,
    scratch: Vec<(babel_core::Transmit, Rc<Datagram>)>,
    /// Who hears a packet being sent (kept to spare an allocation per packet).
    targets: Vec<(u32, u32)>,
    /// The route changes being applied (likewise).
    changes: Vec<RouteChange>,
    /// Their destinations and next hops (likewise).
    hops: Vec<(u32, u32)>,
    buf: Vec<u8>,
    pub route_changes: u64,
    pub packets_lost: u64,
    /// Update TLVs received by the nodes that crashed since (the live ones keep count).
    updates_received_dead: u64,
    /// Update TLVs received by all nodes when the warm-up ended.
    updates_at_warmup: Option<u64>,
    /// The /128 each node announces, and the way back.
    pub prefixes: Vec<babel_core::wire::Prefix>,
    prefix_owner: std::collections::BTreeMap<babel_core::wire::Prefix, u32>,
    /// `churn.events` with node numbers, until scheduled.
    fixed_churn: Vec<(u64, ChurnAction)>,
}

fn us(s: f64) -> u64 {
    if s <= 0.0 || !s.is_finite() {
        0
    } else {
        (s * 1e6).round() as u64
    }
}

fn router_id(node: u32) -> RouterId {
    let v = (node as u64 + 1).to_be_bytes();
    let mut id = [0u8; 8];
    id[0] = 0x02;
    id[1..].copy_from_slice(&v[1..]);
    RouterId(id)
}

impl Sim {
    /// Builds the mesh; `seed` overrides the scenario's.
    pub fn new(sc: Scenario, seed: Option<u64>, pcap: bool) -> Result<Sim, String> {
        let seed = seed.unwrap_or(sc.seed);
        let mut rng = SimRng::new(seed);
        let topo = Topology::build(&sc.topology, &sc.base_dir, &mut rng)?;
        let n = topo.n;
        if n > 5000 {
            return Err(format!(
                "{n} nodes: the simulator's forwarding check is sized for at most 5000"
            ));
        }
        let mut net = Net::new(n, &[], topo.mode, sc.link);
        match &topo.positions {
            Some(pos) => {
                let e: Vec<(u32, u32, f64)> = topo
                    .edges
                    .iter()
                    .map(|&(a, b)| (a, b, dist(pos[a as usize], pos[b as usize]) / topo.radius))
                    .collect();
                net.set_present(&e);
            }
            None => {
                for &(a, b) in &topo.edges {
                    net.add_edge(a, b, None);
                }
                net.rebuild_adj();
            }
        }
        let wireless = match sc.babel.interface {
            IfaceKind::Wired => false,
            IfaceKind::Wireless => true,
            IfaceKind::Auto => topo.mode == LinkMode::Shared,
        };
        let mut iface_config = if wireless {
            InterfaceConfig::wireless()
        } else {
            InterfaceConfig::wired()
        };
        iface_config.hello_interval = Duration::from_secs_f64(sc.babel.hello_interval_s);
        iface_config.update_interval = sc.babel.update_interval_s.map(Duration::from_secs_f64);
        // Names left in a scenario not read by `Scenario::load` are resolved here.
        let names = node_names(&topo.names);
        let mut pcap_nodes = vec![false; n as usize];
        for r in &sc.measure.pcap_nodes {
            let p = r
                .index(&names)
                .ok_or_else(|| format!("measure.pcap_nodes: no node named {r} in the topology"))?;
            if p >= n {
                return Err(format!(
                    "measure.pcap_nodes: node {p} does not exist ({n} nodes)"
                ));
            }
            pcap_nodes[p as usize] = true;
        }
        let mut fixed_churn = Vec::with_capacity(sc.churn.events.len());
        for (k, e) in sc.churn.events.iter().enumerate() {
            let a = e.resolve(k, &names, n)?;
            fixed_churn.push((us(e.at_s), a));
        }
        let end = us(sc.duration_s);
        let positions = topo.positions.clone().unwrap_or_default();
        let mut sim = Sim {
            seed,
            net,
            now: 0,
            end,
            queue: BinaryHeap::new(),
            seq: 0,
            events: Vec::new(),
            free: Vec::new(),
            nodes: (0..n)
                .map(|_| SimNode {
                    node: None,
                    wake: u64::MAX,
                    persisted_seqno: 0,
                    incarnation: 0,
                    total: Traffic::default(),
                    window: Traffic::default(),
                })
                .collect(),
            alive: vec![false; n as usize],
            fib: Fib::new(n),
            checker: Checker::new(n),
            loops: LoopTracker::new(n),
            events_processed: 0,
            churn: Vec::new(),
            pending: Vec::new(),
            initial_convergence_us: None,
            all_working_us: None,
            samples: Vec::new(),
            next_sample: 0,
            last_counts: PairCounts::default(),
            last_sample_at: 0,
            blackhole_pair_us: 0.0,
            loop_pair_us: 0.0,
            max_blackholes: 0,
            sent_per_second: vec![0; (sc.duration_s.ceil() as usize).max(1)],
            warmup_us: us(sc.warmup_s),
            iface_config,
            walkers: Vec::new(),
            positions,
            pcap: pcap.then(PcapWriter::new),
            pcap_nodes,
            scratch: Vec::new(),
            targets: Vec::new(),
            changes: Vec::new(),
            hops: Vec::new(),
            buf: Vec::new(),
            route_changes: 0,
            packets_lost: 0,
            updates_received_dead: 0,
            updates_at_warmup: None,
            prefixes: Vec::new(),
            prefix_owner: std::collections::BTreeMap::new(),
            fixed_churn,
            topo,
            rng,
            sc,
        };
        for i in 0..n {
            let p = match sim.sc.babel.addressing {
                Addressing::Compact => node_prefix(i),
                Addressing::Eui64 => loop {
                    let r = sim.rng.next_u64().to_be_bytes();
                    // A locally administered unicast MAC, as the kernel gives a veth.
                    let mac = [(r[0] & 0xfe) | 0x02, r[1], r[2], r[3], r[4], r[5]];
                    let p = eui64_prefix(mac);
                    if !sim.prefix_owner.contains_key(&p) {
                        break p;
                    }
                },
            };
            sim.prefix_owner.insert(p, i);
            sim.prefixes.push(p);
        }
        // Nodes boot at random times in the start window.
        let spread = us(sim.sc.babel.start_spread_s).max(1);
        for i in 0..n {
            let t = sim.rng.below(spread);
            sim.nodes[i as usize].persisted_seqno = sim.rng.next_u64() as u16;
            sim.push(t, Ev::Start(i));
        }
        sim.schedule_churn();
        if let Some(m) = sim.sc.mobility.clone() {
            sim.walkers = (0..n)
                .map(|_| Walker {
                    moving: false,
                    target: (0.0, 0.0),
                    speed: 0.0,
                    pause_until: 0.0,
                })
                .collect();
            for i in 0..n as usize {
                let moving = sim.rng.chance(m.fraction);
                sim.walkers[i].moving = moving;
                if moving {
                    sim.new_waypoint(i);
                }
            }
            let t = us(m.start_s.max(m.step_s));
            sim.push(t, Ev::Mobility);
        }
        sim.push(0, Ev::Sample);
        Ok(sim)
    }

    fn push(&mut self, time: u64, ev: Ev) {
        self.seq += 1;
        let i = match self.free.pop() {
            Some(i) => {
                self.events[i as usize] = Some(ev);
                i
            }
            None => {
                self.events.push(Some(ev));
                (self.events.len() - 1) as u32
            }
        };
        self.queue.push(Entry {
            time,
            seq: self.seq,
            ev: i,
        });
    }

    /// Schedules the churn of the scenario: the fixed events and, drawn now from the seed,
    /// the random processes.
    fn schedule_churn(&mut self) {
        let mut list: Vec<(u64, ChurnAction)> = std::mem::take(&mut self.fixed_churn);
        let n = self.topo.n;
        let nedges = self.net.edges.len() as u64;
        for r in self.sc.churn.random.clone() {
            let mut t = r.start_s;
            let end = r
                .end_s
                .unwrap_or(self.sc.duration_s)
                .min(self.sc.duration_s);
            let mut busy_until: Vec<f64> = vec![0.0; (n as usize).max(self.net.edges.len())];
            loop {
                t += self.rng.exp(r.rate_per_s);
                if t >= end {
                    break;
                }
                match r.kind {
                    RandomKind::Crash => {
                        let node = self.rng.below(n as u64) as u32;
                        if busy_until[node as usize] > t {
                            continue;
                        }
                        busy_until[node as usize] = t + r.downtime_s;
                        let keep = self.rng.chance(r.keep_seqno_prob);
                        list.push((us(t), ChurnAction::Crash { node }));
                        list.push((
                            us(t + r.downtime_s),
                            ChurnAction::Restart {
                                node,
                                keep_seqno: keep,
                            },
                        ));
                    }
                    RandomKind::LinkFlap | RandomKind::LinkQuality => {
                        if nedges == 0 {
                            break;
                        }
                        let id = self.rng.below(nedges) as usize;
                        if busy_until[id] > t {
                            continue;
                        }
                        busy_until[id] = t + r.downtime_s;
                        let (a, b) = (self.net.edges[id].a, self.net.edges[id].b);
                        if r.kind == RandomKind::LinkFlap {
                            list.push((us(t), ChurnAction::LinkDown { a, b }));
                            list.push((us(t + r.downtime_s), ChurnAction::LinkUp { a, b }));
                        } else {
                            let loss = self.rng.range(r.loss_min, r.loss_max);
                            let base = self.sc.link.loss;
                            list.push((
                                us(t),
                                ChurnAction::LinkQuality {
                                    a,
                                    b,
                                    loss,
                                    one_way: false,
                                },
                            ));
                            list.push((
                                us(t + r.downtime_s),
                                ChurnAction::LinkQuality {
                                    a,
                                    b,
                                    loss: base,
                                    one_way: false,
                                },
                            ));
                        }
                    }
                }
            }
        }
        list.sort_by_key(|e| e.0);
        for (t, a) in list {
            if t < self.end {
                self.push(t, Ev::Churn(a));
            }
        }
    }

    /// The node that announces `prefix`: read from the address with the compact layout
    /// (one route change in a few hundred events), looked up otherwise.
    fn owner(&self, prefix: &babel_core::wire::Prefix) -> Option<u32> {
        if self.sc.babel.addressing == Addressing::Compact {
            crate::net::decode_prefix(prefix)
                .filter(|&d| self.prefixes.get(d as usize) == Some(prefix))
        } else {
            self.prefix_owner.get(prefix).copied()
        }
    }

    pub fn now_us(&self) -> u64 {
        self.now
    }

    pub fn end_us(&self) -> u64 {
        self.end
    }

    /// Moves the end of the run (for stepping through a run with repeated `run` calls).
    pub fn set_end_us(&mut self, end: u64) {
        self.end = end;
    }

    /// Runs to the end, calling `progress(now_us)` now and then.
    pub fn run(&mut self, progress: &mut dyn FnMut(u64, u64)) {
        let mut since = 0u64;
        let mut last_sec = 0u64;
        while let Some(e) = self.queue.pop() {
            if e.time > self.end {
                self.queue.push(e);
                break;
            }
            if self.updates_at_warmup.is_none() && e.time >= self.warmup_us {
                self.updates_at_warmup = Some(self.updates_received());
            }
            self.now = e.time;
            let Some(ev) = self.events[e.ev as usize].take() else {
                continue;
            };
            self.free.push(e.ev);
            self.step(ev);
            since += 1;
            // At least every 20,000 events and every simulated second.
            if since >= 20_000 || self.now / 1_000_000 != last_sec {
                since = 0;
                last_sec = self.now / 1_000_000;
                progress(self.now, self.events_processed);
            }
        }
        self.now = self.end;
        self.take_sample();
        progress(self.now, self.events_processed);
    }

    fn step(&mut self, ev: Ev) {
        match ev {
            Ev::Wake(i) => {
                let sn = &mut self.nodes[i as usize];
                if sn.wake != self.now {
                    return; // superseded
                }
                sn.wake = u64::MAX;
                let now = Timestamp::from_micros(self.now);
                if let Some(node) = sn.node.as_mut() {
                    node.handle_timeout(now);
                } else {
                    return;
                }
                self.events_processed += 1;
                self.drain(i);
            }
            Ev::Deliver {
                to,
                from,
                edge,
                ifindex,
                from_if,
                multicast,
                data,
            } => {
                if !self.net.usable(edge) {
                    return;
                }
                let src = link_local(from, from_if);
                let now = Timestamp::from_micros(self.now);
                let sn = &mut self.nodes[to as usize];
                let Some(node) = sn.node.as_mut() else { return };
                self.events_processed += 1;
                let len = data.bytes.len() as u64 + FRAME_OVERHEAD;
                sn.total.recv_bytes += len;
                sn.total.recv_packets += 1;
                if self.now >= self.warmup_us {
                    sn.window.recv_bytes += len;
                    sn.window.recv_packets += 1;
                }
                // Parsed once, at its first delivery, for every node it reaches.
                let parsed = data
                    .parsed
                    .get_or_init(|| PreparsedPacket::parse(src, &data.bytes));
                node.handle_parsed_packet(now, ifindex, multicast, parsed);
                if self.pcap_nodes[to as usize] && !self.pcap_nodes[from as usize] {
                    let dst = if multicast {
                        MULTICAST
                    } else {
                        link_local(to, ifindex)
                    };
                    if let Some(p) = self.pcap.as_mut() {
                        p.record(self.now, src, dst, &data.bytes);
                    }
                }
                self.drain(to);
            }
            Ev::Start(i) => {
                self.events_processed += 1;
                self.boot(i);
            }
            Ev::Churn(a) => {
                self.events_processed += 1;
                self.apply_churn(a);
            }
            Ev::Mobility => {
                self.events_processed += 1;
                self.mobility_step();
            }
            Ev::Sample => {
                if self.now != self.next_sample {
                    return;
                }
                self.events_processed += 1;
                self.take_sample();
                // Fast sampling while something is settling: churn not yet converged, or the
                // boot-up (for its first minute; a mesh that never fully converges is then
                // sampled at the normal pace).
                let booting = self.initial_convergence_us.is_none() && self.now < 60_000_000;
                let interval = if self.pending.is_empty() && !booting {
                    us(self.sc.measure.sample_interval_s)
                } else {
                    us(self.sc.measure.settle_interval_s)
                };
                self.next_sample = self.now + interval.max(1);
                self.push(self.next_sample, Ev::Sample);
            }
        }
    }

    /// Samples now and again soon: something changed.
    fn hurry_sampling(&mut self) {
        let t = self.now + us(self.sc.measure.settle_interval_s).max(1);
        if t < self.next_sample {
            self.next_sample = t;
            self.push(t, Ev::Sample);
        }
    }

    fn take_sample(&mut self) {
        let counts = self.checker.check(&self.net, &self.fib, &self.alive);
        let dt = self.now.saturating_sub(self.last_sample_at) as f64;
        if self.initial_convergence_us.is_some() {
            self.blackhole_pair_us += self.last_counts.blackholes as f64 * dt;
            self.loop_pair_us += self.last_counts.loops as f64 * dt;
            self.max_blackholes = self.max_blackholes.max(counts.blackholes);
        }
        self.last_counts = counts;
        self.last_sample_at = self.now;
        self.samples.push(Sample {
            at_us: self.now,
            counts,
        });
        let all_booted = self.nodes.iter().all(|n| n.incarnation > 0);
        if counts.broken() == 0 && all_booted {
            if self.initial_convergence_us.is_none() {
                self.initial_convergence_us = Some(self.now);
            }
            self.all_working_us = Some(self.now);
            for i in self.pending.drain(..) {
                let c = &mut self.churn[i];
                c.converged_after_us = Some(self.now - c.at_us);
            }
        }
    }

    fn boot(&mut self, i: u32) {
        let sn = &mut self.nodes[i as usize];
        if sn.node.is_some() {
            return;
        }
        sn.incarnation += 1;
        let seed = self.seed ^ ((i as u64) << 20) ^ ((sn.incarnation as u64) << 52) ^ 0xb4be1;
        let now = Timestamp::from_micros(self.now);
        // Nothing here reads the core's route events (only its installed routes and
        // its seqno events).
        let config = Config {
            route_events: false,
            ..Config::default()
        };
        let mut node = Node::new(config, router_id(i), sn.persisted_seqno, seed, now);
        let ifs: Vec<u32> = match self.topo.mode {
            LinkMode::Shared => vec![1],
            LinkMode::P2p => (1..=self.net.ifaces[i as usize].len() as u32).collect(),
        };
        for ifindex in ifs {
            node.handle_interface(
                now,
                InterfaceEvent::Up {
                    ifindex,
                    name: format!("sim{ifindex}"),
                    config: self.iface_config.clone(),
                    link_local: Some(link_local(i, ifindex)),
                    ipv4: None,
                    mtu: 1500,
                },
            );
        }
        let mut prefixes = vec![self.prefixes[i as usize]];
        if self.sc.babel.ipv4 {
            prefixes.push(node_prefix_v4(i));
        }
        for prefix in prefixes {
            node.handle_command(
                now,
                Command::AddXroute(Xroute {
                    prefix,
                    src_prefix: None,
                    metric: 0,
                    proto: 0,
                    local: true,
                    ifindex: None,
                }),
            );
        }
        sn.node = Some(node);
        self.alive[i as usize] = true;
        self.fib.set(i, i, i);
        self.checker.topology_changed();
        self.drain(i);
    }

    fn crash(&mut self, i: u32) {
        let sn = &mut self.nodes[i as usize];
        let Some(node) = sn.node.take() else {
            return;
        };
        self.updates_received_dead += node.stats().updates_received;
        sn.wake = u64::MAX;
        self.alive[i as usize] = false;
        for d in 0..self.topo.n {
            let old = self.fib.set(i, d, NONE);
            if old != NONE {
                self.loops
                    .next_hop_changed(&self.fib, self.now, i, d, old, NONE);
            }
        }
        self.checker.topology_changed();
    }

    /// Hands every output of node `i` to the network and the checker, and re-arms its timer.
    fn drain(&mut self, i: u32) {
        let now = Timestamp::from_micros(self.now);
        let mut out = std::mem::take(&mut self.scratch);
        let mut changes = std::mem::take(&mut self.changes);
        {
            let Some(node) = self.nodes[i as usize].node.as_mut() else {
                return;
            };
            while let Some(tx) = node.poll_transmit(now, &mut self.buf) {
                let bytes = Box::from(&self.buf[..tx.len.min(self.buf.len())]);
                out.push((tx, Rc::new(Datagram::new(bytes))));
            }
            while let Some(c) = node.poll_route() {
                changes.push(c);
            }
            let mut persisted = None;
            while let Some(e) = node.poll_event() {
                if let Event::SeqnoChanged { seqno, .. } | Event::RouterIdChanged { seqno, .. } = e
                {
                    persisted = Some(seqno);
                }
            }
            if let Some(s) = persisted {
                self.nodes[i as usize].persisted_seqno = s;
            }
        }
        for (tx, data) in out.drain(..) {
            self.send(i, tx, data);
        }
        self.scratch = out;
        // The next hops first, then their places in the forwarding table read together (a
        // node's changes are to as many rows of it, and the misses overlap), then the
        // changes applied. A change that keeps the next hop (most of them: a new metric)
        // leaves the table alone: the core's `old` is the route it reported last, whose
        // next hop the table holds.
        let mut hops = std::mem::take(&mut self.hops);
        let n = self.topo.n;
        let hop_of = |r: &babel_core::InstalledRoute| match r.next_hop {
            IpAddr::V6(a) if r.metric < INFINITY => {
                decode_link_local(&a).map_or(NONE, |(h, _)| if h < n { h } else { NONE })
            }
            _ => NONE,
        };
        for c in changes.drain(..) {
            self.route_changes += 1;
            let (r, hop, old) = match &c {
                RouteChange::Install(r) => (r, hop_of(r), None),
                RouteChange::Change { old, new } => (new, hop_of(new), Some(hop_of(old))),
                RouteChange::Retract(r) => (r, NONE, None),
            };
            let Some(d) = self.owner(&r.prefix) else {
                continue;
            };
            if d >= n || d == i {
                continue;
            }
            if old == Some(hop) {
                debug_assert_eq!(self.fib.get(i, d), hop, "node {i}, destination {d}");
                continue;
            }
            hops.push((d, hop));
        }
        let warm = hops.iter().fold(0, |w, &(d, _)| w ^ self.fib.get(i, d));
        std::hint::black_box(warm);
        for &(d, hop) in &hops {
            let old = self.fib.set(i, d, hop);
            if old != hop {
                self.loops
                    .next_hop_changed(&self.fib, self.now, i, d, old, hop);
                self.checker.route_changed(i, d);
            }
        }
        hops.clear();
        self.hops = hops;
        self.changes = changes;
        let sn = &mut self.nodes[i as usize];
        if let Some(t) = sn.node.as_ref().and_then(|n| n.poll_timeout()) {
            let t = t.as_micros().max(self.now);
            if t < sn.wake || sn.wake < self.now {
                sn.wake = t;
                self.push(t, Ev::Wake(i));
            }
        }
    }

    fn send(&mut self, i: u32, tx: babel_core::Transmit, data: Rc<Datagram>) {
        let len = data.bytes.len() as u64 + FRAME_OVERHEAD;
        let sn = &mut self.nodes[i as usize];
        sn.total.sent_bytes += len;
        sn.total.sent_packets += 1;
        if self.now >= self.warmup_us {
            sn.window.sent_bytes += len;
            sn.window.sent_packets += 1;
        }
        let sec = (self.now / 1_000_000) as usize;
        if let Some(s) = self.sent_per_second.get_mut(sec) {
            *s += len;
        }
        let src = link_local(i, tx.ifindex);
        if self.pcap_nodes[i as usize] {
            if let Some(p) = self.pcap.as_mut() {
                p.record(self.now, src, tx.dst, &data.bytes);
            }
        }
        // Who hears it: the other end of a point-to-point link, or every node in range.
        let mut targets = std::mem::take(&mut self.targets);
        targets.clear();
        match self.topo.mode {
            LinkMode::P2p => {
                let Some(&edge) =
                    self.net.ifaces[i as usize].get(tx.ifindex.wrapping_sub(1) as usize)
                else {
                    self.targets = targets;
                    return;
                };
                targets.push((self.net.edges[edge as usize].peer(i), edge));
            }
            LinkMode::Shared => targets.extend(self.net.adj[i as usize].iter().copied()),
        }
        let unicast = if tx.dst.is_multicast() {
            None
        } else {
            decode_link_local(&tx.dst)
        };
        if !tx.dst.is_multicast() && unicast.is_none() {
            self.targets = targets;
            return;
        }
        for &(peer, edge) in &targets {
            let e = &self.net.edges[edge as usize];
            let peer_if = e.iface_of(peer);
            if let Some((un, uif)) = unicast {
                if un != peer || uif != peer_if {
                    continue;
                }
            }
            if !self.net.usable(edge) || !self.alive[peer as usize] {
                continue;
            }
            match self.net.transit(edge, i, self.now, &mut self.rng) {
                Ok(delay) => {
                    self.push(
                        self.now + delay,
                        Ev::Deliver {
                            to: peer,
                            from: i,
                            edge,
                            ifindex: peer_if,
                            from_if: tx.ifindex,
                            multicast: unicast.is_none(),
                            data: data.clone(),
                        },
                    );
                }
                Err(_) => self.packets_lost += 1,
            }
        }
        self.targets = targets;
    }

    fn apply_churn(&mut self, a: ChurnAction) {
        let what = describe(&a);
        let mut changed = true;
        match a {
            ChurnAction::Crash { node } => {
                changed = self.alive[node as usize];
                self.crash(node);
            }
            ChurnAction::Restart { node, keep_seqno } => {
                if self.alive[node as usize] {
                    changed = false;
                } else {
                    if !keep_seqno {
                        self.nodes[node as usize].persisted_seqno = self.rng.next_u64() as u16;
                    }
                    self.boot(node);
                }
            }
            ChurnAction::LinkDown { a, b } => changed = self.net.set_up(a, b, false),
            ChurnAction::LinkUp { a, b } => changed = self.net.set_up(a, b, true),
            ChurnAction::LinkQuality {
                a,
                b,
                loss,
                one_way,
            } => changed = self.net.set_loss(a, b, loss, one_way),
            ChurnAction::Partition { fraction } => {
                let n = self.topo.n;
                for i in 0..n {
                    let left = match self.topo.positions.as_ref() {
                        Some(_) => self.positions[i as usize].0 < fraction * self.topo.side,
                        None => (i as f64) < fraction * n as f64,
                    };
                    self.net.side[i as usize] = if left { 0 } else { 1 };
                }
                self.net.partitioned = true;
            }
            ChurnAction::Merge => {
                changed = self.net.partitioned;
                self.net.side.iter_mut().for_each(|s| *s = 0);
                self.net.partitioned = false;
            }
        }
        if !changed {
            return;
        }
        self.checker.topology_changed();
        self.churn.push(ChurnRecord {
            at_us: self.now,
            what,
            converged_after_us: None,
        });
        self.pending.push(self.churn.len() - 1);
        self.hurry_sampling();
    }

    fn new_waypoint(&mut self, i: usize) {
        let Some(m) = self.sc.mobility.as_ref() else {
            return;
        };
        let side = self.topo.side;
        let (smin, smax) = (m.speed_min, m.speed_max);
        self.walkers[i].target = (self.rng.range(0.0, side), self.rng.range(0.0, side));
        self.walkers[i].speed = self.rng.range(smin, smax);
    }

    fn mobility_step(&mut self) {
        let Some(m) = self.sc.mobility.clone() else {
            return;
        };
        let t = self.now as f64 / 1e6;
        for i in 0..self.walkers.len() {
            let w = self.walkers[i];
            if !w.moving || w.pause_until > t {
                continue;
            }
            let p = self.positions[i];
            let d = dist(p, w.target);
            let step = w.speed * m.step_s;
            if d <= step {
                self.positions[i] = w.target;
                self.walkers[i].pause_until = t + m.pause_s;
                self.new_waypoint(i);
            } else {
                self.positions[i] = (
                    p.0 + (w.target.0 - p.0) * step / d,
                    p.1 + (w.target.1 - p.1) * step / d,
                );
            }
        }
        let r = self.topo.radius;
        let edges: Vec<(u32, u32, f64)> = unit_disk(&self.positions, r, self.topo.side)
            .into_iter()
            .map(|(a, b)| {
                (
                    a,
                    b,
                    dist(self.positions[a as usize], self.positions[b as usize]) / r,
                )
            })
            .collect();
        if self.net.set_present(&edges) {
            self.checker.topology_changed();
            if m.count_as_churn {
                self.churn.push(ChurnRecord {
                    at_us: self.now,
                    what: "mobility".into(),
                    converged_after_us: None,
                });
                self.pending.push(self.churn.len() - 1);
                self.hurry_sampling();
            }
        }
        let next = self.now + us(m.step_s).max(1);
        self.push(next, Ev::Mobility);
    }

    // ---- read access for the report ----

    pub fn traffic(&self) -> impl Iterator<Item = (Traffic, Traffic)> + '_ {
        self.nodes.iter().map(|n| (n.total, n.window))
    }

    pub fn live_nodes(&self) -> impl Iterator<Item = &Node> + '_ {
        self.nodes.iter().filter_map(|n| n.node.as_ref())
    }

    pub fn node(&self, i: u32) -> Option<&Node> {
        self.nodes.get(i as usize).and_then(|n| n.node.as_ref())
    }

    /// Update TLVs received by all nodes so far: the unit of the core's work.
    pub fn updates_received(&self) -> u64 {
        self.updates_received_dead
            + self
                .live_nodes()
                .map(|n| n.stats().updates_received)
                .sum::<u64>()
    }

    /// Update TLVs received by all nodes after the warm-up (None before its end).
    pub fn updates_after_warmup(&self) -> Option<u64> {
        self.updates_at_warmup
            .map(|w| self.updates_received().saturating_sub(w))
    }

    pub fn pending_churn(&self) -> usize {
        self.pending.len()
    }

    /// When the earliest churn event that has not converged yet happened.
    pub fn pending_churn_since_us(&self) -> Option<u64> {
        self.pending.iter().map(|&i| self.churn[i].at_us).min()
    }

    pub fn warmup_us(&self) -> u64 {
        self.warmup_us
    }

    pub fn is_wireless(&self) -> bool {
        self.iface_config.link_type == LinkType::Wireless
    }
}

fn dist(a: (f64, f64), b: (f64, f64)) -> f64 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

pub fn describe(a: &ChurnAction) -> String {
    match a {
        ChurnAction::Crash { node } => format!("crash {node}"),
        ChurnAction::Restart { node, keep_seqno } => {
            format!(
                "restart {node}{}",
                if *keep_seqno { "" } else { " (new seqno)" }
            )
        }
        ChurnAction::LinkDown { a, b } => format!("link {a}-{b} down"),
        ChurnAction::LinkUp { a, b } => format!("link {a}-{b} up"),
        ChurnAction::LinkQuality {
            a,
            b,
            loss,
            one_way,
        } => {
            format!(
                "link {a}{}{b} loss {loss:.2}",
                if *one_way { "->" } else { "-" }
            )
        }
        ChurnAction::Partition { fraction } => format!("partition at {fraction:.2}"),
        ChurnAction::Merge => "merge".into(),
    }
}

impl Sim {
    /// Every connected (source, destination) pair whose packets do not arrive, with why.
    pub fn broken_pairs(&self) -> Vec<(u32, u32, crate::check::Fate)> {
        let n = self.topo.n;
        let mut out = Vec::new();
        for d in 0..n {
            if !self.alive[d as usize] {
                continue;
            }
            let dist = crate::check::bfs_hops(&self.net, &self.alive, d);
            for s in 0..n {
                if s != d && dist[s as usize] != NONE {
                    let (f, _) = Checker::fate(&self.net, &self.fib, &self.alive, s, d);
                    if f != crate::check::Fate::Delivered {
                        out.push((s, d, f));
                    }
                }
            }
        }
        out
    }
}
