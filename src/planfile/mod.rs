//! Plan files: a memory plan written to disk by `tessera plan --out` and executed later by
//! `tessera run --plan` without planning again.
//!
//! A [`PlanFile`] is versioned plain data ([`FORMAT_VERSION`]): the fingerprint of the graph it
//! was made for (a SHA-256 of the graph's JSON after the attention and conv lowering the plan
//! chose), that lowering, the schedule (node order), the analysis switches, the device limits
//! it assumes (offset alignment) and needs (buffer and largest binding), and every buffer's and
//! tensor's offset. [`PlanFile::load`] rebuilds the planned graph from a graph and the file,
//! checking in this order that the file matches the graph, the device and itself, and refusing
//! a plan the validator rejects (overlapping live buffers, misalignment) before anything runs:
//! every mismatch is one [`PlanFileError`] line naming what differs.
//!
//! Nothing here imports wgpu: the device is described by [`DeviceLimits`].

mod load;

pub use load::{DeviceLimits, Loaded};

use crate::analysis::MemoryAnalysis;
use crate::graph::conv::{self, ConvMode};
use crate::graph::{AttentionKernel, Graph};
use crate::layout::MemoryLayout;
use crate::pipeline::{PlanConfig, PlannedGraph};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The `format` field of every plan file.
pub const FORMAT: &str = "tessera-plan";

/// The plan-file format this build writes and reads. A file with a larger version is refused
/// with [`PlanFileError::FutureVersion`]; older versions do not exist yet.
pub const FORMAT_VERSION: u32 = 1;

/// Why a plan file cannot be read or does not fit the graph or the device. Every message is
/// one line naming what differs.
#[derive(Debug, Error)]
pub enum PlanFileError {
    /// Not JSON, or a field is missing or has the wrong type.
    #[error("not a valid tessera plan file: {0}")]
    Malformed(String),
    /// The graph's floats are stored in another dtype than the plan was made for.
    #[error(
        "the plan was made for --dtype {planned} but the graph's floats are {found}: every size differs; run with --dtype {planned} or re-plan"
    )]
    Dtype {
        /// The plan file's dtype.
        planned: String,
        /// The graph's.
        found: String,
    },
    /// Valid JSON without `"format": "tessera-plan"`.
    #[error("not a tessera plan file (`format` is {found}, expected \"{FORMAT}\")")]
    NotAPlan {
        /// The `format` value found (JSON text), or `missing`.
        found: String,
    },
    /// Written by a newer tessera.
    #[error(
        "plan file format version {found} is newer than this tessera reads ({FORMAT_VERSION}); re-plan with `tessera plan --out` or upgrade tessera"
    )]
    FutureVersion {
        /// The file's `format_version`.
        found: u64,
    },
    /// The file names an attention kernel, conv mode, workspace policy or similar this build
    /// does not know.
    #[error("unknown {what} `{name}` in the plan file")]
    Unknown {
        /// Which setting.
        what: &'static str,
        /// The value found.
        name: String,
    },
    /// Applying the plan's attention or conv lowering to the graph failed.
    #[error("the plan's lowering ({lowering}) cannot be applied to this graph: {message}")]
    Lowering {
        /// The lowering in words.
        lowering: String,
        /// Why.
        message: String,
    },
    /// The graph's fingerprint differs from the one the plan was made for.
    #[error(
        "plan was made for another graph: {model} {options} ({expected}), but the graph given has fingerprint {found}"
    )]
    GraphMismatch {
        /// The model the plan was made for.
        model: String,
        /// Its options, as `[seq=64, ...]`.
        options: String,
        /// The plan's fingerprint.
        expected: String,
        /// The given graph's fingerprint (after the plan's lowering).
        found: String,
    },
    /// The plan's schedule is not a topological order of the graph's nodes.
    #[error("the plan's schedule does not fit the graph: {0}")]
    Schedule(String),
    /// Analysis of the scheduled graph failed.
    #[error("analysing the scheduled graph: {0}")]
    Analysis(crate::plan::PlanError),
    /// The plan's buffer table differs from the one analysis derives from the graph.
    #[error("plan buffer {index} (`{name}`) does not match the graph: {detail}")]
    BufferMismatch {
        /// Position in the plan's `buffers`.
        index: usize,
        /// Its name in the plan.
        name: String,
        /// What differs.
        detail: String,
    },
    /// The validator refused the plan's offsets (overlap, misalignment, wrong arena size).
    #[error("plan refused by the validator: {0}")]
    Invalid(crate::plan::PlanError),
    /// A tensor's recorded offset differs from the one the buffers give.
    #[error(
        "tensor {index} (`{name}`): the plan records offset {recorded}, its buffers give {derived}"
    )]
    TensorOffset {
        /// Tensor id.
        index: usize,
        /// Tensor name.
        name: String,
        /// The offset in the file.
        recorded: u64,
        /// The offset the layout derives from the buffers.
        derived: u64,
    },
    /// A recorded total (arena, weights, guard band, tensor count) differs from the derived one.
    #[error("the plan records {what} {recorded}, the graph and buffers give {derived}")]
    Total {
        /// Which figure.
        what: &'static str,
        /// The value in the file.
        recorded: u64,
        /// The derived value.
        derived: u64,
    },
    /// The device needs a coarser offset alignment than the plan assumed.
    #[error(
        "the plan assumes offset alignment {plan} bytes, but this device needs offsets aligned to {device} bytes; re-plan with `--alignment {device}`"
    )]
    Alignment {
        /// The plan's alignment.
        plan: u64,
        /// The device's `min_storage_buffer_offset_alignment`.
        device: u64,
    },
    /// The one buffer the plan needs is larger than the device allows.
    #[error(
        "the plan needs a {bytes}-byte buffer (weights, guard bands and arena) but this device's largest buffer is {limit} bytes"
    )]
    BufferTooLarge {
        /// Bytes needed.
        bytes: u64,
        /// `max_buffer_size`.
        limit: u64,
    },
    /// One binding of the plan is larger than the device allows.
    #[error(
        "the plan binds {what} with {bytes} bytes but this device allows at most {limit} bytes per storage binding"
    )]
    BindingTooLarge {
        /// Tensor name or `workspace of NODE`.
        what: String,
        /// Bytes needed.
        bytes: u64,
        /// `max_storage_buffer_binding_size`.
        limit: u64,
    },
}

/// How the plan lowered attention and convolutions before planning (these change workspace
/// sizes, so a plan only fits the graph lowered the same way).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lowering {
    /// Attention kernel of every attention node (`tiled`, `materialized`).
    pub attention: String,
    /// Conv lowering mode (`im2col`, `direct`, `auto`).
    pub conv: String,
    /// Largest im2col workspace of one conv op, bytes (`null`: the default tile).
    pub workspace_cap: Option<u64>,
    /// Micro-batch slices the batch runs as (`--micro-batch`; 1 = the whole batch).
    #[serde(default = "one_slice")]
    pub micro_batch: usize,
}

/// Plan files written before `micro_batch` existed ran the whole batch.
fn one_slice() -> usize {
    1
}

impl Lowering {
    /// The lowering for these settings.
    pub fn new(
        attention: AttentionKernel,
        conv: ConvMode,
        workspace_cap: Option<u64>,
        micro_batch: usize,
    ) -> Self {
        Self {
            attention: attention.name().into(),
            conv: conv.name().into(),
            workspace_cap,
            micro_batch,
        }
    }

    /// The lowering in words (`attention tiled, conv auto`).
    pub fn describe(&self) -> String {
        let cap = self
            .workspace_cap
            .map_or(String::new(), |c| format!(", workspace cap {c} bytes"));
        let slices = match self.micro_batch {
            1 => String::new(),
            k => format!(", micro-batch {k}"),
        };
        format!(
            "attention {}, conv {}{cap}{slices}",
            self.attention, self.conv
        )
    }

    /// `graph` with every attention node set to this kernel and every conv op's method chosen
    /// as this mode and cap say, then split into `micro_batch` slices (what `plan` did before
    /// planning).
    pub fn apply(&self, graph: &Graph) -> Result<Graph, PlanFileError> {
        let kernel =
            AttentionKernel::from_name(&self.attention).ok_or_else(|| PlanFileError::Unknown {
                what: "attention kernel",
                name: self.attention.clone(),
            })?;
        let mode = ConvMode::from_name(&self.conv).ok_or_else(|| PlanFileError::Unknown {
            what: "conv mode",
            name: self.conv.clone(),
        })?;
        let failed = |message: String| PlanFileError::Lowering {
            lowering: self.describe(),
            message,
        };
        let mut g = graph.clone();
        g.set_attention_kernel(kernel)
            .map_err(|e| failed(e.to_string()))?;
        let g = conv::choose(&g, mode, self.workspace_cap).map_err(|e| failed(e.to_string()))?;
        crate::transform::micro_batch::micro_batch(&g, self.micro_batch)
            .map_err(|e| failed(e.to_string()))
    }
}

/// The execution order the plan was made for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRecord {
    /// The scheduler asked for (`program`, `greedy`, `beam`, `exact`, `auto`).
    pub name: String,
    /// The scheduler whose order was kept.
    pub chosen: String,
    /// Node indices of the lowered graph in execution order.
    pub order: Vec<u32>,
}

/// What the plan assumes of the device and needs from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRecord {
    /// Offset alignment every offset is a multiple of (assumed
    /// `min_storage_buffer_offset_alignment`; a device may need a divisor of it).
    pub alignment: u64,
    /// Size of the one buffer: weights, two guard bands and the arena (needs
    /// `max_buffer_size` at least this).
    pub buffer_bytes: u64,
    /// The largest storage binding (a tensor or a workspace, rounded up to 4 bytes; needs
    /// `max_storage_buffer_binding_size` at least this).
    pub largest_binding_bytes: u64,
    /// What that binding is (tensor name or `workspace of NODE`).
    pub largest_binding: String,
}

/// One planned buffer (a storage group: a tensor, its in-place aliases and views, or a
/// workspace) with its lifetime `[start, end)` in steps and its offset inside the arena.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferRecord {
    /// The buffer's name (its root tensor, or `workspace of NODE`).
    pub name: String,
    /// First step it is live.
    pub start: u64,
    /// First step it is no longer live.
    pub end: u64,
    /// Bytes.
    pub size: u64,
    /// Offset alignment, bytes.
    pub align: u64,
    /// Offset inside the arena, bytes.
    pub offset: u64,
}

/// One tensor's absolute offset in the one device buffer (weights in the weight region,
/// everything else in the arena after the first guard band).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorRecord {
    /// Tensor name.
    pub name: String,
    /// Absolute offset in the one buffer, bytes.
    pub offset: u64,
    /// Bytes.
    pub bytes: u64,
}

/// The dtype of plan files written before `dtype` existed.
fn f32_name() -> String {
    "f32".into()
}

/// A plan file (see the module doc). Field names are the JSON's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] when written.
    pub format_version: u32,
    /// The tessera version that wrote it (informational).
    pub tessera_version: String,
    /// The model (or graph file) the plan was made for.
    pub model: String,
    /// The model options used (name, value).
    pub options: Vec<(String, usize)>,
    /// Storage dtype of the model's floats (`--dtype`: `f32`, `f16`; `mixed` for a graph file
    /// mixing them). Files written before the field existed are `f32`. The fingerprint covers
    /// every tensor's dtype, so a plan of one dtype never loads for the other.
    #[serde(default = "f32_name")]
    pub dtype: String,
    /// [`fingerprint`] of the lowered graph, before scheduling.
    pub graph_fingerprint: String,
    /// The attention and conv lowering applied before planning.
    pub lowering: Lowering,
    /// The planner that placed the buffers.
    pub planner: String,
    /// Whether that planner proved the arena minimal.
    pub proven_optimal: bool,
    /// In-place reuse on or off.
    pub in_place: bool,
    /// Workspace policy (`global`, `grouped`, `planned`).
    pub workspace: String,
    /// Graph inputs streamed into the arena right before their first reader (the analysis'
    /// `streamed_inputs`); files written before this field existed uploaded every input before
    /// the run.
    #[serde(default)]
    pub streamed_inputs: bool,
    /// The execution order.
    pub schedule: ScheduleRecord,
    /// Device assumptions and needs.
    pub device: DeviceRecord,
    /// The arena's size as planned, bytes.
    pub arena_bytes: u64,
    /// The max-load lower bound of the planned problem, bytes.
    pub lower_bound_bytes: u64,
    /// The persistent weight region, bytes.
    pub weights_bytes: u64,
    /// Each guard band, bytes.
    pub guard_bytes: u64,
    /// Every planned buffer, in the analysis' order.
    pub buffers: Vec<BufferRecord>,
    /// Every tensor (`TensorId` order) with its absolute offset.
    pub tensors: Vec<TensorRecord>,
}

/// The stable fingerprint of a graph: `sha256:` and the hex SHA-256 of its compact JSON
/// serialisation (the data `tessera export` writes, without the pretty-printing). Any change to
/// a tensor, an op attribute, the node order or the outputs changes it.
pub fn fingerprint(graph: &Graph) -> String {
    // Serialising plain data to a Vec cannot fail (no maps with non-string keys, no I/O); an
    // error would leave the digest of the empty string, which no graph has.
    let json = serde_json::to_vec(graph).unwrap_or_default();
    let digest = Sha256::digest(&json);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The largest storage binding of a layout: every tensor and workspace rounded up to 4 bytes,
/// as the runtime binds them; `(bytes, what)`.
pub(crate) fn largest_binding(graph: &Graph, layout: &MemoryLayout) -> (u64, String) {
    let round4 = |b: u64| b.div_ceil(4).saturating_mul(4);
    let tensors = graph
        .tensors
        .iter()
        .map(|t| (round4(t.size_bytes()), t.name.clone()));
    let workspaces = graph.nodes.iter().enumerate().filter_map(|(i, n)| {
        let bytes = *layout.workspace_bytes.get(i)?;
        (bytes > 0).then(|| (round4(bytes), format!("workspace of {}", n.name)))
    });
    tensors
        .chain(workspaces)
        .max_by_key(|(b, _)| *b)
        .unwrap_or((0, "nothing".into()))
}

/// The buffer table of an analysis with the plan's offsets.
fn buffer_records(analysis: &MemoryAnalysis, offsets: &[u64]) -> Vec<BufferRecord> {
    analysis
        .problem
        .buffers
        .iter()
        .zip(offsets)
        .map(|(b, &offset)| BufferRecord {
            name: b.name.clone(),
            start: b.lifetime.start,
            end: b.lifetime.end,
            size: b.size,
            align: b.align,
            offset,
        })
        .collect()
}

/// For each node of `scheduled` (a permutation of `lowered`'s nodes), its index in `lowered`,
/// matched by output tensors (each tensor has one producer); `None` when some node has no match.
fn schedule_order(lowered: &Graph, scheduled: &Graph) -> Option<Vec<u32>> {
    let mut producer = vec![None; lowered.tensors.len()];
    for (i, n) in lowered.nodes.iter().enumerate() {
        for o in &n.outputs {
            *producer.get_mut(o.index())? = Some(i);
        }
    }
    scheduled
        .nodes
        .iter()
        .map(|n| {
            let first = n.outputs.first()?;
            let i = (*producer.get(first.index())?)?;
            u32::try_from(i).ok()
        })
        .collect()
}

impl PlanFile {
    /// The plan file of `planned`, a plan of `lowered` (the graph after `lowering`, before
    /// scheduling) made with `cfg`, for `model` with `options`. Errors when the scheduled graph
    /// is not a permutation of `lowered` (a caller passing the wrong graph).
    pub fn new(
        model: &str,
        options: Vec<(String, usize)>,
        lowered: &Graph,
        lowering: Lowering,
        planned: &PlannedGraph,
        cfg: &PlanConfig,
    ) -> Result<PlanFile, PlanFileError> {
        let order = schedule_order(lowered, &planned.graph).ok_or_else(|| {
            PlanFileError::Schedule("the planned graph is not a reordering of the graph".into())
        })?;
        let layout = &planned.layout;
        let (largest_binding_bytes, largest_binding) = largest_binding(&planned.graph, layout);
        let tensors = planned
            .graph
            .tensors
            .iter()
            .zip(&layout.tensor_offsets)
            .map(|(t, &offset)| TensorRecord {
                name: t.name.clone(),
                offset,
                bytes: t.size_bytes(),
            })
            .collect();
        Ok(PlanFile {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            tessera_version: env!("CARGO_PKG_VERSION").into(),
            model: model.into(),
            options,
            dtype: crate::transform::precision::float_dtype_name(lowered),
            graph_fingerprint: fingerprint(lowered),
            lowering,
            planner: cfg.planner.clone(),
            proven_optimal: planned.outcome.proven_optimal,
            in_place: cfg.analysis.in_place,
            workspace: cfg.analysis.workspace.name().into(),
            streamed_inputs: cfg.analysis.streamed_inputs,
            schedule: ScheduleRecord {
                name: planned.schedule.name.clone(),
                chosen: planned.schedule.chosen.clone(),
                order,
            },
            device: DeviceRecord {
                alignment: layout.alignment,
                buffer_bytes: layout.total_bytes(),
                largest_binding_bytes,
                largest_binding,
            },
            arena_bytes: planned.outcome.plan.arena_bytes,
            lower_bound_bytes: planned.lower_bound,
            weights_bytes: layout.weights_bytes,
            guard_bytes: layout.guard_bytes,
            buffers: buffer_records(&planned.analysis, &planned.outcome.plan.offsets),
            tensors,
        })
    }

    /// The file as pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialisation cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Reads a plan file: first its `format` and `format_version` (so a file from a newer
    /// tessera is named as such, not as malformed), then every field.
    pub fn parse(text: &str) -> Result<PlanFile, PlanFileError> {
        let one_line = |e: serde_json::Error| PlanFileError::Malformed(e.to_string());
        let value: serde_json::Value = serde_json::from_str(text).map_err(one_line)?;
        let format = value.get("format");
        if format.and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(PlanFileError::NotAPlan {
                found: format.map_or("missing".into(), |f| f.to_string()),
            });
        }
        match value.get("format_version").and_then(|v| v.as_u64()) {
            Some(v) if v > u64::from(FORMAT_VERSION) => {
                return Err(PlanFileError::FutureVersion { found: v });
            }
            Some(_) => {}
            None => {
                return Err(PlanFileError::Malformed(
                    "`format_version` is missing or not a non-negative integer".into(),
                ));
            }
        }
        serde_json::from_value(value).map_err(one_line)
    }
}

#[cfg(test)]
mod tests;
