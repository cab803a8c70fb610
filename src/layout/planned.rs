//! The planned layout: weights in the persistent region, every other tensor and workspace at
//! `arena_start() + plan.offsets[buffer]` as decided by a planner over a [`MemoryAnalysis`]
//! (the arena starts after the weights and the first guard band).

use super::{MemoryLayout, align_up, guard_band_bytes, place_weights};
use crate::analysis::MemoryAnalysis;
use crate::graph::Graph;
use crate::plan::Plan;

/// Places the graph's tensors using `plan` (one offset per buffer of `analysis.problem`).
/// Returns `None` when the plan does not match the problem (wrong number of offsets).
pub fn planned_layout(
    graph: &Graph,
    analysis: &MemoryAnalysis,
    plan: &Plan,
    alignment: u64,
) -> Option<MemoryLayout> {
    if plan.offsets.len() != analysis.problem.buffers.len() {
        return None;
    }
    let mut offsets = vec![0u64; graph.tensors.len()];
    let weights_bytes = place_weights(graph, alignment, &mut offsets);
    let guard_bytes = guard_band_bytes(alignment);
    let base = weights_bytes.saturating_add(guard_bytes);
    for (i, b) in analysis.tensor_buffer.iter().enumerate() {
        if let Some(b) = b {
            offsets[i] = base + plan.offsets[b.index()];
        }
    }
    let workspace_offsets = analysis
        .node_workspace
        .iter()
        .map(|b| b.map(|b| base + plan.offsets[b.index()]))
        .collect();
    Some(MemoryLayout {
        alignment,
        weights_bytes,
        guard_bytes,
        arena_bytes: align_up(plan.arena_bytes, 4),
        tensor_offsets: offsets,
        workspace_offsets,
        workspace_bytes: analysis.workspace_request.clone(),
    })
}
