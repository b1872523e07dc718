//! Outstanding seqno requests (RFC 8966 §3.8): the ones we originated on starvation or on an
//! unfeasible update, and the ones we forwarded for a neighbour. One per destination, which
//! also suppresses duplicates; each is resent with exponential backoff until satisfied.

use std::time::Duration;

use crate::hash::FxHashMap;
use crate::neighbour::seqno_newer;
use crate::route::RouteKey;
use crate::time::Timestamp;
use crate::wire::RouterId;

/// RFC 8966 Appendix B: requests are resent after 2 s, doubling, at most three times.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
pub(crate) const REQUEST_RESENDS: u8 = 3;

#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub router_id: RouterId,
    pub seqno: u16,
    pub hop_count: u8,
    /// Where it goes: a neighbour index, or `None` for multicast on every interface.
    pub target: Option<u32>,
    /// The neighbour we forwarded it for, if any.
    pub requester: Option<u32>,
    pub resends_left: u8,
    pub delay: Duration,
    pub next: Timestamp,
}

#[derive(Debug, Default)]
pub(crate) struct Requests {
    pub pending: FxHashMap<RouteKey, Pending>,
}

impl Requests {
    /// RFC 8966 §3.8.1.2: whether a request for (router_id, seqno) is already outstanding
    /// for this destination with at least this seqno; such a duplicate is not sent again.
    pub(crate) fn is_duplicate(&self, key: &RouteKey, router_id: RouterId, seqno: u16) -> bool {
        self.pending
            .get(key)
            .is_some_and(|p| p.router_id == router_id && !seqno_newer(seqno, p.seqno))
    }

    /// RFC 8966 §3.8.1.2: an update satisfies a request when it carries another router-id or
    /// a seqno at least the requested one. Returns whether a request was satisfied.
    pub(crate) fn satisfy(&mut self, key: &RouteKey, router_id: RouterId, seqno: u16) -> bool {
        if self.pending.is_empty() {
            return false;
        }
        let hit = self
            .pending
            .get(key)
            .is_some_and(|p| p.router_id != router_id || !seqno_newer(p.seqno, seqno));
        if hit {
            self.pending.remove(key);
        }
        hit
    }

    /// Forgets requests that go to or came from a neighbour that is gone.
    pub(crate) fn forget_neighbour(&mut self, n: u32) {
        self.pending
            .retain(|_, p| p.target != Some(n) && p.requester != Some(n));
    }

    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        self.pending.values().map(|p| p.next).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8966_3_8_1_2_duplicates_suppressed_and_satisfaction() {
        let mut r = Requests::default();
        let key = RouteKey::new("2001:db8::/32".parse().unwrap(), None);
        let id = RouterId([3; 8]);
        r.pending.insert(
            key,
            Pending {
                router_id: id,
                seqno: 10,
                hop_count: 64,
                target: None,
                requester: None,
                resends_left: REQUEST_RESENDS,
                delay: REQUEST_TIMEOUT,
                next: Timestamp::ZERO,
            },
        );
        assert!(r.is_duplicate(&key, id, 10));
        assert!(r.is_duplicate(&key, id, 9));
        assert!(!r.is_duplicate(&key, id, 11));
        assert!(!r.is_duplicate(&key, RouterId([4; 8]), 10));
        assert!(!r.satisfy(&key, id, 9), "an older seqno does not satisfy");
        assert!(r.satisfy(&key, id, 10));
        assert!(r.pending.is_empty());
    }
}
