//! Elementwise ops: binary arithmetic with numpy broadcasting, and unary ReLU, GELU (tanh
//! approximation) and scaling.

use super::{CpuError, Ctx, TensorData};
use crate::graph::{BinaryOp, Shape, UnaryOp};

/// Strides of `dims` aligned to an output of rank `rank`: 0 for broadcast (size-1 or missing)
/// dimensions, so stepping along them re-reads the same element.
pub(crate) fn broadcast_strides(dims: &[usize], rank: usize) -> Vec<usize> {
    let shift = rank - dims.len();
    let own = Shape::new(dims).strides();
    (0..rank)
        .map(|i| {
            if i < shift || dims[i - shift] == 1 {
                0
            } else {
                own[i - shift]
            }
        })
        .collect()
}

/// `a op b` with numpy broadcasting to `out_shape`.
pub(crate) fn binary(
    cx: &Ctx<'_>,
    op: BinaryOp,
    inputs: &[(&Shape, &TensorData)],
    out_shape: &Shape,
) -> Result<TensorData, CpuError> {
    let (a, b) = (cx.f32_in(inputs, 0)?, cx.f32_in(inputs, 1)?);
    let od = out_shape.dims();
    let rank = od.len();
    let sa = broadcast_strides(cx.dims(inputs, 0)?, rank);
    let sb = broadcast_strides(cx.dims(inputs, 1)?, rank);
    let total: usize = od.iter().product();
    let mut out = cx.zeros(total)?;
    let mut idx = vec![0usize; rank];
    let (mut ia, mut ib) = (0usize, 0usize);
    for o in out.iter_mut() {
        let (x, y) = (a[ia], b[ib]);
        *o = match op {
            BinaryOp::Add => x + y,
            BinaryOp::Sub => x - y,
            BinaryOp::Mul => x * y,
        };
        // Advance the multi-index (last axis fastest), keeping both input offsets in step.
        for d in (0..rank).rev() {
            idx[d] += 1;
            ia += sa[d];
            ib += sb[d];
            if idx[d] < od[d] {
                break;
            }
            ia -= sa[d] * od[d];
            ib -= sb[d] * od[d];
            idx[d] = 0;
        }
    }
    Ok(TensorData::F32(out))
}

/// GELU, tanh approximation: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
pub fn gelu(x: f32) -> f32 {
    let x = f64::from(x);
    let c = (2.0 / std::f64::consts::PI).sqrt();
    (0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())) as f32
}

/// Applies a unary function to every element.
pub(crate) fn unary(
    cx: &Ctx<'_>,
    op: UnaryOp,
    inputs: &[(&Shape, &TensorData)],
) -> Result<TensorData, CpuError> {
    let x = cx.f32_in(inputs, 0)?;
    let mut out = cx.zeros(x.len())?;
    for (o, &v) in out.iter_mut().zip(x) {
        *o = match op {
            UnaryOp::Relu => v.max(0.0),
            UnaryOp::Gelu => gelu(v),
            UnaryOp::Scale(s) => v * s,
        };
    }
    Ok(TensorData::F32(out))
}

#[cfg(test)]
mod tests {
    use super::gelu;
    use crate::cpu::{TensorData, eval_node};
    use crate::graph::{BinaryOp, Op, Shape, UnaryOp};

    fn f(v: &[f32]) -> TensorData {
        TensorData::F32(v.to_vec())
    }

    #[test]
    fn broadcast_add_row_and_column() {
        // [2, 1] + [3] -> [2, 3]: [[10], [20]] + [1, 2, 3]
        let (sa, sb) = (Shape::new([2, 1]), Shape::new([3]));
        let out = eval_node(
            &Op::Binary(BinaryOp::Add),
            &[(&sa, &f(&[10., 20.])), (&sb, &f(&[1., 2., 3.]))],
            &Shape::new([2, 3]),
        )
        .unwrap();
        assert_eq!(out, f(&[11., 12., 13., 21., 22., 23.]));
    }

    #[test]
    fn sub_and_mul_keep_operand_order() {
        let s = Shape::new([2]);
        let (a, b) = (f(&[5., 6.]), f(&[1., 3.]));
        let sub = eval_node(&Op::Binary(BinaryOp::Sub), &[(&s, &a), (&s, &b)], &s).unwrap();
        assert_eq!(sub, f(&[4., 3.]));
        // Scalar broadcast on the left: 2 * [5, 6].
        let scalar = Shape::new([] as [usize; 0]);
        let mul = eval_node(
            &Op::Binary(BinaryOp::Mul),
            &[(&scalar, &f(&[2.])), (&s, &a)],
            &s,
        )
        .unwrap();
        assert_eq!(mul, f(&[10., 12.]));
    }

    #[test]
    fn broadcast_middle_axis() {
        // [2, 1, 2] * [1, 3, 1] -> [2, 3, 2]
        let (sa, sb) = (Shape::new([2, 1, 2]), Shape::new([1, 3, 1]));
        let out = eval_node(
            &Op::Binary(BinaryOp::Mul),
            &[(&sa, &f(&[1., 2., 3., 4.])), (&sb, &f(&[1., 10., 100.]))],
            &Shape::new([2, 3, 2]),
        )
        .unwrap();
        assert_eq!(
            out,
            f(&[1., 2., 10., 20., 100., 200., 3., 4., 30., 40., 300., 400.])
        );
    }

    #[test]
    fn unary_functions() {
        let s = Shape::new([3]);
        let x = f(&[-1., 0., 2.]);
        assert_eq!(
            eval_node(&Op::Unary(UnaryOp::Relu), &[(&s, &x)], &s).unwrap(),
            f(&[0., 0., 2.])
        );
        assert_eq!(
            eval_node(&Op::Unary(UnaryOp::Scale(0.5)), &[(&s, &x)], &s).unwrap(),
            f(&[-0.5, 0., 1.])
        );
        // gelu(0) = 0; gelu(x) - gelu(-x) = x exactly for the tanh form; gelu(1) ~ 0.841192.
        assert_eq!(gelu(0.0), 0.0);
        assert!((gelu(1.0) - 0.841_192).abs() < 1e-5, "{}", gelu(1.0));
        assert!((gelu(2.0) - gelu(-2.0) - 2.0).abs() < 1e-6);
    }

    #[test]
    fn relu_rejects_integer_input() {
        let s = Shape::new([1]);
        assert!(
            eval_node(
                &Op::Unary(UnaryOp::Relu),
                &[(&s, &TensorData::U32(vec![1]))],
                &s
            )
            .is_err()
        );
    }
}
