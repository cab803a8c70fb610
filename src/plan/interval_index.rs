//! A static interval tree over the buffers' lifetimes, used to find the buffers whose lifetimes
//! overlap a query lifetime without scanning all buffers.
//!
//! The lifetimes are sorted by start and arranged as an implicit balanced binary tree (the middle
//! of each range is its root). Each node stores the largest end among the *active* lifetimes in
//! its subtree, so a query skips subtrees that cannot overlap. Items start inactive or active;
//! [`IntervalIndex::activate`] switches one on (placement planners activate a buffer once it is
//! placed, so queries only see placed buffers). Queries cost `O(log n + k)` for `k` results.

use super::Problem;

/// See the module documentation.
pub(crate) struct IntervalIndex {
    /// Buffer indices sorted by `(start, end, index)`.
    order: Vec<usize>,
    /// `starts[p]` is the start of `order[p]`.
    starts: Vec<u64>,
    /// End of `order[p]` when active, else 0.
    active_end: Vec<u64>,
    /// End of `order[p]` (active or not).
    ends: Vec<u64>,
    /// Largest active end in the subtree rooted at position `p`, 0 when none.
    max_end: Vec<u64>,
    /// Position of each buffer in `order`.
    pos: Vec<usize>,
}

impl IntervalIndex {
    /// Indexes every buffer of `problem`; all active when `active` is true.
    pub(crate) fn new(problem: &Problem, active: bool) -> Self {
        let n = problem.buffers.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_unstable_by_key(|&i| {
            let l = problem.buffers[i].lifetime;
            (l.start, l.end, i)
        });
        let starts: Vec<u64> = order
            .iter()
            .map(|&i| problem.buffers[i].lifetime.start)
            .collect();
        let ends: Vec<u64> = order
            .iter()
            .map(|&i| problem.buffers[i].lifetime.end)
            .collect();
        let mut pos = vec![0; n];
        for (p, &i) in order.iter().enumerate() {
            pos[i] = p;
        }
        let mut index = Self {
            order,
            starts,
            active_end: vec![0; n],
            ends,
            max_end: vec![0; n],
            pos,
        };
        if active {
            index.active_end.clone_from(&index.ends);
            index.build(0, n);
        }
        index
    }

    /// Recomputes `max_end` for the subtree over positions `[lo, hi)`; returns its value.
    fn build(&mut self, lo: usize, hi: usize) -> u64 {
        if lo >= hi {
            return 0;
        }
        let mid = lo + (hi - lo) / 2;
        let left = self.build(lo, mid);
        let right = self.build(mid + 1, hi);
        let m = self.active_end[mid].max(left).max(right);
        self.max_end[mid] = m;
        m
    }

    /// Makes buffer `buffer` visible to queries.
    pub(crate) fn activate(&mut self, buffer: usize) {
        let p = self.pos[buffer];
        let end = self.ends[p];
        self.active_end[p] = end;
        let (mut lo, mut hi) = (0, self.order.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            self.max_end[mid] = self.max_end[mid].max(end);
            if p == mid {
                break;
            } else if p < mid {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
    }

    /// Calls `f` with every active buffer whose lifetime overlaps `[start, end)`.
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
                if self.active_end[mid] > start {
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
    use crate::plan::validate::tests::problem;

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
        let p = problem(&spec);
        let all = IntervalIndex::new(&p, true);
        let mut some = IntervalIndex::new(&p, false);
        for i in (0..200).step_by(3) {
            some.activate(i);
        }
        for qs in 0..110 {
            for len in [1, 2, 7, 30] {
                let brute: Vec<usize> = (0..200)
                    .filter(|&i| spec[i].0 < qs + len && qs < spec[i].1)
                    .collect();
                assert_eq!(collect(&all, qs, qs + len), brute);
                let brute3: Vec<usize> = brute.iter().copied().filter(|i| i % 3 == 0).collect();
                assert_eq!(collect(&some, qs, qs + len), brute3);
            }
        }
    }

    #[test]
    fn touching_is_not_overlapping() {
        let p = problem(&[(0, 3, 1, 1), (3, 9, 1, 1)]);
        let all = IntervalIndex::new(&p, true);
        assert_eq!(collect(&all, 3, 9), vec![1]);
        assert_eq!(collect(&all, 0, 3), vec![0]);
    }
}
