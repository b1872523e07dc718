//! Neighbours (RFC 8966 §3.4): hello histories, IHU, and the link cost computed from them
//! (2-out-of-3 on wired links, ETX on wireless ones, plus the RTT penalty of RFC 9616).

use std::net::Ipv6Addr;
use std::time::Duration;

use crate::time::Timestamp;
use crate::wire::INFINITY;

/// RFC 8966 §3.4.1: the hello history of one neighbour, one per kind of hello (multicast and
/// unicast, which have independent seqno spaces).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HelloHistory {
    /// Bit 15 is the most recent hello; a 1 is a hello received.
    pub reach: u16,
    /// The seqno of the last hello accounted for.
    pub seqno: u16,
    /// The interval the neighbour announced (0 = unknown).
    pub interval: Duration,
    /// When the last hello was accounted for (received, or counted as missed).
    pub time: Timestamp,
}

/// `a - b` in seqno arithmetic (RFC 8966 §3.2.1), as a signed distance.
pub fn seqno_minus(a: u16, b: u16) -> i32 {
    a.wrapping_sub(b) as i16 as i32
}

/// RFC 8966 §3.2.1: `a > b` modulo 2^16.
pub fn seqno_newer(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

impl HelloHistory {
    /// RFC 8966 §3.4.1: accounts for a hello with this seqno. Returns whether the reach
    /// changed in a way that may change the cost.
    pub fn receive(&mut self, now: Timestamp, seqno: u16, interval: Duration) -> bool {
        let mut changed = false;
        if self.reach != 0 {
            let missed = seqno_minus(seqno, self.seqno) - 1;
            if missed < -8 {
                // RFC 8966 §3.4.1: a seqno far in the past: the neighbour restarted; forget
                // the history.
                self.reach = 0;
                changed = true;
            } else if missed < 0 {
                // A late or duplicated hello: undo the hellos we counted as missed.
                self.reach = self.reach.checked_shl((-missed) as u32).unwrap_or(0);
                changed = true;
            } else if missed > 0 {
                self.reach = self.reach.checked_shr(missed as u32).unwrap_or(0);
                changed = true;
            }
        }
        self.seqno = seqno;
        self.reach = (self.reach >> 1) | 0x8000;
        if !interval.is_zero() {
            self.interval = interval;
            self.time = now;
        }
        changed || self.reach & 0xFC00 != 0xFC00
    }

    /// Counts the hellos that should have arrived by `now` and did not (babeld's rule: a
    /// hello is missed once 0.7 of an interval has passed after the expected time).
    /// Returns whether the reach changed.
    pub fn age(&mut self, now: Timestamp) -> bool {
        if self.reach == 0 {
            return false;
        }
        if self.interval.is_zero() {
            self.reach = 0;
            return true;
        }
        let iv = self.interval.as_micros() as u64;
        let elapsed = (now - self.time).as_micros() as u64;
        let slack = iv * 7 / 10;
        if elapsed <= slack + iv {
            return false;
        }
        let missed = (elapsed - slack) / iv;
        self.time += Duration::from_micros(missed * iv);
        self.reach = if missed >= 16 {
            0
        } else {
            self.reach >> missed
        };
        self.seqno = self.seqno.wrapping_add(missed as u16);
        true
    }

    /// When the next hello becomes overdue, for the aging timer.
    pub fn next_check(&self) -> Option<Timestamp> {
        if self.reach == 0 || self.interval.is_zero() {
            return None;
        }
        Some(self.time + self.interval.mul_f32(1.7) + Duration::from_millis(1))
    }
}

/// How the link cost is computed on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostKind {
    /// RFC 8966 Appendix A.2.1: k-out-of-j with k=2, j=3.
    TwoOutOfThree,
    /// RFC 8966 Appendix A.2.2: ETX.
    Etx,
}

/// RFC 8966 Appendix A.2.1 (babeld's variant): the rxcost from a hello history on a lossless
/// link is the nominal cost when 2 of the last 3 hellos arrived, infinity otherwise.
pub fn rxcost_two_out_of_three(reach: u16, nominal: u16) -> u16 {
    let last3 = (reach >> 13) & 0b111;
    if last3.count_ones() >= 2 {
        nominal
    } else {
        INFINITY
    }
}

/// RFC 8966 Appendix A.2.2: on a lossy link the rxcost is the nominal cost divided by the
/// estimated delivery probability, with recent hellos weighted more (babeld's weighting).
pub fn rxcost_etx(reach: u16, nominal: u16) -> u16 {
    if reach & 0x8000 == 0 && reach & 0x4000 == 0 && reach & 0x3FFF == 0 {
        return INFINITY;
    }
    let sreach =
        ((reach & 0x8000) as u32 >> 2) + ((reach & 0x4000) as u32 >> 1) + (reach & 0x3FFF) as u32;
    let cost = (0x8000u32 * nominal as u32) / (sreach + 1);
    cost.clamp(nominal as u32, INFINITY as u32) as u16
}

/// RFC 8966 Appendix A.2.2: the link cost from rxcost and txcost.
pub fn link_cost(kind: CostKind, rxcost: u16, txcost: u16) -> u16 {
    if rxcost == INFINITY || txcost == INFINITY {
        return INFINITY;
    }
    match kind {
        // The cost is the txcost (what the neighbour says of us) once we hear it.
        CostKind::TwoOutOfThree => txcost,
        CostKind::Etx => {
            if rxcost < 256 && txcost < 256 {
                return txcost;
            }
            let a = txcost.max(256) as u32;
            let b = rxcost.max(256) as u32;
            ((a * b + 128) >> 8).min(INFINITY as u32) as u16
        }
    }
}

/// RFC 9616 §4 with babeld's parameters: the extra cost of a link whose smoothed RTT is
/// above `rtt_min`, growing linearly up to `max_penalty` at `rtt_max`.
pub fn rtt_cost(rtt: Duration, rtt_min: Duration, rtt_max: Duration, max_penalty: u16) -> u16 {
    if max_penalty == 0 || rtt <= rtt_min {
        return 0;
    }
    if rtt >= rtt_max || rtt_max <= rtt_min {
        return max_penalty;
    }
    let num = (rtt - rtt_min).as_micros() * max_penalty as u128;
    let den = (rtt_max - rtt_min).as_micros();
    (num / den) as u16
}

/// The state kept about one neighbour.
#[derive(Debug, Clone)]
pub(crate) struct Neighbour {
    pub ifindex: u32,
    pub addr: Ipv6Addr,
    pub hello: HelloHistory,
    pub uhello: HelloHistory,
    /// RFC 8966 §3.4.2: the cost the neighbour reports for receiving us.
    pub txcost: u16,
    pub ihu_time: Timestamp,
    pub ihu_interval: Duration,
    /// Cached link cost (updated whenever an input changes).
    pub cost: u16,
    /// RFC 9616: the last hello timestamp received and when we received it, echoed in IHUs.
    pub hello_ts: Option<(u32, Timestamp)>,
    /// Smoothed RTT and when it was last measured.
    pub rtt: Option<Duration>,
    pub rtt_time: Timestamp,
    /// Seqno of our unicast hellos to this neighbour.
    pub uhello_seqno: u16,
    /// When we first heard it, or heard it again after seven hello intervals or more of
    /// silence.
    pub since: Timestamp,
}

impl Neighbour {
    pub(crate) fn new(ifindex: u32, addr: Ipv6Addr, now: Timestamp, seed: u16) -> Self {
        Neighbour {
            ifindex,
            addr,
            hello: HelloHistory::default(),
            uhello: HelloHistory::default(),
            txcost: INFINITY,
            ihu_time: now,
            ihu_interval: Duration::ZERO,
            cost: INFINITY,
            hello_ts: None,
            rtt: None,
            rtt_time: now,
            uhello_seqno: seed,
            since: now,
        }
    }

    /// The history that says most about the link: the one with the more recent hello.
    pub(crate) fn reach(&self) -> u16 {
        if self.uhello.reach != 0 && (self.hello.reach == 0 || self.uhello.time > self.hello.time) {
            self.uhello.reach
        } else {
            self.hello.reach
        }
    }

    pub(crate) fn rxcost(&self, kind: CostKind, nominal: u16) -> u16 {
        match kind {
            CostKind::TwoOutOfThree => rxcost_two_out_of_three(self.reach(), nominal),
            CostKind::Etx => rxcost_etx(self.reach(), nominal),
        }
    }

    /// RFC 8966 §3.4.2: the txcost is forgotten when no IHU arrived for 3.5 times the
    /// advertised IHU interval.
    pub(crate) fn expire_txcost(&mut self, now: Timestamp) -> bool {
        if self.txcost < INFINITY && !self.ihu_interval.is_zero() {
            let hold = self.ihu_interval.mul_f32(3.5);
            if now - self.ihu_time > hold {
                self.txcost = INFINITY;
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(x: u64) -> Timestamp {
        Timestamp::from_millis(x)
    }

    #[test]
    fn rfc8966_3_4_1_hello_history_counts_received_and_missed() {
        let mut h = HelloHistory::default();
        let iv = Duration::from_secs(4);
        h.receive(ms(0), 10, iv);
        assert_eq!(h.reach, 0x8000);
        h.receive(ms(4000), 11, iv);
        assert_eq!(h.reach, 0xC000);
        // Seqno 12 lost: 13 arrives.
        h.receive(ms(12000), 13, iv);
        assert_eq!(h.reach, 0xB000, "got {:#x}", h.reach);
    }

    #[test]
    fn rfc8966_3_4_1_missed_hellos_are_aged_out_by_time() {
        let mut h = HelloHistory::default();
        let iv = Duration::from_secs(4);
        h.receive(ms(0), 1, iv);
        h.receive(ms(4000), 2, iv);
        assert!(!h.age(ms(6000)), "not yet overdue");
        assert!(h.age(ms(4000 + 4000 + 2900)));
        assert_eq!(h.reach, 0x6000);
        // A hello that arrives late after being counted as missed restores it.
        h.receive(ms(11000), 3, iv);
        assert_eq!(h.reach, 0xE000);
        assert!(h.age(ms(11000 + 70_000)));
        assert_eq!(h.reach, 0);
    }

    #[test]
    fn rfc8966_3_4_1_neighbour_restart_resets_history() {
        let mut h = HelloHistory::default();
        let iv = Duration::from_secs(4);
        for s in 100..110 {
            h.receive(ms(s as u64 * 4000), s, iv);
        }
        h.receive(ms(50_000), 3, iv);
        assert_eq!(h.reach, 0x8000);
    }

    #[test]
    fn rfc8966_a_2_1_two_out_of_three() {
        assert_eq!(rxcost_two_out_of_three(0xE000, 96), 96);
        assert_eq!(rxcost_two_out_of_three(0xA000, 96), 96);
        assert_eq!(rxcost_two_out_of_three(0x6000, 96), 96);
        assert_eq!(rxcost_two_out_of_three(0x8000, 96), INFINITY);
        assert_eq!(rxcost_two_out_of_three(0x1FFF, 96), INFINITY);
        assert_eq!(link_cost(CostKind::TwoOutOfThree, 96, 96), 96);
        assert_eq!(link_cost(CostKind::TwoOutOfThree, 96, INFINITY), INFINITY);
        assert_eq!(link_cost(CostKind::TwoOutOfThree, INFINITY, 96), INFINITY);
    }

    #[test]
    fn rfc8966_a_2_2_etx_grows_with_loss() {
        assert_eq!(rxcost_etx(0xFFFF, 256), 256);
        let half = rxcost_etx(0xAAAA, 256);
        assert!(half > 400 && half < 700, "{half}");
        assert_eq!(rxcost_etx(0, 256), INFINITY);
        // ETX = txcost * rxcost / 256 once both are above nominal.
        assert_eq!(link_cost(CostKind::Etx, 512, 512), 1024);
        assert_eq!(link_cost(CostKind::Etx, 256, 256), 256);
    }

    #[test]
    fn rfc9616_4_rtt_penalty_is_linear_between_min_and_max() {
        let (lo, hi) = (Duration::from_millis(10), Duration::from_millis(120));
        assert_eq!(rtt_cost(Duration::from_millis(5), lo, hi, 150), 0);
        assert_eq!(rtt_cost(Duration::from_millis(65), lo, hi, 150), 75);
        assert_eq!(rtt_cost(Duration::from_millis(500), lo, hi, 150), 150);
        assert_eq!(rtt_cost(Duration::from_millis(500), lo, hi, 0), 0);
    }

    #[test]
    fn rfc8966_3_2_1_seqno_arithmetic_wraps() {
        assert!(seqno_newer(1, 0));
        assert!(seqno_newer(0, 0xFFFF));
        assert!(!seqno_newer(0xFFFF, 0));
        assert!(!seqno_newer(5, 5));
        assert_eq!(seqno_minus(2, 0xFFFF), 3);
    }

    #[test]
    fn rfc8966_3_4_2_txcost_expires_after_three_and_a_half_ihu_intervals() {
        let mut n = Neighbour::new(1, Ipv6Addr::LOCALHOST, ms(0), 0);
        n.txcost = 96;
        n.ihu_interval = Duration::from_secs(12);
        n.ihu_time = ms(0);
        assert!(!n.expire_txcost(ms(41_000)));
        assert!(n.expire_txcost(ms(42_001)));
        assert_eq!(n.txcost, INFINITY);
    }
}
