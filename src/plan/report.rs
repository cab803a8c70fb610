//! Plan, time, validate and summarise in one call: used by `tessera plan-csv` and by the
//! planner-table example.

use super::bound::lower_bound;
use super::registry::planner_by_name;
use super::validate::validate;
use super::{Budget, Outcome, PlanError, Problem};
use std::time::Instant;

/// A one-line summary of one planner run on one problem.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanReport {
    /// Planner name.
    pub planner: String,
    /// Number of buffers.
    pub buffers: usize,
    /// Arena size of the plan.
    pub arena_bytes: u64,
    /// Max-load lower bound of the problem.
    pub lower_bound: u64,
    /// `arena_bytes / lower_bound` (1.0 when the bound is 0).
    pub ratio: f64,
    /// Wall-clock time of the planner alone, in milliseconds.
    pub elapsed_ms: f64,
    /// Whether the planner proved optimality.
    pub proven_optimal: bool,
    /// The best lower bound the planner established ([`Outcome::lower_bound`]): at least the
    /// max-load bound, or the granularity-rounded bound, raised by capacities `exact` proved
    /// infeasible (equals `arena_bytes` when proven optimal).
    pub proven_lower_bound: u64,
}

impl std::fmt::Display for PlanReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} buffers, arena {} bytes, lower bound {}, ratio {:.4}, {:.1} ms{}",
            self.planner,
            self.buffers,
            self.arena_bytes,
            self.lower_bound,
            self.ratio,
            self.elapsed_ms,
            if self.proven_optimal {
                ", proven optimal".to_string()
            } else if self.proven_lower_bound > self.lower_bound {
                format!(", proven bound {}", self.proven_lower_bound)
            } else {
                String::new()
            }
        )
    }
}

/// Runs the planner called `planner_name` on `problem`, validates the plan, and checks that
/// the arena is not below the max-load lower bound (that would be a bug: `BelowLowerBound`).
pub fn plan_and_check(
    problem: &Problem,
    planner_name: &str,
    budget: &Budget,
) -> Result<(Outcome, PlanReport), PlanError> {
    let planner = planner_by_name(planner_name)?;
    problem.check()?;
    let started = Instant::now();
    let outcome = planner.plan(problem, budget)?;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    validate(problem, &outcome.plan)?;
    let lb = lower_bound(problem);
    let arena_bytes = outcome.plan.arena_bytes;
    if arena_bytes < lb {
        return Err(PlanError::BelowLowerBound {
            planner: planner_name.to_string(),
            arena_bytes,
            lower_bound: lb,
        });
    }
    // Precision loss in the ratio is fine: it is for display.
    #[allow(clippy::cast_precision_loss)]
    let ratio = if lb == 0 {
        1.0
    } else {
        arena_bytes as f64 / lb as f64
    };
    let report = PlanReport {
        planner: planner_name.to_string(),
        buffers: problem.buffers.len(),
        arena_bytes,
        lower_bound: lb,
        ratio,
        elapsed_ms,
        proven_optimal: outcome.proven_optimal,
        proven_lower_bound: outcome.lower_bound.max(lb),
    };
    Ok((outcome, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_for_input12() {
        let p = Problem::from_rows(&[
            (0, 3, 4, 1),
            (3, 9, 4, 1),
            (0, 9, 4, 1),
            (9, 21, 4, 1),
            (0, 21, 4, 1),
        ]);
        let (out, report) = plan_and_check(&p, "greedy-size", &Budget::default()).unwrap();
        assert_eq!(out.plan.arena_bytes, 12);
        assert_eq!((report.lower_bound, report.buffers), (12, 5));
        assert!((report.ratio - 1.0).abs() < 1e-12);
        let line = report.to_string();
        assert!(
            line.starts_with("greedy-size: 5 buffers, arena 12 bytes"),
            "{line}"
        );
        assert!(line.ends_with("proven optimal"), "{line}");
        let (_, naive) = plan_and_check(&p, "naive", &Budget::default()).unwrap();
        assert_eq!(naive.arena_bytes, 20);
        assert!(!naive.proven_optimal);
        assert_eq!((naive.proven_lower_bound, out.lower_bound), (12, 12));
    }

    #[test]
    fn unknown_planner_and_bad_problem_are_errors() {
        let p = Problem::from_rows(&[(0, 3, 0, 1)]);
        assert!(matches!(
            plan_and_check(&p, "nope", &Budget::default()),
            Err(PlanError::UnknownPlanner(..))
        ));
        assert!(matches!(
            plan_and_check(&p, "naive", &Budget::default()),
            Err(PlanError::ZeroSize { .. })
        ));
    }
}
