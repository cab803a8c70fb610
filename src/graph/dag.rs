//! The graph: a table of tensors, a list of nodes in a valid execution order, and the outputs.

use super::{GraphError, NodeId, Op, Tensor, TensorId, TensorKind, infer};
use serde::{Deserialize, Serialize};

/// One operator application.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Readable name (used in errors and reports).
    pub name: String,
    /// The operator and its attributes.
    pub op: Op,
    /// Input tensors, in the order the op documents.
    pub inputs: Vec<TensorId>,
    /// Output tensors (one for every op today; kept a list for multi-output ops).
    pub outputs: Vec<TensorId>,
}

/// A tensor graph. `nodes` is the default schedule; `validate` checks it is topological.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    /// Every tensor, indexed by `TensorId`.
    pub tensors: Vec<Tensor>,
    /// Every node, indexed by `NodeId`, in execution order.
    pub nodes: Vec<Node>,
    /// Tensors the caller reads back after a run; never reused while the graph runs.
    pub outputs: Vec<TensorId>,
}

impl Graph {
    /// Reads a graph from JSON (as `tessera export` writes it); not validated. A syntax or
    /// schema error is [`GraphError::Json`], with serde's message (line and column) on one line.
    pub fn from_json(text: &str) -> Result<Graph, GraphError> {
        serde_json::from_str(text).map_err(|e| GraphError::Json(super::printable(&e.to_string())))
    }

    /// The tensor with this id, or an error naming it.
    pub fn tensor(&self, id: TensorId) -> Result<&Tensor, GraphError> {
        self.tensors
            .get(id.index())
            .ok_or_else(|| GraphError::Invalid(format!("tensor {id} does not exist")))
    }

    /// All node ids in schedule order.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.nodes.len()).map(|i| NodeId(i as u32))
    }

    /// All tensor ids.
    pub fn tensor_ids(&self) -> impl Iterator<Item = TensorId> + '_ {
        (0..self.tensors.len()).map(|i| TensorId(i as u32))
    }

    /// The node at `id`.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// Tensors of the given kind.
    pub fn tensors_of_kind(&self, kind: TensorKind) -> Vec<TensorId> {
        self.tensor_ids()
            .filter(|t| self.tensors[t.index()].kind == kind)
            .collect()
    }

    /// The producer of each tensor (`None` for inputs and weights). Assumes a validated graph.
    pub fn producers(&self) -> Vec<Option<NodeId>> {
        let mut p = vec![None; self.tensors.len()];
        for id in self.node_ids() {
            for &t in &self.nodes[id.index()].outputs {
                if let Some(slot) = p.get_mut(t.index()) {
                    *slot = Some(id);
                }
            }
        }
        p
    }

    /// The tensor whose bytes `t` shares (following views to the root), `t` itself if none.
    pub fn storage_root(&self, t: TensorId) -> TensorId {
        let producers = self.producers();
        let mut cur = t;
        while let Some(n) = producers.get(cur.index()).copied().flatten() {
            let node = &self.nodes[n.index()];
            match node.inputs.first() {
                Some(&src) if node.op.is_view() => cur = src,
                _ => break,
            }
        }
        cur
    }

    /// Shape and dtype of each input of `node`, as shape inference takes them. Assumes the ids
    /// are in range (checked by validation first).
    pub fn input_infos(&self, node: &Node) -> Vec<infer::InputInfo<'_>> {
        node.inputs
            .iter()
            .map(|t| {
                (
                    &self.tensors[t.index()].shape,
                    self.tensors[t.index()].dtype,
                )
            })
            .collect()
    }

    /// Scratch bytes node `n` asks for while it runs ([`infer::workspace_bytes`]); 0 for a node
    /// without outputs. Assumes a validated graph (validation rejects a request that overflows;
    /// here it would saturate).
    pub fn workspace_bytes(&self, n: NodeId) -> u64 {
        self.checked_workspace_bytes(n).unwrap_or(u64::MAX)
    }

    /// [`Graph::workspace_bytes`], or `None` when the request overflows a `u64`.
    pub fn checked_workspace_bytes(&self, n: NodeId) -> Option<u64> {
        let node = self.node(n);
        let infos = self.input_infos(node);
        match node.outputs.first() {
            Some(o) => {
                let out = &self.tensors[o.index()];
                infer::checked_workspace_bytes(&node.op, &infos, &out.shape, out.dtype)
            }
            None => Some(0),
        }
    }

    /// Sum of the sizes of every tensor (the naive no-reuse footprint, weights included).
    /// Saturates; validation rejects a graph whose sum overflows.
    pub fn total_tensor_bytes(&self) -> u64 {
        self.tensors
            .iter()
            .try_fold(0u64, |acc, t| acc.checked_add(t.checked_size_bytes()?))
            .unwrap_or(u64::MAX)
    }
}
