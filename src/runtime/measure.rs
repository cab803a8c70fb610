//! Device-memory measurement: samples of the wgpu allocator report (`total_allocated_bytes`,
//! `total_reserved_bytes`), each taken after waiting for the device so earlier drops are
//! reflected. Every figure derived here is a signed difference of two samples, never clipped;
//! on backends without an allocator report (GL, Metal) every sample is `None`.
//!
//! Allocator rounding, measured on Mesa lavapipe (llvmpipe, wgpu 30): creating one storage
//! buffer of `n` bytes raises `total_allocated_bytes` by `n + r` with `0 <= r < 64`
//! ([`LAVAPIPE_ALLOCATOR_ROUNDING_BYTES`]): 400 creations of random sizes from 4 B to 3 MB, with
//! other buffers alive and freed in between, gave every multiple of 4 from 0 to 60 (a fresh
//! device gives exactly 48 for every size from 4 B to 50 MB). `r` is the padding the allocator
//! adds to place the buffer at a 64-byte aligned offset inside its device block.
//! `total_reserved_bytes` moves only when the allocator takes a new device block (64 MiB
//! there). Other drivers pad to their own memory-requirement alignment; the tests assume at most
//! [`MAX_BUFFER_ROUNDING_BYTES`] there, a bound not yet measured on a real GPU.

use super::{Compiled, Gpu, RuntimeError, compile};
use crate::graph::Graph;
use crate::layout::MemoryLayout;
use serde::Serialize;

/// Creating one buffer of `n` bytes on lavapipe adds `n + r` to `total_allocated_bytes`, with
/// `0 <= r <` this bound (measured; see the module doc).
pub const LAVAPIPE_ALLOCATOR_ROUNDING_BYTES: i64 = 64;

/// The most a driver other than lavapipe is assumed to add to one buffer's allocation beyond its
/// size (a 64 KiB memory-requirement alignment, the largest in common use; not yet measured).
pub const MAX_BUFFER_ROUNDING_BYTES: i64 = 64 * 1024;

/// One allocator sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AllocatorBytes {
    /// `total_allocated_bytes`: memory handed out to live allocations.
    pub allocated: u64,
    /// `total_reserved_bytes`: memory held in device blocks, used or not.
    pub reserved: u64,
}

impl AllocatorBytes {
    /// `self - earlier`, signed, for both counters.
    pub fn since(&self, earlier: &AllocatorBytes) -> AllocatorDelta {
        let d = |a: u64, b: u64| {
            (i128::from(a) - i128::from(b)).clamp(i64::MIN.into(), i64::MAX.into()) as i64
        };
        AllocatorDelta {
            allocated: d(self.allocated, earlier.allocated),
            reserved: d(self.reserved, earlier.reserved),
        }
    }

    /// The larger of each counter (the peak of two samples).
    pub fn peak_with(self, other: AllocatorBytes) -> AllocatorBytes {
        AllocatorBytes {
            allocated: self.allocated.max(other.allocated),
            reserved: self.reserved.max(other.reserved),
        }
    }
}

/// The signed change between two allocator samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AllocatorDelta {
    /// Change of `total_allocated_bytes`.
    pub allocated: i64,
    /// Change of `total_reserved_bytes`.
    pub reserved: i64,
}

/// Allocator samples around [`compile`]; every field is `None` on backends without reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceBytes {
    /// Before compiling: the reference for the run's peak figures.
    pub before: Option<AllocatorBytes>,
    /// After compiling (the one buffer, the params buffer, the timestamp resolve buffer).
    pub after: Option<AllocatorBytes>,
    /// `after.allocated - before.allocated` (whole compile; may be negative if something else
    /// was freed meanwhile).
    pub delta_allocated: Option<i64>,
    /// `after.reserved - before.reserved` (whole compile).
    pub delta_reserved: Option<i64>,
    /// Sampled right before and right after creating the one buffer alone (nothing else is
    /// created in between): the buffer's own cost, `Compiled::buffer_bytes` plus the allocator's
    /// rounding (0 to 63 bytes on lavapipe, see the module doc).
    pub buffer: Option<AllocatorDelta>,
}

/// Waits for the device, then samples the allocator (`None` where the backend cannot tell).
pub(crate) fn sample(gpu: &Gpu) -> Result<Option<AllocatorBytes>, RuntimeError> {
    gpu.wait()?;
    Ok(gpu
        .allocator_bytes()
        .map(|(allocated, reserved)| AllocatorBytes {
            allocated,
            reserved,
        }))
}

/// The highest `allocated` and highest `reserved` over a series of samples.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Peak(pub Option<AllocatorBytes>);

impl Peak {
    /// Waits, samples and folds the sample into the peak.
    pub fn sample(&mut self, gpu: &Gpu) -> Result<(), RuntimeError> {
        if let Some(s) = sample(gpu)? {
            self.0 = Some(self.0.map_or(s, |p| p.peak_with(s)));
        }
        Ok(())
    }
}

/// Compiles `graph` at `layout` and reports the allocator samples around the whole compile and
/// around the creation of the one buffer.
pub fn measure_compile(
    gpu: &Gpu,
    graph: &Graph,
    layout: &MemoryLayout,
) -> Result<(Compiled, DeviceBytes), RuntimeError> {
    let before = sample(gpu)?;
    let compiled = compile(gpu, graph, layout)?;
    let after = sample(gpu)?;
    let delta = |f: fn(&AllocatorDelta) -> i64| match (&before, &after) {
        (Some(b), Some(a)) => Some(f(&a.since(b))),
        _ => None,
    };
    let bytes = DeviceBytes {
        before,
        after,
        delta_allocated: delta(|d| d.allocated),
        delta_reserved: delta(|d| d.reserved),
        buffer: compiled.buffer_alloc(),
    };
    Ok((compiled, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_are_signed_and_saturate_only_beyond_i64() {
        let a = AllocatorBytes {
            allocated: 100,
            reserved: 1 << 20,
        };
        let b = AllocatorBytes {
            allocated: 40,
            reserved: 2 << 20,
        };
        assert_eq!(
            b.since(&a),
            AllocatorDelta {
                allocated: -60,
                reserved: 1 << 20
            }
        );
        let big = AllocatorBytes {
            allocated: u64::MAX,
            reserved: 0,
        };
        let zero = AllocatorBytes {
            allocated: 0,
            reserved: u64::MAX,
        };
        assert_eq!(big.since(&zero).allocated, i64::MAX);
        assert_eq!(big.since(&zero).reserved, i64::MIN);
    }

    #[test]
    fn the_peak_keeps_each_counter_s_maximum() {
        let p = AllocatorBytes {
            allocated: 5,
            reserved: 1,
        }
        .peak_with(AllocatorBytes {
            allocated: 3,
            reserved: 9,
        });
        assert_eq!((p.allocated, p.reserved), (5, 9));
    }
}
