//! 2-D convolution (NCHW, groups = 1) with stride, zero padding, dilation and an optional bias,
//! as host im2col (one image's column matrix `[C*KH*KW, OH*OW]`) times the weight `[O, C*KH*KW]`
//! through [`sgemm`] (`matrixmultiply`, threaded). It shares no code with the GPU's im2col
//! (WGSL) or direct kernels; its f32 accumulation order is the crate's, not a plain tap loop's.

use super::matmul::sgemm;
use super::{CpuError, Ctx, TensorData};
use crate::graph::{Conv2dAttrs, Shape};

/// Input coordinate read by output position `o` and kernel tap `k`, or `None` in the padding.
pub(crate) fn source_index(
    o: usize,
    k: usize,
    stride: usize,
    pad: usize,
    dilation: usize,
    size: usize,
) -> Option<usize> {
    (o * stride + k * dilation)
        .checked_sub(pad)
        .filter(|&i| i < size)
}

/// The column matrix of one image `x [C, H, W]`: row `(c*KH + ky)*KW + kx`, column `y*OW + x`
/// holds the input tap that output position reads (zero in the padding).
fn im2col(
    a: &Conv2dAttrs,
    x: &[f32],
    (c, h, w): (usize, usize, usize),
    (kh, kw, oh, ow): (usize, usize, usize, usize),
    col: &mut [f32],
) {
    let mut rows = col.chunks_exact_mut((oh * ow).max(1));
    for ci in 0..c {
        for ky in 0..kh {
            for kx in 0..kw {
                let Some(row) = rows.next() else { return };
                for y in 0..oh {
                    let iy = source_index(y, ky, a.stride[0], a.padding[0], a.dilation[0], h);
                    for xo in 0..ow {
                        let ix = source_index(xo, kx, a.stride[1], a.padding[1], a.dilation[1], w);
                        row[y * ow + xo] = match (iy, ix) {
                            (Some(iy), Some(ix)) => x[(ci * h + iy) * w + ix],
                            _ => 0.0,
                        };
                    }
                }
            }
        }
    }
}

/// `out[n, o, y, x] = bias[o] + sum_{c, ky, kx} in[n, c, y*s - p + ky*d, x*s - p + kx*d] * w[o, c, ky, kx]`.
pub(crate) fn conv2d(
    cx: &Ctx<'_>,
    a: &Conv2dAttrs,
    inputs: &[(&Shape, &TensorData)],
    out_shape: &Shape,
) -> Result<TensorData, CpuError> {
    let (x, w) = (cx.f32_in(inputs, 0)?, cx.f32_in(inputs, 1)?);
    let bias = cx.optional_f32_in(inputs, 2)?;
    let (xd, wd, od) = (cx.dims(inputs, 0)?, cx.dims(inputs, 1)?, out_shape.dims());
    let (n, c, h, wi) = (xd[0], xd[1], xd[2], xd[3]);
    let (oc, kh, kw) = (wd[0], wd[2], wd[3]);
    let (oh, ow) = (od[2], od[3]);
    let (ckk, plane) = (c * kh * kw, oh * ow);
    let mut out = cx.zeros(n * oc * plane)?;
    let mut col = cx.zeros(ckk * plane)?;
    for b in 0..n {
        let image = &x[b * c * h * wi..(b + 1) * c * h * wi];
        im2col(a, image, (c, h, wi), (kh, kw, oh, ow), &mut col);
        let dst = &mut out[b * oc * plane..(b + 1) * oc * plane];
        sgemm((oc, ckk, plane), (w, false), (&col, false), dst)?;
        if let Some(bias) = bias {
            for (channel, bv) in dst.chunks_exact_mut(plane.max(1)).zip(bias) {
                channel.iter_mut().for_each(|v| *v += bv);
            }
        }
    }
    Ok(TensorData::F32(out))
}

#[cfg(test)]
mod tests {
    use crate::cpu::{TensorData, eval_node};
    use crate::graph::{Conv2dAttrs, Op, Shape};

    fn attrs(stride: usize, pad: usize, dilation: usize) -> Op {
        Op::Conv2d(Conv2dAttrs {
            stride: [stride; 2],
            padding: [pad; 2],
            dilation: [dilation; 2],
            ..Default::default()
        })
    }

    /// 4x4 input 1..=16, row-major.
    fn ramp() -> TensorData {
        TensorData::F32((1..=16).map(|v| v as f32).collect())
    }

    #[test]
    fn three_by_three_ones_with_padding_one_on_four_by_four() {
        // A 3x3 box sum with zero padding: each output is the sum of the in-bounds neighbours.
        // Corner (0,0): 1+2+5+6 = 14. Edge (0,1): 1+2+3+5+6+7 = 24. Centre (1,1): 1+2+3+5+6+7+9+10+11 = 54.
        let (sx, sw) = (Shape::new([1, 1, 4, 4]), Shape::new([1, 1, 3, 3]));
        let w = TensorData::F32(vec![1.0; 9]);
        let out = eval_node(&attrs(1, 1, 1), &[(&sx, &ramp()), (&sw, &w)], &sx).unwrap();
        #[rustfmt::skip]
        let want = [
            14., 24., 30., 22.,
            33., 54., 63., 45.,
            57., 90., 99., 69.,
            46., 72., 78., 54.,
        ];
        assert_eq!(out.as_f32().unwrap(), &want);
    }

    #[test]
    fn stride_bias_and_channels() {
        // Two input channels (the ramp and ramp*10), two output channels:
        // o0 = centre tap of channel 0 + bias 0.5; o1 = centre tap of channel 1 - 1.
        // Stride 2 with padding 1 on 4x4 -> 2x2 output at input rows/cols 0 and 2.
        let sx = Shape::new([1, 2, 4, 4]);
        let mut xv: Vec<f32> = (1..=16).map(|v| v as f32).collect();
        xv.extend((1..=16).map(|v| v as f32 * 10.0));
        let sw = Shape::new([2, 2, 3, 3]);
        let mut wv = vec![0.0; 36];
        wv[4] = 1.0; // o0, c0, centre
        wv[18 + 9 + 4] = 1.0; // o1 (stride 18), c1 (stride 9), centre
        let sb = Shape::new([2]);
        let ins = [
            (&sx, &TensorData::F32(xv)),
            (&sw, &TensorData::F32(wv)),
            (&sb, &TensorData::F32(vec![0.5, -1.0])),
        ];
        let out = eval_node(&attrs(2, 1, 1), &ins, &Shape::new([1, 2, 2, 2])).unwrap();
        assert_eq!(
            out.as_f32().unwrap(),
            &[1.5, 3.5, 9.5, 11.5, 9., 29., 89., 109.]
        );
    }

    #[test]
    fn dilation_spreads_the_taps() {
        // 2x2 kernel of ones, dilation 2, no padding on 4x4 -> 2x2 output;
        // out(0,0) = x(0,0)+x(0,2)+x(2,0)+x(2,2) = 1+3+9+11 = 24.
        let (sx, sw) = (Shape::new([1, 1, 4, 4]), Shape::new([1, 1, 2, 2]));
        let w = TensorData::F32(vec![1.0; 4]);
        let out = eval_node(
            &attrs(1, 0, 2),
            &[(&sx, &ramp()), (&sw, &w)],
            &Shape::new([1, 1, 2, 2]),
        )
        .unwrap();
        assert_eq!(out.as_f32().unwrap(), &[24., 28., 40., 44.]);
    }
}
