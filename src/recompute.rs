//! Plans a training graph under a checkpoint strategy (`--checkpoint`), composed with the
//! scheduler: schedule first, then checkpoint, then plan the result in its own order.
//!
//! The scheduler orders the whole training graph (`--schedule`; `auto` checkpoints and plans
//! every candidate order and keeps the smallest arena). The forward nodes are then moved, in their scheduled
//! order, before every other node (a forward node never reads a backward tensor), so the
//! `forward_len` convention holds. A clone reads a weight before that weight's in-place update
//! because the update waits for the weight's gradient, which needs the backward of the cloned
//! node, which comes after the clone; graph validation refuses any order where it would not.
//! Checkpointing then inserts its clones right before their backward use, and the result is
//! planned in exactly that order (`program`), so the scheduler cannot move a clone away from
//! its use. `budget:BYTES` plans its candidates the same way (`transform::checkpoint::
//! apply_budget` with [`plan_graph`] as the oracle). [`frontier`] plans every strategy side by
//! side for `plan --train`.

use crate::graph::Graph;
use crate::graph::cost::GraphCost;
use crate::pipeline::{PlanConfig, PlannedGraph, plan_graph};
use crate::plan::PlanError;
use crate::schedule::{Schedule, Scheduler, candidates, reorder, schedule};
use crate::transform::checkpoint::{self, CheckpointError, Checkpointed, Strategy};
use thiserror::Error;

/// Why planning a checkpointed training graph failed.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum RecomputeError {
    /// Checkpointing refused the graph or the strategy, or the budget cannot be met.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Scheduling, analysis or planning failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// A checkpointed training graph with its plan.
#[derive(Clone, Debug)]
pub struct CheckpointPlan {
    /// The strategy asked for.
    pub strategy: Strategy,
    /// The rewritten graph and its recompute figures.
    pub checkpointed: Checkpointed,
    /// Its plan (`planned.graph` is `checkpointed.graph`, planned in its own order).
    pub planned: PlannedGraph,
    /// Forward, backward and recompute FLOPs of the planned graph.
    pub cost: GraphCost,
}

/// One strategy of the memory/compute frontier.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FrontierRow {
    /// The strategy (`--checkpoint` spelling).
    pub strategy: String,
    /// Planned arena, bytes.
    pub arena_bytes: u64,
    /// Recompute FLOPs.
    pub recompute_flops: u64,
    /// Forward FLOPs (the same for every row; the ratio's denominator).
    pub forward_flops: u64,
    /// Bytes of forward activations kept for the backward pass.
    pub kept_bytes: u64,
}

/// `graph` in the order `cfg.schedule` chooses, forward nodes first; returns it with the
/// scheduler that ran (`None` for `program`), its model peak and its note.
/// The scheduler that ran, the model peak of its order (before checkpointing) and its note.
type Chosen = (Scheduler, u64, Option<String>);

/// `graph` in the order of schedule `s`, forward nodes moved first (a stable sort, each part
/// in the scheduler's order).
fn ordered(graph: &Graph, forward_len: usize, s: &Schedule) -> Result<Graph, RecomputeError> {
    let mut order = s.order.clone();
    order.sort_by_key(|n| n.index() >= forward_len);
    reorder(graph, &order).map_err(|e| {
        RecomputeError::Plan(PlanError::InvalidSchedule {
            scheduler: s.scheduler.name().into(),
            message: e.to_string(),
        })
    })
}

/// The candidate orders: none for `program` (the graph as it is), every distinct candidate for
/// `auto` (program first), else the one the scheduler chooses.
fn orders(graph: &Graph, cfg: &PlanConfig) -> Vec<Schedule> {
    match cfg.schedule {
        Scheduler::Program => Vec::new(),
        Scheduler::Auto => candidates(graph, &cfg.analysis, cfg.budget.time_limit),
        which => vec![schedule(graph, which, &cfg.analysis, cfg.budget.time_limit)],
    }
}

/// Checkpoints `g` with `strategy` and plans it in its own order.
fn checkpoint_and_plan(
    g: &Graph,
    forward_len: usize,
    strategy: &Strategy,
    pcfg: &PlanConfig,
) -> Result<(Checkpointed, PlannedGraph), RecomputeError> {
    let ck = match *strategy {
        Strategy::Budget(bytes) => {
            let mut oracle = |x: &Graph| plan_graph(x, pcfg).map(|p| p.outcome.plan.arena_bytes);
            checkpoint::apply_budget(g, forward_len, bytes, &mut oracle)?.0
        }
        ref s => checkpoint::apply(g, forward_len, s)?,
    };
    let planned = plan_graph(&ck.graph, pcfg)?;
    Ok((ck, planned))
}

/// Schedules `graph` (forward pass `nodes[..forward_len]`) as `cfg` says, checkpoints it with
/// `strategy`, and plans the result; see the module docs. `auto` checkpoints and plans every
/// candidate order and keeps the smallest arena (ties to the earlier, `program` first).
pub fn plan_checkpointed(
    graph: &Graph,
    forward_len: usize,
    strategy: &Strategy,
    cfg: &PlanConfig,
) -> Result<CheckpointPlan, RecomputeError> {
    let pcfg = PlanConfig {
        schedule: Scheduler::Program,
        ..cfg.clone()
    };
    let mut best: Option<(Checkpointed, PlannedGraph, Option<Chosen>)> = None;
    let orders = orders(graph, cfg);
    if orders.is_empty() {
        let (ck, p) = checkpoint_and_plan(graph, forward_len, strategy, &pcfg)?;
        best = Some((ck, p, None));
    }
    // An order that does not validate (say, a weight read after its in-place update) is
    // skipped under `auto`, an error otherwise.
    let mut skipped = Vec::new();
    for s in orders {
        let g = match ordered(graph, forward_len, &s) {
            Ok(g) => g,
            Err(e) if cfg.schedule == Scheduler::Auto => {
                skipped.push(format!("{}'s order skipped: {e}", s.scheduler.name()));
                continue;
            }
            Err(e) => return Err(e),
        };
        let (ck, p) = checkpoint_and_plan(&g, forward_len, strategy, &pcfg)?;
        let arena = p.outcome.plan.arena_bytes;
        if best
            .as_ref()
            .is_none_or(|(_, b, _)| arena < b.outcome.plan.arena_bytes)
        {
            best = Some((ck, p, Some((s.scheduler, s.peak_bytes, s.note))));
        }
    }
    let Some((ck, mut planned, chosen)) = best else {
        return Err(PlanError::InvalidSchedule {
            scheduler: cfg.schedule.name().into(),
            message: "no candidate order".into(),
        }
        .into());
    };
    if let Some((which, peak, note)) = chosen {
        let sec = &mut planned.schedule;
        sec.name = cfg.schedule.name().into();
        sec.chosen = which.name().into();
        // The peaks are those of the planned (checkpointed) order; the scheduler's own is
        // the order's before checkpointing.
        let ours = format!(
            "{} ordered the training graph (model peak {peak} bytes before checkpointing); \
             checkpointing ran after scheduling (forward nodes first) and the result is \
             planned in that order",
            which.name()
        );
        sec.note = Some(
            note.into_iter()
                .chain([ours])
                .chain(skipped)
                .collect::<Vec<_>>()
                .join("; "),
        );
    }
    let cost = ck.cost();
    Ok(CheckpointPlan {
        strategy: *strategy,
        checkpointed: ck,
        planned,
        cost,
    })
}

/// The strategies `plan --train` compares: none, sqrt, every:2, selective and revolve with
/// `round(sqrt(n))` and 2 slots (n segments; revolve only where
/// [`checkpoint::revolve_fits`]; budgets need a figure, so they are left out).
pub fn frontier_strategies(graph: &Graph, forward_len: usize) -> Vec<Strategy> {
    let n = checkpoint::apply(graph, forward_len, &Strategy::None)
        .map(|c| c.segments)
        .unwrap_or(1);
    let mut out = vec![
        Strategy::None,
        Strategy::Sqrt,
        Strategy::Every(2),
        Strategy::Selective,
    ];
    let mut slots = vec![checkpoint::sqrt_group(n)];
    if slots[0] != 2 {
        slots.push(2);
    }
    // Revolve's dynamic programme grows as n^2 C: left out where it would take too long.
    out.extend(
        slots
            .into_iter()
            .filter(|&c| checkpoint::revolve_fits(n, c))
            .map(Strategy::Revolve),
    );
    out
}

/// Plans `graph` under every strategy of [`frontier_strategies`]: the memory/compute frontier.
pub fn frontier(
    graph: &Graph,
    forward_len: usize,
    cfg: &PlanConfig,
) -> Result<Vec<FrontierRow>, RecomputeError> {
    frontier_strategies(graph, forward_len)
        .iter()
        .map(|s| {
            let p = plan_checkpointed(graph, forward_len, s, cfg)?;
            Ok(FrontierRow {
                strategy: s.name(),
                arena_bytes: p.planned.outcome.plan.arena_bytes,
                recompute_flops: p.cost.recompute_flops,
                forward_flops: p.cost.forward_flops,
                kept_bytes: p.checkpointed.kept_bytes,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{ModelOptions, build};
    use crate::transform::autodiff::{TrainOptions, training_graph};

    fn cfg() -> PlanConfig {
        PlanConfig {
            planner: "best-fit".into(),
            ..PlanConfig::default()
        }
    }

    fn train(model: &str, layers: usize) -> (Graph, usize) {
        let opts = ModelOptions {
            layers: Some(layers),
            ..ModelOptions::default()
        };
        let g = build(model, &opts).unwrap();
        let t = training_graph(&g, &TrainOptions::default()).unwrap();
        (t.graph, t.forward_len)
    }

    fn words(g: &Graph) -> Vec<Vec<u32>> {
        crate::cpu::run_outputs(g)
            .unwrap()
            .iter()
            .map(|d| d.to_words())
            .collect()
    }

    #[test]
    fn real_training_graphs_shrink_and_stay_bit_identical() {
        for model in ["mlp", "gpt", "resnet"] {
            let (g, fwd) = train(model, 4);
            let want = words(&g);
            let rows = frontier(&g, fwd, &cfg()).unwrap();
            let none = rows[0].arena_bytes;
            assert_eq!(rows[0].recompute_flops, 0);
            for s in frontier_strategies(&g, fwd) {
                let p = plan_checkpointed(&g, fwd, &s, &cfg()).unwrap();
                assert!(words(&p.planned.graph) == want, "{model} {}", s.name());
            }
            let sqrt = &rows[1];
            assert!(sqrt.arena_bytes < none, "{model}: {rows:?}");
            assert!(
                sqrt.recompute_flops <= sqrt.forward_flops,
                "{model}: {rows:?}"
            );
        }
    }

    #[test]
    fn composes_with_the_scheduler() {
        let (g, fwd) = train("gpt", 2);
        let want = words(&g);
        let program = plan_checkpointed(&g, fwd, &Strategy::Sqrt, &cfg()).unwrap();
        let program_arena = program.planned.outcome.plan.arena_bytes;
        for which in [Scheduler::Greedy, Scheduler::Auto] {
            let c = PlanConfig {
                schedule: which,
                ..cfg()
            };
            let p = plan_checkpointed(&g, fwd, &Strategy::Sqrt, &c).unwrap();
            assert!(words(&p.planned.graph) == want);
            assert!(p.cost.recompute_flops > 0);
            assert!(
                p.planned
                    .schedule
                    .note
                    .as_deref()
                    .unwrap_or("")
                    .contains("after scheduling")
            );
            if which == Scheduler::Auto {
                // `program` is a candidate: auto is never worse.
                assert!(p.planned.outcome.plan.arena_bytes <= program_arena);
            }
        }
    }
}
