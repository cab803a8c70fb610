//! Command-line arguments (clap derive). Names follow the contract in DESIGN.md.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// tessera: tensor graphs on any GPU inside one planned device buffer.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every built-in model end to end and print one table.
    Demo(DemoArgs),
    /// List the built-in models and their options.
    Models,
    /// Plan a model's memory and report arena, lower bound and ratio.
    Plan(PlanArgs),
    /// Plan, execute on the GPU, compare with the CPU reference, and measure.
    Run(RunArgs),
    /// Plan a minimalloc-format CSV file (id,lower,upper,size).
    PlanCsv(PlanCsvArgs),
    /// Write a built-in model's graph as JSON (input for `--graph`).
    Export(ExportArgs),
    /// GEMM GFLOP/s of the WGSL kernels against the CPU sgemm, and model run times of the
    /// planned run against the naive-dynamic and caching-allocator runs, side by side.
    Bench(BenchArgs),
}

/// `tessera export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Where to write the graph JSON.
    #[arg(long)]
    pub out: PathBuf,
}

/// Model selection and sizes, shared by `plan` and `run`.
#[derive(Debug, Args, Clone)]
pub struct ModelArgs {
    /// Built-in model name (see `tessera models`).
    #[arg(long, required_unless_present = "graph", conflicts_with = "graph")]
    pub model: Option<String>,
    /// A graph in JSON (as written by `tessera export`) instead of a built-in model.
    #[arg(long)]
    pub graph: Option<PathBuf>,
    /// Batch size.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Sequence length (sequence models).
    #[arg(long)]
    pub seq: Option<usize>,
    /// Image side (image models).
    #[arg(long)]
    pub image: Option<usize>,
    /// Hidden size or channels.
    #[arg(long)]
    pub width: Option<usize>,
    /// Number of layers or blocks (U-Net: levels).
    #[arg(long)]
    pub layers: Option<usize>,
    /// Attention heads (transformers; must divide --width).
    #[arg(long)]
    pub heads: Option<usize>,
    /// Vocabulary size (transformers).
    #[arg(long)]
    pub vocab: Option<usize>,
    /// Nodes of a randomly wired network (randwire).
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Seed of a randomly wired network's graph (randwire; 0 allowed).
    #[arg(long)]
    pub seed: Option<usize>,
}

/// Planning switches shared by `plan`, `run` and `demo`.
#[derive(Debug, Args, Clone)]
pub struct PlanOpts {
    /// Planner (see the list in `tessera plan-csv --help`); `auto` is the default.
    #[arg(long, default_value = "auto")]
    pub planner: String,
    /// Time limit for searching planners and for `--schedule exact`, seconds (applies to each
    /// search: `--schedule auto` plans every candidate order within it).
    #[arg(long, default_value_t = 2.0)]
    pub time_limit: f64,
    /// Disable in-place reuse.
    #[arg(long)]
    pub no_inplace: bool,
    /// Workspace policy: global, grouped or planned.
    #[arg(long, default_value = "planned")]
    pub workspace: String,
    /// Offset alignment for `plan` (default: 256, a common GPU value); `run` uses the device's.
    #[arg(long)]
    pub alignment: Option<u64>,
    /// Attention kernel: tiled (flash-style, no score matrix) or materialized (scores in the
    /// workspace).
    #[arg(long, default_value = "tiled")]
    pub attention: String,
    /// Convolution lowering: im2col (tiled im2col + GEMM), direct (no workspace) or auto
    /// (per op: im2col when a tile at least 16 columns wide fits the workspace cap, else direct).
    #[arg(long, default_value = "auto")]
    pub conv: String,
    /// Largest im2col workspace of one conv op, bytes (suffixes KiB, MiB, GiB): the column tile
    /// shrinks to fit. Default: a ~64 KiB tile.
    #[arg(long, value_name = "BYTES")]
    pub workspace_cap: Option<String>,
    /// Execution order: program (the graph's), greedy, beam, exact (falls back to beam past the
    /// time limit) or auto (the candidate with the smallest planned arena).
    #[arg(long, default_value = "program")]
    pub schedule: String,
    /// Arena budget, bytes (suffixes KiB, MiB, GiB): search attention, conv, schedule,
    /// in-place and workspace settings (overriding those flags) for the first, in a fixed
    /// preference order, whose planned arena fits; an error gives the smallest arena reached.
    #[arg(long, value_name = "BYTES")]
    pub budget: Option<String>,
}

/// `tessera plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Planning switches.
    #[command(flatten)]
    pub opts: PlanOpts,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// `tessera run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Planning switches.
    #[command(flatten)]
    pub opts: PlanOpts,
    /// Validate the plan on the device (sentinel scan; clobber check where available).
    #[arg(long)]
    pub validate: bool,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Fail when no GPU adapter exists instead of running the CPU reference only.
    #[arg(long)]
    pub require_gpu: bool,
    /// Skip executing the allocation baselines (naive-static, naive-dynamic,
    /// naive-dynamic-inplace, caching, ggml-style, buddy).
    #[arg(long)]
    pub no_baselines: bool,
}

/// `tessera demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Fail when no GPU adapter exists instead of running the CPU reference only.
    #[arg(long)]
    pub require_gpu: bool,
    /// Write every model's report as a JSON array here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// `tessera plan-csv`.
#[derive(Debug, Args)]
pub struct PlanCsvArgs {
    /// The CSV file (header id,lower,upper,size; half-open [lower, upper)).
    pub file: PathBuf,
    /// Planner name.
    #[arg(long, default_value = "auto")]
    pub planner: String,
    /// Time limit for searching planners, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub time_limit: f64,
    /// Write the rows back with an `offset` column here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `tessera bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// GEMM shapes as MxKxN, comma-separated (default: square 256-2048, skinny and odd shapes).
    #[arg(long, value_delimiter = ',')]
    pub shapes: Vec<String>,
    /// Models whose planned, naive-dynamic and caching run times to compare, comma-separated
    /// (default: every built-in model at its default size except the full-size ones).
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Skip the model comparison.
    #[arg(long)]
    pub no_models: bool,
    /// Timed runs per measurement after one warm-up (the best is reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}
