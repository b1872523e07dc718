//! Scenario tests on small meshes: expected reachability, churn handling, determinism.

use sim::{run_scenario, Report, Scenario, Sim};

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml(text).unwrap_or_else(|e| panic!("bad test scenario: {e}"))
}

/// Runs a scenario given as TOML text, reproducibly, with `seed` (or the scenario's own).
fn run(text: &str, seed: Option<u64>) -> (Sim, Report) {
    run_scenario(scenario(text), seed, true).unwrap()
}

/// A line of `n` nodes in which node `node` crashes at `crash_s` and restarts at
/// `restart_s` without its seqno. `head` holds the top-level keys, `link` the `[link]`
/// table (or nothing).
fn crash_restart_line(
    head: &str,
    n: usize,
    link: &str,
    node: usize,
    crash_s: u32,
    restart_s: u32,
) -> String {
    format!(
        r#"{head}
[topology]
kind = "line"
n = {n}
{link}[[churn.events]]
at_s = {crash_s}
kind = "crash"
node = {node}
[[churn.events]]
at_s = {restart_s}
kind = "restart"
node = {node}
keep_seqno = false
"#
    )
}

const JITTER: &str = "[link]\ndelay_ms = 2\njitter_ms = 3\n";

/// A line of 8 with jitter and 5 % (bursty) loss; node 4 crashes at 50 s and is back
/// without its seqno at 70 s.
fn lossy_line() -> String {
    let link = format!("{JITTER}loss = 0.05\nburst_enter = 0.02\n");
    crash_restart_line(
        "name = \"lossy-line\"\nduration_s = 120\nwarmup_s = 30",
        8,
        &link,
        4,
        50,
        70,
    )
}

/// The restart recorded as the second churn event converged within `limit` seconds; how
/// long it took.
fn restart_healed_within(r: &Report, limit: f64, ctx: &str) -> f64 {
    let healed = r.churn[1].converged_after_s.expect("converges");
    assert!(healed < limit, "{ctx}: {healed}");
    healed
}

#[test]
fn same_scenario_and_seed_give_a_byte_identical_report() {
    let lossy = lossy_line();
    let (_, a) = run(&lossy, Some(7));
    let (_, b) = run(&lossy, Some(7));
    assert_eq!(a.to_json(), b.to_json());
    assert!(a.events > 1000, "{}", a.events);
    // Another seed draws other losses and jitter, so the run differs.
    let (_, c) = run(&lossy, Some(8));
    assert_ne!(a.to_json(), c.to_json());
    // The reproducible report carries no wall-clock figures.
    assert_eq!(a.wall_s, 0.0);
    let keys = [
        "nodes",
        "seed",
        "simulated_s",
        "wall_s",
        "events",
        "unreachable_pairs_final",
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
    let lossy = lossy_line();
    let text = lossy
        .replace("loss = 0.05", "loss = 0.0")
        .replace("burst_enter = 0.02", "")
        .replace("keep_seqno = false", "keep_seqno = true");
    let (_, r) = run(&text, Some(1));
    assert_eq!(r.nodes, 8);
    assert!(r.convergence.initial_s.is_some(), "never converged");
    assert_eq!(r.connected_pairs_final, 8 * 7);
    assert_eq!(r.unreachable_pairs_final, 0);
    assert_eq!(r.stretch.pairs, 56);
    assert_eq!(r.stretch.max, 1.0);
    // Crash and restart both recorded, both converged within the run.
    assert_eq!(r.convergence.events, 2);
    assert_eq!(r.convergence.unconverged, 0);
    assert!(
        r.convergence.max_s > 0.0 && r.convergence.max_s < 40.0,
        "{}",
        r.convergence.max_s
    );
    // Every node has a route to every other node.
    assert_eq!(r.routes.max_entries, 7);
    // Control traffic flows in both directions and is counted per node.
    assert!(r.overhead.sent_bytes_per_node_s > 20.0 && r.overhead.sent_bytes_per_node_s < 2000.0);
    assert!(r.overhead.recv_packets_per_node_s > 0.0);
    assert_eq!(r.packets_lost, 0);
    let (sim, _) = run(&lossy, Some(1));
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
    let (_, r) = run(text, None);
    // {0,1} and {3,4,5}: 2 + 6 ordered pairs.
    assert_eq!(r.connected_pairs_final, 8);
    assert_eq!(r.unreachable_pairs_final, 0);
    assert_eq!(r.convergence.converged, 1);
}

#[test]
fn a_grid_heals_around_a_crashed_router_and_a_partition() {
    let text = r#"
duration_s = 150
[topology]
kind = "grid"
width = 4
height = 4
links = "shared"
[[churn.events]]
at_s = 40
kind = "crash"
node = 5
[[churn.events]]
at_s = 70
kind = "partition"
fraction = 0.5
[[churn.events]]
at_s = 90
kind = "merge"
[[churn.events]]
at_s = 110
kind = "restart"
node = 5
"#;
    let (sim, r) = run(text, Some(3));
    assert_eq!(r.links, 24);
    assert_eq!(r.convergence.events, 4);
    assert_eq!(r.convergence.unconverged, 0, "{:?}", r.churn);
    assert_eq!(r.unreachable_pairs_final, 0, "{:?}", sim.broken_pairs());
    assert_eq!(r.connected_pairs_final, 16 * 15);
    // Shortest paths once healed: a better route is taken as soon as it is learned.
    assert!(
        r.stretch.pairs == 240 && r.stretch.max == 1.0,
        "{:?}",
        r.stretch
    );
    // The partition was seen: some pairs were unreachable right after the cut.
    let cut = sim.samples.iter().find(|s| s.at_us >= 70_000_000).unwrap();
    assert!(cut.counts.connected < 16 * 15);
}

/// A 4x4 wireless grid whose router 5 crashes at 60 s; the run lasts `duration_s`.
fn grid_crash_at_60(duration_s: u32) -> String {
    format!(
        r#"
duration_s = {duration_s}
[topology]
kind = "grid"
width = 4
height = 4
links = "shared"
[link]
loss = 0.01
[[churn.events]]
at_s = 60
kind = "crash"
node = 5
"#
    )
}

#[test]
fn pairs_unreachable_at_the_end_are_told_apart_from_stuck_ones() {
    // Issue 4: a run that ends a few seconds after a crash counts the pairs whose routes
    // went through the dead router as unreachable (its neighbours notice it from missed
    // hellos, over several hello intervals). The report says when every pair last worked
    // and since when events are still converging, so they are not mistaken for stuck pairs.
    let (sim, r) = run(&grid_crash_at_60(63), Some(1));
    assert!(r.unreachable_pairs_final > 0, "{:?}", r.churn);
    assert_eq!(r.connected_pairs_final, 15 * 14);
    assert_eq!(r.convergence.unconverged, 1, "{:?}", r.churn);
    assert_eq!(r.convergence.unconverged_since_s, Some(60.0));
    let worked = r
        .all_pairs_worked_last_s
        .expect("all pairs worked before the crash");
    assert!((59.0..=60.0).contains(&worked), "{worked}");
    let table = r.summary();
    let said = format!("all worked at {worked:.1} s; 1 event since 60.0 s still converging");
    assert!(table.contains(&said), "{table}");
    // The same run, given time: the very same pairs all work again, nothing was stuck.
    let (later, r2) = run(&grid_crash_at_60(100), Some(1));
    assert_eq!(r2.unreachable_pairs_final, 0, "{:?}", later.broken_pairs());
    assert_eq!(r2.convergence.unconverged, 0, "{:?}", r2.churn);
    assert_eq!(r2.convergence.unconverged_since_s, None);
    assert_eq!(r2.all_pairs_worked_last_s, Some(100.0));
    assert!(!sim.broken_pairs().is_empty());
}

#[test]
fn ring_and_edge_list_topologies_converge() {
    let ring = "duration_s = 60\n[topology]\nkind = \"ring\"\nn = 10\n";
    let (_, r) = run(ring, None);
    assert_eq!(r.links, 10);
    assert_eq!(r.unreachable_pairs_final, 0);
    // Every pair is delivered, over a shortest path, within a minute of boot (the shorter
    // way round is often learned after the longer one).
    assert_eq!(r.stretch.pairs, 90);
    assert_eq!(r.stretch.max, 1.0, "{:?}", r.stretch);

    let dir = std::env::temp_dir().join(format!("babel-sim-edges-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("mesh.txt"),
        "# a small mesh\nhub a\nhub b\nhub c\na b\nc d\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("s.toml"),
        "duration_s = 60\n[topology]\nkind = \"edges\"\nfile = \"mesh.txt\"\n[[churn.events]]\nat_s = 30\nkind = \"link_down\"\na = 0\nb = 3\n",
    )
    .unwrap();
    let sc = Scenario::load(&dir.join("s.toml")).unwrap();
    let (_, r) = run_scenario(sc, None, true).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(r.nodes, 5);
    assert_eq!(r.links, 5);
    // hub-c down: {c, d} is cut off from {hub, a, b}.
    assert_eq!(r.connected_pairs_final, 3 * 2 + 2);
    assert_eq!(r.unreachable_pairs_final, 0);
}

#[test]
fn random_geometric_mesh_with_mobility_and_random_churn_runs() {
    let text = r#"
duration_s = 120
[topology]
kind = "rgg"
n = 20
side = 100.0
radius = 35.0
[link]
loss = 0.02
[mobility]
fraction = 0.5
speed_min = 1.0
speed_max = 3.0
step_s = 1.0
start_s = 40
count_as_churn = true
[[churn.random]]
kind = "crash"
rate_per_s = 0.05
downtime_s = 10
start_s = 40
"#;
    let (sim, r) = run(text, Some(2));
    assert!(sim.is_wireless());
    assert_eq!(r.topology, "rgg");
    assert!(r.convergence.initial_s.is_some());
    // Mobility changed the links at least once, and random crashes happened.
    assert!(r.churn.iter().any(|c| c.what == "mobility"));
    assert!(r.churn.iter().any(|c| c.what.starts_with("crash")));
    assert!(r.connected_pairs_final > 0 && r.overhead.sent_packets_per_node_s > 0.0);
    // Same seed, same report, with mobility and random processes too.
    let (_, r2) = run(text, Some(2));
    assert_eq!(r.to_json(), r2.to_json());
}

#[test]
fn plots_are_written_as_svg() {
    let text = "duration_s = 40\n[topology]\nkind = \"line\"\nn = 4\n[[churn.events]]\nat_s = 20\nkind = \"crash\"\nnode = 3\n";
    let (sim, _) = run(text, None);
    let dir = std::env::temp_dir().join(format!("babel-sim-plots-{}", std::process::id()));
    let files = sim::plots::write_all(&sim, &dir).unwrap();
    assert_eq!(files.len(), 3);
    for f in &files {
        let s = std::fs::read_to_string(f).unwrap();
        assert!(s.starts_with("<svg") && s.contains("</svg>"), "{f}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn pcap_is_dissected_as_babel_by_tshark() {
    let text = "duration_s = 20\n[topology]\nkind = \"line\"\nn = 3\n[measure]\npcap_nodes = [1]\n";
    let mut s = sim::Sim::new(scenario(text), None, true).unwrap();
    s.run(&mut |_, _| {});
    let w = s.pcap.as_ref().unwrap();
    assert!(w.packets > 10, "{}", w.packets);
    let path = std::env::temp_dir().join(format!("babel-sim-{}.pcap", std::process::id()));
    std::fs::write(&path, w.bytes()).unwrap();
    let out = std::process::Command::new("tshark")
        .args([
            "-r",
            path.to_str().unwrap(),
            "-Y",
            "babel",
            "-T",
            "fields",
            "-e",
            "babel.version",
            "-e",
            "udp.checksum.status",
        ])
        .arg("-o")
        .arg("udp.check_checksum:TRUE")
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            std::fs::remove_file(&path).ok();
            if std::env::var_os("CI").is_some() {
                panic!("tshark is needed in CI: {e}");
            }
            eprintln!("skipping: tshark not available ({e})");
            return;
        }
    };
    std::fs::remove_file(&path).ok();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() as u64, w.packets, "every packet is Babel");
    for l in lines {
        let f: Vec<&str> = l.split('\t').collect();
        assert_eq!(f[0], "2", "{l}");
        // 1 = good checksum in Wireshark's status field (0 bad, 2 unverified).
        assert_eq!(f.get(1).copied(), Some("1"), "{l}");
    }
}

#[test]
fn meshnet_lab_addressing_costs_more_bytes_per_route_and_still_converges() {
    let base = "duration_s = 100\nwarmup_s = 50\n[topology]\nkind = \"grid\"\nwidth = 3\nheight = 3\nlinks = \"shared\"\n";
    let (_, compact) = run(base, None);
    let eui = format!("{base}[babel]\naddressing = \"eui64\"\n");
    let (sim, r) = run(&eui, None);
    assert_eq!(r.unreachable_pairs_final, 0);
    assert_eq!(compact.unreachable_pairs_final, 0);
    assert!(sim
        .prefixes
        .iter()
        .all(|p| p.to_string().starts_with("fdef:17a0:ffb1:300:")));
    // Consecutive EUI-64 prefixes share 8 bytes instead of 14: each update is longer.
    assert!(
        r.overhead.sent_payload_bytes_per_node_s > compact.overhead.sent_payload_bytes_per_node_s,
        "{} vs {}",
        r.overhead.sent_payload_bytes_per_node_s,
        compact.overhead.sent_payload_bytes_per_node_s
    );
}

#[test]
fn a_router_restarting_with_or_without_its_seqno_is_reachable_again() {
    // Without its persisted seqno a router may come back with a seqno older than the one
    // the others remember (RFC 8966 §3.5.1 feasibility). It learns the old one from the
    // retractions its neighbours still hold, or from the one they send it when its updates
    // turn out unfeasible, and continues after it: it heals as fast as with its seqno.
    let text = crash_restart_line("duration_s = 400", 6, "", 2, 50, 60);
    for seed in 1..=4 {
        for keep in [false, true] {
            let t = text.replace("keep_seqno = false", &format!("keep_seqno = {keep}"));
            let (_, r) = run(&t, Some(seed));
            assert_eq!(r.churn[1].what.contains("new seqno"), !keep);
            restart_healed_within(&r, 20.0, &format!("seed {seed}, keep {keep}"));
            assert_eq!(r.unreachable_pairs_final, 0, "seed {seed}");
        }
    }
}

/// The simulator's finding: a line of 8, node 4 crashes at 50 s and restarts at 70 s with a
/// fresh random seqno. Every pair used to work again at 87 s, then pairs towards node 4
/// became black holes from about 90 s until the old feasibility distances expired (300 s):
/// a stale route of the previous run came back with the link, then expired. Now it heals
/// within seconds and stays healed, whichever seqno the restart draws (seeds 1 to 8 draw
/// older and newer ones).
#[test]
fn a_router_restarted_without_its_seqno_is_found_and_not_lost_again() {
    let text = crash_restart_line("duration_s = 300", 8, JITTER, 4, 50, 70);
    for seed in 1..=8 {
        let (sim, r) = run(&text, Some(seed));
        let healed = restart_healed_within(&r, 15.0, &format!("seed {seed}"));
        let healed_at = 70_000_000 + (healed * 1e6) as u64;
        let broken: Vec<_> = sim
            .samples
            .iter()
            .filter(|s| s.at_us > healed_at && s.counts.broken() > 0)
            .map(|s| (s.at_us / 1_000_000, s.counts.broken()))
            .collect();
        assert!(broken.is_empty(), "seed {seed}: lost again {broken:?}");
        assert_eq!(r.unreachable_pairs_final, 0);
    }
}

/// A scenario file of `tests/data`.
fn data(file: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file)
}

#[test]
fn churn_events_name_nodes_of_the_edge_list_with_the_same_results_as_numbers() {
    let names = Scenario::load(&data("hill-names.toml")).unwrap();
    let numbers = Scenario::load(&data("hill-numbers.toml")).unwrap();
    let (_, a) = run_scenario(names, None, true).unwrap();
    let (_, b) = run_scenario(numbers, None, true).unwrap();
    assert_eq!(a.to_json(), b.to_json());
    // The names became the nodes they name: roof-1 is node 1, the tower-barn link 0-4 ...
    let what: Vec<&str> = a.churn.iter().map(|c| c.what.as_str()).collect();
    assert_eq!(
        what,
        [
            "crash 1",
            "restart 1 (new seqno)",
            "link 0-4 down",
            "link 4-0 up",
            "link 2->3 loss 0.30",
            "link 3-4 down",
            "link 4-0 down"
        ]
    );
    // ... and at the end the barn is cut off, the other four reach each other.
    assert_eq!(a.nodes, 5);
    assert_eq!(a.connected_pairs_final, 4 * 3);
    assert_eq!(a.convergence.unconverged, 0, "{:?}", a.churn);
    // At the end roof-3's only way out is the roof-2 -> roof-3 link that loses 30% one way.
    // Its wired (2-out-of-3) cost goes infinite whenever two of three hellos are lost, about
    // one hello in five, so whether it is up at the very last instant is luck of the seed
    // (it was down for a few seconds from 115 s at seed 1): what must hold is that every
    // pair worked again after the last event.
    assert!(
        a.all_pairs_worked_last_s.is_some_and(|t| t > 90.0),
        "{:?}",
        a.all_pairs_worked_last_s
    );
}

#[test]
fn a_churn_event_naming_a_node_not_in_the_topology_is_rejected_at_load() {
    let dir = std::env::temp_dir().join(format!("babel-sim-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let edges = data("hill.edges");
    let text = std::fs::read_to_string(data("hill-names.toml"))
        .unwrap()
        .replace(
            "\"hill.edges\"",
            &format!("{:?}", edges.display().to_string()),
        )
        .replace(
            "a = \"barn\"\nb = \"tower\"",
            "a = \"barn\"\nb = \"chimney\"",
        );
    let path = dir.join("bad.toml");
    std::fs::write(&path, text).unwrap();
    let err = Scenario::load(&path).unwrap_err();
    // Its events in order: crash, restart, link_down, link_up (the 4th) names the chimney.
    assert_eq!(
        err,
        format!(
            "{}: churn event 4 (at_s = 60, kind = \"link_up\"): no node named \"chimney\" in the topology",
            path.display()
        )
    );
    // A number out of range is an error at load too, with the file and the event.
    let text = std::fs::read_to_string(&path).unwrap();
    let numbered = text.replace("b = \"chimney\"", "b = 5");
    std::fs::write(&path, &numbered).unwrap();
    let err = Scenario::load(&path).unwrap_err();
    assert_eq!(
        err,
        format!(
            "{}: churn event 4 (at_s = 60, kind = \"link_up\"): names node 5, but there are 5 nodes",
            path.display()
        )
    );
    std::fs::remove_dir_all(&dir).ok();
    // The same scenarios given as text are rejected when the simulator is built.
    let err = sim::Sim::new(scenario(&text), None, false).err().unwrap();
    assert!(err.contains("no node named \"chimney\""), "{err}");
    let err = sim::Sim::new(scenario(&numbered), None, false)
        .err()
        .unwrap();
    assert!(
        err.ends_with(
            "churn event 4 (at_s = 60, kind = \"link_up\"): names node 5, but there are 5 nodes"
        ),
        "{err}"
    );
}

#[test]
fn a_churn_event_past_the_last_node_of_a_grid_is_named_with_the_file() {
    let dir = std::env::temp_dir().join(format!("babel-sim-range-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("small.toml");
    std::fs::write(
        &path,
        "duration_s = 10\n[topology]\nkind = \"grid\"\nwidth = 2\nheight = 2\n\
         [[churn.events]]\nat_s = 1\nkind = \"crash\"\nnode = 3\n\
         [[churn.events]]\nat_s = 2\nkind = \"link_down\"\na = 1\nb = 9\n",
    )
    .unwrap();
    let err = Scenario::load(&path).unwrap_err();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(
        err,
        format!(
            "{}: churn event 2 (at_s = 2, kind = \"link_down\"): names node 9, but there are 4 nodes",
            path.display()
        )
    );
}

#[test]
fn pcap_nodes_name_nodes_of_the_edge_list_like_numbers() {
    let edges = format!("{:?}", data("hill.edges").display().to_string());
    let base = std::fs::read_to_string(data("hill-names.toml"))
        .unwrap()
        .replace("\"hill.edges\"", &edges);
    let capture = |nodes: &str| {
        // `[measure]` goes before the churn tables so that it is not read as one of them.
        let text = base.replacen(
            "[topology]",
            &format!("[measure]\npcap_nodes = {nodes}\n\n[topology]"),
            1,
        );
        let mut s = sim::Sim::new(scenario(&text), None, true)?;
        s.run(&mut |_, _| {});
        Ok::<_, String>(s.pcap.as_ref().unwrap().bytes().to_vec())
    };
    let by_name = capture("[\"roof-1\", \"barn\"]").unwrap();
    let by_number = capture("[1, 4]").unwrap();
    assert!(by_name.len() > 1000, "{}", by_name.len());
    assert_eq!(by_name, by_number);
    assert_ne!(by_name, capture("[1]").unwrap());
    let err = capture("[\"chimney\"]").unwrap_err();
    assert_eq!(
        err,
        "measure.pcap_nodes: no node named \"chimney\" in the topology"
    );
}

/// Every scenario shipped in `scenarios/` loads and validates (the edge-list one with its
/// file), so that a change to the scenario format cannot leave one behind.
#[test]
fn every_shipped_scenario_loads() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut loaded = 0;
    for entry in std::fs::read_dir(&dir).expect("scenarios/") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            loaded += 1;
        }
    }
    assert!(loaded >= 4, "only {loaded} scenarios in {}", dir.display());
}
