//! The uniform parameter blocks of the WGSL kernels as `#[repr(C)]` Rust structs, one per WGSL
//! `struct Params`, with the WGSL member names. Each struct lists its fields (name, byte offset
//! from `offset_of!`, byte size) so `tests/shader_reflection.rs` can hold it against the layout
//! naga computes for the shader.

use bytemuck::{Pod, Zeroable};

/// One member of a params struct: its WGSL name, byte offset and byte size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The member name, identical in Rust and WGSL.
    pub name: &'static str,
    /// Byte offset inside the struct (`offset_of!`).
    pub offset: usize,
    /// Byte size of the member.
    pub size: usize,
}

/// A Rust mirror of one WGSL `Params` struct.
pub trait ParamsStruct: Pod + Zeroable {
    /// The Rust type name (for messages).
    const NAME: &'static str;
    /// Every member in declaration order.
    const FIELDS: &'static [Field];
}

/// The layout of one params struct, as the reflection test compares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamsLayout {
    /// The Rust type name.
    pub name: &'static str,
    /// `size_of` the struct.
    pub size: usize,
    /// Every member in declaration order.
    pub fields: &'static [Field],
}

impl ParamsLayout {
    /// The layout of `P`.
    pub fn of<P: ParamsStruct>() -> ParamsLayout {
        ParamsLayout {
            name: P::NAME,
            size: std::mem::size_of::<P>(),
            fields: P::FIELDS,
        }
    }
}

/// Declares a `#[repr(C)]` Pod params struct and its [`ParamsStruct`] field table.
macro_rules! params_struct {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl ParamsStruct for $name {
            const NAME: &'static str = stringify!($name);
            const FIELDS: &'static [Field] = &[$(Field {
                name: stringify!($field),
                offset: std::mem::offset_of!($name, $field),
                size: std::mem::size_of::<$ty>(),
            }),*];
        }
    };
}

params_struct! {
    /// `Params` of matmul.wgsl (all three GEMM entry points): a batched GEMM over a folded grid
    /// of block tiles of C (sides from [`GemmKernel::entry`](crate::runtime::GemmKernel::entry)).
    GemmParams {
        /// Rows of C.
        m: u32,
        /// Columns of C.
        n: u32,
        /// The reduced dimension.
        k: u32,
        /// Number of matrices in the batch.
        batch: u32,
        /// Elements between consecutive A matrices.
        a_batch_stride: u32,
        /// Elements between consecutive B matrices (0 shares one B).
        b_batch_stride: u32,
        /// Elements between consecutive C matrices.
        c_batch_stride: u32,
        /// 1 when A is stored transposed.
        trans_a: u32,
        /// 1 when B is stored transposed.
        trans_b: u32,
        /// 0 no bias, 1 bias per column, 2 bias per row.
        bias_mode: u32,
        /// Columns per output group (n for a plain GEMM, OH*OW for convolution).
        col_group: u32,
        /// Elements between output groups.
        group_stride: u32,
        /// Element offset added to every output index.
        c_offset: u32,
        /// Tiles along n: ceil(n / block).
        tiles_n: u32,
        /// Tiles along m: ceil(m / block).
        tiles_m: u32,
        /// Tiles in all: tiles_n * tiles_m * batch (the folded grid may hold more workgroups).
        tiles: u32,
        /// Elements between rows of stored A (K, or M when trans_a, for a packed matrix; more
        /// when the dispatch reads a block of a larger matrix).
        lda: u32,
        /// Elements between rows of stored B (N, or K when trans_b, when packed).
        ldb: u32,
        /// Elements between rows of C inside an output group (col_group for a dense output).
        ldc: u32,
        /// Element offset of this dispatch's A inside its binding.
        a_offset: u32,
        /// Element offset of this dispatch's B inside its binding.
        b_offset: u32,
        /// 1: add the product to what C already holds (a later chunk of the reduced dimension).
        accumulate: u32,
    }
}

params_struct! {
    /// `Params` of conv.wgsl: one im2col tile and the GEMM over it share this block, so its
    /// first 88 bytes are a [`GemmParams`] (same names, same offsets) read by matmul.wgsl.
    ConvParams {
        /// GEMM: output channels.
        m: u32,
        /// GEMM: output positions in this tile.
        n: u32,
        /// GEMM: C*KH*KW.
        k: u32,
        /// GEMM: 1.
        batch: u32,
        /// GEMM: 0.
        a_batch_stride: u32,
        /// GEMM: 0.
        b_batch_stride: u32,
        /// GEMM: 0.
        c_batch_stride: u32,
        /// GEMM: 0.
        trans_a: u32,
        /// GEMM: 0.
        trans_b: u32,
        /// GEMM: 2 with a per-channel bias, else 0.
        bias_mode: u32,
        /// GEMM: OH*OW (the output row stride).
        col_group: u32,
        /// GEMM: O*OH*OW.
        group_stride: u32,
        /// GEMM: element offset of this tile in the NCHW output.
        c_offset: u32,
        /// GEMM: ceil(n / TILE).
        tiles_n: u32,
        /// GEMM: ceil(m / TILE).
        tiles_m: u32,
        /// GEMM: tiles_n * tiles_m.
        tiles: u32,
        /// GEMM: C*KH*KW (the weight's row length).
        lda: u32,
        /// GEMM: the tile's columns (the column matrix's row length).
        ldb: u32,
        /// GEMM: OH*OW.
        ldc: u32,
        /// GEMM: 0.
        a_offset: u32,
        /// GEMM: 0.
        b_offset: u32,
        /// GEMM: 0.
        accumulate: u32,
        /// im2col: elements of this tile's column matrix (C*KH*KW * cols).
        total: u32,
        /// im2col: output positions in this tile.
        cols: u32,
        /// Input channels.
        c: u32,
        /// Input height.
        h: u32,
        /// Input width.
        w: u32,
        /// Kernel height.
        kh: u32,
        /// Kernel width.
        kw: u32,
        /// Output height.
        oh: u32,
        /// Output width.
        ow: u32,
        /// Vertical stride.
        stride_h: u32,
        /// Horizontal stride.
        stride_w: u32,
        /// Top padding.
        pad_h: u32,
        /// Left padding.
        pad_w: u32,
        /// Vertical dilation.
        dil_h: u32,
        /// Horizontal dilation.
        dil_w: u32,
        /// The image of this tile.
        image: u32,
        /// The first output position (within the image) of this tile.
        col_start: u32,
    }
}

params_struct! {
    /// `Params` of elementwise.wgsl: broadcasting binary and unary ops.
    ElementwiseParams {
        /// Output elements.
        total: u32,
        /// `BINARY_*` or `UNARY_*` code.
        op: u32,
        /// Output rank (binary only).
        rank: u32,
        /// The factor of `UNARY_SCALE`.
        scale: f32,
        /// Output dimensions (binary only).
        dims: [u32; 8],
        /// Strides of operand a over the output axes (0 on broadcast axes).
        a_strides: [u32; 8],
        /// Strides of operand b over the output axes (0 on broadcast axes).
        b_strides: [u32; 8],
        /// How the vec4 kernels read operand a: `VEC_FULL`, `VEC_ROW` or `VEC_SPLAT`.
        a_mode: u32,
        /// How the vec4 kernels read operand b.
        b_mode: u32,
        /// Padding.
        _pad0: u32,
        /// Padding.
        _pad1: u32,
    }
}

params_struct! {
    /// `Params` of norm.wgsl: row softmax and layer normalisation.
    NormParams {
        /// Rows (one workgroup each).
        rows: u32,
        /// Elements per row.
        cols: u32,
        /// Layer-norm epsilon.
        eps: f32,
        /// Padding.
        _pad: u32,
    }
}

params_struct! {
    /// `Params` of resize.wgsl: nearest-neighbour 2x upsampling, optionally cropped by one.
    ResizeParams {
        /// Output elements.
        total: u32,
        /// Input height.
        h: u32,
        /// Input width.
        w: u32,
        /// Output height (2h or 2h - 1).
        oh: u32,
        /// Output width (2w or 2w - 1).
        ow: u32,
    }
}

params_struct! {
    /// `Params` of pool.wgsl: max/average pooling and global average pooling.
    PoolParams {
        /// Output elements.
        total: u32,
        /// Input height.
        h: u32,
        /// Input width.
        w: u32,
        /// Output height.
        oh: u32,
        /// Output width.
        ow: u32,
        /// Window height.
        kh: u32,
        /// Window width.
        kw: u32,
        /// Vertical stride.
        stride_h: u32,
        /// Horizontal stride.
        stride_w: u32,
        /// Top padding.
        pad_h: u32,
        /// Left padding.
        pad_w: u32,
        /// `POOL_MAX` or `POOL_AVG`.
        kind: u32,
    }
}

params_struct! {
    /// `Params` of data.wgsl: permute, concat pieces, embedding and copy.
    DataParams {
        /// Output elements of this dispatch.
        total: u32,
        /// Permute: rank.
        rank: u32,
        /// Concat: elements per outer index in this input.
        inner_in: u32,
        /// Concat: elements per outer index in the output.
        inner_out: u32,
        /// Concat: this input's start inside an output row. Embedding: the first table row bound.
        offset: u32,
        /// Embedding: row length.
        dim: u32,
        /// Embedding: vocabulary size (ids at or past it read zeros).
        vocab: u32,
        /// Embedding: table rows bound in this dispatch, starting at row `offset` (the whole
        /// table, from row 0, unless the table is split over several bindings).
        rows: u32,
        /// Permute: output dimensions.
        dims: [u32; 8],
        /// Permute: input strides of each output axis.
        strides: [u32; 8],
    }
}

params_struct! {
    /// `Params` of attention.wgsl, shared by its three entry points.
    AttentionParams {
        /// Batch times heads.
        bh: u32,
        /// Query length.
        s: u32,
        /// Key length.
        t: u32,
        /// Head dimension.
        d: u32,
        /// 1 for a causal mask.
        causal: u32,
        /// Score scale.
        scale: f32,
        /// Output elements (bh * s * d).
        total: u32,
        /// Padding.
        _pad: u32,
    }
}

params_struct! {
    /// `Params` of attention_tiled.wgsl.
    TiledAttentionParams {
        /// Batch times heads.
        bh: u32,
        /// Query length.
        s: u32,
        /// Key length.
        t: u32,
        /// Head dimension (at most `ATTN_MAX_D`).
        d: u32,
        /// 1 for a causal mask.
        causal: u32,
        /// Score scale.
        scale: f32,
        /// Query-row blocks per (batch, head): ceil(s / ATTN_ROWS).
        blocks: u32,
        /// Workgroups in all (bh * blocks); the folded grid skips the rest.
        groups: u32,
    }
}

params_struct! {
    /// `Params` of conv_direct.wgsl: direct convolution, one workgroup per (image, block of
    /// `DIRECT_CHANNELS` output channels, `tile_h x tile_w` block of output positions).
    DirectConvParams {
        /// Input channels.
        c: u32,
        /// Input height.
        h: u32,
        /// Input width.
        w: u32,
        /// Output channels.
        o: u32,
        /// Kernel height.
        kh: u32,
        /// Kernel width.
        kw: u32,
        /// Output height.
        oh: u32,
        /// Output width.
        ow: u32,
        /// Vertical stride.
        stride_h: u32,
        /// Horizontal stride.
        stride_w: u32,
        /// Top padding.
        pad_h: u32,
        /// Left padding.
        pad_w: u32,
        /// Vertical dilation.
        dil_h: u32,
        /// Horizontal dilation.
        dil_w: u32,
        /// Output rows per workgroup.
        tile_h: u32,
        /// Output columns per workgroup.
        tile_w: u32,
        /// Input rows the tile reads.
        patch_h: u32,
        /// Input columns the tile reads.
        patch_w: u32,
        /// Input channels staged in workgroup memory per pass.
        chunk: u32,
        /// Tiles along the output width: ceil(ow / tile_w).
        tiles_x: u32,
        /// Tiles along the output height: ceil(oh / tile_h).
        tiles_y: u32,
        /// Blocks of output channels: ceil(o / DIRECT_CHANNELS).
        oc_blocks: u32,
        /// Workgroups in all: images * oc_blocks * tiles_y * tiles_x (the folded grid may hold
        /// more).
        groups: u32,
        /// 1 when a per-channel bias is bound.
        has_bias: u32,
    }
}

params_struct! {
    /// `Params` of reduce.wgsl: x's axes split into kept axes (the output's) and reduced axes.
    ReduceParams {
        /// Output elements.
        total: u32,
        /// Kept axes.
        kept_rank: u32,
        /// Reduced axes.
        red_rank: u32,
        /// Elements summed per output element (product of the reduced dims).
        red_total: u32,
        /// Dims of the kept axes.
        kept_dims: [u32; 8],
        /// x strides of the kept axes.
        kept_strides: [u32; 8],
        /// Dims of the reduced axes.
        red_dims: [u32; 8],
        /// x strides of the reduced axes.
        red_strides: [u32; 8],
    }
}

params_struct! {
    /// `Params` of backward.wgsl and backward_ids.wgsl (training kernels); each entry point
    /// reads the fields its comment names.
    TrainParams {
        /// Elements written by a one-invocation-per-element kernel (or summed by a loss).
        total: u32,
        /// Rows (row kernels, ids of an embedding gradient, rows of a cross-entropy).
        rows: u32,
        /// Row length (classes, embedding width).
        cols: u32,
        /// `UNARY_*` code of `unary_backward`.
        op: u32,
        /// Layer-norm epsilon.
        eps: f32,
        /// `-lr` of `sgd_step`, the momentum of `momentum_accumulate`, the scale of a scale
        /// gradient.
        factor: f32,
        /// Slice: elements per outer index of x.
        inner_in: u32,
        /// Slice: elements per outer index of the output.
        inner_out: u32,
        /// Slice: the first element taken inside an outer index of x.
        offset: u32,
        /// Padding.
        _pad0: u32,
        /// Padding.
        _pad1: u32,
        /// Padding.
        _pad2: u32,
    }
}

impl GemmParams {
    /// A convolution tile's block: this GEMM in the first 88 bytes, the im2col fields of
    /// `im2col` after them.
    pub fn with_im2col(&self, im2col: &ConvParams) -> ConvParams {
        ConvParams {
            m: self.m,
            n: self.n,
            k: self.k,
            batch: self.batch,
            a_batch_stride: self.a_batch_stride,
            b_batch_stride: self.b_batch_stride,
            c_batch_stride: self.c_batch_stride,
            trans_a: self.trans_a,
            trans_b: self.trans_b,
            bias_mode: self.bias_mode,
            col_group: self.col_group,
            group_stride: self.group_stride,
            c_offset: self.c_offset,
            tiles_n: self.tiles_n,
            tiles_m: self.tiles_m,
            tiles: self.tiles,
            lda: self.lda,
            ldb: self.ldb,
            ldc: self.ldc,
            a_offset: self.a_offset,
            b_offset: self.b_offset,
            accumulate: self.accumulate,
            ..*im2col
        }
    }
}

params_struct! {
    /// `Params` of conv_grad.wgsl: the convolution gradients' geometry (forward input
    /// `[n, c, h, w]`, weight `[o, c, kh, kw]`, output `[n, o, oh, ow]`).
    ConvGradParams {
        /// Threads (output elements of the gradient being computed).
        total: u32,
        /// Batch.
        n: u32,
        /// Input channels.
        c: u32,
        /// Input height.
        h: u32,
        /// Input width.
        w: u32,
        /// Output channels.
        o: u32,
        /// Output height.
        oh: u32,
        /// Output width.
        ow: u32,
        /// Kernel height.
        kh: u32,
        /// Kernel width.
        kw: u32,
        /// Vertical stride.
        stride_h: u32,
        /// Horizontal stride.
        stride_w: u32,
        /// Top padding.
        pad_h: u32,
        /// Left padding.
        pad_w: u32,
        /// Vertical dilation.
        dil_h: u32,
        /// Horizontal dilation.
        dil_w: u32,
    }
}

params_struct! {
    /// `Params` of attention_grad.wgsl: the attention backward's sizes.
    AttentionGradParams {
        /// Batch times heads.
        bh: u32,
        /// Query length.
        s: u32,
        /// Key length.
        t: u32,
        /// Head dimension (at most `ATTN_MAX_D`).
        d: u32,
        /// 1 for a causal mask.
        causal: u32,
        /// Score scale.
        scale: f32,
        /// `ATTN_GRAD_K` or `ATTN_GRAD_V` (attn_grad_kv only).
        which: u32,
        /// Threads: query rows (bh * s) or key rows (bh * t).
        rows: u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_block_starts_with_the_gemm_block() {
        let gemm = GemmParams::FIELDS;
        assert_eq!(&ConvParams::FIELDS[..gemm.len()], gemm);
        let g = GemmParams {
            m: 3,
            c_offset: 7,
            tiles: 9,
            ..GemmParams::default()
        };
        let conv = g.with_im2col(&ConvParams {
            m: 99,
            total: 5,
            ..ConvParams::default()
        });
        assert_eq!((conv.total, conv.m), (5, 3));
        let bytes: &[u8] = bytemuck::bytes_of(&conv);
        assert_eq!(
            &bytes[..std::mem::size_of::<GemmParams>()],
            bytemuck::bytes_of(&g)
        );
    }

    #[test]
    fn fields_are_in_order_and_tile_the_struct() {
        for l in [
            ParamsLayout::of::<GemmParams>(),
            ParamsLayout::of::<ConvParams>(),
            ParamsLayout::of::<ElementwiseParams>(),
            ParamsLayout::of::<NormParams>(),
            ParamsLayout::of::<PoolParams>(),
            ParamsLayout::of::<DataParams>(),
            ParamsLayout::of::<AttentionParams>(),
            ParamsLayout::of::<ResizeParams>(),
            ParamsLayout::of::<TiledAttentionParams>(),
            ParamsLayout::of::<DirectConvParams>(),
            ParamsLayout::of::<ReduceParams>(),
            ParamsLayout::of::<TrainParams>(),
            ParamsLayout::of::<ConvGradParams>(),
            ParamsLayout::of::<AttentionGradParams>(),
        ] {
            let mut at = 0;
            for f in l.fields {
                assert_eq!(f.offset, at, "{}.{}", l.name, f.name);
                at += f.size;
            }
            assert_eq!(at, l.size, "{}", l.name);
        }
    }
}
