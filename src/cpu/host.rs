//! Host memory of the CPU reference: the peak number of bytes it will hold for a graph,
//! computed from its own retention policy before anything is allocated, and the memory the
//! host has available. [`super::run`] and [`super::run_outputs`] refuse a graph whose peak
//! exceeds what is available, with both numbers in the error, instead of aborting on a failed
//! allocation halfway through.

use super::CpuError;
use crate::graph::{Graph, Op, Shape, TensorKind};

/// Bytes the reference holds per element of any value (f32; f16 is held as f32; u32 ids).
pub const VALUE_BYTES: u64 = 4;

/// What [`available_host_bytes`] assumes where it cannot ask the system: 2 GiB, small enough
/// for any machine that runs a GPU driver, so a graph refused here is refused everywhere.
pub const FALLBACK_AVAILABLE_BYTES: u64 = 2 << 30;

/// Environment variable that caps the host memory the reference may use, in bytes (the smaller
/// of it and what the system reports is used).
pub const HOST_MEMORY_ENV: &str = "TESSERA_HOST_MEMORY";

/// Which values the reference keeps while it evaluates a graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// Every tensor's value, to the end ([`super::run`] returns them all).
    All,
    /// A value is dropped after the last node that reads it, unless it is a graph output
    /// ([`super::run_outputs`]).
    UntilLastUse,
}

/// Host memory available to the reference, and where the figure comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostMemory {
    /// Bytes available.
    pub bytes: u64,
    /// Where the figure comes from (for the error message).
    pub source: String,
}

/// The bytes of a tensor's value on the host (saturating; validated graphs never saturate).
fn value_bytes(graph: &Graph, t: usize) -> u64 {
    graph.tensors[t].shape.numel().saturating_mul(VALUE_BYTES)
}

/// Scratch a kernel allocates besides its output: attention keeps one row of scores and one of
/// probabilities (`2 T` floats); the other kernels only small index vectors.
fn kernel_scratch_bytes(graph: &Graph, op: &Op, inputs: &[crate::graph::TensorId]) -> u64 {
    match (op, inputs.get(1)) {
        (Op::Attention { .. }, Some(k)) => {
            let t = graph.tensors[k.index()]
                .shape
                .dims()
                .get(2)
                .copied()
                .unwrap_or(0);
            (t as u64).saturating_mul(2 * VALUE_BYTES)
        }
        // f64 accumulators of the output's size (`grad::accumulators`).
        (Op::ReduceTo { shape }, _) => Shape::new(shape.clone()).numel().saturating_mul(8),
        (Op::EmbeddingBackward { vocab }, Some(dy)) => {
            let d = graph.tensors[dy.index()].shape.dims().last().copied();
            (*vocab as u64)
                .saturating_mul(d.unwrap_or(0) as u64)
                .saturating_mul(8)
        }
        _ => 0,
    }
}

/// The step after which each tensor's value may be dropped: its last reader, or `None` when it
/// must stay (a graph output, or never read).
pub(super) fn drop_after(graph: &Graph, retention: Retention) -> Vec<Option<usize>> {
    let mut last = vec![None; graph.tensors.len()];
    if retention == Retention::All {
        return last;
    }
    for (step, node) in graph.nodes.iter().enumerate() {
        for &t in &node.inputs {
            last[t.index()] = Some(step);
        }
    }
    for &o in &graph.outputs {
        last[o.index()] = None;
    }
    last
}

/// The peak bytes of tensor values the reference holds while evaluating `graph` (validated)
/// under `retention`, following [`super::run`] step by step: an input or weight is
/// materialised when first read (its generator's words and the values exist together for a
/// moment), each node's output and kernel scratch are allocated while its inputs are held, and
/// values are dropped after their last reader. Saturates at `u64::MAX`.
pub fn host_peak_bytes(graph: &Graph, retention: Retention) -> u64 {
    let drop_after = drop_after(graph, retention);
    let mut held = vec![false; graph.tensors.len()];
    let (mut live, mut peak) = (0u64, 0u64);
    let materialise = |t: usize, held: &mut Vec<bool>, live: &mut u64, peak: &mut u64| {
        if !held[t] {
            let bytes = value_bytes(graph, t);
            *peak = (*peak).max(live.saturating_add(bytes.saturating_mul(2)));
            *live = live.saturating_add(bytes);
            held[t] = true;
        }
    };
    for (step, node) in graph.nodes.iter().enumerate() {
        for &t in &node.inputs {
            if graph.tensors[t.index()].kind != TensorKind::Activation {
                materialise(t.index(), &mut held, &mut live, &mut peak);
            }
        }
        for &o in &node.outputs {
            let out = value_bytes(graph, o.index());
            let scratch = kernel_scratch_bytes(graph, &node.op, &node.inputs);
            peak = peak.max(live.saturating_add(out).saturating_add(scratch));
            live = live.saturating_add(out);
            held[o.index()] = true;
        }
        for &t in &node.inputs {
            if drop_after[t.index()] == Some(step) && std::mem::take(&mut held[t.index()]) {
                live -= value_bytes(graph, t.index());
            }
        }
    }
    // Values nobody read that the caller still gets: every input and weight (`All`), or an
    // input or weight that is itself a graph output.
    for t in 0..graph.tensors.len() {
        let returned = retention == Retention::All || graph.outputs.iter().any(|o| o.index() == t);
        if returned && graph.tensors[t].kind != TensorKind::Activation {
            materialise(t, &mut held, &mut live, &mut peak);
        }
    }
    peak
}

/// `MemAvailable` from a `/proc/meminfo` text, in bytes.
fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The memory a cgroup v2 limit leaves (`memory.max - memory.current`), when there is a limit.
fn cgroup_room() -> Option<u64> {
    let read = |f: &str| std::fs::read_to_string(format!("/sys/fs/cgroup/{f}")).ok();
    let max: u64 = read("memory.max")?.trim().parse().ok()?;
    let current: u64 = read("memory.current")?.trim().parse().ok()?;
    Some(max.saturating_sub(current))
}

/// Host memory available now: on Linux `MemAvailable` from `/proc/meminfo` (lowered to the
/// room a cgroup v2 memory limit leaves); elsewhere, or when that cannot be read,
/// [`FALLBACK_AVAILABLE_BYTES`]. [`HOST_MEMORY_ENV`] lowers it further when set; a value
/// that is not a whole number of bytes is a [`CpuError::HostMemoryCap`].
pub fn available_host_bytes() -> Result<HostMemory, CpuError> {
    let system = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| parse_meminfo(&t));
    let mut mem = match system {
        Some(bytes) => HostMemory {
            bytes,
            source: "MemAvailable in /proc/meminfo".into(),
        },
        None => HostMemory {
            bytes: FALLBACK_AVAILABLE_BYTES,
            source: "the 2 GiB assumed where the system cannot be asked".into(),
        },
    };
    if let Some(room) = cgroup_room().filter(|&r| r < mem.bytes) {
        mem = HostMemory {
            bytes: room,
            source: "the cgroup memory limit".into(),
        };
    }
    let cap = match std::env::var(HOST_MEMORY_ENV) {
        Ok(v) => Some(
            v.trim()
                .parse::<u64>()
                .map_err(|_| CpuError::HostMemoryCap {
                    variable: HOST_MEMORY_ENV,
                    value: crate::graph::printable(&v),
                })?,
        ),
        Err(_) => None,
    };
    if let Some(cap) = cap.filter(|&c| c < mem.bytes) {
        mem = HostMemory {
            bytes: cap,
            source: HOST_MEMORY_ENV.to_string(),
        };
    }
    Ok(mem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{DType, GraphBuilder, Init};

    /// x [4, 8] -> relu a -> relu b -> relu c (output): 128 bytes per value.
    fn chain() -> Graph {
        let mut b = GraphBuilder::new();
        let x = b.input("x", &[4, 8], DType::F32, Init::Constant(1.0));
        let a = b.relu("a", x).unwrap();
        let bb = b.relu("b", a).unwrap();
        let c = b.relu("c", bb).unwrap();
        b.output(c);
        b.build().unwrap()
    }

    #[test]
    fn the_peak_follows_the_retention_policy() {
        let g = chain();
        // Until last use: x is generated (words + values: 256), then a value and its successor
        // coexist (x + a = 256); nothing else is held at once.
        assert_eq!(host_peak_bytes(&g, Retention::UntilLastUse), 256);
        // Everything kept: all four values at the end.
        assert_eq!(host_peak_bytes(&g, Retention::All), 512);
    }

    #[test]
    fn meminfo_is_parsed() {
        let text = "MemTotal:       16000000 kB\nMemFree:  100 kB\nMemAvailable:    8000000 kB\n";
        assert_eq!(parse_meminfo(text), Some(8_000_000 * 1024));
        assert_eq!(parse_meminfo("MemTotal: 5 kB\n"), None);
        assert_eq!(parse_meminfo("MemAvailable: lots kB\n"), None);
    }
}
