//! The attention backward: row statistics (log-sum-exp of the scaled, masked scores and
//! `delta = dy . o` per query row) and the gradients of q, k and v with the probabilities
//! recomputed from q, k and the stored log-sum-exp, as the GPU kernels do. f64 accumulation.
//!
//! With `p_ij = exp(scale q_i.k_j - lse_i)` over the visible keys and
//! `ds_ij = p_ij (dy_i.v_j - delta_i)`: `dq_i = scale sum_j ds_ij k_j`,
//! `dk_j = scale sum_i ds_ij q_i`, `dv_j = sum_i p_ij dy_i`.

use super::conv_grad::narrow;
use super::{CpuError, Ctx, TensorData};
use crate::graph::{AttentionGradOf, Shape};

/// Dot product of two rows in f64.
fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum()
}

/// `(B * H, S, T, D)` from q and k.
fn sizes(cx: &Ctx<'_>, inputs: &[(&Shape, &TensorData)]) -> Result<[usize; 4], CpuError> {
    let (qd, kd) = (cx.dims(inputs, 0)?, cx.dims(inputs, 1)?);
    Ok([qd[0] * qd[1], qd[2], kd[2], qd[3]])
}

/// Keys visible to query `i`.
fn visible(causal: bool, i: usize, t: usize) -> usize {
    if causal { (i + 1).min(t) } else { t }
}

/// Inputs q, k, o, dy -> `[B, H, S, 2]` of (lse, delta) per query row (lse 0 with no keys).
pub(crate) fn stats(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
    causal: bool,
    scale: f32,
) -> Result<TensorData, CpuError> {
    let (q, k) = (cx.f32_in(inputs, 0)?, cx.f32_in(inputs, 1)?);
    let (o, dy) = (cx.f32_in(inputs, 2)?, cx.f32_in(inputs, 3)?);
    let [bh, s, t, d] = sizes(cx, inputs)?;
    let mut out = cx.zeros(bh * s * 2)?;
    for h in 0..bh {
        for i in 0..s {
            let row = (h * s + i) * d..(h * s + i + 1) * d;
            let scores: Vec<f64> = (0..visible(causal, i, t))
                .map(|j| f64::from(scale) * dot(&q[row.clone()], &k[(h * t + j) * d..][..d]))
                .collect();
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = if scores.is_empty() {
                0.0
            } else {
                max + scores.iter().map(|s| (s - max).exp()).sum::<f64>().ln()
            };
            out[(h * s + i) * 2] = lse as f32;
            out[(h * s + i) * 2 + 1] = dot(&dy[row.clone()], &o[row]) as f32;
        }
    }
    Ok(TensorData::F32(out))
}

/// Inputs q, k, v, dy, stats -> d q, d k or d v.
pub(crate) fn grad(
    cx: &Ctx<'_>,
    inputs: &[(&Shape, &TensorData)],
    causal: bool,
    scale: f32,
    wrt: AttentionGradOf,
) -> Result<TensorData, CpuError> {
    let (q, k, v) = (
        cx.f32_in(inputs, 0)?,
        cx.f32_in(inputs, 1)?,
        cx.f32_in(inputs, 2)?,
    );
    let (dy, st) = (cx.f32_in(inputs, 3)?, cx.f32_in(inputs, 4)?);
    let [bh, s, t, d] = sizes(cx, inputs)?;
    let rows = if wrt == AttentionGradOf::Q { s } else { t };
    let mut acc = cx.zeros_f64(bh * rows * d)?;
    let sc = f64::from(scale);
    for h in 0..bh {
        for i in 0..s {
            let qi = &q[(h * s + i) * d..][..d];
            let dyi = &dy[(h * s + i) * d..][..d];
            let (lse, delta) = (
                f64::from(st[(h * s + i) * 2]),
                f64::from(st[(h * s + i) * 2 + 1]),
            );
            for j in 0..visible(causal, i, t) {
                let (kj, vj) = (&k[(h * t + j) * d..][..d], &v[(h * t + j) * d..][..d]);
                let p = (sc * dot(qi, kj) - lse).exp();
                let ds = p * (dot(dyi, vj) - delta);
                let (dst, coef, src) = match wrt {
                    AttentionGradOf::Q => ((h * s + i) * d, sc * ds, kj),
                    AttentionGradOf::K => ((h * t + j) * d, sc * ds, qi),
                    AttentionGradOf::V => ((h * t + j) * d, p, dyi),
                };
                for (a, &x) in acc[dst..dst + d].iter_mut().zip(src) {
                    *a += coef * f64::from(x);
                }
            }
        }
    }
    Ok(narrow(acc))
}
