//! GEMM lowering: batched matmul (optional transposes, shared 2-D b), linear (optional bias),
//! and the GEMM shape that convolution reuses, for the lowerer's [`GemmKernel`]. The square
//! block tiles of C (64 or 32 wide, by kernel) are numbered linearly and folded into a 2-D or
//! 3-D grid past the per-dimension workgroup limit.
//!
//! A GEMM whose a, b or c is larger than one storage binding runs as one dispatch per block
//! (per matrix of the batch): rows of C (and A) when A or C is too large, columns of C (rows of
//! a transposed B) when a transposed B is too large, and the reduced dimension K when a
//! non-transposed B (or a transposed A) is too large, each later K block adding to C. Each
//! block binds only the stored rows it reads, from an aligned offset, and passes the leading
//! dimensions and element offsets to the kernel, which takes the vec4 entry only where the
//! block's offsets and leading dimensions align (`Gemm::vec4_ok`).

use super::chunk::blocks;
use super::cx::NodeCx;
use super::{Region, Step};
use crate::graph::TensorId;
use crate::runtime::shaders::{GemmParams, Kernel};
use crate::runtime::{GemmKernel, RuntimeError};

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
    /// Leading dimensions of a, b and c as stored; 0 means dense (derived from m, n, k, the
    /// transposes and col_group).
    pub ld: [u64; 3],
    /// Element offsets of a and b in their bindings.
    pub ab_offset: [u64; 2],
    /// Add the product to what C holds (a later block of K).
    pub accumulate: bool,
}

/// The regions of a GEMM's a, b, c and bias (c again when there is no bias) and the tensors
/// of a, b and c (for messages).
pub(super) struct Operands {
    pub regions: [Region; 4],
    pub tensors: [TensorId; 3],
}

impl Gemm {
    /// Leading dimensions `[lda, ldb, ldc]`: the given ones, dense where 0.
    fn leading(&self) -> [u64; 3] {
        let [ta, tb] = self.trans;
        let dense = [
            if ta { self.m } else { self.k },
            if tb { self.k } else { self.n },
            self.col_group,
        ];
        let mut ld = self.ld;
        for (l, d) in ld.iter_mut().zip(dense) {
            if *l == 0 {
                *l = d;
            }
        }
        ld
    }

    /// Whether `matmul_reg4` may read a and b (bound as `regions`) as vec4s: no transposes,
    /// and K, N, the leading dimensions, offsets, batch strides, binding offsets and sizes all
    /// whole vec4s, so the vec4 view loses no element. A block of a GEMM split over bindings
    /// (`block`) passes its own K, N, lda/ldb and element offsets, so it takes the vec4 entry
    /// only where those align too. `esize` is the bytes of one element (a vec4 is 4 of them).
    fn vec4_ok(&self, regions: [Region; 2], esize: u64) -> bool {
        let [lda, ldb, _] = self.leading();
        let words = [
            self.k,
            self.n,
            lda,
            ldb,
            self.ab_offset[0],
            self.ab_offset[1],
            self.strides[0],
            self.strides[1],
        ];
        self.trans == [false, false]
            && words.iter().all(|w| w % 4 == 0)
            && regions
                .iter()
                .all(|r| r.size % (4 * esize) == 0 && r.offset % (4 * esize) == 0)
    }

    /// The params block, the folded workgroup grid and the kernel for `gemm` with a and b bound
    /// as `ab`, every index the shader computes checked to fit 32 bits.
    pub fn lower(
        &self,
        cx: &NodeCx<'_>,
        gemm: GemmKernel,
        ab: [Region; 2],
    ) -> Result<(GemmParams, [u32; 3], Kernel), RuntimeError> {
        let (kernel, block) = gemm.entry(self.vec4_ok(ab, cx.esize()));
        let [bm, bn] = block.map(u64::from);
        let (tiles_n, tiles_m) = (self.n.div_ceil(bn), self.m.div_ceil(bm));
        // Row and column indices reach tiles * block - 1 in the shader.
        cx.u32_of(tiles_n * bn, "GEMM columns rounded up to the tile")?;
        cx.u32_of(tiles_m * bm, "GEMM rows rounded up to the tile")?;
        let tiles = tiles_n
            .checked_mul(tiles_m)
            .and_then(|x| x.checked_mul(self.batch))
            .ok_or_else(|| cx.too_large("GEMM tile count overflows"))?;
        let w = |x: u64, what: &str| cx.u32_of(x, what);
        let [lda, ldb, ldc] = self.leading();
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
            lda: w(lda, "a leading dimension")?,
            ldb: w(ldb, "b leading dimension")?,
            ldc: w(ldc, "c leading dimension")?,
            a_offset: w(self.ab_offset[0], "a offset")?,
            b_offset: w(self.ab_offset[1], "b offset")?,
            accumulate: u32::from(self.accumulate),
        };
        Ok((params, cx.grid(tiles)?, kernel))
    }

    /// The steps of a plain GEMM (`col_group` = n, no output offset): one dispatch when every
    /// binding fits the device, else one per block (see the module docs).
    fn steps(&self, cx: &NodeCx<'_>, ops: &Operands) -> Result<Vec<Step>, RuntimeError> {
        if cx.all_fit(&ops.regions) {
            return Ok(vec![self.step(cx, ops.regions)?]);
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
                .saturating_mul(cx.esize())
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
                let fit = cx.chunk_rows(t, len.saturating_mul(cx.esize()), 1, slack)?;
                // Whole vec4s of columns and depth per block, so that blocks of aligned
                // operands still take the vec4 entry (`vec4_ok`).
                let fit = if dim > 0 && fit >= 4 {
                    fit / 4 * 4
                } else {
                    fit
                };
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
        let e = cx.esize();
        let (ra, a_off) = cx.sub_from(ra, (sa + a0) * e, (sa + a1) * e)?;
        let (rb, b_off) = cx.sub_from(rb, (sb + b0) * e, (sb + b1) * e)?;
        let (c_start, c_end) = (sc + r0 * n + c0, sc + (r1 - 1) * n + c1);
        let (rc, c_off) = cx.sub_from(rc, c_start * e, c_end * e)?;
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
            ld: [if ta { m } else { k }, if tb { k } else { n }, n],
            ab_offset: [u64::from(a_off), u64::from(b_off)],
            accumulate: !first,
        };
        let bias = if self.bias_mode == 0 { rc } else { bias };
        Ok(vec![gemm.step(cx, [ra, rb, rc, bias])?])
    }

    /// One GEMM step binding a, b, c and bias.
    fn step(&self, cx: &NodeCx<'_>, bindings: [Region; 4]) -> Result<Step, RuntimeError> {
        let (params, groups, kernel) = self.lower(cx, cx.lw.gemm, [bindings[0], bindings[1]])?;
        Ok(cx.step(kernel, bindings.to_vec(), &params, groups))
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

/// `x [.., K]` times `w [K, N]` plus an optional bias `[N]`.
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

#[cfg(test)]
mod tests {
    use super::super::{Lowerer, Step};
    use crate::graph::{DType, GraphBuilder, Init, NodeId, Op};
    use crate::layout::naive_layout;
    use crate::runtime::GemmKernel;
    use crate::runtime::shaders::GemmParams;
    use crate::runtime::shaders::Kernel;

    /// The steps of `[m, k] x [k, n]` (stored transposed per `t`) lowered with `gemm` for a
    /// device whose storage bindings hold `max_binding` bytes (32-byte offset alignment).
    fn steps_of(
        gemm: GemmKernel,
        (m, k, n): (usize, usize, usize),
        t: (bool, bool),
        max_binding: u64,
    ) -> Vec<Step> {
        let mut b = GraphBuilder::new();
        let init = Init::Uniform {
            seed: 1,
            scale: 1.0,
        };
        let a = b.input(
            "a",
            &if t.0 { [k, m] } else { [m, k] },
            DType::F32,
            init.clone(),
        );
        let w = b.input("b", &if t.1 { [n, k] } else { [k, n] }, DType::F32, init);
        let op = Op::MatMul {
            trans_a: t.0,
            trans_b: t.1,
        };
        let y = b.op("y", op, &[a, w]).expect("matmul");
        b.output(y);
        let g = b.build().expect("graph");
        let layout = naive_layout(&g, 32).expect("layout");
        let lw = Lowerer {
            graph: &g,
            place: &layout,
            max_groups: 65535,
            max_binding,
            align: 32,
            gemm,
            subgroups: false,
            vec4: false,
            f16: crate::runtime::shaders::FloatStorage::F16Packed,
        };
        lw.lower(NodeId(0)).expect("lower")
    }

    /// The kernel of the one GEMM step of `[m, k] x [k, n]` (stored transposed per `t`).
    fn kernel_of(gemm: GemmKernel, mkn: (usize, usize, usize), t: (bool, bool)) -> Kernel {
        let steps = steps_of(gemm, mkn, t, u64::MAX);
        assert_eq!(steps.len(), 1);
        steps[0].kernel
    }

    /// The GEMM params block of `step`.
    fn params(step: &Step) -> GemmParams {
        let bytes: &[u8] = bytemuck::cast_slice(&step.params);
        bytemuck::pod_read_unaligned(&bytes[..std::mem::size_of::<GemmParams>()])
    }

    #[test]
    fn blocks_over_bindings_keep_the_vec4_entry_where_their_offsets_align() {
        // B [300, 72] is 86,400 bytes > 64 KiB: depth blocks of whole vec4s, the later ones
        // accumulating into C at 4-aligned offsets of B.
        let steps = steps_of(GemmKernel::Register, (8, 300, 72), (false, false), 64 << 10);
        assert!(steps.len() > 1, "{} steps", steps.len());
        let mut depth = 0;
        for (i, s) in steps.iter().enumerate() {
            let p = params(s);
            assert_eq!(s.kernel, Kernel::MatMulReg4, "block {i}");
            assert_eq!(p.accumulate, u32::from(i > 0), "block {i}");
            assert_eq!(
                (p.lda, p.ldb, p.ldc, p.k % 4),
                (300, 72, 72, 0),
                "block {i}"
            );
            assert_eq!(p.b_offset % 4, 0, "block {i}");
            depth += p.k;
        }
        assert_eq!(depth, 300);
        // N = 70: the same split, but N and ldb are not whole vec4s.
        let steps = steps_of(GemmKernel::Register, (8, 300, 70), (false, false), 64 << 10);
        assert!(steps.len() > 1);
        assert!(steps.iter().all(|s| s.kernel == Kernel::MatMulReg));
        // The tiled kernel takes the same blocks with the same flags.
        let steps = steps_of(GemmKernel::Tiled, (8, 300, 72), (false, false), 64 << 10);
        assert!(steps.iter().all(|s| s.kernel == Kernel::MatMul));
        assert!(steps.iter().skip(1).all(|s| params(s).accumulate == 1));
    }

    #[test]
    fn the_vec4_entry_runs_only_where_every_operand_aligns() {
        let reg = GemmKernel::Register;
        assert_eq!(
            kernel_of(reg, (5, 8, 12), (false, false)),
            Kernel::MatMulReg4
        );
        // K, N not multiples of 4, or a transposed operand: the scalar entry.
        assert_eq!(
            kernel_of(reg, (5, 7, 12), (false, false)),
            Kernel::MatMulReg
        );
        assert_eq!(
            kernel_of(reg, (5, 8, 10), (false, false)),
            Kernel::MatMulReg
        );
        assert_eq!(kernel_of(reg, (4, 8, 12), (true, false)), Kernel::MatMulReg);
        assert_eq!(kernel_of(reg, (4, 8, 12), (false, true)), Kernel::MatMulReg);
        let tiled = GemmKernel::Tiled;
        assert_eq!(kernel_of(tiled, (5, 8, 12), (false, false)), Kernel::MatMul);
        assert_eq!(kernel_of(tiled, (5, 7, 12), (true, true)), Kernel::MatMul);
    }
}
