//! Scenario tests: small meshes of nodes on the in-crate harness (`babel_core::testing`),
//! with the routes expected at the end.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use babel_core::testing::Mesh;
use babel_core::wire::{self, Encoder, Hello, Ihu, RouterId, Tlv, Update, INFINITY};
use babel_core::{
    Command, Config, Event, FilterAction, FilterMatch, FilterRule, Filters, InterfaceConfig,
    RouteEventKind, Timestamp,
};

mod common;
use common::mesh::{line3, mesh, metric_stays, pair, Conn};
use common::tlvs::update_prefixes;

fn wired() -> InterfaceConfig {
    InterfaceConfig::wired()
}

fn wired_cost(c: u16) -> InterfaceConfig {
    InterfaceConfig {
        cost: Some(c),
        ..InterfaceConfig::wired()
    }
}

/// The diamond A–B–D, A–C–D on wired links, A–C costing 256: the mesh, the nodes and the
/// links A–B and A–C.
fn diamond(seed: u64) -> (Mesh, [usize; 4], Conn, Conn) {
    let (mut m, [a, b, c, d]) = mesh(seed, [1, 1, 1, 1]);
    let ab = m.connect(a, b, wired());
    let ac = m.connect(a, c, wired_cost(256));
    m.connect(b, d, wired());
    m.connect(c, d, wired());
    (m, [a, b, c, d], ab, ac)
}

fn v6(m: &Mesh, node: usize, ifindex: u32) -> IpAddr {
    IpAddr::V6(m.address(node, ifindex))
}

const P_A: &str = "2001:db8:a::/48";
const P_C: &str = "2001:db8:c::/48";
const P_D: &str = "2001:db8:d::/48";

#[test]
fn line_of_three_learns_routes_both_ways() {
    let (mut m, [a, b, c], [(_, a1, b1), (_, b2, c1)]) = line3(1, [100, 200, 300]);
    m.announce(a, P_A, None);
    m.announce(c, P_C, None);
    m.run_for(Duration::from_secs(30));
    m.assert_consistent();
    let r = m.kernel_route(c, P_A, None).expect("c has a route to a");
    assert_eq!((r.ifindex, r.next_hop, r.metric), (c1, v6(&m, b, b2), 192));
    let r = m.kernel_route(a, P_C, None).expect("a has a route to c");
    assert_eq!((r.ifindex, r.next_hop, r.metric), (a1, v6(&m, b, b1), 192));
    assert!(
        m.kernel_route(a, P_A, None).is_none(),
        "no route to its own prefix"
    );
    // The views agree with the kernel.
    let sel = m
        .node(c)
        .selected_route(P_A.parse().unwrap(), None)
        .unwrap();
    assert_eq!(
        (sel.metric, sel.refmetric, sel.router_id),
        (192, 96, m.nodes[a].router_id)
    );
    assert_eq!(m.node(b).neighbours().len(), 2);
    assert!(m
        .node(b)
        .neighbours()
        .iter()
        .all(|n| n.cost == 96 && n.txcost == 96 && n.rxcost == 96));
}

/// A ring of five: every node reaches every prefix by the shorter way round; when a link
/// breaks, traffic goes the long way; when it heals, back again.
#[test]
fn ring_of_five_routes_around_a_broken_link_and_back() {
    let mut m = Mesh::new(2);
    let n: Vec<usize> = (0..5)
        .map(|i| m.add_node(Config::default(), i as u16 * 10))
        .collect();
    let mut links = Vec::new();
    for i in 0..5 {
        links.push(m.connect(n[i], n[(i + 1) % 5], wired()));
    }
    for (i, &node) in n.iter().enumerate() {
        m.announce(node, &format!("2001:db8:{i}::/48"), None);
    }
    // A shorter route found later replaces the first one found as soon as it is learned.
    m.run_for(Duration::from_secs(30));
    m.assert_consistent();
    for (i, &node) in n.iter().enumerate() {
        for j in 0..5 {
            if i == j {
                continue;
            }
            let hops = ((j + 5 - i) % 5).min((i + 5 - j) % 5) as u16;
            let r = m
                .kernel_route(node, &format!("2001:db8:{j}::/48"), None)
                .unwrap_or_else(|| panic!("{i} → {j}"));
            assert_eq!(r.metric, 96 * hops, "{i} → {j}");
        }
    }
    // Break 0–1: node 0 now reaches 1 through 4, 3, 2 (four hops).
    let (l01, _, _) = links[0];
    m.set_link_up(l01, false);
    m.run_for(Duration::from_secs(90));
    m.assert_consistent();
    let r = m
        .kernel_route(n[0], "2001:db8:1::/48", None)
        .expect("still reachable");
    assert_eq!(r.metric, 4 * 96);
    assert_eq!(r.ifindex, links[4].2, "through node 4");
    // Heal it: back to the direct link once it carries hellos again.
    m.set_link_up(l01, true);
    m.run_for(Duration::from_secs(20));
    let r = m.kernel_route(n[0], "2001:db8:1::/48", None).unwrap();
    assert_eq!((r.metric, r.ifindex), (96, links[0].1));
    m.assert_consistent();
}

/// A diamond A–B–D and A–C–D where the path through C is worse: A uses B; when A's
/// interface to B goes down it switches to C at once; when B's link comes back A returns.
#[test]
fn diamond_prefers_better_path_and_fails_over_at_once() {
    let (mut m, [a, _, _, d], (_, ab, _), (_, ac, _)) = diamond(3);
    m.announce(d, P_D, None);
    // Long enough for the better path to be selected if it was found second.
    m.run_for(Duration::from_secs(30));
    let r = m.kernel_route(a, P_D, None).unwrap();
    assert_eq!((r.ifindex, r.metric), (ab, 192));
    let alt = m.node(a).routes_for(P_D.parse().unwrap(), None);
    assert_eq!(alt.len(), 2, "the worse path is known too: {alt:?}");
    assert!(alt
        .iter()
        .any(|r| !r.installed && r.metric == 256 + 96 && r.feasible));

    // Interface down: the switch happens in the same instant.
    m.interface_down(a, ab);
    let r = m.kernel_route(a, P_D, None).expect("switched, not lost");
    assert_eq!((r.ifindex, r.metric), (ac, 352));
    m.run_for(Duration::from_millis(500));
    assert_eq!(m.kernel_route(a, P_D, None).unwrap().ifindex, ac);
    m.assert_consistent();
}

/// Link loss without an interface event: the hellos stop, the neighbour's cost goes to
/// infinity, and A moves to the alternative; when the link recovers A moves back.
#[test]
fn link_loss_detected_by_hellos_and_recovery() {
    let (mut m, [a, _, _, d], (lab, ab, _), (_, ac, _)) = diamond(4);
    m.announce(d, P_D, None);
    m.run_for(Duration::from_secs(100));
    assert_eq!(m.kernel_route(a, P_D, None).unwrap().ifindex, ab);
    m.set_link_up(lab, false);
    // Two missed hellos (2-out-of-3) plus slack: well under 20 s.
    m.run_for(Duration::from_secs(20));
    let r = m.kernel_route(a, P_D, None).expect("rerouted");
    assert_eq!((r.ifindex, r.metric), (ac, 352));
    m.set_link_up(lab, true);
    m.run_for(Duration::from_secs(20));
    let r = m.kernel_route(a, P_D, None).unwrap();
    assert_eq!((r.ifindex, r.metric), (ab, 192));
    m.assert_consistent();
}

/// RFC 8966 §3.5.5: a withdrawn prefix is retracted along the line at once; the route is
/// held as unreachable for the hold time, then flushed.
#[test]
fn retraction_propagates_and_is_held_then_flushed() {
    let (mut m, [a, b, c], _) = line3(5, [1, 1, 1]);
    m.announce(a, P_A, None);
    m.run_for(Duration::from_secs(30));
    assert_eq!(m.kernel_route(c, P_A, None).unwrap().metric, 192);
    m.command(
        a,
        Command::RemoveXroute {
            prefix: P_A.parse().unwrap(),
            src_prefix: None,
        },
    );
    m.run_for(Duration::from_millis(200));
    let r = m.kernel_route(c, P_A, None).expect("held as unreachable");
    assert_eq!(r.metric, INFINITY);
    assert_eq!(m.kernel_route(b, P_A, None).unwrap().metric, INFINITY);
    m.run_for(Duration::from_secs(120));
    assert!(
        m.kernel_route(c, P_A, None).is_none(),
        "flushed after the hold time"
    );
    assert!(m.kernel_route(b, P_A, None).is_none());
    assert!(m.node(c).routes_for(P_A.parse().unwrap(), None).is_empty());
    m.assert_consistent();
}

/// Starvation: when the only remaining route is unfeasible, seqno requests make the origin
/// bump its seqno and the route comes back within seconds.
#[test]
fn starvation_resolved_by_seqno_request() {
    let (mut m, [s, b, c, a]) = mesh(6, [50, 1, 1, 1]);
    let (_, _, bs) = m.connect(s, b, wired());
    m.connect(b, a, wired());
    let (_, ac, _) = m.connect(a, c, wired());
    m.connect(c, s, wired_cost(500));
    let p = "2001:db8:5::/48";
    m.announce(s, p, None);
    m.run_for(Duration::from_secs(100));
    assert_eq!(m.kernel_route(a, p, None).unwrap().metric, 192);
    // C prefers A (288) over its direct but expensive link (500).
    assert_eq!(m.kernel_route(c, p, None).unwrap().metric, 288);
    let seqno_before = m.node(s).seqno();
    m.interface_down(b, bs);
    m.run_for(Duration::from_secs(5));
    let r = m
        .kernel_route(a, p, None)
        .expect("route restored by a seqno request");
    assert_eq!((r.ifindex, r.metric), (ac, 596));
    assert_eq!(m.kernel_route(c, p, None).unwrap().metric, 500);
    assert!(
        wire_seqno_newer(m.node(s).seqno(), seqno_before),
        "the origin bumped its seqno on request"
    );
    assert!(m.nodes[s]
        .events
        .iter()
        .any(|e| matches!(e, Event::SeqnoChanged { .. })));
    m.assert_consistent();
}

fn wire_seqno_newer(a: u16, b: u16) -> bool {
    babel_core::neighbour::seqno_newer(a, b)
}

fn packet(tlvs: &[Tlv], src: Ipv6Addr) -> Vec<u8> {
    let mut e = Encoder::new(1400, Some(src));
    for t in tlvs {
        e.push(t).unwrap();
    }
    let mut p = e.finish();
    assert_eq!(p.len(), 1);
    p.remove(0)
}

/// RFC 8966 §3.5.4: an unfeasible update from a new neighbour is not installed (no entry is
/// created) and a seqno request goes to its sender.
#[test]
fn unfeasible_update_is_not_installed() {
    let (mut m, [a, b, x]) = mesh(7, [1, 1, 1]);
    let (_, ab, _) = m.connect(a, b, wired());
    // A advertises the route to X, which sets its feasibility distance to (seqno, 96).
    m.connect(a, x, wired());
    m.announce(b, P_C, None);
    m.run_for(Duration::from_secs(30));
    let sel = m
        .node(a)
        .selected_route(P_C.parse().unwrap(), None)
        .unwrap();
    let fake: Ipv6Addr = "fe80::99".parse().unwrap();
    let a_ll = m.address(a, ab);
    // A fake neighbour says hello twice and hears A.
    for s in 1..=2u16 {
        let hello = Tlv::Hello(Hello {
            flags: 0,
            seqno: s,
            interval: 400,
            timestamp: None,
            unknown_subtlvs: vec![],
        });
        let ihu = Tlv::Ihu(Ihu {
            rxcost: 96,
            interval: 1200,
            addr: Some(IpAddr::V6(a_ll)),
            timestamps: None,
            unknown_subtlvs: vec![],
        });
        m.inject(a, ab, fake, &packet(&[hello, ihu], fake));
        m.run_for(Duration::from_secs(4));
    }
    assert!(m
        .node(a)
        .neighbours()
        .iter()
        .any(|n| n.address == fake && n.cost == 96));
    m.capture = true;
    let before = m.node(a).stats().updates_unfeasible;
    // Same router-id and seqno as the selected route, but a larger metric: unfeasible.
    let upd = Tlv::Update(Update {
        flags: 0,
        interval: 1600,
        seqno: sel.seqno,
        metric: 200,
        prefix: Some(P_C.parse().unwrap()),
        src_prefix: None,
        router_id: Some(sel.router_id),
        next_hop: None,
        unknown_subtlvs: vec![],
    });
    m.inject(a, ab, fake, &packet(&[upd], fake));
    assert_eq!(m.node(a).stats().updates_unfeasible, before + 1);
    let entries = m.node(a).routes_for(P_C.parse().unwrap(), None);
    assert_eq!(
        entries.len(),
        1,
        "no entry for the unfeasible update: {entries:?}"
    );
    assert_eq!(m.kernel_route(a, P_C, None).unwrap().next_hop, sel.next_hop);
    m.run_for(Duration::from_millis(100));
    let asked = m.captured.iter().any(|(_, n, _, dst, bytes)| {
        *n == a
            && *dst == fake
            && wire::parse_packet(bytes, None).unwrap().tlvs.iter().any(|t| {
                matches!(t, Tlv::SeqnoRequest(r) if r.router_id == sel.router_id && r.seqno == sel.seqno.wrapping_add(1))
            })
    });
    // babeld's rule: only ask for a new seqno when the unfeasible route would be much
    // better (512) than the one we have; 296 is not.
    assert!(!asked, "no seqno request for a worse unfeasible route");
    // A feasible update from the same fake neighbour (newer seqno) is accepted.
    let upd = Tlv::Update(Update {
        flags: 0,
        interval: 1600,
        seqno: sel.seqno.wrapping_add(1),
        metric: 200,
        prefix: Some(P_C.parse().unwrap()),
        src_prefix: None,
        router_id: Some(sel.router_id),
        next_hop: None,
        unknown_subtlvs: vec![],
    });
    m.inject(a, ab, fake, &packet(&[upd], fake));
    assert_eq!(m.node(a).routes_for(P_C.parse().unwrap(), None).len(), 2);
}

/// A node that restarts with its persisted seqno is accepted as soon as the link is
/// re-established (its new hello seqno resets the history, so the link needs two hellos).
#[test]
fn node_restart_with_persisted_seqno_keeps_routes() {
    let (mut m, [a, b], _) = pair(8, [1000, 1], wired());
    m.announce(a, P_A, None);
    m.run_for(Duration::from_secs(30));
    assert!(m.kernel_route(b, P_A, None).is_some());
    m.restart(a, None);
    m.run_for(Duration::from_secs(10));
    for _ in 0..60 {
        m.run_for(Duration::from_secs(1));
        let r = m.kernel_route(b, P_A, None).expect("never lost");
        assert!(r.metric < INFINITY);
    }
    m.assert_consistent();
}

/// A node that restarts with an older seqno: its updates are unfeasible at B, which tells
/// it the seqno it knows (a retraction with its router-id); A resumes after it and B takes
/// its routes again within a second, never installing a stale or looping one.
#[test]
fn node_restart_without_seqno_recovers() {
    let (mut m, [a, b], _) = pair(9, [1000, 1], wired());
    m.announce(a, P_A, None);
    m.run_for(Duration::from_secs(30));
    let old = m
        .node(b)
        .selected_route(P_A.parse().unwrap(), None)
        .unwrap()
        .seqno;
    m.restart(a, Some(3));
    m.run_for(Duration::from_secs(1));
    assert!(
        wire_seqno_newer(m.node(a).seqno(), old),
        "{}",
        m.node(a).seqno()
    );
    let sel = m
        .node(b)
        .selected_route(P_A.parse().unwrap(), None)
        .expect("route back");
    assert_eq!(sel.seqno, m.node(a).seqno());
    // The restarted node's hellos start a new history: the link is usable again after two.
    m.run_for(Duration::from_secs(9));
    assert_eq!(m.kernel_route(b, P_A, None).map(|r| r.metric), Some(96));
    // And it stays (the earlier bug: found, then lost when the stale entry expired).
    metric_stays(&mut m, b, P_A, 96, 120);
    m.assert_consistent();
}

/// The simulator's case: in a line A–B–C, C crashes (its link goes silent) and comes back
/// 20 s later without its seqno, while B still holds C's routes as unreachable. B must not
/// bring the old route back with the link, and the line must heal within a few hello
/// intervals and stay healed.
#[test]
fn crashed_router_back_without_its_seqno_heals_and_stays_healed() {
    let (mut m, [a, _, c], [_, (bc, _, _)]) = line3(23, [1, 1, 30_000]);
    m.announce(c, P_C, None);
    m.run_for(Duration::from_secs(40));
    assert_eq!(m.kernel_route(a, P_C, None).unwrap().metric, 192);
    m.set_link_up(bc, false);
    m.run_for(Duration::from_secs(20));
    assert_eq!(m.kernel_route(a, P_C, None).unwrap().metric, INFINITY);
    // Back with a seqno far behind (a fresh random one).
    m.restart(c, Some(100));
    m.set_link_up(bc, true);
    m.run_for(Duration::from_secs(15));
    assert!(wire_seqno_newer(m.node(c).seqno(), 30_000));
    let r = m.kernel_route(a, P_C, None).expect("healed");
    assert_eq!(r.metric, 192);
    metric_stays(&mut m, a, P_C, 192, 240);
    m.assert_consistent();
}

/// RFC 9079: a source-specific route is kept apart from a plain one for the same prefix.
#[test]
fn source_specific_routes_end_to_end() {
    let (mut m, [a, b, c], _) = line3(10, [1, 1, 1]);
    m.announce(a, "::/0", Some("2001:db8:a::/48"));
    m.announce(b, "::/0", None);
    m.run_for(Duration::from_secs(30));
    let ss = m
        .kernel_route(c, "::/0", Some("2001:db8:a::/48"))
        .expect("source-specific default");
    assert_eq!(ss.metric, 192);
    assert_eq!(ss.src_prefix, Some("2001:db8:a::/48".parse().unwrap()));
    let plain = m.kernel_route(c, "::/0", None).expect("plain default");
    assert_eq!(plain.metric, 96);
    // B has both too: its own plain one is an xroute, the specific one is learned.
    assert!(m.kernel_route(b, "::/0", Some("2001:db8:a::/48")).is_some());
    assert!(m.kernel_route(b, "::/0", None).is_none());
    m.assert_consistent();
}

/// RFC 9229: IPv4 prefixes through IPv6 next hops when the links have no IPv4 addresses,
/// and through IPv4 next hops when they do.
#[test]
fn v4_via_v6_routes_end_to_end() {
    let (mut m, [a, b, c], [_, (_, b2, _)]) = line3(11, [1, 1, 1]);
    m.announce(a, "10.1.0.0/16", None);
    m.run_for(Duration::from_secs(30));
    let r = m.kernel_route(c, "10.1.0.0/16", None).expect("v4 route");
    assert_eq!(r.next_hop, v6(&m, b, b2), "IPv6 next hop");
    assert_eq!(r.metric, 192);

    // With IPv4 addresses on the link, the next hop is IPv4.
    let (mut m, [a, b]) = mesh(12, [1, 1]);
    let l = m.add_link();
    m.attach(a, l, wired(), Some(Ipv4Addr::new(192, 0, 2, 1)));
    m.attach(b, l, wired(), Some(Ipv4Addr::new(192, 0, 2, 2)));
    m.announce(a, "10.1.0.0/16", None);
    m.run_for(Duration::from_secs(30));
    let r = m.kernel_route(b, "10.1.0.0/16", None).expect("v4 route");
    assert_eq!(r.next_hop, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
}

/// 0..n in a fixed shuffled order given by `seed`.
fn shuffled(n: u16, seed: u32) -> Vec<u16> {
    let mut order: Vec<u16> = (0..n).collect();
    let mut x = seed;
    for i in (1..order.len()).rev() {
        x = x.wrapping_mul(1103515245).wrapping_add(12345);
        order.swap(i, (x as usize >> 8) % (i + 1));
    }
    order
}

/// Full dumps go out in prefix order, whatever the order routes were learned in.
#[test]
fn full_dumps_are_sorted_by_prefix() {
    let (mut m, [a, b], _) = pair(13, [1, 1], wired());
    for i in shuffled(300, 12345) {
        m.announce(a, &format!("2001:db8:{i:x}::/48"), None);
    }
    m.capture = true;
    m.run_for(Duration::from_secs(40));
    let mut dumps = 0;
    for (_, n, _, _, bytes) in &m.captured {
        if *n != a {
            continue;
        }
        let prefixes = update_prefixes(&wire::parse_packet(bytes, None).unwrap().tlvs);
        if prefixes.len() > 50 {
            dumps += 1;
            assert!(prefixes.windows(2).all(|w| w[0] < w[1]), "not sorted");
        }
    }
    assert!(dumps >= 2, "periodic full dumps were sent");
    assert_eq!(m.nodes[b].kernel.len(), 300);
}

/// Same seed, same inputs: the same bytes on the wire and the same tables.
#[test]
fn same_seed_gives_identical_runs() {
    let run = |seed| {
        let mut m = Mesh::new(seed);
        m.capture = true;
        let n: Vec<usize> = (0..4).map(|i| m.add_node(Config::default(), i)).collect();
        m.connect(n[0], n[1], wired());
        m.connect(n[1], n[2], InterfaceConfig::wireless());
        m.connect(n[2], n[3], InterfaceConfig::tunnel());
        m.connect(n[3], n[0], wired());
        for (i, &x) in n.iter().enumerate() {
            m.announce(x, &format!("2001:db8:{i}::/48"), None);
        }
        m.run_for(Duration::from_secs(60));
        (
            m.captured.clone(),
            m.nodes.iter().map(|n| n.kernel.clone()).collect::<Vec<_>>(),
        )
    };
    let (c1, k1) = run(77);
    let (c2, k2) = run(77);
    assert_eq!(c1, c2);
    assert_eq!(k1, k2);
    let (c3, _) = run(78);
    assert_ne!(c1, c3, "another seed jitters differently");
}

/// Wireless links use ETX: loss raises the cost above the nominal 256. Tunnels measure the
/// RTT (RFC 9616) and add babeld's penalty.
#[test]
fn etx_on_lossy_wireless_and_rtt_on_tunnels() {
    let (mut m, [a, _], (l, _, _)) = pair(14, [1, 1], InterfaceConfig::wireless());
    // ETX reaches the nominal cost once the 16-hello history is full.
    m.run_for(Duration::from_secs(90));
    assert_eq!(m.node(a).neighbours()[0].cost, 256);
    m.set_link_loss(l, 0.4);
    m.run_for(Duration::from_secs(120));
    let nb = &m.node(a).neighbours()[0];
    assert!(
        nb.cost > 256 && nb.cost < INFINITY,
        "lossy cost {}",
        nb.cost
    );

    let (mut m, [a, _], (l, _, _)) = pair(15, [1, 1], InterfaceConfig::tunnel());
    m.set_link_latency(l, Duration::from_millis(50));
    // The first sample counts double (babeld's care with new neighbours) and fades with
    // rtt-decay 42/256 a hello: within 1 % after two minutes.
    m.run_for(Duration::from_secs(120));
    let nb = &m.node(a).neighbours()[0];
    let rtt = nb.rtt.expect("rtt measured");
    assert!(
        rtt >= Duration::from_millis(95) && rtt <= Duration::from_millis(105),
        "rtt {rtt:?}"
    );
    // 96 + 96 × (100 − 10) / (120 − 10) = 96 + 78.
    assert!((170..=176).contains(&nb.cost), "cost {}", nb.cost);
    assert_eq!(
        nb.cost,
        96 + nb.rttcost,
        "the view names the RTT part of the cost"
    );
}

/// babeld's filters: `in` deny and metric, `out` deny, `install` table and pref-src.
#[test]
fn filters_in_out_and_install() {
    let (mut m, [a, b], _) = pair(16, [1, 1], wired());
    m.announce(a, "2001:db8:1::/48", None);
    m.announce(a, "2001:db8:2::/48", None);
    m.announce(a, "2001:db8:3::/48", None);
    m.announce(a, "2001:db8:4::/48", None);
    let rule = |p: &str, action: FilterAction| FilterRule {
        matches: FilterMatch {
            prefix: Some(p.parse().unwrap()),
            ..Default::default()
        },
        action,
    };
    m.command(
        a,
        Command::SetFilters(Filters {
            output: vec![rule(
                "2001:db8:4::/48",
                FilterAction {
                    deny: true,
                    ..Default::default()
                },
            )],
            ..Default::default()
        }),
    );
    m.command(
        b,
        Command::SetFilters(Filters {
            input: vec![
                rule(
                    "2001:db8:1::/48",
                    FilterAction {
                        deny: true,
                        ..Default::default()
                    },
                ),
                rule(
                    "2001:db8:2::/48",
                    FilterAction {
                        metric: Some(100),
                        ..Default::default()
                    },
                ),
            ],
            install: vec![rule(
                "2001:db8:3::/48",
                FilterAction {
                    table: Some(42),
                    pref_src: Some("2001:db8:ffff::1".parse().unwrap()),
                    ..Default::default()
                },
            )],
            ..Default::default()
        }),
    );
    m.run_for(Duration::from_secs(30));
    assert!(
        m.kernel_route(b, "2001:db8:1::/48", None).is_none(),
        "in deny"
    );
    assert_eq!(
        m.kernel_route(b, "2001:db8:2::/48", None).unwrap().metric,
        196,
        "in metric"
    );
    let r = m.kernel_route(b, "2001:db8:3::/48", None).unwrap();
    assert_eq!(
        (r.table, r.pref_src),
        (Some(42), Some("2001:db8:ffff::1".parse().unwrap()))
    );
    assert!(
        m.kernel_route(b, "2001:db8:4::/48", None).is_none(),
        "out deny"
    );
}

/// Tells node `b` again what it was last told of preferred source `addr`: no route may be
/// reported again.
fn said_again(m: &mut Mesh, b: usize, addr: IpAddr, local: bool) {
    let now = m.now;
    let n = &mut m.nodes[b].node;
    n.handle_command(now, Command::PreferredSource { addr, local });
    assert!(n.poll_route().is_none(), "a route reported again");
}

/// An install filter's preferred source that stops being a local address is left out of
/// the routes it names, which are reported again without it (the kernel keeps them), and
/// put back when it is local again; a route learned meanwhile comes without it and then
/// gets it. Another route keeps its own; an address no install filter names changes
/// nothing.
#[test]
fn install_filter_pref_src_follows_its_address() {
    let (mut m, [a, b], _) = pair(62, [1, 1], wired());
    let src: IpAddr = "2001:db8:ffff::1".parse().unwrap();
    let other: IpAddr = "2001:db8:ffff::2".parse().unwrap();
    let install = |p: &str, pref_src| FilterRule {
        matches: FilterMatch {
            prefix: Some(p.parse().unwrap()),
            ..Default::default()
        },
        action: FilterAction {
            pref_src: Some(pref_src),
            ..Default::default()
        },
    };
    m.command(
        b,
        Command::SetFilters(Filters {
            install: vec![
                install("2001:db8:1::/48", src),
                install("2001:db8:2::/48", other),
                install("2001:db8::/32", src),
            ],
            ..Default::default()
        }),
    );
    m.announce(a, "2001:db8:1::/48", None);
    m.announce(a, "2001:db8:2::/48", None);
    m.run_for(Duration::from_secs(30));
    let pref_src = |m: &Mesh, p: &str| m.kernel_route(b, p, None).map(|r| r.pref_src);
    assert_eq!(pref_src(&m, "2001:db8:1::/48"), Some(Some(src)));
    assert_eq!(pref_src(&m, "2001:db8:2::/48"), Some(Some(other)));
    let unnamed = "2001:db8:ffff::3".parse().unwrap();
    m.command(
        b,
        Command::PreferredSource {
            addr: unnamed,
            local: false,
        },
    );
    m.command(
        b,
        Command::PreferredSource {
            addr: src,
            local: false,
        },
    );
    assert_eq!(pref_src(&m, "2001:db8:1::/48"), Some(None));
    assert_eq!(pref_src(&m, "2001:db8:2::/48"), Some(Some(other)));
    m.announce(a, "2001:db8:3::/48", None);
    m.run_for(Duration::from_secs(10));
    assert_eq!(pref_src(&m, "2001:db8:3::/48"), Some(None));
    // Said twice: nothing more to do (no route is reported again).
    said_again(&mut m, b, src, false);
    m.command(
        b,
        Command::PreferredSource {
            addr: src,
            local: true,
        },
    );
    for p in ["2001:db8:1::/48", "2001:db8:3::/48"] {
        assert_eq!(pref_src(&m, p), Some(Some(src)), "{p}");
    }
    said_again(&mut m, b, src, true);
    assert_eq!(pref_src(&m, "2001:db8:2::/48"), Some(Some(other)));
    m.run_for(Duration::from_secs(10));
    m.assert_consistent();
}

/// `Config::route_events` off (for a driver that reads no route events, like the
/// simulator): the node learns, switches and flushes exactly the routes it would with
/// them, and installs the same, but queues no `Event::Route`; its other events still come.
#[test]
fn without_route_events_routing_is_the_same_and_no_route_event_is_queued() {
    let run = |route_events: bool| {
        let mut m = Mesh::new(41);
        let config = Config {
            route_events,
            ..Config::default()
        };
        let a = m.add_node(config, 1);
        let b = m.add_node(Config::default(), 1);
        let c = m.add_node(Config::default(), 1);
        let d = m.add_node(Config::default(), 1);
        let (ab_link, ab, _) = m.connect(a, b, wired());
        let (ac_link, ac, _) = m.connect(a, c, wired_cost(200));
        m.connect(b, d, wired());
        let (_, _, dc) = m.connect(c, d, wired());
        m.announce(d, P_D, None);
        m.run_for(Duration::from_secs(40));
        let before = m.kernel_route(a, P_D, None).cloned();
        // D–C gets dearer (the entry through C changes), then A–B fails: the route moves
        // to C, and the entry through B is flushed.
        m.reconfigure(d, dc, wired_cost(150));
        m.run_for(Duration::from_secs(40));
        m.set_link_up(ab_link, false);
        m.run_for(Duration::from_secs(120));
        let after = m.kernel_route(a, P_D, None).cloned();
        // A–C fails too: every entry goes, and the sources they held are collected.
        m.set_link_up(ac_link, false);
        m.run_for(Duration::from_secs(600));
        assert_eq!(m.kernel_route(a, P_D, None), None);
        m.assert_consistent();
        let events = std::mem::take(&mut m.nodes[a].events);
        // Everything else the node holds and counted (sources released with the flushed
        // entries, for one).
        let tables = format!("{:?} {:?}", m.node(a).stats(), m.node(a).table_stats());
        (before, after, (ab, ac), events, tables)
    };
    let (before_on, after_on, (ab, ac), with, tables_on) = run(true);
    let (before_off, after_off, _, without, tables_off) = run(false);
    assert_eq!(tables_off, tables_on);
    assert_eq!(before_on.as_ref().map(|r| r.ifindex), Some(ab));
    assert_eq!(after_on.as_ref().map(|r| r.ifindex), Some(ac));
    assert_eq!((before_off, after_off), (before_on, after_on));
    let routes = |v: &[Event], k: RouteEventKind| {
        v.iter()
            .filter(|e| matches!(e, Event::Route { kind, .. } if *kind == k))
            .count()
    };
    let kinds = [
        RouteEventKind::Add,
        RouteEventKind::Change,
        RouteEventKind::Flush,
    ];
    let others = |v: &[Event]| {
        v.iter()
            .filter(|e| !matches!(e, Event::Route { .. }))
            .cloned()
            .collect::<Vec<_>>()
    };
    for k in kinds {
        assert!(routes(&with, k) > 0, "{k:?}: {with:?}");
        assert_eq!(routes(&without, k), 0, "{k:?}: {without:?}");
    }
    assert!(
        without
            .iter()
            .any(|e| matches!(e, Event::NeighbourUp { .. })),
        "{without:?}"
    );
    assert_eq!(others(&without), others(&with));
}

/// Hysteresis: a new path that is better by one does not displace the established route
/// at once, and the route never flaps.
#[test]
fn hysteresis_no_flap_for_a_tiny_gain() {
    let (mut m, [a, b, c, d]) = mesh(17, [1, 1, 1, 1]);
    let (_, ab, _) = m.connect(a, b, wired());
    m.connect(b, d, wired());
    m.connect(c, d, wired());
    m.announce(d, P_D, None);
    m.run_for(Duration::from_secs(40));
    assert_eq!(m.kernel_route(a, P_D, None).unwrap().ifindex, ab);
    // A new link to C makes a path of 95 + 96 = 191 < 192.
    m.connect(a, c, wired_cost(95));
    m.run_for(Duration::from_secs(15));
    let alts = m.node(a).routes_for(P_D.parse().unwrap(), None);
    assert!(alts.iter().any(|r| r.metric == 191), "{alts:?}");
    assert_eq!(
        m.kernel_route(a, P_D, None).unwrap().ifindex,
        ab,
        "no switch for a gain of 1 at once"
    );
    let changes_before = m.nodes[a].events.len();
    m.run_for(Duration::from_secs(120));
    let switches = m.nodes[a].events[changes_before..]
        .iter()
        .filter(|e| matches!(e, Event::Route { .. }))
        .count();
    assert!(switches <= 4, "route events after settling: {switches}");
    m.assert_consistent();
}

/// RFC 8966 §3.8.1.2: a seqno request for a route through us is forwarded to our
/// successor with the hop count decreased, once, however often it is received.
#[test]
fn seqno_request_forwarded_with_hop_count_and_duplicates_suppressed() {
    let (mut m, [a, b], (_, ab, _)) = pair(18, [1, 1], wired());
    let c = m.add_node(Config::default(), 1);
    let (_, _, cb) = m.connect(c, b, wired());
    m.announce(c, P_C, None);
    m.run_for(Duration::from_secs(30));
    let sel = m
        .node(a)
        .selected_route(P_C.parse().unwrap(), None)
        .unwrap();
    let fake: Ipv6Addr = "fe80::77".parse().unwrap();
    m.capture = true;
    let req = Tlv::SeqnoRequest(wire::SeqnoRequest {
        seqno: sel.seqno.wrapping_add(1),
        hop_count: 10,
        router_id: sel.router_id,
        prefix: P_C.parse().unwrap(),
        src_prefix: None,
        unknown_subtlvs: vec![],
    });
    let p = packet(&[req], fake);
    m.inject(a, ab, fake, &p);
    m.inject(a, ab, fake, &p);
    m.run_for(Duration::from_millis(100));
    let forwarded: Vec<u8> = m
        .captured
        .iter()
        .filter(|(_, n, _, _, _)| *n == a)
        .flat_map(|(_, _, _, _, bytes)| wire::parse_packet(bytes, None).unwrap().tlvs)
        .filter_map(|t| match t {
            Tlv::SeqnoRequest(r) if r.router_id == sel.router_id => Some(r.hop_count),
            _ => None,
        })
        .collect();
    assert_eq!(forwarded, vec![9], "forwarded once with hop count 9");
    // C is asked for a seqno beyond its own and bumps it.
    m.run_for(Duration::from_secs(1));
    let _ = cb;
    assert!(m.nodes[c]
        .events
        .iter()
        .any(|e| matches!(e, Event::SeqnoChanged { .. })));
    assert!(wire_seqno_newer(
        m.node(a)
            .selected_route(P_C.parse().unwrap(), None)
            .unwrap()
            .seqno,
        sel.seqno
    ));
}

/// RFC 8966 §3.8.1.1: a specific route request for an unknown prefix gets a retraction,
/// and a router-id change is announced.
#[test]
fn route_request_for_unknown_prefix_gets_retraction() {
    let (mut m, [a, _], (_, ab, _)) = pair(19, [1, 1], wired());
    m.run_for(Duration::from_secs(10));
    m.capture = true;
    let fake: Ipv6Addr = "fe80::55".parse().unwrap();
    let req = Tlv::RouteRequest(wire::RouteRequest {
        prefix: Some("2001:db8:99::/48".parse().unwrap()),
        src_prefix: None,
        unknown_subtlvs: vec![],
    });
    m.inject(a, ab, fake, &packet(&[req], fake));
    m.run_for(Duration::from_secs(2));
    let retracted = m.captured.iter().filter(|(_, n, ..)| *n == a).any(|(_, _, _, _, bytes)| {
        wire::parse_packet(bytes, None).unwrap().tlvs.iter().any(|t| {
            matches!(t, Tlv::Update(u) if u.metric == INFINITY && u.prefix == Some("2001:db8:99::/48".parse().unwrap()))
        })
    });
    assert!(retracted);
    let _ = RouterId([0; 8]);
}

/// RFC 8966 §3.8.2.2: an unfeasible update from the selected neighbour is ignored, and a
/// seqno request goes to it; the origin answers with a newer seqno and the route is updated.
#[test]
fn unfeasible_update_from_selected_neighbour_resolved_by_seqno_request() {
    let (mut m, [a, b, x]) = mesh(20, [1, 500, 1]);
    m.connect(a, b, wired());
    m.connect(a, x, wired());
    m.announce(b, P_C, None);
    m.run_for(Duration::from_secs(30));
    assert_eq!(m.kernel_route(a, P_C, None).unwrap().metric, 96);
    let seqno = m.node(b).seqno();
    // B's metric for its own prefix grows with the same seqno: unfeasible at A.
    m.command(
        b,
        Command::AddXroute(babel_core::Xroute {
            prefix: P_C.parse().unwrap(),
            src_prefix: None,
            metric: 300,
            proto: 0,
            local: true,
            ifindex: None,
        }),
    );
    m.run_for(Duration::from_secs(3));
    assert!(
        wire_seqno_newer(m.node(b).seqno(), seqno),
        "B was asked for a newer seqno"
    );
    let r = m.kernel_route(a, P_C, None).unwrap();
    assert_eq!(r.metric, 396);
    assert!(m.node(a).stats().updates_unfeasible >= 1);
    m.assert_consistent();
}

/// babeld's `redistribute` filter: local addresses are announced unless denied, other
/// routes only when a rule allows them; `metric N` sets the announced metric.
#[test]
fn redistribute_filter_decides_what_is_announced() {
    let (mut m, [a, b], _) = pair(21, [1, 1], wired());
    m.command(
        a,
        Command::SetFilters(Filters {
            redistribute: vec![FilterRule {
                matches: FilterMatch {
                    proto: Some(3),
                    prefix: Some("2001:db8:30::/44".parse().unwrap()),
                    ..Default::default()
                },
                action: FilterAction {
                    metric: Some(128),
                    ..Default::default()
                },
            }],
            ..Default::default()
        }),
    );
    let kernel = |p: &str, proto: u8, local: bool| babel_core::Xroute {
        prefix: p.parse().unwrap(),
        src_prefix: None,
        metric: 0,
        proto,
        local,
        ifindex: None,
    };
    m.command(a, Command::AddXroute(kernel("2001:db8:31::/48", 3, false)));
    m.command(a, Command::AddXroute(kernel("2001:db8:41::/48", 3, false)));
    m.command(a, Command::AddXroute(kernel("2001:db8:51::/48", 0, true)));
    m.run_for(Duration::from_secs(30));
    assert_eq!(
        m.kernel_route(b, "2001:db8:31::/48", None).unwrap().metric,
        128 + 96,
        "allowed with metric"
    );
    assert!(
        m.kernel_route(b, "2001:db8:41::/48", None).is_none(),
        "kernel route not allowed by default"
    );
    assert_eq!(
        m.kernel_route(b, "2001:db8:51::/48", None).unwrap().metric,
        96,
        "local address announced"
    );
    assert_eq!(m.node(a).xroutes().count(), 2);
}

/// A new seqno from the origin travels at once, not at the next periodic dump: the middle
/// node passes it on in a triggered update of its own (a deliberate departure from RFC 8966
/// §3.7.2's SHOULD NOT, see `route_changed`).
#[test]
fn seqno_change_propagates_as_a_triggered_update() {
    let (mut m, [a, b, c], _) = line3(22, [10, 1, 1]);
    m.announce(a, P_A, None);
    m.run_for(Duration::from_secs(30));
    let seqno = |m: &Mesh, n| {
        m.node(n)
            .selected_route(P_A.parse().unwrap(), None)
            .unwrap()
            .seqno
    };
    let before = seqno(&m, c);
    let b_seqno = m.node(b).stats().sent.triggered_seqno;
    m.command(a, Command::BumpSeqno);
    m.run_for(Duration::from_millis(1500));
    assert_eq!(seqno(&m, c), before.wrapping_add(1));
    assert_eq!(m.node(b).stats().sent.triggered_seqno, b_seqno + 1);
}

/// The retractions A sent for `prefix`, from capture index `from`.
fn retractions_sent(m: &Mesh, a: usize, from: usize, prefix: &str) -> usize {
    m.captured[from..]
        .iter()
        .filter(|c| c.1 == a)
        .filter(|(_, _, _, _, bytes)| {
            wire::parse_packet(bytes, None)
                .unwrap()
                .tlvs
                .iter()
                .any(|t| {
                    matches!(t, Tlv::Update(u) if u.metric == INFINITY
                    && u.prefix == Some(prefix.parse().unwrap()))
                })
        })
        .count()
}

/// RFC 8966 §3.7.2: a retraction lost on the link still arrives, because it asks for an
/// acknowledgment and is sent again until acknowledged (before acks, B kept the dead route
/// until it expired, up to a minute later).
#[test]
fn lossy_link_retraction_still_arrives_because_of_acks() {
    let (mut m, [a, b], (l, _, _)) = pair(24, [1, 1], wired());
    m.announce(a, P_A, None);
    m.run_for(Duration::from_secs(30));
    assert_eq!(m.kernel_route(b, P_A, None).unwrap().metric, 96);
    m.capture = true;
    // Everything A sends in the next 300 ms is lost, the first retraction with it.
    m.set_link_loss(l, 1.0);
    m.command(
        a,
        Command::RemoveXroute {
            prefix: P_A.parse().unwrap(),
            src_prefix: None,
        },
    );
    m.run_for(Duration::from_millis(300));
    assert_eq!(retractions_sent(&m, a, 0, P_A), 1);
    assert_eq!(
        m.kernel_route(b, P_A, None).unwrap().metric,
        96,
        "not heard"
    );
    // Then the link works again: the unacknowledged retraction is sent again and arrives.
    m.set_link_loss(l, 0.0);
    m.run_for(Duration::from_millis(700));
    assert_eq!(m.kernel_route(b, P_A, None).unwrap().metric, INFINITY);
    assert_eq!(retractions_sent(&m, a, 0, P_A), 2);
    let st = m.node(a).stats();
    assert_eq!((st.ack_resends, st.acks_received), (1, 1));
    // Acknowledged: no more resending.
    m.run_for(Duration::from_secs(10));
    assert_eq!(m.node(a).stats().ack_resends, 1);
    assert_eq!(m.node(a).table_stats().pending_acks, 0);
    m.assert_consistent();
}

/// On a link that loses nothing, the first transmission is acknowledged and the retraction
/// is not sent again (babeld repeats it blindly).
#[test]
fn an_acknowledged_retraction_is_not_sent_again() {
    let (mut m, [a, b, c], _) = line3(25, [1, 1, 1]);
    m.announce(a, P_A, None);
    m.run_for(Duration::from_secs(30));
    m.capture = true;
    m.command(
        a,
        Command::RemoveXroute {
            prefix: P_A.parse().unwrap(),
            src_prefix: None,
        },
    );
    m.run_for(Duration::from_secs(5));
    assert_eq!(retractions_sent(&m, a, 0, P_A), 1);
    for n in [a, b] {
        let st = m.node(n).stats();
        assert_eq!(st.ack_resends, 0);
        assert!(st.acks_received >= 1);
    }
    assert_eq!(m.kernel_route(c, P_A, None).unwrap().metric, INFINITY);
    m.assert_consistent();
}

/// RFC 8966 §3.6: a better route learned after the network converged is selected as soon
/// as it is learned, not after the smoothed metric of a pessimistic start has decayed.
#[test]
fn better_route_learned_later_is_selected_promptly() {
    let (mut m, [a, b, c, d]) = mesh(26, [1, 1, 1, 1]);
    let (_, ac, _) = m.connect(a, c, wired_cost(256));
    m.connect(c, d, wired());
    m.connect(b, d, wired());
    m.announce(d, P_D, None);
    m.run_for(Duration::from_secs(40));
    assert_eq!(m.kernel_route(a, P_D, None).unwrap().ifindex, ac);
    // The better path appears: A–B comes up.
    let (_, ab, _) = m.connect(a, b, wired());
    let t0 = m.now;
    let mut switched = None;
    for _ in 0..40 {
        m.run_for(Duration::from_millis(500));
        if m.kernel_route(a, P_D, None).unwrap().ifindex == ab {
            switched = Some(m.now - t0);
            break;
        }
    }
    // The link needs two hellos (4 s apart) and an IHU before its routes are usable; then
    // the route goes over at once.
    let after = switched.expect("switched to the better path");
    assert!(after <= Duration::from_secs(12), "{after:?}");
    assert_eq!(m.kernel_route(a, P_D, None).unwrap().metric, 192);
    m.assert_consistent();
}

/// A burst of learned routes (taken in in shuffled order) is passed on in triggered updates
/// in prefix order, each destination once per flush, and every one arrives.
#[test]
fn triggered_updates_of_a_burst_go_out_sorted_and_once() {
    let (mut m, [a, b, c], _) = line3(14, [1, 1, 1]);
    m.run_for(Duration::from_secs(10));
    for i in shuffled(500, 777) {
        m.announce(a, &format!("2001:db8:{i:x}::/48"), None);
    }
    m.capture = true;
    m.run_for(Duration::from_secs(3));
    // B's flushes: its packets on one interface at one instant.
    let mut flushes: std::collections::BTreeMap<(Timestamp, u32), Vec<wire::Prefix>> =
        Default::default();
    for (t, n, ifindex, _, bytes) in &m.captured {
        if *n != b {
            continue;
        }
        let f = flushes.entry((*t, *ifindex)).or_default();
        for tlv in wire::parse_packet(bytes, None).unwrap().tlvs {
            if let Tlv::Update(u) = tlv {
                f.extend(u.prefix);
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for f in flushes.values() {
        assert!(f.windows(2).all(|w| w[0] < w[1]), "sorted, each once");
        seen.extend(f.iter().copied());
    }
    assert_eq!(seen.len(), 500, "every prefix passed on");
    assert_eq!(m.nodes[c].kernel.len(), 500);
}

/// RFC 8966 §3.6 with hysteresis: when the selected route gets much worse (a link on its
/// path costs more), A goes over to the alternative once the worse route's smoothed metric
/// has risen, although after the change its neighbours only repeat the same updates (the
/// refresh fast path must still let selection see that a smaller metric exists), and it
/// stays there.
#[test]
fn worse_selected_route_is_left_for_the_alternative_under_plain_refreshes() {
    let (mut m, [a, b, c, d]) = mesh(27, [1, 1, 1, 1]);
    let (_, ab, _) = m.connect(a, b, wired());
    let (_, ac, _) = m.connect(a, c, wired_cost(200));
    let (_, _, db) = m.connect(b, d, wired());
    m.connect(c, d, wired());
    m.announce(d, P_D, None);
    m.run_for(Duration::from_secs(40));
    assert_eq!(m.kernel_route(a, P_D, None).unwrap().ifindex, ab);
    assert_eq!(m.kernel_route(a, P_D, None).unwrap().metric, 192);
    // D–B now costs 400 (D's rxcost on that link): via B is 496, via C 296.
    m.reconfigure(d, db, wired_cost(400));
    let t0 = m.now;
    let mut switched = None;
    for _ in 0..120 {
        m.run_for(Duration::from_millis(500));
        let r = m.kernel_route(a, P_D, None).unwrap();
        if r.ifindex == ac {
            switched = Some(m.now - t0);
            break;
        }
    }
    let after = switched.expect("went over to the path through C");
    assert!(after <= Duration::from_secs(40), "{after:?}");
    let changes_before = m.nodes[a].events.len();
    m.run_for(Duration::from_secs(60));
    let r = m.kernel_route(a, P_D, None).unwrap();
    assert_eq!((r.ifindex, r.metric), (ac, 296));
    let back = m.nodes[a].events[changes_before..]
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Route {
                    installed: true,
                    ..
                }
            )
        })
        .count();
    assert_eq!(back, 0, "no flap back");
    m.assert_consistent();
}

/// A destination a node had no route to is passed on urgently, as babeld's `consider_route`
/// does: down a line of six, each hop after the first adds at most the urgent jitter (20
/// ms) and the link's delay, where the half second of other triggered updates made a
/// route's first trip across a mesh take seconds (1.2-1.9 s across the 5×5 grid of
/// `vs_babeld grid`).
#[test]
fn a_new_route_crosses_each_hop_at_once() {
    let (mut m, n) = mesh(31, [1; 6]);
    for i in 0..5 {
        m.connect(n[i], n[i + 1], wired());
    }
    m.run_for(Duration::from_secs(20));
    m.announce(n[0], P_A, None);
    let t0 = m.now;
    let mut at = [None; 6];
    for _ in 0..400 {
        m.run_for(Duration::from_millis(5));
        for i in 1..6 {
            if at[i].is_none() && m.kernel_route(n[i], P_A, None).is_some() {
                at[i] = Some(m.now - t0);
            }
        }
    }
    let at: Vec<Duration> = at[1..]
        .iter()
        .map(|t| t.expect("every node has the route"))
        .collect();
    // The origin's own announcement waits up to 0.5 s; every hop after it goes at once.
    for w in at.windows(2) {
        assert!(w[1] - w[0] <= Duration::from_millis(30), "{at:?}");
    }
    m.assert_consistent();
}

/// A route flushed because its neighbour was lost names that neighbour and its interface,
/// as its `Add` event did: `monitor` prints the flush with the route's id and interface
/// (babeld's `flush route ID ... if eth0`), though the neighbour is gone by then.
#[test]
fn a_flush_after_losing_the_neighbour_names_its_interface() {
    let (mut m, [a, b], (l, ab, _)) = pair(61, [1, 1], wired());
    m.announce(b, P_D, None);
    m.run_for(Duration::from_secs(30));
    assert!(m.kernel_route(a, P_D, None).is_some());
    let from = m.nodes[a].events.len();
    m.set_link_up(l, false);
    m.run_for(Duration::from_secs(120));
    assert!(m.node(a).neighbours().is_empty(), "the neighbour is lost");
    let route_events =
        |events: &[Event], want: babel_core::RouteEventKind| -> Vec<(Ipv6Addr, u32)> {
            events
                .iter()
                .filter_map(|e| match e {
                    Event::Route {
                        kind,
                        prefix,
                        neighbour,
                        ifindex,
                        ..
                    } if *kind == want && prefix.to_string() == P_D => Some((*neighbour, *ifindex)),
                    _ => None,
                })
                .collect()
        };
    let added = route_events(&m.nodes[a].events[..from], babel_core::RouteEventKind::Add);
    let flushed = route_events(
        &m.nodes[a].events[from..],
        babel_core::RouteEventKind::Flush,
    );
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(added[0].1, ab);
    assert_eq!(
        flushed, added,
        "the flush names the neighbour and interface of the add"
    );
}
