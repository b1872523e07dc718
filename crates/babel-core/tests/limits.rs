//! Memory bounds against a hostile neighbour: a flooding neighbour fills its own share of the
//! route table, refusals are counted per kind, and the routes of other neighbours (and the
//! flooder's own routes already held) keep working.

use std::net::Ipv6Addr;
use std::time::Duration;

use babel_core::testing::Mesh;
use babel_core::wire::{Encoder, Prefix, RouterId, Tlv, Update, INFINITY};
use babel_core::{Command, Config, InterfaceConfig, Limit};

mod common;
use common::tlvs::{hello, ihu};

const FLOODER: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0xbad, 1);
const FRIEND: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0x600d, 1);

fn packets(tlvs: &[Tlv], src: Ipv6Addr) -> Vec<Vec<u8>> {
    let mut e = Encoder::new(1400, Some(src));
    for t in tlvs {
        e.push(t).unwrap();
    }
    e.finish()
}

fn greeting(seqno: u16, to: Ipv6Addr) -> Vec<Tlv> {
    vec![hello(seqno, false), ihu(to, 96)]
}

fn updates(id: u8, range: std::ops::Range<u32>, metric: u16) -> Vec<Tlv> {
    range
        .map(|i| {
            Tlv::Update(Update {
                flags: 0,
                interval: 1600,
                seqno: 1,
                metric,
                prefix: Some(
                    Prefix::v6(
                        Ipv6Addr::new(0x2001, 0xdb8, id as u16, i as u16, 0, 0, 0, 0),
                        64,
                    )
                    .unwrap(),
                ),
                src_prefix: None,
                router_id: Some(RouterId([2, 0, 0, 0, 0, 0, 0xee, id])),
                next_hop: None,
                unknown_subtlvs: vec![],
            })
        })
        .collect()
}

fn send(m: &mut Mesh, a: usize, i: u32, from: Ipv6Addr, tlvs: &[Tlv]) {
    for p in packets(tlvs, from) {
        m.inject(a, i, from, &p);
    }
}

fn setup(config: Config) -> (Mesh, usize, u32) {
    let mut m = Mesh::new(7);
    let a = m.add_node(config, 100);
    let l = m.add_link();
    let i = m.attach(a, l, InterfaceConfig::wired(), None);
    let ll = m.address(a, i);
    for s in 1..=2 {
        send(&mut m, a, i, FLOODER, &greeting(s, ll));
        send(&mut m, a, i, FRIEND, &greeting(s, ll));
        m.run_for(Duration::from_millis(100));
    }
    (m, a, i)
}

fn routes_from(m: &Mesh, a: usize, who: Ipv6Addr) -> usize {
    m.node(a).routes().filter(|r| r.neighbour == who).count()
}

#[test]
fn a_flooding_neighbour_fills_only_its_share_and_others_keep_working() {
    let config = Config {
        max_route_entries: 1_000,
        max_routes_per_neighbour: 100,
        ..Config::default()
    };
    let (mut m, a, i) = setup(config);
    // The friend's routes first, then a flood of 5,000 prefixes.
    send(&mut m, a, i, FRIEND, &updates(1, 0..10, 100));
    send(&mut m, a, i, FLOODER, &updates(2, 0..5_000, 100));
    m.run_for(Duration::from_millis(100));
    assert_eq!(routes_from(&m, a, FLOODER), 100, "the flooder's share");
    assert_eq!(routes_from(&m, a, FRIEND), 10);
    let st = m.node(a).stats();
    assert_eq!(st.refused(Limit::RoutesPerNeighbour), 4_900);
    assert_eq!(st.refused(Limit::Routes), 0);
    assert!(st.over_limit >= 4_900);

    // The friend's new routes are still accepted and installed, also after the flood.
    send(&mut m, a, i, FRIEND, &updates(1, 10..20, 100));
    m.run_for(Duration::from_millis(100));
    assert_eq!(routes_from(&m, a, FRIEND), 20);
    assert!(m.kernel_route(a, "2001:db8:1:13::/64", None).is_some());

    // The flooder's routes already held keep being refreshed and stay installed.
    send(&mut m, a, i, FLOODER, &updates(2, 0..100, 50));
    m.run_for(Duration::from_millis(100));
    let r = m.kernel_route(a, "2001:db8:2:5::/64", None).expect("held");
    assert_eq!(r.metric, 50 + 96);

    // A retraction frees room in the flooder's share once the retracted entry is gone:
    // its next new prefix fits.
    send(&mut m, a, i, FLOODER, &updates(2, 0..1, INFINITY));
    for s in 3..33 {
        let ll = m.address(a, i);
        send(&mut m, a, i, FLOODER, &greeting(s, ll));
        send(&mut m, a, i, FRIEND, &greeting(s, ll));
        send(&mut m, a, i, FLOODER, &updates(2, 1..100, 50));
        send(&mut m, a, i, FRIEND, &updates(1, 0..20, 100));
        m.run_for(Duration::from_secs(4));
    }
    assert_eq!(routes_from(&m, a, FLOODER), 99);
    send(&mut m, a, i, FLOODER, &updates(2, 5_000..5_002, 50));
    m.run_for(Duration::from_millis(100));
    assert!(m.kernel_route(a, "2001:db8:2:1388::/64", None).is_some());
    assert!(m.kernel_route(a, "2001:db8:2:1389::/64", None).is_none());
    assert_eq!(routes_from(&m, a, FLOODER), 100);
    assert_eq!(routes_from(&m, a, FRIEND), 20);
    m.assert_consistent();
}

#[test]
fn the_table_wide_bound_holds_across_neighbours_and_a_limit_can_be_raised() {
    let config = Config {
        max_route_entries: 150,
        max_routes_per_neighbour: 100,
        ..Config::default()
    };
    let (mut m, a, i) = setup(config);
    send(&mut m, a, i, FLOODER, &updates(2, 0..120, 100));
    send(&mut m, a, i, FRIEND, &updates(1, 0..120, 100));
    m.run_for(Duration::from_millis(100));
    assert_eq!(routes_from(&m, a, FLOODER), 100);
    assert_eq!(
        routes_from(&m, a, FRIEND),
        50,
        "the table is full at 150 entries"
    );
    let st = m.node(a).stats().clone();
    assert_eq!(st.refused(Limit::RoutesPerNeighbour), 20);
    assert_eq!(st.refused(Limit::Routes), 70);

    // Raised at run time: the next updates fit.
    m.command(a, Command::SetLimit(Limit::Routes, 1_000));
    m.command(a, Command::SetLimit(Limit::RoutesPerNeighbour, 1_000));
    send(&mut m, a, i, FLOODER, &updates(2, 0..120, 100));
    send(&mut m, a, i, FRIEND, &updates(1, 0..120, 100));
    m.run_for(Duration::from_millis(100));
    assert_eq!(routes_from(&m, a, FLOODER), 120);
    assert_eq!(routes_from(&m, a, FRIEND), 120);
    m.assert_consistent();
}

#[test]
fn refused_neighbours_are_counted_as_such() {
    let config = Config {
        max_neighbours: 1,
        ..Config::default()
    };
    let mut m = Mesh::new(7);
    let a = m.add_node(config, 100);
    let l = m.add_link();
    let i = m.attach(a, l, InterfaceConfig::wired(), None);
    let ll = m.address(a, i);
    send(&mut m, a, i, FRIEND, &greeting(1, ll));
    send(&mut m, a, i, FLOODER, &greeting(1, ll));
    assert_eq!(m.node(a).neighbours().len(), 1);
    assert_eq!(m.node(a).stats().refused(Limit::Neighbours), 1);
    assert_eq!(Limit::Neighbours.name(), "neighbours");
}
