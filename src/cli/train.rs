//! `--train` on `plan` and `run`: turns the model's graph into a training graph (loss on a
//! fixed synthetic batch, backward pass, in-place SGD updates) and fills the report's
//! `training` section.

use super::CliError;
use super::args::{ModelArgs, TrainArgs};
use super::models;
use tessera::execute::{TrainSpec, TrainingRun};
use tessera::graph::{Graph, TensorKind};
use tessera::report::TrainingSection;
use tessera::transform::autodiff::{Loss, TrainOptions, TrainingGraph, training_graph};

/// The loss each built-in model trains with: mean squared error for the image-to-image unet,
/// cross-entropy for the classifiers and language models.
pub fn loss_for(model: &ModelArgs) -> Loss {
    match models::model_name(model).as_str() {
        "unet" => Loss::MeanSquared,
        _ => Loss::CrossEntropy,
    }
}

/// The learning rate: `--lr`, else 0.1 (0.01 for unet, whose mean squared error diverges at
/// 0.1 within five steps).
pub fn lr(model: &ModelArgs, args: &TrainArgs) -> f32 {
    args.lr.unwrap_or(match loss_for(model) {
        Loss::MeanSquared => 0.01,
        Loss::CrossEntropy => 0.1,
    })
}

/// The training graph of `graph` as `--train` asks, or `None` without `--train`.
pub fn apply(
    graph: &Graph,
    model: &ModelArgs,
    args: &TrainArgs,
) -> Result<Option<TrainingGraph>, CliError> {
    if !args.train {
        if args.steps != 1 || args.lr.is_some() || args.momentum != 0.0 {
            return Err(CliError::Usage(
                "--steps, --lr and --momentum need --train".into(),
            ));
        }
        return Ok(None);
    }
    if args.steps == 0 {
        return Err(CliError::Usage("--steps must be at least 1".into()));
    }
    if graph
        .tensors
        .iter()
        .any(|t| t.dtype == tessera::graph::DType::F16)
    {
        return Err(CliError::Usage(
            "--train needs f32 weights: training in f16 would need f32 master weights (mixed precision), which tessera does not do; drop --dtype f16".into(),
        ));
    }
    let opts = TrainOptions {
        loss: loss_for(model),
        lr: lr(model, args),
        momentum: args.momentum,
        ..TrainOptions::default()
    };
    Ok(Some(training_graph(graph, &opts)?))
}

/// What `run` needs to take the steps.
pub fn spec(tg: &TrainingGraph, args: &TrainArgs) -> TrainSpec {
    TrainSpec {
        steps: args.steps,
        forward_len: tg.forward_len,
    }
}

/// The report's `training` section; the losses come from `run` (none for `plan`).
pub fn section(
    tg: &TrainingGraph,
    model: &ModelArgs,
    args: &TrainArgs,
    run: Option<&TrainingRun>,
) -> TrainingSection {
    let g = &tg.graph;
    let param_elements = tg
        .params
        .iter()
        .filter(|p| g.tensors[p.index()].kind == TensorKind::Weight)
        .map(|p| g.tensors[p.index()].shape.numel())
        .sum();
    let mut s = TrainingSection {
        loss: loss_for(model).name().to_string(),
        steps: if run.is_some() { args.steps } else { 0 },
        lr: lr(model, args),
        momentum: args.momentum,
        params: tg.params.len(),
        param_elements,
        forward_nodes: tg.forward_len,
        backward_nodes: g.nodes.len() - tg.forward_len,
        ..TrainingSection::default()
    };
    if let Some(r) = run {
        s.loss_before = r.losses.first().copied();
        s.loss_after = Some(r.loss_after);
        s.losses = r.losses.iter().copied().chain([r.loss_after]).collect();
        s.reference_losses = Some(r.reference_losses);
        s.steps_ms = r.steps_ms;
    }
    s
}

/// One line for the text report.
pub fn line(s: &TrainingSection) -> String {
    let head = format!(
        "{} loss, {} params ({} elements), {} forward + {} backward/update nodes, lr {}, momentum {}",
        s.loss, s.params, s.param_elements, s.forward_nodes, s.backward_nodes, s.lr, s.momentum
    );
    match (s.loss_before, s.loss_after) {
        (Some(b), Some(a)) => format!(
            "{head}\nloss:             before {b:.6}, after {} step(s) {a:.6}{}",
            s.steps,
            s.reference_losses
                .map(|[rb, ra]| format!(" (CPU reference {rb:.6} -> {ra:.6})"))
                .unwrap_or_default()
        ),
        _ => head,
    }
}
