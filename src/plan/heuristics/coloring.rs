//! Interference-graph colouring, Chaitin style.
//!
//! Two buffers interfere when their lifetimes overlap. Simplify: repeatedly remove the node of
//! lowest remaining degree (ties: the node whose degree changed last) and push it on a stack.
//! Select: pop nodes and give each the colour, among those not used by an already coloured
//! neighbour, whose pool grows least (ties: the smallest pool that already fits, then the lowest
//! colour); with none available open a new colour. Each colour is a pool sized to its largest
//! member; pools are laid out end to end.
//!
//! The graph is built explicitly (`O(n + E)` memory for `E` interfering pairs), so this planner
//! is meant for problems up to a few tens of thousands of buffers with moderate overlap.

use super::{outcome, shared::layout_groups};
use crate::plan::interval_index::IntervalIndex;
use crate::plan::{Budget, Outcome, PlanError, Planner, Problem};

/// See the module documentation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Coloring;

impl Planner for Coloring {
    fn name(&self) -> &'static str {
        "coloring"
    }

    fn plan(&self, problem: &Problem, _budget: &Budget) -> Result<Outcome, PlanError> {
        problem.check()?;
        let n = problem.buffers.len();
        let index = IntervalIndex::new(problem);
        let adjacency: Vec<Vec<u32>> = problem
            .buffers
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let mut neighbours = Vec::new();
                index.for_each_overlapping(b.lifetime.start, b.lifetime.end, |j| {
                    if j != i {
                        // `check` guarantees n fits in u32.
                        neighbours.push(u32::try_from(j).unwrap_or(u32::MAX));
                    }
                });
                neighbours
            })
            .collect();

        // Simplify with a bucket queue by degree (lazy: stale entries are skipped). Removing a
        // node lowers its neighbours' degrees by one, so the lowest non-empty bucket moves down
        // by at most one per removal: `O(n + E)` overall.
        let mut degree: Vec<usize> = adjacency.iter().map(Vec::len).collect();
        let mut removed = vec![false; n];
        let mut buckets: Vec<Vec<usize>> = vec![Vec::new(); n.max(1)];
        for (i, &d) in degree.iter().enumerate() {
            buckets[d].push(i);
        }
        let mut stack: Vec<usize> = Vec::with_capacity(n);
        let mut low = 0usize;
        while stack.len() < n {
            let Some(i) = buckets[low].pop() else {
                low += 1;
                continue;
            };
            if removed[i] || degree[i] != low {
                continue;
            }
            removed[i] = true;
            stack.push(i);
            for &j in &adjacency[i] {
                let j = j as usize;
                if !removed[j] {
                    degree[j] -= 1;
                    buckets[degree[j]].push(j);
                }
            }
            low = low.saturating_sub(1);
        }

        // Select.
        const NONE: usize = usize::MAX;
        let mut color = vec![NONE; n];
        let mut pool_size: Vec<u64> = Vec::new();
        let mut forbidden_stamp: Vec<usize> = Vec::new(); // colour -> last node that forbade it
        while let Some(i) = stack.pop() {
            for &j in &adjacency[i] {
                let c = color[j as usize];
                if c != NONE {
                    forbidden_stamp[c] = i;
                }
            }
            let size = problem.buffers[i].size;
            let mut best: Option<(u64, bool, u64, usize)> = None; // (growth, !fits, pool, colour)
            for (c, &pool) in pool_size.iter().enumerate() {
                if forbidden_stamp[c] == i {
                    continue;
                }
                let key = (size.saturating_sub(pool), pool < size, pool, c);
                if best.is_none_or(|b| key < b) {
                    best = Some(key);
                }
            }
            let c = match best {
                Some((_, _, _, c)) => c,
                None => {
                    pool_size.push(0);
                    forbidden_stamp.push(NONE);
                    pool_size.len() - 1
                }
            };
            pool_size[c] = pool_size[c].max(size);
            color[i] = c;
        }
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); pool_size.len()];
        for (i, &c) in color.iter().enumerate() {
            groups[c].push(i);
        }
        Ok(outcome(problem, layout_groups(problem, &groups)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::validate::validate;

    #[test]
    fn input12_gets_three_pools() {
        let p = Problem::from_rows(&[
            (0, 3, 4, 1),
            (3, 9, 4, 1),
            (0, 9, 4, 1),
            (9, 21, 4, 1),
            (0, 21, 4, 1),
        ]);
        let out = Coloring.plan(&p, &Budget::default()).unwrap();
        validate(&p, &out.plan).unwrap();
        assert_eq!(out.plan.arena_bytes, 12);
        assert!(out.proven_optimal);
    }

    #[test]
    fn a_path_graph_needs_two_colours_sized_by_members() {
        // b0 - b1 - b2 interfere in a chain; b0 and b2 can share.
        let p = Problem::from_rows(&[(0, 2, 10, 1), (1, 3, 3, 1), (2, 4, 7, 1)]);
        let out = Coloring.plan(&p, &Budget::default()).unwrap();
        validate(&p, &out.plan).unwrap();
        assert_eq!(out.plan.offsets[0], out.plan.offsets[2]);
        assert_eq!(out.plan.arena_bytes, 13);
    }
}
