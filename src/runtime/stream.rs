//! Streamed inputs ([`MemoryLayout::streamed_inputs`]): the graph inputs a layout streams live
//! in a host-upload staging buffer (`MAP_WRITE | COPY_SRC`, filled once when the graph is
//! compiled) beside the one buffer, and each run copies every one of them into its arena offset
//! right before its step, inside the run's one submission (`copy_buffer_to_buffer` between
//! compute passes), as a data loader feeding micro-batches would. The staging buffer is device
//! memory the wgpu allocator sees: its size and its measured allocator delta are reported beside
//! the arena, never folded into it.

use super::Gpu;
use super::RuntimeError;
use super::measure::{AllocatorDelta, sample};
use crate::graph::{Graph, TensorId, TensorKind};
use crate::layout::MemoryLayout;

/// One copy from the staging buffer into the arena.
#[derive(Clone, Copy, Debug)]
struct InputCopy {
    src: u64,
    dst: u64,
    bytes: u64,
}

/// The staging buffer and the copies to make before each node position.
#[derive(Default)]
pub(crate) struct Staging {
    buffer: Option<wgpu::Buffer>,
    /// Size of the staging buffer (0 without streamed inputs).
    pub bytes: u64,
    /// Allocator change sampled around creating the staging buffer alone.
    pub alloc: Option<AllocatorDelta>,
    /// Copies before node position `p` (`p == nodes` after the last node).
    before: Vec<Vec<InputCopy>>,
}

/// An input to stream: the node position it is copied before, its arena offset and its words.
pub(crate) type StreamedWords = (usize, u64, Vec<u32>);

/// Checks the layout's streamed inputs against the graph: graph inputs, each once, at a step
/// inside the schedule.
pub(crate) fn check(graph: &Graph, layout: &MemoryLayout) -> Result<(), RuntimeError> {
    let mut seen = vec![false; graph.tensors.len()];
    for s in &layout.streamed_inputs {
        let bad = |why: &str| {
            RuntimeError::LayoutMismatch(format!(
                "streamed input {} at step {}: {why}",
                s.tensor, s.step
            ))
        };
        let i = s.tensor.index();
        match graph.tensors.get(i) {
            None => return Err(bad("no such tensor")),
            Some(t) if t.kind != TensorKind::Input => return Err(bad("not a graph input")),
            Some(_) => {}
        }
        if std::mem::replace(&mut seen[i], true) {
            return Err(bad("listed twice"));
        }
        if s.step > graph.nodes.len() as u64 {
            return Err(bad(&format!("the graph has {} nodes", graph.nodes.len())));
        }
    }
    Ok(())
}

/// Splits `inputs` (`(tensor, offset, words)` of every graph input) into those uploaded before
/// each run (`(offset, words)`) and those the layout streams.
pub(crate) fn split_inputs(
    layout: &MemoryLayout,
    inputs: Vec<(TensorId, u64, Vec<u32>)>,
) -> (Vec<(u64, Vec<u32>)>, Vec<StreamedWords>) {
    let mut uploaded = Vec::new();
    let mut streamed = Vec::new();
    for (t, offset, words) in inputs {
        match layout.streamed_inputs.iter().find(|s| s.tensor == t) {
            Some(s) => streamed.push((s.step as usize, offset, words)),
            None => uploaded.push((offset, words)),
        }
    }
    (uploaded, streamed)
}

impl Staging {
    /// The staging buffer holding `streamed` end to end (created alone between two allocator
    /// samples, filled through its mapping), and the copies before each of `nodes` positions.
    pub(crate) fn new(
        gpu: &Gpu,
        streamed: Vec<StreamedWords>,
        nodes: usize,
    ) -> Result<Staging, RuntimeError> {
        let mut before = vec![Vec::new(); nodes + 1];
        let bytes: u64 = streamed.iter().map(|(_, _, w)| 4 * w.len() as u64).sum();
        if bytes == 0 {
            return Ok(Staging {
                buffer: None,
                bytes: 0,
                alloc: None,
                before,
            });
        }
        let samples = sample(gpu)?;
        let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("tessera input staging"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: true,
        });
        let alloc = samples.zip(sample(gpu)?).map(|(b, a)| a.since(&b));
        {
            let mut view = buffer.get_mapped_range_mut(..).map_err(|e| {
                RuntimeError::Wgpu(format!("mapping the input staging buffer: {e}"))
            })?;
            let mut all = Vec::with_capacity(bytes as usize);
            let mut src = 0u64;
            for (step, dst, words) in &streamed {
                all.extend_from_slice(bytemuck::cast_slice(words));
                let n = 4 * words.len() as u64;
                if n > 0 {
                    before[(*step).min(nodes)].push(InputCopy {
                        src,
                        dst: *dst,
                        bytes: n,
                    });
                }
                src += n;
            }
            view.copy_from_slice(&all);
        }
        buffer.unmap();
        Ok(Staging {
            buffer: Some(buffer),
            bytes,
            alloc,
            before,
        })
    }

    /// True when inputs are copied before node position `p`.
    pub(crate) fn has_copies(&self, p: usize) -> bool {
        self.before.get(p).is_some_and(|c| !c.is_empty())
    }

    /// Encodes the copies due before node position `p` into `arena`.
    pub(crate) fn encode(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        arena: &wgpu::Buffer,
        p: usize,
    ) {
        let (Some(staging), Some(copies)) = (&self.buffer, self.before.get(p)) else {
            return;
        };
        for c in copies {
            encoder.copy_buffer_to_buffer(staging, c.src, arena, c.dst, c.bytes);
        }
    }
}
