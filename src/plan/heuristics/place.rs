//! Offset placement: buffers are placed one by one into a gap between already placed buffers
//! that are live at the same time, and the planners here differ only in the order.
//!
//! For each buffer the bytes taken by placed buffers with overlapping lifetimes come from an
//! [`Occupancy`] index (a segment tree over time holding coalesced byte ranges), and the free
//! gaps between them are scanned. First fit takes the lowest aligned gap that fits; best
//! fit takes the smallest such gap (ties: lowest); with no fitting gap the buffer goes on top of
//! the highest overlapping buffer. Cost per buffer: `O(log T + k log log T)` for the `k` coalesced
//! byte ranges gathered from the tree nodes meeting its lifetime, never a scan over all buffers.

use super::occupancy::{Occupancy, Scratch};
use super::outcome;
use crate::bytes::align_up;
use crate::plan::validate::end_of;
use crate::plan::{Budget, Outcome, Plan, PlanError, Planner, Problem};
use std::cmp::Reverse;

/// Which gap a buffer goes into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fit {
    /// The lowest gap that fits.
    First,
    /// The smallest gap that fits (ties: the lowest).
    Best,
}

/// Finds an offset for `size` bytes aligned to `align` among `occupied` byte ranges sorted by
/// start (they may overlap each other).
pub(super) fn find_gap(occupied: &[(u64, u64)], size: u64, align: u64, fit: Fit) -> Option<u64> {
    let mut cursor = 0u64;
    let mut best: Option<(u64, u64)> = None; // (gap length, offset)
    for &(start, end) in occupied {
        if start > cursor {
            let candidate = align_up(cursor, align)?;
            if candidate.checked_add(size).is_some_and(|e| e <= start) {
                match fit {
                    Fit::First => return Some(candidate),
                    Fit::Best => {
                        let gap = start - cursor;
                        if best.is_none_or(|(g, _)| gap < g) {
                            best = Some((gap, candidate));
                        }
                    }
                }
            }
        }
        cursor = cursor.max(end);
    }
    match best {
        Some((_, offset)) => Some(offset),
        None => align_up(cursor, align),
    }
}

/// Places the buffers in `order` (each index exactly once) with the given fit rule.
pub(crate) fn place_in_order(
    problem: &Problem,
    order: &[usize],
    fit: Fit,
) -> Result<Plan, PlanError> {
    problem.check()?;
    let n = problem.buffers.len();
    let mut taken = Occupancy::new(problem);
    let mut offsets = vec![0u64; n];
    let mut occupied: Vec<(u64, u64)> = Vec::new();
    let mut scratch = Scratch::default();
    let mut arena = 0u64;
    for &i in order {
        let b = &problem.buffers[i];
        taken.taken(i, &mut occupied, &mut scratch);
        let offset =
            find_gap(&occupied, b.size, b.align, fit).ok_or_else(|| PlanError::Overflow {
                name: b.name.clone(),
            })?;
        let end = end_of(b, offset)?;
        offsets[i] = offset;
        arena = arena.max(end);
        taken.insert(i, offset, end);
    }
    Ok(Plan {
        offsets,
        arena_bytes: arena,
    })
}

/// Sorts buffer indices by a key (ties broken by index, so orders are deterministic).
fn order_by<K: Ord>(problem: &Problem, key: impl Fn(usize) -> K) -> Vec<usize> {
    let mut order: Vec<usize> = (0..problem.buffers.len()).collect();
    order.sort_by_key(|&i| (key(i), i));
    order
}

/// Schedule order: by lifetime start, larger buffers first among equal starts.
fn schedule_order(problem: &Problem) -> Vec<usize> {
    order_by(problem, |i| {
        let b = &problem.buffers[i];
        (b.lifetime.start, Reverse(b.size))
    })
}

/// No reuse: buffers laid end to end in problem order, each aligned. The arena is the sum of
/// sizes plus alignment padding; a baseline for the others.
#[derive(Clone, Copy, Debug, Default)]
pub struct Naive;

impl Planner for Naive {
    fn name(&self) -> &'static str {
        "naive"
    }
    fn plan(&self, problem: &Problem, _budget: &Budget) -> Result<Outcome, PlanError> {
        problem.check()?;
        let mut offsets = Vec::with_capacity(problem.buffers.len());
        let mut cursor = 0u64;
        for b in &problem.buffers {
            let offset = align_up(cursor, b.align).ok_or_else(|| PlanError::Overflow {
                name: b.name.clone(),
            })?;
            cursor = end_of(b, offset)?;
            offsets.push(offset);
        }
        Ok(outcome(
            problem,
            Plan {
                offsets,
                arena_bytes: cursor,
            },
        ))
    }
}

/// First fit in schedule order (by lifetime start): each buffer takes the lowest aligned gap
/// among the placed buffers live at the same time.
#[derive(Clone, Copy, Debug, Default)]
pub struct FirstFit;

impl Planner for FirstFit {
    fn name(&self) -> &'static str {
        "first-fit"
    }
    fn plan(&self, problem: &Problem, _budget: &Budget) -> Result<Outcome, PlanError> {
        let plan = place_in_order(problem, &schedule_order(problem), Fit::First)?;
        Ok(outcome(problem, plan))
    }
}

/// Best fit in schedule order (by lifetime start): each buffer takes the smallest aligned gap
/// that fits among the placed buffers live at the same time.
#[derive(Clone, Copy, Debug, Default)]
pub struct BestFit;

impl Planner for BestFit {
    fn name(&self) -> &'static str {
        "best-fit"
    }
    fn plan(&self, problem: &Problem, _budget: &Budget) -> Result<Outcome, PlanError> {
        let plan = place_in_order(problem, &schedule_order(problem), Fit::Best)?;
        Ok(outcome(problem, plan))
    }
}

/// TFLite's greedy-by-size offset calculation: largest buffers first (ties: earlier start),
/// each into the best-fitting gap among placed time-overlapping buffers, else on top.
#[derive(Clone, Copy, Debug, Default)]
pub struct GreedySize;

impl Planner for GreedySize {
    fn name(&self) -> &'static str {
        "greedy-size"
    }
    fn plan(&self, problem: &Problem, _budget: &Budget) -> Result<Outcome, PlanError> {
        let order = order_by(problem, |i| {
            let b = &problem.buffers[i];
            (Reverse(b.size), b.lifetime.start)
        });
        Ok(outcome(
            problem,
            place_in_order(problem, &order, Fit::Best)?,
        ))
    }
}

/// TVM USMP's greedy-by-conflicts: buffers with the most time-conflicting buffers first (ties:
/// larger first), each into the best-fitting gap.
#[derive(Clone, Copy, Debug, Default)]
pub struct GreedyConflicts;

impl Planner for GreedyConflicts {
    fn name(&self) -> &'static str {
        "greedy-conflicts"
    }
    fn plan(&self, problem: &Problem, _budget: &Budget) -> Result<Outcome, PlanError> {
        problem.check()?;
        // A buffer [s, e) conflicts with every other buffer that starts before e, except those
        // that end by s (they also start before e): two binary searches per buffer.
        let mut starts: Vec<u64> = problem.buffers.iter().map(|b| b.lifetime.start).collect();
        let mut ends: Vec<u64> = problem.buffers.iter().map(|b| b.lifetime.end).collect();
        starts.sort_unstable();
        ends.sort_unstable();
        let conflicts: Vec<usize> = problem
            .buffers
            .iter()
            .map(|b| {
                let started = starts.partition_point(|&t| t < b.lifetime.end);
                let ended = ends.partition_point(|&t| t <= b.lifetime.start);
                // `started` counts the buffer itself and every buffer counted in `ended`.
                started.saturating_sub(ended).saturating_sub(1)
            })
            .collect();
        let order = order_by(problem, |i| {
            (Reverse(conflicts[i]), Reverse(problem.buffers[i].size))
        });
        Ok(outcome(
            problem,
            place_in_order(problem, &order, Fit::Best)?,
        ))
    }
}

/// Lifetime-aware greedy: priority = size x lifetime length (the buffer's area in the
/// time x bytes plane), largest first, each into the best-fitting gap.
#[derive(Clone, Copy, Debug, Default)]
pub struct LifetimeAware;

impl Planner for LifetimeAware {
    fn name(&self) -> &'static str {
        "lifetime-aware"
    }
    fn plan(&self, problem: &Problem, _budget: &Budget) -> Result<Outcome, PlanError> {
        let order = order_by(problem, |i| {
            let b = &problem.buffers[i];
            Reverse(u128::from(b.size) * u128::from(b.lifetime.len()))
        });
        Ok(outcome(
            problem,
            place_in_order(problem, &order, Fit::Best)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::validate::validate;

    fn run(planner: &dyn Planner, p: &Problem) -> Plan {
        let out = planner.plan(p, &Budget::default()).unwrap();
        validate(p, &out.plan).unwrap();
        out.plan
    }

    /// input.12.csv: b1 [0,3), b2 [3,9), b3 [0,9), b4 [9,21), b5 [0,21), all 4 bytes.
    fn input12() -> Problem {
        Problem::from_rows(&[
            (0, 3, 4, 1),
            (3, 9, 4, 1),
            (0, 9, 4, 1),
            (9, 21, 4, 1),
            (0, 21, 4, 1),
        ])
    }

    #[test]
    fn gap_search_rules() {
        let occ = [(0, 10), (20, 24), (30, 40), (60, 70)];
        assert_eq!(find_gap(&occ, 5, 1, Fit::First), Some(10));
        assert_eq!(find_gap(&occ, 5, 1, Fit::Best), Some(24)); // [24, 30) is the tightest
        assert_eq!(find_gap(&occ, 12, 1, Fit::Best), Some(40));
        assert_eq!(find_gap(&occ, 25, 1, Fit::Best), Some(70));
        assert_eq!(find_gap(&occ, 4, 16, Fit::First), Some(16));
        assert_eq!(find_gap(&occ, 5, 16, Fit::First), Some(48));
        assert_eq!(find_gap(&[(0, 10), (5, 8)], 1, 1, Fit::First), Some(10)); // nested ranges
        assert_eq!(find_gap(&[], 7, 32, Fit::Best), Some(0));
    }

    #[test]
    fn greedy_size_reaches_the_optimum_of_input12() {
        let out = GreedySize.plan(&input12(), &Budget::default()).unwrap();
        validate(&input12(), &out.plan).unwrap();
        // Hand trace: b1 -> 0, b3 -> 4, b5 -> 8, b2 reuses b1's bytes, b4 reuses [0, 4).
        assert_eq!(out.plan.offsets, vec![0, 0, 4, 0, 8]);
        assert_eq!(out.plan.arena_bytes, 12);
        assert!(out.proven_optimal);
    }

    #[test]
    fn first_fit_and_best_fit_pick_different_gaps() {
        // At t=2, P [0,3) and R [4,5) free up; T (1 byte) goes lowest or tightest.
        let p = Problem::from_rows(&[
            (0, 2, 3, 1),
            (0, 10, 1, 1),
            (0, 2, 1, 1),
            (0, 10, 1, 1),
            (2, 10, 1, 1),
        ]);
        assert_eq!(run(&FirstFit, &p).offsets, vec![0, 3, 4, 5, 0]);
        assert_eq!(run(&BestFit, &p).offsets, vec![0, 3, 4, 5, 4]);
        assert_eq!(run(&BestFit, &p).arena_bytes, 6);
    }

    #[test]
    fn alignment_is_honoured() {
        let p = Problem::from_rows(&[(0, 2, 10, 1), (0, 2, 8, 32), (2, 4, 8, 32)]);
        for planner in [
            &GreedySize as &dyn Planner,
            &BestFit,
            &FirstFit,
            &GreedyConflicts,
            &LifetimeAware,
        ] {
            let plan = run(planner, &p);
            assert_eq!(plan.offsets[1], 32, "{}", planner.name());
            assert_eq!(plan.arena_bytes, 40, "{}", planner.name());
        }
        let naive = run(&Naive, &p);
        assert_eq!(naive.offsets, vec![0, 32, 64]);
        assert_eq!(naive.arena_bytes, 72);
    }

    #[test]
    fn greedy_conflicts_places_the_most_conflicted_first() {
        // b2 conflicts with both others, so it is placed first, at 0.
        let p = Problem::from_rows(&[(0, 2, 8, 1), (2, 4, 8, 1), (1, 3, 2, 1)]);
        let plan = run(&GreedyConflicts, &p);
        assert_eq!(plan.offsets, vec![2, 2, 0]);
        assert_eq!(plan.arena_bytes, 10);
        // Lifetime-aware: b0 and b1 (area 16) come before b2 (area 4).
        assert_eq!(run(&LifetimeAware, &p).offsets, vec![0, 0, 8]);
    }

    #[test]
    fn overflow_is_an_error() {
        // Refused by `Problem::check` before any placement: the sizes sum past 2^64.
        let huge = u64::MAX / 2 + 1;
        let p = Problem::from_rows(&[(0, 2, huge, 1), (0, 2, huge, 1)]);
        assert!(matches!(
            GreedySize.plan(&p, &Budget::default()),
            Err(PlanError::SizeOverflow { .. })
        ));
        assert!(matches!(
            Naive.plan(&p, &Budget::default()),
            Err(PlanError::SizeOverflow { .. })
        ));
    }
}
