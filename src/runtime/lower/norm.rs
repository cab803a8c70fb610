//! Row-normalisation lowering: softmax and layer normalisation over the last axis, one
//! workgroup per row (rows folded into a 2-D or 3-D grid), with in-place variants. The row
//! reductions use subgroup operations (norm_subgroup.wgsl, reading vec4s where rows are whole
//! vec4s) when the lowerer says the device has them ([`Lowerer::subgroups`](super::Lowerer)),
//! else the workgroup-memory tree of norm.wgsl; all take the same params and bindings. A tensor
//! larger than one storage binding runs as one dispatch per block of rows (x and out bound per
//! block at aligned offsets, gamma and beta whole).

use super::chunk::blocks;
use super::cx::NodeCx;
use super::{Region, Step};
use crate::graph::TensorId;
use crate::runtime::RuntimeError;
use crate::runtime::shaders::{Kernel, NormParams};

/// Rows and columns of `x` viewed as [rows, last axis], checked to fit 32 bits.
fn rows_cols(cx: &NodeCx<'_>, x: TensorId) -> Result<(u64, NormParams), RuntimeError> {
    let cols = cx.dims(x).last().copied().unwrap_or(1) as u64;
    let rows = cx.numel(x).checked_div(cols).unwrap_or(0);
    cx.u32_of(cx.numel(x), "elements")?;
    let params = NormParams {
        rows: cx.u32_of(rows, "rows")?,
        cols: cx.u32_of(cols, "columns")?,
        ..NormParams::default()
    };
    Ok((rows, params))
}

/// Softmax over the last axis.
pub(super) fn softmax(cx: &NodeCx<'_>) -> Result<Vec<Step>, RuntimeError> {
    let (x, out) = (cx.input(0)?, cx.output()?);
    let (rows, params) = rows_cols(cx, x)?;
    let sg = variant(cx, params.cols);
    if cx.in_place() {
        let bindings = vec![cx.region(x)?];
        let kernel = sg.pick([
            Kernel::SoftmaxSg4InPlace,
            Kernel::SoftmaxSgInPlace,
            Kernel::SoftmaxInPlace,
        ]);
        return row_blocks(cx, kernel, bindings, 1, (rows, params));
    }
    let bindings = vec![cx.region(x)?, cx.region(out)?];
    let kernel = sg.pick([Kernel::SoftmaxSg4, Kernel::SoftmaxSg, Kernel::Softmax]);
    row_blocks(cx, kernel, bindings, 0b11, (rows, params))
}

/// Layer normalisation over the last axis with gamma and beta.
pub(super) fn layernorm(cx: &NodeCx<'_>, eps: f32) -> Result<Vec<Step>, RuntimeError> {
    let (x, gamma, beta, out) = (cx.input(0)?, cx.input(1)?, cx.input(2)?, cx.output()?);
    let (rows, mut params) = rows_cols(cx, x)?;
    params.eps = eps;
    let mut bindings = vec![cx.region(x)?, cx.region(gamma)?, cx.region(beta)?];
    let sg = variant(cx, params.cols);
    if cx.in_place() {
        let kernel = sg.pick([
            Kernel::LayerNormSg4InPlace,
            Kernel::LayerNormSgInPlace,
            Kernel::LayerNormInPlace,
        ]);
        return row_blocks(cx, kernel, bindings, 1, (rows, params));
    }
    bindings.push(cx.region(out)?);
    let kernel = sg.pick([Kernel::LayerNormSg4, Kernel::LayerNormSg, Kernel::LayerNorm]);
    row_blocks(cx, kernel, bindings, 0b1001, (rows, params))
}

/// Which reduction a row kernel uses.
#[derive(Clone, Copy)]
enum Variant {
    /// Subgroup reductions, rows read as vec4s.
    SubgroupVec4,
    /// Subgroup reductions, scalar reads.
    Subgroup,
    /// The workgroup-memory tree.
    Tree,
}

impl Variant {
    /// The kernel of this variant among `[vec4 subgroup, subgroup, tree]`.
    fn pick(self, [vec4, subgroup, tree]: [Kernel; 3]) -> Kernel {
        match self {
            Variant::SubgroupVec4 => vec4,
            Variant::Subgroup => subgroup,
            Variant::Tree => tree,
        }
    }
}

/// Subgroup reductions when the lowerer allows them, reading vec4s when rows of `cols` are whole
/// vec4s at 16-byte aligned bindings (row blocks then start on whole vec4s too).
fn variant(cx: &NodeCx<'_>, cols: u32) -> Variant {
    if !cx.lw.subgroups || !cx.is_f32() {
        Variant::Tree
    } else if cols.is_multiple_of(4) && cx.align().is_multiple_of(16) {
        Variant::SubgroupVec4
    } else {
        Variant::Subgroup
    }
}

/// One dispatch of `kernel` over all rows when every binding fits, else one per block of rows;
/// bit `i` of `per_row` marks binding `i` as row-major [rows, cols] (bound per block), the
/// others are bound whole.
fn row_blocks(
    cx: &NodeCx<'_>,
    kernel: Kernel,
    bindings: Vec<Region>,
    per_row: u32,
    (rows, params): (u64, NormParams),
) -> Result<Vec<Step>, RuntimeError> {
    if cx.all_fit(&bindings) {
        return Ok(vec![cx.step(kernel, bindings, &params, cx.grid(rows)?)]);
    }
    let row_bytes = u64::from(params.cols) * cx.esize();
    let x = cx.input(0)?;
    let block = cx.chunk_rows(x, row_bytes, cx.aligned_unit(row_bytes), 0)?;
    let mut steps = Vec::new();
    for (r0, r1) in blocks(rows, block) {
        let part = (bindings.iter().enumerate())
            .map(|(i, &r)| {
                if per_row >> i & 1 == 1 {
                    cx.sub_aligned(r, r0 * row_bytes, r1 * row_bytes)
                } else {
                    r
                }
            })
            .collect();
        let params = NormParams {
            rows: cx.u32_of(r1 - r0, "rows")?,
            ..params
        };
        steps.push(cx.step(kernel, part, &params, cx.grid(r1 - r0)?));
    }
    Ok(steps)
}
