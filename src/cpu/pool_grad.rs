//! Gradients of pooling, global average pooling and 2x upsampling (NCHW), as scatters of the
//! forward's reads: max pooling sends each window's gradient to the first maximum of the window
//! in row-major order (padding never wins, as in the forward), average pooling divides by the
//! in-bounds count, upsampling sums the output pixels each input pixel was copied to.

use super::conv::source_index;
use super::conv_grad::narrow;
use super::{CpuError, Ctx, TensorData};
use crate::graph::{PoolAttrs, PoolKind, Shape};

/// The in-bounds input pixels of output window `(y, x)` over an `h x w` plane, in row-major
/// window order, as plane offsets.
fn window(a: &PoolAttrs, (y, x): (usize, usize), (h, w): (usize, usize)) -> Vec<usize> {
    let mut taps = Vec::with_capacity(a.kernel[0] * a.kernel[1]);
    for ky in 0..a.kernel[0] {
        let Some(iy) = source_index(y, ky, a.stride[0], a.padding[0], 1, h) else {
            continue;
        };
        for kx in 0..a.kernel[1] {
            if let Some(ix) = source_index(x, kx, a.stride[1], a.padding[1], 1, w) {
                taps.push(iy * w + ix);
            }
        }
    }
    taps
}

/// d x of max or average pooling; inputs `dy` and, for max, `x`.
pub(crate) fn pool2d_grad(
    cx: &Ctx<'_>,
    a: &PoolAttrs,
    inputs: &[(&Shape, &TensorData)],
    out_shape: &Shape,
) -> Result<TensorData, CpuError> {
    let dy = cx.f32_in(inputs, 0)?;
    let x = match a.kind {
        PoolKind::Max => Some(cx.f32_in(inputs, 1)?),
        PoolKind::Avg => None,
    };
    let (dyd, xd) = (cx.dims(inputs, 0)?, out_shape.dims());
    let (planes, h, w, oh, ow) = (xd[0] * xd[1], xd[2], xd[3], dyd[2], dyd[3]);
    let mut acc = cx.zeros_f64(planes * h * w)?;
    for p in 0..planes {
        let base = p * h * w;
        for y in 0..oh {
            for xo in 0..ow {
                let g = f64::from(dy[(p * oh + y) * ow + xo]);
                let taps = window(a, (y, xo), (h, w));
                match x {
                    Some(x) => {
                        // The first tap holding the window's maximum (strictly greater wins).
                        let first = taps.iter().copied().reduce(|best, t| {
                            if x[base + t] > x[base + best] {
                                t
                            } else {
                                best
                            }
                        });
                        if let Some(t) = first {
                            acc[base + t] += g;
                        }
                    }
                    None => {
                        for &t in &taps {
                            acc[base + t] += g / taps.len() as f64;
                        }
                    }
                }
            }
        }
    }
    Ok(narrow(acc))
}

/// `dx[n, c, y, x] = dy[n, c] / (H W)`.
pub(crate) fn global_avg_pool_grad(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
    out_shape: &Shape,
) -> Result<TensorData, CpuError> {
    let dy = cx.f32_in(inputs, 0)?;
    let xd = out_shape.dims();
    let hw = xd[2] * xd[3];
    let mut out = cx.zeros(dy.len() * hw)?;
    for (plane, &g) in out.chunks_exact_mut(hw.max(1)).zip(dy) {
        plane.fill((f64::from(g) / hw as f64) as f32);
    }
    Ok(TensorData::F32(out))
}

/// `dx[n, c, y, x] = sum dy[n, c, 2y + a, 2x + b]` over the in-bounds `a, b` in `{0, 1}`.
pub(crate) fn upsample2x_grad(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
    out_shape: &Shape,
) -> Result<TensorData, CpuError> {
    let dy = cx.f32_in(inputs, 0)?;
    let (dyd, xd) = (cx.dims(inputs, 0)?, out_shape.dims());
    let (planes, h, w, oh, ow) = (xd[0] * xd[1], xd[2], xd[3], dyd[2], dyd[3]);
    let mut acc = cx.zeros_f64(planes * h * w)?;
    for p in 0..planes {
        for y in 0..oh {
            for xo in 0..ow {
                acc[(p * h + y / 2) * w + xo / 2] += f64::from(dy[(p * oh + y) * ow + xo]);
            }
        }
    }
    Ok(narrow(acc))
}

#[cfg(test)]
mod tests {
    use crate::cpu::{TensorData, eval_node};
    use crate::graph::{Op, PoolAttrs, PoolKind, Shape};

    fn grad(kind: PoolKind, k: usize, s: usize, p: usize, x: &[f32], dy: &[f32]) -> Vec<f32> {
        let attrs = PoolAttrs {
            kind,
            kernel: [k; 2],
            stride: [s; 2],
            padding: [p; 2],
        };
        let side = (x.len() as f64).sqrt() as usize;
        let oside = (dy.len() as f64).sqrt() as usize;
        let (xs, ys) = (
            Shape::new([1, 1, side, side]),
            Shape::new([1, 1, oside, oside]),
        );
        let (xd, dyd) = (TensorData::F32(x.to_vec()), TensorData::F32(dy.to_vec()));
        let op = Op::Pool2dGrad {
            attrs,
            input: [side, side],
        };
        let ins: Vec<_> = match kind {
            PoolKind::Max => vec![(&ys, &dyd), (&xs, &xd)],
            PoolKind::Avg => vec![(&ys, &dyd)],
        };
        let out = eval_node(&op, &ins, &xs).unwrap();
        out.as_f32().unwrap().to_vec()
    }

    #[test]
    fn max_ties_go_to_the_first_maximum_in_row_major_order() {
        // One 2x2 window holding 1, 3, 3, 2: the first 3 (index 1) takes the whole gradient.
        assert_eq!(
            grad(PoolKind::Max, 2, 1, 0, &[1., 3., 3., 2.], &[5.]),
            [0., 5., 0., 0.]
        );
        // Padding never wins even when every value is negative.
        assert_eq!(
            grad(
                PoolKind::Max,
                2,
                2,
                1,
                &[-4., -3., -2., -1.],
                &[1., 2., 3., 4.]
            ),
            [1., 2., 3., 4.]
        );
    }

    #[test]
    fn avg_divides_by_the_in_bounds_count() {
        // 2x2 window, stride 1, padding 1 over 2x2: corner windows see one element, edges two,
        // the centre four; element (0,0) is in windows (0,0), (0,1), (1,0), (1,1).
        let dy = [1.; 9];
        let g = grad(PoolKind::Avg, 2, 1, 1, &[0.; 4], &dy);
        assert_eq!(g, [1. + 0.5 + 0.5 + 0.25; 4]);
    }
}
