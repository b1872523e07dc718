//! The destinations waiting for an update at an interface's next flush (RFC 8966 §3.7.2
//! triggered updates, and specific route requests answered to the group).
//!
//! A burst of changes (a neighbour's full dump of 100,000 prefixes) marks every prefix at
//! once, so the set must be small per destination: destinations of the route table are one
//! bit per slot (the slot is pinned while marked, so that it keeps its key), and only the
//! others (our own prefixes without a slot, requests for unknown prefixes) are keys.

use crate::hash::FxHashSet;
use crate::route::{RouteKey, RouteTable};

#[derive(Debug, Default)]
pub(crate) struct PendingUpdates {
    /// One bit per slot of the route table.
    slots: Vec<u64>,
    /// How many bits of `slots` are set.
    marked: usize,
    /// Destinations without a slot.
    pub keys: FxHashSet<RouteKey>,
}

impl PendingUpdates {
    /// Marks `key`, by its slot when it has one.
    pub fn insert(&mut self, key: RouteKey, routes: &mut RouteTable) {
        match routes.find(&key) {
            Some(slot) => self.insert_slot(slot, routes),
            None => {
                self.keys.insert(key);
            }
        }
    }

    /// Marks the destination of a live slot, pinning it until [`PendingUpdates::take`] or
    /// [`PendingUpdates::release`].
    pub fn insert_slot(&mut self, slot: u32, routes: &mut RouteTable) {
        let (w, b) = (slot as usize / 64, slot % 64);
        if self.slots.len() <= w {
            self.slots.resize(w + 1, 0);
        }
        if self.slots[w] & (1 << b) == 0 {
            self.slots[w] |= 1 << b;
            self.marked += 1;
            routes.pin(slot);
        }
    }

    pub fn len(&self) -> usize {
        self.marked + self.keys.len()
    }

    /// Whether the slot is marked.
    pub fn has_slot(&self, slot: u32) -> bool {
        self.slots
            .get(slot as usize / 64)
            .is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }

    /// The marked slots, in slot order. They stay pinned: the caller unpins each one when
    /// it is done with it.
    pub fn marked_slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.iter().enumerate().flat_map(|(w, &bits)| {
            let mut bits = bits;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros();
                bits &= bits - 1;
                Some(w as u32 * 64 + b)
            })
        })
    }

    /// Forgets everything, unpinning the marked slots.
    pub fn release(self, routes: &mut RouteTable) {
        for s in self.marked_slots() {
            routes.unpin(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u16) -> RouteKey {
        let p = format!("2001:db8:{i:x}::/48").parse().unwrap();
        RouteKey::new(p, None)
    }

    #[test]
    fn marked_slots_keep_their_key_until_released() {
        let mut t = RouteTable::default();
        let a = t.create(&key(1), false);
        let b = t.create(&key(2), false);
        let mut p = PendingUpdates::default();
        p.insert(key(2), &mut t);
        p.insert(key(2), &mut t);
        p.insert(key(1), &mut t);
        p.insert(key(3), &mut t);
        assert_eq!(p.len(), 3, "each destination once");
        assert_eq!(p.marked_slots().collect::<Vec<_>>(), vec![a, b]);
        assert!(p.has_slot(b) && !p.has_slot(b + 1));
        // Nothing left in the slot: it would be freed, but the mark holds it and its key.
        t.maybe_free(b);
        assert_eq!(t.find(&key(2)), Some(b));
        p.release(&mut t);
        assert_eq!(t.find(&key(2)), None, "freed once released");
        assert_eq!(t.find(&key(1)), None);
    }
}
