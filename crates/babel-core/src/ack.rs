//! Acknowledged delivery of urgent updates (RFC 8966 §3.3, §3.7.2): every packet that carries
//! a retraction, a router-id switch or a new seqno of ours ends with an Acknowledgment Request,
//! and each neighbour that must receive it is expected to answer with an Acknowledgment of the
//! same nonce. A neighbour that does not is sent the (then current) updates again, unicast,
//! with a new nonce and a doubled timeout, a bounded number of times.
//!
//! Memory is bounded by the number of destinations waiting for an acknowledgment, summed over
//! neighbours; beyond the limit the updates are still sent, but not tracked.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::route::RouteKey;
use crate::time::Timestamp;

/// The Interval of our Acknowledgment Requests, in centiseconds: the receiver must answer
/// within it (babeld answers within about 0.9 of it, babel-core within 20 ms).
pub(crate) const ACK_INTERVAL_CS: u16 = 20;
/// How long to wait for the first acknowledgment (the interval, the round trip, slack);
/// doubled after every unanswered transmission.
pub(crate) const ACK_TIMEOUT: Duration = Duration::from_millis(500);
/// Transmissions of one batch of updates to one neighbour, the first one included.
pub(crate) const ACK_MAX_SENDS: u8 = 5;
/// The encoded size of an Acknowledgment Request TLV, reserved at the end of each packet.
pub(crate) const ACK_REQUEST_LEN: usize = 8;

/// Updates sent to one neighbour in one packet, waiting for its acknowledgment.
#[derive(Debug, Clone)]
pub(crate) struct AckWait {
    pub keys: Vec<RouteKey>,
    /// Transmissions so far.
    pub sends: u8,
    /// The timeout used for this transmission.
    pub delay: Duration,
    pub deadline: Timestamp,
}

#[derive(Debug)]
pub(crate) struct AckWaits {
    /// By (neighbour, nonce).
    waits: BTreeMap<(u32, u16), AckWait>,
    /// Destinations tracked, summed over all waits.
    keys: usize,
    next_nonce: u16,
}

impl AckWaits {
    pub(crate) fn new(first_nonce: u16) -> Self {
        AckWaits {
            waits: BTreeMap::new(),
            keys: 0,
            next_nonce: first_nonce,
        }
    }

    /// A fresh nonce for the next Acknowledgment Request.
    pub(crate) fn nonce(&mut self) -> u16 {
        self.next_nonce = self.next_nonce.wrapping_add(1);
        self.next_nonce
    }

    /// Starts waiting for `neigh` to acknowledge `nonce`. Returns false (and tracks
    /// nothing) when that would go beyond `limit` tracked destinations.
    pub(crate) fn insert(&mut self, neigh: u32, nonce: u16, wait: AckWait, limit: usize) -> bool {
        if self.keys.saturating_add(wait.keys.len()) > limit {
            return false;
        }
        self.keys += wait.keys.len();
        if let Some(old) = self.waits.insert((neigh, nonce), wait) {
            // The nonce wrapped around while an old wait was pending: the new one replaces it.
            self.keys -= old.keys.len();
        }
        true
    }

    /// An acknowledgment from `neigh`; returns whether it was for a pending request.
    pub(crate) fn ack(&mut self, neigh: u32, nonce: u16) -> bool {
        match self.waits.remove(&(neigh, nonce)) {
            Some(w) => {
                self.keys -= w.keys.len();
                true
            }
            None => false,
        }
    }

    /// Forgets everything sent to neighbours that are gone.
    pub(crate) fn forget_neighbours(&mut self, gone: impl Fn(u32) -> bool) {
        let keys = &mut self.keys;
        self.waits.retain(|(n, _), w| {
            let keep = !gone(*n);
            if !keep {
                *keys -= w.keys.len();
            }
            keep
        });
    }

    /// Removes and returns the waits whose deadline has passed, oldest deadline first.
    pub(crate) fn take_due(&mut self, now: Timestamp) -> Vec<(u32, AckWait)> {
        let mut due: Vec<(Timestamp, (u32, u16))> = self
            .waits
            .iter()
            .filter(|(_, w)| w.deadline <= now)
            .map(|(k, w)| (w.deadline, *k))
            .collect();
        due.sort_unstable();
        due.into_iter()
            .filter_map(|(_, k)| {
                let w = self.waits.remove(&k)?;
                self.keys -= w.keys.len();
                Some((k.0, w))
            })
            .collect()
    }

    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        self.waits.values().map(|w| w.deadline).min()
    }

    /// Destinations waiting for an acknowledgment, summed over neighbours.
    pub(crate) fn tracked(&self) -> usize {
        self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(n: usize, deadline_s: u64) -> AckWait {
        AckWait {
            keys: (0..n)
                .map(|i| RouteKey::new(format!("2001:db8:{i:x}::/48").parse().unwrap(), None))
                .collect(),
            sends: 1,
            delay: ACK_TIMEOUT,
            deadline: Timestamp::from_secs(deadline_s),
        }
    }

    #[test]
    fn rfc8966_3_3_waits_are_bounded_acked_and_timed_out_in_order() {
        let mut w = AckWaits::new(7);
        let (a, b) = (w.nonce(), w.nonce());
        assert_ne!(a, b);
        assert!(w.insert(1, a, wait(3, 5), 4));
        assert!(!w.insert(2, a, wait(2, 5), 4), "beyond the limit");
        assert!(w.insert(2, b, wait(1, 3), 4));
        assert_eq!(w.tracked(), 4);
        assert!(!w.ack(2, a), "not the nonce sent to that neighbour");
        assert!(w.ack(1, a));
        assert_eq!(w.tracked(), 1);
        assert!(w.insert(3, b, wait(2, 4), 4));
        assert_eq!(w.next_deadline(), Some(Timestamp::from_secs(3)));
        let due = w.take_due(Timestamp::from_secs(4));
        assert_eq!(due.iter().map(|d| d.0).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(w.tracked(), 0);
        assert!(w.insert(4, a, wait(1, 9), 4));
        w.forget_neighbours(|n| n == 4);
        assert_eq!((w.tracked(), w.next_deadline()), (0, None));
    }
}
