//! Losses and optimizer updates of the training graph: softmax cross-entropy (mean over rows)
//! and mean squared error with their gradients, the SGD step and momentum accumulation. The
//! updates are pure functions here (a new value); on the device they rewrite their first
//! input in place.

use super::{CpuError, Ctx, TensorData};
use crate::graph::Shape;

/// Logits, their row length (classes) and the labels, checked against each other.
fn logits_and_labels<'d>(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &'d TensorData)],
) -> Result<(&'d [f32], usize, &'d [u32]), CpuError> {
    let (x, labels) = (cx.f32_in(inputs, 0)?, cx.u32_in(inputs, 1)?);
    let classes = cx.dims(inputs, 0)?.last().copied().unwrap_or(1).max(1);
    if let Some((position, &id)) = labels
        .iter()
        .enumerate()
        .find(|(_, l)| **l as usize >= classes)
    {
        return Err(CpuError::IdOutOfRange {
            node: cx.node().to_string(),
            op: cx.op_name(),
            id,
            position,
            rows: classes,
        });
    }
    Ok((x, classes, labels))
}

/// `log(sum(exp(row)))`, max-subtracted.
fn log_sum_exp(row: &[f32]) -> f64 {
    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let s: f64 = row
        .iter()
        .map(|&v| (f64::from(v) - f64::from(m)).exp())
        .sum();
    f64::from(m) + s.ln()
}

/// Mean over rows of `logsumexp(row) - row[label]`.
pub(crate) fn cross_entropy(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
) -> Result<TensorData, CpuError> {
    let (x, c, labels) = logits_and_labels(cx, inputs)?;
    let rows = labels.len();
    let total: f64 = x
        .chunks_exact(c)
        .zip(labels)
        .map(|(row, &l)| log_sum_exp(row) - f64::from(row[l as usize]))
        .sum();
    let mean = if rows == 0 { 0.0 } else { total / rows as f64 };
    Ok(TensorData::F32(vec![mean as f32]))
}

/// `dloss * (softmax(row) - onehot(label)) / rows`.
pub(crate) fn cross_entropy_backward(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
) -> Result<TensorData, CpuError> {
    let (x, c, labels) = logits_and_labels(cx, inputs)?;
    let dloss = f64::from(cx.f32_in(inputs, 2)?.first().copied().unwrap_or(0.0));
    let scale = dloss / labels.len().max(1) as f64;
    let mut out = cx.zeros(x.len())?;
    for ((row, o), &l) in x.chunks_exact(c).zip(out.chunks_exact_mut(c)).zip(labels) {
        let lse = log_sum_exp(row);
        for (k, (o, &v)) in o.iter_mut().zip(row).enumerate() {
            let onehot = if k == l as usize { 1.0 } else { 0.0 };
            *o = (((f64::from(v) - lse).exp() - onehot) * scale) as f32;
        }
    }
    Ok(TensorData::F32(out))
}

/// Mean of `(pred - target)^2`.
pub(crate) fn mse(cx: &Ctx<'_>, inputs: &[(&Shape, &TensorData)]) -> Result<TensorData, CpuError> {
    let (p, t) = (cx.f32_in(inputs, 0)?, cx.f32_in(inputs, 1)?);
    let sum: f64 = p
        .iter()
        .zip(t)
        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
        .sum();
    let mean = if p.is_empty() {
        0.0
    } else {
        sum / p.len() as f64
    };
    Ok(TensorData::F32(vec![mean as f32]))
}

/// `dloss * 2 (pred - target) / n`.
pub(crate) fn mse_backward(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
) -> Result<TensorData, CpuError> {
    let (p, t) = (cx.f32_in(inputs, 0)?, cx.f32_in(inputs, 1)?);
    let dloss = cx.f32_in(inputs, 2)?.first().copied().unwrap_or(0.0);
    let factor = 2.0 * dloss / p.len().max(1) as f32;
    let mut out = cx.zeros(p.len())?;
    for ((o, &a), &b) in out.iter_mut().zip(p).zip(t) {
        *o = factor * (a - b);
    }
    Ok(TensorData::F32(out))
}

/// `a + factor * b` elementwise in f32, as the device computes it: the SGD step is
/// `w + (-lr) * g`, momentum accumulation `g + momentum * v` (see the callers).
fn axpy(cx: &Ctx<'_>, a: &[f32], factor: f32, b: &[f32]) -> Result<TensorData, CpuError> {
    let mut out = cx.zeros(a.len())?;
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = x + factor * y;
    }
    Ok(TensorData::F32(out))
}

/// `w - lr * g`.
pub(crate) fn sgd_step(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
    lr: f32,
) -> Result<TensorData, CpuError> {
    axpy(cx, cx.f32_in(inputs, 0)?, -lr, cx.f32_in(inputs, 1)?)
}

/// `momentum * v + g`.
pub(crate) fn momentum(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
    momentum: f32,
) -> Result<TensorData, CpuError> {
    axpy(cx, cx.f32_in(inputs, 1)?, momentum, cx.f32_in(inputs, 0)?)
}

#[cfg(test)]
mod tests {
    use crate::cpu::{TensorData, eval_node};
    use crate::graph::{Op, Shape};

    #[test]
    fn cross_entropy_of_uniform_logits_is_ln_classes() {
        // Equal logits over 4 classes: loss ln 4 whatever the label; gradient (1/4 - onehot)/rows.
        let (sx, sl, s1) = (Shape::new([2, 4]), Shape::new([2]), Shape::new([1]));
        let x = TensorData::F32(vec![0.5; 8]);
        let l = TensorData::U32(vec![1, 3]);
        let loss = eval_node(&Op::SoftmaxCrossEntropy, &[(&sx, &x), (&sl, &l)], &s1).unwrap();
        let v = loss.as_f32().unwrap()[0];
        assert!((v - 4f32.ln()).abs() < 1e-6, "{v}");
        let one = TensorData::F32(vec![1.0]);
        let g = eval_node(
            &Op::SoftmaxCrossEntropyBackward,
            &[(&sx, &x), (&sl, &l), (&s1, &one)],
            &sx,
        )
        .unwrap();
        let want = [0.125, -0.375, 0.125, 0.125, 0.125, 0.125, 0.125, -0.375];
        assert_eq!(g.as_f32().unwrap(), &want);
        let bad = TensorData::U32(vec![1, 4]);
        assert!(eval_node(&Op::SoftmaxCrossEntropy, &[(&sx, &x), (&sl, &bad)], &s1).is_err());
    }

    #[test]
    fn mse_and_sgd_by_hand() {
        // pred [1, 3], target [0, 0]: mean (1 + 9) / 2 = 5; grad 2 (p - t) / 2 = [1, 3].
        let (s, s1) = (Shape::new([2]), Shape::new([1]));
        let p = TensorData::F32(vec![1., 3.]);
        let t = TensorData::F32(vec![0., 0.]);
        let loss = eval_node(&Op::MseLoss, &[(&s, &p), (&s, &t)], &s1).unwrap();
        assert_eq!(loss, TensorData::F32(vec![5.0]));
        let one = TensorData::F32(vec![1.0]);
        let g = eval_node(&Op::MseLossBackward, &[(&s, &p), (&s, &t), (&s1, &one)], &s).unwrap();
        assert_eq!(g, TensorData::F32(vec![1., 3.]));
        let w = eval_node(&Op::SgdStep { lr: 0.5 }, &[(&s, &p), (&s, &g)], &s).unwrap();
        assert_eq!(w, TensorData::F32(vec![0.5, 1.5]));
        let v = eval_node(
            &Op::MomentumAccumulate { momentum: 0.5 },
            &[(&s, &p), (&s, &g)],
            &s,
        )
        .unwrap();
        assert_eq!(v, TensorData::F32(vec![1.5, 4.5]));
    }
}
