//! The clobber check ("validate the plan on real hardware", DESIGN.md): run node by node; after
//! each node every tensor that is still needed (weights, inputs and activations that a later node
//! reads, graph outputs) must hold exactly the bytes it had when it was produced. The first
//! change names the tensor, the node that overwrote it, and the offsets. The same pass scans the
//! guard bands after each node, so an out-of-plan write is attributed to the node that made it.
//! A streamed input (copied into the arena during the run) is checked from its first reader's
//! step on, as the graph says, not from the step the layout says it is copied at: an input
//! copied after its reader shows as that input's bytes changed at the reader.

use crate::analysis::{Liveness, liveness};
use crate::cpu::initial_data;
use crate::graph::{Graph, NodeId, TensorId, TensorKind};
use crate::layout::MemoryLayout;
use crate::runtime::{
    AllocatorBytes, Compiled, Gpu, GuardViolation, RuntimeError, device_words, scan_snapshot,
};
use serde::Serialize;

/// A tensor whose bytes changed while it was still needed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Clobber {
    /// The damaged tensor.
    pub tensor: TensorId,
    /// Its name.
    pub tensor_name: String,
    /// Its bytes `[offset, offset + size)` in the one buffer.
    pub offset: u64,
    /// Its size.
    pub size: u64,
    /// The node after which the change was seen.
    pub node: NodeId,
    /// That node's name and op.
    pub node_name: String,
    /// Where that node's output lives.
    pub node_output_offset: u64,
    /// First changed byte (absolute offset in the buffer).
    pub first_changed_byte: u64,
}

impl std::fmt::Display for Clobber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "tensor `{}` ({}) at bytes [{}, {}) was overwritten by node `{}` (output at offset {}); first changed byte {}",
            self.tensor_name,
            self.tensor,
            self.offset,
            self.offset + self.size,
            self.node_name,
            self.node_output_offset,
            self.first_changed_byte
        )
    }
}

/// The outcome of a clobber check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClobberReport {
    /// Nodes executed and checked.
    pub nodes_checked: usize,
    /// Tensor checks made (tensor x node pairs).
    pub tensor_checks: u64,
    /// The first clobber found, if any.
    pub failure: Option<Clobber>,
    /// The first out-of-plan write: guard words that changed after a node (the guard bands are
    /// re-armed when the pass starts), naming that node.
    pub guard_failure: Option<GuardViolation>,
    /// The node-by-node run's allocator peak ([`RunOutput::device_peak`](crate::runtime::RunOutput::device_peak)).
    pub device_peak: Option<AllocatorBytes>,
}

struct Watched {
    tensor: TensorId,
    offset: usize,
    bytes: Vec<u8>,
    /// Checked at every step `>= from` (0, except streamed inputs: their first reader's step).
    from: u64,
    /// Live at every step `< until`.
    until: u64,
}

fn words_to_bytes(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Weights and inputs with their initial bytes: watched from the start.
fn initially_watched(graph: &Graph, layout: &MemoryLayout, live: &Liveness) -> Vec<Watched> {
    let mut watched = Vec::new();
    for t in graph.tensor_ids() {
        let tensor = &graph.tensors[t.index()];
        let until = match tensor.kind {
            TensorKind::Weight => u64::MAX,
            TensorKind::Input => live.interval(graph, t).map_or(0, |(_, e)| e),
            TensorKind::Activation => continue,
        };
        let streamed = layout.streamed_inputs.iter().any(|s| s.tensor == t);
        let from = match streamed {
            true => live.first_use[t.index()].unwrap_or(0),
            false => 0,
        };
        // The bytes the upload wrote (f16 halves for F16 tensors).
        let words = device_words(tensor.dtype, initial_data(tensor).to_words());
        let mut bytes = words_to_bytes(&words);
        bytes.truncate(tensor.size_bytes() as usize);
        watched.push(Watched {
            tensor: t,
            offset: layout.offset(t) as usize,
            bytes,
            from,
            until,
        });
    }
    watched
}

/// The tensors still needed, their expected bytes, and the checks made so far.
struct Checker<'a> {
    graph: &'a Graph,
    layout: &'a MemoryLayout,
    live: Liveness,
    producers: Vec<Option<NodeId>>,
    watched: Vec<Watched>,
}

impl Checker<'_> {
    /// Checks every tensor live at step `s` (run by `node`) against `snapshot`; counts the checks
    /// in `checks` and returns the first change.
    fn check(&self, s: u64, node: NodeId, snapshot: &[u8], checks: &mut u64) -> Option<Clobber> {
        let (graph, layout) = (self.graph, self.layout);
        let n = graph.node(node);
        // An in-place node (or an optimizer update) legitimately rewrites the input it writes
        // over.
        let rewritten = n
            .inputs
            .first()
            .filter(|_| layout.is_in_place(graph, node) || n.op.updates_in_place())
            .map(|&a| self.live.root[a.index()]);
        // Everything live at this step (including what the node itself read) must be intact.
        for w in self
            .watched
            .iter()
            .filter(|w| w.from <= s && w.until > s && Some(w.tensor) != rewritten)
        {
            *checks += 1;
            let changed = match snapshot.get(w.offset..w.offset + w.bytes.len()) {
                Some(now) => now.iter().zip(&w.bytes).position(|(a, b)| a != b),
                None => Some(0),
            };
            if let Some(i) = changed {
                return Some(Clobber {
                    tensor: w.tensor,
                    tensor_name: graph.tensors[w.tensor.index()].name.clone(),
                    offset: w.offset as u64,
                    size: w.bytes.len() as u64,
                    node,
                    node_name: node_label(graph, node),
                    node_output_offset: n.outputs.first().map_or(0, |&o| layout.offset(o)),
                    first_changed_byte: (w.offset + i) as u64,
                });
            }
        }
        None
    }

    /// Drops what is dead after step `s` and records what `node` produced, if anyone needs it
    /// later.
    fn advance(&mut self, s: u64, node: NodeId, snapshot: &[u8]) {
        let graph = self.graph;
        self.watched.retain(|w| w.until > s + 1);
        // After an optimizer update its storage holds the new value: watch that from now on.
        let n = graph.node(node);
        if n.op.updates_in_place()
            && let Some(&a) = n.inputs.first()
        {
            let root = self.live.root[a.index()];
            for w in self.watched.iter_mut().filter(|w| w.tensor == root) {
                if let Some(b) = snapshot.get(w.offset..w.offset + w.bytes.len()) {
                    w.bytes = b.to_vec();
                }
            }
        }
        for &o in &graph.node(node).outputs {
            let is_view = self.producers[o.index()].is_some_and(|p| graph.node(p).op.is_view());
            if is_view {
                continue;
            }
            if let Some((_, end)) = self.live.interval(graph, o) {
                let off = self.layout.offset(o) as usize;
                let size = graph.tensors[o.index()].size_bytes() as usize;
                if end > s + 1
                    && let Some(b) = snapshot.get(off..off + size)
                {
                    self.watched.push(Watched {
                        tensor: o,
                        offset: off,
                        bytes: b.to_vec(),
                        from: 0,
                        until: end,
                    });
                }
            }
        }
    }
}

/// `name (op)` of a node.
fn node_label(graph: &Graph, node: NodeId) -> String {
    let n = graph.node(node);
    format!("{} ({})", n.name, n.op.name())
}

/// Runs `compiled` (built from `graph` at `layout`) node by node and checks every needed tensor
/// and both guard bands after each node.
pub fn clobber_check(
    gpu: &Gpu,
    compiled: &Compiled,
    graph: &Graph,
    layout: &MemoryLayout,
) -> Result<ClobberReport, RuntimeError> {
    let live = liveness(graph);
    let mut checker = Checker {
        graph,
        layout,
        watched: initially_watched(graph, layout, &live),
        live,
        producers: graph.producers(),
    };
    let mut report = ClobberReport {
        nodes_checked: 0,
        tensor_checks: 0,
        failure: None,
        guard_failure: None,
        device_peak: None,
    };
    let run = compiled.run_node_by_node(gpu, |node, snapshot| {
        let s = report.nodes_checked as u64;
        report.nodes_checked += 1;
        if report.guard_failure.is_none()
            && let Some(mut v) = scan_snapshot(compiled.guard_bands(), snapshot)
                .into_iter()
                .next()
        {
            v.node = Some(node_label(graph, node));
            report.guard_failure = Some(v);
        }
        if report.failure.is_some() {
            return;
        }
        report.failure = checker.check(s, node, snapshot, &mut report.tensor_checks);
        if report.failure.is_none() {
            checker.advance(s, node, snapshot);
        }
    })?;
    report.device_peak = run.device_peak;
    Ok(report)
}
