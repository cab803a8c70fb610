//! Checkpoint recomputation (issue 9, seed 5.4.3): rewrites a training graph so that forward
//! activations the strategy does not keep are freed after their last forward use and recomputed
//! by clones of their producers inserted right before their backward use, so the planner sees
//! the shorter lifetimes. Works on the convention of `transform::autodiff`: `nodes[..forward_len]`
//! is the forward pass (loss included), every later node is backward or an update.
//!
//! "Layers" are segments cut at articulation points of the forward graph (see `segments.rs`):
//! a cut after node `p` when `p`'s output is the only forward activation later forward nodes
//! still read (a residual-stream sum, a block output). Every strategy keeps the graph outputs
//! and everything the last segment's backward reads (recomputing it right after the forward
//! pass would buy nothing):
//!
//! - `none`: keep every activation the backward reads.
//! - `sqrt`: groups of `round(sqrt(n))` consecutive segments (Chen et al. 2016); keep each
//!   group's input, recompute the whole group once before its backward.
//! - `every:K`: the same with groups of `K` segments.
//! - `selective`: seed 5.4.3's score `M_saved / C_recompute`: drop an activation when the bytes
//!   it frees per FLOP of recomputing it from what is kept is at least
//!   [`SELECTIVE_BYTES_PER_FLOP`] (elementwise ops, norms, softmax and layout copies); keep
//!   GEMM, convolution and attention outputs and segment boundaries.
//! - `revolve:C`: binomial checkpointing over the segments with `C` slots for boundaries (the
//!   graph inputs are free), optimal in recomputed segments for a chain (`revolve.rs`); a
//!   segment may be recomputed several times.
//! - `budget:BYTES`: the least recompute whose planned arena fits ([`apply_budget`], which
//!   needs the planner as an oracle, so [`apply`] refuses it and `tessera::recompute` plans it).
//!
//! The result keeps `forward_len`, tensor ids of the input and every value: outputs are
//! bit-identical (the clones run the same kernels on equal inputs).

mod budget;
mod revolve;
mod rewrite;
mod segments;
#[cfg(test)]
mod tests;

pub use budget::apply_budget;
pub use revolve::{Action, Revolve, replay};

/// The name of the `k`-th recomputed copy of the node or tensor called `base` (`k` from 1):
/// `base.recomputeK`. Reports and pictures recognise recomputed tensors by it
/// ([`is_recompute_name`]).
pub fn recompute_name(base: &str, k: u32) -> String {
    format!("{base}.recompute{k}")
}

/// Whether `name` is one [`recompute_name`] made.
pub fn is_recompute_name(name: &str) -> bool {
    name.rsplit_once(".recompute").is_some_and(|(base, k)| {
        !base.is_empty() && !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit())
    })
}

use crate::graph::{Graph, GraphError, TensorId, cost};
use rewrite::{Decision, Event, Step};
use segments::Forward;
use thiserror::Error;

/// Most steps (`segments^2 x min(C + 1, segments)`) `revolve:C`'s dynamic programme may take
/// (about a second); [`revolve_fits`] tells.
pub const REVOLVE_MAX_WORK: u64 = 400_000_000;

/// Whether `revolve:C` on `segments` segments stays within [`REVOLVE_MAX_WORK`].
pub fn revolve_fits(segments: usize, c: usize) -> bool {
    let n = segments as u64;
    let slots = (c as u64).saturating_add(1).min(n.max(1));
    n.saturating_mul(n).saturating_mul(slots) <= REVOLVE_MAX_WORK
}

/// `selective` drops an activation when it frees at least this many bytes per FLOP of
/// recomputation (0.25: at most 16 FLOPs per f32 element).
pub const SELECTIVE_BYTES_PER_FLOP: f64 = 0.25;

/// A checkpointing strategy (`--checkpoint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Keep everything the backward reads.
    None,
    /// Groups of about sqrt(n) segments.
    Sqrt,
    /// Groups of `K` segments.
    Every(usize),
    /// Keep what is expensive to recompute and cheap to store.
    Selective,
    /// Binomial checkpointing with `C` boundary slots.
    Revolve(usize),
    /// The least recompute whose planned arena fits in this many bytes.
    Budget(u64),
}

impl Strategy {
    /// Parses `none|sqrt|every:K|selective|revolve:C|budget:BYTES` (BYTES with the suffixes of
    /// [`crate::bytes::parse_size`]).
    pub fn parse(text: &str) -> Result<Strategy, CheckpointError> {
        let bad = |why: &str| CheckpointError::Parse {
            text: crate::graph::printable(text),
            why: why.into(),
        };
        let count = |v: &str, what: &str| -> Result<usize, CheckpointError> {
            match v.parse::<usize>() {
                Ok(k) if k >= 1 => Ok(k),
                _ => Err(bad(&format!("{what} must be a whole number at least 1"))),
            }
        };
        match text.split_once(':') {
            None => match text {
                "none" => Ok(Strategy::None),
                "sqrt" => Ok(Strategy::Sqrt),
                "selective" => Ok(Strategy::Selective),
                _ => Err(bad("unknown strategy")),
            },
            Some(("every", k)) => Ok(Strategy::Every(count(k, "K")?)),
            Some(("revolve", c)) => Ok(Strategy::Revolve(count(c, "C")?)),
            Some(("budget", b)) => crate::bytes::parse_size(b)
                .map(Strategy::Budget)
                .map_err(|e| bad(&e.to_string())),
            Some(_) => Err(bad("unknown strategy")),
        }
    }

    /// The command-line spelling (`budget` in bytes).
    pub fn name(&self) -> String {
        match self {
            Strategy::None => "none".into(),
            Strategy::Sqrt => "sqrt".into(),
            Strategy::Every(k) => format!("every:{k}"),
            Strategy::Selective => "selective".into(),
            Strategy::Revolve(c) => format!("revolve:{c}"),
            Strategy::Budget(b) => format!("budget:{b}"),
        }
    }
}

/// Why checkpointing failed.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CheckpointError {
    /// The strategy text does not parse.
    #[error(
        "--checkpoint `{text}`: {why} (expected none, sqrt, every:K, selective, revolve:C or budget:BYTES)"
    )]
    Parse {
        /// What was given.
        text: String,
        /// What is wrong.
        why: String,
    },
    /// `forward_len` does not split the graph.
    #[error("checkpoint: forward_len {forward_len} must be in 1..={nodes} (the graph's nodes)")]
    ForwardLen {
        /// Given.
        forward_len: usize,
        /// Nodes in the graph.
        nodes: usize,
    },
    /// The input or the rewritten graph does not validate.
    #[error("checkpoint: {0}")]
    Graph(#[from] GraphError),
    /// `budget:BYTES` needs planned arenas: use [`apply_budget`] with a planner.
    #[error(
        "checkpoint budget:{0}: needs the planner to measure arenas (tessera::recompute plans it)"
    )]
    NeedsPlanner(u64),
    /// No candidate's planned arena fits the budget.
    #[error(
        "checkpoint budget:{budget} bytes cannot be met: the smallest planned arena reached is {smallest} bytes ({strategy}, {candidates} candidates planned)"
    )]
    BudgetUnmet {
        /// The budget.
        budget: u64,
        /// The smallest planned arena among the candidates.
        smallest: u64,
        /// The candidate that reached it.
        strategy: String,
        /// Candidates planned.
        candidates: usize,
    },
    /// `revolve:C`'s dynamic programme (`segments^2 x slots` steps) would take too long.
    #[error(
        "checkpoint revolve:{slots}: {segments} segments need {segments}^2 x {slots} steps of its dynamic programme, past the limit of {REVOLVE_MAX_WORK}; use fewer slots or sqrt/every:K"
    )]
    RevolveTooLarge {
        /// Segments of the forward pass.
        segments: usize,
        /// Slots asked for.
        slots: usize,
    },
    /// The planner oracle failed on a candidate.
    #[error("checkpoint budget: planning a candidate failed: {0}")]
    Oracle(String),
}

/// A checkpointed training graph.
#[derive(Clone, Debug)]
pub struct Checkpointed {
    /// The rewritten graph: the forward pass unchanged, recompute clones among the backward.
    pub graph: Graph,
    /// `graph.nodes[..forward_len]` is still the forward pass.
    pub forward_len: usize,
    /// FLOPs of the recompute clones ([`cost::node_flops`]).
    pub recompute_flops: u64,
    /// Positions in `graph.nodes` of the recompute clones.
    pub recompute_nodes: Vec<usize>,
    /// Segments ("layers") the forward pass was cut into.
    pub segments: usize,
    /// Bytes of the forward activations kept for the backward pass (storage roots once).
    pub kept_bytes: u64,
}

impl Checkpointed {
    /// The forward / backward / recompute split of the graph's FLOPs.
    pub fn cost(&self) -> cost::GraphCost {
        let mut rec = vec![false; self.graph.nodes.len()];
        for &i in &self.recompute_nodes {
            rec[i] = true;
        }
        cost::graph_cost(&self.graph, self.forward_len, |i| rec[i])
    }
}

/// Rewrites `graph` (forward pass `nodes[..forward_len]`) under `strategy`. `budget:BYTES`
/// is refused ([`CheckpointError::NeedsPlanner`]): it needs [`apply_budget`] and a planner.
pub fn apply(
    graph: &Graph,
    forward_len: usize,
    strategy: &Strategy,
) -> Result<Checkpointed, CheckpointError> {
    let fw = Forward::new(graph, forward_len)?;
    let d = match *strategy {
        Strategy::None => none(&fw),
        Strategy::Sqrt => groups(graph, &fw, sqrt_group(fw.len())),
        Strategy::Every(k) => groups(graph, &fw, k.max(1)),
        Strategy::Selective => selective(graph, &fw),
        Strategy::Revolve(c) if !revolve_fits(fw.len(), c) => {
            return Err(CheckpointError::RevolveTooLarge {
                segments: fw.len(),
                slots: c,
            });
        }
        Strategy::Revolve(c) => revolve(graph, &fw, c),
        Strategy::Budget(b) => return Err(CheckpointError::NeedsPlanner(b)),
    };
    rewrite::rewrite(graph, &fw, &d)
}

/// The `sqrt` group size for `n` segments: `round(sqrt(n))`, at least 1.
pub fn sqrt_group(n: usize) -> usize {
    ((n as f64).sqrt().round() as usize).max(1)
}

fn none(fw: &Forward) -> Decision {
    let mut keep = fw.stored_by_none();
    fw.normalise(&mut keep);
    Decision {
        keep,
        events: Vec::new(),
    }
}

/// What the last segment's backward reads, plus graph outputs: kept by every strategy.
fn base_keep(graph: &Graph, fw: &Forward) -> Vec<bool> {
    let last = fw.len() - 1;
    let mut keep = fw.stored_by_none();
    for (t, k) in keep.iter_mut().enumerate() {
        *k &= fw.segment_of(TensorId(t as u32)) == Some(last) || fw.output[t];
    }
    if let Some(b) = fw
        .boundary_in(graph, last)
        .filter(|b| fw.bwd_read[b.index()])
    {
        keep[b.index()] = true;
    }
    keep
}

/// Segments split into runs: `kept[s]` keeps segment `s`'s backward-read tensors; the other
/// segments form maximal runs cut into groups of `group` segments, each keeping its input
/// boundary and recomputed once (one event per group, last group first).
pub(crate) fn grouped(graph: &Graph, fw: &Forward, kept: &[bool], group: usize) -> Decision {
    let n = fw.len();
    let mut keep = base_keep(graph, fw);
    let none = fw.stored_by_none();
    let mut groups: Vec<std::ops::Range<usize>> = Vec::new();
    let mut s = 0;
    while s + 1 < n {
        if kept[s] {
            for node in fw.segments[s].clone() {
                for &t in &graph.nodes[node].outputs {
                    keep[t.index()] |= none[t.index()];
                }
            }
            s += 1;
            continue;
        }
        let start = s;
        while s + 1 < n && !kept[s] && s - start < group {
            s += 1;
        }
        groups.push(start..s);
    }
    for g in &groups {
        if let Some(b) = fw.boundary_in(graph, g.start) {
            keep[b.index()] = true;
        }
    }
    fw.normalise(&mut keep);
    let events = groups
        .iter()
        .rev()
        .map(|g| Event {
            triggers: g.clone().collect(),
            steps: g
                .clone()
                .map(|s| Step {
                    segment: s,
                    tape: true,
                    boundary: s + 1 < g.end,
                })
                .collect(),
        })
        .collect();
    Decision { keep, events }
}

fn groups(graph: &Graph, fw: &Forward, k: usize) -> Decision {
    if fw.len() <= 1 {
        return none(fw);
    }
    grouped(graph, fw, &vec![false; fw.len()], k)
}

/// FLOPs of recomputing `t` from the kept tensors (its producer and every dropped ancestor).
fn closure_flops(graph: &Graph, fw: &Forward, keep: &[bool], t: TensorId) -> u64 {
    let mut seen = vec![false; graph.tensors.len()];
    let mut stack = vec![t];
    let mut flops = 0u64;
    while let Some(x) = stack.pop() {
        if seen[x.index()] || (x != t && keep[x.index()]) || !fw.is_forward(x) {
            continue;
        }
        seen[x.index()] = true;
        if let Some(p) = fw.producer[x.index()] {
            let node = &graph.nodes[p];
            flops = flops.saturating_add(cost::node_flops(graph, node));
            stack.extend(node.inputs.iter().copied());
        }
    }
    flops
}

fn selective(graph: &Graph, fw: &Forward) -> Decision {
    let n = fw.len();
    let mut keep = fw.stored_by_none();
    fw.normalise(&mut keep);
    let boundaries: Vec<TensorId> = (0..n).filter_map(|s| fw.boundary_out(graph, s)).collect();
    let mut cands: Vec<(f64, TensorId)> = graph
        .tensor_ids()
        .filter(|&t| {
            keep[t.index()]
                && fw.root[t.index()] == t
                && !fw.output[t.index()]
                && fw.segment_of(t).is_some_and(|s| s + 1 < n)
                && !boundaries.iter().any(|&b| fw.root[b.index()] == t)
        })
        .map(|t| {
            let bytes = graph.tensors[t.index()].size_bytes() as f64;
            let own = fw.producer[t.index()]
                .map(|p| cost::node_flops(graph, &graph.nodes[p]))
                .unwrap_or(0);
            (bytes / (own.max(1) as f64), t)
        })
        .collect();
    cands.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, t) in cands {
        let bytes = graph.tensors[t.index()].size_bytes() as f64;
        let flops = closure_flops(graph, fw, &keep, t) as f64;
        if bytes >= SELECTIVE_BYTES_PER_FLOP * flops {
            keep[t.index()] = false;
            for (v, k) in keep.iter_mut().enumerate() {
                if fw.root[v] == t {
                    *k = false;
                }
            }
        }
    }
    let events = (0..n.saturating_sub(1))
        .rev()
        .map(|s| Event {
            triggers: vec![s],
            steps: vec![Step {
                segment: s,
                tape: true,
                boundary: false,
            }],
        })
        .collect();
    Decision { keep, events }
}

fn revolve(graph: &Graph, fw: &Forward, c: usize) -> Decision {
    let n = fw.len();
    if n <= 1 {
        return none(fw);
    }
    let actions = Revolve::new(n, c + 1).schedule(n, c + 1);
    let mut keep = base_keep(graph, fw);
    let first_reverse = actions
        .iter()
        .position(|a| matches!(a, Action::Reverse(_)))
        .unwrap_or(actions.len());
    for a in &actions[..first_reverse] {
        if let Action::Store(i) = *a
            && let Some(b) = fw.boundary_in(graph, i)
        {
            keep[b.index()] = true;
        }
    }
    fw.normalise(&mut keep);
    let mut events = Vec::new();
    let mut steps = Vec::new();
    for a in actions.iter().skip(first_reverse + 1) {
        match *a {
            Action::Advance(j) => steps.push(Step {
                segment: j,
                tape: false,
                boundary: true,
            }),
            Action::Store(_) => {}
            Action::Reverse(r) => {
                steps.push(Step {
                    segment: r,
                    tape: true,
                    boundary: false,
                });
                events.push(Event {
                    triggers: vec![r],
                    steps: std::mem::take(&mut steps),
                });
            }
        }
    }
    Decision { keep, events }
}
