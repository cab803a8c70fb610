//! Lowering: one graph node becomes zero or more kernel steps (kernel, storage regions at the
//! planned offsets, a uniform params block, workgroup counts). Pure CPU code; the executor and
//! the baselines turn steps into pipelines and bind groups.
//!
//! Where a tensor lives is asked of a [`Placement`]: a buffer slot and a byte offset in it. The
//! single-arena executor answers slot 0 at the layout's offset for everything; the baselines
//! answer one slot per tensor (or a pool slot at a buddy block's offset).
//!
//! One file per op family, mirroring `src/cpu/`: `matmul` (matmul, linear and the GEMM that
//! convolution shares), `elementwise`, `norm` (softmax, layernorm), `conv`, `pool`, `data`
//! (reshape, permute, concat, embedding), `attention` and `grad` (the convolution, pooling,
//! upsampling and attention gradients). `cx` holds the per-node helpers they share (regions,
//! checked 32-bit conversions, folded workgroup grids); `chunk` splits an op over several
//! bindings when a tensor exceeds the device's storage binding limit.

mod attention;
mod chunk;
mod conv;
mod cx;
mod data;
mod elementwise;
mod grad;
mod matmul;
mod norm;
mod pool;
mod resize;
mod train;

use super::RuntimeError;
use crate::graph::{AttentionKernel, Graph, NodeId, Op, TensorId};
use crate::layout::MemoryLayout;
use cx::NodeCx;
use std::sync::Arc;

use super::gemm::GemmKernel;
use super::kernels::KernelOptions;
use super::shaders::{FloatStorage, Kernel};

/// Where bytes live: a buffer slot (the caller's numbering of its device buffers) and a byte
/// offset inside that buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Loc {
    pub buffer: usize,
    pub offset: u64,
}

/// Answers "where is tensor t" and "where is node n's workspace" for the lowering.
pub(crate) trait Placement {
    /// The bytes of tensor `t` (a view answers its source's location).
    fn tensor(&self, t: TensorId) -> Loc;
    /// Node `n`'s workspace location and its size in bytes, if it has one.
    fn workspace(&self, n: NodeId) -> Option<(Loc, u64)>;
}

/// The single-arena executor: everything in buffer slot 0 at the layout's offsets.
impl Placement for MemoryLayout {
    fn tensor(&self, t: TensorId) -> Loc {
        Loc {
            buffer: 0,
            offset: self.offset(t),
        }
    }
    fn workspace(&self, n: NodeId) -> Option<(Loc, u64)> {
        let offset = self.workspace_offsets.get(n.index()).copied().flatten()?;
        let bytes = self.workspace_bytes.get(n.index()).copied().unwrap_or(0);
        Some((Loc { buffer: 0, offset }, bytes))
    }
}

/// A byte range of one buffer bound as one storage binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Region {
    pub buffer: usize,
    pub offset: u64,
    pub size: u64,
}

/// One dispatch.
#[derive(Clone, Debug)]
pub(crate) struct Step {
    /// The name of the node it belongs to (for error messages).
    pub node: Arc<str>,
    pub kernel: Kernel,
    /// The float storage variant its shader is compiled for.
    pub storage: FloatStorage,
    /// Storage bindings 1..=n, in order.
    pub bindings: Vec<Region>,
    /// The uniform block, `PARAMS_BYTES / 4` words: one of the `shaders::*Params` structs,
    /// zero-padded. Steps with equal blocks may share one slot of the params buffer.
    pub params: Vec<u32>,
    pub groups: [u32; 3],
}

/// Rounds a byte count up to whole 32-bit words (binding sizes must be multiples of 4).
pub(crate) fn round4(bytes: u64) -> u64 {
    bytes.div_ceil(4) * 4
}

/// Lowers the nodes of one graph against one placement.
pub(crate) struct Lowerer<'a> {
    pub graph: &'a Graph,
    pub place: &'a dyn Placement,
    /// `max_compute_workgroups_per_dimension`.
    pub max_groups: u32,
    /// `max_storage_buffer_binding_size`: larger tensors are bound in blocks (see `chunk`).
    pub max_binding: u64,
    /// `min_storage_buffer_offset_alignment`: every binding starts at a multiple of it.
    pub align: u64,
    /// The GEMM kernel of matmul, linear and convolution.
    pub gemm: GemmKernel,
    /// Row softmax and layer normalisation reduce with subgroup operations
    /// ([`KernelOptions::subgroups`]).
    pub subgroups: bool,
    /// Elementwise ops use their vec4 kernels where the operands allow
    /// ([`KernelOptions::vec4`]).
    pub vec4: bool,
    /// How F16 tensors are stored ([`FloatStorage::F16`] or [`FloatStorage::F16Packed`]).
    pub f16: FloatStorage,
}

impl<'a> Lowerer<'a> {
    /// A lowerer for `gpu`'s limits, choosing kernel variants as `kernels` says.
    pub fn new(
        graph: &'a Graph,
        place: &'a dyn Placement,
        gpu: &super::Gpu,
        kernels: KernelOptions,
    ) -> Lowerer<'a> {
        Lowerer {
            graph,
            place,
            max_groups: gpu.limits().max_compute_workgroups_per_dimension,
            max_binding: gpu.max_binding(),
            align: gpu.min_storage_buffer_offset_alignment(),
            gemm: kernels.gemm,
            subgroups: kernels.subgroups,
            vec4: kernels.vec4,
            f16: gpu.f16_storage(),
        }
    }
}

impl Lowerer<'_> {
    /// The steps of node `id` (empty for views at their source's offset and empty outputs),
    /// every binding within the device's storage binding limit.
    pub fn lower(&self, id: NodeId) -> Result<Vec<Step>, RuntimeError> {
        let steps = self.lower_node(id)?;
        NodeCx::new(self, id).check_bindings(&steps)?;
        Ok(steps)
    }

    fn lower_node(&self, id: NodeId) -> Result<Vec<Step>, RuntimeError> {
        let cx = NodeCx::new(self, id);
        let node = self.graph.node(id);
        let out = cx.output()?;
        if cx.numel(out) == 0 {
            return Ok(Vec::new());
        }
        cx.float_dtype()?;
        if cx.in_place() && !node.op.can_run_in_place() {
            return Err(RuntimeError::LayoutMismatch(format!(
                "node {} ({}) cannot run in place but its output shares its first input's offset",
                node.name,
                node.op.name()
            )));
        }
        match &node.op {
            Op::MatMul { trans_a, trans_b } => matmul::matmul(&cx, *trans_a, *trans_b),
            Op::Linear => matmul::linear(&cx),
            Op::Binary(op) => elementwise::binary(&cx, *op),
            Op::Unary(op) => elementwise::unary(&cx, *op),
            Op::Softmax => norm::softmax(&cx),
            Op::LayerNorm { eps } => norm::layernorm(&cx, *eps),
            Op::Conv2d(a) => conv::conv2d(&cx, a),
            Op::Pool2d(a) => pool::pool2d(&cx, a),
            Op::GlobalAvgPool => pool::global_avg_pool(&cx),
            Op::Reshape { .. } => data::reshape(&cx),
            Op::Permute { perm } => data::permute(&cx, perm),
            Op::Concat { axis } => data::concat(&cx, *axis),
            Op::Embedding => data::embedding(&cx),
            Op::Attention {
                causal,
                scale,
                kernel: AttentionKernel::Materialized,
            } => attention::materialized(&cx, *causal, *scale),
            Op::Attention {
                causal,
                scale,
                kernel: AttentionKernel::Tiled,
            } => attention::tiled(&cx, *causal, *scale),
            Op::Upsample2x { .. } => resize::upsample2x(&cx),
            Op::ReduceTo { .. } => train::reduce_to(&cx),
            Op::UnaryBackward(u) => train::unary_backward(&cx, *u),
            Op::SoftmaxBackward => train::rows(&cx, Kernel::SoftmaxBackward, &[0, 1], 0.0),
            Op::LayerNormBackward { eps } => {
                train::rows(&cx, Kernel::LayerNormBackward, &[0, 1, 2], *eps)
            }
            Op::EmbeddingBackward { .. } => train::embedding_backward(&cx),
            Op::Slice { axis, start, .. } => train::slice(&cx, *axis, *start),
            Op::SoftmaxCrossEntropy => train::cross_entropy(&cx, false),
            Op::SoftmaxCrossEntropyBackward => train::cross_entropy(&cx, true),
            Op::MseLoss => train::mse(&cx),
            Op::MseLossBackward => train::mse_backward(&cx),
            Op::SgdStep { lr } => train::update(&cx, Kernel::SgdStep, -lr),
            Op::MomentumAccumulate { momentum } => {
                train::update(&cx, Kernel::MomentumAccumulate, *momentum)
            }
            Op::Conv2dGradInput { attrs, .. } => grad::conv_grad_input(&cx, attrs),
            Op::Conv2dGradWeight { attrs, .. } => grad::conv_grad_weight(&cx, attrs),
            Op::Conv2dGradBias => grad::conv_grad_bias(&cx),
            Op::Pool2dGrad { attrs, .. } => grad::pool2d_grad(&cx, attrs),
            Op::GlobalAvgPoolGrad { .. } => grad::spread(&cx, Kernel::GlobalAvgPoolGrad),
            Op::Upsample2xGrad { .. } => grad::spread(&cx, Kernel::Upsample2xGrad),
            Op::AttentionStats { causal, scale } => grad::attention_stats(&cx, *causal, *scale),
            Op::AttentionGrad { causal, scale, wrt } => {
                grad::attention_grad(&cx, *causal, *scale, *wrt)
            }
        }
    }
}

#[cfg(test)]
mod tests;
