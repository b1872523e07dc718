//! One configuration statement: the grammar of babeld 1.12's configuration language.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use babel_core::wire::{Prefix, RouterId};

use super::filter::{Family, Filter, FilterKind, ProtoMatch, Verdict};
use super::lexer::{tokenize, Token};
use super::number::{
    ip_as_v6, parse_c_int, parse_eui64, parse_hex, parse_interval, parse_ip, parse_net,
    parse_thousands,
};
use super::types::{
    limit_keyword, Channel, FileSetting, InterfaceConfig, InterfaceType, Key, KeyType,
    LocalEndpoint, LocalServer, LIMITS, MAX_INTERVAL_MS, MAX_LIMIT,
};

/// Number of source-specific tables babeld reserves after `first-table-number` (and rule
/// priorities after `first-rule-priority`).
const SRC_TABLE_NUM: i64 = 10;

/// A parsed statement, before it is applied to a [`super::Config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// `interface NAME [param...]`.
    Interface {
        name: String,
        params: InterfaceConfig,
    },
    /// `default [param...]`: defaults for every interface.
    Default(InterfaceConfig),
    /// `in|out|redistribute|install [match...] [action]`.
    Filter { kind: FilterKind, filter: Filter },
    /// `key id NAME type TYPE value HEX`.
    Key(Key),
    /// A global option.
    Global(Global),
    /// `flush interface NAME` (control socket only).
    FlushInterface(String),
    /// `reopen-logfile` (control socket only).
    ReopenLogfile,
    /// `dump` (control socket only).
    Dump,
    /// `monitor` (control socket only).
    Monitor,
    /// `unmonitor` (control socket only).
    Unmonitor,
    /// `quit` (control socket only).
    Quit,
}

impl Statement {
    /// Control-socket requests, which are not configuration and are refused in files and `-C`.
    pub fn is_control_request(&self) -> bool {
        matches!(
            self,
            Statement::FlushInterface(_)
                | Statement::ReopenLogfile
                | Statement::Dump
                | Statement::Monitor
                | Statement::Unmonitor
                | Statement::Quit
        )
    }

    /// Whether babeld 1.12 accepts this statement on a read-write control socket once the
    /// daemon runs: interface and default statements, keys, control requests, and the globals
    /// `link-detect`, `log-file`, `smoothing-half-life`, `diversity` and `diversity-factor`,
    /// and routed's own `max-*` limits.
    /// Filters and the other globals need a restart. (A read-only socket takes only `dump`,
    /// `monitor`, `unmonitor` and `quit`.)
    pub fn allowed_at_runtime(&self) -> bool {
        match self {
            Statement::Filter { .. } => false,
            Statement::Global(g) => matches!(
                g,
                Global::LinkDetect(_)
                    | Global::LogFile(_)
                    | Global::SmoothingHalfLife(_)
                    | Global::Diversity(_)
                    | Global::DiversityFactor(_)
                    | Global::Limit(..)
            ),
            _ => true,
        }
    }
}

/// A global option statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Global {
    ProtocolGroup(Ipv6Addr),
    ProtocolPort(u16),
    KernelPriority(u16),
    ReflectKernelMetric(bool),
    AllowDuplicates(u16),
    RandomId(bool),
    Ipv6Subtrees(bool),
    Debug(u32),
    LocalServer(LocalServer),
    ExportTable(u16),
    ImportTable(u16),
    LinkDetect(bool),
    Diversity(u8),
    DiversityFactor(u16),
    SmoothingHalfLife(u32),
    Daemonise(bool),
    SkipKernelSetup(bool),
    RouterId(RouterId),
    StateFile(FileSetting),
    LogFile(FileSetting),
    PidFile(FileSetting),
    FirstTableNumber(u32),
    FirstRulePriority(u32),
    /// `max-neighbours`, `max-routes`, ... (see [`LIMITS`]): routed's memory bounds.
    Limit(babel_core::Limit, usize),
}

/// Parses one line. `Ok(None)` for a blank or comment-only line. The error is a reason without
/// location; callers add `FILE:LINE:` or `-C '...':`.
pub fn parse_statement(line: &str) -> Result<Option<Statement>, String> {
    let line = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(line);
    if line.contains('\n') {
        return Err("a statement must fit on one line".into());
    }
    let tokens = tokenize(line)?;
    let mut p = Cursor {
        toks: &tokens,
        i: 0,
    };
    let Some(first) = p.next() else {
        return Ok(None);
    };
    if first.quoted {
        return Err(format!("unknown statement \"{}\"", first.text));
    }
    let kw = first.text.as_str();
    let stmt = match kw {
        "in" => filter(&mut p, FilterKind::In)?,
        "out" => filter(&mut p, FilterKind::Out)?,
        "redistribute" => filter(&mut p, FilterKind::Redistribute)?,
        "install" => filter(&mut p, FilterKind::Install)?,
        "interface" => {
            let name = p.string("interface", "an interface name")?;
            if name.is_empty() {
                return Err("interface: empty interface name".into());
            }
            Statement::Interface {
                name,
                params: interface_params(&mut p)?,
            }
        }
        "default" => Statement::Default(interface_params(&mut p)?),
        "key" => Statement::Key(key(&mut p)?),
        "flush" => {
            let what = p.word("flush", "\"interface\"")?;
            if what != "interface" {
                return Err(format!("flush: unknown object \"{what}\""));
            }
            let name = p.word("flush interface", "an interface name")?;
            p.end(kw)?;
            Statement::FlushInterface(name.to_string())
        }
        "reopen-logfile" | "dump" | "monitor" | "unmonitor" | "quit" => {
            p.end(kw)?;
            match kw {
                "reopen-logfile" => Statement::ReopenLogfile,
                "dump" => Statement::Dump,
                "monitor" => Statement::Monitor,
                "unmonitor" => Statement::Unmonitor,
                _ => Statement::Quit,
            }
        }
        _ => {
            let g = global(&mut p, kw)?;
            p.end(kw)?;
            Statement::Global(g)
        }
    };
    Ok(Some(stmt))
}

struct Cursor<'a> {
    toks: &'a [Token],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn next(&mut self) -> Option<&'a Token> {
        let t = self.toks.get(self.i)?;
        self.i += 1;
        Some(t)
    }

    fn peek(&self) -> Option<&'a Token> {
        self.toks.get(self.i)
    }

    /// An unquoted word (babeld's `getword`).
    fn word(&mut self, what: &str, expected: &str) -> Result<&'a str, String> {
        match self.next() {
            None => Err(format!("{what}: missing value (expected {expected})")),
            Some(t) if t.quoted => Err(format!(
                "{what}: quoted string \"{}\" where {expected} was expected",
                t.text
            )),
            Some(t) => Ok(&t.text),
        }
    }

    /// A word or a quoted string (babeld's `getstring`).
    fn string(&mut self, what: &str, expected: &str) -> Result<String, String> {
        match self.next() {
            None => Err(format!("{what}: missing value (expected {expected})")),
            Some(t) => Ok(t.text.clone()),
        }
    }

    /// Nothing but blanks and a comment may follow.
    fn end(&mut self, what: &str) -> Result<(), String> {
        match self.next() {
            None => Ok(()),
            Some(t) => Err(format!(
                "{what}: unexpected \"{}\" at end of statement",
                t.text
            )),
        }
    }

    fn int(&mut self, what: &str, lo: i64, hi: i64) -> Result<i64, String> {
        let w = self.word(what, &format!("an integer from {lo} to {hi}"))?;
        match parse_c_int(w) {
            Some(v) if (lo..=hi).contains(&v) => Ok(v),
            Some(_) => Err(format!(
                "{what}: value {w} out of range (expected {lo} to {hi})"
            )),
            None => Err(format!(
                "{what}: bad value \"{w}\" (expected an integer from {lo} to {hi})"
            )),
        }
    }

    fn u16(&mut self, what: &str, lo: u16, hi: u16) -> Result<u16, String> {
        let v = self.int(what, i64::from(lo), i64::from(hi))?;
        u16::try_from(v).map_err(|_| format!("{what}: value {v} out of range"))
    }

    fn u32(&mut self, what: &str, lo: u32, hi: u32) -> Result<u32, String> {
        let v = self.int(what, i64::from(lo), i64::from(hi))?;
        u32::try_from(v).map_err(|_| format!("{what}: value {v} out of range"))
    }

    /// babeld's `getbool`: true/yes, false/no, default/auto (returned as `None`).
    fn tristate(&mut self, what: &str) -> Result<Option<bool>, String> {
        let w = self.word(what, "true, false or auto")?;
        match w {
            "true" | "yes" => Ok(Some(true)),
            "false" | "no" => Ok(Some(false)),
            "default" | "auto" => Ok(None),
            _ => Err(format!(
                "{what}: bad value \"{w}\" (expected true, false or auto)"
            )),
        }
    }

    /// A global boolean: `auto` means false, as in babeld.
    fn boolean(&mut self, what: &str) -> Result<bool, String> {
        Ok(self.tristate(what)? == Some(true))
    }

    fn interval(&mut self, what: &str) -> Result<Duration, String> {
        let w = self.word(what, "an interval in seconds")?;
        parse_interval(w, MAX_INTERVAL_MS).ok_or_else(|| {
            format!(
                "{what}: bad interval \"{w}\" (expected seconds, e.g. 4 or 0.5, at most 655.35)"
            )
        })
    }

    /// An RTT bound: babeld reads milliseconds with up to three decimals (microsecond
    /// precision).
    fn rtt(&mut self, what: &str) -> Result<Duration, String> {
        let w = self.word(what, "milliseconds")?;
        match parse_thousands(w) {
            Some(us) if us > 0 && us <= i32::MAX as u64 => Ok(Duration::from_micros(us)),
            _ => Err(format!(
                "{what}: bad value \"{w}\" (expected a positive number of milliseconds)"
            )),
        }
    }

    fn prefix(&mut self, what: &str) -> Result<Prefix, String> {
        let w = self.word(what, "a prefix")?;
        parse_net(w).map_err(|e| format!("{what}: bad prefix \"{w}\": {e}"))
    }

    fn ip(&mut self, what: &str) -> Result<IpAddr, String> {
        let w = self.word(what, "an address")?;
        parse_ip(w).ok_or_else(|| format!("{what}: bad address \"{w}\""))
    }

    fn router_id(&mut self, what: &str) -> Result<RouterId, String> {
        let w = self.word(what, "a router-id")?;
        parse_eui64(w).ok_or_else(|| {
            format!("{what}: bad router-id \"{w}\" (expected 8 hex octets or a MAC address)")
        })
    }

    fn plen(&mut self, what: &str) -> Result<u8, String> {
        let v = self.int(what, 0, 128)?;
        u8::try_from(v).map_err(|_| format!("{what}: value {v} out of range"))
    }
}

fn family_of(p: &Prefix) -> Family {
    if p.is_v4() {
        Family::V4
    } else {
        Family::V6
    }
}

fn set_family(f: &mut Filter, fam: Family, what: &str) -> Result<(), String> {
    match f.family {
        None => {
            f.family = Some(fam);
            Ok(())
        }
        Some(have) if have == fam => Ok(()),
        Some(_) => Err(format!("{what}: mixes IPv4 and IPv6 in one filter")),
    }
}

fn tighten_le(cur: Option<u8>, p: u8) -> Option<u8> {
    Some(cur.map_or(p, |c| c.min(p)))
}

fn tighten_ge(cur: Option<u8>, p: u8) -> Option<u8> {
    Some(cur.map_or(p, |c| c.max(p)))
}

fn filter(p: &mut Cursor<'_>, kind: FilterKind) -> Result<Statement, String> {
    let mut f = Filter::default();
    while let Some(t) = p.next() {
        let kw = t.text.as_str();
        if t.quoted {
            return Err(format!(
                "{}: unknown filter keyword \"{kw}\"",
                kind.keyword()
            ));
        }
        match kw {
            "ip" => {
                let pfx = p.prefix(kw)?;
                set_family(&mut f, family_of(&pfx), kw)?;
                f.prefix = Some(pfx);
            }
            "src-ip" => {
                let pfx = p.prefix(kw)?;
                set_family(&mut f, family_of(&pfx), kw)?;
                f.src_prefix = Some(pfx);
            }
            "eq" => {
                let n = p.plen(kw)?;
                f.plen_ge = tighten_ge(f.plen_ge, n);
                f.plen_le = tighten_le(f.plen_le, n);
            }
            "le" => f.plen_le = tighten_le(f.plen_le, p.plen(kw)?),
            "ge" => f.plen_ge = tighten_ge(f.plen_ge, p.plen(kw)?),
            "src-eq" => {
                let n = p.plen(kw)?;
                f.src_plen_ge = tighten_ge(f.src_plen_ge, n);
                f.src_plen_le = tighten_le(f.src_plen_le, n);
            }
            "src-le" => f.src_plen_le = tighten_le(f.src_plen_le, p.plen(kw)?),
            "src-ge" => f.src_plen_ge = tighten_ge(f.src_plen_ge, p.plen(kw)?),
            "neigh" => f.neigh = Some(p.ip(kw)?),
            "id" => f.id = Some(p.router_id(kw)?),
            "proto" => {
                let n = p.int(kw, 0, 255)?;
                // babeld treats protocol 0 as "no proto match".
                f.proto = u8::try_from(n)
                    .ok()
                    .filter(|&n| n != 0)
                    .map(ProtoMatch::Kernel);
            }
            "local" => f.proto = Some(ProtoMatch::Local),
            "if" => f.ifname = Some(p.string(kw, "an interface name")?),
            "allow" => f.action.verdict = Verdict::Allow,
            "deny" => f.action.verdict = Verdict::Deny,
            "metric" => f.action.verdict = Verdict::Metric(p.u16(kw, 1, u16::MAX)?),
            "src-prefix" => {
                let pfx = p.prefix(kw)?;
                set_family(&mut f, family_of(&pfx), kw)?;
                f.action.src_prefix = Some(pfx);
            }
            "table" => f.action.table = Some(p.u16(kw, 1, u16::MAX)?),
            "pref-src" => {
                let a = p.ip(kw)?;
                let fam = if a.is_ipv4() { Family::V4 } else { Family::V6 };
                set_family(&mut f, fam, kw)?;
                f.action.pref_src = Some(a);
            }
            _ => {
                return Err(format!(
                    "{}: unknown filter keyword \"{kw}\"",
                    kind.keyword()
                ))
            }
        }
    }
    // babeld: a prefix-length bound without any address restricts the filter to IPv6.
    if f.family.is_none()
        && (f.plen_le.is_some_and(|p| p < 128)
            || f.plen_ge.is_some_and(|p| p > 0)
            || f.src_plen_le.is_some_and(|p| p < 128)
            || f.src_plen_ge.is_some_and(|p| p > 0))
    {
        f.family = Some(Family::V6);
    }
    Ok(Statement::Filter { kind, filter: f })
}

fn interface_params(p: &mut Cursor<'_>) -> Result<InterfaceConfig, String> {
    let mut c = InterfaceConfig::default();
    while let Some(t) = p.next() {
        let kw = t.text.as_str();
        if t.quoted {
            return Err(format!("unknown interface parameter \"{kw}\""));
        }
        match kw {
            "rxcost" => c.rxcost = Some(p.u16(kw, 1, u16::MAX)?),
            "hello-interval" => c.hello_interval = Some(p.interval(kw)?),
            "update-interval" => c.update_interval = Some(p.interval(kw)?),
            "type" => {
                let w = p.word(kw, "auto, wired, wireless or tunnel")?;
                c.kind = match w {
                    "auto" | "default" => None,
                    "wired" => Some(InterfaceType::Wired),
                    "wireless" => Some(InterfaceType::Wireless),
                    "tunnel" => Some(InterfaceType::Tunnel),
                    _ => {
                        return Err(format!(
                            "type: bad value \"{w}\" (expected auto, wired, wireless or tunnel)"
                        ))
                    }
                };
            }
            // Deprecated in babeld in favour of `type`; `wired auto` means wireless there too.
            "wired" => {
                c.kind = Some(if p.tristate(kw)? == Some(true) {
                    InterfaceType::Wired
                } else {
                    InterfaceType::Wireless
                })
            }
            "faraway" => c.faraway = p.tristate(kw)?,
            "unicast" => c.unicast = p.tristate(kw)?,
            "link-quality" => c.link_quality = p.tristate(kw)?,
            "split-horizon" => c.split_horizon = p.tristate(kw)?,
            "enable-timestamps" => c.enable_timestamps = p.tristate(kw)?,
            "rfc6126-compatible" => c.rfc6126_compatible = p.tristate(kw)?,
            "accept-bad-signatures" => c.accept_bad_signatures = p.tristate(kw)?,
            "v4-via-v6" => c.v4_via_v6 = p.tristate(kw)?,
            "rtt-decay" => c.rtt_decay = Some(p.u16(kw, 1, 256)?),
            "rtt-min" => c.rtt_min = Some(p.rtt(kw)?),
            "rtt-max" => c.rtt_max = Some(p.rtt(kw)?),
            "max-rtt-penalty" => c.max_rtt_penalty = Some(p.u16(kw, 1, u16::MAX)?),
            "channel" => {
                let w = p.word(kw, "a channel number, interfering or noninterfering")?;
                c.channel = Some(match w {
                    "interfering" => Channel::Interfering,
                    "noninterfering" => Channel::NonInterfering,
                    _ => match parse_c_int(w) {
                        Some(n @ 1..=255) => Channel::Number(n as u8),
                        _ => {
                            return Err(format!(
                                "channel: bad value \"{w}\" (expected 1 to 255, interfering or noninterfering)"
                            ))
                        }
                    },
                });
            }
            "key" => c.key = Some(p.word(kw, "a key id")?.to_string()),
            _ => return Err(format!("unknown interface parameter \"{kw}\"")),
        }
    }
    Ok(c)
}

fn key(p: &mut Cursor<'_>) -> Result<Key, String> {
    let mut id = None;
    let mut kind = None;
    let mut value = None;
    while let Some(t) = p.next() {
        let kw = t.text.as_str();
        if t.quoted {
            return Err(format!("key: unknown keyword \"{kw}\""));
        }
        match kw {
            "id" => id = Some(p.word("key id", "a key name")?.to_string()),
            "type" => {
                let w = p.word("key type", "hmac-sha256 or blake2s128")?;
                kind = Some(match w {
                    "hmac-sha256" => KeyType::HmacSha256,
                    "blake2s128" => KeyType::Blake2s128,
                    _ => {
                        return Err(format!(
                        "key type: unsupported type \"{w}\" (expected hmac-sha256 or blake2s128)"
                    ))
                    }
                });
            }
            "value" => {
                let w = p.word("key value", "a hexadecimal string")?;
                value = Some(parse_hex(w).ok_or_else(|| {
                    "key value: expected an even number of hexadecimal digits".to_string()
                })?);
            }
            _ => return Err(format!("key: unknown keyword \"{kw}\"")),
        }
    }
    let id = id.ok_or("key: missing id")?;
    let kind = kind.ok_or("key: missing type (hmac-sha256 or blake2s128)")?;
    // Without a value babeld takes an all-zero HMAC key (and refuses a BLAKE2s one, as the
    // length check below does).
    let mut value = value.unwrap_or_default();
    match kind {
        // RFC 8967 §4.1 / RFC 2104: HMAC keys longer than the 64-byte block would be hashed;
        // babeld refuses them and zero-pads shorter ones, which HMAC does implicitly.
        KeyType::HmacSha256 => {
            if value.len() > 64 {
                return Err(format!(
                    "key value: {} bytes, at most 64 for hmac-sha256",
                    value.len()
                ));
            }
            value.resize(64, 0);
        }
        // RFC 8967 §4.1 / RFC 7693: a BLAKE2s key is 1 to 32 bytes.
        KeyType::Blake2s128 => {
            if value.is_empty() || value.len() > 32 {
                return Err(format!(
                    "key value: {} bytes, expected 1 to 32 for blake2s128",
                    value.len()
                ));
            }
        }
    }
    Ok(Key { id, kind, value })
}

fn global(p: &mut Cursor<'_>, kw: &str) -> Result<Global, String> {
    // babeld's integer globals take 1..=65534.
    let small = |p: &mut Cursor<'_>| p.u16(kw, 1, 0xFFFE);
    Ok(match kw {
        "protocol-port" => Global::ProtocolPort(small(p)?),
        "kernel-priority" => Global::KernelPriority(small(p)?),
        "allow-duplicates" => Global::AllowDuplicates(small(p)?),
        "local-port" | "local-port-readwrite" => Global::LocalServer(LocalServer {
            endpoint: LocalEndpoint::Port(small(p)?),
            read_write: kw == "local-port-readwrite",
        }),
        "export-table" => Global::ExportTable(small(p)?),
        "import-table" => Global::ImportTable(small(p)?),
        "link-detect" => Global::LinkDetect(p.boolean(kw)?),
        "random-id" => Global::RandomId(p.boolean(kw)?),
        "daemonise" => Global::Daemonise(p.boolean(kw)?),
        "skip-kernel-setup" => Global::SkipKernelSetup(p.boolean(kw)?),
        "ipv6-subtrees" => Global::Ipv6Subtrees(p.boolean(kw)?),
        "reflect-kernel-metric" => Global::ReflectKernelMetric(p.boolean(kw)?),
        "protocol-group" => Global::ProtocolGroup(ip_as_v6(p.ip(kw)?)),
        "state-file" => Global::StateFile(FileSetting::from_text(&p.string(kw, "a file name")?)),
        "log-file" => Global::LogFile(FileSetting::from_text(&p.string(kw, "a file name")?)),
        "pid-file" => Global::PidFile(FileSetting::from_text(&p.string(kw, "a file name")?)),
        "local-path" | "local-path-readwrite" => {
            let path = p.string(kw, "a socket path")?;
            if path.is_empty() {
                return Err(format!("{kw}: empty path"));
            }
            Global::LocalServer(LocalServer {
                endpoint: LocalEndpoint::Path(PathBuf::from(path)),
                read_write: kw == "local-path-readwrite",
            })
        }
        "debug" => Global::Debug(p.u32(kw, 0, i32::MAX as u32)?),
        "diversity" => {
            let numeric = p
                .peek()
                .is_some_and(|t| !t.quoted && t.text.starts_with(|c: char| c.is_ascii_digit()));
            if numeric {
                Global::Diversity(p.u16(kw, 0, 3)? as u8)
            } else {
                Global::Diversity(if p.boolean(kw)? { 3 } else { 0 })
            }
        }
        "diversity-factor" => Global::DiversityFactor(p.u16(kw, 0, 256)?),
        "smoothing-half-life" => Global::SmoothingHalfLife(p.u32(kw, 0, i32::MAX as u32)?),
        "router-id" => Global::RouterId(p.router_id(kw)?),
        "first-table-number" => {
            Global::FirstTableNumber(p.u32(kw, 1, (254 - SRC_TABLE_NUM - 1) as u32)?)
        }
        "first-rule-priority" => {
            Global::FirstRulePriority(p.u32(kw, 1, (32765 - SRC_TABLE_NUM - 1) as u32)?)
        }
        _ => match LIMITS.iter().find(|(k, _, _)| *k == kw) {
            Some(&(_, limit, _)) => Global::Limit(limit, p.int(kw, 1, MAX_LIMIT as i64)? as usize),
            None => return Err(format!("unknown statement \"{kw}\"")),
        },
    })
}

/// Writes `s` so that the lexer reads it back as one string token: bare when it is a plain
/// word, otherwise quoted with `"` and `\` escaped.
fn write_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    let plain = !s.is_empty()
        && !s.starts_with('"')
        && !s
            .chars()
            .any(|c| matches!(c, ' ' | '\t' | '\r' | '\n' | '#'));
    if plain {
        return f.write_str(s);
    }
    f.write_str("\"")?;
    for c in s.chars() {
        if c == '"' || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"")
}

/// babeld's fixed-point notation: `value / 1000` with three decimals.
fn write_thousands(f: &mut fmt::Formatter<'_>, value: u128) -> fmt::Result {
    write!(f, "{}.{:03}", value / 1000, value % 1000)
}

fn write_bool(f: &mut fmt::Formatter<'_>, kw: &str, v: Option<bool>) -> fmt::Result {
    match v {
        Some(b) => write!(f, " {kw} {b}"),
        None => Ok(()),
    }
}

fn write_interface_params(f: &mut fmt::Formatter<'_>, c: &InterfaceConfig) -> fmt::Result {
    if let Some(k) = c.kind {
        let t = match k {
            InterfaceType::Wired => "wired",
            InterfaceType::Wireless => "wireless",
            InterfaceType::Tunnel => "tunnel",
        };
        write!(f, " type {t}")?;
    }
    if let Some(d) = c.hello_interval {
        f.write_str(" hello-interval ")?;
        write_thousands(f, d.as_millis())?;
    }
    if let Some(d) = c.update_interval {
        f.write_str(" update-interval ")?;
        write_thousands(f, d.as_millis())?;
    }
    if let Some(v) = c.rxcost {
        write!(f, " rxcost {v}")?;
    }
    write_bool(f, "link-quality", c.link_quality)?;
    write_bool(f, "split-horizon", c.split_horizon)?;
    match c.channel {
        Some(Channel::Interfering) => f.write_str(" channel interfering")?,
        Some(Channel::NonInterfering) => f.write_str(" channel noninterfering")?,
        Some(Channel::Number(n)) => write!(f, " channel {n}")?,
        None => {}
    }
    write_bool(f, "faraway", c.faraway)?;
    write_bool(f, "enable-timestamps", c.enable_timestamps)?;
    write_bool(f, "unicast", c.unicast)?;
    write_bool(f, "rfc6126-compatible", c.rfc6126_compatible)?;
    if let Some(v) = c.rtt_decay {
        write!(f, " rtt-decay {v}")?;
    }
    if let Some(d) = c.rtt_min {
        f.write_str(" rtt-min ")?;
        write_thousands(f, d.as_micros())?;
    }
    if let Some(d) = c.rtt_max {
        f.write_str(" rtt-max ")?;
        write_thousands(f, d.as_micros())?;
    }
    if let Some(v) = c.max_rtt_penalty {
        write!(f, " max-rtt-penalty {v}")?;
    }
    write_bool(f, "v4-via-v6", c.v4_via_v6)?;
    if let Some(k) = &c.key {
        write!(f, " key {k}")?;
    }
    write_bool(f, "accept-bad-signatures", c.accept_bad_signatures)
}

fn write_filter(f: &mut fmt::Formatter<'_>, flt: &Filter) -> fmt::Result {
    if let Some(p) = flt.prefix {
        write!(f, " ip {p}")?;
    }
    if let Some(n) = flt.plen_ge {
        write!(f, " ge {n}")?;
    }
    if let Some(n) = flt.plen_le {
        write!(f, " le {n}")?;
    }
    if let Some(p) = flt.src_prefix {
        write!(f, " src-ip {p}")?;
    }
    if let Some(n) = flt.src_plen_ge {
        write!(f, " src-ge {n}")?;
    }
    if let Some(n) = flt.src_plen_le {
        write!(f, " src-le {n}")?;
    }
    if let Some(a) = flt.neigh {
        write!(f, " neigh {a}")?;
    }
    if let Some(id) = flt.id {
        write!(f, " id {id}")?;
    }
    match flt.proto {
        Some(ProtoMatch::Kernel(n)) => write!(f, " proto {n}")?,
        Some(ProtoMatch::Local) => f.write_str(" local")?,
        None => {}
    }
    if let Some(name) = &flt.ifname {
        f.write_str(" if ")?;
        write_string(f, name)?;
    }
    match flt.action.verdict {
        Verdict::Allow => f.write_str(" allow")?,
        Verdict::Deny => f.write_str(" deny")?,
        Verdict::Metric(m) => write!(f, " metric {m}")?,
    }
    if let Some(p) = flt.action.src_prefix {
        write!(f, " src-prefix {p}")?;
    }
    if let Some(t) = flt.action.table {
        write!(f, " table {t}")?;
    }
    if let Some(a) = flt.action.pref_src {
        write!(f, " pref-src {a}")?;
    }
    Ok(())
}

impl fmt::Display for Global {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = |f: &mut fmt::Formatter<'_>, kw: &str, s: &FileSetting| {
            write!(f, "{kw} ")?;
            match s {
                FileSetting::Off => f.write_str("\"\""),
                FileSetting::Path(p) => write_string(f, &p.to_string_lossy()),
            }
        };
        match self {
            Global::ProtocolGroup(a) => write!(f, "protocol-group {a}"),
            Global::ProtocolPort(v) => write!(f, "protocol-port {v}"),
            Global::KernelPriority(v) => write!(f, "kernel-priority {v}"),
            Global::ReflectKernelMetric(b) => write!(f, "reflect-kernel-metric {b}"),
            Global::AllowDuplicates(v) => write!(f, "allow-duplicates {v}"),
            Global::RandomId(b) => write!(f, "random-id {b}"),
            Global::Ipv6Subtrees(b) => write!(f, "ipv6-subtrees {b}"),
            Global::Debug(v) => write!(f, "debug {v}"),
            Global::LocalServer(s) => {
                let rw = if s.read_write { "-readwrite" } else { "" };
                match &s.endpoint {
                    LocalEndpoint::Port(p) => write!(f, "local-port{rw} {p}"),
                    LocalEndpoint::Path(p) => {
                        write!(f, "local-path{rw} ")?;
                        write_string(f, &p.to_string_lossy())
                    }
                }
            }
            Global::ExportTable(v) => write!(f, "export-table {v}"),
            Global::ImportTable(v) => write!(f, "import-table {v}"),
            Global::LinkDetect(b) => write!(f, "link-detect {b}"),
            Global::Diversity(k) => write!(f, "diversity {k}"),
            Global::DiversityFactor(v) => write!(f, "diversity-factor {v}"),
            Global::SmoothingHalfLife(v) => write!(f, "smoothing-half-life {v}"),
            Global::Daemonise(b) => write!(f, "daemonise {b}"),
            Global::SkipKernelSetup(b) => write!(f, "skip-kernel-setup {b}"),
            Global::RouterId(id) => write!(f, "router-id {id}"),
            Global::StateFile(s) => file(f, "state-file", s),
            Global::LogFile(s) => file(f, "log-file", s),
            Global::PidFile(s) => file(f, "pid-file", s),
            Global::FirstTableNumber(v) => write!(f, "first-table-number {v}"),
            Global::FirstRulePriority(v) => write!(f, "first-rule-priority {v}"),
            Global::Limit(l, v) => write!(f, "{} {v}", limit_keyword(*l)),
        }
    }
}

impl fmt::Display for Statement {
    /// The statement as one configuration line that [`parse_statement`] reads back to an equal
    /// statement. A `key` statement prints its secret value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Interface { name, params } => {
                f.write_str("interface ")?;
                write_string(f, name)?;
                write_interface_params(f, params)
            }
            Statement::Default(params) => {
                f.write_str("default")?;
                write_interface_params(f, params)
            }
            Statement::Filter { kind, filter } => {
                f.write_str(kind.keyword())?;
                write_filter(f, filter)
            }
            Statement::Key(k) => {
                let t = match k.kind {
                    KeyType::HmacSha256 => "hmac-sha256",
                    KeyType::Blake2s128 => "blake2s128",
                };
                write!(f, "key id {} type {t} value ", k.id)?;
                k.value.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
            Statement::Global(g) => write!(f, "{g}"),
            Statement::FlushInterface(name) => write!(f, "flush interface {name}"),
            Statement::ReopenLogfile => f.write_str("reopen-logfile"),
            Statement::Dump => f.write_str("dump"),
            Statement::Monitor => f.write_str("monitor"),
            Statement::Unmonitor => f.write_str("unmonitor"),
            Statement::Quit => f.write_str("quit"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Statement {
        parse_statement(line).unwrap().unwrap()
    }

    #[test]
    fn blank_and_comment_lines_are_nothing() {
        assert_eq!(parse_statement("").unwrap(), None);
        assert_eq!(parse_statement("   # hello").unwrap(), None);
        assert_eq!(parse_statement("\n").unwrap(), None);
    }

    #[test]
    fn family_inference_matches_babeld() {
        let Statement::Filter { filter, .. } = one("redistribute le 64 metric 256") else {
            panic!()
        };
        assert_eq!(filter.family, Some(Family::V6));
        let Statement::Filter { filter, .. } = one("redistribute le 24 ip 0.0.0.0/0") else {
            panic!()
        };
        assert_eq!(filter.family, Some(Family::V4));
        assert_eq!(filter.plen_le, Some(24));
        let Statement::Filter { filter, .. } = one("redistribute local deny") else {
            panic!()
        };
        assert_eq!(filter.family, None);
        assert!(parse_statement("install ip 10.0.0.0/8 pref-src 2001:db8::1").is_err());
    }

    #[test]
    fn eq_le_ge_tighten() {
        let Statement::Filter { filter, .. } = one("out ip ::/0 le 64 le 48 ge 8 ge 16") else {
            panic!()
        };
        assert_eq!((filter.plen_ge, filter.plen_le), (Some(16), Some(48)));
        let Statement::Filter { filter, .. } = one("out ip ::/0 eq 64") else {
            panic!()
        };
        assert_eq!((filter.plen_ge, filter.plen_le), (Some(64), Some(64)));
    }

    #[test]
    fn runtime_rules() {
        assert!(one("link-detect true").allowed_at_runtime());
        assert!(!one("debug 2").allowed_at_runtime());
        assert!(!one("in deny").allowed_at_runtime());
        assert!(one("interface eth0 rxcost 10").allowed_at_runtime());
        assert!(one("dump").is_control_request());
        assert_eq!(
            one("flush interface eth0"),
            Statement::FlushInterface("eth0".into())
        );
        assert!(parse_statement("dump now").is_err());
    }
}
