//! Typed runtime errors: each names the tensor, node, bytes or limit involved.

use thiserror::Error;

/// Everything that can go wrong while setting up the device, compiling or running a graph.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// No adapter matched (or none exists on this machine).
    #[error(
        "no GPU adapter found: {0} (install a Vulkan driver such as Mesa lavapipe, or check WGPU_BACKEND / WGPU_ADAPTER_NAME)"
    )]
    NoAdapter(String),
    /// The adapter refused to create a device.
    #[error("device request failed: {0}")]
    DeviceRequest(String),
    /// One tensor or workspace binding exceeds `max_storage_buffer_binding_size`.
    #[error(
        "{tensor} needs a {bytes}-byte binding but the device allows at most {limit} bytes per storage binding"
    )]
    BindingTooLarge {
        /// Tensor name (or `workspace of NODE`).
        tensor: String,
        /// Binding size in bytes.
        bytes: u64,
        /// The device limit.
        limit: u64,
    },
    /// A tensor too large for one binding cannot be split either: its smallest bindable block
    /// of rows (one row, or the fewest rows that keep block starts aligned) exceeds
    /// `max_storage_buffer_binding_size`.
    #[error(
        "tensor {tensor} of node {node} cannot be split over storage bindings: its rows are {row_bytes} bytes, the smallest block it can bind is {rows} row(s) ({bytes} bytes), and the device allows at most {limit} bytes per storage binding"
    )]
    RowTooLarge {
        /// Tensor name.
        tensor: String,
        /// The node being lowered.
        node: String,
        /// Bytes of one row.
        row_bytes: u64,
        /// Rows in the smallest block.
        rows: u64,
        /// Bytes that block's binding needs.
        bytes: u64,
        /// The device limit.
        limit: u64,
    },
    /// The one buffer exceeds `max_buffer_size`.
    #[error(
        "the one buffer (weights, guard bands and arena) needs {bytes} bytes but the device's largest buffer is {limit} bytes"
    )]
    ArenaTooLarge {
        /// Buffer size in bytes.
        bytes: u64,
        /// The device limit.
        limit: u64,
    },
    /// An offset is not a multiple of the device's storage offset alignment.
    #[error(
        "{what} is at offset {offset}, not a multiple of the device's storage offset alignment {alignment}"
    )]
    Misaligned {
        /// Tensor name (or `workspace of NODE`).
        what: String,
        /// The offending offset.
        offset: u64,
        /// `min_storage_buffer_offset_alignment`.
        alignment: u64,
    },
    /// A binding reaches past the end of the buffer.
    #[error("{what} occupies [{offset}, {end}) but the buffer has only {total} bytes")]
    OutOfBounds {
        /// Tensor name (or `workspace of NODE`).
        what: String,
        /// Start offset.
        offset: u64,
        /// End offset (exclusive).
        end: u64,
        /// Buffer size.
        total: u64,
    },
    /// A binding lies outside both the weight region and the arena (e.g. in a guard band).
    #[error(
        "{what} occupies [{offset}, {end}), outside the weight region [0, {weights_end}) and the arena [{arena_start}, {arena_end})"
    )]
    OutsideRegions {
        /// Tensor name (or `workspace of NODE`).
        what: String,
        /// Start offset.
        offset: u64,
        /// End offset (exclusive).
        end: u64,
        /// End of the weight region.
        weights_end: u64,
        /// First arena byte.
        arena_start: u64,
        /// One past the last arena byte.
        arena_end: u64,
    },
    /// The layout does not describe this graph (table lengths differ, missing workspace...).
    #[error("layout does not match the graph: {0}")]
    LayoutMismatch(String),
    /// The node uses something no kernel implements yet (a dtype, a rank, an empty tensor...).
    #[error("node {node} ({op}) is not supported by the GPU runtime: {detail}")]
    Unsupported {
        /// Node name.
        node: String,
        /// Op name.
        op: &'static str,
        /// What exactly.
        detail: String,
    },
    /// A size does not fit the 32-bit indices the kernels use, or the dispatch limits.
    #[error("node {node} ({op}) is too large for one dispatch: {detail}")]
    DispatchTooLarge {
        /// Node name.
        node: String,
        /// Op name.
        op: &'static str,
        /// What exactly.
        detail: String,
    },
    /// The uniform params buffer (one block per distinct dispatch params) exceeds
    /// `max_buffer_size`.
    #[error(
        "the params buffer needs {bytes} bytes ({slots} blocks; node {node} alone has {node_slots}) but the device's largest buffer is {limit} bytes"
    )]
    ParamsTooLarge {
        /// Buffer size in bytes (u64::MAX when it overflows).
        bytes: u64,
        /// The device limit.
        limit: u64,
        /// Distinct params blocks.
        slots: u64,
        /// The node owning the most blocks.
        node: String,
        /// How many blocks that node owns.
        node_slots: u64,
    },
    /// A wgpu validation or out-of-memory error caught by an error scope.
    #[error("wgpu error: {0}")]
    Wgpu(String),
    /// A baseline needs a device buffer (a tensor's, a segment or its pool) beyond
    /// `max_buffer_size`.
    #[error(
        "baseline {baseline} needs a {bytes}-byte device buffer but the device's largest buffer is {limit} bytes (--no-baselines skips the baselines)"
    )]
    BaselineTooLarge {
        /// Baseline name.
        baseline: &'static str,
        /// Buffer size in bytes.
        bytes: u64,
        /// The device limit.
        limit: u64,
    },
    /// A pool baseline's host replay (buddy, caching, ggml-style) refused its allocations.
    #[error("baseline replay: {0}")]
    Replay(#[from] super::baseline::ReplayError),
    /// Analysing the graph for a baseline's in-place groups failed (sizes that overflow).
    #[error("baseline analysis: {0}")]
    Analysis(#[from] crate::plan::PlanError),
    /// Mapping a readback buffer failed or the device was lost while waiting.
    #[error("readback failed: {0}")]
    Readback(String),
}
