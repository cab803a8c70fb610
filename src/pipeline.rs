//! The pipeline end to end for one graph: analyse, plan, lay out (and, in `run`, execute on the
//! GPU and compare with the CPU reference). The CLI and the demo are thin layers over this.

use crate::analysis::{AnalysisOptions, MemoryAnalysis, WorkspacePolicy, analyze};
use crate::graph::Graph;
use crate::graph::conv::{self, ConvChoice};
use crate::layout::{MemoryLayout, planned_layout};
use crate::plan::{Budget, Outcome, PlanError, lower_bound, plan_and_check};
use crate::report::Variant;
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
}

impl Default for PlanConfig {
    fn default() -> Self {
        Self {
            planner: "auto".into(),
            budget: Budget::default(),
            analysis: AnalysisOptions::default(),
        }
    }
}

/// A graph with its memory plan.
#[derive(Clone, Debug)]
pub struct PlannedGraph {
    /// What analysis found.
    pub analysis: MemoryAnalysis,
    /// The planner's answer for `analysis.problem`.
    pub outcome: Outcome,
    /// Max-load lower bound of `analysis.problem`.
    pub lower_bound: u64,
    /// Where every tensor lives in the one buffer.
    pub layout: MemoryLayout,
    /// Analysis + planning time.
    pub plan_ms: f64,
    /// Each conv op's lowering method and workspace (as the graph's conv attributes say).
    pub conv: Vec<ConvChoice>,
}

/// Plans `graph` under every (in-place, workspace policy) combination, other settings as in
/// `base`, to show what each reuse strategy buys.
pub fn plan_variants(graph: &Graph, base: &PlanConfig) -> Result<Vec<Variant>, PlanError> {
    let mut out = Vec::new();
    for in_place in [false, true] {
        for ws in WorkspacePolicy::ALL {
            let mut cfg = base.clone();
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

/// Analyses and plans `graph`; the plan is validated and never below the lower bound.
pub fn plan_graph(graph: &Graph, cfg: &PlanConfig) -> Result<PlannedGraph, PlanError> {
    let started = Instant::now();
    let analysis = analyze(graph, &cfg.analysis)?;
    let (outcome, _report) = plan_and_check(&analysis.problem, &cfg.planner, &cfg.budget)?;
    let lb = lower_bound(&analysis.problem);
    let layout = planned_layout(graph, &analysis, &outcome.plan, cfg.analysis.alignment)?;
    let plan_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(PlannedGraph {
        analysis,
        outcome,
        lower_bound: lb,
        layout,
        plan_ms,
        conv: conv::choices(graph),
    })
}
