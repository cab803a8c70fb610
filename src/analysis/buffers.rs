//! From a graph to a planning problem: storage groups (a root tensor plus the outputs of
//! in-place ops written over it) and workspace buffers, each with a half-open lifetime.

use super::{Liveness, WorkspacePolicy, liveness_with, workspace_family};
use crate::bytes::{align_up, check_alignment};
use crate::graph::{Graph, NodeId, TensorId, TensorKind};
use crate::plan::{Buffer, BufferId, Lifetime, PlanError, Problem};

/// Switches for [`analyze`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnalysisOptions {
    /// Byte alignment of every buffer (the device's `min_storage_buffer_offset_alignment`).
    pub alignment: u64,
    /// Let in-place-capable ops write over a dying input (seed 5.3.3).
    pub in_place: bool,
    /// How workspace requests become buffers.
    pub workspace: WorkspacePolicy,
    /// Stream the graph inputs: each lives from its first reader's step instead of step 0, and
    /// the runtime copies it from a host-upload staging buffer into the arena right before
    /// that step (`--stream-inputs`; on by default with `--micro-batch` above 1).
    pub streamed_inputs: bool,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self {
            alignment: 256,
            in_place: true,
            workspace: WorkspacePolicy::Planned,
            streamed_inputs: false,
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
    /// Unaligned bytes of every tensor the arena holds: inputs and the outputs of non-view
    /// nodes (saturating).
    pub activation_bytes: u64,
    /// Unaligned bytes of every weight tensor (saturating).
    pub weight_tensor_bytes: u64,
}

/// `total + align_up(bytes, alignment)`, or an overflow error naming `what`.
fn add_aligned(total: u64, bytes: u64, alignment: u64, what: &str) -> Result<u64, PlanError> {
    align_up(bytes, alignment)
        .and_then(|b| total.checked_add(b))
        .ok_or_else(|| PlanError::SizeOverflow {
            what: format!("{what}: {total} bytes plus {bytes} aligned to {alignment}"),
        })
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

/// Storage groups: each root tensor with the in-place outputs written over it.
struct Groups {
    members: Vec<Vec<TensorId>>,
    group_of: Vec<Option<usize>>,
    in_place_nodes: Vec<NodeId>,
    weights_bytes: u64,
    naive: u64,
    activation_bytes: u64,
    weight_tensor_bytes: u64,
}

/// Forms the storage groups in schedule order and sums the weight region and the no-reuse
/// footprint of the tensors (checked).
fn storage_groups(
    graph: &Graph,
    live: &Liveness,
    opts: &AnalysisOptions,
) -> Result<Groups, PlanError> {
    let a = opts.alignment;
    let mut g = Groups {
        members: Vec::new(),
        group_of: vec![None; graph.tensors.len()],
        in_place_nodes: Vec::new(),
        weights_bytes: 0,
        naive: 0,
        activation_bytes: 0,
        weight_tensor_bytes: 0,
    };
    for t in graph.tensor_ids() {
        let tensor = &graph.tensors[t.index()];
        if tensor.kind == TensorKind::Weight {
            let what = format!("weight region up to `{}`", tensor.name);
            g.weights_bytes = add_aligned(g.weights_bytes, tensor.size_bytes(), a, &what)?;
            g.weight_tensor_bytes = g.weight_tensor_bytes.saturating_add(tensor.size_bytes());
        } else if tensor.kind == TensorKind::Input {
            g.naive = add_aligned(g.naive, tensor.size_bytes(), a, "no-reuse footprint")?;
            g.activation_bytes = g.activation_bytes.saturating_add(tensor.size_bytes());
            if live.root[t.index()] == t {
                g.group_of[t.index()] = Some(g.members.len());
                g.members.push(vec![t]);
            }
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
        let size = graph.tensors[out.index()].size_bytes();
        g.naive = add_aligned(g.naive, size, a, "no-reuse footprint")?;
        g.activation_bytes = g.activation_bytes.saturating_add(size);
        if opts.in_place && in_place_ok(graph, live, id, step as u64) {
            let root = live.root[node.inputs[0].index()];
            if let Some(k) = g.group_of[root.index()] {
                g.members[k].push(out);
                g.group_of[out.index()] = Some(k);
                g.in_place_nodes.push(id);
                continue;
            }
        }
        g.group_of[out.index()] = Some(g.members.len());
        g.members.push(vec![out]);
    }
    Ok(g)
}

/// One buffer per storage group: the largest member's size over the union of the lifetimes.
fn group_buffers(graph: &Graph, live: &Liveness, groups: &Groups, align: u64) -> Problem {
    let mut problem = Problem::default();
    for members in &groups.members {
        let mut span: Option<Lifetime> = None;
        let mut size = 0u64;
        for &m in members {
            size = size.max(graph.tensors[m.index()].size_bytes());
            if let Some((s, e)) = live.interval(graph, m) {
                let l = Lifetime { start: s, end: e };
                span = Some(span.map_or(l, |x| x.union(&l)));
            }
        }
        problem.buffers.push(Buffer {
            name: graph.tensors[members[0].index()].name.clone(),
            lifetime: span.unwrap_or(Lifetime { start: 0, end: 1 }),
            size: size.max(1),
            align,
        });
    }
    problem
}

/// Workspace buffers under the chosen policy: (the nodes sharing it, bytes, lifetime, label).
type WorkspaceGroup = (Vec<NodeId>, u64, Lifetime, &'static str);

/// Groups the nodes' workspace requests into buffers according to `opts.workspace`.
fn workspace_groups(
    graph: &Graph,
    request: &[u64],
    steps: u64,
    policy: WorkspacePolicy,
) -> Vec<WorkspaceGroup> {
    let mut ws_groups: Vec<WorkspaceGroup> = Vec::new();
    for (i, id) in graph.node_ids().enumerate() {
        let bytes = request[i];
        if bytes == 0 {
            continue;
        }
        let step = Lifetime {
            start: i as u64,
            end: i as u64 + 1,
        };
        let kind = workspace_family(&graph.node(id).op);
        let slot = match policy {
            WorkspacePolicy::Planned => None,
            WorkspacePolicy::Global => ws_groups.first().map(|_| 0),
            WorkspacePolicy::Grouped => ws_groups.iter().position(|g| g.3 == kind),
        };
        match slot {
            Some(k) => {
                let g = &mut ws_groups[k];
                g.0.push(id);
                g.1 = g.1.max(bytes);
                g.2 = g.2.union(&step);
            }
            None => {
                let life = if policy == WorkspacePolicy::Global {
                    Lifetime {
                        start: 0,
                        end: steps,
                    }
                } else {
                    step
                };
                ws_groups.push((vec![id], bytes, life, kind));
            }
        }
    }
    ws_groups
}

/// Builds the planning problem for `graph` in its node order.
///
/// Errors: [`PlanError::Alignment`] when `opts.alignment` is not a power of two in
/// `1..=`[`crate::bytes::MAX_ALIGNMENT`]; [`PlanError::SizeOverflow`] when the weight region,
/// the no-reuse footprint or the workspace total does not fit in a `u64`.
pub fn analyze(graph: &Graph, opts: &AnalysisOptions) -> Result<MemoryAnalysis, PlanError> {
    let a = opts.alignment;
    check_alignment(a).map_err(|p| PlanError::Alignment {
        align: a,
        reason: p.to_string(),
    })?;
    let live = liveness_with(graph, opts.streamed_inputs);
    let groups = storage_groups(graph, &live, opts)?;
    let mut naive = groups.naive;
    let mut problem = group_buffers(graph, &live, &groups, a);
    let mut origins: Vec<BufferOrigin> = groups
        .members
        .iter()
        .map(|m| BufferOrigin::Tensors(m.clone()))
        .collect();
    let tensor_buffer = graph
        .tensor_ids()
        .map(|t| groups.group_of[live.root[t.index()].index()].map(|g| BufferId(g as u32)))
        .collect();

    let request: Vec<u64> = graph
        .node_ids()
        .map(|id| graph.workspace_bytes(id))
        .collect();
    for &bytes in &request {
        naive = add_aligned(naive, bytes, a, "no-reuse footprint")?;
    }
    let mut node_workspace = vec![None; graph.nodes.len()];
    let mut workspace_bytes = 0;
    for (nodes, bytes, life, label) in
        workspace_groups(graph, &request, live.steps.max(1), opts.workspace)
    {
        let b = BufferId(problem.buffers.len() as u32);
        for &n in &nodes {
            node_workspace[n.index()] = Some(b);
        }
        let name = format!("workspace:{}:{}", label, graph.node(nodes[0]).name);
        workspace_bytes = add_aligned(workspace_bytes, bytes, a, "workspace total")?;
        problem.buffers.push(Buffer {
            name,
            lifetime: life,
            size: bytes,
            align: a,
        });
        origins.push(BufferOrigin::Workspace(nodes));
    }
    Ok(MemoryAnalysis {
        liveness: live,
        problem,
        origins,
        tensor_buffer,
        node_workspace,
        workspace_request: request,
        in_place_nodes: groups.in_place_nodes,
        weights_bytes: groups.weights_bytes,
        naive_static_bytes: naive,
        workspace_bytes,
        activation_bytes: groups.activation_bytes,
        weight_tensor_bytes: groups.weight_tensor_bytes,
    })
}
