//! Reference counts and liveness intervals over a schedule, with zero-copy views resolved to
//! the tensor that owns the bytes (a view's uses extend its source's lifetime).
//!
//! Graph inputs are live from step 0 (uploaded before the run), or, when they are *streamed*
//! ([`liveness_with`]), from their first reader's step: the runtime copies each streamed input
//! from a host-upload staging buffer into the arena right before that step, as a data loader
//! feeding micro-batches would, so its arena bytes are free until then.

use crate::graph::{Graph, TensorId, TensorKind};

/// Per-tensor facts over the default schedule (the graph's node order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Liveness {
    /// Number of steps (nodes).
    pub steps: u64,
    /// The tensor owning each tensor's bytes (itself unless it is a view).
    pub root: Vec<TensorId>,
    /// Number of node inputs reading each tensor (seed 5.2.2's reference count).
    pub refcount: Vec<u32>,
    /// Step producing each tensor (`None` for inputs and weights).
    pub def: Vec<Option<u64>>,
    /// Last step reading the tensor's bytes through it or any view of it (roots only).
    pub last_use: Vec<Option<u64>>,
    /// True for graph outputs and for roots that a graph output is a view of.
    pub pinned_to_end: Vec<bool>,
    /// First step reading the tensor's bytes through it or any view of it (roots only).
    pub first_use: Vec<Option<u64>>,
    /// Graph inputs are streamed: live from their first reader's step (the module doc), not
    /// from step 0.
    pub streamed_inputs: bool,
}

impl Liveness {
    /// The half-open lifetime `[start, end)` of a root tensor's bytes, `None` for weights and for
    /// tensors that are views or never live.
    pub fn interval(&self, graph: &Graph, t: TensorId) -> Option<(u64, u64)> {
        let i = t.index();
        if self.root[i] != t || graph.tensors[i].kind == TensorKind::Weight {
            return None;
        }
        let start = match graph.tensors[i].kind {
            TensorKind::Input => self.input_start(t),
            _ => self.def[i]?,
        };
        let end = if self.pinned_to_end[i] {
            self.steps.max(start + 1)
        } else {
            self.last_use[i].map_or(start, |u| u.max(start)) + 1
        };
        Some((start, end))
    }

    /// The step from which graph input `t` (a root) must hold its bytes in the arena: 0 when
    /// inputs are uploaded before the run, its first reader's step when they are streamed (0
    /// when nothing reads it).
    pub fn input_start(&self, t: TensorId) -> u64 {
        match self.streamed_inputs {
            true => self.first_use[t.index()].unwrap_or(0),
            false => 0,
        }
    }
}

/// Computes [`Liveness`] for the graph's node order, inputs live from step 0. Assumes a
/// validated graph.
pub fn liveness(graph: &Graph) -> Liveness {
    liveness_with(graph, false)
}

/// [`liveness`] with the graph inputs streamed when `streamed_inputs` is set (module doc).
pub fn liveness_with(graph: &Graph, streamed_inputs: bool) -> Liveness {
    let n = graph.tensors.len();
    let mut root: Vec<TensorId> = graph.tensor_ids().collect();
    let mut def = vec![None; n];
    let mut refcount = vec![0u32; n];
    let mut last_use = vec![None; n];
    let mut first_use: Vec<Option<u64>> = vec![None; n];
    for (step, node) in graph.nodes.iter().enumerate() {
        let step = step as u64;
        for &i in &node.inputs {
            refcount[i.index()] += 1;
            let r = root[i.index()];
            last_use[r.index()] = Some(step);
            first_use[r.index()].get_or_insert(step);
        }
        for &o in &node.outputs {
            def[o.index()] = Some(step);
            if node.op.is_view()
                && let Some(&src) = node.inputs.first()
            {
                root[o.index()] = root[src.index()];
            }
        }
    }
    let mut pinned_to_end = vec![false; n];
    for &o in &graph.outputs {
        pinned_to_end[root[o.index()].index()] = true;
    }
    Liveness {
        steps: graph.nodes.len() as u64,
        root,
        refcount,
        def,
        last_use,
        pinned_to_end,
        first_use,
        streamed_inputs,
    }
}
