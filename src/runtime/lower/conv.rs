//! Convolution lowering: tiled im2col + GEMM. Each tile of one image's output positions is two
//! dispatches, im2col into the node's workspace and the GEMM writing those columns of the NCHW
//! output, and both read ONE params block ([`ConvParams`], whose first 64 bytes are the GEMM's
//! [`GemmParams`](crate::runtime::shaders::GemmParams)), so a convolution adds one block per
//! tile to the params buffer (about 64 KiB of column matrix per 144 B block).

use super::Step;
use super::cx::NodeCx;
use super::matmul::Gemm;
use crate::graph::Conv2dAttrs;
use crate::graph::infer::im2col_tile_cols;
use crate::runtime::RuntimeError;
use crate::runtime::shaders::{ConvParams, Kernel};

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

/// NCHW convolution (groups = 1) with an optional per-channel bias.
pub(super) fn conv2d(cx: &NodeCx<'_>, a: &Conv2dAttrs) -> Result<Vec<Step>, RuntimeError> {
    let (x, w, out) = (cx.input(0)?, cx.input(1)?, cx.output()?);
    // Saturating: anything past 32 bits is refused by the checks below.
    let ckk = cx
        .dim(x, 1)?
        .saturating_mul(cx.dim(w, 2)?.saturating_mul(cx.dim(w, 3)?));
    let plane = cx.dim(out, 2)?.saturating_mul(cx.dim(out, 3)?);
    let (images, o) = (cx.dim(out, 0)?, cx.dim(w, 0)?);
    // One tile of one image at a time, with the same tile width the graph sized the workspace by.
    let tile = im2col_tile_cols(ckk, plane);
    let tile_elems = ckk.saturating_mul(tile);
    cx.u32_of(tile_elems.max(cx.numel(x)).max(cx.numel(out)), "elements")?;
    let ws = cx.workspace(tile_elems * 4)?;
    let c = cx.region(out)?;
    let has_bias = cx.input_count() > 2;
    let bias = if has_bias {
        cx.region(cx.input(2)?)?
    } else {
        c
    };
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
            let (gemm_params, gemm_groups) = gemm.lower(cx)?;
            let params = ConvParams {
                total: cx.u32_of(ckk * cols, "im2col tile elements")?,
                cols: cx.u32_of(cols, "tile columns")?,
                image: cx.u32_of(image, "image")?,
                col_start: cx.u32_of(start, "tile start")?,
                ..gemm_params.with_im2col(&geometry)
            };
            let im2col_groups = cx.groups_1d(ckk * cols)?;
            steps.push(cx.step(Kernel::Im2Col, vec![xr, ws], &params, im2col_groups));
            steps.push(cx.step(Kernel::MatMul, vec![wr, ws, c, bias], &params, gemm_groups));
            start += cols;
        }
    }
    Ok(steps)
}
