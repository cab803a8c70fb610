//! Errors of the CPU reference backend. Every failure while evaluating a node names the node
//! and its op; graph problems found by validation are wrapped unchanged.

use crate::graph::GraphError;
use thiserror::Error;

/// A failure of the CPU reference backend.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CpuError {
    /// The graph failed validation (or a single op's inputs failed shape inference).
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A node's inputs or output do not match what the op needs (data length, dtype, shape).
    #[error("node `{node}` ({op}): {detail}")]
    Mismatch {
        /// The node name.
        node: String,
        /// Its op name.
        op: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// An embedding gather read an id outside the table.
    #[error(
        "node `{node}` ({op}): id {id} at position {position} is out of range for a table of {rows} rows"
    )]
    IdOutOfRange {
        /// The node name.
        node: String,
        /// Its op name.
        op: &'static str,
        /// The offending id.
        id: u32,
        /// Its position in the (flattened) ids tensor.
        position: usize,
        /// Rows in the table.
        rows: usize,
    },
    /// A tensor is too large for the host reference backend.
    #[error(
        "tensor `{name}` has {elements} elements, more than the CPU reference accepts ({limit})"
    )]
    TooLarge {
        /// The tensor (or node output) name.
        name: String,
        /// Its element count.
        elements: u64,
        /// The limit.
        limit: u64,
    },
    /// The reference would hold more bytes at its peak than the host has available.
    #[error(
        "the CPU reference would hold about {needed} bytes ({:.1} GiB) of tensor values at its peak, more than the {available} bytes ({:.1} GiB) available (from {origin}); use smaller sizes",
        *needed as f64 / (1u64 << 30) as f64,
        *available as f64 / (1u64 << 30) as f64
    )]
    HostMemory {
        /// The estimated peak ([`crate::cpu::host_peak_bytes`]).
        needed: u64,
        /// The bytes available ([`crate::cpu::available_host_bytes`]).
        available: u64,
        /// Where the available figure comes from.
        origin: String,
    },
    /// The variable capping the reference's host memory is not a number of bytes.
    #[error("{variable}={value:?} is not a whole number of bytes")]
    HostMemoryCap {
        /// The variable's name.
        variable: &'static str,
        /// Its value.
        value: String,
    },
    /// The host could not allocate a result buffer.
    #[error("node `{node}` ({op}): could not allocate {elements} elements on the host")]
    OutOfMemory {
        /// The node name.
        node: String,
        /// Its op name.
        op: &'static str,
        /// Requested element count.
        elements: usize,
    },
}
