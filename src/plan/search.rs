//! The `hill-climb` planner: iterated best-fit with perturbed placement orders (the idea of
//! TVM USMP's hill climb).
//!
//! Start from the greedy-by-size order. Each step moves one buffer that reaches the current
//! peak (or, now and then, a random one) to an earlier position in the order, or swaps two
//! buffers, and re-places everything with best fit. Better or equal orders are kept; a worse
//! one is kept with a small, cooling probability (simulated annealing), and the best plan seen
//! is returned when `Budget::time_limit` runs out (counted from the call, conflict graph
//! included; a step that would likely overrun it is not started). Randomness comes from a fixed-seed LCG, so
//! runs are repeatable up to the time limit.

use super::bound::lower_bound;
use super::place::{Conflicts, conflict_pairs, place_in_order};
use super::{Budget, Outcome, Plan, PlanError, Planner, Problem};
use std::time::Instant;

/// Conflict edges above which hill climbing gives up (one best-fit pass would be too slow).
const MAX_EDGES: usize = 20_000_000;

/// Iterated greedy with perturbation (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct HillClimbPlanner;

/// A 64-bit linear congruential generator (Knuth's MMIX constants).
pub(crate) struct Lcg(u64);

impl Lcg {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// A number in `0..n` (`n >= 1`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

impl Planner for HillClimbPlanner {
    fn name(&self) -> &'static str {
        "hill-climb"
    }

    fn plan(&self, problem: &Problem, budget: &Budget) -> Result<Outcome, PlanError> {
        let deadline = Instant::now() + budget.time_limit;
        problem.check()?;
        // Count the pairs first (an `O(n log n)` sweep, cheap) so that a hopeless problem is
        // refused before any edge list is built.
        let pairs = conflict_pairs(problem);
        let too_large = || PlanError::TooLarge {
            planner: "hill-climb",
            what: "conflicting pairs",
            limit: MAX_EDGES,
            actual: usize::try_from(pairs).unwrap_or(usize::MAX),
        };
        if pairs > MAX_EDGES as u64 {
            return Err(too_large());
        }
        let conflicts = Conflicts::build(problem, MAX_EDGES).ok_or_else(too_large)?;
        Ok(climb(problem, &conflicts, deadline, 1))
    }
}

/// Runs the hill climb until `deadline`; `seed` picks the random stream.
pub(crate) fn climb(
    problem: &Problem,
    conflicts: &Conflicts,
    deadline: Instant,
    seed: u64,
) -> Outcome {
    let bufs = &problem.buffers;
    let n = bufs.len();
    let lb = lower_bound(problem);
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        (bufs[b].size, bufs[b].lifetime.len()).cmp(&(bufs[a].size, bufs[a].lifetime.len()))
    });
    let (mut offsets, mut scratch) = (Vec::new(), Vec::new());
    let mut cur = place_in_order(problem, conflicts, &order, &mut offsets, &mut scratch);
    let mut best = Plan {
        offsets: offsets.clone(),
        arena_bytes: cur,
    };
    if n < 2 || cur <= lb {
        return Outcome::new(best, lb);
    }
    let mut rng = Lcg::new(seed);
    let mut pos = vec![0usize; n];
    let mut peak: Vec<usize> = Vec::new();
    let start = Instant::now();
    let total = deadline
        .saturating_duration_since(start)
        .as_secs_f64()
        .max(1e-9);
    // One step re-places every buffer (milliseconds to a tenth of a second on large traces):
    // check the clock every step and stop early when the slowest step seen so far would
    // overrun the deadline.
    let mut slowest = std::time::Duration::ZERO;
    let mut step_start = Instant::now();
    loop {
        let now = Instant::now();
        slowest = slowest.max(now - step_start);
        step_start = now;
        if now + slowest >= deadline {
            break;
        }
        let mut trial = order.clone();
        for (p, &b) in trial.iter().enumerate() {
            pos[b as usize] = p;
        }
        peak.clear();
        peak.extend((0..n).filter(|&i| offsets[i].saturating_add(bufs[i].size) == cur));
        let kind = rng.below(10);
        if kind < 7 && !peak.is_empty() {
            // Move a peak buffer earlier.
            let b = peak[rng.below(peak.len())];
            let from = pos[b];
            if from == 0 {
                continue;
            }
            let to = rng.below(from);
            let item = trial.remove(from);
            trial.insert(to, item);
        } else {
            let (a, b) = (rng.below(n), rng.below(n));
            trial.swap(a, b);
        }
        let mut trial_offsets = Vec::new();
        let arena = place_in_order(problem, conflicts, &trial, &mut trial_offsets, &mut scratch);
        let accept = if arena <= cur {
            true
        } else {
            // Annealing: accept up to 1% worse with a probability that cools to 0.
            let elapsed = start.elapsed().as_secs_f64() / total;
            let worse = (arena - cur) as f64 / cur as f64;
            worse < 0.01 && (rng.below(1000) as f64) < 50.0 * (1.0 - elapsed)
        };
        if accept {
            order = trial;
            offsets = trial_offsets;
            cur = arena;
            if cur < best.arena_bytes {
                best = Plan {
                    offsets: offsets.clone(),
                    arena_bytes: cur,
                };
                if cur <= lb {
                    break;
                }
            }
        }
    }
    Outcome::new(best, lb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::validate::validate;
    use crate::plan::{Buffer, Lifetime};
    use std::time::Duration;

    #[test]
    fn lcg_stays_in_range() {
        let mut r = Lcg::new(7);
        assert!((0..1000).all(|_| r.below(13) < 13));
    }

    #[test]
    fn improves_or_keeps_greedy_and_validates() {
        let rows = [
            (0, 2, 3),
            (2, 4, 2),
            (1, 3, 2),
            (0, 1, 2),
            (3, 4, 3),
            (1, 4, 1),
            (0, 3, 2),
        ];
        let buffers = rows
            .iter()
            .enumerate()
            .map(|(i, &(s, e, size))| Buffer {
                name: format!("b{i}"),
                lifetime: Lifetime { start: s, end: e },
                size,
                align: 1,
            })
            .collect();
        let p = Problem { buffers };
        let budget = Budget {
            time_limit: Duration::from_millis(50),
        };
        let out = HillClimbPlanner.plan(&p, &budget).unwrap();
        validate(&p, &out.plan).unwrap();
        assert!(out.plan.arena_bytes >= lower_bound(&p));
    }
}
