//! The cost model: floating-point operations and bytes moved per node, and per training graph
//! split into forward, backward and recompute work (issue 9). Checkpointing reports what its
//! recomputation costs with it, and the report states the overhead next to measured times.
//!
//! FLOPs count one multiply or one add as one FLOP (a fused multiply-add is two), and each
//! transcendental or division as one; the per-op formulas are on [`node_flops`]. Bytes moved
//! are the compulsory traffic: every input read once and the output written once, in the
//! tensors' dtypes; a zero-copy view moves nothing. Workspace traffic is not counted. All
//! arithmetic saturates at `u64::MAX` (validation rejects graphs whose sizes overflow).

use super::{AttentionGradOf, Graph, Node, NodeId, Op, PoolAttrs, PoolKind, Shape, UnaryOp};

/// FLOPs of one GELU element: x^3 (2), the polynomial (2), the scale (1), tanh (1), 1 + (1),
/// times 0.5 x (2).
pub const GELU_FLOPS: u64 = 9;
/// FLOPs of one softmax element: subtract the max (1), exp (1), sum (1), divide (1).
pub const SOFTMAX_FLOPS: u64 = 4;
/// FLOPs of one layer-norm element: mean (1), centre (1), square and sum (2), normalise (1),
/// gamma and beta (2).
pub const LAYERNORM_FLOPS: u64 = 7;

/// FLOPs of one GELU gradient element (the op's documented estimate).
pub const GELU_BACKWARD_FLOPS: u64 = 15;

/// What one node costs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeCost {
    /// Floating-point operations ([`node_flops`]).
    pub flops: u64,
    /// Bytes read and written: inputs once, output once; 0 for a view.
    pub bytes: u64,
}

/// Where a training graph's work goes (the `compute.*` report fields).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GraphCost {
    /// FLOPs of `nodes[..forward_len]`: the forward pass, loss included.
    pub forward_flops: u64,
    /// FLOPs of the nodes after `forward_len` that are not recomputation: gradients and
    /// optimizer updates.
    pub backward_flops: u64,
    /// FLOPs of recompute nodes (clones of forward nodes that checkpointing inserted).
    pub recompute_flops: u64,
    /// Bytes moved by every node together.
    pub bytes_moved: u64,
}

fn numel(s: &Shape) -> u64 {
    s.numel()
}

/// Product of `a` and `b` and more, saturating.
fn mul(xs: &[u64]) -> u64 {
    xs.iter().fold(1u64, |acc, &x| acc.saturating_mul(x))
}

/// FLOPs of `node` in `graph` (a validated graph):
///
/// - matmul `[.., M, K] x [.., K, N]`: `2 M N K` per batch; linear: `2 M N K` plus `M N` for
///   the bias;
/// - binary: one per output element; unary: relu and scale one, gelu [`GELU_FLOPS`] per element;
/// - softmax [`SOFTMAX_FLOPS`] and layer norm [`LAYERNORM_FLOPS`] per element;
/// - conv2d: `2 C KH KW` per output element, plus one for the bias;
/// - pool2d: `KH KW` per output element; global average pool: one per input element;
/// - attention `[B, H, S, D]` against `T` keys: per scored (query, key) pair `2 D` for q.k,
///   [`SOFTMAX_FLOPS`] and `2 D` for times v; causal attention scores `S (S + 1) / 2` pairs per
///   head, the others `S T` (the kernel choice does not change the count);
/// - reshape, permute, concat, embedding, upsample and slice only move data: 0;
/// - training ops as their docs state: reduce-to one per input element; unary gradients 2 per
///   element (gelu [`GELU_BACKWARD_FLOPS`]); softmax gradient 4, layer-norm gradient 12 per
///   element; embedding gradient one compare per (table element, id) plus one add per dy
///   element; cross-entropy 4 per logit, its gradient 5; mean squared error and its gradient 3
///   per element; SGD step and momentum 2 per element; convolution gradients (input and
///   weight) the forward's `2 N O OH OW C KH KW`, bias one per dy element; pooling gradient
///   `KH KW` per dy element (twice for max); global-average-pool and upsample gradients one
///   per element; attention row statistics `2 D` per scored pair plus `2` per q element,
///   attention gradients `6 D` (d q, d k) or `4 D` (d v) per scored pair.
pub fn node_flops(graph: &Graph, node: &Node) -> u64 {
    let shape = |i: usize| -> Option<&Shape> {
        node.inputs
            .get(i)
            .and_then(|t| graph.tensors.get(t.index()))
            .map(|t| &t.shape)
    };
    let out = node
        .outputs
        .first()
        .and_then(|t| graph.tensors.get(t.index()))
        .map(|t| numel(&t.shape))
        .unwrap_or(0);
    match &node.op {
        Op::MatMul { trans_a, .. } => {
            let k = shape(0).map(|s| contracted(s, *trans_a)).unwrap_or(0);
            mul(&[2, out, k])
        }
        Op::Linear => {
            let k = shape(0).map(|s| s.last() as u64).unwrap_or(0);
            let bias = if node.inputs.len() > 2 { out } else { 0 };
            mul(&[2, out, k]).saturating_add(bias)
        }
        Op::Binary(_) => out,
        Op::Unary(UnaryOp::Relu) | Op::Unary(UnaryOp::Scale(_)) => out,
        Op::Unary(UnaryOp::Gelu) => mul(&[GELU_FLOPS, out]),
        Op::Softmax => mul(&[SOFTMAX_FLOPS, out]),
        Op::LayerNorm { .. } => mul(&[LAYERNORM_FLOPS, out]),
        Op::Conv2d(_) => {
            let per = shape(1)
                .map(|w| mul(&w.dims()[1..].iter().map(|&d| d as u64).collect::<Vec<_>>()))
                .unwrap_or(0);
            let bias = if node.inputs.len() > 2 { out } else { 0 };
            mul(&[2, out, per]).saturating_add(bias)
        }
        Op::Pool2d(PoolAttrs { kernel, .. }) => mul(&[out, kernel[0] as u64, kernel[1] as u64]),
        Op::GlobalAvgPool => shape(0).map(numel).unwrap_or(0),
        Op::Attention { causal, .. } => match (shape(0), shape(1)) {
            (Some(q), Some(k)) => attention_flops(q, k, *causal),
            _ => 0,
        },
        Op::Reshape { .. }
        | Op::Permute { .. }
        | Op::Concat { .. }
        | Op::Embedding
        | Op::Upsample2x { .. }
        | Op::Slice { .. } => 0,
        Op::ReduceTo { .. } => shape(0).map(numel).unwrap_or(0),
        Op::UnaryBackward(UnaryOp::Gelu) => mul(&[GELU_BACKWARD_FLOPS, out]),
        Op::UnaryBackward(_) => mul(&[2, out]),
        Op::SoftmaxBackward => mul(&[4, out]),
        Op::LayerNormBackward { .. } => mul(&[12, out]),
        Op::EmbeddingBackward { .. } => {
            let ids = shape(0).map(numel).unwrap_or(0);
            let dy = shape(1).map(numel).unwrap_or(0);
            mul(&[out, ids]).saturating_add(dy)
        }
        Op::SoftmaxCrossEntropy => mul(&[4, shape(0).map(numel).unwrap_or(0)]),
        Op::SoftmaxCrossEntropyBackward => mul(&[5, out]),
        Op::MseLoss => mul(&[3, shape(0).map(numel).unwrap_or(0)]),
        Op::MseLossBackward => mul(&[3, out]),
        Op::SgdStep { .. } | Op::MomentumAccumulate { .. } => mul(&[2, out]),
        Op::Conv2dGradInput { .. } => {
            // 2 N O OH OW C KH KW = 2 |dy| |w| / O.
            let dy = shape(0).map(numel).unwrap_or(0);
            let per = shape(1)
                .map(|w| numel(w) / (w.dims().first().copied().unwrap_or(1).max(1) as u64))
                .unwrap_or(0);
            mul(&[2, dy, per])
        }
        Op::Conv2dGradWeight { .. } => {
            // 2 N O OH OW C KH KW = 2 (|dy| / O) |dw|.
            let per = shape(1)
                .map(|dy| numel(dy) / (dy.dims().get(1).copied().unwrap_or(1).max(1) as u64))
                .unwrap_or(0);
            mul(&[2, per, out])
        }
        Op::Conv2dGradBias | Op::Upsample2xGrad { .. } => shape(0).map(numel).unwrap_or(0),
        Op::Pool2dGrad { attrs, .. } => {
            let dy = shape(0).map(numel).unwrap_or(0);
            let twice = if attrs.kind == PoolKind::Max { 2 } else { 1 };
            mul(&[dy, attrs.kernel[0] as u64, attrs.kernel[1] as u64, twice])
        }
        Op::GlobalAvgPoolGrad { .. } => out,
        Op::AttentionStats { causal, .. } => match (shape(0), shape(1)) {
            (Some(q), Some(k)) => attention_pairs(q, k, *causal, 2)
                .saturating_add(mul(&[2, shape(0).map(numel).unwrap_or(0)])),
            _ => 0,
        },
        Op::AttentionGrad { causal, wrt, .. } => match (shape(0), shape(1)) {
            (Some(q), Some(k)) => {
                let per_d = if *wrt == AttentionGradOf::V { 4 } else { 6 };
                attention_pairs(q, k, *causal, per_d)
            }
            _ => 0,
        },
    }
}

/// `per_d D` FLOPs per scored (query, key) pair of attention over `q [B, H, S, D]` and
/// `k [B, H, T, D]` (pairs counted as for the forward).
fn attention_pairs(q: &Shape, k: &Shape, causal: bool, per_d: u64) -> u64 {
    let (qd, kd) = (q.dims(), k.dims());
    if qd.len() != 4 || kd.len() != 4 {
        return 0;
    }
    let (s, t) = (qd[2] as u64, kd[2] as u64);
    let pairs = if causal {
        s.saturating_mul(s.saturating_add(1)) / 2
    } else {
        s.saturating_mul(t)
    };
    mul(&[qd[0] as u64, qd[1] as u64, pairs, per_d, qd[3] as u64])
}

/// The contracted length of a matmul's `a`: its last dim, or the one before with `trans_a`.
fn contracted(a: &Shape, trans_a: bool) -> u64 {
    let d = a.dims();
    let k = if trans_a {
        d.len().checked_sub(2).and_then(|i| d.get(i))
    } else {
        d.last()
    };
    k.copied().unwrap_or(0) as u64
}

fn attention_flops(q: &Shape, k: &Shape, causal: bool) -> u64 {
    let (qd, kd) = (q.dims(), k.dims());
    if qd.len() != 4 || kd.len() != 4 {
        return 0;
    }
    let (bh, s, d, t) = (
        mul(&[qd[0] as u64, qd[1] as u64]),
        qd[2] as u64,
        qd[3] as u64,
        kd[2] as u64,
    );
    let pairs = if causal {
        s.saturating_mul(s.saturating_add(1)) / 2
    } else {
        s.saturating_mul(t)
    };
    let per_pair = mul(&[4, d]).saturating_add(SOFTMAX_FLOPS);
    mul(&[bh, pairs, per_pair])
}

/// Bytes `node` reads and writes: each input once, its output once; 0 for a zero-copy view.
pub fn node_bytes(graph: &Graph, node: &Node) -> u64 {
    if node.op.is_view() {
        return 0;
    }
    node.inputs
        .iter()
        .chain(&node.outputs)
        .filter_map(|t| graph.tensors.get(t.index()))
        .fold(0u64, |acc, t| acc.saturating_add(t.size_bytes()))
}

/// FLOPs and bytes of node `n`.
pub fn node_cost(graph: &Graph, n: NodeId) -> NodeCost {
    let node = graph.node(n);
    NodeCost {
        flops: node_flops(graph, node),
        bytes: node_bytes(graph, node),
    }
}

/// Total FLOPs of the nodes of `graph` at the given positions.
pub fn flops_of(graph: &Graph, nodes: impl IntoIterator<Item = usize>) -> u64 {
    nodes
        .into_iter()
        .filter_map(|i| graph.nodes.get(i))
        .fold(0u64, |acc, n| acc.saturating_add(node_flops(graph, n)))
}

/// Splits the work of a training graph by the `forward_len` convention: `nodes[..forward_len]`
/// is the forward pass; of the rest, the positions for which `is_recompute` holds are
/// recomputation and the others backward (gradients, updates). An inference graph is
/// `forward_len == nodes.len()`.
pub fn graph_cost(
    graph: &Graph,
    forward_len: usize,
    is_recompute: impl Fn(usize) -> bool,
) -> GraphCost {
    let mut c = GraphCost::default();
    for (i, node) in graph.nodes.iter().enumerate() {
        let f = node_flops(graph, node);
        let slot = if i < forward_len {
            &mut c.forward_flops
        } else if is_recompute(i) {
            &mut c.recompute_flops
        } else {
            &mut c.backward_flops
        };
        *slot = slot.saturating_add(f);
        c.bytes_moved = c.bytes_moved.saturating_add(node_bytes(graph, node));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Conv2dAttrs, DType, GraphBuilder, Init};

    #[test]
    fn formulas_on_small_ops() {
        let mut b = GraphBuilder::new();
        let x = b.input("x", &[3, 5], DType::F32, Init::Constant(1.0));
        let w = b.weight("w", &[5, 7], 1, 0.1);
        let bias = b.weight("b", &[7], 2, 0.1);
        let y = b.linear("lin", x, w, Some(bias)).unwrap();
        let m = b.matmul("mm", y, w, false, true).unwrap(); // [3,7] x [7,5]^T... [3,7]x[5,7]^T
        let g = b.gelu("gelu", m).unwrap();
        let img = b.input("img", &[2, 3, 9, 9], DType::F32, Init::Constant(1.0));
        let cw = b.weight("cw", &[4, 3, 3, 3], 3, 0.1);
        let c = b
            .op("conv", Op::Conv2d(Conv2dAttrs::default()), &[img, cw])
            .unwrap();
        let pool = PoolAttrs {
            kind: PoolKind::Max,
            kernel: [2, 2],
            stride: [2, 2],
            padding: [0, 0],
        };
        let p = b.op("pool", Op::Pool2d(pool), &[c]).unwrap();
        let r = b.reshape("view", g, &[15]).unwrap();
        b.output(r);
        b.output(p);
        let graph = b.build().unwrap();
        let f = |i: usize| node_flops(&graph, &graph.nodes[i]);
        assert_eq!(f(0), 2 * 3 * 7 * 5 + 3 * 7);
        assert_eq!(f(1), 2 * 3 * 5 * 7);
        assert_eq!(f(2), GELU_FLOPS * 15);
        assert_eq!(f(3), 2 * (2 * 4 * 7 * 7) * 27);
        assert_eq!(f(4), 2 * 4 * 3 * 3 * 4);
        assert_eq!(f(5), 0);
        // Bytes: x, w, bias in, y out.
        assert_eq!(node_bytes(&graph, &graph.nodes[0]), 4 * (15 + 35 + 7 + 21));
        assert_eq!(node_bytes(&graph, &graph.nodes[5]), 0);
    }

    #[test]
    fn causal_attention_counts_the_lower_triangle() {
        let mut b = GraphBuilder::new();
        let q = b.input("q", &[1, 2, 5, 4], DType::F32, Init::Constant(1.0));
        let op = |causal| Op::Attention {
            causal,
            scale: 0.5,
            kernel: Default::default(),
        };
        let a = b.op("causal", op(true), &[q, q, q]).unwrap();
        let full = b.op("full", op(false), &[q, q, q]).unwrap();
        b.output(a);
        b.output(full);
        let g = b.build().unwrap();
        let per = 4 * 4 + SOFTMAX_FLOPS;
        assert_eq!(node_flops(&g, &g.nodes[0]), 2 * 15 * per);
        assert_eq!(node_flops(&g, &g.nodes[1]), 2 * 25 * per);
        let cost = graph_cost(&g, 1, |_| false);
        assert_eq!(cost.forward_flops, 2 * 15 * per);
        assert_eq!(cost.backward_flops, 2 * 25 * per);
        let cost = graph_cost(&g, 1, |i| i == 1);
        assert_eq!(
            (cost.backward_flops, cost.recompute_flops),
            (0, 2 * 25 * per)
        );
    }
}
