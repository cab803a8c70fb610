//! Reports: plan vs measured vs naive vs lower bound, as plain data (serialised to JSON with the
//! field names of DESIGN.md) and as aligned text tables for the terminal; [`picture`] gathers
//! what the SVG pictures ([`svg`]) and the HTML page ([`html`]) draw.

mod table;

pub mod html;
pub mod picture;
pub mod svg;

pub use picture::{Picture, per_step};
pub use table::{Table, human_bytes};

use serde::Serialize;

/// The adapter a run used (`None` fields when running on the CPU reference only).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AdapterReport {
    /// Adapter name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)" or "cpu-reference".
    pub name: String,
    /// Backend, e.g. "Vulkan", or "none".
    pub backend: String,
    /// Device type, e.g. "Cpu", "DiscreteGpu", or "none".
    pub device_type: String,
    /// How the device stores f16 tensors: `native` (`SHADER_F16`) or `packed` (two halves per
    /// `u32` word); `TESSERA_F16_STORAGE` forces one. `null` without a GPU.
    pub f16_storage: Option<String>,
}

/// The `--budget` search (JSON `budget`; `null` without `--budget`). Only a met budget gets a
/// report: one that cannot be met is an error.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BudgetSection {
    /// The budget asked for, bytes (the arena only; weights are a separate region).
    pub requested_bytes: u64,
    /// Whether the planned arena (`plan.arena_bytes`) is within `requested_bytes`.
    pub met: bool,
    /// Configurations planned before the first that fits (that one included); 1 for a training
    /// budget (`--train`), whose one configuration is checkpointed by `budget:BYTES`, which plans
    /// its own candidates.
    pub configurations_tried: usize,
    /// The settings chosen, in words (`plan.schedule`, `plan.attention`, `plan.conv`,
    /// `plan.in_place` and `plan.workspace_policy` follow them).
    pub chosen: String,
    /// Wall time of the search, ms.
    pub search_ms: f64,
    /// The knobs fixed by flags the user gave (`schedule program`, `micro-batch 2`, ...): the
    /// search kept them and searched only the others.
    pub fixed: Vec<String>,
}

/// What the planner decided.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PlanSection {
    /// Planned arena (everything with a lifetime), bytes.
    pub arena_bytes: u64,
    /// Max-load lower bound of the arena problem, bytes.
    pub lower_bound_bytes: u64,
    /// `arena_bytes / lower_bound_bytes`.
    pub ratio: f64,
    /// No-reuse footprint of what the arena holds, bytes.
    pub naive_static_bytes: u64,
    /// Persistent weight region, bytes.
    pub weights_bytes: u64,
    /// Workspace bytes under the chosen policy (sum of workspace buffers before overlap).
    pub workspace_bytes: u64,
    /// Workspace policy name.
    pub workspace_policy: String,
    /// Whether in-place reuse was allowed.
    pub in_place: bool,
    /// Number of nodes that run in place.
    pub in_place_nodes: usize,
    /// Number of buffers planned.
    pub buffers: usize,
    /// Offset alignment used.
    pub alignment: u64,
    /// True when the planner proved the arena minimal.
    pub proven_optimal: bool,
    /// The attention kernel planned (`--attention`): `tiled` (no workspace), `materialized`
    /// (scores in the workspace), `mixed` (a graph file choosing per node) or `none` (no
    /// attention nodes).
    pub attention: String,
    /// What each conv op got (method and workspace), in node order (JSON `plan.conv`).
    pub conv: Vec<crate::graph::conv::ConvChoice>,
    /// The execution order: which scheduler chose it, and for `auto` every candidate.
    pub schedule: ScheduleSection,
    /// Micro-batch slices (`--micro-batch K`): the batch ran as this many sequential slices
    /// sharing the weights; 1 without the flag.
    pub micro_batch: usize,
    /// Checkpoint recomputation (`--checkpoint`; `null` without it).
    pub checkpoint: Option<CheckpointSection>,
    /// Graph inputs streamed (`--stream-inputs`; on by default with `--micro-batch` above 1):
    /// each lives in the arena from its first reader's step, copied there from a host-upload
    /// staging buffer right before that step; otherwise every input is uploaded before the run
    /// and live from step 0.
    pub streamed_inputs: bool,
    /// Bytes of that host-upload staging buffer, beside (not inside) `arena_bytes`: every
    /// streamed input rounded up to 4 bytes (0 when inputs are not streamed).
    pub staging_bytes: u64,
    /// Storage dtype of the model's floats (`--dtype`): `f32`, `f16`, or `mixed` for a graph
    /// file that mixes them across nodes. Ids and labels are `u32` either way.
    pub dtype: String,
    /// Bytes of every tensor the arena holds (inputs, activations, outputs; views excluded),
    /// unaligned: halves exactly from f32 to f16.
    pub activation_bytes: u64,
    /// Bytes of every weight tensor, unaligned (`weights_bytes` is the aligned region).
    pub weight_tensor_bytes: u64,
}

/// The schedule stage's choice (JSON `plan.schedule`).
#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct ScheduleSection {
    /// The scheduler asked for (`program`, `greedy`, `beam`, `exact` or `auto`).
    pub name: String,
    /// The scheduler whose order runs: the same as `name`, except the winning candidate for
    /// `auto`, and `beam` when `exact` stopped at its time limit or state cap.
    pub chosen: String,
    /// Peak live bytes of the chosen order under the scheduling memory model: the max-load
    /// lower bound (`lower_bound_bytes`) of that order.
    pub peak_live_bytes: u64,
    /// The same for the graph's own node order.
    pub program_peak_live_bytes: u64,
    /// For `auto`: each distinct candidate order with its model peak and planned arena.
    pub candidates: Vec<ScheduleCandidate>,
    /// What happened, when not obvious (e.g. why `exact` fell back to `beam`).
    pub note: Option<String>,
    /// Time spent choosing the order (and, for `auto`, planning every candidate), ms.
    pub schedule_ms: f64,
}

/// One candidate order considered by `--schedule auto`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ScheduleCandidate {
    /// The scheduler that produced it.
    pub name: String,
    /// Its peak live bytes under the scheduling memory model.
    pub peak_live_bytes: u64,
    /// The arena the planner placed it in, bytes.
    pub arena_bytes: u64,
}

/// What the device really used. Every allocator figure is a signed difference of two samples of
/// the wgpu allocator report, taken after waiting for the device, never clipped; null where the
/// backend has no allocator report (GL, Metal).
#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct MeasuredSection {
    /// Change of `total_allocated_bytes` sampled right before and right after creating the one
    /// buffer alone (nothing else created in between): `buffer_bytes` plus the allocator's
    /// rounding (0 to 63 B on lavapipe). It covers weights, guard bands and arena.
    pub arena_device_bytes: Option<i64>,
    /// Change of `total_reserved_bytes` over the same two samples: 0 when the buffer fit a
    /// device block the allocator already held, the new block's size when it needed one.
    pub arena_device_reserved_bytes: Option<i64>,
    /// Peak of `total_allocated_bytes` over the samples taken during the runs (before each run,
    /// after its input upload, after each node in node-by-node validation, after the graph's
    /// submission completed, after readback) minus the sample taken before compiling: the one
    /// buffer, the params buffer, the timestamp buffer, the streamed inputs' staging buffer
    /// (`staging_bytes`) and whatever the runs held at a sample
    /// (the transient readback staging buffers are freed before any sample sees them).
    pub device_peak_bytes: Option<i64>,
    /// The same for `total_reserved_bytes`: peak over the run samples minus the sample before
    /// compiling.
    pub device_peak_reserved_bytes: Option<i64>,
    /// Size of the one buffer as created: weights + both guard bands + arena, rounded up to 4.
    pub buffer_bytes: Option<u64>,
    /// Bytes of the two guard bands together (part of `buffer_bytes`).
    pub guard_bytes: Option<u64>,
    /// Size of the small uniform buffer holding every node's parameters.
    pub params_bytes: Option<u64>,
    /// Touched extent of the arena: one past the highest arena byte a run changed from the
    /// sentinel written before it, relative to the arena start (`--validate` only). It shows
    /// how much of the arena the run used, not that the run stayed inside it (it cannot exceed
    /// the arena by construction; that is `validate.guard_check`).
    pub high_water_bytes: Option<u64>,
    /// Size of the host-upload staging buffer holding the streamed inputs beside the one
    /// buffer (null when no input is streamed); it exists during every run, so
    /// `device_peak_bytes` includes it.
    pub staging_bytes: Option<u64>,
    /// Change of `total_allocated_bytes` sampled right before and right after creating the
    /// staging buffer alone (null when no input is streamed or without an allocator report).
    pub staging_device_bytes: Option<i64>,
    /// Measured peak of the naive-dynamic baseline (null until it is run).
    pub naive_dynamic_peak_bytes: Option<u64>,
}

/// Plan validation on the device.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ValidateSection {
    /// `passed`, `failed` or `skipped`.
    pub clobber_check: String,
    /// `passed` when every guard word around the arena still held its sentinel after the run
    /// (and after the node-by-node validation pass), `skipped` without a GPU, otherwise one line
    /// naming the band, the changed buffer offsets and, when known, the node that wrote them.
    pub guard_check: String,
    /// What failed, if anything.
    pub detail: Option<String>,
}

/// Agreement with the CPU reference.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CorrectnessSection {
    /// Max |gpu - cpu| over every output element (null when the GPU did not run).
    pub max_abs_err: Option<f64>,
    /// Max |cpu| over every output element.
    pub max_ref_abs: f64,
    /// `max_abs_err / max(1, max_ref_abs)`; the pass threshold is `threshold`.
    pub scaled_err: Option<f64>,
    /// True when `scaled_err <= threshold` and, for an f16 graph, `f16_reference.passed` (or
    /// the GPU did not run).
    pub passed: bool,
    /// The dtype of the CPU reference the figures above compare with: always `f32`. For an f16
    /// graph it is the f32 reference (the same f16-rounded inputs and weights, activations kept
    /// in f32), so the error is what f16 storage costs.
    pub reference_dtype: String,
    /// The scaled-error limit `passed` applies: 1e-4 for f32 graphs; for f16 graphs derived
    /// from f16's unit roundoff, the graph's depth and reductions (`analysis::precision`).
    pub threshold: f64,
    /// How `threshold` was obtained, in one line with the figures used.
    pub threshold_derivation: String,
    /// For an f16 graph: the comparison with the CPU reference of the same f16 graph (rounded
    /// at every tensor boundary), which must agree much tighter; `null` for f32 graphs.
    pub f16_reference: Option<ReferenceCheck>,
}

/// One comparison of the device's outputs with a CPU reference (`correctness.f16_reference`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReferenceCheck {
    /// The reference's storage dtype (`f16`).
    pub reference_dtype: String,
    /// Max |gpu - cpu| over every output element (null when the GPU did not run).
    pub max_abs_err: Option<f64>,
    /// Max |cpu| over every output element.
    pub max_ref_abs: f64,
    /// `max_abs_err / max(1, max_ref_abs)`.
    pub scaled_err: Option<f64>,
    /// The scaled-error limit (`analysis::precision`'s `f16_threshold`).
    pub threshold: f64,
    /// True when `scaled_err <= threshold` (or the GPU did not run).
    pub passed: bool,
}

/// Wall-clock timings in milliseconds.
#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct TimingSection {
    /// Analysis + planning.
    pub plan_ms: f64,
    /// Pipeline, bind group and buffer creation plus weight upload.
    pub compile_ms: Option<f64>,
    /// One run: input upload, all dispatches in one submission, output readback.
    pub run_ms: Option<f64>,
    /// The CPU reference run.
    pub cpu_ms: f64,
}

/// The planned arena under one (in-place, workspace policy) setting.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Variant {
    /// In-place reuse on?
    pub in_place: bool,
    /// Workspace policy name.
    pub workspace: String,
    /// Planned arena, bytes.
    pub arena_bytes: u64,
    /// Lower bound of that setting's problem, bytes.
    pub lower_bound_bytes: u64,
    /// Workspace bytes the policy asks for (sum of its workspace buffers).
    pub workspace_bytes: u64,
}

/// One allocation baseline executed on the device (weights excluded from every number).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BaselineReport {
    /// `naive-static`, `naive-dynamic`, `naive-dynamic-inplace`, `caching`, `ggml-style` or
    /// `buddy`.
    pub name: String,
    /// Device bytes the scheme created at its peak: its segments (caching: every segment,
    /// never freed: what PyTorch's `memory_reserved()` shows), its one pool buffer
    /// (ggml-style, buddy) or its live buffers (naive schemes, sizes rounded up to 4 bytes).
    pub reserved_peak_bytes: u64,
    /// Device buffers the pool schemes created for their pool (0 for the naive schemes).
    pub segments: usize,
    /// Peak growth of the allocator's `total_allocated_bytes` over the run, sampled after every
    /// node (null where the backend cannot tell).
    pub measured_peak_bytes: Option<u64>,
    /// Peak bytes requested by live tensors and workspaces.
    pub requested_peak_bytes: u64,
    /// Peak bytes the scheme held for them (its blocks, including their rounding).
    pub held_peak_bytes: u64,
    /// Held minus requested at the held peak (pool schemes only).
    pub internal_fragmentation_bytes: u64,
    /// Wall time of the run (one submission per node), ms.
    pub run_ms: f64,
    /// True when its outputs are bit-identical to the planned run's.
    pub outputs_equal_planned: bool,
    /// Growth of `total_allocated_bytes` since before the run, sampled after each node while
    /// that node's buffers are held (one per node; null where the backend cannot tell): the
    /// measured curve drawn against M(t).
    pub measured_samples_bytes: Vec<Option<u64>>,
}

/// The full report of `tessera run` / `tessera plan`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RunReport {
    /// Model name.
    pub model: String,
    /// Model options as used (name, value).
    pub options: Vec<(String, usize)>,
    /// The adapter.
    pub adapter: AdapterReport,
    /// Planner name.
    pub planner: String,
    /// The plan.
    pub plan: PlanSection,
    /// The device measurements.
    pub measured: MeasuredSection,
    /// Plan validation.
    pub validate: ValidateSection,
    /// Agreement with the CPU reference.
    pub correctness: CorrectnessSection,
    /// Timings.
    pub timings: TimingSection,
    /// The arena under every (in-place, workspace policy) setting.
    pub variants: Vec<Variant>,
    /// Allocation baselines executed on the device (empty when not run).
    pub baselines: Vec<BaselineReport>,
    /// The `--budget` search (`None` without `--budget`).
    pub budget: Option<BudgetSection>,
    /// The training steps (`--train`; `None` otherwise).
    pub training: Option<TrainingSection>,
    /// FLOPs and bytes moved (JSON `compute`).
    pub compute: Option<ComputeSection>,
}

/// `--train`: the training graph and, for `run`, the losses of its steps.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct TrainingSection {
    /// `cross-entropy` or `mse`.
    pub loss: String,
    /// Steps executed (`--steps`).
    pub steps: usize,
    /// SGD learning rate.
    pub lr: f32,
    /// Momentum factor (0: plain SGD).
    pub momentum: f32,
    /// Trained weights.
    pub params: usize,
    /// Their elements.
    pub param_elements: u64,
    /// Forward nodes, the loss included.
    pub forward_nodes: usize,
    /// Backward and update nodes.
    pub backward_nodes: usize,
    /// The loss at the initial weights (the first step's); on the device when there is one,
    /// else the CPU reference's. `None` for `plan`.
    pub loss_before: Option<f64>,
    /// The loss at the weights after the last step (a forward pass after it).
    pub loss_after: Option<f64>,
    /// The loss of each step, then `loss_after`.
    pub losses: Vec<f64>,
    /// The CPU reference's `loss_before` and `loss_after` after the same steps.
    pub reference_losses: Option<[f64; 2]>,
    /// Max abs difference between the device's outputs after the last step (its loss and
    /// every updated weight) and the CPU reference's after the same steps; also in
    /// `correctness`.
    pub weights_max_abs_err: Option<f64>,
    /// Wall time of all device steps (ms).
    pub steps_ms: Option<f64>,
}

/// `--checkpoint` (JSON `plan.checkpoint`): what the checkpoint rewrite did.
#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct CheckpointSection {
    /// The strategy (`none`, `sqrt`, `every:K`, `selective`, `revolve:C`, `budget:BYTES`).
    pub strategy: String,
    /// Segments ("layers") the forward pass was cut into at its articulation points.
    pub segments: usize,
    /// Recompute nodes inserted (clones of forward nodes).
    pub recompute_nodes: usize,
    /// Their FLOPs (also `compute.recompute_flops`).
    pub recompute_flops: u64,
    /// Bytes of forward activations kept for the backward pass.
    pub kept_activation_bytes: u64,
}

/// The cost model's figures (JSON `compute`, `graph::cost`): FLOPs of the forward pass (loss
/// included), the backward pass and updates, and the recompute clones; bytes every node reads
/// and writes once.
#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct ComputeSection {
    /// FLOPs of the forward nodes (every node of an inference graph).
    pub forward_flops: u64,
    /// FLOPs of the backward and update nodes (0 for inference).
    pub backward_flops: u64,
    /// FLOPs of recompute clones (0 without `--checkpoint`).
    pub recompute_flops: u64,
    /// `recompute_flops / forward_flops`.
    pub recompute_over_forward: f64,
    /// Bytes read and written by all nodes (compulsory traffic).
    pub bytes_moved: u64,
}

impl From<crate::graph::cost::GraphCost> for ComputeSection {
    fn from(c: crate::graph::cost::GraphCost) -> Self {
        ComputeSection {
            forward_flops: c.forward_flops,
            backward_flops: c.backward_flops,
            recompute_flops: c.recompute_flops,
            recompute_over_forward: c.recompute_flops as f64 / c.forward_flops.max(1) as f64,
            bytes_moved: c.bytes_moved,
        }
    }
}

impl RunReport {
    /// The planned arena's share of the one buffer's measured allocator growth:
    /// `measured.arena_device_bytes` minus the weight region and the guard bands (comparable
    /// with the baselines, which exclude weights); `None` where the backend cannot tell.
    pub fn arena_share(&self) -> Option<i64> {
        let others = i128::from(self.plan.weights_bytes) + i128::from(self.measured.guard_bytes?);
        i64::try_from(i128::from(self.measured.arena_device_bytes?) - others).ok()
    }
}
