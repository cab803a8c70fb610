//! The `exact` planner: branch and bound wrapped in an optimisation loop.
//!
//! 1. Upper bound: the best of the cheap heuristics (`greedy-size` and friends, see `auto`;
//!    the slower ones are skipped when they would not fit in the budget).
//! 2. Lower bound: the max-load bound, rounded up to the [granularity](super::place::granularity())
//!    `g` (some optimal arena is a multiple of `g`).
//! 3. The buffers split into independent groups (no lifetime crosses a cut in time); for a
//!    capacity `C` each group is decided by a portfolio spread over the machine's cores (the
//!    first thread to answer stops the others) of two complete searches that succeed on
//!    different instances: [`super::canonical`] (minimalloc's branching on buffers, its three
//!    preorders in turn with doubling node limits) on the odd restarts and [`super::bnb`]
//!    (branching on the tightest section, Luby restarts over several orders) on the even ones.
//!    Where every section's buffers add up to exactly `C` (perfect packings at their bound),
//!    every restart runs the exact-cover search [`super::tile`] instead.
//!    `C` = lower bound is tried first with 60% of the budget, then a binary search in steps
//!    of `g`.
//!
//! The result is optimal (`proven_optimal`) when its arena equals the lower bound, or when
//! the capacity one step `g` below it was proven infeasible. Without a proof the best plan
//! found within `Budget::time_limit` is returned; it is never worse than the heuristics, and
//! `Outcome::lower_bound` is the rounded max-load bound raised past every capacity proven
//! infeasible.

use super::bnb::{Decision, FIXED_RANKINGS, Instance, Strategy};
use super::bound::lower_bound;
use super::place::granularity;
use super::{Budget, Outcome, Plan, PlanError, Planner, Problem};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Stack for each search thread (the branch and bound recurses once per placed buffer).
const SEARCH_STACK_BYTES: usize = 256 << 20;

/// Buffers per group above which the branch and bound is skipped (the heuristic plan is
/// returned, not proven optimal). Checked before any group is built, so that huge traces
/// return right after the heuristics.
pub const EXACT_MAX_BUFFERS: usize = 5_000;

/// Branch and bound over canonical placements (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct ExactPlanner;

impl Planner for ExactPlanner {
    fn name(&self) -> &'static str {
        "exact"
    }

    fn plan(&self, problem: &Problem, budget: &Budget) -> Result<Outcome, PlanError> {
        problem.check()?;
        let start = Instant::now();
        let deadline = start + budget.time_limit;
        let upper = super::auto::heuristics(problem, deadline)?;
        Ok(improve(problem, upper, deadline))
    }
}

/// One group of buffers that shares no lifetime with the others.
struct Group {
    members: Vec<usize>,
    inst: Instance,
    /// Best offsets found so far (local order) and their arena.
    best: Option<(Vec<u64>, u64)>,
}

/// Splits the buffers into groups connected in time.
fn groups(problem: &Problem) -> Vec<Vec<usize>> {
    let bufs = &problem.buffers;
    let mut order: Vec<usize> = (0..bufs.len()).collect();
    order.sort_by_key(|&i| (bufs[i].lifetime.start, bufs[i].lifetime.end));
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut reach = 0u64;
    for i in order {
        let lt = bufs[i].lifetime;
        if out.is_empty() || lt.start >= reach {
            out.push(Vec::new());
        }
        reach = reach.max(lt.end);
        if let Some(g) = out.last_mut() {
            g.push(i);
        }
    }
    // Local indices follow the input order (rankings break ties by them).
    for g in &mut out {
        g.sort_unstable();
    }
    out
}

/// Runs the exact search from the heuristic plan `upper` until `deadline`. Always returns a
/// valid plan no worse than `upper`, with the best lower bound the search established.
pub(crate) fn improve(problem: &Problem, upper: Plan, deadline: Instant) -> Outcome {
    let g = granularity(problem);
    let lb = lower_bound(problem).div_ceil(g).saturating_mul(g);
    if upper.arena_bytes <= lb {
        return Outcome::new(upper, lb);
    }
    let bufs = &problem.buffers;
    // The search keeps section loads in `i64`: skip it when they could overflow.
    let total = bufs.iter().try_fold(0u64, |acc, b| acc.checked_add(b.size));
    // Check the sizes before building anything: the conflict lists of a huge group alone
    // could take longer than the whole budget.
    let members_list = groups(problem);
    if total.is_none_or(|t| t > (i64::MAX / 4) as u64)
        || members_list.iter().any(|m| m.len() > EXACT_MAX_BUFFERS)
        || Instant::now() >= deadline
    {
        return Outcome::new(upper, lb);
    }
    let mut groups: Vec<Group> = members_list
        .into_iter()
        .map(|members| {
            let rows: Vec<(u64, u64, u64, u64)> = members
                .iter()
                .map(|&i| {
                    let b = &bufs[i];
                    (b.lifetime.start, b.lifetime.end, b.size, b.align)
                })
                .collect();
            let inst = Instance::new(&rows, g);
            Group {
                members,
                inst,
                best: None,
            }
        })
        .collect();
    optimise(problem, &mut groups, upper, lb, g, deadline)
}

/// The optimisation loop: probe capacities between `lb` and the best arena so far. The
/// outcome's bound is `lb` raised past every capacity proven infeasible.
fn optimise(
    problem: &Problem,
    groups: &mut [Group],
    upper: Plan,
    lb: u64,
    g: u64,
    deadline: Instant,
) -> Outcome {
    let mut best = upper;
    let mut proven_lo = lb; // every capacity below this is proven infeasible
    let mut lo = lb; // next capacity to try from below (proven or merely timed out)
    let mut first = true;
    while lo < best.arena_bytes {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let left = deadline - now;
        let (cap, slice) = if first {
            (lo, left.mul_f64(0.6))
        } else {
            let steps = (best.arena_bytes - lo) / g;
            (
                lo + (steps / 2) * g,
                left.mul_f64(0.4).max(Duration::from_millis(1)),
            )
        };
        first = false;
        match decide_all(groups, cap, now + slice) {
            Decision::Feasible(_) => {
                let plan = assemble(problem, groups);
                if plan.arena_bytes < best.arena_bytes {
                    best = plan;
                }
            }
            Decision::Infeasible => {
                // Feasibility is monotone in the capacity.
                proven_lo = proven_lo.max(cap + g);
                lo = cap + g;
            }
            Decision::Timeout => lo = cap + g,
        }
    }
    Outcome::new(best, proven_lo)
}

/// Decides every group at capacity `cap`; groups already known to fit are skipped.
fn decide_all(groups: &mut [Group], cap: u64, deadline: Instant) -> Decision {
    let mut timed_out = false;
    for gr in groups.iter_mut() {
        if gr.best.as_ref().is_some_and(|(_, a)| *a <= cap) {
            continue;
        }
        match portfolio(gr, cap, deadline) {
            Decision::Feasible(offsets) => {
                let arena = offsets
                    .iter()
                    .zip(&gr.inst.size)
                    .map(|(o, s)| o.saturating_add(*s))
                    .max()
                    .unwrap_or(0);
                gr.best = Some((offsets, arena));
            }
            Decision::Infeasible => return Decision::Infeasible,
            Decision::Timeout => timed_out = true,
        }
    }
    if timed_out {
        Decision::Timeout
    } else {
        Decision::Feasible(Vec::new())
    }
}

/// Nodes per unit of the Luby restart sequence.
const RESTART_UNIT: u64 = 2_000;

/// The Luby sequence 1, 1, 2, 1, 1, 2, 4, 1, ... (`i >= 1`).
fn luby(i: u64) -> u64 {
    let mut k = 1;
    while (1u64 << k) - 1 < i {
        k += 1;
    }
    if (1u64 << k) - 1 == i {
        1 << (k - 1)
    } else {
        luby(i - ((1u64 << (k - 1)) - 1))
    }
}

/// Most threads one portfolio runs.
const MAX_THREADS: usize = 16;

/// Threads of the portfolio: the machine's cores, at most [`MAX_THREADS`].
fn threads() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS) as u64)
}

/// Runs restarts on every core: restart `i` (1, 2, 3, ...) goes to thread
/// `(i - 1) % threads`, and picks its search (see [`restart`]). Search is
/// heavy-tailed (a good order solves in a few hundred nodes, a bad one may not in millions),
/// so restarts with growing node limits pay. Any run that finishes answers (an infeasibility
/// proof holds whatever the order) and stops the others. With one thread the sequence, and so
/// the answer, is deterministic; with more, which restart answers first may vary from run to
/// run.
fn portfolio(gr: &Group, cap: u64, deadline: Instant) -> Decision {
    let threads = threads();
    let tiling = super::tile::unit(&gr.inst, cap);
    let stop = AtomicBool::new(false);
    let answer: Mutex<Option<Decision>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (stop, answer) = (&stop, &answer);
            let worker = move || {
                let mut i = t + 1;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match restart(gr, cap, deadline, i, tiling, stop) {
                        Decision::Timeout => i += threads,
                        d => {
                            if !stop.swap(true, Ordering::SeqCst)
                                && let Ok(mut slot) = answer.lock()
                            {
                                *slot = Some(d);
                            }
                            return;
                        }
                    }
                }
            };
            // The search recurses once per placed buffer: give it a roomy stack of its own.
            // A thread that cannot start leaves the work to the others.
            let _ = std::thread::Builder::new()
                .stack_size(SEARCH_STACK_BYTES)
                .spawn_scoped(scope, worker);
        }
    });
    answer
        .into_inner()
        .ok()
        .flatten()
        .unwrap_or(Decision::Timeout)
}

/// Restart number `i` (from 1) of the portfolio at capacity `cap`. At a zero-slack capacity
/// (`tiling` is the height unit [`super::tile::unit`] found) every restart runs the tiling
/// search, which needs no "nothing here" branch there and solves the perfect packings the
/// other two do not. Otherwise odd restarts run the canonical-order search
/// ([`super::canonical`]), even ones the section search ([`super::bnb`]), so that on two or
/// more threads each family has its own threads.
fn restart(
    gr: &Group,
    cap: u64,
    deadline: Instant,
    i: u64,
    tiling: Option<u64>,
    stop: &AtomicBool,
) -> Decision {
    if let Some(unit) = tiling {
        tile_restart(gr, cap, unit, deadline, i, stop)
    } else if i % 2 == 1 {
        canonical_restart(gr, cap, deadline, i.div_ceil(2), stop)
    } else {
        section_restart(gr, cap, deadline, i / 2, stop)
    }
}

/// Rankings the canonical search cycles through: minimalloc's three preorderings, as
/// (total, length, area), (total, area, length), (length, area, total).
const CANONICAL_RANKINGS: [u32; 3] = [1, 0, 2];

/// Canonical-order restart `k` (from 1): minimalloc's round robin, each of
/// [`CANONICAL_RANKINGS`] in turn with the same node limit, the limit doubling after every
/// round (from twice the group's size).
fn canonical_restart(
    gr: &Group,
    cap: u64,
    deadline: Instant,
    k: u64,
    stop: &AtomicBool,
) -> Decision {
    let round = (k - 1) / CANONICAL_RANKINGS.len() as u64;
    let variant = CANONICAL_RANKINGS[((k - 1) % CANONICAL_RANKINGS.len() as u64) as usize];
    let rank = gr.inst.ranking(variant);
    let base = 2 * gr.members.len().max(1) as u64;
    let strategy = Strategy {
        rank: &rank,
        variant,
        count_focus: false,
        node_limit: base.saturating_mul(1u64 << round.min(40)),
        stop: Some(stop),
    };
    super::canonical::decide(&gr.inst, cap, deadline, &strategy).0
}

/// Section-search restart `i` (from 1): Luby node limits; the fixed rankings (cycled, so
/// they meet longer limits) alternate with fresh noisy ones, and the two focus rules alternate.
fn section_restart(gr: &Group, cap: u64, deadline: Instant, i: u64, stop: &AtomicBool) -> Decision {
    let j = (i - 1) / 2;
    let variant = if j.is_multiple_of(2) {
        ((j / 2) % u64::from(FIXED_RANKINGS)) as u32
    } else {
        FIXED_RANKINGS + (j / 2) as u32
    };
    let rank = gr.inst.ranking(variant);
    let strategy = Strategy {
        rank: &rank,
        variant,
        count_focus: i % 2 == 1,
        node_limit: RESTART_UNIT.saturating_mul(luby(i)),
        stop: Some(stop),
    };
    super::bnb::decide(&gr.inst, cap, deadline, &strategy).0
}

/// Tiling-search restart `k` (from 1), for zero-slack capacities: node limits from the Luby
/// sequence in units of the group's size (a dive that needs no backtracking visits about one
/// node per buffer, and most solutions are found by such dives), the fixed rankings first,
/// then noisy ones; the variant's low bits also pick the search's symmetry.
fn tile_restart(
    gr: &Group,
    cap: u64,
    unit: u64,
    deadline: Instant,
    k: u64,
    stop: &AtomicBool,
) -> Decision {
    let variant = if k <= u64::from(FIXED_RANKINGS) {
        (k - 1) as u32
    } else {
        k as u32
    };
    let rank = gr.inst.ranking(variant);
    let strategy = Strategy {
        rank: &rank,
        variant,
        count_focus: false,
        node_limit: (gr.members.len().max(1) as u64).saturating_mul(luby(k)),
        stop: Some(stop),
    };
    super::tile::decide(&gr.inst, cap, unit, deadline, &strategy).0
}

/// The plan made of every group's best offsets (all groups must have one).
fn assemble(problem: &Problem, groups: &[Group]) -> Plan {
    let mut offsets = vec![0u64; problem.buffers.len()];
    let mut arena = 0;
    for gr in groups {
        if let Some((local, a)) = &gr.best {
            for (k, &i) in gr.members.iter().enumerate() {
                offsets[i] = local[k];
            }
            arena = arena.max(*a);
        }
    }
    Plan {
        offsets,
        arena_bytes: arena,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::validate::validate;

    fn budget() -> Budget {
        Budget {
            time_limit: Duration::from_secs(5),
        }
    }

    #[test]
    fn proves_input12() {
        let p = Problem::from_rows(&[
            (0, 3, 4, 1),
            (3, 9, 4, 1),
            (0, 9, 4, 1),
            (9, 21, 4, 1),
            (0, 21, 4, 1),
        ]);
        let out = ExactPlanner.plan(&p, &budget()).unwrap();
        assert_eq!(out.plan.arena_bytes, 12);
        assert!(out.proven_optimal);
        validate(&p, &out.plan).unwrap();
    }

    #[test]
    fn beats_greedy_on_a_fragmenting_instance() {
        // Greedy by size puts the 3 at the bottom; the optimum is the bound 5.
        let p = Problem::from_rows(&[
            (0, 2, 3, 1),
            (2, 4, 2, 1),
            (1, 3, 2, 1),
            (0, 1, 2, 1),
            (3, 4, 3, 1),
        ]);
        let out = ExactPlanner.plan(&p, &budget()).unwrap();
        validate(&p, &out.plan).unwrap();
        assert!(out.proven_optimal);
        assert_eq!(
            out.plan.arena_bytes,
            lower_bound(&p).max(out.plan.arena_bytes)
        );
    }

    #[test]
    fn proves_a_gap_above_the_bound() {
        // Three pairwise conflicting buffers of 3 aligned to 4: bound 9, optimum 11.
        let p = Problem::from_rows(&[(0, 2, 3, 4), (0, 2, 3, 4), (0, 2, 3, 4)]);
        let out = ExactPlanner.plan(&p, &budget()).unwrap();
        validate(&p, &out.plan).unwrap();
        assert_eq!(out.plan.arena_bytes, 11);
        assert!(out.proven_optimal);
    }

    #[test]
    fn independent_groups_are_split() {
        let p = Problem::from_rows(&[(0, 2, 3, 1), (0, 2, 3, 1), (2, 4, 5, 1), (3, 5, 1, 1)]);
        assert_eq!(groups(&p).len(), 2);
        let out = ExactPlanner.plan(&p, &budget()).unwrap();
        assert_eq!(out.plan.arena_bytes, 6);
        assert!(out.proven_optimal);
    }

    #[test]
    fn luby_sequence() {
        let v: Vec<u64> = (1..=15).map(luby).collect();
        assert_eq!(v, [1, 1, 2, 1, 1, 2, 4, 1, 1, 2, 1, 1, 2, 4, 8]);
    }

    #[test]
    fn solves_small_perfect_packings_to_the_bound() {
        use crate::plan::perfect::{Kind, Spec, generate};
        for (kind, n, seed) in [
            (Kind::NonGuillotine, 40, 1),
            (Kind::NonGuillotine, 60, 2),
            (Kind::NonGuillotine, 80, 3),
            (Kind::Guillotine, 80, 4),
        ] {
            let packing = generate(&Spec::new(kind, n, seed)).unwrap();
            let p = &packing.problem;
            let out = ExactPlanner.plan(p, &budget()).unwrap();
            validate(p, &out.plan).unwrap();
            assert_eq!(
                (out.plan.arena_bytes, out.lower_bound),
                (packing.plan.arena_bytes, lower_bound(p)),
                "{kind:?} {n} buffers, seed {seed}"
            );
            assert!(out.proven_optimal);
        }
    }

    /// The restart (from 1) of the tiling search, taken in order on one thread, that first
    /// fits `packing` at its bound.
    fn first_tiling_restart(packing: &crate::plan::perfect::Packing, limit: u64) -> Option<u64> {
        let problem = &packing.problem;
        let members: Vec<usize> = (0..problem.buffers.len()).collect();
        let rows: Vec<(u64, u64, u64, u64)> = problem
            .buffers
            .iter()
            .map(|b| (b.lifetime.start, b.lifetime.end, b.size, b.align))
            .collect();
        let gr = Group {
            members,
            inst: Instance::new(&rows, granularity(problem)),
            best: None,
        };
        let cap = packing.plan.arena_bytes;
        let unit = super::super::tile::unit(&gr.inst, cap)?;
        let (stop, far) = (
            AtomicBool::new(false),
            Instant::now() + Duration::from_secs(600),
        );
        (1..=limit).find(|&k| {
            matches!(
                tile_restart(&gr, cap, unit, far, k, &stop),
                Decision::Feasible(_)
            )
        })
    }

    #[test]
    fn tiles_non_guillotine_packings_of_150_to_200_buffers() {
        use crate::plan::perfect::{Kind, Spec, generate};
        for (n, seed) in [(150, 1), (150, 6), (200, 1), (200, 3), (200, 7)] {
            let packing = generate(&Spec::new(Kind::NonGuillotine, n, seed)).unwrap();
            assert_eq!(groups(&packing.problem).len(), 1);
            // Deterministic: restarts 10-172 at the time of writing.
            let k = first_tiling_restart(&packing, 300);
            assert!(
                k.is_some(),
                "{n} buffers, seed {seed}: not within 300 restarts"
            );
        }
    }

    #[test]
    fn reports_the_bound_it_proved() {
        // Bound 9, optimum 11: the search proves 10 infeasible, so the bound it reports is 11.
        // (The later byte-aligned buffer leaves no common alignment to tighten the bound with.)
        let p = Problem::from_rows(&[(0, 2, 3, 4), (0, 2, 3, 4), (0, 2, 3, 4), (2, 3, 1, 1)]);
        let out = ExactPlanner.plan(&p, &budget()).unwrap();
        assert_eq!((lower_bound(&p), out.lower_bound), (9, 11));
        // Without time to search, the heuristic plan comes back with the max-load bound.
        let none = Budget {
            time_limit: Duration::ZERO,
        };
        let quick = ExactPlanner.plan(&p, &none).unwrap();
        let got = (
            quick.plan.arena_bytes,
            quick.lower_bound,
            quick.proven_optimal,
        );
        assert_eq!(got, (11, 9, false));
    }

    #[test]
    fn rejects_zero_sizes() {
        let p = Problem::from_rows(&[(0, 2, 0, 1)]);
        assert!(ExactPlanner.plan(&p, &budget()).is_err());
    }

    #[test]
    fn empty_problem_is_trivial() {
        let out = ExactPlanner.plan(&Problem::default(), &budget()).unwrap();
        assert_eq!(out.plan.arena_bytes, 0);
        assert!(out.proven_optimal);
    }
}
