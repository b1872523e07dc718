//! Policy routing for source-specific routes Linux cannot hold natively (IPv4): one routing
//! table per source prefix, and a rule `from SRC lookup TABLE` in front of the main table.
//!
//! [`SourceTables`] decides which table and rule priority a source prefix gets;
//! [`RouteInstaller::add_rule`] and friends put the rules into the kernel. The rules carry
//! protocol 42, like our routes (`ip rule` shows `proto babel`).
//!
//! Priorities follow the source prefix length: `first_priority + (32 - plen)` for IPv4, so a
//! more specific source is always looked up first, and two sources with the same priority are
//! either equal or disjoint (their order does not matter). No rule ever has to be moved when
//! a source comes or goes.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use crate::install::{Request, RouteError, RouteInstaller};
use crate::nl::{
    self, MsgBuilder, AF_INET, AF_INET6, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST,
};
use babel_core::wire::Prefix;

// Rule attributes (linux/fib_rules.h).
const FRA_DST: u16 = 1;
const FRA_SRC: u16 = 2;
const FRA_IIFNAME: u16 = 3;
const FRA_PRIORITY: u16 = 6;
const FRA_FWMARK: u16 = 10;
const FRA_TABLE: u16 = 15;
const FRA_OIFNAME: u16 = 17;
const FRA_UID_RANGE: u16 = 20;
const FRA_PROTOCOL: u16 = 21;
const FRA_IP_PROTO: u16 = 22;
const FRA_SPORT_RANGE: u16 = 23;
const FRA_DPORT_RANGE: u16 = 24;
/// fib_rule_hdr action FR_ACT_TO_TBL: look up a table.
const FR_ACT_TO_TBL: u8 = 1;
/// Size of struct fib_rule_hdr: family, dst_len, src_len, tos, table, two reserved bytes,
/// action, flags (32 bits).
const RULE_HDRLEN: usize = 12;

/// babeld's defaults: `first-table-number` 10, `first-rule-priority` 100, 10 source tables.
pub const DEFAULT_FIRST_TABLE: u32 = 10;
pub const DEFAULT_FIRST_RULE_PRIORITY: u32 = 100;
pub const DEFAULT_SOURCE_TABLES: u32 = 10;
/// The last priority before the main table's rule.
const MAX_PRIORITY: u32 = 32765;

/// A rule `from src lookup table` at `priority`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SourceRule {
    pub priority: u32,
    pub src: Prefix,
    pub table: u32,
}

impl fmt::Display for SourceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: from {} lookup {}",
            self.priority, self.src, self.table
        )
    }
}

/// A source rule as a kernel dump reports it, with the protocol that installed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DumpedRule {
    pub rule: SourceRule,
    /// FRA_PROTOCOL: 42 (RTPROT_BABEL) for ours, 0 (RTPROT_UNSPEC) for a rule added without
    /// one (by `ip rule` without `proto`, or by babeld, which sets none).
    pub protocol: u8,
}

/// All source tables are taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("all {0} source tables are in use")]
pub struct TablesExhausted(pub u32);

#[derive(Clone, Copy, Debug)]
struct Slot {
    table: u32,
    /// Routes installed in the table.
    routes: u32,
}

/// The source tables in use, with a count of routes in each: a table and its rule exist
/// while at least one route is in it.
#[derive(Clone, Debug)]
pub struct SourceTables {
    first_table: u32,
    count: u32,
    first_priority: u32,
    slots: BTreeMap<Prefix, Slot>,
}

impl Default for SourceTables {
    fn default() -> Self {
        Self::new(
            DEFAULT_FIRST_TABLE,
            DEFAULT_SOURCE_TABLES,
            DEFAULT_FIRST_RULE_PRIORITY,
        )
    }
}

impl SourceTables {
    /// Tables `first_table .. first_table + count`, rules from `first_priority` on.
    pub fn new(first_table: u32, count: u32, first_priority: u32) -> Self {
        SourceTables {
            first_table,
            count,
            first_priority,
            slots: BTreeMap::new(),
        }
    }

    /// The table numbers this allocator hands out.
    pub fn tables(&self) -> Range<u32> {
        self.first_table..self.first_table.saturating_add(self.count)
    }

    /// The rule priorities it uses for a family (source prefixes /32 to /0 for IPv4, /128 to
    /// /0 for IPv6 without `ipv6-subtrees`), always before the main table's rule (32766).
    pub fn priorities(&self, v4: bool) -> Range<u32> {
        let first = self.first_priority.min(MAX_PRIORITY);
        let span = if v4 { 33 } else { 129 };
        first
            ..self
                .first_priority
                .saturating_add(span)
                .min(MAX_PRIORITY + 1)
    }

    /// Whether a kernel rule looks like one of ours (priority in our range for its family,
    /// table in ours): what is purged at start and at exit.
    pub fn is_ours(&self, r: &SourceRule) -> bool {
        self.priorities(r.src.is_v4()).contains(&r.priority) && self.tables().contains(&r.table)
    }

    /// The rule of `src` in `table`.
    pub fn rule(&self, src: Prefix, table: u32) -> SourceRule {
        let max = if src.is_v4() { 32 } else { 128 };
        SourceRule {
            priority: self
                .first_priority
                .saturating_add(u32::from(max - src.plen().min(max)))
                .min(MAX_PRIORITY),
            src,
            table,
        }
    }

    /// The table of `src`, if it has one.
    pub fn table(&self, src: Prefix) -> Option<u32> {
        self.slots.get(&src).map(|s| s.table)
    }

    /// One more route from `src`: its table, and the rule to add when the table is new.
    pub fn acquire(&mut self, src: Prefix) -> Result<(u32, Option<SourceRule>), TablesExhausted> {
        if let Some(s) = self.slots.get_mut(&src) {
            s.routes += 1;
            return Ok((s.table, None));
        }
        let used: std::collections::BTreeSet<u32> = self.slots.values().map(|s| s.table).collect();
        let table = self
            .tables()
            .find(|t| !used.contains(t))
            .ok_or(TablesExhausted(self.count))?;
        self.slots.insert(src, Slot { table, routes: 1 });
        Ok((table, Some(self.rule(src, table))))
    }

    /// One route from `src` fewer: the rule to remove when its table became empty.
    pub fn release(&mut self, src: Prefix) -> Option<SourceRule> {
        let s = self.slots.get_mut(&src)?;
        s.routes = s.routes.saturating_sub(1);
        if s.routes > 0 {
            return None;
        }
        let table = s.table;
        self.slots.remove(&src);
        Some(self.rule(src, table))
    }

    /// Every rule currently wanted.
    pub fn rules(&self) -> Vec<SourceRule> {
        self.slots
            .iter()
            .map(|(src, s)| self.rule(*src, s.table))
            .collect()
    }

    /// Forgets every table (after a purge).
    pub fn clear(&mut self) {
        self.slots.clear();
    }
}

/// A rule message for `r` (type `kind`): the identifying fields (family, source, priority,
/// table) and the action; with `protocol`, FRA_PROTOCOL too.
fn rule_message(r: &SourceRule, kind: u16, flags: u16, protocol: Option<u8>) -> Vec<u8> {
    let mut header = [0u8; RULE_HDRLEN];
    header[0] = if r.src.is_v4() { AF_INET } else { AF_INET6 };
    header[2] = r.src.plen();
    // Tables above 255 only fit in FRA_TABLE.
    header[4] = u8::try_from(r.table).unwrap_or(0);
    header[7] = FR_ACT_TO_TBL;
    let mut buf = Vec::with_capacity(64);
    let mut b = MsgBuilder::new(&mut buf, kind, flags, 0, &header);
    b.u32(FRA_PRIORITY, r.priority);
    if r.src.plen() > 0 {
        b.ip(FRA_SRC, r.src.addr());
    }
    b.u32(FRA_TABLE, r.table);
    if let Some(p) = protocol {
        b.attr(FRA_PROTOCOL, &[p]);
    }
    b.finish();
    buf
}

/// A kernel rule (RTM_NEWRULE payload) as a [`DumpedRule`], when it is a plain
/// `from SRC lookup TABLE` rule. A rule without FRA_PROTOCOL has protocol 0 (RTPROT_UNSPEC),
/// which is how Linux reports a rule added without one.
pub(crate) fn source_rule(p: &[u8]) -> Option<DumpedRule> {
    let h = p.get(0..RULE_HDRLEN)?;
    let (family, dst_len, src_len) = (h[0], h[1], h[2]);
    if h[7] != FR_ACT_TO_TBL || dst_len != 0 {
        return None;
    }
    let mut priority = 0;
    let mut table = u32::from(h[4]);
    let mut src = None;
    let mut protocol = 0;
    let mut plain = true;
    nl::each_attr(p, RULE_HDRLEN, |kind, v| match kind {
        FRA_PRIORITY => priority = nl::u32_of(v).unwrap_or(priority),
        FRA_PROTOCOL => protocol = v.first().copied().unwrap_or(protocol),
        FRA_TABLE => table = nl::u32_of(v).unwrap_or(table),
        FRA_SRC => src = Some(nl::ip_of(family, v)),
        // Rules with other selectors (interfaces, marks, ports...) are not ours.
        FRA_IIFNAME | FRA_OIFNAME | FRA_FWMARK | FRA_DST | FRA_IP_PROTO | FRA_SPORT_RANGE
        | FRA_DPORT_RANGE | FRA_UID_RANGE => plain = false,
        _ => {}
    })?;
    if !plain {
        return None;
    }
    let addr = match (src, family) {
        (Some(a), _) => a?,
        (None, AF_INET) => std::net::Ipv4Addr::UNSPECIFIED.into(),
        (None, AF_INET6) => std::net::Ipv6Addr::UNSPECIFIED.into(),
        _ => return None,
    };
    let src = Prefix::new(addr, src_len).ok()?;
    Some(DumpedRule {
        rule: SourceRule {
            priority,
            src,
            table,
        },
        protocol,
    })
}

// The rule operations are never inlined into the installer thread's loop: most routers never
// use them, or only at start and exit, and the loop's code stays mapped while the daemon
// runs (release_start_up_pages, docs/performance.md).
impl RouteInstaller {
    /// Adds rule `r` (fails with EEXIST when the same rule is there).
    #[inline(never)]
    pub fn add_rule(&mut self, r: &SourceRule) -> Result<(), RouteError> {
        let bytes = rule_message(
            r,
            nl::RTM_NEWRULE,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            Some(self.config().protocol),
        );
        self.rule_request(bytes, "add rule", r)
    }

    /// Removes our rule `r` (ENOENT when it is not there). The request carries our
    /// protocol: Linux then deletes only a rule of that protocol, never an administrator's
    /// rule with the same source, priority and table (a request without FRA_PROTOCOL
    /// matches a rule of any protocol).
    #[inline(never)]
    pub fn remove_rule(&mut self, r: &SourceRule) -> Result<(), RouteError> {
        let bytes = rule_message(
            r,
            nl::RTM_DELRULE,
            NLM_F_REQUEST | NLM_F_ACK,
            Some(self.config().protocol),
        );
        self.rule_request(bytes, "remove rule", r)
    }

    fn rule_request(
        &mut self,
        bytes: Vec<u8>,
        op: &'static str,
        r: &SourceRule,
    ) -> Result<(), RouteError> {
        let req = Request {
            bytes,
            op,
            dst: None,
            src: Some(r.src),
            remove: false,
        };
        match self.run(std::slice::from_ref(&req)).into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    /// The plain source rules (`from SRC lookup TABLE`) of both families, of every protocol.
    /// Linux marks a rule dump interrupted when the rules change while it runs (a rule may
    /// then be missing from it): it is asked for again (see `RouteInstaller::dump_whole`).
    #[inline(never)]
    pub fn dump_rules(&mut self) -> Result<Vec<DumpedRule>, RouteError> {
        self.dump_whole("rule", nl::RTM_GETRULE, RULE_HDRLEN, |kind, p, out| {
            if kind == nl::RTM_NEWRULE {
                out.extend(source_rule(p));
            }
        })
    }

    /// Removes every source rule of our protocol for which `ours` holds (leftovers of an
    /// earlier run at start, everything at exit). Returns how many were removed.
    ///
    /// Only rules that carry our protocol (42 unless configured otherwise, as every rule
    /// [`RouteInstaller::add_rule`] adds does) are removed. A rule of another protocol
    /// (`proto static`, `proto boot`...) is an administrator's or another daemon's, even when
    /// its priority and table fall in our ranges. A rule without a protocol (0, RTPROT_UNSPEC)
    /// is left alone too: it may be a leftover of babeld, which sets no protocol on its rules,
    /// but just as well a rule added by hand with `ip rule add` (which sets none either), and
    /// nothing in the rule tells them apart. Such a leftover is harmless: it only sends
    /// traffic from its source to a table that routed may fill again; routed adds its own
    /// rule (protocol 42) beside it, since Linux tells rules of different protocols apart.
    #[inline(never)]
    pub fn purge_rules(&mut self, ours: impl Fn(&SourceRule) -> bool) -> Result<usize, RouteError> {
        let protocol = self.config().protocol;
        let mut n = 0;
        for DumpedRule {
            rule: r,
            protocol: p,
        } in self.dump_rules()?
        {
            if p != protocol || !ours(&r) {
                continue;
            }
            match self.remove_rule(&r) {
                Ok(()) => n += 1,
                // Gone meanwhile, or a duplicate already removed.
                Err(e) if e.errno() == Some(libc::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn tables_are_shared_per_source_and_freed_with_the_last_route() {
        let mut t = SourceTables::default();
        let (a, rule) = t.acquire(p("192.168.1.0/24")).unwrap();
        assert_eq!(a, 10);
        assert_eq!(
            rule,
            Some(SourceRule {
                priority: 108,
                src: p("192.168.1.0/24"),
                table: 10
            })
        );
        // A second route from the same source: same table, no new rule.
        assert_eq!(t.acquire(p("192.168.1.0/24")).unwrap(), (10, None));
        let (b, rule) = t.acquire(p("192.168.0.0/16")).unwrap();
        assert_eq!(b, 11);
        // Less specific: looked up after the /24.
        assert_eq!(rule.unwrap().priority, 116);
        assert_eq!(t.release(p("192.168.1.0/24")), None);
        let gone = t.release(p("192.168.1.0/24")).unwrap();
        assert_eq!(gone.table, 10);
        assert_eq!(t.table(p("192.168.1.0/24")), None);
        // The freed table is handed out again.
        assert_eq!(t.acquire(p("10.0.0.0/8")).unwrap().0, 10);
        assert_eq!(t.release(p("172.16.0.0/12")), None);
    }

    #[test]
    fn running_out_of_tables_is_an_error_not_a_reuse() {
        let mut t = SourceTables::new(200, 2, 1000);
        t.acquire(p("10.1.0.0/16")).unwrap();
        t.acquire(p("10.2.0.0/16")).unwrap();
        assert_eq!(t.acquire(p("10.3.0.0/16")), Err(TablesExhausted(2)));
        assert_eq!(t.rules().len(), 2);
        assert!(t.is_ours(&t.rule(p("10.9.0.0/16"), 201)));
        assert!(!t.is_ours(&t.rule(p("10.9.0.0/16"), 202)));
        assert_eq!(t.rule(p("0.0.0.0/0"), 200).priority, 1032);
        assert_eq!(t.rule(p("10.0.0.1/32"), 200).priority, 1000);
        assert_eq!(t.rule(p("2001:db8::/32"), 200).priority, 1096);
        assert!(t.is_ours(&t.rule(p("::/0"), 200)));
        assert_eq!(t.priorities(false), 1000..1129);
        // An IPv4 rule past the IPv4 range is somebody else's.
        assert_eq!(t.priorities(true), 1000..1033);
        let v4_late = SourceRule {
            priority: 1040,
            ..t.rule(p("10.9.0.0/16"), 200)
        };
        assert!(!t.is_ours(&v4_late));
        // Never behind the main table.
        let late = SourceTables::new(10, 10, 32750);
        assert_eq!(late.rule(p("0.0.0.0/0"), 10).priority, 32765);
        assert_eq!(late.priorities(true), 32750..32766);
    }

    #[test]
    fn rule_messages_round_trip() {
        let r = SourceRule {
            priority: 108,
            src: p("192.168.1.0/24"),
            table: 300,
        };
        let m = rule_message(&r, nl::RTM_NEWRULE, 0, Some(42));
        let (f, complete) = nl::frames(&m);
        assert!(complete && f.len() == 1);
        let pl = f[0].payload;
        assert_eq!(pl[4], 0, "table 300 only fits in FRA_TABLE");
        assert_eq!(
            source_rule(pl),
            Some(DumpedRule {
                rule: r,
                protocol: 42
            })
        );
        // Another selector: not a plain source rule.
        let mut with_mark = pl.to_vec();
        with_mark.extend_from_slice(&8u16.to_ne_bytes());
        with_mark.extend_from_slice(&FRA_FWMARK.to_ne_bytes());
        with_mark.extend_from_slice(&1u32.to_ne_bytes());
        assert_eq!(source_rule(&with_mark), None);
        // Truncated: refused, no panic.
        assert_eq!(source_rule(&pl[..pl.len() - 10]), None);
        assert_eq!(source_rule(&pl[..5]), None);
        // An IPv6 rule from an IPv6 source.
        let r6 = SourceRule {
            priority: 120,
            src: p("2001:db8::/48"),
            table: 11,
        };
        // Without FRA_PROTOCOL: protocol 0 (RTPROT_UNSPEC), as Linux reports such a rule.
        let m = rule_message(&r6, nl::RTM_NEWRULE, 0, None);
        assert_eq!(
            source_rule(nl::frames(&m).0[0].payload),
            Some(DumpedRule {
                rule: r6,
                protocol: 0
            })
        );
        let m = rule_message(&r6, nl::RTM_NEWRULE, 0, Some(4));
        assert_eq!(
            source_rule(nl::frames(&m).0[0].payload).map(|d| d.protocol),
            Some(4),
            "proto static"
        );
    }
}
