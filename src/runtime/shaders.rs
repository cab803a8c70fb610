//! The WGSL sources (one file per kernel family in `shaders/`, embedded with `include_str!`)
//! and the kernel table: which file, entry point and how many storage bindings each uses.
//! Constants shared with the shaders keep their WGSL names; each WGSL `Params` block has a
//! `#[repr(C)]` Rust mirror ([`ParamsStruct`], defined in `shaders/params.rs`, re-exported here).
//! `tests/shader_reflection.rs` checks every entry point's bindings, workgroup size and params
//! layout against this table with naga. Each file is compiled composed for one float storage
//! variant ([`FloatStorage`], `shaders/prelude.rs`): [`Kernel::source_in`].

mod params;
mod prelude;

pub use prelude::{FloatStorage, compose};

pub use params::{
    AttentionGradParams, AttentionParams, ConvGradParams, ConvParams, DataParams, DirectConvParams,
    ElementwiseParams, Field, GemmParams, NormParams, ParamsLayout, ParamsStruct, PoolParams,
    ReduceParams, ResizeParams, TiledAttentionParams, TrainParams,
};

/// Threads per workgroup of the 1-D and row kernels (`WORKGROUP_SIZE` in the WGSL).
pub const WORKGROUP_SIZE: u32 = 256;
/// Invocations along each side of a workgroup of the workgroup-memory GEMM (`TILE` in
/// matmul.wgsl); its block tile of C is `TILE * GEMM_TM` square.
pub const TILE: u32 = 16;
/// Rows and columns of C each GEMM invocation computes (`TM` in matmul.wgsl, both kernels).
pub const GEMM_TM: u32 = 4;
/// Depth of one K slice the workgroup-memory GEMM stages (`BK` in matmul.wgsl).
pub const GEMM_BK: u32 = 16;
/// Invocations along each side of a workgroup of the register-only GEMM (`REG_TILE`); its block
/// tile of C is `REG_TILE * GEMM_TM` square.
pub const REG_TILE: u32 = 8;
/// Invocations along each side of a workgroup of the vec4 register GEMM (`REG4_TILE`).
pub const REG4_TILE: u32 = 8;
/// Rows of C each invocation of the vec4 register GEMM computes (`REG4_ROWS`), strided by
/// `REG4_TILE`; it computes 8 adjacent columns, so its block of C is
/// `REG4_TILE * REG4_ROWS` x `REG4_TILE * 8`.
pub const REG4_ROWS: u32 = 8;
/// Workgroup memory of the workgroup-memory GEMM: one A and one B slice of `BK x TILE*TM` floats.
pub const GEMM_WORKGROUP_BYTES: u32 = 2 * GEMM_BK * TILE * GEMM_TM * 4;
const _: () = assert!(GEMM_WORKGROUP_BYTES <= 16 * 1024);
const _: () = assert!(
    GEMM_TM == 4,
    "matmul.wgsl unrolls TM = 4 (vec4 accumulators)"
);
/// Highest rank the broadcasting and permute kernels index (`MAX_RANK` in the WGSL).
pub const MAX_RANK: usize = 8;
/// Bytes of one dispatch's uniform params block: the largest `Params` struct rounded up to 16
/// bytes, so every WGSL `Params` fits (160 today, for [`ConvParams`]). A slot of the params
/// buffer is this rounded up to the device's `min_uniform_buffer_offset_alignment`.
pub const PARAMS_BYTES: u64 = {
    use std::mem::size_of;
    let sizes = [
        size_of::<GemmParams>(),
        size_of::<ConvParams>(),
        size_of::<ElementwiseParams>(),
        size_of::<NormParams>(),
        size_of::<PoolParams>(),
        size_of::<DataParams>(),
        size_of::<AttentionParams>(),
        size_of::<ResizeParams>(),
        size_of::<TiledAttentionParams>(),
        size_of::<DirectConvParams>(),
        size_of::<ReduceParams>(),
        size_of::<TrainParams>(),
        size_of::<ConvGradParams>(),
        size_of::<AttentionGradParams>(),
    ];
    let (mut max, mut i) = (0, 0);
    while i < sizes.len() {
        if sizes[i] > max {
            max = sizes[i];
        }
        i += 1;
    }
    max.next_multiple_of(16) as u64
};

/// Query rows per workgroup of the tiled attention kernel (`ATTN_ROWS` in attention_tiled.wgsl).
pub const ATTN_ROWS: u32 = 16;
/// Keys per K/V tile of the tiled attention kernel at the largest head dim (`ATTN_KEYS`); a
/// tile holds `min(ATTN_MAX_KEYS, ATTN_KEYS * ATTN_MAX_D / D)` keys for head dim `D`.
pub const ATTN_KEYS: u32 = 16;
/// Most keys per K/V tile of the tiled attention kernel (`ATTN_MAX_KEYS`): the score tile's width.
pub const ATTN_MAX_KEYS: u32 = 64;
/// Largest head dimension of the tiled attention kernel (`ATTN_MAX_D`), the graph's
/// [`TILED_ATTENTION_MAX_HEAD_DIM`](crate::graph::TILED_ATTENTION_MAX_HEAD_DIM).
pub const ATTN_MAX_D: u32 = crate::graph::TILED_ATTENTION_MAX_HEAD_DIM as u32;
/// Workgroup memory of the tiled attention kernel: q, k and v tiles of `ATTN_MAX_D` floats per
/// row or key and one `ATTN_ROWS x ATTN_MAX_KEYS` score tile. The tile sizes are chosen so this
/// stays within 32 KiB, the `max_compute_workgroup_storage_size` of lavapipe and WebGPU's
/// default (28,672 bytes).
pub const ATTN_WORKGROUP_BYTES: u32 =
    ((ATTN_ROWS + 2 * ATTN_KEYS) * ATTN_MAX_D + ATTN_ROWS * ATTN_MAX_KEYS) * 4;
const _: () = assert!(ATTN_WORKGROUP_BYTES <= 32 * 1024);
const _: () = assert!(WORKGROUP_SIZE.is_multiple_of(ATTN_ROWS));
const _: () = assert!(ATTN_MAX_D.is_multiple_of(WORKGROUP_SIZE / ATTN_ROWS));
/// Invocations per workgroup of the tiled attention kernel (`ATTN_THREADS`): each serves two
/// query rows, so `ATTN_THREADS / (ATTN_ROWS / 2)` lanes share a row pair's output columns.
pub const ATTN_THREADS: u32 = 64;
const _: () = assert!(ATTN_MAX_D.is_multiple_of(ATTN_THREADS / (ATTN_ROWS / 2)));
/// Invocations per workgroup of the direct convolution kernel (`DIRECT_THREADS` in
/// conv_direct.wgsl): each a register block of 4 positions x 4 channels of the workgroup's
/// `DIRECT_POSITIONS x DIRECT_CHANNELS` outputs.
pub const DIRECT_THREADS: u32 =
    (crate::graph::conv::DIRECT_POSITIONS * crate::graph::conv::DIRECT_CHANNELS / 16) as u32;

/// `BINARY_*` op codes of elementwise.wgsl.
pub const BINARY_ADD: u32 = 0;
/// Subtraction.
pub const BINARY_SUB: u32 = 1;
/// Multiplication.
pub const BINARY_MUL: u32 = 2;
/// `UNARY_*` op codes of elementwise.wgsl.
pub const UNARY_RELU: u32 = 0;
/// GELU (tanh approximation).
pub const UNARY_GELU: u32 = 1;
/// Multiplication by a constant.
pub const UNARY_SCALE: u32 = 2;
/// `VEC_FULL` of elementwise.wgsl's vec4 kernels: the operand holds the output's elements in
/// order (same element count), read as a vec4 at the output's quad.
pub const VEC_FULL: u32 = 0;
/// `VEC_ROW`: the operand varies along the output's last axis (a multiple of 4 long), read as
/// a vec4 at the broadcast offset of the quad's first element.
pub const VEC_ROW: u32 = 1;
/// `VEC_SPLAT`: the operand is constant along the output's last axis (a multiple of 4 long),
/// one element read and splatted over the quad.
pub const VEC_SPLAT: u32 = 2;
/// Invocations of one workgroup (one row) of norm_subgroup.wgsl (`NORM_SG_THREADS`).
pub const NORM_SG_THREADS: u32 = 64;
/// Most subgroups in one workgroup of norm_subgroup.wgsl (`MAX_SUBGROUPS`): NORM_SG_THREADS over
/// the smallest subgroup size wgpu allows (4).
pub const MAX_SUBGROUPS: u32 = NORM_SG_THREADS / 4;
/// `POOL_MAX` of pool.wgsl (anything else averages).
pub const POOL_MAX: u32 = 0;
/// Average pooling.
pub const POOL_AVG: u32 = 1;

/// `ATTN_GRAD_K` of attention_grad.wgsl: attn_grad_kv computes d k.
pub const ATTN_GRAD_K: u32 = 1;
/// `ATTN_GRAD_V`: attn_grad_kv computes d v.
pub const ATTN_GRAD_V: u32 = 2;

/// Rows (one per thread) of one (batch, head) per workgroup of attn_grad_q and attn_grad_kv
/// (`ATTN_GRAD_ROWS` in attention_grad.wgsl).
pub const ATTN_GRAD_ROWS: u32 = 64;
/// Rows of the other side (keys for d q, queries for d k and d v) per workgroup-memory tile of
/// those kernels (`ATTN_GRAD_TILE`): two tiles of `ATTN_GRAD_TILE x ATTN_MAX_D` floats.
pub const ATTN_GRAD_TILE: u32 = 16;
const _: () = assert!((2 * ATTN_MAX_D + 2) * ATTN_GRAD_TILE * 4 <= 28 * 1024);

/// Every WGSL `const` that mirrors a Rust constant, as `(name, value)`: a shader declaring one of
/// these names must give it this value (checked by the reflection test).
pub const WGSL_CONSTANTS: &[(&str, u32)] = &[
    ("WORKGROUP_SIZE", WORKGROUP_SIZE),
    ("TILE", TILE),
    ("TM", GEMM_TM),
    ("BK", GEMM_BK),
    ("REG_TILE", REG_TILE),
    ("REG4_TILE", REG4_TILE),
    ("REG4_ROWS", REG4_ROWS),
    ("MAX_RANK", MAX_RANK as u32),
    ("BINARY_ADD", BINARY_ADD),
    ("BINARY_SUB", BINARY_SUB),
    ("BINARY_MUL", BINARY_MUL),
    ("UNARY_RELU", UNARY_RELU),
    ("UNARY_GELU", UNARY_GELU),
    ("UNARY_SCALE", UNARY_SCALE),
    ("POOL_MAX", POOL_MAX),
    ("POOL_AVG", POOL_AVG),
    ("ATTN_ROWS", ATTN_ROWS),
    ("ATTN_KEYS", ATTN_KEYS),
    ("ATTN_MAX_KEYS", ATTN_MAX_KEYS),
    ("ATTN_MAX_D", ATTN_MAX_D),
    (
        "DIRECT_POSITIONS",
        crate::graph::conv::DIRECT_POSITIONS as u32,
    ),
    (
        "DIRECT_CHANNELS",
        crate::graph::conv::DIRECT_CHANNELS as u32,
    ),
    ("DIRECT_PATCH", crate::graph::conv::DIRECT_PATCH as u32),
    ("ATTN_GRAD_K", ATTN_GRAD_K),
    ("ATTN_GRAD_V", ATTN_GRAD_V),
    ("ATTN_GRAD_ROWS", ATTN_GRAD_ROWS),
    ("ATTN_GRAD_TILE", ATTN_GRAD_TILE),
    ("VEC_FULL", VEC_FULL),
    ("VEC_ROW", VEC_ROW),
    ("VEC_SPLAT", VEC_SPLAT),
    ("MAX_SUBGROUPS", MAX_SUBGROUPS),
    ("NORM_SG_THREADS", NORM_SG_THREADS),
];

/// Every shader file as `(file name, source)`, as written: arena bindings are read through
/// accessors that only [`compose`] defines, so compile [`composed_sources`] instead.
pub const SOURCES: &[(&str, &str)] = &[
    ("matmul.wgsl", include_str!("../../shaders/matmul.wgsl")),
    (
        "elementwise.wgsl",
        include_str!("../../shaders/elementwise.wgsl"),
    ),
    ("norm.wgsl", include_str!("../../shaders/norm.wgsl")),
    (
        "norm_subgroup.wgsl",
        include_str!("../../shaders/norm_subgroup.wgsl"),
    ),
    ("conv.wgsl", include_str!("../../shaders/conv.wgsl")),
    ("pool.wgsl", include_str!("../../shaders/pool.wgsl")),
    ("data.wgsl", include_str!("../../shaders/data.wgsl")),
    (
        "attention.wgsl",
        include_str!("../../shaders/attention.wgsl"),
    ),
    ("resize.wgsl", include_str!("../../shaders/resize.wgsl")),
    (
        "attention_tiled.wgsl",
        include_str!("../../shaders/attention_tiled.wgsl"),
    ),
    (
        "conv_direct.wgsl",
        include_str!("../../shaders/conv_direct.wgsl"),
    ),
    ("reduce.wgsl", include_str!("../../shaders/reduce.wgsl")),
    ("backward.wgsl", include_str!("../../shaders/backward.wgsl")),
    (
        "backward_ids.wgsl",
        include_str!("../../shaders/backward_ids.wgsl"),
    ),
    (
        "conv_grad.wgsl",
        include_str!("../../shaders/conv_grad.wgsl"),
    ),
    (
        "pool_grad.wgsl",
        include_str!("../../shaders/pool_grad.wgsl"),
    ),
    (
        "attention_grad.wgsl",
        include_str!("../../shaders/attention_grad.wgsl"),
    ),
];

/// The shader files that use subgroup operations (built-ins such as `subgroupAdd`): naga must
/// validate them with [`naga::valid::Capabilities::SUBGROUP`], and wgpu creates them only on a
/// device with `wgpu::Features::SUBGROUP`. naga 30 does not implement the `enable subgroups;`
/// directive (it rejects it) and accepts the built-ins without it; the separate file is what
/// keeps them out of the modules every device compiles.
pub const SUBGROUP_FILES: &[&str] = &["norm_subgroup.wgsl"];

/// Whether shader file `file` uses subgroup operations ([`SUBGROUP_FILES`]).
pub fn needs_subgroups(file: &str) -> bool {
    SUBGROUP_FILES.contains(&file)
}

/// The naga capabilities shader file `file` is validated with: the default ones, plus
/// subgroup operations for [`SUBGROUP_FILES`].
pub fn naga_capabilities(file: &str) -> naga::valid::Capabilities {
    let base = naga::valid::Capabilities::default();
    if needs_subgroups(file) {
        base | naga::valid::Capabilities::SUBGROUP
    } else {
        base
    }
}

/// Every shader file composed for `storage`, as `(file name, source)` (built once per variant).
pub fn composed_sources(storage: FloatStorage) -> &'static [(&'static str, String)] {
    static CACHE: std::sync::OnceLock<Vec<Vec<(&'static str, String)>>> =
        std::sync::OnceLock::new();
    let all = CACHE.get_or_init(|| {
        FloatStorage::ALL
            .iter()
            .map(|&s| {
                SOURCES
                    .iter()
                    .map(|&(f, src)| (f, compose(src, s)))
                    .collect()
            })
            .collect()
    });
    let i = FloatStorage::ALL
        .iter()
        .position(|&s| s == storage)
        .unwrap_or(0);
    all.get(i).map_or(&[], |v| v.as_slice())
}

/// Declares [`Kernel`] and [`Kernel::ALL`] from one list, so the two cannot drift apart.
macro_rules! kernels {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// One compute entry point.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kernel {
            $($(#[$doc])* $name,)*
        }

        impl Kernel {
            /// Every kernel, in declaration order.
            pub const ALL: [Kernel; [$(stringify!($name)),*].len()] = [$(Kernel::$name),*];
        }
    };
}

kernels! {
    /// Batched GEMM with block tiles staged in workgroup memory (matmul, linear, convolution).
    MatMul,
    /// Broadcasting binary op.
    Binary,
    /// Binary op overwriting operand a.
    BinaryInPlace,
    /// Unary op.
    Unary,
    /// Unary op overwriting its input.
    UnaryInPlace,
    /// Row softmax.
    Softmax,
    /// Row softmax overwriting its input.
    SoftmaxInPlace,
    /// Layer normalisation.
    LayerNorm,
    /// Layer normalisation overwriting its input.
    LayerNormInPlace,
    /// Column matrix of a convolution.
    Im2Col,
    /// Max or average pooling.
    Pool2d,
    /// Global average pooling.
    GlobalAvgPool,
    /// Axis permutation.
    Permute,
    /// One input of a concat copied into its slice.
    ConcatPiece,
    /// Embedding gather.
    Embedding,
    /// Word copy.
    Copy,
    /// Attention scores into the workspace.
    AttnScores,
    /// Attention row softmax (with causal mask) in the workspace.
    AttnSoftmax,
    /// Attention probabilities times v.
    AttnPv,
    /// Nearest-neighbour 2x upsampling (optionally cropped by one).
    Upsample2x,
    /// Flash-style attention: online softmax over K/V tiles, no score matrix.
    AttnTiled,
    /// Direct convolution with input tiles in workgroup memory (no workspace).
    ConvDirect,
    /// Sum down to a broadcast shape.
    ReduceTo,
    /// Gradient of relu, gelu or scale.
    UnaryBackward,
    /// Gradient of a row softmax.
    SoftmaxBackward,
    /// Input gradient of layer normalisation.
    LayerNormBackward,
    /// Slice along one axis.
    Slice,
    /// Mean squared error (one workgroup).
    MseLoss,
    /// Gradient of the mean squared error.
    MseLossBackward,
    /// SGD step rewriting the weight in place.
    SgdStep,
    /// Momentum accumulation rewriting the velocity in place.
    MomentumAccumulate,
    /// Embedding table gradient (deterministic scatter-add).
    EmbeddingBackward,
    /// Softmax cross-entropy, mean over rows (one workgroup).
    CrossEntropy,
    /// Gradient of softmax cross-entropy.
    CrossEntropyBackward,
    /// Convolution gradient of the input (gathered transposed convolution).
    ConvGradInput,
    /// Convolution gradient of the weight.
    ConvGradWeight,
    /// Convolution gradient of the bias.
    ConvGradBias,
    /// Max pooling gradient (to each window's first maximum).
    MaxPoolGrad,
    /// Average pooling gradient.
    AvgPoolGrad,
    /// Global average pooling gradient.
    GlobalAvgPoolGrad,
    /// 2x upsampling gradient.
    Upsample2xGrad,
    /// Attention backward row statistics (log-sum-exp, delta).
    AttnStats,
    /// Attention gradient of q.
    AttnGradQ,
    /// Attention gradient of k or v.
    AttnGradKv,
    /// Batched GEMM blocked in registers only, no workgroup memory (the CPU adapters' GEMM).
    MatMulReg,
    /// MatMulReg reading A and B as vec4s (untransposed operands aligned to 4 elements).
    MatMulReg4,
    /// Row softmax reducing with subgroup operations (needs `Features::SUBGROUP`).
    SoftmaxSg,
    /// [`Kernel::SoftmaxSg`] overwriting its input.
    SoftmaxSgInPlace,
    /// Layer normalisation reducing with subgroup operations (needs `Features::SUBGROUP`).
    LayerNormSg,
    /// [`Kernel::LayerNormSg`] overwriting its input.
    LayerNormSgInPlace,
    /// Broadcasting binary op, four elements per invocation (vec4 loads and stores).
    Binary4,
    /// [`Kernel::Binary4`] overwriting operand a.
    Binary4InPlace,
    /// Unary op, four elements per invocation.
    Unary4,
    /// [`Kernel::Unary4`] overwriting its input.
    Unary4InPlace,
    /// [`Kernel::SoftmaxSg`] reading rows as vec4s (row length a multiple of 4).
    SoftmaxSg4,
    /// [`Kernel::SoftmaxSg4`] overwriting its input.
    SoftmaxSg4InPlace,
    /// [`Kernel::LayerNormSg`] reading rows as vec4s (row length a multiple of 4).
    LayerNormSg4,
    /// [`Kernel::LayerNormSg4`] overwriting its input.
    LayerNormSg4InPlace,
}

impl Kernel {
    /// The shader file that holds it.
    pub fn file(self) -> &'static str {
        use Kernel::*;
        match self {
            MatMul | MatMulReg | MatMulReg4 => "matmul.wgsl",
            Binary | BinaryInPlace | Unary | UnaryInPlace => "elementwise.wgsl",
            Binary4 | Binary4InPlace | Unary4 | Unary4InPlace => "elementwise.wgsl",
            Softmax | SoftmaxInPlace | LayerNorm | LayerNormInPlace => "norm.wgsl",
            SoftmaxSg | SoftmaxSgInPlace | LayerNormSg | LayerNormSgInPlace => "norm_subgroup.wgsl",
            SoftmaxSg4 | SoftmaxSg4InPlace | LayerNormSg4 | LayerNormSg4InPlace => {
                "norm_subgroup.wgsl"
            }
            Im2Col => "conv.wgsl",
            Pool2d | GlobalAvgPool => "pool.wgsl",
            Permute | ConcatPiece | Embedding | Copy => "data.wgsl",
            AttnScores | AttnSoftmax | AttnPv => "attention.wgsl",
            Upsample2x => "resize.wgsl",
            AttnTiled => "attention_tiled.wgsl",
            ConvDirect => "conv_direct.wgsl",
            ReduceTo => "reduce.wgsl",
            UnaryBackward | SoftmaxBackward | LayerNormBackward | Slice | MseLoss
            | MseLossBackward | SgdStep | MomentumAccumulate => "backward.wgsl",
            EmbeddingBackward | CrossEntropy | CrossEntropyBackward => "backward_ids.wgsl",
            ConvGradInput | ConvGradWeight | ConvGradBias => "conv_grad.wgsl",
            MaxPoolGrad | AvgPoolGrad | GlobalAvgPoolGrad | Upsample2xGrad => "pool_grad.wgsl",
            AttnStats | AttnGradQ | AttnGradKv => "attention_grad.wgsl",
        }
    }

    /// The WGSL entry point.
    pub fn entry(self) -> &'static str {
        use Kernel::*;
        match self {
            MatMul => "matmul",
            Binary => "binary",
            BinaryInPlace => "binary_inplace",
            Unary => "unary",
            UnaryInPlace => "unary_inplace",
            Softmax => "softmax",
            SoftmaxInPlace => "softmax_inplace",
            LayerNorm => "layernorm",
            LayerNormInPlace => "layernorm_inplace",
            Im2Col => "im2col",
            Pool2d => "pool2d",
            GlobalAvgPool => "global_avg_pool",
            Permute => "permute",
            ConcatPiece => "concat_piece",
            Embedding => "embedding",
            Copy => "copy",
            AttnScores => "attn_scores",
            AttnSoftmax => "attn_softmax",
            AttnPv => "attn_pv",
            Upsample2x => "upsample2x",
            AttnTiled => "attn_tiled",
            ConvDirect => "conv_direct",
            ReduceTo => "reduce_to",
            UnaryBackward => "unary_backward",
            SoftmaxBackward => "softmax_backward",
            LayerNormBackward => "layernorm_backward",
            Slice => "slice",
            MseLoss => "mse_loss",
            MseLossBackward => "mse_loss_backward",
            SgdStep => "sgd_step",
            MomentumAccumulate => "momentum_accumulate",
            EmbeddingBackward => "embedding_backward",
            CrossEntropy => "cross_entropy",
            CrossEntropyBackward => "cross_entropy_backward",
            ConvGradInput => "conv_grad_input",
            ConvGradWeight => "conv_grad_weight",
            ConvGradBias => "conv_grad_bias",
            MaxPoolGrad => "max_pool2d_grad",
            AvgPoolGrad => "avg_pool2d_grad",
            GlobalAvgPoolGrad => "global_avg_pool_grad",
            Upsample2xGrad => "upsample2x_grad",
            AttnStats => "attn_stats",
            AttnGradQ => "attn_grad_q",
            AttnGradKv => "attn_grad_kv",
            MatMulReg => "matmul_reg",
            MatMulReg4 => "matmul_reg4",
            SoftmaxSg => "softmax_sg",
            SoftmaxSgInPlace => "softmax_sg_inplace",
            LayerNormSg => "layernorm_sg",
            LayerNormSgInPlace => "layernorm_sg_inplace",
            Binary4 => "binary4",
            Binary4InPlace => "binary4_inplace",
            Unary4 => "unary4",
            Unary4InPlace => "unary4_inplace",
            SoftmaxSg4 => "softmax_sg4",
            SoftmaxSg4InPlace => "softmax_sg4_inplace",
            LayerNormSg4 => "layernorm_sg4",
            LayerNormSg4InPlace => "layernorm_sg4_inplace",
        }
    }

    /// Storage bindings `1..=n` of its layout (binding 0 is the params uniform).
    pub fn storage_bindings(self) -> u32 {
        use Kernel::*;
        match self {
            UnaryInPlace | SoftmaxInPlace => 1,
            Unary | BinaryInPlace | Softmax | Im2Col | Pool2d | GlobalAvgPool | Permute
            | ConcatPiece | Copy | Upsample2x => 2,
            Binary | LayerNormInPlace | Embedding => 3,
            MatMul | MatMulReg | MatMulReg4 | LayerNorm | AttnTiled | ConvDirect => 4,
            AttnScores | AttnSoftmax | AttnPv => 5,
            ReduceTo | Slice | SgdStep | MomentumAccumulate => 2,
            UnaryBackward | SoftmaxBackward | MseLoss | EmbeddingBackward | CrossEntropy => 3,
            LayerNormBackward | MseLossBackward | CrossEntropyBackward => 4,
            ConvGradBias | AvgPoolGrad | GlobalAvgPoolGrad | Upsample2xGrad => 2,
            ConvGradInput | ConvGradWeight | MaxPoolGrad => 3,
            AttnStats => 5,
            AttnGradQ | AttnGradKv => 6,
            SoftmaxSgInPlace | SoftmaxSg4InPlace | Unary4InPlace => 1,
            SoftmaxSg | SoftmaxSg4 | Unary4 | Binary4InPlace => 2,
            LayerNormSgInPlace | LayerNormSg4InPlace | Binary4 => 3,
            LayerNormSg | LayerNormSg4 => 4,
        }
    }

    /// Its `@workgroup_size`: TILE x TILE, REG_TILE x REG_TILE or REG4_TILE x REG4_TILE for the
    /// GEMMs, WORKGROUP_SIZE threads otherwise.
    pub fn workgroup_size(self) -> [u32; 3] {
        match self {
            Kernel::MatMul => [TILE, TILE, 1],
            Kernel::AttnGradQ | Kernel::AttnGradKv => [ATTN_GRAD_ROWS, 1, 1],
            Kernel::MatMulReg => [REG_TILE, REG_TILE, 1],
            Kernel::MatMulReg4 => [REG4_TILE, REG4_TILE, 1],
            Kernel::SoftmaxSg
            | Kernel::SoftmaxSgInPlace
            | Kernel::LayerNormSg
            | Kernel::LayerNormSgInPlace
            | Kernel::SoftmaxSg4
            | Kernel::SoftmaxSg4InPlace
            | Kernel::LayerNormSg4
            | Kernel::LayerNormSg4InPlace => [NORM_SG_THREADS, 1, 1],
            Kernel::AttnTiled => [ATTN_THREADS, 1, 1],
            Kernel::ConvDirect => [DIRECT_THREADS, 1, 1],
            _ => [WORKGROUP_SIZE, 1, 1],
        }
    }

    /// Whether wgpu must zero its workgroup memory before it runs (wgpu's default, a
    /// `PipelineCompilationOptions` switch). False only for kernels that write every workgroup
    /// element they read before reading it: the tiled attention kernel stages its q, k and v
    /// tiles and scores before each use (28 KiB of workgroup arrays). Zero-filling those arrays
    /// made the demo hang for minutes on wgpu's GL backend (llvmpipe compiles the generated
    /// zero-fill of 7,168 floats very slowly), so it is skipped there; every other kernel keeps
    /// the default.
    pub fn needs_zeroed_workgroup_memory(self) -> bool {
        !matches!(self, Kernel::AttnTiled)
    }

    /// The Rust struct of its WGSL `Params` block (binding 0).
    pub fn params_layout(self) -> ParamsLayout {
        use Kernel::*;
        match self {
            MatMul | MatMulReg | MatMulReg4 => ParamsLayout::of::<GemmParams>(),
            Binary | BinaryInPlace | Unary | UnaryInPlace => {
                ParamsLayout::of::<ElementwiseParams>()
            }
            Binary4 | Binary4InPlace | Unary4 | Unary4InPlace => {
                ParamsLayout::of::<ElementwiseParams>()
            }
            Softmax | SoftmaxInPlace | LayerNorm | LayerNormInPlace => {
                ParamsLayout::of::<NormParams>()
            }
            SoftmaxSg | SoftmaxSgInPlace | LayerNormSg | LayerNormSgInPlace => {
                ParamsLayout::of::<NormParams>()
            }
            SoftmaxSg4 | SoftmaxSg4InPlace | LayerNormSg4 | LayerNormSg4InPlace => {
                ParamsLayout::of::<NormParams>()
            }
            Im2Col => ParamsLayout::of::<ConvParams>(),
            Pool2d | GlobalAvgPool => ParamsLayout::of::<PoolParams>(),
            Permute | ConcatPiece | Embedding | Copy => ParamsLayout::of::<DataParams>(),
            AttnScores | AttnSoftmax | AttnPv => ParamsLayout::of::<AttentionParams>(),
            Upsample2x => ParamsLayout::of::<ResizeParams>(),
            AttnTiled => ParamsLayout::of::<TiledAttentionParams>(),
            ConvDirect => ParamsLayout::of::<DirectConvParams>(),
            ReduceTo => ParamsLayout::of::<ReduceParams>(),
            UnaryBackward | SoftmaxBackward | LayerNormBackward | Slice | MseLoss
            | MseLossBackward | SgdStep | MomentumAccumulate | EmbeddingBackward | CrossEntropy
            | CrossEntropyBackward => ParamsLayout::of::<TrainParams>(),
            ConvGradInput | ConvGradWeight | ConvGradBias => ParamsLayout::of::<ConvGradParams>(),
            MaxPoolGrad | AvgPoolGrad | GlobalAvgPoolGrad | Upsample2xGrad => {
                ParamsLayout::of::<PoolParams>()
            }
            AttnStats | AttnGradQ | AttnGradKv => ParamsLayout::of::<AttentionGradParams>(),
        }
    }

    /// The source of its shader file composed for f32 storage.
    pub fn source(self) -> &'static str {
        self.source_in(FloatStorage::F32)
    }

    /// The source of its shader file composed for `storage`.
    pub fn source_in(self, storage: FloatStorage) -> &'static str {
        composed_sources(storage)
            .iter()
            .find(|(f, _)| *f == self.file())
            .map_or("", |(_, s)| s.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_shaders_validate_in_every_variant_and_have_every_entry_point() {
        for s in FloatStorage::ALL {
            // SHADER_FLOAT16 is what wgpu's SHADER_F16 enables: only the native variant may
            // need it. The packed variant's pack2x16float needs SHADER_FLOAT16_IN_FLOAT32
            // (wgpu's SHADER_F16_IN_F32 downlevel flag, which every WebGPU adapter has).
            use naga::valid::Capabilities as C;
            let storage_caps = match s {
                FloatStorage::F32 => C::default(),
                FloatStorage::F16 => C::SHADER_FLOAT16,
                FloatStorage::F16Packed => C::SHADER_FLOAT16_IN_FLOAT32,
            };
            for (file, src) in composed_sources(s) {
                let caps = storage_caps | naga_capabilities(file);
                let module = naga::front::wgsl::parse_str(src)
                    .unwrap_or_else(|e| panic!("{file} ({s:?}): {}", e.emit_to_string(src)));
                naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
                    .validate(&module)
                    .unwrap_or_else(|e| panic!("{file} ({s:?}): {}", e.emit_to_string(src)));
            }
        }
        for k in Kernel::ALL {
            assert!(k.params_layout().size as u64 <= PARAMS_BYTES, "{k:?}");
            for s in FloatStorage::ALL {
                let module = naga::front::wgsl::parse_str(k.source_in(s)).unwrap_or_default();
                assert!(
                    module.entry_points.iter().any(|e| e.name == k.entry()),
                    "{k:?} ({s:?}): no entry point {}",
                    k.entry()
                );
            }
        }
    }
}
