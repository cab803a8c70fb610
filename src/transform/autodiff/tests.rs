//! Gradient checks: every backward rule against central finite differences of the loss on the
//! CPU reference, plus the structure of the training graph (order, accumulation, updates).
//!
//! Tolerance: the loss is an f32 computed with f64 accumulation, so one evaluation is off by
//! about 2^-24 |L| (plus the f32 rounding of the intermediate values, a few ulps each); the
//! central difference with step h = 1e-2 divides that by 2h (about 1e-5 |L| for |L| ~ 1) and
//! adds a truncation error h^2 |f'''| / 6 (about 2e-5 for the smooth ops here). A bound of
//! 2e-3 (1 + |g|) leaves two orders of magnitude above both, and is still far below the error
//! of a wrong rule (a missing transpose, factor or broadcast sum changes gradients by O(|g|)).

use super::*;
use crate::cpu::{TensorData, run, run_outputs_with};
use crate::graph::{BinaryOp, GraphBuilder, UnaryOp};

const H: f32 = 1e-2;

fn f32s(d: &Option<TensorData>) -> Vec<f32> {
    d.as_ref()
        .and_then(TensorData::as_f32)
        .expect("f32 value")
        .to_vec()
}

fn loss_with(tg: &TrainingGraph, p: TensorId, value: Vec<f32>) -> f64 {
    let out = run_outputs_with(&tg.graph, &[(p, TensorData::F32(value))]).expect("cpu run");
    f64::from(out[0].as_f32().expect("loss")[0])
}

/// Checks every gradient of `forward`'s weights (all of them, or 24 spread elements of large
/// ones) against central differences; returns the largest error seen.
fn grad_check(forward: &Graph, loss: Loss, what: &str) -> f64 {
    grad_check_away_from(forward, loss, what, None)
}

/// [`grad_check`], skipping weight elements within `2 H` of `kink` (where the difference
/// straddles relu's kink at 0 and measures neither side's slope).
fn grad_check_away_from(forward: &Graph, loss: Loss, what: &str, kink: Option<f32>) -> f64 {
    let opts = TrainOptions {
        loss,
        lr: 0.0,
        ..TrainOptions::default()
    };
    let tg = training_graph(forward, &opts).unwrap_or_else(|e| panic!("{what}: {e}"));
    let values = run(&tg.graph).expect("cpu run");
    let mut worst = 0.0f64;
    for (&p, &g) in tg.params.iter().zip(&tg.grads) {
        let (base, grad) = (f32s(&values[p.index()]), f32s(&values[g.index()]));
        let step = (base.len() / 24).max(1);
        for i in (0..base.len()).step_by(step) {
            if kink.is_some_and(|k| (base[i] - k).abs() < 2.0 * H) {
                continue;
            }
            let (mut plus, mut minus) = (base.clone(), base.clone());
            plus[i] += H;
            minus[i] -= H;
            let fd = (loss_with(&tg, p, plus) - loss_with(&tg, p, minus)) / (2.0 * f64::from(H));
            let an = f64::from(grad[i]);
            let err = (fd - an).abs();
            worst = worst.max(err);
            let name = &tg.graph.tensors[p.index()].name;
            assert!(
                err <= 2e-3 * (1.0 + an.abs()),
                "{what}: d loss / d {name}[{i}]: analytic {an}, finite difference {fd}"
            );
        }
    }
    worst
}

fn w(b: &mut GraphBuilder, name: &str, dims: &[usize], seed: u64) -> TensorId {
    b.weight(name, dims, seed, 1.0)
}

fn finish(mut b: GraphBuilder, y: TensorId) -> Graph {
    b.output(y);
    b.build().expect("graph")
}

#[test]
fn linear_and_matmul_every_transpose() {
    let mut b = GraphBuilder::new();
    let x = w(&mut b, "x", &[2, 3, 5], 1);
    let wt = w(&mut b, "w", &[5, 4], 2);
    let bias = w(&mut b, "bias", &[4], 3);
    let y = b.linear("fc", x, wt, Some(bias)).unwrap();
    grad_check(&finish(b, y), Loss::MeanSquared, "linear");
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        for shared in [false, true] {
            let mut b = GraphBuilder::new();
            let a = w(&mut b, "a", if ta { &[2, 5, 3] } else { &[2, 3, 5] }, 4);
            let bd: &[usize] = match (shared, tb) {
                (false, false) => &[2, 5, 4],
                (false, true) => &[2, 4, 5],
                (true, false) => &[5, 4],
                (true, true) => &[4, 5],
            };
            let m = w(&mut b, "b", bd, 5);
            let y = b.matmul("mm", a, m, ta, tb).unwrap();
            let what = format!("matmul ta={ta} tb={tb} shared={shared}");
            grad_check(&finish(b, y), Loss::MeanSquared, &what);
        }
    }
}

#[test]
fn broadcasting_binary_ops() {
    for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul] {
        let mut b = GraphBuilder::new();
        let x = w(&mut b, "x", &[2, 4, 3], 1);
        let y = w(&mut b, "y", &[4, 1], 2);
        let z = b.op("z", Op::Binary(op), &[x, y]).unwrap();
        grad_check(&finish(b, z), Loss::MeanSquared, &format!("{op:?}"));
    }
}

#[test]
fn unary_ops_and_a_tensor_read_twice() {
    for op in [UnaryOp::Relu, UnaryOp::Gelu, UnaryOp::Scale(-1.5)] {
        let mut b = GraphBuilder::new();
        let x = w(&mut b, "x", &[3, 7], 1);
        let y = b.op("u", Op::Unary(op), &[x]).unwrap();
        let kink = (op == UnaryOp::Relu).then_some(0.0);
        grad_check_away_from(&finish(b, y), Loss::MeanSquared, &format!("{op:?}"), kink);
    }
    // x read by three nodes (mul reads it twice): the gradients are summed.
    let mut b = GraphBuilder::new();
    let x = w(&mut b, "x", &[2, 5], 1);
    let sq = b.op("sq", Op::Binary(BinaryOp::Mul), &[x, x]).unwrap();
    let r = b.gelu("g", x).unwrap();
    let y = b.add("y", sq, r).unwrap();
    let g = finish(b, y);
    grad_check(&g, Loss::CrossEntropy, "x*x + gelu(x)");
    let tg = training_graph(&g, &TrainOptions::default()).unwrap();
    let adds = tg.graph.nodes[tg.forward_len..]
        .iter()
        .filter(|n| n.name.starts_with("x.grad+"))
        .count();
    assert_eq!(adds, 2, "three gradient parts, two accumulating adds");
}

#[test]
fn softmax_and_layernorm() {
    let mut b = GraphBuilder::new();
    let x = w(&mut b, "x", &[3, 6], 1);
    let y = b.op("sm", Op::Softmax, &[x]).unwrap();
    grad_check(&finish(b, y), Loss::MeanSquared, "softmax");
    let mut b = GraphBuilder::new();
    let x = w(&mut b, "x", &[2, 3, 6], 1);
    let gamma = w(&mut b, "gamma", &[6], 2);
    let beta = w(&mut b, "beta", &[6], 3);
    let y = b
        .op("ln", Op::LayerNorm { eps: 1e-5 }, &[x, gamma, beta])
        .unwrap();
    grad_check(&finish(b, y), Loss::CrossEntropy, "layernorm");
}

#[test]
fn reshape_permute_concat_embedding() {
    let mut b = GraphBuilder::new();
    let x = w(&mut b, "x", &[2, 3, 4], 1);
    let y = w(&mut b, "y", &[2, 2, 4], 2);
    let c = b.op("cat", Op::Concat { axis: 1 }, &[x, y]).unwrap();
    let p = b.permute("perm", c, &[2, 0, 1]).unwrap();
    let r = b.reshape("flat", p, &[8, 5]).unwrap();
    grad_check(&finish(b, r), Loss::CrossEntropy, "concat/permute/reshape");
    let mut b = GraphBuilder::new();
    let table = w(&mut b, "table", &[7, 3], 1);
    // 10 ids in [0, 7): repeats for this seed, so rows accumulate.
    let ids = b.input("ids", &[2, 5], DType::U32, Init::Ids { seed: 3, max: 7 });
    let e = b.op("emb", Op::Embedding, &[table, ids]).unwrap();
    grad_check(&finish(b, e), Loss::MeanSquared, "embedding");
}

#[test]
fn a_wrong_rule_fails_the_check() {
    // The check can fail: a matmul whose da forgets the transpose of b (dY b instead of
    // dY b^T) is only shape-correct when b is square, and then the values are wrong.
    let mut b = GraphBuilder::new();
    let a = w(&mut b, "a", &[3, 4], 1);
    let m = w(&mut b, "b", &[4, 4], 2);
    let y = b.matmul("mm", a, m, false, false).unwrap();
    let g = finish(b, y);
    let mut tg = training_graph(&g, &TrainOptions::default()).unwrap();
    let da = tg
        .graph
        .nodes
        .iter_mut()
        .find(|n| n.name == "mm.da")
        .unwrap();
    da.op = Op::MatMul {
        trans_a: false,
        trans_b: false,
    };
    let values = run(&tg.graph).unwrap();
    let grad = f32s(&values[tg.grads[0].index()]);
    let base = f32s(&values[tg.params[0].index()]);
    let mut worst = 0.0f64;
    for i in 0..base.len() {
        let (mut plus, mut minus) = (base.clone(), base.clone());
        plus[i] += H;
        minus[i] -= H;
        let fd = (loss_with(&tg, tg.params[0], plus) - loss_with(&tg, tg.params[0], minus))
            / (2.0 * f64::from(H));
        worst = worst.max((fd - f64::from(grad[i])).abs() / (1.0 + f64::from(grad[i]).abs()));
    }
    assert!(worst > 2e-3, "the broken rule went unnoticed ({worst})");
}

#[test]
fn structure_order_and_updates() {
    let mut b = GraphBuilder::new();
    let x = b.input(
        "x",
        &[4, 3],
        DType::F32,
        Init::Uniform {
            seed: 1,
            scale: 1.0,
        },
    );
    let w1 = w(&mut b, "w1", &[3, 5], 2);
    let h = b.linear("fc1", x, w1, None).unwrap();
    let r = b.relu("relu", h).unwrap();
    let unused = w(&mut b, "unused", &[2], 3);
    let g = finish(b, r);
    let opts = TrainOptions {
        lr: 0.5,
        momentum: 0.9,
        ..TrainOptions::default()
    };
    let tg = training_graph(&g, &opts).unwrap();
    assert_eq!(
        tg.forward_len,
        g.nodes.len() + 1,
        "forward nodes, then the loss"
    );
    assert_eq!(tg.graph.nodes[..g.nodes.len()], g.nodes[..]);
    assert_eq!(tg.params, vec![w1], "only weights the loss depends on");
    assert!(!tg.params.contains(&unused));
    let last: Vec<&str> = tg
        .graph
        .nodes
        .iter()
        .rev()
        .take(2)
        .map(|n| n.op.name())
        .collect();
    assert_eq!(last, ["sgd_step", "momentum_accumulate"]);
    // Every backward node reading w1 comes before its update.
    let upd = tg
        .graph
        .nodes
        .iter()
        .position(|n| n.name == "w1.sgd")
        .unwrap();
    assert!(
        tg.graph.nodes[upd + 1..]
            .iter()
            .all(|n| !n.inputs.contains(&w1))
    );
    // w1 after one step = w1 - lr * (0.9 * 0 + grad).
    let values = run(&tg.graph).unwrap();
    let (w0, gr) = (
        f32s(&values[w1.index()]),
        f32s(&values[tg.grads[0].index()]),
    );
    let after = f32s(&values[tg.graph.outputs[1].index()]);
    assert_eq!(tg.graph.outputs.len(), 3, "loss, w1 after, velocity after");
    for ((a, w0), g) in after.iter().zip(&w0).zip(&gr) {
        assert_eq!(*a, w0 + (-0.5) * g);
    }
    assert_eq!(in_place_updates(&tg.graph).len(), 2);
}

#[test]
fn reading_a_weight_after_its_update_is_refused() {
    let mut b = GraphBuilder::new();
    let x = w(&mut b, "x", &[3], 1);
    let g = w(&mut b, "g", &[3], 2);
    let x2 = b.op("x.sgd", Op::SgdStep { lr: 0.1 }, &[x, g]).unwrap();
    let late = b.relu("late", x).unwrap();
    b.output(x2);
    b.output(late);
    let err = b.build().unwrap_err().to_string();
    assert!(err.contains("`late`") && err.contains("x.sgd"), "{err}");
}

#[test]
fn an_op_without_a_rule_is_named() {
    // Every forward op of the built-in models has a rule; a backward op used forward has none.
    let mut b = GraphBuilder::new();
    let x = w(&mut b, "x", &[2, 5], 1);
    let shape = vec![5];
    let p = b.op("sum", Op::ReduceTo { shape }, &[x]).unwrap();
    let err = training_graph(&finish(b, p), &TrainOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            TransformError::NoRule {
                op: "reduce_to",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("`sum`"), "{err}");
}

#[test]
fn updates_run_as_soon_as_their_gradient_is_complete() {
    // Two layers: the second layer's weight is updated before the first layer's backward.
    let mut b = GraphBuilder::new();
    let x = b.input(
        "x",
        &[4, 3],
        DType::F32,
        Init::Uniform {
            seed: 1,
            scale: 1.0,
        },
    );
    let w1 = w(&mut b, "w1", &[3, 5], 2);
    let w2 = w(&mut b, "w2", &[5, 2], 3);
    let h = b.linear("fc1", x, w1, None).unwrap();
    let y = b.linear("fc2", h, w2, None).unwrap();
    let tg = training_graph(&finish(b, y), &TrainOptions::default()).unwrap();
    let at = |name: &str| tg.graph.nodes.iter().position(|n| n.name == name).unwrap();
    assert!(
        at("w2.sgd") < at("fc1.dw"),
        "w2's update precedes fc1's backward"
    );
    assert_eq!(tg.params, vec![w2, w1]);
}

#[test]
fn f16_weights_are_refused_with_one_line() {
    let g = crate::models::build("mlp", &crate::models::ModelOptions::default()).unwrap();
    let g16 = crate::transform::precision::cast_floats(&g, DType::F16).unwrap();
    let err = training_graph(&g16, &TrainOptions::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("is f16: training needs f32 weights"), "{err}");
    assert!(!err.contains('\n'), "{err}");
    assert!(training_graph(&g, &TrainOptions::default()).is_ok());
}

#[test]
fn five_sgd_steps_lower_an_mlp_loss() {
    let g = crate::models::build("mlp", &crate::models::ModelOptions::default()).unwrap();
    let tg = training_graph(&g, &TrainOptions::default()).unwrap();
    let updates = in_place_updates(&tg.graph);
    let mut given: Vec<(TensorId, TensorData)> = Vec::new();
    let mut losses = Vec::new();
    for _ in 0..6 {
        let out = run_outputs_with(&tg.graph, &given).unwrap();
        losses.push(out[0].as_f32().unwrap()[0]);
        given = updates
            .iter()
            .map(|&(w, after)| {
                let k = tg.graph.outputs.iter().position(|&o| o == after).unwrap();
                (w, out[k].clone())
            })
            .collect();
    }
    assert!(losses[5] < losses[0], "losses {losses:?}");
}

pub(crate) mod gradcheck {
    //! Finite-difference checks of backward rules on the CPU reference (tests only).
    //!
    //! [`gradient_errors`] builds one forward node, adds `dy` (uniform in [-1, 1)) and the rule's
    //! backward nodes, evaluates everything with the CPU reference, and compares every element of
    //! every gradient with the central difference `(L(x + e) - L(x - e)) / 2e` of
    //! `L = sum(y * dy)`, with `e` = [`EPS`]; differences of `y` are taken elementwise in f64, so
    //! outputs the step does not touch cancel exactly. An element fails when it is off by more than
    //! [`TOL`] times the largest magnitude of that gradient.

    use super::super::Rule;
    use crate::cpu::{TensorData, eval_node, initial_data};
    use crate::graph::{DType, Graph, GraphBuilder, GraphError, Init, Node, TensorId, TensorKind};

    /// Finite-difference step.
    pub(crate) const EPS: f32 = 1e-3;
    /// Allowed error, relative to the largest magnitude of the gradient being checked.
    pub(crate) const TOL: f64 = 2e-3;

    /// An f32 input uniform in `[-1, 1)`.
    pub(crate) fn f32_input(
        b: &mut GraphBuilder,
        name: &str,
        dims: &[usize],
        seed: u64,
    ) -> TensorId {
        b.input(name, dims, DType::F32, Init::Uniform { seed, scale: 1.0 })
    }

    /// `n` distinct values 0.01 apart in a scrambled order (`n` must be coprime to 37), so that no
    /// two elements tie within a finite-difference step.
    pub(crate) fn distinct(n: usize) -> Vec<f32> {
        (0..n).map(|i| (i * 37 % n) as f32 * 0.01 - 0.8).collect()
    }

    /// Every value of `graph`, with `overrides` (by tensor name) replacing initial values.
    fn evaluate(graph: &Graph, overrides: &[(&str, Vec<f32>)]) -> Vec<Option<TensorData>> {
        let mut values: Vec<Option<TensorData>> = graph
            .tensors
            .iter()
            .map(|t| {
                let own = overrides.iter().find(|(n, _)| *n == t.name);
                match (t.kind, own) {
                    (TensorKind::Activation, _) => None,
                    (_, Some((_, v))) => Some(TensorData::F32(v.clone())),
                    _ => Some(initial_data(t)),
                }
            })
            .collect();
        for node in &graph.nodes {
            let out = node.outputs[0];
            let result = {
                let inputs: Vec<_> = node
                    .inputs
                    .iter()
                    .map(|t| {
                        (
                            &graph.tensors[t.index()].shape,
                            values[t.index()].as_ref().unwrap(),
                        )
                    })
                    .collect();
                eval_node(&node.op, &inputs, &graph.tensors[out.index()].shape)
                    .unwrap_or_else(|e| panic!("{}: {e}", node.name))
            };
            values[out.index()] = Some(result);
        }
        values
    }

    /// The central difference of `sum(y * dy)` in element `e` of input `i` of `node`.
    fn central_difference(
        graph: &Graph,
        node: &Node,
        values: &[Option<TensorData>],
        (i, e): (usize, usize),
        dy: &[f32],
    ) -> f64 {
        let out_shape = &graph.tensors[node.outputs[0].index()].shape;
        let base = values[node.inputs[i].index()]
            .as_ref()
            .unwrap()
            .as_f32()
            .unwrap();
        let (mut plus, mut minus) = (base.to_vec(), base.to_vec());
        plus[e] += EPS;
        minus[e] -= EPS;
        let run = |moved: &[f32]| {
            let moved = TensorData::F32(moved.to_vec());
            let inputs: Vec<_> = node
                .inputs
                .iter()
                .enumerate()
                .map(|(k, t)| {
                    let data = if k == i {
                        &moved
                    } else {
                        values[t.index()].as_ref().unwrap()
                    };
                    (&graph.tensors[t.index()].shape, data)
                })
                .collect();
            let y = eval_node(&node.op, &inputs, out_shape).expect("forward");
            y.as_f32().unwrap().to_vec()
        };
        let (yp, ym) = (run(&plus), run(&minus));
        let dl: f64 = yp
            .iter()
            .zip(&ym)
            .zip(dy)
            .map(|((a, b), r)| (f64::from(*a) - f64::from(*b)) * f64::from(*r))
            .sum();
        dl / (f64::from(plus[e]) - f64::from(minus[e]))
    }

    /// Builds the forward node with `build` (the last node added), applies `rule`, and returns one
    /// line per gradient element that disagrees with finite differences (empty: all agree), with
    /// the largest relative error seen as the last line.
    pub(crate) fn gradient_errors(
        rule: Rule,
        build: impl FnOnce(&mut GraphBuilder) -> Result<TensorId, GraphError>,
        overrides: &[(&str, Vec<f32>)],
    ) -> Vec<String> {
        let mut b = GraphBuilder::new();
        let y = build(&mut b).expect("forward node");
        let node = b.graph().nodes.last().cloned().expect("a forward node");
        let ydims = b.shape(y).expect("y").dims().to_vec();
        let dy = f32_input(&mut b, "dy", &ydims, 77);
        let wanted: Vec<bool> = node
            .inputs
            .iter()
            .map(|t| b.graph().tensors[t.index()].dtype == DType::F32)
            .collect();
        let grads = rule(&mut b, &node, dy, &wanted).expect("rule");
        b.set_outputs(grads.iter().flatten().copied().collect());
        let graph = b.build().expect("valid backward graph");
        let values = evaluate(&graph, overrides);
        let r = values[dy.index()].as_ref().unwrap().as_f32().unwrap();
        let (mut bad, mut worst) = (Vec::new(), 0.0f64);
        assert_eq!(grads.len(), node.inputs.len(), "one entry per input");
        for (i, g) in grads.iter().enumerate() {
            let Some(g) = g else {
                assert!(!wanted[i], "input {i} wanted but no gradient");
                continue;
            };
            let analytic = values[g.index()].as_ref().unwrap().as_f32().unwrap();
            let scale = analytic
                .iter()
                .fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
            assert!(
                scale > 0.0,
                "input {i}: gradient is all zero, nothing is checked"
            );
            for (e, &a) in analytic.iter().enumerate() {
                let fd = central_difference(&graph, &node, &values, (i, e), r);
                let err = (fd - f64::from(a)).abs() / scale;
                worst = worst.max(err);
                if err > TOL {
                    bad.push(format!(
                        "input {i} element {e}: rule {a}, finite difference {fd}"
                    ));
                }
            }
        }
        bad.push(format!("largest relative error {worst:.2e}"));
        bad
    }

    /// Asserts that `rule` agrees with finite differences on the node `build` adds.
    pub(crate) fn check_rule(
        rule: Rule,
        build: impl FnOnce(&mut GraphBuilder) -> Result<TensorId, GraphError>,
        overrides: &[(&str, Vec<f32>)],
        what: &str,
    ) {
        let errors = gradient_errors(rule, build, overrides);
        assert_eq!(errors.len(), 1, "{what}: {errors:#?}");
        eprintln!("{what}: {}", errors[0]);
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::graph::{Op, PoolAttrs, PoolKind};
        use crate::transform::autodiff::{rules_attention, rules_pool};

        /// The pooling rule applied as if max pooling were average pooling.
        fn max_as_avg(
            b: &mut GraphBuilder,
            node: &Node,
            dy: TensorId,
            wanted: &[bool],
        ) -> Result<Vec<Option<TensorId>>, GraphError> {
            let mut node = node.clone();
            if let Op::Pool2d(a) = &mut node.op {
                a.kind = PoolKind::Avg;
            }
            rules_pool::backward(b, &node, dy, wanted)
        }

        /// The attention rule with d v returned as d k (same shapes, wrong values).
        fn dv_as_dk(
            b: &mut GraphBuilder,
            node: &Node,
            dy: TensorId,
            wanted: &[bool],
        ) -> Result<Vec<Option<TensorId>>, GraphError> {
            let mut g = rules_attention::backward(b, node, dy, wanted)?;
            g[1] = g[2];
            Ok(g)
        }

        #[test]
        fn wrong_rules_are_caught() {
            let pool = |b: &mut GraphBuilder| {
                let x = f32_input(b, "x", &[1, 2, 5, 5], 1);
                let attrs = PoolAttrs {
                    kind: PoolKind::Max,
                    kernel: [2, 2],
                    stride: [2, 2],
                    padding: [0, 0],
                };
                b.op("pool", Op::Pool2d(attrs), &[x])
            };
            let errors = gradient_errors(max_as_avg, pool, &[("x", distinct(50))]);
            assert!(errors.len() > 1, "{errors:?}");
            let attention = |b: &mut GraphBuilder| {
                let q = f32_input(b, "q", &[1, 1, 3, 2], 1);
                let k = f32_input(b, "k", &[1, 1, 3, 2], 2);
                let v = f32_input(b, "v", &[1, 1, 3, 2], 3);
                let op = Op::Attention {
                    causal: true,
                    scale: 0.5,
                    kernel: Default::default(),
                };
                b.op("attn", op, &[q, k, v])
            };
            let errors = gradient_errors(dv_as_dk, attention, &[]);
            assert!(
                errors.iter().any(|e| e.starts_with("input 1 ")),
                "{errors:?}"
            );
            assert!(
                !errors.iter().any(|e| e.starts_with("input 2 ")),
                "{errors:?}"
            );
        }
    }
}
