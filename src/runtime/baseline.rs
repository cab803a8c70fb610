//! Allocation baselines executed for real on the device (seed 5.3.1): what allocation without
//! a static plan really costs, with the schemes engineers actually use instead of one.
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
//!   outputs are kept to the end); a workspace buffer lives only for its node. Nothing runs in
//!   place, so its peak is the live-bytes ideal with in-place reuse OFF.
//! - [`Baseline::NaiveDynamicInPlace`]: the same with in-place reuse: an in-place-capable node
//!   writes over its dying input (the storage groups of [`crate::analysis::analyze`]), so its
//!   peak is the live-bytes ideal with in-place ON. Against it, the planned arena's gain is
//!   planning alone.
//! - [`Baseline::Caching`]: the naive-dynamic sequence through a PyTorch-style caching
//!   allocator ([`caching`]): segments of 2 MiB / 20 MiB / rounded large sizes, each one device
//!   buffer created at the moment the replay creates it, tensors bound at (segment, offset),
//!   freed blocks cached and never returned. Its reserved bytes are `memory_reserved()`.
//! - [`Baseline::GgmlStyle`]: the in-place sequence through ggml-alloc's dynamic best-fit
//!   allocator ([`ggml`]) inside ONE buffer sized by a measuring pass (the replay), then run.
//! - [`Baseline::Buddy`]: the naive-dynamic sequence through a power-of-two buddy allocator
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

mod caching;
mod ggml;
mod timeline;

pub use timeline::ReplayError;

use super::dispatch::{
    BufferTable, ParamsBuffer, Pipelines, bind_step, device_words, output_specs, read_ranges,
    submit_steps, to_outputs,
};
use super::executor::scoped;
use super::lower::{Loc, Lowerer, Placement, Step, round4};
use super::{Gpu, KernelOptions, OutputData, RuntimeError};
use crate::analysis::liveness;
use crate::graph::{DType, Graph, NodeId, TensorId, TensorKind};
use serde::Serialize;
use std::time::Instant;
use timeline::{PoolReplay, Timeline, buddy_replay, peaks, replay, timeline};

/// An allocation scheme to run a graph under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Baseline {
    /// One buffer per tensor and per workspace, all created up front, none freed.
    NaiveStatic,
    /// One buffer per tensor, created before its producer and destroyed after its last reader.
    NaiveDynamic,
    /// NaiveDynamic with in-place reuse: one buffer per storage group.
    NaiveDynamicInPlace,
    /// PyTorch-style caching allocator: segments created on demand, blocks cached on free.
    Caching,
    /// ggml-alloc-style dynamic best fit with in-place reuse in one measured buffer.
    GgmlStyle,
    /// Power-of-two buddy blocks inside one pool buffer, allocated and freed like NaiveDynamic.
    Buddy,
}

impl Baseline {
    /// Every baseline, for reports that compare them.
    pub const ALL: [Baseline; 6] = [
        Baseline::NaiveStatic,
        Baseline::NaiveDynamic,
        Baseline::NaiveDynamicInPlace,
        Baseline::Caching,
        Baseline::GgmlStyle,
        Baseline::Buddy,
    ];

    /// The name used in tables and in the JSON `baselines[].name` ("naive-static",
    /// "naive-dynamic", "naive-dynamic-inplace", "caching", "ggml-style", "buddy").
    pub fn name(self) -> &'static str {
        match self {
            Baseline::NaiveStatic => "naive-static",
            Baseline::NaiveDynamic => "naive-dynamic",
            Baseline::NaiveDynamicInPlace => "naive-dynamic-inplace",
            Baseline::Caching => "caching",
            Baseline::GgmlStyle => "ggml-style",
            Baseline::Buddy => "buddy",
        }
    }

    /// True for the schemes whose in-place-capable nodes write over a dying input.
    pub fn in_place(self) -> bool {
        matches!(self, Baseline::NaiveDynamicInPlace | Baseline::GgmlStyle)
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
    /// device polled (equal to `samples` for the pool schemes, which destroy nothing).
    pub samples_after_free: Vec<Option<u64>>,
    /// Max over time of the bytes requested by live allocations (tensor and workspace sizes as
    /// asked; NaiveStatic holds every request for the whole run).
    pub requested_peak_bytes: u64,
    /// Max over time of the bytes the scheme held for them: buffer sizes (rounded up to 4) for
    /// the naive schemes, the blocks handed out for the pool schemes (buddy: powers of two;
    /// caching: 512-byte multiples or whole unsplit blocks; ggml-style: aligned sizes).
    pub held_peak_bytes: u64,
    /// Pool schemes: `held - requested` at the held peak (rounding of blocks); else 0.
    pub internal_fragmentation_bytes: u64,
    /// Device buffer bytes the scheme created at its peak: the sum of the pool's segments for
    /// the pool schemes (caching: every segment, never freed, i.e. `memory_reserved()`;
    /// ggml-style and buddy: the one pool), `held_peak_bytes` for the naive schemes.
    pub reserved_bytes: u64,
    /// Number of device buffers the pool schemes created for their pool (0 for naive ones).
    pub segments: usize,
    /// Host wall time from creating the first non-weight buffer to the outputs read back, in
    /// ms (one submission and two allocator samples per node, so slower than one pass).
    pub wall_ms: f64,
}

/// Where each tensor lives under a baseline: weights and (naive) units in their own slots at
/// offset 0; under a pool scheme every unit in its segment's slot at its block offset.
struct BaselinePlace {
    owner: Vec<TensorId>,
    tensors: usize,
    units: Vec<Option<u64>>,
    /// Slot of segment 0 and the pool replay (pool schemes only).
    pool: Option<(usize, PoolReplay)>,
}

impl BaselinePlace {
    fn unit(&self, u: usize) -> Loc {
        let block = self
            .pool
            .as_ref()
            .and_then(|(base, r)| Some((*base, r.blocks.get(u).copied().flatten()?)));
        match block {
            Some((base, b)) => Loc {
                buffer: base + b.segment,
                offset: b.offset,
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
        let r = self.owner.get(t.index()).copied().unwrap_or(t);
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

/// The device words of an input or weight ([`device_words`]).
fn init_words(graph: &Graph, t: TensorId) -> Result<Vec<u32>, RuntimeError> {
    let tensor = &graph.tensors[t.index()];
    let words = tensor.init.words(tensor.shape.numel() as usize);
    Ok(device_words(tensor.dtype, words))
}

/// Checks every buffer, block offset and binding the baseline will create against the device
/// limits.
fn check_limits(
    gpu: &Gpu,
    which: Baseline,
    (graph, tl): (&Graph, &Timeline),
    pool: Option<&PoolReplay>,
    lowered: &[(NodeId, Vec<Step>)],
) -> Result<(), RuntimeError> {
    let max_buffer = gpu.max_buffer();
    let too_big = |bytes: u64| RuntimeError::BaselineTooLarge {
        baseline: which.name(),
        bytes,
        limit: max_buffer,
    };
    let segments = pool.map_or(&[][..], |p| &p.segments);
    if let Some(&bytes) = segments.iter().find(|&&b| b > max_buffer) {
        return Err(too_big(bytes));
    }
    let align = gpu.min_storage_buffer_offset_alignment().max(1);
    let blocks = pool.map_or(&[][..], |p| &p.blocks);
    if let Some((u, b)) = blocks
        .iter()
        .enumerate()
        .find_map(|(u, b)| b.filter(|b| b.offset % align != 0).map(|b| (u, b)))
    {
        return Err(RuntimeError::Misaligned {
            what: format!("{} allocation {u}", which.name()),
            offset: b.offset,
            alignment: align,
        });
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

/// The host replay of a pool scheme (`None` for the naive schemes).
fn pool_replay(
    gpu: &Gpu,
    tl: &Timeline,
    which: Baseline,
) -> Result<Option<PoolReplay>, RuntimeError> {
    let align = gpu.min_storage_buffer_offset_alignment().max(4);
    Ok(match which {
        Baseline::Buddy => Some(buddy_replay(tl, align, gpu.max_buffer())?),
        Baseline::Caching => Some(replay(tl, &mut caching::CachingAllocator::default())?),
        Baseline::GgmlStyle => {
            let mut a = ggml::DynAllocator::new(align);
            let r = replay(tl, &mut a)?;
            Some(r.single(a.max_size().max(4)))
        }
        Baseline::NaiveStatic | Baseline::NaiveDynamic | Baseline::NaiveDynamicInPlace => None,
    })
}

/// Runs `graph` under `which`, node by node, and measures it (see the module docs).
pub fn run_baseline(
    gpu: &Gpu,
    graph: &Graph,
    which: Baseline,
) -> Result<BaselineRun, RuntimeError> {
    let live = liveness(graph);
    let tl = timeline(graph, &live, which)?;
    let tensors = graph.tensors.len();
    let pool = pool_replay(gpu, &tl, which)?;
    let curve = match &pool {
        Some(r) => peaks(&tl, |u| r.held(u)),
        None => peaks(&tl, |u| {
            tl.units.get(u).copied().flatten().map_or(0, buffer_size)
        }),
    };
    let reserved = pool.as_ref().map(PoolReplay::reserved_bytes);
    let segments = pool.as_ref().map_or(0, |r| r.segments.len());
    let place = BaselinePlace {
        owner: tl.owner.clone(),
        tensors,
        units: tl.units.clone(),
        pool: pool.map(|r| (tl.units.len(), r)),
    };
    let lowerer = Lowerer::new(graph, &place, gpu, KernelOptions::for_gpu(gpu));
    let mut lowered = Vec::with_capacity(graph.nodes.len());
    for id in graph.node_ids() {
        lowered.push((id, lowerer.lower(id)?));
    }
    let pool = place.pool.as_ref().map(|(_, r)| r);
    check_limits(gpu, which, (graph, &tl), pool, &lowered)?;
    let mut inputs = Vec::new();
    for t in graph.tensors_of_kind(TensorKind::Input) {
        inputs.push((place.tensor(t), init_words(graph, t)?));
    }
    let outputs = output_specs(graph, &place);
    let device = Device {
        gpu,
        graph,
        tl: &tl,
        pool,
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
        internal_fragmentation_bytes: reserved.map_or(0, |_| curve.slack_at_held_peak),
        reserved_bytes: reserved.unwrap_or(curve.held),
        segments,
        wall_ms: measured.wall_ms,
    })
}

/// The device half of a baseline run.
struct Device<'a> {
    gpu: &'a Gpu,
    graph: &'a Graph,
    tl: &'a Timeline,
    /// Pool schemes: the replay; segment `s` lives in slot `tl.units.len() + s` and units are
    /// never buffers of their own.
    pool: Option<&'a PoolReplay>,
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

    /// Creates the buffers of `units` (naive schemes) or of the pool `segments` that appear now.
    fn create(&self, buffers: &mut [Option<wgpu::Buffer>], units: &[usize], segments: &[usize]) {
        let base = self.tl.units.len();
        match self.pool {
            Some(pool) => {
                for &s in segments {
                    if let (Some(&bytes), Some(slot)) =
                        (pool.segments.get(s), buffers.get_mut(base + s))
                    {
                        *slot = Some(create_buffer(self.gpu, "tessera baseline pool", bytes));
                    }
                }
            }
            None => {
                for &u in units {
                    if let (Some(bytes), Some(slot)) = (self.tl.units[u], buffers.get_mut(u)) {
                        *slot = Some(create_buffer(self.gpu, "tessera baseline tensor", bytes));
                    }
                }
            }
        }
    }

    /// Segments the pool creates right before node `i` (none for naive schemes).
    fn segments_before(&self, i: usize) -> &[usize] {
        self.pool
            .and_then(|p| p.created_before.get(i))
            .map_or(&[], Vec::as_slice)
    }

    fn run(
        &self,
        lowered: &[(NodeId, Vec<Step>)],
        inputs: &[(Loc, Vec<u32>)],
        outputs: &[(TensorId, DType, Loc, u64)],
    ) -> Result<Measured, RuntimeError> {
        let (gpu, queue) = (self.gpu, self.gpu.queue());
        let slots = self.tl.units.len() + self.pool.map_or(0, |p| p.segments.len());
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
            kernels.get(gpu.device(), step.kernel, step.storage);
        }
        queue.submit(std::iter::empty());
        let before = self.allocated()?;
        let delta = |now: Option<u64>| Some(now?.saturating_sub(before?));

        let start = Instant::now();
        let upfront = self.pool.map_or(&[][..], |p| &p.created_upfront);
        self.create(&mut buffers, &self.tl.upfront, upfront);
        for (loc, words) in inputs.iter().filter(|(_, w)| !w.is_empty()) {
            if let Some(buffer) = buffers.buffer(loc.buffer) {
                queue.write_buffer(buffer, loc.offset, bytemuck::cast_slice(words));
            }
        }
        let mut slot = 0u64;
        let (mut samples, mut after_free) = (Vec::new(), Vec::new());
        for (i, (_, steps)) in lowered.iter().enumerate() {
            self.create(
                &mut buffers,
                &self.tl.alloc_before[i],
                self.segments_before(i),
            );
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
        Ok(Measured {
            outputs: self.read_outputs(&buffers, outputs)?,
            samples,
            samples_after_free: after_free,
            wall_ms: start.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// Reads the graph outputs back from wherever the scheme put them.
    fn read_outputs(
        &self,
        buffers: &[Option<wgpu::Buffer>],
        outputs: &[(TensorId, DType, Loc, u64)],
    ) -> Result<Vec<OutputData>, RuntimeError> {
        let encoder = self
            .gpu
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("tessera baseline readback"),
            });
        let mut ranges = Vec::with_capacity(outputs.len());
        for &(t, _, loc, bytes) in outputs {
            let buffer = buffers.get(loc.buffer).and_then(Option::as_ref);
            let buffer = buffer.ok_or_else(|| {
                RuntimeError::LayoutMismatch(format!(
                    "output {} has no buffer at the end of the run",
                    self.graph.tensors[t.index()].name
                ))
            })?;
            ranges.push((buffer, loc.offset, bytes));
        }
        let bytes = read_ranges(self.gpu, encoder, &ranges)?;
        let which: Vec<(TensorId, DType)> = outputs.iter().map(|o| (o.0, o.1)).collect();
        Ok(to_outputs(&which, &bytes))
    }
}
