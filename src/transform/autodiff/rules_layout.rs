//! Backward rules of the data-movement ops: `reshape` (reshape dy back), `permute` (the inverse
//! permutation), `concat` (one `slice` of dy per input) and `embedding` (`embedding_backward`,
//! a deterministic scatter-add into the table; the ids get no gradient).

use super::dims_of;
use crate::graph::{GraphBuilder, GraphError, Node, Op, TensorId};

/// `reshape`, `permute`, `concat` or `embedding`.
pub(crate) fn backward(
    b: &mut GraphBuilder,
    node: &Node,
    dy: TensorId,
    wanted: &[bool],
) -> Result<Vec<Option<TensorId>>, GraphError> {
    let n = &node.name;
    match &node.op {
        Op::Reshape { .. } => {
            let xd = dims_of(b, node.inputs[0])?;
            Ok(vec![Some(b.reshape(&format!("{n}.dx"), dy, &xd)?)])
        }
        Op::Permute { perm } => {
            let mut inverse = vec![0; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                inverse[p] = i;
            }
            Ok(vec![Some(b.permute(&format!("{n}.dx"), dy, &inverse)?)])
        }
        Op::Concat { axis } => concat(b, node, *axis, dy, wanted),
        Op::Embedding => {
            let (table, ids) = (node.inputs[0], node.inputs[1]);
            let vocab = dims_of(b, table)?[0];
            let op = Op::EmbeddingBackward { vocab };
            let dt = wanted[0]
                .then(|| b.op(&format!("{n}.dtable"), op, &[ids, dy]))
                .transpose()?;
            Ok(vec![dt, None])
        }
        _ => Ok(vec![None; node.inputs.len()]),
    }
}

fn concat(
    b: &mut GraphBuilder,
    node: &Node,
    axis: usize,
    dy: TensorId,
    wanted: &[bool],
) -> Result<Vec<Option<TensorId>>, GraphError> {
    let mut out = Vec::with_capacity(node.inputs.len());
    let mut start = 0;
    for (i, &x) in node.inputs.iter().enumerate() {
        let len = dims_of(b, x)?[axis];
        let op = Op::Slice { axis, start, len };
        out.push(
            wanted[i]
                .then(|| b.op(&format!("{}.d{i}", node.name), op, &[dy]))
                .transpose()?,
        );
        start += len;
    }
    Ok(out)
}
