//! The decision procedure behind the `exact` planner: "do these buffers fit in `capacity`?",
//! answered by a minimalloc-style branch and bound (after M. D. Moffitt, "MiniMalloc",
//! ASPLOS 2023; written from the paper's ideas).
//!
//! Time is cut into *sections* (between consecutive distinct lifetime end points); a buffer
//! spans a contiguous range of sections. Buffers are placed in non-decreasing offset order,
//! each at its *canonical* offset: the top of the highest placed buffer it conflicts with (the
//! section "floors"), raised to the global minimum `m` and aligned. Every plan can be pushed
//! down into this form without growing, so the search is complete:
//!
//! * At each node let `x` be the lowest canonical offset of any unplaced buffer. Branch on which
//!   buffer goes at `x`; as a last branch, place nothing at `x` and raise `m` to the next level.
//! * Dominance: once the branch "`a` at `x`" failed, `a` is barred from `x` in its siblings'
//!   subtrees (any such plan is a reordering of one already explored); of several identical
//!   buffers (same sections, size and alignment) only the first unplaced one may be placed.
//! * Inference: the bytes still to place in any section must fit between that section's floor
//!   (or `m`) and the capacity; section loads sit in a segment tree with range add and max.
//!   A buffer whose canonical offset no longer lets it fit also prunes the node.

use super::place::align_up;
use std::time::Instant;

const NONE: u32 = u32::MAX;

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
    /// Branching preference: lower rank is tried first.
    rank: Vec<u32>,
    /// The previous identical buffer, or `NONE`.
    twin_prev: Vec<u32>,
}

impl Instance {
    /// Builds an instance from `(start, end, size, align)` rows.
    pub(crate) fn new(rows: &[(u64, u64, u64, u64)]) -> Self {
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
        // Preference: longer spans first, then larger sizes.
        let mut order: Vec<u32> = (0..n as u32).collect();
        let key = |i: usize| {
            let len = rows[i].1.saturating_sub(rows[i].0);
            (std::cmp::Reverse(len), std::cmp::Reverse(rows[i].2), i)
        };
        order.sort_by_key(|&i| key(i as usize));
        let mut rank = vec![0u32; n];
        for (r, &i) in order.iter().enumerate() {
            rank[i as usize] = r as u32;
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
        Self {
            size: rows.iter().map(|r| r.2).collect(),
            align: rows.iter().map(|r| r.3.max(1)).collect(),
            lo,
            hi,
            sections,
            adj_start,
            adj,
            rank,
            twin_prev,
        }
    }

    fn len(&self) -> usize {
        self.size.len()
    }
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
        Self { size, mx: vec![0; 2 * size], lz: vec![0; 2 * size] }
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
        self.max_rec(2 * node, nl, mid, l, r).max(self.max_rec(2 * node + 1, mid, nr, l, r))
            + self.lz[node]
    }

    fn max_all(&self) -> i64 {
        self.mx[1]
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
    cap: u64,
    deadline: Instant,
    nodes: u64,
    placed: Vec<bool>,
    placed_count: usize,
    offset: Vec<u64>,
    /// Highest top among placed conflicting buffers.
    cand: Vec<u64>,
    /// `blocked[b] == x`: `b` may not be placed at offset `x`.
    blocked: Vec<u64>,
    m: u64,
    loads: Loads,
    undo: Vec<(u32, u64)>,
    cands: Vec<u32>,
}

/// Decides whether `inst` fits in `capacity`, searching until `deadline`. Also returns the
/// number of nodes visited.
pub(crate) fn decide(inst: &Instance, capacity: u64, deadline: Instant) -> (Decision, u64) {
    let n = inst.len();
    let mut loads = Loads::new(inst.sections);
    for i in 0..n {
        loads.add(inst.lo[i] as usize, inst.hi[i] as usize, inst.size[i] as i64);
        if inst.size[i] > capacity {
            return (Decision::Infeasible, 0);
        }
    }
    if loads.max_all() > capacity as i64 {
        return (Decision::Infeasible, 0);
    }
    let mut s = Search {
        inst,
        cap: capacity,
        deadline,
        nodes: 0,
        placed: vec![false; n],
        placed_count: 0,
        offset: vec![0; n],
        cand: vec![0; n],
        blocked: vec![u64::MAX; n],
        m: 0,
        loads,
        undo: Vec::new(),
        cands: Vec::new(),
    };
    let step = s.dfs();
    let d = match step {
        Step::Found => Decision::Feasible(s.offset),
        Step::Fail => Decision::Infeasible,
        Step::Abort => Decision::Timeout,
    };
    (d, s.nodes)
}

impl Search<'_> {
    fn dfs(&mut self) -> Step {
        let inst = self.inst;
        let n = inst.len();
        if self.placed_count == n {
            return Step::Found;
        }
        self.nodes += 1;
        if self.nodes & 1023 == 0 && Instant::now() >= self.deadline {
            return Step::Abort;
        }
        let m_entry = self.m;
        let result = loop {
            // Lowest and second-lowest canonical offsets.
            let (mut x, mut x2) = (u64::MAX, u64::MAX);
            let mut dead = false;
            for b in 0..n {
                if self.placed[b] {
                    continue;
                }
                let e = align_up(self.cand[b].max(self.m), inst.align[b]);
                if e.saturating_add(inst.size[b]) > self.cap {
                    dead = true;
                    break;
                }
                if e < x {
                    x2 = x;
                    x = e;
                } else if e > x && e < x2 {
                    x2 = e;
                }
            }
            if dead {
                break Step::Fail;
            }
            let base = self.cands.len();
            for b in 0..n {
                if self.placed[b] || self.blocked[b] == x {
                    continue;
                }
                let tp = inst.twin_prev[b];
                if tp != NONE && !self.placed[tp as usize] {
                    continue;
                }
                if align_up(self.cand[b].max(self.m), inst.align[b]) == x {
                    self.cands.push(b as u32);
                }
            }
            self.cands[base..].sort_unstable_by_key(|&b| inst.rank[b as usize]);
            let mut outcome = None;
            let mut k = base;
            while k < self.cands.len() {
                let b = self.cands[k] as usize;
                match self.try_place(b, x) {
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
                self.blocked[b] = x;
                k += 1;
            }
            // Lift the bars set here (they only matter at offset `x`).
            for k in base..self.cands.len() {
                let b = self.cands[k] as usize;
                if self.blocked[b] == x {
                    self.blocked[b] = u64::MAX;
                }
            }
            self.cands.truncate(base);
            if let Some(step) = outcome {
                break step;
            }
            // Last branch: nothing at `x`; every remaining buffer goes at `x2` or higher.
            if x2 == u64::MAX || x2.saturating_add(self.loads.max_all().max(0) as u64) > self.cap
            {
                break Step::Fail;
            }
            self.m = x2;
        };
        self.m = m_entry;
        result
    }

    fn try_place(&mut self, b: usize, x: u64) -> Step {
        let inst = self.inst;
        let (lo, hi) = (inst.lo[b] as usize, inst.hi[b] as usize);
        let size = inst.size[b];
        let top = x + size;
        self.loads.add(lo, hi, -(size as i64));
        let span_rem = if hi > lo { self.loads.max(lo, hi).max(0) as u64 } else { 0 };
        let all_rem = self.loads.max_all().max(0) as u64;
        let mut step = Step::Fail;
        if top.saturating_add(span_rem) <= self.cap && x.saturating_add(all_rem) <= self.cap {
            let mark = self.undo.len();
            for &c in &inst.adj[inst.adj_start[b]..inst.adj_start[b + 1]] {
                let c = c as usize;
                if !self.placed[c] && self.cand[c] < top {
                    self.undo.push((c as u32, self.cand[c]));
                    self.cand[c] = top;
                }
            }
            self.placed[b] = true;
            self.placed_count += 1;
            self.offset[b] = x;
            let m_old = self.m;
            self.m = x;
            step = self.dfs();
            self.m = m_old;
            if !matches!(step, Step::Found) {
                self.placed[b] = false;
                self.placed_count -= 1;
                while self.undo.len() > mark {
                    let (c, v) = self.undo.pop().unwrap_or((0, 0));
                    self.cand[c as usize] = v;
                }
            }
        }
        if !matches!(step, Step::Found) {
            self.loads.add(lo, hi, size as i64);
        }
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(30)
    }

    #[test]
    fn input12_fits_in_12_not_11() {
        let rows = [(0, 3, 4, 1), (3, 9, 4, 1), (0, 9, 4, 1), (9, 21, 4, 1), (0, 21, 4, 1)];
        let inst = Instance::new(&rows);
        assert!(matches!(decide(&inst, 12, far()).0, Decision::Feasible(_)));
        assert!(matches!(decide(&inst, 11, far()).0, Decision::Infeasible));
    }

    #[test]
    fn alignment_can_force_a_gap() {
        // Two overlapping buffers of 3 bytes aligned to 4: best is [0,3) + [4,7).
        let inst = Instance::new(&[(0, 2, 3, 4), (0, 2, 3, 4)]);
        assert!(matches!(decide(&inst, 6, far()).0, Decision::Infeasible));
        match decide(&inst, 7, far()).0 {
            Decision::Feasible(o) => assert_eq!(o, vec![0, 4]),
            _ => panic!("7 bytes must fit"),
        }
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
