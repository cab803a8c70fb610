//! GEMM lowering: batched matmul (optional transposes, shared 2-D b), linear (optional bias),
//! and the GEMM shape that convolution reuses, for the lowerer's [`GemmKernel`]. The square
//! block tiles of C (64 or 32 wide, by kernel) are numbered linearly and folded into a 2-D or
//! 3-D grid past the per-dimension workgroup limit.

use super::cx::NodeCx;
use super::{Region, Step};
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
    /// and K, N, the leading dimensions, offsets, batch strides and binding sizes all whole
    /// vec4s, so the vec4 view loses no element.
    fn vec4_ok(&self, regions: [Region; 2]) -> bool {
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
            && regions.iter().all(|r| r.size % 16 == 0)
    }

    /// The params block, the folded workgroup grid and the kernel for `gemm` with a and b bound
    /// as `ab`, every index the shader computes checked to fit 32 bits.
    pub fn lower(
        &self,
        cx: &NodeCx<'_>,
        gemm: GemmKernel,
        ab: [Region; 2],
    ) -> Result<(GemmParams, [u32; 3], Kernel), RuntimeError> {
        let (kernel, block) = gemm.entry(self.vec4_ok(ab));
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
        };
        Ok((params, cx.grid(tiles)?, kernel))
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
    Ok(vec![gemm.step(cx, [cx.region(a)?, cx.region(b)?, c, c])?])
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
        gemm.step(cx, [cx.region(x)?, cx.region(w)?, c, bias])?,
    ])
}

#[cfg(test)]
mod tests {
    use super::super::Lowerer;
    use crate::graph::{DType, GraphBuilder, Init, NodeId, Op};
    use crate::layout::naive_layout;
    use crate::runtime::GemmKernel;
    use crate::runtime::shaders::Kernel;

    /// The kernel of the one GEMM step of `[m, k] x [k, n]` (stored transposed per `t`).
    fn kernel_of(gemm: GemmKernel, (m, k, n): (usize, usize, usize), t: (bool, bool)) -> Kernel {
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
            gemm,
        };
        let steps = lw.lower(NodeId(0)).expect("lower");
        assert_eq!(steps.len(), 1);
        steps[0].kernel
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
