//! Property tests of the schedule stage on random small DAGs (1 to 9 nodes: linear layers that
//! widen or narrow, relu that may run in place, concatenations and additions for fan-in, views,
//! several outputs, tensors read by many nodes; alignments 1, 4 and 256), CPU only:
//! - `exact`'s peak equals the minimum over every topological order, found by a plain
//!   enumerator here (also its bisection started from the program order, and one unbounded
//!   pass of the dynamic programme);
//! - `greedy`, `beam` and `program` are never below it, and every order they produce is
//!   topological (`reorder` validates it);
//! - the scheduling memory model agrees with analysis: for the produced orders and the first
//!   enumerated ones, its peak equals the max-load lower bound of analysing the reordered graph.

use proptest::prelude::*;
use std::time::Duration;
use tessera::analysis::{AnalysisOptions, WorkspacePolicy, analyze};
use tessera::graph::{DType, Graph, GraphBuilder, Init, NodeId, Op, TensorId};
use tessera::plan::memory_curve;
use tessera::schedule::{
    MemoryModel, STATE_CAP, Scheduler, exact as exact_dp, exact_search, reorder, schedule,
};

/// One random node: (kind, two picks among earlier tensors, output width).
type Spec = (u8, usize, usize, usize);

fn build(inputs: &[usize], specs: &[Spec], extra_outputs: &[usize]) -> Graph {
    let mut g = GraphBuilder::new();
    let mut avail: Vec<(TensorId, usize)> = Vec::new();
    for (i, &w) in inputs.iter().enumerate() {
        let t = g.input(&format!("in{i}"), &[1, w], DType::F32, Init::Constant(1.0));
        avail.push((t, w));
    }
    let mut produced = Vec::new();
    for (j, &(kind, p, q, w)) in specs.iter().enumerate() {
        let (a, wa) = avail[p % avail.len()];
        let (b, wb) = avail[q % avail.len()];
        let name = format!("n{j}");
        let out = match kind % 5 {
            0 => {
                let wt = g.weight(&format!("w{j}"), &[wa, w], j as u64, 0.1);
                (g.linear(&name, a, wt, None).unwrap(), w)
            }
            1 => (g.relu(&name, a).unwrap(), wa),
            2 => {
                let cat = Op::Concat { axis: 1 };
                (g.op(&name, cat, &[a, b]).unwrap(), wa + wb)
            }
            3 => (g.reshape(&name, a, &[1, wa]).unwrap(), wa),
            _ => {
                let rhs = if wa == wb { b } else { a };
                (g.add(&name, a, rhs).unwrap(), wa)
            }
        };
        avail.push(out);
        produced.push(out.0);
    }
    let last = *produced.last().unwrap();
    g.output(last);
    for &k in extra_outputs {
        let t = avail[k % avail.len()].0;
        if t != last {
            g.output(t);
        }
    }
    g.build().unwrap()
}

fn dag() -> impl Strategy<Value = (Graph, bool, u64)> {
    (
        prop::collection::vec(1usize..40, 1..=2),
        prop::collection::vec((0u8..5, 0usize..64, 0usize..64, 1usize..64), 1..=9),
        prop::collection::vec(0usize..64, 0..=2),
        any::<bool>(),
        prop::sample::select(vec![1u64, 4, 256]),
    )
        .prop_map(|(inputs, specs, outs, in_place, align)| {
            (build(&inputs, &specs, &outs), in_place, align)
        })
}

/// Every topological order of the model's nodes, visited depth first; returns the least peak
/// and the first `keep` orders.
fn brute_force(m: &MemoryModel, keep: usize) -> (u64, Vec<Vec<usize>>) {
    fn go(
        m: &MemoryModel,
        order: &mut Vec<usize>,
        used: &mut Vec<bool>,
        best: &mut u64,
        kept: &mut Vec<Vec<usize>>,
        keep: usize,
    ) {
        if order.len() == m.n {
            // The model itself refuses non-topological orders, so a `None` here is a bug.
            let p = m.peak(order).expect("enumerated orders are topological");
            *best = (*best).min(p);
            if kept.len() < keep {
                kept.push(order.clone());
            }
            return;
        }
        for i in 0..m.n {
            let mut done = vec![0u64; m.n.div_ceil(64).max(1)];
            for &k in order.iter() {
                done[k / 64] |= 1 << (k % 64);
            }
            if !used[i] && m.ready(&done, i) {
                used[i] = true;
                order.push(i);
                go(m, order, used, best, kept, keep);
                order.pop();
                used[i] = false;
            }
        }
    }
    let mut best = u64::MAX;
    let mut kept = Vec::new();
    go(
        m,
        &mut Vec::new(),
        &mut vec![false; m.n],
        &mut best,
        &mut kept,
        keep,
    );
    (best, kept)
}

fn analysed_peak(g: &Graph, order: &[NodeId], opts: &AnalysisOptions) -> u64 {
    let r = reorder(g, order).expect("topological");
    // The max load (the model's peak), not the alignment-tightened planning bound.
    let curve = memory_curve(&analyze(&r, opts).expect("analysis").problem);
    curve.iter().map(|&(_, live)| live).max().unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn exact_equals_brute_force_and_heuristics_never_beat_it((g, in_place, alignment) in dag()) {
        let opts = AnalysisOptions {
            alignment,
            in_place,
            workspace: WorkspacePolicy::Planned,
            streamed_inputs: false,
        };
        let m = MemoryModel::new(&g, &opts);
        let (optimum, some_orders) = brute_force(&m, 24);
        let limit = Duration::from_secs(10);
        let exact = schedule(&g, Scheduler::Exact, &opts, limit);
        prop_assert_eq!(exact.scheduler, Scheduler::Exact, "exact fell back: {:?}", exact.note);
        prop_assert_eq!(exact.peak_bytes, optimum);
        // The search itself, started from the program order (usually not optimal, so the
        // bisection has work to do), and one unbounded pass of the dynamic programme.
        let program: Vec<usize> = (0..m.n).collect();
        let from_program = exact_search(&m, &program, m.peak(&program).unwrap(), limit, STATE_CAP);
        prop_assert!(from_program.proven);
        prop_assert_eq!(from_program.peak, optimum);
        prop_assert_eq!(m.peak(&from_program.order), Some(optimum));
        let unbounded = exact_dp(&m, u64::MAX, limit, STATE_CAP).unwrap();
        prop_assert_eq!(unbounded.1, optimum);
        for which in [Scheduler::Program, Scheduler::Greedy, Scheduler::Beam, Scheduler::Exact,
                      Scheduler::Auto] {
            let s = schedule(&g, which, &opts, limit);
            prop_assert!(s.peak_bytes >= optimum, "{:?} below the optimum", which);
            // Topological (reorder validates) and the model agrees with analysis.
            prop_assert_eq!(analysed_peak(&g, &s.order, &opts), s.peak_bytes, "{:?}", which);
        }
        for order in some_orders {
            let ids: Vec<NodeId> = order.iter().map(|&i| NodeId(i as u32)).collect();
            prop_assert_eq!(Some(analysed_peak(&g, &ids, &opts)), m.peak(&order));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    /// Streamed inputs (live from their first reader) keep the model equal to analysis, and
    /// `exact` equal to brute force.
    #[test]
    fn with_streamed_inputs_exact_equals_brute_force_and_analysis((g, in_place, alignment) in dag()) {
        let opts = AnalysisOptions {
            alignment,
            in_place,
            workspace: WorkspacePolicy::Planned,
            streamed_inputs: true,
        };
        let m = MemoryModel::new(&g, &opts);
        let (optimum, some_orders) = brute_force(&m, 24);
        let exact = schedule(&g, Scheduler::Exact, &opts, Duration::from_secs(10));
        prop_assert_eq!(exact.scheduler, Scheduler::Exact, "exact fell back: {:?}", exact.note);
        prop_assert_eq!(exact.peak_bytes, optimum);
        prop_assert_eq!(analysed_peak(&g, &exact.order, &opts), optimum);
        for order in some_orders {
            let ids: Vec<NodeId> = order.iter().map(|&i| NodeId(i as u32)).collect();
            prop_assert_eq!(Some(analysed_peak(&g, &ids, &opts)), m.peak(&order));
        }
    }
}

/// Executing a plan with a graph other than the scheduled one it was made for is refused before
/// any work (the layout would not match the node order); the scheduled graph runs.
#[test]
fn a_plan_executes_only_with_its_scheduled_graph() {
    use tessera::execute::{ExecuteError, ExecuteOptions, execute};
    use tessera::pipeline::{PlanConfig, plan_graph};
    let mut b = GraphBuilder::new();
    let x = b.input("x", &[1, 1], DType::F32, Init::Constant(1.0));
    let mut narrow = Vec::new();
    let wide: Vec<TensorId> = (0..3)
        .map(|k| {
            let w = b.weight(&format!("w{k}"), &[1, 64], k, 0.1);
            b.linear(&format!("a{k}"), x, w, None).unwrap()
        })
        .collect();
    for (k, &a) in wide.iter().enumerate() {
        let v = b.weight(&format!("v{k}"), &[64, 1], 10 + k as u64, 0.1);
        narrow.push(b.linear(&format!("n{k}"), a, v, None).unwrap());
    }
    let cat = b.op("cat", Op::Concat { axis: 1 }, &narrow).unwrap();
    b.output(cat);
    let g = b.build().unwrap();
    let cfg = PlanConfig {
        schedule: Scheduler::Exact,
        ..PlanConfig::default()
    };
    let planned = plan_graph(&g, &cfg).unwrap();
    assert_ne!(
        planned.graph.nodes, g.nodes,
        "the schedule should change this order"
    );
    let opts = ExecuteOptions::default();
    let err = execute(&g, &planned, None, opts).expect_err("caller's order refused");
    assert!(matches!(err, ExecuteError::GraphMismatch), "{err}");
    assert!(execute(&planned.graph, &planned, None, opts).is_ok());
}
