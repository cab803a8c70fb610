//! The third decision procedure behind `exact`, for *zero-slack* capacities: every section's
//! buffers add up to exactly the capacity, so a plan is an exact cover of the
//! capacity x sections grid (perfect packings, and probes at the max-load bound of instances
//! whose every section is at the peak). Heights count in *units*, the sizes' greatest common
//! divisor; the search applies when the capacity is at most [`MAX_UNITS`] units, so that a
//! section's cells fit in one `u128`.
//!
//! Exact cover has two kinds of constraint, and the search branches on whichever has the
//! fewest ways left (as Knuth's dancing links do):
//! * every buffer is placed once: branch on its feasible offsets (those where its cells are
//!   free in all its sections, aligned);
//! * every cell is covered once: the lowest free cell of a section can only be covered by a
//!   buffer starting exactly there (the cells below it are taken), and the highest free cell
//!   by one ending exactly there; branch on those buffers.
//!
//! Branches of one node put different buffers, or one buffer at different offsets, at a
//! point, so no plan is visited twice, and the search is complete. A node fails when a buffer
//! has no feasible offset left, a free cell is covered by no feasible placement, or a run of
//! free cells in a section is not a sum of the sizes of the buffers that fit in it (counting
//! those that fit nowhere else). A full section's buffers are all placed, so the sections
//! between full ones are solved one run at a time, and a run that fails fails the node
//! without trying the others again.
//!
//! Candidates are tried by rank, then by offset. Restarts differ in the rank (see
//! [`Instance::ranking`]) and in two symmetries of the grid, taken from the variant's low
//! bits: ties between sections go to the rightmost (the instance mirrored in time), and
//! highest cells and offsets come first (upside down). Of identical buffers only the first
//! unplaced one is branched on.

use super::bnb::{Decision, Instance, Strategy, must_stop};
use super::place::gcd;
use std::time::Instant;

/// Most units the capacity may hold for the search to apply.
pub(crate) const MAX_UNITS: u64 = 128;

/// Offset of a buffer not yet placed.
const UNPLACED: u64 = u64::MAX;

/// The height unit at `capacity` when the search applies: every section carries exactly
/// `capacity` bytes, and `capacity` is at most [`MAX_UNITS`] of the sizes' greatest common
/// divisor.
pub(crate) fn unit(inst: &Instance, capacity: u64) -> Option<u64> {
    let unit = inst.size.iter().fold(0, |g, &s| gcd(g, s));
    if unit == 0 || !capacity.is_multiple_of(unit) || capacity / unit > MAX_UNITS {
        return None;
    }
    let mut load = vec![0u64; inst.sections];
    for b in 0..inst.size.len() {
        for l in &mut load[inst.lo[b] as usize..inst.hi[b] as usize] {
            *l = l.saturating_add(inst.size[b]);
        }
    }
    load.iter().all(|&l| l == capacity).then_some(unit)
}

/// `k` set bits from bit `o`.
fn run(o: u32, k: u32) -> u128 {
    if k >= 128 {
        u128::MAX
    } else {
        ((1u128 << k) - 1) << o
    }
}

/// The offsets `o` where bits `o..o + k` of `free` are all set.
fn fits(free: u128, k: u32) -> u128 {
    // Doubling: after each step `acc` marks runs of `len` set bits.
    let (mut acc, mut len) = (free, 1);
    while len < k {
        let step = len.min(k - len);
        acc &= acc >> step;
        len += step;
    }
    acc
}

/// Every bit within `k` above a set bit of `starts` (the cells placements there cover).
fn spread(starts: u128, k: u32) -> u128 {
    let (mut acc, mut len) = (starts, 1);
    while len < k {
        let step = len.min(k - len);
        acc |= acc << step;
        len += step;
    }
    acc
}

enum Step {
    Found,
    Fail,
    Abort,
}

/// What a node branches on.
#[derive(Clone, Copy)]
enum Branch {
    /// Where buffer `b` goes.
    Buffer(usize),
    /// Which buffer starts at the lowest free cell of a section.
    Lowest(usize),
    /// Which buffer ends at the highest free cell of a section.
    Highest(usize),
}

struct Search<'a> {
    inst: &'a Instance,
    strategy: &'a Strategy<'a>,
    deadline: Instant,
    nodes: u64,
    /// Cells per section.
    units: u32,
    /// Size in units per buffer.
    k: Vec<u32>,
    /// Offsets (in units) each buffer's alignment and size allow.
    aligned: Vec<u128>,
    /// The buffers spanning each section.
    live: Vec<Vec<u32>>,
    /// Taken cells per section.
    taken: Vec<u128>,
    /// Offset in units per buffer, or [`UNPLACED`].
    offset: Vec<u64>,
    /// Placed buffers, in order.
    trail: Vec<u32>,
    /// Break ties between sections towards the right (the search of the instance mirrored
    /// in time).
    mirrored: bool,
    /// Prefer highest free cells and high offsets (the search of the instance upside down).
    upside_down: bool,
    /// Scratch: feasible offsets per unplaced buffer.
    feasible: Vec<u128>,
    /// Scratch: cells some feasible placement covers, per section.
    covered: Vec<u128>,
    /// Scratch: buffers that can start at the lowest / end at the highest free cell.
    low_count: Vec<u32>,
    high_count: Vec<u32>,
}

/// Decides whether `inst` fits in `capacity`, where [`unit`] gave `unit`. Also returns the
/// number of nodes visited.
pub(crate) fn decide(
    inst: &Instance,
    capacity: u64,
    unit: u64,
    deadline: Instant,
    strategy: &Strategy<'_>,
) -> (Decision, u64) {
    let n = inst.size.len();
    let units = (capacity / unit.max(1)).min(MAX_UNITS) as u32;
    let k: Vec<u32> = inst
        .size
        .iter()
        .map(|&s| (s / unit.max(1)).min(u64::from(units) + 1) as u32)
        .collect();
    let aligned: Vec<u128> = (0..n)
        .map(|b| {
            (0..units)
                .filter(|&o| {
                    (u64::from(o) * unit).is_multiple_of(inst.align[b]) && o + k[b] <= units
                })
                .fold(0u128, |m, o| m | 1 << o)
        })
        .collect();
    let sections = inst.sections;
    let mut offset = vec![UNPLACED; n];
    let mut live = vec![Vec::new(); sections];
    for b in 0..n {
        if inst.hi[b] == inst.lo[b] {
            offset[b] = 0; // lives in no section: conflicts with nothing
        }
        for l in &mut live[inst.lo[b] as usize..inst.hi[b] as usize] {
            l.push(b as u32);
        }
    }
    let mut s = Search {
        inst,
        strategy,
        deadline,
        nodes: 0,
        units,
        k,
        aligned,
        live,
        taken: vec![0; sections],
        offset,
        trail: Vec::new(),
        mirrored: strategy.variant & 1 == 1,
        upside_down: strategy.variant & 2 == 2,
        feasible: vec![0; n],
        covered: vec![0; sections],
        low_count: vec![0; sections],
        high_count: vec![0; sections],
    };
    let d = match s.dfs(0, sections) {
        Step::Found => Decision::Feasible(s.offset.iter().map(|&o| o * unit).collect()),
        Step::Fail => Decision::Infeasible,
        Step::Abort => Decision::Timeout,
    };
    (d, s.nodes)
}

impl Search<'_> {
    fn full(&self) -> u128 {
        run(0, self.units)
    }

    fn span(&self, b: usize) -> std::ops::Range<usize> {
        self.inst.lo[b] as usize..self.inst.hi[b] as usize
    }

    /// Completes sections `a..b`, whose unplaced buffers span no section outside them. On
    /// failure every placement made here is undone; on success they stay.
    fn dfs(&mut self, a: usize, b: usize) -> Step {
        let runs = self.open_runs(a, b);
        if runs.len() != 1 {
            // A full section's buffers are all placed (its buffers add up to the capacity),
            // so the runs between full sections are independent, and one that fails fails
            // them all. No runs: every buffer here is placed.
            let mark = self.trail.len();
            for (s, e) in runs {
                match self.dfs(s, e) {
                    Step::Found => {}
                    Step::Fail => {
                        self.rollback(mark);
                        return Step::Fail;
                    }
                    Step::Abort => return Step::Abort,
                }
            }
            return Step::Found;
        }
        let (a, b) = runs[0];
        self.nodes += 1;
        let st = self.strategy;
        if must_stop(self.nodes, st.node_limit, st.stop, self.deadline) {
            return Step::Abort;
        }
        let Some(branch) = self.propagate(a, b) else {
            return Step::Fail;
        };
        for (x, o) in self.candidates(branch) {
            self.place(x, o);
            match self.dfs(a, b) {
                Step::Fail => self.rollback(self.trail.len() - 1),
                found_or_abort => return found_or_abort,
            }
        }
        Step::Fail
    }

    /// The maximal runs of sections with free cells within `a..b`.
    fn open_runs(&self, a: usize, b: usize) -> Vec<(usize, usize)> {
        let full = self.full();
        let mut runs = Vec::new();
        let mut t = a;
        while t < b {
            if self.taken[t] == full {
                t += 1;
                continue;
            }
            let s = t;
            while t < b && self.taken[t] != full {
                t += 1;
            }
            runs.push((s, t));
        }
        runs
    }

    /// Computes every unplaced buffer's feasible offsets and what they cover; `None` when
    /// some buffer or free cell has no way left, else the branch with the fewest ways.
    fn propagate(&mut self, a: usize, b_end: usize) -> Option<Branch> {
        let full = self.full();
        self.covered.fill(0);
        self.low_count.fill(0);
        self.high_count.fill(0);
        let mut best: Option<(u32, Branch)> = None;
        let mut cell: Option<(u32, Branch)> = None;
        for b in 0..self.k.len() {
            if self.offset[b] != UNPLACED
                || (self.inst.lo[b] as usize) < a
                || self.inst.hi[b] as usize > b_end
            {
                continue;
            }
            let k = self.k[b];
            let mut f = self.aligned[b];
            for t in self.span(b) {
                f &= fits(!self.taken[t] & full, k);
            }
            if f == 0 {
                return None;
            }
            self.feasible[b] = f;
            let cells = spread(f, k);
            for t in self.span(b) {
                self.covered[t] |= cells;
                let (low, top) = self.free_ends(t);
                self.low_count[t] += u32::from(f >> low & 1 == 1);
                self.high_count[t] += u32::from(top >= k && f >> (top - k) & 1 == 1);
            }
            let ways = f.count_ones();
            if self.first_twin(b) && best.is_none_or(|(w, _)| ways < w) {
                best = Some((ways, Branch::Buffer(b)));
            }
        }
        for t in a..b_end {
            let free = !self.taken[t] & full;
            if free == 0 {
                continue;
            }
            if free & !self.covered[t] != 0 {
                return None;
            }
            if !self.gaps_fillable(t, free) {
                return None;
            }
            let (mut first, mut second) = (
                (self.low_count[t], Branch::Lowest(t)),
                (self.high_count[t], Branch::Highest(t)),
            );
            if self.upside_down {
                std::mem::swap(&mut first, &mut second);
            }
            for (count, branch) in [first, second] {
                if cell.is_none_or(|(w, _)| count < w || (self.mirrored && count == w)) {
                    cell = Some((count, branch));
                }
            }
        }
        match (best, cell) {
            (Some((w, b)), Some((c, _))) if w <= c => Some(b),
            (_, Some((_, c))) => Some(c),
            (b, None) => b.map(|(_, b)| b),
        }
    }

    /// The lowest free cell of section `t` and one past its highest (the section has one).
    fn free_ends(&self, t: usize) -> (u32, u32) {
        let free = !self.taken[t] & self.full();
        (free.trailing_zeros(), 128 - free.leading_zeros())
    }

    /// Whether every maximal run of free cells in section `t` has a length some of the
    /// buffers that fit inside it add up to (each buffer lies in one run, and the run's
    /// buffers tile it).
    fn gaps_fillable(&self, t: usize, free: u128) -> bool {
        let mut rest = free;
        while rest != 0 {
            let g0 = rest.trailing_zeros();
            let len = (!(rest >> g0)).trailing_zeros();
            let inside = run(g0, len);
            rest &= !inside;
            // Buffers whose every feasible offset lies in the run must be among them.
            let mut forced = 0u32;
            let mut sums: u128 = 1;
            for &b in &self.live[t] {
                let b = b as usize;
                let k = self.k[b];
                if self.offset[b] != UNPLACED || k > len {
                    continue;
                }
                let f = self.feasible[b];
                if f & run(g0, len - k + 1) == 0 {
                    continue;
                }
                if f & !inside == 0 {
                    forced += k;
                } else {
                    sums |= sums << k;
                }
            }
            if len < 128 && (forced > len || (sums << forced) >> len & 1 == 0) {
                return false;
            }
        }
        true
    }

    /// Whether `b` is the first unplaced one of its identical buffers.
    fn first_twin(&self, b: usize) -> bool {
        self.inst
            .twin_prev(b)
            .is_none_or(|t| self.offset[t as usize] != UNPLACED)
    }

    /// The (buffer, offset) placements of a branch, by rank, then by offset (from the top
    /// when upside down).
    fn candidates(&self, branch: Branch) -> Vec<(usize, u32)> {
        let mut out = Vec::new();
        match branch {
            Branch::Buffer(b) => {
                let mut f = self.feasible[b];
                while f != 0 {
                    out.push((b, f.trailing_zeros()));
                    f &= f - 1;
                }
            }
            Branch::Lowest(t) | Branch::Highest(t) => {
                let (low, top) = self.free_ends(t);
                for &b in &self.live[t] {
                    let b = b as usize;
                    if self.offset[b] != UNPLACED || !self.first_twin(b) {
                        continue;
                    }
                    let o = match branch {
                        Branch::Highest(_) => top.checked_sub(self.k[b]),
                        _ => Some(low),
                    };
                    if let Some(o) = o.filter(|&o| self.feasible[b] >> o & 1 == 1) {
                        out.push((b, o));
                    }
                }
            }
        }
        let up = self.upside_down;
        out.sort_unstable_by_key(|&(b, o)| {
            (self.strategy.rank[b], if up { u32::MAX - o } else { o })
        });
        out
    }

    /// Takes the cells of `b` at offset `o`, on the trail.
    fn place(&mut self, b: usize, o: u32) {
        let rows = run(o, self.k[b]);
        for t in self.span(b) {
            self.taken[t] |= rows;
        }
        self.offset[b] = u64::from(o);
        self.trail.push(b as u32);
    }

    /// Frees the placements on the trail after its first `mark` entries.
    fn rollback(&mut self, mark: usize) {
        while self.trail.len() > mark {
            let Some(b) = self.trail.pop() else {
                break;
            };
            let b = b as usize;
            let rows = run(self.offset[b] as u32, self.k[b]);
            for t in self.span(b) {
                self.taken[t] &= !rows;
            }
            self.offset[b] = UNPLACED;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::perfect::{Kind, Spec, generate};
    use crate::plan::search::Lcg;
    use std::time::Duration;

    /// `(start, end, size, align)` per buffer.
    type Rows = Vec<(u64, u64, u64, u64)>;

    fn rows_of(p: &crate::plan::Problem) -> Rows {
        p.buffers
            .iter()
            .map(|b| (b.lifetime.start, b.lifetime.end, b.size, b.align))
            .collect()
    }

    /// The decision with ranking `variant` and no node limit; checks any plan it returns.
    fn run(inst: &Instance, cap: u64, variant: u32) -> bool {
        let Some(unit) = unit(inst, cap) else {
            panic!("not zero-slack at {cap}");
        };
        let rank = inst.ranking(variant);
        let strategy = Strategy::unlimited(&rank, variant);
        let deadline = Instant::now() + Duration::from_secs(60);
        match decide(inst, cap, unit, deadline, &strategy).0 {
            Decision::Feasible(off) => {
                inst.assert_plan(&off, cap);
                true
            }
            Decision::Infeasible => false,
            Decision::Timeout => panic!("timed out"),
        }
    }

    fn small_spec(kind: Kind, buffers: usize, seed: u64) -> Spec {
        Spec {
            kind,
            buffers,
            width: 12,
            steps: 10,
            unit: 8,
            seed,
        }
    }

    #[test]
    fn applies_only_where_every_section_is_full() {
        let packing = generate(&Spec::new(Kind::NonGuillotine, 60, 1)).unwrap();
        let inst = Instance::new(&rows_of(&packing.problem), 1);
        let cap = packing.plan.arena_bytes;
        assert_eq!(unit(&inst, cap), Some(16 << 10));
        assert_eq!(unit(&inst, cap + (16 << 10)), None, "slack everywhere");
        // One section short of the capacity.
        let slack = Instance::new(&[(0, 2, 4, 1), (0, 1, 4, 1)], 1);
        assert_eq!(unit(&slack, 8), None);
        // Zero slack, but 200 units of height.
        let tall = Instance::new(&[(0, 2, 199, 1), (0, 2, 1, 1)], 1);
        assert_eq!(unit(&tall, 200), None);
        assert_eq!(
            unit(&Instance::new(&[(0, 2, 64, 1), (0, 2, 64, 1)], 1), 128),
            Some(64)
        );
    }

    #[test]
    fn tiles_small_perfect_packings() {
        for seed in 0..40 {
            for kind in [Kind::Guillotine, Kind::NonGuillotine] {
                let packing = generate(&small_spec(kind, 6 + seed as usize % 30, seed)).unwrap();
                let inst = Instance::new(&rows_of(&packing.problem), 1);
                for variant in 0..4 {
                    assert!(
                        run(&inst, packing.plan.arena_bytes, variant),
                        "{kind:?} seed {seed} variant {variant}"
                    );
                }
            }
        }
    }

    /// A random zero-slack instance, or `None` when the draw overfills a section: a few
    /// buffers spanning two or three sections, some aligned to 2, then in each section one
    /// filler (sometimes two) for the rest of the capacity. It tiles only if the spanning
    /// buffers can be stacked, aligned, leaving each section's free cells in runs the
    /// fillers match.
    fn zero_slack_rows(rng: &mut Lcg) -> Option<(Rows, u64)> {
        let (sections, cap) = (3 + rng.below(2) as u64, 4 + rng.below(5) as u64);
        let mut rows: Rows = (0..2 + rng.below(3))
            .map(|_| {
                let s = rng.below(sections as usize - 1) as u64;
                let e = (s + 2 + rng.below(2) as u64).min(sections);
                let align = [1, 2, 2][rng.below(3)];
                (s, e, 1 + rng.below(cap as usize / 2) as u64, align)
            })
            .collect();
        for t in 0..sections {
            let load: u64 = rows
                .iter()
                .filter(|r| r.0 <= t && t < r.1)
                .map(|r| r.2)
                .sum();
            let rest = cap.checked_sub(load)?;
            let first = if rest > 1 && rng.below(3) == 0 {
                1 + rng.below(rest as usize - 1) as u64
            } else {
                rest
            };
            for k in [first, rest - first] {
                if k > 0 {
                    rows.push((t, t + 1, k, 1));
                }
            }
        }
        (rows.len() <= 8).then_some((rows, cap))
    }

    #[test]
    fn matches_brute_force_on_zero_slack_instances() {
        let mut rng = Lcg::new(5);
        let (mut fits, mut not) = (0, 0);
        for seed in 0..600 {
            let Some((rows, cap)) = zero_slack_rows(&mut rng) else {
                continue;
            };
            let inst = Instance::new(&rows, 1);
            let want = crate::plan::bound::brute_force_optimum(&rows) <= cap;
            for variant in [0, 3, 9] {
                assert_eq!(run(&inst, cap, variant), want, "seed {seed}: {rows:?}");
            }
            if want { fits += 1 } else { not += 1 }
        }
        // Both answers are exercised.
        assert!(fits > 50 && not > 20, "{fits} fit, {not} do not");
    }
}
