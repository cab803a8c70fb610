//! The `ilp` planner: the classic offset formulation solved as a MILP with `microlp`.
//!
//! In units of the [granularity](super::place::granularity()) `g`: offsets `o_i = u_i * k_i`
//! with integer `k_i >= 0` (`u_i` = alignment in units, at least 1), a peak `P >= o_i + s_i`,
//! and for every conflicting pair a binary `z_ij` choosing the order:
//! `o_i + s_i <= o_j + M z_ij` and `o_j + s_j <= o_i + M (1 - z_ij)`, with `M` the heuristic
//! arena. Minimise `P`. Meant for small problems and for cross-checking `exact`: it refuses
//! more than [`ILP_MAX_BUFFERS`] buffers or [`ILP_MAX_PAIRS`] conflicting pairs.

use super::bound::lower_bound;
use super::place::{Conflicts, classic_orders, conflict_pairs, granularity};
use super::validate::validate;
use super::{Budget, Outcome, Plan, PlanError, Planner, Problem};
use microlp::{ComparisonOp, OptimizationDirection, SolutionStatus, SolveOutcome};

/// Most buffers the `ilp` planner accepts.
pub const ILP_MAX_BUFFERS: usize = 40;
/// Most conflicting pairs (binary variables) the `ilp` planner accepts.
pub const ILP_MAX_PAIRS: usize = 300;

/// MILP over offsets with big-M disjunctions (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct IlpPlanner;

fn solver_error(message: impl Into<String>) -> PlanError {
    PlanError::Solver {
        planner: "ilp",
        message: message.into(),
    }
}

impl Planner for IlpPlanner {
    fn name(&self) -> &'static str {
        "ilp"
    }

    fn plan(&self, problem: &Problem, budget: &Budget) -> Result<Outcome, PlanError> {
        problem.check()?;
        let n = problem.buffers.len();
        if n > ILP_MAX_BUFFERS {
            return Err(PlanError::TooLarge {
                planner: "ilp",
                what: "buffers",
                limit: ILP_MAX_BUFFERS,
                actual: n,
            });
        }
        let too_many = || PlanError::TooLarge {
            planner: "ilp",
            what: "conflicting pairs",
            limit: ILP_MAX_PAIRS,
            actual: usize::try_from(conflict_pairs(problem)).unwrap_or(usize::MAX),
        };
        let conflicts = Conflicts::build(problem, ILP_MAX_PAIRS).ok_or_else(too_many)?;
        let upper = classic_orders(problem, ILP_MAX_PAIRS).ok_or_else(too_many)?;
        if n == 0 {
            return Ok(Outcome::new(upper, 0));
        }
        let g = granularity(problem);
        let big = upper.arena_bytes.div_ceil(g);
        if big > 1 << 30 {
            return Err(solver_error(format!(
                "arena of {big} units is too large for the MILP"
            )));
        }
        let bufs = &problem.buffers;
        let s: Vec<f64> = bufs.iter().map(|b| (b.size / g) as f64).collect();
        let u: Vec<u64> = bufs.iter().map(|b| (b.align / g).max(1)).collect();
        let mut lp = microlp::Problem::new(OptimizationDirection::Minimize);
        lp.set_time_limit(budget.time_limit);
        let peak = lp.add_var(1.0, (0.0, big as f64));
        let k: Vec<_> = (0..n)
            .map(|i| {
                let hi = (big.saturating_sub(bufs[i].size / g)) / u[i];
                lp.add_integer_var(0.0, (0, hi.min(i32::MAX as u64) as i32))
            })
            .collect();
        let uf: Vec<f64> = u.iter().map(|&x| x as f64).collect();
        let m = big as f64;
        for i in 0..n {
            lp.add_constraint([(peak, 1.0), (k[i], -uf[i])], ComparisonOp::Ge, s[i]);
            for &j in conflicts.neighbours(i) {
                let j = j as usize;
                if j < i {
                    continue;
                }
                let z = lp.add_binary_var(0.0);
                // o_i + s_i <= o_j + M z ;  o_j + s_j <= o_i + M (1 - z)
                lp.add_constraint(
                    [(k[i], uf[i]), (k[j], -uf[j]), (z, -m)],
                    ComparisonOp::Le,
                    -s[i],
                );
                lp.add_constraint(
                    [(k[j], uf[j]), (k[i], -uf[i]), (z, m)],
                    ComparisonOp::Le,
                    m - s[j],
                );
            }
        }
        let solution = match lp.solve() {
            Ok(SolveOutcome::Solution(sol)) => sol,
            Ok(SolveOutcome::Interrupted(_)) => {
                return Ok(Outcome::new(upper, lower_bound(problem)));
            }
            Err(e) => return Err(solver_error(e.to_string())),
        };
        let offsets: Vec<u64> = (0..n)
            .map(|i| (solution.var_value(k[i]).round().max(0.0) as u64).saturating_mul(u[i] * g))
            .collect();
        let arena = offsets
            .iter()
            .zip(bufs)
            .map(|(o, b)| o.saturating_add(b.size))
            .max()
            .unwrap_or(0);
        let plan = Plan {
            offsets,
            arena_bytes: arena,
        };
        validate(problem, &plan).map_err(|e| solver_error(format!("invalid answer: {e}")))?;
        let proven = solution.status() == SolutionStatus::Optimal;
        if plan.arena_bytes > upper.arena_bytes {
            return Ok(Outcome::new(upper, lower_bound(problem)));
        }
        Ok(Outcome::with_proof(plan, proven, lower_bound(problem)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn solves_input12() {
        let p = Problem::from_rows(&[
            (0, 3, 4, 1),
            (3, 9, 4, 1),
            (0, 9, 4, 1),
            (9, 21, 4, 1),
            (0, 21, 4, 1),
        ]);
        let out = IlpPlanner
            .plan(
                &p,
                &Budget {
                    time_limit: Duration::from_secs(10),
                },
            )
            .unwrap();
        assert_eq!(out.plan.arena_bytes, 12);
        assert!(out.proven_optimal);
    }

    #[test]
    fn honours_alignment() {
        let p = Problem::from_rows(&[(0, 2, 3, 4), (0, 2, 3, 4), (0, 2, 3, 4)]);
        let out = IlpPlanner.plan(&p, &Budget::default()).unwrap();
        assert_eq!(out.plan.arena_bytes, 11);
    }

    #[test]
    fn refuses_large_problems() {
        let rows: Vec<_> = (0..41).map(|i| (i, i + 1, 1, 1)).collect();
        let err = IlpPlanner
            .plan(&Problem::from_rows(&rows), &Budget::default())
            .unwrap_err();
        assert!(matches!(
            err,
            PlanError::TooLarge {
                limit: ILP_MAX_BUFFERS,
                ..
            }
        ));
    }
}
