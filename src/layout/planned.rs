//! The planned layout: weights in the persistent region, every other tensor and workspace at
//! `weights_bytes + plan.offsets[buffer]` as decided by a planner over a [`MemoryAnalysis`].

use super::{MemoryLayout, advance, place_weights};
use crate::analysis::MemoryAnalysis;
use crate::graph::Graph;
use crate::plan::{Plan, PlanError};

/// Places the graph's tensors using `plan` (one offset per buffer of `analysis.problem`).
///
/// Errors: [`PlanError::OffsetCount`] when the plan does not match the problem;
/// [`PlanError::SizeOverflow`] when the weights plus the arena do not fit in a `u64`.
pub fn planned_layout(
    graph: &Graph,
    analysis: &MemoryAnalysis,
    plan: &Plan,
    alignment: u64,
) -> Result<MemoryLayout, PlanError> {
    if plan.offsets.len() != analysis.problem.buffers.len() {
        return Err(PlanError::OffsetCount {
            expected: analysis.problem.buffers.len(),
            got: plan.offsets.len(),
        });
    }
    let mut offsets = vec![0u64; graph.tensors.len()];
    let base = place_weights(graph, alignment, &mut offsets)?;
    // The arena rounded to whole 4-byte words; the end of the buffer must fit too.
    let arena_bytes = advance(0, plan.arena_bytes, 4, "arena")?;
    advance(base, arena_bytes, 1, "arena after the weights")?;
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
    Ok(MemoryLayout {
        alignment,
        weights_bytes: base,
        arena_bytes,
        tensor_offsets: offsets,
        workspace_offsets,
        workspace_bytes: analysis.workspace_request.clone(),
    })
}
