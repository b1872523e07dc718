//! The simulated network: links with delay, jitter, independent and bursty loss, per
//! direction; point-to-point or shared (one multicast reaches every linked node) interfaces;
//! partitions; and the addresses the simulator gives to nodes.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use babel_core::wire::Prefix;

use crate::rng::SimRng;
use crate::scenario::{LinkMode, LinkSpec};

pub const NONE: u32 = u32::MAX;

/// The link-local address of `node` on `ifindex`: `fe80::<node+1 as 32 bits>:0:<ifindex>`.
pub fn link_local(node: u32, ifindex: u32) -> Ipv6Addr {
    let v = node + 1;
    Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        (v >> 16) as u16,
        v as u16,
        0,
        ifindex as u16,
    )
}

/// The node and ifindex behind a simulator link-local address.
pub fn decode_link_local(a: &Ipv6Addr) -> Option<(u32, u32)> {
    let s = a.segments();
    if s[0] != 0xfe80 || s[1] != 0 || s[2] != 0 || s[3] != 0 || s[6] != 0 {
        return None;
    }
    let v = ((s[4] as u32) << 16) | s[5] as u32;
    Some((v.checked_sub(1)?, s[7] as u32))
}

/// The /128 that `node` announces: fd00::<node+1 as 32 bits>.
pub fn node_prefix(node: u32) -> Prefix {
    let v = node + 1;
    let a = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, (v >> 16) as u16, v as u16);
    Prefix::v6(a, 128).unwrap_or_else(|_| unreachable!("/128 is a valid IPv6 length"))
}

/// A meshnet-lab style /128: `fdef:17a0:ffb1:300:` and the EUI-64 of a MAC address.
pub fn eui64_prefix(mac: [u8; 6]) -> Prefix {
    let iid = [
        mac[0] ^ 2,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ];
    let mut o = [0u8; 16];
    o[..8].copy_from_slice(&[0xfd, 0xef, 0x17, 0xa0, 0xff, 0xb1, 0x03, 0x00]);
    o[8..].copy_from_slice(&iid);
    Prefix::v6(Ipv6Addr::from(o), 128)
        .unwrap_or_else(|_| unreachable!("/128 is a valid IPv6 length"))
}

/// The IPv4 /32 that `node` announces when asked: 10.x.y.z.
pub fn node_prefix_v4(node: u32) -> Prefix {
    let v = node + 1;
    let a = Ipv4Addr::new(10, (v >> 16) as u8, (v >> 8) as u8, v as u8);
    Prefix::v4(a, 32).unwrap_or_else(|_| unreachable!("/32 is a valid IPv4 length"))
}

/// The node whose /128 this is.
pub fn decode_prefix(p: &Prefix) -> Option<u32> {
    match p.addr() {
        IpAddr::V6(a) if p.plen() == 128 => {
            let s = a.segments();
            if s[0] != 0xfd00 || s[1..6].iter().any(|&x| x != 0) {
                return None;
            }
            (((s[6] as u32) << 16) | s[7] as u32).checked_sub(1)
        }
        _ => None,
    }
}

/// The state of one direction of a link.
#[derive(Debug, Clone, Copy)]
pub struct Dir {
    pub loss: f64,
    /// In the Gilbert-Elliott bad state.
    pub bad: bool,
    /// When the last packet sent this way arrives (µs of virtual time): a link delivers in
    /// the order it was given, as a radio's or an interface's queue does, so jitter delays
    /// a packet but never lets it overtake the one before it.
    pub last_arrival: u64,
}

/// An undirected link between `a < b`.
#[derive(Debug, Clone)]
pub struct Edge {
    pub a: u32,
    pub b: u32,
    /// Administratively up (churn).
    pub up: bool,
    /// In radio range (always true for static topologies).
    pub present: bool,
    pub ab: Dir,
    pub ba: Dir,
    /// The interface on each end (1 on shared interfaces).
    pub if_a: u32,
    pub if_b: u32,
}

impl Edge {
    fn dir_mut(&mut self, from: u32) -> &mut Dir {
        if from == self.a {
            &mut self.ab
        } else {
            &mut self.ba
        }
    }
    pub fn peer(&self, of: u32) -> u32 {
        if of == self.a {
            self.b
        } else {
            self.a
        }
    }
    pub fn iface_of(&self, node: u32) -> u32 {
        if node == self.a {
            self.if_a
        } else {
            self.if_b
        }
    }
}

/// The links of the mesh, and who can hear whom.
#[derive(Debug, Clone)]
pub struct Net {
    pub n: u32,
    pub mode: LinkMode,
    pub spec: LinkSpec,
    pub edges: Vec<Edge>,
    index: BTreeMap<(u32, u32), u32>,
    /// Per node: (peer, edge id) of present edges, sorted by peer.
    pub adj: Vec<Vec<(u32, u32)>>,
    /// Per node, p2p mode: edge id by ifindex - 1.
    pub ifaces: Vec<Vec<u32>>,
    /// Partition side of each node (0 when merged).
    pub side: Vec<u8>,
    pub partitioned: bool,
}

/// Why a packet did not arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    Lost,
}

impl Net {
    pub fn new(n: u32, edges: &[(u32, u32)], mode: LinkMode, spec: LinkSpec) -> Net {
        let mut net = Net {
            n,
            mode,
            spec,
            edges: Vec::new(),
            index: BTreeMap::new(),
            adj: vec![Vec::new(); n as usize],
            ifaces: vec![Vec::new(); n as usize],
            side: vec![0; n as usize],
            partitioned: false,
        };
        for &(a, b) in edges {
            net.add_edge(a, b, None);
        }
        net.rebuild_adj();
        net
    }

    fn base_dir(&self, from: u32, to: u32, extra: f64) -> Dir {
        let mut loss = self.spec.loss + extra;
        if from > to {
            loss += self.spec.asym_loss;
        }
        Dir {
            loss: loss.min(1.0),
            bad: false,
            last_arrival: 0,
        }
    }

    /// Adds (or brings back into range) the edge a–b; `dist_frac` is distance / radius.
    pub fn add_edge(&mut self, a: u32, b: u32, dist_frac: Option<f64>) -> u32 {
        let (a, b) = if a < b { (a, b) } else { (b, a) };
        let extra = dist_frac.map_or(0.0, |f| self.spec.edge_loss * f.powi(4));
        if let Some(&id) = self.index.get(&(a, b)) {
            let ab = self.base_dir(a, b, extra).loss;
            let ba = self.base_dir(b, a, extra).loss;
            let e = &mut self.edges[id as usize];
            e.present = true;
            if dist_frac.is_some() {
                e.ab.loss = ab;
                e.ba.loss = ba;
            }
            return id;
        }
        let id = self.edges.len() as u32;
        let (if_a, if_b) = match self.mode {
            LinkMode::Shared => (1, 1),
            LinkMode::P2p => {
                self.ifaces[a as usize].push(id);
                self.ifaces[b as usize].push(id);
                (
                    self.ifaces[a as usize].len() as u32,
                    self.ifaces[b as usize].len() as u32,
                )
            }
        };
        self.edges.push(Edge {
            a,
            b,
            up: true,
            present: true,
            ab: self.base_dir(a, b, extra),
            ba: self.base_dir(b, a, extra),
            if_a,
            if_b,
        });
        self.index.insert((a, b), id);
        id
    }

    /// Replaces the set of present edges (mobility). Returns whether anything changed.
    pub fn set_present(&mut self, edges: &[(u32, u32, f64)]) -> bool {
        let before: Vec<bool> = self.edges.iter().map(|e| e.present).collect();
        for e in &mut self.edges {
            e.present = false;
        }
        for &(a, b, f) in edges {
            self.add_edge(a, b, Some(f));
        }
        let changed = self.edges.len() != before.len()
            || self.edges.iter().zip(&before).any(|(e, &p)| e.present != p);
        if changed {
            self.rebuild_adj();
        }
        changed
    }

    pub fn rebuild_adj(&mut self) {
        for a in &mut self.adj {
            a.clear();
        }
        for (id, e) in self.edges.iter().enumerate() {
            if e.present {
                self.adj[e.a as usize].push((e.b, id as u32));
                self.adj[e.b as usize].push((e.a, id as u32));
            }
        }
        for a in &mut self.adj {
            a.sort_unstable();
        }
    }

    pub fn edge_id(&self, a: u32, b: u32) -> Option<u32> {
        self.index.get(&(a.min(b), a.max(b))).copied()
    }

    /// The present edge between two nodes, by the adjacency list (fast path).
    pub fn adjacent(&self, a: u32, b: u32) -> Option<u32> {
        let l = self.adj.get(a as usize)?;
        l.binary_search_by_key(&b, |&(p, _)| p).ok().map(|i| l[i].1)
    }

    /// Whether a packet could cross the edge now (ignoring random loss).
    pub fn usable(&self, id: u32) -> bool {
        let e = &self.edges[id as usize];
        e.up && e.present && self.side[e.a as usize] == self.side[e.b as usize]
    }

    /// The edge counts for connectivity: usable and not fully lossy both ways.
    pub fn connects(&self, id: u32) -> bool {
        let e = &self.edges[id as usize];
        self.usable(id) && e.ab.loss < 1.0 && e.ba.loss < 1.0
    }

    /// Decides the fate of one packet sent over `id` from `from` at `now` (µs): its delay in
    /// microseconds, or lost. Packets over one direction of a link arrive in the order they
    /// were sent.
    pub fn transit(&mut self, id: u32, from: u32, now: u64, rng: &mut SimRng) -> Result<u64, Drop> {
        let spec = self.spec;
        let e = &mut self.edges[id as usize];
        let d = e.dir_mut(from);
        // Gilbert-Elliott: move between the good and the bad state, then lose by state.
        if spec.burst_enter > 0.0 {
            if d.bad {
                if rng.chance(spec.burst_exit) {
                    d.bad = false;
                }
            } else if rng.chance(spec.burst_enter) {
                d.bad = true;
            }
            if d.bad && rng.chance(spec.burst_loss) {
                return Err(Drop::Lost);
            }
        }
        if rng.chance(d.loss) {
            return Err(Drop::Lost);
        }
        let jitter = if spec.jitter_ms > 0.0 {
            rng.range(0.0, spec.jitter_ms)
        } else {
            0.0
        };
        let delay = ((spec.delay_ms + jitter) * 1000.0).round() as u64;
        let at = (now + delay).max(d.last_arrival);
        d.last_arrival = at;
        Ok(at - now)
    }

    pub fn set_loss(&mut self, a: u32, b: u32, loss: f64, one_way: bool) -> bool {
        let Some(id) = self.edge_id(a, b) else {
            return false;
        };
        let e = &mut self.edges[id as usize];
        e.dir_mut(a).loss = loss;
        if !one_way {
            e.dir_mut(b).loss = loss;
        }
        true
    }

    pub fn set_up(&mut self, a: u32, b: u32, up: bool) -> bool {
        let Some(id) = self.edge_id(a, b) else {
            return false;
        };
        self.edges[id as usize].up = up;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        for n in [0u32, 1, 999, 70_000] {
            assert_eq!(decode_link_local(&link_local(n, 3)), Some((n, 3)));
            assert_eq!(decode_prefix(&node_prefix(n)), Some(n));
        }
        assert_eq!(decode_link_local(&"fe80::1".parse().unwrap()), None);
        let p = eui64_prefix([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
        assert_eq!(p.to_string(), "fdef:17a0:ffb1:300:11:22ff:fe33:4455/128");
        assert_eq!(decode_prefix(&node_prefix_v4(3)), None);
    }

    #[test]
    fn loss_and_bursts_follow_the_spec() {
        let spec = LinkSpec {
            loss: 0.2,
            ..LinkSpec::default()
        };
        let mut net = Net::new(2, &[(0, 1)], LinkMode::P2p, spec);
        let mut rng = SimRng::new(1);
        let lost = (0..10_000)
            .filter(|_| net.transit(0, 0, 0, &mut rng).is_err())
            .count();
        assert!((1700..2300).contains(&lost), "{lost}");
        assert_eq!(
            net.transit(0, 0, 0, &mut SimRng::new(5)).unwrap_or(1000),
            1000
        );

        let spec = LinkSpec {
            burst_enter: 0.05,
            burst_exit: 0.2,
            ..LinkSpec::default()
        };
        let mut net = Net::new(2, &[(0, 1)], LinkMode::P2p, spec);
        let fates: Vec<bool> = (0..20_000)
            .map(|_| net.transit(0, 1, 0, &mut rng).is_err())
            .collect();
        let lost = fates.iter().filter(|&&l| l).count() as f64 / fates.len() as f64;
        // Stationary bad-state probability 0.05 / (0.05 + 0.2) = 0.2.
        assert!((0.15..0.25).contains(&lost), "{lost}");
        // Bursty: a loss is followed by a loss far more often than the average.
        let pairs = fates.windows(2).filter(|w| w[0]).count() as f64;
        let both = fates.windows(2).filter(|w| w[0] && w[1]).count() as f64;
        assert!(both / pairs > 0.6, "{}", both / pairs);
    }

    #[test]
    fn jitter_never_lets_a_packet_overtake_the_one_sent_before_it() {
        let spec = LinkSpec {
            delay_ms: 1.0,
            jitter_ms: 5.0,
            ..LinkSpec::default()
        };
        let mut net = Net::new(2, &[(0, 1)], LinkMode::P2p, spec);
        let mut rng = SimRng::new(3);
        // A packet every 0.5 ms each way, for 2 s.
        let mut last = [0u64; 2];
        let mut delays = Vec::new();
        for k in 0..4000u64 {
            let now = k * 500;
            for from in 0..2 {
                let delay = net.transit(0, from, now, &mut rng).expect("no loss");
                assert!(delay >= 1000, "{delay}");
                let at = now + delay;
                assert!(at >= last[from as usize], "packet {k} from {from} overtook");
                last[from as usize] = at;
                delays.push(delay);
            }
        }
        // The jitter still spreads the delays (in order, not all at the maximum).
        let (lo, hi) = (delays.iter().min().unwrap(), delays.iter().max().unwrap());
        assert!(*lo < 2000 && *hi > 5000, "{lo}..{hi}");
        // The two directions queue separately: a quiet direction is not held back by a
        // busy one.
        let mut net = Net::new(2, &[(0, 1)], LinkMode::P2p, spec);
        for k in 0..100 {
            net.transit(0, 0, k * 100, &mut rng).expect("no loss");
        }
        let d = net.transit(0, 1, 0, &mut rng).expect("no loss");
        assert!(d <= 6000, "{d}");
    }

    #[test]
    fn p2p_interfaces_and_asymmetry() {
        let spec = LinkSpec {
            asym_loss: 1.0,
            ..LinkSpec::default()
        };
        let mut net = Net::new(3, &[(0, 1), (1, 2)], LinkMode::P2p, spec);
        assert_eq!(net.ifaces[1], vec![0, 1]);
        assert_eq!(net.edges[1].if_a, 2);
        let mut rng = SimRng::new(1);
        assert!(net.transit(0, 0, 0, &mut rng).is_ok());
        assert!(net.transit(0, 1, 0, &mut rng).is_err());
        assert!(!net.connects(0));
        net.side[2] = 1;
        assert!(!net.usable(1));
    }
}
