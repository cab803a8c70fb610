//! Backward rules of the losses: softmax cross-entropy and mean squared error give the gradient
//! of their first input (logits, prediction) scaled by `dloss`; labels and targets get none.

use crate::graph::{GraphBuilder, GraphError, Node, Op, TensorId};

/// `softmax_cross_entropy` or `mse_loss`.
pub(crate) fn backward(
    b: &mut GraphBuilder,
    node: &Node,
    dy: TensorId,
    wanted: &[bool],
) -> Result<Vec<Option<TensorId>>, GraphError> {
    let (x, target) = (node.inputs[0], node.inputs[1]);
    let op = match node.op {
        Op::SoftmaxCrossEntropy => Op::SoftmaxCrossEntropyBackward,
        _ => Op::MseLossBackward,
    };
    let dx = wanted[0]
        .then(|| b.op(&format!("{}.dx", node.name), op, &[x, target, dy]))
        .transpose()?;
    Ok(vec![dx, None])
}
