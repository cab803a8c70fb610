//! The decision procedure behind the `exact` planner: "do these buffers fit in `capacity`?",
//! answered by a minimalloc-style branch and bound (after M. D. Moffitt, "MiniMalloc",
//! ASPLOS 2023; written from the paper's ideas).
//!
//! Time is cut into *sections* (between consecutive distinct lifetime end points); a buffer
//! spans a contiguous range of sections. Buffers are placed in non-decreasing offset order,
//! each at its *canonical* offset: the top of the highest placed buffer it conflicts with,
//! raised to the current minimum `m` and aligned. Every plan can be pushed down into this form
//! without growing, so the search is complete:
//!
//! * Branching: let `x` be the lowest canonical offset of a buffer allowed there. Pick a *focus*
//!   section whose lowest possible offset is `x`, the one with the least slack (fail first;
//!   ties by fewest candidates or leftmost, per [`Strategy`]). Branch on which candidate
//!   covering the focus goes at `x`; the last branch is "nothing at `x` in the focus", after
//!   which the node continues with those candidates barred from `x`.
//! * Dominance: a candidate whose branch failed is barred from `x` in the later branches (any
//!   such plan is a reordering of one already explored); of several identical buffers (same
//!   sections, size and alignment) only the first unplaced one may be placed.
//! * Inference: in every section, the bytes still to place must fit between the lowest offset
//!   any unplaced buffer spanning it can take and the capacity (checked per node with a min
//!   tree over sections, and per placement with a range-add / range-max segment tree of
//!   section loads). A buffer that can no longer fit also prunes the node.
//! * Decomposition: when the unplaced buffers split into groups with disjoint section ranges,
//!   each group is solved on its own and a failing group fails the node without retrying the
//!   others.

use super::place::align_up_or_max;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

const NONE: u32 = u32::MAX;

/// Number of noise-free rankings (see [`Instance::ranking`]).
pub(crate) const FIXED_RANKINGS: u32 = 7;

/// One independent sub-problem in flat arrays (local indices `0..n`).
pub(crate) struct Instance {
    /// Sizes in bytes.
    pub size: Vec<u64>,
    /// Alignments (>= 1).
    pub align: Vec<u64>,
    /// First section spanned.
    pub lo: Vec<u32>,
    /// One past the last section spanned.
    pub hi: Vec<u32>,
    /// Number of sections.
    pub sections: usize,
    /// Conflict lists (CSR).
    adj_start: Vec<usize>,
    adj: Vec<u32>,
    /// Every canonical offset is a multiple of this (or of the buffer's alignment, if larger).
    pub step: u64,
    /// Lifetime length and size, for rankings.
    len_size: Vec<(u64, u64)>,
    /// Highest initial section load ("total") over the sections each buffer spans.
    total: Vec<u64>,
    /// The previous identical buffer, or `NONE`.
    twin_prev: Vec<u32>,
}

impl Instance {
    /// Builds an instance from `(start, end, size, align)` rows.
    /// `step` must be a [granularity](super::place::granularity) of the rows (1 always works).
    pub(crate) fn new(rows: &[(u64, u64, u64, u64)], step: u64) -> Self {
        let n = rows.len();
        let mut times: Vec<u64> = rows.iter().flat_map(|r| [r.0, r.1]).collect();
        times.sort_unstable();
        times.dedup();
        let sec = |t: u64| times.partition_point(|&x| x < t) as u32;
        let lo: Vec<u32> = rows.iter().map(|r| sec(r.0)).collect();
        let hi: Vec<u32> = rows.iter().map(|r| sec(r.1).max(sec(r.0))).collect();
        let sections = times.len().saturating_sub(1).max(1);
        // Conflicts: section ranges intersect.
        let mut by_lo: Vec<u32> = (0..n as u32).collect();
        by_lo.sort_unstable_by_key(|&i| lo[i as usize]);
        let mut lists: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut active: Vec<u32> = Vec::new();
        for &i in &by_lo {
            active.retain(|&j| hi[j as usize] > lo[i as usize]);
            for &j in &active {
                lists[i as usize].push(j);
                lists[j as usize].push(i);
            }
            if hi[i as usize] > lo[i as usize] {
                active.push(i);
            }
        }
        let mut adj_start = Vec::with_capacity(n + 1);
        let mut adj = Vec::new();
        adj_start.push(0);
        for l in &lists {
            adj.extend_from_slice(l);
            adj_start.push(adj.len());
        }
        // Twins: identical section span, size and alignment.
        let mut twin_prev = vec![NONE; n];
        let mut ident: Vec<u32> = (0..n as u32).collect();
        ident.sort_by_key(|&i| {
            let i = i as usize;
            (lo[i], hi[i], rows[i].2, rows[i].3, i)
        });
        for w in ident.windows(2) {
            let (a, b) = (w[0] as usize, w[1] as usize);
            if (lo[a], hi[a], rows[a].2, rows[a].3) == (lo[b], hi[b], rows[b].2, rows[b].3) {
                twin_prev[b] = a as u32;
            }
        }
        // Initial load per section, then each buffer's most contended section. The difference
        // array wraps (an end before a start at one section is negative); the prefix sums are
        // the true loads, which the caller has checked fit in `u64`.
        let mut load = vec![0u64; sections + 1];
        for (i, r) in rows.iter().enumerate() {
            let (l, h) = (lo[i] as usize, hi[i] as usize);
            if h > l {
                load[l] = load[l].wrapping_add(r.2);
                load[h] = load[h].wrapping_sub(r.2);
            }
        }
        let mut acc = 0u64;
        for v in load.iter_mut() {
            acc = acc.wrapping_add(*v);
            *v = acc;
        }
        let total = (0..n)
            .map(|i| {
                load[lo[i] as usize..hi[i] as usize]
                    .iter()
                    .copied()
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        Self {
            total,
            size: rows.iter().map(|r| r.2).collect(),
            align: rows.iter().map(|r| r.3.max(1)).collect(),
            lo,
            hi,
            sections,
            adj_start,
            adj,
            step: step.max(1),
            len_size: rows
                .iter()
                .map(|r| (r.1.saturating_sub(r.0), r.2))
                .collect(),
            twin_prev,
        }
    }

    fn len(&self) -> usize {
        self.size.len()
    }

    /// The buffers whose section ranges intersect `b`'s.
    pub(crate) fn conflicts(&self, b: usize) -> &[u32] {
        &self.adj[self.adj_start[b]..self.adj_start[b + 1]]
    }

    /// The previous buffer identical to `b` (same sections, size and alignment), if any.
    pub(crate) fn twin_prev(&self, b: usize) -> Option<u32> {
        let t = self.twin_prev[b];
        (t != NONE).then_some(t)
    }

    /// A branching preference (lower rank first), all keys decreasing. Variants 0-2 are
    /// minimalloc's preorderings by (total, area, length), (total, length, area) and
    /// (length, area, total), where "total" is the highest load of a section the buffer spans;
    /// variants 3-6 sort by (length, size), (size, length), (area, size) and
    /// (size^2 * length); higher variants add seeded noise to the first two keys of one of
    /// those, for restarts.
    pub(crate) fn ranking(&self, variant: u32) -> Vec<u32> {
        let all: Vec<u32> = (0..self.len() as u32).collect();
        let mut rank = vec![0u32; self.len()];
        for (r, &b) in self
            .order_of(variant, &all, |b| self.total[b])
            .iter()
            .enumerate()
        {
            rank[b as usize] = r as u32;
        }
        rank
    }

    /// `members` in the order of ranking `variant` (first = preferred), with `total(b)` as
    /// the "total" key (the remaining load, for a part of a search).
    pub(crate) fn order_of(
        &self,
        variant: u32,
        members: &[u32],
        total: impl Fn(usize) -> u64,
    ) -> Vec<u32> {
        let mut rng = super::search::Lcg::new(u64::from(variant));
        let mut keyed: Vec<((u128, u128, u128), u32)> = members
            .iter()
            .map(|&b| {
                let (len, size) = self.len_size[b as usize];
                let (len, size) = (u128::from(len), u128::from(size));
                let total = u128::from(total(b as usize));
                let noise = if variant >= FIXED_RANKINGS {
                    80 + rng.below(41) as u128
                } else {
                    100
                };
                let area = len * size;
                let key = match variant % FIXED_RANKINGS {
                    0 => (total * noise, area * noise, len),
                    1 => (total * noise, len * noise, area),
                    2 => (len * noise, area * noise, total),
                    3 => (len * noise, size, 0),
                    4 => (size * noise, len, 0),
                    5 => (area * noise, size, 0),
                    _ => (size * size * len * noise, len, 0),
                };
                (key, b)
            })
            .collect();
        keyed.sort_by_key(|&(k, b)| (std::cmp::Reverse(k), b));
        keyed.into_iter().map(|(_, b)| b).collect()
    }
}

#[cfg(test)]
impl Instance {
    /// Asserts that `off` is a plan within `cap`: offsets aligned, inside `cap`, and no two
    /// conflicting buffers overlap.
    pub(crate) fn assert_plan(&self, off: &[u64], cap: u64) {
        for b in 0..off.len() {
            assert_eq!(off[b] % self.align[b], 0);
            assert!(off[b] + self.size[b] <= cap);
            for &c in self.conflicts(b) {
                let c = c as usize;
                let apart = off[b] + self.size[b] <= off[c] || off[c] + self.size[c] <= off[b];
                assert!(apart, "{b} and {c} overlap");
            }
        }
    }
}

/// How one decision run searches: the branching preference, the focus rule and a node limit.
pub(crate) struct Strategy<'r> {
    /// Rank per buffer (from [`Instance::ranking`]); lower is tried first.
    pub rank: &'r [u32],
    /// The ranking variant `rank` came from (parts of a search may be re-ranked with it).
    pub variant: u32,
    /// Break ties between equally tight focus sections by fewest candidates.
    pub count_focus: bool,
    /// Give up (as [`Decision::Timeout`]) after this many nodes.
    pub node_limit: u64,
    /// Give up (as [`Decision::Timeout`]) soon after this becomes true (another thread of a
    /// portfolio answered).
    pub stop: Option<&'r AtomicBool>,
}

#[cfg(test)]
impl<'r> Strategy<'r> {
    /// Ranking `rank` (from `variant`), no node limit, nothing to stop it.
    pub(crate) fn unlimited(rank: &'r [u32], variant: u32) -> Self {
        Self {
            rank,
            variant,
            count_focus: false,
            node_limit: u64::MAX,
            stop: None,
        }
    }
}

/// Whether a search that has visited `nodes` must give up: past its node limit, or (looked at
/// every 256 nodes) past its deadline or told to stop by another thread.
pub(crate) fn must_stop(
    nodes: u64,
    node_limit: u64,
    stop: Option<&AtomicBool>,
    deadline: Instant,
) -> bool {
    nodes >= node_limit
        || (nodes & 255 == 0
            && (stop.is_some_and(|s| s.load(Ordering::Relaxed)) || Instant::now() >= deadline))
}

/// Answer of one decision run.
pub(crate) enum Decision {
    /// Fits: one offset per buffer.
    Feasible(Vec<u64>),
    /// Proven not to fit.
    Infeasible,
    /// The deadline came first.
    Timeout,
}

/// Range-add / range-max segment tree over sections (remaining bytes per section).
struct Loads {
    size: usize,
    mx: Vec<i64>,
    lz: Vec<i64>,
}

impl Loads {
    fn new(sections: usize) -> Self {
        let size = sections.next_power_of_two();
        Self {
            size,
            mx: vec![0; 2 * size],
            lz: vec![0; 2 * size],
        }
    }

    fn add(&mut self, l: usize, r: usize, v: i64) {
        self.add_rec(1, 0, self.size, l, r, v);
    }

    fn add_rec(&mut self, node: usize, nl: usize, nr: usize, l: usize, r: usize, v: i64) {
        if r <= nl || nr <= l {
            return;
        }
        if l <= nl && nr <= r {
            self.mx[node] += v;
            self.lz[node] += v;
            return;
        }
        let mid = (nl + nr) / 2;
        self.add_rec(2 * node, nl, mid, l, r, v);
        self.add_rec(2 * node + 1, mid, nr, l, r, v);
        self.mx[node] = self.mx[2 * node].max(self.mx[2 * node + 1]) + self.lz[node];
    }

    fn max(&self, l: usize, r: usize) -> i64 {
        self.max_rec(1, 0, self.size, l, r)
    }

    fn max_rec(&self, node: usize, nl: usize, nr: usize, l: usize, r: usize) -> i64 {
        if r <= nl || nr <= l {
            return i64::MIN / 2;
        }
        if l <= nl && nr <= r {
            return self.mx[node];
        }
        let mid = (nl + nr) / 2;
        self.max_rec(2 * node, nl, mid, l, r)
            .max(self.max_rec(2 * node + 1, mid, nr, l, r))
            + self.lz[node]
    }

    fn max_all(&self) -> i64 {
        self.mx[1]
    }
}

/// The lowest value per section over ranges of sections: an implicit segment tree taking
/// range minima (`chmin`), then pushed down so each leaf holds its section's minimum.
pub(crate) struct MinTree {
    low: Vec<u64>,
    size: usize,
}

impl MinTree {
    pub(crate) fn new(sections: usize) -> Self {
        let size = sections.next_power_of_two();
        Self {
            low: vec![u64::MAX; 2 * size],
            size,
        }
    }

    /// Forgets every value.
    pub(crate) fn clear(&mut self) {
        self.low.fill(u64::MAX);
    }

    /// Lowers sections `[lo, hi)` to at most `e`.
    pub(crate) fn chmin(&mut self, lo: usize, hi: usize, e: u64) {
        let (mut l, mut r) = (lo + self.size, hi + self.size);
        while l < r {
            if l & 1 == 1 {
                self.low[l] = self.low[l].min(e);
                l += 1;
            }
            if r & 1 == 1 {
                r -= 1;
                self.low[r] = self.low[r].min(e);
            }
            l >>= 1;
            r >>= 1;
        }
    }

    /// Pushes the minima down to the leaves; call once after the `chmin`s, before `get`.
    pub(crate) fn push_down(&mut self) {
        for node in 2..2 * self.size {
            let parent = self.low[node >> 1];
            if parent < self.low[node] {
                self.low[node] = parent;
            }
        }
    }

    /// Section `s`'s minimum (`u64::MAX` when no range covered it).
    pub(crate) fn get(&self, s: usize) -> u64 {
        self.low[self.size + s]
    }
}

enum Step {
    Found,
    Fail,
    Abort,
}

/// The mutable search state for one capacity.
struct Search<'a> {
    inst: &'a Instance,
    rank: &'a [u32],
    count_focus: bool,
    node_limit: u64,
    stop: Option<&'a AtomicBool>,
    cap: u64,
    deadline: Instant,
    nodes: u64,
    placed: Vec<bool>,
    offset: Vec<u64>,
    /// Highest top among placed conflicting buffers.
    cand: Vec<u64>,
    /// `blocked[b] == x`: `b` may not be placed at offset `x`.
    blocked: Vec<u64>,
    /// Lowest offset any unplaced buffer of the current subtree may take.
    m: u64,
    loads: Loads,
    /// Bytes still to place per section (plain copy of `loads` for the per-node sweep).
    rem: Vec<u64>,
    /// Scratch: lowest canonical offset of any unplaced buffer per section (a min tree).
    low: MinTree,
    /// Scratch: difference array of candidate counts per section.
    count: Vec<i32>,
    /// `(buffer, undo mark)` for every placement, in order.
    trail: Vec<(u32, usize)>,
    undo: Vec<(u32, u64)>,
    /// Previous `blocked` values, to lift bars on backtrack.
    block_undo: Vec<(u32, u64)>,
    cands: Vec<u32>,
    /// Sections whose buffers add up to the capacity (see [`super::valley`]), if any.
    full: Option<Vec<bool>>,
    /// Scratch for the valley check.
    reach: Vec<bool>,
}

/// Decides whether `inst` fits in `capacity`, searching until `deadline`. Also returns the
/// number of nodes visited.
pub(crate) fn decide(
    inst: &Instance,
    capacity: u64,
    deadline: Instant,
    strategy: &Strategy<'_>,
) -> (Decision, u64) {
    let n = inst.len();
    let mut loads = Loads::new(inst.sections);
    let mut rem = vec![0u64; inst.sections];
    for i in 0..n {
        loads.add(
            inst.lo[i] as usize,
            inst.hi[i] as usize,
            inst.size[i] as i64,
        );
        for r in &mut rem[inst.lo[i] as usize..inst.hi[i] as usize] {
            *r += inst.size[i];
        }
        if inst.size[i] > capacity {
            return (Decision::Infeasible, 0);
        }
    }
    if loads.max_all() > capacity as i64 {
        return (Decision::Infeasible, 0);
    }
    let full: Vec<bool> = rem.iter().map(|&r| r == capacity).collect();
    let full = full.contains(&true).then_some(full);
    let mut s = Search {
        inst,
        rank: strategy.rank,
        count_focus: strategy.count_focus,
        node_limit: strategy.node_limit,
        stop: strategy.stop,
        cap: capacity,
        deadline,
        nodes: 0,
        placed: vec![false; n],
        offset: vec![0; n],
        cand: vec![0; n],
        blocked: vec![u64::MAX; n],
        m: 0,
        loads,
        rem,
        low: MinTree::new(inst.sections),
        count: vec![0; inst.sections + 1],
        trail: Vec::new(),
        undo: Vec::new(),
        block_undo: Vec::new(),
        cands: Vec::new(),
        full,
        reach: vec![false; inst.sections + 1],
    };
    let mut all: Vec<u32> = (0..n as u32).collect();
    all.sort_unstable_by_key(|&b| inst.lo[b as usize]);
    let step = s.dfs(&all);
    let d = match step {
        Step::Found => Decision::Feasible(s.offset),
        Step::Fail => Decision::Infeasible,
        Step::Abort => Decision::Timeout,
    };
    (d, s.nodes)
}

impl Search<'_> {
    /// Completes the placement of the unplaced buffers of `set` (sorted by first section),
    /// which share no section with any other unplaced buffer.
    fn dfs(&mut self, set: &[u32]) -> Step {
        let inst = self.inst;
        self.nodes += 1;
        if must_stop(self.nodes, self.node_limit, self.stop, self.deadline) {
            return Step::Abort;
        }
        // Split into independent parts: unplaced buffers chained by overlapping sections.
        let mut parts = 0;
        let mut reach = 0u32;
        let (mut s_lo, mut s_hi) = (u32::MAX, 0u32);
        for &b in set {
            let b = b as usize;
            if self.placed[b] {
                continue;
            }
            if parts == 0 || inst.lo[b] >= reach {
                parts += 1;
            }
            reach = reach.max(inst.hi[b]);
            s_lo = s_lo.min(inst.lo[b]);
            s_hi = s_hi.max(inst.hi[b]);
        }
        if parts == 0 {
            return Step::Found;
        }
        if parts > 1 {
            return self.solve_parts(set);
        }
        let m_entry = self.m;
        let block_mark = self.block_undo.len();
        let result = loop {
            // Lowest canonical offset `x` of a buffer that may go there.
            let mut x = u64::MAX;
            let mut dead = false;
            for &b in set {
                let b = b as usize;
                if self.placed[b] {
                    continue;
                }
                let e = align_up_or_max(self.cand[b].max(self.m), inst.align[b]);
                let barred = self.blocked[b] == e;
                if e.saturating_add(u64::from(barred))
                    .saturating_add(inst.size[b])
                    > self.cap
                {
                    dead = true;
                    break;
                }
                if !barred && e < x && self.twin_ready(b) {
                    x = e;
                }
            }
            if dead || x == u64::MAX {
                break Step::Fail;
            }
            self.m = x;
            let Some(tight) = self.sections_fit(set, s_lo as usize, s_hi as usize, x) else {
                break Step::Fail;
            };
            if let Some(full) = &self.full {
                let state = (full.as_slice(), self.rem.as_slice(), self.placed.as_slice());
                let range = (s_lo as usize, s_hi as usize);
                if !super::valley::valleys_coverable(
                    inst,
                    self.cap,
                    state,
                    set,
                    range,
                    &mut self.reach,
                ) {
                    break Step::Fail;
                }
            }
            let mut focus = tight;
            if !set.iter().any(|&b| {
                let b = b as usize;
                inst.lo[b] as usize <= focus
                    && focus < inst.hi[b] as usize
                    && self.is_candidate(b, x)
            }) {
                // Fall back to the tightest section under the best-ranked buffer at `x`.
                let mut first: Option<usize> = None;
                for &b in set {
                    let b = b as usize;
                    if self.is_candidate(b, x) && first.is_none_or(|f| self.rank[b] < self.rank[f])
                    {
                        first = Some(b);
                    }
                }
                let Some(first) = first else { break Step::Fail };
                let (flo, fhi) = (inst.lo[first] as usize, inst.hi[first] as usize);
                focus = flo;
                for sec in flo..fhi {
                    if self.rem[sec] > self.rem[focus] {
                        focus = sec;
                    }
                }
            }
            let focus = focus as u32;
            let base = self.cands.len();
            for &b in set {
                let bu = b as usize;
                if inst.lo[bu] <= focus && focus < inst.hi[bu] && self.is_candidate(bu, x) {
                    self.cands.push(b);
                }
            }
            if self.cands.len() == base {
                break Step::Fail;
            }
            let rank = self.rank;
            self.cands[base..].sort_unstable_by_key(|&b| rank[b as usize]);
            let mut outcome = None;
            for k in base..self.cands.len() {
                let b = self.cands[k] as usize;
                match self.try_place(set, b, x, s_lo as usize, s_hi as usize) {
                    Step::Found => {
                        outcome = Some(Step::Found);
                        break;
                    }
                    Step::Abort => {
                        outcome = Some(Step::Abort);
                        break;
                    }
                    Step::Fail => {}
                }
                // Not at `x`: the remaining branches never put `b` there.
                self.block_undo.push((b as u32, self.blocked[b]));
                self.blocked[b] = x;
            }
            self.cands.truncate(base);
            if let Some(step) = outcome {
                break step;
            }
            // Last branch: nothing at `x` in the focus section; loop with the bars in place.
        };
        while self.block_undo.len() > block_mark {
            let (b, v) = self.block_undo.pop().unwrap_or((0, u64::MAX));
            self.blocked[b as usize] = v;
        }
        self.m = m_entry;
        result
    }

    /// True when `b`'s previous identical buffer (if any) is placed.
    fn twin_ready(&self, b: usize) -> bool {
        let tp = self.inst.twin_prev[b];
        tp == NONE || self.placed[tp as usize]
    }

    /// True when `b` is unplaced, may go at `x` and its canonical offset is `x`.
    fn is_candidate(&self, b: usize, x: u64) -> bool {
        !self.placed[b]
            && self.blocked[b] != x
            && self.twin_ready(b)
            && align_up_or_max(self.cand[b].max(self.m), self.inst.align[b]) == x
    }

    /// Solves the independent parts of `set` one after the other; on failure of one part,
    /// the placements of the earlier parts are undone.
    fn solve_parts(&mut self, set: &[u32]) -> Step {
        let inst = self.inst;
        let mut parts: Vec<Vec<u32>> = Vec::new();
        let mut reach = 0u32;
        for &b in set {
            if self.placed[b as usize] {
                continue;
            }
            let (lo, hi) = (inst.lo[b as usize], inst.hi[b as usize]);
            if parts.is_empty() || lo >= reach {
                parts.push(Vec::new());
            }
            reach = reach.max(hi);
            if let Some(p) = parts.last_mut() {
                p.push(b);
            }
        }
        // Hardest (largest) parts first: they fail fastest.
        parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
        let mark = self.trail.len();
        for part in &parts {
            match self.dfs(part) {
                Step::Found => {}
                Step::Fail => {
                    self.rollback(mark);
                    return Step::Fail;
                }
                Step::Abort => return Step::Abort,
            }
        }
        Step::Found
    }

    /// Inference: in every section of `[s_lo, s_hi)`, the bytes still to place must fit
    /// between the lowest canonical offset of the buffers of `set` that span it and the
    /// capacity. Returns `None` when some section cannot fit, else the section whose lowest
    /// offset is `x` with the least slack (fail first), or `s_lo` when there is none.
    fn sections_fit(&mut self, set: &[u32], s_lo: usize, s_hi: usize, x: u64) -> Option<usize> {
        let inst = self.inst;
        self.low.clear();
        for &b in set {
            let b = b as usize;
            if self.placed[b] {
                continue;
            }
            let mut e = align_up_or_max(self.cand[b].max(self.m), inst.align[b]);
            if !self.twin_ready(b) {
                // Must sit on or above its unplaced identical twin, which is at `e` or higher.
                e = e.saturating_add(inst.size[b]);
            } else if self.blocked[b] == e {
                // Barred from `e`: canonical offsets are multiples of the step and alignment.
                e = align_up_or_max(e.saturating_add(1), inst.align[b].max(inst.step));
            } else if e == x {
                self.count[inst.lo[b] as usize] += 1;
                self.count[inst.hi[b] as usize] -= 1;
            }
            self.low.chmin(inst.lo[b] as usize, inst.hi[b] as usize, e);
        }
        self.low.push_down();
        let mut best: Option<((u64, i32), usize)> = None;
        let mut live = 0i32;
        for s in s_lo..s_hi {
            live += self.count[s];
            self.count[s] = 0;
            let r = self.rem[s];
            if r == 0 {
                continue;
            }
            let low = self.low.get(s);
            let top = low.saturating_add(r);
            if top > self.cap {
                self.count[s..=s_hi].fill(0);
                return None;
            }
            let key = (self.cap - top, if self.count_focus { live } else { 0 });
            if low == x && best.is_none_or(|(k, _)| key < k) {
                best = Some((key, s));
            }
        }
        self.count[s_hi] = 0;
        Some(best.map_or(s_lo, |(_, s)| s))
    }

    /// Places `b` at `x` and completes `set`; undoes the placement unless a plan was found.
    fn try_place(&mut self, set: &[u32], b: usize, x: u64, s_lo: usize, s_hi: usize) -> Step {
        let inst = self.inst;
        let (lo, hi) = (inst.lo[b] as usize, inst.hi[b] as usize);
        let size = inst.size[b];
        let top = x + size;
        self.loads.add(lo, hi, -(size as i64));
        let span_rem = if hi > lo {
            self.loads.max(lo, hi).max(0) as u64
        } else {
            0
        };
        let all_rem = self.loads.max(s_lo, s_hi).max(0) as u64;
        if top.saturating_add(span_rem) > self.cap || x.saturating_add(all_rem) > self.cap {
            self.loads.add(lo, hi, size as i64);
            return Step::Fail;
        }
        let mark = self.undo.len();
        for &c in &inst.adj[inst.adj_start[b]..inst.adj_start[b + 1]] {
            let c = c as usize;
            if !self.placed[c] && self.cand[c] < top {
                self.undo.push((c as u32, self.cand[c]));
                self.cand[c] = top;
            }
        }
        self.placed[b] = true;
        self.offset[b] = x;
        for r in &mut self.rem[lo..hi] {
            *r -= size;
        }
        self.trail.push((b as u32, mark));
        let m_old = self.m;
        self.m = x;
        let step = self.dfs(set);
        self.m = m_old;
        if matches!(step, Step::Fail) {
            self.unplace_last();
        }
        step
    }

    /// Undoes the latest placement.
    fn unplace_last(&mut self) {
        let inst = self.inst;
        let Some((b, mark)) = self.trail.pop() else {
            return;
        };
        let b = b as usize;
        let (lo, hi, size) = (inst.lo[b] as usize, inst.hi[b] as usize, inst.size[b]);
        self.placed[b] = false;
        for r in &mut self.rem[lo..hi] {
            *r += size;
        }
        self.loads.add(lo, hi, size as i64);
        while self.undo.len() > mark {
            let (c, v) = self.undo.pop().unwrap_or((0, 0));
            self.cand[c as usize] = v;
        }
    }

    /// Undoes placements until `mark` remain.
    fn rollback(&mut self, mark: usize) {
        while self.trail.len() > mark {
            self.unplace_last();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(30)
    }

    fn decide(inst: &Instance, cap: u64, deadline: Instant) -> (Decision, u64) {
        let rank = inst.ranking(0);
        let strategy = Strategy {
            rank: &rank,
            variant: 0,
            count_focus: true,
            node_limit: u64::MAX,
            stop: None,
        };
        super::decide(inst, cap, deadline, &strategy)
    }

    #[test]
    fn input12_fits_in_12_not_11() {
        let rows = [
            (0, 3, 4, 1),
            (3, 9, 4, 1),
            (0, 9, 4, 1),
            (9, 21, 4, 1),
            (0, 21, 4, 1),
        ];
        let inst = Instance::new(&rows, 1);
        assert!(matches!(decide(&inst, 12, far()).0, Decision::Feasible(_)));
        assert!(matches!(decide(&inst, 11, far()).0, Decision::Infeasible));
    }

    #[test]
    fn alignment_can_force_a_gap() {
        // Two overlapping buffers of 3 bytes aligned to 4: best is [0,3) + [4,7).
        let inst = Instance::new(&[(0, 2, 3, 4), (0, 2, 3, 4)], 1);
        assert!(matches!(decide(&inst, 6, far()).0, Decision::Infeasible));
        match decide(&inst, 7, far()).0 {
            Decision::Feasible(o) => assert_eq!(o, vec![0, 4]),
            _ => panic!("7 bytes must fit"),
        }
    }

    #[test]
    fn totals_count_a_start_where_another_ends() {
        // Loads: 6 on [0, 2), 4 on [2, 4). Buffer 1 starts where buffer 0 ends.
        let inst = Instance::new(&[(0, 2, 5, 1), (2, 4, 3, 1), (0, 4, 1, 1)], 1);
        assert_eq!(inst.total, vec![6, 4, 6]);
        // (total, length, area): buffer 2 (6, 4, 4), then 0 (6, 2, 10), then 1 (4, 2, 6).
        assert_eq!(inst.ranking(1), vec![1, 2, 0]);
    }

    #[test]
    fn segment_tree_tracks_range_max() {
        let mut l = Loads::new(5);
        l.add(0, 3, 4);
        l.add(2, 5, 3);
        assert_eq!(l.max_all(), 7);
        assert_eq!(l.max(3, 5), 3);
        l.add(2, 3, -7);
        assert_eq!(l.max_all(), 4);
    }
}
