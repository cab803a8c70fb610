//! Dynamic-allocation baselines executed for real on the device (seed 5.3.1), to compare the
//! planned single arena against what allocation without a plan really costs.
//!
//! Every baseline runs the same kernels as [`compile`](super::compile) in the same order (the
//! lowering is shared through [`Placement`]), one submission per node, so its outputs equal the
//! single-arena run's bit for bit:
//!
//! - [`Baseline::NaiveStatic`]: one device buffer per non-weight tensor that owns bytes (views
//!   share their source's) and per workspace request, all created before the run, none freed.
//! - [`Baseline::NaiveDynamic`]: an eager framework without a caching allocator. A tensor's
//!   buffer is created right before its producer runs (graph inputs before node 0, then
//!   written) and destroyed right after its last reader through any view has run (graph
//!   outputs are kept to the end); a workspace buffer lives only for its node.
//! - [`Baseline::Buddy`]: the same allocation sequence through a power-of-two buddy allocator
//!   ([`crate::plan::buddy`]) inside ONE pool buffer, tensors bound at their block offsets.
//!   The sequence is replayed on the host first, growing the heap by doubling, so the pool is
//!   created once at the smallest power of two that sequence needed (a pool that grew during
//!   the run would have to copy live tensors; the replay gives the same offsets without that).
//!
//! Measurement: every weight is its own buffer, created and uploaded before the run together
//! with the params buffer and pipelines; the allocator is sampled AFTER those exist, so all
//! numbers exclude the weights (they are identical for every baseline and for the arena's
//! persistent region). After node `i` runs the allocator is sampled while everything node `i`
//! touched is still held ([`BaselineRun::samples`], where the curve peaks), then the dead
//! buffers are destroyed, the device polled and sampled again
//! ([`BaselineRun::samples_after_free`]).

mod timeline;

use super::dispatch::{
    BufferTable, ParamsBuffer, Pipelines, bind_step, output_specs, read_ranges, submit_steps,
    to_outputs,
};
use super::executor::scoped;
use super::lower::{Loc, Lowerer, Placement, Step, round4};
use super::{Gpu, OutputData, RuntimeError};
use crate::analysis::liveness;
use crate::graph::{DType, Graph, NodeId, TensorId, TensorKind};
use serde::Serialize;
use std::time::Instant;
use timeline::{BuddyReplay, Timeline, buddy_replay, peaks, timeline};

/// An allocation scheme to run a graph under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Baseline {
    /// One buffer per tensor and per workspace, all created up front, none freed.
    NaiveStatic,
    /// One buffer per tensor, created before its producer and destroyed after its last reader.
    NaiveDynamic,
    /// Power-of-two buddy blocks inside one pool buffer, allocated and freed like NaiveDynamic.
    Buddy,
}

impl Baseline {
    /// Every baseline, for reports that compare them.
    pub const ALL: [Baseline; 3] = [
        Baseline::NaiveStatic,
        Baseline::NaiveDynamic,
        Baseline::Buddy,
    ];

    /// A short name for tables ("naive-static", "naive-dynamic", "buddy").
    pub fn name(self) -> &'static str {
        match self {
            Baseline::NaiveStatic => "naive-static",
            Baseline::NaiveDynamic => "naive-dynamic",
            Baseline::Buddy => "buddy",
        }
    }
}

/// What one baseline run measured. Byte counts exclude the weights (see the module docs).
#[derive(Clone, Debug)]
pub struct BaselineRun {
    /// Which scheme ran.
    pub baseline: Baseline,
    /// The graph outputs, in `Graph::outputs` order.
    pub outputs: Vec<OutputData>,
    /// Max over [`samples`](Self::samples): the measured device peak, `None` where the backend
    /// has no allocator report (Metal, GL).
    pub peak_allocated_bytes: Option<u64>,
    /// One per node: `total_allocated_bytes` minus its value before the run, sampled after the
    /// node ran while every buffer it touched was still held.
    pub samples: Vec<Option<u64>>,
    /// One per node: the same delta after that node's dead buffers were destroyed and the
    /// device polled (equal to `samples` for NaiveStatic and Buddy, which free nothing).
    pub samples_after_free: Vec<Option<u64>>,
    /// Max over time of the bytes requested by live allocations (tensor and workspace sizes as
    /// asked; NaiveStatic holds every request for the whole run).
    pub requested_peak_bytes: u64,
    /// Max over time of the bytes the scheme held for them: buffer sizes (rounded up to 4) for
    /// the naive schemes, power-of-two blocks for Buddy.
    pub held_peak_bytes: u64,
    /// Buddy: `held - requested` at the held peak (rounding to power-of-two blocks); else 0.
    pub internal_fragmentation_bytes: u64,
    /// Device buffer bytes the scheme created at its peak: the whole pool for Buddy (at least
    /// `held_peak_bytes`), `held_peak_bytes` for the naive schemes.
    pub reserved_bytes: u64,
    /// Host wall time from creating the first non-weight buffer to the outputs read back, in
    /// ms (one submission and two allocator samples per node, so slower than one pass).
    pub wall_ms: f64,
}

/// Where each tensor lives under a baseline: weights and (naive) units in their own slots at
/// offset 0; under Buddy every unit in the pool slot at its block offset.
struct BaselinePlace {
    root: Vec<TensorId>,
    tensors: usize,
    units: Vec<Option<u64>>,
    /// Pool slot and the buddy replay's block of each unit (Buddy only).
    pool: Option<(usize, BuddyReplay)>,
}

impl BaselinePlace {
    fn unit(&self, u: usize) -> Loc {
        match &self.pool {
            Some((slot, replay)) => match replay.blocks.get(u).copied().flatten() {
                Some((offset, _)) => Loc {
                    buffer: *slot,
                    offset,
                },
                None => Loc {
                    buffer: u,
                    offset: 0,
                },
            },
            None => Loc {
                buffer: u,
                offset: 0,
            },
        }
    }
}

impl Placement for BaselinePlace {
    fn tensor(&self, t: TensorId) -> Loc {
        let r = self.root.get(t.index()).copied().unwrap_or(t);
        self.unit(r.index())
    }
    fn workspace(&self, n: NodeId) -> Option<(Loc, u64)> {
        let u = self.tensors + n.index();
        let bytes = self.units.get(u).copied().flatten()?;
        Some((self.unit(u), bytes))
    }
}

/// Buffer size for `bytes` requested: whole words, never empty.
fn buffer_size(bytes: u64) -> u64 {
    round4(bytes).max(4)
}

fn create_buffer(gpu: &Gpu, label: &str, bytes: u64) -> wgpu::Buffer {
    gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: buffer_size(bytes),
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// The words of an input or weight, or `Unsupported` for dtypes that cannot be uploaded yet.
fn init_words(graph: &Graph, t: TensorId) -> Result<Vec<u32>, RuntimeError> {
    let tensor = &graph.tensors[t.index()];
    if tensor.dtype.size_bytes() != 4 {
        return Err(RuntimeError::Unsupported {
            node: tensor.name.clone(),
            op: "upload",
            detail: format!("{} tensors cannot be uploaded yet", tensor.dtype),
        });
    }
    Ok(tensor.init.words(tensor.shape.numel() as usize))
}

/// Checks every buffer and binding the baseline will create against the device limits.
fn check_limits(
    gpu: &Gpu,
    graph: &Graph,
    tl: &Timeline,
    pool: Option<u64>,
    lowered: &[(NodeId, Vec<Step>)],
) -> Result<(), RuntimeError> {
    let max_buffer = gpu.max_buffer();
    let too_big = |bytes: u64| RuntimeError::ArenaTooLarge {
        bytes,
        limit: max_buffer,
    };
    if let Some(bytes) = pool.filter(|&b| b > max_buffer) {
        return Err(too_big(bytes));
    }
    let weights = graph
        .tensors
        .iter()
        .filter(|t| t.kind == TensorKind::Weight);
    let sizes = tl.units.iter().flatten().copied();
    if let Some(bytes) = weights
        .map(|t| t.size_bytes())
        .chain(sizes)
        .map(buffer_size)
        .find(|&b| b > max_buffer)
    {
        return Err(too_big(bytes));
    }
    for (id, steps) in lowered {
        for region in steps.iter().flat_map(|s| &s.bindings) {
            if region.size > gpu.max_binding() {
                return Err(RuntimeError::BindingTooLarge {
                    tensor: format!("a binding of node {}", graph.node(*id).name),
                    bytes: region.size,
                    limit: gpu.max_binding(),
                });
            }
        }
    }
    Ok(())
}

/// Runs `graph` under `which`, node by node, and measures it (see the module docs).
pub fn run_baseline(
    gpu: &Gpu,
    graph: &Graph,
    which: Baseline,
) -> Result<BaselineRun, RuntimeError> {
    let live = liveness(graph);
    let tl = timeline(graph, &live, which);
    let tensors = graph.tensors.len();
    let pool_slot = tl.units.len();
    let replay = match which {
        Baseline::Buddy => Some(buddy_replay(
            &tl,
            gpu.min_storage_buffer_offset_alignment().max(4),
            gpu.max_buffer(),
        )?),
        _ => None,
    };
    let held_of = |u: usize| match &replay {
        Some(r) => r
            .blocks
            .get(u)
            .copied()
            .flatten()
            .map_or(0, |(_, size)| size),
        None => tl.units.get(u).copied().flatten().map_or(0, buffer_size),
    };
    let curve = peaks(&tl, held_of);
    let pool_bytes = replay.as_ref().map(|r| r.pool_bytes);
    let place = BaselinePlace {
        root: live.root.clone(),
        tensors,
        units: tl.units.clone(),
        pool: replay.map(|r| (pool_slot, r)),
    };
    let lowerer = Lowerer {
        graph,
        place: &place,
        max_groups: gpu.limits().max_compute_workgroups_per_dimension,
    };
    let mut lowered = Vec::with_capacity(graph.nodes.len());
    for id in graph.node_ids() {
        lowered.push((id, lowerer.lower(id)?));
    }
    check_limits(gpu, graph, &tl, pool_bytes, &lowered)?;
    let mut inputs = Vec::new();
    for t in graph.tensors_of_kind(TensorKind::Input) {
        inputs.push((place.tensor(t), init_words(graph, t)?));
    }
    let outputs = output_specs(graph, &place);
    let device = Device {
        gpu,
        graph,
        tl: &tl,
        pool: pool_bytes.map(|b| (pool_slot, b)),
    };
    let measured = scoped(gpu, || device.run(&lowered, &inputs, &outputs))?;
    let peak_allocated_bytes = measured.samples.iter().flatten().copied().max();
    Ok(BaselineRun {
        baseline: which,
        outputs: measured.outputs,
        peak_allocated_bytes,
        samples: measured.samples,
        samples_after_free: measured.samples_after_free,
        requested_peak_bytes: curve.requested,
        held_peak_bytes: curve.held,
        internal_fragmentation_bytes: match which {
            Baseline::Buddy => curve.slack_at_held_peak,
            _ => 0,
        },
        reserved_bytes: pool_bytes.unwrap_or(curve.held),
        wall_ms: measured.wall_ms,
    })
}

/// The device half of a baseline run.
struct Device<'a> {
    gpu: &'a Gpu,
    graph: &'a Graph,
    tl: &'a Timeline,
    /// Buddy: the pool's slot and size; its units are never buffers of their own.
    pool: Option<(usize, u64)>,
}

struct Measured {
    outputs: Vec<OutputData>,
    samples: Vec<Option<u64>>,
    samples_after_free: Vec<Option<u64>>,
    wall_ms: f64,
}

impl Device<'_> {
    fn allocated(&self) -> Result<Option<u64>, RuntimeError> {
        self.gpu.wait()?;
        Ok(self.gpu.allocator_bytes().map(|(allocated, _)| allocated))
    }

    fn create_units(&self, buffers: &mut [Option<wgpu::Buffer>], units: &[usize]) {
        if self.pool.is_some() {
            return;
        }
        for &u in units {
            if let (Some(bytes), Some(slot)) = (self.tl.units[u], buffers.get_mut(u)) {
                *slot = Some(create_buffer(self.gpu, "tessera baseline tensor", bytes));
            }
        }
    }

    fn run(
        &self,
        lowered: &[(NodeId, Vec<Step>)],
        inputs: &[(Loc, Vec<u32>)],
        outputs: &[(TensorId, DType, Loc, u64)],
    ) -> Result<Measured, RuntimeError> {
        let (gpu, queue) = (self.gpu, self.gpu.queue());
        let slots = self.tl.units.len() + 1;
        let mut buffers: Vec<Option<wgpu::Buffer>> = (0..slots).map(|_| None).collect();
        for t in self.graph.tensors_of_kind(TensorKind::Weight) {
            let words = init_words(self.graph, t)?;
            let buffer = create_buffer(gpu, "tessera weight", words.len() as u64 * 4);
            if !words.is_empty() {
                queue.write_buffer(&buffer, 0, bytemuck::cast_slice(&words));
            }
            buffers[t.index()] = Some(buffer);
        }
        let params = ParamsBuffer::new(gpu, lowered.iter().flat_map(|(_, s)| s))?;
        let mut kernels = Pipelines::default();
        for step in lowered.iter().flat_map(|(_, s)| s) {
            kernels.get(gpu.device(), step.kernel);
        }
        queue.submit(std::iter::empty());
        let before = self.allocated()?;
        let delta = |now: Option<u64>| Some(now?.saturating_sub(before?));

        let start = Instant::now();
        if let Some((slot, bytes)) = self.pool {
            buffers[slot] = Some(create_buffer(gpu, "tessera buddy pool", bytes));
        }
        self.create_units(&mut buffers, &self.tl.upfront);
        for (loc, words) in inputs.iter().filter(|(_, w)| !w.is_empty()) {
            if let Some(buffer) = buffers.buffer(loc.buffer) {
                queue.write_buffer(buffer, loc.offset, bytemuck::cast_slice(words));
            }
        }
        let mut slot = 0u64;
        let (mut samples, mut after_free) = (Vec::new(), Vec::new());
        for (i, (_, steps)) in lowered.iter().enumerate() {
            self.create_units(&mut buffers, &self.tl.alloc_before[i]);
            let mut bound = Vec::with_capacity(steps.len());
            for step in steps {
                let device = gpu.device();
                bound.push(bind_step(
                    device,
                    &mut kernels,
                    &params,
                    slot,
                    step,
                    &buffers,
                )?);
                slot += 1;
            }
            submit_steps(gpu, &kernels.pipelines, bound.iter())?;
            samples.push(delta(self.allocated()?));
            drop(bound);
            if self.pool.is_none() {
                for &u in &self.tl.free_after[i] {
                    if let Some(buffer) = buffers.get_mut(u).and_then(Option::take) {
                        buffer.destroy();
                    }
                }
            }
            after_free.push(delta(self.allocated()?));
        }
        let encoder = gpu
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("tessera baseline readback"),
            });
        let mut ranges = Vec::with_capacity(outputs.len());
        for &(t, _, loc, bytes) in outputs {
            let buffer = buffers.buffer(loc.buffer).ok_or_else(|| {
                RuntimeError::LayoutMismatch(format!(
                    "output {} has no buffer at the end of the run",
                    self.graph.tensors[t.index()].name
                ))
            })?;
            ranges.push((buffer, loc.offset, bytes));
        }
        let bytes = read_ranges(gpu, encoder, &ranges)?;
        let which: Vec<(TensorId, DType)> = outputs.iter().map(|o| (o.0, o.1)).collect();
        Ok(Measured {
            outputs: to_outputs(&which, &bytes),
            samples,
            samples_after_free: after_free,
            wall_ms: start.elapsed().as_secs_f64() * 1e3,
        })
    }
}
