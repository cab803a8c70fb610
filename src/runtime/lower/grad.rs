//! Lowering of the backward ops: convolution gradients (conv_grad.wgsl), pooling, global
//! average pooling and upsampling gradients (pool_grad.wgsl) and the attention backward
//! (attention_grad.wgsl). Every kernel runs one thread per output element or row and gathers
//! its sum, so none needs atomics or a workspace.

use super::Step;
use super::cx::NodeCx;
use crate::graph::{AttentionGradOf, Conv2dAttrs, PoolAttrs, PoolKind};
use crate::runtime::RuntimeError;
use crate::runtime::shaders::{
    self, ATTN_GRAD_K, ATTN_GRAD_ROWS, ATTN_GRAD_V, ATTN_MAX_D, AttentionGradParams,
    ConvGradParams, Kernel, PoolParams,
};

/// The geometry block of a convolution whose input is `x` dims, weight `w` dims and output
/// `y` dims, with `total` threads.
fn conv_params(
    cx: &NodeCx<'_>,
    a: &Conv2dAttrs,
    [x, w, y]: [&[usize]; 3],
    total: u64,
) -> Result<ConvGradParams, RuntimeError> {
    let v = |d: usize, what: &str| cx.u32_of(d as u64, what);
    for (dims, what) in [(x, "input"), (w, "weight"), (y, "output")] {
        cx.u32_of(dims.iter().map(|&d| d as u64).product(), what)?;
    }
    Ok(ConvGradParams {
        total: cx.u32_of(total, "outputs")?,
        n: v(x[0], "batch")?,
        c: v(x[1], "input channels")?,
        h: v(x[2], "input height")?,
        w: v(x[3], "input width")?,
        o: v(w[0], "output channels")?,
        oh: v(y[2], "output height")?,
        ow: v(y[3], "output width")?,
        kh: v(w[2], "kernel height")?,
        kw: v(w[3], "kernel width")?,
        stride_h: v(a.stride[0], "stride")?,
        stride_w: v(a.stride[1], "stride")?,
        pad_h: v(a.padding[0], "padding")?,
        pad_w: v(a.padding[1], "padding")?,
        dil_h: v(a.dilation[0], "dilation")?,
        dil_w: v(a.dilation[1], "dilation")?,
    })
}

/// `dy`, `w` -> `dx`.
pub(super) fn conv_grad_input(cx: &NodeCx<'_>, a: &Conv2dAttrs) -> Result<Vec<Step>, RuntimeError> {
    let (dy, w, dx) = (cx.input(0)?, cx.input(1)?, cx.output()?);
    let total = cx.numel(dx);
    let params = conv_params(cx, a, [cx.dims(dx), cx.dims(w), cx.dims(dy)], total)?;
    let bindings = vec![cx.region(dy)?, cx.region(w)?, cx.region(dx)?];
    let groups = cx.groups_1d(total)?;
    Ok(vec![cx.step(
        Kernel::ConvGradInput,
        bindings,
        &params,
        groups,
    )])
}

/// `x`, `dy` -> `dw`.
pub(super) fn conv_grad_weight(
    cx: &NodeCx<'_>,
    a: &Conv2dAttrs,
) -> Result<Vec<Step>, RuntimeError> {
    let (x, dy, dw) = (cx.input(0)?, cx.input(1)?, cx.output()?);
    let total = cx.numel(dw);
    let params = conv_params(cx, a, [cx.dims(x), cx.dims(dw), cx.dims(dy)], total)?;
    let bindings = vec![cx.region(x)?, cx.region(dy)?, cx.region(dw)?];
    let groups = cx.groups_1d(total)?;
    Ok(vec![cx.step(
        Kernel::ConvGradWeight,
        bindings,
        &params,
        groups,
    )])
}

/// `dy` -> `db`.
pub(super) fn conv_grad_bias(cx: &NodeCx<'_>) -> Result<Vec<Step>, RuntimeError> {
    let (dy, db) = (cx.input(0)?, cx.output()?);
    let d = cx.dims(dy);
    cx.u32_of(cx.numel(dy), "dy elements")?;
    let params = ConvGradParams {
        total: cx.u32_of(cx.numel(db), "outputs")?,
        n: cx.u32_of(d[0] as u64, "batch")?,
        o: cx.u32_of(d[1] as u64, "channels")?,
        oh: cx.u32_of(d[2] as u64, "height")?,
        ow: cx.u32_of(d[3] as u64, "width")?,
        ..ConvGradParams::default()
    };
    let bindings = vec![cx.region(dy)?, cx.region(db)?];
    let groups = cx.groups_1d(cx.numel(db))?;
    Ok(vec![cx.step(
        Kernel::ConvGradBias,
        bindings,
        &params,
        groups,
    )])
}

/// The pool_grad.wgsl block for input-gradient `dx` (threads) and output gradient `dy`.
fn pool_params(
    cx: &NodeCx<'_>,
    a: Option<&PoolAttrs>,
    dy: crate::graph::TensorId,
    dx: crate::graph::TensorId,
) -> Result<PoolParams, RuntimeError> {
    let total = cx.numel(dx);
    cx.u32_of(cx.numel(dy), "dy elements")?;
    let at = |d: usize, what: &str| cx.u32_of(d as u64, what);
    let mut params = PoolParams {
        total: cx.u32_of(total, "outputs")?,
        h: cx.u32_of(cx.dim(dx, 2)?, "input height")?,
        w: cx.u32_of(cx.dim(dx, 3)?, "input width")?,
        ..PoolParams::default()
    };
    if cx.dims(dy).len() == 4 {
        params.oh = cx.u32_of(cx.dim(dy, 2)?, "output height")?;
        params.ow = cx.u32_of(cx.dim(dy, 3)?, "output width")?;
    }
    if let Some(a) = a {
        params.kh = at(a.kernel[0], "window")?;
        params.kw = at(a.kernel[1], "window")?;
        params.stride_h = at(a.stride[0], "stride")?;
        params.stride_w = at(a.stride[1], "stride")?;
        params.pad_h = at(a.padding[0], "padding")?;
        params.pad_w = at(a.padding[1], "padding")?;
        params.kind = match a.kind {
            PoolKind::Max => shaders::POOL_MAX,
            PoolKind::Avg => shaders::POOL_AVG,
        };
    }
    Ok(params)
}

/// Max pooling: `dy`, `x` -> `dx`; average: `dy` -> `dx`.
pub(super) fn pool2d_grad(cx: &NodeCx<'_>, a: &PoolAttrs) -> Result<Vec<Step>, RuntimeError> {
    let (dy, dx) = (cx.input(0)?, cx.output()?);
    let params = pool_params(cx, Some(a), dy, dx)?;
    let (kernel, bindings) = match a.kind {
        PoolKind::Max => (
            Kernel::MaxPoolGrad,
            vec![cx.region(dy)?, cx.region(cx.input(1)?)?, cx.region(dx)?],
        ),
        PoolKind::Avg => (Kernel::AvgPoolGrad, vec![cx.region(dy)?, cx.region(dx)?]),
    };
    let groups = cx.groups_1d(cx.numel(dx))?;
    Ok(vec![cx.step(kernel, bindings, &params, groups)])
}

/// `dy [N, C]` -> `dx` (global average pool) or `dy [N, C, OH, OW]` -> `dx` (upsample2x).
pub(super) fn spread(cx: &NodeCx<'_>, kernel: Kernel) -> Result<Vec<Step>, RuntimeError> {
    let (dy, dx) = (cx.input(0)?, cx.output()?);
    let params = pool_params(cx, None, dy, dx)?;
    let bindings = vec![cx.region(dy)?, cx.region(dx)?];
    let groups = cx.groups_1d(cx.numel(dx))?;
    Ok(vec![cx.step(kernel, bindings, &params, groups)])
}

/// The attention_grad.wgsl block, `rows` threads.
fn attention_params(
    cx: &NodeCx<'_>,
    causal: bool,
    scale: f32,
    which: u32,
    query_rows: bool,
) -> Result<AttentionGradParams, RuntimeError> {
    let (q, k) = (cx.input(0)?, cx.input(1)?);
    let bh = cx.dim(q, 0)?.saturating_mul(cx.dim(q, 1)?);
    let (s, t, d) = (cx.dim(q, 2)?, cx.dim(k, 2)?, cx.dim(q, 3)?);
    if d > u64::from(ATTN_MAX_D) {
        return Err(cx.unsupported(format!(
            "head dimension {d} exceeds the backward kernels' maximum {ATTN_MAX_D}"
        )));
    }
    for i in 0..cx.input_count() {
        cx.u32_of(cx.numel(cx.input(i)?), "input elements")?;
    }
    cx.u32_of(cx.numel(cx.output()?), "output elements")?;
    let rows = bh.saturating_mul(if query_rows { s } else { t });
    Ok(AttentionGradParams {
        bh: cx.u32_of(bh, "batch x heads")?,
        s: cx.u32_of(s, "query length")?,
        t: cx.u32_of(t, "key length")?,
        d: cx.u32_of(d, "head dimension")?,
        causal: u32::from(causal),
        scale,
        which,
        rows: cx.u32_of(rows, "rows")?,
    })
}

/// q, k, o, dy -> stats `[B, H, S, 2]`.
pub(super) fn attention_stats(
    cx: &NodeCx<'_>,
    causal: bool,
    scale: f32,
) -> Result<Vec<Step>, RuntimeError> {
    let params = attention_params(cx, causal, scale, 0, true)?;
    let mut bindings = (0..4)
        .map(|i| cx.region(cx.input(i)?))
        .collect::<Result<Vec<_>, _>>()?;
    bindings.push(cx.region(cx.output()?)?);
    let groups = cx.groups_1d(u64::from(params.rows))?;
    Ok(vec![cx.step(Kernel::AttnStats, bindings, &params, groups)])
}

/// q, k, v, dy, stats -> d q, d k or d v.
pub(super) fn attention_grad(
    cx: &NodeCx<'_>,
    causal: bool,
    scale: f32,
    wrt: AttentionGradOf,
) -> Result<Vec<Step>, RuntimeError> {
    let (kernel, which) = match wrt {
        AttentionGradOf::Q => (Kernel::AttnGradQ, 0),
        AttentionGradOf::K => (Kernel::AttnGradKv, ATTN_GRAD_K),
        AttentionGradOf::V => (Kernel::AttnGradKv, ATTN_GRAD_V),
    };
    let params = attention_params(cx, causal, scale, which, wrt == AttentionGradOf::Q)?;
    let mut bindings = (0..5)
        .map(|i| cx.region(cx.input(i)?))
        .collect::<Result<Vec<_>, _>>()?;
    bindings.push(cx.region(cx.output()?)?);
    // One workgroup per block of ATTN_GRAD_ROWS rows of one (batch, head).
    let per_head = if wrt == AttentionGradOf::Q {
        params.s
    } else {
        params.t
    };
    let blocks = u64::from(per_head.div_ceil(ATTN_GRAD_ROWS).max(1));
    let groups = cx.grid(u64::from(params.bh).saturating_mul(blocks))?;
    Ok(vec![cx.step(kernel, bindings, &params, groups)])
}
