//! TFLite's greedy-by-breadth shared-object assignment.
//!
//! Steps (the distinct lifetime starts; the live set only grows there) are visited in order of
//! decreasing breadth, the sum of the sizes live at that step. At each step the still
//! unassigned live buffers, largest first, each join the best existing object that is free over
//! the buffer's whole lifetime: the smallest object at least as large as the buffer, else the
//! largest smaller one (least growth); with none free a new object is created. Objects are sized
//! to their largest member and laid out end to end.
//!
//! Cost: `O(S log n + L + n * m log n)` for `S` steps, `L` total live-set sizes over the steps
//! and `m` objects.

use super::{outcome, shared::layout_groups};
use crate::plan::interval_index::IntervalIndex;
use crate::plan::{Budget, Outcome, PlanError, Planner, Problem};
use std::cmp::Reverse;
use std::collections::BTreeMap;

/// See the module documentation.
#[derive(Clone, Copy, Debug, Default)]
pub struct GreedyBreadth;

/// A shared object: its size and its members' lifetimes (start -> end, pairwise disjoint).
struct Object {
    size: u64,
    busy: BTreeMap<u64, u64>,
    members: Vec<usize>,
}

impl Object {
    /// True when no member's lifetime meets `[start, end)`.
    fn is_free(&self, start: u64, end: u64) -> bool {
        // Members are disjoint, so the one starting last before `end` ends last among them.
        self.busy
            .range(..end)
            .next_back()
            .is_none_or(|(_, &e)| e <= start)
    }
}

impl Planner for GreedyBreadth {
    fn name(&self) -> &'static str {
        "greedy-breadth"
    }

    fn plan(&self, problem: &Problem, _budget: &Budget) -> Result<Outcome, PlanError> {
        problem.check()?;
        let n = problem.buffers.len();
        // Breadth at every distinct start time, by a sweep (ends before starts at equal times).
        let mut events: Vec<(u64, u8, u64)> = Vec::with_capacity(2 * n);
        for b in &problem.buffers {
            events.push((b.lifetime.end, 0, b.size));
            events.push((b.lifetime.start, 1, b.size));
        }
        events.sort_unstable();
        let mut steps: Vec<(u128, u64)> = Vec::new(); // (breadth, time)
        let mut live: u128 = 0;
        for (k, &(t, kind, size)) in events.iter().enumerate() {
            if kind == 0 {
                live -= u128::from(size);
            } else {
                live += u128::from(size);
            }
            let last_at_t = events.get(k + 1).is_none_or(|&(t2, _, _)| t2 != t);
            if last_at_t && kind == 1 {
                steps.push((live, t));
            }
        }
        steps.sort_unstable_by_key(|&(breadth, t)| (Reverse(breadth), t));

        let index = IntervalIndex::new(problem);
        let mut assigned = vec![false; n];
        let mut objects: Vec<Object> = Vec::new();
        let mut live_now: Vec<usize> = Vec::new();
        for &(_, t) in &steps {
            live_now.clear();
            index.for_each_overlapping(t, t + 1, |i| {
                if !assigned[i] {
                    live_now.push(i);
                }
            });
            live_now.sort_unstable_by_key(|&i| (Reverse(problem.buffers[i].size), i));
            for &i in &live_now {
                let b = &problem.buffers[i];
                let (s, e) = (b.lifetime.start, b.lifetime.end);
                // Best: smallest object >= size; else the largest object < size.
                let mut best: Option<(bool, u64, usize)> = None; // (fits, size, object)
                for (k, obj) in objects.iter().enumerate() {
                    if !obj.is_free(s, e) {
                        continue;
                    }
                    let fits = obj.size >= b.size;
                    let better = match best {
                        None => true,
                        Some((bf, bs, _)) => match (fits, bf) {
                            (true, false) => true,
                            (false, true) => false,
                            (true, true) => obj.size < bs,
                            (false, false) => obj.size > bs,
                        },
                    };
                    if better {
                        best = Some((fits, obj.size, k));
                    }
                }
                let k = match best {
                    Some((_, _, k)) => k,
                    None => {
                        objects.push(Object {
                            size: 0,
                            busy: BTreeMap::new(),
                            members: Vec::new(),
                        });
                        objects.len() - 1
                    }
                };
                let obj = &mut objects[k];
                obj.size = obj.size.max(b.size);
                obj.busy.insert(s, e);
                obj.members.push(i);
                assigned[i] = true;
            }
        }
        let groups: Vec<Vec<usize>> = objects.into_iter().map(|o| o.members).collect();
        Ok(outcome(problem, layout_groups(problem, &groups)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::validate::validate;

    #[test]
    fn input12_needs_three_objects() {
        let p = Problem::from_rows(&[
            (0, 3, 4, 1),
            (3, 9, 4, 1),
            (0, 9, 4, 1),
            (9, 21, 4, 1),
            (0, 21, 4, 1),
        ]);
        let out = GreedyBreadth.plan(&p, &Budget::default()).unwrap();
        validate(&p, &out.plan).unwrap();
        assert_eq!(out.plan.arena_bytes, 12);
        assert_eq!(out.plan.offsets[0], out.plan.offsets[1]); // touching lifetimes share
    }

    #[test]
    fn widest_step_first_then_best_object() {
        // Step 0: {b0 8, b1 2} (breadth 10); step 5: {b2 3, b3 1} (breadth 4).
        // b0 -> obj A (8), b1 -> obj B (2); b2 (3): A is the smallest free object >= 3;
        // b3 (1): B (2) is the only free one.
        let p = Problem::from_rows(&[(0, 5, 8, 1), (0, 5, 2, 1), (5, 9, 3, 1), (5, 9, 1, 1)]);
        let out = GreedyBreadth.plan(&p, &Budget::default()).unwrap();
        validate(&p, &out.plan).unwrap();
        assert_eq!(out.plan.offsets, vec![0, 8, 0, 8]);
        assert_eq!(out.plan.arena_bytes, 10);
    }
}
