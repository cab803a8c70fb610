//! Operators and their attributes. Each op knows its arity, whether its output is a zero-copy
//! view of its first input, whether it may run in place, and how much scratch workspace it needs.

use serde::{Deserialize, Serialize};

/// Elementwise binary arithmetic (numpy broadcasting).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BinaryOp {
    /// a + b
    Add,
    /// a - b
    Sub,
    /// a * b
    Mul,
}

/// Elementwise unary functions.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum UnaryOp {
    /// max(x, 0)
    Relu,
    /// GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    Gelu,
    /// x * factor
    Scale(f32),
}

/// How a convolution is lowered, chosen per op by [`crate::graph::conv::choose`] and read by
/// the workspace sizing ([`crate::graph::conv::conv_workspace_bytes`]) and the GPU lowering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConvMethod {
    /// im2col + GEMM in column tiles of at most
    /// [`IM2COL_TILE_BYTES`](crate::graph::infer::IM2COL_TILE_BYTES) (at least 16 columns), and
    /// of at most `cap` bytes when a workspace cap is given.
    Im2col {
        /// Largest im2col workspace in bytes (`None`: the default tile).
        cap: Option<u64>,
    },
    /// Direct convolution with input tiles in workgroup memory: no workspace.
    Direct,
}

impl Default for ConvMethod {
    /// im2col with the default tile.
    fn default() -> Self {
        ConvMethod::Im2col { cap: None }
    }
}

/// 2-D convolution geometry (NCHW) and how the op is lowered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Conv2dAttrs {
    /// Stride (rows, cols).
    pub stride: [usize; 2],
    /// Zero padding on each side (rows, cols).
    pub padding: [usize; 2],
    /// Dilation (rows, cols).
    pub dilation: [usize; 2],
    /// Lowering method (im2col by default; graphs written before it existed load as im2col).
    #[serde(default)]
    pub method: ConvMethod,
}

impl Default for Conv2dAttrs {
    /// Stride 1, no padding, dilation 1, im2col.
    fn default() -> Self {
        Conv2dAttrs {
            stride: [1; 2],
            padding: [0; 2],
            dilation: [1; 2],
            method: ConvMethod::default(),
        }
    }
}

/// Pooling kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PoolKind {
    /// Maximum over the window (padding never wins).
    Max,
    /// Mean over the in-bounds elements of the window (padding not counted).
    Avg,
}

/// Pooling attributes (NCHW).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PoolAttrs {
    /// Max or average.
    pub kind: PoolKind,
    /// Window (rows, cols).
    pub kernel: [usize; 2],
    /// Stride (rows, cols).
    pub stride: [usize; 2],
    /// Padding (rows, cols).
    pub padding: [usize; 2],
}

/// Largest head dimension `D` the tiled attention kernel handles (`ATTN_MAX_D` in
/// attention_tiled.wgsl); inference refuses a tiled attention node with a larger one.
pub const TILED_ATTENTION_MAX_HEAD_DIM: usize = 128;

/// How an attention node runs; a contract name in reports (`plan.attention`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttentionKernel {
    /// Flash-style: query-row blocks stream K/V tiles through workgroup memory with an online
    /// softmax; the score matrix never exists and the node needs no workspace. Head dims up to
    /// [`TILED_ATTENTION_MAX_HEAD_DIM`].
    #[default]
    Tiled,
    /// Scores `[B, H, S, T]` written to the node's workspace, row softmax, then times v.
    Materialized,
}

impl AttentionKernel {
    /// Both kernels, default first.
    pub const ALL: [AttentionKernel; 2] = [AttentionKernel::Tiled, AttentionKernel::Materialized];

    /// The contract name: `tiled` or `materialized`.
    pub fn name(self) -> &'static str {
        match self {
            AttentionKernel::Tiled => "tiled",
            AttentionKernel::Materialized => "materialized",
        }
    }

    /// The default for a head dimension: tiled when the tiled kernel can run it (up to
    /// [`TILED_ATTENTION_MAX_HEAD_DIM`]), materialised otherwise. Model builders use it, so
    /// that a graph builds at any head size and `--attention` then chooses.
    pub fn default_for(head_dim: usize) -> AttentionKernel {
        if head_dim <= TILED_ATTENTION_MAX_HEAD_DIM {
            AttentionKernel::Tiled
        } else {
            AttentionKernel::Materialized
        }
    }

    /// The kernel called `name`, if any.
    pub fn from_name(name: &str) -> Option<AttentionKernel> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Which input of an attention node an [`Op::AttentionGrad`] node computes the gradient of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttentionGradOf {
    /// d q `[B, H, S, D]`: one pass over the keys per query row.
    Q,
    /// d k `[B, H, T, D]`: one pass over the queries per key row.
    K,
    /// d v `[B, H, T, D]`: one pass over the queries per key row.
    V,
}

/// An operator. Inputs are listed in the node; their order is documented per variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// Batched matmul: inputs `a [.., M, K]` (or `[.., K, M]` with `trans_a`), `b [.., K, N]`
    /// (or `[.., N, K]` with `trans_b`). Batch dims must be equal, or `b` may be 2-D (shared).
    MatMul {
        /// Use the transpose of `a`'s last two dims.
        trans_a: bool,
        /// Use the transpose of `b`'s last two dims.
        trans_b: bool,
    },
    /// Fully connected: inputs `x [.., K]`, `w [K, N]`, optional `bias [N]`; output `[.., N]`.
    Linear,
    /// Elementwise binary with broadcasting: inputs `a`, `b`.
    Binary(BinaryOp),
    /// Elementwise unary: input `x`.
    Unary(UnaryOp),
    /// Softmax over the last axis: input `x`.
    Softmax,
    /// Layer normalisation over the last axis: inputs `x [.., D]`, `gamma [D]`, `beta [D]`.
    LayerNorm {
        /// Added to the variance.
        eps: f32,
    },
    /// 2-D convolution, NCHW, groups = 1: inputs `x [N, C, H, W]`, `w [O, C, KH, KW]`,
    /// optional `bias [O]`. Runs as tiled im2col + GEMM (the workspace holds one tile of one
    /// image's column matrix, `conv::im2col_tile_cols`) or as the direct kernel (no workspace),
    /// as `Conv2dAttrs::method` says.
    Conv2d(Conv2dAttrs),
    /// Max or average pooling, NCHW: input `x`.
    Pool2d(PoolAttrs),
    /// Global average pool: `[N, C, H, W] -> [N, C]`.
    GlobalAvgPool,
    /// Zero-copy reshape (the output is a view of the input's bytes).
    Reshape {
        /// The new dimensions; the element count must not change.
        shape: Vec<usize>,
    },
    /// Permutation of axes (materialised copy): `out.dims[i] = in.dims[perm[i]]`.
    Permute {
        /// A permutation of `0..rank`.
        perm: Vec<usize>,
    },
    /// Concatenation of all inputs along `axis`.
    Concat {
        /// The axis; all other dims must agree.
        axis: usize,
    },
    /// Embedding gather: inputs `table [V, D]` (f32), `ids [..]` (u32); output `[.., D]`.
    Embedding,
    /// Nearest-neighbour 2x upsampling, NCHW: input `x [N, C, H, W]`; output
    /// `[N, C, size[0], size[1]]` with `out[y][x] = in[y / 2][x / 2]`. Each `size` entry is
    /// `2 H` (`2 W`) or one less, which crops the last row (column) so that a decoder can match
    /// an odd-sized skip connection.
    Upsample2x {
        /// Output rows and columns.
        size: [usize; 2],
    },
    /// Scaled dot-product attention: inputs `q [B, H, S, D]`, `k [B, H, T, D]`,
    /// `v [B, H, T, D]`; output `[B, H, S, D]`. `kernel` says how it runs and so what workspace
    /// it needs: the materialised scores `[B, H, S, T]`, or none for the tiled kernel.
    Attention {
        /// Mask keys after the query position (requires S == T).
        causal: bool,
        /// Multiplies q.k; usually 1/sqrt(D).
        scale: f32,
        /// Which kernel runs it (graphs written before the field existed read as `tiled`).
        #[serde(default)]
        kernel: AttentionKernel,
    },
    /// Sum of `x` down to `shape`, the reverse of broadcasting (`shape` broadcasts to `x`'s
    /// shape): input `x`. Used for the gradients of broadcast operands and biases.
    /// FLOPs: one add per input element.
    ReduceTo {
        /// The output dims.
        shape: Vec<usize>,
    },
    /// The gradient of a unary op: inputs `x` (the op's input), `dy`; output `dx` (x's shape).
    /// FLOPs: about 2 per element for relu and scale, about 15 for gelu.
    UnaryBackward(UnaryOp),
    /// The gradient of softmax over the last axis: inputs `y` (the softmax output), `dy`;
    /// output `dx = y * (dy - sum(dy * y))` per row. FLOPs: 4 per element.
    SoftmaxBackward,
    /// The input gradient of layer normalisation: inputs `x [.., D]`, `gamma [D]`, `dy`; output
    /// `dx = inv * (g - mean(g) - xhat * mean(g * xhat))` with `g = dy * gamma` per row.
    /// FLOPs: about 12 per element.
    LayerNormBackward {
        /// The forward op's epsilon.
        eps: f32,
    },
    /// The gradient of an embedding table: inputs `ids [..]` (u32), `dy [.., D]`; output
    /// `[vocab, D]`, row v the sum of the dy rows whose id is v (deterministic scatter-add).
    /// FLOPs: one compare per (table element, id) pair plus one add per dy element.
    EmbeddingBackward {
        /// Rows of the table.
        vocab: usize,
    },
    /// Copy of `x[.., start..start + len, ..]` along `axis`: input `x`. FLOPs: none (a copy).
    Slice {
        /// The sliced axis.
        axis: usize,
        /// First index kept.
        start: usize,
        /// Indices kept.
        len: usize,
    },
    /// Softmax cross-entropy, the mean over rows: inputs `logits [.., C]`, `labels [..]` (u32,
    /// each below C); output `[1]`. FLOPs: about 4 per logit.
    SoftmaxCrossEntropy,
    /// Its gradient: inputs `logits`, `labels`, `dloss [1]`; output
    /// `dloss * (softmax(logits) - onehot(labels)) / rows` (logits' shape). FLOPs: about 5
    /// per logit.
    SoftmaxCrossEntropyBackward,
    /// Mean squared error: inputs `pred`, `target` (same shape); output `[1]`, the mean of
    /// `(pred - target)^2`. FLOPs: 3 per element.
    MseLoss,
    /// Its gradient with respect to `pred`: inputs `pred`, `target`, `dloss [1]`; output
    /// `dloss * 2 (pred - target) / n`. FLOPs: 3 per element.
    MseLossBackward,
    /// SGD step: inputs `w`, `g` (same shape); writes `w - lr * g` over `w`'s bytes (the output
    /// is `w`'s storage, like a view, but a kernel runs). FLOPs: 2 per element.
    SgdStep {
        /// The learning rate.
        lr: f32,
    },
    /// Momentum accumulation: inputs `v`, `g` (same shape); writes `momentum * v + g` over
    /// `v`'s bytes. FLOPs: 2 per element.
    MomentumAccumulate {
        /// The momentum factor.
        momentum: f32,
    },
    /// Gradient of a convolution with respect to its input (a transposed convolution, gathered
    /// per input element, no workspace): inputs `dy [N, O, OH, OW]`, `w [O, C, KH, KW]`; output
    /// `dx [N, C, input[0], input[1]]`. `attrs` are the forward convolution's (its `method` is
    /// ignored). FLOPs: `2 N O OH OW C KH KW` (the forward's multiply-adds).
    Conv2dGradInput {
        /// The forward convolution's geometry.
        attrs: Conv2dAttrs,
        /// The forward input's height and width (several sizes give the same output size).
        input: [usize; 2],
    },
    /// Gradient of a convolution with respect to its weight (one thread per weight element
    /// reducing over the batch and output positions, no workspace): inputs `x [N, C, H, W]`,
    /// `dy [N, O, OH, OW]`; output `dw [O, C, kernel[0], kernel[1]]`.
    /// FLOPs: `2 N O OH OW C KH KW`.
    Conv2dGradWeight {
        /// The forward convolution's geometry.
        attrs: Conv2dAttrs,
        /// The weight's window (KH, KW).
        kernel: [usize; 2],
    },
    /// Gradient of a convolution's bias: `dy [N, O, OH, OW]` summed over N, OH and OW; output
    /// `[O]`. FLOPs: `N O OH OW`.
    Conv2dGradBias,
    /// Gradient of pooling with respect to its input, gathered per input element: inputs
    /// `dy [N, C, OH, OW]` and, for max pooling only, the forward input `x [N, C, H, W]`; output
    /// `[N, C, input[0], input[1]]`. Max sends each window's gradient to the first maximum of
    /// the window in row-major order (padding never wins); average divides by the in-bounds
    /// count. FLOPs: `N C OH OW KH KW` for average, twice that for max (the window's maximum is
    /// found again per input element it covers).
    Pool2dGrad {
        /// The forward pooling's attributes.
        attrs: PoolAttrs,
        /// The forward input's height and width.
        input: [usize; 2],
    },
    /// Gradient of a global average pool: `dy [N, C]` spread evenly over
    /// `[N, C, size[0], size[1]]`. FLOPs: `N C H W`.
    GlobalAvgPoolGrad {
        /// The forward input's height and width.
        size: [usize; 2],
    },
    /// Gradient of [`Op::Upsample2x`]: `dy [N, C, OH, OW]` summed over the (up to) 2 x 2
    /// output pixels each input pixel was copied to (fewer on a cropped last row or column);
    /// output `[N, C, input[0], input[1]]`. FLOPs: `N C OH OW`.
    Upsample2xGrad {
        /// The forward input's height and width.
        input: [usize; 2],
    },
    /// Row statistics for the attention backward: inputs `q [B, H, S, D]`, `k [B, H, T, D]`,
    /// the forward output `o [B, H, S, D]` and its gradient `dy [B, H, S, D]`; output
    /// `[B, H, S, 2]` holding per query row the log-sum-exp of its scaled (masked) scores and
    /// `delta = sum_d dy o`. FLOPs: `2 B H S T D + 2 B H S D` (scores again, then the dot).
    AttentionStats {
        /// The forward's causal mask.
        causal: bool,
        /// The forward's scale.
        scale: f32,
    },
    /// One gradient of attention, flash-attention-2 style: the probabilities are recomputed
    /// from q, k and the row log-sum-exp, never stored. Inputs `q`, `k`, `v`, `dy` and the
    /// [`Op::AttentionStats`] output; output d q, d k or d v as `wrt` says. Head dims up to
    /// [`TILED_ATTENTION_MAX_HEAD_DIM`]. FLOPs: d q and d k `6 B H S T D` (scores, dy v and
    /// the update, halved by a causal mask), d v `4 B H S T D`.
    AttentionGrad {
        /// The forward's causal mask.
        causal: bool,
        /// The forward's scale.
        scale: f32,
        /// Which input's gradient.
        wrt: AttentionGradOf,
    },
}

impl Op {
    /// Short lower-case name for reports and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Op::MatMul { .. } => "matmul",
            Op::Linear => "linear",
            Op::Binary(BinaryOp::Add) => "add",
            Op::Binary(BinaryOp::Sub) => "sub",
            Op::Binary(BinaryOp::Mul) => "mul",
            Op::Unary(UnaryOp::Relu) => "relu",
            Op::Unary(UnaryOp::Gelu) => "gelu",
            Op::Unary(UnaryOp::Scale(_)) => "scale",
            Op::Softmax => "softmax",
            Op::LayerNorm { .. } => "layernorm",
            Op::Conv2d(_) => "conv2d",
            Op::Pool2d(PoolAttrs {
                kind: PoolKind::Max,
                ..
            }) => "maxpool2d",
            Op::Pool2d(PoolAttrs {
                kind: PoolKind::Avg,
                ..
            }) => "avgpool2d",
            Op::GlobalAvgPool => "global_avg_pool",
            Op::Reshape { .. } => "reshape",
            Op::Permute { .. } => "permute",
            Op::Concat { .. } => "concat",
            Op::Embedding => "embedding",
            Op::Attention { .. } => "attention",
            Op::Upsample2x { .. } => "upsample2x",
            Op::ReduceTo { .. } => "reduce_to",
            Op::UnaryBackward(UnaryOp::Relu) => "relu_backward",
            Op::UnaryBackward(UnaryOp::Gelu) => "gelu_backward",
            Op::UnaryBackward(UnaryOp::Scale(_)) => "scale_backward",
            Op::SoftmaxBackward => "softmax_backward",
            Op::LayerNormBackward { .. } => "layernorm_backward",
            Op::EmbeddingBackward { .. } => "embedding_backward",
            Op::Slice { .. } => "slice",
            Op::SoftmaxCrossEntropy => "softmax_cross_entropy",
            Op::SoftmaxCrossEntropyBackward => "softmax_cross_entropy_backward",
            Op::MseLoss => "mse_loss",
            Op::MseLossBackward => "mse_loss_backward",
            Op::SgdStep { .. } => "sgd_step",
            Op::MomentumAccumulate { .. } => "momentum_accumulate",
            Op::Conv2dGradInput { .. } => "conv2d_grad_input",
            Op::Conv2dGradWeight { .. } => "conv2d_grad_weight",
            Op::Conv2dGradBias => "conv2d_grad_bias",
            Op::Pool2dGrad {
                attrs:
                    PoolAttrs {
                        kind: PoolKind::Max,
                        ..
                    },
                ..
            } => "maxpool2d_grad",
            Op::Pool2dGrad { .. } => "avgpool2d_grad",
            Op::GlobalAvgPoolGrad { .. } => "global_avg_pool_grad",
            Op::Upsample2xGrad { .. } => "upsample2x_grad",
            Op::AttentionStats { .. } => "attention_stats",
            Op::AttentionGrad {
                wrt: AttentionGradOf::Q,
                ..
            } => "attention_grad_q",
            Op::AttentionGrad {
                wrt: AttentionGradOf::K,
                ..
            } => "attention_grad_k",
            Op::AttentionGrad {
                wrt: AttentionGradOf::V,
                ..
            } => "attention_grad_v",
        }
    }

    /// True when the output shares its first input's bytes: a zero-copy reshape (no kernel
    /// runs), or an optimizer update that rewrites its first input in place
    /// ([`Op::updates_in_place`]; its kernel runs).
    pub fn is_view(&self) -> bool {
        matches!(self, Op::Reshape { .. }) || self.updates_in_place()
    }

    /// True for the optimizer updates ([`Op::SgdStep`], [`Op::MomentumAccumulate`]) that write
    /// their first input's bytes in place; their output is that storage after the update. No
    /// node may read the old tensor after the update (checked by validation).
    pub fn updates_in_place(&self) -> bool {
        matches!(self, Op::SgdStep { .. } | Op::MomentumAccumulate { .. })
    }

    /// True when the op may overwrite its first input, provided shapes and dtype match and the
    /// input has no later reader (decided by analysis).
    pub fn can_run_in_place(&self) -> bool {
        matches!(
            self,
            Op::Unary(_) | Op::Binary(_) | Op::Softmax | Op::LayerNorm { .. }
        )
    }
}
