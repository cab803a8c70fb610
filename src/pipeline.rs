//! The pipeline end to end for one graph: schedule, analyse, plan, lay out (and, in `run`,
//! execute on the GPU and compare with the CPU reference). The CLI and the demo are thin layers
//! over this. The schedule stage permutes the nodes, so everything after it (layout, runtime, CPU
//! reference) must take [`PlannedGraph::graph`], the scheduled graph, not the caller's.

use crate::analysis::{AnalysisOptions, MemoryAnalysis, WorkspacePolicy, analyze};
use crate::graph::Graph;
use crate::graph::conv::{self, ConvChoice};
use crate::layout::{MemoryLayout, planned_layout};
use crate::plan::{Budget, Outcome, PlanError, lower_bound, plan_and_check};
use crate::report::{ScheduleCandidate, ScheduleSection, Variant};
use crate::schedule::{MemoryModel, Schedule, Scheduler, candidates, reorder, schedule};
use std::time::Instant;

/// How to plan a graph.
#[derive(Clone, Debug)]
pub struct PlanConfig {
    /// Planner name (see `plan::planner_names`).
    pub planner: String,
    /// Search budget for planners that search.
    pub budget: Budget,
    /// Analysis switches (alignment, in-place, workspace policy).
    pub analysis: AnalysisOptions,
    /// How to order the nodes before analysis (`program` keeps the graph's order).
    pub schedule: Scheduler,
}

impl Default for PlanConfig {
    fn default() -> Self {
        Self {
            planner: "auto".into(),
            budget: Budget::default(),
            analysis: AnalysisOptions::default(),
            schedule: Scheduler::Program,
        }
    }
}

/// A graph with its memory plan.
#[derive(Clone, Debug)]
pub struct PlannedGraph {
    /// The scheduled graph (nodes in execution order) that analysis, the layout and every
    /// executor use; the caller's graph with its nodes permuted, tensor ids unchanged.
    pub graph: Graph,
    /// Which order was chosen and why.
    pub schedule: ScheduleSection,
    /// What analysis found.
    pub analysis: MemoryAnalysis,
    /// The planner's answer for `analysis.problem`.
    pub outcome: Outcome,
    /// Max-load lower bound of `analysis.problem`.
    pub lower_bound: u64,
    /// Where every tensor lives in the one buffer.
    pub layout: MemoryLayout,
    /// Scheduling + analysis + planning time, ms.
    pub plan_ms: f64,
    /// What runs the attention nodes ([`Graph::attention_summary`]): `tiled`, `materialized`,
    /// `mixed` or `none`.
    pub attention: &'static str,
    /// Each conv op's lowering method and workspace (as the graph's conv attributes say).
    pub conv: Vec<ConvChoice>,
    /// How many micro-batch slices `graph` runs its batch as (set by whoever applied
    /// `transform::micro_batch`; 1 from [`plan_graph`]).
    pub micro_batch: usize,
}

/// Plans `graph` in its node order (pass [`PlannedGraph::graph`] to see the scheduled order)
/// under every (in-place, workspace policy) combination, other settings as in `base`, to show
/// what each reuse strategy buys.
pub fn plan_variants(graph: &Graph, base: &PlanConfig) -> Result<Vec<Variant>, PlanError> {
    let mut out = Vec::new();
    for in_place in [false, true] {
        for ws in WorkspacePolicy::ALL {
            let mut cfg = base.clone();
            cfg.schedule = Scheduler::Program;
            cfg.analysis.in_place = in_place;
            cfg.analysis.workspace = ws;
            let p = plan_graph(graph, &cfg)?;
            out.push(Variant {
                in_place,
                workspace: ws.name().into(),
                arena_bytes: p.outcome.plan.arena_bytes,
                lower_bound_bytes: p.lower_bound,
                workspace_bytes: p.analysis.workspace_bytes,
            });
        }
    }
    Ok(out)
}

/// Schedules `graph` as `cfg.schedule` says, then analyses and plans the scheduled graph; the
/// plan is validated and never below the lower bound. `exact` searches at most
/// `cfg.budget.time_limit`, and each plan the planner makes gets that budget too (`auto` plans
/// every distinct candidate order).
pub fn plan_graph(graph: &Graph, cfg: &PlanConfig) -> Result<PlannedGraph, PlanError> {
    let started = Instant::now();
    let program_peak = program_peak(graph, cfg);
    let mut planned = match cfg.schedule {
        Scheduler::Program => plan_order(graph.clone(), cfg)?,
        Scheduler::Auto => {
            let mut p = plan_auto(graph, cfg)?;
            p.schedule.schedule_ms = started.elapsed().as_secs_f64() * 1e3;
            p
        }
        which => {
            let s = schedule(graph, which, &cfg.analysis, cfg.budget.time_limit);
            let schedule_ms = started.elapsed().as_secs_f64() * 1e3;
            let mut p = plan_order(apply(graph, &s)?, cfg)?;
            p.schedule.chosen = s.scheduler.name().into();
            p.schedule.peak_live_bytes = s.peak_bytes;
            p.schedule.note = s.note;
            p.schedule.schedule_ms = schedule_ms;
            p
        }
    };
    planned.schedule.name = cfg.schedule.name().into();
    planned.schedule.program_peak_live_bytes = program_peak;
    if cfg.schedule == Scheduler::Program {
        planned.schedule.chosen = Scheduler::Program.name().into();
        planned.schedule.peak_live_bytes = program_peak;
    }
    planned.plan_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(planned)
}

/// The model peak of the graph's own order.
fn program_peak(graph: &Graph, cfg: &PlanConfig) -> u64 {
    let order: Vec<usize> = (0..graph.nodes.len()).collect();
    MemoryModel::new(graph, &cfg.analysis)
        .peak(&order)
        .unwrap_or(0)
}

/// The graph with `s`'s order applied.
fn apply(graph: &Graph, s: &Schedule) -> Result<Graph, PlanError> {
    reorder(graph, &s.order).map_err(|e| PlanError::InvalidSchedule {
        scheduler: s.scheduler.name().into(),
        message: e.to_string(),
    })
}

/// `auto`: plans every distinct candidate order and keeps the smallest planned arena; ties go
/// to the earlier candidate, and `program` comes first, so it is never worse than `program`.
fn plan_auto(graph: &Graph, cfg: &PlanConfig) -> Result<PlannedGraph, PlanError> {
    let cands = candidates(graph, &cfg.analysis, cfg.budget.time_limit);
    let mut best: Option<(PlannedGraph, &Schedule)> = None;
    let mut rows = Vec::with_capacity(cands.len());
    for s in &cands {
        let p = plan_order(apply(graph, s)?, cfg)?;
        rows.push(ScheduleCandidate {
            name: s.scheduler.name().into(),
            peak_live_bytes: s.peak_bytes,
            arena_bytes: p.outcome.plan.arena_bytes,
        });
        if best
            .as_ref()
            .is_none_or(|(b, _)| p.outcome.plan.arena_bytes < b.outcome.plan.arena_bytes)
        {
            best = Some((p, s));
        }
    }
    let (mut p, s) = match best {
        Some(b) => b,
        None => return plan_order(graph.clone(), cfg),
    };
    let notes: Vec<&str> = cands.iter().filter_map(|c| c.note.as_deref()).collect();
    p.schedule.chosen = s.scheduler.name().into();
    p.schedule.peak_live_bytes = s.peak_bytes;
    p.schedule.candidates = rows;
    p.schedule.note = (!notes.is_empty()).then(|| notes.join("; "));
    Ok(p)
}

/// Analyses and plans `graph` in its node order; the plan is validated and never below the
/// lower bound.
fn plan_order(graph: Graph, cfg: &PlanConfig) -> Result<PlannedGraph, PlanError> {
    let started = Instant::now();
    let analysis = analyze(&graph, &cfg.analysis)?;
    let (outcome, _report) = plan_and_check(&analysis.problem, &cfg.planner, &cfg.budget)?;
    let lb = lower_bound(&analysis.problem);
    let layout = planned_layout(&graph, &analysis, &outcome.plan, cfg.analysis.alignment)?;
    let plan_ms = started.elapsed().as_secs_f64() * 1e3;
    let attention = graph.attention_summary();
    let conv = conv::choices(&graph);
    Ok(PlannedGraph {
        graph,
        schedule: ScheduleSection::default(),
        analysis,
        outcome,
        lower_bound: lb,
        layout,
        plan_ms,
        attention,
        conv,
        micro_batch: 1,
    })
}
