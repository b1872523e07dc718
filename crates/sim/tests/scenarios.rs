//! Scenario tests on small meshes: expected reachability, churn handling, determinism.

use sim::{run_scenario, Scenario};

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml(text).unwrap_or_else(|e| panic!("bad test scenario: {e}"))
}

const LOSSY_LINE: &str = r#"
name = "lossy-line"
duration_s = 120
warmup_s = 30
[topology]
kind = "line"
n = 8
[link]
delay_ms = 2
jitter_ms = 3
loss = 0.05
burst_enter = 0.02
[[churn.events]]
at_s = 50
kind = "crash"
node = 4
[[churn.events]]
at_s = 70
kind = "restart"
node = 4
keep_seqno = false
"#;

#[test]
fn same_scenario_and_seed_give_a_byte_identical_report() {
    let (_, a) = run_scenario(scenario(LOSSY_LINE), Some(7), true).unwrap();
    let (_, b) = run_scenario(scenario(LOSSY_LINE), Some(7), true).unwrap();
    assert_eq!(a.to_json(), b.to_json());
    assert!(a.events > 1000, "{}", a.events);
    // Another seed draws other losses and jitter, so the run differs.
    let (_, c) = run_scenario(scenario(LOSSY_LINE), Some(8), true).unwrap();
    assert_ne!(a.to_json(), c.to_json());
    // The reproducible report carries no wall-clock figures.
    assert_eq!(a.wall_s, 0.0);
    let keys = [
        "nodes", "seed", "simulated_s", "wall_s", "events", "unreachable_pairs_final",
    ];
    let v: serde_json::Value = serde_json::from_str(&a.to_json()).unwrap();
    for k in keys {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    for (o, k) in [
        ("loops", "count"),
        ("loops", "total_s"),
        ("convergence", "max_s"),
        ("convergence", "p95_s"),
        ("overhead", "sent_bytes_per_node_s"),
        ("overhead", "sent_packets_per_node_s"),
    ] {
        assert!(v[o].get(k).is_some(), "missing {o}.{k}");
    }
}

#[test]
fn a_line_converges_with_shortest_paths_and_heals_after_a_crash() {
    // The lossy line without its loss (jitter and the crash stay).
    let text = LOSSY_LINE.replace("loss = 0.05", "loss = 0.0").replace("burst_enter = 0.02", "");
    let (_, r) = run_scenario(scenario(&text), Some(1), true).unwrap();
    assert_eq!(r.nodes, 8);
    assert!(r.convergence.initial_s.is_some(), "never converged");
    assert_eq!(r.connected_pairs_final, 8 * 7);
    assert_eq!(r.unreachable_pairs_final, 0);
    assert_eq!(r.stretch.pairs, 56);
    assert_eq!(r.stretch.max, 1.0);
    // Crash and restart both recorded, both converged within the run.
    assert_eq!(r.convergence.events, 2);
    assert_eq!(r.convergence.unconverged, 0);
    assert!(r.convergence.max_s > 0.0 && r.convergence.max_s < 40.0, "{}", r.convergence.max_s);
    // Every node has a route to every other node.
    assert_eq!(r.routes.max_entries, 7);
    // Control traffic flows in both directions and is counted per node.
    assert!(r.overhead.sent_bytes_per_node_s > 20.0 && r.overhead.sent_bytes_per_node_s < 2000.0);
    assert!(r.overhead.recv_packets_per_node_s > 0.0);
    assert_eq!(r.packets_lost, 0);
    let (sim, _) = run_scenario(scenario(LOSSY_LINE), Some(1), true).unwrap();
    assert!(sim.packets_lost > 0, "5% loss must lose some packets");
}

#[test]
fn unconnected_pairs_do_not_count_and_a_dead_next_hop_is_a_black_hole() {
    // A crash in the middle of a line leaves two halves; only pairs within a half count.
    let text = r#"
duration_s = 60
[topology]
kind = "line"
n = 6
[[churn.events]]
at_s = 40
kind = "crash"
node = 2
"#;
    let (_, r) = run_scenario(scenario(text), None, true).unwrap();
    // {0,1} and {3,4,5}: 2 + 6 ordered pairs.
    assert_eq!(r.connected_pairs_final, 8);
    assert_eq!(r.unreachable_pairs_final, 0);
    assert_eq!(r.convergence.converged, 1);
}
