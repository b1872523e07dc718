//! The daemon: one `tokio::select!` loop over the Babel socket, the netlink monitor, the
//! control socket, signals and the engine's next timeout. After every input it drains the
//! engine: datagrams to send, route changes for the kernel, events for the state file and
//! for monitoring clients.

pub mod convert;
pub mod kernel;
pub mod limits;
pub mod server;
pub mod state;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use babel_core::auth::PseudoHeader;
use babel_core::wire::{Encoder, Hello, Prefix, RouterId, Tlv, Update, INFINITY};
use babel_core::{
    Command, Event, InterfaceEvent, Node, RouteEventKind, RouteView, Timestamp, Xroute,
};
use futures::StreamExt;
use netdriver::{
    BabelSocket, Monitor, MonitorConfig, NetEvent, RouteKind, SocketConfig, RTPROT_BABEL,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::{self, Statement};
use crate::control::{self, Kind};
use convert::Candidate;
use kernel::{Kernel, KernelConfig};
use server::{Listener, ToLoop};

/// The state file is rewritten at most this often while the seqno changes.
const STATE_WRITE_INTERVAL: Duration = Duration::from_secs(1);
/// Redistribution is recomputed at most this often (kernel route bursts are batched).
const REDIST_DELAY: Duration = Duration::from_millis(50);
/// Largest Babel datagram accepted.
const RECV_BUF: usize = 65536;
/// Route changes handed to the kernel thread at a time (two netlink datagrams' worth; their
/// operations, 92 bytes each, stay below glibc's mmap threshold).
const KERNEL_CHUNK: usize = 1024;
/// Most rounds of route work (each at most [`KERNEL_CHUNK`] of the engine's changes and one
/// step of the kernel side's own work, see `kernel::Kernel::apply`) in one turn of the
/// event loop: a few milliseconds. The installer's backlog alone does not bound a turn: a
/// sweep of copies that are all in place already produces no operation, and a thread that
/// is gone always has room.
const ROUTE_ROUNDS: usize = 4;

/// What the caller (the binary) hands the daemon besides the configuration.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Called by `reopen-logfile` and SIGUSR2.
    pub reopen_log: Option<fn()>,
    /// Writes text to the log as it is, whatever the log level: the dump of the tables on
    /// SIGUSR1. Without it the dump is logged at level info.
    pub write_log: Option<fn(&str)>,
}

#[derive(Debug, Clone, Default)]
struct Link {
    name: String,
    /// Up and running (carrier).
    up: bool,
    /// Up, with or without carrier.
    admin_up: bool,
    mtu: u32,
    /// Address → (prefix length, tentative).
    addrs: BTreeMap<IpAddr, (u8, bool)>,
}

impl Link {
    fn link_local(&self) -> Option<Ipv6Addr> {
        self.addrs.iter().find_map(|(a, (_, tentative))| match a {
            IpAddr::V6(v6) if is_link_local(v6) && !tentative => Some(*v6),
            _ => None,
        })
    }
    fn ipv4(&self) -> Option<Ipv4Addr> {
        self.addrs.iter().find_map(|(a, (_, tentative))| match a {
            IpAddr::V4(v4) if !tentative => Some(*v4),
            _ => None,
        })
    }
    fn has_tentative_link_local(&self) -> bool {
        self.addrs
            .iter()
            .any(|(a, (_, t))| matches!(a, IpAddr::V6(v6) if is_link_local(v6) && *t))
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Active {
    name: String,
    config: babel_core::InterfaceConfig,
    link_local: Ipv6Addr,
    ipv4: Option<Ipv4Addr>,
    mtu: usize,
}

struct Client {
    out: mpsc::Sender<String>,
    monitor: bool,
}

/// What monitoring clients last saw: lines by object, to send add / change / flush.
#[derive(Default)]
struct Snapshot {
    interfaces: BTreeMap<String, String>,
    neighbours: BTreeMap<String, String>,
    xroutes: BTreeMap<String, String>,
}

fn is_link_local(a: &Ipv6Addr) -> bool {
    (a.segments()[0] & 0xffc0) == 0xfe80
}

/// Addresses and prefixes never announced (babeld's martians).
fn martian(p: &Prefix) -> bool {
    match p.addr() {
        IpAddr::V4(a) => {
            a.is_loopback()
                || a.is_multicast()
                || a.is_broadcast()
                || (a.is_unspecified() && p.plen() > 0)
        }
        IpAddr::V6(a) => {
            a.is_multicast()
                || is_link_local(&a)
                || a.is_loopback()
                || (a.is_unspecified() && p.plen() > 0)
                || a.to_ipv4_mapped().is_some()
        }
    }
}

/// Random bytes from the operating system.
pub fn os_random(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

/// babeld's default router-id: the EUI-64 of the first configured interface with a MAC
/// address (universal/local bit flipped, ff:fe in the middle).
pub fn router_id_from_mac(names: &[String]) -> Option<RouterId> {
    for n in names {
        let Ok(text) =
            std::fs::read_to_string(PathBuf::from("/sys/class/net").join(n).join("address"))
        else {
            continue;
        };
        let bytes: Vec<u8> = text
            .trim()
            .split(':')
            .filter_map(|h| u8::from_str_radix(h, 16).ok())
            .collect();
        if bytes.len() != 6 || bytes.iter().all(|&b| b == 0) {
            continue;
        }
        let id = RouterId([
            bytes[0] ^ 0x02,
            bytes[1],
            bytes[2],
            0xff,
            0xfe,
            bytes[3],
            bytes[4],
            bytes[5],
        ]);
        if id.is_valid() {
            return Some(id);
        }
    }
    None
}

fn random_router_id() -> anyhow::Result<RouterId> {
    loop {
        let mut b = [0u8; 8];
        os_random(&mut b).context("reading /dev/urandom")?;
        // A locally administered id, like babeld's random ids.
        b[0] = (b[0] & !1) | 2;
        let id = RouterId(b);
        if id.is_valid() {
            return Ok(id);
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

struct Daemon {
    config: config::Config,
    opts: RunOptions,
    start: Instant,
    node: Node,
    sock: BabelSocket,
    kernel: Kernel,
    links: BTreeMap<u32, Link>,
    active: BTreeMap<u32, Active>,
    /// Kernel routes in the import tables, by (prefix, source, table, priority).
    kernel_routes: BTreeMap<(Prefix, Option<Prefix>, u32, u32), netdriver::RouteEvent>,
    /// Xroutes handed to the engine, by (prefix, source).
    xroutes: BTreeMap<(Prefix, Option<Prefix>), Xroute>,
    redist_at: Option<Instant>,
    routes_resync: bool,
    /// Xroutes changed since monitoring clients last saw them.
    xroutes_dirty: bool,
    state_file: Option<PathBuf>,
    state_pending: bool,
    state_last: Option<Instant>,
    clients: HashMap<u64, Client>,
    /// RFC 8967 state of the interfaces that have a key, and whether they accept bad
    /// signatures (babeld's `accept-bad-signatures`).
    auth: HashMap<u32, (babel_core::auth::Authenticator, bool)>,
    /// Authentication counters of interfaces whose state was dropped (down, key changed).
    auth_retired: babel_core::auth::AuthCounters,
    refusals: limits::RefusalLog,
    snapshot: Option<Snapshot>,
    route_events: Vec<Event>,
    changed_keys: Vec<(Prefix, Option<Prefix>)>,
    host: String,
    read_write: bool,
    warned_unsupported: std::collections::BTreeSet<String>,
    tx_buf: Vec<u8>,
    /// Route changes wait in the engine until the kernel thread has room.
    routes_waiting: bool,
    /// Route work is left after a turn's [`ROUTE_ROUNDS`]: the loop comes back to it at
    /// once, after the events already there.
    routes_again: bool,
    /// The install filters' preferred sources, and whether the engine was last told that
    /// each is a local address (see `Daemon::preferred_sources`).
    pref_srcs: BTreeMap<IpAddr, bool>,
}

impl Daemon {
    fn now(&self) -> Timestamp {
        Timestamp::from_micros(self.start.elapsed().as_micros() as u64)
    }

    fn instant(&self, t: Timestamp) -> Instant {
        self.start + Duration::from_micros(t.as_micros())
    }

    // ---------------------------------------------------------------------------------
    // Interfaces
    // ---------------------------------------------------------------------------------

    fn interface_config(&mut self, name: &str) -> babel_core::InterfaceConfig {
        let c = self.config.interface(name);
        for p in convert::unsupported_parameters(&c) {
            if self.warned_unsupported.insert(format!("{name}/{p}")) {
                tracing::warn!(
                    "interface {name}: parameter {p} is accepted but has no effect in routed"
                );
            }
        }
        convert::interface_config(&c, &self.config.globals, convert::is_wireless(name))
    }

    /// Whether a link can carry Babel: up and with carrier, unless `link-detect false` says
    /// to ignore the carrier. babeld ignores it unless told `-l` (`link-detect true`); routed
    /// looks at it by default, so that a cable pulled or a far end gone down retracts the
    /// routes through it at once rather than after the hellos time out (README: where routed
    /// knowingly differs), and `link-detect false` is the way out for a driver that
    /// reports no carrier on a working link.
    fn usable(&self, link: &Link) -> bool {
        match self.config.globals.link_detect {
            Some(false) => link.admin_up,
            _ => link.up,
        }
    }

    fn configured(&self, name: &str) -> bool {
        self.config.interfaces.iter().any(|(n, _)| n == name)
    }

    /// Tells the engine which of the install filters' preferred sources are local addresses
    /// now: assigned to a link, and for IPv6 past duplicate address detection (Linux takes
    /// neither a tentative one nor an absent one as a route's preferred source, flushes the
    /// main table's IPv4 routes with an address that goes, and drops it from IPv6 routes).
    /// The routes that name one that is not are installed without it until it is back
    /// (`Command::PreferredSource`), so that they stay in the kernel throughout and get it
    /// again: babeld leaves them flushed.
    fn preferred_sources(&mut self) {
        let now = self.now();
        for (addr, told) in self.pref_srcs.iter_mut() {
            let local = self
                .links
                .values()
                .any(|l| l.addrs.get(addr).is_some_and(|&(_, tentative)| !tentative));
            if local == *told {
                continue;
            }
            *told = local;
            if local {
                tracing::info!("preferred source {addr} is back: routes installed with it again");
            } else {
                tracing::info!(
                    "preferred source {addr} is not a local address: routes installed without it"
                );
            }
            self.node
                .handle_command(now, Command::PreferredSource { addr: *addr, local });
        }
    }

    /// Brings the engine's view of interface `ifindex` in line with the kernel's.
    fn refresh_interface(&mut self, ifindex: u32) {
        let now = self.now();
        let want = match self.links.get(&ifindex) {
            Some(link) if self.usable(link) && self.configured(&link.name) => {
                match link.link_local() {
                    Some(ll) => Some((link.name.clone(), ll, link.ipv4(), link.mtu)),
                    None => {
                        if link.has_tentative_link_local() {
                            tracing::debug!(
                                "interface {}: link-local address still tentative, waiting",
                                link.name
                            );
                        }
                        None
                    }
                }
            }
            _ => None,
        };
        match want {
            Some((name, ll, ipv4, mtu)) => {
                let config = self.interface_config(&name);
                let mut mtu = if mtu == 0 { 1280 } else { mtu as usize };
                match auth_key(&self.config, &name) {
                    Ok(Some(key)) => {
                        let accept_bad =
                            self.config.interface(&name).accept_bad_signatures == Some(true);
                        let same = self
                            .auth
                            .get(&ifindex)
                            .is_some_and(|(a, _)| a.keys().first() == Some(&key));
                        if !same {
                            if self
                                .config
                                .interface(&name)
                                .key
                                .as_deref()
                                .and_then(|id| self.config.key(id))
                                .is_some_and(|k| k.value.iter().all(|&b| b == 0))
                            {
                                // babeld takes an HMAC key without a value as all zeros.
                                tracing::warn!(
                                    "interface {name}: its key is all zeros (no value given?): anyone can sign packets with it"
                                );
                            }
                            let mut seed = [0u8; 32];
                            if let Err(e) = os_random(&mut seed) {
                                tracing::error!(
                                    "interface {name}: no random seed for authentication: {e}"
                                );
                                return;
                            }
                            let max = self.config.globals.limit(babel_core::Limit::Neighbours);
                            let a = babel_core::auth::Authenticator::new(vec![key], seed, max);
                            self.retire_auth(ifindex);
                            self.auth.insert(ifindex, (a, accept_bad));
                        } else if let Some(e) = self.auth.get_mut(&ifindex) {
                            e.1 = accept_bad;
                        }
                        // Room for the PC TLV and the MAC trailer in every packet.
                        let overhead = self.auth.get(&ifindex).map_or(0, |(a, _)| a.overhead());
                        mtu = mtu.saturating_sub(overhead).max(512);
                    }
                    Ok(None) => self.retire_auth(ifindex),
                    Err(e) => {
                        tracing::error!(
                            "interface {name}: {e}; not running Babel on it unauthenticated"
                        );
                        return;
                    }
                }
                let next = Active {
                    name: name.clone(),
                    config: config.clone(),
                    link_local: ll,
                    ipv4,
                    mtu,
                };
                match self.active.get(&ifindex) {
                    Some(cur) if *cur == next => {}
                    Some(cur)
                        if cur.name == next.name
                            && cur.config == next.config
                            && cur.mtu == next.mtu =>
                    {
                        self.node.handle_interface(
                            now,
                            InterfaceEvent::Addresses {
                                ifindex,
                                link_local: Some(ll),
                                ipv4,
                            },
                        );
                        self.active.insert(ifindex, next);
                    }
                    cur => {
                        if cur.is_none() {
                            if let Err(e) = self.sock.join(ifindex) {
                                tracing::error!(
                                    "interface {name}: cannot join the Babel multicast group: {e}"
                                );
                                return;
                            }
                            tracing::info!(
                                "interface {name} up (ifindex {ifindex}, {ll}{})",
                                ipv4.map(|a| format!(", {a}")).unwrap_or_default()
                            );
                        }
                        self.node.handle_interface(
                            now,
                            InterfaceEvent::Up {
                                ifindex,
                                name,
                                config,
                                link_local: Some(ll),
                                ipv4,
                                mtu,
                            },
                        );
                        self.active.insert(ifindex, next);
                    }
                }
            }
            None => {
                self.retire_auth(ifindex);
                if let Some(a) = self.active.remove(&ifindex) {
                    tracing::info!("interface {} down", a.name);
                    self.node
                        .handle_interface(now, InterfaceEvent::Down { ifindex });
                    let _ = self.sock.leave(ifindex);
                }
            }
        }
    }

    fn refresh_all_interfaces(&mut self) {
        let ids: Vec<u32> = self
            .links
            .keys()
            .chain(self.active.keys())
            .copied()
            .collect();
        for i in ids {
            self.refresh_interface(i);
        }
    }

    fn handle_net(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::Link(l) => {
                self.kernel.links_changed();
                if l.removed {
                    self.links.remove(&l.ifindex);
                } else {
                    let e = self.links.entry(l.ifindex).or_default();
                    e.name = l.name;
                    e.up = l.up;
                    e.admin_up = l.admin_up;
                    e.mtu = l.mtu;
                }
                self.refresh_interface(l.ifindex);
                self.preferred_sources();
                self.schedule_redist();
            }
            NetEvent::Addr(a) => {
                let e = self.links.entry(a.ifindex).or_default();
                if a.added {
                    e.addrs.insert(a.addr, (a.plen, a.tentative));
                } else {
                    e.addrs.remove(&a.addr);
                }
                self.refresh_interface(a.ifindex);
                self.preferred_sources();
                self.schedule_redist();
            }
            NetEvent::Route(r) => {
                tracing::trace!("kernel route event {r:?}");
                if r.protocol == RTPROT_BABEL {
                    return;
                }
                let key = (r.prefix, r.src, r.table, r.metric);
                if r.added {
                    self.kernel_routes.insert(key, r);
                } else {
                    self.kernel_routes.remove(&key);
                }
                self.schedule_redist();
            }
            NetEvent::DumpDone => {
                self.routes_resync = false;
                self.schedule_redist();
            }
            NetEvent::Overrun => {
                // The monitor re-dumps and then withdraws what the lost events removed;
                // redistribution waits for the end of it.
                tracing::warn!("netlink overrun: re-reading interfaces, addresses and routes");
                self.routes_resync = true;
            }
        }
    }

    // ---------------------------------------------------------------------------------
    // Redistribution
    // ---------------------------------------------------------------------------------

    fn schedule_redist(&mut self) {
        if self.redist_at.is_none() {
            self.redist_at = Some(Instant::now() + REDIST_DELAY);
        }
    }

    /// Never inlined into the main loop: it runs only when redistributed routes change.
    #[inline(never)]
    fn redistribute(&mut self) {
        self.redist_at = None;
        if self.routes_resync {
            return;
        }
        let filters = &self.config.filters.redistribute;
        let mut want: BTreeMap<(Prefix, Option<Prefix>), Xroute> = BTreeMap::new();
        for (&ifindex, link) in &self.links {
            for (addr, &(_, tentative)) in &link.addrs {
                let plen = if addr.is_ipv4() { 32 } else { 128 };
                let Ok(prefix) = Prefix::new(*addr, plen) else {
                    continue;
                };
                if tentative || martian(&prefix) || addr.is_unspecified() {
                    continue;
                }
                let c = Candidate {
                    prefix,
                    src_prefix: None,
                    ifname: Some(&link.name),
                    proto: None,
                };
                if let Some((metric, src_prefix)) = convert::redistribute(filters, &c) {
                    want.entry((prefix, src_prefix)).or_insert(Xroute {
                        prefix,
                        src_prefix,
                        metric,
                        proto: 0,
                        local: true,
                        ifindex: Some(ifindex),
                    });
                }
            }
        }
        for r in self.kernel_routes.values() {
            if !matches!(
                r.kind,
                RouteKind::Unicast
                    | RouteKind::Unreachable
                    | RouteKind::Blackhole
                    | RouteKind::Prohibit
            ) || martian(&r.prefix)
            {
                continue;
            }
            let ifname = r
                .ifindex
                .and_then(|i| self.links.get(&i))
                .map(|l| l.name.as_str());
            let c = Candidate {
                prefix: r.prefix,
                src_prefix: r.src,
                ifname,
                proto: Some(r.protocol),
            };
            if let Some((metric, src_prefix)) = convert::redistribute(filters, &c) {
                let x = Xroute {
                    prefix: r.prefix,
                    src_prefix,
                    metric,
                    proto: r.protocol,
                    local: false,
                    ifindex: r.ifindex,
                };
                match want.get(&(r.prefix, src_prefix)) {
                    Some(old) if old.local || old.metric <= metric => {}
                    _ => {
                        want.insert((r.prefix, src_prefix), x);
                    }
                }
            }
        }
        self.xroutes_dirty = true;
        let now = self.now();
        let gone: Vec<(Prefix, Option<Prefix>)> = self
            .xroutes
            .keys()
            .filter(|k| !want.contains_key(k))
            .copied()
            .collect();
        for k in gone {
            self.xroutes.remove(&k);
            self.node.handle_command(
                now,
                Command::RemoveXroute {
                    prefix: k.0,
                    src_prefix: k.1,
                },
            );
        }
        for (k, x) in want {
            if self.xroutes.get(&k) != Some(&x) {
                self.xroutes.insert(k, x.clone());
                self.node.handle_command(now, Command::AddXroute(x));
            }
        }
    }

    // ---------------------------------------------------------------------------------
    // Draining the engine
    // ---------------------------------------------------------------------------------

    fn apply_routes(&mut self) {
        let monitoring = self.clients.values().any(|c| c.monitor);
        // A few thousand changes at a time: a full table's worth must not be copied whole.
        // While the kernel thread is far behind, the rest stay in the engine (see
        // `kernel::IN_FLIGHT`); the loop comes back when it has caught up. The kernel side's
        // own work left (a source table's copies, `kernel::Feed`) goes a chunk per round,
        // between chunks of the engine's changes. At most `ROUTE_ROUNDS` rounds: then the
        // loop serves the events that are there and comes back.
        let mut changes = Vec::new();
        self.routes_waiting = false;
        self.routes_again = false;
        let mut rounds = 0;
        loop {
            if !self.kernel.has_room() {
                self.routes_waiting = true;
                break;
            }
            if rounds == ROUTE_ROUNDS {
                self.routes_again = true;
                break;
            }
            rounds += 1;
            let mut end = true;
            if self.kernel.takes_changes() {
                end = false;
                while changes.len() < KERNEL_CHUNK {
                    match self.node.poll_route() {
                        Some(c) => changes.push(c),
                        None => {
                            end = true;
                            break;
                        }
                    }
                }
            }
            self.kernel.apply(&changes, &self.node);
            if monitoring {
                // The engine reports new and flushed entries; a change of the selected
                // route (installed, metric, next hop) shows in the kernel changes.
                for c in &changes {
                    let r = c.route();
                    self.changed_keys.push((r.prefix, r.src_prefix));
                }
            }
            changes.clear();
            if end && !self.kernel.pending() {
                break;
            }
        }
    }

    async fn drain(&mut self) {
        // Route changes first: the forwarding plane must not wait for the packets below
        // (a send may take up to its timeout on an interface that just lost its carrier).
        self.apply_routes();
        let now = self.now();
        let mut buf = std::mem::take(&mut self.tx_buf);
        while let Some(tx) = self.node.poll_transmit(now, &mut buf) {
            let len = tx.len.min(buf.len());
            // RFC 8966 §3.1: packets go out from a link-local address; from the one the engine
            // announces as our next hop and we sign with (RFC 8967 §4.1: the MAC covers the
            // source address), not from whichever the kernel would pick when the interface
            // has several.
            let src = tx
                .src
                .or_else(|| self.active.get(&tx.ifindex).map(|a| a.link_local));
            let sealed;
            let bytes: &[u8] = match (self.auth.get_mut(&tx.ifindex), self.active.get(&tx.ifindex))
            {
                (Some((a, _)), Some(act)) => {
                    let port = self.sock.config().port;
                    // RFC 8967 §4.2: every packet sent on a keyed interface carries a PC TLV
                    // and a MAC over the pseudo-header and the packet.
                    let ph = PseudoHeader {
                        src: src.unwrap_or(act.link_local),
                        src_port: port,
                        dst: tx.dst,
                        dst_port: port,
                    };
                    match a.seal(&buf[..len], &ph) {
                        Some(p) => {
                            sealed = p;
                            &sealed
                        }
                        None => {
                            tracing::warn!("cannot sign a packet for {}", tx.dst);
                            continue;
                        }
                    }
                }
                _ => &buf[..len],
            };
            // Most sends complete at once: no timer for them (a tokio timer wakes the
            // reactor).
            let sent = match self.sock.try_send_to(bytes, tx.dst, tx.ifindex, src) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
                r => Some(r),
            };
            let sent = match sent {
                Some(r) => Ok(r),
                None => {
                    tokio::time::timeout(
                        Duration::from_millis(100),
                        self.sock.send_to(bytes, tx.dst, tx.ifindex, src),
                    )
                    .await
                }
            };
            match sent {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::debug!("send to {} on ifindex {}: {e}", tx.dst, tx.ifindex),
                Err(_) => {
                    tracing::debug!("send to {} on ifindex {}: timed out", tx.dst, tx.ifindex)
                }
            }
        }
        self.tx_buf = buf;
        self.apply_routes();
        let monitoring = self.clients.values().any(|c| c.monitor);
        while let Some(ev) = self.node.poll_event() {
            match ev {
                Event::SeqnoChanged { .. } | Event::RouterIdChanged { .. } => {
                    self.state_pending = true
                }
                Event::NeighbourUp { ifindex, address } => {
                    tracing::info!("neighbour {address} up on ifindex {ifindex}")
                }
                Event::NeighbourDown { ifindex, address } => {
                    tracing::info!("neighbour {address} down on ifindex {ifindex}");
                    // RFC 8967 §3: the index and counters live in the neighbour's entry and
                    // go with it. Kept, they would fill the table of authenticated
                    // neighbours (`max-neighbours`) with departed ones and lock new ones
                    // out; a neighbour that is still there is challenged again.
                    if let Some((a, _)) = self.auth.get_mut(&ifindex) {
                        a.forget(&address);
                    }
                }
                Event::NeighbourChanged { .. } => {}
                Event::Route { .. } if monitoring => self.route_events.push(ev),
                Event::Route { .. } => {}
            }
        }
        self.maybe_write_state(false);
        if monitoring {
            self.notify_monitors();
        }
        self.refusals
            .check(self.node.stats(), &self.config, std::time::Instant::now());
    }

    /// Drops an interface's authentication state, keeping its counters.
    fn retire_auth(&mut self, ifindex: u32) {
        if let Some((a, _)) = self.auth.remove(&ifindex) {
            self.auth_retired.add(a.counters());
        }
    }

    /// What authentication accepted and rejected on every interface, since start.
    fn auth_counters(&self) -> babel_core::auth::AuthCounters {
        let mut c = self.auth_retired.clone();
        for (a, _) in self.auth.values() {
            c.add(a.counters());
        }
        c
    }

    /// A received datagram: checked (RFC 8967) on keyed interfaces, then given to the engine.
    async fn receive(&mut self, r: &netdriver::Received, bytes: &[u8]) {
        let src = *r.src.ip();
        let now = self.now();
        if let Some((a, accept_bad)) = self.auth.get_mut(&r.ifindex) {
            let port = self.sock.config().port;
            let ph = PseudoHeader {
                src,
                src_port: r.src.port(),
                dst: r.dst,
                dst_port: port,
            };
            let mut replies = Vec::new();
            let verdict = a.open(now.as_millis(), bytes, &ph, r.is_multicast(), &mut replies);
            let accept_bad = *accept_bad;
            for reply in replies {
                self.send_auth_reply(r.ifindex, reply).await;
            }
            if let Err(why) = verdict {
                // RFC 8967 §4.3: packets that fail verification are dropped.
                // `accept-bad-signatures` lets a packet without a valid MAC through (for a
                // migration), as babeld does, but never an authentic one that failed the
                // counter or index checks: a replay stays a replay.
                tracing::debug!("dropped a packet from {src}: {why}");
                if !(accept_bad && bad_signature(why)) {
                    return;
                }
            }
        }
        self.node
            .handle_packet(now, r.ifindex, src, r.is_multicast(), bytes);
    }

    /// A challenge request or reply (RFC 8967 §4.3), sent alone in a signed packet.
    async fn send_auth_reply(&mut self, ifindex: u32, reply: babel_core::auth::AuthReply) {
        let Some(act) = self.active.get(&ifindex) else {
            return;
        };
        let (to, tlv) = match reply {
            babel_core::auth::AuthReply::ChallengeRequest { to, nonce } => {
                (to, Tlv::ChallengeRequest(nonce))
            }
            babel_core::auth::AuthReply::ChallengeReply { to, nonce } => {
                (to, Tlv::ChallengeReply(nonce))
            }
        };
        let ll = act.link_local;
        let mut enc = Encoder::new(act.mtu, Some(ll));
        if enc.push(&tlv).is_err() {
            return;
        }
        let port = self.sock.config().port;
        for p in enc.finish() {
            let Some((a, _)) = self.auth.get_mut(&ifindex) else {
                return;
            };
            let ph = PseudoHeader {
                src: ll,
                src_port: port,
                dst: to,
                dst_port: port,
            };
            let Some(sealed) = a.seal(&p, &ph) else {
                continue;
            };
            if let Err(e) = self.sock.send_to(&sealed, to, ifindex, Some(ll)).await {
                tracing::debug!("challenge to {to}: {e}");
            }
        }
    }

    fn maybe_write_state(&mut self, force: bool) {
        if !(self.state_pending || force) {
            return;
        }
        if !force
            && self
                .state_last
                .is_some_and(|t| t.elapsed() < STATE_WRITE_INTERVAL)
        {
            return;
        }
        self.state_pending = false;
        self.state_last = Some(Instant::now());
        if let Some(path) = &self.state_file {
            let s = state::State {
                router_id: self.node.router_id(),
                seqno: self.node.seqno(),
            };
            if let Err(e) = state::write(path, &s) {
                tracing::warn!("cannot write state file {}: {e}", path.display());
            }
        }
    }

    fn state_deadline(&self) -> Option<Instant> {
        if !self.state_pending {
            return None;
        }
        Some(
            self.state_last
                .map_or_else(Instant::now, |t| t + STATE_WRITE_INTERVAL),
        )
    }

    // ---------------------------------------------------------------------------------
    // Control socket
    // ---------------------------------------------------------------------------------

    /// SIGUSR1, as in babeld: the tables (interfaces, neighbours, xroutes and routes, in the
    /// control socket's `dump` lines) go to the log, between a header and an end line.
    fn dump_to_log(&self) {
        let mut text = format!(
            "SIGUSR1: dump of router-id {} seqno {}\n",
            self.node.router_id(),
            self.node.seqno()
        );
        text.push_str(&control::dump(&self.node, &self.down_interfaces()));
        text.push_str("SIGUSR1: end of dump\n");
        match self.opts.write_log {
            Some(write) => write(&text),
            None => tracing::info!("{}", text.trim_end()),
        }
    }

    fn down_interfaces(&self) -> Vec<String> {
        self.config
            .interfaces
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| !self.active.values().any(|a| a.name == *n))
            .collect()
    }

    fn send(&mut self, id: u64, text: String) {
        let drop_it = match self.clients.get(&id) {
            Some(c) => c.out.try_send(text).is_err(),
            None => false,
        };
        if drop_it {
            tracing::warn!("control client {id} does not read its output: disconnected");
            self.clients.remove(&id);
        }
    }

    /// The current lines of every object monitoring clients follow. Xroutes change only when
    /// redistribution runs; otherwise the previous lines are reused (`old`).
    fn snapshot_from(&self, old: Option<&mut Snapshot>) -> Snapshot {
        let mut s = Snapshot::default();
        let reuse_xroutes = !self.xroutes_dirty && old.is_some();
        if let Some(o) = old {
            if reuse_xroutes {
                s.xroutes = std::mem::take(&mut o.xroutes);
            }
        }
        let names = control::interface_names(&self.node);
        for i in self.node.interfaces() {
            s.interfaces
                .insert(i.name.clone(), control::interface_line(Kind::Add, &i, true));
        }
        for n in self.down_interfaces() {
            s.interfaces
                .insert(n.clone(), format!("add interface {n} up false\n"));
        }
        for n in self.node.neighbours() {
            let ifname = names.get(&n.ifindex).map(String::as_str).unwrap_or("?");
            s.neighbours.insert(
                control::neighbour_id(&n),
                control::neighbour_line(Kind::Add, &n, ifname),
            );
        }
        if !reuse_xroutes {
            for x in self.node.xroutes() {
                s.xroutes.insert(
                    format!("{}-{:?}", x.prefix, x.src_prefix),
                    control::xroute_line(Kind::Add, x),
                );
            }
        }
        s
    }

    fn snapshot(&self) -> Snapshot {
        self.snapshot_from(None)
    }

    fn notify_monitors(&mut self) {
        let mut old = self.snapshot.take().unwrap_or_default();
        let xroutes_changed = self.xroutes_dirty;
        let new = self.snapshot_from(Some(&mut old));
        self.xroutes_dirty = false;
        let mut out = String::new();
        diff(&old.interfaces, &new.interfaces, &mut out);
        diff(&old.neighbours, &new.neighbours, &mut out);
        if xroutes_changed {
            diff(&old.xroutes, &new.xroutes, &mut out);
        }
        let names = control::interface_names(&self.node);
        // A route flushed with its interface (down, or `flush interface`) names it too, as
        // babeld does: the kernel still knows the link's name.
        let ifname_of = |ifindex: u32| -> &str {
            names
                .get(&ifindex)
                .or_else(|| self.links.get(&ifindex).map(|l| &l.name))
                .map_or("?", String::as_str)
        };
        let mut added: std::collections::HashSet<(Prefix, Option<Prefix>, Ipv6Addr, u32)> =
            Default::default();
        for ev in std::mem::take(&mut self.route_events) {
            let Event::Route {
                kind,
                prefix,
                src_prefix,
                neighbour,
                ifindex,
                router_id,
                metric,
                refmetric,
                installed,
            } = ev
            else {
                continue;
            };
            let kind = match kind {
                RouteEventKind::Add => Kind::Add,
                RouteEventKind::Change => Kind::Change,
                RouteEventKind::Flush => Kind::Flush,
            };
            let view = if kind == Kind::Flush {
                None
            } else {
                self.node
                    .routes_for(prefix, src_prefix)
                    .into_iter()
                    .find(|r| r.neighbour == neighbour && r.ifindex == ifindex)
            };
            // The event names the neighbour's interface even when the neighbour is gone, so
            // that a flush carries the id of the route's `add` line.
            let view = view.unwrap_or(RouteView {
                prefix,
                src_prefix,
                router_id,
                seqno: 0,
                metric,
                refmetric,
                next_hop: IpAddr::V6(neighbour),
                ifindex,
                neighbour,
                // A flushed route is no longer installed; babeld, which uninstalls it
                // before it says so, prints `installed no` too.
                installed: installed && kind != Kind::Flush,
                feasible: true,
            });
            let ifname = ifname_of(view.ifindex);
            out.push_str(&control::route_line(kind, &view, ifname));
            if kind != Kind::Flush {
                added.insert((prefix, src_prefix, neighbour, ifindex));
            }
        }
        let mut keys = std::mem::take(&mut self.changed_keys);
        keys.sort_unstable();
        keys.dedup();
        for (prefix, src_prefix) in keys {
            for view in self.node.routes_for(prefix, src_prefix) {
                if added.contains(&(prefix, src_prefix, view.neighbour, view.ifindex)) {
                    continue;
                }
                out.push_str(&control::route_line(
                    Kind::Change,
                    &view,
                    ifname_of(view.ifindex),
                ));
            }
        }
        self.snapshot = Some(new);
        if out.is_empty() {
            return;
        }
        let ids: Vec<u64> = self
            .clients
            .iter()
            .filter(|(_, c)| c.monitor)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.send(id, out.clone());
        }
    }

    /// Handles one request line; `false` means the daemon should stop (never: `quit`
    /// closes the client only, as in babeld).
    fn handle_control(&mut self, msg: ToLoop) {
        match msg {
            ToLoop::Connected { id, out } => {
                if self.clients.len() >= server::MAX_CLIENTS {
                    let _ = out.try_send("no\n".into());
                    return;
                }
                let banner = control::banner(&self.host, self.node.router_id());
                self.clients.insert(
                    id,
                    Client {
                        out,
                        monitor: false,
                    },
                );
                self.send(id, banner);
            }
            ToLoop::Closed { id } => {
                self.clients.remove(&id);
            }
            ToLoop::TooLong { id } => {
                self.send(id, "bad\n".into());
                self.clients.remove(&id);
            }
            ToLoop::Line { id, line } => {
                let reply = match control::parse_request(&line, self.read_write) {
                    control::Request::Nothing => "ok\n".to_string(),
                    control::Request::Dump => {
                        let mut s = control::dump(&self.node, &self.down_interfaces());
                        s.push_str("ok\n");
                        s
                    }
                    control::Request::Counters => {
                        let mut s = control::counters(self.node.stats(), &self.auth_counters());
                        s.push_str(&self.kernel.counters());
                        s.push_str("ok\n");
                        s
                    }
                    control::Request::Bad(e) => {
                        tracing::info!("control: bad request {line:?}: {e}");
                        "bad\n".to_string()
                    }
                    control::Request::Monitor => {
                        if self.snapshot.is_none() {
                            self.snapshot = Some(self.snapshot());
                        }
                        if let Some(c) = self.clients.get_mut(&id) {
                            c.monitor = true;
                        }
                        let mut s = control::dump(&self.node, &self.down_interfaces());
                        s.push_str("ok\n");
                        s
                    }
                    control::Request::Unmonitor => {
                        if let Some(c) = self.clients.get_mut(&id) {
                            c.monitor = false;
                        }
                        "ok\n".to_string()
                    }
                    control::Request::Quit => {
                        self.clients.remove(&id);
                        return;
                    }
                    control::Request::Statement(stmt) => self.statement(&line, stmt),
                };
                self.send(id, reply);
                if !self.clients.values().any(|c| c.monitor) {
                    self.snapshot = None;
                    self.route_events.clear();
                    self.changed_keys.clear();
                }
            }
        }
    }

    /// A configuration statement from a read-write control socket, allowed at run time:
    /// `ok`, `bad`, or `no REASON` like babeld.
    fn statement(&mut self, text: &str, stmt: Statement) -> String {
        match stmt {
            // babeld 1.12 answers `no No such interface` for an interface it does not have
            // (configured on the command line or by an `interface` statement).
            Statement::FlushInterface(name) if !self.configured(&name) => {
                tracing::info!("control: {text:?}: no such interface");
                "no No such interface\n".into()
            }
            Statement::FlushInterface(name) => {
                self.config.interfaces.retain(|(n, _)| *n != name);
                self.refresh_all_interfaces();
                "ok\n".into()
            }
            Statement::ReopenLogfile => {
                if let Some(f) = self.opts.reopen_log {
                    f();
                }
                "ok\n".into()
            }
            Statement::Dump | Statement::Monitor | Statement::Unmonitor | Statement::Quit => {
                "bad\n".into()
            }
            Statement::Global(config::Global::Limit(limit, value)) => {
                match self.config.apply(stmt) {
                    Ok(()) => {
                        let now = self.now();
                        self.node
                            .handle_command(now, Command::SetLimit(limit, value));
                        if limit == babel_core::Limit::Neighbours {
                            // The authenticators track senders under the same bound.
                            let max = self.config.globals.limit(limit);
                            for (a, _) in self.auth.values_mut() {
                                a.set_max_neighbours(max);
                            }
                        }
                        "ok\n".into()
                    }
                    Err(e) => {
                        tracing::info!("control: {text:?}: {e}");
                        "bad\n".into()
                    }
                }
            }
            other => match self.config.apply(other.clone()) {
                Ok(()) => {
                    self.apply_live(&other);
                    "ok\n".into()
                }
                Err(e) => {
                    tracing::info!("control: {text:?}: {e}");
                    "bad\n".into()
                }
            },
        }
    }

    /// Hands a statement accepted at run time (see `Statement::allowed_at_runtime`) to what it
    /// configures: the engine's smoothing and diversity, or the interfaces.
    fn apply_live(&mut self, stmt: &Statement) {
        let now = self.now();
        match stmt {
            Statement::Global(
                config::Global::SmoothingHalfLife(_)
                | config::Global::Diversity(_)
                | config::Global::DiversityFactor(_),
            ) => {
                let core = convert::core_config(&self.config);
                self.node.handle_command(
                    now,
                    Command::SetTuning {
                        smoothing_half_life: core.smoothing_half_life,
                        diversity: core.diversity,
                    },
                );
            }
            _ => self.refresh_all_interfaces(),
        }
    }

    // ---------------------------------------------------------------------------------
    // Shutdown
    // ---------------------------------------------------------------------------------

    /// Like babeld: our routes are retracted to the neighbours (a wildcard retraction on each
    /// interface, sent twice), then our kernel routes are removed.
    async fn shutdown(&mut self) {
        let now = self.now();
        // RFC 8966 §3.5.5 (retractions): first our own prefixes, urgently, through the engine.
        let keys: Vec<(Prefix, Option<Prefix>)> = self.xroutes.keys().copied().collect();
        for (prefix, src_prefix) in keys {
            self.node
                .handle_command(now, Command::RemoveXroute { prefix, src_prefix });
        }
        self.xroutes.clear();
        self.drain().await;
        for round in 0..2 {
            for (ifindex, iface) in self
                .node
                .interfaces()
                .map(|i| (i.ifindex, i))
                .collect::<Vec<_>>()
            {
                let Some(a) = self.active.get(&ifindex) else {
                    continue;
                };
                let mut enc = Encoder::new(a.mtu.saturating_sub(48).max(512), Some(a.link_local));
                // RFC 8966 §4.6.9: an update with AE 0 and an infinite metric retracts every
                // route we announced on this link.
                let _ = enc.push(&Tlv::Update(Update {
                    flags: 0,
                    interval: 0,
                    seqno: self.node.seqno(),
                    metric: INFINITY,
                    prefix: None,
                    src_prefix: None,
                    router_id: None,
                    next_hop: None,
                    unknown_subtlvs: Vec::new(),
                }));
                // A hello with a short interval makes neighbours notice our absence soon.
                let _ = enc.push(&Tlv::Hello(Hello {
                    flags: 0,
                    seqno: iface.hello_seqno.wrapping_add(1 + round),
                    interval: 10,
                    timestamp: None,
                    unknown_subtlvs: Vec::new(),
                }));
                let ll = a.link_local;
                let name = a.name.clone();
                for p in enc.finish() {
                    let group = self.sock.config().group;
                    let port = self.sock.config().port;
                    let p = match self.auth.get_mut(&ifindex) {
                        Some((au, _)) => {
                            let ph = PseudoHeader {
                                src: ll,
                                src_port: port,
                                dst: group,
                                dst_port: port,
                            };
                            match au.seal(&p, &ph) {
                                Some(x) => x,
                                None => continue,
                            }
                        }
                        None => p,
                    };
                    if let Err(e) = self.sock.send_to(&p, group, ifindex, Some(ll)).await {
                        tracing::debug!("goodbye on {name}: {e}");
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let export = self.kernel.config().table;
        let n = self.kernel.purge(&[export]);
        tracing::info!("removed {n} routes from the kernel");
        self.kernel.stop();
        self.maybe_write_state(true);
    }
}

fn diff(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>, out: &mut String) {
    for (k, line) in new {
        match old.get(k) {
            None => out.push_str(line),
            Some(o) if o != line => {
                out.push_str("change");
                out.push_str(line.strip_prefix("add").unwrap_or(line));
            }
            Some(_) => {}
        }
    }
    for (k, line) in old {
        if !new.contains_key(k) {
            let rest = line.strip_prefix("add").unwrap_or(line);
            // A flushed interface is printed without its addresses, like babeld.
            if let Some(name) = rest
                .strip_prefix(" interface ")
                .and_then(|r| r.split_whitespace().next())
            {
                out.push_str(&format!("flush interface {name} up false\n"));
            } else {
                out.push_str("flush");
                out.push_str(rest);
            }
        }
    }
}

/// The router-id and initial seqno: a configured router-id wins, then the state file's (unless
/// `random-id`), then the EUI-64 of an interface's MAC address, then a random one. The seqno
/// continues from the state file when its router-id is ours, else starts at random.
fn identity(
    config: &config::Config,
    state_file: Option<&PathBuf>,
) -> anyhow::Result<(RouterId, u16)> {
    let saved = match state_file {
        Some(p) => match state::read(p) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("ignoring state file {}: {e}", p.display());
                None
            }
        },
        None => None,
    };
    let random_id = config.globals.random_id == Some(true);
    let names: Vec<String> = config.interfaces.iter().map(|(n, _)| n.clone()).collect();
    let id = match (config.globals.router_id, saved) {
        (Some(id), _) => id,
        (None, Some(s)) if !random_id => s.router_id,
        _ if random_id => random_router_id()?,
        _ => match router_id_from_mac(&names) {
            Some(id) => id,
            None => random_router_id()?,
        },
    };
    let seqno = match saved {
        // The seqno never goes backwards across a restart (RFC 8966 §3.5.3 feasibility
        // depends on it): continue after the saved one.
        Some(s) if s.router_id == id => s.seqno.wrapping_add(1),
        _ => {
            let mut b = [0u8; 2];
            os_random(&mut b).context("reading /dev/urandom")?;
            u16::from_be_bytes(b)
        }
    };
    Ok((id, seqno))
}

/// Checks what the engine cannot do before anything starts.
pub fn check(config: &config::Config) -> Result<(), String> {
    for (name, _) in &config.interfaces {
        auth_key(config, name).map_err(|e| format!("interface {name}: {e}"))?;
    }
    Ok(())
}

/// The RFC 8967 key of interface `name`, if it has one.
fn auth_key(config: &config::Config, name: &str) -> Result<Option<babel_core::auth::Key>, String> {
    let Some(id) = config.interface(name).key else {
        return Ok(None);
    };
    let k = config
        .key(&id)
        .ok_or_else(|| format!("unknown key {id:?}"))?;
    let kind = match k.kind {
        config::KeyType::HmacSha256 => babel_core::auth::KeyType::HmacSha256,
        config::KeyType::Blake2s128 => babel_core::auth::KeyType::Blake2s128,
    };
    let mut value = k.value.clone();
    if kind == babel_core::auth::KeyType::HmacSha256 {
        // Zero padding up to the block size does not change an HMAC key.
        while value.len() > 1 && value.last() == Some(&0) {
            value.pop();
        }
    }
    babel_core::auth::Key::new(k.id.clone(), kind, value).map(Some)
}

/// babeld's kernel setup: forwarding on, ICMP redirects off, reverse-path filtering off
/// (routes through a Babel neighbour are often asymmetric).
fn kernel_setup(interfaces: &[String]) {
    let mut settings = vec![
        ("/proc/sys/net/ipv6/conf/all/forwarding".to_string(), "1"),
        ("/proc/sys/net/ipv4/conf/all/forwarding".to_string(), "1"),
        (
            "/proc/sys/net/ipv6/conf/all/accept_redirects".to_string(),
            "0",
        ),
        (
            "/proc/sys/net/ipv4/conf/all/accept_redirects".to_string(),
            "0",
        ),
        ("/proc/sys/net/ipv4/conf/all/rp_filter".to_string(), "0"),
    ];
    for i in interfaces {
        settings.push((format!("/proc/sys/net/ipv4/conf/{i}/rp_filter"), "0"));
    }
    for (path, value) in settings {
        if let Err(e) = std::fs::write(&path, value) {
            tracing::warn!("kernel setup: cannot write {value} to {path}: {e}");
        }
    }
}

/// Whether an authentication failure is one of the MAC (none, or none that verifies), which
/// `accept-bad-signatures` overlooks; the counter, index and neighbour-table checks of an
/// authentic packet it does not.
fn bad_signature(why: babel_core::auth::Reject) -> bool {
    use babel_core::auth::Reject;
    matches!(why, Reject::NoMac | Reject::BadMac)
}

/// Everything the daemon does once, before its main loop (within the tokio runtime). Never
/// inlined into the loop: its code is start-up code, whose pages the daemon gives back
/// (netdriver::release_start_up_pages), and the loop's function must not carry it.
#[inline(never)]
fn start(config: config::Config, opts: RunOptions) -> anyhow::Result<(Daemon, Waits)> {
    check(&config).map_err(anyhow::Error::msg)?;
    // The handlers go in first: a signal during start-up (the kernel purge, the first
    // dumps) waits for the main loop, which then shuts down cleanly, instead of killing the
    // daemon half-way with its default action.
    use tokio::signal::unix::{signal, SignalKind};
    let sigterm = signal(SignalKind::terminate())?;
    let sigint = signal(SignalKind::interrupt())?;
    // babeld exits cleanly on SIGHUP too; left at its default action, SIGHUP would kill the
    // daemon with its routes, rules and nexthop objects still in the kernel and no retraction
    // sent to its neighbours.
    let sighup = signal(SignalKind::hangup())?;
    let sigusr1 = signal(SignalKind::user_defined1())?;
    let sigusr2 = signal(SignalKind::user_defined2())?;

    let g = &config.globals;
    for p in convert::unsupported_globals(g) {
        tracing::warn!("{p} is accepted but has no effect in routed");
    }
    if g.skip_kernel_setup != Some(true) {
        let names: Vec<String> = config.interfaces.iter().map(|(n, _)| n.clone()).collect();
        kernel_setup(&names);
    }
    let sock = BabelSocket::bind(SocketConfig {
        port: g.protocol_port(),
        group: g.protocol_group(),
    })
    .with_context(|| format!("cannot open the Babel socket on port {}", g.protocol_port()))?;
    let export_table = u32::from(g.export_table.unwrap_or(netdriver::RT_TABLE_MAIN as u16));
    let mut kernel = Kernel::start(KernelConfig {
        table: export_table,
        priority: u32::from(g.kernel_priority.unwrap_or(0)),
        reflect_metric: g.reflect_kernel_metric == Some(true),
        source_tables: netdriver::SourceTables::new(
            g.first_table_number
                .unwrap_or(netdriver::DEFAULT_FIRST_TABLE),
            netdriver::DEFAULT_SOURCE_TABLES,
            g.first_rule_priority
                .unwrap_or(netdriver::DEFAULT_FIRST_RULE_PRIORITY),
        ),
        ipv6_subtrees: g.ipv6_subtrees != Some(false),
    })
    .context("cannot start the route installer")?;
    let mut install_tables: Vec<u32> = config
        .filters
        .install
        .iter()
        .filter_map(|f| f.action.table.map(u32::from))
        .collect();
    install_tables.push(export_table);
    let purged = kernel.purge(&install_tables);
    if purged > 0 {
        tracing::info!("removed {purged} leftover protocol-42 routes");
    }
    let import_tables: Vec<u32> = if g.import_tables.is_empty() {
        vec![netdriver::RT_TABLE_MAIN]
    } else {
        g.import_tables.iter().map(|&t| u32::from(t)).collect()
    };
    let monitor = Monitor::new(MonitorConfig {
        // Without a redistribute filter that takes kernel routes, none are followed: no
        // dump of the tables, and the kernel does not hand the socket a notification of
        // each route we install, only to have it dropped.
        routes: convert::redistributes_kernel_routes(&config.filters.redistribute),
        route_tables: import_tables,
        // Our own routes are not news; their notifications would flood the socket.
        ignore_protocol: Some(RTPROT_BABEL),
        ..MonitorConfig::default()
    })
    .context("cannot open the netlink monitor")?;
    let state_file = g.state_file();
    let (id, seqno) = identity(&config, state_file.as_ref())?;
    let mut seed = [0u8; 8];
    os_random(&mut seed).context("reading /dev/urandom")?;
    let start = Instant::now();
    let node = Node::new(
        convert::core_config(&config),
        id,
        seqno,
        u64::from_le_bytes(seed),
        Timestamp::ZERO,
    );
    tracing::info!("router-id {id}, seqno {seqno}");

    let (ctl_tx, ctl_rx) = mpsc::channel::<ToLoop>(1024);
    let mut read_write = false;
    if let Some(ls) = &g.local_server {
        read_write = ls.read_write;
        let listener = match &ls.endpoint {
            config::LocalEndpoint::Port(p) => {
                Listener::tcp(*p).with_context(|| format!("cannot listen on [::1]:{p}"))?
            }
            config::LocalEndpoint::Path(p) => {
                Listener::unix(p).with_context(|| format!("cannot listen on {}", p.display()))?
            }
        };
        tokio::spawn(listener.serve(ctl_tx.clone()));
    }
    drop(ctl_tx);

    // The engine takes every preferred source as local until told otherwise.
    let pref_srcs: BTreeMap<IpAddr, bool> = config
        .filters
        .install
        .iter()
        .filter_map(|f| f.action.pref_src)
        .map(|a| (a, true))
        .collect();
    let mut d = Daemon {
        config,
        opts,
        start,
        node,
        sock,
        kernel,
        links: BTreeMap::new(),
        active: BTreeMap::new(),
        kernel_routes: BTreeMap::new(),
        xroutes: BTreeMap::new(),
        redist_at: None,
        routes_resync: true,
        xroutes_dirty: true,
        state_file,
        state_pending: true,
        state_last: None,
        clients: HashMap::new(),
        auth: HashMap::new(),
        auth_retired: Default::default(),
        refusals: Default::default(),
        snapshot: None,
        route_events: Vec::new(),
        changed_keys: Vec::new(),
        host: hostname(),
        read_write,
        warned_unsupported: Default::default(),
        tx_buf: Vec::with_capacity(RECV_BUF),
        routes_waiting: false,
        routes_again: false,
        pref_srcs,
    };
    // None is a local address before the monitor says so: the routes naming one go in
    // without it until then (none is learned before the interfaces come up anyway).
    d.preferred_sources();
    // Persist the seqno we start with at once: a crash must not make it go backwards.
    d.maybe_write_state(true);
    for (name, _) in &d.config.interfaces {
        tracing::debug!("configured interface {name}");
    }
    // Anonymous memory the kernel zeroes page by page on first write: a datagram touches
    // only the pages it fills, where a zeroed vector from the heap would be written whole
    // by the allocator (64 KiB resident for packets of a link's MTU).
    let rx_buf = memmap2::MmapMut::map_anon(RECV_BUF).context("cannot map the receive buffer")?;
    let waits = Waits {
        rx_buf,
        sigterm,
        sigint,
        sighup,
        sigusr1,
        sigusr2,
        monitor,
        ctl_rx,
    };
    Ok((d, waits))
}

/// What the main loop waits on besides the daemon's own sockets.
struct Waits {
    /// Where packets are received.
    rx_buf: memmap2::MmapMut,
    sigterm: tokio::signal::unix::Signal,
    sigint: tokio::signal::unix::Signal,
    sighup: tokio::signal::unix::Signal,
    sigusr1: tokio::signal::unix::Signal,
    sigusr2: tokio::signal::unix::Signal,
    monitor: Monitor,
    ctl_rx: mpsc::Receiver<ToLoop>,
}

/// Runs the daemon until SIGTERM, SIGINT or SIGHUP (babeld's three exit signals), then
/// retracts its routes and removes them from the kernel. SIGUSR1 writes the tables to the
/// log, SIGUSR2 reopens the log file.
pub async fn run(config: config::Config, opts: RunOptions) -> anyhow::Result<()> {
    let (mut d, w) = start(config, opts)?;
    let Waits {
        mut rx_buf,
        mut sigterm,
        mut sigint,
        mut sighup,
        mut sigusr1,
        mut sigusr2,
        mut monitor,
        mut ctl_rx,
    } = w;
    let mut ctl_open = true;
    // The next deadline on a timerfd: one wake-up per deadline (see netdriver::Alarm).
    let mut alarm = netdriver::Alarm::new().context("cannot create the timer")?;
    // Start-up is over: the pages of the binary that only it ran (option and configuration
    // parsing, the C library's set-up, the first dumps) are given back; what the main loop
    // runs is mapped again as it runs (docs/performance.md, "Start-up pages given back").
    let released = netdriver::release_start_up_pages();
    tracing::debug!(
        "gave back {} KiB of start-up code and read-only data",
        released / 1024
    );
    loop {
        let timeout = d.node.poll_timeout().map(|t| d.instant(t));
        let wake = [timeout, d.redist_at, d.state_deadline()]
            .into_iter()
            .flatten()
            .min();
        if let Err(e) = alarm.set(wake.map(Instant::into_std)) {
            tracing::error!("cannot arm the timer: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::select! {
            r = d.sock.recv(&mut rx_buf) => match r {
                Ok(r) => {
                    let len = r.len.min(rx_buf.len());
                    let bytes = rx_buf[..len].to_vec();
                    d.receive(&r, &bytes).await;
                }
                Err(e) => {
                    tracing::warn!("receive: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            ev = monitor.next() => match ev {
                Some(Ok(ev)) => d.handle_net(ev),
                Some(Err(e)) => {
                    tracing::error!("netlink monitor: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                None => anyhow::bail!("the netlink monitor stopped"),
            },
            _ = d.kernel.room(), if d.routes_waiting => {}
            // Route work left after a turn's rounds: back at once, but only after a pass
            // over the other branches (the first poll yields), so that a packet, a timer or
            // a control command that is there is served first.
            _ = tokio::task::yield_now(), if d.routes_again => {}
            m = ctl_rx.recv(), if ctl_open => match m {
                Some(m) => d.handle_control(m),
                None => ctl_open = false,
            },
            r = alarm.wait() => {
                if let Err(e) = r {
                    tracing::error!("timer: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let now = d.now();
                d.node.handle_timeout(now);
                if d.redist_at.is_some_and(|t| t <= Instant::now()) {
                    d.redistribute();
                }
            },
            _ = sigterm.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
            _ = sigint.recv() => { tracing::info!("SIGINT: shutting down"); break; }
            _ = sighup.recv() => { tracing::info!("SIGHUP: shutting down"); break; }
            _ = sigusr1.recv() => d.dump_to_log(),
            _ = sigusr2.recv() => {
                if let Some(f) = d.opts.reopen_log { f(); }
            }
        }
        d.drain().await;
    }
    d.clients.clear();
    // The shutdown's future is polled through `dyn Future`, so that its code is not compiled
    // into the main loop's, which stays mapped while the daemon runs (it runs once, at exit;
    // see netdriver::release_start_up_pages).
    let shutdown: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> =
        Box::pin(d.shutdown());
    shutdown.await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::bad_signature;
    use babel_core::auth::Reject;

    /// `accept-bad-signatures` processes a packet whose MAC is missing or wrong, as babeld
    /// does, but not an authentic one that is a replay, carries no counter or an index not
    /// yet confirmed by a challenge, or comes from beyond the neighbour limit.
    #[test]
    fn accept_bad_signatures_overlooks_only_the_mac() {
        let expected = [
            (Reject::Malformed, false),
            (Reject::NoMac, true),
            (Reject::BadMac, true),
            (Reject::NoPc, false),
            (Reject::UnknownIndex, false),
            (Reject::Replay, false),
            (Reject::TooManyNeighbours, false),
        ];
        assert_eq!(
            expected.len(),
            Reject::ALL.len(),
            "every reason has its answer"
        );
        for (r, want) in expected {
            assert_eq!(bad_signature(r), want, "{r:?}");
        }
    }
}
