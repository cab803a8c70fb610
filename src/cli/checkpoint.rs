//! `--checkpoint` on `plan --train` and `run --train`: plans the training graph under the
//! strategy (`tessera::recompute`), fills `plan.checkpoint` and `compute`, and prints the
//! memory/compute frontier of every strategy for `plan --train`.

use super::CliError;
use super::args::{PlanOpts, TrainArgs};
use std::time::Instant;
use tessera::bytes::parse_size;
use tessera::graph::Graph;
use tessera::graph::cost::graph_cost;
use tessera::pipeline::{PlanConfig, PlannedGraph, plan_graph};
use tessera::recompute::{FrontierRow, plan_checkpointed};
use tessera::report::{BudgetSection, CheckpointSection, ComputeSection, Table, human_bytes};
use tessera::transform::autodiff::TrainingGraph;
use tessera::transform::checkpoint::{CheckpointError, Strategy};

/// The strategy `--checkpoint` asks for (`None` without the flag); refused without `--train`.
pub fn strategy(args: &TrainArgs) -> Result<Option<Strategy>, CliError> {
    match &args.checkpoint {
        None => Ok(None),
        Some(_) if !args.train => Err(CliError::Usage("--checkpoint needs --train".into())),
        Some(text) => Strategy::parse(text)
            .map(Some)
            .map_err(|e: CheckpointError| CliError::Usage(e.to_string())),
    }
}

/// `--budget BYTES` with `--train`: the budget becomes checkpointing's own (`budget:BYTES`, the
/// least recompute whose planned arena fits), every other knob as its flag says. Returns the
/// options to prepare the forward graph with (without the forward knob search) and the bytes.
pub fn training_budget(
    opts: &PlanOpts,
    train: &TrainArgs,
) -> Result<(PlanOpts, Option<u64>), CliError> {
    let Some(text) = opts.budget.as_deref().filter(|_| train.train) else {
        return Ok((opts.clone(), None));
    };
    if train.checkpoint.is_some() {
        return Err(CliError::Usage(
            "--budget with --train searches the checkpoint strategy itself: give --budget or --checkpoint, not both".into(),
        ));
    }
    let bytes = parse_size(text).map_err(|e| CliError::Usage(format!("--budget: {e}")))?;
    let mut forward = opts.clone();
    forward.budget = None;
    Ok((forward, Some(bytes)))
}

/// The strategy to plan a training graph with: `budget:BYTES` under a training budget
/// ([`training_budget`]), else `--checkpoint`'s.
pub fn training_strategy(
    args: &TrainArgs,
    budget: Option<u64>,
) -> Result<Option<Strategy>, CliError> {
    match budget {
        Some(bytes) => Ok(Some(Strategy::Budget(bytes))),
        None => strategy(args),
    }
}

/// The report's `budget` section for a training budget that checkpointing met (`plan` is the
/// result, planned since `started`).
pub fn training_budget_section(
    bytes: u64,
    plan: &PlannedGraph,
    checkpoint: Option<&CheckpointSection>,
    started: Instant,
) -> BudgetSection {
    let chosen = checkpoint.map_or("checkpoint none".into(), |c| {
        format!("checkpoint {}", line(c))
    });
    BudgetSection {
        requested_bytes: bytes,
        met: plan.outcome.plan.arena_bytes <= bytes,
        configurations_tried: 1,
        chosen,
        search_ms: started.elapsed().as_secs_f64() * 1e3,
        fixed: vec![
            "every knob but checkpointing (training budgets search the checkpoint strategy)".into(),
        ],
    }
}

/// The cost figures of an inference graph (every node is forward).
pub fn inference_compute(g: &Graph) -> ComputeSection {
    graph_cost(g, g.nodes.len(), |_| false).into()
}

/// Plans the training graph: as it is without `--checkpoint`, else checkpointed after
/// scheduling (`tessera::recompute`). Returns the plan, `plan.checkpoint` and `compute`.
pub fn plan_training(
    t: &TrainingGraph,
    strategy: Option<Strategy>,
    cfg: &PlanConfig,
) -> Result<(PlannedGraph, Option<CheckpointSection>, ComputeSection), CliError> {
    let Some(s) = strategy else {
        let p = plan_graph(&t.graph, cfg)?;
        let c = graph_cost(&t.graph, t.forward_len, |_| false).into();
        return Ok((p, None, c));
    };
    let cp = plan_checkpointed(&t.graph, t.forward_len, &s, cfg)?;
    let ck = &cp.checkpointed;
    let section = CheckpointSection {
        strategy: s.name(),
        segments: ck.segments,
        recompute_nodes: ck.recompute_nodes.len(),
        recompute_flops: ck.recompute_flops,
        kept_activation_bytes: ck.kept_bytes,
    };
    Ok((cp.planned, Some(section), cp.cost.into()))
}

/// FLOPs with an SI prefix.
fn flops(f: u64) -> String {
    let f = f as f64;
    match f {
        x if x >= 1e12 => format!("{:.2} TFLOP", x / 1e12),
        x if x >= 1e9 => format!("{:.2} GFLOP", x / 1e9),
        x if x >= 1e6 => format!("{:.2} MFLOP", x / 1e6),
        x => format!("{x:.0} FLOP"),
    }
}

/// `plan.checkpoint` in one line.
pub fn line(c: &CheckpointSection) -> String {
    format!(
        "{}: {} segments, {} recompute nodes ({}), {} of activations kept",
        c.strategy,
        c.segments,
        c.recompute_nodes,
        flops(c.recompute_flops),
        human_bytes(c.kept_activation_bytes)
    )
}

/// `compute` in one line.
pub fn compute_line(c: &ComputeSection) -> String {
    format!(
        "forward {}, backward {}, recompute {} ({:.2}x forward), {} moved",
        flops(c.forward_flops),
        flops(c.backward_flops),
        flops(c.recompute_flops),
        c.recompute_over_forward,
        human_bytes(c.bytes_moved)
    )
}

/// Plans every strategy of `tessera::recompute::frontier_strategies` and prints them side by
/// side (when `print`): the memory/compute frontier of `plan --train`.
pub fn frontier(
    t: &TrainingGraph,
    cfg: &PlanConfig,
    print: bool,
) -> Result<Vec<FrontierRow>, CliError> {
    let rows = tessera::recompute::frontier(&t.graph, t.forward_len, cfg)?;
    if !print {
        return Ok(rows);
    }
    let none = rows.first().map(|r| r.arena_bytes).unwrap_or(0).max(1);
    let mut table = Table::new(&[
        "checkpoint",
        "arena",
        "vs none",
        "recompute",
        "recompute/forward",
        "kept activations",
    ]);
    for r in &rows {
        table.row(vec![
            r.strategy.clone(),
            human_bytes(r.arena_bytes),
            format!("{:.2}", r.arena_bytes as f64 / none as f64),
            flops(r.recompute_flops),
            format!(
                "{:.2}",
                r.recompute_flops as f64 / r.forward_flops.max(1) as f64
            ),
            human_bytes(r.kept_bytes),
        ]);
    }
    println!("checkpoint frontier (memory vs recompute, --train):");
    print!("{table}");
    Ok(rows)
}
