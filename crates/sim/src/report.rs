//! The report: every figure of a run, as JSON (stable key order) and as a summary table.

use serde::Serialize;

use crate::check::{bfs_hops, Checker, Fate};
use crate::net::NONE;
use crate::sim::Sim;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub topology: String,
    pub nodes: u32,
    pub links: usize,
    pub seed: u64,
    pub simulated_s: f64,
    /// Wall-clock figures: zero when the report is made reproducible.
    pub wall_s: f64,
    pub sim_s_per_wall_s: f64,
    pub events: u64,
    pub events_per_wall_s: f64,
    pub route_changes: u64,
    pub packets_lost: u64,
    pub churn_events: usize,
    pub loops: Loops,
    pub convergence: Convergence,
    pub blackholes: BlackHoles,
    pub unreachable_pairs_final: u64,
    pub connected_pairs_final: u64,
    /// The last time every counted pair worked (`None`: never, or not after the boot). The
    /// pairs unreachable at the end broke after it, in the events still converging.
    pub all_pairs_worked_last_s: Option<f64>,
    pub stretch: Stretch,
    pub overhead: Overhead,
    pub routes: Routes,
    pub memory: Memory,
    pub churn: Vec<ChurnLine>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Loops {
    pub count: usize,
    pub total_s: f64,
    pub longest_s: f64,
    pub longest_members: usize,
    pub active_at_end: usize,
    /// Pair-seconds spent in loops, from the reachability samples after initial convergence.
    pub pair_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Convergence {
    /// From the first boot until every connected pair had a path.
    pub initial_s: Option<f64>,
    pub events: usize,
    pub converged: usize,
    pub unconverged: usize,
    /// When the earliest event that had not converged by the end happened.
    pub unconverged_since_s: Option<f64>,
    pub mean_s: f64,
    pub p50_s: f64,
    pub p95_s: f64,
    pub max_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlackHoles {
    /// Pair-seconds of connected pairs whose path ended in a dead end, counted from the
    /// initial convergence on (the boot-up is not a black hole).
    pub pair_s: f64,
    pub max_pairs: u64,
    pub final_pairs: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stretch {
    /// Hop count along the installed routes over the shortest hop count, for working pairs.
    pub pairs: u64,
    pub mean: f64,
    pub p95: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Overhead {
    /// Averaged from `window_start_s` to the end. Bytes are frames as an interface counts
    /// them: Babel payload + UDP + IPv6 + Ethernet headers.
    pub window_start_s: f64,
    pub sent_bytes_per_node_s: f64,
    pub sent_packets_per_node_s: f64,
    pub recv_bytes_per_node_s: f64,
    pub recv_packets_per_node_s: f64,
    pub sent_payload_bytes_per_node_s: f64,
    pub max_node_sent_bytes_per_s: f64,
    pub total_sent_bytes: u64,
    pub total_sent_packets: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Routes {
    pub mean_entries: f64,
    pub max_entries: usize,
    pub mean_destinations: f64,
    pub mean_sources: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    /// The node struct plus its route and source tables, as the core accounts them.
    pub table_bytes_per_node: f64,
    /// Resident set size of the whole simulator over nodes (0 when reproducible).
    pub rss_bytes_per_node: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChurnLine {
    pub at_s: f64,
    pub what: String,
    pub converged_after_s: Option<f64>,
}

fn r6(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1e6).round() / 1e6
    } else {
        0.0
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

/// Resident memory of this process, where the platform tells it.
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

impl Report {
    /// `wall`: seconds of wall-clock time and RSS, or None for a reproducible report.
    pub fn build(sim: &Sim, wall: Option<(f64, u64)>) -> Report {
        let n = sim.topo.n;
        let sim_s = sim.end_us() as f64 / 1e6;
        let end = sim.end_us();
        // Loops.
        let eps = sim.loops.all(end);
        let durs: Vec<f64> = eps
            .iter()
            .map(|e| (e.end_us.unwrap_or(end) - e.start_us) as f64 / 1e6)
            .collect();
        let (longest_s, longest_members) =
            eps.iter()
                .zip(&durs)
                .fold((0.0f64, 0usize), |acc, (e, &d)| {
                    if d > acc.0 {
                        (d, e.members.len())
                    } else {
                        acc
                    }
                });
        // Convergence after churn.
        let mut conv: Vec<f64> = sim
            .churn
            .iter()
            .filter_map(|c| c.converged_after_us.map(|u| u as f64 / 1e6))
            .collect();
        conv.sort_by(f64::total_cmp);
        let last = sim.samples.last().map(|s| s.counts).unwrap_or_default();
        // Stretch over a deterministic subset of destinations.
        let k = sim.sc.measure.stretch_destinations;
        let step = if k == 0 || k >= n { 1 } else { n.div_ceil(k) };
        let mut ratios: Vec<f64> = Vec::new();
        let mut d = 0;
        while d < n {
            if sim.alive[d as usize] {
                let dist = bfs_hops(&sim.net, &sim.alive, d);
                for s in 0..n {
                    if s == d || dist[s as usize] == NONE || dist[s as usize] == 0 {
                        continue;
                    }
                    if let (Fate::Delivered, hops) =
                        Checker::fate(&sim.net, &sim.fib, &sim.alive, s, d)
                    {
                        ratios.push(hops as f64 / dist[s as usize] as f64);
                    }
                }
            }
            d += step;
        }
        ratios.sort_by(f64::total_cmp);
        // Overhead.
        // A run shorter than its warm-up is averaged over the whole run.
        let whole = sim.warmup_us() >= end;
        let window_start = if whole { 0 } else { sim.warmup_us() };
        let window_s = ((end - window_start) as f64 / 1e6).max(1e-9);
        let (mut sb, mut sp, mut rb, mut rp, mut maxb, mut tb, mut tp) =
            (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
        for (total, w) in sim.traffic() {
            let w = if whole { total } else { w };
            sb += w.sent_bytes;
            sp += w.sent_packets;
            rb += w.recv_bytes;
            rp += w.recv_packets;
            maxb = maxb.max(w.sent_bytes);
            tb += total.sent_bytes;
            tp += total.sent_packets;
        }
        let per = |x: u64| r6(x as f64 / n as f64 / window_s);
        // Tables.
        let (mut ent, mut maxe, mut dest, mut srcs, mut mem, mut live) =
            (0usize, 0usize, 0usize, 0usize, 0usize, 0usize);
        for node in sim.live_nodes() {
            let t = node.table_stats();
            ent += t.route_entries;
            maxe = maxe.max(t.route_entries);
            dest += t.destinations;
            srcs += t.sources;
            mem += std::mem::size_of::<babel_core::Node>() + t.route_bytes + t.source_bytes;
            live += 1;
        }
        let lv = live.max(1) as f64;
        let (wall_s, rss) = wall.unwrap_or((0.0, 0));
        Report {
            scenario: sim.sc.name.clone(),
            topology: sim.topo.kind.to_string(),
            nodes: n,
            links: sim.net.edges.iter().filter(|e| e.present).count(),
            seed: sim.seed,
            simulated_s: r6(sim_s),
            wall_s: r6(wall_s),
            sim_s_per_wall_s: if wall_s > 0.0 {
                r6(sim_s / wall_s)
            } else {
                0.0
            },
            events: sim.events_processed,
            events_per_wall_s: if wall_s > 0.0 {
                r6(sim.events_processed as f64 / wall_s)
            } else {
                0.0
            },
            route_changes: sim.route_changes,
            packets_lost: sim.packets_lost,
            churn_events: sim.churn.len(),
            loops: Loops {
                count: eps.len(),
                total_s: r6(durs.iter().fold(0.0, |a, b| a + b)),
                longest_s: r6(longest_s),
                longest_members,
                active_at_end: sim.loops.active_count(),
                pair_s: r6(sim.loop_pair_us / 1e6),
            },
            convergence: Convergence {
                initial_s: sim.initial_convergence_us.map(|u| r6(u as f64 / 1e6)),
                events: sim.churn.len(),
                converged: conv.len(),
                unconverged: sim.pending_churn(),
                unconverged_since_s: sim.pending_churn_since_us().map(|u| r6(u as f64 / 1e6)),
                mean_s: if conv.is_empty() {
                    0.0
                } else {
                    r6(conv.iter().fold(0.0, |a, b| a + b) / conv.len() as f64)
                },
                p50_s: r6(percentile(&conv, 0.5)),
                p95_s: r6(percentile(&conv, 0.95)),
                max_s: r6(conv.last().copied().unwrap_or(0.0)),
            },
            blackholes: BlackHoles {
                pair_s: r6(sim.blackhole_pair_us / 1e6),
                max_pairs: sim.max_blackholes,
                final_pairs: last.blackholes,
            },
            unreachable_pairs_final: last.broken(),
            connected_pairs_final: last.connected,
            all_pairs_worked_last_s: sim.all_working_us.map(|u| r6(u as f64 / 1e6)),
            stretch: Stretch {
                pairs: ratios.len() as u64,
                mean: if ratios.is_empty() {
                    0.0
                } else {
                    r6(ratios.iter().fold(0.0, |a, b| a + b) / ratios.len() as f64)
                },
                p95: r6(percentile(&ratios, 0.95)),
                max: r6(ratios.last().copied().unwrap_or(0.0)),
            },
            overhead: Overhead {
                window_start_s: r6(window_start as f64 / 1e6),
                sent_bytes_per_node_s: per(sb),
                sent_packets_per_node_s: per(sp),
                recv_bytes_per_node_s: per(rb),
                recv_packets_per_node_s: per(rp),
                sent_payload_bytes_per_node_s: per(
                    sb.saturating_sub(sp * crate::sim::FRAME_OVERHEAD)
                ),
                max_node_sent_bytes_per_s: r6(maxb as f64 / window_s),
                total_sent_bytes: tb,
                total_sent_packets: tp,
            },
            routes: Routes {
                mean_entries: r6(ent as f64 / lv),
                max_entries: maxe,
                mean_destinations: r6(dest as f64 / lv),
                mean_sources: r6(srcs as f64 / lv),
            },
            memory: Memory {
                table_bytes_per_node: r6(mem as f64 / lv),
                rss_bytes_per_node: r6(rss as f64 / n.max(1) as f64),
            },
            churn: sim
                .churn
                .iter()
                .map(|c| ChurnLine {
                    at_s: r6(c.at_us as f64 / 1e6),
                    what: c.what.clone(),
                    converged_after_s: c.converged_after_us.map(|u| r6(u as f64 / 1e6)),
                })
                .collect(),
        }
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        s.push('\n');
        s
    }

    /// The human summary printed at the end of a run.
    pub fn summary(&self) -> String {
        let mut rows: Vec<(&str, String)> = vec![
            (
                "scenario",
                format!(
                    "{} ({}, {} nodes, {} links)",
                    self.scenario, self.topology, self.nodes, self.links
                ),
            ),
            ("seed", self.seed.to_string()),
            ("simulated", format!("{:.1} s", self.simulated_s)),
        ];
        if self.wall_s > 0.0 {
            rows.push((
                "wall clock",
                format!(
                    "{:.2} s ({:.1}x real time)",
                    self.wall_s, self.sim_s_per_wall_s
                ),
            ));
            rows.push((
                "events",
                format!("{} ({:.0}/s)", self.events, self.events_per_wall_s),
            ));
        } else {
            rows.push(("events", self.events.to_string()));
        }
        let c = &self.convergence;
        rows.push((
            "initial convergence",
            c.initial_s.map_or("never".into(), |s| format!("{s:.2} s")),
        ));
        rows.push((
            "churn convergence",
            format!(
                "{} events, {} converged: mean {:.2} s, p95 {:.2} s, max {:.2} s",
                c.events, c.converged, c.mean_s, c.p95_s, c.max_s
            ),
        ));
        rows.push((
            "loops",
            format!(
                "{} (total {:.2} s, longest {:.2} s, {} open at end)",
                self.loops.count,
                self.loops.total_s,
                self.loops.longest_s,
                self.loops.active_at_end
            ),
        ));
        rows.push((
            "black holes",
            format!(
                "{:.1} pair-s, max {} pairs at once",
                self.blackholes.pair_s, self.blackholes.max_pairs
            ),
        ));
        rows.push((
            "unreachable at end",
            if self.unreachable_pairs_final == 0 {
                format!("0 of {} connected pairs", self.connected_pairs_final)
            } else {
                // Say whether these pairs are stuck or still converging: when every pair
                // last worked, and since when events have not converged.
                let worked = match self.all_pairs_worked_last_s {
                    Some(t) => format!("all worked at {t:.1} s"),
                    None => "never all worked".to_string(),
                };
                let pending = match self.convergence.unconverged_since_s {
                    Some(t) => format!(
                        "; {} event{} since {t:.1} s still converging",
                        self.convergence.unconverged,
                        if self.convergence.unconverged == 1 {
                            ""
                        } else {
                            "s"
                        }
                    ),
                    None => String::new(),
                };
                format!(
                    "{} of {} connected pairs ({worked}{pending})",
                    self.unreachable_pairs_final, self.connected_pairs_final
                )
            },
        ));
        rows.push((
            "route stretch",
            format!(
                "mean {:.3}, p95 {:.3}, max {:.3} ({} pairs)",
                self.stretch.mean, self.stretch.p95, self.stretch.max, self.stretch.pairs
            ),
        ));
        let o = &self.overhead;
        rows.push((
            "overhead sent/node",
            format!(
                "{:.1} B/s, {:.2} pkt/s (from {:.0} s)",
                o.sent_bytes_per_node_s, o.sent_packets_per_node_s, o.window_start_s
            ),
        ));
        rows.push((
            "overhead recv/node",
            format!(
                "{:.1} B/s, {:.2} pkt/s",
                o.recv_bytes_per_node_s, o.recv_packets_per_node_s
            ),
        ));
        rows.push((
            "route table",
            format!(
                "mean {:.1} entries, max {}, {:.1} destinations",
                self.routes.mean_entries, self.routes.max_entries, self.routes.mean_destinations
            ),
        ));
        let mut mem = format!("{:.0} B/node in tables", self.memory.table_bytes_per_node);
        if self.memory.rss_bytes_per_node > 0.0 {
            mem += &format!(", {:.0} B/node RSS", self.memory.rss_bytes_per_node);
        }
        rows.push(("memory", mem));
        let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (k, v) in rows {
            out += &format!("{k:<w$}  {v}\n");
        }
        out
    }
}
