//! Backward ops of the training graph: the sum down to a broadcast operand's shape, the
//! gradients of unary ops, softmax, layer norm and the embedding gather, and the slice that
//! takes a concat's gradient apart. f64 accumulation wherever a sum runs over many elements.

use super::elementwise::broadcast_strides;
use super::{CpuError, Ctx, TensorData};
use crate::graph::{Shape, UnaryOp};

/// The accumulated values rounded to f32.
fn rounded(cx: &Ctx<'_>, acc: &[f64]) -> Result<TensorData, CpuError> {
    let mut out = cx.zeros(acc.len())?;
    for (o, &a) in out.iter_mut().zip(acc) {
        *o = a as f32;
    }
    Ok(TensorData::F32(out))
}

/// Sums `x` down to `out_shape` (which broadcasts to x's shape).
pub(crate) fn reduce_to(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
    out_shape: &Shape,
) -> Result<TensorData, CpuError> {
    let x = cx.f32_in(inputs, 0)?;
    let xd = cx.dims(inputs, 0)?;
    let strides = broadcast_strides(out_shape.dims(), xd.len());
    let mut acc = cx.zeros_f64(out_shape.numel() as usize)?;
    let mut idx = vec![0usize; xd.len()];
    let mut at = 0usize;
    for &v in x {
        acc[at] += f64::from(v);
        for d in (0..xd.len()).rev() {
            idx[d] += 1;
            at += strides[d];
            if idx[d] < xd[d] {
                break;
            }
            at -= strides[d] * xd[d];
            idx[d] = 0;
        }
    }
    rounded(cx, &acc)
}

/// The derivative of GELU (tanh approximation) at `x`.
pub fn gelu_derivative(x: f32) -> f32 {
    let x = f64::from(x);
    let c = (2.0 / std::f64::consts::PI).sqrt();
    let t = (c * (x + 0.044715 * x * x * x)).tanh();
    (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * x * x)) as f32
}

/// `dx = dy * f'(x)`.
pub(crate) fn unary_backward(
    cx: &Ctx<'_>,
    op: UnaryOp,
    inputs: &[(&Shape, &TensorData)],
) -> Result<TensorData, CpuError> {
    let (x, dy) = (cx.f32_in(inputs, 0)?, cx.f32_in(inputs, 1)?);
    let mut out = cx.zeros(x.len())?;
    for ((o, &v), &g) in out.iter_mut().zip(x).zip(dy) {
        *o = match op {
            UnaryOp::Relu => {
                if v > 0.0 {
                    g
                } else {
                    0.0
                }
            }
            UnaryOp::Gelu => g * gelu_derivative(v),
            UnaryOp::Scale(s) => g * s,
        };
    }
    Ok(TensorData::F32(out))
}

/// Row length (last axis) of input 0, at least 1.
fn row_len(cx: &Ctx<'_>, inputs: &[(&Shape, &TensorData)]) -> Result<usize, CpuError> {
    Ok(cx.dims(inputs, 0)?.last().copied().unwrap_or(1).max(1))
}

/// `dx = y * (dy - sum(dy * y))` per row.
pub(crate) fn softmax_backward(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
) -> Result<TensorData, CpuError> {
    let (y, dy) = (cx.f32_in(inputs, 0)?, cx.f32_in(inputs, 1)?);
    let d = row_len(cx, inputs)?;
    let mut out = cx.zeros(y.len())?;
    for ((yr, gr), o) in y
        .chunks_exact(d)
        .zip(dy.chunks_exact(d))
        .zip(out.chunks_exact_mut(d))
    {
        let s: f64 = yr
            .iter()
            .zip(gr)
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum();
        for ((o, &a), &b) in o.iter_mut().zip(yr).zip(gr) {
            *o = (f64::from(a) * (f64::from(b) - s)) as f32;
        }
    }
    Ok(TensorData::F32(out))
}

/// The input gradient of layer norm, recomputing each row's mean and inverse deviation.
pub(crate) fn layer_norm_backward(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
    eps: f32,
) -> Result<TensorData, CpuError> {
    let (x, gamma, dy) = (
        cx.f32_in(inputs, 0)?,
        cx.f32_in(inputs, 1)?,
        cx.f32_in(inputs, 2)?,
    );
    let d = gamma.len().max(1);
    let n = d as f64;
    let mut out = cx.zeros(x.len())?;
    for ((xr, gr), o) in x
        .chunks_exact(d)
        .zip(dy.chunks_exact(d))
        .zip(out.chunks_exact_mut(d))
    {
        let mean = xr.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = xr
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        let inv = 1.0 / (var + f64::from(eps)).sqrt();
        let xhat = |k: usize| (f64::from(xr[k]) - mean) * inv;
        let g = |k: usize| f64::from(gr[k]) * f64::from(gamma[k]);
        let mg = (0..d).map(g).sum::<f64>() / n;
        let mgx = (0..d).map(|k| g(k) * xhat(k)).sum::<f64>() / n;
        for (k, o) in o.iter_mut().enumerate() {
            *o = (inv * (g(k) - mg - xhat(k) * mgx)) as f32;
        }
    }
    Ok(TensorData::F32(out))
}

/// Row v of the output: the sum of the dy rows whose id is v.
pub(crate) fn embedding_backward(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
    vocab: usize,
) -> Result<TensorData, CpuError> {
    let (ids, dy) = (cx.u32_in(inputs, 0)?, cx.f32_in(inputs, 1)?);
    let d = cx.dims(inputs, 1)?.last().copied().unwrap_or(1).max(1);
    let mut acc = cx.zeros_f64(vocab * d)?;
    for (position, (&id, row)) in ids.iter().zip(dy.chunks_exact(d)).enumerate() {
        let v = id as usize;
        if v >= vocab {
            return Err(CpuError::IdOutOfRange {
                node: cx.node().to_string(),
                op: cx.op_name(),
                id,
                position,
                rows: vocab,
            });
        }
        for (a, &g) in acc[v * d..(v + 1) * d].iter_mut().zip(row) {
            *a += f64::from(g);
        }
    }
    rounded(cx, &acc)
}

/// `x[.., start..start + len, ..]` along `axis`.
pub(crate) fn slice(
    cx: &Ctx<'_>,
    axis: usize,
    start: usize,
    len: usize,
    inputs: &[(&Shape, &TensorData)],
) -> Result<TensorData, CpuError> {
    let xd = cx.dims(inputs, 0)?;
    let inner: usize = xd[axis + 1..].iter().product();
    let outer: usize = xd[..axis].iter().product();
    let (row, keep, skip) = (xd[axis] * inner, len * inner, start * inner);
    let pick = |n: usize| {
        (0..outer)
            .flat_map(move |o| o * row + skip..o * row + skip + keep)
            .take(n)
    };
    let n = outer * keep;
    match inputs.first().map(|(_, d)| *d) {
        Some(TensorData::F32(v)) => Ok(TensorData::F32(pick(n).map(|i| v[i]).collect())),
        Some(TensorData::U32(v)) => Ok(TensorData::U32(pick(n).map(|i| v[i]).collect())),
        None => Err(cx.mismatch("missing input")),
    }
}

#[cfg(test)]
mod tests {
    use crate::cpu::{TensorData, eval_node};
    use crate::graph::{Op, Shape};

    fn f(v: &[f32]) -> TensorData {
        TensorData::F32(v.to_vec())
    }

    #[test]
    fn reduce_to_sums_broadcast_axes() {
        // [2, 3] -> [3]: column sums; -> [2, 1]: row sums.
        let s = Shape::new([2, 3]);
        let x = f(&[1., 2., 3., 10., 20., 30.]);
        let op = |d: &[usize]| Op::ReduceTo { shape: d.to_vec() };
        let cols = eval_node(&op(&[3]), &[(&s, &x)], &Shape::new([3])).unwrap();
        assert_eq!(cols, f(&[11., 22., 33.]));
        let rows = eval_node(&op(&[2, 1]), &[(&s, &x)], &Shape::new([2, 1])).unwrap();
        assert_eq!(rows, f(&[6., 60.]));
        assert!(eval_node(&op(&[2]), &[(&s, &x)], &Shape::new([2])).is_err());
    }

    #[test]
    fn slice_takes_the_middle_of_an_axis() {
        // [2, 3] columns 1..3.
        let s = Shape::new([2, 3]);
        let op = Op::Slice {
            axis: 1,
            start: 1,
            len: 2,
        };
        let x = f(&[1., 2., 3., 4., 5., 6.]);
        let out = eval_node(&op, &[(&s, &x)], &Shape::new([2, 2])).unwrap();
        assert_eq!(out, f(&[2., 3., 5., 6.]));
    }

    #[test]
    fn embedding_backward_adds_rows_of_repeated_ids() {
        // ids [1, 0, 1], dy rows [1, 2], [3, 4], [5, 6] -> table [[3, 4], [6, 8], [0, 0]].
        let (si, sd) = (Shape::new([3]), Shape::new([3, 2]));
        let ids = TensorData::U32(vec![1, 0, 1]);
        let dy = f(&[1., 2., 3., 4., 5., 6.]);
        let op = Op::EmbeddingBackward { vocab: 3 };
        let out = eval_node(&op, &[(&si, &ids), (&sd, &dy)], &Shape::new([3, 2])).unwrap();
        assert_eq!(out, f(&[3., 4., 6., 8., 0., 0.]));
        let bad = TensorData::U32(vec![1, 3, 0]);
        assert!(eval_node(&op, &[(&si, &bad), (&sd, &dy)], &Shape::new([3, 2])).is_err());
    }
}
