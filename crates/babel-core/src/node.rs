//! The Babel node: one sans-IO state machine (RFC 8966 §3) fed with time, packets,
//! interface events and commands, and drained through `poll_*` calls.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::ack::{AckWait, AckWaits, ACK_INTERVAL_CS, ACK_MAX_SENDS, ACK_REQUEST_LEN, ACK_TIMEOUT};
use crate::diversity::{self, Channel, Diversity};
use crate::filter::{self, FilterInput, Filters};
use crate::hash::{FxHashMap, FxHashSet};
use crate::neighbour::{link_cost, rtt_cost, seqno_newer, CostKind, Neighbour};
use crate::pending::PendingUpdates;
use crate::request::{Pending, Requests, REQUEST_RESENDS, REQUEST_TIMEOUT};
use crate::rng::Rng;
use crate::route::{FullReport, RouteEntry, RouteKey, RouteTable, NONE};
use crate::source::{feasible_against, Distance, SourceTable, SourceView};
use crate::time::{from_cs, to_cs, Timestamp};
use crate::timer::{TimerKey, Timers};
use crate::wire::{
    self, max_payload_for_mtu, Encoder, Hello, Ihu, IhuTimestamps, Packet, Prefix, RouteRequest,
    RouterId, SeqnoRequest, Tlv, Update, HELLO_FLAG_UNICAST, INFINITY,
};
use crate::xroute::{Xroute, XrouteView};

/// RFC 8966 Appendix B: source GC time.
const SOURCE_GC_TIME: Duration = Duration::from_secs(180);
/// The shortest time between two sweeps for route expiry (each walks every route).
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// How late a sweep may run to go with another wake-up instead of one of its own (babeld
/// expires routes every 30 s or so). A route is asked for again 1/8 of its hold time (at
/// least 15 s) before it expires: late by this much, the request still has time.
const SWEEP_SLACK: Duration = Duration::from_secs(1);
/// Unused sources are collected at most this often (by a sweep that runs anyway; they are
/// dead after [`SOURCE_GC_TIME`] whether collected or not).
const GC_INTERVAL: Duration = Duration::from_secs(30);
/// RFC 8966 Appendix B: urgent messages go out within 0.2 s (babeld: 20 ms jitter).
const URGENT_JITTER: Duration = Duration::from_millis(20);
/// RFC 8966 §3.6 hysteresis: another route replaces the selected one only when its smoothed
/// metric is better by at least this much (and its metric is better too).
const SWITCH_HYSTERESIS: u16 = 16;
/// Resuming our seqno from an update that carries our router-id happens at most this often
/// (two nodes misconfigured with one router-id must not drive each other's seqno up).
const SEQNO_RESUME_HOLDOFF: Duration = Duration::from_secs(10);
/// An update pushed into a packet: its router-id, destination, seqno and metric, the index
/// of the announced route's source when known (for its feasibility distance), and the
/// destination's slot when known.
type Advertised = (RouterId, RouteKey, u16, u16, Option<u32>, Option<u32>);
/// How many TLVs of a packet are parsed, and their table memory warmed, at a time.
const WARM_BATCH: usize = 32;
/// How many slots ahead a walk of the whole route table asks for the spilled entries of
/// the slot it will reach (see `RouteTable::prefetch_entries`).
const WALK_AHEAD: u32 = 8;
/// The hop count of the seqno requests we originate.
const REQUEST_HOP_COUNT: u8 = 127;

/// The kind of link an interface is on; it picks babeld's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkType {
    /// Lossless: 2-out-of-3, nominal cost 96, split horizon.
    #[default]
    Wired,
    /// Lossy: ETX, nominal cost 256, no split horizon.
    Wireless,
    /// A tunnel: 2-out-of-3, cost 96, no split horizon, timestamps and RTT penalty on.
    Tunnel,
}

/// Per-interface parameters. `None` means babeld's default for the link type.
#[derive(Debug, Clone, PartialEq)]
pub struct InterfaceConfig {
    pub link_type: LinkType,
    /// RFC 8966 Appendix B: 4 s.
    pub hello_interval: Duration,
    /// Default: 4 × the hello interval.
    pub update_interval: Option<Duration>,
    /// Nominal rxcost: 96 wired and tunnel, 256 wireless.
    pub cost: Option<u16>,
    pub split_horizon: Option<bool>,
    /// RFC 9616 timestamps: on for tunnels.
    pub timestamps: Option<bool>,
    pub rtt_min: Duration,
    pub rtt_max: Duration,
    /// Default 0, 96 for tunnels.
    pub max_rtt_penalty: Option<u16>,
    /// Weight of a new RTT sample, out of 256 (babeld's rtt-decay, 42).
    pub rtt_decay: u8,
    /// Also send a unicast hello to every neighbour with each multicast hello.
    pub unicast_hellos: bool,
    /// babeld's `unicast`: everything but hellos (IHUs, updates, requests) goes to each
    /// neighbour of the interface in unicast rather than once to the group, for links
    /// where multicast is unreliable or slow. Hellos stay multicast (neighbour discovery).
    pub unicast: bool,
    /// Announce IPv4 routes through an IPv6 next hop (RFC 9229) when the interface has no
    /// IPv4 address.
    pub v4_via_v6: bool,
    /// babeld's `link-quality`: ETX-style link costs from hello loss (true) or 2-out-of-3
    /// (false); default: on wireless links only.
    pub link_quality: Option<bool>,
    /// babeld's `channel`, for diversity routing; default: interfering on wireless links,
    /// non-interfering otherwise.
    pub channel: Option<Channel>,
}

impl Default for InterfaceConfig {
    fn default() -> Self {
        InterfaceConfig {
            link_type: LinkType::Wired,
            hello_interval: Duration::from_secs(4),
            update_interval: None,
            cost: None,
            split_horizon: None,
            timestamps: None,
            rtt_min: Duration::from_millis(10),
            rtt_max: Duration::from_millis(120),
            max_rtt_penalty: None,
            rtt_decay: 42,
            unicast_hellos: false,
            unicast: false,
            v4_via_v6: true,
            link_quality: None,
            channel: None,
        }
    }
}

impl InterfaceConfig {
    pub fn wired() -> Self {
        Self::default()
    }
    pub fn wireless() -> Self {
        InterfaceConfig {
            link_type: LinkType::Wireless,
            ..Self::default()
        }
    }
    pub fn tunnel() -> Self {
        InterfaceConfig {
            link_type: LinkType::Tunnel,
            ..Self::default()
        }
    }
    pub fn update_interval(&self) -> Duration {
        self.update_interval.unwrap_or(self.hello_interval * 4)
    }
    pub fn nominal_cost(&self) -> u16 {
        // RFC 8966 §3.5.2: metrics must grow strictly along a path, so a link costs at
        // least 1.
        self.cost
            .unwrap_or(match self.link_type {
                LinkType::Wireless => 256,
                _ => 96,
            })
            .max(1)
    }
    pub fn split_horizon(&self) -> bool {
        self.split_horizon
            .unwrap_or(self.link_type == LinkType::Wired)
    }
    pub fn timestamps(&self) -> bool {
        self.timestamps
            .unwrap_or(self.link_type == LinkType::Tunnel)
    }
    pub fn max_rtt_penalty(&self) -> u16 {
        self.max_rtt_penalty.unwrap_or(match self.link_type {
            LinkType::Tunnel => 96,
            _ => 0,
        })
    }
    fn cost_kind(&self) -> CostKind {
        match (self.link_quality, self.link_type) {
            (Some(true), _) | (None, LinkType::Wireless) => CostKind::Etx,
            _ => CostKind::TwoOutOfThree,
        }
    }
    /// The interface's channel for diversity routing (babeld: without a configured or
    /// detected channel, wireless interfaces interfere with everything).
    pub fn channel(&self) -> Channel {
        self.channel.unwrap_or(match self.link_type {
            LinkType::Wireless => Channel::Interfering,
            _ => Channel::NonInterfering,
        })
    }
}

/// Node-wide parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// babeld's smoothing half-life, in seconds (0 disables smoothing).
    pub smoothing_half_life: u32,
    pub filters: Filters,
    /// babeld's diversity routing (off by default).
    pub diversity: Diversity,
    /// Memory bounds: input beyond them is dropped and counted.
    pub max_neighbours: usize,
    pub max_route_entries: usize,
    /// Route entries learned from any one neighbour: a flooding neighbour fills its own
    /// share, not the whole table.
    pub max_routes_per_neighbour: usize,
    pub max_sources: usize,
    pub max_pending_requests: usize,
    /// Destinations waiting for an acknowledgment, summed over neighbours (RFC 8966 §3.3).
    pub max_pending_acks: usize,
    pub max_queued_packets: usize,
    pub max_queued_events: usize,
    /// Whether [`Event::Route`] is queued for each change of a route entry (on by
    /// default). A driver that never reads route events (the simulator) turns them off
    /// and spares building them; the other events, and the installed routes of
    /// [`Node::poll_route`], are not affected. Fixed for the node's life.
    pub route_events: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            smoothing_half_life: 4,
            filters: Filters::default(),
            diversity: Diversity::default(),
            max_neighbours: 1024,
            max_route_entries: 16_000_000,
            max_routes_per_neighbour: 16_000_000,
            max_sources: 16_000_000,
            max_pending_requests: 65_536,
            max_pending_acks: 262_144,
            max_queued_packets: 16_384,
            max_queued_events: 65_536,
            route_events: true,
        }
    }
}

/// The memory bounds of [`Config`], by name: what [`Command::SetLimit`] changes and what
/// [`Stats::refused`] counts refusals of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    Neighbours,
    /// Route entries (and locally originated routes), all neighbours together.
    Routes,
    RoutesPerNeighbour,
    Sources,
    PendingRequests,
    /// Urgent updates waiting for acknowledgments, per neighbour and request.
    PendingAcks,
    /// Datagrams waiting in [`Node::poll_transmit`]'s queue (the oldest is dropped).
    QueuedPackets,
    /// Events waiting in [`Node::poll_event`]'s queue (the oldest is dropped).
    QueuedEvents,
    /// The fixed bounds of each interface's outgoing TLV buffers (not configurable).
    OutputBuffers,
}

impl Limit {
    pub const ALL: [Limit; 9] = [
        Limit::Neighbours,
        Limit::Routes,
        Limit::RoutesPerNeighbour,
        Limit::Sources,
        Limit::PendingRequests,
        Limit::PendingAcks,
        Limit::QueuedPackets,
        Limit::QueuedEvents,
        Limit::OutputBuffers,
    ];

    /// The kebab-case name used for counters and logs.
    pub fn name(self) -> &'static str {
        match self {
            Limit::Neighbours => "neighbours",
            Limit::Routes => "routes",
            Limit::RoutesPerNeighbour => "routes-per-neighbour",
            Limit::Sources => "sources",
            Limit::PendingRequests => "pending-requests",
            Limit::PendingAcks => "pending-acks",
            Limit::QueuedPackets => "buffered-packets",
            Limit::QueuedEvents => "queued-events",
            Limit::OutputBuffers => "output-buffers",
        }
    }

    /// The value of this limit in `config`; `None` for the fixed output buffers.
    pub fn get(self, config: &Config) -> Option<usize> {
        Some(match self {
            Limit::Neighbours => config.max_neighbours,
            Limit::Routes => config.max_route_entries,
            Limit::RoutesPerNeighbour => config.max_routes_per_neighbour,
            Limit::Sources => config.max_sources,
            Limit::PendingRequests => config.max_pending_requests,
            Limit::PendingAcks => config.max_pending_acks,
            Limit::QueuedPackets => config.max_queued_packets,
            Limit::QueuedEvents => config.max_queued_events,
            Limit::OutputBuffers => return None,
        })
    }

    /// Sets this limit in `config` (the output buffers are fixed: nothing happens).
    pub fn set(self, config: &mut Config, value: usize) {
        let field = match self {
            Limit::Neighbours => &mut config.max_neighbours,
            Limit::Routes => &mut config.max_route_entries,
            Limit::RoutesPerNeighbour => &mut config.max_routes_per_neighbour,
            Limit::Sources => &mut config.max_sources,
            Limit::PendingRequests => &mut config.max_pending_requests,
            Limit::PendingAcks => &mut config.max_pending_acks,
            Limit::QueuedPackets => &mut config.max_queued_packets,
            Limit::QueuedEvents => &mut config.max_queued_events,
            Limit::OutputBuffers => return,
        };
        *field = value;
    }
}

/// Changes to the set of interfaces, from the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum InterfaceEvent {
    /// The interface is up (or its configuration changed). A Babel interface needs an IPv6
    /// link-local address to send from.
    Up {
        ifindex: u32,
        name: String,
        config: InterfaceConfig,
        link_local: Option<Ipv6Addr>,
        ipv4: Option<Ipv4Addr>,
        mtu: usize,
    },
    Down {
        ifindex: u32,
    },
    Addresses {
        ifindex: u32,
        link_local: Option<Ipv6Addr>,
        ipv4: Option<Ipv4Addr>,
    },
}

/// Commands from the configuration or the control socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    AddXroute(Xroute),
    RemoveXroute {
        prefix: Prefix,
        src_prefix: Option<Prefix>,
    },
    SetFilters(Filters),
    /// Increase our seqno and announce our routes.
    BumpSeqno,
    /// Change the router-id (the seqno is kept unless given).
    SetRouterId {
        router_id: RouterId,
        seqno: Option<u16>,
    },
    /// Ask every neighbour for a full dump.
    RequestFullDump,
    /// Change a memory bound. Lowering it refuses new entries; what is already held stays
    /// until it goes away by itself.
    SetLimit(Limit, usize),
    /// Change the metric smoothing half-life (seconds, 0 = off) and the diversity settings;
    /// they apply from the next update received or sent.
    SetTuning {
        smoothing_half_life: u32,
        diversity: Diversity,
    },
    /// Whether `addr`, the preferred source (`pref-src`) of an install filter, is a local
    /// address the kernel takes as one now (assigned to a link; an IPv6 one past duplicate
    /// address detection). Linux refuses a route whose preferred source is not, flushes the
    /// main table's IPv4 routes with one that goes and drops it from IPv6 routes. So the
    /// routes an install filter gives `addr` carry it only while it is local: when it goes
    /// they are reported again without it (a replace puts the flushed ones back), and with it
    /// again when it comes back. Every address counts as local until said otherwise; one no
    /// install filter names is ignored.
    PreferredSource {
        addr: IpAddr,
        local: bool,
    },
}

/// A datagram to send: its bytes are in the buffer given to [`Node::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    pub ifindex: u32,
    /// `ff02::1:6` or a neighbour's link-local address; port 6696.
    pub dst: Ipv6Addr,
    /// The interface's link-local address, to send from.
    pub src: Option<Ipv6Addr>,
    pub len: usize,
}

/// A route as the kernel should have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledRoute {
    pub prefix: Prefix,
    pub src_prefix: Option<Prefix>,
    pub next_hop: IpAddr,
    pub ifindex: u32,
    /// [`INFINITY`] while a retracted route is held (install it as unreachable).
    pub metric: u16,
    /// From the `install` filter.
    pub table: Option<u32>,
    pub pref_src: Option<IpAddr>,
}

/// One incremental change for the route installer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteChange {
    Install(InstalledRoute),
    Change {
        old: InstalledRoute,
        new: InstalledRoute,
    },
    Retract(InstalledRoute),
}

impl RouteChange {
    /// The route the change is about: the one installed or retracted, or the new one of a
    /// change (same destination and source as the old).
    pub fn route(&self) -> &InstalledRoute {
        match self {
            RouteChange::Install(r) | RouteChange::Retract(r) => r,
            RouteChange::Change { new, .. } => new,
        }
    }
}

/// What changed about a route entry, for `monitor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteEventKind {
    Add,
    Change,
    Flush,
}

/// Events for the driver, `monitor` and the panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Persist this seqno (and router-id).
    SeqnoChanged {
        router_id: RouterId,
        seqno: u16,
    },
    RouterIdChanged {
        router_id: RouterId,
        seqno: u16,
    },
    NeighbourUp {
        ifindex: u32,
        address: Ipv6Addr,
    },
    NeighbourDown {
        ifindex: u32,
        address: Ipv6Addr,
    },
    /// The link cost to a neighbour changed.
    NeighbourChanged {
        ifindex: u32,
        address: Ipv6Addr,
        cost: u16,
    },
    /// A route entry was added, changed or flushed (unless [`Config::route_events`] is
    /// off). `neighbour` and `ifindex` name the neighbour it goes through, also in a flush
    /// caused by losing that neighbour (which is gone from [`Node::neighbours`] by the time
    /// the event is read).
    Route {
        kind: RouteEventKind,
        prefix: Prefix,
        src_prefix: Option<Prefix>,
        neighbour: Ipv6Addr,
        ifindex: u32,
        router_id: RouterId,
        metric: u16,
        refmetric: u16,
        installed: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceView {
    pub ifindex: u32,
    pub name: String,
    pub link_type: LinkType,
    pub link_local: Option<Ipv6Addr>,
    pub ipv4: Option<Ipv4Addr>,
    pub hello_interval: Duration,
    pub update_interval: Duration,
    pub hello_seqno: u16,
    pub cost: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourView {
    pub ifindex: u32,
    pub address: Ipv6Addr,
    pub reach: u16,
    pub unicast_reach: u16,
    pub rxcost: u16,
    pub txcost: u16,
    /// The smoothed RTT (RFC 9616), while it is valid: within 3 minutes of its last sample.
    pub rtt: Option<Duration>,
    /// The part of `cost` due to the RTT (RFC 9616 §4, babeld's `rttcost`): 0 without a
    /// recent RTT sample.
    pub rttcost: u16,
    pub cost: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteView {
    pub prefix: Prefix,
    pub src_prefix: Option<Prefix>,
    pub router_id: RouterId,
    pub seqno: u16,
    pub metric: u16,
    pub refmetric: u16,
    pub next_hop: IpAddr,
    pub ifindex: u32,
    pub neighbour: Ipv6Addr,
    pub installed: bool,
    pub feasible: bool,
}

/// Counters of what was dropped and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub packets_received: u64,
    pub packets_dropped: u64,
    pub tlvs_ignored: u64,
    pub updates_received: u64,
    pub updates_unfeasible: u64,
    pub updates_filtered: u64,
    /// Entries refused (or queued items dropped) at a memory bound, all kinds together.
    pub over_limit: u64,
    /// The same, per kind, indexed by `Limit as usize`.
    pub refused: [u64; Limit::ALL.len()],
    pub packets_sent: u64,
    pub transmit_overflow: u64,
    pub events_dropped: u64,
    /// RFC 8966 §3.3: Acknowledgment Requests we sent (one per packet and nonce).
    pub ack_requests_sent: u64,
    /// Acknowledgments that matched one of our requests.
    pub acks_received: u64,
    /// Unicast retransmissions to a neighbour that did not acknowledge in time.
    pub ack_resends: u64,
    /// Batches given up after the last retransmission went unacknowledged.
    pub acks_missed: u64,
    /// What was sent, and why (see [`SentStats`]).
    pub sent: SentStats,
}

/// Update TLVs and requests sent, by cause: where the traffic of a node comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentStats {
    /// Update TLVs in periodic full dumps (RFC 8966 §3.7.1).
    pub dump_updates: u64,
    /// Update TLVs in full dumps that answered wildcard route requests (§3.8.1.1), to
    /// the group or to one neighbour.
    pub requested_dump_updates: u64,
    /// Update TLVs sent one by one: triggered updates (§3.7.2) and answers to
    /// specific route requests and seqno requests (§3.8.1).
    pub single_updates: u64,
    /// Update TLVs sent with an Acknowledgment Request (retractions and router-id
    /// changes, §3.7.2), first sends.
    pub reliable_updates: u64,
    /// The same, sent again to a neighbour that did not acknowledge them (§3.3).
    pub resent_updates: u64,
    /// Wildcard route requests received, and those ignored because a full dump had
    /// just gone out on the interface.
    pub wildcard_requests: u64,
    pub wildcard_requests_ignored: u64,
    /// Wildcard route requests sent (interface up, new neighbours).
    pub wildcard_requests_sent: u64,
    /// Seqno requests originated (§3.8.2.1, unfeasible updates), and forwarded
    /// (§3.8.1.2).
    pub seqno_requests: u64,
    pub seqno_requests_forwarded: u64,
    /// Triggered updates queued (§3.7.2), by cause: a new route; a switch of
    /// router-id; a route lost (retraction); a metric much worse; a pending seqno
    /// request satisfied; a newer seqno; a metric much better; another large metric
    /// change (worse).
    pub triggered_new: u64,
    pub triggered_switch: u64,
    pub triggered_retraction: u64,
    pub triggered_worse: u64,
    pub triggered_satisfied: u64,
    /// A newer seqno of the same source passed on (see `route_changed`).
    pub triggered_seqno: u64,
    pub triggered_better: u64,
    pub triggered_other: u64,
}

/// Why a triggered update was queued (RFC 8966 §3.7.2), for [`SentStats`].
#[derive(Clone, Copy)]
enum Trigger {
    New,
    Switch,
    Retraction,
    Worse,
    Satisfied,
    Seqno,
    /// Another large metric change: counted as better or other by its direction.
    Change {
        better: bool,
    },
}

impl SentStats {
    fn triggered(&mut self, why: Trigger) {
        *match why {
            Trigger::New => &mut self.triggered_new,
            Trigger::Switch => &mut self.triggered_switch,
            Trigger::Retraction => &mut self.triggered_retraction,
            Trigger::Worse => &mut self.triggered_worse,
            Trigger::Satisfied => &mut self.triggered_satisfied,
            Trigger::Seqno => &mut self.triggered_seqno,
            Trigger::Change { better: true } => &mut self.triggered_better,
            Trigger::Change { better: false } => &mut self.triggered_other,
        } += 1;
    }
}

impl Stats {
    fn refuse(&mut self, limit: Limit) {
        self.over_limit += 1;
        self.refused[limit as usize] += 1;
    }

    /// Refusals at `limit` so far.
    pub fn refused(&self, limit: Limit) -> u64 {
        self.refused[limit as usize]
    }
}

#[derive(Debug, Default)]
struct OutBuffer {
    /// Hellos, IHUs, requests: sent first, in order.
    control: Vec<Tlv>,
    updates: PendingUpdates,
    full_dump: bool,
    /// The full dump is a periodic one (or one of ours), not only asked for by a
    /// neighbour (for [`SentStats`]).
    periodic: bool,
    unicast: BTreeMap<Ipv6Addr, Vec<Tlv>>,
    /// Updates to be sent with an Acknowledgment Request (RFC 8966 §3.7.2).
    reliable: FxHashSet<RouteKey>,
    /// Replies to unicast route requests, by requester (RFC 8966 §3.8.1.1).
    unicast_updates: BTreeMap<Ipv6Addr, UnicastUpdates>,
}

#[derive(Debug, Default)]
struct UnicastUpdates {
    full_dump: bool,
    keys: FxHashSet<RouteKey>,
}

#[derive(Debug)]
struct Interface {
    ifindex: u32,
    name: String,
    config: InterfaceConfig,
    link_local: Option<Ipv6Addr>,
    ipv4: Option<Ipv4Addr>,
    mtu: usize,
    hello_seqno: u16,
    hellos_sent: u32,
    /// A periodic full dump went out since the interface came up or changed intervals:
    /// the next ones ride with a hello.
    dumped: bool,
    /// When the last full dump went to the group on this interface.
    last_dump: Option<Timestamp>,
    out: OutBuffer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SelInfo {
    router_id: RouterId,
    seqno: u16,
    metric: u16,
    neigh: u32,
    next_hop: Option<IpAddr>,
}

/// The Babel state machine. See the crate documentation for the calling convention.
#[derive(Debug)]
pub struct Node {
    config: Config,
    id: RouterId,
    seqno: u16,
    rng: Rng,
    now: Timestamp,
    interfaces: BTreeMap<u32, Interface>,
    neighbours: Vec<Option<Neighbour>>,
    neigh_index: FxHashMap<(u32, Ipv6Addr), u32>,
    neigh_free: Vec<u32>,
    sources: SourceTable,
    routes: RouteTable,
    xroute_inputs: BTreeMap<RouteKey, Xroute>,
    xroutes: BTreeMap<RouteKey, XrouteView>,
    requests: Requests,
    /// Urgent updates waiting for acknowledgments (RFC 8966 §3.3).
    acks: AckWaits,
    /// When our seqno was last resumed from an update carrying our router-id.
    seqno_resumed: Option<Timestamp>,
    timers: Timers,
    transmits: VecDeque<(u32, Ipv6Addr, Option<Ipv6Addr>, Vec<u8>)>,
    route_queue: VecDeque<u32>,
    /// The install filters' preferred sources that are not local addresses now (see
    /// [`Command::PreferredSource`]): at most one per install filter.
    pref_src_away: Vec<IpAddr>,
    events: VecDeque<Event>,
    last_sweep: Timestamp,
    /// No route entry has anything for the sweep to do before this time (a lower bound,
    /// lowered whenever an entry's timing changes, like each slot's own in
    /// `RouteTable::due`), so that the sweep walks the table only when something is due.
    sweep_due: Timestamp,
    last_gc: Timestamp,
    /// When the sources' ages were last held (see `SourceTable::rebase`).
    sources_checked: Timestamp,
    stats: Stats,
}

fn is_link_local(a: &Ipv6Addr) -> bool {
    (a.segments()[0] & 0xffc0) == 0xfe80
}

/// Prefixes that must never be routed (babeld's martians).
fn martian(p: &Prefix) -> bool {
    match p.addr() {
        IpAddr::V4(a) => {
            let o = a.octets();
            o[0] >= 224 || o[0] == 127 || (o[0] == 0 && p.plen() > 0 && p.plen() < 8)
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            (s[0] & 0xff00) == 0xff00
                || (is_link_local(&a) && p.plen() >= 10)
                || (a == Ipv6Addr::LOCALHOST && p.plen() == 128)
                || (a.to_ipv4_mapped().is_some() && p.plen() >= 96)
        }
    }
}

/// The next hop to put in an update for `key` sent on `iface` (`Some(None)`: none needed,
/// `None`: the prefix cannot be announced there).
fn update_next_hop(iface: &Interface, key: &RouteKey) -> Option<Option<IpAddr>> {
    if !key.prefix.is_v4() {
        return Some(None);
    }
    match (iface.ipv4, iface.link_local) {
        (Some(a), _) => Some(Some(IpAddr::V4(a))),
        // RFC 9229 §2: with no IPv4 address, announce IPv4 through our IPv6 one.
        (None, Some(ll)) if iface.config.v4_via_v6 => Some(Some(IpAddr::V6(ll))),
        _ => None,
    }
}

/// babeld's `roughly`: a value uniform in [3/4, 5/4] of `d`.
fn roughly(rng: &mut Rng, d: Duration) -> Duration {
    rng.between(d * 3 / 4, d * 5 / 4)
}

impl Node {
    /// A node with no interfaces. `router_id` and `seqno` are restored by the caller (the
    /// seqno should be the last one persisted, or random on first start).
    pub fn new(
        config: Config,
        router_id: RouterId,
        seqno: u16,
        rng_seed: u64,
        now: Timestamp,
    ) -> Self {
        let mut timers = Timers::default();
        timers.set(TimerKey::Sweep, now + SWEEP_INTERVAL);
        Node {
            config,
            id: router_id,
            seqno,
            rng: Rng::new(rng_seed),
            now,
            interfaces: BTreeMap::new(),
            neighbours: Vec::new(),
            neigh_index: FxHashMap::default(),
            neigh_free: Vec::new(),
            sources: SourceTable::default(),
            routes: RouteTable::default(),
            xroute_inputs: BTreeMap::new(),
            xroutes: BTreeMap::new(),
            requests: Requests::default(),
            acks: AckWaits::new((rng_seed ^ (rng_seed >> 32)) as u16),
            seqno_resumed: None,
            timers,
            transmits: VecDeque::new(),
            route_queue: VecDeque::new(),
            pref_src_away: Vec::new(),
            events: VecDeque::new(),
            last_sweep: now,
            sweep_due: now,
            last_gc: now,
            sources_checked: now,
            stats: Stats::default(),
        }
    }

    /// Our router-id.
    pub fn router_id(&self) -> RouterId {
        self.id
    }

    /// Our current seqno (persist it when [`Event::SeqnoChanged`] says so).
    pub fn seqno(&self) -> u16 {
        self.seqno
    }

    /// Counters of received, dropped and sent messages.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    fn advance(&mut self, now: Timestamp) {
        // Time never goes backwards inside the engine.
        if now > self.now {
            if now - self.now > crate::route::REBASE_GAP {
                // Entry times are kept relative to the current time: move them with it.
                self.routes.rebase(self.now, now);
            } else if now - self.now > crate::route::DUE_REBASE_GAP {
                // The slots' due times too, in their shorter span.
                self.routes.due.rebase(self.now, now);
            }
            if now - self.sources_checked > crate::source::SOURCE_CHECK {
                // Source times too, should the sweep not have collected them in a while.
                self.sources.rebase(self.now, now, SOURCE_GC_TIME);
                self.sources_checked = now;
            }
            self.now = now;
        }
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() >= self.config.max_queued_events {
            self.events.pop_front();
            self.stats.events_dropped += 1;
            self.stats.refuse(Limit::QueuedEvents);
        }
        self.events.push_back(e);
    }

    // ------------------------------------------------------------------------------------
    // Inputs
    // ------------------------------------------------------------------------------------

    /// An interface came up, went down, or changed addresses.
    pub fn handle_interface(&mut self, now: Timestamp, event: InterfaceEvent) {
        self.advance(now);
        let now = self.now;
        match event {
            InterfaceEvent::Up {
                ifindex,
                name,
                mut config,
                link_local,
                ipv4,
                mtu,
            } => {
                // Intervals must fit the wire's centiseconds and must not be zero (a zero
                // interval would make a timer fire forever).
                let (lo, hi) = (Duration::from_millis(10), Duration::from_millis(655_350));
                config.hello_interval = config.hello_interval.clamp(lo, hi);
                config.update_interval = config.update_interval.map(|d| d.clamp(lo, hi));
                let existed = self.interfaces.contains_key(&ifindex);
                let hello_seqno = self.rng.next_u16();
                let iface = self.interfaces.entry(ifindex).or_insert_with(|| Interface {
                    ifindex,
                    name: name.clone(),
                    config: config.clone(),
                    link_local,
                    ipv4,
                    mtu,
                    hello_seqno,
                    hellos_sent: 0,
                    dumped: false,
                    last_dump: None,
                    out: OutBuffer::default(),
                });
                iface.name = name;
                let intervals_changed = iface.config.hello_interval != config.hello_interval
                    || iface.config.update_interval() != config.update_interval();
                iface.config = config;
                iface.link_local = link_local;
                iface.ipv4 = ipv4;
                iface.mtu = mtu;
                if existed && intervals_changed {
                    // New intervals apply from the next hello and dump, not after the old
                    // (possibly much longer) ones.
                    iface.dumped = false;
                    let h = self.rng.between(Duration::ZERO, URGENT_JITTER);
                    self.timers.set(TimerKey::Hello(ifindex), now + h);
                    let u = self
                        .rng
                        .between(Duration::from_millis(100), Duration::from_millis(600));
                    self.timers.set(TimerKey::Update(ifindex), now + u);
                }
                if !existed {
                    // RFC 8966 §3.4.1 / §3.8.1.1: greet the link at once and ask for a full
                    // dump so that routes are learned without waiting an update interval.
                    let jitter = self.rng.between(Duration::ZERO, URGENT_JITTER);
                    self.timers.set(TimerKey::Hello(ifindex), now + jitter);
                    let upd = self
                        .rng
                        .between(Duration::from_millis(100), Duration::from_millis(600));
                    self.timers.set(TimerKey::Update(ifindex), now + upd);
                    self.stats.sent.wildcard_requests_sent += 1;
                    self.queue_control(
                        ifindex,
                        None,
                        Tlv::RouteRequest(RouteRequest {
                            prefix: None,
                            src_prefix: None,
                            unknown_subtlvs: Vec::new(),
                        }),
                        true,
                    );
                }
            }
            InterfaceEvent::Down { ifindex } => {
                let Some(gone) = self.interfaces.remove(&ifindex) else {
                    return;
                };
                gone.out.updates.release(&mut self.routes);
                for k in [
                    TimerKey::Hello(ifindex),
                    TimerKey::Update(ifindex),
                    TimerKey::Flush(ifindex),
                ] {
                    self.timers.cancel(k);
                }
                let lost: Vec<u32> = self
                    .neigh_index
                    .iter()
                    .filter(|((i, _), _)| *i == ifindex)
                    .map(|(_, &n)| n)
                    .collect();
                let mut lost = lost;
                lost.sort_unstable();
                self.drop_neighbours(&lost);
                self.transmits.retain(|t| t.0 != ifindex);
            }
            InterfaceEvent::Addresses {
                ifindex,
                link_local,
                ipv4,
            } => {
                if let Some(i) = self.interfaces.get_mut(&ifindex) {
                    let changed = i.ipv4 != ipv4 || i.link_local != link_local;
                    i.link_local = link_local;
                    i.ipv4 = ipv4;
                    if changed {
                        i.out.full_dump = true;
                        i.out.periodic = true;
                        self.schedule_flush(ifindex, false);
                    }
                }
            }
        }
    }

    /// A command from configuration or the control socket.
    pub fn handle_command(&mut self, now: Timestamp, cmd: Command) {
        self.advance(now);
        match cmd {
            Command::AddXroute(x) => {
                let key = RouteKey::new(x.prefix, x.src_prefix);
                if self.xroute_inputs.len() >= self.config.max_route_entries
                    && !self.xroute_inputs.contains_key(&key)
                {
                    self.stats.refuse(Limit::Routes);
                    return;
                }
                self.xroute_inputs.insert(key, x);
                self.recompute_xroutes();
            }
            Command::RemoveXroute { prefix, src_prefix } => {
                let key = RouteKey::new(prefix, src_prefix);
                if self.xroute_inputs.remove(&key).is_some() {
                    self.recompute_xroutes();
                }
            }
            Command::SetFilters(f) => {
                self.config.filters = f;
                let filters = &self.config.filters;
                self.pref_src_away.retain(|&a| filters.installs_pref_src(a));
                self.recompute_xroutes();
                // Re-run the input filter on every entry and the install filter on every
                // selected route.
                for slot in self.routes.live_slots() {
                    self.refilter_slot(slot);
                }
                let ifs: Vec<u32> = self.interfaces.keys().copied().collect();
                for i in ifs {
                    if let Some(iface) = self.interfaces.get_mut(&i) {
                        iface.out.full_dump = true;
                    }
                    self.schedule_flush(i, false);
                }
            }
            Command::SetTuning {
                smoothing_half_life,
                diversity,
            } => {
                self.config.smoothing_half_life = smoothing_half_life;
                self.config.diversity = diversity;
            }
            Command::PreferredSource { addr, local } => self.preferred_source(addr, local),
            Command::BumpSeqno => {
                self.bump_seqno();
                self.announce_own();
            }
            Command::SetRouterId { router_id, seqno } => {
                if !router_id.is_valid() {
                    return;
                }
                self.id = router_id;
                if let Some(s) = seqno {
                    self.seqno = s;
                }
                self.push_event(Event::RouterIdChanged {
                    router_id,
                    seqno: self.seqno,
                });
                // RFC 8966 §3.7.2: a router-id change is sent urgently and reliably.
                self.announce_own();
            }
            Command::SetLimit(limit, value) => limit.set(&mut self.config, value),
            Command::RequestFullDump => {
                let ifs: Vec<u32> = self.interfaces.keys().copied().collect();
                for i in ifs {
                    self.queue_control(
                        i,
                        None,
                        Tlv::RouteRequest(RouteRequest {
                            prefix: None,
                            src_prefix: None,
                            unknown_subtlvs: Vec::new(),
                        }),
                        true,
                    );
                }
            }
        }
    }

    fn bump_seqno(&mut self) {
        self.seqno = self.seqno.wrapping_add(1);
        self.push_event(Event::SeqnoChanged {
            router_id: self.id,
            seqno: self.seqno,
        });
    }

    /// Announces every prefix of ours urgently and with acknowledgments, after a change of
    /// our seqno or router-id (RFC 8966 §3.7.2).
    fn announce_own(&mut self) {
        let keys: Vec<RouteKey> = self.xroutes.keys().copied().collect();
        for k in keys {
            self.send_update_all(k, true, true);
        }
    }

    /// RFC 8966 §3.2.2: our seqno never decreases. An update (or retraction) that carries our
    /// router-id with a seqno newer than ours was sent by an earlier run of this node that
    /// did not persist its seqno: we resume after it, so that our routes are feasible again
    /// at once rather than when every feasibility distance for them has expired. (A seqno
    /// request only ever raises it by one, §3.8.1.2.)
    fn resume_seqno(&mut self, seen: u16) {
        if !seqno_newer(seen, self.seqno)
            || self
                .seqno_resumed
                .is_some_and(|t| self.now - t < SEQNO_RESUME_HOLDOFF)
        {
            return;
        }
        self.seqno_resumed = Some(self.now);
        self.seqno = seen;
        self.bump_seqno();
        self.announce_own();
    }

    fn recompute_xroutes(&mut self) {
        let mut next = BTreeMap::new();
        for (k, x) in &self.xroute_inputs {
            let ifname = x
                .ifindex
                .and_then(|i| self.interfaces.get(&i))
                .map(|i| i.name.as_str());
            let r = filter::apply(
                &self.config.filters.redistribute,
                &FilterInput {
                    prefix: Some(x.prefix),
                    src_prefix: x.src_prefix,
                    ifname,
                    proto: Some(x.proto),
                    local: Some(x.local),
                    ..Default::default()
                },
                // babeld: local addresses are announced unless denied; other routes only
                // when a rule allows them.
                x.local,
            );
            if !r.allow {
                continue;
            }
            let v = XrouteView {
                prefix: x.prefix,
                src_prefix: r.src_prefix.or(x.src_prefix).filter(|p| p.plen() > 0),
                metric: r.metric.unwrap_or(x.metric),
            };
            let _ = k;
            next.insert(v.key(), v);
        }
        let mut changed: Vec<RouteKey> = Vec::new();
        for (k, v) in &next {
            if self.xroutes.get(k) != Some(v) {
                changed.push(*k);
            }
        }
        for k in self.xroutes.keys() {
            if !next.contains_key(k) {
                changed.push(*k);
            }
        }
        self.xroutes = next;
        for k in changed {
            let withdrawn = !self.xroutes.contains_key(&k);
            if let Some(slot) = self.routes.find(&k) {
                self.routes.slots[slot as usize].set_own(!withdrawn);
                // The learned routes for this prefix take over, or stop being overridden.
                self.select(slot);
                self.queue_route(slot);
            }
            let replaced = self
                .routes
                .find(&k)
                .and_then(|s| self.sel_info(s))
                .is_some_and(|i| i.metric < INFINITY);
            // RFC 8966 §3.7.2: withdrawing a prefix is a retraction, sent urgently and
            // reliably, unless a learned route replaces it.
            let urgent = withdrawn && !replaced;
            self.send_update_all(k, urgent, urgent);
        }
    }

    /// A datagram received on `ifindex` from `src` (its link-local address). `multicast`
    /// says whether it was sent to ff02::1:6: route requests sent unicast are answered
    /// unicast (hellos rely on their own flag).
    pub fn handle_packet(
        &mut self,
        now: Timestamp,
        ifindex: u32,
        src: Ipv6Addr,
        multicast: bool,
        bytes: &[u8],
    ) {
        let packet = Packet::new_checked(bytes).ok();
        let Some(nid) = self.packet_sender(now, ifindex, src, packet.is_some()) else {
            return;
        };
        let Some(packet) = packet else { return };
        let mut stamps = PacketStamps::default();
        let mut ignored = 0;
        // The TLVs are handled a batch at a time, as they are parsed, so that the table
        // memory a batch's updates will need is touched first (see `handle_batch`).
        let mut batch: Vec<Tlv> = Vec::with_capacity(WARM_BATCH);
        wire::for_each_tlv(packet.body(), Some(src), |_, tlv| match tlv {
            Ok(tlv) => {
                batch.push(tlv);
                if batch.len() == WARM_BATCH {
                    self.handle_batch(nid, ifindex, src, multicast, &batch, &mut stamps);
                    batch.clear();
                }
            }
            Err(_) => ignored += 1,
        });
        if !batch.is_empty() {
            self.handle_batch(nid, ifindex, src, multicast, &batch, &mut stamps);
        }
        self.packet_handled(nid, ifindex, stamps, ignored);
    }

    /// The same as [`Node::handle_packet`] for a datagram parsed beforehand (its source is
    /// the one it was parsed with): a simulator whose multicast reaches several nodes
    /// parses it once for all of them.
    pub fn handle_parsed_packet(
        &mut self,
        now: Timestamp,
        ifindex: u32,
        multicast: bool,
        packet: &PreparsedPacket,
    ) {
        let src = packet.src;
        let Some(nid) = self.packet_sender(now, ifindex, src, packet.header_ok) else {
            return;
        };
        let mut stamps = PacketStamps::default();
        for batch in packet.tlvs.chunks(WARM_BATCH) {
            self.handle_batch(nid, ifindex, src, multicast, batch, &mut stamps);
        }
        self.packet_handled(nid, ifindex, stamps, packet.ignored);
    }

    /// What every datagram goes through before its TLVs: the sending neighbour (found or
    /// created), or `None` for a datagram that is dropped (and counted) or ignored.
    fn packet_sender(
        &mut self,
        now: Timestamp,
        ifindex: u32,
        src: Ipv6Addr,
        header_ok: bool,
    ) -> Option<u32> {
        self.advance(now);
        self.stats.packets_received += 1;
        if !self.interfaces.contains_key(&ifindex) || !is_link_local(&src) {
            // RFC 8966 §4: Babel packets come from a link-local address.
            self.stats.packets_dropped += 1;
            return None;
        }
        if !header_ok {
            // RFC 8966 §4.2: packets with a bad header are silently ignored.
            self.stats.packets_dropped += 1;
            return None;
        }
        if self.interfaces.get(&ifindex).and_then(|i| i.link_local) == Some(src) {
            // Our own packet looped back.
            return None;
        }
        let nid = self.find_or_create_neighbour(ifindex, src);
        if nid.is_none() {
            self.stats.refuse(Limit::Neighbours);
        }
        nid
    }

    /// A batch of a datagram's TLVs, in order. The table memory the batch's updates will
    /// need is touched first: the lookups of one batch overlap in the memory system, where
    /// the handling of each update would wait for its cache misses in turn.
    fn handle_batch(
        &mut self,
        nid: u32,
        ifindex: u32,
        src: Ipv6Addr,
        multicast: bool,
        batch: &[Tlv],
        stamps: &mut PacketStamps,
    ) {
        // The slots found by the warming pass are handed on, so that each update is looked
        // up once; `epoch` tells whether they may have been freed meanwhile.
        let slots = self.warm(nid, batch);
        let epoch = self.routes.epoch();
        for (tlv, &hint) in batch.iter().zip(slots.iter()) {
            let hint = (hint, epoch);
            self.handle_tlv(nid, ifindex, src, multicast, tlv, stamps, hint);
        }
    }

    /// What every datagram goes through after its TLVs.
    fn packet_handled(&mut self, nid: u32, ifindex: u32, stamps: PacketStamps, ignored: u64) {
        self.stats.tlvs_ignored += ignored;
        if let PacketStamps {
            hello: Some(hello),
            ihu: Some(ihu),
        } = stamps
        {
            self.rtt_sample(nid, ifindex, ihu, hello);
        }
        self.neighbour_maybe_changed(nid);
        self.maybe_sweep();
    }

    /// Asks the memory system, without changing anything, for the route and source table
    /// memory that the updates in `batch` (from neighbour `nid`) are about to use, so that
    /// it is in the cache when they are handled. Only a matter of speed. Returns the slot
    /// of each update's key (`u32::MAX`: none, or not an update), for
    /// [`crate::route::RouteTable::find_hinted`].
    ///
    /// A lookup is a chain of dependent reads (index cell; slot; spilled entries and the
    /// slot's due time; the source and router-id of the entry the update is checked
    /// against), each a likely cache miss in a large table. The batch goes through the chain
    /// one link at a time: each stage is a loop that prefetches, for every update, what
    /// the next stage reads, so that the batch's misses of one link are in flight together
    /// instead of one after the other.
    fn warm(&self, nid: u32, batch: &[Tlv]) -> [u32; WARM_BATCH] {
        let mut keys: [Option<(RouteKey, u64)>; WARM_BATCH] = [None; WARM_BATCH];
        for (t, k) in batch.iter().zip(keys.iter_mut()) {
            if let Tlv::Update(Update {
                prefix: Some(p),
                src_prefix,
                ..
            }) = t
            {
                let key = RouteKey::new(*p, *src_prefix);
                let hash = key.index_hash();
                self.routes.prefetch_cells(hash);
                *k = Some((key, hash));
            }
        }
        for (_, hash) in keys.iter().flatten() {
            self.routes.prefetch_slot(*hash);
        }
        let mut slots = [u32::MAX; WARM_BATCH];
        for (k, slot) in keys.iter().zip(slots.iter_mut()) {
            if let Some((key, hash)) = k {
                if let Some(s) = self.routes.find_hashed(key, *hash) {
                    self.routes.prefetch_entries(s);
                    // Every update with an entry moves the slot's due time.
                    self.routes.due.prefetch(s);
                    *slot = s;
                }
            }
        }
        let mut srcs = [u32::MAX; WARM_BATCH];
        for (&slot, src) in slots.iter().zip(srcs.iter_mut()) {
            if let Some(s) = self.routes.slots.get(slot as usize) {
                // Without an entry from the sender (mostly an unfeasible update, which
                // creates none), the update is checked against the source of another
                // entry with its router-id: most likely the selected route's.
                if let Some(e) = s.find(nid).map(|i| &s.entries[i]).or_else(|| s.selected()) {
                    *src = e.src;
                    // The update's router-id is compared with this entry's first.
                    self.routes.prefetch_router_id(e);
                }
            }
        }
        self.warm_sources(&srcs);
        slots
    }

    /// Prefetches the sources `srcs` (`u32::MAX` for none), for [`Node::warm`] and
    /// [`Node::warm_dump`].
    fn warm_sources(&self, srcs: &[u32]) {
        for &src in srcs {
            if src != u32::MAX {
                self.sources.prefetch(src);
            }
        }
    }

    fn find_or_create_neighbour(&mut self, ifindex: u32, addr: Ipv6Addr) -> Option<u32> {
        if let Some(&n) = self.neigh_index.get(&(ifindex, addr)) {
            return Some(n);
        }
        if self.neigh_index.len() >= self.config.max_neighbours {
            return None;
        }
        let seed = self.rng.next_u16();
        let n = Neighbour::new(ifindex, addr, self.now, seed);
        let id = match self.neigh_free.pop() {
            Some(i) => {
                self.neighbours[i as usize] = Some(n);
                i
            }
            None => {
                self.neighbours.push(Some(n));
                (self.neighbours.len() - 1) as u32
            }
        };
        self.neigh_index.insert((ifindex, addr), id);
        self.push_event(Event::NeighbourUp {
            ifindex,
            address: addr,
        });
        // Check it soon: a neighbour that never says hello is forgotten.
        let hi = self
            .interfaces
            .get(&ifindex)
            .map_or(Duration::from_secs(4), |i| i.config.hello_interval);
        self.timers.set(TimerKey::Neighbour(id), self.now + hi * 2);
        Some(id)
    }

    fn neigh(&self, n: u32) -> Option<&Neighbour> {
        self.neighbours.get(n as usize).and_then(|x| x.as_ref())
    }

    fn neigh_mut(&mut self, n: u32) -> Option<&mut Neighbour> {
        self.neighbours.get_mut(n as usize).and_then(|x| x.as_mut())
    }

    /// The address and interface of neighbour `n`, as a route event names them (unspecified
    /// and 0 for a neighbour already gone).
    fn neigh_at(&self, n: u32) -> (Ipv6Addr, u32) {
        self.neigh(n)
            .map_or((Ipv6Addr::UNSPECIFIED, 0), |n| (n.addr, n.ifindex))
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_tlv(
        &mut self,
        nid: u32,
        ifindex: u32,
        src: Ipv6Addr,
        multicast: bool,
        tlv: &Tlv,
        stamps: &mut PacketStamps,
        hint: (u32, u32),
    ) {
        let now = self.now;
        match tlv {
            Tlv::AckRequest(a) => {
                // RFC 8966 §3.3: an acknowledgement request MUST be answered with an
                // acknowledgement, sent unicast to the requester.
                self.queue_control(
                    ifindex,
                    Some(src),
                    Tlv::Ack(wire::Ack { opaque: a.opaque }),
                    true,
                );
            }
            Tlv::Ack(a) => {
                // RFC 8966 §3.3: the neighbour received the packet that asked for this.
                if self.acks.ack(nid, a.opaque) {
                    self.stats.acks_received += 1;
                }
            }
            Tlv::Hello(h) => self.handle_hello(nid, ifindex, h, &mut stamps.hello),
            Tlv::Ihu(i) => self.handle_ihu(nid, ifindex, i, &mut stamps.ihu),
            Tlv::Update(u) => self.handle_update(nid, ifindex, u, hint),
            Tlv::RouteRequest(r) => self.handle_route_request(nid, ifindex, src, multicast, r),
            Tlv::SeqnoRequest(r) => self.handle_seqno_request(nid, ifindex, src, r),
            _ => {
                let _ = now;
            }
        }
    }

    fn handle_hello(&mut self, nid: u32, ifindex: u32, h: &Hello, hello_ts: &mut Option<u32>) {
        let now = self.now;
        let timestamps = self
            .interfaces
            .get(&ifindex)
            .is_some_and(|i| i.config.timestamps());
        let Some(n) = self.neigh_mut(nid) else { return };
        let was_empty = n.hello.reach == 0 && n.uhello.reach == 0;
        // RFC 8966 §3.4.1: unicast and multicast hellos have separate histories.
        let hist = if h.is_unicast() {
            &mut n.uhello
        } else {
            &mut n.hello
        };
        hist.receive(now, h.seqno, from_cs(h.interval));
        let reach = n.reach();
        // Heard now and not in the seven hello intervals before: a new neighbour, or one
        // back after a silence (babeld's `(reach & 0xBF00) == 0x8000`). Either way it may
        // have lost our state; it is treated like a new one. In particular a full dump that
        // went to the group while it was silent did not reach it.
        let fresh = was_empty || reach & 0xFF00 == 0x8000;
        if fresh {
            n.since = now;
        }
        if let (true, Some(ts)) = (timestamps, h.timestamp) {
            // RFC 9616 §3.1: remember the origin timestamp and our receive time, to echo
            // them in the next IHU.
            n.hello_ts = Some((ts, now));
            *hello_ts = Some(ts);
        }
        let addr = n.addr;
        if fresh {
            // A new neighbour: tell it we hear it at once rather than at our next hello.
            let ihu = self.make_ihu(nid, ifindex);
            if let Some(ihu) = ihu {
                self.queue_control(ifindex, Some(addr), ihu, true);
            }
        }
        if !h.is_unicast() && (fresh || reach & 0xFC00 == 0xC000) {
            // Its first and second hellos are answered by a hello of ours soon (like
            // babeld's early feedback): 2-out-of-3 wants two of our hellos before the link
            // counts, and waiting a hello interval for each would slow the start of a mesh.
            // At most two extra hellos per new neighbour, merged when several arrive.
            let at = self.now + self.rng.between(Duration::ZERO, URGENT_JITTER);
            self.timers.set_earlier(TimerKey::Hello(ifindex), at);
        }
        if reach & 0xFC00 == 0xC000 {
            // The second hello of a newish neighbour: ask it for a full dump (babeld).
            self.stats.sent.wildcard_requests_sent += 1;
            self.queue_control(
                ifindex,
                Some(addr),
                Tlv::RouteRequest(RouteRequest {
                    prefix: None,
                    src_prefix: None,
                    unknown_subtlvs: Vec::new(),
                }),
                false,
            );
        }
        self.schedule_neighbour_check(nid);
    }

    /// `stamps` gets the IHU's timestamps (RFC 9616) when it is for us and the interface
    /// uses them: the RTT sample is taken after the whole packet, when its Hello (before or
    /// after the IHU, as babeld reads it) had a timestamp too.
    fn handle_ihu(
        &mut self,
        nid: u32,
        ifindex: u32,
        ihu: &Ihu,
        stamps: &mut Option<wire::IhuTimestamps>,
    ) {
        let now = self.now;
        let Some(iface) = self.interfaces.get(&ifindex) else {
            return;
        };
        // RFC 8966 §3.4.2: an IHU is for us when its address is ours or absent.
        let ours = match ihu.addr {
            None => true,
            Some(IpAddr::V6(a)) => Some(a) == iface.link_local,
            Some(IpAddr::V4(a)) => Some(a) == iface.ipv4,
        };
        if !ours {
            return;
        }
        if iface.config.timestamps() && ihu.timestamps.is_some() {
            *stamps = ihu.timestamps;
        }
        let Some(n) = self.neigh_mut(nid) else { return };
        n.txcost = ihu.rxcost;
        n.ihu_interval = from_cs(ihu.interval);
        n.ihu_time = now;
        self.schedule_neighbour_check(nid);
    }

    /// Takes an RTT sample from a packet that carried both a timestamped Hello (`hts`, the
    /// neighbour's send time) and a timestamped IHU for us (`ts`).
    fn rtt_sample(&mut self, nid: u32, ifindex: u32, ts: wire::IhuTimestamps, hts: u32) {
        let now = self.now;
        let Some(iface) = self.interfaces.get(&ifindex) else {
            return;
        };
        let decay = iface.config.rtt_decay as u64;
        let Some(n) = self.neigh_mut(nid) else { return };
        // RFC 9616 §3.2: RTT = (now - origin) - (their send time - their receive time). As
        // babeld: each wait must be within 10 minutes, a negative difference (clocks running
        // at slightly different rates over a short link) counts as 0, the first sample (or
        // one after 3 minutes without) is doubled, to be careful with a new neighbour, and
        // the running average is rounded towards the sample.
        let local = (now.as_micros() as u32).wrapping_sub(ts.origin) as u64;
        let remote = hts.wrapping_sub(ts.receive) as u64;
        const WINDOW: u64 = 600_000_000;
        if ts.origin == 0 || ts.receive == 0 || local > WINDOW || remote > WINDOW {
            return;
        }
        let sample = local.saturating_sub(remote);
        let us = match valid_rtt(n, now) {
            Some(old) => {
                let old = old.as_micros() as u64;
                let sum = decay * sample + (256 - decay) * old;
                if old >= sample {
                    sum / 256
                } else {
                    sum.div_ceil(256)
                }
            }
            None => 2 * sample,
        };
        n.rtt = Some(Duration::from_micros(us));
        n.rtt_time = now;
    }

    /// Recomputes the link cost of a neighbour and, if it changed, the metric of every route
    /// through it.
    fn neighbour_maybe_changed(&mut self, nid: u32) {
        let now = self.now;
        let Some(n) = self.neigh(nid) else { return };
        let Some(iface) = self.interfaces.get(&n.ifindex) else {
            return;
        };
        let c = &iface.config;
        let rx = n.rxcost(c.cost_kind(), c.nominal_cost());
        let mut cost = link_cost(c.cost_kind(), rx, n.txcost);
        if cost < INFINITY {
            cost = cost.saturating_add(rtt_penalty(n, c, now));
        }
        if cost == n.cost {
            return;
        }
        let old_cost = n.cost;
        if let Some(n) = self.neigh_mut(nid) {
            n.cost = cost;
            let (ifindex, address) = (n.ifindex, n.addr);
            self.push_event(Event::NeighbourChanged {
                ifindex,
                address,
                cost,
            });
        }
        // Not per update: only when a link's cost changes. The slots are walked in memory
        // order (freed slots have no entries), which the CPU reads ahead by itself; their
        // spilled entries are elsewhere, and are asked for a few slots ahead.
        for slot in 0..self.routes.slots.len() as u32 {
            self.routes.prefetch_entries(slot + WALK_AHEAD);
            let s = &self.routes.slots[slot as usize];
            let Some(i) = s.find(nid) else { continue };
            let unselected = s.selected as usize != i && !s.own();
            let before = self.sel_info(slot);
            let e = &mut self.routes.slots[slot as usize].entries[i];
            e.cost = cost;
            // An entry that is not selected, and got worse or is still no better than the
            // selected route, cannot be selected now (RFC 8966 §3.6: a switch needs a
            // smaller metric), and nothing advertised changes: only its cost is updated,
            // and the destination is reselected at its next update or expiry.
            if unselected
                && before.is_some_and(|b| {
                    b.metric < INFINITY && (cost > old_cost || e.metric() >= b.metric)
                })
            {
                continue;
            }
            self.route_changed(slot, before, false);
        }
    }

    fn schedule_neighbour_check(&mut self, nid: u32) {
        let Some(n) = self.neigh(nid) else { return };
        let mut at = [n.hello.next_check(), n.uhello.next_check()]
            .into_iter()
            .flatten()
            .min();
        if n.txcost < INFINITY && !n.ihu_interval.is_zero() {
            let t = n.ihu_time + n.ihu_interval.mul_f32(3.5) + Duration::from_millis(1);
            at = Some(at.map_or(t, |a| a.min(t)));
        }
        let at = at.unwrap_or(self.now + Duration::from_secs(1));
        self.timers.set(TimerKey::Neighbour(nid), at);
    }

    fn check_neighbour(&mut self, nid: u32) {
        let now = self.now;
        let Some(n) = self.neigh_mut(nid) else { return };
        n.hello.age(now);
        n.uhello.age(now);
        n.expire_txcost(now);
        if n.hello.reach == 0 && n.uhello.reach == 0 {
            // RFC 8966 §3.4: a neighbour we no longer hear is gone.
            self.drop_neighbours(&[nid]);
            return;
        }
        self.neighbour_maybe_changed(nid);
        self.schedule_neighbour_check(nid);
    }

    /// Removes neighbours and every route through them, switching to alternatives at once.
    fn drop_neighbours(&mut self, nids: &[u32]) {
        if nids.is_empty() {
            return;
        }
        for &nid in nids {
            if let Some(n) = self.neigh(nid) {
                let (ifindex, address) = (n.ifindex, n.addr);
                self.push_event(Event::NeighbourDown { ifindex, address });
            }
        }
        let set: FxHashSet<u32> = nids.iter().copied().collect();
        let mut slots = self.routes.live_slots();
        self.routes.sort_slots(&mut slots);
        for slot in slots {
            if !self.routes.slots[slot as usize]
                .entries
                .iter()
                .any(|e| set.contains(&e.neigh()))
            {
                continue;
            }
            let before = self.sel_info(slot);
            let mut i = 0;
            while i < self.routes.slots[slot as usize].entries.len() {
                if set.contains(&self.routes.slots[slot as usize].entries[i].neigh()) {
                    self.flush_entry(slot, i);
                } else {
                    i += 1;
                }
            }
            // RFC 8966 §3.6 and §3.8.2.1: switch at once to a feasible alternative, or
            // ask for a new seqno at once when there is none.
            self.route_changed(slot, before, false);
            self.routes.maybe_free(slot);
        }
        self.acks.forget_neighbours(|n| set.contains(&n));
        for &nid in nids {
            self.requests.forget_neighbour(nid);
            self.timers.cancel(TimerKey::Neighbour(nid));
            if let Some(n) = self.neighbours.get_mut(nid as usize).and_then(|x| x.take()) {
                self.neigh_index.remove(&(n.ifindex, n.addr));
                self.neigh_free.push(nid);
                if let Some(i) = self.interfaces.get_mut(&n.ifindex) {
                    i.out.unicast.remove(&n.addr);
                    i.out.unicast_updates.remove(&n.addr);
                }
            }
        }
    }

    fn flush_entry(&mut self, slot: u32, i: usize) {
        let installed = self.routes.slots[slot as usize].selected as usize == i;
        let e = self.routes.remove_entry(slot, i);
        self.sources.release(e.src);
        if !self.config.route_events {
            return;
        }
        // The source is only uncounted (it is collected by a later sweep), and the slot
        // keeps its key until the caller frees it.
        let router_id = self
            .sources
            .router_id(e.src, &self.routes)
            .unwrap_or_default();
        let key = self.routes.key(slot);
        let (neighbour, ifindex) = self.neigh_at(e.neigh());
        self.push_event(Event::Route {
            kind: RouteEventKind::Flush,
            prefix: key.prefix,
            src_prefix: key.src_prefix,
            neighbour,
            ifindex,
            router_id,
            metric: e.metric(),
            refmetric: e.refmetric,
            installed,
        });
    }

    // ------------------------------------------------------------------------------------
    // Updates and route selection
    // ------------------------------------------------------------------------------------

    /// `hint`: the slot where the key was found, and the table's epoch then (see
    /// [`crate::route::RouteTable::find_hinted`]).
    fn handle_update(&mut self, nid: u32, ifindex: u32, u: &Update, hint: (u32, u32)) {
        self.stats.updates_received += 1;
        let Some(prefix) = u.prefix else {
            // RFC 8966 §4.6.9: a wildcard retraction retracts every route of the sender.
            if u.metric == INFINITY {
                self.retract_neighbour_routes(nid);
            }
            return;
        };
        // RFC 8966 §4.6.9: a retraction's router-id and next hop are not used, and BIRD
        // sends retractions with neither a Router-Id TLV nor (IPv4) a Next Hop TLV before
        // them; they are taken from the entry retracted, below. A finite update needs both.
        if u.metric < INFINITY && (u.router_id.is_none() || u.next_hop.is_none()) {
            self.stats.tlvs_ignored += 1;
            return;
        }
        if let Some(router_id) = u.router_id {
            if router_id == self.id {
                self.resume_seqno(u.seqno);
                return;
            }
            if !router_id.is_valid() {
                return;
            }
        }
        if martian(&prefix)
            || u.src_prefix
                .is_some_and(|s| martian(&s) || s.is_v4() != prefix.is_v4())
        {
            self.stats.updates_filtered += 1;
            return;
        }
        // RFC 8966 §3.5.3: the input filter may add to the metric or refuse the update.
        let (add_metric, src_prefix) = if self.config.filters.input.is_empty() {
            (0, u.src_prefix)
        } else {
            let Some(iface) = self.interfaces.get(&ifindex) else {
                return;
            };
            let n_addr = self.neigh(nid).map(|n| IpAddr::V6(n.addr));
            let r = filter::apply(
                &self.config.filters.input,
                &FilterInput {
                    prefix: Some(prefix),
                    src_prefix: u.src_prefix,
                    neigh: n_addr,
                    router_id: u.router_id,
                    ifname: Some(iface.name.as_str()),
                    ..Default::default()
                },
                true,
            );
            (r.add_metric(), r.src_prefix.or(u.src_prefix))
        };
        if add_metric == INFINITY && u.metric < INFINITY {
            self.stats.updates_filtered += 1;
            return;
        }
        let add_metric = if u.metric == INFINITY { 0 } else { add_metric };
        let key = RouteKey::new(prefix, src_prefix);
        // RFC 8966 §3.5.3: route expiry is 3.5 times the advertised interval (babeld
        // keeps at least 15 s); an unscheduled update uses our own update interval.
        let interval = if u.interval == 0 {
            self.interfaces
                .get(&ifindex)
                .map_or(Duration::from_secs(16), |i| i.config.update_interval())
        } else {
            from_cs(u.interval)
        };
        let hold = (interval * 7 / 2).max(Duration::from_secs(15));
        let channels = diversity::received_channels(&u.unknown_subtlvs, u.metric);
        let found = self.routes.find_hinted(&key, hint.0, hint.1);
        let (router_id, next_hop) = match (u.router_id, u.next_hop) {
            (Some(r), Some(n)) => (r, n),
            _ => {
                // A retraction without them (see above): of the entry it retracts, as babeld
                // does; without an entry it retracts nothing.
                let Some((slot, i)) =
                    found.and_then(|s| Some((s, self.routes.slots[s as usize].find(nid)?)))
                else {
                    return;
                };
                let e = &self.routes.slots[slot as usize].entries[i];
                (
                    u.router_id.unwrap_or_else(|| self.routes.router_id(e)),
                    u.next_hop.unwrap_or_else(|| self.routes.next_hop(e)),
                )
            }
        };
        self.apply_update(
            nid, key, found, router_id, u.seqno, u.metric, hold, next_hop, add_metric, channels,
        );
    }

    /// Whether one more route entry from neighbour `nid` fits in the table's bounds (all
    /// neighbours, and this one's share); a refusal is counted.
    fn room_for_entry(&mut self, nid: u32) -> bool {
        if self.routes.entry_count() >= self.config.max_route_entries {
            self.stats.refuse(Limit::Routes);
            false
        } else if self.routes.neighbour_entries(nid) >= self.config.max_routes_per_neighbour {
            self.stats.refuse(Limit::RoutesPerNeighbour);
            false
        } else {
            true
        }
    }

    /// RFC 8966 §3.5.3: route acquisition.
    #[allow(clippy::too_many_arguments)]
    fn apply_update(
        &mut self,
        nid: u32,
        key: RouteKey,
        found: Option<u32>,
        router_id: RouterId,
        seqno: u16,
        refmetric: u16,
        hold: Duration,
        next_hop: IpAddr,
        add_metric: u16,
        channels: [u8; diversity::KEPT_CHANNELS],
    ) {
        let now = self.now;
        debug_assert_eq!(found, self.routes.find(&key));
        let idx = found.and_then(|s| self.routes.slots[s as usize].find(nid));
        if idx.is_none() {
            if refmetric == INFINITY {
                if found.is_none() {
                    return; // a retraction of what we never had
                }
            } else if !self.room_for_entry(nid) {
                // Refused and counted; the entries already held keep working.
                return;
            } else if found.is_none() && self.routes.full() {
                self.stats.refuse(Limit::Routes);
                return;
            }
        }
        let slot = match found {
            Some(s) => s,
            None => self.routes.create(&key, self.xroutes.contains_key(&key)),
        };
        let (src_id, feasible) = match idx {
            Some(i) => {
                let s = &self.routes.slots[slot as usize];
                let e = &s.entries[i];
                if self.routes.router_id(e) == router_id {
                    // The refresh of the selected route, unchanged, is feasible: it was when
                    // it was selected, and since then the feasibility distance of its source
                    // was only set from it, with a metric above its refmetric (costs are
                    // at least 1). This spares the source table a lookup per refresh.
                    let same = s.selected as usize == i
                        && e.seqno == seqno
                        && e.refmetric == refmetric
                        && refmetric < INFINITY;
                    let src = e.src;
                    let f = same
                        || self
                            .sources
                            .feasible(Some(src), seqno, refmetric, now, SOURCE_GC_TIME);
                    (Some(src), f)
                } else {
                    let src = self.sources.find(router_id, slot, &self.routes);
                    (
                        src,
                        self.sources
                            .feasible(src, seqno, refmetric, now, SOURCE_GC_TIME),
                    )
                }
            }
            None => {
                // Another neighbour's entry from the same router-id has the source (sources
                // are per router-id and destination): mostly the case of an unfeasible
                // update, which creates no entry (RFC 8966 §3.5.3) and comes again every
                // interval. This spares the source table a lookup.
                let src = self.routes.slots[slot as usize]
                    .entries
                    .iter()
                    .find(|e| self.routes.router_id(e) == router_id)
                    .map(|e| e.src)
                    .or_else(|| self.sources.find(router_id, slot, &self.routes));
                debug_assert_eq!(src, self.sources.find(router_id, slot, &self.routes));
                (
                    src,
                    self.sources
                        .feasible(src, seqno, refmetric, now, SOURCE_GC_TIME),
                )
            }
        };
        let cost = self.neigh(nid).map_or(INFINITY, |n| n.cost);
        let metric =
            (refmetric as u32 + cost as u32 + add_metric as u32).min(INFINITY as u32) as u16;
        let satisfied =
            feasible && refmetric < INFINITY && self.requests.satisfy(&key, router_id, seqno);
        if !feasible {
            self.stats.updates_unfeasible += 1;
        }
        let hold_ms = hold.as_millis().min(u32::MAX as u128) as u32;

        if let Some(i) = idx {
            let u = (router_id, seqno, refmetric);
            if feasible
                && !satisfied
                && refmetric < INFINITY
                && self.refresh_only(slot, i, u, next_hop, cost, add_metric, channels)
            {
                // RFC 8966 §3.5.3: a feasible update refreshes the route's timer.
                let hl = self.config.smoothing_half_life;
                let lone = self.routes.slots[slot as usize].entries.len() == 1;
                let e = &mut self.routes.slots[slot as usize].entries[i];
                e.set_hold_ms(hold_ms);
                e.set_time(now);
                if !lone {
                    // What `select` would do to it (it is feasible and unexpired); the
                    // other entries are smoothed at the next selection.
                    let m = e.metric();
                    e.smoothed_metric(m, now, hl);
                }
                // The slot's due time is recomputed, not only lowered: the refresh moved
                // this entry's work 16 s on, and a due time left at its old refresh point
                // would have the sweep visit the slot for nothing (most of its visits, in a
                // steady state). The entries are at hand (`refresh_only` read them).
                let last = self.last_sweep;
                let due = self.routes.slots[slot as usize]
                    .entries
                    .iter()
                    .map(|e| e.sweep_at(last))
                    .min()
                    .unwrap_or(Timestamp::from_micros(u64::MAX));
                self.set_sweep_due(slot, due);
                return;
            }
        }
        match idx {
            Some(i) => {
                let before = self.sel_info(slot);
                let is_selected = self.routes.slots[slot as usize].selected as usize == i;
                let old_src = self.routes.slots[slot as usize].entries[i].src;
                let same_router = self
                    .routes
                    .router_id(&self.routes.slots[slot as usize].entries[i])
                    == router_id;
                let usable = before.is_some_and(|b| b.metric < INFINITY);
                if !feasible
                    && is_selected
                    && same_router
                    && usable
                    && !self.better_alternative(slot, i, metric)
                {
                    // RFC 8966 §3.5.3: an unfeasible update for the selected route with the
                    // same router-id MAY be ignored; we ignore it while the route is usable
                    // and nothing feasible is better than what it now says, and ask the
                    // source for a new seqno so that it becomes feasible again. Otherwise the
                    // entry takes the update and is unselected below: a route through a
                    // neighbour we stopped hearing must not come back with its old seqno and
                    // metric, and a better alternative must not lose to a stale metric.
                    let src = src_id;
                    let u = (router_id, seqno, metric);
                    self.send_unfeasible_request(nid, key, slot, src, u, true);
                    return;
                }
                let src = match src_id {
                    Some(s) if s == old_src => s,
                    _ => {
                        if self.sources.len() >= self.config.max_sources {
                            self.stats.refuse(Limit::Sources);
                            return;
                        }
                        let Some(s) = self.sources.find_or_create(
                            router_id,
                            slot,
                            seqno,
                            now,
                            &mut self.routes,
                        ) else {
                            // A new router-id while 65,536 are held (see `Interner`).
                            self.stats.refuse(Limit::Sources);
                            return;
                        };
                        self.sources.retain(s);
                        self.sources.release(old_src);
                        s
                    }
                };
                let new_nh = self
                    .routes
                    .next_hop(&self.routes.slots[slot as usize].entries[i])
                    != next_hop;
                if !self.routes.set_origin(slot, i, router_id, next_hop) {
                    // A new router-id or next hop while 65,536 are held (see `Interner`).
                    self.stats.refuse(Limit::Routes);
                    if src != old_src {
                        self.sources.release(src);
                        self.sources.retain(old_src);
                    }
                    return;
                }
                let s = &mut self.routes.slots[slot as usize];
                if !feasible && is_selected {
                    // RFC 8966 §3.5.3: the selected route turned unfeasible by a change of
                    // router-id: it is no longer selected.
                    s.selected = NONE;
                }
                let e = &mut s.entries[i];
                let changed = e.seqno != seqno
                    || e.refmetric != refmetric
                    || new_nh
                    || e.src != src
                    || e.add_metric != add_metric;
                e.src = src;
                e.seqno = seqno;
                e.refmetric = refmetric;
                e.add_metric = add_metric;
                e.cost = cost;
                e.set_hold_ms(hold_ms);
                e.channels = channels;
                if (feasible && refmetric < INFINITY) || refmetric == INFINITY {
                    // RFC 8966 §3.5.3: only a feasible update refreshes the route; a
                    // retraction starts the hold time (§3.5.4).
                    if refmetric == INFINITY && !changed {
                        // A repeated retraction does not extend the hold time.
                    } else {
                        e.set_time(now);
                    }
                }
                // As of the last sweep: an entry whose timer was not refreshed may be past a
                // refresh point that sweep did not watch (it was retracted, or its hold
                // time just shrank); the next sweep looks at it.
                let due = e.sweep_at(self.last_sweep);
                self.sweep_at(slot, due);
                // Reconsider even when nothing changed: smoothed metrics move with time, and
                // a better route may now pass the hysteresis (babeld does the same). A lone
                // entry that did not change has nothing to be compared with.
                if changed && self.config.route_events {
                    let (neighbour, ifindex) = self.neigh_at(nid);
                    let installed = self.routes.slots[slot as usize].selected as usize == i;
                    self.push_event(Event::Route {
                        kind: RouteEventKind::Change,
                        prefix: key.prefix,
                        src_prefix: key.src_prefix,
                        neighbour,
                        ifindex,
                        router_id,
                        metric: self.routes.slots[slot as usize].entries[i].metric(),
                        refmetric: self.routes.slots[slot as usize].entries[i].refmetric,
                        installed,
                    });
                }
                let lone = self.routes.slots[slot as usize].entries.len() == 1 && before.is_some();
                if changed || satisfied || !lone {
                    self.route_changed(slot, before, satisfied);
                }
                if !feasible {
                    let u = (router_id, seqno, metric);
                    self.send_unfeasible_request(nid, key, slot, Some(src), u, false);
                }
            }
            None => {
                if refmetric == INFINITY {
                    self.routes.maybe_free(slot);
                    return;
                }
                if !feasible {
                    // RFC 8966 §3.5.3: an unfeasible update for a new entry is not kept.
                    let u = (router_id, seqno, metric);
                    self.send_unfeasible_request(nid, key, slot, src_id, u, false);
                    self.routes.maybe_free(slot);
                    return;
                }
                if self.sources.len() >= self.config.max_sources && src_id.is_none() {
                    self.stats.refuse(Limit::Sources);
                    self.routes.maybe_free(slot);
                    return;
                }
                let before = self.sel_info(slot);
                let src = match src_id {
                    Some(s) => s,
                    None => {
                        let routes = &mut self.routes;
                        let Some(s) = self.sources.create(router_id, slot, seqno, now, routes)
                        else {
                            // A new router-id while 65,536 are held (see `Interner`).
                            self.stats.refuse(Limit::Sources);
                            self.routes.maybe_free(slot);
                            return;
                        };
                        s
                    }
                };
                self.sources.retain(src);
                // RFC 8966 §3.6: the new entry's smoothed metric starts at its metric.
                let entry = RouteEntry::new(
                    nid, src, seqno, refmetric, cost, add_metric, hold_ms, channels, now,
                );
                let due = entry.sweep_at(now);
                if !self.routes.push_entry(slot, entry, router_id, next_hop) {
                    // A new router-id or next hop while 65,536 are held (see `Interner`).
                    self.stats.refuse(Limit::Routes);
                    self.sources.release(src);
                    self.routes.maybe_free(slot);
                    return;
                }
                self.sweep_at(slot, due);
                if self.config.route_events {
                    let (neighbour, ifindex) = self.neigh_at(nid);
                    self.push_event(Event::Route {
                        kind: RouteEventKind::Add,
                        prefix: key.prefix,
                        src_prefix: key.src_prefix,
                        neighbour,
                        ifindex,
                        router_id,
                        metric,
                        refmetric,
                        installed: false,
                    });
                }
                self.route_changed(slot, before, satisfied);
            }
        }
    }

    /// The refresh fast path of [`Node::apply_update`]: whether a feasible update of entry
    /// `i` of `slot` (with a finite metric, and satisfying no pending request) repeats
    /// what the entry holds, so that only its timers need to move: route selection, the
    /// triggered updates and the route events would all do nothing. That is when:
    /// - same router-id, seqno, refmetric, next hop, link cost, added metric and
    ///   diversity channels: the entry's metric and source are unchanged, so is what
    ///   would be announced (RFC 8966 §3.5.3: a feasible update then only refreshes the
    ///   route's timer; a new hold time, from a new interval, is taken);
    /// - the entry is not retracted (its refmetric is the update's, finite): a retracted
    ///   route coming back goes through selection (§3.5.4);
    /// - the destination is not one of our own, a route is selected with a finite metric
    ///   and no entry has a smaller metric: §3.6 (and `select`'s hysteresis) switches
    ///   only to a route with a smaller metric, and keeps the selected route while nothing
    ///   is better, so selection would keep it whatever the smoothed metrics, expiry or
    ///   feasibility of the others. The selection being the same, §3.7.2 asks for no
    ///   triggered update, and the feasibility distance (set when the route is announced,
    ///   §3.7.3) is untouched. An unfeasible update (§3.5.3's request for a new seqno), a
    ///   retraction, and one that satisfies a pending seqno request (§3.8.1.2, forwarded
    ///   urgently) never get here.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn refresh_only(
        &self,
        slot: u32,
        i: usize,
        (router_id, seqno, refmetric): (RouterId, u16, u16),
        next_hop: IpAddr,
        cost: u16,
        add_metric: u16,
        channels: [u8; diversity::KEPT_CHANNELS],
    ) -> bool {
        let s = &self.routes.slots[slot as usize];
        let e = &s.entries[i];
        if self.routes.router_id(e) != router_id
            || e.seqno != seqno
            || e.refmetric != refmetric
            || self.routes.next_hop(e) != next_hop
            || e.cost != cost
            || e.add_metric != add_metric
            || e.channels != channels
            || s.own()
        {
            return false;
        }
        let Some(sel) = s.selected() else {
            return false;
        };
        let cm = sel.metric();
        cm < INFINITY && s.entries.iter().all(|o| o.metric() >= cm)
    }

    /// Whether a feasible, unexpired entry of `slot` other than `except` has a metric
    /// below `metric`.
    fn better_alternative(&self, slot: u32, except: usize, metric: u16) -> bool {
        let now = self.now;
        self.routes.slots[slot as usize]
            .entries
            .iter()
            .enumerate()
            .any(|(j, e)| {
                j != except
                    && e.metric() < metric
                    && e.metric() < INFINITY
                    && now < e.expires(now)
                    && self.entry_feasible(e)
            })
    }

    fn retract_neighbour_routes(&mut self, nid: u32) {
        let now = self.now;
        for slot in self.routes.live_slots() {
            let Some(i) = self.routes.slots[slot as usize].find(nid) else {
                continue;
            };
            if self.routes.slots[slot as usize].entries[i].refmetric == INFINITY {
                continue;
            }
            let before = self.sel_info(slot);
            let e = &mut self.routes.slots[slot as usize].entries[i];
            e.refmetric = INFINITY;
            e.set_time(now);
            let due = e.sweep_at(now);
            self.sweep_at(slot, due);
            self.route_changed(slot, before, false);
        }
    }

    fn entry_feasible(&self, e: &RouteEntry) -> bool {
        self.sources
            .feasible(Some(e.src), e.seqno, e.refmetric, self.now, SOURCE_GC_TIME)
    }

    fn sel_info(&self, slot: u32) -> Option<SelInfo> {
        let s = self.routes.slots.get(slot as usize)?;
        debug_assert_eq!(s.own(), self.xroutes.contains_key(&self.routes.key(slot)));
        if s.own() {
            if let Some(x) = self.xroutes.get(&self.routes.key(slot)) {
                return Some(SelInfo {
                    router_id: self.id,
                    seqno: self.seqno,
                    metric: x.metric,
                    neigh: u32::MAX,
                    next_hop: None,
                });
            }
        }
        let e = s.selected()?;
        Some(SelInfo {
            router_id: self.routes.router_id(e),
            seqno: e.seqno,
            metric: e.metric(),
            neigh: e.neigh(),
            next_hop: Some(self.routes.next_hop(e)),
        })
    }

    /// RFC 8966 §3.6: route selection, with hysteresis: a route replaces the selected one
    /// only if its metric is smaller and its smoothed metric smaller by at least
    /// [`SWITCH_HYSTERESIS`] (babeld's strong ordering, with a margin so that a tiny gain
    /// does not switch, and routes that fluctuate do not flap).
    fn select(&mut self, slot: u32) {
        let now = self.now;
        let hl = self.config.smoothing_half_life;
        if self.routes.slots[slot as usize].own() {
            // Our own announcement wins over anything learned.
            self.routes.slots[slot as usize].selected = NONE;
            return;
        }
        let n = self.routes.slots[slot as usize].entries.len();
        let mut best: Option<(usize, u16, u16)> = None;
        // The entries of a destination mostly share one source: look it up once.
        let mut dist: Option<(u32, Option<Distance>)> = None;
        for i in 0..n {
            let e = &self.routes.slots[slot as usize].entries[i];
            let m = e.metric();
            // RFC 8966 §3.6: a route with infinite metric, or unfeasible, is never selected.
            if m == INFINITY || now >= e.expires(now) {
                continue;
            }
            let d = match dist {
                Some((src, d)) if src == e.src => d,
                _ => {
                    let d = self.sources.distance(e.src, now);
                    dist = Some((e.src, d));
                    d
                }
            };
            if !feasible_against(d, e.seqno, e.refmetric, SOURCE_GC_TIME) {
                continue;
            }
            let e = &mut self.routes.slots[slot as usize].entries[i];
            let sm = e.smoothed_metric(m, now, hl);
            let better = match best {
                None => true,
                Some((_, bm, bsm)) => (sm, m) < (bsm, bm),
            };
            if better {
                best = Some((i, m, sm));
            }
        }
        let s = &mut self.routes.slots[slot as usize];
        let cur = s.selected;
        let Some((bi, bm, bsm)) = best else {
            return; // keep whatever is selected (possibly a held, unreachable route)
        };
        if cur == NONE {
            s.selected = bi as u16;
            return;
        }
        if cur as usize == bi {
            return;
        }
        let cm = s.entries[cur as usize].metric();
        if cm == INFINITY {
            s.selected = bi as u16;
            return;
        }
        let csm = s.entries[cur as usize].smoothed_metric(cm, now, hl);
        if bm < cm && csm >= bsm.saturating_add(SWITCH_HYSTERESIS) {
            s.selected = bi as u16;
        }
    }

    /// Something changed in a slot: reselect, queue the route change, and send what §3.7.2
    /// asks for.
    fn route_changed(&mut self, slot: u32, before: Option<SelInfo>, satisfied: bool) {
        // If the selected route is now unusable, drop it so that select() can replace it.
        self.select(slot);
        let after = self.sel_info(slot);
        if before != after {
            self.queue_route(slot);
        }
        self.triggered_update(slot, before, after, satisfied);
    }

    /// RFC 8966 §3.7.2, with babeld's thresholds, for the destination of `slot` (whose key
    /// is only built when something is sent: most updates change nothing).
    fn triggered_update(
        &mut self,
        slot: u32,
        before: Option<SelInfo>,
        after: Option<SelInfo>,
        satisfied: bool,
    ) {
        let old_metric = before.map_or(INFINITY, |b| b.metric);
        match after {
            None
            | Some(SelInfo {
                metric: INFINITY, ..
            }) if old_metric < INFINITY => {
                // The route is lost and nothing feasible replaces it. RFC 8966 §3.7.2:
                // the retraction is sent urgently and reliably; §3.8.2.1: ask for a new
                // seqno at once to end the starvation.
                self.stats.sent.triggered(Trigger::Retraction);
                let key = self.routes.key(slot);
                self.send_update_all(key, true, true);
                if old_metric <= INFINITY / 2 {
                    if let Some(b) = before {
                        self.request_new_seqno(key, b.router_id, None);
                    }
                }
            }
            None => {}
            Some(a) => {
                let diff = a.metric.abs_diff(old_metric);
                // What to send: (urgent, `reliable` (with an Acknowledgment Request, RFC
                // 8966 §3.7.2), why), or nothing.
                let send = match before {
                    // A destination we had no route to is announced at once, as babeld
                    // does (`consider_route` sends a newly installed route urgently): each
                    // hop of a route's first propagation waits at most the urgent jitter,
                    // not the 0.5 s of other triggered updates. It is sent once per
                    // destination and node, so it adds packets only while routes appear.
                    None => Some((true, false, Trigger::New)),
                    Some(b) if b.router_id != a.router_id => Some((true, true, Trigger::Switch)),
                    Some(b) if b.metric < INFINITY && a.metric == INFINITY => {
                        Some((true, true, Trigger::Retraction))
                    }
                    Some(b) if a.metric > b.metric && b.metric < 6 * 256 && diff >= 512 => {
                        Some((true, false, Trigger::Worse))
                    }
                    _ if satisfied => Some((true, false, Trigger::Satisfied)),
                    Some(b) if b.metric == INFINITY && a.metric < INFINITY => {
                        Some((false, false, Trigger::New))
                    }
                    // A newer seqno from the same source is passed on at once, though not
                    // urgently. RFC 8966 §3.7.2 says SHOULD NOT ("except to satisfy a
                    // request"), and babeld waits for the periodic dump; measured on
                    // grid-1000-churn (docs/simulator.md), waiting left 19 of 62 churn
                    // events unconverged instead of 4 and doubled the p95 convergence
                    // (86 s against 49 s): the new seqno is what makes the alternatives
                    // of nodes that did not ask for it feasible again.
                    Some(b) if seqno_newer(a.seqno, b.seqno) && a.metric < INFINITY => {
                        Some((false, false, Trigger::Seqno))
                    }
                    Some(b) if a.metric < b.metric && diff < 1024 => None,
                    _ if diff < 384 => None,
                    _ => Some((
                        false,
                        false,
                        Trigger::Change {
                            better: a.metric < old_metric,
                        },
                    )),
                };
                if let Some((urgent, reliable, why)) = send {
                    self.stats.sent.triggered(why);
                    self.send_update_all(self.routes.key(slot), urgent, reliable);
                }
                if let Some(b) = before {
                    if b.metric < INFINITY
                        && a.metric < INFINITY
                        && a.metric as u32 >= b.metric as u32 + 512
                    {
                        self.request_new_seqno(self.routes.key(slot), a.router_id, None);
                    }
                }
            }
        }
    }

    /// babeld's rule for an unfeasible update: ask its source for a new seqno when the
    /// update would be useful (no route, or a much better one).
    /// `slot` is the key's slot and `src` the index of the update's source (router-id and
    /// key) if there is one: the caller has them at hand.
    fn send_unfeasible_request(
        &mut self,
        nid: u32,
        key: RouteKey,
        slot: u32,
        src: Option<u32>,
        (router_id, seqno, metric): (RouterId, u16, u16),
        force: bool,
    ) {
        debug_assert_eq!(Some(slot), self.routes.find(&key));
        debug_assert_eq!(src, self.sources.find(router_id, slot, &self.routes));
        let Some(src) = src.and_then(|s| self.sources.get(s)) else {
            return;
        };
        if crate::neighbour::seqno_minus(src.seqno, seqno) > 100 {
            // A source that lost its seqno (babeld lets its routes time out). Tell the
            // sender the seqno we know, in a retraction with the source's router-id: if the
            // sender is the source, it resumes after it (`resume_seqno`); to anyone else it
            // is the truth, as it is only sent when our route goes through the sender or we
            // have none (a poisoned reverse).
            let fd_seqno = src.seqno;
            let sel = self.sel_info(slot);
            if sel.is_none_or(|i| i.neigh == nid || i.metric == INFINITY) {
                self.send_retraction_to(nid, key, router_id, fd_seqno);
            }
            return;
        }
        let want = if src.metric == INFINITY {
            src.seqno
        } else {
            src.seqno.wrapping_add(1)
        };
        let installed = self.sel_info(slot);
        let useful = force || installed.is_none_or(|i| i.metric as u32 >= metric as u32 + 512);
        if useful && metric < INFINITY {
            self.request_seqno(key, router_id, want, REQUEST_HOP_COUNT, Some(nid), None);
        }
    }

    /// A unicast retraction of `key` to one neighbour, with the given source and seqno.
    fn send_retraction_to(&mut self, nid: u32, key: RouteKey, router_id: RouterId, seqno: u16) {
        let Some((ifindex, addr)) = self.neigh(nid).map(|n| (n.ifindex, n.addr)) else {
            return;
        };
        let Some(iface) = self.interfaces.get(&ifindex) else {
            return;
        };
        let Some(next_hop) = update_next_hop(iface, &key) else {
            return;
        };
        let tlv = Tlv::Update(Update {
            flags: 0,
            interval: to_cs(iface.config.update_interval()),
            seqno,
            metric: INFINITY,
            prefix: Some(key.prefix),
            src_prefix: key.src_prefix,
            router_id: Some(router_id),
            next_hop,
            unknown_subtlvs: Vec::new(),
        });
        self.queue_control(ifindex, Some(addr), tlv, true);
    }

    /// RFC 8966 §3.8.2.1: ask every neighbour for a seqno newer than our feasibility
    /// distance for this source.
    fn request_new_seqno(&mut self, key: RouteKey, router_id: RouterId, target: Option<u32>) {
        let want = match self
            .routes
            .find(&key)
            .and_then(|slot| self.sources.find(router_id, slot, &self.routes))
            .and_then(|s| self.sources.get(s))
        {
            Some(s) if s.metric == INFINITY => s.seqno,
            Some(s) => s.seqno.wrapping_add(1),
            None => return,
        };
        self.request_seqno(key, router_id, want, REQUEST_HOP_COUNT, target, None);
    }

    fn request_seqno(
        &mut self,
        key: RouteKey,
        router_id: RouterId,
        seqno: u16,
        hop_count: u8,
        target: Option<u32>,
        requester: Option<u32>,
    ) {
        if self.requests.is_duplicate(&key, router_id, seqno) {
            // RFC 8966 §3.8.1.2: not twice. But a request that went to one neighbour only (a
            // forwarded one, whose successor may be the very route that is failing) is
            // widened to every neighbour when we need it ourselves (babeld does the same).
            if target.is_none() {
                if let Some(p) = self.requests.pending.get_mut(&key) {
                    if p.target.is_some() {
                        p.target = None;
                        p.hop_count = p.hop_count.max(hop_count);
                        let (id, s, hc) = (p.router_id, p.seqno, p.hop_count);
                        self.emit_seqno_request(key, id, s, hc, None);
                    }
                }
            }
            return;
        }
        if self.requests.pending.len() >= self.config.max_pending_requests
            && !self.requests.pending.contains_key(&key)
        {
            self.stats.refuse(Limit::PendingRequests);
            return;
        }
        let now = self.now;
        self.requests.pending.insert(
            key,
            Pending {
                router_id,
                seqno,
                hop_count,
                target,
                requester,
                resends_left: REQUEST_RESENDS,
                delay: REQUEST_TIMEOUT,
                next: now + REQUEST_TIMEOUT,
            },
        );
        if requester.is_some() {
            self.stats.sent.seqno_requests_forwarded += 1;
        } else {
            self.stats.sent.seqno_requests += 1;
        }
        self.emit_seqno_request(key, router_id, seqno, hop_count, target);
        self.timers
            .set_earlier(TimerKey::Resend, now + REQUEST_TIMEOUT);
    }

    fn emit_seqno_request(
        &mut self,
        key: RouteKey,
        router_id: RouterId,
        seqno: u16,
        hop_count: u8,
        target: Option<u32>,
    ) {
        let tlv = Tlv::SeqnoRequest(SeqnoRequest {
            seqno,
            hop_count,
            router_id,
            prefix: key.prefix,
            src_prefix: key.src_prefix,
            unknown_subtlvs: Vec::new(),
        });
        match target
            .and_then(|n| self.neigh(n))
            .map(|n| (n.ifindex, n.addr))
        {
            Some((ifindex, addr)) => self.queue_control(ifindex, Some(addr), tlv, true),
            None => {
                let ifs: Vec<u32> = self.interfaces.keys().copied().collect();
                for i in ifs {
                    self.queue_control(i, None, tlv.clone(), true);
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------
    // Requests
    // ------------------------------------------------------------------------------------

    fn handle_route_request(
        &mut self,
        nid: u32,
        ifindex: u32,
        src: Ipv6Addr,
        multicast: bool,
        r: &RouteRequest,
    ) {
        let key = r.prefix.map(|p| RouteKey::new(p, r.src_prefix));
        // Requests for prefixes we do not know are answered with retractions; bound how many
        // may wait for the next flush.
        let known =
            key.is_none_or(|k| self.xroutes.contains_key(&k) || self.routes.find(&k).is_some());
        let max_neighbours = self.config.max_neighbours;
        let since = self.neigh(nid).map(|n| n.since);
        let now = self.now;
        let Some(i) = self.interfaces.get_mut(&ifindex) else {
            return;
        };
        if key.is_none() {
            self.stats.sent.wildcard_requests += 1;
            // Booting many nodes at once makes a storm of full dumps: every node asks
            // each new neighbour for one. A wildcard request from a neighbour that was
            // there when a full dump went to the group, less than a hello interval ago,
            // is already answered (babeld ignores any wildcard request within a hello
            // interval of a full dump; we still answer a neighbour that came up since).
            let window = i.config.hello_interval.max(Duration::from_secs(1));
            if let (Some(t), Some(since)) = (i.last_dump, since) {
                if t >= since && now - t < window {
                    self.stats.sent.wildcard_requests_ignored += 1;
                    return;
                }
            }
        }
        // RFC 8966 §3.8.1.1: the reply goes over unicast or multicast; a request sent to us
        // alone is answered to the requester alone, one sent to the group to the group.
        let out = &mut i.out;
        let (full_dump, keys) = if multicast {
            (&mut out.full_dump, None)
        } else {
            if !out.unicast_updates.contains_key(&src)
                && out.unicast_updates.len() >= max_neighbours
            {
                self.stats.refuse(Limit::OutputBuffers);
                return;
            }
            let u = out.unicast_updates.entry(src).or_default();
            (&mut u.full_dump, Some(&mut u.keys))
        };
        let waiting = keys.as_ref().map_or(out.updates.len(), |k| k.len());
        match key {
            // RFC 8966 §3.8.1.1: a wildcard request is answered with a full dump.
            None => *full_dump = true,
            // RFC 8966 §3.8.1.1: a specific request is answered with an update for that
            // prefix, or a retraction when we have no route.
            Some(k) if known || waiting < 4096 => match keys {
                Some(keys) => {
                    keys.insert(k);
                }
                None => out.updates.insert(k, &mut self.routes),
            },
            Some(_) => self.stats.refuse(Limit::OutputBuffers),
        }
        self.schedule_flush(ifindex, false);
    }

    fn handle_seqno_request(&mut self, nid: u32, ifindex: u32, _src: Ipv6Addr, r: &SeqnoRequest) {
        let key = RouteKey::new(r.prefix, r.src_prefix);
        if self.xroutes.contains_key(&key) {
            // RFC 8966 §3.8.1.2: a request for one of our own prefixes with our router-id
            // and a newer seqno makes us increase our seqno; either way we answer.
            if r.router_id == self.id && seqno_newer(r.seqno, self.seqno) {
                self.bump_seqno();
                self.send_update_all(key, true, true);
            } else if let Some(i) = self.interfaces.get_mut(&ifindex) {
                i.out.updates.insert(key, &mut self.routes);
                self.schedule_flush(ifindex, true);
            }
            return;
        }
        let Some(slot) = self.routes.find(&key) else {
            return; // RFC 8966 §3.8.1.2: no route, no answer.
        };
        let sel = self.sel_info(slot).filter(|s| s.metric < INFINITY);
        if let Some(sel) = sel {
            if sel.router_id != r.router_id || !seqno_newer(r.seqno, sel.seqno) {
                // RFC 8966 §3.8.1.2: our route already satisfies the request: send an update.
                if let Some(i) = self.interfaces.get_mut(&ifindex) {
                    i.out.updates.insert_slot(slot, &mut self.routes);
                }
                self.schedule_flush(ifindex, true);
                return;
            }
        }
        // RFC 8966 §3.8.1.2: otherwise, if the router-id is not ours and the hop count is 2
        // or more, forward it with the hop count decreased to a neighbour that advertises
        // the prefix, other than the requester: our successor if it is one. If it is the
        // requester, or we have no usable route (ours was retracted or unselected, which is
        // when a request is needed most), the best other finite route. The RFC allows that
        // route to be unfeasible ("not necessarily a feasible one"), and babeld takes one; we
        // do only while we have no usable route. With a usable route, only a feasible one:
        // forwarding over unfeasible ones then too raised the black holes of
        // grid-1000-churn by 13-63 % over three seeds (docs/simulator.md, "Seqno requests
        // over unfeasible routes"). Not when the same request is already outstanding
        // (`request_seqno`).
        if r.hop_count < 2 || r.router_id == self.id {
            return;
        }
        let target = match sel {
            Some(s) if s.neigh != nid => s.neigh,
            _ => {
                let alt = self.routes.slots[slot as usize]
                    .entries
                    .iter()
                    .filter(|e| {
                        e.neigh() != nid
                            && e.metric() < INFINITY
                            && (sel.is_none() || self.entry_feasible(e))
                    })
                    .min_by_key(|e| e.metric())
                    .map(|e| e.neigh());
                match alt {
                    Some(a) => a,
                    None => return,
                }
            }
        };
        self.request_seqno(
            key,
            r.router_id,
            r.seqno,
            r.hop_count - 1,
            Some(target),
            Some(nid),
        );
    }

    // ------------------------------------------------------------------------------------
    // Output
    // ------------------------------------------------------------------------------------

    fn queue_control(&mut self, ifindex: u32, unicast: Option<Ipv6Addr>, tlv: Tlv, urgent: bool) {
        let Some(i) = self.interfaces.get_mut(&ifindex) else {
            return;
        };
        let q = match unicast {
            Some(a) => {
                if !i.out.unicast.contains_key(&a)
                    && i.out.unicast.len() >= self.config.max_neighbours
                {
                    self.stats.refuse(Limit::OutputBuffers);
                    return;
                }
                i.out.unicast.entry(a).or_default()
            }
            None => &mut i.out.control,
        };
        if q.len() >= 4096 {
            self.stats.refuse(Limit::OutputBuffers);
            return;
        }
        q.push(tlv);
        self.schedule_flush(ifindex, urgent);
    }

    /// Queues an update for `key` on every interface. Urgent ones go out within 20 ms;
    /// `reliable` ones with an Acknowledgment Request, and again to every neighbour that
    /// does not acknowledge them (RFC 8966 §3.7.2 asks for retractions and router-id
    /// changes to be sent reliably; babeld repeats them blindly instead).
    fn send_update_all(&mut self, key: RouteKey, urgent: bool, reliable: bool) {
        let slot = if reliable {
            None
        } else {
            self.routes.find(&key)
        };
        let mut next = self.interfaces.keys().next().copied();
        while let Some(i) = next {
            if let Some(iface) = self.interfaces.get_mut(&i) {
                if reliable {
                    iface.out.reliable.insert(key);
                } else if let Some(s) = slot {
                    iface.out.updates.insert_slot(s, &mut self.routes);
                } else {
                    iface.out.updates.keys.insert(key);
                }
            }
            self.schedule_flush(i, urgent);
            next = self
                .interfaces
                .range(i.saturating_add(1)..)
                .next()
                .map(|(k, _)| *k)
                .filter(|&k| k > i);
        }
    }

    fn schedule_flush(&mut self, ifindex: u32, urgent: bool) {
        let Some(i) = self.interfaces.get(&ifindex) else {
            return;
        };
        let max = if urgent {
            URGENT_JITTER
        } else {
            (i.config.hello_interval / 4).min(Duration::from_millis(500))
        };
        // Already due soon enough: nothing to move (and no random draw).
        if self
            .timers
            .get(TimerKey::Flush(ifindex))
            .is_some_and(|t| t <= self.now + max)
        {
            return;
        }
        let at = self.now + self.rng.between(Duration::ZERO, max);
        self.timers.set_earlier(TimerKey::Flush(ifindex), at);
    }

    fn make_ihu(&self, nid: u32, ifindex: u32) -> Option<Tlv> {
        let n = self.neigh(nid)?;
        let iface = self.interfaces.get(&ifindex)?;
        let c = &iface.config;
        let rxcost = n.rxcost(c.cost_kind(), c.nominal_cost());
        // RFC 9616 §3.1: echo the last timestamped hello; not one older than 1,000 s (a
        // neighbour that stopped sending timestamps), as babeld.
        let now = self.now;
        let timestamps = if c.timestamps() {
            n.hello_ts
                .filter(|&(_, at)| now - at < Duration::from_secs(1000))
                .map(|(origin, at)| IhuTimestamps {
                    origin,
                    receive: at.as_micros() as u32,
                })
        } else {
            None
        };
        Some(Tlv::Ihu(Ihu {
            rxcost,
            // RFC 8966 Appendix B: the advertised IHU interval is 3 × the hello interval.
            interval: to_cs(c.hello_interval * 3),
            addr: Some(IpAddr::V6(n.addr)),
            timestamps,
            unknown_subtlvs: Vec::new(),
        }))
    }

    /// The hello timer of `ifindex` fired: its hello goes, and with it those of the other
    /// interfaces with the same hello interval that are due within a quarter of it (a
    /// little early, as jitter would have it), so that the node wakes up once for all of
    /// them. They are all due again at the same time, with the same jitter.
    fn hello_round(&mut self, ifindex: u32) {
        let Some(c) = self
            .interfaces
            .get(&ifindex)
            .map(|i| i.config.hello_interval)
        else {
            return;
        };
        let soon = self.now + c / 4;
        let others: Vec<u32> = self
            .interfaces
            .iter()
            .filter(|(&j, i)| {
                j != ifindex
                    && i.config.hello_interval == c
                    && self
                        .timers
                        .get(TimerKey::Hello(j))
                        .is_some_and(|t| t <= soon)
            })
            .map(|(&j, _)| j)
            .collect();
        let next = roughly(&mut self.rng, c);
        self.send_hello(ifindex, next);
        for j in others {
            self.send_hello(j, next);
        }
    }

    /// Sends a multicast hello (with IHUs, and the periodic dump when it is due soon) on
    /// `ifindex`; the next one is due `next` from now.
    fn send_hello(&mut self, ifindex: u32, next: Duration) {
        let now = self.now;
        let Some(iface) = self.interfaces.get_mut(&ifindex) else {
            return;
        };
        let c = iface.config.clone();
        iface.hello_seqno = iface.hello_seqno.wrapping_add(1);
        iface.hellos_sent = iface.hellos_sent.wrapping_add(1);
        let seqno = iface.hello_seqno;
        let count = iface.hellos_sent;
        let ts = c.timestamps().then_some(now.as_micros() as u32);
        // RFC 8966 §3.4.1: a scheduled multicast hello every hello interval.
        iface.out.control.insert(
            0,
            Tlv::Hello(Hello {
                flags: 0,
                seqno,
                interval: to_cs(c.hello_interval),
                timestamp: ts,
                unknown_subtlvs: Vec::new(),
            }),
        );
        // RFC 8966 Appendix B: IHUs go with every hello on lossy links and with every
        // third one on lossless links.
        for nid in self.neighbours_of(ifindex) {
            let lossy = c.cost_kind() == CostKind::Etx
                || self
                    .neigh(nid)
                    .is_some_and(|n| n.reach() & 0xE000 != 0xE000);
            if lossy || count % 3 == 1 || c.timestamps() {
                if let Some(ihu) = self.make_ihu(nid, ifindex) {
                    let addr = self.neigh(nid).map(|n| n.addr);
                    if let Some(i) = self.interfaces.get_mut(&ifindex) {
                        i.out.control.push(ihu);
                        // An IHU still queued for this neighbour alone (the one that
                        // answers its first hello) is older than this one and would go
                        // out after it, in the unicast packet: the neighbour would take
                        // its older rxcost last and see its link cost jump up for a hello
                        // interval (RFC 8966 §3.4.2 keeps the last IHU's rxcost).
                        if let Some(q) = addr.and_then(|a| i.out.unicast.get_mut(&a)) {
                            q.retain(|t| !matches!(t, Tlv::Ihu(_)));
                        }
                    }
                }
            }
            if c.unicast_hellos {
                let Some((addr, hello)) = self.unicast_hello(nid, to_cs(c.hello_interval), ts)
                else {
                    continue;
                };
                self.queue_control(ifindex, Some(addr), hello, false);
            }
        }
        // RFC 8966 §4: a node SHOULD maximise the size of its packets (fewer of them). The
        // periodic full dump due before the next hello goes with this one (a little early:
        // routes are refreshed before their neighbours' timers run out, never later), and
        // the one after it is due an update interval after this one was: one packet per
        // hello at rest, and no wake-up of its own. The first dump after start, or when
        // hellos are far apart, goes at its own time.
        let d = c.update_interval();
        if let Some(due) = self.timers.get(TimerKey::Update(ifindex)) {
            let dumped = self.interfaces.get(&ifindex).is_some_and(|i| i.dumped);
            if dumped && due <= now + next.min(d / 2) {
                if let Some(i) = self.interfaces.get_mut(&ifindex) {
                    i.out.full_dump = true;
                    i.out.periodic = true;
                }
                let after = roughly(&mut self.rng, d);
                self.timers.set(TimerKey::Update(ifindex), due + after);
            }
        }
        self.flush(ifindex);
        self.timers.set(TimerKey::Hello(ifindex), now + next);
    }

    /// The update this node would send for `key` on `iface`, if any, and the source of the
    /// learned route it announces. `slot` is the key's slot when the caller knows it.
    fn make_update(
        &self,
        iface: &Interface,
        key: &RouteKey,
        slot: Option<u32>,
    ) -> Option<(Update, Option<u32>)> {
        let xroute = match slot {
            // A known slot says whether the key is ours without searching the xroutes.
            Some(s) if !self.routes.slots[s as usize].own() => None,
            _ => self.xroutes.get(key),
        };
        let div = self.config.diversity;
        let mut subtlvs = Vec::new();
        let mut src = None;
        let (router_id, seqno, mut metric, via) = if let Some(x) = xroute {
            subtlvs.extend(div.subtlv(None));
            (self.id, self.seqno, x.metric, None)
        } else if let Some(e) = slot
            .or_else(|| self.routes.find(key))
            .and_then(|s| self.routes.slots[s as usize].selected())
        {
            let id = self.routes.router_id(e);
            src = Some(e.src);
            let via = self.neigh(e.neigh()).map(|n| n.ifindex);
            let mut metric = e.metric();
            // babeld's diversity routing: cheaper through an interface that does not
            // interfere with the one the route came from.
            if let Some(learned) = via.and_then(|i| self.interfaces.get(&i)) {
                let r = diversity::RouteChannels {
                    ifindex: learned.ifindex,
                    channel: learned.config.channel(),
                    history: &e.channels,
                };
                if !div.interferes(&r, (iface.ifindex, iface.config.channel())) {
                    metric = div.noninterfering_metric(e.refmetric, e.cost, e.add_metric);
                }
                subtlvs.extend(div.subtlv(Some(&r)));
            }
            (id, e.seqno, metric, via)
        } else {
            (self.id, self.seqno, INFINITY, None)
        };
        // RFC 8966 §3.7.4: split horizon on links where it is enabled.
        if metric < INFINITY && via == Some(iface.ifindex) && iface.config.split_horizon() {
            return None;
        }
        if metric < INFINITY && !self.config.filters.output.is_empty() {
            let r = filter::apply(
                &self.config.filters.output,
                &FilterInput {
                    prefix: Some(key.prefix),
                    src_prefix: key.src_prefix,
                    router_id: Some(router_id),
                    ifname: Some(iface.name.as_str()),
                    ..Default::default()
                },
                true,
            );
            if !r.allow {
                return None;
            }
            metric = (metric as u32 + r.metric.unwrap_or(0) as u32).min(INFINITY as u32) as u16;
        }
        let next_hop = update_next_hop(iface, key)?;
        Some((
            Update {
                flags: 0,
                interval: to_cs(iface.config.update_interval()),
                seqno,
                metric,
                prefix: Some(key.prefix),
                src_prefix: key.src_prefix,
                router_id: Some(router_id),
                next_hop,
                unknown_subtlvs: if metric < INFINITY {
                    subtlvs
                } else {
                    Vec::new()
                },
            },
            src,
        ))
    }

    /// Sends everything buffered for an interface.
    fn flush(&mut self, ifindex: u32) {
        self.timers.cancel(TimerKey::Flush(ifindex));
        let Some(iface) = self.interfaces.get_mut(&ifindex) else {
            return;
        };
        let mut out = std::mem::take(&mut iface.out);
        let Some(src) = iface.link_local else {
            // Nothing can be sent without a link-local address; keep nothing.
            out.updates.release(&mut self.routes);
            return;
        };
        if out.unicast_updates.values().filter(|u| u.full_dump).count() >= 2 {
            // Several neighbours asked for a full dump: one to the group serves them all.
            out.full_dump = true;
        }
        let iface = &self.interfaces[&ifindex];
        let max = max_payload_for_mtu(iface.mtu);
        let unicast = iface.config.unicast;
        let mut enc = Encoder::new(max, Some(src));
        // With `unicast`, all but the hello goes in `copies`, sent to each neighbour; an
        // IHU only to the neighbour it is about.
        let mut copies = Encoder::new(max, Some(src));
        for t in std::mem::take(&mut out.control) {
            let e = match &t {
                Tlv::Hello(_) => &mut enc,
                _ if !unicast => &mut enc,
                Tlv::Ihu(Ihu {
                    addr: Some(IpAddr::V6(a)),
                    ..
                }) => {
                    out.unicast.entry(*a).or_default().push(t);
                    continue;
                }
                _ => &mut copies,
            };
            if e.push(&t).is_err() {
                self.stats.tlvs_ignored += 1;
            }
        }
        let pending = std::mem::take(&mut out.updates);
        let keys: Vec<RouteKey> = pending.keys.iter().copied().collect();
        // Those in `reliable` are sent below, with an Acknowledgment Request.
        let sent = self.push_sorted(
            ifindex,
            if unicast { &mut copies } else { &mut enc },
            out.full_dump,
            Some(&pending),
            keys,
            &out.reliable,
        );
        if out.full_dump {
            if let Some(i) = self.interfaces.get_mut(&ifindex) {
                i.last_dump = Some(self.now);
            }
        }
        let st = &mut self.stats.sent;
        match (out.full_dump, out.periodic) {
            (true, true) => st.dump_updates += sent,
            (true, false) => st.requested_dump_updates += sent,
            (false, _) => st.single_updates += sent,
        }
        pending.release(&mut self.routes);
        for p in enc.finish() {
            self.enqueue(ifindex, wire::MULTICAST_GROUP, Some(src), p);
        }
        let copied = copies.finish();
        let neighbours = if unicast {
            self.neighbours_of(ifindex)
        } else {
            Vec::new()
        };
        for p in &copied {
            for &n in &neighbours {
                if let Some(addr) = self.neigh(n).map(|nb| nb.addr) {
                    self.enqueue(ifindex, addr, Some(src), p.clone());
                }
            }
        }
        self.flush_unicast(
            ifindex,
            src,
            out.unicast,
            out.unicast_updates,
            out.full_dump,
        );
        if !out.reliable.is_empty() {
            let mut keys: Vec<RouteKey> = out.reliable.into_iter().collect();
            keys.sort_unstable();
            if unicast {
                for n in neighbours {
                    self.send_reliable(ifindex, Some(n), &keys, 0, ACK_TIMEOUT);
                }
            } else {
                self.send_reliable(ifindex, None, &keys, 0, ACK_TIMEOUT);
            }
        }
    }

    /// The neighbours heard on `ifindex`, in a stable order.
    fn neighbours_of(&self, ifindex: u32) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .neigh_index
            .iter()
            .filter(|((i, _), _)| *i == ifindex)
            .map(|(_, &n)| n)
            .collect();
        v.sort_unstable();
        v
    }

    /// Sends what is buffered for single neighbours of an interface: control TLVs, then the
    /// updates that answer their unicast route requests (RFC 8966 §3.8.1.1), in prefix order.
    /// A full dump asked for alone is not sent when the group has just been sent one
    /// (`dumped`).
    fn flush_unicast(
        &mut self,
        ifindex: u32,
        src: Ipv6Addr,
        mut control: BTreeMap<Ipv6Addr, Vec<Tlv>>,
        mut replies: BTreeMap<Ipv6Addr, UnicastUpdates>,
        dumped: bool,
    ) {
        let Some(iface) = self.interfaces.get(&ifindex) else {
            return;
        };
        let max = max_payload_for_mtu(iface.mtu);
        let mut addrs: Vec<Ipv6Addr> = control.keys().chain(replies.keys()).copied().collect();
        addrs.sort_unstable();
        addrs.dedup();
        let mut packets: Vec<(Ipv6Addr, Vec<u8>)> = Vec::new();
        let none = FxHashSet::default();
        for addr in addrs {
            let mut enc = Encoder::new(max, Some(src));
            let mut tlvs = control.remove(&addr).unwrap_or_default();
            // RFC 9616 §3.1: an RTT sample is taken from an IHU's timestamps and a
            // timestamped Hello of the same packet. An IHU sent alone to its neighbour (the
            // answer to a new neighbour's first hello, or every IHU with `unicast`) gets an
            // unscheduled unicast Hello in front of it, as babeld does.
            let timed_ihu = |t: &Tlv| matches!(t, Tlv::Ihu(i) if i.timestamps.is_some());
            if tlvs.iter().any(timed_ihu) && !tlvs.iter().any(|t| matches!(t, Tlv::Hello(_))) {
                let ts = Some(self.now.as_micros() as u32);
                let nid = self.neigh_index.get(&(ifindex, addr)).copied();
                // Interval 0: an unscheduled hello.
                if let Some((_, h)) = nid.and_then(|n| self.unicast_hello(n, 0, ts)) {
                    tlvs.insert(0, h);
                }
            }
            for t in tlvs {
                if enc.push(&t).is_err() {
                    self.stats.tlvs_ignored += 1;
                }
            }
            if let Some(r) = replies.remove(&addr) {
                let keys: Vec<RouteKey> = r.keys.into_iter().collect();
                let full = r.full_dump && !dumped;
                let sent = self.push_sorted(ifindex, &mut enc, full, None, keys, &none);
                if full {
                    self.stats.sent.requested_dump_updates += sent;
                } else {
                    self.stats.sent.single_updates += sent;
                }
            }
            packets.extend(enc.finish().into_iter().map(|p| (addr, p)));
        }
        for (addr, p) in packets {
            self.enqueue(ifindex, addr, Some(src), p);
        }
    }

    /// The next unicast Hello to neighbour `nid` (RFC 8966 §3.4.1: in its own seqno
    /// sequence), with `interval` in centiseconds (0: unscheduled) and timestamp `ts`; and
    /// the neighbour's address.
    fn unicast_hello(
        &mut self,
        nid: u32,
        interval: u16,
        ts: Option<u32>,
    ) -> Option<(Ipv6Addr, Tlv)> {
        let n = self.neigh_mut(nid)?;
        n.uhello_seqno = n.uhello_seqno.wrapping_add(1);
        let hello = Tlv::Hello(Hello {
            flags: HELLO_FLAG_UNICAST,
            seqno: n.uhello_seqno,
            interval,
            timestamp: ts,
            unknown_subtlvs: Vec::new(),
        });
        Some((n.addr, hello))
    }

    /// Pushes the updates of a flush in prefix order (see DESIGN.md: babeld degrades badly
    /// on shuffled input), each destination once: the slots marked in `pending`, `keys`,
    /// and for a `full` dump our own prefixes and every selected route; none of `skip`.
    /// What is sent is recorded as advertised. The destinations are taken as slot numbers
    /// sorted by key and made into updates a chunk at a time, so that a flush of the whole
    /// table holds 4 bytes per destination beyond the packets themselves.
    fn push_sorted(
        &mut self,
        ifindex: u32,
        enc: &mut Encoder,
        full: bool,
        pending: Option<&PendingUpdates>,
        mut keys: Vec<RouteKey>,
        skip: &FxHashSet<RouteKey>,
    ) -> u64 {
        const CHUNK: usize = 256;
        let mut slots: Vec<u32> = match pending {
            Some(p) if !full => p.marked_slots().collect(),
            _ if !full => Vec::new(),
            _ => {
                // A selected entry means a live slot (freed slots have no entries).
                let dumped = |(i, s): &(usize, &crate::route::Slot)| {
                    s.selected().is_some() || pending.is_some_and(|p| p.has_slot(*i as u32))
                };
                let n = self.routes.slots.iter().enumerate().filter(dumped).count();
                let mut v = Vec::with_capacity(n);
                let it = self.routes.slots.iter().enumerate().filter(dumped);
                v.extend(it.map(|(i, _)| i as u32));
                keys.extend(self.xroutes.keys().copied());
                v
            }
        };
        self.routes.sort_slots(&mut slots);
        keys.sort_unstable();
        let (mut a, mut b) = (0, 0);
        let mut chunk: Vec<(RouteKey, Option<u32>)> = Vec::with_capacity(CHUNK);
        let mut advertised = Vec::with_capacity(CHUNK);
        let mut last = None;
        let mut sent = 0;
        loop {
            // The smaller of the next slot's key and the next key; a slot first on a tie.
            let next = match (slots.get(a), keys.get(b)) {
                (None, None) => None,
                (Some(&s), k) => {
                    let sk = self.routes.key(s);
                    match k {
                        Some(&k) if k < sk => {
                            b += 1;
                            Some((k, None))
                        }
                        _ => {
                            a += 1;
                            Some((sk, Some(s)))
                        }
                    }
                }
                (None, Some(&k)) => {
                    b += 1;
                    Some((k, None))
                }
            };
            if let Some((k, s)) = next {
                if last == Some(k) || skip.contains(&k) {
                    continue;
                }
                last = Some(k);
                chunk.push((k, s));
                if chunk.len() < CHUNK {
                    continue;
                }
            }
            let iface = &self.interfaces[&ifindex];
            self.stats.tlvs_ignored += self.push_updates(iface, enc, &chunk, &mut advertised);
            sent += advertised.len() as u64;
            self.note_advertised(advertised.drain(..));
            chunk.clear();
            if next.is_none() {
                break;
            }
        }
        sent
    }

    /// Pushes the updates for `keys` (in that order; with the key's slot when the caller
    /// knows it) and records what they advertise. Returns how many could not be encoded.
    fn push_updates(
        &self,
        iface: &Interface,
        enc: &mut Encoder,
        keys: &[(RouteKey, Option<u32>)],
        advertised: &mut Vec<Advertised>,
    ) -> u64 {
        let mut ignored = 0;
        for batch in keys.chunks(WARM_BATCH) {
            self.warm_dump(batch);
            for (k, slot) in batch {
                let Some((u, src)) = self.make_update(iface, k, *slot) else {
                    continue;
                };
                let (id, seqno, metric) = (u.router_id.unwrap_or(self.id), u.seqno, u.metric);
                if enc.push(&Tlv::Update(u)).is_ok() {
                    advertised.push((id, *k, seqno, metric, src, *slot));
                } else {
                    ignored += 1;
                }
            }
        }
        ignored
    }

    /// Asks the memory system, without changing anything, for the slots of `keys`, their
    /// entries and the selected entries' sources, which the dump is about to read one
    /// after the other (in stages, as [`Node::warm`]). Only a matter of speed.
    fn warm_dump(&self, keys: &[(RouteKey, Option<u32>)]) {
        for &(_, slot) in keys {
            if let Some(s) = slot {
                self.routes.slots.prefetch(s as usize);
            }
        }
        for &(_, slot) in keys {
            if let Some(s) = slot {
                self.routes.prefetch_entries(s);
            }
        }
        let mut srcs = [u32::MAX; WARM_BATCH];
        for (&(_, slot), src) in keys.iter().zip(srcs.iter_mut()) {
            let e = slot
                .and_then(|s| self.routes.slots.get(s as usize))
                .and_then(|s| s.selected());
            if let Some(e) = e {
                *src = e.src;
            }
        }
        self.warm_sources(&srcs);
    }

    /// RFC 8966 §3.7.3: advertising an update sets the feasibility distance (our own
    /// prefixes need none: updates with our router-id are not routes on receipt).
    fn note_advertised(&mut self, advertised: impl IntoIterator<Item = Advertised>) {
        let now = self.now;
        for (id, k, seqno, metric, src, slot) in advertised {
            if id == self.id {
                continue;
            }
            // The slot that holds the advertised route's source, or else its destination's
            // slot (sources are only of learned destinations, which have one).
            let slot = match (src, slot) {
                (Some(s), Some(slot)) if self.sources.get(s).is_some() => Some(slot),
                _ => self.routes.find(&k),
            };
            if let Some(slot) = slot {
                self.sources
                    .note_advertised(id, slot, seqno, metric, now, src, &mut self.routes);
            }
        }
    }

    /// RFC 8966 §3.3, §3.7.2: sends the updates for `keys` on `ifindex`, to the group
    /// (`target` None) or to one neighbour, each packet ending with an Acknowledgment
    /// Request; every neighbour that must receive them (the target, or every neighbour of
    /// the interface with a usable link) is expected to acknowledge it. `sends` is how many
    /// times these updates went to the target before, `delay` the timeout to wait for.
    fn send_reliable(
        &mut self,
        ifindex: u32,
        target: Option<u32>,
        keys: &[RouteKey],
        sends: u8,
        delay: Duration,
    ) {
        let Some(iface) = self.interfaces.get(&ifindex) else {
            return;
        };
        let Some(src) = iface.link_local else {
            return;
        };
        let (dst, waiting): (Ipv6Addr, Vec<u32>) = match target {
            Some(n) => match self.neigh(n) {
                Some(nb) => (nb.addr, vec![n]),
                None => return,
            },
            None => {
                let mut v: Vec<u32> = self
                    .neigh_index
                    .iter()
                    .filter(|((i, _), &n)| {
                        // A usable link whose last hello arrived (a neighbour that has just
                        // gone silent would only be sent the same updates again and again).
                        *i == ifindex
                            && self.neigh(n).is_some_and(|nb| {
                                nb.cost < INFINITY
                                    && (nb.hello.reach | nb.uhello.reach) & 0x8000 != 0
                            })
                    })
                    .map(|(_, &n)| n)
                    .collect();
                v.sort_unstable();
                (wire::MULTICAST_GROUP, v)
            }
        };
        // Room for the Acknowledgment Request at the end of every packet.
        let max = max_payload_for_mtu(iface.mtu).saturating_sub(ACK_REQUEST_LEN);
        let mut enc = Encoder::new(max, Some(src));
        let mut advertised = Vec::new();
        let mut batches: Vec<(Vec<u8>, Vec<RouteKey>)> = Vec::new();
        let mut batch: Vec<RouteKey> = Vec::new();
        let mut ignored = 0;
        for k in keys {
            let before = advertised.len();
            ignored += self.push_updates(iface, &mut enc, &[(*k, None)], &mut advertised);
            if advertised.len() == before {
                continue; // nothing to say about it on this interface
            }
            // A packet was closed to make room for this update: it holds the batch so far.
            if let Some(p) = enc.take_packets().pop() {
                batches.push((p, std::mem::take(&mut batch)));
            }
            batch.push(*k);
        }
        enc.flush();
        if let Some(p) = enc.take_packets().pop() {
            batches.push((p, batch));
        }
        self.stats.tlvs_ignored += ignored;
        if sends == 0 {
            self.stats.sent.reliable_updates += advertised.len() as u64;
        } else {
            self.stats.sent.resent_updates += advertised.len() as u64;
        }
        self.note_advertised(advertised);
        let now = self.now;
        let rtt = waiting
            .iter()
            .filter_map(|&n| self.neigh(n).and_then(|nb| nb.rtt))
            .max()
            .unwrap_or_default();
        for (mut p, batch) in batches {
            if !waiting.is_empty() {
                let nonce = self.acks.nonce();
                let wait = AckWait {
                    keys: batch,
                    sends: sends.saturating_add(1),
                    delay,
                    deadline: now + delay + rtt,
                };
                let mut tracked = false;
                for &n in &waiting {
                    if self
                        .acks
                        .insert(n, nonce, wait.clone(), self.config.max_pending_acks)
                    {
                        tracked = true;
                    } else {
                        self.stats.refuse(Limit::PendingAcks);
                    }
                }
                if tracked {
                    let req = Tlv::AckRequest(wire::AckRequest {
                        opaque: nonce,
                        interval: ACK_INTERVAL_CS,
                    });
                    if wire::emit_stateless(&mut p, &req).is_ok() {
                        let body = (p.len() - wire::HEADER_LEN) as u16;
                        p[2..4].copy_from_slice(&body.to_be_bytes());
                        self.stats.ack_requests_sent += 1;
                        self.timers.set_earlier(TimerKey::Resend, wait.deadline);
                    }
                }
            }
            self.enqueue(ifindex, dst, Some(src), p);
        }
    }

    fn enqueue(&mut self, ifindex: u32, dst: Ipv6Addr, src: Option<Ipv6Addr>, p: Vec<u8>) {
        if self.transmits.len() >= self.config.max_queued_packets {
            self.transmits.pop_front();
            self.stats.transmit_overflow += 1;
            self.stats.refuse(Limit::QueuedPackets);
        }
        self.transmits.push_back((ifindex, dst, src, p));
    }

    // ------------------------------------------------------------------------------------
    // Timers
    // ------------------------------------------------------------------------------------

    /// Runs every timer due at `now`. Calling it early or twice is harmless.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.advance(now);
        // A bound on the work of one call (timers that keep re-arming at `now` cannot spin
        // it forever); what is left stays due, and `poll_timeout` says so at once.
        for _ in 0..100_000u32 {
            let Some(key) = self.timers.pop_due(self.now) else {
                break;
            };
            match key {
                TimerKey::Hello(i) => self.hello_round(i),
                TimerKey::Update(i) => {
                    // RFC 8966 §3.7.1: periodic full dumps.
                    let Some(iface) = self.interfaces.get_mut(&i) else {
                        continue;
                    };
                    // (Once the first one is out, dumps usually go with a hello: see
                    // send_hello.)
                    iface.out.full_dump = true;
                    iface.out.periodic = true;
                    iface.dumped = true;
                    let d = iface.config.update_interval();
                    self.flush(i);
                    let next = roughly(&mut self.rng, d);
                    self.timers.set(TimerKey::Update(i), self.now + next);
                }
                TimerKey::Flush(i) => self.flush(i),
                TimerKey::Neighbour(n) => self.check_neighbour(n),
                TimerKey::Sweep => {
                    self.sweep();
                    self.schedule_sweep();
                }
                TimerKey::Resend => self.resend(),
            }
        }
        self.maybe_sweep();
    }

    /// A sweep that is wanted goes with whatever woke the node up (a timer, a packet)
    /// rather than waking it up again a moment later.
    fn maybe_sweep(&mut self) {
        if self.now >= self.sweep_wanted() {
            self.sweep();
            self.schedule_sweep();
        }
    }

    /// The next time [`Node::handle_timeout`] has work to do.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.timers.next()
    }

    /// RFC 8966 §3.5.4: routes whose timer ran out are retracted (kept with an infinite
    /// metric for the hold time), then flushed; unselected, unfeasible ones are flushed at
    /// once. Also collects unused sources.
    fn sweep(&mut self) {
        let now = self.now;
        let last = self.last_sweep;
        self.last_sweep = now;
        // Nothing is due anywhere: the walk below would find nothing to do.
        let walk = now >= self.sweep_due;
        if walk {
            self.sweep_due = Timestamp::from_micros(u64::MAX);
        }
        // In memory order: `due` is read in sequence (freed slots have no entries, and
        // nothing due).
        let slots = if walk {
            0..self.routes.due.len() as u32
        } else {
            0..0
        };
        for slot in slots {
            // The slots due a little further on are asked for ahead: the slot first, then
            // (once it has had time to arrive) its spilled entries.
            if self.routes.due.is_due(slot + 2 * WALK_AHEAD, now) {
                self.routes.slots.prefetch((slot + 2 * WALK_AHEAD) as usize);
            }
            if self.routes.due.is_due(slot + WALK_AHEAD, now) {
                self.routes.prefetch_entries(slot + WALK_AHEAD);
            }
            let due = self.routes.due.get(slot, now);
            if now < due {
                // Nothing is due in this slot: skip its (cache-cold) entries.
                #[cfg(debug_assertions)]
                self.check_sweep_skip(slot, last);
                self.sweep_due = self.sweep_due.min(due);
                continue;
            }
            let mut due = Timestamp::from_micros(u64::MAX);
            let mut expire: Vec<usize> = Vec::new();
            let mut flush: Vec<usize> = Vec::new();
            let mut refresh: Option<u32> = None;
            {
                let s = &self.routes.slots[slot as usize];
                let sel = s.selected as usize;
                for (i, e) in s.entries.iter().enumerate() {
                    if now < e.time(now) {
                        due = due.min(e.sweep_at(now));
                        continue;
                    }
                    let exp = e.expires(now);
                    if e.refmetric < INFINITY {
                        if now >= exp
                            && i != sel
                            && !self.sources.feasible(
                                Some(e.src),
                                e.seqno,
                                e.refmetric,
                                now,
                                SOURCE_GC_TIME,
                            )
                        {
                            // RFC 8966 §3.5.4 retracts an expired route and holds it before
                            // flushing it; an entry that is unselected and unfeasible is
                            // flushed at once, as babeld flushes a route its timer ran out
                            // on. Held, it would be worth nothing: never selected (§3.6), so
                            // nothing is installed or retracted for it (§3.7.2); and every
                            // unfeasible update revived it with its old timer (only
                            // feasible updates refresh it, §3.5.3), so that an entry hearing
                            // only unfeasible updates expired again every hold time and was
                            // never flushed. Flushed, it stays away: an unfeasible update
                            // for a missing entry MAY be ignored (§3.5.3), and is (with its
                            // seqno request, `send_unfeasible_request`).
                            flush.push(i);
                            continue;
                        }
                        if now >= exp {
                            expire.push(i);
                            // Retracted below: flushed at the end of its hold time, from
                            // the time it is given (`set_time`: now, in whole milliseconds,
                            // rounded down; not `now` itself, which would be a little late,
                            // the sweep skipping the slot while the entry is due).
                            let hold = Duration::from_millis(e.hold_ms() as u64);
                            due = due.min(Timestamp::from_millis(now.as_millis()) + hold);
                        } else if i == sel {
                            // RFC 8966 §3.8.2.3 (babeld's timing): a selected route about
                            // to expire (7/8 of its time) is asked for again.
                            let old_at = e.refresh_at(now);
                            if old_at > last && old_at <= now {
                                refresh = Some(e.neigh());
                            }
                        }
                    } else if now >= exp {
                        flush.push(i);
                        continue;
                    }
                    if now < exp {
                        due = due.min(e.sweep_at(now));
                    }
                }
            }
            self.routes.due.set(slot, due, now);
            self.sweep_due = self.sweep_due.min(due);
            if expire.is_empty() && flush.is_empty() && refresh.is_none() {
                continue;
            }
            let key = self.routes.key(slot);
            if let Some(nid) = refresh {
                if let Some((ifindex, addr)) = self.neigh(nid).map(|n| (n.ifindex, n.addr)) {
                    self.queue_control(
                        ifindex,
                        Some(addr),
                        Tlv::RouteRequest(RouteRequest {
                            prefix: Some(key.prefix),
                            src_prefix: key.src_prefix,
                            unknown_subtlvs: Vec::new(),
                        }),
                        false,
                    );
                }
            }
            if expire.is_empty() && flush.is_empty() {
                continue;
            }
            let before = self.sel_info(slot);
            for &i in &expire {
                // RFC 8966 §3.5.4: an expired route is retracted and held.
                let e = &mut self.routes.slots[slot as usize].entries[i];
                e.refmetric = INFINITY;
                e.set_time(now);
            }
            for &i in flush.iter().rev() {
                self.flush_entry(slot, i);
            }
            self.route_changed(slot, before, false);
            self.routes.maybe_free(slot);
        }
        if now - self.last_gc >= GC_INTERVAL {
            self.last_gc = now;
            self.sources_checked = now;
            self.sources.gc(now, SOURCE_GC_TIME, &mut self.routes);
        }
    }

    /// Debug builds: a slot the sweep skips really has nothing due.
    #[cfg(debug_assertions)]
    fn check_sweep_skip(&self, slot: u32, last: Timestamp) {
        let now = self.now;
        for e in self.routes.slots[slot as usize].entries.iter() {
            let refresh = e.refresh_at(now);
            debug_assert!(
                now < e.time(now)
                    || now < e.expires(now)
                        && !(e.refmetric < INFINITY && refresh > last && refresh <= now),
                "sweep skipped a slot with work due: now {now:?} last {last:?} e {e:?}"
            );
        }
    }

    /// An entry of `slot` has something for the sweep to do at `at` (see `sweep_at`).
    fn sweep_at(&mut self, slot: u32, at: Timestamp) {
        self.routes.due.lower(slot, at, self.now);
        self.sweep_wanted_at(at);
    }

    /// The entries of `slot` next have something for the sweep to do at `at`: the earliest
    /// [`RouteEntry::sweep_at`] of its entries as of the last sweep (a refresh point passed
    /// since then is still to be acted on).
    fn set_sweep_due(&mut self, slot: u32, at: Timestamp) {
        self.routes.due.set(slot, at, self.now);
        self.sweep_wanted_at(at);
    }

    /// A slot has something due at `at`: the sweep is wanted then.
    fn sweep_wanted_at(&mut self, at: Timestamp) {
        if at >= self.sweep_due {
            // The sweep's timer is already no later than it would be set here (it is set
            // for `sweep_wanted`, at most `sweep_due`, whenever either moves): this spares
            // the timer lookup on nearly every refresh.
            return;
        }
        self.sweep_due = at;
        let at = at.max(self.last_sweep + SWEEP_INTERVAL) + SWEEP_SLACK;
        self.timers.set_earlier(TimerKey::Sweep, at);
    }

    /// When the next sweep is wanted: when a route has something due (at most once a
    /// second, since a sweep walks every route). Sources are collected by the sweeps that
    /// happen anyway, or by one of their own when there has been none for a while.
    fn sweep_wanted(&self) -> Timestamp {
        self.sweep_due
            .max(self.last_sweep + SWEEP_INTERVAL)
            .min(self.last_gc + SOURCE_GC_TIME)
    }

    /// The sweep's own timer: [`SWEEP_SLACK`] after it is wanted, in case nothing else
    /// wakes the node up before (an idle node does not wake up every second for nothing).
    fn schedule_sweep(&mut self) {
        let at = self.sweep_wanted() + SWEEP_SLACK;
        self.timers.set(TimerKey::Sweep, at);
    }

    fn resend(&mut self) {
        let now = self.now;
        // Seqno requests: resend with doubling delay, then give up.
        let mut due: Vec<RouteKey> = self
            .requests
            .pending
            .iter()
            .filter(|(_, p)| p.next <= now)
            .map(|(k, _)| *k)
            .collect();
        due.sort_unstable();
        for k in due {
            let Some(p) = self.requests.pending.get_mut(&k) else {
                continue;
            };
            if p.resends_left == 0 {
                self.requests.pending.remove(&k);
                continue;
            }
            p.resends_left -= 1;
            p.delay *= 2;
            p.next = now + p.delay;
            let (id, seqno, hc, target) = (p.router_id, p.seqno, p.hop_count, p.target);
            self.emit_seqno_request(k, id, seqno, hc, target);
        }
        // RFC 8966 §3.3: updates not acknowledged in time go again, unicast to the
        // neighbour that did not answer, with a doubled timeout, a bounded number of times.
        for (nid, w) in self.acks.take_due(now) {
            let Some((ifindex, cost)) = self.neigh(nid).map(|n| (n.ifindex, n.cost)) else {
                continue;
            };
            if w.sends >= ACK_MAX_SENDS || cost == INFINITY {
                self.stats.acks_missed += 1;
                continue;
            }
            self.stats.ack_resends += 1;
            self.send_reliable(ifindex, Some(nid), &w.keys, w.sends, w.delay * 2);
        }
        let next = [self.requests.next_deadline(), self.acks.next_deadline()]
            .into_iter()
            .flatten()
            .min();
        if let Some(t) = next {
            self.timers.set(TimerKey::Resend, t.max(now));
        }
    }

    // ------------------------------------------------------------------------------------
    // Outputs
    // ------------------------------------------------------------------------------------

    /// The next datagram to send, written into `buf` (cleared first).
    pub fn poll_transmit(&mut self, now: Timestamp, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.advance(now);
        let Some((ifindex, dst, src, bytes)) = self.transmits.pop_front() else {
            shrink_drained(&mut self.transmits);
            return None;
        };
        buf.clear();
        buf.extend_from_slice(&bytes);
        self.stats.packets_sent += 1;
        Some(Transmit {
            ifindex,
            dst,
            src,
            len: bytes.len(),
        })
    }

    /// What the `in` and `install` filters see of a route entry learned from neighbour `n`.
    fn learned_route_input(
        &self,
        key: RouteKey,
        n: &Neighbour,
        router_id: RouterId,
    ) -> FilterInput<'_> {
        FilterInput {
            prefix: Some(key.prefix),
            src_prefix: key.src_prefix,
            neigh: Some(IpAddr::V6(n.addr)),
            router_id: Some(router_id),
            ifname: self.interfaces.get(&n.ifindex).map(|i| i.name.as_str()),
            ..Default::default()
        }
    }

    fn installed_route(&self, slot: u32) -> Option<InstalledRoute> {
        let key = self.routes.key(slot);
        let e = self.routes.slots[slot as usize].selected()?;
        let n = self.neigh(e.neigh())?;
        let r = if self.config.filters.install.is_empty() {
            filter::FilterResult {
                allow: true,
                ..Default::default()
            }
        } else {
            filter::apply(
                &self.config.filters.install,
                &self.learned_route_input(key, n, self.routes.router_id(e)),
                true,
            )
        };
        if !r.allow {
            return None;
        }
        Some(InstalledRoute {
            prefix: key.prefix,
            src_prefix: key.src_prefix,
            next_hop: self.routes.next_hop(e),
            ifindex: n.ifindex,
            metric: e.metric(),
            table: r.table,
            pref_src: r.pref_src.filter(|a| !self.pref_src_away.contains(a)),
        })
    }

    /// [`Command::PreferredSource`].
    fn preferred_source(&mut self, addr: IpAddr, local: bool) {
        if !self.config.filters.installs_pref_src(addr)
            || self.pref_src_away.contains(&addr) != local
        {
            return;
        }
        if local {
            self.pref_src_away.retain(|a| *a != addr);
            // The routes reported without it: every selected route is filtered again (as
            // for new filters), the others are left as they are.
            for slot in self.routes.live_slots() {
                self.queue_route(slot);
            }
        } else {
            self.pref_src_away.push(addr);
            for slot in self.routes.reporting_pref_src(addr) {
                self.queue_route(slot);
            }
        }
    }

    /// Marks destination `slot` for [`Node::poll_route`] (once, however often it changes
    /// before the next poll).
    fn queue_route(&mut self, slot: u32) {
        let s = &mut self.routes.slots[slot as usize];
        if !s.dirty() {
            s.set_dirty(true);
            self.route_queue.push_back(slot);
        }
    }

    /// The routes handed to the route installer so far: the last [`Node::poll_route`]
    /// report of each destination that has one, in no particular order (iterate; do not
    /// collect a large table).
    pub fn reported_routes(&self) -> impl Iterator<Item = InstalledRoute> + '_ {
        (0..self.routes.slots.len() as u32)
            .filter(move |&i| self.routes.is_live(i))
            .filter_map(move |i| self.reported_route(i))
    }

    /// What was last reported for destination `slot`, as the route it was.
    fn reported_route(&self, slot: u32) -> Option<InstalledRoute> {
        let r = self.routes.reported(slot)?;
        let key = self.routes.key(slot);
        Some(InstalledRoute {
            prefix: key.prefix,
            src_prefix: key.src_prefix,
            next_hop: r.next_hop,
            ifindex: r.ifindex,
            metric: r.metric,
            table: r.table,
            pref_src: r.pref_src,
        })
    }

    /// The next change for the route installer. Changes to one destination between two
    /// polls are merged; a table of any size is never copied.
    pub fn poll_route(&mut self) -> Option<RouteChange> {
        while let Some(slot) = self.route_queue.pop_front() {
            let Some(s) = self.routes.slots.get_mut(slot as usize) else {
                continue;
            };
            s.set_dirty(false);
            let want = self.installed_route(slot);
            let had = self.reported_route(slot);
            let report = want.as_ref().map(|w| FullReport {
                next_hop: w.next_hop,
                ifindex: w.ifindex,
                metric: w.metric,
                table: w.table,
                pref_src: w.pref_src,
            });
            self.routes.set_reported(slot, report);
            let change = match (had, want) {
                (None, None) => None,
                (None, Some(w)) => Some(RouteChange::Install(w)),
                (Some(h), None) => Some(RouteChange::Retract(h)),
                (Some(h), Some(w)) if h == w => None,
                (Some(h), Some(w)) => Some(RouteChange::Change { old: h, new: w }),
            };
            self.routes.maybe_free(slot);
            if change.is_some() {
                return change;
            }
        }
        shrink_drained(&mut self.route_queue);
        None
    }

    /// The next event (neighbours, routes, seqno). The queue is bounded: the oldest events
    /// are dropped, and counted, when it is not drained.
    pub fn poll_event(&mut self) -> Option<Event> {
        let e = self.events.pop_front();
        if e.is_none() {
            shrink_drained(&mut self.events);
        }
        e
    }

    fn refilter_slot(&mut self, slot: u32) {
        let key = self.routes.key(slot);
        let before = self.sel_info(slot);
        let n = self.routes.slots[slot as usize].entries.len();
        for i in 0..n {
            let e = &self.routes.slots[slot as usize].entries[i];
            let Some(nb) = self.neigh(e.neigh()) else {
                continue;
            };
            let r = filter::apply(
                &self.config.filters.input,
                &self.learned_route_input(key, nb, self.routes.router_id(e)),
                true,
            );
            self.routes.slots[slot as usize].entries[i].add_metric = r.add_metric();
        }
        self.queue_route(slot);
        self.route_changed(slot, before, false);
    }

    // ------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------

    /// The Babel interfaces, by ifindex.
    pub fn interfaces(&self) -> impl Iterator<Item = InterfaceView> + '_ {
        self.interfaces.values().map(|i| InterfaceView {
            ifindex: i.ifindex,
            name: i.name.clone(),
            link_type: i.config.link_type,
            link_local: i.link_local,
            ipv4: i.ipv4,
            hello_interval: i.config.hello_interval,
            update_interval: i.config.update_interval(),
            hello_seqno: i.hello_seqno,
            cost: i.config.nominal_cost(),
        })
    }

    /// Neighbours, ordered by interface and address.
    pub fn neighbours(&self) -> Vec<NeighbourView> {
        let mut v: Vec<NeighbourView> = self
            .neighbours
            .iter()
            .flatten()
            .map(|n| {
                let c = self
                    .interfaces
                    .get(&n.ifindex)
                    .map(|i| i.config.clone())
                    .unwrap_or_default();
                NeighbourView {
                    ifindex: n.ifindex,
                    address: n.addr,
                    reach: n.hello.reach,
                    unicast_reach: n.uhello.reach,
                    rxcost: n.rxcost(c.cost_kind(), c.nominal_cost()),
                    txcost: n.txcost,
                    rtt: valid_rtt(n, self.now),
                    rttcost: rtt_penalty(n, &c, self.now),
                    cost: n.cost,
                }
            })
            .collect();
        v.sort_by_key(|n| (n.ifindex, n.address));
        v
    }

    fn route_view(&self, key: &RouteKey, e: &RouteEntry, installed: bool) -> RouteView {
        let n = self.neigh(e.neigh());
        RouteView {
            prefix: key.prefix,
            src_prefix: key.src_prefix,
            router_id: self.routes.router_id(e),
            seqno: e.seqno,
            metric: e.metric(),
            refmetric: e.refmetric,
            next_hop: self.routes.next_hop(e),
            ifindex: n.map_or(0, |n| n.ifindex),
            neighbour: n.map_or(Ipv6Addr::UNSPECIFIED, |n| n.addr),
            installed,
            feasible: self.entry_feasible(e),
        }
    }

    /// Every route entry, in no particular order (iterate; do not collect a large table).
    pub fn routes(&self) -> impl Iterator<Item = RouteView> + '_ {
        self.routes
            .slots
            .iter()
            .enumerate()
            .filter(|(i, _)| self.routes.is_live(*i as u32))
            .flat_map(move |(i, s)| {
                let key = self.routes.key(i as u32);
                s.entries
                    .iter()
                    .enumerate()
                    .map(move |(j, e)| self.route_view(&key, e, s.selected as usize == j))
            })
    }

    /// The entries for one destination.
    pub fn routes_for(&self, prefix: Prefix, src_prefix: Option<Prefix>) -> Vec<RouteView> {
        let key = RouteKey::new(prefix, src_prefix);
        let Some(slot) = self.routes.find(&key) else {
            return Vec::new();
        };
        let s = &self.routes.slots[slot as usize];
        s.entries
            .iter()
            .enumerate()
            .map(|(j, e)| self.route_view(&key, e, s.selected as usize == j))
            .collect()
    }

    /// The selected route for one destination, if any.
    pub fn selected_route(&self, prefix: Prefix, src_prefix: Option<Prefix>) -> Option<RouteView> {
        self.routes_for(prefix, src_prefix)
            .into_iter()
            .find(|r| r.installed)
    }

    /// The prefixes we announce, after the `redistribute` filter.
    pub fn xroutes(&self) -> impl Iterator<Item = &XrouteView> + '_ {
        self.xroutes.values()
    }

    /// The source table with its feasibility distances, sorted.
    pub fn sources(&self) -> Vec<SourceView> {
        let mut v: Vec<SourceView> = self
            .sources
            .iter(&self.routes)
            .map(|(slot, s)| {
                let key = self.routes.key(slot);
                SourceView {
                    router_id: s.id(&self.routes),
                    prefix: key.prefix,
                    src_prefix: key.src_prefix,
                    seqno: s.seqno,
                    metric: s.metric,
                }
            })
            .collect();
        v.sort_by(|a, b| {
            (a.prefix, a.src_prefix, a.router_id).cmp(&(b.prefix, b.src_prefix, b.router_id))
        });
        v
    }

    /// Numbers for benches and the panel: route entries, destinations, and approximate
    /// heap bytes of the route and source tables.
    pub fn table_stats(&self) -> TableStats {
        TableStats {
            route_entries: self.routes.entry_count(),
            destinations: self.routes.prefix_count(),
            sources: self.sources.len(),
            pending_requests: self.requests.pending.len(),
            pending_acks: self.acks.tracked(),
            timers: self.timers.len(),
            route_bytes: self.routes.heap_bytes(),
            source_bytes: self.sources.heap_bytes(),
        }
    }
}

/// Sizes of the node's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableStats {
    pub route_entries: usize,
    pub destinations: usize,
    pub sources: usize,
    pub pending_requests: usize,
    /// Destinations waiting for an acknowledgment, summed over neighbours.
    pub pending_acks: usize,
    pub timers: usize,
    pub route_bytes: usize,
    pub source_bytes: usize,
}

/// A queue drained after a burst (a full dump's routes and events) gives its memory back;
/// a small one keeps it, so that the common case costs no reallocation.
fn shrink_drained<T>(q: &mut VecDeque<T>) {
    if q.is_empty() && q.capacity() > 1024 {
        *q = VecDeque::new();
    }
}

/// RFC 9616 §4: the RTT penalty of neighbour `n` on an interface configured `c`, from its
/// smoothed RTT if the last sample is less than 3 minutes old (babeld's `valid_rtt`).
fn rtt_penalty(n: &Neighbour, c: &InterfaceConfig, now: Timestamp) -> u16 {
    valid_rtt(n, now).map_or(0, |rtt| {
        rtt_cost(rtt, c.rtt_min, c.rtt_max, c.max_rtt_penalty())
    })
}

/// A datagram's TLVs parsed once, for [`Node::handle_parsed_packet`] at each node that
/// receives it (a simulator's multicast reaches every node in range). TLVs that cannot be
/// parsed are counted, as [`Node::handle_packet`] counts them, at each receiver. (Not
/// [`wire::ParsedPacket`], the tools' whole view of a datagram: this one holds what the
/// engine reads, and the source it was parsed with.)
#[derive(Debug, Clone)]
pub struct PreparsedPacket {
    src: Ipv6Addr,
    header_ok: bool,
    tlvs: Vec<Tlv>,
    ignored: u64,
}

impl PreparsedPacket {
    /// Parses `bytes`, received from `src` (the default next hop of its updates).
    pub fn parse(src: Ipv6Addr, bytes: &[u8]) -> PreparsedPacket {
        let mut out = PreparsedPacket {
            src,
            header_ok: false,
            tlvs: Vec::new(),
            ignored: 0,
        };
        let Ok(packet) = Packet::new_checked(bytes) else {
            return out;
        };
        out.header_ok = true;
        // An update is 10 octets and more, most with a prefix of several.
        out.tlvs.reserve(packet.body().len() / 16);
        wire::for_each_tlv(packet.body(), Some(src), |_, tlv| match tlv {
            Ok(tlv) => out.tlvs.push(tlv),
            Err(_) => out.ignored += 1,
        });
        out
    }
}

/// The RFC 9616 timestamps of one packet's Hello and of its IHU for us, wherever they are
/// in the packet: the RTT sample needs both.
#[derive(Default)]
struct PacketStamps {
    hello: Option<u32>,
    ihu: Option<wire::IhuTimestamps>,
}

/// A neighbour's smoothed RTT, which counts for 3 minutes after its last sample (babeld's
/// `valid_rtt`).
fn valid_rtt(n: &Neighbour, now: Timestamp) -> Option<Duration> {
    n.rtt
        .filter(|_| now - n.rtt_time < Duration::from_secs(180))
}
