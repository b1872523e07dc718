//! Scenario files: TOML describing a topology, link quality, Babel timers, churn and what to
//! measure. Every field but the topology has a default, and unknown keys are errors.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub name: String,
    /// Virtual seconds to simulate.
    pub duration_s: f64,
    #[serde(default = "one")]
    pub seed: u64,
    /// Overhead is averaged from this time on (the start-up flood is left out).
    #[serde(default)]
    pub warmup_s: f64,
    pub topology: TopologySpec,
    #[serde(default)]
    pub link: LinkSpec,
    #[serde(default)]
    pub babel: BabelSpec,
    #[serde(default)]
    pub mobility: Option<MobilitySpec>,
    #[serde(default)]
    pub churn: ChurnSpec,
    #[serde(default)]
    pub measure: MeasureSpec,
    /// The directory of the scenario file, for relative paths (set by [`Scenario::load`]).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LinkMode {
    /// One interface per link: a packet on it reaches the one node at the other end.
    #[default]
    P2p,
    /// One interface per node: a multicast reaches every node linked to it (a radio, or
    /// meshnet-lab's single `uplink`).
    Shared,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "TopologyFields")]
pub enum TopologySpec {
    Line {
        n: u32,
        links: LinkMode,
    },
    Ring {
        n: u32,
        links: LinkMode,
    },
    /// 4 neighbours per node (meshnet-lab's grid4).
    Grid {
        width: u32,
        height: u32,
        links: LinkMode,
    },
    /// Random geometric (unit-disk) graph: `n` nodes uniform in a `side` × `side` square, in
    /// range when closer than `radius`. Always wireless-shared.
    Rgg {
        n: u32,
        side: f64,
        radius: f64,
        /// Retry placement (new positions) until the graph is connected, at most this often.
        connect_tries: u32,
    },
    /// Lines `a b` (names or numbers), `#` comments; the path is relative to the scenario.
    Edges {
        file: PathBuf,
        links: LinkMode,
    },
}

fn ten() -> u32 {
    10
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TopologyKind {
    Line,
    Ring,
    Grid,
    Rgg,
    Edges,
}

/// A `[topology]` table as written: every parameter of every kind, read as a plain struct
/// so that a bad value is reported at its own line and by its name (an enum tagged by
/// `kind` is read through a buffer that loses both), then checked against the kind.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopologyFields {
    kind: TopologyKind,
    n: Option<u32>,
    width: Option<u32>,
    height: Option<u32>,
    side: Option<f64>,
    radius: Option<f64>,
    connect_tries: Option<u32>,
    file: Option<PathBuf>,
    links: Option<LinkMode>,
}

/// `v`, or an error saying that `what` needs parameter `name`.
fn need<T>(v: Option<T>, what: &str, name: &str) -> Result<T, String> {
    v.ok_or_else(|| format!("{what} needs `{name}`"))
}

/// An error naming the first parameter `given` (name, whether it is set) that `takes` lacks.
fn only_takes(what: &str, given: &[(&str, bool)], takes: &[&str]) -> Result<(), String> {
    match given.iter().find(|(k, set)| *set && !takes.contains(k)) {
        Some((name, _)) => Err(format!(
            "{what} has no parameter `{name}` (it takes {})",
            if takes.is_empty() {
                "none".to_string()
            } else {
                takes.join(", ")
            }
        )),
        None => Ok(()),
    }
}

impl TryFrom<TopologyFields> for TopologySpec {
    type Error = String;

    fn try_from(t: TopologyFields) -> Result<TopologySpec, String> {
        let kind = format!("{:?}", t.kind).to_lowercase();
        let given = [
            ("n", t.n.is_some()),
            ("width", t.width.is_some()),
            ("height", t.height.is_some()),
            ("side", t.side.is_some()),
            ("radius", t.radius.is_some()),
            ("connect_tries", t.connect_tries.is_some()),
            ("file", t.file.is_some()),
            ("links", t.links.is_some()),
        ];
        let takes: &[&str] = match t.kind {
            TopologyKind::Line | TopologyKind::Ring => &["n", "links"],
            TopologyKind::Grid => &["width", "height", "links"],
            TopologyKind::Rgg => &["n", "side", "radius", "connect_tries"],
            TopologyKind::Edges => &["file", "links"],
        };
        let what = format!("topology: kind {kind}");
        only_takes(&what, &given, takes)?;
        let links = t.links.unwrap_or_default();
        Ok(match t.kind {
            TopologyKind::Line => TopologySpec::Line {
                n: need(t.n, &what, "n")?,
                links,
            },
            TopologyKind::Ring => TopologySpec::Ring {
                n: need(t.n, &what, "n")?,
                links,
            },
            TopologyKind::Grid => TopologySpec::Grid {
                width: need(t.width, &what, "width")?,
                height: need(t.height, &what, "height")?,
                links,
            },
            TopologyKind::Rgg => TopologySpec::Rgg {
                n: need(t.n, &what, "n")?,
                side: need(t.side, &what, "side")?,
                radius: need(t.radius, &what, "radius")?,
                connect_tries: t.connect_tries.unwrap_or_else(ten),
            },
            TopologyKind::Edges => TopologySpec::Edges {
                file: need(t.file, &what, "file")?,
                links,
            },
        })
    }
}

/// The quality of one direction of a link.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    #[serde(default = "default_delay")]
    pub delay_ms: f64,
    #[serde(default)]
    pub jitter_ms: f64,
    /// Independent loss probability per packet.
    #[serde(default)]
    pub loss: f64,
    /// Gilbert-Elliott bursty loss: per-packet probability of entering the bad state ...
    #[serde(default)]
    pub burst_enter: f64,
    /// ... of leaving it ...
    #[serde(default = "default_burst_exit")]
    pub burst_exit: f64,
    /// ... and the loss probability while in it.
    #[serde(default = "one_f")]
    pub burst_loss: f64,
    /// Extra loss in the direction from the higher-numbered node to the lower (asymmetry).
    #[serde(default)]
    pub asym_loss: f64,
    /// Rgg only: extra loss that grows with distance, `edge_loss × (d / radius)^4`.
    #[serde(default)]
    pub edge_loss: f64,
}

fn default_delay() -> f64 {
    1.0
}
fn default_burst_exit() -> f64 {
    0.3
}
fn one_f() -> f64 {
    1.0
}

impl Default for LinkSpec {
    fn default() -> Self {
        LinkSpec {
            delay_ms: default_delay(),
            jitter_ms: 0.0,
            loss: 0.0,
            burst_enter: 0.0,
            burst_exit: default_burst_exit(),
            burst_loss: 1.0,
            asym_loss: 0.0,
            edge_loss: 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Addressing {
    #[default]
    Compact,
    Eui64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IfaceKind {
    #[default]
    Auto,
    Wired,
    Wireless,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BabelSpec {
    /// babeld's default: 4 s.
    #[serde(default = "default_hello")]
    pub hello_interval_s: f64,
    /// Default: 4 × the hello interval.
    #[serde(default)]
    pub update_interval_s: Option<f64>,
    /// `auto`: wired on point-to-point and grid links, wireless on rgg.
    #[serde(default)]
    pub interface: IfaceKind,
    /// Also announce an IPv4 /32 per node (more overhead; not checked for forwarding).
    #[serde(default)]
    pub ipv4: bool,
    /// How node prefixes look: `compact` (`fd00::N/128`, consecutive prefixes share 14
    /// bytes) or `eui64` (`fdef:17a0:ffb1:300:<EUI-64 of a random MAC>/128`, like
    /// meshnet-lab, sharing 8 bytes).
    #[serde(default)]
    pub addressing: Addressing,
    /// Nodes start at a random time in [0, start_spread_s).
    #[serde(default = "one_f")]
    pub start_spread_s: f64,
}

fn default_hello() -> f64 {
    4.0
}

impl Default for BabelSpec {
    fn default() -> Self {
        BabelSpec {
            hello_interval_s: default_hello(),
            update_interval_s: None,
            interface: IfaceKind::Auto,
            ipv4: false,
            addressing: Addressing::Compact,
            start_spread_s: 1.0,
        }
    }
}

/// Random waypoint mobility (rgg only).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MobilitySpec {
    /// Fraction of nodes that move (the rest stay put, like rooftop routers).
    #[serde(default = "one_f")]
    pub fraction: f64,
    pub speed_min: f64,
    pub speed_max: f64,
    #[serde(default)]
    pub pause_s: f64,
    /// Positions and ranges are updated this often.
    #[serde(default = "one_f")]
    pub step_s: f64,
    #[serde(default)]
    pub start_s: f64,
    /// Count each step that changes some link as a churn event for convergence.
    #[serde(default)]
    pub count_as_churn: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChurnSpec {
    #[serde(default)]
    pub events: Vec<ChurnEvent>,
    #[serde(default)]
    pub random: Vec<RandomChurn>,
}

/// A node in a churn event as the scenario names it: its number (`node = 3`), or its name in
/// the topology (`node = "roof-3"`: the name in the edge-list file; in the other topologies
/// a node's name is its number). Names are turned into numbers when the scenario is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeRef {
    Index(u32),
    Name(String),
}

impl<'de> Deserialize<'de> for NodeRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<NodeRef, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = NodeRef;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a node number or a node name")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<NodeRef, E> {
                u32::try_from(v)
                    .map(NodeRef::Index)
                    .map_err(|_| E::custom(format!("node number {v} is too large")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<NodeRef, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("node number {v} is negative")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<NodeRef, E> {
                Ok(NodeRef::Name(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl NodeRef {
    /// The node's number, given the topology's node names by number (`None`: no such name).
    pub fn index(&self, names: &NodeNames) -> Option<u32> {
        match self {
            NodeRef::Index(i) => Some(*i),
            NodeRef::Name(s) => names.get(s.as_str()).copied(),
        }
    }
}

impl std::fmt::Display for NodeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            NodeRef::Index(i) => write!(f, "{i}"),
            NodeRef::Name(n) => write!(f, "{n:?}"),
        }
    }
}

/// A churn action on nodes `N`: [`NodeRef`] as written in a scenario, node numbers (the
/// default) once resolved against the topology.
#[derive(Debug, Clone, PartialEq)]
pub enum ChurnAction<N = u32> {
    Crash {
        node: N,
    },
    Restart {
        node: N,
        /// Restart with the seqno the node had persisted (true) or a fresh random one.
        keep_seqno: bool,
    },
    LinkDown {
        a: N,
        b: N,
    },
    LinkUp {
        a: N,
        b: N,
    },
    /// Set the loss of a link, in one direction (a → b) or both.
    LinkQuality {
        a: N,
        b: N,
        loss: f64,
        one_way: bool,
    },
    /// Cut the mesh in two: nodes below `fraction` of the index range (or of the x axis in
    /// rgg) on one side, the rest on the other.
    Partition {
        fraction: f64,
    },
    Merge,
}

impl<N> ChurnAction<N> {
    /// The same action with every node passed through `f`.
    pub fn try_map<M, E>(
        &self,
        mut f: impl FnMut(&N) -> Result<M, E>,
    ) -> Result<ChurnAction<M>, E> {
        Ok(match self {
            ChurnAction::Crash { node } => ChurnAction::Crash { node: f(node)? },
            ChurnAction::Restart { node, keep_seqno } => ChurnAction::Restart {
                node: f(node)?,
                keep_seqno: *keep_seqno,
            },
            ChurnAction::LinkDown { a, b } => ChurnAction::LinkDown { a: f(a)?, b: f(b)? },
            ChurnAction::LinkUp { a, b } => ChurnAction::LinkUp { a: f(a)?, b: f(b)? },
            ChurnAction::LinkQuality {
                a,
                b,
                loss,
                one_way,
            } => ChurnAction::LinkQuality {
                a: f(a)?,
                b: f(b)?,
                loss: *loss,
                one_way: *one_way,
            },
            ChurnAction::Partition { fraction } => ChurnAction::Partition {
                fraction: *fraction,
            },
            ChurnAction::Merge => ChurnAction::Merge,
        })
    }

    pub fn map<M>(&self, mut f: impl FnMut(&N) -> M) -> ChurnAction<M> {
        match self.try_map(|n| Ok::<M, std::convert::Infallible>(f(n))) {
            Ok(a) => a,
            Err(never) => match never {},
        }
    }

    /// The `kind` as written in a scenario.
    pub fn kind(&self) -> &'static str {
        match self {
            ChurnAction::Crash { .. } => "crash",
            ChurnAction::Restart { .. } => "restart",
            ChurnAction::LinkDown { .. } => "link_down",
            ChurnAction::LinkUp { .. } => "link_up",
            ChurnAction::LinkQuality { .. } => "link_quality",
            ChurnAction::Partition { .. } => "partition",
            ChurnAction::Merge => "merge",
        }
    }
}

fn yes() -> bool {
    true
}
fn half() -> f64 {
    0.5
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "ChurnEventFields")]
pub struct ChurnEvent {
    pub at_s: f64,
    pub action: ChurnAction<NodeRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ChurnKind {
    Crash,
    Restart,
    LinkDown,
    LinkUp,
    LinkQuality,
    Partition,
    Merge,
}

/// A `[[churn.events]]` entry as written: every parameter of every kind, read as a plain
/// struct so that a bad value is reported at its own line and by its name (as for
/// [`TopologyFields`]), then checked against the kind.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChurnEventFields {
    at_s: f64,
    kind: ChurnKind,
    node: Option<NodeRef>,
    a: Option<NodeRef>,
    b: Option<NodeRef>,
    keep_seqno: Option<bool>,
    loss: Option<f64>,
    one_way: Option<bool>,
    fraction: Option<f64>,
}

impl TryFrom<ChurnEventFields> for ChurnEvent {
    type Error = String;

    fn try_from(e: ChurnEventFields) -> Result<ChurnEvent, String> {
        let kind = match e.kind {
            ChurnKind::Crash => "crash",
            ChurnKind::Restart => "restart",
            ChurnKind::LinkDown => "link_down",
            ChurnKind::LinkUp => "link_up",
            ChurnKind::LinkQuality => "link_quality",
            ChurnKind::Partition => "partition",
            ChurnKind::Merge => "merge",
        };
        let what = format!("churn event (at_s = {}, kind = \"{kind}\")", e.at_s);
        let given = [
            ("node", e.node.is_some()),
            ("a", e.a.is_some()),
            ("b", e.b.is_some()),
            ("keep_seqno", e.keep_seqno.is_some()),
            ("loss", e.loss.is_some()),
            ("one_way", e.one_way.is_some()),
            ("fraction", e.fraction.is_some()),
        ];
        let takes: &[&str] = match e.kind {
            ChurnKind::Crash => &["node"],
            ChurnKind::Restart => &["node", "keep_seqno"],
            ChurnKind::LinkDown | ChurnKind::LinkUp => &["a", "b"],
            ChurnKind::LinkQuality => &["a", "b", "loss", "one_way"],
            ChurnKind::Partition => &["fraction"],
            ChurnKind::Merge => &[],
        };
        only_takes(&what, &given, takes)?;
        // The messages read "churn event (...): needs `loss`".
        let what = format!("{what}:");
        let action = match e.kind {
            ChurnKind::Crash => ChurnAction::Crash {
                node: need(e.node, &what, "node")?,
            },
            ChurnKind::Restart => ChurnAction::Restart {
                node: need(e.node, &what, "node")?,
                keep_seqno: e.keep_seqno.unwrap_or_else(yes),
            },
            ChurnKind::LinkDown => ChurnAction::LinkDown {
                a: need(e.a, &what, "a")?,
                b: need(e.b, &what, "b")?,
            },
            ChurnKind::LinkUp => ChurnAction::LinkUp {
                a: need(e.a, &what, "a")?,
                b: need(e.b, &what, "b")?,
            },
            ChurnKind::LinkQuality => ChurnAction::LinkQuality {
                a: need(e.a, &what, "a")?,
                b: need(e.b, &what, "b")?,
                loss: need(e.loss, &what, "loss")?,
                one_way: e.one_way.unwrap_or(false),
            },
            ChurnKind::Partition => ChurnAction::Partition {
                fraction: e.fraction.unwrap_or_else(half),
            },
            ChurnKind::Merge => ChurnAction::Merge,
        };
        Ok(ChurnEvent {
            at_s: e.at_s,
            action,
        })
    }
}

impl ChurnEvent {
    /// The action with node numbers, given the topology's node names by number and its
    /// number of nodes. `k` is the event's position in `churn.events`, for the error
    /// message.
    pub fn resolve(&self, k: usize, names: &NodeNames, n: u32) -> Result<ChurnAction, String> {
        let what = || {
            format!(
                "churn event {} (at_s = {}, kind = \"{}\")",
                k + 1,
                self.at_s,
                self.action.kind()
            )
        };
        self.action.try_map(|r| match r.index(names) {
            None => Err(format!("{}: no node named {r} in the topology", what())),
            Some(i) if i >= n => Err(format!(
                "{}: names node {i}, but there are {n} nodes",
                what()
            )),
            Some(i) => Ok(i),
        })
    }
}

/// Node numbers by name.
pub type NodeNames = std::collections::BTreeMap<String, u32>;

/// The name index of a topology's node names.
pub fn node_names(names: &[String]) -> NodeNames {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), i as u32))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RandomKind {
    /// A random live node crashes and restarts after `downtime_s`.
    Crash,
    /// A random link goes down and comes back after `downtime_s`.
    LinkFlap,
    /// A random link gets a loss in [loss_min, loss_max] for `downtime_s`.
    LinkQuality,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomChurn {
    pub kind: RandomKind,
    /// Events per second over the whole mesh (a Poisson process).
    pub rate_per_s: f64,
    #[serde(default = "default_downtime")]
    pub downtime_s: f64,
    #[serde(default)]
    pub start_s: f64,
    #[serde(default)]
    pub end_s: Option<f64>,
    /// Crash: probability that the restart keeps the persisted seqno.
    #[serde(default = "half")]
    pub keep_seqno_prob: f64,
    #[serde(default)]
    pub loss_min: f64,
    #[serde(default = "half")]
    pub loss_max: f64,
}

fn default_downtime() -> f64 {
    30.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasureSpec {
    /// Reachability is sampled this often when nothing is pending ...
    #[serde(default = "one_f")]
    pub sample_interval_s: f64,
    /// ... and this often after a churn event until every connected pair has a path.
    #[serde(default = "default_settle")]
    pub settle_interval_s: f64,
    /// Destinations used for the route stretch at the end (0: all).
    #[serde(default = "default_stretch")]
    pub stretch_destinations: u32,
    /// Nodes whose traffic `--pcap` records, by number or by name like churn events.
    #[serde(default)]
    pub pcap_nodes: Vec<NodeRef>,
}

fn default_settle() -> f64 {
    0.1
}
fn default_stretch() -> u32 {
    64
}

impl Default for MeasureSpec {
    fn default() -> Self {
        MeasureSpec {
            sample_interval_s: 1.0,
            settle_interval_s: default_settle(),
            stretch_destinations: default_stretch(),
            pcap_nodes: Vec::new(),
        }
    }
}

impl Scenario {
    pub fn from_toml(text: &str) -> Result<Scenario, String> {
        let s: Scenario = toml::from_str(text).map_err(|e| e.to_string())?;
        s.validate()?;
        Ok(s)
    }

    pub fn load(path: &Path) -> Result<Scenario, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut s = Scenario::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        s.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        s.resolve_names()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if s.name.is_empty() {
            s.name = path
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
        }
        Ok(s)
    }

    /// Turns the node names in the churn events into node numbers, reading the edge-list
    /// file for its names; a name that is not in the topology, or a number past its last
    /// node, is an error.
    fn resolve_names(&mut self) -> Result<(), String> {
        if self.churn.events.is_empty() {
            return Ok(());
        }
        let names = match &self.topology {
            TopologySpec::Line { n, .. }
            | TopologySpec::Ring { n, .. }
            | TopologySpec::Rgg { n, .. } => crate::topology::numbered(*n),
            TopologySpec::Grid { width, height, .. } => {
                crate::topology::numbered(width.saturating_mul(*height))
            }
            TopologySpec::Edges { file, .. } => {
                crate::topology::read_edges(&self.base_dir.join(file))?.0
            }
        };
        let n = u32::try_from(names.len()).unwrap_or(u32::MAX);
        let names = node_names(&names);
        for k in 0..self.churn.events.len() {
            let a = self.churn.events[k].resolve(k, &names, n)?;
            self.churn.events[k].action = a.map(|&i| NodeRef::Index(i));
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), String> {
        let pos = |v: f64, what: &str| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{what} must be a positive number"))
            }
        };
        let prob = |v: f64, what: &str| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("{what} must be in [0, 1]"))
            }
        };
        pos(self.duration_s, "duration_s")?;
        if self.duration_s > 1e7 {
            return Err("duration_s is too large (at most 10^7)".into());
        }
        pos(self.babel.hello_interval_s, "babel.hello_interval_s")?;
        if let Some(u) = self.babel.update_interval_s {
            pos(u, "babel.update_interval_s")?;
        }
        pos(self.measure.sample_interval_s, "measure.sample_interval_s")?;
        pos(self.measure.settle_interval_s, "measure.settle_interval_s")?;
        let l = &self.link;
        for (v, w) in [
            (l.loss, "link.loss"),
            (l.burst_enter, "link.burst_enter"),
            (l.burst_exit, "link.burst_exit"),
            (l.burst_loss, "link.burst_loss"),
            (l.asym_loss, "link.asym_loss"),
            (l.edge_loss, "link.edge_loss"),
        ] {
            prob(v, w)?;
        }
        if !(l.delay_ms >= 0.0
            && l.jitter_ms >= 0.0
            && l.delay_ms.is_finite()
            && l.jitter_ms.is_finite())
        {
            return Err("link.delay_ms and link.jitter_ms must be non-negative".into());
        }
        let n = match &self.topology {
            TopologySpec::Line { n, .. } | TopologySpec::Ring { n, .. } => *n,
            TopologySpec::Grid { width, height, .. } => width.saturating_mul(*height),
            TopologySpec::Rgg {
                n, side, radius, ..
            } => {
                pos(*side, "topology.side")?;
                pos(*radius, "topology.radius")?;
                *n
            }
            TopologySpec::Edges { .. } => u32::MAX,
        };
        if n == 0 || (n > 100_000 && n != u32::MAX) {
            return Err("the topology must have between 1 and 100000 nodes".into());
        }
        if let Some(m) = &self.mobility {
            if !matches!(self.topology, TopologySpec::Rgg { .. }) {
                return Err("mobility needs an rgg topology".into());
            }
            pos(m.step_s, "mobility.step_s")?;
            prob(m.fraction, "mobility.fraction")?;
            if !(m.speed_min >= 0.0 && m.speed_max >= m.speed_min && m.speed_max.is_finite()) {
                return Err("mobility needs 0 <= speed_min <= speed_max".into());
            }
        }
        for r in &self.churn.random {
            if !(r.rate_per_s >= 0.0 && r.rate_per_s.is_finite()) {
                return Err("churn.random rate_per_s must be non-negative".into());
            }
            pos(r.downtime_s, "churn.random downtime_s")?;
            prob(r.keep_seqno_prob, "churn.random keep_seqno_prob")?;
            prob(r.loss_min, "churn.random loss_min")?;
            prob(r.loss_max, "churn.random loss_max")?;
        }
        for e in &self.churn.events {
            if !(e.at_s >= 0.0 && e.at_s.is_finite()) {
                return Err("churn event at_s must be a non-negative number".into());
            }
            if let ChurnAction::LinkQuality { loss, .. } = e.action {
                prob(loss, "link_quality loss")?;
            }
            if let ChurnAction::Partition { fraction } = e.action {
                prob(fraction, "partition fraction")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_scenario_and_rejects_bad_ones() {
        let s = Scenario::from_toml(
            r#"
            duration_s = 60
            [topology]
            kind = "grid"
            width = 3
            height = 4
            links = "shared"
            [link]
            loss = 0.1
            [[churn.events]]
            at_s = 10
            kind = "crash"
            node = 2
            [[churn.events]]
            at_s = 20
            kind = "restart"
            node = 2
            keep_seqno = false
            [[churn.random]]
            kind = "link_flap"
            rate_per_s = 0.1
            "#,
        )
        .unwrap();
        assert!(matches!(
            s.topology,
            TopologySpec::Grid {
                width: 3,
                height: 4,
                links: LinkMode::Shared
            }
        ));
        assert_eq!(
            s.churn.events[1].action,
            ChurnAction::Restart {
                node: NodeRef::Index(2),
                keep_seqno: false
            }
        );
        assert_eq!(s.link.loss, 0.1);
        assert!(
            Scenario::from_toml("duration_s = 1\n[topology]\nkind = \"line\"\nn = 0\n").is_err()
        );
        assert!(Scenario::from_toml(
            "duration_s = 1\n[topology]\nkind = \"line\"\nn = 3\nbogus = 1\n"
        )
        .is_err());
        assert!(
            Scenario::from_toml("duration_s = -1\n[topology]\nkind = \"line\"\nn = 3\n").is_err()
        );
        let e = Scenario::from_toml(
            "duration_s = 1\n[topology]\nkind = \"line\"\nn = 3\n[link]\nloss = 2\n",
        )
        .unwrap_err();
        assert!(e.contains("link.loss"), "{e}");
    }

    #[test]
    fn a_bad_churn_parameter_is_named_with_its_line() {
        let err = |t: &str| {
            let head = "[topology]\nkind = \"line\"\nn = 4\n[[churn.events]]\nat_s = 1\n";
            Scenario::from_toml(&format!("{head}{t}")).unwrap_err()
        };
        let e = err("kind = \"crash\"\nnode = true\n");
        assert!(e.contains("line 7") && e.contains("node = true"), "{e}");
        let e = err("kind = \"link_quality\"\na = 1\nb = 2\nloss = \"much\"\n");
        assert!(e.contains("line 9") && e.contains("loss = \"much\""), "{e}");
        let e = err("kind = \"link_quality\"\na = 1\nb = 2\n");
        assert!(e.contains("kind = \"link_quality\"): needs `loss`"), "{e}");
        let e = err("kind = \"merge\"\nnode = 1\n");
        assert!(e.contains("no parameter `node`"), "{e}");
        let e = err("kind = \"explode\"\n");
        assert!(
            e.contains("line 6") && e.contains("unknown variant `explode`"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_topology_parameter_is_named_with_its_line() {
        let err = |t: &str| Scenario::from_toml(&format!("[topology]\n{t}")).unwrap_err();
        // A value of the wrong type: at its own line (the table's line before).
        let e = err("kind = \"grid\"\nwidth = \"x\"\nheight = 3\n");
        assert!(e.contains("line 3") && e.contains("width = \"x\""), "{e}");
        // A parameter of another kind, and one missing: named.
        let e = err("kind = \"grid\"\nwidth = 3\nheight = 3\nradius = 2.0\n");
        assert!(e.contains("kind grid has no parameter `radius`"), "{e}");
        let e = err("kind = \"rgg\"\nn = 30\nside = 10.0\n");
        assert!(e.contains("kind rgg needs `radius`"), "{e}");
        let e = err("kind = \"hex\"\nn = 3\n");
        assert!(
            e.contains("line 2") && e.contains("unknown variant `hex`"),
            "{e}"
        );
        let e = err("kind = \"line\"\nn = 3\nbogus = 1\n");
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn churn_nodes_are_numbers_or_names_and_names_resolve_in_the_topology() {
        let head =
            "duration_s = 10\n[topology]\nkind = \"line\"\nn = 4\n[[churn.events]]\nat_s = 1\n";
        let s = Scenario::from_toml(&format!(
            "{head}kind = \"link_quality\"\na = \"roof-3\"\nb = 2\nloss = 0.5\n"
        ))
        .unwrap();
        let e = &s.churn.events[0];
        assert_eq!(
            e.action,
            ChurnAction::LinkQuality {
                a: NodeRef::Name("roof-3".into()),
                b: NodeRef::Index(2),
                loss: 0.5,
                one_way: false
            }
        );
        let names = node_names(&["tower".into(), "x".into(), "y".into(), "roof-3".into()]);
        assert_eq!(
            e.resolve(0, &names, 4).unwrap(),
            ChurnAction::LinkQuality {
                a: 3,
                b: 2,
                loss: 0.5,
                one_way: false
            }
        );
        let err = e.resolve(4, &node_names(&["tower".into()]), 1).unwrap_err();
        assert_eq!(
            err,
            "churn event 5 (at_s = 1, kind = \"link_quality\"): no node named \"roof-3\" in the topology"
        );
        // Neither a negative number nor a fraction is a node.
        for bad in ["-1", "1.5", "true"] {
            let e = Scenario::from_toml(&format!("{head}kind = \"crash\"\nnode = {bad}\n"))
                .unwrap_err();
            assert!(e.contains("node"), "{bad}: {e}");
        }
    }
}
