//! Hand-made schedules with peaks derived by hand (sizes in bytes, alignment 4, f32 elements).

use super::*;
use crate::analysis::{WorkspacePolicy, analyze};
use crate::graph::{Conv2dAttrs, DType, GraphBuilder, Init, Op};
use crate::plan::lower_bound;

fn opts(in_place: bool, workspace: WorkspacePolicy) -> AnalysisOptions {
    AnalysisOptions {
        alignment: 4,
        in_place,
        workspace,
        streamed_inputs: false,
    }
}

const LIMIT: Duration = Duration::from_secs(5);

/// x [1,1] (4 B) feeds two branches, each widening to [1,100] (400 B) and narrowing back to
/// [1,1]; c = a2 + b2 is the output. The program order runs both wide tensors first.
fn two_branches() -> Graph {
    let mut g = GraphBuilder::new();
    let x = g.input("x", &[1, 1], DType::F32, Init::Constant(1.0));
    let (wa, wb) = (
        g.weight("wa", &[1, 100], 1, 0.1),
        g.weight("wb", &[1, 100], 2, 0.1),
    );
    let (va, vb) = (
        g.weight("va", &[100, 1], 3, 0.1),
        g.weight("vb", &[100, 1], 4, 0.1),
    );
    let a1 = g.linear("a1", x, wa, None).unwrap();
    let b1 = g.linear("b1", x, wb, None).unwrap();
    let a2 = g.linear("a2", a1, va, None).unwrap();
    let b2 = g.linear("b2", b1, vb, None).unwrap();
    let c = g.add("c", a2, b2).unwrap();
    g.output(c);
    g.build().unwrap()
}

#[test]
fn branch_by_branch_halves_the_peak_of_the_program_order() {
    let g = two_branches();
    let o = opts(false, WorkspacePolicy::Planned);
    // Program a1, b1, a2, b2, c: during b1, x (4) + a1 (400) + b1 (400) = 804.
    // Branch by branch a1, a2, b1, b2, c: during b1, x (4) + a2 (4) + b1 (400) = 408.
    let p = schedule(&g, Scheduler::Program, &o, LIMIT);
    assert_eq!(p.peak_bytes, 804);
    for which in [
        Scheduler::Greedy,
        Scheduler::Beam,
        Scheduler::Exact,
        Scheduler::Auto,
    ] {
        let s = schedule(&g, which, &o, LIMIT);
        assert_eq!(s.peak_bytes, 408, "{which:?}");
        let r = reorder(&g, &s.order).unwrap();
        assert_eq!(
            lower_bound(&analyze(&r, &o).expect("analysis").problem),
            408,
            "{which:?}"
        );
    }
    // Greedy: a1 and b1 both add 400 (tie, same output size: program order, a1); then a2
    // (-396: frees a1) beats b1 (+396: frees x).
    let s = schedule(&g, Scheduler::Greedy, &o, LIMIT);
    assert_eq!(
        s.order,
        vec![NodeId(0), NodeId(2), NodeId(1), NodeId(3), NodeId(4)]
    );
    assert_eq!(
        schedule(&g, Scheduler::Exact, &o, LIMIT).scheduler,
        Scheduler::Exact
    );
}

/// x [1,1] -> a = linear to [1,100] (400 B) -> b = relu(a) -> c = linear back to [1,1].
fn relu_chain() -> Graph {
    let mut g = GraphBuilder::new();
    let x = g.input("x", &[1, 1], DType::F32, Init::Constant(1.0));
    let w = g.weight("w", &[1, 100], 1, 0.1);
    let v = g.weight("v", &[100, 1], 2, 0.1);
    let a = g.linear("a", x, w, None).unwrap();
    let b = g.relu("b", a).unwrap();
    let c = g.linear("c", b, v, None).unwrap();
    g.output(c);
    g.build().unwrap()
}

#[test]
fn an_in_place_node_allocates_nothing() {
    let g = relu_chain();
    // In place: a during step 0 = x + a = 404; b writes over a (400); c = b + c = 404.
    // Without: b during step 1 = a + b = 800.
    for (in_place, peak) in [(true, 404), (false, 800)] {
        let o = opts(in_place, WorkspacePolicy::Planned);
        let s = schedule(&g, Scheduler::Program, &o, LIMIT);
        assert_eq!(s.peak_bytes, peak, "in_place {in_place}");
        assert_eq!(
            lower_bound(&analyze(&g, &o).expect("analysis").problem),
            peak
        );
    }
}

/// Two independent 3x3 convolutions of x [1,2,5,5] (200 B) with 1800 B im2col workspaces
/// each, outputs [1,3,5,5] (300 B), summed.
fn two_convs() -> Graph {
    let mut g = GraphBuilder::new();
    let x = g.input("x", &[1, 2, 5, 5], DType::F32, Init::Constant(1.0));
    let w1 = g.weight("w1", &[3, 2, 3, 3], 1, 0.1);
    let w2 = g.weight("w2", &[3, 2, 3, 3], 2, 0.1);
    let attrs = Conv2dAttrs {
        stride: [1, 1],
        padding: [1, 1],
        dilation: [1, 1],
        ..Default::default()
    };
    let c1 = g.op("c1", Op::Conv2d(attrs), &[x, w1]).unwrap();
    let r = g.relu("r", x).unwrap();
    let c2 = g.op("c2", Op::Conv2d(attrs), &[r, w2]).unwrap();
    let s = g.add("s", c1, c2).unwrap();
    g.output(s);
    g.build().unwrap()
}

#[test]
fn workspace_counts_as_analysis_counts_it_under_every_policy() {
    let g = two_convs();
    // Program c1, r, c2, s. Planned: during c1, x 200 + c1 300 + ws 1800 = 2300; during c2,
    // c1 300 + r 200 + c2 300 + 1800 = 2600 (x died at r); during s 600 + 300 = 900.
    // Global keeps 1800 live at every step, so s peaks: 900 + 1800 = 2700. Grouped: the conv
    // region lives from c1 to c2 (during r: 700 + 1800 = 2500), so the peak stays 2600.
    for (ws, peak) in [
        (WorkspacePolicy::Planned, 2600),
        (WorkspacePolicy::Global, 2700),
        (WorkspacePolicy::Grouped, 2600),
    ] {
        let o = opts(false, ws);
        let p = schedule(&g, Scheduler::Program, &o, LIMIT);
        assert_eq!(p.peak_bytes, peak, "{ws:?}");
        assert_eq!(
            lower_bound(&analyze(&g, &o).expect("analysis").problem),
            peak,
            "{ws:?}"
        );
        // Every order agrees with analysis of the reordered graph.
        for order in [[1, 2, 0, 3], [1, 0, 2, 3], [0, 1, 2, 3]] {
            let order: Vec<NodeId> = order.iter().map(|&i| NodeId(i)).collect();
            let r = reorder(&g, &order).unwrap();
            let m = MemoryModel::new(&g, &o);
            let pos: Vec<usize> = order.iter().map(|n| n.index()).collect();
            assert_eq!(
                m.peak(&pos),
                Some(lower_bound(&analyze(&r, &o).expect("analysis").problem)),
                "{ws:?} {order:?}"
            );
        }
    }
    // r, c2, c1, s: during c1, x 200 + c2 300 + c1 300 + 1800 = 2600 too (r died at c2).
    let s = schedule(
        &g,
        Scheduler::Exact,
        &opts(false, WorkspacePolicy::Planned),
        LIMIT,
    );
    assert_eq!(s.peak_bytes, 2600);
}

#[test]
fn reorder_refuses_what_is_not_a_topological_permutation() {
    let g = two_branches();
    let err = reorder(&g, &[NodeId(0)]).unwrap_err();
    assert!(matches!(err, ScheduleError::Length { .. }), "{err}");
    let ids = |v: &[u32]| v.iter().map(|&i| NodeId(i)).collect::<Vec<_>>();
    let err = reorder(&g, &ids(&[0, 1, 2, 2, 4])).unwrap_err();
    assert!(
        matches!(err, ScheduleError::BadNode { position: 3, .. }),
        "{err}"
    );
    let err = reorder(&g, &ids(&[0, 1, 2, 3, 9])).unwrap_err();
    assert!(
        matches!(err, ScheduleError::BadNode { position: 4, .. }),
        "{err}"
    );
    // a2 (2) before a1 (0): a2 reads a1 before it exists.
    let err = reorder(&g, &ids(&[2, 0, 1, 3, 4])).unwrap_err();
    assert!(matches!(err, ScheduleError::NotTopological(_)), "{err}");
    let m = MemoryModel::new(&g, &opts(true, WorkspacePolicy::Planned));
    assert_eq!(m.peak(&[2, 0, 1, 3, 4]), None);
    // A valid permutation keeps tensors and outputs.
    let r = reorder(&g, &ids(&[1, 0, 3, 2, 4])).unwrap();
    assert_eq!(
        (r.tensors.clone(), r.outputs.clone()),
        (g.tensors.clone(), g.outputs.clone())
    );
    assert_eq!(r.nodes[0].name, "b1");
}

#[test]
fn exact_gives_up_at_its_state_cap_and_time_limit() {
    let g = two_branches();
    let m = MemoryModel::new(&g, &opts(false, WorkspacePolicy::Planned));
    assert_eq!(exact(&m, u64::MAX, LIMIT, 3), Err(Unfinished::StateCap));
    assert_eq!(
        exact(&m, 407, LIMIT, STATE_CAP),
        Err(Unfinished::NoOrderWithinBound { least_above: 408 })
    );
    let (order, peak, _) = exact(&m, u64::MAX, LIMIT, STATE_CAP).unwrap();
    assert_eq!((m.peak(&order), peak), (Some(408), 408));
    // A wide graph (12 branches widening then narrowing, the program order widening all
    // first) with no time at all stops on the clock, and `exact` keeps a heuristic's order.
    let mut b = GraphBuilder::new();
    let x = b.input("x", &[1, 1], DType::F32, Init::Constant(1.0));
    let mut wide = Vec::new();
    for k in 0..12 {
        let w = b.weight(&format!("w{k}"), &[1, 40 + k], k as u64, 0.1);
        wide.push(b.linear(&format!("a{k}"), x, w, None).unwrap());
    }
    let mut outs = Vec::new();
    for (k, &a) in wide.iter().enumerate() {
        let v = b.weight(&format!("v{k}"), &[40 + k, 1], k as u64, 0.1);
        outs.push(b.linear(&format!("n{k}"), a, v, None).unwrap());
    }
    let cat = b.op("cat", Op::Concat { axis: 1 }, &outs).unwrap();
    b.output(cat);
    let wide = b.build().unwrap();
    let m = MemoryModel::new(&wide, &opts(true, WorkspacePolicy::Planned));
    assert_eq!(
        exact(&m, u64::MAX, Duration::ZERO, STATE_CAP),
        Err(Unfinished::TimeLimit)
    );
    let s = schedule(
        &wide,
        Scheduler::Exact,
        &opts(true, WorkspacePolicy::Planned),
        Duration::ZERO,
    );
    assert_ne!(s.scheduler, Scheduler::Exact, "{:?}", s.note);
    assert!(
        s.note.as_deref().unwrap_or("").contains("time limit")
            && s.note
                .as_deref()
                .unwrap_or("")
                .contains("the optimum lies in ["),
        "{:?}",
        s.note
    );
}
