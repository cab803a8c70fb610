//! Data-movement lowering on raw elements (32-bit words, or f16 halves for f16 nodes): reshape (free when the view sits at its source,
//! else a copy), permute, concat (one dispatch per input) and the embedding gather (over
//! chunks of the table, and of the tokens, when either exceeds one storage binding).

use super::Step;
use super::chunk::blocks;
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

/// Axis permutation: output axis i reads input axis `perm[i]`.
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

/// Rows of table [V, D] gathered by u32 ids (ids past V read zeros). A table larger than one
/// binding is bound in blocks of rows, one dispatch each writing the tokens whose id falls in
/// its block (the block at row 0 also writes the zeros); too many tokens, in blocks of tokens.
pub(super) fn embedding(cx: &NodeCx<'_>) -> Result<Vec<Step>, RuntimeError> {
    let (table, ids, out) = (cx.input(0)?, cx.input(1)?, cx.output()?);
    let (vocab, dim) = (cx.dim(table, 0)?, cx.dim(table, 1)?);
    let tokens = cx.numel(ids);
    let params = DataParams {
        dim: cx.u32_of(dim, "embedding width")?,
        vocab: cx.u32_of(vocab, "vocabulary")?,
        ..DataParams::default()
    };
    let (rt, ri, ro) = (cx.region(table)?, cx.region(ids)?, cx.region(out)?);
    let row_bytes = dim * cx.esize();
    let table_block = if cx.all_fit(&[rt]) {
        vocab
    } else {
        cx.chunk_rows(table, row_bytes, cx.aligned_unit(row_bytes), 0)?
    };
    // Token blocks of a multiple of align / esize start ids (4 bytes each, esize <= 4) and out
    // at aligned offsets.
    let token_block = if cx.all_fit(&[ri, ro]) {
        tokens
    } else {
        cx.chunk_rows(out, row_bytes, cx.align() / cx.esize(), 0)?
    };
    let mut steps = Vec::new();
    for (t0, t1) in blocks(tokens, token_block) {
        let (ids_part, out_part) = if token_block < tokens {
            let ids_part = cx.sub_aligned(ri, t0 * 4, t1 * 4);
            (ids_part, cx.sub_aligned(ro, t0 * row_bytes, t1 * row_bytes))
        } else {
            (ri, ro)
        };
        let total = (t1 - t0) * dim;
        for (v0, v1) in blocks(vocab, table_block) {
            let table_part = cx.sub_aligned(rt, v0 * row_bytes, v1 * row_bytes);
            let params = DataParams {
                total: cx.u32_of(total, "elements")?,
                offset: cx.u32_of(v0, "first table row")?,
                rows: cx.u32_of(v1 - v0, "table rows")?,
                ..params
            };
            let bindings = vec![table_part, ids_part, out_part];
            let groups = cx.groups_1d(total)?;
            steps.push(cx.step(Kernel::Embedding, bindings, &params, groups));
        }
    }
    Ok(steps)
}
