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
//! nodes and `own` over their strict ancestors: at most `4 log T` short sorted runs, then merged
//! pairwise into one sorted union (`O(k log log T)` for `k` gathered ranges). Inserting touches
//! the same `O(log T)` nodes.
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
    /// exactly the bytes taken at some time in `[start, end)`. `scratch` is reused between calls.
    pub(crate) fn taken(
        &self,
        start: u64,
        end: u64,
        out: &mut Vec<(u64, u64)>,
        scratch: &mut Scratch,
    ) {
        out.clear();
        scratch.runs.clear();
        let (a, b) = self.segment_range(start, end);
        if a < b {
            self.collect(1, 0, self.segments, a, b, out, &mut scratch.runs);
        }
        // The gathered lists are sorted runs: merge them pairwise (coalescing overlapping and
        // touching ranges, which shrinks the later rounds) instead of sorting everything.
        while scratch.runs.len() > 1 {
            scratch.merged.clear();
            scratch.next_runs.clear();
            for pair in scratch.runs.chunks(2) {
                let from = scratch.merged.len();
                let (a0, a1) = pair[0];
                let (b0, b1) = pair.get(1).copied().unwrap_or((a1, a1));
                merge_union(&out[a0..a1], &out[b0..b1], &mut scratch.merged);
                scratch.next_runs.push((from, scratch.merged.len()));
            }
            std::mem::swap(out, &mut scratch.merged);
            std::mem::swap(&mut scratch.runs, &mut scratch.next_runs);
        }
    }

    /// Appends the lists of the nodes meeting segments `[a, b)` to `out`, each non-empty one
    /// recorded in `runs` as its index range.
    #[allow(clippy::too_many_arguments)]
    fn collect(
        &self,
        node: usize,
        lo: usize,
        hi: usize,
        a: usize,
        b: usize,
        out: &mut Vec<(u64, u64)>,
        runs: &mut Vec<(usize, usize)>,
    ) {
        let push = |out: &mut Vec<(u64, u64)>, runs: &mut Vec<(usize, usize)>, list: &[_]| {
            if !list.is_empty() {
                runs.push((out.len(), out.len() + list.len()));
                out.extend_from_slice(list);
            }
        };
        if a <= lo && hi <= b {
            push(out, runs, &self.sub[node]);
            return;
        }
        push(out, runs, &self.own[node]);
        let mid = lo + (hi - lo) / 2;
        if a < mid {
            self.collect(2 * node, lo, mid, a, b, out, runs);
        }
        if b > mid {
            self.collect(2 * node + 1, mid, hi, a, b, out, runs);
        }
    }
}

/// Reusable buffers of [`Occupancy::taken`].
#[derive(Default)]
pub(crate) struct Scratch {
    runs: Vec<(usize, usize)>,
    next_runs: Vec<(usize, usize)>,
    merged: Vec<(u64, u64)>,
}

/// Appends the union of two sorted lists of disjoint ranges to `out` as a sorted list of
/// disjoint, non-touching ranges.
fn merge_union(x: &[(u64, u64)], y: &[(u64, u64)], out: &mut Vec<(u64, u64)>) {
    let from = out.len();
    let (mut i, mut j) = (0, 0);
    while i < x.len() || j < y.len() {
        let r = if j >= y.len() || (i < x.len() && x[i].0 <= y[j].0) {
            i += 1;
            x[i - 1]
        } else {
            j += 1;
            y[j - 1]
        };
        let len = out.len();
        match out.last_mut() {
            Some(last) if len > from && last.1 >= r.0 => last.1 = last.1.max(r.1),
            _ => out.push(r),
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
        let (mut out, mut scratch) = (Vec::new(), Scratch::default());
        for placed in 0..150 {
            for &(s, e, _, _) in &spec {
                occ.taken(s, e, &mut out, &mut scratch);
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
