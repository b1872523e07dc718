//! babeld's diversity routing and link-quality switch on the in-crate mesh harness: what a
//! neighbour downstream sees of the metric, and how lossy links are costed.

use std::time::Duration;

use babel_core::diversity::{Channel, Diversity};
use babel_core::testing::Mesh;
use babel_core::{Config, InterfaceConfig};

const P: &str = "2001:db8:a::/48";

fn link(cost: u16, channel: Option<Channel>) -> InterfaceConfig {
    InterfaceConfig {
        cost: Some(cost),
        channel,
        ..InterfaceConfig::wired()
    }
}

fn config(kind: u8) -> Config {
    Config {
        diversity: Diversity { kind, factor: 128 },
        ..Config::default()
    }
}

/// a — b — c with links of cost 256 on the given channels, b running diversity `kind`:
/// the refmetric c learns from b.
fn line(kind: u8, ch_ab: Option<Channel>, ch_bc: Option<Channel>) -> u16 {
    let mut m = Mesh::new(7);
    let a = m.add_node(Config::default(), 1);
    let b = m.add_node(config(kind), 2);
    let c = m.add_node(Config::default(), 3);
    m.connect(a, b, link(256, ch_ab));
    m.connect(b, c, link(256, ch_bc));
    m.announce(a, P, None);
    m.run_for(Duration::from_secs(30));
    m.assert_consistent();
    m.node(c)
        .selected_route(P.parse().unwrap(), None)
        .expect("c has a route")
        .refmetric
}

#[test]
fn diversity_kinds_change_the_metric_announced_on_other_interfaces() {
    // No diversity: b announces its full metric.
    assert_eq!(line(0, None, None), 256);
    // Per interface: a route re-announced on another interface costs half its last hop.
    assert_eq!(line(1, None, None), 128);
    let ch = |n| Some(Channel::Number(n));
    assert_eq!(line(1, ch(1), ch(1)), 128);
    // Per channel: the same channel interferes, another does not; wired never does.
    assert_eq!(line(2, ch(1), ch(1)), 256);
    assert_eq!(line(2, ch(1), ch(6)), 128);
    assert_eq!(line(2, None, None), 128);
    assert_eq!(line(2, Some(Channel::Interfering), ch(6)), 256);
}

/// a —1— b —6— c —1— d: with memory (kind 3), c knows the route crossed channel 1 before b
/// (b tells it in the channel list) and announces it to d on channel 1 at the full metric;
/// without memory (kind 2) it only looks at its own two interfaces and halves the cost.
#[test]
fn channel_memory_looks_at_the_hops_before() {
    let run = |kind: u8| {
        let mut m = Mesh::new(11);
        let a = m.add_node(Config::default(), 1);
        let b = m.add_node(config(kind), 2);
        let c = m.add_node(config(kind), 3);
        let d = m.add_node(Config::default(), 4);
        m.connect(a, b, link(256, Some(Channel::Number(1))));
        m.connect(b, c, link(256, Some(Channel::Number(6))));
        m.connect(c, d, link(256, Some(Channel::Number(1))));
        m.announce(a, P, None);
        m.run_for(Duration::from_secs(40));
        m.assert_consistent();
        let at = |n: usize| {
            m.node(n)
                .selected_route(P.parse().unwrap(), None)
                .expect("route")
                .refmetric
        };
        (at(c), at(d))
    };
    // c: b re-announces from channel 1 onto channel 6: halved either way.
    // d: 128 + 256 with memory; 128 + 128 without.
    assert_eq!(run(3), (128, 384));
    assert_eq!(run(2), (128, 256));
}

/// `link-quality`: on a lossy link, true costs by the hello loss rate (ETX), false keeps the
/// nominal cost as long as two of three hellos arrive, whatever the link type.
#[test]
fn link_quality_switches_the_cost_model() {
    let cost = |lq: Option<bool>, wireless: bool| {
        let mut m = Mesh::new(3);
        let a = m.add_node(Config::default(), 1);
        let b = m.add_node(Config::default(), 2);
        let base = if wireless {
            InterfaceConfig::wireless()
        } else {
            InterfaceConfig::wired()
        };
        let (l, _, _) = m.connect(
            a,
            b,
            InterfaceConfig {
                cost: Some(256),
                link_quality: lq,
                ..base
            },
        );
        m.run_for(Duration::from_secs(20));
        m.set_link_loss(l, 0.25);
        let mut seen = Vec::new();
        for _ in 0..30 {
            m.run_for(Duration::from_secs(2));
            seen.extend(m.node(a).neighbours().iter().map(|n| n.cost));
        }
        seen
    };
    let between = |v: &[u16]| v.iter().any(|&c| c > 256 && c < u16::MAX);
    // Wireless defaults to ETX; forcing it off leaves only nominal or infinite costs.
    assert!(between(&cost(None, true)), "{:?}", cost(None, true));
    assert!(!between(&cost(Some(false), true)));
    // Wired defaults to 2-out-of-3; forcing it on costs the loss.
    assert!(!between(&cost(None, false)));
    assert!(between(&cost(Some(true), false)));
}

/// A read-write control socket changes diversity at run time (`Command::SetTuning`): the next
/// updates b sends carry the reduced metric, without a restart.
#[test]
fn diversity_switched_on_at_run_time_applies_to_the_next_updates() {
    let mut m = Mesh::new(7);
    let a = m.add_node(Config::default(), 1);
    let b = m.add_node(Config::default(), 2);
    let c = m.add_node(Config::default(), 3);
    m.connect(a, b, link(256, None));
    m.connect(b, c, link(256, None));
    m.announce(a, P, None);
    m.run_for(Duration::from_secs(30));
    let refmetric = |m: &Mesh| {
        m.node(c)
            .selected_route(P.parse().unwrap(), None)
            .expect("c has a route")
            .refmetric
    };
    assert_eq!(refmetric(&m), 256);
    m.command(
        b,
        babel_core::Command::SetTuning {
            smoothing_half_life: 4,
            diversity: Diversity {
                kind: 1,
                factor: 128,
            },
        },
    );
    // The next periodic update (16 s interval) carries the new metric.
    m.run_for(Duration::from_secs(40));
    m.assert_consistent();
    assert_eq!(refmetric(&m), 128);
}
