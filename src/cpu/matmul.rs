//! Matrix products: batched `MatMul` with optional transposes and `Linear` (x·w + bias).
//! Straightforward triple loops with f64 accumulation.

use super::{CpuError, Ctx, TensorData};
use crate::graph::Shape;

/// Batched matmul. `a [.., M, K]` (`[.., K, M]` when `trans_a`), `b [.., K, N]` (`[.., N, K]`
/// when `trans_b`); `b` either has `a`'s batch dims or is 2-D and shared by every batch.
pub(crate) fn matmul(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
    out_shape: &Shape,
    trans_a: bool,
    trans_b: bool,
) -> Result<TensorData, CpuError> {
    let (a, b) = (cx.f32_in(inputs, 0)?, cx.f32_in(inputs, 1)?);
    let (ad, bd) = (cx.dims(inputs, 0)?, cx.dims(inputs, 1)?);
    let od = out_shape.dims();
    let (m, n) = (od[od.len() - 2], od[od.len() - 1]);
    let k = if trans_a {
        ad[ad.len() - 2]
    } else {
        ad[ad.len() - 1]
    };
    let batch: usize = od[..od.len() - 2].iter().product();
    let b_shared = bd.len() == 2;
    let mut out = cx.zeros(batch * m * n)?;
    for bi in 0..batch {
        let a0 = bi * m * k;
        let b0 = if b_shared { 0 } else { bi * k * n };
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0f64;
                for p in 0..k {
                    let av = if trans_a {
                        a[a0 + p * m + i]
                    } else {
                        a[a0 + i * k + p]
                    };
                    let bv = if trans_b {
                        b[b0 + j * k + p]
                    } else {
                        b[b0 + p * n + j]
                    };
                    acc += f64::from(av) * f64::from(bv);
                }
                out[(bi * m + i) * n + j] = acc as f32;
            }
        }
    }
    Ok(TensorData::F32(out))
}

/// Fully connected: `x [.., K]`, `w [K, N]`, optional `bias [N]` -> `[.., N]`.
pub(crate) fn linear(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
    out_shape: &Shape,
) -> Result<TensorData, CpuError> {
    let (x, w) = (cx.f32_in(inputs, 0)?, cx.f32_in(inputs, 1)?);
    let bias = cx.optional_f32_in(inputs, 2)?;
    let wd = cx.dims(inputs, 1)?;
    let (k, n) = (wd[0], wd[1]);
    let od = out_shape.dims();
    let rows: usize = od[..od.len() - 1].iter().product();
    let mut out = cx.zeros(rows * n)?;
    for r in 0..rows {
        for j in 0..n {
            let mut acc = bias.map_or(0.0, |b| f64::from(b[j]));
            for p in 0..k {
                acc += f64::from(x[r * k + p]) * f64::from(w[p * n + j]);
            }
            out[r * n + j] = acc as f32;
        }
    }
    Ok(TensorData::F32(out))
}

#[cfg(test)]
mod tests {
    use crate::cpu::{TensorData, eval_node};
    use crate::graph::{Op, Shape};

    fn f(v: &[f32]) -> TensorData {
        TensorData::F32(v.to_vec())
    }

    #[test]
    fn two_by_three_times_three_by_two() {
        // [[1,2,3],[4,5,6]] @ [[7,8],[9,10],[11,12]] = [[58,64],[139,154]]
        let (sa, sb) = (Shape::new([2, 3]), Shape::new([3, 2]));
        let a = f(&[1., 2., 3., 4., 5., 6.]);
        let b = f(&[7., 8., 9., 10., 11., 12.]);
        let op = Op::MatMul {
            trans_a: false,
            trans_b: false,
        };
        let out = eval_node(&op, &[(&sa, &a), (&sb, &b)], &Shape::new([2, 2])).unwrap();
        assert_eq!(out, f(&[58., 64., 139., 154.]));
    }

    #[test]
    fn transposes_read_the_stored_layout() {
        // a stored as [K=3, M=2] (the transpose of the matrix above), b stored as [N=2, K=3].
        let (sa, sb) = (Shape::new([3, 2]), Shape::new([2, 3]));
        let a = f(&[1., 4., 2., 5., 3., 6.]);
        let b = f(&[7., 9., 11., 8., 10., 12.]);
        let op = Op::MatMul {
            trans_a: true,
            trans_b: true,
        };
        let out = eval_node(&op, &[(&sa, &a), (&sb, &b)], &Shape::new([2, 2])).unwrap();
        assert_eq!(out, f(&[58., 64., 139., 154.]));
    }

    #[test]
    fn batched_with_a_shared_rhs() {
        // Two batches of [1, 2] @ [[1, 0], [0, 2]]: [x, 2y] per row.
        let (sa, sb) = (Shape::new([2, 1, 2]), Shape::new([2, 2]));
        let a = f(&[1., 2., 3., 4.]);
        let b = f(&[1., 0., 0., 2.]);
        let op = Op::MatMul {
            trans_a: false,
            trans_b: false,
        };
        let out = eval_node(&op, &[(&sa, &a), (&sb, &b)], &Shape::new([2, 1, 2])).unwrap();
        assert_eq!(out, f(&[1., 4., 3., 8.]));
        // Per-batch rhs: second batch uses the identity.
        let sb3 = Shape::new([2, 2, 2]);
        let b3 = f(&[1., 0., 0., 2., 1., 0., 0., 1.]);
        let out = eval_node(&op, &[(&sa, &a), (&sb3, &b3)], &Shape::new([2, 1, 2])).unwrap();
        assert_eq!(out, f(&[1., 4., 3., 4.]));
    }

    #[test]
    fn linear_adds_the_bias_per_column() {
        // x [2, 2] = [[1, 2], [3, 4]], w = [[1, 1, 0], [0, 1, 1]], bias [10, 20, 30]
        let (sx, sw, sb) = (Shape::new([2, 2]), Shape::new([2, 3]), Shape::new([3]));
        let (x, w, b) = (
            f(&[1., 2., 3., 4.]),
            f(&[1., 1., 0., 0., 1., 1.]),
            f(&[10., 20., 30.]),
        );
        let out = eval_node(
            &Op::Linear,
            &[(&sx, &x), (&sw, &w), (&sb, &b)],
            &Shape::new([2, 3]),
        )
        .unwrap();
        assert_eq!(out, f(&[11., 23., 32., 13., 27., 34.]));
        let out = eval_node(&Op::Linear, &[(&sx, &x), (&sw, &w)], &Shape::new([2, 3])).unwrap();
        assert_eq!(out, f(&[1., 3., 2., 3., 7., 4.]));
    }

    #[test]
    fn a_wrong_output_shape_is_an_error() {
        let (sa, sb) = (Shape::new([2, 3]), Shape::new([3, 2]));
        let a = f(&[0.; 6]);
        let op = Op::MatMul {
            trans_a: false,
            trans_b: false,
        };
        assert!(eval_node(&op, &[(&sa, &a), (&sb, &a)], &Shape::new([3, 3])).is_err());
        // Data shorter than its shape.
        let short = f(&[0.; 5]);
        assert!(eval_node(&op, &[(&sa, &short), (&sb, &a)], &Shape::new([2, 2])).is_err());
    }
}
