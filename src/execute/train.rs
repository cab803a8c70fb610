//! Training steps (`--train --steps N`): the training graph runs N times in the one buffer,
//! its weights updated in place between runs (nothing re-uploads them), then its forward pass
//! alone gives the loss after the last step. The CPU reference takes the same steps, carrying
//! each updated weight (and velocity) into the next step as that weight's value.

use super::ExecuteError;
use crate::cpu::{self, TensorData};
use crate::graph::{Graph, GraphError, TensorId};
use crate::runtime::{AllocatorBytes, Compiled, Gpu, RunOutput};
use crate::transform::autodiff::in_place_updates;
use std::time::Instant;

/// How many steps to run, and where the forward pass (with the loss) ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrainSpec {
    /// Steps (at least 1).
    pub steps: usize,
    /// `TrainingGraph::forward_len`: nodes with a lower id are the forward pass and the loss.
    pub forward_len: usize,
}

/// What the training steps measured (see [`crate::report::TrainingSection`]).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingRun {
    /// The loss of each step (at the weights before it), on the device when there is one.
    pub losses: Vec<f64>,
    /// The loss after the last step.
    pub loss_after: f64,
    /// The CPU reference's loss before the first and after the last step.
    pub reference_losses: [f64; 2],
    /// Wall time of the device steps (ms), when there is a device.
    pub steps_ms: Option<f64>,
}

/// The device's steps after the first (which the caller ran).
pub(super) struct DeviceSteps {
    pub losses: Vec<f64>,
    pub loss_after: f64,
    /// The outputs of the last step (its loss, every updated weight).
    pub last: RunOutput,
    pub peak: Option<AllocatorBytes>,
    pub steps_ms: f64,
}

/// The first output as a scalar loss.
fn loss_of(outputs: &[f32]) -> f64 {
    outputs.first().map_or(f64::NAN, |&l| f64::from(l))
}

/// Runs steps 2..=N after `first` on `compiled`, then the forward pass alone.
pub(super) fn device_steps(
    gpu: &Gpu,
    compiled: &Compiled,
    first: &RunOutput,
    spec: TrainSpec,
) -> Result<DeviceSteps, ExecuteError> {
    let first_loss = first
        .outputs
        .first()
        .map(|o| o.to_f32())
        .unwrap_or_default();
    let mut losses = vec![loss_of(&first_loss)];
    let mut peak = first.device_peak;
    let mut steps_ms = first.wall_ms;
    let mut last = first.clone();
    for _ in 1..spec.steps {
        last = compiled.run(gpu)?;
        steps_ms += last.wall_ms;
        peak = peak
            .zip(last.device_peak)
            .map(|(a, b)| a.peak_with(b))
            .or(peak);
        losses.push(loss_of(
            &last.outputs.first().map(|o| o.to_f32()).unwrap_or_default(),
        ));
    }
    let after = compiled.run_forward(gpu, spec.forward_len)?;
    let loss_after = loss_of(
        &after
            .outputs
            .first()
            .map(|o| o.to_f32())
            .unwrap_or_default(),
    );
    Ok(DeviceSteps {
        losses,
        loss_after,
        last,
        peak,
        steps_ms,
    })
}

/// The CPU reference's steps.
pub(super) struct ReferenceSteps {
    pub losses: Vec<f64>,
    pub loss_after: f64,
    /// The outputs of the last step.
    pub last: Vec<TensorData>,
}

/// The values the next step starts from: each in-place update's storage gets the value the
/// update produced (a graph output).
fn carry(
    graph: &Graph,
    outputs: &[TensorData],
) -> Result<Vec<(TensorId, TensorData)>, ExecuteError> {
    in_place_updates(graph)
        .into_iter()
        .map(|(storage, after)| {
            let k = graph.outputs.iter().position(|&o| o == after).ok_or_else(|| {
                cpu::CpuError::from(GraphError::Invalid(format!(
                    "the updated value of `{}` is not a graph output, so no later step can read it",
                    graph.tensors[storage.index()].name
                )))
            })?;
            Ok((storage, outputs[k].clone()))
        })
        .collect()
}

fn first_loss(outputs: &[TensorData]) -> f64 {
    loss_of(outputs.first().and_then(TensorData::as_f32).unwrap_or(&[]))
}

/// Takes `spec.steps` steps on the CPU reference, then evaluates the loss once more.
pub(super) fn reference_steps(
    graph: &Graph,
    spec: TrainSpec,
) -> Result<ReferenceSteps, ExecuteError> {
    let mut given = Vec::new();
    let mut losses = Vec::with_capacity(spec.steps);
    let mut last = Vec::new();
    for _ in 0..spec.steps.max(1) {
        last = cpu::run_outputs_with(graph, &given)?;
        losses.push(first_loss(&last));
        given = carry(graph, &last)?;
    }
    let after = cpu::run_outputs_with(graph, &given)?;
    Ok(ReferenceSteps {
        losses,
        loss_after: first_loss(&after),
        last,
    })
}

/// Combines the device's and the reference's steps (the device's losses when there is one).
pub(super) fn training_run(
    device: Option<&DeviceSteps>,
    reference: &ReferenceSteps,
) -> TrainingRun {
    let reference_losses = [
        reference.losses.first().copied().unwrap_or(f64::NAN),
        reference.loss_after,
    ];
    match device {
        Some(d) => TrainingRun {
            losses: d.losses.clone(),
            loss_after: d.loss_after,
            reference_losses,
            steps_ms: Some(d.steps_ms),
        },
        None => TrainingRun {
            losses: reference.losses.clone(),
            loss_after: reference.loss_after,
            reference_losses,
            steps_ms: None,
        },
    }
}

/// Seconds since `t`, in ms.
pub(super) fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}
