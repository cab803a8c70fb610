//! Row-normalisation lowering: softmax and layer normalisation over the last axis, one
//! workgroup per row (rows folded into a 2-D or 3-D grid), with in-place variants.

use super::Step;
use super::cx::NodeCx;
use crate::graph::TensorId;
use crate::runtime::RuntimeError;
use crate::runtime::shaders::{Kernel, NormParams};

/// Rows and columns of `x` viewed as [rows, last axis], checked to fit 32 bits.
fn rows_cols(cx: &NodeCx<'_>, x: TensorId) -> Result<(u64, NormParams), RuntimeError> {
    let cols = cx.dims(x).last().copied().unwrap_or(1) as u64;
    let rows = cx.numel(x).checked_div(cols).unwrap_or(0);
    cx.u32_of(cx.numel(x), "elements")?;
    let params = NormParams {
        rows: cx.u32_of(rows, "rows")?,
        cols: cx.u32_of(cols, "columns")?,
        ..NormParams::default()
    };
    Ok((rows, params))
}

/// Softmax over the last axis.
pub(super) fn softmax(cx: &NodeCx<'_>) -> Result<Vec<Step>, RuntimeError> {
    let (x, out) = (cx.input(0)?, cx.output()?);
    let (rows, params) = rows_cols(cx, x)?;
    let groups = cx.grid(rows)?;
    if cx.in_place() {
        let bindings = vec![cx.region(x)?];
        return Ok(vec![cx.step(
            Kernel::SoftmaxInPlace,
            bindings,
            &params,
            groups,
        )]);
    }
    let bindings = vec![cx.region(x)?, cx.region(out)?];
    Ok(vec![cx.step(Kernel::Softmax, bindings, &params, groups)])
}

/// Layer normalisation over the last axis with gamma and beta.
pub(super) fn layernorm(cx: &NodeCx<'_>, eps: f32) -> Result<Vec<Step>, RuntimeError> {
    let (x, gamma, beta, out) = (cx.input(0)?, cx.input(1)?, cx.input(2)?, cx.output()?);
    let (rows, mut params) = rows_cols(cx, x)?;
    params.eps = eps;
    let groups = cx.grid(rows)?;
    let mut bindings = vec![cx.region(x)?, cx.region(gamma)?, cx.region(beta)?];
    if cx.in_place() {
        return Ok(vec![cx.step(
            Kernel::LayerNormInPlace,
            bindings,
            &params,
            groups,
        )]);
    }
    bindings.push(cx.region(out)?);
    Ok(vec![cx.step(Kernel::LayerNorm, bindings, &params, groups)])
}
