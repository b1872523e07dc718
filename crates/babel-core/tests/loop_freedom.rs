//! Property test of Babel's central promise (RFC 8966 §2.4, §3.5.1): whatever the topology
//! and whatever links fail, following the installed routes never loops — not after
//! convergence, and not in the seconds after a failure either.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use babel_core::testing::Mesh;
use babel_core::wire::INFINITY;
use babel_core::{Config, InterfaceConfig};
use proptest::prelude::*;

const P: &str = "2001:db8:99::/48";

/// Follows next hops from every node towards the prefix; fails on a loop.
fn check_no_loop(m: &Mesh, addr_to_node: &BTreeMap<IpAddr, usize>, n: usize) -> Result<(), String> {
    for start in 1..n {
        let mut seen = BTreeSet::new();
        let mut at = start;
        loop {
            if !seen.insert(at) {
                return Err(format!("loop from node {start}: {seen:?}"));
            }
            if at == 0 {
                break;
            }
            match m.kernel_route(at, P, None) {
                Some(r) if r.metric < INFINITY => match addr_to_node.get(&r.next_hop) {
                    Some(&next) => at = next,
                    None => return Err(format!("next hop {} of node {at} is nobody", r.next_hop)),
                },
                _ => break, // no route: a black hole is allowed, a loop is not
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn installed_routes_never_loop(
        extra in proptest::collection::vec((0usize..6, 0usize..6, 1u16..4), 2..8),
        cuts in proptest::collection::vec(0usize..12, 1..4),
        seed in 0u64..1000,
    ) {
        let n = 6;
        let mut m = Mesh::new(seed);
        for i in 0..n {
            m.add_node(Config::default(), (i * 7) as u16);
        }
        // A line to keep it connected, plus random extra links with random costs.
        let mut links = Vec::new();
        let mut addr_to_node = BTreeMap::new();
        let mut edges: Vec<(usize, usize, u16)> = (0..n - 1).map(|i| (i, i + 1, 1)).collect();
        edges.extend(extra.into_iter().filter(|(a, b, _)| a != b));
        for (a, b, c) in edges {
            let config = InterfaceConfig { cost: Some(96 * c), ..InterfaceConfig::wired() };
            let (l, ia, ib) = m.connect(a, b, config);
            addr_to_node.insert(IpAddr::V6(m.address(a, ia)), a);
            addr_to_node.insert(IpAddr::V6(m.address(b, ib)), b);
            links.push(l);
        }
        m.announce(0, P, None);
        m.run_for(Duration::from_secs(60));
        for i in 1..n {
            prop_assert!(m.kernel_route(i, P, None).is_some_and(|r| r.metric < INFINITY), "node {} has no route", i);
        }
        check_no_loop(&m, &addr_to_node, n).map_err(TestCaseError::fail)?;
        for c in cuts {
            let l = links[c % links.len()];
            m.set_link_up(l, false);
            for _ in 0..40 {
                m.run_for(Duration::from_millis(500));
                check_no_loop(&m, &addr_to_node, n).map_err(TestCaseError::fail)?;
            }
        }
        m.assert_consistent();
    }
}
