//! Search planners against a brute-force optimum on tiny random problems, and on input.12.

use proptest::prelude::*;
use std::time::Duration;
use tessera::plan::{
    AutoPlanner, Budget, ExactPlanner, HillClimbPlanner, IlpPlanner, Plan, Planner, Problem,
    lower_bound, planner_by_name, read_csv, validate,
};

/// The library validator: alignment, arena size and no overlap between conflicting buffers.
fn check(p: &Problem, plan: &Plan) {
    if let Err(e) = validate(p, plan) {
        panic!("invalid plan: {e}");
    }
}

/// The optimum by enumerating every aligned offset below the best arena found so far.
fn brute_force(p: &Problem) -> u64 {
    fn go(p: &Problem, i: usize, offs: &mut Vec<u64>, peak: u64, best: &mut u64) {
        let b = &p.buffers;
        if i == b.len() {
            *best = (*best).min(peak);
            return;
        }
        let x = &b[i];
        let mut o = 0;
        while o + x.size < *best {
            let free = (0..i).all(|j| {
                !x.lifetime.overlaps(&b[j].lifetime)
                    || o + x.size <= offs[j]
                    || offs[j] + b[j].size <= o
            });
            if free {
                offs.push(o);
                go(p, i + 1, offs, peak.max(o + x.size), best);
                offs.pop();
            }
            o += x.align;
        }
    }
    let mut best: u64 = p.buffers.iter().map(|b| b.size + b.align).sum::<u64>() + 1;
    go(p, 0, &mut Vec::new(), 0, &mut best);
    best
}

fn budget() -> Budget {
    Budget {
        time_limit: Duration::from_secs(5),
    }
}

fn rows() -> impl Strategy<Value = Vec<(u64, u64, u64, u64)>> {
    prop::collection::vec(
        (
            0u64..6,
            1u64..4,
            1u64..6,
            prop::sample::select(vec![1u64, 2, 4]),
        ),
        1..=7,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(s, len, size, align)| (s, s + len, size, align))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn exact_and_ilp_match_brute_force(rows in rows()) {
        let p = Problem::from_rows(&rows);
        let opt = brute_force(&p);
        let exact = ExactPlanner.plan(&p, &budget()).unwrap();
        check(&p, &exact.plan);
        prop_assert_eq!(exact.plan.arena_bytes, opt);
        prop_assert!(exact.proven_optimal);
        let ilp = IlpPlanner.plan(&p, &budget()).unwrap();
        check(&p, &ilp.plan);
        prop_assert_eq!(ilp.plan.arena_bytes, opt);
    }

    #[test]
    fn auto_and_hill_climb_are_valid(rows in rows()) {
        let p = Problem::from_rows(&rows);
        let opt = brute_force(&p);
        let short = Budget { time_limit: Duration::from_millis(20) };
        for planner in [&AutoPlanner as &dyn Planner, &HillClimbPlanner] {
            let out = planner.plan(&p, &short).unwrap();
            check(&p, &out.plan);
            prop_assert!(out.plan.arena_bytes >= opt);
            prop_assert!(!out.proven_optimal || out.plan.arena_bytes == opt);
        }
    }
}

#[test]
fn exact_proves_input12() {
    let p = Problem::from_rows(&[
        (0, 3, 4, 1),
        (3, 9, 4, 1),
        (0, 9, 4, 1),
        (9, 21, 4, 1),
        (0, 21, 4, 1),
    ]);
    for planner in [&ExactPlanner as &dyn Planner, &IlpPlanner, &AutoPlanner] {
        let out = planner.plan(&p, &budget()).unwrap();
        check(&p, &out.plan);
        assert_eq!(out.plan.arena_bytes, 12, "{}", planner.name());
        assert!(out.proven_optimal, "{}", planner.name());
    }
}

#[test]
fn registry_builds_the_search_planners() {
    for name in ["exact", "ilp", "hill-climb", "auto"] {
        assert_eq!(planner_by_name(name).unwrap().name(), name);
    }
}

/// MiniMalloc's challenging instance A (vendored in tests/data): the search
/// closes the gap to the max-load bound in a few hundred nodes.
#[test]
fn exact_reaches_the_bound_on_minimalloc_a() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/A.1048576.csv");
    let p = read_csv(&path).unwrap();
    let out = ExactPlanner
        .plan(
            &p,
            &Budget {
                time_limit: Duration::from_secs(20),
            },
        )
        .unwrap();
    check(&p, &out.plan);
    assert_eq!(out.plan.arena_bytes, lower_bound(&p));
    assert_eq!(out.plan.arena_bytes, 1_048_576);
    assert!(out.proven_optimal);
}
