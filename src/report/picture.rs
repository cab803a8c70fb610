//! The data behind the pictures and the HTML page, as plain values: every planned block (a
//! tensor's bytes, or a workspace, over its steps at its arena offset), the memory curve M(t), the
//! reference levels (lower bound, planned arena, naive-static) and, after `run`, what the device
//! measured. Built from a plan ([`Picture::from_plan`]) and a run report ([`Picture::add_run`]);
//! drawn by [`super::svg`] and [`super::html`]. No wgpu here.

use super::RunReport;
use crate::analysis::BufferOrigin;
use crate::graph::{Graph, TensorId, TensorKind};
use crate::pipeline::PlannedGraph;
use crate::plan::memory_curve;
use crate::transform::checkpoint::is_recompute_name;

/// What a block of the arena holds (its colour in the layout picture).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// A graph input (fed before the run, live from step 0).
    Input,
    /// An activation produced by a node.
    Activation,
    /// An activation written in place over a dying input (same bytes, a later part of one
    /// storage group's lifetime).
    InPlaceAlias,
    /// A graph output (kept to the end).
    Output,
    /// Scratch memory of one or more nodes.
    Workspace,
    /// An activation recomputed by checkpointing instead of being kept.
    Recompute,
}

impl BlockKind {
    /// Every kind, in legend order.
    pub const ALL: [BlockKind; 6] = [
        BlockKind::Input,
        BlockKind::Activation,
        BlockKind::InPlaceAlias,
        BlockKind::Output,
        BlockKind::Workspace,
        BlockKind::Recompute,
    ];

    /// Name in the legend and the tensor table.
    pub fn name(self) -> &'static str {
        match self {
            BlockKind::Input => "input",
            BlockKind::Activation => "activation",
            BlockKind::InPlaceAlias => "in-place alias",
            BlockKind::Output => "output",
            BlockKind::Workspace => "workspace",
            BlockKind::Recompute => "recompute",
        }
    }
}

/// One rectangle of the layout: bytes `[offset, offset + bytes)` of the arena during steps
/// `[start, end)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    /// Tensor name, or `workspace: node, node...`.
    pub name: String,
    /// The producing op (`input` for graph inputs), or the ops sharing a workspace.
    pub op: String,
    /// What it holds.
    pub kind: BlockKind,
    /// First step it is live.
    pub start: u64,
    /// First step it is no longer live (exclusive).
    pub end: u64,
    /// Arena offset, bytes.
    pub offset: u64,
    /// Planned bytes (the buffer's aligned size).
    pub bytes: u64,
}

impl Block {
    /// True when the block is live at `step`.
    pub fn live_at(&self, step: u64) -> bool {
        self.start <= step && step < self.end
    }
}

/// How a reference level is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelKind {
    /// The max-load lower bound.
    LowerBound,
    /// The planned arena.
    Arena,
    /// The no-reuse footprint.
    NaiveStatic,
    /// A measured or counted device figure.
    Measured,
}

/// A horizontal line on the memory-curve chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Level {
    /// Legend text.
    pub label: String,
    /// Height, bytes.
    pub bytes: u64,
    /// How it is drawn.
    pub kind: LevelKind,
}

/// A measured value per step (e.g. a baseline's allocator samples after each node).
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Bytes at each step, one per node.
    pub bytes: Vec<u64>,
}

/// Everything the pictures and the page draw.
#[derive(Clone, Debug, PartialEq)]
pub struct Picture {
    /// Model name.
    pub model: String,
    /// Number of steps (nodes in execution order).
    pub steps: u64,
    /// `node name (op)` of each step.
    pub step_names: Vec<String>,
    /// Planned arena, bytes.
    pub arena_bytes: u64,
    /// Persistent weight region (drawn as a band below the arena), bytes.
    pub weights_bytes: u64,
    /// Every block of the arena.
    pub blocks: Vec<Block>,
    /// Live bytes at each step (M(t)); its maximum is the lower bound.
    pub curve: Vec<u64>,
    /// Reference levels.
    pub levels: Vec<Level>,
    /// Measured per-step series (empty before a run).
    pub measured: Vec<Series>,
}

/// The kind of a block holding tensor `t`, `position` in its storage group (0 = the root).
///
/// A block's kind: a recomputed tensor (named by the checkpoint rewrite,
/// [`is_recompute_name`]) first, then an in-place alias, an input, an output, an activation.
fn tensor_kind(graph: &Graph, t: TensorId, position: usize) -> BlockKind {
    let tensor = &graph.tensors[t.index()];
    if is_recompute_name(&tensor.name) {
        return BlockKind::Recompute;
    }
    if position > 0 {
        return BlockKind::InPlaceAlias;
    }
    match tensor.kind {
        TensorKind::Input => BlockKind::Input,
        _ if graph.outputs.contains(&t) => BlockKind::Output,
        _ => BlockKind::Activation,
    }
}

/// The blocks of one storage group: the buffer's lifetime split where each in-place output
/// takes the bytes over.
fn group_blocks(
    p: &PlannedGraph,
    tensors: &[TensorId],
    producer_op: &dyn Fn(TensorId) -> String,
    buffer: usize,
) -> Vec<Block> {
    let b = &p.analysis.problem.buffers[buffer];
    let offset = p.outcome.plan.offsets[buffer];
    let def = |t: TensorId| p.analysis.liveness.def[t.index()];
    let mut out = Vec::with_capacity(tensors.len());
    for (k, &t) in tensors.iter().enumerate() {
        let start = if k == 0 {
            b.lifetime.start
        } else {
            def(t).unwrap_or(b.lifetime.start)
        };
        let end = match tensors.get(k + 1) {
            Some(&next) => def(next).unwrap_or(b.lifetime.end),
            None => b.lifetime.end,
        };
        out.push(Block {
            name: p.graph.tensors[t.index()].name.clone(),
            op: producer_op(t),
            kind: tensor_kind(&p.graph, t, k),
            start,
            end: end.max(start + 1),
            offset,
            bytes: b.size,
        });
    }
    out
}

/// Every block of `p`'s arena, in buffer order.
fn blocks(p: &PlannedGraph) -> Vec<Block> {
    let producers = p.graph.producers();
    let producer_op = |t: TensorId| {
        producers[t.index()].map_or_else(
            || "input".to_string(),
            |n| p.graph.node(n).op.name().to_string(),
        )
    };
    let mut out = Vec::new();
    for (i, origin) in p.analysis.origins.iter().enumerate() {
        match origin {
            BufferOrigin::Tensors(ts) => out.extend(group_blocks(p, ts, &producer_op, i)),
            BufferOrigin::Workspace(nodes) => {
                let b = &p.analysis.problem.buffers[i];
                let names: Vec<&str> = nodes
                    .iter()
                    .map(|&n| p.graph.node(n).name.as_str())
                    .collect();
                let mut ops: Vec<&str> = nodes.iter().map(|&n| p.graph.node(n).op.name()).collect();
                ops.dedup();
                out.push(Block {
                    name: format!("workspace: {}", names.join(", ")),
                    op: ops.join(", "),
                    kind: BlockKind::Workspace,
                    start: b.lifetime.start,
                    end: b.lifetime.end,
                    offset: p.outcome.plan.offsets[i],
                    bytes: b.size,
                });
            }
        }
    }
    out
}

/// Live bytes at every step `0..steps` from the breakpoints of [`memory_curve`].
pub fn per_step(curve: &[(u64, u64)], steps: u64) -> Vec<u64> {
    let mut out = Vec::with_capacity(usize::try_from(steps).unwrap_or(0));
    let (mut k, mut live) = (0, 0);
    for t in 0..steps {
        while k < curve.len() && curve[k].0 <= t {
            live = curve[k].1;
            k += 1;
        }
        out.push(live);
    }
    out
}

impl Picture {
    /// The picture of a plan: its blocks, M(t), the lower bound, the arena and naive-static.
    pub fn from_plan(model: &str, p: &PlannedGraph) -> Picture {
        let steps = p.analysis.liveness.steps;
        let levels = vec![
            Level {
                label: "lower bound (max of M(t))".into(),
                bytes: p.lower_bound,
                kind: LevelKind::LowerBound,
            },
            Level {
                label: "planned arena".into(),
                bytes: p.outcome.plan.arena_bytes,
                kind: LevelKind::Arena,
            },
            Level {
                label: "naive-static (no reuse)".into(),
                bytes: p.analysis.naive_static_bytes,
                kind: LevelKind::NaiveStatic,
            },
        ];
        Picture {
            model: model.to_string(),
            steps,
            step_names: p
                .graph
                .nodes
                .iter()
                .map(|n| format!("{} ({})", n.name, n.op.name()))
                .collect(),
            arena_bytes: p.outcome.plan.arena_bytes,
            weights_bytes: p.analysis.weights_bytes,
            blocks: blocks(p),
            curve: per_step(&memory_curve(&p.analysis.problem), steps),
            levels,
            measured: Vec::new(),
        }
    }

    /// Adds what a run measured: the planned run's share of the one buffer's allocator growth
    /// (weights and guard bands taken off) as a level, and each executed baseline's allocator
    /// samples after every node as a series (its counted reserved peak as a level where the
    /// backend gave no samples).
    pub fn add_run(&mut self, r: &RunReport) {
        if let Some(bytes) = r.arena_share().and_then(|b| u64::try_from(b).ok()) {
            self.levels.push(Level {
                label: "planned run, measured on the device".into(),
                bytes,
                kind: LevelKind::Measured,
            });
        }
        for b in &r.baselines {
            let samples: Option<Vec<u64>> = b.measured_samples_bytes.iter().copied().collect();
            match samples {
                Some(s) if !s.is_empty() => self.measured.push(Series {
                    label: format!("{}, measured", b.name),
                    bytes: s,
                }),
                _ => self.levels.push(Level {
                    label: format!("{} reserved (counted)", b.name),
                    bytes: b.reserved_peak_bytes,
                    kind: LevelKind::Measured,
                }),
            }
        }
    }

    /// The first step where M(t) reaches its maximum (`None` without steps).
    pub fn peak_step(&self) -> Option<u64> {
        let max = *self.curve.iter().max()?;
        self.curve.iter().position(|&v| v == max).map(|i| i as u64)
    }

    /// Index of the block whose end offset is the highest: the one that sets the arena size.
    pub fn top_block(&self) -> Option<usize> {
        (0..self.blocks.len()).max_by_key(|&i| {
            let b = &self.blocks[i];
            (b.offset + b.bytes, std::cmp::Reverse(i))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{ModelOptions, build};
    use crate::pipeline::{PlanConfig, plan_graph};

    fn gpt() -> Picture {
        let g = build("gpt", &ModelOptions::default()).unwrap();
        let p = plan_graph(&g, &PlanConfig::default()).unwrap();
        Picture::from_plan("gpt", &p)
    }

    /// A checkpointed training graph's recomputed tensors are drawn as `recompute` blocks, and
    /// nothing else is.
    #[test]
    fn recomputed_tensors_are_marked() {
        use crate::transform::autodiff::{TrainOptions, training_graph};
        use crate::transform::checkpoint::{Strategy, apply};
        let g = build("gpt", &ModelOptions::default()).unwrap();
        let t = training_graph(&g, &TrainOptions::default()).unwrap();
        let ck = apply(&t.graph, t.forward_len, &Strategy::Sqrt).unwrap();
        assert!(!ck.recompute_nodes.is_empty(), "sqrt recomputes");
        let p = plan_graph(&ck.graph, &PlanConfig::default()).unwrap();
        let pic = Picture::from_plan("gpt", &p);
        let marked = pic.blocks.iter().filter(|b| b.kind == BlockKind::Recompute);
        assert!(marked.clone().count() > 0, "no recompute block drawn");
        assert!(marked.clone().all(|b| b.name.contains(".recompute")));
        let plain = build("mlp", &ModelOptions::default()).unwrap();
        let p = plan_graph(&plain, &PlanConfig::default()).unwrap();
        let pic = Picture::from_plan("mlp", &p);
        assert!(pic.blocks.iter().all(|b| b.kind != BlockKind::Recompute));
    }

    #[test]
    fn blocks_cover_the_curve_and_fit_the_arena() {
        let pic = gpt();
        assert_eq!(pic.curve.len() as u64, pic.steps);
        for (t, &live) in pic.curve.iter().enumerate() {
            let sum: u64 = pic
                .blocks
                .iter()
                .filter(|b| b.live_at(t as u64))
                .map(|b| b.bytes)
                .sum();
            assert_eq!(sum, live, "step {t}");
        }
        assert!(
            pic.blocks
                .iter()
                .all(|b| b.offset + b.bytes <= pic.arena_bytes)
        );
        let top = &pic.blocks[pic.top_block().unwrap()];
        assert_eq!(top.offset + top.bytes, pic.arena_bytes);
    }

    #[test]
    fn in_place_groups_split_into_aliases() {
        let pic = gpt();
        let aliases = pic
            .blocks
            .iter()
            .filter(|b| b.kind == BlockKind::InPlaceAlias)
            .count();
        assert!(aliases > 0, "gpt runs nodes in place");
        assert!(pic.blocks.iter().any(|b| b.kind == BlockKind::Output));
        assert!(pic.blocks.iter().all(|b| b.start < b.end));
    }
}
