//! Overlay sharing by repeated matching.
//!
//! Every buffer starts as its own group. Each round, every pair of groups whose members never
//! live at the same time is a candidate edge weighted by the bytes merging would save,
//! `min(size_a, size_b)` (a group's size is its largest member). A maximal matching is chosen
//! GREEDILY by decreasing weight (ties: lower group indices), not by an exact maximum-weight
//! matching algorithm: this is the classic 1/2-approximation of the maximum-weight matching.
//! Matched pairs merge; rounds repeat until no two groups can merge. Groups become shared
//! objects laid out end to end.
//!
//! Each round examines all pairs of groups, `O(g^2)` checks, so this planner is meant for
//! problems of at most a few thousand buffers.

use super::{outcome, shared::layout_groups};
use crate::plan::{Budget, Lifetime, Outcome, PlanError, Planner, Problem};
use std::cmp::Reverse;

/// See the module documentation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Matching;

struct Group {
    size: u64,
    /// Members' lifetimes sorted by start (pairwise disjoint).
    lifetimes: Vec<Lifetime>,
    members: Vec<usize>,
}

/// True when no lifetime of `a` overlaps one of `b` (both sorted by start, each disjoint).
fn compatible(a: &[Lifetime], b: &[Lifetime]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].overlaps(&b[j]) {
            return false;
        }
        if a[i].end <= b[j].start {
            i += 1;
        } else {
            j += 1;
        }
    }
    true
}

impl Planner for Matching {
    fn name(&self) -> &'static str {
        "matching"
    }

    fn plan(&self, problem: &Problem, _budget: &Budget) -> Result<Outcome, PlanError> {
        problem.check()?;
        let mut groups: Vec<Group> = problem
            .buffers
            .iter()
            .enumerate()
            .map(|(i, b)| Group {
                size: b.size,
                lifetimes: vec![b.lifetime],
                members: vec![i],
            })
            .collect();
        loop {
            let mut edges: Vec<(u64, usize, usize)> = Vec::new();
            for a in 0..groups.len() {
                for b in a + 1..groups.len() {
                    if compatible(&groups[a].lifetimes, &groups[b].lifetimes) {
                        edges.push((groups[a].size.min(groups[b].size), a, b));
                    }
                }
            }
            if edges.is_empty() {
                break;
            }
            edges.sort_unstable_by_key(|&(w, a, b)| (Reverse(w), a, b));
            let mut partner: Vec<Option<usize>> = vec![None; groups.len()];
            for (_, a, b) in edges {
                if partner[a].is_none() && partner[b].is_none() {
                    partner[a] = Some(b);
                    partner[b] = Some(a);
                }
            }
            let mut slots: Vec<Option<Group>> = groups.into_iter().map(Some).collect();
            let mut next: Vec<Group> = Vec::with_capacity(slots.len());
            for a in 0..slots.len() {
                let Some(mut g) = slots[a].take() else {
                    continue;
                };
                if let Some(other) = partner[a].and_then(|b| slots[b].take()) {
                    g.size = g.size.max(other.size);
                    g.lifetimes.extend(other.lifetimes);
                    g.lifetimes.sort_unstable_by_key(|l| l.start);
                    g.members.extend(other.members);
                }
                next.push(g);
            }
            groups = next;
        }
        let members: Vec<Vec<usize>> = groups.into_iter().map(|g| g.members).collect();
        Ok(outcome(problem, layout_groups(problem, &members)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::validate::validate;

    #[test]
    fn compatibility_of_sorted_lifetime_lists() {
        let l = |s, e| Lifetime { start: s, end: e };
        assert!(compatible(&[l(0, 3), l(9, 12)], &[l(3, 9), l(12, 20)]));
        assert!(!compatible(&[l(0, 3), l(9, 12)], &[l(3, 10)]));
    }

    #[test]
    fn heaviest_pair_merges_first() {
        // b0 (10) and b1 (9) are disjoint: weight 9. b2 (1) conflicts with both and with b3.
        // b3 (2) is disjoint from b0 and b1 only. Round 1 merges {b0,b1}; round 2 merges
        // {b0,b1} with b3. Objects: 10 and 1 bytes.
        let p = Problem::from_rows(&[(0, 2, 10, 1), (2, 4, 9, 1), (0, 6, 1, 1), (4, 6, 2, 1)]);
        let out = Matching.plan(&p, &Budget::default()).unwrap();
        validate(&p, &out.plan).unwrap();
        assert_eq!(out.plan.arena_bytes, 11);
        assert_eq!(out.plan.offsets, vec![0, 0, 10, 0]);
    }
}
