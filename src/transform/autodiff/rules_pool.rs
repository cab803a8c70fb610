//! Backward rules of `maxpool2d` / `avgpool2d` ([`Op::Pool2dGrad`]; max reads the forward input
//! to find each window's first maximum), `global_avg_pool` ([`Op::GlobalAvgPoolGrad`]) and
//! `upsample2x` ([`Op::Upsample2xGrad`], which sums the up to 2 x 2 copies of each pixel).

use crate::graph::{GraphBuilder, GraphError, Node, Op, PoolKind, TensorId};

/// `maxpool2d`, `avgpool2d`, `global_avg_pool` or `upsample2x`: one input x.
pub(crate) fn backward(
    b: &mut GraphBuilder,
    node: &Node,
    dy: TensorId,
    wanted: &[bool],
) -> Result<Vec<Option<TensorId>>, GraphError> {
    if wanted.first() != Some(&true) {
        return Ok(vec![None; node.inputs.len()]);
    }
    let x = node.inputs[0];
    let xd = b.shape(x)?.dims().to_vec();
    let name = format!("{}.dx", node.name);
    let [h, w] = [xd[2], xd[3]];
    let dx = match node.op {
        Op::Pool2d(attrs) => {
            let op = Op::Pool2dGrad {
                attrs,
                input: [h, w],
            };
            match attrs.kind {
                PoolKind::Max => b.op(&name, op, &[dy, x])?,
                PoolKind::Avg => b.op(&name, op, &[dy])?,
            }
        }
        Op::GlobalAvgPool => b.op(&name, Op::GlobalAvgPoolGrad { size: [h, w] }, &[dy])?,
        Op::Upsample2x { .. } => b.op(&name, Op::Upsample2xGrad { input: [h, w] }, &[dy])?,
        _ => return Ok(vec![None; node.inputs.len()]),
    };
    Ok(vec![Some(dx)])
}

#[cfg(test)]
mod tests {
    use super::backward;
    use crate::graph::{GraphBuilder, Op, PoolAttrs, PoolKind};
    use crate::transform::autodiff::tests::gradcheck::{check_rule, distinct, f32_input};

    #[test]
    fn pooling_gradients_match_finite_differences() {
        for kind in [PoolKind::Max, PoolKind::Avg] {
            for (kernel, stride, padding) in [([3, 3], [2, 2], [1, 1]), ([2, 3], [1, 2], [0, 1])] {
                let attrs = PoolAttrs {
                    kind,
                    kernel,
                    stride,
                    padding,
                };
                let build = |b: &mut GraphBuilder| {
                    let x = f32_input(b, "x", &[2, 2, 7, 6], 1);
                    b.op("pool", Op::Pool2d(attrs), &[x])
                };
                // Distinct values 0.01 apart: no ties within the finite-difference step, so max
                // pooling is differentiable there.
                let x = [("x", distinct(2 * 2 * 7 * 6))];
                check_rule(
                    backward,
                    build,
                    &x,
                    &format!("{kind:?} pool {kernel:?} {stride:?}"),
                );
            }
        }
    }

    #[test]
    fn global_pool_and_upsample_gradients_match_finite_differences() {
        check_rule(
            backward,
            |b| {
                let x = f32_input(b, "x", &[2, 3, 5, 4], 1);
                b.op("gap", Op::GlobalAvgPool, &[x])
            },
            &[],
            "global_avg_pool",
        );
        for size in [[10, 8], [9, 7]] {
            check_rule(
                backward,
                |b| {
                    let x = f32_input(b, "x", &[2, 3, 5, 4], 1);
                    b.op("up", Op::Upsample2x { size }, &[x])
                },
                &[],
                &format!("upsample2x to {size:?}"),
            );
        }
    }
}
