//! Pooling (NCHW): max pooling where padding never wins, average pooling that divides by the
//! number of in-bounds elements, and global average pooling `[N, C, H, W] -> [N, C]`.
//! A window with no in-bounds element (possible only on an empty input) yields 0.

use super::conv::source_index;
use super::{CpuError, Ctx, TensorData};
use crate::graph::{PoolAttrs, PoolKind, Shape};

/// Max or average pooling over `kernel` windows.
pub(crate) fn pool2d(
    cx: &Ctx<'_>,
    a: &PoolAttrs,
    inputs: &[(&Shape, &TensorData)],
    out_shape: &Shape,
) -> Result<TensorData, CpuError> {
    let x = cx.f32_in(inputs, 0)?;
    let (xd, od) = (cx.dims(inputs, 0)?, out_shape.dims());
    let (planes, h, w) = (xd[0] * xd[1], xd[2], xd[3]);
    let (oh, ow) = (od[2], od[3]);
    let mut out = cx.zeros(planes * oh * ow)?;
    let mut pos = 0;
    for p in 0..planes {
        let plane = &x[p * h * w..(p + 1) * h * w];
        for y in 0..oh {
            for xo in 0..ow {
                let (mut max, mut sum, mut count) = (f32::NEG_INFINITY, 0.0f64, 0usize);
                for ky in 0..a.kernel[0] {
                    let Some(iy) = source_index(y, ky, a.stride[0], a.padding[0], 1, h) else {
                        continue;
                    };
                    for kx in 0..a.kernel[1] {
                        let Some(ix) = source_index(xo, kx, a.stride[1], a.padding[1], 1, w) else {
                            continue;
                        };
                        let v = plane[iy * w + ix];
                        max = max.max(v);
                        sum += f64::from(v);
                        count += 1;
                    }
                }
                out[pos] = match (a.kind, count) {
                    (_, 0) => 0.0,
                    (PoolKind::Max, _) => max,
                    (PoolKind::Avg, _) => (sum / count as f64) as f32,
                };
                pos += 1;
            }
        }
    }
    Ok(TensorData::F32(out))
}

/// Mean over each `H x W` plane.
pub(crate) fn global_avg_pool(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
) -> Result<TensorData, CpuError> {
    let x = cx.f32_in(inputs, 0)?;
    let xd = cx.dims(inputs, 0)?;
    let (planes, hw) = (xd[0] * xd[1], xd[2] * xd[3]);
    let mut out = cx.zeros(planes)?;
    if hw > 0 {
        for (o, plane) in out.iter_mut().zip(x.chunks_exact(hw)) {
            *o = (plane.iter().map(|&v| f64::from(v)).sum::<f64>() / hw as f64) as f32;
        }
    }
    Ok(TensorData::F32(out))
}

#[cfg(test)]
mod tests {
    use crate::cpu::{TensorData, eval_node};
    use crate::graph::{Op, PoolAttrs, PoolKind, Shape};

    fn pool(kind: PoolKind, k: usize, s: usize, p: usize) -> Op {
        Op::Pool2d(PoolAttrs {
            kind,
            kernel: [k; 2],
            stride: [s; 2],
            padding: [p; 2],
        })
    }

    #[test]
    fn max_pool_padding_never_wins() {
        // All-negative 2x2 input; 2x2 window, stride 1, padding 1 -> 3x3 output. Corners see one
        // element each; zero padding must not win the max.
        let s = Shape::new([1, 1, 2, 2]);
        let x = TensorData::F32(vec![-1., -2., -3., -4.]);
        let out = eval_node(
            &pool(PoolKind::Max, 2, 1, 1),
            &[(&s, &x)],
            &Shape::new([1, 1, 3, 3]),
        )
        .unwrap();
        assert_eq!(
            out.as_f32().unwrap(),
            &[-1., -1., -2., -1., -1., -2., -3., -3., -4.]
        );
    }

    #[test]
    fn avg_pool_divides_by_in_bounds_count() {
        // Same geometry on [1, 2, 3, 4]: corner (0,0) sees only 1 -> 1; centre sees all -> 2.5;
        // edge (0,1) sees 1 and 2 -> 1.5.
        let s = Shape::new([1, 1, 2, 2]);
        let x = TensorData::F32(vec![1., 2., 3., 4.]);
        let out = eval_node(
            &pool(PoolKind::Avg, 2, 1, 1),
            &[(&s, &x)],
            &Shape::new([1, 1, 3, 3]),
        )
        .unwrap();
        assert_eq!(
            out.as_f32().unwrap(),
            &[1., 1.5, 2., 2., 2.5, 3., 3., 3.5, 4.]
        );
    }

    #[test]
    fn max_pool_stride_two_on_odd_input() {
        // 3x3 ramp 1..9, window 2 stride 2 no padding -> 1x1 output = max of the top-left 2x2 = 5.
        let s = Shape::new([1, 1, 3, 3]);
        let x = TensorData::F32((1..=9).map(|v| v as f32).collect());
        let out = eval_node(
            &pool(PoolKind::Max, 2, 2, 0),
            &[(&s, &x)],
            &Shape::new([1, 1, 1, 1]),
        )
        .unwrap();
        assert_eq!(out.as_f32().unwrap(), &[5.]);
    }

    #[test]
    fn global_average_per_plane() {
        let s = Shape::new([1, 2, 1, 2]);
        let x = TensorData::F32(vec![1., 3., 10., 20.]);
        let out = eval_node(&Op::GlobalAvgPool, &[(&s, &x)], &Shape::new([1, 2])).unwrap();
        assert_eq!(out.as_f32().unwrap(), &[2., 15.]);
    }
}
