//! A static interval tree over the buffers' lifetimes, used to find the buffers whose lifetimes
//! overlap a query window without scanning all buffers.
//!
//! The lifetimes are sorted by start and arranged as an implicit balanced binary tree (the middle
//! of each range is its root). Each node stores the largest end in its subtree, so a query skips
//! subtrees that cannot overlap. Queries cost `O(log n + k)` for `k` results.

use super::Problem;

/// See the module documentation.
pub(crate) struct IntervalIndex {
    /// Buffer indices sorted by `(start, end, index)`.
    order: Vec<usize>,
    /// `starts[p]` is the start of `order[p]`.
    starts: Vec<u64>,
    /// `ends[p]` is the end of `order[p]`.
    ends: Vec<u64>,
    /// Largest end in the subtree rooted at position `p`.
    max_end: Vec<u64>,
}

impl IntervalIndex {
    /// Indexes every buffer of `problem`.
    pub(crate) fn new(problem: &Problem) -> Self {
        let n = problem.buffers.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_unstable_by_key(|&i| {
            let l = problem.buffers[i].lifetime;
            (l.start, l.end, i)
        });
        let starts = order
            .iter()
            .map(|&i| problem.buffers[i].lifetime.start)
            .collect();
        let ends = order
            .iter()
            .map(|&i| problem.buffers[i].lifetime.end)
            .collect();
        let mut index = Self {
            order,
            starts,
            ends,
            max_end: vec![0; n],
        };
        index.build(0, n);
        index
    }

    /// Computes `max_end` for the subtree over positions `[lo, hi)`; returns its value.
    fn build(&mut self, lo: usize, hi: usize) -> u64 {
        if lo >= hi {
            return 0;
        }
        let mid = lo + (hi - lo) / 2;
        let left = self.build(lo, mid);
        let right = self.build(mid + 1, hi);
        let m = self.ends[mid].max(left).max(right);
        self.max_end[mid] = m;
        m
    }

    /// Calls `f` with every buffer whose lifetime overlaps `[start, end)`.
    pub(crate) fn for_each_overlapping(&self, start: u64, end: u64, mut f: impl FnMut(usize)) {
        // Each step pops one range and pushes at most two halves, so the stack stays below
        // 2 * log2(n) + 2 entries.
        let mut stack: Vec<(usize, usize)> = Vec::with_capacity(64);
        stack.push((0, self.order.len()));
        while let Some((lo, hi)) = stack.pop() {
            if lo >= hi {
                continue;
            }
            let mid = lo + (hi - lo) / 2;
            if self.max_end[mid] <= start {
                continue;
            }
            stack.push((lo, mid));
            if self.starts[mid] < end {
                if self.ends[mid] > start {
                    f(self.order[mid]);
                }
                stack.push((mid + 1, hi));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(index: &IntervalIndex, start: u64, end: u64) -> Vec<usize> {
        let mut v = Vec::new();
        index.for_each_overlapping(start, end, |i| v.push(i));
        v.sort_unstable();
        v
    }

    #[test]
    fn matches_brute_force() {
        // A deterministic pseudo-random set of lifetimes.
        let mut x: u64 = 12345;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        let spec: Vec<(u64, u64, u64, u64)> = (0..200)
            .map(|_| {
                let s = next() % 100;
                (s, s + 1 + next() % 20, 1, 1)
            })
            .collect();
        let p = Problem::from_rows(&spec);
        let index = IntervalIndex::new(&p);
        for qs in 0..110 {
            for len in [1, 2, 7, 30] {
                let brute: Vec<usize> = (0..200)
                    .filter(|&i| spec[i].0 < qs + len && qs < spec[i].1)
                    .collect();
                assert_eq!(collect(&index, qs, qs + len), brute);
            }
        }
    }

    #[test]
    fn touching_is_not_overlapping() {
        let p = Problem::from_rows(&[(0, 3, 1, 1), (3, 9, 1, 1)]);
        let index = IntervalIndex::new(&p);
        assert_eq!(collect(&index, 3, 9), vec![1]);
        assert_eq!(collect(&index, 0, 3), vec![0]);
    }
}
