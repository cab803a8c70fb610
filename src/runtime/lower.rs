//! Lowering: one graph node becomes zero or more kernel steps (kernel, storage regions at the
//! planned offsets, uniform params, workgroup counts). Pure CPU code; the executor and the
//! baselines turn steps into pipelines and bind groups.
//!
//! Where a tensor lives is asked of a [`Placement`]: a buffer slot and a byte offset in it. The
//! single-arena executor answers slot 0 at the layout's offset for everything; the baselines
//! answer one slot per tensor (or a pool slot at a buddy block's offset).

use super::RuntimeError;
use super::shaders::{self, Kernel, MAX_RANK, PARAMS_BYTES, TILE, WORKGROUP_SIZE};
use crate::graph::{BinaryOp, DType, Graph, NodeId, Op, PoolKind, TensorId, UnaryOp};
use crate::layout::MemoryLayout;

/// Where bytes live: a buffer slot (the caller's numbering of its device buffers) and a byte
/// offset inside that buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Loc {
    pub buffer: usize,
    pub offset: u64,
}

/// Answers "where is tensor t" and "where is node n's workspace" for the lowering.
pub(crate) trait Placement {
    /// The bytes of tensor `t` (a view answers its source's location).
    fn tensor(&self, t: TensorId) -> Loc;
    /// Node `n`'s workspace location and its size in bytes, if it has one.
    fn workspace(&self, n: NodeId) -> Option<(Loc, u64)>;
}

/// The single-arena executor: everything in buffer slot 0 at the layout's offsets.
impl Placement for MemoryLayout {
    fn tensor(&self, t: TensorId) -> Loc {
        Loc {
            buffer: 0,
            offset: self.offset(t),
        }
    }
    fn workspace(&self, n: NodeId) -> Option<(Loc, u64)> {
        let offset = self.workspace_offsets.get(n.index()).copied().flatten()?;
        let bytes = self.workspace_bytes.get(n.index()).copied().unwrap_or(0);
        Some((Loc { buffer: 0, offset }, bytes))
    }
}

/// A byte range of one buffer bound as one storage binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Region {
    pub buffer: usize,
    pub offset: u64,
    pub size: u64,
}

/// One dispatch.
#[derive(Clone, Debug)]
pub(crate) struct Step {
    pub kernel: Kernel,
    /// Storage bindings 1..=n, in order.
    pub bindings: Vec<Region>,
    /// The uniform block, `PARAMS_BYTES / 4` words.
    pub params: Vec<u32>,
    pub groups: [u32; 3],
}

/// Rounds a byte count up to whole 32-bit words (binding sizes must be multiples of 4).
pub(crate) fn round4(bytes: u64) -> u64 {
    bytes.div_ceil(4) * 4
}

pub(crate) struct Lowerer<'a> {
    pub graph: &'a Graph,
    pub place: &'a dyn Placement,
    /// `max_compute_workgroups_per_dimension`.
    pub max_groups: u32,
}

struct NodeCx<'a> {
    lw: &'a Lowerer<'a>,
    id: NodeId,
}

impl NodeCx<'_> {
    fn name(&self) -> String {
        self.lw.graph.node(self.id).name.clone()
    }
    fn op(&self) -> &'static str {
        self.lw.graph.node(self.id).op.name()
    }
    fn unsupported(&self, detail: impl Into<String>) -> RuntimeError {
        RuntimeError::Unsupported {
            node: self.name(),
            op: self.op(),
            detail: detail.into(),
        }
    }
    fn too_large(&self, detail: impl Into<String>) -> RuntimeError {
        RuntimeError::DispatchTooLarge {
            node: self.name(),
            op: self.op(),
            detail: detail.into(),
        }
    }
    fn input(&self, i: usize) -> Result<TensorId, RuntimeError> {
        self.lw
            .graph
            .node(self.id)
            .inputs
            .get(i)
            .copied()
            .ok_or_else(|| self.unsupported(format!("missing input {i}")))
    }
    fn output(&self) -> Result<TensorId, RuntimeError> {
        self.lw
            .graph
            .node(self.id)
            .outputs
            .first()
            .copied()
            .ok_or_else(|| self.unsupported("no output"))
    }
    fn dims(&self, t: TensorId) -> &[usize] {
        self.lw.graph.tensors[t.index()].shape.dims()
    }
    fn numel(&self, t: TensorId) -> u64 {
        self.lw.graph.tensors[t.index()].shape.numel()
    }
    fn region(&self, t: TensorId) -> Result<Region, RuntimeError> {
        let tensor = &self.lw.graph.tensors[t.index()];
        if tensor.dtype.size_bytes() != 4 {
            return Err(self.unsupported(format!(
                "tensor {} has dtype {}; kernels handle 32-bit elements only",
                tensor.name, tensor.dtype
            )));
        }
        let size = round4(tensor.size_bytes());
        if size == 0 {
            return Err(self.unsupported(format!("tensor {} is empty", tensor.name)));
        }
        let Loc { buffer, offset } = self.lw.place.tensor(t);
        Ok(Region {
            buffer,
            offset,
            size,
        })
    }
    fn workspace(&self, needed: u64) -> Result<Region, RuntimeError> {
        let found = self.lw.place.workspace(self.id);
        let have = found.map_or(0, |(_, bytes)| bytes);
        match found {
            Some((Loc { buffer, offset }, _)) if have >= needed => Ok(Region {
                buffer,
                offset,
                size: round4(needed),
            }),
            _ => Err(RuntimeError::LayoutMismatch(format!(
                "node {} ({}) needs {needed} workspace bytes, the layout gives {have}",
                self.name(),
                self.op()
            ))),
        }
    }
    fn u32_of(&self, x: u64, what: &str) -> Result<u32, RuntimeError> {
        u32::try_from(x)
            .map_err(|_| self.too_large(format!("{what} = {x} does not fit 32-bit indices")))
    }
    /// Workgroups for `threads` threads of WORKGROUP_SIZE, 2-D beyond the per-dimension limit.
    fn groups_1d(&self, threads: u64) -> Result<[u32; 3], RuntimeError> {
        self.u32_of(threads, "element count")?;
        self.grid(threads.div_ceil(u64::from(WORKGROUP_SIZE)))
    }
    /// `n` workgroups laid out as x (up to the limit) by y.
    fn grid(&self, n: u64) -> Result<[u32; 3], RuntimeError> {
        let max = u64::from(self.lw.max_groups.max(1));
        if n <= max {
            return Ok([n as u32, 1, 1]);
        }
        let y = n.div_ceil(max);
        if y > max {
            return Err(self.too_large(format!("{n} workgroups exceed {max} x {max}")));
        }
        Ok([max as u32, y as u32, 1])
    }
    fn check_rank(&self, rank: usize) -> Result<(), RuntimeError> {
        if rank > MAX_RANK {
            return Err(self.unsupported(format!("rank {rank} exceeds MAX_RANK = {MAX_RANK}")));
        }
        Ok(())
    }
    /// True when the output shares its first input's location (same rule as
    /// [`MemoryLayout::is_in_place`], for any placement).
    fn in_place(&self) -> bool {
        let node = self.lw.graph.node(self.id);
        match (node.inputs.first(), node.outputs.first()) {
            (Some(&i), Some(&o)) => {
                !node.op.is_view() && self.lw.place.tensor(i) == self.lw.place.tensor(o)
            }
            _ => false,
        }
    }
}

/// Pads params to one block.
fn block(mut words: Vec<u32>) -> Vec<u32> {
    words.resize((PARAMS_BYTES / 4) as usize, 0);
    words
}

fn dims8(dims: &[u64]) -> [u32; MAX_RANK] {
    let mut out = [0u32; MAX_RANK];
    for (o, &d) in out.iter_mut().zip(dims) {
        *o = d as u32;
    }
    out
}

fn contiguous_strides(dims: &[usize]) -> Vec<u64> {
    let mut s = vec![1u64; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1] as u64;
    }
    s
}

/// Strides of `dims` broadcast (right-aligned) to `rank` axes: 0 on size-1 axes.
fn broadcast_strides(dims: &[usize], out: &[usize]) -> Vec<u64> {
    let own = contiguous_strides(dims);
    let lead = out.len() - dims.len();
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

impl Lowerer<'_> {
    /// The steps of node `id` (empty for views at their source's offset and empty outputs).
    pub fn lower(&self, id: NodeId) -> Result<Vec<Step>, RuntimeError> {
        let cx = NodeCx { lw: self, id };
        let node = self.graph.node(id);
        let out = cx.output()?;
        if cx.numel(out) == 0 {
            return Ok(Vec::new());
        }
        if self.graph.tensors[out.index()].dtype == DType::F16 {
            return Err(cx.unsupported("f16 tensors have no kernels yet"));
        }
        if cx.in_place() && !node.op.can_run_in_place() {
            return Err(RuntimeError::LayoutMismatch(format!(
                "node {} ({}) cannot run in place but its output shares its first input's offset",
                node.name,
                node.op.name()
            )));
        }
        match &node.op {
            Op::MatMul { trans_a, trans_b } => self.matmul(&cx, *trans_a, *trans_b),
            Op::Linear => self.linear(&cx),
            Op::Binary(op) => self.binary(&cx, *op),
            Op::Unary(op) => self.unary(&cx, *op),
            Op::Softmax => self.softmax(&cx),
            Op::LayerNorm { eps } => self.layernorm(&cx, *eps),
            Op::Conv2d(a) => self.conv(&cx, a),
            Op::Pool2d(a) => {
                let (x, d) = (cx.input(0)?, cx.dims(out).to_vec());
                let xd = cx.dims(x);
                let total = cx.numel(out);
                let kind = if a.kind == PoolKind::Max {
                    shaders::POOL_MAX
                } else {
                    shaders::POOL_AVG
                };
                let mut p = vec![
                    cx.u32_of(total, "outputs")?,
                    xd[2] as u32,
                    xd[3] as u32,
                    d[2] as u32,
                    d[3] as u32,
                ];
                p.extend(
                    [
                        a.kernel[0],
                        a.kernel[1],
                        a.stride[0],
                        a.stride[1],
                        a.padding[0],
                        a.padding[1],
                    ]
                    .map(|v| v as u32),
                );
                p.push(kind);
                Ok(vec![Step {
                    kernel: Kernel::Pool2d,
                    bindings: vec![cx.region(x)?, cx.region(out)?],
                    params: block(p),
                    groups: cx.groups_1d(total)?,
                }])
            }
            Op::GlobalAvgPool => {
                let x = cx.input(0)?;
                let xd = cx.dims(x);
                let total = cx.numel(out);
                let p = vec![cx.u32_of(total, "outputs")?, xd[2] as u32, xd[3] as u32];
                Ok(vec![Step {
                    kernel: Kernel::GlobalAvgPool,
                    bindings: vec![cx.region(x)?, cx.region(out)?],
                    params: block(p),
                    groups: cx.groups_1d(total)?,
                }])
            }
            Op::Reshape { .. } => {
                let x = cx.input(0)?;
                if self.place.tensor(x) == self.place.tensor(out) {
                    return Ok(Vec::new());
                }
                // A layout that moved a view: copy the bytes (correct, just not free).
                let total = cx.numel(out);
                let p = vec![cx.u32_of(total, "elements")?];
                Ok(vec![Step {
                    kernel: Kernel::Copy,
                    bindings: vec![cx.region(x)?, cx.region(out)?],
                    params: block(p),
                    groups: cx.groups_1d(total)?,
                }])
            }
            Op::Permute { perm } => {
                let x = cx.input(0)?;
                let od = cx.dims(out);
                cx.check_rank(od.len())?;
                let in_strides = contiguous_strides(cx.dims(x));
                let strides: Vec<u64> = perm.iter().map(|&p| in_strides[p]).collect();
                let total = cx.numel(out);
                let mut p = vec![
                    cx.u32_of(total, "elements")?,
                    od.len() as u32,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                ];
                p.extend(dims8(&od.iter().map(|&d| d as u64).collect::<Vec<_>>()));
                p.extend(dims8(&strides));
                Ok(vec![Step {
                    kernel: Kernel::Permute,
                    bindings: vec![cx.region(x)?, cx.region(out)?],
                    params: block(p),
                    groups: cx.groups_1d(total)?,
                }])
            }
            Op::Concat { axis } => {
                let od = cx.dims(out);
                let outer: u64 = od[..*axis].iter().map(|&d| d as u64).product();
                let inner_out: u64 = od[*axis..].iter().map(|&d| d as u64).product();
                let mut offset = 0u64;
                let mut steps = Vec::new();
                for i in 0..node.inputs.len() {
                    let x = cx.input(i)?;
                    let inner_in: u64 = cx.dims(x)[*axis..].iter().map(|&d| d as u64).product();
                    let total = outer * inner_in;
                    if total > 0 {
                        let p = vec![
                            cx.u32_of(total, "elements")?,
                            0,
                            inner_in as u32,
                            cx.u32_of(inner_out, "row length")?,
                            offset as u32,
                        ];
                        steps.push(Step {
                            kernel: Kernel::ConcatPiece,
                            bindings: vec![cx.region(x)?, cx.region(out)?],
                            params: block(p),
                            groups: cx.groups_1d(total)?,
                        });
                    }
                    offset += inner_in;
                }
                Ok(steps)
            }
            Op::Embedding => {
                let (table, ids) = (cx.input(0)?, cx.input(1)?);
                let td = cx.dims(table);
                let total = cx.numel(out);
                let p = vec![
                    cx.u32_of(total, "elements")?,
                    0,
                    0,
                    0,
                    0,
                    td[1] as u32,
                    cx.u32_of(td[0] as u64, "vocabulary")?,
                ];
                let bindings = vec![cx.region(table)?, cx.region(ids)?, cx.region(out)?];
                Ok(vec![Step {
                    kernel: Kernel::Embedding,
                    bindings,
                    params: block(p),
                    groups: cx.groups_1d(total)?,
                }])
            }
            Op::Attention { causal, scale } => self.attention(&cx, *causal, *scale),
            Op::Upsample2x { .. } => Self::upsample2x(&cx),
        }
    }

    #[allow(clippy::too_many_arguments)] // one argument per GEMM field, in WGSL order
    fn gemm_params(
        m: u64,
        n: u64,
        k: u64,
        batch: u64,
        strides: [u64; 3],
        trans: [bool; 2],
        bias_mode: u32,
        col_group: u64,
    ) -> Vec<u32> {
        let w = |x: u64| x as u32;
        block(vec![
            w(m),
            w(n),
            w(k),
            w(batch),
            w(strides[0]),
            w(strides[1]),
            w(strides[2]),
            u32::from(trans[0]),
            u32::from(trans[1]),
            bias_mode,
            w(col_group),
            w(m * col_group),
            0, // c_offset
        ])
    }

    fn gemm_groups(cx: &NodeCx<'_>, m: u64, n: u64, batch: u64) -> Result<[u32; 3], RuntimeError> {
        let t = u64::from(TILE);
        let g = [n.div_ceil(t), m.div_ceil(t), batch];
        let max = u64::from(self_max(cx));
        if g.iter().any(|&x| x > max) {
            return Err(cx.too_large(format!(
                "GEMM grid {g:?} exceeds {max} workgroups per dimension"
            )));
        }
        Ok(g.map(|x| x as u32))
    }

    fn matmul(&self, cx: &NodeCx<'_>, ta: bool, tb: bool) -> Result<Vec<Step>, RuntimeError> {
        let (a, b, out) = (cx.input(0)?, cx.input(1)?, cx.output()?);
        let (ad, bd) = (cx.dims(a), cx.dims(b));
        let (ra, rb) = (ad.len(), bd.len());
        let (m, k) = if ta {
            (ad[ra - 1], ad[ra - 2])
        } else {
            (ad[ra - 2], ad[ra - 1])
        };
        let n = if tb { bd[rb - 2] } else { bd[rb - 1] };
        let (m, n, k) = (m as u64, n as u64, k as u64);
        let batch: u64 = ad[..ra - 2].iter().map(|&d| d as u64).product();
        cx.u32_of(cx.numel(a).max(cx.numel(b)).max(cx.numel(out)), "elements")?;
        let b_stride = if rb == 2 { 0 } else { k * n };
        let params = Self::gemm_params(m, n, k, batch, [m * k, b_stride, m * n], [ta, tb], 0, n);
        let c = cx.region(out)?;
        let bindings = vec![cx.region(a)?, cx.region(b)?, c, c];
        Ok(vec![Step {
            kernel: Kernel::MatMul,
            bindings,
            params,
            groups: Self::gemm_groups(cx, m, n, batch)?,
        }])
    }

    fn linear(&self, cx: &NodeCx<'_>) -> Result<Vec<Step>, RuntimeError> {
        let (x, w, out) = (cx.input(0)?, cx.input(1)?, cx.output()?);
        let wd = cx.dims(w);
        let (k, n) = (wd[0] as u64, wd[1] as u64);
        let m = cx.numel(x).checked_div(k).unwrap_or(0);
        cx.u32_of(cx.numel(x).max(cx.numel(w)).max(cx.numel(out)), "elements")?;
        let c = cx.region(out)?;
        let has_bias = self.graph.node(cx.id).inputs.len() > 2;
        let bias = if has_bias {
            cx.region(cx.input(2)?)?
        } else {
            c
        };
        let params = Self::gemm_params(
            m,
            n,
            k,
            1,
            [0, 0, 0],
            [false, false],
            u32::from(has_bias),
            n,
        );
        let bindings = vec![cx.region(x)?, cx.region(w)?, c, bias];
        Ok(vec![Step {
            kernel: Kernel::MatMul,
            bindings,
            params,
            groups: Self::gemm_groups(cx, m, n, 1)?,
        }])
    }

    fn binary(&self, cx: &NodeCx<'_>, op: BinaryOp) -> Result<Vec<Step>, RuntimeError> {
        let (a, b, out) = (cx.input(0)?, cx.input(1)?, cx.output()?);
        let od = cx.dims(out);
        cx.check_rank(od.len())?;
        let total = cx.numel(out);
        let code = match op {
            BinaryOp::Add => shaders::BINARY_ADD,
            BinaryOp::Sub => shaders::BINARY_SUB,
            BinaryOp::Mul => shaders::BINARY_MUL,
        };
        let mut p = vec![cx.u32_of(total, "elements")?, code, od.len() as u32, 0];
        p.extend(dims8(&od.iter().map(|&d| d as u64).collect::<Vec<_>>()));
        p.extend(dims8(&broadcast_strides(cx.dims(a), od)));
        p.extend(dims8(&broadcast_strides(cx.dims(b), od)));
        let groups = cx.groups_1d(total)?;
        if cx.in_place() {
            if cx.dims(a) != od {
                return Err(RuntimeError::LayoutMismatch(format!(
                    "node {} runs in place but its output shape differs from input 0's",
                    cx.name()
                )));
            }
            return Ok(vec![Step {
                kernel: Kernel::BinaryInPlace,
                bindings: vec![cx.region(a)?, cx.region(b)?],
                params: block(p),
                groups,
            }]);
        }
        let bindings = vec![cx.region(a)?, cx.region(b)?, cx.region(out)?];
        Ok(vec![Step {
            kernel: Kernel::Binary,
            bindings,
            params: block(p),
            groups,
        }])
    }

    fn unary(&self, cx: &NodeCx<'_>, op: UnaryOp) -> Result<Vec<Step>, RuntimeError> {
        let (x, out) = (cx.input(0)?, cx.output()?);
        let total = cx.numel(out);
        let (code, scale) = match op {
            UnaryOp::Relu => (shaders::UNARY_RELU, 1.0f32),
            UnaryOp::Gelu => (shaders::UNARY_GELU, 1.0),
            UnaryOp::Scale(s) => (shaders::UNARY_SCALE, s),
        };
        let p = block(vec![
            cx.u32_of(total, "elements")?,
            code,
            0,
            scale.to_bits(),
        ]);
        let groups = cx.groups_1d(total)?;
        if cx.in_place() {
            return Ok(vec![Step {
                kernel: Kernel::UnaryInPlace,
                bindings: vec![cx.region(x)?],
                params: p,
                groups,
            }]);
        }
        Ok(vec![Step {
            kernel: Kernel::Unary,
            bindings: vec![cx.region(x)?, cx.region(out)?],
            params: p,
            groups,
        }])
    }

    fn rows_cols(cx: &NodeCx<'_>, x: TensorId) -> Result<(u32, u32), RuntimeError> {
        let cols = cx.dims(x).last().copied().unwrap_or(1) as u64;
        let rows = cx.numel(x).checked_div(cols).unwrap_or(0);
        cx.u32_of(cx.numel(x), "elements")?;
        Ok((rows as u32, cols as u32))
    }

    fn upsample2x(cx: &NodeCx<'_>) -> Result<Vec<Step>, RuntimeError> {
        let (x, out) = (cx.input(0)?, cx.output()?);
        let (xd, od) = (cx.dims(x), cx.dims(out));
        let total = cx.numel(out);
        let p = vec![
            cx.u32_of(total, "outputs")?,
            xd[2] as u32,
            xd[3] as u32,
            od[2] as u32,
            od[3] as u32,
        ];
        Ok(vec![Step {
            kernel: Kernel::Upsample2x,
            bindings: vec![cx.region(x)?, cx.region(out)?],
            params: block(p),
            groups: cx.groups_1d(total)?,
        }])
    }

    fn softmax(&self, cx: &NodeCx<'_>) -> Result<Vec<Step>, RuntimeError> {
        let (x, out) = (cx.input(0)?, cx.output()?);
        let (rows, cols) = Self::rows_cols(cx, x)?;
        let p = block(vec![rows, cols, 0, 0]);
        let groups = cx.grid(u64::from(rows))?;
        if cx.in_place() {
            return Ok(vec![Step {
                kernel: Kernel::SoftmaxInPlace,
                bindings: vec![cx.region(x)?],
                params: p,
                groups,
            }]);
        }
        Ok(vec![Step {
            kernel: Kernel::Softmax,
            bindings: vec![cx.region(x)?, cx.region(out)?],
            params: p,
            groups,
        }])
    }

    fn layernorm(&self, cx: &NodeCx<'_>, eps: f32) -> Result<Vec<Step>, RuntimeError> {
        let (x, gamma, beta, out) = (cx.input(0)?, cx.input(1)?, cx.input(2)?, cx.output()?);
        let (rows, cols) = Self::rows_cols(cx, x)?;
        let p = block(vec![rows, cols, eps.to_bits(), 0]);
        let groups = cx.grid(u64::from(rows))?;
        let mut bindings = vec![cx.region(x)?, cx.region(gamma)?, cx.region(beta)?];
        if cx.in_place() {
            return Ok(vec![Step {
                kernel: Kernel::LayerNormInPlace,
                bindings,
                params: p,
                groups,
            }]);
        }
        bindings.push(cx.region(out)?);
        Ok(vec![Step {
            kernel: Kernel::LayerNorm,
            bindings,
            params: p,
            groups,
        }])
    }

    fn conv(
        &self,
        cx: &NodeCx<'_>,
        a: &crate::graph::Conv2dAttrs,
    ) -> Result<Vec<Step>, RuntimeError> {
        let (x, w, out) = (cx.input(0)?, cx.input(1)?, cx.output()?);
        let (xd, wd, od) = (cx.dims(x), cx.dims(w), cx.dims(out));
        let u = |v: usize| v as u64;
        let ckk = u(xd[1]) * u(wd[2]) * u(wd[3]);
        let plane = u(od[2]) * u(od[3]);
        // One tile of one image at a time: im2col of `cols` output positions into the
        // workspace, then the GEMM writing those columns of the NCHW output.
        let tile = crate::graph::infer::im2col_tile_cols(ckk, plane);
        let ws = cx.workspace(ckk * tile * 4)?;
        cx.u32_of((ckk * tile).max(cx.numel(x)).max(cx.numel(out)), "elements")?;
        let o = u(wd[0]);
        let c = cx.region(out)?;
        let has_bias = self.graph.node(cx.id).inputs.len() > 2;
        let bias = if has_bias {
            cx.region(cx.input(2)?)?
        } else {
            c
        };
        let (xr, wr) = (cx.region(x)?, cx.region(w)?);
        let mut steps = Vec::new();
        for image in 0..u(od[0]) {
            let mut start = 0;
            while start < plane {
                let cols = tile.min(plane - start);
                let total = ckk * cols;
                let mut p = vec![total as u32, cols as u32];
                p.extend([xd[1], xd[2], xd[3], wd[2], wd[3], od[2], od[3]].map(|v| v as u32));
                p.extend(
                    [
                        a.stride[0],
                        a.stride[1],
                        a.padding[0],
                        a.padding[1],
                        a.dilation[0],
                        a.dilation[1],
                    ]
                    .map(|v| v as u32),
                );
                p.extend([image as u32, start as u32]);
                steps.push(Step {
                    kernel: Kernel::Im2Col,
                    bindings: vec![xr, ws],
                    params: block(p),
                    groups: cx.groups_1d(total)?,
                });
                // Row stride `plane` (col_group), columns `cols`, output offset at this tile.
                let mut params = Self::gemm_params(
                    o,
                    cols,
                    ckk,
                    1,
                    [0, 0, 0],
                    [false, false],
                    if has_bias { 2 } else { 0 },
                    plane,
                );
                params[12] = (image * o * plane + start) as u32;
                steps.push(Step {
                    kernel: Kernel::MatMul,
                    bindings: vec![wr, ws, c, bias],
                    params,
                    groups: Self::gemm_groups(cx, o, cols, 1)?,
                });
                start += cols;
            }
        }
        Ok(steps)
    }

    fn attention(
        &self,
        cx: &NodeCx<'_>,
        causal: bool,
        scale: f32,
    ) -> Result<Vec<Step>, RuntimeError> {
        let (q, k, v, out) = (cx.input(0)?, cx.input(1)?, cx.input(2)?, cx.output()?);
        let (qd, kd) = (cx.dims(q), cx.dims(k));
        let u = |v: usize| v as u64;
        let (bh, s, t, d) = (u(qd[0]) * u(qd[1]), u(qd[2]), u(kd[2]), u(qd[3]));
        let scores = bh * s * t;
        let ws = cx.workspace(scores * 4)?;
        cx.u32_of(scores.max(cx.numel(q)).max(cx.numel(k)), "elements")?;
        let p = block(vec![
            bh as u32,
            s as u32,
            t as u32,
            d as u32,
            u32::from(causal),
            scale.to_bits(),
            (bh * s * d) as u32,
        ]);
        let bindings = vec![
            cx.region(q)?,
            cx.region(k)?,
            cx.region(v)?,
            cx.region(out)?,
            ws,
        ];
        Ok(vec![
            Step {
                kernel: Kernel::AttnScores,
                bindings: bindings.clone(),
                params: p.clone(),
                groups: cx.groups_1d(scores)?,
            },
            Step {
                kernel: Kernel::AttnSoftmax,
                bindings: bindings.clone(),
                params: p.clone(),
                groups: cx.grid(bh * s)?,
            },
            Step {
                kernel: Kernel::AttnPv,
                bindings,
                params: p,
                groups: cx.groups_1d(bh * s * d)?,
            },
        ])
    }
}

fn self_max(cx: &NodeCx<'_>) -> u32 {
    cx.lw.max_groups.max(1)
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
    fn every_params_block_is_one_block() {
        assert_eq!(block(vec![1, 2]).len() as u64 * 4, PARAMS_BYTES);
    }
}
