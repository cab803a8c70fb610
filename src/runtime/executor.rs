//! The executor: validates a layout against the device limits, creates the ONE buffer, uploads
//! the weights, prepares pipelines and bind groups at the planned offsets once, then runs the
//! graph in one submission (or node by node for clobber checks) and reads the outputs back.

use super::dispatch::{
    CompiledStep, ParamsBuffer, Pipelines, bind_step, encode_steps, output_specs, read_ranges,
    to_outputs,
};
use super::lower::{Lowerer, Step, round4};
use super::{Gpu, RuntimeError};
use crate::graph::{DType, Graph, NodeId, TensorId, TensorKind};
use crate::layout::MemoryLayout;
use std::time::Instant;

/// Sentinel word written over the arena before [`Compiled::high_water`] runs.
pub const SENTINEL: u32 = 0xDEAD_BEEF;

/// One output read back after a run.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputData {
    /// Which tensor.
    pub tensor: TensorId,
    /// Its dtype (f32 bits or u32 ids in `words`).
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
    /// Host wall time from writing the inputs to the end of the GPU work and readback, in ms.
    pub wall_ms: f64,
    /// GPU time of the compute pass from timestamp queries, when the device supports them.
    pub gpu_ms: Option<f64>,
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
    weights_bytes: u64,
    buffer_bytes: u64,
    params_bytes: u64,
    timestamps: Option<(wgpu::QuerySet, wgpu::Buffer)>,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("buffer_bytes", &self.buffer_bytes)
            .field("weights_bytes", &self.weights_bytes)
            .field("params_bytes", &self.params_bytes)
            .field("pipelines", &self.pipelines.len())
            .field("dispatches", &self.dispatch_count())
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

/// Checks every offset, binding size and the buffer size against the device, before anything
/// is created.
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
    let (align, max_binding) = (
        gpu.min_storage_buffer_offset_alignment().max(1),
        gpu.max_binding(),
    );
    let total = round4(layout.total_bytes());
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
    for (what, offset, bytes) in ranges {
        if bytes == 0 {
            continue;
        }
        if bytes > max_binding {
            return Err(RuntimeError::BindingTooLarge {
                tensor: what,
                bytes,
                limit: max_binding,
            });
        }
        if offset % align != 0 {
            return Err(RuntimeError::Misaligned {
                what,
                offset,
                alignment: align,
            });
        }
        if offset.saturating_add(bytes) > total {
            return Err(RuntimeError::OutOfBounds {
                what,
                offset,
                end: offset.saturating_add(bytes),
                total,
            });
        }
    }
    if total > gpu.max_buffer() {
        return Err(RuntimeError::ArenaTooLarge {
            bytes: total,
            limit: gpu.max_buffer(),
        });
    }
    Ok(())
}

/// Validates `layout` against the device, creates the one buffer (weights uploaded), the
/// params buffer, pipelines and every bind group at the planned offsets.
pub fn compile(gpu: &Gpu, graph: &Graph, layout: &MemoryLayout) -> Result<Compiled, RuntimeError> {
    check_limits(gpu, graph, layout)?;
    let lowerer = Lowerer {
        graph,
        place: layout,
        max_groups: gpu.limits().max_compute_workgroups_per_dimension,
    };
    let mut lowered: Vec<(NodeId, Vec<Step>)> = Vec::with_capacity(graph.nodes.len());
    for id in graph.node_ids() {
        lowered.push((id, lowerer.lower(id)?));
    }
    let words_for = |kind: TensorKind| -> Result<Vec<(u64, Vec<u32>)>, RuntimeError> {
        let mut v = Vec::new();
        for t in graph.tensors_of_kind(kind) {
            let tensor = &graph.tensors[t.index()];
            if tensor.dtype.size_bytes() != 4 {
                return Err(RuntimeError::Unsupported {
                    node: tensor.name.clone(),
                    op: "upload",
                    detail: format!("{} tensors cannot be uploaded yet", tensor.dtype),
                });
            }
            v.push((
                layout.offset(t),
                tensor.init.words(tensor.shape.numel() as usize),
            ));
        }
        Ok(v)
    };
    let weights = words_for(TensorKind::Weight)?;
    let inputs = words_for(TensorKind::Input)?;
    let outputs = output_specs(graph, layout)
        .into_iter()
        .map(|(t, dtype, loc, bytes)| (t, dtype, loc.offset, bytes))
        .collect();
    scoped(gpu, || {
        build(gpu, lowered, weights, inputs, outputs, layout)
    })
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
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("tessera arena"),
        size: buffer_bytes,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
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
    let timestamps = gpu.has_timestamps().then(|| {
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
    });
    Ok(Compiled {
        buffer,
        params_bytes: params.bytes,
        _params: params.buffer,
        pipelines: kernels.pipelines,
        nodes,
        inputs,
        outputs,
        weights_bytes: layout.weights_bytes,
        buffer_bytes,
        timestamps,
    })
}

impl Compiled {
    /// Size of the one buffer (weights + arena, rounded up to 4).
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

    fn write_inputs(&self, gpu: &Gpu) {
        for (offset, words) in &self.inputs {
            if !words.is_empty() {
                gpu.queue()
                    .write_buffer(&self.buffer, *offset, bytemuck::cast_slice(words));
            }
        }
    }

    fn encode_steps<'a>(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        steps: impl Iterator<Item = &'a CompiledStep>,
    ) {
        encode_steps(&self.pipelines, pass, steps);
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
    /// reads the outputs back.
    pub fn run(&self, gpu: &Gpu) -> Result<RunOutput, RuntimeError> {
        scoped(gpu, || {
            let start = Instant::now();
            self.write_inputs(gpu);
            let mut encoder =
                gpu.device()
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some("tessera run"),
                    });
            {
                let timestamp_writes =
                    self.timestamps
                        .as_ref()
                        .map(|(set, _)| wgpu::ComputePassTimestampWrites {
                            query_set: set,
                            beginning_of_pass_write_index: Some(0),
                            end_of_pass_write_index: Some(1),
                        });
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("tessera graph"),
                    timestamp_writes,
                });
                self.encode_steps(&mut pass, self.nodes.iter().flat_map(|(_, s)| s));
            }
            let mut ranges = self.output_ranges();
            if let Some((set, resolve)) = &self.timestamps {
                encoder.resolve_query_set(set, 0..2, resolve, 0);
                ranges.push((resolve, 0, 16));
            }
            let mut bytes = read_ranges(gpu, encoder, &ranges)?;
            let wall_ms = start.elapsed().as_secs_f64() * 1e3;
            let gpu_ms = if self.timestamps.is_some() {
                let t = bytes.pop().unwrap_or_default();
                let ticks: Vec<u64> = t
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect();
                match ticks.as_slice() {
                    [a, b] if b >= a => {
                        Some((b - a) as f64 * f64::from(gpu.queue().get_timestamp_period()) / 1e6)
                    }
                    _ => None,
                }
            } else {
                None
            };
            Ok(RunOutput {
                outputs: self.to_outputs(&bytes),
                wall_ms,
                gpu_ms,
            })
        })
    }

    /// Runs one node per submission and calls `after_each(node, whole_buffer)` with a snapshot of
    /// the entire buffer after each node (views, which dispatch nothing, are reported too).
    pub fn run_node_by_node(
        &self,
        gpu: &Gpu,
        mut after_each: impl FnMut(NodeId, &[u8]),
    ) -> Result<RunOutput, RuntimeError> {
        scoped(gpu, || {
            let start = Instant::now();
            self.write_inputs(gpu);
            for (id, steps) in &self.nodes {
                let mut encoder =
                    gpu.device()
                        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                            label: Some("tessera node"),
                        });
                if !steps.is_empty() {
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("tessera node"),
                        timestamp_writes: None,
                    });
                    self.encode_steps(&mut pass, steps.iter());
                }
                let snapshot = read_ranges(gpu, encoder, &[(&self.buffer, 0, self.buffer_bytes)])?;
                after_each(*id, snapshot.first().map(Vec::as_slice).unwrap_or(&[]));
            }
            let encoder = gpu
                .device()
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("tessera readback"),
                });
            let bytes = read_ranges(gpu, encoder, &self.output_ranges())?;
            Ok(RunOutput {
                outputs: self.to_outputs(&bytes),
                wall_ms: start.elapsed().as_secs_f64() * 1e3,
                gpu_ms: None,
            })
        })
    }

    /// The measured high-water mark of the arena: fills the arena with [`SENTINEL`] words, runs
    /// the graph, reads the arena back and returns one past the highest byte (relative to the
    /// arena start) that changed, so it compares directly with `arena_bytes` (0 when nothing
    /// changed). A byte that happens to be rewritten with its sentinel value is not seen.
    pub fn high_water(&self, gpu: &Gpu) -> Result<u64, RuntimeError> {
        let arena_start = self.weights_bytes.min(self.buffer_bytes);
        let arena_len = self.buffer_bytes - arena_start;
        if arena_len == 0 {
            return Ok(0);
        }
        const CHUNK: u64 = 16 << 20;
        let pattern: Vec<u32> = vec![SENTINEL; (CHUNK.min(arena_len) / 4) as usize];
        scoped(gpu, || {
            let mut at = 0;
            while at < arena_len {
                let n = CHUNK.min(arena_len - at);
                gpu.queue().write_buffer(
                    &self.buffer,
                    arena_start + at,
                    &bytemuck::cast_slice(&pattern)[..n as usize],
                );
                at += n;
            }
            Ok(())
        })?;
        self.run(gpu)?;
        let arena = scoped(gpu, || {
            let encoder = gpu
                .device()
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("tessera high water"),
                });
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
