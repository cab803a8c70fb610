//! Backward rule of `attention` (both kernels), flash-attention-2 style: an
//! [`Op::AttentionStats`] node recomputes each query row's log-sum-exp and
//! `delta = dy . o` from q, k and the forward output, then one [`Op::AttentionGrad`] node per
//! wanted input recomputes the probabilities from q, k and the log-sum-exp. The `[B, H, S, T]`
//! scores are never stored, whichever kernel ran the forward (the materialised forward keeps
//! its scores only in its own workspace), so the backward needs no workspace either.

use crate::graph::{AttentionGradOf, GraphBuilder, GraphError, Node, Op, TensorId};

/// `attention`: inputs q, k, v.
pub(crate) fn backward(
    b: &mut GraphBuilder,
    node: &Node,
    dy: TensorId,
    wanted: &[bool],
) -> Result<Vec<Option<TensorId>>, GraphError> {
    let Op::Attention { causal, scale, .. } = node.op else {
        return Ok(vec![None; node.inputs.len()]);
    };
    if !wanted.contains(&true) {
        return Ok(vec![None; node.inputs.len()]);
    }
    let n = &node.name;
    let [q, k, v] = node.inputs[..] else {
        return Err(GraphError::Invalid(format!(
            "attention node `{n}` has {} inputs, not 3",
            node.inputs.len()
        )));
    };
    let o = node.outputs[0];
    let stats = b.op(
        &format!("{n}.stats"),
        Op::AttentionStats { causal, scale },
        &[q, k, o, dy],
    )?;
    let parts = [
        (AttentionGradOf::Q, "dq"),
        (AttentionGradOf::K, "dk"),
        (AttentionGradOf::V, "dv"),
    ];
    let mut out = vec![None; 3];
    for (i, (wrt, label)) in parts.into_iter().enumerate() {
        if wanted.get(i) == Some(&true) {
            let op = Op::AttentionGrad { causal, scale, wrt };
            out[i] = Some(b.op(&format!("{n}.{label}"), op, &[q, k, v, dy, stats])?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::backward;
    use crate::graph::{AttentionKernel, GraphBuilder, Op};
    use crate::transform::autodiff::tests::gradcheck::{check_rule, f32_input};

    #[test]
    fn attention_gradients_match_finite_differences() {
        let cases = [
            (true, [5, 5, 3], AttentionKernel::Tiled),
            (false, [4, 6, 3], AttentionKernel::Tiled),
            (false, [5, 3, 2], AttentionKernel::Materialized),
            (true, [4, 4, 2], AttentionKernel::Materialized),
        ];
        for (causal, [s, t, d], kernel) in cases {
            let build = |b: &mut GraphBuilder| {
                let q = f32_input(b, "q", &[1, 2, s, d], 1);
                let k = f32_input(b, "k", &[1, 2, t, d], 2);
                let v = f32_input(b, "v", &[1, 2, t, d], 3);
                let op = Op::Attention {
                    causal,
                    scale: 0.7,
                    kernel,
                };
                b.op("attn", op, &[q, k, v])
            };
            check_rule(
                backward,
                build,
                &[],
                &format!("attention causal={causal} S={s} T={t}"),
            );
        }
    }
}
