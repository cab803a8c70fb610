//! Backward rules of `softmax` (`softmax_backward` on the output and dy) and `layernorm`
//! (`layernorm_backward` for dx; dgamma = sum over rows of dy * xhat, with xhat recomputed by a
//! layer norm with unit gamma and zero beta; dbeta = sum over rows of dy).

use super::{dims_of, sum_to};
use crate::graph::{BinaryOp, GraphBuilder, GraphError, Node, Op, TensorId};

/// `softmax` or `layernorm`.
pub(crate) fn backward(
    b: &mut GraphBuilder,
    node: &Node,
    dy: TensorId,
    wanted: &[bool],
) -> Result<Vec<Option<TensorId>>, GraphError> {
    let n = &node.name;
    match node.op {
        Op::Softmax => {
            let y = node.outputs[0];
            Ok(vec![Some(b.op(
                &format!("{n}.dx"),
                Op::SoftmaxBackward,
                &[y, dy],
            )?)])
        }
        Op::LayerNorm { eps } => layer_norm(b, node, eps, dy, wanted),
        _ => Ok(vec![None; node.inputs.len()]),
    }
}

fn layer_norm(
    b: &mut GraphBuilder,
    node: &Node,
    eps: f32,
    dy: TensorId,
    wanted: &[bool],
) -> Result<Vec<Option<TensorId>>, GraphError> {
    let n = &node.name;
    let (x, gamma) = (node.inputs[0], node.inputs[1]);
    let gd = dims_of(b, gamma)?;
    let mut out = vec![None, None, None];
    if wanted[0] {
        let op = Op::LayerNormBackward { eps };
        out[0] = Some(b.op(&format!("{n}.dx"), op, &[x, gamma, dy])?);
    }
    if wanted[1] {
        let ones = b.constant(&format!("{n}.unit_gamma"), &gd, 1.0);
        let zeros = b.constant(&format!("{n}.zero_beta"), &gd, 0.0);
        let xhat = b.op(
            &format!("{n}.xhat"),
            Op::LayerNorm { eps },
            &[x, ones, zeros],
        )?;
        let prod = b.op(
            &format!("{n}.dy_xhat"),
            Op::Binary(BinaryOp::Mul),
            &[dy, xhat],
        )?;
        out[1] = Some(sum_to(b, &format!("{n}.dgamma"), prod, &gd)?);
    }
    if wanted[2] {
        out[2] = Some(sum_to(b, &format!("{n}.dbeta"), dy, &gd)?);
    }
    Ok(out)
}
