//! What checkpointing needs to know about a training graph's forward pass: who produces each
//! tensor, which forward activations the backward pass reads, and the segments ("layers").
//!
//! Segment rule: the forward nodes `nodes[..forward_len]` are cut after node `p` when exactly
//! one forward activation produced at or before `p` is still read by a later forward node, and
//! it is node `p`'s own output (an articulation point of the forward graph: everything later
//! depends on the earlier part only through that tensor, e.g. a residual-stream sum). Segment
//! `s` is the run of nodes between two cuts; its input boundary is the output of the last node
//! of segment `s - 1` (segment 0 reads only graph inputs and weights). Graph inputs and weights
//! never count as live: they are always available.

use super::CheckpointError;
use crate::graph::{Graph, TensorId};
use std::ops::Range;

/// The forward pass of a training graph, analysed.
#[derive(Clone, Debug)]
pub(crate) struct Forward {
    /// `nodes[..forward_len]` is the forward pass.
    pub forward_len: usize,
    /// The producing node of each tensor (`None` for inputs and weights).
    pub producer: Vec<Option<usize>>,
    /// Whether a node at or after `forward_len` reads the tensor.
    pub bwd_read: Vec<bool>,
    /// Whether the tensor is a graph output.
    pub output: Vec<bool>,
    /// The storage root of each tensor (views followed to their source).
    pub root: Vec<TensorId>,
    /// Segments as ranges of forward node positions, in order, covering the forward pass.
    pub segments: Vec<Range<usize>>,
    /// The segment of each forward node.
    pub segment_of_node: Vec<usize>,
}

impl Forward {
    /// Analyses `graph` (validated) with the forward pass `nodes[..forward_len]`.
    pub fn new(graph: &Graph, forward_len: usize) -> Result<Forward, CheckpointError> {
        graph.validate()?;
        if forward_len == 0 || forward_len > graph.nodes.len() {
            return Err(CheckpointError::ForwardLen {
                forward_len,
                nodes: graph.nodes.len(),
            });
        }
        let producer: Vec<Option<usize>> = graph
            .producers()
            .into_iter()
            .map(|p| p.map(|n| n.index()))
            .collect();
        let mut bwd_read = vec![false; graph.tensors.len()];
        let mut last_fwd_use = vec![None::<usize>; graph.tensors.len()];
        for (i, node) in graph.nodes.iter().enumerate() {
            for &t in &node.inputs {
                if i >= forward_len {
                    bwd_read[t.index()] = true;
                } else {
                    last_fwd_use[t.index()] = Some(i);
                }
            }
        }
        let mut output = vec![false; graph.tensors.len()];
        for &t in &graph.outputs {
            output[t.index()] = true;
        }
        let mut root: Vec<TensorId> = graph.tensor_ids().collect();
        for node in &graph.nodes {
            if let (true, Some(&src), Some(&out)) =
                (node.op.is_view(), node.inputs.first(), node.outputs.first())
            {
                root[out.index()] = root[src.index()];
            }
        }
        let segments = cut(graph, forward_len, &last_fwd_use);
        let mut segment_of_node = vec![0; forward_len];
        for (s, r) in segments.iter().enumerate() {
            for i in r.clone() {
                segment_of_node[i] = s;
            }
        }
        Ok(Forward {
            forward_len,
            producer,
            bwd_read,
            output,
            root,
            segments,
            segment_of_node,
        })
    }

    /// Number of segments.
    pub fn len(&self) -> usize {
        self.segments.len()
    }

    /// The segment producing `t`, if a forward node produces it.
    pub fn segment_of(&self, t: TensorId) -> Option<usize> {
        self.producer[t.index()]
            .filter(|&p| p < self.forward_len)
            .map(|p| self.segment_of_node[p])
    }

    /// True for tensors a forward node produces (forward activations).
    pub fn is_forward(&self, t: TensorId) -> bool {
        self.segment_of(t).is_some()
    }

    /// The output of segment `s`'s last node: the input boundary of segment `s + 1`.
    pub fn boundary_out(&self, graph: &Graph, s: usize) -> Option<TensorId> {
        let last = self.segments.get(s)?.end.checked_sub(1)?;
        graph.nodes[last].outputs.first().copied()
    }

    /// The input boundary of segment `s` (none for segment 0).
    pub fn boundary_in(&self, graph: &Graph, s: usize) -> Option<TensorId> {
        self.boundary_out(graph, s.checked_sub(1)?)
    }

    /// The forward tensors `none` stores for the backward pass: those the backward reads and
    /// the graph outputs ([`Forward::normalise`] adds the roots of views).
    pub fn stored_by_none(&self) -> Vec<bool> {
        (0..self.producer.len())
            .map(|t| self.is_forward(TensorId(t as u32)) && (self.bwd_read[t] || self.output[t]))
            .collect()
    }

    /// Makes a keep set consistent with views: a view is kept exactly when its root is, and
    /// keeping a view keeps its root; graph outputs are always kept.
    pub fn normalise(&self, keep: &mut [bool]) {
        for t in 0..keep.len() {
            if self.output[t] && self.is_forward(TensorId(t as u32)) {
                keep[t] = true;
            }
            if keep[t] {
                keep[self.root[t].index()] = true;
            }
        }
        let by_root: Vec<bool> = self.root.iter().map(|r| keep[r.index()]).collect();
        keep.copy_from_slice(&by_root);
    }
}

/// The segments of `nodes[..forward_len]` under the rule in the module docs.
fn cut(graph: &Graph, forward_len: usize, last_fwd_use: &[Option<usize>]) -> Vec<Range<usize>> {
    let mut live = 0usize;
    let mut dies_at: Vec<Vec<TensorId>> = vec![Vec::new(); forward_len];
    let mut segments = Vec::new();
    let mut start = 0;
    for p in 0..forward_len {
        let node = &graph.nodes[p];
        let mut own_live = false;
        for &o in &node.outputs {
            if let Some(u) = last_fwd_use[o.index()].filter(|&u| u > p) {
                dies_at[u].push(o);
                live += 1;
                own_live = true;
            }
        }
        live -= std::mem::take(&mut dies_at[p]).len();
        if p + 1 < forward_len && live == 1 && own_live {
            segments.push(start..p + 1);
            start = p + 1;
        }
    }
    segments.push(start..forward_len);
    segments
}
