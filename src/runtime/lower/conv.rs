//! Convolution lowering, by the op's [`ConvMethod`]. Tiled im2col + GEMM: each tile of one
//! image's output positions is two dispatches, im2col into the node's workspace and the GEMM
//! writing those columns of the NCHW output, and both read ONE params block ([`ConvParams`],
//! whose first 88 bytes are the GEMM's [`GemmParams`](crate::runtime::shaders::GemmParams)), so
//! a convolution adds one block per tile to the params buffer (about 64 KiB of column matrix per
//! 160 B block, less under a workspace cap). Direct: one dispatch of conv_direct.wgsl, one
//! workgroup per block of output positions x output channels, no workspace.

use super::cx::NodeCx;
use super::matmul::Gemm;
use super::{Region, Step};
use crate::graph::conv::{ConvShape, DIRECT_CHANNELS, direct_tile, im2col_tile_cols};
use crate::graph::{Conv2dAttrs, ConvMethod};
use crate::runtime::RuntimeError;
use crate::runtime::shaders::{ConvParams, DirectConvParams, Kernel};

/// The convolution's geometry as im2col params (tile fields left zero).
fn geometry(cx: &NodeCx<'_>, a: &Conv2dAttrs) -> Result<ConvParams, RuntimeError> {
    let (x, w, out) = (cx.input(0)?, cx.input(1)?, cx.output()?);
    let v = |d: u64, what: &str| cx.u32_of(d, what);
    let at = |d: usize, what: &str| cx.u32_of(d as u64, what);
    Ok(ConvParams {
        c: v(cx.dim(x, 1)?, "input channels")?,
        h: v(cx.dim(x, 2)?, "input height")?,
        w: v(cx.dim(x, 3)?, "input width")?,
        kh: v(cx.dim(w, 2)?, "kernel height")?,
        kw: v(cx.dim(w, 3)?, "kernel width")?,
        oh: v(cx.dim(out, 2)?, "output height")?,
        ow: v(cx.dim(out, 3)?, "output width")?,
        stride_h: at(a.stride[0], "stride")?,
        stride_w: at(a.stride[1], "stride")?,
        pad_h: at(a.padding[0], "padding")?,
        pad_w: at(a.padding[1], "padding")?,
        dil_h: at(a.dilation[0], "dilation")?,
        dil_w: at(a.dilation[1], "dilation")?,
        ..ConvParams::default()
    })
}

/// NCHW convolution (groups = 1) with an optional per-channel bias, lowered by `a.method`.
pub(super) fn conv2d(cx: &NodeCx<'_>, a: &Conv2dAttrs) -> Result<Vec<Step>, RuntimeError> {
    match a.method {
        ConvMethod::Im2col { cap } => im2col(cx, a, cap),
        ConvMethod::Direct => direct(cx, a).map(|step| vec![step]),
    }
}

/// The output's region and the bias region (the output again when there is no bias, unread).
fn out_and_bias(cx: &NodeCx<'_>) -> Result<(Region, Region), RuntimeError> {
    let c = cx.region(cx.output()?)?;
    let bias = if cx.input_count() > 2 {
        cx.region(cx.input(2)?)?
    } else {
        c
    };
    Ok((c, bias))
}

/// The direct kernel: one workgroup per (image, block of DIRECT_CHANNELS output channels,
/// tile of output positions), staging the tile's input window in workgroup memory.
fn direct(cx: &NodeCx<'_>, a: &Conv2dAttrs) -> Result<Step, RuntimeError> {
    let (x, w, out) = (cx.input(0)?, cx.input(1)?, cx.output()?);
    let dtype = cx.lw.graph.tensors[x.index()].dtype;
    let shape = ConvShape::new(cx.dims(x), cx.dims(w), cx.dims(out), dtype);
    let t = direct_tile(a, &shape).ok_or_else(|| {
        cx.unsupported("the dilated kernel window does not fit the direct kernel's input tile")
    })?;
    cx.u32_of(cx.numel(x).max(cx.numel(w)).max(cx.numel(out)), "elements")?;
    let (images, o) = (cx.dim(out, 0)?, cx.dim(w, 0)?);
    let tiles_x = shape.ow.div_ceil(t.tile_w);
    let tiles_y = shape.oh.div_ceil(t.tile_h);
    let oc_blocks = o.div_ceil(DIRECT_CHANNELS);
    let groups = images
        .saturating_mul(oc_blocks)
        .saturating_mul(tiles_y)
        .saturating_mul(tiles_x);
    let g = geometry(cx, a)?;
    let v = |d: u64, what: &str| cx.u32_of(d, what);
    let params = DirectConvParams {
        c: g.c,
        h: g.h,
        w: g.w,
        o: v(o, "output channels")?,
        kh: g.kh,
        kw: g.kw,
        oh: g.oh,
        ow: g.ow,
        stride_h: g.stride_h,
        stride_w: g.stride_w,
        pad_h: g.pad_h,
        pad_w: g.pad_w,
        dil_h: g.dil_h,
        dil_w: g.dil_w,
        tile_h: v(t.tile_h, "tile height")?,
        tile_w: v(t.tile_w, "tile width")?,
        patch_h: v(t.patch_h, "patch height")?,
        patch_w: v(t.patch_w, "patch width")?,
        chunk: v(t.chunk, "channel chunk")?,
        tiles_x: v(tiles_x, "tiles")?,
        tiles_y: v(tiles_y, "tiles")?,
        oc_blocks: v(oc_blocks, "channel blocks")?,
        groups: v(groups, "workgroups")?,
        has_bias: u32::from(cx.input_count() > 2),
    };
    let (c, bias) = out_and_bias(cx)?;
    let bindings = vec![cx.region(x)?, cx.region(w)?, c, bias];
    Ok(cx.step(Kernel::ConvDirect, bindings, &params, cx.grid(groups)?))
}

/// Tiled im2col + GEMM with column tiles of at most `cap` bytes.
fn im2col(cx: &NodeCx<'_>, a: &Conv2dAttrs, cap: Option<u64>) -> Result<Vec<Step>, RuntimeError> {
    let (x, w, out) = (cx.input(0)?, cx.input(1)?, cx.output()?);
    // Saturating: anything past 32 bits is refused by the checks below.
    let ckk = cx
        .dim(x, 1)?
        .saturating_mul(cx.dim(w, 2)?.saturating_mul(cx.dim(w, 3)?));
    let plane = cx.dim(out, 2)?.saturating_mul(cx.dim(out, 3)?);
    let (images, o) = (cx.dim(out, 0)?, cx.dim(w, 0)?);
    // One tile of one image at a time, with the same tile width the graph sized the workspace by.
    let elem = cx.lw.graph.tensors[x.index()].dtype.size_bytes();
    let tile = im2col_tile_cols(ckk, elem, plane, cap);
    if tile == 0 {
        return Err(cx.unsupported(format!(
            "the workspace cap {} bytes is below one im2col column ({} bytes)",
            cap.unwrap_or(0),
            ckk.saturating_mul(4)
        )));
    }
    let tile_elems = ckk.saturating_mul(tile);
    cx.u32_of(tile_elems.max(cx.numel(x)).max(cx.numel(out)), "elements")?;
    let ws = cx.workspace(tile_elems * cx.esize())?;
    let (c, bias) = out_and_bias(cx)?;
    let has_bias = cx.input_count() > 2;
    let (xr, wr) = (cx.region(x)?, cx.region(w)?);
    let geometry = geometry(cx, a)?;
    let mut steps = Vec::new();
    for image in 0..images {
        let mut start = 0;
        while start < plane {
            let cols = tile.min(plane - start);
            // The GEMM writes row r, column j of this tile at image*O*P + r*P + start + j.
            let gemm = Gemm {
                m: o,
                n: cols,
                k: ckk,
                batch: 1,
                bias_mode: if has_bias { 2 } else { 0 },
                col_group: plane,
                group_stride: o * plane,
                c_offset: image * o * plane + start,
                ..Gemm::default()
            };
            let (gemm_params, gemm_groups, gemm_kernel) = gemm.lower(cx, cx.lw.gemm, [wr, ws])?;
            let params = ConvParams {
                total: cx.u32_of(ckk * cols, "im2col tile elements")?,
                cols: cx.u32_of(cols, "tile columns")?,
                image: cx.u32_of(image, "image")?,
                col_start: cx.u32_of(start, "tile start")?,
                ..gemm_params.with_im2col(&geometry)
            };
            let im2col_groups = cx.groups_1d(ckk * cols)?;
            steps.push(cx.step(Kernel::Im2Col, vec![xr, ws], &params, im2col_groups));
            let gemm_bindings = vec![wr, ws, c, bias];
            steps.push(cx.step(gemm_kernel, gemm_bindings, &params, gemm_groups));
            start += cols;
        }
    }
    Ok(steps)
}
