//! The host side of the baselines, no device involved: which allocations exist ("units": one
//! per storage group that owns bytes and one per workspace request), when each baseline
//! creates and frees them, the pool schemes' replays of that sequence ([`PoolReplay`]), and
//! the requested / held byte curves.
//!
//! Unit `t` (a `TensorId` index) is the bytes of the tensors whose [`Timeline::owner`] is `t`:
//! a root tensor and its views, and, for schemes with in-place reuse, the outputs of in-place
//! nodes written over it (the storage groups of [`crate::analysis::analyze`]). Unit
//! `tensors + n` is node `n`'s workspace. Step `i` is node `i`: `upfront` units exist before
//! node 0 runs, `alloc_before[i]` are created right before node `i`, `free_after[i]` are
//! released right after it.

use super::Baseline;
use crate::analysis::{AnalysisOptions, BufferOrigin, Liveness, analyze};
use crate::graph::{Graph, TensorId, TensorKind};
use crate::plan::PlanError;
use crate::plan::buddy::{BuddyAllocator, BuddyError};
use thiserror::Error;

/// Allocation events of one baseline over the graph's node order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Timeline {
    /// The tensor owning each tensor's bytes (the unit it lives in; weights own themselves).
    pub owner: Vec<TensorId>,
    /// Requested bytes per unit (`None`: no such allocation, e.g. weights, views and in-place
    /// outputs).
    pub units: Vec<Option<u64>>,
    /// Units created before node 0.
    pub upfront: Vec<usize>,
    /// Units created right before node `i`.
    pub alloc_before: Vec<Vec<usize>>,
    /// Units released right after node `i`.
    pub free_after: Vec<Vec<usize>>,
}

impl Timeline {
    /// Every step in order: the units created before node 0 (with no frees), then for each
    /// node the units created before it and those released after it.
    pub fn steps(&self) -> impl Iterator<Item = (&[usize], &[usize])> {
        std::iter::once((self.upfront.as_slice(), &[][..])).chain(
            self.alloc_before
                .iter()
                .zip(&self.free_after)
                .map(|(a, f)| (a.as_slice(), f.as_slice())),
        )
    }

    /// Requested bytes of unit `u` (0 for a slot that is no allocation).
    pub fn bytes(&self, u: usize) -> u64 {
        self.units.get(u).copied().flatten().unwrap_or(0)
    }
}

/// The tensor owning each tensor's bytes: its view root, and with `in_place` the first tensor
/// of its storage group, exactly as analysis groups them for the planner (an in-place-capable
/// op over a dying activation that is not a graph output and that this node reads last:
/// [`crate::graph::Op::can_run_in_place`] and analysis' rule).
pub(crate) fn owners(
    graph: &Graph,
    live: &Liveness,
    in_place: bool,
) -> Result<Vec<TensorId>, PlanError> {
    if !in_place {
        return Ok(live.root.clone());
    }
    let opts = AnalysisOptions {
        in_place: true,
        ..AnalysisOptions::default()
    };
    let analysis = analyze(graph, &opts)?;
    Ok(graph
        .tensor_ids()
        .map(|t| {
            let group =
                analysis.tensor_buffer[t.index()].and_then(|b| analysis.origins.get(b.index()));
            match group {
                Some(BufferOrigin::Tensors(members)) => members.first().copied().unwrap_or(t),
                _ => live.root[t.index()],
            }
        })
        .collect())
}

/// The allocation events of `which`: naive-static creates every unit up front and frees none;
/// the dynamic schemes create a unit right before its first producer (graph inputs up front)
/// and free it right after its last reader through any view or in-place successor (units
/// holding a graph output never), and a workspace lives only for its node.
///
/// Errors: the analysis behind the in-place groups refused the graph (sizes that overflow).
pub(crate) fn timeline(
    graph: &Graph,
    live: &Liveness,
    which: Baseline,
) -> Result<Timeline, PlanError> {
    let (tensors, nodes) = (graph.tensors.len(), graph.nodes.len());
    let owner = owners(graph, live, which.in_place())?;
    let mut units = vec![None; tensors + nodes];
    // Last reading step and pinning of each unit, over every tensor it holds.
    let mut end: Vec<Option<u64>> = vec![None; tensors];
    let mut pinned = vec![false; tensors];
    for (i, t) in graph.tensors.iter().enumerate() {
        let (o, r) = (owner[i].index(), live.root[i].index());
        if o == i && t.kind != TensorKind::Weight {
            units[i] = Some(t.size_bytes());
        }
        end[o] = end[o].max(live.last_use[r]);
        pinned[o] |= live.pinned_to_end[r];
    }
    for (n, id) in graph.node_ids().enumerate() {
        let bytes = graph.workspace_bytes(id);
        if bytes > 0 {
            units[tensors + n] = Some(bytes);
        }
    }
    let mut out = Timeline {
        owner,
        upfront: Vec::new(),
        alloc_before: vec![Vec::new(); nodes],
        free_after: vec![Vec::new(); nodes],
        units,
    };
    if which == Baseline::NaiveStatic || nodes == 0 {
        out.upfront = (0..out.units.len())
            .filter(|&u| out.units[u].is_some())
            .collect();
        return Ok(out);
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
        if !pinned[u] {
            let start = born.unwrap_or(0);
            let end = end[u].map_or(start, |s| (s as usize).max(start));
            out.free_after[end.min(last)].push(u);
        }
    }
    for n in 0..nodes {
        if out.units[tensors + n].is_some() {
            out.alloc_before[n].push(tensors + n);
            out.free_after[n].push(tensors + n);
        }
    }
    Ok(out)
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
    for (allocs, frees) in tl.steps() {
        for &u in allocs {
            req += tl.bytes(u);
            hold += held(u);
        }
        p.observe(req, hold);
        for &u in frees {
            req -= tl.bytes(u);
            hold -= held(u);
        }
    }
    p
}

/// Why a pool scheme's host replay failed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ReplayError {
    /// The buddy allocator refused.
    #[error("buddy pool: {0}")]
    Buddy(#[from] BuddyError),
    /// A free named a block the scheme never handed out (a bug in the replay).
    #[error("{scheme}: freed offset {offset} of segment {segment}, which holds no allocated block")]
    NotAllocated {
        /// `caching` or `ggml-style`.
        scheme: &'static str,
        /// Segment index.
        segment: usize,
        /// Offset inside the segment.
        offset: u64,
    },
    /// A size or offset does not fit 64 bits.
    #[error("{scheme}: a request of {bytes} bytes overflows 64-bit size arithmetic")]
    Overflow {
        /// `caching` or `ggml-style`.
        scheme: &'static str,
        /// The request.
        bytes: u64,
    },
}

/// Where a pool scheme put one unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PoolBlock {
    /// Index into [`PoolReplay::segments`].
    pub segment: usize,
    /// Byte offset inside that segment.
    pub offset: u64,
    /// Bytes the scheme holds for the unit: its block, at least the request.
    pub held: u64,
}

/// A host-side allocator that a timeline can be replayed through.
pub(crate) trait PoolAllocator {
    /// Places a request of `bytes`.
    fn alloc(&mut self, bytes: u64) -> Result<PoolBlock, ReplayError>;
    /// Releases a block `alloc` returned.
    fn free(&mut self, block: PoolBlock) -> Result<(), ReplayError>;
    /// Device buffers created so far, in creation order (empty for schemes that size one
    /// buffer after the replay).
    fn segments(&self) -> &[u64];
}

/// A pool scheme's replay of a timeline: where every unit lives and which device buffers
/// ("segments") the scheme creates, and when.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PoolReplay {
    /// The block of each unit.
    pub blocks: Vec<Option<PoolBlock>>,
    /// Size of each segment, in creation order.
    pub segments: Vec<u64>,
    /// Segments created before node 0.
    pub created_upfront: Vec<usize>,
    /// Segments created right before node `i`.
    pub created_before: Vec<Vec<usize>>,
}

impl PoolReplay {
    /// Sum of the segment sizes: the device bytes the scheme created, all held to the end.
    pub fn reserved_bytes(&self) -> u64 {
        self.segments.iter().sum()
    }

    /// Bytes held for unit `u` (0 when it has no block).
    pub fn held(&self, u: usize) -> u64 {
        self.blocks.get(u).copied().flatten().map_or(0, |b| b.held)
    }

    /// Replaces the segments by ONE buffer of `bytes` created before node 0 (schemes that size
    /// their pool by this replay, then run).
    pub fn single(mut self, bytes: u64) -> Self {
        self.segments = vec![bytes];
        self.created_upfront = vec![0];
        self.created_before.iter_mut().for_each(Vec::clear);
        self
    }
}

/// Replays the timeline's allocations and frees through `a`, recording each unit's block and
/// the step at which every segment appeared.
pub(crate) fn replay(tl: &Timeline, a: &mut impl PoolAllocator) -> Result<PoolReplay, ReplayError> {
    let mut out = PoolReplay {
        blocks: vec![None; tl.units.len()],
        created_before: vec![Vec::new(); tl.alloc_before.len()],
        ..PoolReplay::default()
    };
    for (step, (allocs, frees)) in tl.steps().enumerate() {
        let known = a.segments().len();
        for &u in allocs {
            out.blocks[u] = Some(a.alloc(tl.bytes(u))?);
        }
        let new = known..a.segments().len();
        match step.checked_sub(1) {
            None => out.created_upfront.extend(new),
            Some(node) => out.created_before[node].extend(new),
        }
        for &u in frees {
            if let Some(block) = out.blocks[u] {
                a.free(block)?;
            }
        }
    }
    out.segments = a.segments().to_vec();
    Ok(out)
}

/// The buddy allocator of [`crate::plan::buddy`] as a [`PoolAllocator`] (one heap, segment 0).
struct Buddy(BuddyAllocator);

impl PoolAllocator for Buddy {
    fn alloc(&mut self, bytes: u64) -> Result<PoolBlock, ReplayError> {
        let b = self.0.alloc(bytes)?;
        Ok(PoolBlock {
            segment: 0,
            offset: b.offset,
            held: b.size,
        })
    }
    fn free(&mut self, block: PoolBlock) -> Result<(), ReplayError> {
        Ok(self.0.free(block.offset)?)
    }
    fn segments(&self) -> &[u64] {
        &[]
    }
}

/// Runs the timeline through a buddy allocator with `min_block`-byte blocks, growing the heap
/// by doubling up to `max_heap` bytes; the pool is one buffer of the final heap size.
pub(crate) fn buddy_replay(
    tl: &Timeline,
    min_block: u64,
    max_heap: u64,
) -> Result<PoolReplay, ReplayError> {
    let mut a = Buddy(BuddyAllocator::new(min_block, max_heap)?);
    let r = replay(tl, &mut a)?;
    Ok(r.single(a.0.heap_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::liveness;
    use crate::graph::{DType, GraphBuilder, Init, Op, UnaryOp};

    fn input(g: &mut GraphBuilder, dims: &[usize]) -> TensorId {
        let init = Init::Uniform {
            seed: 1,
            scale: 1.0,
        };
        g.input("x", dims, DType::F32, init)
    }

    /// x -> relu a -> reshape v -> relu b (output); all [4, 8] f32 = 128 bytes.
    fn chain() -> Graph {
        let mut g = GraphBuilder::new();
        let x = input(&mut g, &[4, 8]);
        let a = g.op("a", Op::Unary(UnaryOp::Relu), &[x]).unwrap();
        let v = g.op("v", Op::Reshape { shape: vec![8, 4] }, &[a]).unwrap();
        let b = g.op("b", Op::Unary(UnaryOp::Relu), &[v]).unwrap();
        g.output(b);
        g.build().unwrap()
    }

    /// x [1, 8] (32 B) + weight w [4, 8] -> a [4, 8] (128 B) -> relu b -> relu c (output).
    /// Tensor ids: x 0, w 1, a 2, b 3, c 4.
    fn broadcast_chain() -> Graph {
        let mut g = GraphBuilder::new();
        let x = input(&mut g, &[1, 8]);
        let w = g.weight("w", &[4, 8], 2, 1.0);
        let a = g.add("a", x, w).unwrap();
        let b = g.relu("b", a).unwrap();
        let c = g.relu("c", b).unwrap();
        g.output(c);
        g.build().unwrap()
    }

    #[test]
    fn dynamic_frees_after_last_reader_through_views() {
        let g = chain();
        let tl = timeline(&g, &liveness(&g), Baseline::NaiveDynamic).expect("timeline");
        // Units: x (0), a (1), b (3); the view v (2) has none.
        assert_eq!(tl.units[..4], [Some(128), Some(128), None, Some(128)]);
        assert_eq!(tl.upfront, vec![0]);
        assert_eq!(tl.alloc_before, vec![vec![1], vec![], vec![3]]);
        // x dies after node 0; a lives through its view until node 2; b is an output.
        assert_eq!(tl.free_after, vec![vec![0], vec![], vec![1]]);
        let p = peaks(&tl, |u| tl.bytes(u));
        assert_eq!((p.requested, p.held), (256, 256));
    }

    #[test]
    fn in_place_units_follow_the_analysis_groups() {
        let g = broadcast_chain();
        let live = liveness(&g);
        let off = timeline(&g, &live, Baseline::NaiveDynamic).expect("timeline");
        // Without in-place: x, a, b, c each a unit; x dies after node 0, a after 1, b after 2.
        assert_eq!(off.upfront, vec![0]);
        assert_eq!(off.alloc_before, vec![vec![2], vec![3], vec![4]]);
        assert_eq!(off.free_after, vec![vec![0], vec![2], vec![3]]);
        // Peak at node 1 (or 2): two 128-byte tensors live.
        assert_eq!(peaks(&off, |u| off.bytes(u)).requested, 256);
        let on = timeline(&g, &live, Baseline::NaiveDynamicInPlace).expect("timeline");
        // a is not in place (its first input x is a graph input of another shape); b and c
        // write over a, so unit 2 holds a, b and c and, holding the output c, is never freed.
        let ids: Vec<usize> = on.owner.iter().map(|t| t.index()).collect();
        assert_eq!(ids, vec![0, 1, 2, 2, 2]);
        assert_eq!(on.units[..5], [Some(32), None, Some(128), None, None]);
        assert_eq!(on.alloc_before, vec![vec![2], vec![], vec![]]);
        assert_eq!(on.free_after, vec![vec![0], vec![], vec![]]);
        // Peak at node 0: x (32) + a (128).
        assert_eq!(peaks(&on, |u| on.bytes(u)).requested, 160);
    }

    #[test]
    fn replay_records_when_segments_appear() {
        let g = broadcast_chain();
        let tl = timeline(&g, &liveness(&g), Baseline::Caching).expect("timeline");
        let r = replay(&tl, &mut super::super::caching::CachingAllocator::default()).unwrap();
        // Every request rounds to 512 B and is small: one 2 MiB segment, created with x
        // before node 0. x at 0, a at 512; x freed; b best-fits x's 512-byte hole at 0; a
        // freed and merged with the segment's tail; c takes 512 again.
        assert_eq!(r.segments, vec![2 << 20]);
        assert_eq!(r.created_upfront, vec![0]);
        assert_eq!(r.created_before, vec![Vec::<usize>::new(); 3]);
        let at = |u: usize| r.blocks[u].map(|b| (b.segment, b.offset, b.held));
        assert_eq!(at(0), Some((0, 0, 512)));
        assert_eq!(at(2), Some((0, 512, 512)));
        assert_eq!(at(3), Some((0, 0, 512)));
        assert_eq!(at(4), Some((0, 512, 512)));
        assert_eq!(r.reserved_bytes(), 2 << 20);
    }

    #[test]
    fn static_holds_everything_and_buddy_rounds_up() {
        let g = chain();
        let tl = timeline(&g, &liveness(&g), Baseline::NaiveStatic).expect("timeline");
        assert_eq!(tl.upfront, vec![0, 1, 3]);
        assert_eq!(peaks(&tl, |_| 0).requested, 384);
        let dynamic = timeline(&g, &liveness(&g), Baseline::Buddy).expect("timeline");
        let r = buddy_replay(&dynamic, 32, 1 << 20).unwrap();
        let at = |u: usize| r.blocks[u].map(|b| (b.segment, b.offset, b.held));
        // x and a coexist (two 128-byte blocks), then x's block is reused by b.
        assert_eq!(at(0), Some((0, 0, 128)));
        assert_eq!(at(1), Some((0, 128, 128)));
        assert_eq!(at(3), Some((0, 0, 128)));
        assert_eq!(r.segments, vec![256]);
        assert_eq!(r.created_upfront, vec![0]);
        assert!(buddy_replay(&dynamic, 32, 128).is_err());
    }
}
