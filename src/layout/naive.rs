//! The naive layout: every tensor and workspace in its own region, nothing reused. It is the
//! baseline the planned arena is compared against, and a layout that is trivially correct.

use super::{MemoryLayout, advance, guard_band_bytes, place_weights};
use crate::graph::{Graph, TensorKind};
use crate::plan::PlanError;

/// Lays out weights first, then a guard band, then every other tensor and every workspace end
/// to end (the arena), then the second guard band.
/// Errors: [`PlanError::SizeOverflow`] when the buffer would exceed 2^64 bytes.
pub fn naive_layout(graph: &Graph, alignment: u64) -> Result<MemoryLayout, PlanError> {
    let mut offsets = vec![0u64; graph.tensors.len()];
    let weights_bytes = place_weights(graph, alignment, &mut offsets)?;
    let guard_bytes = guard_band_bytes(alignment);
    let arena_start = advance(weights_bytes, guard_bytes, 1, "guard band")?;
    let mut cursor = arena_start;
    let producers = graph.producers();
    for (i, t) in graph.tensors.iter().enumerate() {
        let is_view = producers[i].is_some_and(|n| graph.node(n).op.is_view());
        if t.kind != TensorKind::Weight && !is_view {
            offsets[i] = cursor;
            cursor = advance(cursor, t.size_bytes(), alignment, &t.name)?;
        }
    }
    // Views share the bytes of their source (sources precede views in schedule order).
    for node in &graph.nodes {
        if let (true, Some(&src), Some(&out)) =
            (node.op.is_view(), node.inputs.first(), node.outputs.first())
        {
            offsets[out.index()] = offsets[src.index()];
        }
    }
    let mut ws_off = vec![None; graph.nodes.len()];
    let mut ws_bytes = vec![0u64; graph.nodes.len()];
    for (i, id) in graph.node_ids().enumerate() {
        let bytes = graph.workspace_bytes(id);
        if bytes > 0 {
            ws_off[i] = Some(cursor);
            ws_bytes[i] = bytes;
            cursor = advance(cursor, bytes, alignment, "workspace")?;
        }
    }
    Ok(MemoryLayout {
        alignment,
        weights_bytes,
        guard_bytes,
        arena_bytes: cursor.saturating_sub(arena_start),
        tensor_offsets: offsets,
        workspace_offsets: ws_off,
        workspace_bytes: ws_bytes,
        streamed_inputs: Vec::new(),
    })
}
