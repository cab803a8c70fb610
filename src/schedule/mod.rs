//! The `schedule` stage (seed 5.4.2, issue 8): chooses the order the nodes run in, before
//! analysis, because the order decides every lifetime and so the peak. Schedulers score orders
//! with one [`MemoryModel`], which is analysis's own model of what is live at each step
//! (in-place and workspace included; see `model.rs`).
//!
//! - `program`: the graph's node order, as the model builder wrote it.
//! - `greedy`: the ready node with the best live-bytes change first (`greedy.rs`).
//! - `beam`: beam search over topological orders, width [`BEAM_WIDTH`] (`beam.rs`).
//! - `exact`: Serenity's dynamic programme over sets of executed nodes, bisecting on the peak
//!   bound, with a time limit and a state cap; when it stops before proving optimality the result
//!   is the best of the program, greedy and beam orders, and says so (`exact.rs`).
//! - `auto`: every scheduler above as a candidate; `pipeline` plans each distinct order and
//!   keeps the smallest planned arena (ties to the earlier candidate, `program` first).
//!
//! [`reorder`] applies an order: it returns the graph with its nodes permuted (tensor ids
//! unchanged) and validates it, so analysis, the runtime and the CPU reference all run the
//! scheduled graph without knowing it was scheduled.

mod beam;
mod exact;
mod greedy;
mod model;

pub use beam::{BEAM_WIDTH, beam};
pub use exact::{ExactResult, STATE_CAP, Search, Unfinished, exact, exact_search};
pub use greedy::greedy;
pub use model::{MemoryModel, StepCost};

use crate::analysis::AnalysisOptions;
use crate::graph::{Graph, GraphError, NodeId};
use std::time::{Duration, Instant};
use thiserror::Error;

/// A scheduler, by its command-line name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Scheduler {
    /// The graph's node order.
    #[default]
    Program,
    /// Best live-bytes change first.
    Greedy,
    /// Beam search of width [`BEAM_WIDTH`].
    Beam,
    /// Dynamic programme over sets of executed nodes (falls back to the best heuristic order).
    Exact,
    /// The candidate whose planned arena is smallest.
    Auto,
}

impl Scheduler {
    /// Every scheduler.
    pub const ALL: [Scheduler; 5] = [
        Scheduler::Program,
        Scheduler::Greedy,
        Scheduler::Beam,
        Scheduler::Exact,
        Scheduler::Auto,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Scheduler::Program => "program",
            Scheduler::Greedy => "greedy",
            Scheduler::Beam => "beam",
            Scheduler::Exact => "exact",
            Scheduler::Auto => "auto",
        }
    }

    /// Parses a command-line name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// Why an order cannot be applied to a graph.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ScheduleError {
    /// The order does not name every node exactly once.
    #[error("schedule names {got} nodes but the graph has {expected}")]
    Length {
        /// Nodes in the graph.
        expected: usize,
        /// Entries in the order.
        got: usize,
    },
    /// A node id is out of range or repeated.
    #[error("schedule position {position}: node {node} is out of range or already scheduled")]
    BadNode {
        /// Position in the order.
        position: usize,
        /// The node id.
        node: NodeId,
    },
    /// The permuted graph does not validate (a node runs before one of its inputs exists).
    #[error("schedule is not topological: {0}")]
    NotTopological(GraphError),
}

/// An order chosen by a scheduler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The nodes (ids of the input graph) in the order they run.
    pub order: Vec<NodeId>,
    /// The peak of the order under the [`MemoryModel`], bytes.
    pub peak_bytes: u64,
    /// The scheduler that produced the order (the heuristic's when `exact` fell back to it).
    pub scheduler: Scheduler,
    /// What happened, when it is not the obvious (e.g. why `exact` fell back).
    pub note: Option<String>,
}

/// Returns `graph` with its nodes in `order` (ids of `graph`'s nodes); tensor ids, tensors and
/// outputs are unchanged. Node ids of the result are positions in `order`.
pub fn reorder(graph: &Graph, order: &[NodeId]) -> Result<Graph, ScheduleError> {
    if order.len() != graph.nodes.len() {
        return Err(ScheduleError::Length {
            expected: graph.nodes.len(),
            got: order.len(),
        });
    }
    let mut seen = vec![false; graph.nodes.len()];
    let mut nodes = Vec::with_capacity(order.len());
    for (position, &node) in order.iter().enumerate() {
        match seen.get_mut(node.index()) {
            Some(s) if !*s => *s = true,
            _ => return Err(ScheduleError::BadNode { position, node }),
        }
        nodes.push(graph.nodes[node.index()].clone());
    }
    let out = Graph {
        tensors: graph.tensors.clone(),
        nodes,
        outputs: graph.outputs.clone(),
    };
    out.validate().map_err(ScheduleError::NotTopological)?;
    Ok(out)
}

fn ids(order: &[usize]) -> Vec<NodeId> {
    order.iter().map(|&i| NodeId(i as u32)).collect()
}

fn make(order: Vec<usize>, peak: u64, scheduler: Scheduler, note: Option<String>) -> Schedule {
    Schedule {
        order: ids(&order),
        peak_bytes: peak,
        scheduler,
        note,
    }
}

/// The program order and its peak.
fn program(m: &MemoryModel) -> Schedule {
    let order: Vec<usize> = (0..m.n).collect();
    let peak = m.peak(&order).unwrap_or(u64::MAX);
    make(order, peak, Scheduler::Program, None)
}

/// `exact` within `limit`, bisecting from the best of the `known` orders (ties to the first);
/// when it stops before a proof, that best known order, saying so.
fn exact_or_best(m: &MemoryModel, known: &[Schedule], limit: Duration) -> Schedule {
    let started = Instant::now();
    let Some(best) = known.iter().min_by_key(|s| s.peak_bytes) else {
        return program(m);
    };
    let pos: Vec<usize> = best.order.iter().map(|n| n.index()).collect();
    let r = exact_search(m, &pos, best.peak_bytes, limit, STATE_CAP);
    let ms = started.elapsed().as_secs_f64() * 1e3;
    match r.stopped {
        None => make(
            r.order,
            r.peak,
            Scheduler::Exact,
            Some(if r.states > 0 {
                format!(
                    "exact: proven optimal under the memory model ({} states, {} passes, {ms:.1} \
                     ms)",
                    r.states,
                    r.passes + 1
                )
            } else if r.passes > 0 {
                format!(
                    "exact: {}'s order proven optimal ({} passes found no lower peak, {ms:.1} ms)",
                    best.scheduler.name(),
                    r.passes
                )
            } else {
                format!(
                    "exact: {}'s order meets the lower bound, so it is optimal",
                    best.scheduler.name()
                )
            }),
        ),
        Some(why) => {
            let reason = match why {
                Unfinished::TimeLimit => {
                    format!("hit the time limit of {:.1} s", limit.as_secs_f64())
                }
                Unfinished::StateCap => format!("passed the cap of {STATE_CAP} states"),
                Unfinished::NoOrderWithinBound { .. } => "found no order within the bound".into(),
            };
            let mut s = best.clone();
            s.note = Some(format!(
                "exact {reason} before proving optimality (the optimum lies in [{}, {}] bytes); \
                 kept {}'s order (the best of program, greedy and beam)",
                r.lower,
                r.peak,
                best.scheduler.name()
            ));
            s
        }
    }
}

/// Every candidate order for `graph` under `opts`: program, greedy, beam and exact (exact
/// within `limit`), identical orders listed once (first name kept, later notes added).
pub fn candidates(graph: &Graph, opts: &AnalysisOptions, limit: Duration) -> Vec<Schedule> {
    let m = MemoryModel::new(graph, opts);
    let p = program(&m);
    let (go, gp) = greedy(&m);
    let g = make(go, gp, Scheduler::Greedy, None);
    let (bo, bp) = beam(&m, BEAM_WIDTH);
    let b = make(bo, bp, Scheduler::Beam, None);
    let e = exact_or_best(&m, &[p.clone(), g.clone(), b.clone()], limit);
    let mut out: Vec<Schedule> = Vec::new();
    for s in [p, g, b, e] {
        match out.iter_mut().find(|x| x.order == s.order) {
            // The same order again: keep the first name, and what the later one found out.
            Some(x) => x.note = x.note.take().or(s.note),
            None => out.push(s),
        }
    }
    out
}

/// The order `which` chooses for `graph` under `opts` (`exact` searches at most `limit`).
/// For `auto` without a planner at hand, the candidate with the least model peak (ties to the
/// earlier candidate); `pipeline` instead compares planned arenas.
pub fn schedule(
    graph: &Graph,
    which: Scheduler,
    opts: &AnalysisOptions,
    limit: Duration,
) -> Schedule {
    let m = MemoryModel::new(graph, opts);
    match which {
        Scheduler::Program => program(&m),
        Scheduler::Greedy => {
            let (o, p) = greedy(&m);
            make(o, p, Scheduler::Greedy, None)
        }
        Scheduler::Beam => {
            let (o, p) = beam(&m, BEAM_WIDTH);
            make(o, p, Scheduler::Beam, None)
        }
        Scheduler::Exact => {
            let (go, gp) = greedy(&m);
            let (bo, bp) = beam(&m, BEAM_WIDTH);
            let known = [
                program(&m),
                make(go, gp, Scheduler::Greedy, None),
                make(bo, bp, Scheduler::Beam, None),
            ];
            exact_or_best(&m, &known, limit)
        }
        Scheduler::Auto => candidates(graph, opts, limit)
            .into_iter()
            .min_by_key(|s| s.peak_bytes)
            .unwrap_or_else(|| program(&m)),
    }
}

#[cfg(test)]
mod tests;
