//! Hierarchical placement into an ordered list of pools with optional capacities (for example
//! a small fast pool first, then an unbounded spill pool).
//!
//! Buffers are ranked by priority, highest first: by default "heat" = size x lifetime length,
//! or priorities given by the caller. For each capacity-limited pool in order, the longest
//! prefix of the ranking that the inner planner fits within the capacity is found by binary
//! search, then each remaining buffer is tried in rank order and kept if the inner planner still
//! fits the pool's set within capacity; buffers that would push the pool past its capacity go on
//! to the next pool. An unbounded pool takes everything left. Each pool's placement is checked
//! with the validator.
//!
//! Cost: `O(log n + n)` inner-planner calls per capacity-limited pool, so meant for pools of up
//! to a few thousand buffers with a fast inner planner.

use super::{Budget, Plan, PlanError, Planner, Problem, validate::validate};
use std::cmp::Reverse;

/// One memory pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    /// A label for reports.
    pub name: String,
    /// Largest arena the pool may hold, `None` for unbounded.
    pub capacity: Option<u64>,
}

/// Where one buffer went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSlot {
    /// Index into the pool list.
    pub pool: usize,
    /// Byte offset inside that pool.
    pub offset: u64,
}

/// The result of [`plan_pools`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolPlan {
    /// `slots[i]` is where `problem.buffers[i]` lives.
    pub slots: Vec<PoolSlot>,
    /// Arena bytes used in each pool (0 for an unused pool).
    pub pool_bytes: Vec<u64>,
}

/// The sub-problem made of `members` (in that order).
fn sub_problem(problem: &Problem, members: &[usize]) -> Problem {
    Problem {
        buffers: members
            .iter()
            .map(|&i| problem.buffers[i].clone())
            .collect(),
    }
}

/// Plans `members` with `planner`; returns the plan when it fits in `capacity`.
fn plan_within(
    problem: &Problem,
    members: &[usize],
    planner: &dyn Planner,
    budget: &Budget,
    capacity: Option<u64>,
) -> Result<Option<Plan>, PlanError> {
    let plan = planner.plan(&sub_problem(problem, members), budget)?.plan;
    Ok(capacity
        .is_none_or(|cap| plan.arena_bytes <= cap)
        .then_some(plan))
}

/// Places every buffer of `problem` into one of `pools` (see the module documentation).
/// `priority`, when given, has one value per buffer (higher = placed in earlier pools first).
pub fn plan_pools(
    problem: &Problem,
    pools: &[Pool],
    planner: &dyn Planner,
    budget: &Budget,
    priority: Option<&[u128]>,
) -> Result<PoolPlan, PlanError> {
    problem.check()?;
    if pools.is_empty() {
        return Err(PlanError::PoolConfig("no pools given".into()));
    }
    let n = problem.buffers.len();
    if let Some(p) = priority
        && p.len() != n
    {
        return Err(PlanError::PoolConfig(format!(
            "{} priorities for {n} buffers",
            p.len()
        )));
    }
    let heat = |i: usize| match priority {
        Some(p) => p[i],
        None => {
            let b = &problem.buffers[i];
            u128::from(b.size) * u128::from(b.lifetime.len())
        }
    };
    let mut remaining: Vec<usize> = (0..n).collect();
    remaining.sort_by_key(|&i| (Reverse(heat(i)), i));

    let mut slots = vec![PoolSlot { pool: 0, offset: 0 }; n];
    let mut pool_bytes = Vec::with_capacity(pools.len());
    for (p, pool) in pools.iter().enumerate() {
        if remaining.is_empty() {
            pool_bytes.push(0);
            continue;
        }
        let (accepted, plan, rejected) =
            match plan_within(problem, &remaining, planner, budget, pool.capacity)? {
                Some(plan) => (std::mem::take(&mut remaining), plan, Vec::new()),
                None => fill_pool(problem, &remaining, planner, budget, pool.capacity)?,
            };
        let sub = sub_problem(problem, &accepted);
        validate(&sub, &plan)?;
        for (k, &i) in accepted.iter().enumerate() {
            slots[i] = PoolSlot {
                pool: p,
                offset: plan.offsets[k],
            };
        }
        pool_bytes.push(plan.arena_bytes);
        remaining = rejected;
    }
    if let Some(&i) = remaining.first() {
        let b = &problem.buffers[i];
        return Err(PlanError::PoolsExhausted {
            name: b.name.clone(),
            size: b.size,
        });
    }
    Ok(PoolPlan { slots, pool_bytes })
}

/// Fills a capacity-limited pool from `ranked` (which does not fit as a whole): binary search
/// for the longest fitting prefix, then a pass that adds each later buffer if it still fits.
/// Returns (accepted, their plan, rejected), both lists in rank order.
fn fill_pool(
    problem: &Problem,
    ranked: &[usize],
    planner: &dyn Planner,
    budget: &Budget,
    capacity: Option<u64>,
) -> Result<(Vec<usize>, Plan, Vec<usize>), PlanError> {
    // Invariant: prefix `lo` fits (the empty prefix always does), prefix `hi` does not.
    let (mut lo, mut hi) = (0usize, ranked.len());
    let mut plan = Plan::default();
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match plan_within(problem, &ranked[..mid], planner, budget, capacity)? {
            Some(p) => {
                lo = mid;
                plan = p;
            }
            None => hi = mid,
        }
    }
    // `plan` is the plan of the last fitting prefix, which is prefix `lo` (empty when 0).
    let mut accepted: Vec<usize> = ranked[..lo].to_vec();
    let mut rejected = Vec::new();
    for &i in &ranked[lo..] {
        if capacity.is_some_and(|cap| problem.buffers[i].size > cap) {
            rejected.push(i);
            continue;
        }
        accepted.push(i);
        match plan_within(problem, &accepted, planner, budget, capacity)? {
            Some(p) => plan = p,
            None => {
                accepted.pop();
                rejected.push(i);
            }
        }
    }
    Ok((accepted, plan, rejected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::heuristics::GreedySize;

    fn pools(fast: u64) -> Vec<Pool> {
        vec![
            Pool {
                name: "fast".into(),
                capacity: Some(fast),
            },
            Pool {
                name: "spill".into(),
                capacity: None,
            },
        ]
    }

    #[test]
    fn hottest_buffers_stay_in_the_fast_pool() {
        // Heat: b0 = 8 x 4 = 32, b1 = 4 x 4 = 16, b2 = 4 x 4 = 16.
        // Fast pool of 8 bytes: b0 fits; b1 overlaps b0 in time and would need 12; b2 starts
        // when b0 ends and reuses its bytes.
        let p = Problem::from_rows(&[(0, 4, 8, 1), (0, 4, 4, 1), (4, 8, 4, 1)]);
        let out = plan_pools(&p, &pools(8), &GreedySize, &Budget::default(), None).unwrap();
        assert_eq!(
            out.slots,
            vec![
                PoolSlot { pool: 0, offset: 0 },
                PoolSlot { pool: 1, offset: 0 },
                PoolSlot { pool: 0, offset: 0 },
            ]
        );
        assert_eq!(out.pool_bytes, vec![8, 4]);
    }

    #[test]
    fn given_priorities_override_heat() {
        let p = Problem::from_rows(&[(0, 4, 8, 1), (0, 4, 4, 1), (4, 8, 4, 1)]);
        let prio = [1u128, 10, 5];
        let out = plan_pools(&p, &pools(8), &GreedySize, &Budget::default(), Some(&prio)).unwrap();
        let where_: Vec<usize> = out.slots.iter().map(|s| s.pool).collect();
        assert_eq!(where_, vec![1, 0, 0]);
        assert_eq!(out.pool_bytes, vec![4, 8]);
    }

    #[test]
    fn everything_fits_in_a_large_first_pool() {
        let p = Problem::from_rows(&[(0, 4, 8, 1), (0, 4, 4, 1), (4, 8, 4, 1)]);
        let out = plan_pools(&p, &pools(100), &GreedySize, &Budget::default(), None).unwrap();
        assert!(out.slots.iter().all(|s| s.pool == 0));
        assert_eq!(out.pool_bytes, vec![12, 0]);
    }

    #[test]
    fn errors() {
        let p = Problem::from_rows(&[(0, 4, 8, 1)]);
        let tiny = [Pool {
            name: "a".into(),
            capacity: Some(4),
        }];
        assert_eq!(
            plan_pools(&p, &tiny, &GreedySize, &Budget::default(), None),
            Err(PlanError::PoolsExhausted {
                name: "b0".into(),
                size: 8
            })
        );
        assert!(matches!(
            plan_pools(&p, &[], &GreedySize, &Budget::default(), None),
            Err(PlanError::PoolConfig(_))
        ));
        assert!(matches!(
            plan_pools(
                &p,
                &pools(8),
                &GreedySize,
                &Budget::default(),
                Some(&[1, 2])
            ),
            Err(PlanError::PoolConfig(_))
        ));
    }
}
