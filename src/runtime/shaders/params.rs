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
    /// `Params` of matmul.wgsl (both GEMM entry points): a batched GEMM over a folded grid of
    /// square block tiles of C (side [`GemmKernel::block`](crate::runtime::GemmKernel::block)).
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
        /// Elements between rows of A as stored (K, or M when trans_a, for a dense matrix).
        lda: u32,
        /// Elements between rows of B as stored (N, or K when trans_b, for a dense matrix).
        ldb: u32,
        /// Elements between rows of C inside an output group (col_group for a dense output).
        ldc: u32,
        /// Element offset of A's first matrix in its binding.
        a_offset: u32,
        /// Element offset of B's first matrix in its binding.
        b_offset: u32,
    }
}

params_struct! {
    /// `Params` of conv.wgsl: one im2col tile and the GEMM over it share this block, so its
    /// first 84 bytes are a [`GemmParams`] (same names, same offsets) read by matmul.wgsl.
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
        /// GEMM: C*KH*KW.
        lda: u32,
        /// GEMM: the tile's columns.
        ldb: u32,
        /// GEMM: OH*OW.
        ldc: u32,
        /// GEMM: 0.
        a_offset: u32,
        /// GEMM: 0.
        b_offset: u32,
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
        /// Concat: this input's start inside an output row.
        offset: u32,
        /// Embedding: row length.
        dim: u32,
        /// Embedding: vocabulary size (ids at or past it read zeros).
        vocab: u32,
        /// Padding.
        _pad: u32,
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

impl GemmParams {
    /// A convolution tile's block: this GEMM in the first 84 bytes, the im2col fields of
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
            ..*im2col
        }
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
