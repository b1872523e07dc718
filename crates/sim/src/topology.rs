//! Topologies: line, ring, 4-neighbour grid, random geometric graph, and edge lists.

use std::collections::BTreeMap;

use crate::rng::SimRng;
use crate::scenario::{LinkMode, TopologySpec};

/// A built topology: node count, undirected edges (a < b, sorted, no duplicates), and
/// positions for the geometric model.
#[derive(Debug, Clone)]
pub struct Topology {
    pub n: u32,
    pub edges: Vec<(u32, u32)>,
    pub mode: LinkMode,
    /// Rgg: positions and the radio range.
    pub positions: Option<Vec<(f64, f64)>>,
    pub radius: f64,
    pub side: f64,
    /// Node names (edge lists), by index.
    pub names: Vec<String>,
    pub kind: &'static str,
}

fn norm(mut edges: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    for e in &mut edges {
        if e.0 > e.1 {
            *e = (e.1, e.0);
        }
    }
    edges.retain(|e| e.0 != e.1);
    edges.sort_unstable();
    edges.dedup();
    edges
}

/// The names of nodes without names: their numbers.
pub fn numbered(n: u32) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

pub fn line(n: u32) -> Vec<(u32, u32)> {
    (1..n).map(|i| (i - 1, i)).collect()
}

pub fn ring(n: u32) -> Vec<(u32, u32)> {
    let mut e = line(n);
    if n > 2 {
        e.push((0, n - 1));
    }
    norm(e)
}

/// Row-major grid: node `y * width + x` links to its right and lower neighbours.
pub fn grid(width: u32, height: u32) -> Vec<(u32, u32)> {
    let mut e = Vec::new();
    for y in 0..height {
        for x in 0..width {
            let i = y * width + x;
            if x + 1 < width {
                e.push((i, i + 1));
            }
            if y + 1 < height {
                e.push((i, i + width));
            }
        }
    }
    norm(e)
}

/// Pairs closer than `radius`, found through a cell grid (no all-pairs scan).
pub fn unit_disk(pos: &[(f64, f64)], radius: f64, side: f64) -> Vec<(u32, u32)> {
    let cells = ((side / radius).floor() as i64).clamp(1, 4096);
    let cell_of = |p: (f64, f64)| {
        let cx = ((p.0 / side) * cells as f64).floor() as i64;
        let cy = ((p.1 / side) * cells as f64).floor() as i64;
        (cx.clamp(0, cells - 1), cy.clamp(0, cells - 1))
    };
    let mut buckets: BTreeMap<(i64, i64), Vec<u32>> = BTreeMap::new();
    for (i, p) in pos.iter().enumerate() {
        buckets.entry(cell_of(*p)).or_default().push(i as u32);
    }
    let r2 = radius * radius;
    let mut e = Vec::new();
    for (i, p) in pos.iter().enumerate() {
        let (cx, cy) = cell_of(*p);
        for dx in -1..=1 {
            for dy in -1..=1 {
                if let Some(b) = buckets.get(&(cx + dx, cy + dy)) {
                    for &j in b {
                        if j as usize > i {
                            let q = pos[j as usize];
                            let d2 = (p.0 - q.0).powi(2) + (p.1 - q.1).powi(2);
                            if d2 < r2 {
                                e.push((i as u32, j));
                            }
                        }
                    }
                }
            }
        }
    }
    norm(e)
}

/// Number of connected components of a graph.
pub fn components(n: u32, edges: &[(u32, u32)]) -> Vec<u32> {
    let mut parent: Vec<u32> = (0..n).collect();
    fn find(p: &mut [u32], mut x: u32) -> u32 {
        while p[x as usize] != x {
            let g = p[p[x as usize] as usize];
            p[x as usize] = g;
            x = g;
        }
        x
    }
    for &(a, b) in edges {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            parent[ra.max(rb) as usize] = ra.min(rb);
        }
    }
    (0..n).map(|i| find(&mut parent, i)).collect()
}

/// Parses an edge list: one `a b` per line, names or numbers, `#` comments. Nodes are
/// numbered in order of first appearance.
/// Node names and edges of an edge list.
pub type EdgeList = (Vec<String>, Vec<(u32, u32)>);

pub fn parse_edges(text: &str) -> Result<EdgeList, String> {
    let mut names: Vec<String> = Vec::new();
    let mut index: BTreeMap<String, u32> = BTreeMap::new();
    let mut edges = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() != 2 {
            return Err(format!(
                "line {}: expected two node names, got {:?}",
                ln + 1,
                line
            ));
        }
        let mut ids = [0u32; 2];
        for (k, name) in parts.iter().enumerate() {
            ids[k] = match index.get(*name) {
                Some(&i) => i,
                None => {
                    if names.len() >= 100_000 {
                        return Err("more than 100000 nodes".into());
                    }
                    let i = names.len() as u32;
                    names.push(name.to_string());
                    index.insert(name.to_string(), i);
                    i
                }
            };
        }
        edges.push((ids[0], ids[1]));
    }
    if names.is_empty() {
        return Err("the edge list has no edges".into());
    }
    Ok((names, norm(edges)))
}

/// Reads and parses an edge-list file; errors name the file.
pub fn read_edges(path: &std::path::Path) -> Result<EdgeList, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_edges(&text).map_err(|e| format!("{}: {e}", path.display()))
}

impl Topology {
    pub fn build(
        spec: &TopologySpec,
        base_dir: &std::path::Path,
        rng: &mut SimRng,
    ) -> Result<Topology, String> {
        let t = match spec {
            TopologySpec::Line { n, links } => Topology::plain(*n, line(*n), *links, "line"),
            TopologySpec::Ring { n, links } => Topology::plain(*n, ring(*n), *links, "ring"),
            TopologySpec::Grid {
                width,
                height,
                links,
            } => Topology::plain(width * height, grid(*width, *height), *links, "grid"),
            TopologySpec::Rgg {
                n,
                side,
                radius,
                connect_tries,
            } => {
                type Placement = (usize, Vec<(f64, f64)>, Vec<(u32, u32)>);
                let mut best: Option<Placement> = None;
                for _ in 0..(*connect_tries).max(1) {
                    let pos: Vec<(f64, f64)> = (0..*n)
                        .map(|_| (rng.range(0.0, *side), rng.range(0.0, *side)))
                        .collect();
                    let e = unit_disk(&pos, *radius, *side);
                    let mut c = components(*n, &e);
                    c.sort_unstable();
                    c.dedup();
                    let k = c.len();
                    if best.as_ref().is_none_or(|b| k < b.0) {
                        best = Some((k, pos, e));
                    }
                    if k == 1 {
                        break;
                    }
                }
                let (_, pos, e) = best.ok_or("no placement")?;
                Topology {
                    n: *n,
                    edges: e,
                    mode: LinkMode::Shared,
                    positions: Some(pos),
                    radius: *radius,
                    side: *side,
                    names: numbered(*n),
                    kind: "rgg",
                }
            }
            TopologySpec::Edges { file, links } => {
                let (names, edges) = read_edges(&base_dir.join(file))?;
                Topology {
                    n: names.len() as u32,
                    edges,
                    mode: *links,
                    positions: None,
                    radius: 0.0,
                    side: 0.0,
                    names,
                    kind: "edges",
                }
            }
        };
        Ok(t)
    }

    fn plain(n: u32, edges: Vec<(u32, u32)>, mode: LinkMode, kind: &'static str) -> Topology {
        Topology {
            n,
            edges,
            mode,
            positions: None,
            radius: 0.0,
            side: 0.0,
            names: numbered(n),
            kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_have_the_right_edges() {
        assert_eq!(line(4), vec![(0, 1), (1, 2), (2, 3)]);
        assert_eq!(ring(4), vec![(0, 1), (0, 3), (1, 2), (2, 3)]);
        let g = grid(10, 10);
        assert_eq!(g.len(), 2 * 10 * 9);
        assert!(g.contains(&(0, 10)) && g.contains(&(0, 1)) && !g.contains(&(9, 10)));
        let c = components(100, &g);
        assert!(c.iter().all(|&r| r == 0));
        assert_eq!(components(4, &[(0, 1)]), vec![0, 0, 2, 3]);
    }

    #[test]
    fn unit_disk_matches_brute_force() {
        let mut rng = SimRng::new(3);
        let pos: Vec<(f64, f64)> = (0..300)
            .map(|_| (rng.range(0.0, 100.0), rng.range(0.0, 100.0)))
            .collect();
        let fast = unit_disk(&pos, 9.0, 100.0);
        let mut slow = Vec::new();
        for i in 0..pos.len() {
            for j in i + 1..pos.len() {
                let d = ((pos[i].0 - pos[j].0).powi(2) + (pos[i].1 - pos[j].1).powi(2)).sqrt();
                if d < 9.0 {
                    slow.push((i as u32, j as u32));
                }
            }
        }
        assert_eq!(fast, slow);
        assert!(!fast.is_empty());
    }

    #[test]
    fn edge_lists_parse_names_and_report_errors() {
        let (names, e) =
            parse_edges("# mesh\nroof-a roof-b\nroof-b 7 # comment\n\n7 roof-a\nroof-a roof-b\n")
                .unwrap();
        assert_eq!(names, vec!["roof-a", "roof-b", "7"]);
        assert_eq!(e, vec![(0, 1), (0, 2), (1, 2)]);
        assert!(parse_edges("a b c\n").unwrap_err().contains("line 1"));
        assert!(parse_edges("# nothing\n").is_err());
    }
}
