//! Errors of the autodiff transform: each names the node, op or option at fault.

use crate::graph::GraphError;
use thiserror::Error;

/// Why a training graph could not be built.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum TransformError {
    /// The forward graph, or a node the transform added, is invalid.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// No backward rule exists for an op the loss depends on.
    #[error("autodiff: node `{node}` ({op}) has no backward rule")]
    NoRule {
        /// The node.
        node: String,
        /// Its op.
        op: &'static str,
    },
    /// A rule produced a gradient whose shape differs from its tensor's.
    #[error("autodiff: gradient of `{tensor}` from node `{node}` is {got}, expected {want}")]
    GradShape {
        /// The node whose rule produced it.
        node: String,
        /// The tensor.
        tensor: String,
        /// Its shape.
        want: String,
        /// The gradient's shape.
        got: String,
    },
    /// The forward graph has no output to put a loss on.
    #[error("autodiff: the forward graph has no output")]
    NoOutput,
    /// The loss depends on no f32 weight.
    #[error("autodiff: the loss depends on no f32 weight, so there is nothing to train")]
    NoParams,
    /// A training option is out of range.
    #[error("autodiff: {0}")]
    Options(String),
}
