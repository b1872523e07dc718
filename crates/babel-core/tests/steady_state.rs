//! A mesh at rest: what a node sends and how often it wakes up once routes have converged
//! (RFC 8966 §4: a node SHOULD maximise the size of its packets, that is send few of them). The figures
//! are counts over virtual time, not speed.

use std::collections::BTreeMap;
use std::time::Duration;

use babel_core::testing::Mesh;
use babel_core::wire::{self, Tlv, MULTICAST_GROUP};
use babel_core::{Config, InterfaceConfig};

/// A k×k grid of wired links, every node announcing one /128, run until converged.
fn grid(k: usize, seed: u64) -> Mesh {
    let mut m = Mesh::new(seed);
    let n: Vec<usize> = (0..k * k)
        .map(|i| m.add_node(Config::default(), i as u16 * 100))
        .collect();
    for r in 0..k {
        for c in 0..k {
            let i = r * k + c;
            if c + 1 < k {
                m.connect(n[i], n[i + 1], InterfaceConfig::wired());
            }
            if r + 1 < k {
                m.connect(n[i], n[i + k], InterfaceConfig::wired());
            }
        }
    }
    for (i, &node) in n.iter().enumerate() {
        m.announce(node, &format!("fd00:99::{:x}/128", i + 1), None);
    }
    m.run_for(Duration::from_secs(40));
    for i in 0..k * k {
        for j in 0..k * k {
            if i != j {
                assert!(
                    m.kernel_route(i, &format!("fd00:99::{:x}/128", j + 1), None)
                        .is_some(),
                    "{i} has no route to {j}"
                );
            }
        }
    }
    m.assert_consistent();
    m
}

/// Per (node, ifindex): packets sent, and of them those carrying a multicast hello, those
/// carrying updates and those sent unicast.
#[derive(Debug, Default)]
struct Sent {
    packets: u32,
    with_hello: u32,
    with_updates: u32,
    unicast: u32,
}

fn tally(m: &Mesh) -> BTreeMap<(usize, u32), Sent> {
    let mut out: BTreeMap<(usize, u32), Sent> = BTreeMap::new();
    for (_, node, ifindex, dst, bytes) in &m.captured {
        let p = wire::parse_packet(bytes, None).expect("a packet we sent parses");
        let s = out.entry((*node, *ifindex)).or_default();
        s.packets += 1;
        if *dst != MULTICAST_GROUP {
            s.unicast += 1;
        }
        if p.tlvs
            .iter()
            .any(|t| matches!(t, Tlv::Hello(h) if !h.is_unicast()))
        {
            s.with_hello += 1;
        }
        if p.tlvs.iter().any(|t| matches!(t, Tlv::Update(_))) {
            s.with_updates += 1;
        }
    }
    out
}

/// At rest, every packet a node sends is a multicast hello: the IHUs and the periodic full
/// dumps go in the hello's packet instead of packets of their own (babeld does the same),
/// and the dumps still go out every update interval.
#[test]
fn at_rest_every_packet_is_a_hello_carrying_the_ihus_and_dumps() {
    let mut m = grid(3, 5);
    m.capture = true;
    let window = Duration::from_secs(120);
    m.run_for(window);
    m.assert_consistent();
    let sent = tally(&m);
    // 12 links, two interfaces each.
    assert_eq!(sent.len(), 24);
    for ((node, ifindex), s) in &sent {
        let who = format!("node {node} ifindex {ifindex}: {s:?}");
        assert_eq!(s.unicast, 0, "{who}");
        assert_eq!(s.with_hello, s.packets, "a packet without a hello: {who}");
        // A hello every 4 s ± 25%.
        assert!((24..=41).contains(&s.packets), "{who}");
        // A full dump every 16 s ± 25% (the first one in the window may have been sent
        // just before it).
        assert!((6..=11).contains(&s.with_updates), "{who}");
    }
}

/// At rest a node wakes up about once per hello interval, whatever its number of
/// interfaces: the hellos of all its interfaces go together, the dumps go with them, and
/// route expiry and source collection go with them too, or now and then on their own. No
/// per-second tick.
#[test]
fn at_rest_a_node_wakes_up_about_once_per_hello_interval() {
    let mut m = grid(3, 9);
    let before: Vec<u64> = m.nodes.iter().map(|n| n.wakeups).collect();
    let window = Duration::from_secs(300);
    m.run_for(window);
    // A hello every 4 s - 25% at most.
    let rounds = window.as_secs() / 3;
    for (i, n) in m.nodes.iter().enumerate() {
        let wakeups = n.wakeups - before[i];
        assert!(
            wakeups <= rounds + 15,
            "node {i}: {wakeups} wake-ups in {window:?}"
        );
    }
}

/// The same holds on a link with more than two routers: one packet per hello each.
#[test]
fn at_rest_a_shared_link_carries_one_packet_per_hello_per_router() {
    let mut m = Mesh::new(3);
    let nodes: Vec<usize> = (0..4).map(|i| m.add_node(Config::default(), i)).collect();
    let link = m.add_link();
    for &n in &nodes {
        m.attach(n, link, InterfaceConfig::wired(), None);
        m.announce(n, &format!("2001:db8:{n}::/48"), None);
    }
    m.run_for(Duration::from_secs(40));
    for &a in &nodes {
        for &b in &nodes {
            if a != b {
                assert!(m
                    .kernel_route(a, &format!("2001:db8:{b}::/48"), None)
                    .is_some());
            }
        }
    }
    m.capture = true;
    m.run_for(Duration::from_secs(120));
    let sent = tally(&m);
    assert_eq!(sent.len(), 4);
    for ((node, _), s) in &sent {
        assert_eq!(s.with_hello, s.packets, "node {node}: {s:?}");
        assert!((6..=11).contains(&s.with_updates), "node {node}: {s:?}");
    }
}
