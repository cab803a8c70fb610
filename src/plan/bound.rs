//! The memory curve and the max-load lower bound.
//!
//! At any step the buffers live then must occupy disjoint bytes, so no arena is smaller than the
//! largest sum of live sizes (the "max load"). Alignment is ignored, so the bound stays valid
//! (it may only be looser).

use super::Problem;

/// Breakpoints of the live-bytes curve: `(step, live_bytes)` where `live_bytes` holds from `step`
/// up to the next breakpoint's step. The last breakpoint has `live_bytes == 0`. Consecutive
/// breakpoints always differ in `live_bytes`. Empty for an empty problem.
pub fn memory_curve(problem: &Problem) -> Vec<(u64, u64)> {
    // (time, delta): signed deltas accumulated in i128 so no size can overflow.
    let mut events: Vec<(u64, i128)> = Vec::with_capacity(problem.buffers.len() * 2);
    for b in &problem.buffers {
        events.push((b.lifetime.start, i128::from(b.size)));
        events.push((b.lifetime.end, -i128::from(b.size)));
    }
    events.sort_unstable_by_key(|&(t, _)| t);
    let mut curve: Vec<(u64, u64)> = Vec::new();
    let mut live: i128 = 0;
    let mut i = 0;
    while i < events.len() {
        let t = events[i].0;
        while i < events.len() && events[i].0 == t {
            live += events[i].1;
            i += 1;
        }
        let bytes = u64::try_from(live.max(0)).unwrap_or(u64::MAX);
        if curve.last().is_none_or(|&(_, prev)| prev != bytes) {
            curve.push((t, bytes));
        }
    }
    curve
}

/// The max-load lower bound: the largest number of bytes live at any one step.
pub fn lower_bound(problem: &Problem) -> u64 {
    memory_curve(problem)
        .iter()
        .map(|&(_, bytes)| bytes)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touching_lifetimes_do_not_add_up() {
        // input.12.csv: b1 [0,3) 4, b2 [3,9) 4, b3 [0,9) 4, b4 [9,21) 4, b5 [0,21) 4.
        let p = Problem::from_rows(&[
            (0, 3, 4, 1),
            (3, 9, 4, 1),
            (0, 9, 4, 1),
            (9, 21, 4, 1),
            (0, 21, 4, 1),
        ]);
        // At 3, b1 ends as b2 starts: no breakpoint. At 9 only b4 and b5 are live.
        assert_eq!(memory_curve(&p), vec![(0, 12), (9, 8), (21, 0)]);
        assert_eq!(lower_bound(&p), 12);
    }

    #[test]
    fn curve_has_breakpoints_where_the_load_changes() {
        let p = Problem::from_rows(&[(0, 4, 10, 1), (2, 6, 5, 1), (6, 8, 15, 1)]);
        assert_eq!(
            memory_curve(&p),
            vec![(0, 10), (2, 15), (4, 5), (6, 15), (8, 0)]
        );
        assert_eq!(lower_bound(&p), 15);
    }

    #[test]
    fn empty_problem() {
        assert!(memory_curve(&Problem::default()).is_empty());
        assert_eq!(lower_bound(&Problem::default()), 0);
    }
}
