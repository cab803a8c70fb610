//! The CLI's error: every layer's error, printed as one line by `main`.

use thiserror::Error;

/// Anything a command can fail with.
#[derive(Debug, Error)]
pub enum CliError {
    /// Bad graph.
    #[error(transparent)]
    Graph(#[from] tessera::graph::GraphError),
    /// Bad model name or option.
    #[error(transparent)]
    Model(#[from] tessera::models::ModelError),
    /// A convolution cannot be lowered as asked (`--conv`, `--workspace-cap`).
    #[error(transparent)]
    Conv(#[from] tessera::graph::conv::ConvError),
    /// Planning failed.
    #[error(transparent)]
    Plan(#[from] tessera::plan::PlanError),
    /// `--budget` cannot be met.
    #[error(transparent)]
    Budget(#[from] tessera::budget::BudgetError),
    /// `--micro-batch` cannot slice the graph as asked.
    #[error(transparent)]
    MicroBatch(#[from] tessera::transform::micro_batch::MicroBatchError),
    /// Execution (CPU reference or GPU) failed.
    #[error(transparent)]
    Execute(#[from] tessera::execute::ExecuteError),
    /// The GPU runtime failed.
    #[error(transparent)]
    Runtime(#[from] tessera::runtime::RuntimeError),
    /// The training transform failed (`--train`).
    #[error(transparent)]
    Transform(#[from] tessera::transform::autodiff::TransformError),
    /// Checkpointing or planning a checkpointed training graph failed (`--checkpoint`).
    #[error(transparent)]
    Recompute(#[from] tessera::recompute::RecomputeError),
    /// A bad command-line value.
    #[error("{0}")]
    Usage(String),
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A check failed (wrong numbers vs the CPU reference, clobbered tensors).
    #[error("{0}")]
    Check(String),
    /// A plan file cannot be read or does not fit the graph or the device.
    #[error("{path}: {source}")]
    PlanFile {
        /// The file.
        path: String,
        /// Why.
        source: tessera::planfile::PlanFileError,
    },
    /// `tessera bench` failed.
    #[error(transparent)]
    Bench(#[from] tessera::bench::BenchError),
}
