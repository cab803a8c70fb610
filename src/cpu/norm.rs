//! Normalisations over the last axis: softmax (max-subtracted for stability) and layer norm
//! (biased variance, then `gamma`, `beta`).

use super::{CpuError, Ctx, TensorData};
use crate::graph::Shape;

/// Softmax of one row, in place of `out`. An empty row does nothing.
pub(crate) fn softmax_row(row: &[f32], out: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f64;
    for (o, &v) in out.iter_mut().zip(row) {
        let e = (f64::from(v) - f64::from(max)).exp();
        *o = e as f32;
        sum += e;
    }
    for o in out.iter_mut() {
        *o = (f64::from(*o) / sum) as f32;
    }
}

/// Softmax over the last axis.
pub(crate) fn softmax(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
) -> Result<TensorData, CpuError> {
    let x = cx.f32_in(inputs, 0)?;
    let d = cx.dims(inputs, 0)?.last().copied().unwrap_or(1);
    let mut out = cx.zeros(x.len())?;
    if d > 0 {
        for (row, o) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            softmax_row(row, o);
        }
    }
    Ok(TensorData::F32(out))
}

/// Layer norm over the last axis: `(x - mean) / sqrt(var + eps) * gamma + beta`.
pub(crate) fn layer_norm(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
    eps: f32,
) -> Result<TensorData, CpuError> {
    let x = cx.f32_in(inputs, 0)?;
    let (gamma, beta) = (cx.f32_in(inputs, 1)?, cx.f32_in(inputs, 2)?);
    let d = gamma.len();
    let mut out = cx.zeros(x.len())?;
    if d > 0 {
        for (row, o) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            let n = d as f64;
            let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let var = row
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / n;
            let inv = 1.0 / (var + f64::from(eps)).sqrt();
            for (k, (o, &v)) in o.iter_mut().zip(row).enumerate() {
                *o =
                    ((f64::from(v) - mean) * inv * f64::from(gamma[k]) + f64::from(beta[k])) as f32;
            }
        }
    }
    Ok(TensorData::F32(out))
}

#[cfg(test)]
mod tests {
    use crate::cpu::{TensorData, eval_node};
    use crate::graph::{Op, Shape};

    fn close(out: &TensorData, want: &[f32], tol: f32) {
        let got = out.as_f32().unwrap();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= tol, "got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn softmax_of_zero_and_ln2() {
        // exp(0) : exp(ln 2) = 1 : 2 -> [1/3, 2/3]; the second row is shifted by 100 (same result).
        let s = Shape::new([2, 2]);
        let x = TensorData::F32(vec![
            0.0,
            std::f32::consts::LN_2,
            100.0,
            100.0 + std::f32::consts::LN_2,
        ]);
        let out = eval_node(&Op::Softmax, &[(&s, &x)], &s).unwrap();
        close(&out, &[1. / 3., 2. / 3., 1. / 3., 2. / 3.], 1e-6);
    }

    #[test]
    fn layer_norm_of_one_two_three() {
        // mean 2, biased var 2/3: (x - 2) / sqrt(2/3) = [-1.2247449, 0, 1.2247449];
        // then gamma [1, 2, 3], beta [0, 1, -1].
        let (s, sd) = (Shape::new([1, 3]), Shape::new([3]));
        let x = TensorData::F32(vec![1., 2., 3.]);
        let g = TensorData::F32(vec![1., 2., 3.]);
        let b = TensorData::F32(vec![0., 1., -1.]);
        let out = eval_node(
            &Op::LayerNorm { eps: 0.0 },
            &[(&s, &x), (&sd, &g), (&sd, &b)],
            &s,
        )
        .unwrap();
        close(&out, &[-1.224_744_9, 1.0, 3.0 * 1.224_744_9 - 1.0], 1e-6);
        // eps enters under the root: var 2/3 + 1/3 = 1 -> plain centring.
        let ones = TensorData::F32(vec![1.; 3]);
        let zeros = TensorData::F32(vec![0.; 3]);
        let out = eval_node(
            &Op::LayerNorm { eps: 1.0 / 3.0 },
            &[(&s, &x), (&sd, &ones), (&sd, &zeros)],
            &s,
        )
        .unwrap();
        close(&out, &[-1., 0., 1.], 1e-6);
    }
}
