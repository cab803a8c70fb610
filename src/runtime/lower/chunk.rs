//! Splitting one op over several storage bindings when a tensor is larger than the device's
//! `max_storage_buffer_binding_size` (128 MiB on lavapipe and WebGPU's default: gpt2-small's
//! token embedding and its logits are larger). The tensors stay whole in the arena; only the
//! bindings are smaller, each covering a block of rows at a byte offset the device accepts
//! (a multiple of `min_storage_buffer_offset_alignment`).
//!
//! Two ways to meet the alignment: kernels that take element offsets (the GEMM) bind from the
//! block's start rounded down to the alignment and skip the difference ([`NodeCx::sub_from`]);
//! the others bind whole rows and choose block sizes whose starts are aligned
//! ([`NodeCx::aligned_unit`], [`NodeCx::sub_aligned`]). A tensor whose single row (or smallest
//! aligned block of rows) cannot fit one binding is refused with
//! [`RuntimeError::RowTooLarge`]. After lowering, [`NodeCx::check_bindings`] refuses any binding
//! still over the limit (ops without a chunked lowering), naming the tensor.

use super::cx::NodeCx;
use super::{Region, Step, round4};
use crate::graph::TensorId;
use crate::runtime::RuntimeError;

impl NodeCx<'_> {
    /// The device's largest storage binding in bytes.
    pub fn max_binding(&self) -> u64 {
        self.lw.max_binding
    }

    /// `min_storage_buffer_offset_alignment` (at least 4; a power of two on every device).
    pub fn align(&self) -> u64 {
        self.lw.align.max(4)
    }

    /// Bytes a binding may start before the data it serves when its start is rounded down to
    /// the alignment ([`NodeCx::sub_from`]).
    pub fn slack(&self) -> u64 {
        self.align() - self.esize()
    }

    /// True when every binding of `regions` fits one storage binding.
    pub fn all_fit(&self, regions: &[Region]) -> bool {
        regions.iter().all(|r| r.size <= self.max_binding())
    }

    /// The fewest rows of `row_bytes` whose total is a multiple of the alignment, so blocks of
    /// a multiple of this many rows start at aligned offsets: `align / gcd(row_bytes, align)`.
    pub fn aligned_unit(&self, row_bytes: u64) -> u64 {
        let align = self.align();
        let gcd = if row_bytes == 0 {
            align
        } else {
            (1u64 << row_bytes.trailing_zeros().min(63)).min(align)
        };
        align / gcd
    }

    /// Rows of tensor `t` (rows of `row_bytes`) per binding: the most that fit the limit after
    /// `slack` bytes, rounded down to a multiple of `unit`; [`RuntimeError::RowTooLarge`] when
    /// not even `unit` rows fit.
    pub fn chunk_rows(
        &self,
        t: TensorId,
        row_bytes: u64,
        unit: u64,
        slack: u64,
    ) -> Result<u64, RuntimeError> {
        let unit = unit.max(1);
        let fit = self.max_binding().saturating_sub(slack) / row_bytes.max(1);
        let rows = fit / unit * unit;
        if rows > 0 {
            return Ok(rows);
        }
        // Name one row when one row alone is too large, else the smallest aligned block.
        let one_row = row_bytes.saturating_add(slack) > self.max_binding();
        let rows = if one_row { 1 } else { unit };
        Err(RuntimeError::RowTooLarge {
            tensor: self.tensor_name(t).to_string(),
            node: self.name().to_string(),
            row_bytes,
            rows,
            bytes: rows.saturating_mul(row_bytes).saturating_add(slack),
            limit: self.max_binding(),
        })
    }

    /// Bytes `[start, end)` of `r` as one binding; `start` must keep the binding aligned (the
    /// caller sized its blocks with [`NodeCx::aligned_unit`]).
    pub fn sub_aligned(&self, r: Region, start: u64, end: u64) -> Region {
        Region {
            buffer: r.buffer,
            offset: r.offset + start,
            size: round4(end - start),
        }
    }

    /// Bytes `[start, end)` of `r` bound from `start` rounded down to the alignment, and the
    /// float elements ([`NodeCx::esize`] bytes each) between the binding's start and `start`
    /// (the kernel's element offset).
    pub fn sub_from(&self, r: Region, start: u64, end: u64) -> Result<(Region, u32), RuntimeError> {
        let from = r.offset + start;
        let bound = from - from % self.align();
        let skip = (from - bound) / self.esize();
        let region = Region {
            buffer: r.buffer,
            offset: bound,
            size: round4(r.offset + end - bound),
        };
        Ok((region, self.u32_of(skip, "element offset")?))
    }

    /// [`RuntimeError::BindingTooLarge`] for the first binding of `steps` over the limit, naming
    /// the node's tensor (or workspace) it belongs to.
    pub fn check_bindings(&self, steps: &[Step]) -> Result<(), RuntimeError> {
        let limit = self.max_binding();
        let Some(big) = steps
            .iter()
            .flat_map(|s| &s.bindings)
            .find(|r| r.size > limit)
        else {
            return Ok(());
        };
        let node = self.lw.graph.node(self.id);
        let owner = node
            .inputs
            .iter()
            .chain(&node.outputs)
            .find(|&&t| {
                let loc = self.lw.place.tensor(t);
                let bytes = self.lw.graph.tensors[t.index()].size_bytes();
                loc.buffer == big.buffer
                    && loc.offset <= big.offset
                    && big.offset < loc.offset + bytes
            })
            .map_or_else(
                || format!("workspace of node {}", node.name),
                |&t| format!("tensor {} of node {}", self.tensor_name(t), node.name),
            );
        Err(RuntimeError::BindingTooLarge {
            tensor: format!(
                "{owner} ({}, which cannot be split over bindings)",
                node.op.name()
            ),
            bytes: big.size,
            limit,
        })
    }

    /// The name of tensor `t`.
    pub fn tensor_name(&self, t: TensorId) -> &str {
        &self.lw.graph.tensors[t.index()].name
    }
}

/// `[start, end)` blocks of `len` items, each at most `block` long (one block when `block` is
/// 0 or at least `len`).
pub(super) fn blocks(len: u64, block: u64) -> impl Iterator<Item = (u64, u64)> {
    let step = if block == 0 { len.max(1) } else { block };
    (0..len.div_ceil(step)).map(move |i| (i * step, ((i + 1) * step).min(len)))
}

/// Least common multiple (0 when either is 0), saturating.
pub(super) fn lcm(a: u64, b: u64) -> u64 {
    if a == 0 || b == 0 {
        return 0;
    }
    let (mut x, mut y) = (a, b);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    (a / x).saturating_mul(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_the_range_once() {
        let b: Vec<_> = blocks(10, 4).collect();
        assert_eq!(b, vec![(0, 4), (4, 8), (8, 10)]);
        assert_eq!(blocks(10, 0).collect::<Vec<_>>(), vec![(0, 10)]);
        assert_eq!(blocks(10, 10).collect::<Vec<_>>(), vec![(0, 10)]);
        assert_eq!(blocks(0, 3).count(), 0);
    }

    /// gpt2-small as lowered for a device with WebGPU's default 128 MiB binding limit and a
    /// real GPU's 256-byte offset alignment (lavapipe's is 32): every binding fits and starts
    /// aligned, the token table is gathered in 2 blocks and the tied head runs in 2 x 2 blocks.
    #[test]
    fn gpt2_small_lowers_within_128_mib_bindings_at_256_byte_alignment() {
        use crate::models::{ModelOptions, build};
        use crate::runtime::lower::Lowerer;
        let graph = build("gpt2-small", &ModelOptions::default()).expect("gpt2-small");
        let layout = crate::layout::naive_layout(&graph, 256).expect("layout");
        let limit = 128 << 20;
        let lowerer = Lowerer {
            graph: &graph,
            place: &layout,
            max_groups: 65_535,
            max_binding: limit,
            align: 256,
            gemm: crate::runtime::GemmKernel::Tiled,
            subgroups: false,
            vec4: false,
            f16: crate::runtime::shaders::FloatStorage::F16Packed,
        };
        let largest = graph.tensors.iter().map(|t| t.size_bytes()).max();
        assert!(largest > Some(limit), "{largest:?}");
        for id in graph.node_ids() {
            let name = &graph.node(id).name;
            let steps = lowerer.lower(id).unwrap_or_else(|e| panic!("{name}: {e}"));
            for r in steps.iter().flat_map(|s| &s.bindings) {
                assert!(r.size <= limit && r.offset % 256 == 0, "{name}: {r:?}");
            }
            let count = |n: &str| (name == n).then_some(steps.len());
            if let Some(n) = count("lm_head") {
                assert_eq!(n, 4, "rows and columns of the tied head");
            }
            if let Some(n) = count("tok_embed") {
                assert_eq!(n, 2);
            }
        }
    }

    #[test]
    fn lcm_of_small_numbers() {
        assert_eq!(lcm(8, 12), 24);
        assert_eq!(lcm(8, 768), 768);
        assert_eq!(lcm(7, 8), 56);
        assert_eq!(lcm(0, 8), 0);
    }
}
