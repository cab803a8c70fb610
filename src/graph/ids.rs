//! Newtype ids for tensors and nodes. They index the graph's tables and are never mixed.

use serde::{Deserialize, Serialize};

/// Index of a tensor in `Graph::tensors`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TensorId(pub u32);

/// Index of a node in `Graph::nodes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeId(pub u32);

impl TensorId {
    /// Position in `Graph::tensors`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl NodeId {
    /// Position in `Graph::nodes`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl std::fmt::Display for TensorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "t{}", self.0)
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "n{}", self.0)
    }
}
