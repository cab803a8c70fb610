//! The `auto` planner (the default): fast heuristics first, then exact search when it can pay.
//!
//! 1. Run the cheap heuristics and keep the best plan. If it meets the max-load lower bound it
//!    is optimal and returned at once.
//! 2. Problems with at most [`AUTO_SEARCH_MAX_BUFFERS`] buffers are then improved by the
//!    `exact` branch and bound within `Budget::time_limit`. Larger ones (real traces with tens
//!    of thousands of buffers, where best fit is already close to the bound) skip the search,
//!    so planning stays fast.

use super::bound::lower_bound;
use super::exact::improve;
use super::place::classic_orders;
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
        let best = heuristics(problem)?;
        if best.arena_bytes <= lower_bound(problem) {
            return Ok(Outcome {
                plan: best,
                proven_optimal: true,
            });
        }
        if problem.buffers.len() > AUTO_SEARCH_MAX_BUFFERS {
            return Ok(Outcome {
                plan: best,
                proven_optimal: false,
            });
        }
        Ok(improve(problem, best, start + budget.time_limit))
    }
}

/// The best plan of the cheap heuristics.
fn heuristics(problem: &Problem) -> Result<Plan, PlanError> {
    let mut best: Option<Plan> = classic_orders(problem, MAX_EDGES);
    if let Some(p) = &best {
        return Ok(p.clone());
    }
    best.take().ok_or(PlanError::TooLarge {
        planner: "auto",
        what: "conflicting pairs",
        limit: MAX_EDGES,
        actual: MAX_EDGES + 1,
    })
}
