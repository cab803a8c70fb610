//! Shared-object layout: groups of buffers whose lifetimes are pairwise disjoint become one
//! object each, as large as its largest member and aligned to the least common multiple of its
//! members' alignments. Objects are laid out end to end (most-aligned first, then largest
//! first, to keep padding small); every member gets its object's offset.

use crate::bytes::align_up;
use crate::plan::{Plan, PlanError, Problem};
use std::cmp::Reverse;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Lays out `groups` (each a non-empty list of buffer indices; every buffer in exactly one
/// group; members pairwise disjoint in time) consecutively.
pub(crate) fn layout_groups(problem: &Problem, groups: &[Vec<usize>]) -> Result<Plan, PlanError> {
    let mut objects: Vec<(u64, u64, usize)> = Vec::with_capacity(groups.len()); // (align, size, group)
    for (g, members) in groups.iter().enumerate() {
        let mut size = 0u64;
        let mut align = 1u64;
        for &i in members {
            let b = &problem.buffers[i];
            size = size.max(b.size);
            align = (align / gcd(align, b.align))
                .checked_mul(b.align)
                .ok_or_else(|| PlanError::Overflow {
                    name: b.name.clone(),
                })?;
        }
        objects.push((align, size, g));
    }
    objects.sort_by_key(|&(align, size, g)| (Reverse(align), Reverse(size), g));
    let mut offsets = vec![0u64; problem.buffers.len()];
    let mut cursor = 0u64;
    for (align, size, g) in objects {
        let overflow = || PlanError::Overflow {
            name: groups[g]
                .first()
                .map(|&i| problem.buffers[i].name.clone())
                .unwrap_or_default(),
        };
        let offset = align_up(cursor, align).ok_or_else(overflow)?;
        cursor = offset.checked_add(size).ok_or_else(overflow)?;
        for &i in &groups[g] {
            offsets[i] = offset;
        }
    }
    Ok(Plan {
        offsets,
        arena_bytes: cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::validate::validate;

    #[test]
    fn objects_are_sized_by_their_largest_member_and_aligned() {
        let p = Problem::from_rows(&[(0, 3, 4, 1), (3, 9, 6, 1), (0, 9, 5, 8), (0, 2, 1, 4)]);
        let plan = layout_groups(&p, &[vec![0, 1], vec![2], vec![3]]).unwrap();
        // Objects: {b2} align 8 size 5 -> 0; {b3} align 4 size 1 -> 8; {b0,b1} size 6 -> 9.
        assert_eq!(plan.offsets, vec![9, 9, 0, 8]);
        assert_eq!(plan.arena_bytes, 15);
        validate(&p, &plan).unwrap();
        assert_eq!(gcd(12, 18), 6);
    }
}
