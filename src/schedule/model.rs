//! The memory model every scheduler scores orders with. It is analysis's model, evaluated one
//! node at a time: a storage root is allocated when its producer runs and freed after its last
//! reader; weights are persistent and not counted; graph inputs are live from the start (streamed
//! inputs, [`AnalysisOptions::streamed_inputs`], from their first reader, as if that reader
//! allocated them) and graph outputs to the end; views share their source's bytes (their readers extend the source); a
//! node's workspace counts during its step (or for the whole run under the `global` policy, or
//! from a family's first request to its last under `grouped`); and a node that analysis would
//! run in place ([`in_place_target`], last reader of that root) allocates no new output.
//!
//! Sizes are the analysis buffer sizes (alignment padding is the planner's business), so for any
//! order the peak this model computes equals the max-load lower bound of analysing the
//! reordered graph (tested on random DAGs).
//!
//! The bytes live after a set of nodes has run depend only on the set, not on the order inside
//! it, which is what makes the dynamic programme of `exact` over sets of executed nodes valid.

use crate::analysis::workspace_family;
use crate::analysis::{AnalysisOptions, WorkspacePolicy, in_place_target, liveness};
use crate::graph::{Graph, NodeId, TensorId, TensorKind};

/// A set of nodes as a bitset (bit `i` = node at program position `i`).
pub type NodeSet = Box<[u64]>;

/// An empty set able to hold `n` nodes.
pub fn empty_set(n: usize) -> NodeSet {
    vec![0u64; n.div_ceil(64).max(1)].into_boxed_slice()
}

/// Is node `i` in `set`?
pub fn contains(set: &[u64], i: usize) -> bool {
    set[i / 64] >> (i % 64) & 1 == 1
}

/// Adds node `i` to `set`.
pub fn insert(set: &mut [u64], i: usize) {
    set[i / 64] |= 1 << (i % 64);
}

/// The graph reduced to what scheduling needs, indexed by program position.
#[derive(Clone, Debug)]
pub struct MemoryModel {
    /// Number of nodes.
    pub n: usize,
    /// Nodes that must run before each node, as a bitset.
    preds: Vec<NodeSet>,
    /// Bytes each node's output allocates (0 for views and weights).
    out_bytes: Vec<u64>,
    /// The storage root (compact index) each node allocates, if any.
    out_root: Vec<Option<usize>>,
    /// Distinct storage roots (compact indices) each node reads.
    reads: Vec<Vec<usize>>,
    /// Distinct nodes reading each root (directly or through a view).
    readers: Vec<Vec<usize>>,
    /// Bytes of each root.
    root_bytes: Vec<u64>,
    /// Roots that stay live to the end (graph outputs and what they view).
    pinned: Vec<bool>,
    /// The root each node would overwrite if it ran in place (static rules of analysis).
    in_place: Vec<Option<usize>>,
    /// Bytes live before the first node: every graph input's root (except streamed ones that
    /// some node reads).
    initial_live: u64,
    /// Roots that are streamed inputs with a reader: live from their first reader's step.
    streamed: Vec<bool>,
    /// Input bytes nobody reads, freed after the first step.
    unread_inputs: u64,
    /// Workspace bytes each node requests.
    ws: Vec<u64>,
    /// Workspace family of each requesting node (index into `families`), for `grouped`.
    ws_family: Vec<Option<usize>>,
    /// For `grouped`: (bytes, requesting nodes) per family.
    families: Vec<(u64, Vec<usize>)>,
    /// For `global`: the one region live for the whole run.
    ws_global: u64,
    policy: WorkspacePolicy,
    /// The free follower of each node (see [`MemoryModel::follower`]).
    follower: Vec<Option<usize>>,
    /// Whether each node is some node's free follower.
    is_follower: Vec<bool>,
}

/// What running one node from a given set costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepCost {
    /// Bytes live while the node runs (inputs, its output unless in place, workspace).
    pub during: u64,
    /// Bytes live after it ran.
    pub after: u64,
}

impl MemoryModel {
    /// Builds the model of `graph` (validated, in a topological order) under `opts`.
    pub fn new(graph: &Graph, opts: &AnalysisOptions) -> Self {
        let live = liveness(graph);
        let n = graph.nodes.len();
        let mut compact = vec![usize::MAX; graph.tensors.len()];
        let mut root_bytes = Vec::new();
        let mut pinned = Vec::new();
        for t in graph.tensor_ids() {
            let tensor = &graph.tensors[t.index()];
            if live.root[t.index()] == t && tensor.kind != TensorKind::Weight {
                compact[t.index()] = root_bytes.len();
                root_bytes.push(tensor.size_bytes().max(1));
                pinned.push(live.pinned_to_end[t.index()]);
            }
        }
        let producers = graph.producers();
        let mut m = MemoryModel {
            n,
            preds: vec![empty_set(n); n],
            out_bytes: vec![0; n],
            out_root: vec![None; n],
            reads: vec![Vec::new(); n],
            readers: vec![Vec::new(); root_bytes.len()],
            root_bytes,
            pinned,
            in_place: vec![None; n],
            initial_live: 0,
            streamed: Vec::new(),
            unread_inputs: 0,
            ws: vec![0; n],
            ws_family: vec![None; n],
            families: Vec::new(),
            ws_global: 0,
            policy: opts.workspace,
            follower: vec![None; n],
            is_follower: vec![false; n],
        };
        for id in graph.node_ids() {
            let i = id.index();
            let node = graph.node(id);
            for &t in &node.inputs {
                if let Some(p) = producers[t.index()] {
                    insert(&mut m.preds[i], p.index());
                }
                let r = compact[live.root[t.index()].index()];
                if r != usize::MAX && !m.reads[i].contains(&r) {
                    m.reads[i].push(r);
                    m.readers[r].push(i);
                }
            }
            if let Some(&o) = node.outputs.first()
                && !node.op.is_view()
            {
                let r = compact[o.index()];
                m.out_root[i] = Some(r);
                m.out_bytes[i] = m.root_bytes[r];
            }
            m.in_place[i] = in_place_target(graph, &live.root, &live.pinned_to_end, id)
                .filter(|_| opts.in_place)
                .map(|r| compact[r.index()])
                .filter(|&r| r != usize::MAX);
        }
        m.add_update_edges(graph, &live.root, &producers);
        m.streamed = vec![false; m.root_bytes.len()];
        for t in graph.tensors_of_kind(TensorKind::Input) {
            let r = compact[t.index()];
            if opts.streamed_inputs && !m.readers[r].is_empty() {
                m.streamed[r] = true;
                continue;
            }
            m.initial_live += m.root_bytes[r];
            if m.readers[r].is_empty() && !m.pinned[r] {
                m.unread_inputs += m.root_bytes[r];
            }
        }
        m.add_workspace(graph);
        m.find_followers();
        m
    }

    /// An optimizer update rewrites its first input's storage in place, so every node that
    /// reads that storage's old value (a tensor of it defined before the update) must run
    /// before the update: an edge from each such reader to the update (validation refuses an
    /// order that breaks it).
    fn add_update_edges(&mut self, graph: &Graph, root: &[TensorId], producers: &[Option<NodeId>]) {
        for (u, node) in graph.nodes.iter().enumerate() {
            let Some(&w) = node.inputs.first().filter(|_| node.op.updates_in_place()) else {
                continue;
            };
            let r = root[w.index()];
            for (j, reader) in graph.nodes.iter().enumerate() {
                let old = reader.inputs.iter().any(|&t| {
                    root[t.index()] == r && producers[t.index()].is_none_or(|p| p.index() < u)
                });
                if j != u && old {
                    insert(&mut self.preds[u], j);
                }
            }
        }
    }

    /// Marks every node `v` that runs in place over the output of its only predecessor `u`,
    /// reads nothing else, is that output's only reader and asks for no workspace. Running `v`
    /// right after `u` is never worse: its step holds at most what `u`'s held (it allocates
    /// nothing and frees `u`'s output as it takes it over), and the steps it moves ahead of see
    /// the same bytes (`v`'s output occupies `u`'s).
    fn find_followers(&mut self) {
        for v in 0..self.n {
            let [r] = self.reads[v][..] else {
                continue;
            };
            let one_pred = self.preds[v].iter().map(|w| w.count_ones()).sum::<u32>() == 1;
            let Some(u) = (0..self.n).find(|&u| self.out_root[u] == Some(r)) else {
                continue;
            };
            if one_pred
                && contains(&self.preds[v], u)
                && self.in_place[v] == Some(r)
                && self.readers[r] == [v]
                && !self.pinned[r]
                && self.ws[v] == 0
                && self.follower[u].is_none()
            {
                self.follower[u] = Some(v);
                self.is_follower[v] = true;
            }
        }
    }

    /// The node that always runs right after `u` in `exact` (a free follower), if any.
    pub fn follower(&self, u: usize) -> Option<usize> {
        self.follower[u]
    }

    /// Is `v` some node's free follower?
    pub fn is_follower(&self, v: usize) -> bool {
        self.is_follower[v]
    }

    fn add_workspace(&mut self, graph: &Graph) {
        let mut names: Vec<&'static str> = Vec::new();
        for id in graph.node_ids() {
            let bytes = graph.workspace_bytes(id);
            if bytes == 0 {
                continue;
            }
            let i = id.index();
            self.ws[i] = bytes;
            self.ws_global = self.ws_global.max(self.ws[i]);
            let fam = workspace_family(&graph.node(id).op);
            let f = names.iter().position(|&x| x == fam).unwrap_or_else(|| {
                names.push(fam);
                self.families.push((0, Vec::new()));
                names.len() - 1
            });
            self.families[f].0 = self.families[f].0.max(self.ws[i]);
            self.families[f].1.push(i);
            self.ws_family[i] = Some(f);
        }
    }

    /// A lower bound on the peak of every order: the bytes live before the first step, and for
    /// each node what must be live while it runs whatever the order (every root it reads, its
    /// output unless it may run in place, its workspace).
    pub fn floor(&self) -> u64 {
        let mut floor = self.initial_live;
        for i in 0..self.n {
            let reads: u64 = self.reads[i].iter().map(|&r| self.root_bytes[r]).sum();
            let out = if self.in_place[i].is_some() {
                0
            } else {
                self.out_bytes[i]
            };
            let ws = match self.policy {
                WorkspacePolicy::Planned => self.ws[i],
                WorkspacePolicy::Global => self.ws_global,
                WorkspacePolicy::Grouped => self.ws_family[i].map_or(0, |f| self.families[f].0),
            };
            floor = floor.max(reads.saturating_add(out).saturating_add(ws));
        }
        floor
    }

    /// Bytes live before any node ran.
    pub fn initial_live(&self) -> u64 {
        self.initial_live
    }

    /// Can node `i` run once `done` has run (every predecessor done, itself not)?
    pub fn ready(&self, done: &[u64], i: usize) -> bool {
        !contains(done, i) && self.preds[i].iter().zip(done).all(|(p, d)| p & !d == 0)
    }

    /// Bytes of the output node `i` allocates (0 for views); the greedy tie-break.
    pub fn out_bytes(&self, i: usize) -> u64 {
        self.out_bytes[i]
    }

    /// Workspace bytes live while node `i` runs after `done`.
    fn workspace_during(&self, done: &[u64], i: usize) -> u64 {
        match self.policy {
            WorkspacePolicy::Planned => self.ws[i],
            WorkspacePolicy::Global => self.ws_global,
            WorkspacePolicy::Grouped => self
                .families
                .iter()
                .filter(|(_, nodes)| {
                    let before = nodes.iter().filter(|&&k| contains(done, k)).count();
                    let mine = usize::from(nodes.contains(&i));
                    before + mine > 0 && before < nodes.len()
                })
                .map(|(bytes, _)| bytes)
                .sum(),
        }
    }

    /// The cost of running node `i` after the set `done`, with `live` bytes live now (which
    /// must be the bytes live after `done`).
    pub fn step(&self, done: &[u64], live: u64, i: usize) -> StepCost {
        let mut freed = 0u64;
        let mut in_place = false;
        let mut arriving = 0u64;
        for &r in &self.reads[i] {
            if self.streamed[r] && !self.readers[r].iter().any(|&k| contains(done, k)) {
                arriving += self.root_bytes[r];
            }
            let dying =
                !self.pinned[r] && self.readers[r].iter().all(|&k| k == i || contains(done, k));
            if dying {
                freed += self.root_bytes[r];
                in_place |= self.in_place[i] == Some(r);
            }
        }
        let alloc = self.out_bytes[i];
        let live = live.saturating_add(arriving);
        let during = live
            .saturating_add(if in_place { 0 } else { alloc })
            .saturating_add(self.workspace_during(done, i));
        let mut after = live.saturating_add(alloc).saturating_sub(freed);
        if let Some(r) = self.out_root[i]
            && self.readers[r].is_empty()
            && !self.pinned[r]
        {
            after = after.saturating_sub(alloc);
        }
        if done.iter().all(|&w| w == 0) {
            after = after.saturating_sub(self.unread_inputs);
        }
        StepCost { during, after }
    }

    /// The peak of running `order` (program positions), or `None` when it is not a topological
    /// order of every node.
    pub fn peak(&self, order: &[usize]) -> Option<u64> {
        if order.len() != self.n {
            return None;
        }
        let mut done = empty_set(self.n);
        let mut live = self.initial_live;
        let mut peak = 0u64;
        for &i in order {
            if i >= self.n || !self.ready(&done, i) {
                return None;
            }
            let c = self.step(&done, live, i);
            peak = peak.max(c.during);
            live = c.after;
            insert(&mut done, i);
        }
        Some(peak)
    }
}
