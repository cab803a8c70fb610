//! Convolution gradients (NCHW, groups = 1): d input, d weight and d bias. Written as the
//! plain scatter of the forward's multiply-adds (f64 accumulation), independent of the GPU's
//! gather kernels.

use super::conv::source_index;
use super::{CpuError, Ctx, TensorData};
use crate::graph::{Conv2dAttrs, Shape};

/// Every `(n, o, oy, ox, c, ky, kx)` of the forward convolution with an in-bounds input pixel,
/// as `(x index, w index, y index)`, passed to `f`.
fn for_each_tap(
    a: &Conv2dAttrs,
    x: [usize; 4],
    w: [usize; 4],
    out: [usize; 2],
    mut f: impl FnMut(usize, usize, usize),
) {
    let ([n, c, h, wi], [oc, _, kh, kw], [oh, ow]) = (x, w, out);
    for b in 0..n {
        for o in 0..oc {
            for y in 0..oh {
                for xo in 0..ow {
                    let yi = ((b * oc + o) * oh + y) * ow + xo;
                    for ci in 0..c {
                        for ky in 0..kh {
                            let Some(iy) =
                                source_index(y, ky, a.stride[0], a.padding[0], a.dilation[0], h)
                            else {
                                continue;
                            };
                            for kx in 0..kw {
                                let s = (a.stride[1], a.padding[1], a.dilation[1]);
                                let Some(ix) = source_index(xo, kx, s.0, s.1, s.2, wi) else {
                                    continue;
                                };
                                let xi = ((b * c + ci) * h + iy) * wi + ix;
                                let wj = ((o * c + ci) * kh + ky) * kw + kx;
                                f(xi, wj, yi);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Four dims of input `i`, or a mismatch error.
fn dims4(cx: &Ctx<'_>, inputs: &[(&Shape, &TensorData)], i: usize) -> Result<[usize; 4], CpuError> {
    cx.dims(inputs, i)?
        .try_into()
        .map_err(|_| cx.mismatch(format!("input {i} is not rank 4")))
}

/// f64 accumulators to f32 values.
pub(crate) fn narrow(acc: Vec<f64>) -> TensorData {
    TensorData::F32(acc.into_iter().map(|v| v as f32).collect())
}

/// `dx[n, c, iy, ix] = sum dy[n, o, y, x] * w[o, c, ky, kx]` over the taps reading `(iy, ix)`.
pub(crate) fn grad_input(
    cx: &Ctx<'_>,
    a: &Conv2dAttrs,
    inputs: &[(&Shape, &TensorData)],
    out_shape: &Shape,
) -> Result<TensorData, CpuError> {
    let (dy, w) = (cx.f32_in(inputs, 0)?, cx.f32_in(inputs, 1)?);
    let (dyd, wd) = (dims4(cx, inputs, 0)?, dims4(cx, inputs, 1)?);
    let xd: [usize; 4] = out_shape
        .dims()
        .try_into()
        .map_err(|_| cx.mismatch("output is not rank 4"))?;
    let mut acc = cx.zeros_f64(out_shape.numel() as usize)?;
    for_each_tap(a, xd, wd, [dyd[2], dyd[3]], |xi, wj, yi| {
        acc[xi] += f64::from(dy[yi]) * f64::from(w[wj]);
    });
    Ok(narrow(acc))
}

/// `dw[o, c, ky, kx] = sum x[n, c, iy, ix] * dy[n, o, y, x]` over the batch and positions.
pub(crate) fn grad_weight(
    cx: &Ctx<'_>,
    a: &Conv2dAttrs,
    inputs: &[(&Shape, &TensorData)],
    out_shape: &Shape,
) -> Result<TensorData, CpuError> {
    let (x, dy) = (cx.f32_in(inputs, 0)?, cx.f32_in(inputs, 1)?);
    let (xd, dyd) = (dims4(cx, inputs, 0)?, dims4(cx, inputs, 1)?);
    let wd: [usize; 4] = out_shape
        .dims()
        .try_into()
        .map_err(|_| cx.mismatch("output is not rank 4"))?;
    let mut acc = cx.zeros_f64(out_shape.numel() as usize)?;
    for_each_tap(a, xd, wd, [dyd[2], dyd[3]], |xi, wj, yi| {
        acc[wj] += f64::from(x[xi]) * f64::from(dy[yi]);
    });
    Ok(narrow(acc))
}

/// `db[o] = sum dy[n, o, y, x]`.
pub(crate) fn grad_bias(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
) -> Result<TensorData, CpuError> {
    let dy = cx.f32_in(inputs, 0)?;
    let [n, o, oh, ow] = dims4(cx, inputs, 0)?;
    let mut acc = cx.zeros_f64(o)?;
    for (i, plane) in dy.chunks_exact((oh * ow).max(1)).enumerate().take(n * o) {
        acc[i % o] += plane.iter().map(|&v| f64::from(v)).sum::<f64>();
    }
    Ok(narrow(acc))
}
