//! Static memory planning: a pure dynamic-storage-allocation layer.
//!
//! Buffers with half-open lifetimes, sizes and alignments go in; one offset per buffer and the
//! arena size come out. Nothing here knows about graphs or GPUs, so the same planners serve
//! tessera graphs and minimalloc-format CSV files. Every plan can be checked by the validator.

mod error;
mod lifetime;
mod problem;

// Infrastructure and heuristic planners.
pub mod bound;
pub mod buddy;
pub mod csv;
pub mod heuristics;
mod interval_index;
pub mod perfect;
pub mod registry;
pub mod report;
pub mod validate;

// Search planners (exact, ilp, hill-climb, auto) and their helpers.
mod auto;
mod bnb;
mod canonical;
mod exact;
mod ilp;
mod place;
mod promote;
mod repack;
mod search;
mod tile;
mod valley;

pub use error::PlanError;
pub use lifetime::Lifetime;
pub use problem::{Buffer, BufferId, Plan, Problem};

pub use bound::{lower_bound, memory_curve};
pub use csv::{parse_csv, read_csv, write_csv};
pub use registry::{planner_by_name, planner_names};
pub use report::{PlanReport, plan_and_check};
pub use validate::validate;

pub use auto::AutoPlanner;
pub use exact::ExactPlanner;
pub use ilp::{ILP_MAX_BUFFERS, ILP_MAX_PAIRS, IlpPlanner};
pub use search::HillClimbPlanner;

use std::time::Duration;

/// Limits for planners that search (exact, ilp, hill-climb, auto). Heuristics ignore it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Wall-clock limit for the search.
    pub time_limit: Duration,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            time_limit: Duration::from_secs(10),
        }
    }
}

/// What a planner returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The offsets and arena size.
    pub plan: Plan,
    /// True only when the planner proved no smaller arena exists.
    pub proven_optimal: bool,
    /// The best lower bound on the optimal arena the planner established: the max-load bound
    /// for heuristics, raised by every capacity the `exact` search proved infeasible. Equals
    /// `plan.arena_bytes` when `proven_optimal`, and never exceeds it.
    pub lower_bound: u64,
}

impl Outcome {
    /// An outcome with the established bound `lower_bound` (capped at the arena): optimal is
    /// proven exactly when the arena meets it.
    pub fn new(plan: Plan, lower_bound: u64) -> Self {
        let lower_bound = lower_bound.min(plan.arena_bytes);
        Self {
            proven_optimal: plan.arena_bytes == lower_bound,
            lower_bound,
            plan,
        }
    }

    /// An outcome whose optimality is known otherwise (a solver's proof, a plan file): the
    /// bound is the arena when `proven_optimal`, else `lower_bound` (capped at the arena).
    pub fn with_proof(plan: Plan, proven_optimal: bool, lower_bound: u64) -> Self {
        let bound = if proven_optimal {
            plan.arena_bytes
        } else {
            lower_bound
        };
        Self {
            proven_optimal,
            ..Self::new(plan, bound)
        }
    }
}

/// One planning algorithm. Implementations are stateless and cheap to construct.
pub trait Planner {
    /// The name used on the command line (`--planner NAME`).
    fn name(&self) -> &'static str;
    /// Places every buffer of `problem`.
    fn plan(&self, problem: &Problem, budget: &Budget) -> Result<Outcome, PlanError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_bounds_are_capped_and_prove_optimality() {
        let plan = Plan {
            offsets: vec![0],
            arena_bytes: 10,
        };
        let tight = Outcome::new(plan.clone(), 12);
        assert_eq!((tight.lower_bound, tight.proven_optimal), (10, true));
        let loose = Outcome::new(plan.clone(), 8);
        assert_eq!((loose.lower_bound, loose.proven_optimal), (8, false));
        let solver = Outcome::with_proof(plan.clone(), true, 3);
        assert_eq!((solver.lower_bound, solver.proven_optimal), (10, true));
        let unproven = Outcome::with_proof(plan, false, 3);
        assert_eq!((unproven.lower_bound, unproven.proven_optimal), (3, false));
    }
}
