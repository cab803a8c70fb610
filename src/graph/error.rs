//! Errors of graph construction and validation. Each names the node, op and shapes involved.

use super::{DType, NodeId, Shape, TensorId};
use thiserror::Error;

/// A malformed graph or a bad op use.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum GraphError {
    /// A node refers to a tensor that does not exist.
    #[error("node {node} ({op}) refers to tensor {tensor}, which does not exist")]
    DanglingTensor {
        /// The node.
        node: NodeId,
        /// Its op name.
        op: &'static str,
        /// The missing tensor.
        tensor: TensorId,
    },
    /// A node reads a tensor before any node produces it (or the graph has a cycle).
    #[error(
        "cycle or use-before-definition: node {node} ({op}) reads {tensor} `{name}`, which is produced by a later node or not at all"
    )]
    Cycle {
        /// The node.
        node: NodeId,
        /// Its op name.
        op: &'static str,
        /// The tensor read too early.
        tensor: TensorId,
        /// Its name.
        name: String,
    },
    /// A tensor is produced by more than one node, or an input/weight is produced by a node.
    #[error("tensor {tensor} `{name}` is produced more than once (or is an input/weight)")]
    MultipleProducers {
        /// The tensor.
        tensor: TensorId,
        /// Its name.
        name: String,
    },
    /// Shapes do not fit the op.
    #[error("node `{node}` ({op}): shape mismatch: {detail} (inputs {inputs})")]
    Shape {
        /// The node name.
        node: String,
        /// Its op name.
        op: &'static str,
        /// What is wrong.
        detail: String,
        /// The input shapes, formatted.
        inputs: String,
    },
    /// A dtype does not fit the op.
    #[error("node `{node}` ({op}): input {index} has dtype {found}, expected {expected}")]
    DType {
        /// The node name.
        node: String,
        /// Its op name.
        op: &'static str,
        /// Which input.
        index: usize,
        /// The dtype found.
        found: DType,
        /// The dtype required.
        expected: DType,
    },
    /// Wrong number of inputs.
    #[error("node `{node}` ({op}): expected {expected} inputs, got {found}")]
    Arity {
        /// The node name.
        node: String,
        /// Its op name.
        op: &'static str,
        /// Expected count (as text, e.g. "2 or 3").
        expected: String,
        /// Found count.
        found: usize,
    },
    /// An attribute is out of range (zero stride, bad permutation, ...).
    #[error("node `{node}` ({op}): bad attribute: {detail}")]
    Attribute {
        /// The node name.
        node: String,
        /// Its op name.
        op: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The recorded output shape differs from what the op produces.
    #[error(
        "node `{node}` ({op}): output {tensor} is recorded as {recorded} but the op produces {inferred}"
    )]
    OutputShape {
        /// The node name.
        node: String,
        /// Its op name.
        op: &'static str,
        /// The output tensor.
        tensor: TensorId,
        /// Recorded shape.
        recorded: Shape,
        /// Inferred shape.
        inferred: Shape,
    },
    /// A byte count does not fit in 64 bits: a tensor's size, a node's workspace, or the sum
    /// of every tensor's size.
    #[error("{what} is too large: {detail}")]
    TooLarge {
        /// What overflows: "tensor 3 `h` [..] f32", "node `attn` (attention) workspace", ...
        what: String,
        /// The sizes involved.
        detail: String,
    },
    /// The text is not a graph in tessera's JSON form (as `tessera export` writes it).
    #[error("not a tessera graph: {0}")]
    Json(String),
    /// A graph output or tensor id is not valid, or the graph has no outputs.
    #[error("graph: {0}")]
    Invalid(String),
}

/// `text` with every control character (a newline, a carriage return, ...) written as its
/// escape, so that an error quoting untrusted text stays on one line.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
