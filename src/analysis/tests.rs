//! Hand-derived checks of liveness, in-place grouping and workspace policies.

use super::*;
use crate::graph::{Conv2dAttrs, DType, GraphBuilder, Init, Op};
use crate::plan::{Budget, PlanError, lower_bound, planner_by_name, validate};

/// x -> relu a -> relu b -> add(b, x) c (output). Sizes 4*6 = 24 bytes each.
fn chain() -> crate::graph::Graph {
    let mut g = GraphBuilder::new();
    let x = g.input("x", &[6], DType::F32, Init::Constant(1.0));
    let a = g.relu("a", x).unwrap();
    let b = g.relu("b", a).unwrap();
    let c = g.add("c", b, x).unwrap();
    g.output(c);
    g.build().unwrap()
}

#[test]
fn lifetimes_are_half_open_over_steps() {
    let g = chain();
    let live = liveness(&g);
    // x is an input read last at step 2 -> [0, 3); a made at 0 read at 1 -> [0, 2);
    // b made at 1 read at 2 -> [1, 3); c is an output made at 2 -> [2, 3).
    let iv: Vec<_> = g.tensor_ids().map(|t| live.interval(&g, t)).collect();
    assert_eq!(
        iv,
        vec![Some((0, 3)), Some((0, 2)), Some((1, 3)), Some((2, 3))]
    );
    assert_eq!(live.refcount, vec![2, 1, 1, 0]);
}

#[test]
fn in_place_merges_dying_inputs_but_never_graph_inputs_or_outputs() {
    let g = chain();
    let opts = AnalysisOptions {
        alignment: 4,
        in_place: true,
        workspace: WorkspacePolicy::Planned,
        streamed_inputs: false,
    };
    let m = analyze(&g, &opts).unwrap();
    // relu a reads the graph input x: not in place. relu b over a: in place. add c over b:
    // in place (b dies at step 2, same shape); x is read by c but is input 1.
    assert_eq!(m.in_place_nodes.len(), 2);
    assert_eq!(m.problem.buffers.len(), 2); // {x}, {a, b, c}
    assert_eq!(m.tensor_buffer[1], m.tensor_buffer[3]);
    let off = AnalysisOptions {
        in_place: false,
        ..opts
    };
    let m2 = analyze(&g, &off).unwrap();
    assert!(m2.in_place_nodes.is_empty());
    assert_eq!(m2.problem.buffers.len(), 4);
    assert!(lower_bound(&m.problem) < lower_bound(&m2.problem));
}

fn conv_pair() -> crate::graph::Graph {
    let mut g = GraphBuilder::new();
    let x = g.input("x", &[1, 2, 5, 5], DType::F32, Init::Constant(1.0));
    let w1 = g.weight("w1", &[3, 2, 3, 3], 1, 0.1);
    let w2 = g.weight("w2", &[2, 3, 1, 1], 2, 0.1);
    let attrs = Conv2dAttrs {
        stride: [1, 1],
        padding: [1, 1],
        dilation: [1, 1],
        ..Default::default()
    };
    let c1 = g.op("c1", Op::Conv2d(attrs), &[x, w1]).unwrap();
    let pointwise = Conv2dAttrs {
        padding: [0, 0],
        ..attrs
    };
    let c2 = g.op("c2", Op::Conv2d(pointwise), &[c1, w2]).unwrap();
    g.output(c2);
    g.build().unwrap()
}

#[test]
fn workspace_policies_size_as_documented() {
    let g = conv_pair();
    // c1 im2col: [2*3*3, 25] floats = 1800 bytes; c2: [3*1*1, 25] = 300 bytes.
    let mk = |ws| {
        analyze(
            &g,
            &AnalysisOptions {
                alignment: 4,
                in_place: true,
                workspace: ws,
                streamed_inputs: false,
            },
        )
        .unwrap()
    };
    let planned = mk(WorkspacePolicy::Planned);
    assert_eq!(planned.workspace_request, vec![1800, 300]);
    assert_eq!(planned.workspace_bytes, 2100);
    let global = mk(WorkspacePolicy::Global);
    assert_eq!(global.workspace_bytes, 1800);
    let ws = global.problem.buffers.last().unwrap();
    assert_eq!((ws.lifetime.start, ws.lifetime.end), (0, 2));
    let grouped = mk(WorkspacePolicy::Grouped);
    assert_eq!(grouped.workspace_bytes, 1800);
    assert_eq!(grouped.node_workspace[0], grouped.node_workspace[1]);
}

#[test]
fn every_planner_plans_the_analysed_problem_validly() {
    let g = conv_pair();
    let m = analyze(
        &g,
        &AnalysisOptions {
            alignment: 32,
            ..AnalysisOptions::default()
        },
    )
    .unwrap();
    let budget = Budget {
        time_limit: std::time::Duration::from_millis(50),
    };
    for name in crate::plan::planner_names() {
        let p = planner_by_name(name)
            .unwrap()
            .plan(&m.problem, &budget)
            .unwrap();
        validate(&m.problem, &p.plan).unwrap();
        assert!(p.plan.arena_bytes >= lower_bound(&m.problem), "{name}");
    }
}

#[test]
fn bad_alignments_are_errors() {
    let g = chain();
    for (align, needle) in [(0, "at least 1"), (3, "power of two"), (1 << 63, "2^32")] {
        let opts = AnalysisOptions {
            alignment: align,
            ..AnalysisOptions::default()
        };
        let err = analyze(&g, &opts).unwrap_err();
        assert!(
            matches!(err, PlanError::Alignment { .. }) && err.to_string().contains(needle),
            "{err}"
        );
    }
}

#[test]
fn a_footprint_past_2_64_is_an_error() {
    let mut b = GraphBuilder::new();
    let x = b.input("x", &[2], DType::F32, Init::Constant(1.0));
    b.weight("w0", &[4], 1, 0.1);
    b.weight("w1", &[4], 2, 0.1);
    let y = b.relu("y", x).unwrap();
    b.output(y);
    let mut g = b.build().unwrap();
    // Two weights of 2^63 bytes: their sum overflows, and validation says so.
    g.tensors[1].shape = crate::graph::Shape::new([1usize << 61]);
    g.tensors[2].shape = crate::graph::Shape::new([1usize << 61]);
    assert!(matches!(
        g.validate(),
        Err(crate::graph::GraphError::TooLarge { .. })
    ));
    // 2^63 - 4 and 2^63 - 128 bytes fit in a u64 together, but not once each is padded to
    // the 256-byte alignment: analysis must refuse, naming the weight that overflows.
    g.tensors[1].shape = crate::graph::Shape::new([(1usize << 61) - 1]);
    g.tensors[2].shape = crate::graph::Shape::new([(1usize << 61) - 32]);
    g.validate().unwrap();
    let err = analyze(&g, &AnalysisOptions::default()).unwrap_err();
    assert!(matches!(err, PlanError::SizeOverflow { .. }), "{err}");
    assert!(
        err.to_string().contains("weight region up to `w1`"),
        "{err}"
    );
}

/// x -> relu a -> relu b; y -> reshape v (a view) ; add(b, v) c (output). 24 bytes each.
fn late_input() -> crate::graph::Graph {
    let mut g = GraphBuilder::new();
    let x = g.input("x", &[6], DType::F32, Init::Constant(1.0));
    let a = g.relu("a", x).unwrap();
    let b = g.relu("b", a).unwrap();
    let y = g.input("y", &[2, 3], DType::F32, Init::Constant(2.0));
    let v = g.reshape("v", y, &[6]).unwrap();
    let c = g.add("c", b, v).unwrap();
    g.output(c);
    g.build().unwrap()
}

#[test]
fn streamed_inputs_live_from_their_first_reader_views_included() {
    let g = late_input();
    let uploaded = liveness(&g);
    let streamed = liveness_with(&g, true);
    let (x, y) = (crate::graph::TensorId(0), crate::graph::TensorId(3));
    // Uploaded before the run: both live from step 0. Streamed: x from its reader at step 0,
    // y from its view's step 2 (the reshape reads it there), both until their last reader.
    assert_eq!(uploaded.interval(&g, x), Some((0, 1)));
    assert_eq!(uploaded.interval(&g, y), Some((0, 4)));
    assert_eq!(streamed.interval(&g, x), Some((0, 1)));
    assert_eq!(streamed.interval(&g, y), Some((2, 4)));
    assert_eq!(streamed.first_use[y.index()], Some(2));
    let opts = |streamed_inputs| AnalysisOptions {
        alignment: 4,
        streamed_inputs,
        ..AnalysisOptions::default()
    };
    let before = analyze(&g, &opts(false)).unwrap();
    let after = analyze(&g, &opts(true)).unwrap();
    let span = |m: &MemoryAnalysis| {
        let b = &m.problem.buffers[m.tensor_buffer[y.index()].unwrap().index()];
        (b.lifetime.start, b.lifetime.end)
    };
    assert_eq!((span(&before), span(&after)), ((0, 4), (2, 4)));
    let p = planner_by_name("exact")
        .unwrap()
        .plan(&after.problem, &Budget::default())
        .unwrap();
    let layout = crate::layout::planned_layout(&g, &after, &p.plan, 4).unwrap();
    let at: Vec<(u32, u64)> = layout
        .streamed_inputs
        .iter()
        .map(|s| (s.tensor.0, s.step))
        .collect();
    assert_eq!(at, vec![(0, 0), (3, 2)]);
    assert_eq!(layout.staging_bytes(&g), 48);
    let plain = crate::layout::planned_layout(&g, &before, &p.plan, 4);
    assert!(plain.is_err() || plain.unwrap().streamed_inputs.is_empty());
}
