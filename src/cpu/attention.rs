//! Materialised scaled dot-product attention: `softmax(scale * q k^T [+ causal mask]) v` per
//! batch and head. `q [B, H, S, D]`, `k`, `v [B, H, T, D]`; with `causal`, query `i` sees keys
//! `j <= i` only. A query with no keys (T = 0) yields zeros.

use super::norm::softmax_row;
use super::{CpuError, Ctx, TensorData};
use crate::graph::Shape;

/// Attention over every (batch, head) pair.
pub(crate) fn attention(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
    causal: bool,
    scale: f32,
) -> Result<TensorData, CpuError> {
    let (q, k, v) = (
        cx.f32_in(inputs, 0)?,
        cx.f32_in(inputs, 1)?,
        cx.f32_in(inputs, 2)?,
    );
    let (qd, kd) = (cx.dims(inputs, 0)?, cx.dims(inputs, 1)?);
    let (bh, s, d, t) = (qd[0] * qd[1], qd[2], qd[3], kd[2]);
    let mut out = cx.zeros(bh * s * d)?;
    let mut scores = cx.zeros(t)?;
    let mut probs = cx.zeros(t)?;
    for h in 0..bh {
        let (qh, kh, vh) = (&q[h * s * d..], &k[h * t * d..], &v[h * t * d..]);
        for i in 0..s {
            let visible = if causal { (i + 1).min(t) } else { t };
            if visible == 0 {
                continue;
            }
            for (j, sc) in scores[..visible].iter_mut().enumerate() {
                let dot: f64 = (0..d)
                    .map(|c| f64::from(qh[i * d + c]) * f64::from(kh[j * d + c]))
                    .sum();
                *sc = (dot * f64::from(scale)) as f32;
            }
            softmax_row(&scores[..visible], &mut probs[..visible]);
            let row = &mut out[(h * s + i) * d..(h * s + i + 1) * d];
            for (c, o) in row.iter_mut().enumerate() {
                let acc: f64 = (0..visible)
                    .map(|j| f64::from(probs[j]) * f64::from(vh[j * d + c]))
                    .sum();
                *o = acc as f32;
            }
        }
    }
    Ok(TensorData::F32(out))
}

#[cfg(test)]
mod tests {
    use crate::cpu::{TensorData, eval_node};
    use crate::graph::{Op, Shape};

    /// One batch, one head; `(s, t, d)` are the query count, key count and head size.
    fn run(
        causal: bool,
        scale: f32,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        (s, t, d): (usize, usize, usize),
    ) -> Vec<f32> {
        let (sq, sk) = (Shape::new([1, 1, s, d]), Shape::new([1, 1, t, d]));
        let (q, k, v) = (
            TensorData::F32(q.to_vec()),
            TensorData::F32(k.to_vec()),
            TensorData::F32(v.to_vec()),
        );
        let out = eval_node(
            &Op::Attention {
                causal,
                scale,
                kernel: Default::default(),
            },
            &[(&sq, &q), (&sk, &k), (&sk, &v)],
            &sq,
        )
        .unwrap();
        out.as_f32().unwrap().to_vec()
    }

    #[test]
    fn causal_first_query_sees_only_the_first_key() {
        // Row 0 must equal v row 0 whatever q and k are; row 1 with equal scores averages v rows 0, 1.
        let q = [3., -1., 0., 0.];
        let k = [0.5, 2., 7., -4.];
        let v = [1., 2., 10., 20.];
        let out = run(true, 1.0, &q, &k, &v, (2, 2, 2));
        assert_eq!(&out[..2], &[1., 2.]);
        // q row 1 is zero -> equal scores -> mean of v rows 0 and 1.
        assert!(
            (out[2] - 5.5).abs() < 1e-6 && (out[3] - 11.).abs() < 1e-6,
            "{out:?}"
        );
    }

    #[test]
    fn non_causal_scores_follow_scale() {
        // One query [1], keys [0] and [ln 2] with scale 1 -> weights 1/3, 2/3 -> 1/3*3 + 2/3*6 = 5.
        let out = run(
            false,
            1.0,
            &[1.],
            &[0., std::f32::consts::LN_2],
            &[3., 6.],
            (1, 2, 1),
        );
        assert!((out[0] - 5.0).abs() < 1e-6, "{out:?}");
        // Scale 0 -> uniform weights -> mean 4.5.
        let out = run(
            false,
            0.0,
            &[1.],
            &[0., std::f32::consts::LN_2],
            &[3., 6.],
            (1, 2, 1),
        );
        assert!((out[0] - 4.5).abs() < 1e-6, "{out:?}");
    }

    #[test]
    fn causal_differs_from_non_causal() {
        let q = [0., 0.];
        let k = [0., 0.];
        let v = [1., 3.];
        assert_eq!(run(true, 1.0, &q, &k, &v, (2, 2, 1)), vec![1., 2.]);
        assert_eq!(run(false, 1.0, &q, &k, &v, (2, 2, 1)), vec![2., 2.]);
    }
}
