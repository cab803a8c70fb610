//! Which bytes are taken during a time window, for the offset-placement planners.
//!
//! Time is compressed to the distinct lifetime bounds, giving elementary segments, and a
//! segment tree is built over them. A placed buffer is recorded at the canonical nodes of its
//! lifetime (at most `2 log T` nodes whose ranges tile it). Every node keeps two unions of byte
//! ranges, each a sorted list of disjoint ranges where touching ranges are coalesced:
//! `own` (buffers recorded at the node itself) and `sub` (buffers recorded anywhere in its
//! subtree). Tightly packed buffers coalesce, so the lists stay short in practice.
//!
//! Two intervals meet iff a canonical node of one is an ancestor-or-self of a canonical node of
//! the other. So the bytes taken during a window `Q` are the union of `sub` over `Q`'s canonical
//! nodes and `own` over their strict ancestors: at most `4 log T` short sorted runs, then sorted
//! together. Inserting touches the same `O(log T)` nodes.
//! No buffer outside the window is ever looked at.

use crate::plan::Problem;

/// See the module documentation.
pub(crate) struct Occupancy {
    /// Distinct lifetime bounds, sorted.
    times: Vec<u64>,
    /// Number of elementary segments (`times.len() - 1`, at least 1).
    segments: usize,
    /// Per node (heap numbering from 1): union of the byte ranges recorded at the node.
    own: Vec<Vec<(u64, u64)>>,
    /// Per node: union of the byte ranges recorded in its subtree (itself included).
    sub: Vec<Vec<(u64, u64)>>,
}

/// Adds `[start, end)` to a sorted list of disjoint, non-touching ranges.
fn add_range(ranges: &mut Vec<(u64, u64)>, start: u64, end: u64) {
    let i = ranges.partition_point(|&(_, e)| e < start);
    let j = ranges.partition_point(|&(s, _)| s <= end);
    if i == j {
        ranges.insert(i, (start, end));
    } else {
        let merged = (start.min(ranges[i].0), end.max(ranges[j - 1].1));
        ranges[i] = merged;
        ranges.drain(i + 1..j);
    }
}

impl Occupancy {
    /// An empty occupancy over the time bounds of `problem`'s buffers.
    pub(crate) fn new(problem: &Problem) -> Self {
        let mut times: Vec<u64> = problem
            .buffers
            .iter()
            .flat_map(|b| [b.lifetime.start, b.lifetime.end])
            .collect();
        times.sort_unstable();
        times.dedup();
        let segments = times.len().saturating_sub(1).max(1);
        Self {
            times,
            segments,
            own: vec![Vec::new(); 4 * segments],
            sub: vec![Vec::new(); 4 * segments],
        }
    }

    /// The elementary segments `[a, b)` covered by lifetime `[start, end)` (both bounds are in
    /// `times` for buffers of the indexed problem).
    fn segment_range(&self, start: u64, end: u64) -> (usize, usize) {
        (
            self.times.partition_point(|&t| t < start),
            self.times.partition_point(|&t| t < end),
        )
    }

    /// Records bytes `[offset, offset_end)` as taken during lifetime `[start, end)`.
    pub(crate) fn insert(&mut self, start: u64, end: u64, offset: u64, offset_end: u64) {
        let (a, b) = self.segment_range(start, end);
        if a < b {
            self.insert_rec(1, 0, self.segments, a, b, (offset, offset_end));
        }
    }

    fn insert_rec(&mut self, node: usize, lo: usize, hi: usize, a: usize, b: usize, r: (u64, u64)) {
        add_range(&mut self.sub[node], r.0, r.1);
        if a <= lo && hi <= b {
            add_range(&mut self.own[node], r.0, r.1);
            return;
        }
        let mid = lo + (hi - lo) / 2;
        if a < mid {
            self.insert_rec(2 * node, lo, mid, a, b, r);
        }
        if b > mid {
            self.insert_rec(2 * node + 1, mid, hi, a, b, r);
        }
    }

    /// Fills `out` with byte ranges (sorted by start, possibly overlapping) whose union is
    /// exactly the bytes taken at some time in `[start, end)`.
    pub(crate) fn taken(&self, start: u64, end: u64, out: &mut Vec<(u64, u64)>) {
        out.clear();
        let (a, b) = self.segment_range(start, end);
        if a < b {
            self.collect(1, 0, self.segments, a, b, out);
        }
        // The runs are short (coalesced), so an unstable sort beats merging them; the order of
        // ranges with equal starts does not matter to the gap scan.
        out.sort_unstable_by_key(|&(s, _)| s);
    }

    fn collect(
        &self,
        node: usize,
        lo: usize,
        hi: usize,
        a: usize,
        b: usize,
        out: &mut Vec<(u64, u64)>,
    ) {
        if a <= lo && hi <= b {
            out.extend_from_slice(&self.sub[node]);
            return;
        }
        out.extend_from_slice(&self.own[node]);
        let mid = lo + (hi - lo) / 2;
        if a < mid {
            self.collect(2 * node, lo, mid, a, b, out);
        }
        if b > mid {
            self.collect(2 * node + 1, mid, hi, a, b, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_coalesce() {
        let mut v = Vec::new();
        add_range(&mut v, 10, 20);
        add_range(&mut v, 30, 40);
        add_range(&mut v, 0, 5);
        assert_eq!(v, vec![(0, 5), (10, 20), (30, 40)]);
        add_range(&mut v, 20, 30); // touches both neighbours
        assert_eq!(v, vec![(0, 5), (10, 40)]);
        add_range(&mut v, 3, 12);
        assert_eq!(v, vec![(0, 40)]);
    }

    #[test]
    fn matches_brute_force() {
        let mut x: u64 = 99;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        let spec: Vec<(u64, u64, u64, u64)> = (0..150)
            .map(|_| {
                let s = next() % 60;
                (s, s + 1 + next() % 15, 1 + next() % 50, 1)
            })
            .collect();
        let p = Problem::from_rows(&spec);
        let mut occ = Occupancy::new(&p);
        let offsets: Vec<u64> = (0..150).map(|_| next() % 500).collect();
        let mut out = Vec::new();
        for placed in 0..150 {
            for &(s, e, _, _) in &spec {
                occ.taken(s, e, &mut out);
                let mut got = vec![false; 600];
                for &(a, b) in &out {
                    got[a as usize..b as usize]
                        .iter_mut()
                        .for_each(|g| *g = true);
                }
                let mut want = vec![false; 600];
                for j in 0..placed {
                    if spec[j].0 < e && s < spec[j].1 {
                        let o = offsets[j] as usize;
                        want[o..o + spec[j].2 as usize]
                            .iter_mut()
                            .for_each(|w| *w = true);
                    }
                }
                assert_eq!(got, want, "after {placed} placed, window [{s}, {e})");
                assert!(out.windows(2).all(|w| w[0].0 <= w[1].0));
            }
            let (s, e, size, _) = spec[placed];
            occ.insert(s, e, offsets[placed], offsets[placed] + size);
        }
    }
}
