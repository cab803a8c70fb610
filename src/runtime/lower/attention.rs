//! Attention lowering, one function per [`AttentionKernel`](crate::graph::AttentionKernel):
//! materialised scaled dot-product attention in three dispatches (scores into the workspace,
//! row softmax with the causal mask, probabilities times v; one params block and binding list),
//! or the tiled (flash-style) kernel in one dispatch of one workgroup per block of query rows,
//! with no workspace.

use super::Step;
use super::cx::NodeCx;
use crate::runtime::RuntimeError;
use crate::runtime::shaders::{
    ATTN_MAX_D, ATTN_ROWS, AttentionParams, Kernel, TiledAttentionParams,
};

/// Tiled: q [B, H, S, D], k and v [B, H, T, D] -> out [B, H, S, D], D at most `ATTN_MAX_D`.
pub(super) fn tiled(cx: &NodeCx<'_>, causal: bool, scale: f32) -> Result<Vec<Step>, RuntimeError> {
    let (q, k, v, out) = (cx.input(0)?, cx.input(1)?, cx.input(2)?, cx.output()?);
    let bh = cx.dim(q, 0)?.saturating_mul(cx.dim(q, 1)?);
    let (s, t, d) = (cx.dim(q, 2)?, cx.dim(k, 2)?, cx.dim(q, 3)?);
    if d > u64::from(ATTN_MAX_D) {
        return Err(cx.unsupported(format!(
            "head dimension {d} exceeds the tiled kernel's maximum {ATTN_MAX_D}"
        )));
    }
    cx.u32_of(cx.numel(q).max(cx.numel(k)), "elements")?;
    let blocks = s.div_ceil(u64::from(ATTN_ROWS));
    let groups = bh.saturating_mul(blocks);
    let params = TiledAttentionParams {
        bh: cx.u32_of(bh, "batch x heads")?,
        s: cx.u32_of(s, "query length")?,
        t: cx.u32_of(t, "key length")?,
        d: cx.u32_of(d, "head dimension")?,
        causal: u32::from(causal),
        scale,
        blocks: cx.u32_of(blocks, "query blocks")?,
        groups: cx.u32_of(groups, "workgroups")?,
    };
    let bindings = vec![cx.region(q)?, cx.region(k)?, cx.region(v)?, cx.region(out)?];
    Ok(vec![cx.step(
        Kernel::AttnTiled,
        bindings,
        &params,
        cx.grid(groups)?,
    )])
}

/// Materialised: q [B, H, S, D], k and v [B, H, T, D] -> out [B, H, S, D].
pub(super) fn materialized(
    cx: &NodeCx<'_>,
    causal: bool,
    scale: f32,
) -> Result<Vec<Step>, RuntimeError> {
    let (q, k, v, out) = (cx.input(0)?, cx.input(1)?, cx.input(2)?, cx.output()?);
    let bh = cx.dim(q, 0)?.saturating_mul(cx.dim(q, 1)?);
    let (s, t, d) = (cx.dim(q, 2)?, cx.dim(k, 2)?, cx.dim(q, 3)?);
    let scores = bh.saturating_mul(s).saturating_mul(t);
    let total = bh.saturating_mul(s).saturating_mul(d);
    cx.u32_of(scores.max(cx.numel(q)).max(cx.numel(k)), "elements")?;
    let ws = cx.workspace(scores * cx.esize())?;
    let params = AttentionParams {
        bh: cx.u32_of(bh, "batch x heads")?,
        s: cx.u32_of(s, "query length")?,
        t: cx.u32_of(t, "key length")?,
        d: cx.u32_of(d, "head dimension")?,
        causal: u32::from(causal),
        scale,
        total: cx.u32_of(total, "output elements")?,
        _pad: 0,
    };
    let bindings = vec![
        cx.region(q)?,
        cx.region(k)?,
        cx.region(v)?,
        cx.region(out)?,
        ws,
    ];
    Ok(vec![
        cx.step(
            Kernel::AttnScores,
            bindings.clone(),
            &params,
            cx.groups_1d(scores)?,
        ),
        cx.step(
            Kernel::AttnSoftmax,
            bindings.clone(),
            &params,
            cx.grid(bh.saturating_mul(s))?,
        ),
        cx.step(Kernel::AttnPv, bindings, &params, cx.groups_1d(total)?),
    ])
}
