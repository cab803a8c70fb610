//! Shared helpers of the search planners (`exact`, `ilp`, `hill-climb`, `auto`).
//!
//! * [`Conflicts`]: the conflict graph in compressed-row form, built by a sweep over time.
//! * [`place_in_order`]: best-fit placement of the buffers in a given order (TFLite's
//!   "greedy by size" when the order is by decreasing size), the inner loop of hill climbing.
//! * [`granularity`]: a step `g` such that some optimal plan has an arena that is a multiple of
//!   `g`, used to turn "capacity `C - g` is infeasible" into a proof that `C` is optimal.

use super::{Plan, Problem};
use crate::bytes::align_up;

/// [`align_up`] saturating at `u64::MAX`: a candidate offset past every capacity, which the
/// search treats as "does not fit". Problems that pass [`Problem::check`] never reach it.
pub(crate) fn align_up_or_max(x: u64, align: u64) -> u64 {
    align_up(x, align).unwrap_or(u64::MAX)
}

/// Greatest common divisor (`gcd(0, b) = b`).
pub(crate) fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A step `g >= 1` such that the optimal arena is a multiple of `g`.
///
/// Any plan can be pushed down ("gravity") until every buffer sits at `align_up(top)` of a
/// buffer below it, or at 0, without growing the arena. If `g` divides every size and every
/// alignment either divides `g` or is a multiple of it, every such offset and top is a multiple
/// of `g`. The loop shrinks `g` until that holds.
pub(crate) fn granularity(problem: &Problem) -> u64 {
    let mut g = problem.buffers.iter().fold(0, |g, b| gcd(g, b.size));
    if g == 0 {
        return 1;
    }
    loop {
        let before = g;
        for b in &problem.buffers {
            if b.align > 1 && g % b.align != 0 && b.align % g != 0 {
                g = gcd(g, b.align);
            }
        }
        if g == before {
            return g;
        }
    }
}

/// The conflict graph: `neighbours(i)` lists the buffers whose lifetimes overlap buffer `i`'s.
pub(crate) struct Conflicts {
    start: Vec<usize>,
    list: Vec<u32>,
}

impl Conflicts {
    /// Builds the graph, or returns `None` when it would have more than `max_edges` edges
    /// (each counted once).
    pub(crate) fn build(problem: &Problem, max_edges: usize) -> Option<Self> {
        let bufs = &problem.buffers;
        let n = bufs.len();
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_unstable_by_key(|&i| bufs[i as usize].lifetime.start);
        // Active buffers (those whose end is later than the current start).
        let mut active: Vec<u32> = Vec::new();
        let mut edges: Vec<(u32, u32)> = Vec::new();
        for &i in &order {
            let s = bufs[i as usize].lifetime.start;
            active.retain(|&j| bufs[j as usize].lifetime.end > s);
            for &j in &active {
                edges.push((i, j));
            }
            if edges.len() > max_edges {
                return None;
            }
            if !bufs[i as usize].lifetime.is_empty() {
                active.push(i);
            }
        }
        let mut deg = vec![0usize; n + 1];
        for &(a, b) in &edges {
            deg[a as usize] += 1;
            deg[b as usize] += 1;
        }
        let mut start = vec![0usize; n + 1];
        for i in 0..n {
            start[i + 1] = start[i] + deg[i];
        }
        let mut fill = start.clone();
        let mut list = vec![0u32; start[n]];
        for &(a, b) in &edges {
            list[fill[a as usize]] = b;
            fill[a as usize] += 1;
            list[fill[b as usize]] = a;
            fill[b as usize] += 1;
        }
        Some(Self { start, list })
    }

    /// The buffers that conflict with buffer `i`.
    pub(crate) fn neighbours(&self, i: usize) -> &[u32] {
        &self.list[self.start[i]..self.start[i + 1]]
    }

    /// Number of edges (each counted once).
    #[cfg(test)]
    pub(crate) fn edges(&self) -> usize {
        self.list.len() / 2
    }
}

/// The number of conflicting pairs, by a sweep over lifetime end points (`O(n log n)`).
pub(crate) fn conflict_pairs(problem: &Problem) -> u64 {
    let mut events: Vec<(u64, bool)> = Vec::with_capacity(2 * problem.buffers.len());
    for b in &problem.buffers {
        if !b.lifetime.is_empty() {
            events.push((b.lifetime.start, true));
            events.push((b.lifetime.end, false));
        }
    }
    // Ends sort before starts at the same time: touching lifetimes do not conflict.
    events.sort_unstable();
    let (mut live, mut pairs) = (0u64, 0u64);
    for (_, is_start) in events {
        if is_start {
            pairs += live;
            live += 1;
        } else {
            live -= 1;
        }
    }
    pairs
}

/// Places the buffers one by one in `order` (which must list every buffer once), each in the
/// smallest gap between already-placed conflicting buffers that fits it (best fit), or on top
/// of them when no gap fits. `scratch` is reused between calls.
pub(crate) fn place_in_order(
    problem: &Problem,
    conflicts: &Conflicts,
    order: &[u32],
    offsets: &mut Vec<u64>,
    scratch: &mut Vec<(u64, u64)>,
) -> u64 {
    let bufs = &problem.buffers;
    offsets.clear();
    offsets.resize(bufs.len(), u64::MAX);
    let mut arena = 0u64;
    for &i in order {
        let b = &bufs[i as usize];
        scratch.clear();
        for &j in conflicts.neighbours(i as usize) {
            let o = offsets[j as usize];
            if o != u64::MAX {
                scratch.push((o, o.saturating_add(bufs[j as usize].size)));
            }
        }
        scratch.sort_unstable();
        let mut best: Option<(u64, u64)> = None; // (gap size, offset)
        let mut low = 0u64;
        for &(lo, hi) in scratch.iter() {
            let at = align_up_or_max(low, b.align);
            if lo > at && lo - at >= b.size {
                let gap = lo - at;
                if best.is_none_or(|(g, _)| gap < g) {
                    best = Some((gap, at));
                }
            }
            low = low.max(hi);
        }
        let at = match best {
            Some((_, at)) => at,
            None => align_up_or_max(low, b.align),
        };
        offsets[i as usize] = at;
        arena = arena.max(at.saturating_add(b.size));
    }
    arena
}

/// Best-fit placements in a few classic orders (size, lifetime length, area; all decreasing);
/// returns the best plan, or `None` when the conflict graph exceeds `max_edges`.
pub(crate) fn classic_orders(problem: &Problem, max_edges: usize) -> Option<Plan> {
    let conflicts = Conflicts::build(problem, max_edges)?;
    let bufs = &problem.buffers;
    let n = bufs.len();
    let keys: [&dyn Fn(usize) -> (u128, u64); 3] = [
        &|i| (u128::from(bufs[i].size), bufs[i].lifetime.len()),
        &|i| (u128::from(bufs[i].lifetime.len()), bufs[i].size),
        &|i| {
            (
                u128::from(bufs[i].size) * u128::from(bufs[i].lifetime.len()),
                bufs[i].size,
            )
        },
    ];
    let mut best: Option<Plan> = None;
    let (mut offsets, mut scratch) = (Vec::new(), Vec::new());
    for key in keys {
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by(|&a, &b| key(b as usize).cmp(&key(a as usize)).then(a.cmp(&b)));
        let arena = place_in_order(problem, &conflicts, &order, &mut offsets, &mut scratch);
        if best.as_ref().is_none_or(|p| arena < p.arena_bytes) {
            best = Some(Plan {
                offsets: offsets.clone(),
                arena_bytes: arena,
            });
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Buffer, Lifetime};

    fn buf(start: u64, end: u64, size: u64, align: u64) -> Buffer {
        Buffer {
            name: String::new(),
            lifetime: Lifetime { start, end },
            size,
            align,
        }
    }

    #[test]
    fn granularity_respects_sizes_and_alignments() {
        let p = Problem {
            buffers: vec![buf(0, 1, 1024, 1), buf(0, 1, 2048, 256)],
        };
        assert_eq!(granularity(&p), 1024);
        let p = Problem {
            buffers: vec![buf(0, 1, 1024, 1), buf(0, 1, 2048, 1536)],
        };
        assert_eq!(granularity(&p), 512);
        assert_eq!(granularity(&Problem::default()), 1);
    }

    #[test]
    fn conflicts_ignore_touching_lifetimes() {
        let p = Problem {
            buffers: vec![buf(0, 3, 4, 1), buf(3, 9, 4, 1), buf(0, 9, 4, 1)],
        };
        let c = Conflicts::build(&p, 100).unwrap();
        assert_eq!(c.edges(), 2);
        assert_eq!(conflict_pairs(&p), 2);
        assert!(c.neighbours(0).contains(&2) && !c.neighbours(0).contains(&1));
    }

    #[test]
    fn best_fit_fills_the_hole() {
        // input.12: greedy by size reaches the optimum 12.
        let p = Problem {
            buffers: vec![
                buf(0, 3, 4, 1),
                buf(3, 9, 4, 1),
                buf(0, 9, 4, 1),
                buf(9, 21, 4, 1),
                buf(0, 21, 4, 1),
            ],
        };
        let plan = classic_orders(&p, 1000).unwrap();
        assert_eq!(plan.arena_bytes, 12);
    }
}
