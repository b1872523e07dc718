//! A vector stored in fixed-size pages, for the engine's large per-destination arrays.
//!
//! A `Vec` that grows by doubling holds up to twice what it needs, and while it grows the
//! old and the new buffer are both live: at 100,000 destinations that is most of the
//! table's memory. Pages are allocated one at a time and never move, so the slack is at
//! most one page and growth costs no copy. The first page grows like a `Vec`, so that a
//! small table (a simulated node with a few routes) stays small.

use std::ops::{Index, IndexMut};

const PAGE_BITS: u32 = 10;
const PAGE: usize = 1 << PAGE_BITS;
const MASK: usize = PAGE - 1;

#[derive(Debug, Clone)]
pub(crate) struct Paged<T> {
    pages: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Paged<T> {
    fn default() -> Self {
        Paged {
            pages: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Paged<T> {
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push(&mut self, v: T) {
        match self.pages.last_mut() {
            Some(p) if p.len() < PAGE => {
                if p.len() == p.capacity() {
                    let extra = p.capacity().max(4).min(PAGE - p.len());
                    p.reserve_exact(extra);
                }
                p.push(v);
            }
            _ => {
                // Later pages are allocated whole: they are only reached by large tables.
                let mut p = Vec::with_capacity(if self.pages.is_empty() { 4 } else { PAGE });
                p.push(v);
                self.pages.push(p);
            }
        }
        self.len += 1;
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        self.pages.get(i >> PAGE_BITS)?.get(i & MASK)
    }

    /// Asks the memory system for the first cache line of element `i` (nothing when there
    /// is no such element), without waiting for it: only a matter of speed.
    #[inline]
    pub(crate) fn prefetch(&self, i: usize) {
        if let Some(p) = self.pages.get(i >> PAGE_BITS) {
            if i & MASK < p.len() {
                prefetch_index::prefetch_index(p, i & MASK);
            }
        }
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.pages.get_mut(i >> PAGE_BITS)?.get_mut(i & MASK)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.pages.iter().flatten()
    }

    /// Heap bytes held, by capacity.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.pages.capacity() * std::mem::size_of::<Vec<T>>()
            + self
                .pages
                .iter()
                .map(|p| p.capacity() * std::mem::size_of::<T>())
                .sum::<usize>()
    }
}

impl<T> Index<usize> for Paged<T> {
    type Output = T;
    #[inline]
    fn index(&self, i: usize) -> &T {
        &self.pages[i >> PAGE_BITS][i & MASK]
    }
}

impl<T> IndexMut<usize> for Paged<T> {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.pages[i >> PAGE_BITS][i & MASK]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_hold_every_element_in_order() {
        let mut p = Paged::default();
        let n = 3 * PAGE + 17;
        for i in 0..n {
            p.push(i as u32);
        }
        assert_eq!(p.len(), n);
        assert!(p.iter().copied().eq(0..n as u32));
        p[PAGE + 1] = 7;
        assert_eq!(p.get(PAGE + 1), Some(&7));
        assert_eq!(p.get(n), None);
        *p.get_mut(2 * PAGE).unwrap() += 1;
        assert_eq!(p[2 * PAGE], 2 * PAGE as u32 + 1);
    }

    #[test]
    fn slack_is_at_most_one_page() {
        let mut p = Paged::default();
        for n in [1, 5, PAGE - 1, PAGE + 1, 10 * PAGE + 3] {
            while p.len() < n {
                p.push(0u64);
            }
            let held = (p.heap_bytes() - p.pages.capacity() * 24) / 8;
            assert!(held - n < PAGE, "{n} elements hold {held}");
            assert!(
                held <= 4 * n.max(4),
                "a small table stays small: {n} hold {held}"
            );
        }
    }
}
