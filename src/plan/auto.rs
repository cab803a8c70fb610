//! The `auto` planner (the default): fast heuristics first, then exact search when it can pay.
//!
//! 1. Run the cheap heuristics and keep the best plan. If it meets the max-load lower bound it
//!    is optimal and returned at once. `greedy-size` runs first; the others only when they
//!    are likely to finish within the budget (judged from its time).
//! 2. Problems with at most [`AUTO_SEARCH_MAX_BUFFERS`] buffers are then improved by the
//!    `exact` branch and bound within `Budget::time_limit`. Larger ones (real traces with tens
//!    of thousands of buffers, where best fit is already close to the bound) skip the search,
//!    so planning stays fast.
//! 3. Instead, larger ones get the improvement phase of `repack`: peak-first best-fit orders
//!    (returned at once when one meets the bound), then promotion of the buffers above the
//!    bound to the front of the orders (`window`), then the heuristics of step 1, then
//!    re-packing of the bands around the peak until the bound, the time limit or a stall.

use super::bound::lower_bound;
use super::exact::improve;
use super::place::{classic_orders, conflict_pairs};
use super::registry::planner_by_name;
use super::repack::improve_large;
use super::{Budget, Outcome, Plan, PlanError, Planner, Problem};
use std::time::Instant;

/// Largest problem `auto` hands to the exact search.
pub const AUTO_SEARCH_MAX_BUFFERS: usize = 2_000;

/// Conflict edges above which `auto` skips its own best-fit orders.
const MAX_EDGES: usize = 4_000_000;

/// Heuristics, then bounded exact search (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct AutoPlanner;

impl Planner for AutoPlanner {
    fn name(&self) -> &'static str {
        "auto"
    }

    fn plan(&self, problem: &Problem, budget: &Budget) -> Result<Outcome, PlanError> {
        problem.check()?;
        let start = Instant::now();
        let deadline = start + budget.time_limit;
        let lb = lower_bound(problem);
        let best = if problem.buffers.len() > AUTO_SEARCH_MAX_BUFFERS {
            improve_large(problem, lb, deadline, |d| heuristics(problem, d))?
        } else {
            heuristics(problem, deadline)?
        };
        if best.arena_bytes <= lb || problem.buffers.len() > AUTO_SEARCH_MAX_BUFFERS {
            return Ok(Outcome::new(best, lb));
        }
        Ok(improve(problem, best, deadline))
    }
}

/// Heuristics `auto` runs (registry names) with the most conflicting pairs for which each is
/// still worth its time; they run in parallel threads.
const HEURISTICS: [(&str, u64); 4] = [
    ("greedy-size", u64::MAX),
    ("greedy-conflicts", 60_000_000),
    ("best-fit", 10_000_000),
    ("lifetime-aware", 10_000_000),
];

/// Problems up to this size also try the best-fit orders of the search helpers.
const CLASSIC_MAX_BUFFERS: usize = 5_000;

/// Extra heuristics run only when the time left exceeds this many times the duration of the
/// first one (they cost up to about 2.5 times `greedy-size` together on two cores).
const EXTRA_COST_FACTOR: u32 = 4;

/// The best plan of the cheap heuristics. `greedy-size` always runs (a plan is needed); the
/// others run in parallel afterwards unless they would likely overrun `deadline`.
pub(crate) fn heuristics(problem: &Problem, deadline: Instant) -> Result<Plan, PlanError> {
    let budget = Budget::default();
    let pairs = conflict_pairs(problem);
    let first_start = Instant::now();
    let (first_name, _) = HEURISTICS[0];
    let first = planner_by_name(first_name)
        .and_then(|p| p.plan(problem, &budget))
        .map(|o| o.plan);
    let now = Instant::now();
    let extras_fit = now + (now - first_start) * EXTRA_COST_FACTOR < deadline;
    let results: Vec<Result<Plan, PlanError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = HEURISTICS[1..]
            .iter()
            .filter(|&&(_, max_pairs)| extras_fit && pairs <= max_pairs)
            .map(|&(name, _)| {
                scope.spawn(move || {
                    planner_by_name(name)
                        .and_then(|p| p.plan(problem, &budget))
                        .map(|o| o.plan)
                })
            })
            .collect();
        let mut out: Vec<Result<Plan, PlanError>> = Vec::new();
        if extras_fit
            && problem.buffers.len() <= CLASSIC_MAX_BUFFERS
            && let Some(plan) = classic_orders(problem, MAX_EDGES)
        {
            out.push(Ok(plan));
        }
        out.push(first);
        for h in handles {
            out.push(h.join().unwrap_or_else(|_| {
                Err(PlanError::Solver {
                    planner: "auto",
                    message: "a heuristic panicked".into(),
                })
            }));
        }
        out
    });
    let mut best: Option<Plan> = None;
    let mut last_err = None;
    for r in results {
        match r {
            Ok(plan) => {
                if best
                    .as_ref()
                    .is_none_or(|b| plan.arena_bytes < b.arena_bytes)
                {
                    best = Some(plan);
                }
            }
            Err(e) => last_err = Some(e),
        }
    }
    match (best, last_err) {
        (Some(plan), _) => Ok(plan),
        (None, Some(e)) => Err(e),
        (None, None) => Err(PlanError::TooLarge {
            planner: "auto",
            what: "conflicting pairs",
            limit: MAX_EDGES,
            actual: usize::try_from(pairs).unwrap_or(usize::MAX),
        }),
    }
}
