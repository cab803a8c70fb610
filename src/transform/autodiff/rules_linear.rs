//! Backward rules of `matmul` and `linear`, all through the GEMM with transposes (no new
//! kernel): for `C = op(a) op(b)`, `dA = dC op(b)^T` and `dB = op(a)^T dC`, transposed back
//! when an operand is stored transposed; a shared 2-D `b` gets the batch folded into the rows
//! (or, with a transposed batched `a`, per-batch products summed by `reduce_to`).

use super::{dims_of, sum_to};
use crate::graph::{GraphBuilder, GraphError, Node, Op, TensorId};

/// `matmul` or `linear`.
pub(crate) fn backward(
    b: &mut GraphBuilder,
    node: &Node,
    dy: TensorId,
    wanted: &[bool],
) -> Result<Vec<Option<TensorId>>, GraphError> {
    match node.op {
        Op::MatMul { trans_a, trans_b } => matmul(b, node, dy, wanted, trans_a, trans_b),
        _ => linear(b, node, dy, wanted),
    }
}

/// Swaps the last two axes of `t`.
fn transpose(b: &mut GraphBuilder, name: &str, t: TensorId) -> Result<TensorId, GraphError> {
    let rank = b.shape(t)?.rank();
    let mut perm: Vec<usize> = (0..rank).collect();
    perm.swap(rank - 2, rank - 1);
    b.permute(name, t, &perm)
}

fn matmul(
    b: &mut GraphBuilder,
    node: &Node,
    dy: TensorId,
    wanted: &[bool],
    ta: bool,
    tb: bool,
) -> Result<Vec<Option<TensorId>>, GraphError> {
    let (a, w) = (node.inputs[0], node.inputs[1]);
    let n = &node.name;
    let mut out = vec![None, None];
    if wanted[0] {
        // dA = dY op(b)^T, [.., M, K]; a stored as [.., K, M] wants its transpose.
        let da = b.matmul(&format!("{n}.da"), dy, w, false, !tb)?;
        out[0] = Some(if ta {
            transpose(b, &format!("{n}.da.t"), da)?
        } else {
            da
        });
    }
    if wanted[1] {
        out[1] = Some(matmul_db(b, node, dy, a, w, ta, tb)?);
    }
    Ok(out)
}

/// `d b` of a matmul.
fn matmul_db(
    b: &mut GraphBuilder,
    node: &Node,
    dy: TensorId,
    a: TensorId,
    w: TensorId,
    ta: bool,
    tb: bool,
) -> Result<TensorId, GraphError> {
    let n = &node.name;
    let (ad, wd, yd) = (dims_of(b, a)?, dims_of(b, w)?, dims_of(b, dy)?);
    let shared = wd.len() == 2 && ad.len() > 2;
    if shared && !ta {
        // Fold the batch into the rows: a [R, K], dy [R, N].
        let k = ad[ad.len() - 1];
        let nn = yd[yd.len() - 1];
        let rows = ad.iter().product::<usize>() / k.max(1);
        let a2 = b.reshape(&format!("{n}.a2"), a, &[rows, k])?;
        let y2 = b.reshape(&format!("{n}.dy2"), dy, &[rows, nn])?;
        return if tb {
            b.matmul(&format!("{n}.db"), y2, a2, true, false)
        } else {
            b.matmul(&format!("{n}.db"), a2, y2, true, false)
        };
    }
    // dB = op(a)^T dY [.., K, N]; b stored as [.., N, K] wants dY^T op(a).
    let db = if tb {
        b.matmul(&format!("{n}.db"), dy, a, true, ta)?
    } else {
        b.matmul(&format!("{n}.db"), a, dy, !ta, false)?
    };
    if shared {
        return sum_to(b, &format!("{n}.db.sum"), db, &wd);
    }
    Ok(db)
}

/// `x [.., K] @ w [K, N] + bias`: rows folded into `[R, K]` and `[R, N]`.
fn linear(
    b: &mut GraphBuilder,
    node: &Node,
    dy: TensorId,
    wanted: &[bool],
) -> Result<Vec<Option<TensorId>>, GraphError> {
    let (x, w) = (node.inputs[0], node.inputs[1]);
    let n = &node.name;
    let (xd, wd) = (dims_of(b, x)?, dims_of(b, w)?);
    let (k, nn) = (wd[0], wd[1]);
    let rows = xd.iter().product::<usize>() / k.max(1);
    let x2 = b.reshape(&format!("{n}.x2"), x, &[rows, k])?;
    let y2 = b.reshape(&format!("{n}.dy2"), dy, &[rows, nn])?;
    let mut out = vec![None; node.inputs.len()];
    if wanted[0] {
        let dx = b.matmul(&format!("{n}.dx2"), y2, w, false, true)?;
        out[0] = Some(b.reshape(&format!("{n}.dx"), dx, &xd)?);
    }
    if wanted[1] {
        out[1] = Some(b.matmul(&format!("{n}.dw"), x2, y2, true, false)?);
    }
    if wanted.get(2) == Some(&true) {
        out[2] = Some(sum_to(b, &format!("{n}.db"), y2, &[nn])?);
    }
    Ok(out)
}
