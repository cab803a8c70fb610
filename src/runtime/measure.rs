//! Device-memory measurement around compilation: allocator reports sampled before and after the
//! buffers are created (after polling, so earlier drops are reflected).

use super::{Compiled, Gpu, RuntimeError, compile};
use crate::graph::Graph;
use crate::layout::MemoryLayout;
use serde::Serialize;

/// One allocator sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AllocatorBytes {
    /// `total_allocated_bytes`: memory handed out to live allocations.
    pub allocated: u64,
    /// `total_reserved_bytes`: memory held in device blocks, used or not.
    pub reserved: u64,
}

/// Allocator samples around [`compile`]; every field is `None` on backends without reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceBytes {
    /// Before the buffers were created.
    pub before: Option<AllocatorBytes>,
    /// After.
    pub after: Option<AllocatorBytes>,
    /// `after.allocated - before.allocated` (may be negative if something else was freed).
    pub delta_allocated: Option<i64>,
    /// `after.reserved - before.reserved`.
    pub delta_reserved: Option<i64>,
}

fn sample(gpu: &Gpu) -> Result<Option<AllocatorBytes>, RuntimeError> {
    gpu.wait()?;
    Ok(gpu
        .allocator_bytes()
        .map(|(allocated, reserved)| AllocatorBytes {
            allocated,
            reserved,
        }))
}

/// Compiles `graph` at `layout` and reports what the device allocator gained meanwhile (the
/// one buffer, the params buffer and the timestamp resolve buffer).
pub fn measure_compile(
    gpu: &Gpu,
    graph: &Graph,
    layout: &MemoryLayout,
) -> Result<(Compiled, DeviceBytes), RuntimeError> {
    let before = sample(gpu)?;
    let compiled = compile(gpu, graph, layout)?;
    let after = sample(gpu)?;
    let delta = |f: fn(&AllocatorBytes) -> u64| match (&before, &after) {
        (Some(b), Some(a)) => Some(f(a) as i64 - f(b) as i64),
        _ => None,
    };
    let bytes = DeviceBytes {
        before,
        after,
        delta_allocated: delta(|x| x.allocated),
        delta_reserved: delta(|x| x.reserved),
    };
    Ok((compiled, bytes))
}
