//! Matrix products: batched `MatMul` with optional transposes and `Linear` (x·w + bias), and the
//! one [`sgemm`] behind them and the convolution: `matrixmultiply`'s blocked, threaded f32 GEMM
//! (threads from `MATMUL_NUM_THREADS`, default the physical cores, at most 4). It accumulates in
//! f32 in the crate's blocked order (this reference used f64 triple loops before), so a length-K
//! dot product differs from the exact one by about sqrt(K) * 2^-24 relative: far inside the
//! 1e-4-of-scale tolerance the GPU comparisons use at every K the models reach.

use super::{CpuError, Ctx, TensorData};
use crate::graph::Shape;

/// `c[m, n] = op(a) · op(b)` for dense row-major operands: `a` is `[m, k]` (`[k, m]` when
/// `trans_a`), `b` is `[k, n]` (`[n, k]` when `trans_b`), `c` is overwritten. Errors name the
/// operand that is shorter than its shape needs.
pub fn sgemm(
    (m, k, n): (usize, usize, usize),
    (a, trans_a): (&[f32], bool),
    (b, trans_b): (&[f32], bool),
    c: &mut [f32],
) -> Result<(), CpuError> {
    for (what, len, need) in [
        ("a", a.len(), m.checked_mul(k)),
        ("b", b.len(), k.checked_mul(n)),
        ("c", c.len(), m.checked_mul(n)),
    ] {
        if need.is_none_or(|need| len < need) {
            return Err(CpuError::Mismatch {
                node: "sgemm".into(),
                op: "matmul",
                detail: format!("{what} holds {len} elements, [{m}x{k}]·[{k}x{n}] needs more"),
            });
        }
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        c[..m * n].fill(0.0);
        return Ok(());
    }
    let s = |x: usize| isize::try_from(x).unwrap_or(isize::MAX);
    let (rsa, csa) = if trans_a { (1, s(m)) } else { (s(k), 1) };
    let (rsb, csb) = if trans_b { (1, s(k)) } else { (s(n), 1) };
    // SAFETY: the checks above give a at least m*k, b at least k*n and c at least m*n elements,
    // and the strides address exactly those dense [m,k]/[k,m], [k,n]/[n,k] and [m,n] layouts;
    // c is a unique borrow, so it aliases neither input.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            0.0,
            c.as_mut_ptr(),
            s(n),
            1,
        );
    }
    Ok(())
}

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
        let a = a.get(a0..).unwrap_or_default();
        let b = b.get(b0..).unwrap_or_default();
        let c = &mut out[bi * m * n..(bi + 1) * m * n];
        sgemm((m, k, n), (a, trans_a), (b, trans_b), c)?;
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
    sgemm((rows, k, n), (x, false), (w, false), &mut out)?;
    if let Some(bias) = bias {
        for row in out.chunks_exact_mut(n.max(1)) {
            for (o, b) in row.iter_mut().zip(bias) {
                *o += b;
            }
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
