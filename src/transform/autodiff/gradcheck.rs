//! Finite-difference checks of backward rules on the CPU reference (tests only).
//!
//! [`gradient_errors`] builds one forward node, adds `dy` (uniform in [-1, 1)) and the rule's
//! backward nodes, evaluates everything with the CPU reference, and compares every element of
//! every gradient with the central difference `(L(x + e) - L(x - e)) / 2e` of
//! `L = sum(y * dy)`, with `e` = [`EPS`]; differences of `y` are taken elementwise in f64, so
//! outputs the step does not touch cancel exactly. An element fails when it is off by more than
//! [`TOL`] times the largest magnitude of that gradient.

use super::Rule;
use crate::cpu::{TensorData, eval_node, initial_data};
use crate::graph::{DType, Graph, GraphBuilder, GraphError, Init, Node, TensorId, TensorKind};

/// Finite-difference step.
pub(crate) const EPS: f32 = 1e-3;
/// Allowed error, relative to the largest magnitude of the gradient being checked.
pub(crate) const TOL: f64 = 2e-3;

/// An f32 input uniform in `[-1, 1)`.
pub(crate) fn f32_input(b: &mut GraphBuilder, name: &str, dims: &[usize], seed: u64) -> TensorId {
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
