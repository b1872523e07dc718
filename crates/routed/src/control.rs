//! The local control protocol, compatible with babeld's: the banner, `dump`, `monitor`,
//! `unmonitor`, `quit`, and on a read-write socket configuration statements; plus routed's
//! `counters`.
//!
//! This module is pure: it formats the node's read-only views into babeld's lines and
//! interprets request lines. The daemon's loop owns the sockets and the node.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv6Addr};

use babel_core::auth::{AuthCounters, Reject};
use babel_core::wire::{Prefix, RouterId};
use babel_core::{InterfaceView, Limit, NeighbourView, Node, RouteView, Stats, XrouteView};

use crate::config::{parse_statement, Statement};

/// The version string in the banner.
pub const VERSION: &str = concat!("routed-", env!("CARGO_PKG_VERSION"));

/// babeld refuses request lines longer than its buffer; so do we.
pub const MAX_LINE: usize = 1024;

/// `add`, `change` or `flush`, as babeld prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Add,
    Change,
    Flush,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Add => "add",
            Kind::Change => "change",
            Kind::Flush => "flush",
        }
    }
}

/// The banner sent when a client connects.
pub fn banner(host: &str, id: RouterId) -> String {
    format!("BABEL 1.0\nversion {VERSION}\nhost {host}\nmy-id {id}\nok\n")
}

/// babeld prints an IPv4 destination's default source as `0.0.0.0/0`, an IPv6 one as `::/0`.
fn src_or_default(prefix: &Prefix, src: &Option<Prefix>) -> String {
    match src {
        Some(s) => s.to_string(),
        None if prefix.is_v4() => "0.0.0.0/0".into(),
        None => "::/0".into(),
    }
}

/// A stable identifier for an object, printed in hex like babeld's pointers.
fn object_id(parts: impl Hash) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    format!("{:x}", h.finish() & 0x0000_ffff_ffff_ffff)
}

pub fn interface_line(kind: Kind, i: &InterfaceView, up: bool) -> String {
    let mut s = format!("{} interface {} up {}", kind.as_str(), i.name, up);
    if up {
        if let Some(ll) = i.link_local {
            let _ = write!(s, " ipv6 {ll}");
        }
        if let Some(v4) = i.ipv4 {
            let _ = write!(s, " ipv4 {v4}");
        }
    }
    s.push('\n');
    s
}

/// babeld prints the RTT in milliseconds with three decimals.
fn format_rtt(rtt: std::time::Duration) -> String {
    let us = rtt.as_micros();
    format!("{}.{:03}", us / 1000, us % 1000)
}

pub fn neighbour_id(n: &NeighbourView) -> String {
    object_id((n.ifindex, n.address))
}

/// A neighbour's line; with an RTT, its penalty (`rttcost`, included in `cost`) too.
pub fn neighbour_line(kind: Kind, n: &NeighbourView, ifname: &str) -> String {
    let mut rtt = String::new();
    if let Some(r) = n.rtt {
        let _ = write!(rtt, " rtt {} rttcost {}", format_rtt(r), n.rttcost);
    }
    format!(
        "{} neighbour {} address {} if {} reach {:04x} ureach {:04x} rxcost {} txcost {}{} cost {}\n",
        kind.as_str(),
        neighbour_id(n),
        n.address,
        ifname,
        n.reach,
        n.unicast_reach,
        n.rxcost,
        n.txcost,
        rtt,
        n.cost
    )
}

pub fn xroute_line(kind: Kind, x: &XrouteView) -> String {
    let src = src_or_default(&x.prefix, &x.src_prefix);
    format!(
        "{} xroute {}-{} prefix {} from {} metric {}\n",
        kind.as_str(),
        x.prefix,
        src,
        x.prefix,
        src,
        x.metric
    )
}

pub fn route_id(
    prefix: &Prefix,
    src: &Option<Prefix>,
    neighbour: &Ipv6Addr,
    ifindex: u32,
) -> String {
    object_id((prefix, src, neighbour, ifindex))
}

pub fn route_line(kind: Kind, r: &RouteView, ifname: &str) -> String {
    let via: IpAddr = IpAddr::V6(r.neighbour);
    format!(
        "{} route {} prefix {} from {} installed {} id {} metric {} refmetric {} via {} if {}\n",
        kind.as_str(),
        route_id(&r.prefix, &r.src_prefix, &r.neighbour, r.ifindex),
        r.prefix,
        src_or_default(&r.prefix, &r.src_prefix),
        if r.installed { "yes" } else { "no" },
        r.router_id,
        r.metric,
        r.refmetric,
        via,
        ifname
    )
}

/// Interface names by index, for the lines that name an interface.
pub fn interface_names(node: &Node) -> BTreeMap<u32, String> {
    node.interfaces().map(|i| (i.ifindex, i.name)).collect()
}

/// Everything `dump` prints, in babeld's order: interfaces, neighbours, xroutes, routes.
/// `down` lists configured interfaces that are not up (printed `up false`).
pub fn dump(node: &Node, down: &[String]) -> String {
    let mut out = String::new();
    let names = interface_names(node);
    for i in node.interfaces() {
        out.push_str(&interface_line(Kind::Add, &i, true));
    }
    for name in down {
        let _ = writeln!(out, "add interface {name} up false");
    }
    for n in node.neighbours() {
        let ifname = names.get(&n.ifindex).map(String::as_str).unwrap_or("?");
        out.push_str(&neighbour_line(Kind::Add, &n, ifname));
    }
    for x in node.xroutes() {
        out.push_str(&xroute_line(Kind::Add, x));
    }
    for r in node.routes() {
        let ifname = names.get(&r.ifindex).map(String::as_str).unwrap_or("?");
        out.push_str(&route_line(Kind::Add, &r, ifname));
    }
    out
}

/// Counters of what was dropped and why, as `counter NAME VALUE` lines (the answer to
/// `counters`, a routed extension that babeld answers `bad`): the engine's [`Stats`],
/// refusals at each memory bound, and what authentication rejected (`auth`).
pub fn counters(stats: &Stats, auth: &AuthCounters) -> String {
    let mut out = String::new();
    let mut line = |name: &str, v: u64| {
        let _ = writeln!(out, "counter {name} {v}");
    };
    line("packets-received", stats.packets_received);
    line("packets-dropped", stats.packets_dropped);
    line("tlvs-ignored", stats.tlvs_ignored);
    line("updates-received", stats.updates_received);
    line("updates-unfeasible", stats.updates_unfeasible);
    line("updates-filtered", stats.updates_filtered);
    line("packets-sent", stats.packets_sent);
    line("over-limit", stats.over_limit);
    for l in Limit::ALL {
        line(&format!("over-limit-{}", l.name()), stats.refused(l));
    }
    line("auth-accepted", auth.accepted);
    for r in Reject::ALL {
        line(
            &format!("auth-rejected-{}", r.name()),
            auth.rejected.get(&r).copied().unwrap_or(0),
        );
    }
    line("auth-challenge-requests-sent", auth.challenge_requests_sent);
    line("auth-challenge-replies-sent", auth.challenge_replies_sent);
    line("auth-challenges-completed", auth.challenges_completed);
    out
}

/// What a request line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Dump,
    Monitor,
    Unmonitor,
    Quit,
    /// `counters`: the [`counters`] lines.
    Counters,
    /// A configuration statement that this socket may apply now. Applying it answers `ok`,
    /// `bad`, or `no REASON` (babeld's `flush interface` of an unknown interface).
    Statement(Statement),
    /// Answered `bad`: not a request nor a statement, or a statement this socket does not
    /// take (any on a read-only socket, one accepted only at start-up on a read-write one).
    Bad(String),
    /// An empty or comment-only line: answered `ok`.
    Nothing,
}

/// Interprets one request line (without its newline) on a read-only or read-write socket,
/// as babeld 1.12 does: `dump`, `monitor`, `unmonitor` and `quit` on either socket, also
/// followed by a comment; configuration statements only on a read-write socket, and only
/// those it applies at run time; everything else is `bad`.
pub fn parse_request(line: &str, read_write: bool) -> Request {
    // routed's own request (babeld answers it `bad`); `#` ends a line as in a statement.
    if line.split('#').next().unwrap_or_default().trim() == "counters" {
        return Request::Counters;
    }
    let stmt = match parse_statement(line) {
        Ok(Some(s)) => s,
        Ok(None) => return Request::Nothing,
        Err(e) => return Request::Bad(e),
    };
    match stmt {
        Statement::Dump => Request::Dump,
        Statement::Monitor => Request::Monitor,
        Statement::Unmonitor => Request::Unmonitor,
        Statement::Quit => Request::Quit,
        _ if !read_write => Request::Bad("this control socket is read-only".into()),
        s if !s.allowed_at_runtime() => Request::Bad("accepted only at start-up".into()),
        s => Request::Statement(s),
    }
}

/// Splits a control session's bytes into request lines of at most [`MAX_LINE`] bytes
/// (babeld refuses longer ones). Holds at most one partial line.
#[derive(Debug, Default)]
pub struct LineReader {
    buf: Vec<u8>,
}

/// One input of a control session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A request line, without its `\n` (or `\r\n`); invalid UTF-8 is replaced.
    Line(String),
    /// A line longer than [`MAX_LINE`]: answered `bad`, then the session is closed.
    TooLong,
}

impl LineReader {
    /// Appends `bytes` and pushes the complete lines to `out`. After [`Input::TooLong`] the
    /// session is over: nothing more is read.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Input>) {
        for piece in bytes.split_inclusive(|&b| b == b'\n') {
            let (body, complete) = match piece.strip_suffix(b"\n") {
                Some(b) => (b, true),
                None => (piece, false),
            };
            if self.buf.len() + body.len() > MAX_LINE {
                self.buf.clear();
                out.push(Input::TooLong);
                return;
            }
            self.buf.extend_from_slice(body);
            if complete {
                let text = String::from_utf8_lossy(&self.buf);
                out.push(Input::Line(text.trim_end_matches('\r').to_string()));
                self.buf.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pfx(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn lines_match_babeld_field_for_field() {
        let n = NeighbourView {
            ifindex: 3,
            address: "fe80::1".parse().unwrap(),
            reach: 0xfff0,
            unicast_reach: 0,
            rxcost: 96,
            txcost: 96,
            rtt: Some(Duration::from_micros(1234)),
            rttcost: 12,
            cost: 108,
        };
        let l = neighbour_line(Kind::Add, &n, "eth0");
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(
            [f[0], f[1], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11], f[12]],
            [
                "add",
                "neighbour",
                "address",
                "fe80::1",
                "if",
                "eth0",
                "reach",
                "fff0",
                "ureach",
                "0000",
                "rxcost",
                "96"
            ]
        );
        assert!(
            l.ends_with("txcost 96 rtt 1.234 rttcost 12 cost 108\n"),
            "{l}"
        );

        let x = XrouteView {
            prefix: pfx("10.0.0.0/24"),
            src_prefix: None,
            metric: 0,
        };
        assert_eq!(
            xroute_line(Kind::Add, &x),
            "add xroute 10.0.0.0/24-0.0.0.0/0 prefix 10.0.0.0/24 from 0.0.0.0/0 metric 0\n"
        );
        let r = RouteView {
            prefix: pfx("fd00:1::/64"),
            src_prefix: Some(pfx("fd00:2::/48")),
            router_id: RouterId([2, 0, 0, 0, 0, 0, 0, 7]),
            seqno: 5,
            metric: 192,
            refmetric: 96,
            next_hop: "fe80::2".parse().unwrap(),
            ifindex: 3,
            neighbour: "fe80::2".parse().unwrap(),
            installed: true,
            feasible: true,
        };
        let l = route_line(Kind::Change, &r, "eth0");
        let rest = l
            .split_once(' ')
            .unwrap()
            .1
            .split_once(' ')
            .unwrap()
            .1
            .split_once(' ')
            .unwrap()
            .1;
        assert_eq!(
            rest,
            "prefix fd00:1::/64 from fd00:2::/48 installed yes id 02:00:00:00:00:00:00:07 metric 192 refmetric 96 via fe80::2 if eth0\n"
        );
        assert!(l.starts_with("change route "));
    }

    /// babeld prints a neighbour's RTT penalty as `rttcost` (with `type tunnel rtt-min
    /// 0.001 rtt-max 0.01`, babeld 1.12 shows `rtt 0.788 rttcost 96 cost 192`): above
    /// rtt-max it is the whole max-rtt-penalty, and it is part of the cost.
    #[test]
    fn dump_prints_the_rtt_penalty_of_a_neighbour() {
        use babel_core::testing::Mesh;
        use babel_core::{Config, InterfaceConfig};
        let mut m = Mesh::new(7);
        let a = m.add_node(Config::default(), 1);
        let b = m.add_node(Config::default(), 1);
        let tunnel = InterfaceConfig {
            rtt_min: Duration::from_millis(1),
            rtt_max: Duration::from_millis(10),
            max_rtt_penalty: Some(150),
            ..InterfaceConfig::tunnel()
        };
        let (link, _, _) = m.connect(a, b, tunnel);
        // 20 ms each way: an RTT of 40 ms, above rtt-max.
        m.set_link_latency(link, Duration::from_millis(20));
        m.run_for(Duration::from_secs(60));
        let text = dump(m.node(a), &[]);
        let line = text
            .lines()
            .find(|l| l.starts_with("add neighbour "))
            .unwrap_or_else(|| panic!("no neighbour in {text}"));
        let field = |name: &str| -> &str {
            let w: Vec<&str> = line.split(' ').collect();
            let i = w.iter().position(|x| *x == name).expect(name);
            w[i + 1]
        };
        let rtt: f64 = field("rtt").parse().unwrap();
        assert!(rtt > 10.0, "{line}");
        assert_eq!(field("rttcost"), "150", "{line}");
        assert_eq!(field("cost"), "246", "96 + the penalty: {line}");
    }

    #[test]
    fn requests_are_recognised() {
        assert_eq!(parse_request("dump", false), Request::Dump);
        assert_eq!(parse_request(" monitor ", false), Request::Monitor);
        assert_eq!(parse_request("unmonitor", false), Request::Unmonitor);
        assert_eq!(parse_request("quit", false), Request::Quit);
        assert_eq!(parse_request("counters", false), Request::Counters);
        assert_eq!(parse_request("counters # c", true), Request::Counters);
        assert_eq!(parse_request("", false), Request::Nothing);
        assert_eq!(parse_request("# a comment", true), Request::Nothing);
        assert!(matches!(
            parse_request("interface eth1 type wired", true),
            Request::Statement(Statement::Interface { .. })
        ));
        assert!(matches!(
            parse_request("max-routes 5000", true),
            Request::Statement(_)
        ));
        assert!(matches!(
            parse_request("flush interface nosuch", true),
            Request::Statement(Statement::FlushInterface(_))
        ));
        assert!(matches!(parse_request("frobnicate", true), Request::Bad(_)));
        assert!(matches!(
            parse_request("max-routes 0", true),
            Request::Bad(_)
        ));
        assert!(banner("node1", RouterId([1; 8])).starts_with("BABEL 1.0\nversion routed-"));
        assert!(banner("node1", RouterId([1; 8])).ends_with("my-id 01:01:01:01:01:01:01:01\nok\n"));
    }

    /// Each answer below is babeld 1.12.1's to the same line (checked against `babeld -g
    /// PORT` and `babeld -G PORT` in a network namespace): `bad` for any statement on a
    /// read-only socket and for a start-up-only one on a read-write socket; the four requests
    /// served with a trailing comment; `bad` for extra words.
    #[test]
    fn replies_match_babeld() {
        let bad = |line: &str, rw: bool| {
            assert!(
                matches!(parse_request(line, rw), Request::Bad(_)),
                "{line:?} on a {} socket: {:?}",
                if rw { "read-write" } else { "read-only" },
                parse_request(line, rw)
            )
        };
        // -g: configuration statements of every kind are `bad`, not `no`.
        for line in [
            "interface eth1 type wired",
            "interface eth-b hello-interval 2",
            "flush interface nosuch",
            "flush interface eth0",
            "reopen-logfile",
            "in ip 10.0.0.0/8 deny",
            "debug 2",
        ] {
            bad(line, false);
        }
        // -G: statements babeld takes only at start-up are `bad` too.
        for line in [
            "in ip 10.0.0.0/8 deny",
            "in deny",
            "debug 2",
            "export-table 20",
        ] {
            bad(line, true);
        }
        // Either socket: a comment after a request is allowed; other words are not.
        for rw in [false, true] {
            assert_eq!(parse_request("dump # comment", rw), Request::Dump);
            assert_eq!(parse_request("monitor # comment", rw), Request::Monitor);
            assert_eq!(parse_request("unmonitor # c", rw), Request::Unmonitor);
            assert_eq!(parse_request("quit # x", rw), Request::Quit);
            assert_eq!(parse_request("  dump  ", rw), Request::Dump);
            bad("dump now", rw);
            bad("frobnicate", rw);
        }
        // -G: run-time statements, also with a comment.
        assert!(matches!(
            parse_request("interface eth0 rtt-min 5 # c", true),
            Request::Statement(_)
        ));
        assert!(matches!(
            parse_request("reopen-logfile", true),
            Request::Statement(Statement::ReopenLogfile)
        ));
    }

    #[test]
    fn lines_are_split_and_long_ones_refused() {
        let mut r = LineReader::default();
        let mut out = Vec::new();
        r.push(b"du", &mut out);
        assert!(out.is_empty());
        r.push(b"mp\r\nquit\n\xffx", &mut out);
        assert_eq!(
            out,
            [Input::Line("dump".into()), Input::Line("quit".into())]
        );
        out.clear();
        r.push(b"\n", &mut out);
        assert_eq!(out, [Input::Line("\u{fffd}x".into())]);
        out.clear();
        r.push(&[b'a'; MAX_LINE], &mut out);
        assert!(out.is_empty(), "exactly MAX_LINE bytes still fit");
        r.push(b"a", &mut out);
        assert_eq!(out, [Input::TooLong]);
    }

    #[test]
    fn counters_are_one_per_line_and_name_each_limit() {
        let mut auth = AuthCounters::default();
        auth.rejected.insert(Reject::Replay, 3);
        let stats = Stats {
            over_limit: 7,
            ..Stats::default()
        };
        let text = counters(&stats, &auth);
        assert!(text.lines().all(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            f.len() == 3 && f[0] == "counter" && f[2].parse::<u64>().is_ok()
        }));
        assert!(text.contains("counter over-limit 7\n"));
        assert!(text.contains("counter over-limit-routes-per-neighbour 0\n"));
        assert!(text.contains("counter auth-rejected-replay 3\n"));
        assert!(text.contains("counter auth-rejected-bad-mac 0\n"));
    }
}
