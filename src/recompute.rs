//! Plans a training graph under a checkpoint strategy (`--checkpoint`), composed with the
//! scheduler: schedule first, then checkpoint, then plan the result in its own order.
//!
//! The scheduler orders the whole training graph (`--schedule`; `auto` takes the candidate
//! with the least model peak here). The forward nodes are then moved, in their scheduled
//! order, before every other node, and the in-place optimizer updates after every other node
//! (a forward node never reads a backward tensor, and an update must follow every reader of
//! the weight it rewrites, recompute clones included), so the `forward_len` convention holds.
//! Checkpointing then inserts its clones right before their backward use, and the result is
//! planned in exactly that order (`program`), so the scheduler cannot move a clone away from
//! its use. `budget:BYTES` plans its candidates the same way (`transform::checkpoint::
//! apply_budget` with [`plan_graph`] as the oracle). [`frontier`] plans every strategy side by
//! side for `plan --train`.

use crate::graph::Graph;
use crate::graph::cost::GraphCost;
use crate::pipeline::{PlanConfig, PlannedGraph, plan_graph};
use crate::plan::PlanError;
use crate::schedule::{Scheduler, reorder, schedule};
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

/// `graph` in the order `cfg.schedule` chooses, forward nodes first and in-place updates last;
/// returns it with the scheduler that ran (`None` for `program`) and its note.
/// The scheduler that ran, the model peak of its order and its note.
type Chosen = Option<(Scheduler, u64, Option<String>)>;

fn scheduled(
    graph: &Graph,
    forward_len: usize,
    cfg: &PlanConfig,
) -> Result<(Graph, Chosen), RecomputeError> {
    if cfg.schedule == Scheduler::Program {
        return Ok((graph.clone(), None));
    }
    let s = schedule(graph, cfg.schedule, &cfg.analysis, cfg.budget.time_limit);
    let rank = |n: crate::graph::NodeId| {
        let i = n.index();
        if i < forward_len {
            0
        } else if graph.nodes[i].op.updates_in_place() {
            2
        } else {
            1
        }
    };
    let mut order = s.order.clone();
    order.sort_by_key(|&n| rank(n));
    let g = reorder(graph, &order).map_err(|e| PlanError::InvalidSchedule {
        scheduler: s.scheduler.name().into(),
        message: e.to_string(),
    })?;
    Ok((g, Some((s.scheduler, s.peak_bytes, s.note))))
}

fn program(cfg: &PlanConfig) -> PlanConfig {
    PlanConfig {
        schedule: Scheduler::Program,
        ..cfg.clone()
    }
}

/// Schedules `graph` (forward pass `nodes[..forward_len]`) as `cfg` says, checkpoints it with
/// `strategy`, and plans the result; see the module docs.
pub fn plan_checkpointed(
    graph: &Graph,
    forward_len: usize,
    strategy: &Strategy,
    cfg: &PlanConfig,
) -> Result<CheckpointPlan, RecomputeError> {
    let (g, chosen) = scheduled(graph, forward_len, cfg)?;
    let pcfg = program(cfg);
    let ck = match *strategy {
        Strategy::Budget(bytes) => {
            let mut oracle = |x: &Graph| plan_graph(x, &pcfg).map(|p| p.outcome.plan.arena_bytes);
            checkpoint::apply_budget(&g, forward_len, bytes, &mut oracle)?.0
        }
        ref s => checkpoint::apply(&g, forward_len, s)?,
    };
    let mut planned = plan_graph(&ck.graph, &pcfg)?;
    if let Some((which, peak, note)) = chosen {
        let sec = &mut planned.schedule;
        sec.name = cfg.schedule.name().into();
        sec.chosen = which.name().into();
        sec.peak_live_bytes = peak;
        let ours = "checkpointing ran after scheduling (forward first, updates last), and the \
                    result is planned in that order";
        sec.note = Some(match note {
            Some(n) => format!("{n}; {ours}"),
            None => ours.into(),
        });
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
        }
    }
}
