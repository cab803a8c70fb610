//! Backward rules of the elementwise ops: broadcasting `add`, `sub`, `mul` (each operand's
//! gradient summed down to its shape by `reduce_to`) and the unary ops (`relu`, `gelu` through
//! `unary_backward`; `scale` by scaling `dy`).

use super::{dims_of, sum_to};
use crate::graph::{BinaryOp, GraphBuilder, GraphError, Node, Op, TensorId, UnaryOp};

/// `add`, `sub`, `mul`, `relu`, `gelu` or `scale`.
pub(crate) fn backward(
    b: &mut GraphBuilder,
    node: &Node,
    dy: TensorId,
    wanted: &[bool],
) -> Result<Vec<Option<TensorId>>, GraphError> {
    let n = &node.name;
    match node.op {
        Op::Binary(op) => binary(b, node, op, dy, wanted),
        Op::Unary(UnaryOp::Scale(s)) => Ok(vec![Some(b.op(
            &format!("{n}.dx"),
            Op::Unary(UnaryOp::Scale(s)),
            &[dy],
        )?)]),
        Op::Unary(op) => {
            let x = node.inputs[0];
            Ok(vec![Some(b.op(
                &format!("{n}.dx"),
                Op::UnaryBackward(op),
                &[x, dy],
            )?)])
        }
        _ => Ok(vec![None; node.inputs.len()]),
    }
}

fn binary(
    b: &mut GraphBuilder,
    node: &Node,
    op: BinaryOp,
    dy: TensorId,
    wanted: &[bool],
) -> Result<Vec<Option<TensorId>>, GraphError> {
    let n = &node.name;
    let (x, y) = (node.inputs[0], node.inputs[1]);
    let mut out = vec![None, None];
    for (i, (me, other)) in [(x, y), (y, x)].into_iter().enumerate() {
        if !wanted[i] {
            continue;
        }
        let full = match (op, i) {
            (BinaryOp::Add, _) | (BinaryOp::Sub, 0) => dy,
            (BinaryOp::Sub, _) => {
                b.op(&format!("{n}.neg"), Op::Unary(UnaryOp::Scale(-1.0)), &[dy])?
            }
            (BinaryOp::Mul, _) => b.op(
                &format!("{n}.d{i}.mul"),
                Op::Binary(BinaryOp::Mul),
                &[dy, other],
            )?,
        };
        let dims = dims_of(b, me)?;
        out[i] = Some(sum_to(b, &format!("{n}.d{i}"), full, &dims)?);
    }
    Ok(out)
}
