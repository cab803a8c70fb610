//! Inference for *full* sections, where the buffers spanning a section add up to exactly the
//! capacity (at the optimum of a perfect packing every section is full). Such a section must be
//! filled without a gap. With placements in non-decreasing offset order, as [`super::bnb`]
//! makes them, the placed buffers of a full section then fill `[0, capacity - bytes left)`
//! exactly (a gap below them could never be filled, and the section inference fails that node
//! first), so every full section has a known floor.
//!
//! A *valley* is a run of full sections at one floor `x` whose neighbours are higher (full
//! sections at a higher floor, or the edge of the independent part). Every section of a valley
//! needs a buffer at exactly `x`; a buffer reaching past the valley would sit at the higher
//! floor and leave a gap, so the buffers placed at `x` have their spans inside the valley and
//! side by side they cover it exactly. The check: the valley's sections can be crossed from
//! its first to its last by chaining the spans of unplaced buffers that lie inside it. When
//! they cannot, no completion exists.

use super::bnb::Instance;

/// False when some valley of `[s_lo, s_hi)` cannot be covered exactly by spans of unplaced
/// buffers of `set` (sorted by first section) lying inside it. `full[s]`: section `s` is full;
/// `rem[s]`: bytes still to place in it; `reach`: scratch, one more entry than sections.
pub(crate) fn valleys_coverable(
    inst: &Instance,
    capacity: u64,
    (full, rem, placed): (&[bool], &[u64], &[bool]),
    set: &[u32],
    (s_lo, s_hi): (usize, usize),
    reach: &mut [bool],
) -> bool {
    let open = |s: usize| full[s] && rem[s] > 0;
    let floor = |s: usize| capacity - rem[s];
    // A neighbour closes a valley at floor `x` when it is full and higher.
    let higher = |s: usize, x: u64| full[s] && floor(s) > x;
    let mut s = s_lo;
    while s < s_hi {
        if !open(s) {
            s += 1;
            continue;
        }
        let (a, x) = (s, floor(s));
        let mut e = s + 1;
        while e < s_hi && open(e) && floor(e) == x {
            e += 1;
        }
        s = e;
        let closed_left = a == s_lo || higher(a - 1, x);
        let closed_right = e == s_hi || higher(e, x);
        if !(closed_left && closed_right) {
            continue;
        }
        reach[a..=e].fill(false);
        reach[a] = true;
        let first = set.partition_point(|&b| (inst.lo[b as usize] as usize) < a);
        for &b in &set[first..] {
            let (l, h) = (inst.lo[b as usize] as usize, inst.hi[b as usize] as usize);
            if l >= e {
                break;
            }
            if !placed[b as usize] && h <= e && reach[l] {
                reach[h] = true;
            }
        }
        if !reach[e] {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::bnb::{Decision, Strategy};
    use crate::plan::perfect::{Kind, Spec, generate};
    use std::time::{Duration, Instant};

    #[test]
    fn never_prunes_a_perfect_packing() {
        // Perfect packings fit at the bound by construction: with the valley check on, neither
        // search may call one infeasible (both run to a node limit; timeouts are fine).
        let mut solved = 0;
        for seed in 1..=40 {
            for kind in [Kind::Guillotine, Kind::NonGuillotine] {
                let n = 8 + (seed as usize * 7) % 30;
                let packing = generate(&Spec::new(kind, n, seed)).unwrap();
                let rows: Vec<(u64, u64, u64, u64)> = packing
                    .problem
                    .buffers
                    .iter()
                    .map(|b| (b.lifetime.start, b.lifetime.end, b.size, b.align))
                    .collect();
                let inst = Instance::new(&rows, 1);
                let cap = packing.plan.arena_bytes;
                for variant in 0..3 {
                    let rank = inst.ranking(variant);
                    let strategy = Strategy {
                        rank: &rank,
                        variant,
                        count_focus: variant == 1,
                        node_limit: 20_000,
                        stop: None,
                    };
                    let deadline = Instant::now() + Duration::from_secs(30);
                    for d in [
                        crate::plan::bnb::decide(&inst, cap, deadline, &strategy).0,
                        crate::plan::canonical::decide(&inst, cap, deadline, &strategy).0,
                    ] {
                        assert!(
                            !matches!(d, Decision::Infeasible),
                            "{kind:?} {n} seed {seed}"
                        );
                        solved += usize::from(matches!(d, Decision::Feasible(_)));
                    }
                }
            }
        }
        assert!(solved > 100, "only {solved} of 480 runs fitted");
    }

    /// The check on two full sections of capacity 10.
    fn coverable(inst: &Instance, (rem, placed): (&[u64], &[bool]), set: &[u32]) -> bool {
        let mut reach = [false; 3];
        valleys_coverable(
            inst,
            10,
            (&[true, true], rem, placed),
            set,
            (0, 2),
            &mut reach,
        )
    }

    #[test]
    fn a_lower_neighbour_does_not_close_a_valley() {
        // Capacity 10, both sections full. Placed: 0 (section 0, 2 bytes) and 1 (section 1,
        // 5 bytes), so the floors are 2 and 5. Buffer 2 (5 bytes) spans both and no buffer lies
        // inside section 1 alone, yet the plan exists: 3 (3 bytes) at 2 in section 0 first,
        // then 2 at 5. Section 1 is no valley: its neighbour is lower, and buffers placed there
        // first raise it.
        let rows = [(0, 1, 2, 1), (1, 2, 5, 1), (0, 2, 5, 1), (0, 1, 3, 1)];
        let inst = Instance::new(&rows, 1);
        let (placed, rem) = ([true, true, false, false], [8, 5]);
        let set = [0u32, 2, 3, 1];
        assert!(coverable(&inst, (&rem, &placed), &set));
    }

    #[test]
    fn a_valley_needs_spans_that_tile_it() {
        // Two sections, both full at capacity 10. Buffer 0 (4 bytes) spans both; buffer 1
        // (3) spans both, buffer 3 (3) section 0, buffer 2 (3) section 1.
        let rows = [(0, 2, 4, 1), (0, 2, 3, 1), (1, 2, 3, 1), (0, 1, 3, 1)];
        let inst = Instance::new(&rows, 1);
        let set = [0u32, 1, 3, 2];
        // Buffer 0 placed: one valley [0, 2) at floor 4, crossed by buffer 1 or by 3 then 2.
        let placed = [true, false, false, false];
        let rem = [6, 6];
        assert!(coverable(&inst, (&rem, &placed), &set));
        let placed = [true, false, false, true];
        let rem = [6 - 3, 6];
        // Floors now differ (7 and 4): section 1 is a valley closed by the higher section 0,
        // crossed by buffer 2's span [1, 2).
        assert!(coverable(&inst, (&rem, &placed), &set));
        // Buffer 2 placed too (floors 7 and 7) leaves one valley [0, 2) crossed by buffer 1.
        let placed = [true, false, true, true];
        let rem = [3, 3];
        assert!(coverable(&inst, (&rem, &placed), &set));
        // Section 1 alone a valley that only spans reaching outside it could cover: fails.
        let placed = [true, true, false, true];
        let rem = [0, 3];
        assert!(!coverable(&inst, (&rem, &placed), &[0, 1, 3]));
    }
}
