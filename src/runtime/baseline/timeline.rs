//! The host side of the baselines, no device involved: which allocations exist ("units": one
//! per non-weight tensor that owns bytes and one per workspace request), when each baseline
//! creates and frees them, the buddy allocator's replay of that sequence, and the requested /
//! held byte curves.
//!
//! Unit `t` (a `TensorId` index) is a root tensor's bytes; unit `tensors + n` is node `n`'s
//! workspace. Step `i` is node `i`: `upfront` units exist before node 0 runs,
//! `alloc_before[i]` are created right before node `i`, `free_after[i]` are released right
//! after it.

use super::Baseline;
use crate::analysis::Liveness;
use crate::graph::{Graph, TensorKind, infer};
use crate::plan::buddy::{BuddyAllocator, BuddyError};

/// Allocation events of one baseline over the graph's node order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Timeline {
    /// Requested bytes per unit (`None`: no such allocation, e.g. weights and views).
    pub units: Vec<Option<u64>>,
    /// Units created before node 0.
    pub upfront: Vec<usize>,
    /// Units created right before node `i`.
    pub alloc_before: Vec<Vec<usize>>,
    /// Units released right after node `i`.
    pub free_after: Vec<Vec<usize>>,
}

/// Workspace bytes each node asks for (the same rule the layouts use).
pub(crate) fn workspace_requests(graph: &Graph) -> Vec<u64> {
    graph
        .nodes
        .iter()
        .map(|node| {
            let infos: Vec<_> = node
                .inputs
                .iter()
                .map(|t| {
                    let tensor = &graph.tensors[t.index()];
                    (&tensor.shape, tensor.dtype)
                })
                .collect();
            match node.outputs.first() {
                Some(o) => {
                    infer::workspace_bytes(&node.op, &infos, &graph.tensors[o.index()].shape)
                }
                None => 0,
            }
        })
        .collect()
}

/// The allocation events of `which`: naive-static creates every unit up front and frees none;
/// naive-dynamic and buddy create a tensor right before its producer (graph inputs up front)
/// and free it right after its last reader through any view (graph outputs never), and a
/// workspace lives only for its node.
pub(crate) fn timeline(graph: &Graph, live: &Liveness, which: Baseline) -> Timeline {
    let (tensors, nodes) = (graph.tensors.len(), graph.nodes.len());
    let mut units = vec![None; tensors + nodes];
    for (i, t) in graph.tensors.iter().enumerate() {
        if live.root[i].index() == i && t.kind != TensorKind::Weight {
            units[i] = Some(t.size_bytes());
        }
    }
    for (n, bytes) in workspace_requests(graph).into_iter().enumerate() {
        if bytes > 0 {
            units[tensors + n] = Some(bytes);
        }
    }
    let mut out = Timeline {
        upfront: Vec::new(),
        alloc_before: vec![Vec::new(); nodes],
        free_after: vec![Vec::new(); nodes],
        units,
    };
    if which == Baseline::NaiveStatic || nodes == 0 {
        out.upfront = (0..out.units.len())
            .filter(|&u| out.units[u].is_some())
            .collect();
        return out;
    }
    let last = nodes - 1;
    for u in 0..tensors {
        if out.units[u].is_none() {
            continue;
        }
        let born = match (graph.tensors[u].kind, live.def[u]) {
            (TensorKind::Activation, Some(step)) => Some(step as usize),
            _ => None,
        };
        match born {
            Some(step) => out.alloc_before[step.min(last)].push(u),
            None => out.upfront.push(u),
        }
        if !live.pinned_to_end[u] {
            let start = born.unwrap_or(0);
            let end = live.last_use[u].map_or(start, |s| (s as usize).max(start));
            out.free_after[end.min(last)].push(u);
        }
    }
    for n in 0..nodes {
        if out.units[tensors + n].is_some() {
            out.alloc_before[n].push(tensors + n);
            out.free_after[n].push(tensors + n);
        }
    }
    out
}

/// Byte curves of a timeline under some sizing rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Peaks {
    /// Max over steps of bytes requested by live units.
    pub requested: u64,
    /// Max over steps of bytes held for live units.
    pub held: u64,
    /// `held - requested` at the (first) held peak.
    pub slack_at_held_peak: u64,
}

impl Peaks {
    fn observe(&mut self, requested: u64, held: u64) {
        self.requested = self.requested.max(requested);
        if held > self.held {
            self.held = held;
            self.slack_at_held_peak = held - requested;
        }
    }
}

/// Walks the timeline with `held(unit)` bytes per live unit (the peak of a step is right after
/// its allocations, before its frees).
pub(crate) fn peaks(tl: &Timeline, held: impl Fn(usize) -> u64) -> Peaks {
    let mut p = Peaks::default();
    let (mut req, mut hold) = (0u64, 0u64);
    let add = |units: &[usize], sign: bool, req: &mut u64, hold: &mut u64| {
        for &u in units {
            let (r, h) = (tl.units[u].unwrap_or(0), held(u));
            if sign {
                *req += r;
                *hold += h;
            } else {
                *req -= r;
                *hold -= h;
            }
        }
    };
    add(&tl.upfront, true, &mut req, &mut hold);
    p.observe(req, hold);
    for (allocs, frees) in tl.alloc_before.iter().zip(&tl.free_after) {
        add(allocs, true, &mut req, &mut hold);
        p.observe(req, hold);
        add(frees, false, &mut req, &mut hold);
    }
    p
}

/// The buddy allocator's replay of a timeline: each unit's block offset in the pool and the
/// final (smallest sufficient) pool size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BuddyReplay {
    /// Block offset and size of each unit.
    pub blocks: Vec<Option<(u64, u64)>>,
    /// The heap size the sequence needed.
    pub pool_bytes: u64,
}

/// Runs the timeline's allocations and frees through a buddy allocator with `min_block`-byte
/// blocks, growing the heap by doubling up to `max_heap` bytes.
pub(crate) fn buddy_replay(
    tl: &Timeline,
    min_block: u64,
    max_heap: u64,
) -> Result<BuddyReplay, BuddyError> {
    let mut a = BuddyAllocator::new(min_block, max_heap)?;
    let mut blocks: Vec<Option<(u64, u64)>> = vec![None; tl.units.len()];
    let empty = Vec::new();
    let steps =
        std::iter::once((&tl.upfront, &empty)).chain(tl.alloc_before.iter().zip(&tl.free_after));
    for (allocs, frees) in steps {
        for &u in allocs {
            let b = a.alloc(tl.units[u].unwrap_or(0))?;
            blocks[u] = Some((b.offset, b.size));
        }
        for &u in frees {
            if let Some((offset, _)) = blocks[u] {
                a.free(offset)?;
            }
        }
    }
    Ok(BuddyReplay {
        blocks,
        pool_bytes: a.heap_bytes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::liveness;
    use crate::graph::{DType, GraphBuilder, Init, Op, UnaryOp};

    /// x -> relu a -> reshape v -> relu b (output); all [4, 8] f32 = 128 bytes.
    fn chain() -> Graph {
        let mut g = GraphBuilder::new();
        let x = g.input(
            "x",
            &[4, 8],
            DType::F32,
            Init::Uniform {
                seed: 1,
                scale: 1.0,
            },
        );
        let a = g.op("a", Op::Unary(UnaryOp::Relu), &[x]).unwrap();
        let v = g.op("v", Op::Reshape { shape: vec![8, 4] }, &[a]).unwrap();
        let b = g.op("b", Op::Unary(UnaryOp::Relu), &[v]).unwrap();
        g.output(b);
        g.build().unwrap()
    }

    #[test]
    fn dynamic_frees_after_last_reader_through_views() {
        let g = chain();
        let tl = timeline(&g, &liveness(&g), Baseline::NaiveDynamic);
        // Units: x (0), a (1), b (3); the view v (2) has none.
        assert_eq!(tl.units[..4], [Some(128), Some(128), None, Some(128)]);
        assert_eq!(tl.upfront, vec![0]);
        assert_eq!(tl.alloc_before, vec![vec![1], vec![], vec![3]]);
        // x dies after node 0; a lives through its view until node 2; b is an output.
        assert_eq!(tl.free_after, vec![vec![0], vec![], vec![1]]);
        let p = peaks(&tl, |u| tl.units[u].unwrap_or(0));
        assert_eq!((p.requested, p.held), (256, 256));
    }

    #[test]
    fn static_holds_everything_and_buddy_rounds_up() {
        let g = chain();
        let tl = timeline(&g, &liveness(&g), Baseline::NaiveStatic);
        assert_eq!(tl.upfront, vec![0, 1, 3]);
        assert_eq!(peaks(&tl, |_| 0).requested, 384);
        let dynamic = timeline(&g, &liveness(&g), Baseline::Buddy);
        let r = buddy_replay(&dynamic, 32, 1 << 20).unwrap();
        // x and a coexist (two 128-byte blocks), then x's block is reused by b.
        assert_eq!(r.blocks[0], Some((0, 128)));
        assert_eq!(r.blocks[1], Some((128, 128)));
        assert_eq!(r.blocks[3], Some((0, 128)));
        assert_eq!(r.pool_bytes, 256);
        assert!(buddy_replay(&dynamic, 32, 128).is_err());
    }
}
