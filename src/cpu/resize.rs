//! Resizing (NCHW): nearest-neighbour 2x upsampling, optionally cropped by one row or column
//! (`Op::Upsample2x`), for decoders whose skip connections have odd sizes.

use super::{CpuError, Ctx, TensorData};
use crate::graph::Shape;

/// `out[n, c, y, x] = in[n, c, y / 2, x / 2]` over the output's `[OH, OW]`.
pub(crate) fn upsample2x(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
    out_shape: &Shape,
) -> Result<TensorData, CpuError> {
    let x = cx.f32_in(inputs, 0)?;
    let (xd, od) = (cx.dims(inputs, 0)?, out_shape.dims());
    let (planes, h, w) = (xd[0] * xd[1], xd[2], xd[3]);
    let (oh, ow) = (od[2], od[3]);
    let mut out = cx.zeros(planes * oh * ow)?;
    for (p, dst) in out.chunks_exact_mut(oh * ow).enumerate() {
        let plane = &x[p * h * w..(p + 1) * h * w];
        for (y, row) in dst.chunks_exact_mut(ow).enumerate() {
            let src = &plane[(y / 2) * w..(y / 2 + 1) * w];
            for (xo, v) in row.iter_mut().enumerate() {
                *v = src[xo / 2];
            }
        }
    }
    Ok(TensorData::F32(out))
}

#[cfg(test)]
mod tests {
    use crate::cpu::{TensorData, eval_node};
    use crate::graph::{Op, Shape};

    #[test]
    fn doubles_each_pixel() {
        // [[1, 2], [3, 4]] -> each value a 2x2 block.
        let s = Shape::new([1, 1, 2, 2]);
        let x = TensorData::F32(vec![1., 2., 3., 4.]);
        let op = Op::Upsample2x { size: [4, 4] };
        let out = eval_node(&op, &[(&s, &x)], &Shape::new([1, 1, 4, 4])).unwrap();
        #[rustfmt::skip]
        let expected = [
            1., 1., 2., 2.,
            1., 1., 2., 2.,
            3., 3., 4., 4.,
            3., 3., 4., 4.,
        ];
        assert_eq!(out.as_f32().unwrap(), &expected);
    }

    #[test]
    fn odd_size_crops_the_last_row_and_column_per_plane() {
        // Two planes of 2x2 -> 3x3: the last row and column of the 4x4 are dropped.
        let s = Shape::new([1, 2, 2, 2]);
        let x = TensorData::F32(vec![1., 2., 3., 4., 5., 6., 7., 8.]);
        let op = Op::Upsample2x { size: [3, 3] };
        let out = eval_node(&op, &[(&s, &x)], &Shape::new([1, 2, 3, 3])).unwrap();
        #[rustfmt::skip]
        let expected = [
            1., 1., 2.,  1., 1., 2.,  3., 3., 4.,
            5., 5., 6.,  5., 5., 6.,  7., 7., 8.,
        ];
        assert_eq!(out.as_f32().unwrap(), &expected);
    }

    #[test]
    fn sizes_other_than_double_or_one_less_are_errors() {
        let s = Shape::new([1, 1, 2, 3]);
        let x = TensorData::F32(vec![0.; 6]);
        for size in [[5, 6], [4, 4], [2, 6], [4, 7]] {
            let err = eval_node(
                &Op::Upsample2x { size },
                &[(&s, &x)],
                &Shape::new([1, 1, 4, 6]),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("upsample2x"), "{size:?}: {err}");
        }
        // Not rank 4.
        let s3 = Shape::new([1, 2, 3]);
        let op = Op::Upsample2x { size: [4, 6] };
        assert!(eval_node(&op, &[(&s3, &x)], &Shape::new([1, 1, 4, 6])).is_err());
    }
}
