//! The planned layout: weights in the persistent region, every other tensor and workspace at
//! `arena_start() + plan.offsets[buffer]` as decided by a planner over a [`MemoryAnalysis`]
//! (the arena starts after the weights and the first guard band).

use super::StreamedInput;
use super::{MemoryLayout, advance, guard_band_bytes, place_weights};
use crate::analysis::{Liveness, MemoryAnalysis};
use crate::graph::{Graph, TensorKind};
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
    let weights_bytes = place_weights(graph, alignment, &mut offsets)?;
    let guard_bytes = guard_band_bytes(alignment);
    let base = advance(weights_bytes, guard_bytes, 1, "guard band")?;
    // The arena rounded to whole 4-byte words; the end of the buffer, with the second guard
    // band, must fit too.
    let arena_bytes = advance(0, plan.arena_bytes, 4, "arena")?;
    let end = advance(base, arena_bytes, 1, "arena after the weights")?;
    advance(end, guard_bytes, 1, "guard band after the arena")?;
    for (i, b) in analysis.tensor_buffer.iter().enumerate() {
        if let Some(b) = b {
            offsets[i] = base + plan.offsets[b.index()];
        }
    }
    // A view of a weight (a reshape of it, or an optimizer update rewriting it in place) has
    // no arena buffer: it shares the weight's bytes.
    for node in &graph.nodes {
        if let (true, Some(&src), Some(&out)) =
            (node.op.is_view(), node.inputs.first(), node.outputs.first())
            && analysis.tensor_buffer[out.index()].is_none()
        {
            offsets[out.index()] = offsets[src.index()];
        }
    }
    let workspace_offsets = analysis
        .node_workspace
        .iter()
        .map(|b| b.map(|b| base + plan.offsets[b.index()]))
        .collect();
    Ok(MemoryLayout {
        alignment,
        weights_bytes,
        guard_bytes,
        arena_bytes,
        tensor_offsets: offsets,
        workspace_offsets,
        workspace_bytes: analysis.workspace_request.clone(),
        streamed_inputs: streamed_inputs(graph, &analysis.liveness),
    })
}

/// The graph inputs to stream when the analysis streamed them: each input root that holds
/// bytes, copied at the step its lifetime starts, in step order (then tensor order).
fn streamed_inputs(graph: &Graph, live: &Liveness) -> Vec<StreamedInput> {
    if !live.streamed_inputs {
        return Vec::new();
    }
    let mut out: Vec<StreamedInput> = graph
        .tensors_of_kind(TensorKind::Input)
        .into_iter()
        .filter(|&t| live.root[t.index()] == t && graph.tensors[t.index()].size_bytes() > 0)
        .map(|t| StreamedInput {
            tensor: t,
            step: live.input_start(t),
        })
        .collect();
    out.sort_by_key(|s| (s.step, s.tensor));
    out
}
