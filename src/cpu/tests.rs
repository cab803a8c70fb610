//! Whole-graph tests of the CPU reference: values flow through [`run`], outputs come back in
//! order, and bad graphs or ids are errors naming the node.

use super::*;
use crate::graph::{DType, GraphBuilder, GraphError, Init, TensorId};

#[test]
fn run_evaluates_a_small_graph() {
    // y = relu(x @ w + b) with x = [[1, -1]], w = I, b = [0.5, 0.5] -> [[1.5, 0]].
    let mut b = GraphBuilder::new();
    let x = b.input("x", &[1, 2], DType::F32, Init::Constant(1.0));
    let w = b.constant("w", &[2, 2], 1.0);
    let bias = b.constant("b", &[2], 0.5);
    let z = b.linear("fc", x, w, Some(bias)).unwrap();
    let y = b.relu("relu", z).unwrap();
    let r = b.reshape("flat", y, &[2]).unwrap();
    b.output(r);
    let g = b.build().unwrap();
    let values = run(&g).unwrap();
    assert_eq!(values.len(), g.tensors.len());
    // ones @ ones(2x2) + 0.5 = 2.5 everywhere.
    assert_eq!(
        values[z.index()].as_ref().and_then(TensorData::as_f32),
        Some(&[2.5f32, 2.5][..])
    );
    assert_eq!(
        run_outputs(&g).unwrap(),
        vec![TensorData::F32(vec![2.5, 2.5])]
    );
}

#[test]
fn outputs_may_repeat_and_include_weights() {
    let mut b = GraphBuilder::new();
    let x = b.input("x", &[2], DType::F32, Init::Constant(-1.0));
    let y = b.relu("r", x).unwrap();
    b.output(y);
    b.output(y);
    b.output(x);
    let g = b.build().unwrap();
    let outs = run_outputs(&g).unwrap();
    assert_eq!(outs.len(), 3);
    assert_eq!(outs[0], outs[1]);
    assert_eq!(outs[2], TensorData::F32(vec![-1.0, -1.0]));
}

#[test]
fn an_invalid_graph_is_a_graph_error() {
    let mut b = GraphBuilder::new();
    let x = b.input("x", &[2], DType::F32, Init::Constant(1.0));
    let y = b.relu("r", x).unwrap();
    b.output(y);
    let mut g = b.build().unwrap();
    g.nodes[0].inputs[0] = TensorId(42);
    assert!(matches!(
        run(&g),
        Err(CpuError::Graph(GraphError::DanglingTensor { .. }))
    ));
}

#[test]
fn an_out_of_range_id_names_the_node_and_id() {
    let mut b = GraphBuilder::new();
    let table = b.weight("table", &[4, 3], 1, 1.0);
    // Ids drawn in [0, 9): some are >= 4 for this seed.
    let ids = b.input("ids", &[16], DType::U32, Init::Ids { seed: 5, max: 9 });
    let e = b.op("tok_embed", Op::Embedding, &[table, ids]).unwrap();
    b.output(e);
    let g = b.build().unwrap();
    let err = run(&g).unwrap_err();
    assert!(
        matches!(err, CpuError::IdOutOfRange { rows: 4, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("tok_embed") && msg.contains("id "), "{msg}");
}

#[test]
fn a_huge_tensor_is_refused_not_allocated() {
    let mut b = GraphBuilder::new();
    let x = b.input("x", &[1 << 20, 1 << 20], DType::F32, Init::Constant(0.0));
    let y = b.relu("r", x).unwrap();
    b.output(y);
    let g = b.build().unwrap();
    assert!(matches!(run(&g), Err(CpuError::TooLarge { .. })));
}

#[test]
fn eval_node_checks_dtype_and_arity() {
    let s = Shape::new([2]);
    let d = TensorData::F32(vec![1.0, 2.0]);
    // Softmax with two inputs: an arity error from inference.
    assert!(matches!(
        eval_node(&Op::Softmax, &[(&s, &d), (&s, &d)], &s),
        Err(CpuError::Graph(_))
    ));
    // Embedding with f32 ids: a dtype error.
    let st = Shape::new([2, 1]);
    assert!(eval_node(&Op::Embedding, &[(&st, &d), (&s, &d)], &Shape::new([2, 1])).is_err());
}

#[test]
fn empty_outputs_are_empty_not_panics() {
    // A zero-sized dim: nothing to compute.
    let sa = Shape::new([0, 3, 5]);
    let empty = TensorData::F32(Vec::new());
    let add = Op::Binary(crate::graph::BinaryOp::Add);
    let out = eval_node(&add, &[(&sa, &empty), (&sa, &empty)], &sa).unwrap();
    assert!(out.is_empty());
    let perm = Op::Permute {
        perm: vec![2, 1, 0],
    };
    let out = eval_node(&perm, &[(&sa, &empty)], &Shape::new([5, 3, 0]));
    assert!(out.unwrap().is_empty());
    // A zero next to dims whose product overflows: strides would overflow, so it is refused
    // (as graph validation refuses it) with an error naming the shape, never a panic.
    let huge = Shape::new([0, 1 << 40, 1 << 40]);
    let err = eval_node(&add, &[(&huge, &empty), (&huge, &empty)], &huge).unwrap_err();
    assert!(err.to_string().contains("overflows"), "{err}");
}

#[test]
fn absurd_attributes_are_errors_not_overflows() {
    // Padding whose double overflows usize (checked in `window_out`).
    let (sx, sw) = (Shape::new([1, 1, 2, 2]), Shape::new([1, 1, 1, 1]));
    let (x, w) = (TensorData::F32(vec![0.0; 4]), TensorData::F32(vec![1.0]));
    let op = Op::Conv2d(crate::graph::Conv2dAttrs {
        stride: [1, 1],
        padding: [usize::MAX / 2 + 1, 0],
        dilation: [1, 1],
        ..Default::default()
    });
    assert!(eval_node(&op, &[(&sx, &x), (&sw, &w)], &sx).is_err());
}

#[test]
fn a_graph_beyond_the_host_memory_is_refused_with_its_estimate() {
    let mut b = crate::graph::GraphBuilder::new();
    let x = b.input("x", &[4, 8], DType::F32, crate::graph::Init::Constant(1.0));
    let a = b.relu("a", x).unwrap();
    b.output(a);
    let g = b.build().unwrap();
    let room = |bytes| HostMemory {
        bytes,
        source: "a test".into(),
    };
    // Peak until last use: x generated (256) then x and a together (256).
    assert_eq!(host_peak_bytes(&g, Retention::UntilLastUse), 256);
    assert_eq!(
        check_host_limits(&g, Retention::UntilLastUse, room(256)),
        Ok(())
    );
    let err = check_host_limits(&g, Retention::UntilLastUse, room(255)).unwrap_err();
    assert_eq!(
        err,
        CpuError::HostMemory {
            needed: 256,
            available: 255,
            origin: "a test".into()
        }
    );
    assert!(err.to_string().contains("256 bytes"), "{err}");
}

#[test]
fn run_outputs_matches_run_while_holding_less() {
    let g = crate::models::build("gpt", &crate::models::ModelOptions::default()).unwrap();
    let all = run(&g).unwrap();
    let outs = run_outputs(&g).unwrap();
    for (k, o) in g.outputs.iter().enumerate() {
        assert_eq!(all[o.index()].as_ref(), Some(&outs[k]));
    }
    assert!(host_peak_bytes(&g, Retention::UntilLastUse) < host_peak_bytes(&g, Retention::All));
}
