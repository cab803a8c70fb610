//! Elementwise lowering: broadcasting binary ops and unary ops, each with an in-place variant
//! when the output shares input 0's location. An output larger than one storage binding runs
//! as one dispatch per chunk of elements: operands of the output's size are bound chunk by
//! chunk, broadcast operands whole, with chunk starts at multiples of their period (the
//! product of the output axes after their leading broadcast axes) so the kernel's indexing
//! from the chunk's first element stays right.

use super::chunk::{blocks, lcm};
use super::cx::{NodeCx, contiguous_strides};
use super::{Region, Step};
use crate::graph::{BinaryOp, TensorId, UnaryOp};
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
    let (kernel, bindings) = if cx.in_place() {
        if cx.dims(a) != od {
            return Err(RuntimeError::LayoutMismatch(format!(
                "node {} runs in place but its output shape differs from input 0's",
                cx.name()
            )));
        }
        (Kernel::BinaryInPlace, vec![cx.region(a)?, cx.region(b)?])
    } else {
        let regions = vec![cx.region(a)?, cx.region(b)?, cx.region(out)?];
        (Kernel::Binary, regions)
    };
    if cx.all_fit(&bindings) {
        return Ok(vec![cx.step(kernel, bindings, &params, groups)]);
    }
    // Chunk starts must be multiples of each broadcast operand's period.
    let mut unit = cx.align() / cx.esize();
    let mut sliced = vec![true; bindings.len()];
    for (i, (t, strides)) in [(a, &params.a_strides), (b, &params.b_strides)]
        .into_iter()
        .enumerate()
    {
        if cx.numel(t) != total {
            let lead = strides
                .iter()
                .take_while(|&&s| s == 0)
                .count()
                .min(od.len());
            unit = lcm(unit, od[lead..].iter().map(|&d| d as u64).product());
            sliced[i] = false;
        }
    }
    let chunks = chunk_elements(cx, out, unit)?;
    let mut steps = Vec::new();
    for (e0, e1) in chunks {
        let part: Vec<Region> = (bindings.iter().zip(&sliced))
            .map(|(&r, &s)| {
                if s {
                    cx.sub_aligned(r, e0 * cx.esize(), e1 * cx.esize())
                } else {
                    r
                }
            })
            .collect();
        let params = ElementwiseParams {
            total: cx.u32_of(e1 - e0, "elements")?,
            ..params
        };
        steps.push(cx.step(kernel, part, &params, cx.groups_1d(e1 - e0)?));
    }
    Ok(steps)
}

/// `[start, end)` chunks of `out`'s elements, each starting at a multiple of `unit` elements
/// (a multiple of the offset alignment) and as long as one binding allows.
fn chunk_elements(
    cx: &NodeCx<'_>,
    out: TensorId,
    unit: u64,
) -> Result<impl Iterator<Item = (u64, u64)>, RuntimeError> {
    let units = cx.chunk_rows(out, unit.saturating_mul(cx.esize()), 1, 0)?;
    Ok(blocks(cx.numel(out), units * unit))
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
    let (kernel, bindings) = if cx.in_place() {
        (Kernel::UnaryInPlace, vec![cx.region(x)?])
    } else {
        (Kernel::Unary, vec![cx.region(x)?, cx.region(out)?])
    };
    if cx.all_fit(&bindings) {
        return Ok(vec![cx.step(kernel, bindings, &params, groups)]);
    }
    let mut steps = Vec::new();
    for (e0, e1) in chunk_elements(cx, out, cx.align() / cx.esize())? {
        let part = bindings
            .iter()
            .map(|&r| cx.sub_aligned(r, e0 * cx.esize(), e1 * cx.esize()))
            .collect();
        let params = ElementwiseParams {
            total: cx.u32_of(e1 - e0, "elements")?,
            ..params
        };
        steps.push(cx.step(kernel, part, &params, cx.groups_1d(e1 - e0)?));
    }
    Ok(steps)
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
