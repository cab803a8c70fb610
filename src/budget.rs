//! `--budget`: searches the planning knobs (attention kernel, conv lowering and workspace cap,
//! schedule, in-place reuse, workspace policy) for the first configuration, in a fixed
//! preference order, whose planned arena fits a byte budget; when none fits, the error names the
//! smallest arena reached and what sets it.
//!
//! Cost model (a fixed preference order, fastest first): materialized attention before tiled,
//! then conv `im2col`, `auto` with the default tile, `auto` with a 16 KiB and a 4 KiB cap, then
//! `direct` (im2col is a GEMM, the direct kernel is slower); the `program` schedule before
//! `auto` (scheduling costs planning time only); in-place reuse and the workspace policy cost
//! nothing at run time, so for each of the costed settings they are tried in the order
//! (in-place on, planned), (on, grouped), (on, global), (off, planned).
//! Settings that give the same graph as an earlier one (no attention or no conv ops) are skipped.

use crate::analysis::WorkspacePolicy;
use crate::graph::conv::{self, ConvMode};
use crate::graph::{AttentionKernel, Graph, GraphError};
use crate::pipeline::{PlanConfig, PlannedGraph, plan_graph};
use crate::plan::{PlanError, memory_curve};
use crate::report::{BudgetSection, human_bytes};
use crate::schedule::Scheduler;
use std::time::Instant;
use thiserror::Error;

/// The conv settings in preference order: (mode, im2col workspace cap; `None` = default tile).
const CONV_ORDER: [(ConvMode, Option<u64>); 5] = [
    (ConvMode::Im2col, None),
    (ConvMode::Auto, None),
    (ConvMode::Auto, Some(16 * 1024)),
    (ConvMode::Auto, Some(4 * 1024)),
    (ConvMode::Direct, None),
];

/// The free settings (in-place, workspace policy) in the order they are tried.
const FREE_ORDER: [(bool, WorkspacePolicy); 4] = [
    (true, WorkspacePolicy::Planned),
    (true, WorkspacePolicy::Grouped),
    (true, WorkspacePolicy::Global),
    (false, WorkspacePolicy::Planned),
];

/// Why a budget search failed.
#[derive(Debug, Error)]
pub enum BudgetError {
    /// No configuration tried has an arena within the budget.
    #[error(
        "budget {} cannot be met: the smallest arena reached is {} ({settings}); its lower bound (largest live set) is {} at step {step}; weights ({}) are a separate region, not in the arena ({searched} configurations planned)",
        human_bytes(*.requested),
        human_bytes(*.smallest),
        human_bytes(*.bound),
        human_bytes(*.weights)
    )]
    NotMet {
        /// The budget, bytes.
        requested: u64,
        /// The smallest planned arena reached, bytes.
        smallest: u64,
        /// The settings that reached it.
        settings: String,
        /// That configuration's lower bound (its largest live set), bytes.
        bound: u64,
        /// The step where that live set peaks.
        step: u64,
        /// The weights' bytes (a region of the buffer outside the arena).
        weights: u64,
        /// How many configurations were planned, and whether the time limit stopped the search.
        searched: String,
    },
    /// Planning failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The graph is invalid.
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// One configuration of the knobs.
#[derive(Clone, Debug, PartialEq)]
pub struct Knobs {
    /// Attention kernel of every attention node.
    pub attention: AttentionKernel,
    /// Conv lowering mode.
    pub conv: ConvMode,
    /// Largest im2col workspace of one conv op (`None`: the default tile).
    pub conv_cap: Option<u64>,
    /// Execution order.
    pub schedule: Scheduler,
    /// In-place reuse.
    pub in_place: bool,
    /// Workspace policy.
    pub workspace: WorkspacePolicy,
}

impl Knobs {
    /// The settings in words, e.g. `schedule auto, conv direct, attention tiled, in-place on,
    /// workspace planned`.
    pub fn describe(&self) -> String {
        let conv = match (self.conv, self.conv_cap) {
            (ConvMode::Im2col, _) => "im2col".to_string(),
            (ConvMode::Direct, _) => "direct".to_string(),
            (ConvMode::Auto, None) => "auto".to_string(),
            (ConvMode::Auto, Some(c)) => format!("auto, cap {}", human_bytes(c)),
        };
        format!(
            "schedule {}, conv {conv}, attention {}, in-place {}, workspace {}",
            self.schedule.name(),
            self.attention.name(),
            if self.in_place { "on" } else { "off" },
            self.workspace.name()
        )
    }
}

/// The configuration found: its graph (attention and conv choices applied), config and plan.
#[derive(Debug)]
pub struct BudgetChoice {
    /// The graph with the chosen attention kernel and conv methods.
    pub graph: Graph,
    /// The chosen planning config.
    pub cfg: PlanConfig,
    /// The chosen knobs.
    pub knobs: Knobs,
    /// The plan of `graph` under `cfg`; its arena is within the budget.
    pub planned: PlannedGraph,
    /// The report's `budget` section.
    pub section: BudgetSection,
}

/// A graph with its attention kernel, conv mode and conv cap applied.
type Costed = (Graph, AttentionKernel, ConvMode, Option<u64>);

/// The attention kernels worth trying for `graph`, in preference order.
fn attention_order(graph: &Graph) -> Vec<AttentionKernel> {
    if graph.attention_summary() == "none" {
        vec![AttentionKernel::Tiled]
    } else {
        vec![AttentionKernel::Materialized, AttentionKernel::Tiled]
    }
}

/// Every distinct graph the attention and conv settings give, in preference order, each with
/// its (attention, conv, cap); settings a conv op cannot be lowered under are left out.
fn costed_graphs(model: &Graph) -> Result<Vec<Costed>, GraphError> {
    let mut out: Vec<Costed> = Vec::new();
    for kernel in attention_order(model) {
        let mut g = model.clone();
        g.set_attention_kernel(kernel)?;
        for (mode, cap) in CONV_ORDER {
            let Ok(c) = conv::choose(&g, mode, cap) else {
                continue;
            };
            let same = |o: &Costed| o.1 == kernel && conv::choices(&o.0) == conv::choices(&c);
            if !out.iter().any(same) {
                out.push((c, kernel, mode, cap));
            }
        }
    }
    Ok(out)
}

/// The step where `p`'s live bytes peak (its lower bound).
fn peak_step(p: &PlannedGraph) -> u64 {
    memory_curve(&p.analysis.problem)
        .iter()
        .max_by_key(|&&(t, live)| (live, std::cmp::Reverse(t)))
        .map_or(0, |&(t, _)| t)
}

/// Searches for the first configuration in the preference order (module doc) whose planned
/// arena is at most `budget` bytes; `base` gives the planner and the alignment, and its time
/// limit bounds each plan and the whole search (checked after each plan).
/// `model` is the model's graph (its attention kernels and conv methods are overridden).
pub fn search(model: &Graph, base: &PlanConfig, budget: u64) -> Result<BudgetChoice, BudgetError> {
    let started = Instant::now();
    let mut tried = 0;
    let mut smallest: Option<(PlannedGraph, Knobs)> = None;
    for (graph, attention, conv, conv_cap) in costed_graphs(model)? {
        for schedule in [Scheduler::Program, Scheduler::Auto] {
            for (in_place, workspace) in FREE_ORDER {
                let knobs = Knobs {
                    attention,
                    conv,
                    conv_cap,
                    schedule,
                    in_place,
                    workspace,
                };
                let mut cfg = base.clone();
                cfg.schedule = schedule;
                cfg.analysis.in_place = in_place;
                cfg.analysis.workspace = workspace;
                let planned = plan_graph(&graph, &cfg)?;
                tried += 1;
                let arena = planned.outcome.plan.arena_bytes;
                if arena <= budget {
                    let section = BudgetSection {
                        requested_bytes: budget,
                        met: true,
                        configurations_tried: tried,
                        chosen: knobs.describe(),
                        search_ms: started.elapsed().as_secs_f64() * 1e3,
                    };
                    return Ok(BudgetChoice {
                        graph,
                        cfg,
                        knobs,
                        planned,
                        section,
                    });
                }
                if smallest
                    .as_ref()
                    .is_none_or(|(s, _)| arena < s.outcome.plan.arena_bytes)
                {
                    smallest = Some((planned, knobs));
                }
                if started.elapsed() > base.budget.time_limit {
                    let searched = format!("search stopped at the time limit after {tried}");
                    return Err(not_met(budget, smallest, searched));
                }
            }
        }
    }
    Err(not_met(budget, smallest, format!("all {tried}")))
}

/// The error for a budget nothing met, from the smallest plan reached.
/// `searched` says how many configurations were planned ("all 32", "search stopped ... after 5").
fn not_met(budget: u64, smallest: Option<(PlannedGraph, Knobs)>, searched: String) -> BudgetError {
    let (arena, settings, bound, step, weights) = match &smallest {
        Some((p, k)) => (
            p.outcome.plan.arena_bytes,
            k.describe(),
            p.lower_bound,
            peak_step(p),
            p.analysis.weights_bytes,
        ),
        None => (0, "no configuration could be planned".into(), 0, 0, 0),
    };
    BudgetError::NotMet {
        requested: budget,
        smallest: arena,
        settings,
        bound,
        step,
        weights,
        searched,
    }
}
