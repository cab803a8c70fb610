//! Elementwise lowering: broadcasting binary ops and unary ops, each with an in-place variant
//! when the output shares input 0's location. An output larger than one storage binding runs
//! as one dispatch per chunk of elements: operands of the output's size are bound chunk by
//! chunk, broadcast operands whole, with chunk starts at multiples of their period (the
//! product of the output axes after their leading broadcast axes) so the kernel's indexing
//! from the chunk's first element stays right.
//!
//! Where the lowerer allows vec4 kernels ([`Lowerer::vec4`](super::Lowerer)), each dispatch
//! whose bindings are 16-byte aligned and at least 16 bytes long runs the `*4` entry point (four
//! elements per invocation, a scalar tail) when every operand is readable by quads: the
//! output's own elements (`VEC_FULL`), or, with the output's last axis a multiple of 4, a row
//! broadcast along the other axes (`VEC_ROW`) or a value constant along the last axis
//! (`VEC_SPLAT`). Anything else runs the one-element-per-invocation kernel.

use super::chunk::{blocks, lcm};
use super::cx::{NodeCx, contiguous_strides};
use super::{Region, Step};
use crate::graph::{BinaryOp, TensorId, UnaryOp};
use crate::runtime::RuntimeError;
use crate::runtime::shaders::{self, ElementwiseParams, Kernel, VEC_FULL, VEC_ROW, VEC_SPLAT};

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
    let mut params = ElementwiseParams {
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
        ..ElementwiseParams::default()
    };
    let a_mode = vec_mode(cx.numel(a), total, &params.a_strides, od);
    let b_mode = vec_mode(cx.numel(b), total, &params.b_strides, od);
    params.a_mode = a_mode.unwrap_or(VEC_FULL);
    params.b_mode = b_mode.unwrap_or(VEC_FULL);
    let quads = a_mode.is_some() && b_mode.is_some();
    let (kernels, bindings) = if cx.in_place() {
        if cx.dims(a) != od {
            return Err(RuntimeError::LayoutMismatch(format!(
                "node {} runs in place but its output shape differs from input 0's",
                cx.name()
            )));
        }
        let kernels = (Kernel::BinaryInPlace, Kernel::Binary4InPlace);
        (kernels, vec![cx.region(a)?, cx.region(b)?])
    } else {
        let regions = vec![cx.region(a)?, cx.region(b)?, cx.region(out)?];
        ((Kernel::Binary, Kernel::Binary4), regions)
    };
    // Operands of the output's size are bound chunk by chunk, broadcast ones whole; chunk
    // starts must be multiples of each broadcast operand's period.
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
    let chunks: Vec<(u64, u64)> = if cx.all_fit(&bindings) {
        vec![(0, total)]
    } else {
        chunk_elements(cx, out, unit)?.collect()
    };
    let mut steps = Vec::new();
    for (e0, e1) in chunks {
        let part = slice(cx, &bindings, &sliced, e0, e1);
        let params = ElementwiseParams {
            total: cx.u32_of(e1 - e0, "elements")?,
            ..params
        };
        steps.extend(dispatch(cx, kernels, (part, &sliced), &params, quads)?);
    }
    Ok(steps)
}

/// Elements `[e0, e1)` of the `sliced` bindings (elements of the node's size from each one's start); the
/// others whole.
fn slice(cx: &NodeCx<'_>, bindings: &[Region], sliced: &[bool], e0: u64, e1: u64) -> Vec<Region> {
    (bindings.iter().zip(sliced))
        .map(|(&r, &s)| {
            if s {
                cx.sub_aligned(r, e0 * cx.esize(), e1 * cx.esize())
            } else {
                r
            }
        })
        .collect()
}

/// How the vec4 kernels read an operand of `numel` elements broadcast with `strides` to the
/// `total` elements of output dims `od`, or `None` when quads of the output do not map to one
/// vec4 of it: the output's own elements (`VEC_FULL`), or, with a last axis that is a multiple
/// of 4, a row along it (`VEC_ROW`) or one value for the quad (`VEC_SPLAT`, which reads the
/// value out of a vec4, so the operand must be a whole number of vec4s).
fn vec_mode(numel: u64, total: u64, strides: &[u32], od: &[usize]) -> Option<u32> {
    if numel == total {
        return Some(VEC_FULL);
    }
    let last = od.len().checked_sub(1)?;
    if !od[last].is_multiple_of(4) {
        return None;
    }
    if strides.get(last) != Some(&0) {
        return Some(VEC_ROW);
    }
    numel.is_multiple_of(4).then_some(VEC_SPLAT)
}

/// The dispatches of `params.total` elements over `bindings` (the `sliced` ones hold exactly
/// those elements): the vec4 kernel `kernels.1` when the operands allow it (`quads`), the
/// lowerer does, and every binding is 16-byte aligned and at least 16 bytes long (a vec4 view
/// of a shorter binding fails wgpu's binding-size check), else the scalar kernel `kernels.0`.
/// A count that is not a multiple of 4 (only possible with every operand sliced) runs its
/// aligned head with the vec4 kernel and the rest with the scalar one.
fn dispatch(
    cx: &NodeCx<'_>,
    (scalar, quad): (Kernel, Kernel),
    (bindings, sliced): (Vec<Region>, &[bool]),
    params: &ElementwiseParams,
    quads: bool,
) -> Result<Vec<Step>, RuntimeError> {
    let total = u64::from(params.total);
    let unit = cx.align() / cx.esize();
    let fits = |r: &Region| r.size >= 16 && r.offset.is_multiple_of(16);
    let usable =
        quads && cx.lw.vec4 && cx.is_f32() && unit.is_multiple_of(4) && bindings.iter().all(fits);
    if !usable {
        return Ok(vec![cx.step(
            scalar,
            bindings,
            params,
            cx.groups_1d(total)?,
        )]);
    }
    if total.is_multiple_of(4) {
        let groups = cx.groups_1d(total / 4)?;
        return Ok(vec![cx.step(quad, bindings, params, groups)]);
    }
    let head = total / unit * unit;
    if head == 0 || !sliced.iter().all(|&s| s) {
        return Ok(vec![cx.step(
            scalar,
            bindings,
            params,
            cx.groups_1d(total)?,
        )]);
    }
    let mut steps = Vec::new();
    for ((e0, e1), kernel) in [((0, head), quad), ((head, total), scalar)] {
        let part = slice(cx, &bindings, sliced, e0, e1);
        let params = ElementwiseParams {
            total: cx.u32_of(e1 - e0, "elements")?,
            ..*params
        };
        let threads = if kernel == quad {
            (e1 - e0) / 4
        } else {
            e1 - e0
        };
        steps.push(cx.step(kernel, part, &params, cx.groups_1d(threads)?));
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
    let (kernels, bindings) = if cx.in_place() {
        let kernels = (Kernel::UnaryInPlace, Kernel::Unary4InPlace);
        (kernels, vec![cx.region(x)?])
    } else {
        let kernels = (Kernel::Unary, Kernel::Unary4);
        (kernels, vec![cx.region(x)?, cx.region(out)?])
    };
    let sliced = vec![true; bindings.len()];
    let chunks: Vec<(u64, u64)> = if cx.all_fit(&bindings) {
        vec![(0, total)]
    } else {
        chunk_elements(cx, out, cx.align() / cx.esize())?.collect()
    };
    let mut steps = Vec::new();
    for (e0, e1) in chunks {
        let part = slice(cx, &bindings, &sliced, e0, e1);
        let params = ElementwiseParams {
            total: cx.u32_of(e1 - e0, "elements")?,
            ..params
        };
        steps.extend(dispatch(cx, kernels, (part, &sliced), &params, true)?);
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

    #[test]
    fn vec_modes_follow_the_last_axis() {
        let od = [5, 4, 8];
        let mode = |dims: &[usize]| {
            let strides: Vec<u32> = (broadcast_strides(dims, &od).iter())
                .map(|&s| s as u32)
                .collect();
            vec_mode(dims.iter().product::<usize>() as u64, 160, &strides, &od)
        };
        assert_eq!(mode(&[5, 4, 8]), Some(VEC_FULL));
        assert_eq!(mode(&[4, 8]), Some(VEC_ROW));
        assert_eq!(mode(&[5, 1, 8]), Some(VEC_ROW));
        assert_eq!(mode(&[5, 4, 1]), Some(VEC_SPLAT));
        assert_eq!(mode(&[4, 1]), Some(VEC_SPLAT));
        // One value splatted is read out of a vec4: not from an operand of 1 or 5 elements.
        assert_eq!(mode(&[1]), None);
        assert_eq!(mode(&[5, 1, 1]), None);
        // A last axis that is not a multiple of 4: only full operands read by quads.
        let od = [4, 6];
        assert_eq!(vec_mode(24, 24, &[6, 1], &od), Some(VEC_FULL));
        assert_eq!(vec_mode(6, 24, &[0, 1], &od), None);
        assert_eq!(vec_mode(4, 24, &[1, 0], &od), None);
    }
}
