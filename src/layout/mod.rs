//! The memory layout of a graph inside ONE device buffer: a persistent region for weights, a
//! guard band, the planned arena for everything with a lifetime (inputs, activations, workspace,
//! outputs), and a second guard band. The runtime fills both bands with a sentinel; any guard
//! word that changes during a run is a write outside the plan (see [`GUARD_MIN_BYTES`]).
//!
//! The runtime binds every tensor at `tensor_offsets[t]` and every node's scratch at
//! `workspace_offsets[n]`; it knows nothing about how these were chosen. An op whose output
//! offset equals its first input's offset runs its in-place kernel variant.

mod naive;
mod planned;

pub use naive::naive_layout;
pub use planned::planned_layout;

use crate::bytes::align_up;
use crate::graph::{Graph, NodeId, TensorId};
use crate::plan::PlanError;
use serde::{Deserialize, Serialize};

/// Byte offsets of every tensor and workspace in the one buffer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryLayout {
    /// Every offset is a multiple of this (the device's `min_storage_buffer_offset_alignment`).
    pub alignment: u64,
    /// Bytes of the persistent weight region `[0, weights_bytes)` (aligned).
    pub weights_bytes: u64,
    /// Bytes of each of the two guard bands, `[weights_bytes, arena_start())` and
    /// `[arena_end(), total_bytes())`: [`guard_band_bytes`] of `alignment`. Nothing is planned
    /// there.
    pub guard_bytes: u64,
    /// Bytes of the arena `[arena_start(), arena_end())`, the plan's arena rounded up to 4.
    pub arena_bytes: u64,
    /// Absolute offset of each tensor (`TensorId` order); views share their source's offset.
    pub tensor_offsets: Vec<u64>,
    /// Absolute offset of each node's workspace (`NodeId` order); `None` when it needs none.
    pub workspace_offsets: Vec<Option<u64>>,
    /// Workspace bytes of each node (0 when none).
    pub workspace_bytes: Vec<u64>,
    /// The graph inputs streamed into the arena during the run, in step order: the runtime
    /// keeps their bytes in a host-upload staging buffer beside the one buffer and copies each
    /// into its arena offset right before its step. Empty when every input is uploaded before
    /// the run (layouts written before this field existed).
    #[serde(default)]
    pub streamed_inputs: Vec<StreamedInput>,
}

/// A graph input the runtime copies from the staging buffer into the arena during the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamedInput {
    /// The input tensor.
    pub tensor: TensorId,
    /// The schedule position (node index in the graph's order) before which it is copied: its
    /// first reader's, where its planned lifetime starts.
    pub step: u64,
}

impl MemoryLayout {
    /// Size of the one device buffer: weights, guard band, arena, guard band.
    pub fn total_bytes(&self) -> u64 {
        self.arena_end().saturating_add(self.guard_bytes)
    }

    /// Absolute offset of the first arena byte (after the weights and the first guard band).
    pub fn arena_start(&self) -> u64 {
        self.weights_bytes.saturating_add(self.guard_bytes)
    }

    /// Absolute offset one past the last arena byte (where the second guard band starts).
    pub fn arena_end(&self) -> u64 {
        self.arena_start().saturating_add(self.arena_bytes)
    }

    /// The two guard bands as `(offset, bytes)`: between the weights and the arena, and after
    /// the arena.
    pub fn guard_bands(&self) -> [(u64, u64); 2] {
        [
            (self.weights_bytes, self.guard_bytes),
            (self.arena_end(), self.guard_bytes),
        ]
    }

    /// Offset of tensor `t`.
    pub fn offset(&self, t: TensorId) -> u64 {
        self.tensor_offsets[t.index()]
    }

    /// Workspace offset of node `n`, if it has one.
    pub fn workspace(&self, n: NodeId) -> Option<u64> {
        self.workspace_offsets[n.index()]
    }

    /// Bytes of the host-upload staging buffer the streamed inputs need beside the one buffer:
    /// each streamed input rounded up to 4 bytes (copies move whole words).
    pub fn staging_bytes(&self, graph: &Graph) -> u64 {
        self.streamed_inputs
            .iter()
            .map(|s| align_up(graph.tensors[s.tensor.index()].size_bytes(), 4).unwrap_or(u64::MAX))
            .fold(0u64, u64::saturating_add)
    }

    /// True when node `n` writes its output over its first input (in-place).
    pub fn is_in_place(&self, graph: &Graph, n: NodeId) -> bool {
        let node = graph.node(n);
        match (node.inputs.first(), node.outputs.first()) {
            (Some(&i), Some(&o)) => !node.op.is_view() && self.offset(i) == self.offset(o),
            _ => false,
        }
    }
}

/// Lays the weights out end to end from offset 0 (each aligned), writing their offsets into
/// `offsets`; returns the aligned size of the weight region, or an overflow error.
fn place_weights(graph: &Graph, alignment: u64, offsets: &mut [u64]) -> Result<u64, PlanError> {
    let mut cursor = 0u64;
    for (i, t) in graph.tensors.iter().enumerate() {
        if t.kind == crate::graph::TensorKind::Weight {
            offsets[i] = cursor;
            cursor = advance(cursor, t.size_bytes(), alignment, &t.name)?;
        }
    }
    Ok(cursor)
}

/// Smallest guard band: 4 KiB, i.e. 1024 words. The commonest out-of-plan write is a kernel
/// whose last workgroup (256 threads in `shaders/`) or last 16 x 16 tile is not masked, so it
/// writes up to a few hundred words past its tensor; a band of 1024 words holds such an
/// overrun whole, so the reported extent is the overrun's, not just its first word. Any longer
/// overrun still starts inside the band (writes are contiguous from the binding's offset, and a
/// binding cannot reach past the buffer's end), so it is still caught. The cost is 8 KiB of
/// device memory per buffer.
pub const GUARD_MIN_BYTES: u64 = 4096;

/// Bytes of each guard band for offset alignment `alignment`: [`GUARD_MIN_BYTES`] rounded up to
/// a multiple of `alignment`, so the arena that follows the first band stays aligned (on
/// lavapipe, alignment 32: 4096 B; on GPUs with alignment 256: 4096 B).
pub fn guard_band_bytes(alignment: u64) -> u64 {
    // Alignments are at most 2^32 (`bytes::check_alignment`), so this cannot overflow.
    align_up(GUARD_MIN_BYTES, alignment.max(1)).unwrap_or(u64::MAX)
}

/// `align_up(cursor + bytes, alignment)`, or an overflow error naming what is placed.
fn advance(cursor: u64, bytes: u64, alignment: u64, what: &str) -> Result<u64, PlanError> {
    cursor
        .checked_add(bytes)
        .and_then(|end| align_up(end, alignment))
        .ok_or_else(|| PlanError::SizeOverflow {
            what: format!(
                "layout: `{what}` ({bytes} bytes) at offset {cursor}, aligned to {alignment}"
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{DType, GraphBuilder, Init};

    fn graph() -> Graph {
        let mut b = GraphBuilder::new();
        let w = b.weight("w", &[3], 1, 1.0);
        let x = b.input("x", &[3], DType::F32, Init::Constant(1.0));
        let y = b.add("y", x, w).expect("add");
        b.output(y);
        b.build().expect("graph")
    }

    #[test]
    fn guard_bands_are_4_kib_rounded_up_to_the_alignment() {
        assert_eq!(guard_band_bytes(32), 4096);
        assert_eq!(guard_band_bytes(256), 4096);
        assert_eq!(guard_band_bytes(3), 4098);
        assert_eq!(guard_band_bytes(8192), 8192);
    }

    #[test]
    fn the_arena_sits_between_two_guard_bands() {
        let l = naive_layout(&graph(), 32).expect("layout");
        assert_eq!((l.weights_bytes, l.guard_bytes), (32, 4096));
        assert_eq!(l.arena_start(), 32 + 4096);
        assert_eq!(l.arena_bytes, 64, "x and y, 32 bytes each");
        assert_eq!(l.guard_bands(), [(32, 4096), (4192, 4096)]);
        assert_eq!(l.total_bytes(), 4192 + 4096);
        let g = graph();
        for t in g.tensor_ids() {
            let off = l.offset(t);
            let in_weights = off + 12 <= l.weights_bytes;
            let in_arena = off >= l.arena_start() && off + 12 <= l.arena_end();
            assert!(in_weights || in_arena, "{t} at {off} is in a guard band");
        }
    }
}
