//! Device plumbing shared by the single-arena executor and the allocation baselines: pipelines
//! built once per kernel, the uniform buffer holding every step's params, bind groups made from
//! lowered [`Step`]s against a table of device buffers, dispatch encoding, and readback.

use super::lower::{Loc, Placement, Region, Step, round4};
use super::shaders::{Kernel, PARAMS_BYTES};
use super::{Gpu, OutputData, RuntimeError};
use crate::graph::{DType, Graph, TensorId};
use crate::bytes::align_up;
use std::collections::HashMap;

/// The device buffers a step's [`Region::buffer`] slots refer to.
pub(crate) trait BufferTable {
    /// The buffer in slot `slot`, if it exists now.
    fn buffer(&self, slot: usize) -> Option<&wgpu::Buffer>;
}

/// One buffer is slot 0 (the single arena).
impl BufferTable for wgpu::Buffer {
    fn buffer(&self, slot: usize) -> Option<&wgpu::Buffer> {
        (slot == 0).then_some(self)
    }
}

/// Slot `i` is element `i`, when created.
impl BufferTable for Vec<Option<wgpu::Buffer>> {
    fn buffer(&self, slot: usize) -> Option<&wgpu::Buffer> {
        self.get(slot).and_then(Option::as_ref)
    }
}

/// One dispatch ready to encode.
pub(crate) struct CompiledStep {
    pub pipeline: usize,
    pub bind_group: wgpu::BindGroup,
    pub groups: [u32; 3],
}

/// The uniform buffer with one params block per step, at `stride`-byte slots.
pub(crate) struct ParamsBuffer {
    pub buffer: wgpu::Buffer,
    pub stride: u64,
    pub bytes: u64,
}

impl ParamsBuffer {
    /// Creates the buffer for `steps` (in order: step `i` uses slot `i`) and queues the upload.
    pub fn new<'a>(gpu: &Gpu, steps: impl Iterator<Item = &'a Step> + Clone) -> ParamsBuffer {
        let stride = align_up(
            PARAMS_BYTES,
            u64::from(gpu.limits().min_uniform_buffer_offset_alignment),
        )
        .unwrap_or(u64::MAX); // a u32 alignment: 256 rounded up to it cannot overflow
        let count = steps.clone().count() as u64;
        let bytes = (stride * count).max(stride);
        let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("tessera params"),
            size: bytes,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut host = vec![0u8; bytes as usize];
        for (slot, step) in steps.enumerate() {
            let at = slot * stride as usize;
            let words: &[u8] = bytemuck::cast_slice(&step.params);
            host[at..at + words.len()].copy_from_slice(words);
        }
        gpu.queue().write_buffer(&buffer, 0, &host);
        ParamsBuffer {
            buffer,
            stride,
            bytes,
        }
    }
}

/// Creates the bind group of `step` (params block `slot`, storage regions looked up in
/// `buffers`) and fetches its pipeline.
pub(crate) fn bind_step(
    device: &wgpu::Device,
    kernels: &mut Pipelines,
    params: &ParamsBuffer,
    slot: u64,
    step: &Step,
    buffers: &dyn BufferTable,
) -> Result<CompiledStep, RuntimeError> {
    let (pipeline, bgl) = kernels.get(device, step.kernel);
    let mut entries = vec![wgpu::BindGroupEntry {
        binding: 0,
        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &params.buffer,
            offset: slot * params.stride,
            size: wgpu::BufferSize::new(PARAMS_BYTES),
        }),
    }];
    for (
        i,
        &Region {
            buffer,
            offset,
            size,
        },
    ) in step.bindings.iter().enumerate()
    {
        let buffer = buffers.buffer(buffer).ok_or_else(|| {
            RuntimeError::LayoutMismatch(format!(
                "{} binding {} refers to buffer slot {buffer}, which does not exist",
                step.kernel.entry(),
                i + 1
            ))
        })?;
        entries.push(wgpu::BindGroupEntry {
            binding: i as u32 + 1,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer,
                offset,
                size: wgpu::BufferSize::new(size),
            }),
        });
    }
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(step.kernel.entry()),
        layout: bgl,
        entries: &entries,
    });
    Ok(CompiledStep {
        pipeline,
        bind_group,
        groups: step.groups,
    })
}

/// Records `steps` into `pass`.
pub(crate) fn encode_steps<'a>(
    pipelines: &[wgpu::ComputePipeline],
    pass: &mut wgpu::ComputePass<'_>,
    steps: impl Iterator<Item = &'a CompiledStep>,
) {
    for step in steps {
        pass.set_pipeline(&pipelines[step.pipeline]);
        pass.set_bind_group(0, &step.bind_group, &[]);
        let [x, y, z] = step.groups;
        pass.dispatch_workgroups(x, y, z);
    }
}

/// Submits `steps` in one compute pass and waits for them.
pub(crate) fn submit_steps<'a>(
    gpu: &Gpu,
    pipelines: &[wgpu::ComputePipeline],
    steps: impl Iterator<Item = &'a CompiledStep>,
) -> Result<(), RuntimeError> {
    let mut encoder = gpu
        .device()
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("tessera node"),
        });
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("tessera node"),
            timestamp_writes: None,
        });
        encode_steps(pipelines, &mut pass, steps);
    }
    gpu.queue().submit([encoder.finish()]);
    gpu.wait()
}

/// Pipelines built on demand, one per kernel; layouts shared by storage-binding count.
#[derive(Default)]
pub(crate) struct Pipelines {
    pub pipelines: Vec<wgpu::ComputePipeline>,
    by_kernel: HashMap<Kernel, usize>,
    modules: HashMap<&'static str, wgpu::ShaderModule>,
    layouts: HashMap<u32, (wgpu::BindGroupLayout, wgpu::PipelineLayout)>,
    bgl_of: Vec<u32>,
}

impl Pipelines {
    pub fn get(
        &mut self,
        device: &wgpu::Device,
        kernel: Kernel,
    ) -> (usize, &wgpu::BindGroupLayout) {
        let n = kernel.storage_bindings();
        if let std::collections::hash_map::Entry::Vacant(slot) = self.layouts.entry(n) {
            let mut entries = vec![wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: wgpu::BufferSize::new(PARAMS_BYTES),
                },
                count: None,
            }];
            entries.extend((1..=n).map(|b| wgpu::BindGroupLayoutEntry {
                binding: b,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only: false },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            }));
            let bgl = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: None,
                entries: &entries,
            });
            let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: None,
                bind_group_layouts: &[Some(&bgl)],
                immediate_size: 0,
            });
            slot.insert((bgl, pl));
        }
        let index = match self.by_kernel.get(&kernel) {
            Some(&i) => i,
            None => {
                let module = self.modules.entry(kernel.file()).or_insert_with(|| {
                    device.create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(kernel.file()),
                        source: wgpu::ShaderSource::Wgsl(kernel.source().into()),
                    })
                });
                let layout = self.layouts.get(&n).map(|(_, pl)| pl);
                let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(kernel.entry()),
                    layout,
                    module,
                    entry_point: Some(kernel.entry()),
                    compilation_options: Default::default(),
                    cache: None,
                });
                self.pipelines.push(pipeline);
                self.bgl_of.push(n);
                self.by_kernel.insert(kernel, self.pipelines.len() - 1);
                self.pipelines.len() - 1
            }
        };
        let bgl = self.layouts.get(&self.bgl_of[index]).map(|(b, _)| b);
        // The layout for `n` was inserted above, so this always succeeds.
        (
            index,
            bgl.unwrap_or_else(|| unreachable!("bind group layout for {n} bindings")),
        )
    }
}

/// Copies `ranges` of their buffers into one staging buffer, submits `encoder`, waits and
/// returns the bytes of each range.
pub(crate) fn read_ranges(
    gpu: &Gpu,
    mut encoder: wgpu::CommandEncoder,
    ranges: &[(&wgpu::Buffer, u64, u64)],
) -> Result<Vec<Vec<u8>>, RuntimeError> {
    let total: u64 = ranges.iter().map(|r| r.2).sum();
    if total == 0 {
        gpu.queue().submit([encoder.finish()]);
        gpu.wait()?;
        return Ok(ranges.iter().map(|_| Vec::new()).collect());
    }
    let staging = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("tessera readback"),
        size: total,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut at = 0;
    for &(src, offset, size) in ranges {
        if size > 0 {
            encoder.copy_buffer_to_buffer(src, offset, &staging, at, size);
        }
        at += size;
    }
    gpu.queue().submit([encoder.finish()]);
    let (tx, rx) = std::sync::mpsc::channel();
    staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    gpu.wait()?;
    match rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(RuntimeError::Readback(e.to_string())),
        Err(e) => return Err(RuntimeError::Readback(e.to_string())),
    }
    let mut out = Vec::with_capacity(ranges.len());
    {
        let view = staging
            .slice(..)
            .get_mapped_range()
            .map_err(|e| RuntimeError::Readback(e.to_string()))?;
        let mut at = 0usize;
        for &(_, _, size) in ranges {
            out.push(view[at..at + size as usize].to_vec());
            at += size as usize;
        }
    }
    staging.unmap();
    Ok(out)
}

/// Turns read-back bytes into [`OutputData`], one per `(tensor, dtype)`.
pub(crate) fn to_outputs(which: &[(TensorId, DType)], bytes: &[Vec<u8>]) -> Vec<OutputData> {
    which
        .iter()
        .zip(bytes)
        .map(|(&(tensor, dtype), b)| OutputData {
            tensor,
            dtype,
            words: b
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        })
        .collect()
}

/// Where each graph output lives and how many bytes to read back: `(tensor, dtype, location,
/// bytes rounded up to 4)`, in `Graph::outputs` order.
pub(crate) fn output_specs(
    graph: &Graph,
    place: &impl Placement,
) -> Vec<(TensorId, DType, Loc, u64)> {
    graph
        .outputs
        .iter()
        .map(|&t| {
            let tensor = &graph.tensors[t.index()];
            (
                t,
                tensor.dtype,
                place.tensor(t),
                round4(tensor.size_bytes()),
            )
        })
        .collect()
}
