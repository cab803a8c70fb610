//! The rewrite every strategy shares: given which forward tensors are kept and a list of
//! recompute events, copy the forward pass unchanged, then emit the backward nodes in order,
//! inserting each event's clones of forward nodes right before the first backward node that
//! needs them, and pointing backward inputs at the newest copy of each dropped tensor.
//!
//! A dropped tensor is read by no backward node of the result, so its lifetime ends at its last
//! forward reader; a clone's lifetime runs from the event to its last backward reader. Clones
//! run the same op on equal inputs, so every value (and every output) is bit-identical.
//!
//! An event is a list of steps; a step recomputes, from fresh, the dropped forward tensors of
//! one segment that its targets need (its backward-read tensors, its output boundary, or both),
//! taking inputs from outside the segment as the newest copy present. A dropped tensor a
//! backward node reads with no copy present (a backward order the events did not foresee) is
//! recomputed on the spot from the newest copies of its inputs, so the result is always
//! correct; only its memory and recompute figures change.

use super::segments::Forward;
use super::{CheckpointError, Checkpointed};
use crate::graph::{Graph, Node, TensorId, TensorKind, cost};

/// One segment to recompute within an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    /// The segment.
    pub segment: usize,
    /// Recompute its dropped tensors that backward nodes read (a "tape" step).
    pub tape: bool,
    /// Recompute its output boundary (an "advance" step, or a segment inside a group).
    pub boundary: bool,
}

/// Clones inserted together, before the first backward node reading a dropped tensor of one
/// of `triggers` (or, if there is none, together with the next event).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Event {
    /// Segments whose dropped tensors trigger the event.
    pub triggers: Vec<usize>,
    /// The segments to recompute, in order.
    pub steps: Vec<Step>,
}

/// What a strategy decided: the kept forward tensors (per tensor id) and the events.
#[derive(Clone, Debug, Default)]
pub(crate) struct Decision {
    /// Kept forward tensors (normalised for views and outputs).
    pub keep: Vec<bool>,
    /// Recompute events, in the order they fire.
    pub events: Vec<Event>,
}

struct Emitter<'a> {
    src: &'a Graph,
    fw: &'a Forward,
    keep: &'a [bool],
    out: Graph,
    /// The newest copy of each tensor of `src`.
    version: Vec<Option<TensorId>>,
    /// How many clones of each source node exist (for names).
    clones: Vec<u32>,
    recompute_nodes: Vec<usize>,
}

impl Emitter<'_> {
    /// Appends a clone of source node `n` reading `inputs`; returns its output.
    fn clone_node(&mut self, n: usize, inputs: Vec<TensorId>) -> TensorId {
        let node = &self.src.nodes[n];
        self.clones[n] += 1;
        let k = self.clones[n];
        let name = super::recompute_name(&node.name, k);
        let mut outputs = Vec::with_capacity(node.outputs.len());
        for &o in &node.outputs {
            let mut t = self.src.tensors[o.index()].clone();
            t.name = super::recompute_name(&t.name, k);
            t.kind = TensorKind::Activation;
            let id = TensorId(self.out.tensors.len() as u32);
            self.out.tensors.push(t);
            self.version[o.index()] = Some(id);
            outputs.push(id);
        }
        let clone = Node {
            name,
            op: node.op.clone(),
            inputs,
            outputs,
        };
        self.recompute_nodes.push(self.out.nodes.len());
        let first = clone.outputs.first().copied();
        self.out.nodes.push(clone);
        first.unwrap_or(TensorId(0))
    }

    /// The newest copy of `t`, recomputing it (and what it needs) on the spot if there is none.
    fn resolve(&mut self, t: TensorId) -> TensorId {
        if let Some(v) = self.version[t.index()] {
            return v;
        }
        let Some(p) = self.fw.producer[t.index()] else {
            return t;
        };
        let ins: Vec<TensorId> = self.src.nodes[p].inputs.clone();
        let ins = ins.into_iter().map(|i| self.resolve(i)).collect();
        self.clone_node(p, ins)
    }

    /// `t` recomputed afresh if it is a dropped tensor of `segment` not yet recomputed in this
    /// step (`fresh`), else its newest copy.
    fn fresh(&mut self, t: TensorId, segment: usize, fresh: &mut Vec<bool>) -> TensorId {
        let i = t.index();
        if self.keep[i] || self.fw.segment_of(t) != Some(segment) {
            return self.resolve(t);
        }
        if fresh[i]
            && let Some(v) = self.version[i]
        {
            return v;
        }
        let Some(p) = self.fw.producer[i] else {
            return t;
        };
        let ins: Vec<TensorId> = self.src.nodes[p].inputs.clone();
        let ins = ins
            .into_iter()
            .map(|x| self.fresh(x, segment, fresh))
            .collect();
        let v = self.clone_node(p, ins);
        fresh[i] = true;
        v
    }

    fn step(&mut self, graph: &Graph, s: Step) {
        let mut fresh = vec![false; self.src.tensors.len()];
        let mut targets: Vec<TensorId> = Vec::new();
        if s.tape {
            for n in self.fw.segments[s.segment].clone() {
                targets.extend(
                    graph.nodes[n]
                        .outputs
                        .iter()
                        .copied()
                        .filter(|t| self.fw.bwd_read[t.index()] && !self.keep[t.index()]),
                );
            }
        }
        if s.boundary {
            targets.extend(self.fw.boundary_out(graph, s.segment));
        }
        for t in targets {
            if !self.keep[t.index()] {
                self.fresh(t, s.segment, &mut fresh);
            }
        }
    }
}

/// The position (in `graph.nodes`) at which each event fires: before the first backward node
/// reading a dropped tensor of one of its triggers, and never after the next event.
fn fire_positions(graph: &Graph, fw: &Forward, d: &Decision) -> Vec<usize> {
    let mut read = vec![usize::MAX; graph.tensors.len()];
    for i in (fw.forward_len..graph.nodes.len()).rev() {
        for &t in &graph.nodes[i].inputs {
            read[t.index()] = i;
        }
    }
    // A segment's backward starts at the first read of one of its dropped tensors or of its
    // dropped input boundary.
    let mut first = vec![usize::MAX; fw.len()];
    for t in graph.tensor_ids().filter(|t| !d.keep[t.index()]) {
        if let Some(s) = fw.segment_of(t) {
            first[s] = first[s].min(read[t.index()]);
        }
    }
    for (s, f) in first.iter_mut().enumerate() {
        if let Some(b) = fw.boundary_in(graph, s).filter(|b| !d.keep[b.index()]) {
            *f = (*f).min(read[b.index()]);
        }
    }
    let mut pos: Vec<usize> = d
        .events
        .iter()
        .map(|e| {
            e.triggers
                .iter()
                .map(|&s| first[s])
                .min()
                .unwrap_or(usize::MAX)
        })
        .collect();
    for e in (0..pos.len().saturating_sub(1)).rev() {
        pos[e] = pos[e].min(pos[e + 1]);
    }
    pos
}

/// Applies decision `d` to `graph` (forward pass analysed as `fw`).
pub(crate) fn rewrite(
    graph: &Graph,
    fw: &Forward,
    d: &Decision,
) -> Result<Checkpointed, CheckpointError> {
    let fwd = fw.forward_len;
    let version = graph
        .tensor_ids()
        .map(|t| (!fw.is_forward(t) || d.keep[t.index()]).then_some(t))
        .collect();
    let mut em = Emitter {
        src: graph,
        fw,
        keep: &d.keep,
        out: Graph {
            tensors: graph.tensors.clone(),
            nodes: graph.nodes[..fwd].to_vec(),
            outputs: graph.outputs.clone(),
        },
        version,
        clones: vec![0; graph.nodes.len()],
        recompute_nodes: Vec::new(),
    };
    let fire = fire_positions(graph, fw, d);
    let mut next_event = 0;
    for i in fwd..graph.nodes.len() {
        while next_event < d.events.len() && fire[next_event] <= i {
            for &s in &d.events[next_event].steps {
                em.step(graph, s);
            }
            next_event += 1;
        }
        let node = &graph.nodes[i];
        let inputs = node.inputs.iter().map(|&t| em.resolve(t)).collect();
        em.out.nodes.push(Node {
            inputs,
            ..node.clone()
        });
    }
    let (out, recompute_nodes) = drop_dead_clones(em.out, &em.recompute_nodes, graph.tensors.len());
    out.validate()?;
    let recompute_flops = recompute_nodes.iter().fold(0u64, |a, &i| {
        a.saturating_add(cost::node_flops(&out, &out.nodes[i]))
    });
    let kept_bytes = (0..graph.tensors.len())
        .filter(|&t| d.keep[t] && fw.root[t].index() == t && fw.is_forward(TensorId(t as u32)))
        .map(|t| graph.tensors[t].size_bytes())
        .fold(0u64, u64::saturating_add);
    Ok(Checkpointed {
        graph: out,
        forward_len: fwd,
        recompute_flops,
        recompute_nodes,
        segments: fw.len(),
        kept_bytes,
    })
}

/// Removes the clones nobody reads (a step recomputes every dropped tensor of its segment that
/// some backward node reads, which may be a node an earlier event already served) and their
/// tensors; clone tensor ids above `original_tensors` are renumbered, others keep their ids.
/// Returns the graph and the new positions of the surviving clones.
fn drop_dead_clones(
    mut g: Graph,
    clones: &[usize],
    original_tensors: usize,
) -> (Graph, Vec<usize>) {
    let mut readers = vec![0usize; g.tensors.len()];
    for node in &g.nodes {
        for &t in &node.inputs {
            readers[t.index()] += 1;
        }
    }
    for &t in &g.outputs {
        readers[t.index()] += 1;
    }
    let mut dead = vec![false; g.nodes.len()];
    for &i in clones.iter().rev() {
        if g.nodes[i].outputs.iter().all(|t| readers[t.index()] == 0) {
            dead[i] = true;
            for &t in &g.nodes[i].inputs {
                readers[t.index()] -= 1;
            }
        }
    }
    let mut keep_tensor = vec![true; g.tensors.len()];
    for (i, node) in g.nodes.iter().enumerate() {
        if dead[i] {
            for &t in &node.outputs {
                keep_tensor[t.index()] = false;
            }
        }
    }
    let mut remap: Vec<TensorId> = Vec::with_capacity(g.tensors.len());
    let mut next = original_tensors as u32;
    for (t, &kept) in keep_tensor.iter().enumerate() {
        if t < original_tensors {
            remap.push(TensorId(t as u32));
        } else {
            remap.push(TensorId(next));
            next += u32::from(kept);
        }
    }
    let mut t = 0;
    g.tensors.retain(|_| {
        t += 1;
        keep_tensor[t - 1]
    });
    let mut is_clone = vec![false; g.nodes.len()];
    for &i in clones {
        is_clone[i] = true;
    }
    let mut positions = Vec::new();
    let nodes = std::mem::take(&mut g.nodes);
    for (i, mut node) in nodes.into_iter().enumerate() {
        if dead[i] {
            continue;
        }
        for t in node.inputs.iter_mut().chain(node.outputs.iter_mut()) {
            *t = remap[t.index()];
        }
        if is_clone[i] {
            positions.push(g.nodes.len());
        }
        g.nodes.push(node);
    }
    (g, positions)
}
