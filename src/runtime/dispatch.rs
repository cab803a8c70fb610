//! Device plumbing shared by the single-arena executor and the allocation baselines: pipelines
//! built once per kernel, the uniform buffer holding every step's params, bind groups made from
//! lowered [`Step`]s against a table of device buffers, dispatch encoding, and readback.

use super::lower::{Loc, Placement, Region, Step, round4};
use super::shaders::{FloatStorage, Kernel, PARAMS_BYTES};
use super::{Gpu, OutputData, RuntimeError};
use crate::bytes::align_up;
use crate::graph::{DType, Graph, TensorId};
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

/// The uniform buffer with one params block per distinct block of the steps, at `stride`-byte
/// slots: steps whose blocks are equal word for word (an im2col tile and its GEMM, the three
/// attention dispatches, repeated layers of one shape) share one slot.
pub(crate) struct ParamsBuffer {
    pub buffer: wgpu::Buffer,
    pub stride: u64,
    pub bytes: u64,
    /// The slot of step `i` (in the order given to [`ParamsBuffer::new`]).
    slot_of: Vec<u64>,
}

/// Where each step's params block goes: the distinct blocks in first-use order and each step's
/// slot among them. Pure CPU; [`ParamsSlots::check`] compares its size with the device limits.
pub(crate) struct ParamsSlots<'a> {
    /// The distinct blocks, slot `i` at index `i`.
    pub blocks: Vec<&'a [u32]>,
    /// The slot of step `i`.
    pub slot_of: Vec<u64>,
    /// The node that owns the most slots and how many (the one to name when it is too large).
    pub largest: Option<(&'a str, u64)>,
}

impl<'a> ParamsSlots<'a> {
    /// Deduplicates the blocks of `steps`.
    pub fn new(steps: impl Iterator<Item = &'a Step>) -> ParamsSlots<'a> {
        let mut index: HashMap<&'a [u32], u64> = HashMap::new();
        let (mut blocks, mut slot_of) = (Vec::new(), Vec::new());
        let mut per_node: HashMap<&'a str, u64> = HashMap::new();
        for step in steps {
            let next = blocks.len() as u64;
            let slot = *index.entry(&step.params).or_insert_with(|| {
                blocks.push(step.params.as_slice());
                *per_node.entry(&step.node).or_insert(0) += 1;
                next
            });
            slot_of.push(slot);
        }
        let largest = per_node
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)));
        ParamsSlots {
            blocks,
            slot_of,
            largest,
        }
    }

    /// Buffer bytes at `stride` bytes per slot (at least one slot), checked against
    /// `max_buffer_size` and the block against `max_uniform_buffer_binding_size`.
    pub fn check(&self, stride: u64, limits: &wgpu::Limits) -> Result<u64, RuntimeError> {
        let slots = (self.blocks.len() as u64).max(1);
        let (node, node_slots) = self.largest.unwrap_or(("(none)", 0));
        let too_large = |bytes: u64, limit: u64| RuntimeError::ParamsTooLarge {
            bytes,
            limit,
            slots,
            node: node.to_string(),
            node_slots,
        };
        let limit = limits.max_buffer_size;
        let bytes = stride
            .checked_mul(slots)
            .ok_or_else(|| too_large(u64::MAX, limit))?;
        if bytes > limit {
            return Err(too_large(bytes, limit));
        }
        let binding = limits.max_uniform_buffer_binding_size;
        if PARAMS_BYTES > binding {
            return Err(RuntimeError::Wgpu(format!(
                "a params block is {PARAMS_BYTES} bytes but the device binds at most {binding} uniform bytes"
            )));
        }
        Ok(bytes)
    }
}

impl ParamsBuffer {
    /// Checks the size against the device limits, then creates the buffer for `steps` (in
    /// order: step `i` is bound with `slot` `i` in [`bind_step`]) and queues the upload.
    pub fn new<'a>(
        gpu: &Gpu,
        steps: impl Iterator<Item = &'a Step>,
    ) -> Result<ParamsBuffer, RuntimeError> {
        let limits = gpu.limits();
        let stride = align_up(
            PARAMS_BYTES,
            u64::from(limits.min_uniform_buffer_offset_alignment),
        )
        .unwrap_or(u64::MAX); // a u32 alignment: PARAMS_BYTES rounded up to it cannot overflow
        let slots = ParamsSlots::new(steps);
        let bytes = slots.check(stride, limits)?;
        let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("tessera params"),
            size: bytes,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut host = vec![0u8; bytes as usize];
        for (block, at) in slots
            .blocks
            .iter()
            .zip((0..bytes as usize).step_by(stride as usize))
        {
            let words: &[u8] = bytemuck::cast_slice(block);
            host[at..at + words.len()].copy_from_slice(words);
        }
        gpu.queue().write_buffer(&buffer, 0, &host);
        Ok(ParamsBuffer {
            buffer,
            stride,
            bytes,
            slot_of: slots.slot_of,
        })
    }
}

/// Creates the bind group of `step` (the `step_index`-th step given to [`ParamsBuffer::new`],
/// storage regions looked up in `buffers`) and fetches its pipeline.
pub(crate) fn bind_step(
    device: &wgpu::Device,
    kernels: &mut Pipelines,
    params: &ParamsBuffer,
    step_index: u64,
    step: &Step,
    buffers: &dyn BufferTable,
) -> Result<CompiledStep, RuntimeError> {
    let slot = usize::try_from(step_index)
        .ok()
        .and_then(|i| params.slot_of.get(i).copied())
        .ok_or_else(|| {
            RuntimeError::LayoutMismatch(format!(
                "{} of node {} is step {step_index}, but the params buffer holds {} steps",
                step.kernel.entry(),
                step.node,
                params.slot_of.len()
            ))
        })?;
    let (pipeline, bgl) = kernels.get(device, step.kernel, step.storage);
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

/// Pipelines built on demand, one per kernel and float storage variant; layouts shared by
/// storage-binding count.
#[derive(Default)]
pub(crate) struct Pipelines {
    pub pipelines: Vec<wgpu::ComputePipeline>,
    by_kernel: HashMap<(Kernel, FloatStorage), usize>,
    modules: HashMap<(&'static str, FloatStorage), wgpu::ShaderModule>,
    layouts: HashMap<u32, (wgpu::BindGroupLayout, wgpu::PipelineLayout)>,
    bgl_of: Vec<u32>,
}

impl Pipelines {
    pub fn get(
        &mut self,
        device: &wgpu::Device,
        kernel: Kernel,
        storage: FloatStorage,
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
        let index = match self.by_kernel.get(&(kernel, storage)) {
            Some(&i) => i,
            None => {
                let module = self
                    .modules
                    .entry((kernel.file(), storage))
                    .or_insert_with(|| {
                        device.create_shader_module(wgpu::ShaderModuleDescriptor {
                            label: Some(kernel.file()),
                            source: wgpu::ShaderSource::Wgsl(kernel.source_in(storage).into()),
                        })
                    });
                let layout = self.layouts.get(&n).map(|(_, pl)| pl);
                let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(kernel.entry()),
                    layout,
                    module,
                    entry_point: Some(kernel.entry()),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        // See `Kernel::needs_zeroed_workgroup_memory`: zero-filling a large
                        // workgroup array costs a long shader compile on some backends (GL).
                        zero_initialize_workgroup_memory: kernel.needs_zeroed_workgroup_memory(),
                        ..Default::default()
                    },
                    cache: None,
                });
                self.pipelines.push(pipeline);
                self.bgl_of.push(n);
                self.by_kernel
                    .insert((kernel, storage), self.pipelines.len() - 1);
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
/// returns the bytes of each range. Each copy covers its range rounded up to whole 32-bit words
/// (buffer copies move words); exactly the range's bytes come back.
pub(crate) fn read_ranges(
    gpu: &Gpu,
    mut encoder: wgpu::CommandEncoder,
    ranges: &[(&wgpu::Buffer, u64, u64)],
) -> Result<Vec<Vec<u8>>, RuntimeError> {
    let total: u64 = ranges.iter().map(|r| round4(r.2)).sum();
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
            encoder.copy_buffer_to_buffer(src, offset, &staging, at, round4(size));
        }
        at += round4(size);
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
            at += round4(size) as usize;
        }
    }
    staging.unmap();
    Ok(out)
}

/// Turns read-back bytes into [`OutputData`], one per `(tensor, dtype)`: one word per element,
/// f16 elements widened to f32 bits.
pub(crate) fn to_outputs(which: &[(TensorId, DType)], bytes: &[Vec<u8>]) -> Vec<OutputData> {
    which
        .iter()
        .zip(bytes)
        .map(|(&(tensor, dtype), b)| OutputData {
            tensor,
            dtype,
            words: match dtype {
                DType::F16 => b
                    .chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32().to_bits())
                    .collect(),
                DType::F32 | DType::U32 => b
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            },
        })
        .collect()
}

/// The device words of host data `words` (one f32 or u32 word per element) for a tensor of
/// `dtype`: unchanged for 32-bit dtypes; for F16 each f32 rounded to the nearest f16, two per
/// word, element 0 in the low half (WGSL's `f16` layout and `unpack2x16float`'s order).
pub fn device_words(dtype: DType, words: Vec<u32>) -> Vec<u32> {
    match dtype {
        DType::F16 => words
            .chunks(2)
            .map(|pair| {
                let half = |i: usize| {
                    pair.get(i).map_or(0, |&w| {
                        u32::from(half::f16::from_f32(f32::from_bits(w)).to_bits())
                    })
                };
                half(0) | half(1) << 16
            })
            .collect(),
        DType::F32 | DType::U32 => words,
    }
}

/// Where each graph output lives and how many bytes to read back: `(tensor, dtype, location,
/// bytes)`, in `Graph::outputs` order.
pub(crate) fn output_specs(
    graph: &Graph,
    place: &impl Placement,
) -> Vec<(TensorId, DType, Loc, u64)> {
    graph
        .outputs
        .iter()
        .map(|&t| {
            let tensor = &graph.tensors[t.index()];
            (t, tensor.dtype, place.tensor(t), tensor.size_bytes())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::shaders::Kernel;
    use std::sync::Arc;

    fn step(node: &str, first_word: u32) -> Step {
        let mut params = vec![0; (PARAMS_BYTES / 4) as usize];
        params[0] = first_word;
        Step {
            node: Arc::from(node),
            kernel: Kernel::Copy,
            storage: FloatStorage::F32,
            bindings: Vec::new(),
            params,
            groups: [1, 1, 1],
        }
    }

    #[test]
    fn equal_blocks_share_a_slot() {
        let steps = [
            step("a", 1),
            step("a", 1),
            step("b", 2),
            step("c", 1),
            step("c", 3),
        ];
        let slots = ParamsSlots::new(steps.iter());
        assert_eq!(slots.slot_of, vec![0, 0, 1, 0, 2]);
        assert_eq!(slots.blocks.len(), 3);
        let limits = wgpu::Limits::default();
        assert_eq!(slots.check(256, &limits).expect("fits"), 3 * 256);
    }

    #[test]
    fn a_params_buffer_past_the_device_limit_names_the_largest_node() {
        let mut steps: Vec<Step> = (0..5).map(|i| step("conv", i)).collect();
        steps.push(step("relu", 9));
        let slots = ParamsSlots::new(steps.iter());
        let limits = wgpu::Limits {
            max_buffer_size: 5 * 256,
            ..wgpu::Limits::default()
        };
        let err = slots.check(256, &limits).expect_err("6 blocks exceed 5");
        assert!(
            matches!(
                &err,
                RuntimeError::ParamsTooLarge { bytes: 1536, limit: 1280, slots: 6, node, node_slots: 5 }
                    if node == "conv"
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "the params buffer needs 1536 bytes (6 blocks; node conv alone has 5) but the device's largest buffer is 1280 bytes"
        );
        let overflow = slots.check(u64::MAX / 2, &wgpu::Limits::default());
        assert!(matches!(
            overflow,
            Err(RuntimeError::ParamsTooLarge {
                bytes: u64::MAX,
                ..
            })
        ));
    }
}
