//! `auto`'s improvement phase for large problems (above `AUTO_SEARCH_MAX_BUFFERS` buffers,
//! where the exact search is skipped).
//!
//! 1. **Peak-first orders.** At the step where the load reaches the max-load bound, the live
//!    buffers must be stacked without a hole for the plan to meet the bound. Best fit in an
//!    order that places those buffers first does exactly that, then fills the rest around
//!    them. Two such orders are tried ([`peak_first_order`]); one that meets the bound is
//!    returned at once (proven optimal).
//! 2. **Classic heuristics** (`greedy-size` and friends, supplied by the caller) otherwise,
//!    keeping the best plan. Before them, **promotion** ([`super::window`]): the best-fit
//!    orders again with the buffers above the bound placed first (returned at once when it
//!    meets the bound; this is what closes pangu_2.6B).
//! 3. **Band re-packing** ([`repack_peak`]): a large-neighbourhood search. Pick a buffer that
//!    sets the arena (its top is the peak), take every buffer that lives during its lifetime
//!    and lies wholly inside a band of bytes below the peak, and place those again with best
//!    fit (in a perturbed size or peak-first order) above the band's floor, everything else
//!    fixed. Half the moves take instead the buffers lying wholly inside a wider time window
//!    around that lifetime (so the buffers crossing its edges stay put). A move is kept when
//!    it does not make the plan worse (peak, then the number of buffers reaching it). It
//!    stops at the bound, at the deadline, or after [`MAX_STALL`] moves in a row without a
//!    lower peak (or as long as steps 1-2 took, at least 0.1 s). Each move costs `O(n)` plus a
//!    placement of at most `MAX_BAND_BUFFERS` buffers among the fixed ones near them; no
//!    conflict graph is built.
//!
//! The result is never worse than the best plan of steps 1-2 and is valid by construction:
//! every re-placed buffer avoids every fixed buffer that overlaps it in time and bytes.

use super::bound::memory_curve;
use super::heuristics::{find_gap_best, place_order_best_fit};
use super::promote::promote;
use super::search::Lcg;
use super::{Plan, PlanError, Problem};
use std::cmp::Reverse;
use std::time::{Duration, Instant};

/// Moves in a row without lowering the peak after which [`repack_peak`] gives up.
pub(crate) const MAX_STALL: usize = 4_000;

/// Least time [`repack_peak`] searches without lowering the peak before it gives up; it also
/// keeps going for as long as the phases before it took.
const MIN_STALL_TIME: Duration = Duration::from_millis(100);

/// Most buffers re-placed in one move (the band is narrowed until it holds no more).
const MAX_BAND_BUFFERS: usize = 600;

/// For each buffer, the largest load (live bytes) at any step of its lifetime: range-maximum
/// queries over the memory curve with a sparse table (`O(T log T + n log T)`).
pub(crate) fn max_load_over_lifetime(problem: &Problem) -> Vec<u64> {
    let curve = memory_curve(problem);
    let mut table: Vec<Vec<u64>> = vec![curve.iter().map(|&(_, l)| l).collect()];
    let m = curve.len();
    let mut w = 1;
    while 2 * w <= m {
        let prev = &table[table.len() - 1];
        let next = (0..=m - 2 * w).map(|i| prev[i].max(prev[i + w])).collect();
        table.push(next);
        w *= 2;
    }
    problem
        .buffers
        .iter()
        .map(|b| {
            // Breakpoints in force during [start, end): the last one at or before `start`
            // (one exists: the curve starts at the earliest start) up to the last before `end`.
            let a = curve
                .partition_point(|&(t, _)| t <= b.lifetime.start)
                .saturating_sub(1);
            let z = curve
                .partition_point(|&(t, _)| t < b.lifetime.end)
                .max(a + 1);
            let k = (usize::BITS - 1 - (z - a).leading_zeros()) as usize;
            table.get(k).map_or(0, |row| row[a].max(row[z - (1 << k)]))
        })
        .collect()
}

/// The two best-fit orders that place the buffers live at a step of maximal load first, given
/// [`max_load_over_lifetime`] as `ml`:
/// * by the largest load over the lifetime (decreasing), then size (decreasing): peaks first,
///   the highest first;
/// * (`by_start`) the buffers that reach the bound by start (then end decreasing), so the stack
///   at the peak fills from the bottom in the order the buffers arrive; then the rest by size.
///
/// Every key ends with the index, so the unstable sort is deterministic.
fn peak_first_order(problem: &Problem, lb: u64, ml: &[u64], by_start: bool) -> Vec<usize> {
    let b = &problem.buffers;
    let mut order: Vec<usize> = (0..b.len()).collect();
    if by_start {
        order.sort_unstable_by_key(|&i| {
            let l = b[i].lifetime;
            if ml[i] >= lb {
                (false, l.start, Reverse(l.end), Reverse(0), i)
            } else {
                (true, 0, Reverse(0), Reverse(b[i].size), i)
            }
        });
    } else {
        order.sort_unstable_by_key(|&i| {
            (Reverse(ml[i]), Reverse(b[i].size), b[i].lifetime.start, i)
        });
    }
    order
}

/// The improvement phase (see the module docs): peak-first orders, then promotion, then
/// `fallback` (the classic heuristics, given the deadline), then band re-packing until `deadline`. `lb` is
/// [`lower_bound`](super::bound::lower_bound) of `problem` (the caller has it already). Errors only when every placement
/// fails.
/// Both peak-first orders (`ml`: [`max_load_over_lifetime`]).
pub(crate) fn peak_first_orders(problem: &Problem, lb: u64, ml: &[u64]) -> [Vec<usize>; 2] {
    [false, true].map(|by_start| peak_first_order(problem, lb, ml, by_start))
}

pub(crate) fn improve_large(
    problem: &Problem,
    lb: u64,
    deadline: Instant,
    fallback: impl FnOnce(Instant) -> Result<Plan, PlanError>,
) -> Result<Plan, PlanError> {
    let start = Instant::now();
    let mut best: Option<Plan> = None;
    let ml = max_load_over_lifetime(problem);
    // The second order is built only when the first misses the bound (Y_1 and S_1 stop after
    // the first).
    for by_start in [false, true] {
        let order = peak_first_order(problem, lb, &ml, by_start);
        let plan = place_order_best_fit(problem, &order)?;
        if plan.arena_bytes <= lb {
            return Ok(plan);
        }
        keep_better(&mut best, plan);
    }
    // Promotion (`promote.rs`) before the classic heuristics: a few placements, often enough.
    let promotion_start = Instant::now();
    if let Some(plan) = best.take() {
        let plan = promote(problem, plan, lb, &ml, deadline, start.elapsed());
        if plan.arena_bytes <= lb {
            return Ok(plan);
        }
        best = Some(plan);
    }
    // Band re-packing's patience leaves the promotion's time out (as before it existed).
    let promotion_time = promotion_start.elapsed();
    match fallback(deadline) {
        Ok(plan) => keep_better(&mut best, plan),
        Err(e) if best.is_none() => return Err(e),
        Err(_) => {}
    }
    let best = best.ok_or_else(|| PlanError::Solver {
        planner: "auto",
        message: "no plan from any heuristic".into(),
    })?;
    let patience = start
        .elapsed()
        .saturating_sub(promotion_time)
        .max(MIN_STALL_TIME);
    Ok(repack_peak(
        problem,
        best,
        lb,
        deadline,
        (MAX_STALL, patience),
    ))
}

fn keep_better(best: &mut Option<Plan>, plan: Plan) {
    if best
        .as_ref()
        .is_none_or(|b| plan.arena_bytes < b.arena_bytes)
    {
        *best = Some(plan);
    }
}

/// Band re-packing (see the module docs) of a valid `plan` of `problem`, until the arena
/// reaches `lb`, `deadline` passes, or `stall.0` moves in a row (or `stall.1` of time) fail to
/// lower the peak. Deterministic up to the time limits (fixed-seed random stream).
/// Returns a valid plan never larger than `plan`.
pub(crate) fn repack_peak(
    problem: &Problem,
    plan: Plan,
    lb: u64,
    deadline: Instant,
    stall_limit: (usize, Duration),
) -> Plan {
    let bufs = &problem.buffers;
    let n = bufs.len();
    let mut offsets = plan.offsets;
    let mut score = peak_score(problem, &offsets);
    let mut rng = Lcg::new(0x7e55_e7a1);
    let mut in_band = vec![false; n];
    let peak_load = max_load_over_lifetime(problem);
    let mut stall = 0;
    let mut last_gain = Instant::now();
    while score.0 > lb && stall < stall_limit.0 {
        let now = Instant::now();
        if now >= deadline || now - last_gain > stall_limit.1 {
            break;
        }
        stall += 1;
        let Some(band) = pick_band(problem, &offsets, score.0, &mut rng, &mut in_band) else {
            continue;
        };
        let trial = place_band(problem, &offsets, &band, &in_band, &peak_load, &mut rng);
        for &i in &band.members {
            in_band[i] = false;
        }
        let Some(trial) = trial else { continue };
        let saved: Vec<u64> = band.members.iter().map(|&i| offsets[i]).collect();
        for (&i, &o) in band.members.iter().zip(&trial) {
            offsets[i] = o;
        }
        let new_score = peak_score(problem, &offsets);
        if new_score <= score {
            if new_score.0 < score.0 {
                stall = 0;
                last_gain = Instant::now();
            }
            score = new_score;
        } else {
            for (&i, &o) in band.members.iter().zip(&saved) {
                offsets[i] = o;
            }
        }
    }
    Plan {
        offsets,
        arena_bytes: score.0,
    }
}

/// `(arena, number of buffers whose top is the arena)`: smaller is better.
fn peak_score(problem: &Problem, offsets: &[u64]) -> (u64, usize) {
    let mut best = (0u64, 0usize);
    for (b, &o) in problem.buffers.iter().zip(offsets) {
        let top = o.saturating_add(b.size);
        if top > best.0 {
            best = (top, 1);
        } else if top == best.0 {
            best.1 += 1;
        }
    }
    best
}

/// The buffers of one move: they lie wholly at or above `floor` and live during the lifetime of
/// a buffer that sets the peak.
struct Band {
    floor: u64,
    members: Vec<usize>,
}

/// Chooses a peak-setting buffer, a time window (its lifetime, or a window up to 128 times as
/// long around it for the "wholly inside" kind of move) and a band height (1 to 2^15 times its
/// size, halved until at most [`MAX_BAND_BUFFERS`] buffers qualify or it is the buffer's own
/// size); marks the members in `in_band`.
fn pick_band(
    problem: &Problem,
    offsets: &[u64],
    arena: u64,
    rng: &mut Lcg,
    in_band: &mut [bool],
) -> Option<Band> {
    let bufs = &problem.buffers;
    let setters: Vec<usize> = (0..bufs.len())
        .filter(|&i| offsets[i].saturating_add(bufs[i].size) == arena)
        .collect();
    let c = *setters.get(rng.below(setters.len().max(1)))?;
    let w = bufs[c].lifetime;
    // Either every buffer overlapping the lifetime, or only those inside a wider window
    // (buffers crossing its edges stay fixed).
    let contained = rng.below(2) == 0;
    let margin = if contained {
        w.len().saturating_mul(1 << rng.below(8))
    } else {
        0
    };
    let (ws, we) = (w.start.saturating_sub(margin), w.end.saturating_add(margin));
    let mut shift = rng.below(16) as u32;
    loop {
        let height = bufs[c].size.saturating_mul(1 << shift);
        let floor = arena.saturating_sub(height);
        let members: Vec<usize> = (0..bufs.len())
            .filter(|&i| {
                let l = bufs[i].lifetime;
                let inside = if contained {
                    ws <= l.start && l.end <= we
                } else {
                    l.start < w.end && w.start < l.end
                };
                inside && offsets[i] >= floor
            })
            .collect();
        if members.len() <= MAX_BAND_BUFFERS || shift == 0 {
            for &i in &members {
                in_band[i] = true;
            }
            return Some(Band { floor, members });
        }
        shift -= 1;
    }
}

/// New offsets for the band's members (same order as `band.members`), placed with best fit
/// at or above the floor in a perturbed size or peak-first order, avoiding every other buffer that overlaps
/// them in time and reaches above the floor. `None` on arithmetic overflow.
fn place_band(
    problem: &Problem,
    offsets: &[u64],
    band: &Band,
    in_band: &[bool],
    peak_load: &[u64],
    rng: &mut Lcg,
) -> Option<Vec<u64>> {
    let bufs = &problem.buffers;
    let (lo, hi) = band.members.iter().fold((u64::MAX, 0), |(lo, hi), &i| {
        (lo.min(bufs[i].lifetime.start), hi.max(bufs[i].lifetime.end))
    });
    // Fixed obstacles: (start, end, offset, top).
    let mut obstacles: Vec<(u64, u64, u64, u64)> = (0..bufs.len())
        .filter(|&i| !in_band[i])
        .filter_map(|i| {
            let (b, o) = (&bufs[i], offsets[i]);
            let top = o.saturating_add(b.size);
            let l = b.lifetime;
            (l.start < hi && lo < l.end && top > band.floor).then_some((l.start, l.end, o, top))
        })
        .collect();
    let mut order: Vec<usize> = (0..band.members.len()).collect();
    let by_load = rng.below(2) == 0;
    order.sort_by_key(|&k| {
        let i = band.members[k];
        let b = &bufs[i];
        let load = if by_load { peak_load[i] } else { 0 };
        (Reverse(load), Reverse(b.size), Reverse(b.lifetime.len()), k)
    });
    for _ in 0..rng.below(4) {
        let (a, b) = (rng.below(order.len()), rng.below(order.len()));
        order.swap(a, b);
    }
    let mut placed = vec![0u64; band.members.len()];
    let mut occupied: Vec<(u64, u64)> = Vec::new();
    for k in order {
        let b = &bufs[band.members[k]];
        let l = b.lifetime;
        occupied.clear();
        occupied.push((0, band.floor));
        occupied.extend(
            obstacles
                .iter()
                .filter(|o| o.0 < l.end && l.start < o.1)
                .map(|o| (o.2, o.3)),
        );
        occupied.sort_unstable();
        let at = find_gap_best(&occupied, b.size, b.align)?;
        let top = at.checked_add(b.size)?;
        placed[k] = at;
        obstacles.push((l.start, l.end, at, top));
    }
    Some(placed)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::plan::bound::lower_bound;
    use crate::plan::{Planner, validate};
    use proptest::prelude::*;

    #[test]
    fn max_load_matches_brute_force() {
        let p = Problem::from_rows(&[(0, 4, 10, 1), (2, 6, 5, 1), (6, 8, 15, 1), (7, 9, 1, 1)]);
        // Loads: [0,2) 10, [2,4) 15, [4,6) 5, [6,7) 15, [7,8) 16, [8,9) 1.
        assert_eq!(max_load_over_lifetime(&p), vec![15, 15, 16, 16]);
    }

    /// Found by a random search: greedy-size and both peak-first orders reach 15, the bound
    /// is 12, and band re-packing finds a plan at the bound.
    fn greedy_trap() -> Problem {
        Problem::from_rows(&[
            (1, 4, 4, 1),
            (4, 6, 1, 1),
            (3, 5, 5, 1),
            (4, 7, 6, 1),
            (1, 2, 1, 1),
            (1, 2, 6, 1),
            (1, 3, 1, 1),
        ])
    }

    fn peak_first_orders(problem: &Problem, lb: u64) -> [Vec<usize>; 2] {
        super::peak_first_orders(problem, lb, &max_load_over_lifetime(problem))
    }

    fn greedy_size(p: &Problem) -> Result<Plan, PlanError> {
        crate::plan::heuristics::GreedySize
            .plan(p, &crate::plan::Budget::default())
            .map(|o| o.plan)
    }

    #[test]
    fn improvement_reaches_the_bound_where_greedy_does_not() {
        let p = greedy_trap();
        let lb = lower_bound(&p);
        assert_eq!(lb, 12);
        assert_eq!(greedy_size(&p).unwrap().arena_bytes, 15);
        for order in peak_first_orders(&p, lb) {
            assert!(place_order_best_fit(&p, &order).unwrap().arena_bytes > lb);
        }
        let plan = improve_large(&p, lower_bound(&p), soon(), |_| greedy_size(&p)).unwrap();
        validate(&p, &plan).unwrap();
        assert_eq!(plan.arena_bytes, lb);
    }

    /// Random small problems (up to 30 buffers, alignments 1, 4 and 32) for property tests.
    pub(crate) fn instance() -> impl Strategy<Value = Problem> {
        prop::collection::vec(
            (
                0u64..30,
                1u64..12,
                1u64..300,
                prop::sample::select(vec![1u64, 4, 32]),
            ),
            1..=30,
        )
        .prop_map(|rows| {
            let rows: Vec<_> = rows
                .into_iter()
                .map(|(s, len, size, align)| (s, s + len, size, align))
                .collect();
            Problem::from_rows(&rows)
        })
    }

    /// A poor plan: every buffer stacked above the previous one, `gap` bytes apart.
    pub(crate) fn stacked_with_gaps(p: &Problem, gap: u64) -> Plan {
        let mut offsets = Vec::new();
        let mut top = 0u64;
        for b in &p.buffers {
            let at = crate::bytes::align_up(top, b.align).unwrap();
            offsets.push(at);
            top = at + b.size + gap;
        }
        let arena_bytes = p
            .buffers
            .iter()
            .zip(&offsets)
            .map(|(b, &o)| o + b.size)
            .max()
            .unwrap_or(0);
        Plan {
            offsets,
            arena_bytes,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// From the greedy plan or from a poor one (buffers stacked with gaps), re-packing
        /// returns a valid plan no larger than its input and no smaller than the bound.
        #[test]
        fn repack_is_valid_and_never_worse(p in instance(), gap in 0u64..50) {
            let lb = lower_bound(&p);
            let greedy = greedy_size(&p).unwrap();
            let stacked = stacked_with_gaps(&p, gap);
            for start in [greedy, stacked] {
                validate(&p, &start).unwrap();
                let out = repack_peak(&p, start.clone(), lb, soon(), (300, Duration::from_secs(5)));
                validate(&p, &out).unwrap();
                prop_assert!(out.arena_bytes <= start.arena_bytes);
                prop_assert!(out.arena_bytes >= lb);
            }
            let out = improve_large(&p, lower_bound(&p), soon(), |_| greedy_size(&p)).unwrap();
            validate(&p, &out).unwrap();
            prop_assert!(out.arena_bytes <= greedy_size(&p).unwrap().arena_bytes);
        }
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[test]
    fn repack_never_worsens_a_poor_plan() {
        // Everything stacked naively: the re-packing must bring it down and stay valid.
        let p = Problem::from_rows(&[(0, 2, 8, 1), (2, 4, 8, 1), (1, 3, 2, 1), (0, 4, 3, 1)]);
        let mut offsets = Vec::new();
        let mut top = 0;
        for b in &p.buffers {
            offsets.push(top);
            top += b.size + 3;
        }
        let plan = Plan {
            offsets,
            arena_bytes: top - 3,
        };
        validate(&p, &plan).unwrap();
        let out = repack_peak(
            &p,
            plan,
            lower_bound(&p),
            soon(),
            (200, Duration::from_secs(5)),
        );
        validate(&p, &out).unwrap();
        assert_eq!(out.arena_bytes, lower_bound(&p));
    }
}
