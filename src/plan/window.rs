//! `auto`'s promotion phase for large problems: re-plan with the buffers above the bound first.
//!
//! Best fit in a size order places the big long-lived buffers first, at the bottom of the
//! arena. When a few small buffers born right after the max-load step then find no hole below
//! the bound (the one hole they would need is where a big buffer born a step later went), no
//! local re-packing helps: moving the big buffer means moving everything it lives with. Placing
//! the small buffers *before* the big ones does: the big buffer then goes on top of them, and
//! the rest of the plan is built around that.
//!
//! So, from the best plan so far ([`promote_excess`]): take the buffers whose top lies above
//! the lower bound ("excess" buffers), put them first (by lifetime start, so they stack from
//! the bottom in the order they arrive) ahead of each base order (size, and the peak-first
//! orders of [`super::repack`]), and place everything again with best fit. The excess of the
//! best new plan is added to the promoted set and the round repeats, until the bound is met,
//! no new buffer is above it, [`MAX_ROUNDS`] rounds, or the deadline. Each round costs one
//! full best-fit placement per base order (`O(n log n)`-ish, no conflict graph).
//!
//! The result is never worse than the input plan (a new plan is kept only when its arena is
//! smaller) and valid by construction (every placement is a best-fit placement of all buffers).

use super::heuristics::place_order_best_fit;
use super::{Plan, PlanError, Problem};
use std::time::Instant;

/// Most promotion rounds (each adds the excess buffers of the best plan of the round before).
pub(crate) const MAX_ROUNDS: usize = 8;

/// Most buffers promoted in all: beyond this the phase is no longer a small change to the
/// orders and stops.
const MAX_PROMOTED: usize = 256;

/// The promotion phase (see the module docs) from a valid `plan` of `problem`, with `lb` the
/// lower bound and `base_orders` the best-fit orders to promote into (each lists every buffer
/// once). Returns a valid plan never larger than `plan`. Errors only when a placement
/// overflows (it cannot for a problem that passed `Problem::check`).
pub(crate) fn promote_excess(
    problem: &Problem,
    plan: Plan,
    lb: u64,
    deadline: Instant,
    base_orders: &[Vec<usize>],
) -> Result<Plan, PlanError> {
    let bufs = &problem.buffers;
    let mut promoted: Vec<usize> = Vec::new();
    let mut is_promoted = vec![false; bufs.len()];
    let mut best = plan;
    let mut source = best.clone();
    for _ in 0..MAX_ROUNDS {
        if best.arena_bytes <= lb || Instant::now() >= deadline {
            break;
        }
        let before = promoted.len();
        for (i, b) in bufs.iter().enumerate() {
            if !is_promoted[i] && source.offsets[i].saturating_add(b.size) > lb {
                is_promoted[i] = true;
                promoted.push(i);
            }
        }
        if promoted.len() == before || promoted.len() > MAX_PROMOTED {
            break;
        }
        promoted.sort_by_key(|&i| {
            let l = bufs[i].lifetime;
            (l.start, std::cmp::Reverse(l.end), i)
        });
        let mut round_best: Option<Plan> = None;
        for base in base_orders {
            if Instant::now() >= deadline {
                break;
            }
            let order: Vec<usize> = promoted
                .iter()
                .copied()
                .chain(base.iter().copied().filter(|&i| !is_promoted[i]))
                .collect();
            let trial = place_order_best_fit(problem, &order)?;
            if trial.arena_bytes <= lb {
                return Ok(trial);
            }
            if round_best
                .as_ref()
                .is_none_or(|b| trial.arena_bytes < b.arena_bytes)
            {
                round_best = Some(trial);
            }
        }
        let Some(round_best) = round_best else { break };
        if round_best.arena_bytes < best.arena_bytes {
            best = round_best.clone();
        }
        source = round_best;
    }
    Ok(best)
}

/// `greedy-size`'s order: largest first, ties by earlier start, then index.
pub(crate) fn size_order(problem: &Problem) -> Vec<usize> {
    let bufs = &problem.buffers;
    let mut order: Vec<usize> = (0..bufs.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(bufs[i].size), bufs[i].lifetime.start, i));
    order
}
