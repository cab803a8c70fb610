//! GEMM lowering: batched matmul (optional transposes, shared 2-D b), linear (optional bias),
//! and the GEMM shape that convolution reuses. The TILE x TILE output tiles are numbered
//! linearly and folded into a 2-D or 3-D grid past the per-dimension workgroup limit.

use super::cx::NodeCx;
use super::{Region, Step};
use crate::runtime::RuntimeError;
use crate::runtime::shaders::{GemmParams, Kernel, TILE};

/// Everything that decides one GEMM dispatch, in elements.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Gemm {
    pub m: u64,
    pub n: u64,
    pub k: u64,
    pub batch: u64,
    /// Batch strides of a, b, c (b 0: one shared matrix).
    pub strides: [u64; 3],
    pub trans: [bool; 2],
    /// 0 none, 1 per column, 2 per row.
    pub bias_mode: u32,
    /// Columns per output group (n, or OH*OW for convolution).
    pub col_group: u64,
    /// Elements between output groups.
    pub group_stride: u64,
    /// Element offset of the output.
    pub c_offset: u64,
}

impl Gemm {
    /// The params block and the folded workgroup grid, every value checked to fit 32 bits.
    pub fn lower(&self, cx: &NodeCx<'_>) -> Result<(GemmParams, [u32; 3]), RuntimeError> {
        let t = u64::from(TILE);
        let (tiles_n, tiles_m) = (self.n.div_ceil(t), self.m.div_ceil(t));
        // Row and column indices reach tiles * TILE - 1 in the shader.
        cx.u32_of(tiles_n * t, "GEMM columns rounded up to the tile")?;
        cx.u32_of(tiles_m * t, "GEMM rows rounded up to the tile")?;
        let tiles = tiles_n
            .checked_mul(tiles_m)
            .and_then(|x| x.checked_mul(self.batch))
            .ok_or_else(|| cx.too_large("GEMM tile count overflows"))?;
        let w = |x: u64, what: &str| cx.u32_of(x, what);
        let params = GemmParams {
            m: w(self.m, "GEMM rows")?,
            n: w(self.n, "GEMM columns")?,
            k: w(self.k, "GEMM depth")?,
            batch: w(self.batch, "GEMM batch")?,
            a_batch_stride: w(self.strides[0], "a batch stride")?,
            b_batch_stride: w(self.strides[1], "b batch stride")?,
            c_batch_stride: w(self.strides[2], "c batch stride")?,
            trans_a: u32::from(self.trans[0]),
            trans_b: u32::from(self.trans[1]),
            bias_mode: self.bias_mode,
            col_group: w(self.col_group, "output column group")?,
            group_stride: w(self.group_stride, "output group stride")?,
            c_offset: w(self.c_offset, "output offset")?,
            tiles_n: w(tiles_n, "column tiles")?,
            tiles_m: w(tiles_m, "row tiles")?,
            tiles: w(tiles, "GEMM tiles")?,
        };
        Ok((params, cx.grid(tiles)?))
    }

    /// One MatMul step binding a, b, c and bias.
    fn step(&self, cx: &NodeCx<'_>, bindings: Vec<Region>) -> Result<Step, RuntimeError> {
        let (params, groups) = self.lower(cx)?;
        Ok(cx.step(Kernel::MatMul, bindings, &params, groups))
    }
}

/// Batched matmul; b may be 2-D (shared by every batch).
pub(super) fn matmul(cx: &NodeCx<'_>, ta: bool, tb: bool) -> Result<Vec<Step>, RuntimeError> {
    let (a, b, out) = (cx.input(0)?, cx.input(1)?, cx.output()?);
    let (ra, rb) = (cx.dims(a).len(), cx.dims(b).len());
    if ra < 2 || rb < 2 {
        return Err(cx.unsupported("matmul operands need rank 2 or more"));
    }
    let (m, k) = if ta {
        (cx.dim(a, ra - 1)?, cx.dim(a, ra - 2)?)
    } else {
        (cx.dim(a, ra - 2)?, cx.dim(a, ra - 1)?)
    };
    let n = if tb {
        cx.dim(b, rb - 2)?
    } else {
        cx.dim(b, rb - 1)?
    };
    let batch: u64 = cx.dims(a)[..ra - 2].iter().map(|&d| d as u64).product();
    cx.u32_of(cx.numel(a).max(cx.numel(b)).max(cx.numel(out)), "elements")?;
    let gemm = Gemm {
        m,
        n,
        k,
        batch,
        strides: [m * k, if rb == 2 { 0 } else { k * n }, m * n],
        trans: [ta, tb],
        col_group: n,
        group_stride: m * n,
        ..Gemm::default()
    };
    let c = cx.region(out)?;
    Ok(vec![
        gemm.step(cx, vec![cx.region(a)?, cx.region(b)?, c, c])?,
    ])
}

/// x [.., K] times w [K, N] plus an optional bias [N].
pub(super) fn linear(cx: &NodeCx<'_>) -> Result<Vec<Step>, RuntimeError> {
    let (x, w, out) = (cx.input(0)?, cx.input(1)?, cx.output()?);
    let (k, n) = (cx.dim(w, 0)?, cx.dim(w, 1)?);
    let m = cx.numel(x).checked_div(k).unwrap_or(0);
    cx.u32_of(cx.numel(x).max(cx.numel(w)).max(cx.numel(out)), "elements")?;
    let c = cx.region(out)?;
    let has_bias = cx.input_count() > 2;
    let bias = if has_bias {
        cx.region(cx.input(2)?)?
    } else {
        c
    };
    let gemm = Gemm {
        m,
        n,
        k,
        batch: 1,
        bias_mode: u32::from(has_bias),
        col_group: n,
        group_stride: m * n,
        ..Gemm::default()
    };
    Ok(vec![
        gemm.step(cx, vec![cx.region(x)?, cx.region(w)?, c, bias])?,
    ])
}
