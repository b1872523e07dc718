//! A hash index of slot numbers: the keys live in the caller's slots, the index holds only
//! each slot's number (24 bits) and 8 bits of its hash, 4 bytes a cell.
//!
//! Open addressing with linear probing: a lookup reads one run of cells, usually within
//! one cache line, and compares the stored hash bits before it looks at a slot, so that a
//! hit costs one miss here and one in the slot the caller then uses anyway (and a miss in
//! another slot for one cell compared in 128). The home cell of an entry is given by the
//! top bits of its hash, which growing and removal (it shifts the following cells back, no
//! tombstones) get back from the caller's key: `rehash` gives the hash of a stored value.

#[derive(Debug, Clone, Default)]
pub(crate) struct IndexTable {
    /// `tag << 24 | value`; 0 is an empty cell (tags are odd).
    cells: Vec<u32>,
    len: usize,
    /// log2 of `cells.len()` (0 when empty).
    bits: u32,
}

const MIN_BITS: u32 = 3;

/// The largest value a cell holds.
pub(crate) const MAX_VALUE: u32 = (1 << 24) - 1;

/// The 8 bits of the hash a cell keeps: below the bits that give the home cell of any table
/// of up to 2^32 cells.
#[inline]
fn tag_of(hash: u64) -> u32 {
    ((hash >> 24) as u32 & 0xff) | 1
}

#[inline]
fn cell_of(hash: u64, value: u32) -> u32 {
    debug_assert!(value <= MAX_VALUE);
    tag_of(hash) << 24 | value
}

impl IndexTable {
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        (hash >> (64 - self.bits)) as usize
    }

    /// The value whose hash is `hash` and for which `eq` holds.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let tag = tag_of(hash);
        let mask = self.cells.len() - 1;
        let mut i = self.home(hash);
        loop {
            let c = self.cells[i];
            if c == 0 {
                return None;
            }
            if c >> 24 == tag && eq(c & MAX_VALUE) {
                return Some(c & MAX_VALUE);
            }
            i = (i + 1) & mask;
        }
    }

    /// Asks the memory system for the cell where a lookup of `hash` starts, without
    /// waiting for it: only a matter of speed (see [`IndexTable::first_candidate`]).
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        if self.len != 0 {
            prefetch_index::prefetch_index(&self.cells, self.home(hash));
        }
    }

    /// The value of the first cell of `hash`'s run whose tag matches: what [`find`] most
    /// likely returns, found without reading the caller's keys, so that a batch of lookups
    /// can ask for their keys' memory before comparing any.
    ///
    /// [`find`]: IndexTable::find
    #[inline]
    pub(crate) fn first_candidate(&self, hash: u64) -> Option<u32> {
        self.find(hash, |_| true)
    }

    /// Adds `value` (at most [`MAX_VALUE`]) under `hash`; the caller knows it is absent.
    /// `rehash` gives the hash of a value already stored.
    pub(crate) fn insert(&mut self, hash: u64, value: u32, rehash: impl Fn(u32) -> u64) {
        // At most 7/8 full.
        if (self.len + 1) * 8 > self.cells.len() * 7 {
            self.grow(&rehash);
        }
        self.place(hash, cell_of(hash, value));
        self.len += 1;
    }

    fn place(&mut self, hash: u64, cell: u32) {
        let mask = self.cells.len() - 1;
        let mut i = self.home(hash);
        while self.cells[i] != 0 {
            i = (i + 1) & mask;
        }
        self.cells[i] = cell;
    }

    fn grow(&mut self, rehash: &impl Fn(u32) -> u64) {
        let bits = (self.bits + 1).max(MIN_BITS);
        let old = std::mem::replace(&mut self.cells, vec![0; 1 << bits]);
        self.bits = bits;
        for c in old.into_iter().filter(|&c| c != 0) {
            self.place(rehash(c & MAX_VALUE), c);
        }
    }

    /// Removes `value`, stored under `hash`. Returns whether it was there. `rehash` gives
    /// the hash of a value stored.
    pub(crate) fn remove(&mut self, hash: u64, value: u32, rehash: impl Fn(u32) -> u64) -> bool {
        if self.len == 0 || value > MAX_VALUE {
            return false;
        }
        let want = cell_of(hash, value);
        let mask = self.cells.len() - 1;
        let mut i = self.home(hash);
        loop {
            let c = self.cells[i];
            if c == 0 {
                return false;
            }
            if c == want {
                break;
            }
            i = (i + 1) & mask;
        }
        // Shift back the cells of the run that may move into the hole.
        let mut hole = i;
        let mut j = (i + 1) & mask;
        loop {
            let c = self.cells[j];
            if c == 0 {
                break;
            }
            let home = self.home(rehash(c & MAX_VALUE));
            // `c` may fill the hole when the hole lies between its home and `j`.
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.cells[hole] = c;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.cells[hole] = 0;
        self.len -= 1;
        true
    }

    /// The values, in cell order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.cells
            .iter()
            .filter(|&&c| c != 0)
            .map(|&c| c & MAX_VALUE)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.cells.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// A poor hash, so that runs are long and cross the end of the table.
    fn h(k: u32) -> u64 {
        ((k % 7) as u64) << 61 | (k as u64) << 33
    }

    #[test]
    fn finds_what_was_inserted_and_forgets_what_was_removed() {
        let mut t = IndexTable::default();
        let mut model: HashSet<u32> = HashSet::new();
        let mut rng = crate::rng::Rng::new(12345);
        for step in 0..20_000u32 {
            let k = rng.below(3000) as u32;
            if model.contains(&k) {
                if step % 3 != 0 {
                    assert!(t.remove(h(k), k, h));
                    model.remove(&k);
                }
            } else {
                t.insert(h(k), k, h);
                model.insert(k);
            }
            if step % 997 == 0 {
                for k in 0..3000 {
                    assert_eq!(
                        t.find(h(k), |v| v == k).is_some(),
                        model.contains(&k),
                        "key {k} at step {step}"
                    );
                }
            }
        }
        assert_eq!(t.len(), model.len());
        let mut all: Vec<u32> = t.iter().collect();
        all.sort_unstable();
        let mut want: Vec<u32> = model.iter().copied().collect();
        want.sort_unstable();
        assert_eq!(all, want);
        assert!(!t.remove(h(5000), 5000, h));
        assert!(
            t.heap_bytes() <= 4 * 4096,
            "7/8 full at most, no more than twice"
        );
    }
}
