//! Which bytes are taken during a buffer's lifetime, for the offset-placement planners.
//!
//! Time is compressed to the distinct lifetime bounds, giving elementary segments, and a
//! segment tree is built over them. A placed buffer is recorded at the canonical nodes of its
//! lifetime (at most `2 log T` nodes whose ranges tile it). Every node keeps unions of byte
//! ranges, each a sorted list of disjoint ranges where touching ranges are coalesced:
//! `own` (buffers recorded at the node itself) and `sub` (buffers recorded anywhere in its
//! subtree). Tightly packed buffers coalesce, so the lists stay short in practice.
//!
//! Two intervals meet iff a canonical node of one is an ancestor-or-self of a canonical node of
//! the other. So the bytes taken during a window `Q` are the union of `sub` over `Q`'s canonical
//! nodes and `own` over their strict ancestors (the nodes that `Q` meets only in part; they lie
//! on two root paths). Those ancestors' `own` lists hold the long-lived buffers and make up most
//! of the gathered ranges on large traces (about 90% on idealloc's Y_1), so the nodes spanning
//! at least [`CACHE_SPAN`] segments also keep `anc`: the union of `own` over the node and all
//! its ancestors, updated when a buffer is recorded at or above it. A query then takes `anc` of
//! the deepest such node on each root path instead of one `own` list per level. The gathered
//! lists (a few sorted runs, read in place) are merged into one sorted union, always the two
//! shortest first. Inserting touches the same `O(log T)` nodes plus the cached nodes
//! below each canonical node. No buffer outside the window is ever looked at. The union is the
//! same whichever lists it is gathered from, so placements do not depend on these choices.
//!
//! Placement asks about each buffer once, just before recording it, so the index counts for
//! every `sub` and `anc` list the buffers still to come whose query reads it, and stops
//! keeping (and frees) a list once none does; that saves about a tenth of the work on Y_1.

use crate::plan::Problem;

/// Nodes spanning at least this many elementary segments keep the `anc` union (see the module
/// docs). Smaller spans make inserts dearer (more cached nodes to update) and larger ones
/// leave more `own` lists to gather; 256 took the fewest instructions on Y_1 (128-2048 tried).
const CACHE_SPAN: usize = 256;

/// See the module documentation.
pub(crate) struct Occupancy {
    /// Nodes spanning at least this many segments keep `anc` ([`CACHE_SPAN`] but in tests).
    cache_span: usize,
    /// Per buffer of the indexed problem: the elementary segments `[a, b)` of its lifetime.
    segments_of: Vec<(usize, usize)>,
    /// Number of elementary segments (distinct lifetime bounds minus one, at least 1).
    segments: usize,
    /// Per node (heap numbering from 1): union of the byte ranges recorded at the node.
    own: Vec<Vec<(u64, u64)>>,
    /// Per node: union of the byte ranges recorded in its subtree (itself included).
    sub: Vec<Vec<(u64, u64)>>,
    /// Per node spanning at least [`CACHE_SPAN`] segments: union of `own` over the node and its
    /// ancestors (empty and unused for the other nodes).
    anc: Vec<Vec<(u64, u64)>>,
    /// Per node: the buffers not yet inserted for which the node is canonical. `sub` is read
    /// only at the canonical nodes of a query, and every buffer is queried before it is
    /// inserted, so a node's `sub` is no longer kept (and is freed) once this reaches 0.
    sub_wanted: Vec<u64>,
    /// Per cached node: the buffers not yet inserted whose query reads its `anc` (likewise,
    /// `anc` is no longer kept once this reaches 0).
    anc_wanted: Vec<u64>,
    /// Per cached node: the sum of `anc_wanted` over its subtree (inserts skip the subtrees
    /// where it is 0).
    anc_wanted_below: Vec<u64>,
}

/// Adds `[start, end)` to a sorted list of disjoint, non-touching ranges.
fn add_range(ranges: &mut Vec<(u64, u64)>, start: u64, end: u64) {
    let i = ranges.partition_point(|&(_, e)| e < start);
    // Few ranges meet the new one: scan for the end instead of a second binary search.
    let j = i + ranges[i..].iter().take_while(|&&(s, _)| s <= end).count();
    if i == j {
        ranges.insert(i, (start, end));
    } else {
        let merged = (start.min(ranges[i].0), end.max(ranges[j - 1].1));
        ranges[i] = merged;
        ranges.drain(i + 1..j);
    }
}

/// Calls `f` with each list (kind and node) whose union is the bytes taken during segments
/// `[a, b)`, within the subtree of `node` (over segments `[lo, hi)`) and its ancestors: `Sub`
/// at the canonical nodes, `Anc` at the deepest cached node met only in part on each root
/// path, `Own` at the uncached nodes met only in part (see the module docs). The one
/// definition of a query's lists, for [`Occupancy::taken`] and the use counts.
fn visit(
    span: usize,
    node: usize,
    (lo, hi): (usize, usize),
    (a, b): (usize, usize),
    f: &mut impl FnMut(List, usize),
) {
    if a <= lo && hi <= b {
        f(List::Sub, node);
        return;
    }
    let mid = lo + (hi - lo) / 2;
    let is_cached = |l, h| cached(span, l, h);
    if is_cached(lo, hi) {
        // A node met only in part: its `anc` holds its own and its ancestors' buffers,
        // unless a child met only in part is cached too and will take its (larger) `anc`.
        let partial = |l: usize, h: usize| a < h && l < b && !(a <= l && h <= b);
        let deeper =
            (partial(lo, mid) && is_cached(lo, mid)) || (partial(mid, hi) && is_cached(mid, hi));
        if !deeper {
            f(List::Anc, node);
        }
    } else {
        f(List::Own, node);
    }
    if a < mid {
        visit(span, 2 * node, (lo, mid), (a, b), f);
    }
    if b > mid {
        visit(span, 2 * node + 1, (mid, hi), (a, b), f);
    }
}

/// Adds 1 to a use count, or takes 1 from it (saturating: every taking follows an adding).
fn step(count: &mut u64, add: bool) {
    *count = if add {
        count.saturating_add(1)
    } else {
        count.saturating_sub(1)
    };
}

/// Whether a node over segments `[lo, hi)` keeps the `anc` union, with nodes spanning at
/// least `span` segments cached ([`CACHE_SPAN`] but in tests).
fn cached(span: usize, lo: usize, hi: usize) -> bool {
    hi - lo >= span
}

/// Largest heap index of a node spanning at least [`CACHE_SPAN`] segments, plus one.
fn cached_nodes(span: usize, node: usize, lo: usize, hi: usize) -> usize {
    if !cached(span, lo, hi) {
        return 0;
    }
    let mid = lo + (hi - lo) / 2;
    (node + 1)
        .max(cached_nodes(span, 2 * node, lo, mid))
        .max(cached_nodes(span, 2 * node + 1, mid, hi))
}

impl Occupancy {
    /// An empty occupancy over the time bounds of `problem`'s buffers.
    pub(crate) fn new(problem: &Problem) -> Self {
        Self::with_cache_span(problem, CACHE_SPAN)
    }

    /// [`Occupancy::new`] with the nodes spanning at least `cache_span` segments cached (tests
    /// use small spans so that many nodes are).
    fn with_cache_span(problem: &Problem, cache_span: usize) -> Self {
        let mut times: Vec<u64> = problem
            .buffers
            .iter()
            .flat_map(|b| [b.lifetime.start, b.lifetime.end])
            .collect();
        times.sort_unstable();
        times.dedup();
        let segments = times.len().saturating_sub(1).max(1);
        let segments_of = problem
            .buffers
            .iter()
            .map(|b| {
                (
                    times.partition_point(|&t| t < b.lifetime.start),
                    times.partition_point(|&t| t < b.lifetime.end),
                )
            })
            .collect();
        let cached_len = cached_nodes(cache_span, 1, 0, segments);
        let mut occupancy = Self {
            cache_span,
            segments_of,
            segments,
            sub_wanted: vec![0; 4 * segments],
            anc_wanted: vec![0; cached_len],
            anc_wanted_below: vec![0; cached_len],
            own: vec![Vec::new(); 4 * segments],
            sub: vec![Vec::new(); 4 * segments],
            anc: vec![Vec::new(); cached_len],
        };
        for i in 0..occupancy.segments_of.len() {
            occupancy.count_reads(i, true);
        }
        occupancy
    }

    /// Adds 1 (`add`) or takes 1 from the use counts of the lists that buffer `i`'s query
    /// reads.
    fn count_reads(&mut self, i: usize, add: bool) {
        let (a, b) = self.segments_of[i];
        if a >= b {
            return;
        }
        let (sub_wanted, anc_wanted, below) = (
            &mut self.sub_wanted,
            &mut self.anc_wanted,
            &mut self.anc_wanted_below,
        );
        visit(
            self.cache_span,
            1,
            (0, self.segments),
            (a, b),
            &mut |kind, node| match kind {
                List::Sub => step(&mut sub_wanted[node], add),
                List::Anc => {
                    step(&mut anc_wanted[node], add);
                    let mut up = node;
                    while up >= 1 {
                        step(&mut below[up], add);
                        up /= 2;
                    }
                }
                List::Own => {}
            },
        );
    }

    /// Records bytes `[offset, offset_end)` as taken during the lifetime of buffer `i`. Each
    /// buffer is inserted at most once, after its last [`Occupancy::taken`].
    pub(crate) fn insert(&mut self, i: usize, offset: u64, offset_end: u64) {
        // Buffer `i` is queried no more: its lists lose a reader.
        self.count_reads(i, false);
        let (a, b) = self.segments_of[i];
        if a < b {
            self.insert_rec(1, (0, self.segments), (a, b), (offset, offset_end));
        }
    }

    fn insert_rec(
        &mut self,
        node: usize,
        (lo, hi): (usize, usize),
        (a, b): (usize, usize),
        r: (u64, u64),
    ) {
        let canonical = a <= lo && hi <= b;
        if self.sub_wanted[node] > 0 {
            add_range(&mut self.sub[node], r.0, r.1);
        } else {
            self.sub[node] = Vec::new();
        }
        if canonical {
            add_range(&mut self.own[node], r.0, r.1);
            if cached(self.cache_span, lo, hi) {
                self.add_to_anc(node, (lo, hi), r);
            }
            return;
        }
        let mid = lo + (hi - lo) / 2;
        if a < mid {
            self.insert_rec(2 * node, (lo, mid), (a, b), r);
        }
        if b > mid {
            self.insert_rec(2 * node + 1, (mid, hi), (a, b), r);
        }
    }

    /// Adds `r` to `anc` of the cached node over `[lo, hi)` and of every cached node below it.
    /// Nodes whose `anc` no query still to come reads are skipped (and freed).
    fn add_to_anc(&mut self, node: usize, (lo, hi): (usize, usize), r: (u64, u64)) {
        if self.anc_wanted_below[node] == 0 {
            return;
        }
        if self.anc_wanted[node] > 0 {
            add_range(&mut self.anc[node], r.0, r.1);
        } else {
            self.anc[node] = Vec::new();
        }
        let mid = lo + (hi - lo) / 2;
        if cached(self.cache_span, lo, mid) {
            self.add_to_anc(2 * node, (lo, mid), r);
        }
        if cached(self.cache_span, mid, hi) {
            self.add_to_anc(2 * node + 1, (mid, hi), r);
        }
    }

    /// Fills `out` with the bytes taken at some time during buffer `i`'s lifetime, as a sorted
    /// list of disjoint byte ranges; `i` must not be inserted yet. `scratch` is reused between
    /// calls.
    pub(crate) fn taken(&self, i: usize, out: &mut Vec<(u64, u64)>, scratch: &mut Scratch) {
        out.clear();
        scratch.lists.clear();
        let (a, b) = self.segments_of[i];
        if a < b {
            self.collect((a, b), &mut scratch.lists);
        }
        // The gathered lists are sorted runs: merge them two at a time, always the two
        // shortest (as in Huffman coding, so the long `anc` lists are copied once or twice),
        // coalescing overlapping and touching ranges. Runs are read in place from the nodes,
        // and merged runs are kept in `scratch.merged`.
        let mut runs = std::mem::take(&mut scratch.runs);
        runs.clear();
        runs.extend(
            (0..scratch.lists.len()).map(|k| (self.list(scratch.lists[k]).len(), Run::List(k))),
        );
        scratch.merged.clear();
        while runs.len() > 1 {
            let x = take_shortest(&mut runs);
            let y = take_shortest(&mut runs);
            let last = runs.is_empty();
            let into = if last { &mut *out } else { &mut scratch.tmp };
            into.clear();
            merge_union(
                self.run(x, &scratch.lists, &scratch.merged),
                self.run(y, &scratch.lists, &scratch.merged),
                into,
            );
            if last {
                break;
            }
            let from = scratch.merged.len();
            scratch.merged.extend_from_slice(&scratch.tmp);
            runs.push((scratch.tmp.len(), Run::Merged(from, scratch.merged.len())));
        }
        if let [(_, only)] = runs[..] {
            out.extend_from_slice(self.run(only, &scratch.lists, &scratch.merged));
        }
        scratch.runs = runs;
    }

    /// The ranges of a run of [`Occupancy::taken`].
    fn run<'a>(
        &'a self,
        run: Run,
        lists: &[(List, usize)],
        merged: &'a [(u64, u64)],
    ) -> &'a [(u64, u64)] {
        match run {
            Run::List(k) => self.list(lists[k]),
            Run::Merged(from, to) => &merged[from..to],
        }
    }

    /// One node's list.
    fn list(&self, (kind, node): (List, usize)) -> &[(u64, u64)] {
        match kind {
            List::Own => &self.own[node],
            List::Sub => &self.sub[node],
            List::Anc => &self.anc[node],
        }
    }

    /// Records in `lists` the non-empty lists of [`visit`] for segments `[a, b)`.
    fn collect(&self, (a, b): (usize, usize), lists: &mut Vec<(List, usize)>) {
        visit(
            self.cache_span,
            1,
            (0, self.segments),
            (a, b),
            &mut |kind, node| {
                if !self.list((kind, node)).is_empty() {
                    lists.push((kind, node));
                }
            },
        );
    }
}

/// Which list of a node a query reads (see [`visit`]).
#[derive(Clone, Copy, Debug)]
enum List {
    Own,
    Sub,
    Anc,
}

/// A sorted run of byte ranges being merged: a gathered list (index into `Scratch::lists`) or
/// a merged one (`Scratch::merged[from..to]`).
#[derive(Clone, Copy, Debug)]
enum Run {
    List(usize),
    Merged(usize, usize),
}

/// Removes and returns the run of `runs` (`(length, run)`, not empty) with the fewest ranges.
fn take_shortest(runs: &mut Vec<(usize, Run)>) -> Run {
    let k = (0..runs.len()).min_by_key(|&k| runs[k].0).unwrap_or(0);
    runs.swap_remove(k).1
}

/// Reusable buffers of [`Occupancy::taken`].
#[derive(Default)]
pub(crate) struct Scratch {
    lists: Vec<(List, usize)>,
    runs: Vec<(usize, Run)>,
    merged: Vec<(u64, u64)>,
    tmp: Vec<(u64, u64)>,
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

    /// The union by brute force: every placed buffer overlapping `spec[q]`'s lifetime, sorted
    /// and coalesced (touching ranges merge, as in the index).
    fn brute_union(
        spec: &[(u64, u64, u64, u64)],
        offsets: &[u64],
        placed: usize,
        q: usize,
    ) -> Vec<(u64, u64)> {
        let (s, e) = (spec[q].0, spec[q].1);
        let mut ranges: Vec<(u64, u64)> = (0..placed)
            .filter(|&j| spec[j].0 < e && s < spec[j].1)
            .map(|j| (offsets[j], offsets[j] + spec[j].2))
            .collect();
        ranges.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::new();
        for r in ranges {
            match out.last_mut() {
                Some(last) if last.1 >= r.0 => last.1 = last.1.max(r.1),
                _ => out.push(r),
            }
        }
        out
    }

    /// Random lifetimes over `horizon` steps (lengths up to `max_len`), sizes and offsets,
    /// with nodes spanning `span` segments or more cached; the index must return exactly the
    /// brute-force union for the next buffer to insert after every insert (as placement asks:
    /// the last reader of a list is always checked), and for every buffer not yet inserted
    /// after every `every` inserts.
    fn check_against_brute_force(
        seed: u64,
        (n, horizon, max_len): (usize, u64, u64),
        span: usize,
        every: usize,
    ) {
        let mut x = seed;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        let spec: Vec<(u64, u64, u64, u64)> = (0..n)
            .map(|_| {
                let s = next() % horizon;
                let len = 1 + next() % max_len;
                (s, s + len, 1 + next() % 50, 1)
            })
            .collect();
        let p = Problem::from_rows(&spec);
        let mut occ = Occupancy::with_cache_span(&p, span);
        assert_eq!(!occ.anc.is_empty(), occ.segments >= span);
        let offsets: Vec<u64> = (0..n).map(|_| next() % 2_000).collect();
        let (mut out, mut scratch) = (Vec::new(), Scratch::default());
        for placed in 0..n {
            let last = if placed % every == 0 { n } else { placed + 1 };
            for q in placed..last {
                occ.taken(q, &mut out, &mut scratch);
                let want = brute_union(&spec, &offsets, placed, q);
                assert_eq!(out, want, "after {placed} placed, buffer {q}");
            }
            let size = spec[placed].2;
            occ.insert(placed, offsets[placed], offsets[placed] + size);
        }
    }

    #[test]
    fn matches_brute_force() {
        check_against_brute_force(99, (150, 60, 15), CACHE_SPAN, 1);
    }

    /// Nodes spanning [`CACHE_SPAN`] segments and more (about 2,000 segments), and many cached
    /// nodes with few readers each (small spans), with lifetimes short and long, so queries
    /// take the cached `anc` unions and inserts skip the ones no query still reads.
    #[test]
    fn matches_brute_force_with_cached_ancestors() {
        let p = Problem::from_rows(&[(0, 1, 1, 1)]);
        assert!(Occupancy::new(&p).anc.is_empty());
        check_against_brute_force(7, (1_200, 1_000, 600), CACHE_SPAN, 97);
        check_against_brute_force(8, (1_200, 1_000, 40), CACHE_SPAN, 149);
        for (seed, span) in [(9, 2), (10, 4), (11, 16)] {
            check_against_brute_force(seed, (300, 200, 60), span, 7);
        }
    }
}
