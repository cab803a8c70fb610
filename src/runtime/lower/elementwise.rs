//! Elementwise lowering: broadcasting binary ops and unary ops, each with an in-place variant
//! when the output shares input 0's location.

use super::Step;
use super::cx::{NodeCx, contiguous_strides};
use crate::graph::{BinaryOp, UnaryOp};
use crate::runtime::RuntimeError;
use crate::runtime::shaders::{self, ElementwiseParams, Kernel};

/// Strides of `dims` broadcast (right-aligned) to the axes of `out`: 0 on size-1 axes.
pub(super) fn broadcast_strides(dims: &[usize], out: &[usize]) -> Vec<u64> {
    let own = contiguous_strides(dims);
    let lead = out.len().saturating_sub(dims.len());
    (0..out.len())
        .map(|k| {
            if k < lead || dims[k - lead] == 1 && out[k] != 1 {
                0
            } else {
                own[k - lead]
            }
        })
        .collect()
}

/// a (op) b with numpy broadcasting.
pub(super) fn binary(cx: &NodeCx<'_>, op: BinaryOp) -> Result<Vec<Step>, RuntimeError> {
    let (a, b, out) = (cx.input(0)?, cx.input(1)?, cx.output()?);
    let od = cx.dims(out);
    let total = cx.numel(out);
    let dims: Vec<u64> = od.iter().map(|&d| d as u64).collect();
    let params = ElementwiseParams {
        total: cx.u32_of(total, "elements")?,
        op: match op {
            BinaryOp::Add => shaders::BINARY_ADD,
            BinaryOp::Sub => shaders::BINARY_SUB,
            BinaryOp::Mul => shaders::BINARY_MUL,
        },
        rank: cx.u32_of(od.len() as u64, "rank")?,
        scale: 0.0,
        dims: cx.words8(&dims, "dimension")?,
        a_strides: cx.words8(&broadcast_strides(cx.dims(a), od), "stride")?,
        b_strides: cx.words8(&broadcast_strides(cx.dims(b), od), "stride")?,
    };
    let groups = cx.groups_1d(total)?;
    if cx.in_place() {
        if cx.dims(a) != od {
            return Err(RuntimeError::LayoutMismatch(format!(
                "node {} runs in place but its output shape differs from input 0's",
                cx.name()
            )));
        }
        let bindings = vec![cx.region(a)?, cx.region(b)?];
        return Ok(vec![cx.step(
            Kernel::BinaryInPlace,
            bindings,
            &params,
            groups,
        )]);
    }
    let bindings = vec![cx.region(a)?, cx.region(b)?, cx.region(out)?];
    Ok(vec![cx.step(Kernel::Binary, bindings, &params, groups)])
}

/// relu, gelu or scale.
pub(super) fn unary(cx: &NodeCx<'_>, op: UnaryOp) -> Result<Vec<Step>, RuntimeError> {
    let (x, out) = (cx.input(0)?, cx.output()?);
    let total = cx.numel(out);
    let (code, scale) = match op {
        UnaryOp::Relu => (shaders::UNARY_RELU, 1.0f32),
        UnaryOp::Gelu => (shaders::UNARY_GELU, 1.0),
        UnaryOp::Scale(s) => (shaders::UNARY_SCALE, s),
    };
    let params = ElementwiseParams {
        total: cx.u32_of(total, "elements")?,
        op: code,
        scale,
        ..ElementwiseParams::default()
    };
    let groups = cx.groups_1d(total)?;
    if cx.in_place() {
        let bindings = vec![cx.region(x)?];
        return Ok(vec![cx.step(
            Kernel::UnaryInPlace,
            bindings,
            &params,
            groups,
        )]);
    }
    let bindings = vec![cx.region(x)?, cx.region(out)?];
    Ok(vec![cx.step(Kernel::Unary, bindings, &params, groups)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_strides_zero_on_size_one_axes() {
        // [5,1,7] + [3,1] -> [5,3,7]
        let out = [5, 3, 7];
        assert_eq!(broadcast_strides(&[5, 1, 7], &out), vec![7, 0, 1]);
        assert_eq!(broadcast_strides(&[3, 1], &out), vec![0, 1, 0]);
    }
}
