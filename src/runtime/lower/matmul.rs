//! GEMM lowering: batched matmul (optional transposes, shared 2-D b), linear (optional bias),
//! and the GEMM shape that convolution reuses. The TILE x TILE output tiles are numbered
//! linearly and folded into a 2-D or 3-D grid past the per-dimension workgroup limit.
//!
//! A GEMM whose a, b or c is larger than one storage binding runs as one dispatch per block
//! (per matrix of the batch): rows of C (and A) when A or C is too large, columns of C (rows of
//! a transposed B) when a transposed B is too large, and the reduced dimension K when a
//! non-transposed B (or a transposed A) is too large, each later K block adding to C. Each
//! block binds only the stored rows it reads, from an aligned offset, and passes the leading
//! dimensions and element offsets to the kernel.

use super::chunk::blocks;
use super::cx::NodeCx;
use super::{Region, Step};
use crate::graph::TensorId;
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
    /// Leading dimensions of stored A and B (`None`: packed, K or M for A, N or K for B).
    pub ld: [Option<u64>; 2],
    /// Element offsets of A and B inside their bindings.
    pub ab_offset: [u64; 2],
    /// Add the product to what C holds.
    pub accumulate: bool,
}

/// The regions of a GEMM's a, b, c and bias (c again when there is no bias) and the tensors
/// of a, b and c (for messages).
pub(super) struct Operands {
    pub regions: [Region; 4],
    pub tensors: [TensorId; 3],
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
        let packed_a = if self.trans[0] { self.m } else { self.k };
        let packed_b = if self.trans[1] { self.k } else { self.n };
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
            lda: w(self.ld[0].unwrap_or(packed_a), "a leading dimension")?,
            ldb: w(self.ld[1].unwrap_or(packed_b), "b leading dimension")?,
            a_offset: w(self.ab_offset[0], "a offset")?,
            b_offset: w(self.ab_offset[1], "b offset")?,
            accumulate: u32::from(self.accumulate),
        };
        Ok((params, cx.grid(tiles)?))
    }

    /// The steps of a plain GEMM (`col_group` = n, no output offset): one dispatch when every
    /// binding fits the device, else one per block (see the module docs).
    fn steps(&self, cx: &NodeCx<'_>, ops: &Operands) -> Result<Vec<Step>, RuntimeError> {
        if cx.all_fit(&ops.regions) {
            return self.step(cx, ops.regions.to_vec());
        }
        let [mc, nc, kc] = self.block_sizes(cx, ops)?;
        // A per-column bias is indexed by the block's column, a per-row one by its row.
        if (self.bias_mode == 1 && nc < self.n) || (self.bias_mode == 2 && mc < self.m) {
            return Err(cx.unsupported("a biased GEMM split across its bias axis"));
        }
        if self.k == 0 {
            return Err(cx.unsupported("an empty reduction split over bindings"));
        }
        let mut steps = Vec::new();
        for batch in 0..self.batch {
            for rows in blocks(self.m, mc) {
                for cols in blocks(self.n, nc) {
                    for depth in blocks(self.k, kc) {
                        let block = self.block(cx, ops, batch, [rows, cols, depth])?;
                        steps.extend(block);
                    }
                }
            }
        }
        Ok(steps)
    }

    /// Rows of C, columns of C and depth per block: each of a, b and c too large for one
    /// binding limits the dimension along which its stored rows run.
    fn block_sizes(&self, cx: &NodeCx<'_>, ops: &Operands) -> Result<[u64; 3], RuntimeError> {
        let (m, n, k) = (self.m, self.n, self.k);
        let slack = cx.slack();
        let fits = |rows: u64, len: u64| {
            rows.saturating_mul(len)
                .saturating_mul(4)
                .saturating_add(slack)
                <= cx.max_binding()
        };
        let [ta, tb] = self.trans;
        let mut sizes = [m, n, k];
        // (tensor, stored rows, row length, the dimension its rows run along: 0 m, 1 n, 2 k)
        let stored = [
            (
                ops.tensors[0],
                if ta { k } else { m },
                if ta { m } else { k },
                if ta { 2 } else { 0 },
            ),
            (
                ops.tensors[1],
                if tb { n } else { k },
                if tb { k } else { n },
                if tb { 1 } else { 2 },
            ),
            (ops.tensors[2], m, n, 0),
        ];
        for (t, rows, len, dim) in stored {
            if !fits(rows, len) {
                let fit = cx.chunk_rows(t, len.saturating_mul(4), 1, slack)?;
                sizes[dim] = sizes[dim].min(fit);
            }
        }
        Ok(sizes)
    }

    /// The dispatch of one block (`[start, end)` of rows, columns and depth) of matrix `batch`.
    fn block(
        &self,
        cx: &NodeCx<'_>,
        ops: &Operands,
        batch: u64,
        [(r0, r1), (c0, c1), (k0, k1)]: [(u64, u64); 3],
    ) -> Result<Vec<Step>, RuntimeError> {
        let (m, n, k) = (self.m, self.n, self.k);
        let [ta, tb] = self.trans;
        let [sa, sb, sc] = self.strides.map(|s| s * batch);
        // The first element each operand reads and one past its last, in its stored layout.
        let (a0, a1) = if ta {
            (k0 * m + r0, (k1 - 1) * m + r1)
        } else {
            (r0 * k + k0, (r1 - 1) * k + k1)
        };
        let (b0, b1) = if tb {
            (c0 * k + k0, (c1 - 1) * k + k1)
        } else {
            (k0 * n + c0, (k1 - 1) * n + c1)
        };
        let [ra, rb, rc, bias] = ops.regions;
        let (ra, a_off) = cx.sub_from(ra, (sa + a0) * 4, (sa + a1) * 4)?;
        let (rb, b_off) = cx.sub_from(rb, (sb + b0) * 4, (sb + b1) * 4)?;
        let (c_start, c_end) = (sc + r0 * n + c0, sc + (r1 - 1) * n + c1);
        let (rc, c_off) = cx.sub_from(rc, c_start * 4, c_end * 4)?;
        let first = k0 == 0;
        let gemm = Gemm {
            m: r1 - r0,
            n: c1 - c0,
            k: k1 - k0,
            batch: 1,
            strides: [0; 3],
            trans: self.trans,
            bias_mode: if first { self.bias_mode } else { 0 },
            col_group: n,
            group_stride: m * n,
            c_offset: u64::from(c_off),
            ld: [Some(if ta { m } else { k }), Some(if tb { k } else { n })],
            ab_offset: [u64::from(a_off), u64::from(b_off)],
            accumulate: !first,
        };
        let bias = if self.bias_mode == 0 { rc } else { bias };
        gemm.step(cx, vec![ra, rb, rc, bias])
    }

    /// One MatMul step binding a, b, c and bias.
    fn step(&self, cx: &NodeCx<'_>, bindings: Vec<Region>) -> Result<Vec<Step>, RuntimeError> {
        let (params, groups) = self.lower(cx)?;
        Ok(vec![cx.step(Kernel::MatMul, bindings, &params, groups)])
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
    let ops = Operands {
        regions: [cx.region(a)?, cx.region(b)?, c, c],
        tensors: [a, b, out],
    };
    gemm.steps(cx, &ops)
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
    let ops = Operands {
        regions: [cx.region(x)?, cx.region(w)?, c, bias],
        tensors: [x, w, out],
    };
    gemm.steps(cx, &ops)
}
