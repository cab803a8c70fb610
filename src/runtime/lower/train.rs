//! Lowering of the training-graph ops: the sum down to a broadcast shape (`reduce.wgsl`), the
//! gradients of unary ops, softmax and layer norm, slices, losses and the optimizer updates
//! (`backward.wgsl`), and the kernels reading u32 ids or labels (`backward_ids.wgsl`).
//! The updates bind their first input, whose bytes they rewrite; their output is that storage.

use super::Step;
use super::cx::{NodeCx, contiguous_strides};
use crate::graph::{DType, UnaryOp};
use crate::runtime::RuntimeError;
use crate::runtime::shaders::{self, Kernel, ReduceParams, TrainParams};

/// A one-invocation-per-element step over `total` elements.
fn elementwise(
    cx: &NodeCx<'_>,
    kernel: Kernel,
    params: TrainParams,
    inputs: &[usize],
    with_output: bool,
) -> Result<Vec<Step>, RuntimeError> {
    let mut bindings = Vec::with_capacity(inputs.len() + 1);
    for &i in inputs {
        bindings.push(cx.region(cx.input(i)?)?);
    }
    if with_output {
        bindings.push(cx.region(cx.output()?)?);
    }
    let groups = cx.groups_1d(u64::from(params.total))?;
    Ok(vec![cx.step(kernel, bindings, &params, groups)])
}

/// `TrainParams` with `total` = the output's elements.
fn total_params(cx: &NodeCx<'_>) -> Result<TrainParams, RuntimeError> {
    Ok(TrainParams {
        total: cx.u32_of(cx.numel(cx.output()?), "elements")?,
        ..TrainParams::default()
    })
}

/// `TrainParams` with rows and cols of input 0 viewed as `[rows, last axis]`.
fn row_params(cx: &NodeCx<'_>) -> Result<(u64, TrainParams), RuntimeError> {
    let x = cx.input(0)?;
    let cols = cx.dims(x).last().copied().unwrap_or(1).max(1) as u64;
    let rows = cx.numel(x) / cols;
    cx.u32_of(cx.numel(x), "elements")?;
    Ok((
        rows,
        TrainParams {
            rows: cx.u32_of(rows, "rows")?,
            cols: cx.u32_of(cols, "columns")?,
            ..TrainParams::default()
        },
    ))
}

/// Sum of x down to the output's shape: x's axes split into kept and reduced ones.
pub(super) fn reduce_to(cx: &NodeCx<'_>) -> Result<Vec<Step>, RuntimeError> {
    let (x, out) = (cx.input(0)?, cx.output()?);
    let (xd, od) = (cx.dims(x), cx.dims(out));
    cx.check_rank(xd.len())?;
    let strides = contiguous_strides(xd);
    let lead = xd.len() - od.len();
    let (mut kd, mut ks, mut rd, mut rs) = (vec![], vec![], vec![], vec![]);
    for (k, &n) in xd.iter().enumerate() {
        let target = if k < lead { 1 } else { od[k - lead] };
        if target == n {
            kd.push(n as u64);
            ks.push(strides[k]);
        } else {
            rd.push(n as u64);
            rs.push(strides[k]);
        }
    }
    cx.u32_of(cx.numel(x), "elements")?;
    let params = ReduceParams {
        total: cx.u32_of(cx.numel(out), "elements")?,
        kept_rank: cx.u32_of(kd.len() as u64, "rank")?,
        red_rank: cx.u32_of(rd.len() as u64, "rank")?,
        red_total: cx.u32_of(rd.iter().product(), "reduced elements")?,
        kept_dims: cx.words8(&kd, "dimension")?,
        kept_strides: cx.words8(&ks, "stride")?,
        red_dims: cx.words8(&rd, "dimension")?,
        red_strides: cx.words8(&rs, "stride")?,
    };
    let bindings = vec![cx.region(x)?, cx.region(out)?];
    let groups = cx.groups_1d(cx.numel(out))?;
    Ok(vec![cx.step(Kernel::ReduceTo, bindings, &params, groups)])
}

/// dx of relu, gelu or scale.
pub(super) fn unary_backward(cx: &NodeCx<'_>, op: UnaryOp) -> Result<Vec<Step>, RuntimeError> {
    let (code, factor) = match op {
        UnaryOp::Relu => (shaders::UNARY_RELU, 1.0),
        UnaryOp::Gelu => (shaders::UNARY_GELU, 1.0),
        UnaryOp::Scale(s) => (shaders::UNARY_SCALE, s),
    };
    let params = TrainParams {
        op: code,
        factor,
        ..total_params(cx)?
    };
    elementwise(cx, Kernel::UnaryBackward, params, &[0, 1], true)
}

/// A row kernel (one workgroup per row of input 0) over `inputs` and the output.
pub(super) fn rows(
    cx: &NodeCx<'_>,
    kernel: Kernel,
    inputs: &[usize],
    eps: f32,
) -> Result<Vec<Step>, RuntimeError> {
    let (rows, params) = row_params(cx)?;
    let params = TrainParams { eps, ..params };
    let mut bindings = Vec::with_capacity(inputs.len() + 1);
    for &i in inputs {
        bindings.push(cx.region(cx.input(i)?)?);
    }
    bindings.push(cx.region(cx.output()?)?);
    Ok(vec![cx.step(kernel, bindings, &params, cx.grid(rows)?)])
}

/// `x[.., start..start + len, ..]` along `axis` (f32 data only).
pub(super) fn slice(cx: &NodeCx<'_>, axis: usize, start: usize) -> Result<Vec<Step>, RuntimeError> {
    let (x, out) = (cx.input(0)?, cx.output()?);
    if cx.lw.graph.tensors[x.index()].dtype != DType::F32 {
        return Err(cx.unsupported("the slice kernel copies f32 data only"));
    }
    let xd = cx.dims(x);
    let inner: u64 = xd[axis + 1..].iter().map(|&d| d as u64).product();
    let len = cx.dims(out)[axis] as u64;
    cx.u32_of(cx.numel(x), "elements")?;
    let params = TrainParams {
        inner_in: cx.u32_of(xd[axis] as u64 * inner, "slice row")?,
        inner_out: cx.u32_of(len * inner, "slice row")?,
        offset: cx.u32_of(start as u64 * inner, "slice offset")?,
        ..total_params(cx)?
    };
    if params.inner_out == 0 {
        return Ok(Vec::new());
    }
    elementwise(cx, Kernel::Slice, params, &[0], true)
}

/// A loss over every element in one workgroup.
pub(super) fn mse(cx: &NodeCx<'_>) -> Result<Vec<Step>, RuntimeError> {
    let params = TrainParams {
        total: cx.u32_of(cx.numel(cx.input(0)?), "elements")?,
        ..TrainParams::default()
    };
    let bindings = vec![
        cx.region(cx.input(0)?)?,
        cx.region(cx.input(1)?)?,
        cx.region(cx.output()?)?,
    ];
    Ok(vec![cx.step(Kernel::MseLoss, bindings, &params, [1, 1, 1])])
}

/// `dloss * 2 (pred - target) / n`.
pub(super) fn mse_backward(cx: &NodeCx<'_>) -> Result<Vec<Step>, RuntimeError> {
    elementwise(
        cx,
        Kernel::MseLossBackward,
        total_params(cx)?,
        &[0, 1, 2],
        true,
    )
}

/// An in-place update of input 0 by input 1: `sgd_step` (factor -lr) or
/// `momentum_accumulate` (factor momentum).
pub(super) fn update(
    cx: &NodeCx<'_>,
    kernel: Kernel,
    factor: f32,
) -> Result<Vec<Step>, RuntimeError> {
    if cx.lw.place.tensor(cx.input(0)?) != cx.lw.place.tensor(cx.output()?) {
        return Err(RuntimeError::LayoutMismatch(format!(
            "node {} updates its first input in place, but its output is placed elsewhere",
            cx.name()
        )));
    }
    let params = TrainParams {
        factor,
        ..total_params(cx)?
    };
    elementwise(cx, kernel, params, &[0, 1], false)
}

/// The embedding table's gradient: one invocation per table element loops over the ids.
pub(super) fn embedding_backward(cx: &NodeCx<'_>) -> Result<Vec<Step>, RuntimeError> {
    let (ids, dy, out) = (cx.input(0)?, cx.input(1)?, cx.output()?);
    let cols = cx.dims(out).last().copied().unwrap_or(1).max(1) as u64;
    cx.u32_of(cx.numel(dy), "elements")?;
    let params = TrainParams {
        rows: cx.u32_of(cx.numel(ids), "ids")?,
        cols: cx.u32_of(cols, "columns")?,
        ..total_params(cx)?
    };
    if params.rows == 0 {
        return Err(cx.unsupported("an embedding gradient without ids"));
    }
    elementwise(cx, Kernel::EmbeddingBackward, params, &[0, 1], true)
}

/// Cross-entropy (one workgroup) or its gradient (one workgroup per row): the labels bind first.
pub(super) fn cross_entropy(cx: &NodeCx<'_>, backward: bool) -> Result<Vec<Step>, RuntimeError> {
    let (rows, params) = row_params(cx)?;
    let mut bindings = vec![cx.region(cx.input(1)?)?, cx.region(cx.input(0)?)?];
    if rows == 0 {
        return Err(cx.unsupported("a cross-entropy without rows"));
    }
    if backward {
        bindings.push(cx.region(cx.input(2)?)?);
        bindings.push(cx.region(cx.output()?)?);
        let groups = cx.grid(rows)?;
        return Ok(vec![cx.step(
            Kernel::CrossEntropyBackward,
            bindings,
            &params,
            groups,
        )]);
    }
    bindings.push(cx.region(cx.output()?)?);
    Ok(vec![cx.step(
        Kernel::CrossEntropy,
        bindings,
        &params,
        [1, 1, 1],
    )])
}
