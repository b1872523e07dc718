//! A small in-crate harness of several [`Node`]s wired together with virtual time, in the
//! spirit of quinn's `Pair`: it delivers every transmit to the nodes on the same link after
//! a latency, runs timers in order, and keeps each node's "kernel" routing table from its
//! route changes. Deterministic: the same seed and calls give the same run.
//!
//! Compiled for tests and with the `testing` feature (the simulator reuses it).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::node::{
    Command, Config, Event, InstalledRoute, InterfaceConfig, InterfaceEvent, Node, RouteChange,
};
use crate::time::Timestamp;
use crate::wire::{Prefix, RouterId, MULTICAST_GROUP};
use crate::xroute::Xroute;

/// One node of the mesh with what the harness observed of it.
#[derive(Debug)]
pub struct MeshNode {
    pub node: Node,
    pub router_id: RouterId,
    /// The kernel table, as built from `poll_route`.
    pub kernel: BTreeMap<(Prefix, Option<Prefix>), InstalledRoute>,
    pub events: Vec<Event>,
    /// Route changes that did not apply to the kernel table (install over an existing
    /// route, change or retract of a missing one): always a bug.
    pub inconsistencies: Vec<String>,
    /// The last seqno the node asked to persist.
    pub persisted_seqno: u16,
    /// Interfaces: ifindex → (link, config, link-local, IPv4 address).
    ifaces: BTreeMap<u32, (usize, InterfaceConfig, Ipv6Addr, Option<Ipv4Addr>)>,
    xroutes: Vec<Xroute>,
    config: Config,
    next_ifindex: u32,
    pub packets_sent: u64,
    pub bytes_sent: u64,
    /// How many times the node's timer woke it up (`handle_timeout` calls).
    pub wakeups: u64,
}

#[derive(Debug, Clone)]
struct Link {
    /// (node, ifindex) attached to the link.
    members: Vec<(usize, u32)>,
    up: bool,
    latency: Duration,
    /// Loss probability in 1/65536.
    loss: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Delivery {
    node: usize,
    ifindex: u32,
    src: Ipv6Addr,
    multicast: bool,
    bytes: Vec<u8>,
}

/// Several nodes, links between them, and virtual time.
#[derive(Debug)]
pub struct Mesh {
    pub now: Timestamp,
    pub nodes: Vec<MeshNode>,
    links: Vec<Link>,
    in_flight: BinaryHeap<Reverse<(Timestamp, u64, Delivery)>>,
    seq: u64,
    rng: u64,
    seed: u64,
    /// When set, every datagram sent is recorded in `captured`.
    pub capture: bool,
    /// (time, node, ifindex, destination, bytes) of each datagram sent, when capturing.
    pub captured: Vec<(Timestamp, usize, u32, Ipv6Addr, Vec<u8>)>,
}

fn link_local(node: usize, ifindex: u32) -> Ipv6Addr {
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, node as u16 + 1, ifindex as u16)
}

impl Mesh {
    pub fn new(seed: u64) -> Self {
        Mesh {
            now: Timestamp::from_secs(1),
            nodes: Vec::new(),
            links: Vec::new(),
            in_flight: BinaryHeap::new(),
            seq: 0,
            rng: seed ^ 0x2545_F491_4F6C_DD1D,
            seed,
            capture: false,
            captured: Vec::new(),
        }
    }

    fn rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Adds a node with router-id `[0, .., n+1]`-style bytes and the given seqno.
    pub fn add_node(&mut self, config: Config, seqno: u16) -> usize {
        let idx = self.nodes.len();
        let mut id = [0u8; 8];
        id[0] = 0x02;
        id[6] = (idx >> 8) as u8;
        id[7] = idx as u8 + 1;
        let router_id = RouterId(id);
        let node = Node::new(
            config.clone(),
            router_id,
            seqno,
            self.seed.wrapping_add(idx as u64 * 7919),
            self.now,
        );
        self.nodes.push(MeshNode {
            node,
            router_id,
            kernel: BTreeMap::new(),
            events: Vec::new(),
            inconsistencies: Vec::new(),
            persisted_seqno: seqno,
            ifaces: BTreeMap::new(),
            xroutes: Vec::new(),
            config,
            next_ifindex: 1,
            packets_sent: 0,
            bytes_sent: 0,
            wakeups: 0,
        });
        idx
    }

    /// A new empty link (a broadcast domain).
    pub fn add_link(&mut self) -> usize {
        self.links.push(Link {
            members: Vec::new(),
            up: true,
            latency: Duration::from_millis(1),
            loss: 0,
        });
        self.links.len() - 1
    }

    /// Attaches a new interface of `node` to `link`; returns its ifindex.
    pub fn attach(
        &mut self,
        node: usize,
        link: usize,
        config: InterfaceConfig,
        ipv4: Option<Ipv4Addr>,
    ) -> u32 {
        let n = &mut self.nodes[node];
        let ifindex = n.next_ifindex;
        n.next_ifindex += 1;
        let ll = link_local(node, ifindex);
        n.ifaces.insert(ifindex, (link, config, ll, ipv4));
        self.links[link].members.push((node, ifindex));
        self.announce_interface(node, ifindex);
        self.drain(node);
        ifindex
    }

    /// Sends the node an `Up` event for one of its interfaces, as the harness records it.
    fn announce_interface(&mut self, node: usize, ifindex: u32) {
        let Some((_, config, ll, ipv4)) = self.nodes[node].ifaces.get(&ifindex).cloned() else {
            return;
        };
        let now = self.now;
        self.nodes[node].node.handle_interface(
            now,
            InterfaceEvent::Up {
                ifindex,
                name: format!("eth{ifindex}"),
                config,
                link_local: Some(ll),
                ipv4,
                mtu: 1500,
            },
        );
    }

    /// A point-to-point link between two nodes, same config on both sides. Returns the link
    /// and the two ifindexes.
    pub fn connect(&mut self, a: usize, b: usize, config: InterfaceConfig) -> (usize, u32, u32) {
        let l = self.add_link();
        let ia = self.attach(a, l, config.clone(), None);
        let ib = self.attach(b, l, config, None);
        (l, ia, ib)
    }

    pub fn set_link_up(&mut self, link: usize, up: bool) {
        self.links[link].up = up;
    }

    pub fn set_link_latency(&mut self, link: usize, latency: Duration) {
        self.links[link].latency = latency;
    }

    /// Loss probability as a fraction (0.0–1.0).
    pub fn set_link_loss(&mut self, link: usize, loss: f64) {
        self.links[link].loss = (loss.clamp(0.0, 1.0) * 65536.0) as u32;
    }

    /// Changes the configuration of an interface (sent as a new `Up` event).
    pub fn reconfigure(&mut self, node: usize, ifindex: u32, config: InterfaceConfig) {
        let Some(entry) = self.nodes[node].ifaces.get_mut(&ifindex) else {
            return;
        };
        entry.1 = config;
        self.announce_interface(node, ifindex);
        self.drain(node);
    }

    /// Tells the node its interface went down (and stops delivering to it).
    pub fn interface_down(&mut self, node: usize, ifindex: u32) {
        if let Some((link, ..)) = self.nodes[node].ifaces.remove(&ifindex) {
            self.links[link].members.retain(|m| *m != (node, ifindex));
        }
        let now = self.now;
        self.nodes[node]
            .node
            .handle_interface(now, InterfaceEvent::Down { ifindex });
        self.drain(node);
    }

    pub fn command(&mut self, node: usize, cmd: Command) {
        if let Command::AddXroute(x) = &cmd {
            self.nodes[node].xroutes.push(x.clone());
        }
        let now = self.now;
        self.nodes[node].node.handle_command(now, cmd);
        self.drain(node);
    }

    /// Announces a prefix from `node` with metric 0.
    pub fn announce(&mut self, node: usize, prefix: &str, src_prefix: Option<&str>) {
        let x = Xroute {
            prefix: prefix.parse().expect("prefix"),
            src_prefix: src_prefix.map(|s| s.parse().expect("src prefix")),
            metric: 0,
            proto: 0,
            local: true,
            ifindex: None,
        };
        self.command(node, Command::AddXroute(x));
    }

    /// Restarts a node: a new `Node` with the same router-id, either with the seqno it
    /// persisted or with `seqno`, and the same interfaces and announcements. Its kernel table
    /// is kept (as a real kernel's would be).
    pub fn restart(&mut self, node: usize, seqno: Option<u16>) {
        let now = self.now;
        let n = &mut self.nodes[node];
        let s = seqno.unwrap_or(n.persisted_seqno);
        n.node = Node::new(
            n.config.clone(),
            n.router_id,
            s,
            self.seed ^ now.as_micros(),
            now,
        );
        // Forget what the old node said it installed: a restarted daemon flushes stale
        // routes at start, as routed does.
        n.kernel.clear();
        let ifindexes: Vec<u32> = n.ifaces.keys().copied().collect();
        let xroutes = n.xroutes.clone();
        for ifindex in ifindexes {
            self.announce_interface(node, ifindex);
        }
        for x in xroutes {
            self.nodes[node]
                .node
                .handle_command(now, Command::AddXroute(x));
        }
        self.drain(node);
    }

    /// Drains every output of a node: transmits go in flight, route changes go to its kernel
    /// table, events are recorded.
    fn drain(&mut self, node: usize) {
        let now = self.now;
        let mut buf = Vec::new();
        while let Some(t) = self.nodes[node].node.poll_transmit(now, &mut buf) {
            self.nodes[node].packets_sent += 1;
            self.nodes[node].bytes_sent += t.len as u64;
            if self.capture {
                self.captured
                    .push((now, node, t.ifindex, t.dst, buf[..t.len].to_vec()));
            }
            let Some((link, _, src, _)) = self.nodes[node].ifaces.get(&t.ifindex).cloned() else {
                continue;
            };
            let l = self.links[link].clone();
            if !l.up {
                continue;
            }
            let multicast = t.dst == MULTICAST_GROUP;
            for &(m, mi) in &l.members {
                if m == node {
                    continue;
                }
                if !multicast && link_local(m, mi) != t.dst {
                    continue;
                }
                if l.loss > 0 && (self.rand() & 0xFFFF) < l.loss as u64 {
                    continue;
                }
                self.seq += 1;
                self.in_flight.push(Reverse((
                    now + l.latency,
                    self.seq,
                    Delivery {
                        node: m,
                        ifindex: mi,
                        src,
                        multicast,
                        bytes: buf[..t.len].to_vec(),
                    },
                )));
            }
        }
        let n = &mut self.nodes[node];
        while let Some(c) = n.node.poll_route() {
            match c {
                RouteChange::Install(r) => {
                    if n.kernel
                        .insert((r.prefix, r.src_prefix), r.clone())
                        .is_some()
                    {
                        n.inconsistencies
                            .push(format!("install over existing {}", r.prefix));
                    }
                }
                RouteChange::Change { old, new } => {
                    if n.kernel.get(&(old.prefix, old.src_prefix)) != Some(&old) {
                        n.inconsistencies
                            .push(format!("change of missing {}", old.prefix));
                    }
                    n.kernel.insert((new.prefix, new.src_prefix), new);
                }
                RouteChange::Retract(r) => {
                    if n.kernel.remove(&(r.prefix, r.src_prefix)) != Some(r.clone()) {
                        n.inconsistencies
                            .push(format!("retract of missing {}", r.prefix));
                    }
                }
            }
        }
        while let Some(e) = n.node.poll_event() {
            if let Event::SeqnoChanged { seqno, .. } = e {
                n.persisted_seqno = seqno;
            }
            if n.events.len() < 100_000 {
                n.events.push(e);
            }
        }
    }

    /// Processes the next thing that happens (a delivery or a timer); returns false when
    /// nothing is scheduled before `until`.
    fn step(&mut self, until: Timestamp) -> bool {
        let next_timer = self
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.node.poll_timeout().map(|t| (t, i)))
            .min();
        let next_packet = self.in_flight.peek().map(|Reverse((t, ..))| *t);
        let t = match (next_timer, next_packet) {
            (Some((tt, _)), Some(tp)) => tt.min(tp),
            (Some((tt, _)), None) => tt,
            (None, Some(tp)) => tp,
            (None, None) => return false,
        };
        if t > until {
            return false;
        }
        self.now = self.now.max(t);
        let now = self.now;
        if next_packet == Some(t) {
            let Some(Reverse((_, _, d))) = self.in_flight.pop() else {
                return false;
            };
            // Only deliver to an interface still attached to the link.
            if self.nodes[d.node].ifaces.contains_key(&d.ifindex) {
                self.nodes[d.node]
                    .node
                    .handle_packet(now, d.ifindex, d.src, d.multicast, &d.bytes);
                self.drain(d.node);
            }
        } else if let Some((_, i)) = next_timer {
            self.nodes[i].wakeups += 1;
            self.nodes[i].node.handle_timeout(now);
            self.drain(i);
        }
        true
    }

    /// Runs the mesh for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        while self.step(until) {}
        self.now = until;
    }

    /// The route `node` has installed for a prefix, if any.
    pub fn kernel_route(
        &self,
        node: usize,
        prefix: &str,
        src_prefix: Option<&str>,
    ) -> Option<&InstalledRoute> {
        let p: Prefix = prefix.parse().ok()?;
        let sp: Option<Prefix> = src_prefix
            .and_then(|s| s.parse().ok())
            .filter(|p: &Prefix| p.plen() > 0);
        self.nodes[node].kernel.get(&(p, sp))
    }

    /// The link-local address of a node's interface (the next hop others see).
    pub fn address(&self, node: usize, ifindex: u32) -> Ipv6Addr {
        link_local(node, ifindex)
    }

    pub fn node(&self, node: usize) -> &Node {
        &self.nodes[node].node
    }

    /// Feeds a raw datagram to a node as if it came from `src` on `ifindex`, sent to the
    /// node's unicast address.
    pub fn inject(&mut self, node: usize, ifindex: u32, src: Ipv6Addr, bytes: &[u8]) {
        self.inject_to(node, ifindex, src, false, bytes);
    }

    /// [`Mesh::inject`], sent to ff02::1:6 when `multicast`.
    pub fn inject_to(
        &mut self,
        node: usize,
        ifindex: u32,
        src: Ipv6Addr,
        multicast: bool,
        bytes: &[u8],
    ) {
        let now = self.now;
        self.nodes[node]
            .node
            .handle_packet(now, ifindex, src, multicast, bytes);
        self.drain(node);
    }

    /// Asserts that no node saw an inconsistent sequence of route changes, and that each
    /// node's [`Node::reported_routes`] are the table its route changes built.
    pub fn assert_consistent(&self) {
        for (i, n) in self.nodes.iter().enumerate() {
            assert!(
                n.inconsistencies.is_empty(),
                "node {i}: {:?}",
                n.inconsistencies
            );
            let reported: BTreeMap<_, _> = n
                .node
                .reported_routes()
                .map(|r| ((r.prefix, r.src_prefix), r))
                .collect();
            assert!(
                reported == n.kernel,
                "node {i}: the reported routes are not what poll_route handed out"
            );
        }
    }
}

/// The install filters' preferred sources of [`fuzz_node`].
const PREF_SRCS: [std::net::IpAddr; 2] = [
    std::net::IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
    std::net::IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7)),
];

/// Drives one node with an arbitrary byte string read as a sequence of operations: raw
/// datagrams, well-formed datagrams built from the bytes, interface events, commands and
/// time steps. Used by the `node` fuzz target and by a test with pseudo-random input.
/// Panics if the node breaks one of its invariants (bounded tables and queues).
pub fn fuzz_node(data: &[u8]) {
    drive_node(data);
}

/// [`fuzz_node`], giving back the node at the end for a test to look at.
pub fn drive_node(data: &[u8]) -> Node {
    use crate::node::{Command, LinkType};
    use crate::wire::{Encoder, Hello, Ihu, RouteRequest, SeqnoRequest, Tlv, Update};
    use std::net::IpAddr;

    let config = Config {
        max_neighbours: 8,
        max_route_entries: 2_000,
        max_routes_per_neighbour: 700,
        max_sources: 2_000,
        max_pending_requests: 64,
        max_pending_acks: 64,
        max_queued_packets: 256,
        max_queued_events: 256,
        ..Config::default()
    };
    let limits = config.clone();
    let mut now = Timestamp::from_secs(1);
    let mut node = Node::new(config, RouterId([2, 0, 0, 0, 0, 0, 0, 1]), 0, 1, now);
    let mut r = Reader { data, pos: 0 };
    let addr = |b: u8| Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, (b % 6) as u16 + 2);
    let ours = |i: u32| Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 1, i as u16);
    let mut buf = Vec::new();
    let mut steps = 0;
    // The preferred sources said not to be local (`Command::PreferredSource`).
    let mut away: Vec<IpAddr> = Vec::new();
    // The preferred sources the install filters name.
    let mut named: Vec<IpAddr> = Vec::new();
    while let Some(op) = r.u8() {
        steps += 1;
        if steps > 2_000 {
            break;
        }
        match op % 9 {
            0 => {
                // A raw datagram.
                let ifindex = r.u8().unwrap_or(0) as u32 % 3 + 1;
                let src = addr(r.u8().unwrap_or(0));
                let len = r.u8().unwrap_or(0) as usize * 2;
                let bytes = r.take(len);
                node.handle_packet(now, ifindex, src, true, bytes);
            }
            1 => {
                // A well-formed datagram of a few TLVs built from the bytes.
                let ifindex = r.u8().unwrap_or(0) as u32 % 3 + 1;
                let s = r.u8().unwrap_or(0);
                let src = addr(s);
                let mut enc = Encoder::new(1400, Some(src));
                let n = r.u8().unwrap_or(0) % 8 + 1;
                for _ in 0..n {
                    let kind = r.u8().unwrap_or(0);
                    let x = r.u16().unwrap_or(0);
                    let y = r.u16().unwrap_or(0);
                    let p =
                        Prefix::v6(Ipv6Addr::new(0x2001, 0xdb8, x % 64, 0, 0, 0, 0, 0), 48).ok();
                    let p4 = Prefix::v4(Ipv4Addr::new(10, (x % 32) as u8, 0, 0), 16).ok();
                    let id = RouterId([2, 0, 0, 0, 0, 0, 0, (y % 5) as u8 + 2]);
                    let tlv = match kind % 7 {
                        0 => Tlv::Hello(Hello {
                            flags: if y & 1 == 1 { 0x8000 } else { 0 },
                            seqno: x,
                            interval: y % 1000,
                            timestamp: (y & 2 == 2).then_some(y as u32),
                            unknown_subtlvs: vec![],
                        }),
                        1 => Tlv::Ihu(Ihu {
                            rxcost: y,
                            interval: x % 2000,
                            addr: Some(IpAddr::V6(ours(ifindex))),
                            timestamps: None,
                            unknown_subtlvs: vec![],
                        }),
                        2 | 3 => Tlv::Update(Update {
                            flags: 0,
                            interval: x % 3000,
                            seqno: y / 64,
                            metric: if y % 11 == 0 { 0xFFFF } else { y % 2048 },
                            prefix: if kind % 7 == 3 { p4 } else { p },
                            src_prefix: if y % 13 == 0 {
                                Prefix::v6(Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 0), 48)
                                    .ok()
                                    .filter(|_| kind % 7 == 2)
                            } else {
                                None
                            },
                            router_id: Some(id),
                            next_hop: if kind % 7 == 3 {
                                Some(IpAddr::V6(src))
                            } else {
                                None
                            },
                            unknown_subtlvs: vec![],
                        }),
                        4 => Tlv::RouteRequest(RouteRequest {
                            prefix: if y & 1 == 0 { None } else { p },
                            src_prefix: None,
                            unknown_subtlvs: vec![],
                        }),
                        5 => Tlv::SeqnoRequest(SeqnoRequest {
                            seqno: y,
                            hop_count: (x % 130) as u8,
                            router_id: if x & 1 == 0 {
                                RouterId([2, 0, 0, 0, 0, 0, 0, 1])
                            } else {
                                id
                            },
                            prefix: p.unwrap_or_else(|| {
                                Prefix::v6(Ipv6Addr::UNSPECIFIED, 0).expect("valid")
                            }),
                            src_prefix: None,
                            unknown_subtlvs: vec![],
                        }),
                        _ => Tlv::Update(Update {
                            flags: 0,
                            interval: 400,
                            seqno: 0,
                            metric: 0xFFFF,
                            prefix: None,
                            src_prefix: None,
                            router_id: None,
                            next_hop: None,
                            unknown_subtlvs: vec![],
                        }),
                    };
                    let _ = enc.push(&tlv);
                }
                for p in enc.finish() {
                    node.handle_packet(now, ifindex, src, true, &p);
                }
            }
            2 => {
                let ifindex = r.u8().unwrap_or(0) as u32 % 3 + 1;
                let t = r.u8().unwrap_or(0);
                let mut config = InterfaceConfig {
                    link_type: match t % 3 {
                        0 => LinkType::Wired,
                        1 => LinkType::Wireless,
                        _ => LinkType::Tunnel,
                    },
                    ..InterfaceConfig::default()
                };
                config.hello_interval = Duration::from_millis(500 + (t as u64) * 20);
                node.handle_interface(
                    now,
                    InterfaceEvent::Up {
                        ifindex,
                        name: format!("if{ifindex}"),
                        config,
                        link_local: Some(ours(ifindex)),
                        ipv4: (t & 8 == 8).then_some(Ipv4Addr::new(192, 0, 2, ifindex as u8)),
                        mtu: 576 + t as usize * 4,
                    },
                );
            }
            3 => {
                let ifindex = r.u8().unwrap_or(0) as u32 % 3 + 1;
                node.handle_interface(now, InterfaceEvent::Down { ifindex });
            }
            4 => {
                let ms = r.u16().unwrap_or(0) as u64 * 16;
                now += Duration::from_millis(ms);
                node.handle_timeout(now);
            }
            5 => {
                if let Some(t) = node.poll_timeout() {
                    now = now.max(t);
                    node.handle_timeout(now);
                }
            }
            6 => {
                let x = r.u16().unwrap_or(0);
                let prefix = Prefix::v6(
                    Ipv6Addr::new(0x2001, 0xdb8, 0x100 + x % 16, 0, 0, 0, 0, 0),
                    48,
                )
                .expect("valid");
                let cmd = match x % 7 {
                    0 | 1 => Command::AddXroute(Xroute {
                        prefix,
                        src_prefix: None,
                        metric: x % 300,
                        proto: 0,
                        local: x & 1 == 0,
                        ifindex: None,
                    }),
                    2 => Command::RemoveXroute {
                        prefix,
                        src_prefix: None,
                    },
                    3 => Command::BumpSeqno,
                    5 => {
                        // Install filters that give some routes a preferred source.
                        let rule = |prefix: Prefix, a: IpAddr| crate::filter::FilterRule {
                            matches: crate::filter::FilterMatch {
                                prefix: Some(prefix),
                                ..Default::default()
                            },
                            action: crate::filter::FilterAction {
                                pref_src: Some(a),
                                ..Default::default()
                            },
                        };
                        let mut install = Vec::new();
                        for (k, &a) in PREF_SRCS.iter().enumerate() {
                            if x >> (4 + k) & 1 == 1 {
                                let prefix = if a.is_ipv4() {
                                    Prefix::v4(Ipv4Addr::new(10, 0, 0, 0), 8 + (x >> 8) as u8 % 8)
                                } else {
                                    Prefix::v6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32)
                                };
                                install.push(rule(prefix.expect("valid"), a));
                            }
                        }
                        named = install.iter().filter_map(|r| r.action.pref_src).collect();
                        away.retain(|a| named.contains(a));
                        Command::SetFilters(crate::filter::Filters {
                            install,
                            ..Default::default()
                        })
                    }
                    6 => {
                        let addr = PREF_SRCS[(x >> 4) as usize % PREF_SRCS.len()];
                        let local = x & 0x100 == 0;
                        let named = named.contains(&addr);
                        away.retain(|a| *a != addr);
                        if !local && named {
                            away.push(addr);
                        }
                        Command::PreferredSource { addr, local }
                    }
                    _ => Command::RequestFullDump,
                };
                node.handle_command(now, cmd);
            }
            7 => {
                // Run all timers for a while.
                let until = now + Duration::from_secs(r.u8().unwrap_or(0) as u64 * 4);
                while let Some(t) = node.poll_timeout() {
                    if t > until {
                        break;
                    }
                    now = now.max(t);
                    node.handle_timeout(now);
                    while node.poll_transmit(now, &mut buf).is_some() {}
                }
                now = now.max(until);
            }
            _ => {
                // Drain only sometimes, so that queues fill up.
                while node.poll_transmit(now, &mut buf).is_some() {}
                while node.poll_route().is_some() {}
                while node.poll_event().is_some() {}
                // Every route handed out names a preferred source only while it is local.
                for r in node.reported_routes() {
                    assert!(
                        r.pref_src.is_none_or(|a| !away.contains(&a)),
                        "{r:?} reported with {:?}, which is not local",
                        r.pref_src
                    );
                }
            }
        }
        let st = node.table_stats();
        assert!(
            st.route_entries <= limits.max_route_entries,
            "route entries {}",
            st.route_entries
        );
        assert!(st.pending_requests <= limits.max_pending_requests);
        assert!(st.pending_acks <= limits.max_pending_acks);
        assert!(node.neighbours().len() <= limits.max_neighbours);
        assert!(
            st.timers <= 16 + 3 * 3 + limits.max_neighbours,
            "timers {}",
            st.timers
        );
        if let Some(t) = node.poll_timeout() {
            assert!(t >= Timestamp::from_secs(1), "deadline before the start");
        }
    }
    let mut per_neighbour: BTreeMap<(u32, Ipv6Addr), usize> = BTreeMap::new();
    for r in node.routes() {
        *per_neighbour.entry((r.ifindex, r.neighbour)).or_default() += 1;
    }
    assert!(per_neighbour
        .values()
        .all(|&n| n <= limits.max_routes_per_neighbour));
    // Every view can be read.
    let _ = node.routes().count();
    let _ = node.interfaces().count();
    let _ = node.sources().len();
    let _ = node.xroutes().count();
    node
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let end = (self.pos + n).min(self.data.len());
        let s = &self.data[self.pos..end];
        self.pos = end;
        s
    }
}
