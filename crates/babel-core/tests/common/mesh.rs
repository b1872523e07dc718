//! Shared mesh set-ups of the scenario and per-section tests: the harness
//! (`babel_core::testing::Mesh`) with nodes of the default configuration.

use std::time::Duration;

use babel_core::testing::Mesh;
use babel_core::{Config, InterfaceConfig};

/// What `Mesh::connect` returns: the link and the ifindexes of its two ends.
pub type Conn = (usize, u32, u32);

/// A mesh of `seed` with one node of the default configuration per entry of `seqnos` (its
/// first seqno), added in that order.
pub fn mesh<const N: usize>(seed: u64, seqnos: [u16; N]) -> (Mesh, [usize; N]) {
    let mut m = Mesh::new(seed);
    let n = seqnos.map(|s| m.add_node(Config::default(), s));
    (m, n)
}

/// Two nodes joined by one link of `config`.
pub fn pair(seed: u64, seqnos: [u16; 2], config: InterfaceConfig) -> (Mesh, [usize; 2], Conn) {
    let (mut m, n) = mesh(seed, seqnos);
    let ab = m.connect(n[0], n[1], config);
    (m, n, ab)
}

/// Three nodes in a line A–B–C on wired links; the links A–B and B–C.
pub fn line3(seed: u64, seqnos: [u16; 3]) -> (Mesh, [usize; 3], [Conn; 2]) {
    let (mut m, n) = mesh(seed, seqnos);
    let ab = m.connect(n[0], n[1], InterfaceConfig::wired());
    let bc = m.connect(n[1], n[2], InterfaceConfig::wired());
    (m, n, [ab, bc])
}

/// One node of `config` on a link of its own, with capture on; the node and its ifindex.
pub fn single_with(config: Config, interface: InterfaceConfig) -> (Mesh, usize, u32) {
    let mut m = Mesh::new(42);
    let a = m.add_node(config, 100);
    let l = m.add_link();
    let i = m.attach(a, l, interface, None);
    m.capture = true;
    (m, a, i)
}

/// Runs `secs` seconds, checking after each one that `node` has `prefix` installed with
/// `metric`.
pub fn metric_stays(m: &mut Mesh, node: usize, prefix: &str, metric: u16, secs: u32) {
    for _ in 0..secs {
        m.run_for(Duration::from_secs(1));
        assert_eq!(
            m.kernel_route(node, prefix, None).map(|r| r.metric),
            Some(metric)
        );
    }
}
