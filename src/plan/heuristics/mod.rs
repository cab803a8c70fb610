//! Heuristic planners: fast, no optimality guarantee (they report `proven_optimal` only when the
//! arena happens to equal the max-load lower bound, which is then a proof).
//!
//! Two families:
//! - offset placement (module `place`): buffers are placed one at a time, in a planner-specific
//!   order, into the lowest or best-fitting aligned gap left by already placed buffers whose
//!   lifetimes overlap (`naive`, `first-fit`, `best-fit`, `greedy-size`, `greedy-conflicts`,
//!   `lifetime-aware`);
//! - shared objects (module `shared`): buffers are grouped into objects whose members never live at
//!   the same time; each object is as large as its largest member and the objects are laid out
//!   end to end (`greedy-breadth`, `coloring`, `matching`).

mod breadth;
mod coloring;
mod matching;
mod occupancy;
mod place;
mod shared;

pub use breadth::GreedyBreadth;
pub use coloring::Coloring;
pub use matching::Matching;
pub use place::{BestFit, FirstFit, GreedyConflicts, GreedySize, LifetimeAware, Naive};

use super::{Outcome, Plan, Problem, bound::lower_bound};

/// Wraps a heuristic plan; it is proven optimal exactly when it meets the lower bound.
fn outcome(problem: &Problem, plan: Plan) -> Outcome {
    Outcome::new(plan, lower_bound(problem))
}

/// Best-fit placement in `order` (each buffer index once), as `greedy-size` does in its order.
pub(crate) fn place_order_best_fit(
    problem: &Problem,
    order: &[usize],
) -> Result<Plan, super::PlanError> {
    place::place_in_order(problem, order, place::Fit::Best)
}

/// The best-fitting aligned offset for `size` bytes among `occupied` byte ranges sorted by
/// start (ranges may overlap), or on top of them; `None` on overflow.
pub(crate) fn find_gap_best(occupied: &[(u64, u64)], size: u64, align: u64) -> Option<u64> {
    place::find_gap(occupied, size, align, place::Fit::Best)
}
