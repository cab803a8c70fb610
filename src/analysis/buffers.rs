//! From a graph to a planning problem: storage groups (a root tensor plus the outputs of
//! in-place ops written over it) and workspace buffers, each with a half-open lifetime.

use super::{Liveness, WorkspacePolicy, liveness, workspace_family};
use crate::graph::{Graph, NodeId, TensorId, TensorKind};
use crate::plan::{Buffer, BufferId, Lifetime, Problem};

/// Switches for [`analyze`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnalysisOptions {
    /// Byte alignment of every buffer (the device's `min_storage_buffer_offset_alignment`).
    pub alignment: u64,
    /// Let in-place-capable ops write over a dying input (seed 5.3.3).
    pub in_place: bool,
    /// How workspace requests become buffers.
    pub workspace: WorkspacePolicy,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self {
            alignment: 256,
            in_place: true,
            workspace: WorkspacePolicy::Planned,
        }
    }
}

/// What a planned buffer holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BufferOrigin {
    /// A root tensor and the in-place outputs written over it, in order.
    Tensors(Vec<TensorId>),
    /// Scratch shared by these nodes' workspace requests.
    Workspace(Vec<NodeId>),
}

/// The result of analysis: a planning problem and the map back to the graph.
#[derive(Clone, Debug)]
pub struct MemoryAnalysis {
    /// Liveness facts of every tensor.
    pub liveness: Liveness,
    /// Buffers to place in the arena.
    pub problem: Problem,
    /// What each buffer of `problem` holds.
    pub origins: Vec<BufferOrigin>,
    /// The buffer holding each tensor's bytes (`None` for weights).
    pub tensor_buffer: Vec<Option<BufferId>>,
    /// The buffer holding each node's workspace (`None` when it needs none).
    pub node_workspace: Vec<Option<BufferId>>,
    /// Workspace bytes requested by each node.
    pub workspace_request: Vec<u64>,
    /// Nodes that write their output over their first input.
    pub in_place_nodes: Vec<NodeId>,
    /// Aligned bytes of the persistent weight region.
    pub weights_bytes: u64,
    /// The no-reuse footprint of everything the arena holds: every non-weight tensor (views
    /// excluded) and every workspace request, each aligned.
    pub naive_static_bytes: u64,
    /// Bytes the workspace buffers need under the chosen policy (sum of their sizes).
    pub workspace_bytes: u64,
}

fn align_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a.max(1)) * a.max(1)
}

/// The storage root `node` would write its output over if it ran in place, by the rules that do
/// not depend on the order: an in-place-capable op, output shape and dtype equal to input 0's,
/// input 0's root an activation that is not pinned to the end (not a graph output), and not read
/// twice by the node. Running in place also needs the node to be the root's last reader, which
/// depends on the schedule: analysis checks it against liveness, the `schedule` stage against
/// the nodes already run. `root` and `pinned_to_end` are [`Liveness`]'s.
pub fn in_place_target(
    graph: &Graph,
    root: &[TensorId],
    pinned_to_end: &[bool],
    node: NodeId,
) -> Option<TensorId> {
    let n = graph.node(node);
    if !n.op.can_run_in_place() {
        return None;
    }
    let (&a, &out) = (n.inputs.first()?, n.outputs.first()?);
    let r = root[a.index()];
    if n.inputs.iter().filter(|&&x| root[x.index()] == r).count() != 1 {
        return None;
    }
    let (ta, to, tr) = (
        &graph.tensors[a.index()],
        &graph.tensors[out.index()],
        &graph.tensors[r.index()],
    );
    let ok = ta.shape == to.shape
        && ta.dtype == to.dtype
        && tr.kind == TensorKind::Activation
        && !pinned_to_end[r.index()];
    ok.then_some(r)
}

/// May `node` (at `step`) write its output over its first input?
fn in_place_ok(graph: &Graph, live: &Liveness, node: NodeId, step: u64) -> bool {
    in_place_target(graph, &live.root, &live.pinned_to_end, node)
        .is_some_and(|r| live.last_use[r.index()] == Some(step))
}

/// Builds the planning problem for `graph` in its node order.
pub fn analyze(graph: &Graph, opts: &AnalysisOptions) -> MemoryAnalysis {
    let live = liveness(graph);
    let nt = graph.tensors.len();
    // Storage groups: group[t] = index of the group owning root tensor t.
    let mut group_of: Vec<Option<usize>> = vec![None; nt];
    let mut groups: Vec<Vec<TensorId>> = Vec::new();
    let mut in_place_nodes = Vec::new();
    let mut weights_bytes = 0u64;
    let mut naive = 0u64;
    for t in graph.tensor_ids() {
        let tensor = &graph.tensors[t.index()];
        if tensor.kind == TensorKind::Weight {
            weights_bytes = align_up(weights_bytes + tensor.size_bytes(), opts.alignment);
        } else if tensor.kind == TensorKind::Input && live.root[t.index()] == t {
            group_of[t.index()] = Some(groups.len());
            groups.push(vec![t]);
        }
    }
    for (step, id) in graph.node_ids().enumerate() {
        let node = graph.node(id);
        let Some(&out) = node.outputs.first() else {
            continue;
        };
        if node.op.is_view() {
            continue;
        }
        naive += align_up(graph.tensors[out.index()].size_bytes(), opts.alignment);
        if opts.in_place && in_place_ok(graph, &live, id, step as u64) {
            let a = live.root[node.inputs[0].index()];
            if let Some(g) = group_of[a.index()] {
                groups[g].push(out);
                group_of[out.index()] = Some(g);
                in_place_nodes.push(id);
                continue;
            }
        }
        group_of[out.index()] = Some(groups.len());
        groups.push(vec![out]);
    }
    for t in graph.tensors_of_kind(TensorKind::Input) {
        naive += align_up(graph.tensors[t.index()].size_bytes(), opts.alignment);
    }

    let mut problem = Problem::default();
    let mut origins = Vec::new();
    for members in &groups {
        let mut span: Option<Lifetime> = None;
        let mut size = 0u64;
        for &m in members {
            size = size.max(graph.tensors[m.index()].size_bytes());
            if let Some((s, e)) = live.interval(graph, m) {
                let l = Lifetime { start: s, end: e };
                span = Some(span.map_or(l, |x| x.union(&l)));
            }
        }
        let lifetime = span.unwrap_or(Lifetime { start: 0, end: 1 });
        let name = graph.tensors[members[0].index()].name.clone();
        problem.buffers.push(Buffer {
            name,
            lifetime,
            size: size.max(1),
            align: opts.alignment,
        });
        origins.push(BufferOrigin::Tensors(members.clone()));
    }
    let mut tensor_buffer = vec![None; nt];
    for t in graph.tensor_ids() {
        let r = live.root[t.index()];
        tensor_buffer[t.index()] = group_of[r.index()].map(|g| BufferId(g as u32));
    }

    // Workspace requests.
    let mut request = vec![0u64; graph.nodes.len()];
    for (i, id) in graph.node_ids().enumerate() {
        request[i] = graph.workspace_bytes(id);
        naive += align_up(request[i], opts.alignment);
    }
    let mut node_workspace = vec![None; graph.nodes.len()];
    let mut ws_groups: Vec<(Vec<NodeId>, u64, Lifetime, &'static str)> = Vec::new();
    let steps = live.steps.max(1);
    for (i, id) in graph.node_ids().enumerate() {
        let bytes = request[i];
        if bytes == 0 {
            continue;
        }
        let step = Lifetime {
            start: i as u64,
            end: i as u64 + 1,
        };
        let slot = match opts.workspace {
            WorkspacePolicy::Planned => None,
            WorkspacePolicy::Global => ws_groups.first().map(|_| 0),
            WorkspacePolicy::Grouped => ws_groups
                .iter()
                .position(|g| g.3 == workspace_family(&graph.node(id).op)),
        };
        let label = workspace_family(&graph.node(id).op);
        match slot {
            Some(k) => {
                let g = &mut ws_groups[k];
                g.0.push(id);
                g.1 = g.1.max(bytes);
                g.2 = g.2.union(&step);
            }
            None => {
                let life = if opts.workspace == WorkspacePolicy::Global {
                    Lifetime {
                        start: 0,
                        end: steps,
                    }
                } else {
                    step
                };
                ws_groups.push((vec![id], bytes, life, label));
            }
        }
    }
    let mut workspace_bytes = 0;
    for (nodes, bytes, life, label) in ws_groups {
        let b = BufferId(problem.buffers.len() as u32);
        for &n in &nodes {
            node_workspace[n.index()] = Some(b);
        }
        let name = format!("workspace:{}:{}", label, graph.node(nodes[0]).name);
        problem.buffers.push(Buffer {
            name,
            lifetime: life,
            size: bytes,
            align: opts.alignment,
        });
        origins.push(BufferOrigin::Workspace(nodes));
        workspace_bytes += align_up(bytes, opts.alignment);
    }
    MemoryAnalysis {
        liveness: live,
        problem,
        origins,
        tensor_buffer,
        node_workspace,
        workspace_request: request,
        in_place_nodes,
        weights_bytes,
        naive_static_bytes: naive,
        workspace_bytes,
    }
}
