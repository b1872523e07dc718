//! The one deadline structure of the engine: every timer is a `(deadline, key)` pair, and
//! [`Timers::next`] is what `Node::poll_timeout` returns. Rescheduling or cancelling a key
//! replaces its previous deadline, so a key is pending at most once.

use std::collections::BTreeSet;

use crate::hash::FxHashMap;
use crate::time::Timestamp;

/// What a timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum TimerKey {
    /// Send a multicast hello on this interface.
    Hello(u32),
    /// Send a periodic full dump on this interface.
    Update(u32),
    /// Send what is buffered for this interface.
    Flush(u32),
    /// Age the hello histories of this neighbour.
    Neighbour(u32),
    /// Expire routes, collect sources, time out requests.
    Sweep,
    /// Resend pending requests and urgent updates.
    Resend,
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    queue: BTreeSet<(Timestamp, TimerKey)>,
    by_key: FxHashMap<TimerKey, Timestamp>,
}

impl Timers {
    /// Sets (or moves) the deadline of `key`.
    pub(crate) fn set(&mut self, key: TimerKey, at: Timestamp) {
        if let Some(old) = self.by_key.insert(key, at) {
            self.queue.remove(&(old, key));
        }
        self.queue.insert((at, key));
    }

    /// Sets the deadline of `key` unless it is already due earlier.
    pub(crate) fn set_earlier(&mut self, key: TimerKey, at: Timestamp) {
        match self.by_key.get(&key) {
            Some(&old) if old <= at => {}
            _ => self.set(key, at),
        }
    }

    pub(crate) fn cancel(&mut self, key: TimerKey) {
        if let Some(old) = self.by_key.remove(&key) {
            self.queue.remove(&(old, key));
        }
    }

    pub(crate) fn get(&self, key: TimerKey) -> Option<Timestamp> {
        self.by_key.get(&key).copied()
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Timestamp> {
        self.queue.first().map(|(t, _)| *t)
    }

    /// Removes and returns one key due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Timestamp) -> Option<TimerKey> {
        let &(t, key) = self.queue.first()?;
        if t > now {
            return None;
        }
        self.queue.remove(&(t, key));
        self.by_key.remove(&key);
        Some(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescheduling_replaces_and_pop_is_ordered() {
        let mut t = Timers::default();
        t.set(TimerKey::Hello(1), Timestamp::from_secs(5));
        t.set(TimerKey::Sweep, Timestamp::from_secs(3));
        t.set(TimerKey::Hello(1), Timestamp::from_secs(1));
        assert_eq!(t.len(), 2);
        assert_eq!(t.next(), Some(Timestamp::from_secs(1)));
        t.set_earlier(TimerKey::Sweep, Timestamp::from_secs(4));
        assert_eq!(t.get(TimerKey::Sweep), Some(Timestamp::from_secs(3)));
        assert_eq!(t.pop_due(Timestamp::from_secs(2)), Some(TimerKey::Hello(1)));
        assert_eq!(t.pop_due(Timestamp::from_secs(2)), None);
        t.cancel(TimerKey::Sweep);
        assert_eq!(t.next(), None);
    }
}
