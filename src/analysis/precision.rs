//! The acceptance threshold of an f16 run (`--dtype f16`), derived from f16's precision and the
//! graph's structure, never tuned to pass. Pure arithmetic over the graph: no wgpu.
//!
//! # What is compared
//!
//! An f16 graph stores every float tensor as f16; kernels compute in f32 and round each stored
//! value once. `run --dtype f16` compares the device's outputs with two CPU references:
//!
//! 1. the **f32 reference** (`cpu::run_outputs_f32`): the same graph with the same f16-rounded
//!    inputs and weights, every activation kept in f32. The difference is what f16 storage
//!    costs. Threshold [`ErrorBound::threshold`].
//! 2. the **f16 reference** (`cpu::run_outputs`): the same f16 graph rounded at the same tensor
//!    boundaries. Device and reference then differ only where their f32 arithmetic differs
//!    (summation order, `exp`), so it must match much tighter. Threshold
//!    [`ErrorBound::f16_threshold`].
//!
//! Both errors are measured like every other comparison in tessera: the largest absolute
//! difference over all output elements divided by `max(1, max |reference|)` (the *scaled* error).
//!
//! # Derivation
//!
//! Notation: `u = 2^-11` is f16's unit roundoff (10 stored mantissa bits: rounding to nearest
//! changes a value `v` in the normal range by at most `u |v|`), `u32 = 2^-24` f32's. A graph's
//! *depth* `D` is the largest number of rounding nodes (nodes that store an f16 result; views do
//! not round) on one path from an input to an output, `K` the longest reduction any node does
//! (the inner dimension of a GEMM, `C*KH*KW` of a convolution, a row of softmax or layernorm,
//! keys times head dim of attention, a pooling window or plane), `N` the number of output
//! elements.
//!
//! * **Per-op error.** A node reads f16 values, computes in f32 and rounds its result once. Its
//!   f32 reduction of length `K` adds a relative error of at most `lambda sqrt(K) u32` in the
//!   probabilistic model below (`K u32` in the worst case), the store adds at most `u`. So the
//!   local error is `eps = u + lambda sqrt(K) u32`; for every `K < 2^20` the store dominates.
//!   Reduction length enters only through the f32 term because the kernels accumulate in f32:
//!   accumulating in f16 would make the local term `lambda sqrt(K) u` instead.
//! * **Propagation.** To first order, the output error is a weighted sum of the local errors of
//!   every rounding, the weights being the output's sensitivity to each stored value. The
//!   models keep activations O(1) (fan-in-scaled weights, normalisation), so each op passes an
//!   inherited error on with gain at most 1 in the scaled metric, and a reduction of `K`
//!   independent input errors grows them by `sqrt(sum (w_j x_j)^2)`, the size of the output
//!   itself, not by `K`.
//! * **Depth.** Treating rounding errors as independent, mean-zero and bounded (the
//!   probabilistic model of Higham and Mary, *A new approach to probabilistic rounding error
//!   analysis*, SIAM J. Sci. Comput. 2019), Hoeffding's inequality bounds a sum of `D` such
//!   terms of size at most `eps` by `lambda sqrt(D) eps` with probability at least
//!   `1 - 2 exp(-lambda^2 / 2)`. A union bound over the `N` output elements gives
//!   `lambda = sqrt(2 ln(2 N / p))` for a failure probability `p` ([`FAILURE_PROBABILITY`],
//!   10^-6) of the whole comparison.
//!
//! Hence the threshold against the f32 reference:
//!
//! ```text
//! threshold = lambda * sqrt(D) * (u + lambda * sqrt(K) * u32)
//! ```
//!
//! Against the f16 reference both sides round the same values at the same places; they differ
//! only where their f32 results (which differ by at most `d = lambda sqrt(K) u32` relative) fall
//! on two sides of an f16 rounding boundary, which happens with probability `q = min(1, d / 2u)`
//! and then moves the stored value by one f16 ulp, `2u`. The output element itself may flip
//! (`2u`, deterministic), and the flips upstream add up like the errors above:
//!
//! ```text
//! f16_threshold = 2u + lambda * sqrt(q * D) * 2u
//! ```
//!
//! Assumptions that would break the bound, and so make a run fail rather than pass silently:
//! activations far from O(1) (overflow past 65504 gives infinity, an infinite error), strongly
//! correlated rounding errors, values in f16's subnormal range (below 2^-14, where the error is
//! absolute, 2^-25, and so still inside the bound in the scaled metric).
//!
//! For an f32 graph the existing fixed tolerance ([`F32_TOLERANCE`], 1e-4 of scale) applies.

use crate::graph::{DType, Graph, Node, Op};
use serde::Serialize;

/// f16's unit roundoff, `2^-11`.
pub const F16_UNIT_ROUNDOFF: f64 = 1.0 / 2048.0;

/// f32's unit roundoff, `2^-24`.
pub const F32_UNIT_ROUNDOFF: f64 = 1.0 / 16_777_216.0;

/// Probability that a correct f16 run exceeds the threshold (over all its output elements).
pub const FAILURE_PROBABILITY: f64 = 1e-6;

/// Scaled error above which an f32 GPU result is wrong (`execute::TOLERANCE`).
pub const F32_TOLERANCE: f64 = 1e-4;

/// The acceptance thresholds of one f16 graph and the figures they come from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ErrorBound {
    /// Rounding nodes on the longest input-to-output path (`D`).
    pub depth: u64,
    /// The longest reduction of any node (`K`).
    pub max_reduction: u64,
    /// Output elements compared (`N`).
    pub output_elements: u64,
    /// The confidence factor `sqrt(2 ln(2 N / p))`.
    pub lambda: f64,
    /// Scaled-error threshold against the f32 reference.
    pub threshold: f64,
    /// Scaled-error threshold against the f16 reference.
    pub f16_threshold: f64,
}

impl ErrorBound {
    /// The threshold's formula with this graph's numbers, on one line (for reports).
    pub fn derivation(&self) -> String {
        format!(
            "lambda*sqrt(D)*(u + lambda*sqrt(K)*u32) with u = 2^-11, u32 = 2^-24, D = {} rounding \
             nodes deep, K = {} (longest reduction), lambda = sqrt(2 ln(2N/p)) = {:.2} for N = {} \
             output elements and p = {FAILURE_PROBABILITY:e} (see analysis::precision)",
            self.depth, self.max_reduction, self.lambda, self.output_elements
        )
    }
}

/// The error bound of `graph` stored in f16 (see the module doc). Meaningful for a graph whose
/// floats are f16; for an f32 graph `depth` is 0 and the thresholds are those of storing
/// nothing in f16.
pub fn f16_error_bound(graph: &Graph) -> ErrorBound {
    let depth = rounding_depth(graph);
    let max_reduction = graph
        .nodes
        .iter()
        .map(|n| reduction_len(graph, n))
        .max()
        .unwrap_or(1)
        .max(1);
    let output_elements = graph
        .outputs
        .iter()
        .map(|o| graph.tensors[o.index()].shape.numel())
        .fold(0u64, u64::saturating_add)
        .max(1);
    let lambda = (2.0 * (2.0 * output_elements as f64 / FAILURE_PROBABILITY).ln()).sqrt();
    let u = F16_UNIT_ROUNDOFF;
    let d = depth as f64;
    let f32_part = lambda * (max_reduction as f64).sqrt() * F32_UNIT_ROUNDOFF;
    let threshold = lambda * d.sqrt() * (u + f32_part);
    let q = (f32_part / (2.0 * u)).min(1.0);
    let f16_threshold = 2.0 * u + lambda * (q * d).sqrt() * 2.0 * u;
    ErrorBound {
        depth,
        max_reduction,
        output_elements,
        lambda,
        threshold,
        f16_threshold,
    }
}

/// `D`: the most rounding nodes (non-view nodes whose output is f16) on one path from a graph
/// input or weight to an output. Nodes are in a valid (topological) order.
fn rounding_depth(graph: &Graph) -> u64 {
    let mut depth = vec![0u64; graph.tensors.len()];
    for node in &graph.nodes {
        let inherited = node
            .inputs
            .iter()
            .map(|t| depth[t.index()])
            .max()
            .unwrap_or(0);
        for o in &node.outputs {
            let rounds = !node.op.is_view() && graph.tensors[o.index()].dtype == DType::F16;
            depth[o.index()] = inherited + u64::from(rounds);
        }
    }
    graph
        .outputs
        .iter()
        .map(|o| depth[o.index()])
        .max()
        .unwrap_or(0)
}

/// The number of products or terms one output element of `node` sums (1 for elementwise ops).
fn reduction_len(graph: &Graph, node: &Node) -> u64 {
    let dims = |i: usize| {
        node.inputs
            .get(i)
            .map_or(&[][..], |t| graph.tensors[t.index()].shape.dims())
    };
    let at = |d: &[usize], i: usize| d.get(i).copied().unwrap_or(1) as u64;
    let last = |d: &[usize]| d.last().copied().unwrap_or(1) as u64;
    match &node.op {
        Op::MatMul { trans_a, .. } => {
            let a = dims(0);
            let k = if *trans_a {
                a.len().wrapping_sub(2)
            } else {
                a.len().wrapping_sub(1)
            };
            at(a, k)
        }
        Op::Linear => last(dims(0)),
        Op::Conv2d(_) => {
            let w = dims(1);
            at(w, 1) * at(w, 2) * at(w, 3)
        }
        Op::Softmax | Op::LayerNorm { .. } => last(dims(0)),
        // Scores sum over the head dim, the output over the keys.
        Op::Attention { .. } => last(dims(0)).max(at(dims(1), 2)),
        Op::Pool2d(a) => (a.kernel[0] * a.kernel[1]) as u64,
        Op::GlobalAvgPool => at(dims(0), 2) * at(dims(0), 3),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{GraphBuilder, Init, UnaryOp};
    use crate::transform::precision::cast_floats;

    /// x -> linear(K) -> relu -> reshape (a view) -> output, in f16.
    fn chain(k: usize) -> Graph {
        let mut b = GraphBuilder::new();
        let x = b.input("x", &[3, k], DType::F32, Init::Constant(1.0));
        let w = b.weight("w", &[k, 5], 3, 0.5);
        let y = b.op("y", Op::Linear, &[x, w]).expect("linear");
        let r = b.op("r", Op::Unary(UnaryOp::Relu), &[y]).expect("relu");
        let v = b
            .op("v", Op::Reshape { shape: vec![15] }, &[r])
            .expect("reshape");
        b.output(v);
        let g = b.build().expect("graph");
        cast_floats(&g, DType::F16).expect("f16")
    }

    #[test]
    fn depth_counts_rounding_nodes_and_skips_views() {
        let e = f16_error_bound(&chain(7));
        assert_eq!((e.depth, e.max_reduction, e.output_elements), (2, 7, 15));
        // lambda = sqrt(2 ln(2 * 15 / 1e-6)) = sqrt(2 * 17.217) = 5.868.
        assert!((e.lambda - 5.868).abs() < 1e-3, "{}", e.lambda);
        let u = F16_UNIT_ROUNDOFF;
        let f32_part = e.lambda * 7f64.sqrt() * F32_UNIT_ROUNDOFF;
        let expected = e.lambda * 2f64.sqrt() * (u + f32_part);
        assert!((e.threshold - expected).abs() < 1e-15);
        assert!(e.f16_threshold < e.threshold / 2.0, "{e:?}");
        assert!(e.derivation().contains("D = 2 rounding nodes deep, K = 7"));
    }

    #[test]
    fn an_f32_graph_rounds_nothing() {
        let g = cast_floats(&chain(7), DType::F32).expect("f32");
        assert_eq!(f16_error_bound(&g).depth, 0);
    }

    #[test]
    fn longer_reductions_and_deeper_graphs_raise_the_threshold() {
        let (short, long) = (f16_error_bound(&chain(4)), f16_error_bound(&chain(4096)));
        assert_eq!(long.max_reduction, 4096);
        assert!(long.threshold > short.threshold);
        // The f32 accumulation term stays far below the store's u even at K = 4096.
        assert!(long.threshold < short.threshold * 1.1);
    }
}
