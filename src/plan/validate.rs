//! Checks problems and plans.
//!
//! [`Problem::check`] rejects buffers no planner can place (size 0, alignment 0, empty lifetime).
//! [`validate`] checks a plan against its problem: one offset per buffer, alignment, arena
//! bounds, `arena_bytes == max(offset + size)`, and no byte overlap between buffers that are
//! live at the same time. The overlap check is a sweep over time that keeps the live buffers in
//! a set ordered by offset, so it runs in `O(n log n)`.

use super::{Buffer, Plan, PlanError, Problem};
use std::collections::BTreeSet;

impl Problem {
    /// Rejects buffers with size 0, alignment 0 or an empty lifetime, problems too large for
    /// [`super::BufferId`], and problems whose buffers laid end to end (each padded to its
    /// alignment) would not fit in a `u64`: every planner's arena stays below that sum, so
    /// planners never overflow on a checked problem. Alignments need not be powers of two.
    pub fn check(&self) -> Result<(), PlanError> {
        if u32::try_from(self.buffers.len()).is_err() {
            return Err(PlanError::TooManyBuffers(self.buffers.len()));
        }
        let mut end_to_end = 0u64;
        for b in &self.buffers {
            if b.size == 0 {
                return Err(PlanError::ZeroSize {
                    name: b.name.clone(),
                });
            }
            if b.align == 0 {
                return Err(PlanError::ZeroAlign {
                    name: b.name.clone(),
                });
            }
            if b.lifetime.is_empty() {
                return Err(PlanError::EmptyLifetime {
                    name: b.name.clone(),
                    start: b.lifetime.start,
                    end: b.lifetime.end,
                });
            }
            end_to_end = end_to_end
                .checked_add(b.size)
                .and_then(|e| e.checked_add(b.align - 1))
                .ok_or_else(|| PlanError::SizeOverflow {
                    what: format!(
                        "the buffers laid end to end with alignment padding, up to `{}` ({} bytes, alignment {})",
                        b.name, b.size, b.align
                    ),
                })?;
        }
        Ok(())
    }
}

/// `offset + size`, or an overflow error naming the buffer.
pub(crate) fn end_of(buffer: &Buffer, offset: u64) -> Result<u64, PlanError> {
    offset
        .checked_add(buffer.size)
        .ok_or_else(|| PlanError::Overflow {
            name: buffer.name.clone(),
        })
}

/// Checks that `plan` is a correct placement of `problem` (see the module doc for the rules).
pub fn validate(problem: &Problem, plan: &Plan) -> Result<(), PlanError> {
    problem.check()?;
    let n = problem.buffers.len();
    if plan.offsets.len() != n {
        return Err(PlanError::OffsetCount {
            expected: n,
            got: plan.offsets.len(),
        });
    }
    let mut actual = 0u64;
    for (b, &offset) in problem.buffers.iter().zip(&plan.offsets) {
        if offset % b.align != 0 {
            return Err(PlanError::Misaligned {
                name: b.name.clone(),
                offset,
                align: b.align,
            });
        }
        let end = end_of(b, offset)?;
        if end > plan.arena_bytes {
            return Err(PlanError::OutsideArena {
                name: b.name.clone(),
                offset,
                end,
                arena_bytes: plan.arena_bytes,
            });
        }
        actual = actual.max(end);
    }
    if actual != plan.arena_bytes {
        return Err(PlanError::ArenaMismatch {
            claimed: plan.arena_bytes,
            actual,
        });
    }
    check_overlaps(problem, &plan.offsets)
}

/// Sweep over time: at each event time, buffers that end are removed before buffers that start
/// are inserted (lifetimes are half-open). The live set is kept pairwise disjoint in bytes and
/// ordered by offset, so a new buffer `[o, o + s)` overlaps some live buffer iff the live buffer
/// with the largest offset below `o + s` ends after `o`.
fn check_overlaps(problem: &Problem, offsets: &[u64]) -> Result<(), PlanError> {
    // (time, kind, index): kind 0 = end, 1 = start, so ends sort first at equal times.
    let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(problem.buffers.len() * 2);
    for (i, b) in problem.buffers.iter().enumerate() {
        events.push((b.lifetime.start, 1, i));
        events.push((b.lifetime.end, 0, i));
    }
    events.sort_unstable();
    let mut live: BTreeSet<(u64, usize)> = BTreeSet::new();
    for (_, kind, i) in events {
        let offset = offsets[i];
        if kind == 0 {
            live.remove(&(offset, i));
            continue;
        }
        let b = &problem.buffers[i];
        let end = end_of(b, offset)?;
        if let Some(&(other_offset, j)) = live.range(..(end, 0)).next_back() {
            let other = &problem.buffers[j];
            let other_end = end_of(other, other_offset)?;
            if other_end > offset {
                return Err(overlap_error(other, other_offset, b, offset));
            }
        }
        live.insert((offset, i));
    }
    Ok(())
}

fn overlap_error(a: &Buffer, a_offset: u64, b: &Buffer, b_offset: u64) -> PlanError {
    let describe = |x: &Buffer, offset: u64| {
        format!(
            "`{}` (lifetime {}, bytes [{offset}, {}))",
            x.name,
            x.lifetime,
            offset.saturating_add(x.size)
        )
    };
    PlanError::Overlap {
        a: describe(a, a_offset),
        b: describe(b, b_offset),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn touching_lifetimes_may_share_bytes() {
        let p = Problem::from_rows(&[(0, 3, 4, 1), (3, 9, 4, 1)]);
        assert_eq!(
            validate(
                &p,
                &Plan {
                    offsets: vec![0, 0],
                    arena_bytes: 4
                }
            ),
            Ok(())
        );
    }

    #[test]
    fn overlap_is_reported_with_both_buffers() {
        let p = Problem::from_rows(&[(0, 4, 4, 1), (3, 9, 4, 1)]);
        let err = validate(
            &p,
            &Plan {
                offsets: vec![0, 2],
                arena_bytes: 6,
            },
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`b0`") && msg.contains("`b1`"), "{msg}");
        assert!(msg.contains("[0, 4)") && msg.contains("[3, 9)"), "{msg}");
        assert!(msg.contains("[2, 6)"), "{msg}");
    }

    #[test]
    fn overlap_with_a_lower_neighbour_that_is_not_adjacent() {
        // b0 spans [0, 100) in bytes; b1 sits at [10, 20) and ends; b2 lands at [50, 60).
        let p = Problem::from_rows(&[(0, 10, 100, 1), (0, 5, 10, 1), (5, 10, 10, 1)]);
        let ok = Plan {
            offsets: vec![0, 100, 100],
            arena_bytes: 110,
        };
        assert_eq!(validate(&p, &ok), Ok(()));
        let bad = Plan {
            offsets: vec![0, 100, 50],
            arena_bytes: 110,
        };
        assert!(matches!(validate(&p, &bad), Err(PlanError::Overlap { .. })));
    }

    #[test]
    fn alignment_arena_and_count_are_checked() {
        let p = Problem::from_rows(&[(0, 2, 10, 32), (0, 2, 8, 1)]);
        let good = Plan {
            offsets: vec![32, 0],
            arena_bytes: 42,
        };
        assert_eq!(validate(&p, &good), Ok(()));
        let misaligned = Plan {
            offsets: vec![16, 0],
            arena_bytes: 26,
        };
        assert!(matches!(
            validate(&p, &misaligned),
            Err(PlanError::Misaligned { .. })
        ));
        let outside = Plan {
            offsets: vec![32, 0],
            arena_bytes: 40,
        };
        assert!(matches!(
            validate(&p, &outside),
            Err(PlanError::OutsideArena { .. })
        ));
        let loose = Plan {
            offsets: vec![32, 0],
            arena_bytes: 50,
        };
        assert_eq!(
            validate(&p, &loose),
            Err(PlanError::ArenaMismatch {
                claimed: 50,
                actual: 42
            })
        );
        let short = Plan {
            offsets: vec![0],
            arena_bytes: 10,
        };
        assert_eq!(
            validate(&p, &short),
            Err(PlanError::OffsetCount {
                expected: 2,
                got: 1
            })
        );
    }

    #[test]
    fn check_rejects_bad_buffers() {
        assert!(matches!(
            Problem::from_rows(&[(0, 1, 0, 1)]).check(),
            Err(PlanError::ZeroSize { .. })
        ));
        assert!(matches!(
            Problem::from_rows(&[(0, 1, 1, 0)]).check(),
            Err(PlanError::ZeroAlign { .. })
        ));
        assert!(matches!(
            Problem::from_rows(&[(2, 2, 1, 1)]).check(),
            Err(PlanError::EmptyLifetime { .. })
        ));
        assert_eq!(Problem::from_rows(&[(0, 1, 3, 3)]).check(), Ok(()));
    }

    #[test]
    fn check_rejects_sizes_whose_sum_overflows() {
        let half = 1u64 << 63;
        assert_eq!(Problem::from_rows(&[(0, 1, half, 1)]).check(), Ok(()));
        let err = Problem::from_rows(&[(0, 1, half, 1), (1, 2, half, 1)]).check();
        assert!(
            matches!(&err, Err(PlanError::SizeOverflow { what }) if what.contains("`b1`")),
            "{err:?}"
        );
        // Alignment padding counts: one byte aligned to 2^63 may end at 2^64 - 1.
        let err = Problem::from_rows(&[(0, 1, half, 1), (0, 1, 1, half)]).check();
        assert!(
            matches!(err, Err(PlanError::SizeOverflow { .. })),
            "{err:?}"
        );
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        let p = Problem::from_rows(&[(0, 1, 10, 1)]);
        let plan = Plan {
            offsets: vec![u64::MAX - 1],
            arena_bytes: u64::MAX,
        };
        assert!(matches!(
            validate(&p, &plan),
            Err(PlanError::Overflow { .. })
        ));
    }
}
