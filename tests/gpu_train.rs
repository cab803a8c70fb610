//! The training-graph kernels on the GPU (lavapipe in CI) against the CPU reference, on shapes
//! that are not multiples of the workgroup size (256): reduce_to, the unary, softmax, layer-norm
//! and embedding gradients, slice, both losses and their gradients, and the in-place SGD and
//! momentum updates (whose output is the weight's own storage); then whole training steps in
//! one buffer against the reference's steps, and the clobber check around in-place updates.

mod common;

use common::{check_layouts, gpu, naive};
use tessera::cpu::TensorData;
use tessera::execute::clobber_check;
use tessera::graph::{DType, Graph, GraphBuilder, Init, Op, TensorId, UnaryOp};
use tessera::layout::MemoryLayout;
use tessera::runtime::{Fault, compile, compile_with_fault};
use tessera::transform::autodiff::{TrainOptions, in_place_updates, training_graph};

fn input(b: &mut GraphBuilder, name: &str, dims: &[usize], seed: u64) -> TensorId {
    b.input(name, dims, DType::F32, Init::Uniform { seed, scale: 1.0 })
}

fn ids(b: &mut GraphBuilder, dims: &[usize], max: u32) -> TensorId {
    b.input("ids", dims, DType::U32, Init::Ids { seed: 7, max })
}

fn single(dims: &[&[usize]], op: Op) -> Graph {
    let mut b = GraphBuilder::new();
    let ins: Vec<_> = dims
        .iter()
        .enumerate()
        .map(|(i, d)| input(&mut b, &format!("x{i}"), d, 11 + i as u64))
        .collect();
    let y = b.op("y", op, &ins).expect("valid op");
    b.output(y);
    b.build().expect("valid graph")
}

#[test]
fn reduce_to_every_kind_of_axis() {
    for (x, to) in [
        (&[5usize, 3, 37][..], &[3usize, 1][..]),
        (&[5, 3, 37], &[37]),
        (&[300, 7], &[1, 7]),
        (&[2, 3, 5, 7], &[2, 1, 5, 1]),
        (&[4, 300], &[4, 300]),
    ] {
        let g = single(&[x], Op::ReduceTo { shape: to.to_vec() });
        check_layouts(&g, None, &format!("reduce_to {x:?} -> {to:?}"));
    }
}

#[test]
fn unary_backward_each_op() {
    for op in [UnaryOp::Relu, UnaryOp::Gelu, UnaryOp::Scale(-1.75)] {
        let g = single(&[&[3, 347], &[3, 347]], Op::UnaryBackward(op));
        check_layouts(&g, None, &format!("{op:?} backward"));
    }
}

#[test]
fn softmax_and_layernorm_backward_rows() {
    for dims in [[7usize, 300], [13, 9], [300, 5]] {
        let g = single(&[&dims, &dims], Op::SoftmaxBackward);
        check_layouts(&g, None, &format!("softmax backward {dims:?}"));
        let g = single(
            &[&dims, &[dims[1]], &dims],
            Op::LayerNormBackward { eps: 1e-5 },
        );
        check_layouts(&g, None, &format!("layernorm backward {dims:?}"));
    }
}

#[test]
fn slice_of_a_middle_axis() {
    let op = Op::Slice {
        axis: 1,
        start: 4,
        len: 5,
    };
    check_layouts(&single(&[&[3, 11, 37]], op), None, "slice axis 1");
    let op = Op::Slice {
        axis: 0,
        start: 1,
        len: 2,
    };
    check_layouts(&single(&[&[3, 301]], op), None, "slice axis 0");
}

#[test]
fn mse_and_its_gradient() {
    check_layouts(&single(&[&[3, 347], &[3, 347]], Op::MseLoss), None, "mse");
    let g = single(&[&[3, 347], &[3, 347], &[1]], Op::MseLossBackward);
    check_layouts(&g, None, "mse backward");
}

#[test]
fn cross_entropy_and_its_gradient() {
    for (rows, classes) in [(300usize, 37usize), (13, 300), (1, 5)] {
        let mut b = GraphBuilder::new();
        let x = input(&mut b, "logits", &[rows, classes], 1);
        let l = ids(&mut b, &[rows], classes as u32);
        let loss = b.op("ce", Op::SoftmaxCrossEntropy, &[x, l]).expect("ce");
        let dl = input(&mut b, "dloss", &[1], 2);
        let dx = b
            .op("dce", Op::SoftmaxCrossEntropyBackward, &[x, l, dl])
            .expect("ce backward");
        b.output(loss);
        b.output(dx);
        let g = b.build().expect("graph");
        check_layouts(&g, None, &format!("cross-entropy {rows}x{classes}"));
    }
}

#[test]
fn embedding_backward_scatter_adds_repeated_ids() {
    let mut b = GraphBuilder::new();
    // 291 ids over a 50-row table: every row is hit several times.
    let i = ids(&mut b, &[3, 97], 50);
    let dy = input(&mut b, "dy", &[3, 97, 13], 1);
    let y = b
        .op("dtable", Op::EmbeddingBackward { vocab: 50 }, &[i, dy])
        .expect("embedding backward");
    b.output(y);
    check_layouts(&b.build().expect("graph"), None, "embedding backward");
}

#[test]
fn sgd_and_momentum_rewrite_the_weight_in_place() {
    let mut b = GraphBuilder::new();
    let w = b.weight("w", &[3, 347], 1, 1.0);
    let v = b.weight("v", &[3, 347], 2, 1.0);
    let g = input(&mut b, "g", &[3, 347], 3);
    let v2 = b
        .op(
            "v.momentum",
            Op::MomentumAccumulate { momentum: 0.9 },
            &[v, g],
        )
        .expect("momentum");
    let w2 = b
        .op("w.sgd", Op::SgdStep { lr: 0.25 }, &[w, v2])
        .expect("sgd");
    b.output(w2);
    b.output(v2);
    let graph = b.build().expect("graph");
    let layout = naive(&graph);
    // The updated tensors live at the weights' offsets: nothing new in the arena.
    assert_eq!(layout.offset(w2), layout.offset(w));
    assert_eq!(layout.offset(v2), layout.offset(v));
    check_layouts(&graph, None, "momentum + sgd");
}

/// A two-layer training graph (x -> fc1 -> relu -> fc2, same-shaped weights) and its naive
/// layout.
fn two_layer_training() -> (tessera::transform::autodiff::TrainingGraph, MemoryLayout) {
    let mut b = GraphBuilder::new();
    let x = input(&mut b, "x", &[3, 5], 1);
    let w1 = b.weight("w1", &[5, 5], 2, 0.5);
    let w2 = b.weight("w2", &[5, 5], 3, 0.5);
    let h = b.linear("fc1", x, w1, None).expect("fc1");
    let r = b.relu("relu", h).expect("relu");
    let y = b.linear("fc2", r, w2, None).expect("fc2");
    b.output(y);
    let g = b.build().expect("graph");
    let tg = training_graph(&g, &TrainOptions::default()).expect("training graph");
    let layout = naive(&tg.graph);
    (tg, layout)
}

#[test]
fn the_clobber_check_accepts_updates_and_catches_one_that_writes_elsewhere() {
    let (tg, layout) = two_layer_training();
    let g = &tg.graph;
    let clean = compile(gpu(), g, &layout).expect("compile");
    let report = clobber_check(gpu(), &clean, g, &layout).expect("clobber check");
    assert_eq!(report.failure, None, "in-place updates are legitimate");
    // w1's update moved onto w2's bytes: w2 changes after a node that should not touch it.
    let (w1, w2) = (tg.params[1], tg.params[0]);
    assert_eq!(g.tensors[w2.index()].name, "w2");
    let sgd = g
        .node_ids()
        .find(|&n| g.node(n).name == "w1.sgd")
        .expect("w1.sgd");
    let fault = Fault {
        node: sgd,
        shift_output_bytes: layout.offset(w2) as i64 - layout.offset(w1) as i64,
    };
    let faulty = compile_with_fault(gpu(), g, &layout, fault).expect("compile");
    let report = clobber_check(gpu(), &faulty, g, &layout).expect("clobber check");
    let c = report.failure.expect("the stray update is caught");
    assert_eq!((c.tensor, c.node), (w2, sgd), "{c}");
}

#[test]
fn steps_in_one_buffer_match_the_reference_steps() {
    // Three steps on one compiled buffer against three CPU reference steps, each carrying the
    // updated weights into the next: the losses and final weights agree within 1e-5 (f32
    // kernels against f64-accumulating reference loops over a few dozen terms).
    let (tg, layout) = two_layer_training();
    let g = &tg.graph;
    let compiled = compile(gpu(), g, &layout).expect("compile");
    let mut given: Vec<(TensorId, TensorData)> = Vec::new();
    for step in 0..3 {
        let got = compiled.run(gpu()).expect("run");
        let want = tessera::cpu::run_outputs_with(g, &given).expect("cpu step");
        for (k, (o, w)) in got.outputs.iter().zip(&want).enumerate() {
            for (a, b) in o.to_f32().iter().zip(w.as_f32().expect("f32")) {
                assert!((a - b).abs() <= 1e-5, "step {step}, output {k}: {a} vs {b}");
            }
        }
        given = in_place_updates(g)
            .into_iter()
            .map(|(w, after)| {
                let k = g.outputs.iter().position(|&o| o == after).expect("output");
                (w, want[k].clone())
            })
            .collect();
    }
}
