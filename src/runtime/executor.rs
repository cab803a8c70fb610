//! The executor: validates a layout against the device limits, creates the ONE buffer (weights,
//! guard band, arena, guard band) while sampling the allocator around that creation alone,
//! fills the guard bands with the sentinel, uploads the weights, prepares pipelines and bind
//! groups at the planned offsets once, then runs the graph in one submission (or node by node
//! for clobber checks), samples the allocator during the run and reads the outputs back.
//! Streamed inputs (see [`super::stream`]) are copied from their staging buffer into the arena
//! right before their step, inside the same submission.

use super::dispatch::{
    CompiledStep, ParamsBuffer, Pipelines, bind_step, device_words, encode_steps, output_specs,
    read_ranges, submit_steps, to_outputs,
};
use super::guard::{BandPosition, GuardBand, GuardViolation, SENTINEL, scan_band};
use super::lower::{Lowerer, Step, round4};
use super::measure::{AllocatorBytes, AllocatorDelta, Peak, sample};
use super::stream::{self, Staging};
use super::{GemmKernel, Gpu, KernelOptions, RuntimeError};
use crate::graph::{DType, Graph, NodeId, TensorId, TensorKind};
use crate::layout::MemoryLayout;
use std::time::Instant;

/// One output read back after a run.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputData {
    /// Which tensor.
    pub tensor: TensorId,
    /// Its dtype (f32 bits or u32 ids in `words`; F16 outputs come widened to f32 bits).
    pub dtype: DType,
    /// Raw 32-bit words, one per element.
    pub words: Vec<u32>,
}

impl OutputData {
    /// The words as f32 (meaningful for f32 tensors).
    pub fn to_f32(&self) -> Vec<f32> {
        self.words.iter().map(|&w| f32::from_bits(w)).collect()
    }
}

/// What a run returns.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// The graph outputs, in `Graph::outputs` order.
    pub outputs: Vec<OutputData>,
    /// Host wall time from writing the inputs to the end of the GPU work and readback, in ms
    /// (including the device waits of the allocator samples).
    pub wall_ms: f64,
    /// GPU time of the compute pass from timestamp queries, when the device supports them.
    pub gpu_ms: Option<f64>,
    /// The highest `total_allocated_bytes` and the highest `total_reserved_bytes` (absolute)
    /// over the allocator samples this run took: before it, after the input upload, after each
    /// node (node-by-node runs only), after the graph's submission completed, and after the
    /// readback. The readback's staging buffer lives only inside the readback and is freed before
    /// the last sample, so it is not counted. `None` where the backend has no allocator report.
    pub device_peak: Option<AllocatorBytes>,
}

/// A graph prepared for one device: the buffer, pipelines and bind groups, ready to run.
pub struct Compiled {
    buffer: wgpu::Buffer,
    /// Kept alive for the bind groups that point into it.
    _params: wgpu::Buffer,
    pipelines: Vec<wgpu::ComputePipeline>,
    nodes: Vec<(NodeId, Vec<CompiledStep>)>,
    inputs: Vec<(u64, Vec<u32>)>,
    outputs: Vec<(TensorId, DType, u64, u64)>,
    /// `[arena_start, arena_end)` in the buffer.
    arena: (u64, u64),
    guards: [GuardBand; 2],
    buffer_bytes: u64,
    params_bytes: u64,
    buffer_alloc: Option<AllocatorDelta>,
    timestamps: Option<(wgpu::QuerySet, wgpu::Buffer)>,
    /// The streamed inputs' staging buffer and copies (empty when none is streamed).
    staging: Staging,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("buffer_bytes", &self.buffer_bytes)
            .field("arena", &self.arena)
            .field("params_bytes", &self.params_bytes)
            .field("pipelines", &self.pipelines.len())
            .field("dispatches", &self.dispatch_count())
            .field("staging_bytes", &self.staging.bytes)
            .finish()
    }
}

/// Runs `f` inside validation and out-of-memory error scopes; a caught error becomes
/// [`RuntimeError::Wgpu`] (and wins over whatever `f` returned).
pub(crate) fn scoped<T>(
    gpu: &Gpu,
    f: impl FnOnce() -> Result<T, RuntimeError>,
) -> Result<T, RuntimeError> {
    let oom = gpu
        .device()
        .push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation = gpu.device().push_error_scope(wgpu::ErrorFilter::Validation);
    let out = f();
    let v = pollster::block_on(validation.pop());
    let o = pollster::block_on(oom.pop());
    match v.or(o) {
        Some(e) => Err(RuntimeError::Wgpu(e.to_string())),
        None => out,
    }
}

/// Checks every offset and the buffer size against the device, and that every tensor lies
/// inside the weight region or the arena (never in a guard band), before anything is created.
/// Tensors larger than one storage binding are bound in blocks by the lowering, which refuses
/// what it cannot split.
fn check_limits(gpu: &Gpu, graph: &Graph, layout: &MemoryLayout) -> Result<(), RuntimeError> {
    if layout.tensor_offsets.len() != graph.tensors.len()
        || layout.workspace_offsets.len() != graph.nodes.len()
        || layout.workspace_bytes.len() != graph.nodes.len()
    {
        return Err(RuntimeError::LayoutMismatch(format!(
            "{} tensor offsets / {} workspaces for {} tensors / {} nodes",
            layout.tensor_offsets.len(),
            layout.workspace_offsets.len(),
            graph.tensors.len(),
            graph.nodes.len()
        )));
    }
    let total = round4(layout.total_bytes());
    if total > gpu.max_buffer() {
        return Err(RuntimeError::ArenaTooLarge {
            bytes: total,
            limit: gpu.max_buffer(),
        });
    }
    let align = gpu.min_storage_buffer_offset_alignment().max(1);
    let edges = [
        ("the arena start", layout.arena_start(), align),
        ("the second guard band", layout.arena_end(), 4),
        ("the guard band size", layout.guard_bytes, 4),
    ];
    if let Some(&(what, offset, alignment)) = edges.iter().find(|e| !e.1.is_multiple_of(e.2)) {
        return Err(RuntimeError::Misaligned {
            what: what.into(),
            offset,
            alignment,
        });
    }
    for (what, offset, bytes) in binding_ranges(graph, layout) {
        check_range(gpu, layout, what, offset, bytes)?;
    }
    stream::check(graph, layout)
}

/// Every tensor's and workspace's `(name, offset, bytes rounded up to 4)`.
fn binding_ranges(graph: &Graph, layout: &MemoryLayout) -> Vec<(String, u64, u64)> {
    let mut ranges: Vec<(String, u64, u64)> = graph
        .tensors
        .iter()
        .zip(&layout.tensor_offsets)
        .map(|(t, &off)| (t.name.clone(), off, round4(t.size_bytes())))
        .collect();
    for (i, node) in graph.nodes.iter().enumerate() {
        if let Some(off) = layout.workspace_offsets[i] {
            ranges.push((
                format!("workspace of {}", node.name),
                off,
                round4(layout.workspace_bytes[i]),
            ));
        }
    }
    ranges
}

/// One tensor or workspace: aligned, and inside the weight region or the arena.
fn check_range(
    gpu: &Gpu,
    layout: &MemoryLayout,
    what: String,
    offset: u64,
    bytes: u64,
) -> Result<(), RuntimeError> {
    if bytes == 0 {
        return Ok(());
    }
    let align = gpu.min_storage_buffer_offset_alignment().max(1);
    if !offset.is_multiple_of(align) {
        return Err(RuntimeError::Misaligned {
            what,
            offset,
            alignment: align,
        });
    }
    let end = offset.saturating_add(bytes);
    let (arena_start, arena_end) = (layout.arena_start(), layout.arena_end());
    let inside = |(s, e): (u64, u64)| offset >= s && end <= e;
    if inside((0, layout.weights_bytes)) || inside((arena_start, arena_end)) {
        return Ok(());
    }
    Err(RuntimeError::OutsideRegions {
        what,
        offset,
        end,
        weights_end: layout.weights_bytes,
        arena_start,
        arena_end,
    })
}

/// Validates `layout` against the device, creates the one buffer (weights uploaded, guard bands
/// filled with [`SENTINEL`]), the params buffer, pipelines and every bind group at the planned
/// offsets.
pub fn compile(gpu: &Gpu, graph: &Graph, layout: &MemoryLayout) -> Result<Compiled, RuntimeError> {
    compile_inner(gpu, graph, layout, None, KernelOptions::for_gpu(gpu))
}

/// [`compile`] with the kernel variants `kernels` instead of the ones the device supports best
/// (an error if they ask for a feature the device lacks): tests check every variant against
/// the CPU reference, `tessera bench` times them side by side.
pub fn compile_with(
    gpu: &Gpu,
    graph: &Graph,
    layout: &MemoryLayout,
    kernels: KernelOptions,
) -> Result<Compiled, RuntimeError> {
    kernels.check(gpu)?;
    compile_inner(gpu, graph, layout, None, kernels)
}

/// [`compile`] with every GEMM (matmul, linear, convolution) run by `gemm` instead of the kernel
/// the adapter table picks: tests check both kernels, `tessera bench` times both.
pub fn compile_with_gemm(
    gpu: &Gpu,
    graph: &Graph,
    layout: &MemoryLayout,
    gemm: GemmKernel,
) -> Result<Compiled, RuntimeError> {
    let kernels = KernelOptions {
        gemm,
        ..KernelOptions::for_gpu(gpu)
    };
    compile_inner(gpu, graph, layout, None, kernels)
}

/// A deliberate fault for tests that must show the guard check failing: every storage binding of
/// `node`'s steps that starts at the node's planned output offset is moved by
/// `shift_output_bytes` (keep it a multiple of the offset alignment, and inside the buffer), so
/// the kernel writes outside its planned range. Never used by the normal path.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Fault {
    /// The node whose output binding moves.
    pub node: NodeId,
    /// Signed byte shift of that binding's offset.
    pub shift_output_bytes: i64,
}

/// [`compile`] with a deliberate [`Fault`] injected after lowering (tests only).
#[doc(hidden)]
pub fn compile_with_fault(
    gpu: &Gpu,
    graph: &Graph,
    layout: &MemoryLayout,
    fault: Fault,
) -> Result<Compiled, RuntimeError> {
    compile_inner(gpu, graph, layout, Some(fault), KernelOptions::for_gpu(gpu))
}

/// Moves the output bindings of the faulted node (see [`Fault`]).
fn inject(fault: Fault, graph: &Graph, layout: &MemoryLayout, lowered: &mut [(NodeId, Vec<Step>)]) {
    let Some(&out) = graph.node(fault.node).outputs.first() else {
        return;
    };
    let at = layout.offset(out);
    for (_, steps) in lowered.iter_mut().filter(|(id, _)| *id == fault.node) {
        for region in steps.iter_mut().flat_map(|s| s.bindings.iter_mut()) {
            if region.offset == at {
                region.offset = at.saturating_add_signed(fault.shift_output_bytes);
            }
        }
    }
}

fn compile_inner(
    gpu: &Gpu,
    graph: &Graph,
    layout: &MemoryLayout,
    fault: Option<Fault>,
    kernels: KernelOptions,
) -> Result<Compiled, RuntimeError> {
    check_limits(gpu, graph, layout)?;
    let lowerer = Lowerer::new(graph, layout, gpu, kernels);
    let mut lowered: Vec<(NodeId, Vec<Step>)> = Vec::with_capacity(graph.nodes.len());
    for id in graph.node_ids() {
        lowered.push((id, lowerer.lower(id)?));
    }
    if let Some(fault) = fault {
        inject(fault, graph, layout, &mut lowered);
    }
    let words_for = |kind: TensorKind| -> Result<Vec<(TensorId, u64, Vec<u32>)>, RuntimeError> {
        let mut v = Vec::new();
        for t in graph.tensors_of_kind(kind) {
            let tensor = &graph.tensors[t.index()];
            let words = tensor.init.words(tensor.shape.numel() as usize);
            v.push((t, layout.offset(t), device_words(tensor.dtype, words)));
        }
        Ok(v)
    };
    let weights = words_for(TensorKind::Weight)?
        .into_iter()
        .map(|(_, offset, words)| (offset, words))
        .collect();
    let (inputs, streamed) = stream::split_inputs(layout, words_for(TensorKind::Input)?);
    let outputs = output_specs(graph, layout)
        .into_iter()
        .map(|(t, dtype, loc, bytes)| (t, dtype, loc.offset, bytes))
        .collect();
    scoped(gpu, || {
        let mut compiled = build(gpu, lowered, weights, inputs, outputs, layout)?;
        compiled.staging = Staging::new(gpu, streamed, compiled.nodes.len())?;
        Ok(compiled)
    })
}

/// Creates the one buffer alone between two allocator samples (after waiting for the device),
/// so their difference is the buffer's own cost; returns it with that signed delta.
fn create_buffer_measured(
    gpu: &Gpu,
    bytes: u64,
) -> Result<(wgpu::Buffer, Option<AllocatorDelta>), RuntimeError> {
    let before = sample(gpu)?;
    let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("tessera arena"),
        size: bytes,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let after = sample(gpu)?;
    let delta = before.zip(after).map(|(b, a)| a.since(&b));
    Ok((buffer, delta))
}

/// The two guard bands of `layout`.
fn guard_bands(layout: &MemoryLayout) -> [GuardBand; 2] {
    let [(b0, n0), (b1, n1)] = layout.guard_bands();
    [
        GuardBand {
            position: BandPosition::BeforeArena,
            offset: b0,
            bytes: n0,
        },
        GuardBand {
            position: BandPosition::AfterArena,
            offset: b1,
            bytes: n1,
        },
    ]
}

/// Queues `[offset, offset + bytes)` of `buffer` to be filled with [`SENTINEL`] words, in
/// chunks of at most 16 MiB of host memory.
fn fill_sentinel(gpu: &Gpu, buffer: &wgpu::Buffer, offset: u64, bytes: u64) {
    const CHUNK: u64 = 16 << 20;
    let pattern: Vec<u32> = vec![SENTINEL; (CHUNK.min(bytes) / 4) as usize];
    let mut at = 0;
    while at < bytes {
        let n = CHUNK.min(bytes - at);
        gpu.queue().write_buffer(
            buffer,
            offset + at,
            &bytemuck::cast_slice(&pattern)[..n as usize],
        );
        at += n;
    }
}

fn build(
    gpu: &Gpu,
    lowered: Vec<(NodeId, Vec<Step>)>,
    weights: Vec<(u64, Vec<u32>)>,
    inputs: Vec<(u64, Vec<u32>)>,
    outputs: Vec<(TensorId, DType, u64, u64)>,
    layout: &MemoryLayout,
) -> Result<Compiled, RuntimeError> {
    let device = gpu.device();
    let buffer_bytes = round4(layout.total_bytes()).max(4);
    let (buffer, buffer_alloc) = create_buffer_measured(gpu, buffer_bytes)?;
    let guards = guard_bands(layout);
    for g in &guards {
        fill_sentinel(gpu, &buffer, g.offset, g.bytes);
    }
    for (offset, words) in &weights {
        if !words.is_empty() {
            gpu.queue()
                .write_buffer(&buffer, *offset, bytemuck::cast_slice(words));
        }
    }
    let params = ParamsBuffer::new(gpu, lowered.iter().flat_map(|(_, steps)| steps))?;
    let mut kernels = Pipelines::default();
    let mut nodes = Vec::with_capacity(lowered.len());
    let mut slot = 0u64;
    for (id, steps) in lowered {
        let mut compiled = Vec::with_capacity(steps.len());
        for step in &steps {
            compiled.push(bind_step(
                device,
                &mut kernels,
                &params,
                slot,
                step,
                &buffer,
            )?);
            slot += 1;
        }
        nodes.push((id, compiled));
    }
    // Flush the queued uploads now and wait, so their staging memory is released before anyone
    // samples the allocator (otherwise the weights would be counted twice).
    gpu.queue().submit(std::iter::empty());
    gpu.wait()?;
    Ok(Compiled {
        buffer,
        params_bytes: params.bytes,
        _params: params.buffer,
        pipelines: kernels.pipelines,
        nodes,
        inputs,
        outputs,
        arena: (layout.arena_start(), layout.arena_end()),
        guards,
        buffer_bytes,
        buffer_alloc,
        timestamps: timestamp_queries(gpu),
        staging: Staging::default(),
    })
}

/// A two-entry timestamp query set and its resolve buffer, when the device has timestamps.
fn timestamp_queries(gpu: &Gpu) -> Option<(wgpu::QuerySet, wgpu::Buffer)> {
    let device = gpu.device();
    gpu.has_timestamps().then(|| {
        let set = device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("tessera timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: 2,
        });
        let resolve = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("tessera timestamp resolve"),
            size: 16,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        (set, resolve)
    })
}

/// Milliseconds between the two resolved timestamps (16 bytes), if they are ordered.
fn timestamp_ms(gpu: &Gpu, resolved: &[u8]) -> Option<f64> {
    let ticks: Vec<u64> = resolved
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    match ticks.as_slice() {
        [a, b] if b >= a => {
            Some((b - a) as f64 * f64::from(gpu.queue().get_timestamp_period()) / 1e6)
        }
        _ => None,
    }
}

fn new_encoder(gpu: &Gpu, label: &str) -> wgpu::CommandEncoder {
    gpu.device()
        .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) })
}

impl Compiled {
    /// Size of the one buffer: weights + both guard bands + arena, rounded up to 4.
    pub fn buffer_bytes(&self) -> u64 {
        self.buffer_bytes
    }

    /// Size of the uniform params buffer (one block per distinct params block), reported apart.
    pub fn params_bytes(&self) -> u64 {
        self.params_bytes
    }

    /// Number of dispatches one run records.
    pub fn dispatch_count(&self) -> usize {
        self.nodes.iter().map(|(_, s)| s.len()).sum()
    }

    /// The two guard bands of the buffer.
    pub fn guard_bands(&self) -> &[GuardBand] {
        &self.guards
    }

    /// The signed allocator change sampled right before and right after creating the one
    /// buffer alone (`None` where the backend has no allocator report): `buffer_bytes()` plus
    /// the allocator's rounding (below
    /// [`LAVAPIPE_ALLOCATOR_ROUNDING_BYTES`](super::LAVAPIPE_ALLOCATOR_ROUNDING_BYTES) on lavapipe).
    pub fn buffer_alloc(&self) -> Option<AllocatorDelta> {
        self.buffer_alloc
    }

    /// Bytes of the host-upload staging buffer holding the streamed inputs beside the one buffer
    /// (0 when no input is streamed).
    pub fn staging_bytes(&self) -> u64 {
        self.staging.bytes
    }

    /// The signed allocator change sampled right before and right after creating the staging
    /// buffer alone (`None` without streamed inputs or allocator report).
    pub fn staging_alloc(&self) -> Option<AllocatorDelta> {
        self.staging.alloc
    }

    /// Queues the guard bands to be refilled with [`SENTINEL`] (takes effect before the next
    /// submission).
    pub fn arm_guards(&self, gpu: &Gpu) {
        for g in &self.guards {
            fill_sentinel(gpu, &self.buffer, g.offset, g.bytes);
        }
    }

    /// Reads both guard bands back and returns every band with a changed word (empty when
    /// every guard word still holds the sentinel: no run since the last arming wrote outside
    /// the plan). Changed bands are re-armed, so the next check starts clean.
    pub fn check_guards(&self, gpu: &Gpu) -> Result<Vec<GuardViolation>, RuntimeError> {
        let ranges: Vec<(&wgpu::Buffer, u64, u64)> = self
            .guards
            .iter()
            .map(|g| (&self.buffer, g.offset, g.bytes))
            .collect();
        let bytes = scoped(gpu, || {
            read_ranges(gpu, new_encoder(gpu, "tessera guard check"), &ranges)
        })?;
        let found: Vec<GuardViolation> = self
            .guards
            .iter()
            .zip(&bytes)
            .filter_map(|(&g, b)| scan_band(g, b))
            .collect();
        if !found.is_empty() {
            self.arm_guards(gpu);
        }
        Ok(found)
    }

    fn write_inputs(&self, gpu: &Gpu) {
        for (offset, words) in &self.inputs {
            if !words.is_empty() {
                gpu.queue()
                    .write_buffer(&self.buffer, *offset, bytemuck::cast_slice(words));
            }
        }
    }

    /// Writes the inputs, flushes them and samples the allocator into `peak`.
    fn upload_inputs(&self, gpu: &Gpu, peak: &mut Peak) -> Result<(), RuntimeError> {
        self.write_inputs(gpu);
        gpu.queue().submit(std::iter::empty());
        peak.sample(gpu)
    }

    fn output_ranges(&self) -> Vec<(&wgpu::Buffer, u64, u64)> {
        self.outputs
            .iter()
            .map(|&(_, _, offset, bytes)| (&self.buffer, offset, bytes))
            .collect()
    }

    fn to_outputs(&self, bytes: &[Vec<u8>]) -> Vec<OutputData> {
        let which: Vec<(TensorId, DType)> = self.outputs.iter().map(|o| (o.0, o.1)).collect();
        to_outputs(&which, bytes)
    }

    /// Writes the inputs, records every dispatch in one compute pass and one submission, and
    /// reads the outputs back, sampling the allocator as [`RunOutput::device_peak`] says.
    pub fn run(&self, gpu: &Gpu) -> Result<RunOutput, RuntimeError> {
        self.run_where(gpu, usize::MAX)
    }

    /// [`Compiled::run`] restricted to the nodes with an id below `forward_len`: the forward
    /// pass and loss of a training graph (`TrainingGraph::forward_len`), which reads the weights
    /// as the earlier steps left them and updates nothing. Outputs written by later nodes read
    /// back whatever their bytes hold (the updated weights stay as they are).
    pub fn run_forward(&self, gpu: &Gpu, forward_len: usize) -> Result<RunOutput, RuntimeError> {
        self.run_where(gpu, forward_len)
    }

    /// Runs the nodes whose id is below `limit`, in the compiled order.
    fn run_where(&self, gpu: &Gpu, limit: usize) -> Result<RunOutput, RuntimeError> {
        scoped(gpu, || {
            let mut peak = Peak::default();
            peak.sample(gpu)?;
            let start = Instant::now();
            self.upload_inputs(gpu, &mut peak)?;
            let mut encoder = new_encoder(gpu, "tessera run");
            self.encode_graph(&mut encoder, limit);
            if let Some((set, resolve)) = &self.timestamps {
                encoder.resolve_query_set(set, 0..2, resolve, 0);
            }
            gpu.queue().submit([encoder.finish()]);
            peak.sample(gpu)?;
            let mut ranges = self.output_ranges();
            if let Some((_, resolve)) = &self.timestamps {
                ranges.push((resolve, 0, 16));
            }
            let mut bytes = read_ranges(gpu, new_encoder(gpu, "tessera readback"), &ranges)?;
            peak.sample(gpu)?;
            let wall_ms = start.elapsed().as_secs_f64() * 1e3;
            let gpu_ms = match self.timestamps {
                Some(_) => timestamp_ms(gpu, &bytes.pop().unwrap_or_default()),
                None => None,
            };
            Ok(RunOutput {
                outputs: self.to_outputs(&bytes),
                wall_ms,
                gpu_ms,
                device_peak: peak.0,
            })
        })
    }

    /// Records the nodes with an id below `limit` in compiled order: one compute pass, or with
    /// streamed inputs one pass per stretch of nodes between input copies (the copies themselves
    /// go between the passes, each right before its step). The timestamps bracket the passes.
    fn encode_graph(&self, encoder: &mut wgpu::CommandEncoder, limit: usize) {
        let n = self.nodes.len();
        let starts: Vec<usize> = std::iter::once(0)
            .chain((1..n).filter(|&p| self.staging.has_copies(p)))
            .collect();
        let last = starts.len() - 1;
        for (j, &from) in starts.iter().enumerate() {
            let to = starts.get(j + 1).copied().unwrap_or(n);
            self.staging.encode(encoder, &self.buffer, from);
            let (begin, end) = ((j == 0).then_some(0), (j == last).then_some(1));
            let timestamp_writes = self
                .timestamps
                .as_ref()
                .filter(|_| begin.is_some() || end.is_some())
                .map(|(set, _)| wgpu::ComputePassTimestampWrites {
                    query_set: set,
                    beginning_of_pass_write_index: begin,
                    end_of_pass_write_index: end,
                });
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("tessera graph"),
                timestamp_writes,
            });
            encode_steps(
                &self.pipelines,
                &mut pass,
                self.nodes[from..to]
                    .iter()
                    .filter(|(id, _)| id.index() < limit)
                    .flat_map(|(_, s)| s),
            );
        }
        self.staging.encode(encoder, &self.buffer, n);
    }

    /// Submits the streamed-input copies due before node position `p` (nothing when none).
    fn submit_copies(&self, gpu: &Gpu, p: usize) {
        if self.staging.has_copies(p) {
            let mut encoder = new_encoder(gpu, "tessera input copy");
            self.staging.encode(&mut encoder, &self.buffer, p);
            gpu.queue().submit([encoder.finish()]);
        }
    }

    /// Re-arms the guard bands, then runs one node per submission and calls
    /// `after_each(node, whole_buffer)` with a snapshot of the entire buffer (guard bands
    /// included) after each node (views, which dispatch nothing, are reported too). The
    /// allocator is sampled after each node's submission completed (before its snapshot).
    pub fn run_node_by_node(
        &self,
        gpu: &Gpu,
        mut after_each: impl FnMut(NodeId, &[u8]),
    ) -> Result<RunOutput, RuntimeError> {
        scoped(gpu, || {
            let mut peak = Peak::default();
            peak.sample(gpu)?;
            let start = Instant::now();
            self.arm_guards(gpu);
            self.upload_inputs(gpu, &mut peak)?;
            for (p, (id, steps)) in self.nodes.iter().enumerate() {
                self.submit_copies(gpu, p);
                if !steps.is_empty() {
                    submit_steps(gpu, &self.pipelines, steps.iter())?;
                }
                peak.sample(gpu)?;
                let whole = [(&self.buffer, 0, self.buffer_bytes)];
                let snapshot = read_ranges(gpu, new_encoder(gpu, "tessera snapshot"), &whole)?;
                after_each(*id, snapshot.first().map(Vec::as_slice).unwrap_or(&[]));
            }
            self.submit_copies(gpu, self.nodes.len());
            let bytes = read_ranges(
                gpu,
                new_encoder(gpu, "tessera readback"),
                &self.output_ranges(),
            )?;
            peak.sample(gpu)?;
            Ok(RunOutput {
                outputs: self.to_outputs(&bytes),
                wall_ms: start.elapsed().as_secs_f64() * 1e3,
                gpu_ms: None,
                device_peak: peak.0,
            })
        })
    }

    /// The touched extent of the arena (a measure of use, not of safety): fills the arena with
    /// [`SENTINEL`] words, runs the graph, reads the arena back and returns one past the highest
    /// byte (relative to the arena start) that differs from the sentinel, so it compares
    /// directly with `arena_bytes` (0 when nothing changed). It cannot exceed the arena by
    /// construction; writes outside the arena are what [`Compiled::check_guards`] catches. A
    /// byte rewritten with its sentinel value is not seen.
    pub fn high_water(&self, gpu: &Gpu) -> Result<u64, RuntimeError> {
        let (arena_start, arena_end) = self.arena;
        let arena_len = arena_end.saturating_sub(arena_start);
        if arena_len == 0 {
            return Ok(0);
        }
        fill_sentinel(gpu, &self.buffer, arena_start, arena_len);
        self.run(gpu)?;
        let arena = scoped(gpu, || {
            let encoder = new_encoder(gpu, "tessera high water");
            read_ranges(gpu, encoder, &[(&self.buffer, arena_start, arena_len)])
        })?;
        let bytes = arena.first().map(Vec::as_slice).unwrap_or(&[]);
        let sentinel = SENTINEL.to_le_bytes();
        // arena_start is a multiple of 4, so byte i of the arena is sentinel byte i % 4.
        let last = bytes
            .iter()
            .enumerate()
            .rev()
            .find(|&(i, &b)| b != sentinel[i % 4])
            .map(|(i, _)| i as u64 + 1);
        Ok(last.unwrap_or(0))
    }
}
