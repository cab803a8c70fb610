//! Autodiff as a graph transform: a forward graph with a loss becomes a training graph with
//! the forward nodes first (in their order), then the backward nodes in reverse order of the
//! forward ones (gradients of a tensor with several readers summed by `Add` in that order),
//! with one SGD update per trained weight (optionally after a momentum accumulation) that
//! rewrites the weight's bytes in place. Each update runs as soon as its weight's gradient is
//! complete (after the backward rule of the weight's first reader), not after the whole
//! backward pass: no later node reads the weight, and the gradient then dies at once instead
//! of every gradient living until the end of the step (PyTorch's optimizer-in-backward).
//!
//! The backward rule of each op family lives in a `rules_*.rs` file with one signature (see
//! [`Rule`]); [`training_graph`] calls them by op. The gradient is checked against finite
//! differences on the CPU reference in `tests.rs`.

mod error;
pub(crate) mod rules_attention;
pub(crate) mod rules_conv;
mod rules_elementwise;
mod rules_layout;
mod rules_linear;
mod rules_loss;
mod rules_norm;
pub(crate) mod rules_pool;
#[cfg(test)]
mod tests;

pub use error::TransformError;

use crate::graph::{DType, Graph, GraphBuilder, GraphError, Init, Node, Op, TensorId, TensorKind};
use std::collections::HashMap;

/// The signature every backward rule has: adds the nodes computing d loss / d (each input of
/// `node`) given `dy` = d loss / d output; `wanted[i]` says whether input i needs a gradient;
/// returns one entry per input.
pub type Rule =
    fn(&mut GraphBuilder, &Node, TensorId, &[bool]) -> Result<Vec<Option<TensorId>>, GraphError>;

/// The loss appended to a forward graph whose first output is not already a loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Softmax cross-entropy over the last axis against synthetic u32 labels (mean over rows).
    CrossEntropy,
    /// Mean squared error against a synthetic target of the output's shape.
    MeanSquared,
}

impl Loss {
    /// `cross-entropy` or `mse`.
    pub fn name(self) -> &'static str {
        match self {
            Loss::CrossEntropy => "cross-entropy",
            Loss::MeanSquared => "mse",
        }
    }
}

/// How [`training_graph`] builds the training step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainOptions {
    /// The loss on the forward graph's first output (unless that output already is a loss).
    pub loss: Loss,
    /// SGD learning rate.
    pub lr: f32,
    /// Momentum factor (0: plain SGD, no velocity buffers).
    pub momentum: f32,
    /// Seed of the synthetic targets (labels or regression target): fixed, so every step and
    /// every run sees the same batch.
    pub target_seed: u64,
}

impl Default for TrainOptions {
    /// Cross-entropy, learning rate 0.1, no momentum, target seed 9.
    fn default() -> Self {
        TrainOptions {
            loss: Loss::CrossEntropy,
            lr: 0.1,
            momentum: 0.0,
            target_seed: 9,
        }
    }
}

/// A training step as one graph.
#[derive(Clone, Debug)]
pub struct TrainingGraph {
    /// Forward nodes first, then backward nodes with the updates among them (each right after
    /// its weight's gradient is complete; see the module docs).
    pub graph: Graph,
    /// `graph.nodes[..forward_len]` = the forward pass incl. the loss, in the forward graph's
    /// order; every node after it is backward or an optimizer update.
    pub forward_len: usize,
    /// Scalar `[1]` f32.
    pub loss: TensorId,
    /// Trained weights (TensorKind of weights), updated in place.
    pub params: Vec<TensorId>,
    /// `grads[i]` is d loss / d `params[i]`.
    pub grads: Vec<TensorId>,
}

/// Builds the training graph of `forward` (see the module docs). Its outputs are the loss and
/// the updated weights and velocities (views of their storage, so they cost no arena).
pub fn training_graph(
    forward: &Graph,
    opts: &TrainOptions,
) -> Result<TrainingGraph, TransformError> {
    forward.validate()?;
    if !opts.lr.is_finite() || !opts.momentum.is_finite() {
        return Err(TransformError::Options(format!(
            "learning rate {} and momentum {} must be finite",
            opts.lr, opts.momentum
        )));
    }
    if let Some(w) = forward
        .tensors
        .iter()
        .find(|t| t.kind == TensorKind::Weight && t.dtype == DType::F16)
    {
        return Err(TransformError::Options(format!(
            "weight `{}` is f16: training needs f32 weights (f16 training would need f32 master \
             weights, mixed precision, which is not built)",
            w.name
        )));
    }
    let params = trainable(forward);
    let mut b = GraphBuilder::from_graph(forward.clone());
    let loss = add_loss(&mut b, forward, opts.loss, opts.target_seed)?;
    let forward_len = b.graph().nodes.len();
    let wanted = wanted(b.graph(), &params, loss);
    let seed = b.constant("loss.seed", &[1], 1.0);
    let done = last_backward_reader(b.graph(), forward_len, &params);
    let mut pass = Backward {
        grad: HashMap::from([(loss, seed)]),
        done,
        opts,
        params: Vec::new(),
        grads: Vec::new(),
        outputs: vec![loss],
    };
    pass.run(&mut b, forward_len, &wanted)?;
    let Backward {
        params: kept,
        grads,
        outputs,
        ..
    } = pass;
    if kept.is_empty() {
        return Err(TransformError::NoParams);
    }
    b.set_outputs(outputs);
    Ok(TrainingGraph {
        graph: b.build()?,
        forward_len,
        loss,
        params: kept,
        grads,
    })
}

/// The f32 weights of `g`, in tensor order.
fn trainable(g: &Graph) -> Vec<TensorId> {
    g.tensor_ids()
        .filter(|t| {
            let x = &g.tensors[t.index()];
            x.kind == TensorKind::Weight && x.dtype == DType::F32
        })
        .collect()
}

/// The loss tensor: the forward graph's first output when a loss op produces it, else `loss`
/// appended on that output (on a final softmax's input for cross-entropy) with a synthetic
/// target (an input with a fixed seed).
fn add_loss(
    b: &mut GraphBuilder,
    forward: &Graph,
    loss: Loss,
    seed: u64,
) -> Result<TensorId, TransformError> {
    let out = *forward.outputs.first().ok_or(TransformError::NoOutput)?;
    let producer = forward.producers()[out.index()].map(|n| &forward.node(n).op);
    if matches!(producer, Some(Op::SoftmaxCrossEntropy | Op::MseLoss)) {
        return Ok(out);
    }
    // Cross-entropy applies its own softmax: on a classifier ending in softmax it takes the
    // logits (the final softmax still runs, but no gradient flows through it).
    let out = match (loss, producer, forward.producers()[out.index()]) {
        (Loss::CrossEntropy, Some(Op::Softmax), Some(n)) => forward.node(n).inputs[0],
        _ => out,
    };
    let t = forward.tensor(out)?;
    let dims = t.shape.dims().to_vec();
    Ok(match loss {
        Loss::CrossEntropy => {
            let (&classes, lead) = dims.split_last().ok_or_else(|| {
                TransformError::Options(format!(
                    "cross-entropy needs logits of rank >= 1; `{}` is a scalar",
                    t.name
                ))
            })?;
            let max = u32::try_from(classes).map_err(|_| {
                TransformError::Options(format!("{classes} classes do not fit u32 labels"))
            })?;
            let labels = b.input("labels", lead, DType::U32, Init::Ids { seed, max });
            b.op("loss", Op::SoftmaxCrossEntropy, &[out, labels])?
        }
        Loss::MeanSquared => {
            let target = b.input(
                "target",
                &dims,
                DType::F32,
                Init::Uniform { seed, scale: 1.0 },
            );
            b.op("loss", Op::MseLoss, &[out, target])?
        }
    })
}

/// Which tensors need a gradient: those that depend on a trained weight and that the loss
/// depends on.
fn wanted(g: &Graph, params: &[TensorId], loss: TensorId) -> Vec<bool> {
    let n = g.tensors.len();
    let mut depends = vec![false; n];
    for &p in params {
        depends[p.index()] = true;
    }
    for node in &g.nodes {
        if node.inputs.iter().any(|t| depends[t.index()]) {
            for &o in &node.outputs {
                depends[o.index()] = true;
            }
        }
    }
    let mut useful = vec![false; n];
    useful[loss.index()] = true;
    for node in g.nodes.iter().rev() {
        if node.outputs.iter().any(|o| useful[o.index()]) {
            for &i in &node.inputs {
                useful[i.index()] = true;
            }
        }
    }
    (0..n).map(|i| depends[i] && useful[i]).collect()
}

/// For each weight, the forward node whose backward rule is the last to see it: the first
/// node (in forward order) reading its storage. Once that rule has run, the weight's gradient
/// is complete and no later backward node reads the weight, so its update can run at once
/// (its gradient dies there instead of living until the end of the step).
fn last_backward_reader(
    g: &Graph,
    forward_len: usize,
    params: &[TensorId],
) -> HashMap<usize, Vec<TensorId>> {
    let mut root: Vec<TensorId> = g.tensor_ids().collect();
    let mut first: HashMap<TensorId, usize> = HashMap::new();
    for (k, node) in g.nodes[..forward_len].iter().enumerate() {
        for &t in &node.inputs {
            first.entry(root[t.index()]).or_insert(k);
        }
        if node.op.is_view()
            && let (Some(&src), Some(&out)) = (node.inputs.first(), node.outputs.first())
        {
            root[out.index()] = root[src.index()];
        }
    }
    let mut done: HashMap<usize, Vec<TensorId>> = HashMap::new();
    for &p in params {
        if let Some(&k) = first.get(&p) {
            done.entry(k).or_default().push(p);
        }
    }
    done
}

/// The state of the backward pass.
struct Backward<'a> {
    /// The gradient (so far) of every tensor that has one.
    grad: HashMap<TensorId, TensorId>,
    /// Weights whose gradient is complete after the rule of forward node `k`.
    done: HashMap<usize, Vec<TensorId>>,
    opts: &'a TrainOptions,
    /// Updated weights, in update order, their gradients, and the graph outputs.
    params: Vec<TensorId>,
    grads: Vec<TensorId>,
    outputs: Vec<TensorId>,
}

impl Backward<'_> {
    /// Adds the backward nodes of `graph.nodes[..forward_len]` in reverse order, each weight's
    /// update right after its gradient is complete.
    fn run(
        &mut self,
        b: &mut GraphBuilder,
        forward_len: usize,
        wanted: &[bool],
    ) -> Result<(), TransformError> {
        for k in (0..forward_len).rev() {
            let node = b.graph().nodes[k].clone();
            self.node(b, &node, wanted)?;
            for p in self.done.remove(&k).unwrap_or_default() {
                if let Some(&g) = self.grad.get(&p) {
                    self.outputs.extend(update(b, p, g, self.opts)?);
                    self.params.push(p);
                    self.grads.push(g);
                }
            }
        }
        Ok(())
    }

    /// The backward rule of one forward node, its input gradients accumulated.
    fn node(
        &mut self,
        b: &mut GraphBuilder,
        node: &Node,
        wanted: &[bool],
    ) -> Result<(), TransformError> {
        let Some(&dy) = node.outputs.first().and_then(|o| self.grad.get(o)) else {
            return Ok(());
        };
        let want: Vec<bool> = node.inputs.iter().map(|t| wanted[t.index()]).collect();
        if !want.contains(&true) {
            return Ok(());
        }
        let rule = rule_for(&node.op).ok_or_else(|| TransformError::NoRule {
            node: node.name.clone(),
            op: node.op.name(),
        })?;
        let got = rule(b, node, dy, &want)?;
        for (i, &x) in node.inputs.iter().enumerate() {
            if !want[i] {
                continue;
            }
            let g = got
                .get(i)
                .copied()
                .flatten()
                .ok_or_else(|| TransformError::NoRule {
                    node: format!("{} (input {i})", node.name),
                    op: node.op.name(),
                })?;
            accumulate(b, &mut self.grad, x, g, &node.name)?;
        }
        Ok(())
    }
}

/// Records `g` as (a part of) the gradient of `x`, adding it to an earlier part.
fn accumulate(
    b: &mut GraphBuilder,
    grad: &mut HashMap<TensorId, TensorId>,
    x: TensorId,
    g: TensorId,
    from: &str,
) -> Result<(), TransformError> {
    let (want, got) = (b.shape(x)?.clone(), b.shape(g)?.clone());
    if want != got {
        return Err(TransformError::GradShape {
            node: from.to_string(),
            tensor: b.graph().tensors[x.index()].name.clone(),
            want: want.to_string(),
            got: got.to_string(),
        });
    }
    let total = match grad.get(&x) {
        Some(&prev) => {
            let name = format!("{}.grad+{from}", b.graph().tensors[x.index()].name);
            b.add(&name, prev, g)?
        }
        None => g,
    };
    grad.insert(x, total);
    Ok(())
}

/// The SGD update of `w` with gradient `g` (after a momentum accumulation when asked);
/// returns the updated weight (a view of `w`'s storage), then the updated velocity if any.
fn update(
    b: &mut GraphBuilder,
    w: TensorId,
    g: TensorId,
    opts: &TrainOptions,
) -> Result<Vec<TensorId>, TransformError> {
    let name = b.graph().tensors[w.index()].name.clone();
    let dims = b.shape(w)?.dims().to_vec();
    let velocity = if opts.momentum != 0.0 {
        let v = b.constant(&format!("{name}.velocity"), &dims, 0.0);
        let op = Op::MomentumAccumulate {
            momentum: opts.momentum,
        };
        Some(b.op(&format!("{name}.momentum"), op, &[v, g])?)
    } else {
        None
    };
    let op = Op::SgdStep { lr: opts.lr };
    let w2 = b.op(&format!("{name}.sgd"), op, &[w, velocity.unwrap_or(g)])?;
    Ok([w2].into_iter().chain(velocity).collect())
}

/// The backward rule of `op`'s family, `None` where there is none (yet).
fn rule_for(op: &Op) -> Option<Rule> {
    Some(match op {
        Op::MatMul { .. } | Op::Linear => rules_linear::backward,
        Op::Binary(_) | Op::Unary(_) => rules_elementwise::backward,
        Op::Softmax | Op::LayerNorm { .. } => rules_norm::backward,
        Op::Reshape { .. } | Op::Permute { .. } | Op::Concat { .. } | Op::Embedding => {
            rules_layout::backward
        }
        Op::SoftmaxCrossEntropy | Op::MseLoss => rules_loss::backward,
        Op::Conv2d(_) => rules_conv::backward,
        Op::Pool2d(_) | Op::GlobalAvgPool | Op::Upsample2x { .. } => rules_pool::backward,
        Op::Attention { .. } => rules_attention::backward,
        _ => return None,
    })
}

/// Every in-place update of `g` as `(updated storage, tensor after the update)`: the weights
/// and velocity buffers a training step rewrites, which the next step reads again.
pub fn in_place_updates(g: &Graph) -> Vec<(TensorId, TensorId)> {
    g.nodes
        .iter()
        .filter(|n| n.op.updates_in_place())
        .filter_map(|n| Some((*n.inputs.first()?, *n.outputs.first()?)))
        .collect()
}

/// `t` summed down to `dims` (itself when it already has them).
pub(crate) fn sum_to(
    b: &mut GraphBuilder,
    name: &str,
    t: TensorId,
    dims: &[usize],
) -> Result<TensorId, GraphError> {
    if b.shape(t)?.dims() == dims {
        return Ok(t);
    }
    b.op(
        name,
        Op::ReduceTo {
            shape: dims.to_vec(),
        },
        &[t],
    )
}

/// The dims of `t`, owned.
pub(crate) fn dims_of(b: &GraphBuilder, t: TensorId) -> Result<Vec<usize>, GraphError> {
    Ok(b.shape(t)?.dims().to_vec())
}
