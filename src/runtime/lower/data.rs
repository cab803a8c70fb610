//! Data-movement lowering on raw 32-bit words: reshape (free when the view sits at its source,
//! else a copy), permute, concat (one dispatch per input) and the embedding gather.

use super::Step;
use super::cx::{NodeCx, contiguous_strides};
use crate::runtime::RuntimeError;
use crate::runtime::shaders::{DataParams, Kernel};

/// Nothing when the view shares its source's bytes; a copy when the layout moved it.
pub(super) fn reshape(cx: &NodeCx<'_>) -> Result<Vec<Step>, RuntimeError> {
    let (x, out) = (cx.input(0)?, cx.output()?);
    if cx.lw.place.tensor(x) == cx.lw.place.tensor(out) {
        return Ok(Vec::new());
    }
    // A layout that moved a view: copy the bytes (correct, just not free).
    let total = cx.numel(out);
    let params = DataParams {
        total: cx.u32_of(total, "elements")?,
        ..DataParams::default()
    };
    let bindings = vec![cx.region(x)?, cx.region(out)?];
    Ok(vec![cx.step(
        Kernel::Copy,
        bindings,
        &params,
        cx.groups_1d(total)?,
    )])
}

/// Axis permutation: output axis i reads input axis perm[i].
pub(super) fn permute(cx: &NodeCx<'_>, perm: &[usize]) -> Result<Vec<Step>, RuntimeError> {
    let (x, out) = (cx.input(0)?, cx.output()?);
    let od = cx.dims(out);
    let in_strides = contiguous_strides(cx.dims(x));
    let strides = perm
        .iter()
        .map(|&p| in_strides.get(p).copied())
        .collect::<Option<Vec<u64>>>()
        .ok_or_else(|| cx.unsupported(format!("permutation {perm:?} names a missing axis")))?;
    let total = cx.numel(out);
    let dims: Vec<u64> = od.iter().map(|&d| d as u64).collect();
    let params = DataParams {
        total: cx.u32_of(total, "elements")?,
        rank: cx.u32_of(od.len() as u64, "rank")?,
        dims: cx.words8(&dims, "dimension")?,
        strides: cx.words8(&strides, "stride")?,
        ..DataParams::default()
    };
    let bindings = vec![cx.region(x)?, cx.region(out)?];
    Ok(vec![cx.step(
        Kernel::Permute,
        bindings,
        &params,
        cx.groups_1d(total)?,
    )])
}

/// Concatenation along `axis`: each non-empty input copied into its slice of every output row.
pub(super) fn concat(cx: &NodeCx<'_>, axis: usize) -> Result<Vec<Step>, RuntimeError> {
    let out = cx.output()?;
    let od = cx.dims(out);
    let product = |d: &[usize]| d.iter().map(|&d| d as u64).product::<u64>();
    let outer = product(od.get(..axis).unwrap_or(&[]));
    let inner_out = cx.u32_of(product(od.get(axis..).unwrap_or(&[])), "row length")?;
    let mut offset = 0u64;
    let mut steps = Vec::new();
    for i in 0..cx.input_count() {
        let x = cx.input(i)?;
        let inner_in = product(cx.dims(x).get(axis..).unwrap_or(&[]));
        let total = outer.saturating_mul(inner_in);
        if total > 0 {
            let params = DataParams {
                total: cx.u32_of(total, "elements")?,
                inner_in: cx.u32_of(inner_in, "input row length")?,
                inner_out,
                offset: cx.u32_of(offset, "slice offset")?,
                ..DataParams::default()
            };
            let bindings = vec![cx.region(x)?, cx.region(out)?];
            let groups = cx.groups_1d(total)?;
            steps.push(cx.step(Kernel::ConcatPiece, bindings, &params, groups));
        }
        offset += inner_in;
    }
    Ok(steps)
}

/// Rows of table [V, D] gathered by u32 ids (ids past V read zeros).
pub(super) fn embedding(cx: &NodeCx<'_>) -> Result<Vec<Step>, RuntimeError> {
    let (table, ids, out) = (cx.input(0)?, cx.input(1)?, cx.output()?);
    let total = cx.numel(out);
    let params = DataParams {
        total: cx.u32_of(total, "elements")?,
        dim: cx.u32_of(cx.dim(table, 1)?, "embedding width")?,
        vocab: cx.u32_of(cx.dim(table, 0)?, "vocabulary")?,
        ..DataParams::default()
    };
    let bindings = vec![cx.region(table)?, cx.region(ids)?, cx.region(out)?];
    Ok(vec![cx.step(
        Kernel::Embedding,
        bindings,
        &params,
        cx.groups_1d(total)?,
    )])
}
