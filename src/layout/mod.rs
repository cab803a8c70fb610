//! The memory layout of a graph inside ONE device buffer: a persistent region for weights, then
//! the planned arena for everything with a lifetime (inputs, activations, workspace, outputs).
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
    /// Bytes of the arena `[weights_bytes, weights_bytes + arena_bytes)`.
    pub arena_bytes: u64,
    /// Absolute offset of each tensor (`TensorId` order); views share their source's offset.
    pub tensor_offsets: Vec<u64>,
    /// Absolute offset of each node's workspace (`NodeId` order); `None` when it needs none.
    pub workspace_offsets: Vec<Option<u64>>,
    /// Workspace bytes of each node (0 when none).
    pub workspace_bytes: Vec<u64>,
}

impl MemoryLayout {
    /// Size of the one device buffer. The layout functions refuse layouts where this sum
    /// overflows; for a hand-made layout it saturates.
    pub fn total_bytes(&self) -> u64 {
        self.weights_bytes.saturating_add(self.arena_bytes)
    }

    /// Offset of tensor `t`.
    pub fn offset(&self, t: TensorId) -> u64 {
        self.tensor_offsets[t.index()]
    }

    /// Workspace offset of node `n`, if it has one.
    pub fn workspace(&self, n: NodeId) -> Option<u64> {
        self.workspace_offsets[n.index()]
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
