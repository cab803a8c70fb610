//! The per-node lowering context shared by every op family: the node's tensors and their
//! regions, the workspace, checked 32-bit conversions, folded workgroup grids and params blocks.

use super::{Loc, Lowerer, Region, Step, round4};
use crate::graph::{DType, NodeId, TensorId};
use crate::runtime::RuntimeError;
use crate::runtime::shaders::{
    FloatStorage, Kernel, MAX_RANK, PARAMS_BYTES, ParamsStruct, WORKGROUP_SIZE,
};
use std::sync::Arc;

/// One node being lowered.
pub(super) struct NodeCx<'a> {
    pub lw: &'a Lowerer<'a>,
    pub id: NodeId,
    name: Arc<str>,
    /// How the node's float tensors are stored: F32, or the device's f16 variant when they
    /// are F16 ([`NodeCx::float_dtype`] refuses nodes mixing the two).
    storage: FloatStorage,
}

impl<'a> NodeCx<'a> {
    /// The context of node `id`.
    pub fn new(lw: &'a Lowerer<'a>, id: NodeId) -> NodeCx<'a> {
        let node = lw.graph.node(id);
        let f16 = node
            .inputs
            .iter()
            .chain(&node.outputs)
            .any(|t| lw.graph.tensors[t.index()].dtype == DType::F16);
        NodeCx {
            lw,
            id,
            name: Arc::from(node.name.as_str()),
            storage: if f16 { lw.f16 } else { FloatStorage::F32 },
        }
    }

    /// The one float dtype of the node's tensors (F32 when it has none); `Unsupported` naming
    /// the node and two tensors when it mixes F32 and F16.
    pub fn float_dtype(&self) -> Result<DType, RuntimeError> {
        let node = self.lw.graph.node(self.id);
        let tensors = &self.lw.graph.tensors;
        let find = |d: DType| {
            node.inputs
                .iter()
                .chain(&node.outputs)
                .map(|t| &tensors[t.index()])
                .find(|t| t.dtype == d)
        };
        match (find(DType::F32), find(DType::F16)) {
            (Some(a), Some(b)) => Err(self.unsupported(format!(
                "mixes float dtypes: tensor {} is f32, tensor {} is f16 (one float dtype per node)",
                a.name, b.name
            ))),
            (_, Some(_)) => Ok(DType::F16),
            _ => Ok(DType::F32),
        }
    }

    /// Bytes per element of this node's float tensors (4 for f32, 2 for f16).
    pub fn esize(&self) -> u64 {
        self.storage.element_bytes()
    }

    /// Whether this node's float tensors are f32: the subgroup and vec4 kernel variants are
    /// chosen only then (they are measured and tested in f32; f16 nodes use the plain kernels).
    pub fn is_f32(&self) -> bool {
        self.storage == FloatStorage::F32
    }

    fn op(&self) -> &'static str {
        self.lw.graph.node(self.id).op.name()
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A step of this node with `params` as its uniform block.
    pub fn step<P: ParamsStruct>(
        &self,
        kernel: Kernel,
        bindings: Vec<Region>,
        params: &P,
        groups: [u32; 3],
    ) -> Step {
        Step {
            node: Arc::clone(&self.name),
            kernel,
            storage: self.storage,
            bindings,
            params: block(params),
            groups,
        }
    }

    /// `Unsupported` naming this node.
    pub fn unsupported(&self, detail: impl Into<String>) -> RuntimeError {
        RuntimeError::Unsupported {
            node: self.name.to_string(),
            op: self.op(),
            detail: detail.into(),
        }
    }

    /// `DispatchTooLarge` naming this node.
    pub fn too_large(&self, detail: impl Into<String>) -> RuntimeError {
        RuntimeError::DispatchTooLarge {
            node: self.name.to_string(),
            op: self.op(),
            detail: detail.into(),
        }
    }

    /// Input `i` of the node.
    pub fn input(&self, i: usize) -> Result<TensorId, RuntimeError> {
        self.lw
            .graph
            .node(self.id)
            .inputs
            .get(i)
            .copied()
            .ok_or_else(|| self.unsupported(format!("missing input {i}")))
    }

    /// Number of inputs of the node.
    pub fn input_count(&self) -> usize {
        self.lw.graph.node(self.id).inputs.len()
    }

    /// The node's (first) output.
    pub fn output(&self) -> Result<TensorId, RuntimeError> {
        self.lw
            .graph
            .node(self.id)
            .outputs
            .first()
            .copied()
            .ok_or_else(|| self.unsupported("no output"))
    }

    /// The dimensions of tensor `t`.
    pub fn dims(&self, t: TensorId) -> &'a [usize] {
        self.lw.graph.tensors[t.index()].shape.dims()
    }

    /// Dimension `axis` of `t` as u64, or an error naming the axis.
    pub fn dim(&self, t: TensorId, axis: usize) -> Result<u64, RuntimeError> {
        self.dims(t).get(axis).map(|&d| d as u64).ok_or_else(|| {
            self.unsupported(format!(
                "tensor {} has rank {}, axis {axis} is missing",
                self.lw.graph.tensors[t.index()].name,
                self.dims(t).len()
            ))
        })
    }

    /// The element count of tensor `t`.
    pub fn numel(&self, t: TensorId) -> u64 {
        self.lw.graph.tensors[t.index()].shape.numel()
    }

    /// The storage region of tensor `t` (its bytes rounded up to whole 32-bit words).
    pub fn region(&self, t: TensorId) -> Result<Region, RuntimeError> {
        let tensor = &self.lw.graph.tensors[t.index()];
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

    /// The node's workspace, which must hold at least `needed` bytes.
    pub fn workspace(&self, needed: u64) -> Result<Region, RuntimeError> {
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
                self.name,
                self.op()
            ))),
        }
    }

    /// `x` as a 32-bit kernel parameter, or DispatchTooLarge naming `what`.
    pub fn u32_of(&self, x: u64, what: &str) -> Result<u32, RuntimeError> {
        u32::try_from(x)
            .map_err(|_| self.too_large(format!("{what} = {x} does not fit 32-bit indices")))
    }

    /// `values` (at most MAX_RANK) as a zero-padded MAX_RANK array of 32-bit parameters.
    pub fn words8(&self, values: &[u64], what: &str) -> Result<[u32; MAX_RANK], RuntimeError> {
        self.check_rank(values.len())?;
        let mut out = [0u32; MAX_RANK];
        for (o, &v) in out.iter_mut().zip(values) {
            *o = self.u32_of(v, what)?;
        }
        Ok(out)
    }

    /// Workgroups for `threads` threads of WORKGROUP_SIZE, folded past the per-dimension limit.
    pub fn groups_1d(&self, threads: u64) -> Result<[u32; 3], RuntimeError> {
        self.u32_of(threads, "element count")?;
        self.grid(threads.div_ceil(u64::from(WORKGROUP_SIZE)))
    }

    /// `n` workgroups folded into an x by y by z grid, each at most the per-dimension limit; the
    /// WGSL recovers the linear index as (z * Y + y) * X + x and skips indices past `n`.
    pub fn grid(&self, n: u64) -> Result<[u32; 3], RuntimeError> {
        fold_grid(n, self.lw.max_groups)
            .ok_or_else(|| self.too_large(format!("{n} workgroups do not fit the dispatch grid")))
    }

    /// `Unsupported` past MAX_RANK axes.
    pub fn check_rank(&self, rank: usize) -> Result<(), RuntimeError> {
        if rank > MAX_RANK {
            return Err(self.unsupported(format!("rank {rank} exceeds MAX_RANK = {MAX_RANK}")));
        }
        Ok(())
    }

    /// True when the output shares its first input's location (same rule as
    /// [`MemoryLayout::is_in_place`](crate::layout::MemoryLayout::is_in_place), for any
    /// placement).
    pub fn in_place(&self) -> bool {
        let node = self.lw.graph.node(self.id);
        match (node.inputs.first(), node.outputs.first()) {
            (Some(&i), Some(&o)) => {
                !node.op.is_view() && self.lw.place.tensor(i) == self.lw.place.tensor(o)
            }
            _ => false,
        }
    }
}

/// `n` workgroups as `[x, y, z]` with every count at most `max` (at least 1) and
/// `x * y * z >= n`, the linear index `(z * y_count + y) * x_count + x` fitting 32 bits; `None`
/// when no such grid exists. Small counts stay 1-D.
pub(super) fn fold_grid(n: u64, max: u32) -> Option<[u32; 3]> {
    let max = u64::from(max.max(1));
    let x = n.min(max);
    let rest = n.div_ceil(x.max(1));
    let y = rest.min(max);
    let z = rest.div_ceil(y.max(1));
    if z > max || x.checked_mul(y)?.checked_mul(z)? > u64::from(u32::MAX) + 1 {
        return None;
    }
    Some([
        u32::try_from(x).ok()?,
        u32::try_from(y).ok()?,
        u32::try_from(z).ok()?,
    ])
}

/// `params` as one zero-padded block of `PARAMS_BYTES / 4` words.
pub(super) fn block<P: ParamsStruct>(params: &P) -> Vec<u32> {
    const { assert!(std::mem::size_of::<P>() as u64 <= PARAMS_BYTES) };
    let mut words: Vec<u32> = bytemuck::cast_slice(bytemuck::bytes_of(params)).to_vec();
    words.resize((PARAMS_BYTES / 4) as usize, 0);
    words
}

/// Row-major strides of `dims`, in elements.
pub(super) fn contiguous_strides(dims: &[usize]) -> Vec<u64> {
    let mut s = vec![1u64; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1] as u64;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::shaders::NormParams;

    #[test]
    fn every_params_block_is_one_block() {
        let b = block(&NormParams {
            rows: 1,
            cols: 2,
            eps: 0.5,
            _pad: 0,
        });
        assert_eq!(b.len() as u64 * 4, PARAMS_BYTES);
        assert_eq!(&b[..3], &[1, 2, 0.5f32.to_bits()]);
    }

    #[test]
    fn grids_fold_into_two_and_three_dimensions() {
        assert_eq!(fold_grid(0, 65535), Some([0, 0, 0]));
        assert_eq!(fold_grid(7, 65535), Some([7, 1, 1]));
        assert_eq!(fold_grid(65535, 65535), Some([65535, 1, 1]));
        assert_eq!(fold_grid(65536, 65535), Some([65535, 2, 1]));
        assert_eq!(fold_grid(10, 3), Some([3, 3, 2]));
        assert_eq!(fold_grid(27, 3), Some([3, 3, 3]));
        assert_eq!(fold_grid(28, 3), None);
        for n in [1u64, 2, 5, 9, 10, 26, 27] {
            let [x, y, z] = fold_grid(n, 3).expect("fits");
            let cover = u64::from(x) * u64::from(y) * u64::from(z);
            assert!(cover >= n, "{n}");
            assert!(
                u64::from(x) * u64::from(y) * u64::from(z - 1) < n,
                "{n}: z minimal"
            );
        }
        // Past 32-bit linear indices.
        assert_eq!(fold_grid(1 << 33, 65535), None);
    }
}
