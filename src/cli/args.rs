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
    /// Print nothing but errors: no readable report, notes or progress bars (files asked for
    /// with --json, --out are still written).
    #[arg(long, global = true)]
    pub quiet: bool,
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
    /// Built-in model name (see `tessera models`); `run --plan` without it (and without
    /// --graph) takes the plan file's model and sizes.
    #[arg(long, conflicts_with = "graph")]
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
    /// Storage dtype of the model's floats: f32 or f16 (weights and activations stored as f16,
    /// kernels computing in f32; ids and labels stay u32). Default: f32 for built-in models, the
    /// file's own dtypes for --graph.
    #[arg(long, value_name = "f32|f16")]
    pub dtype: Option<String>,
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
    /// Arena budget, bytes (suffixes KiB, MiB, GiB): search micro-batch, attention, conv,
    /// schedule, in-place and workspace settings for the first, in a fixed preference order,
    /// whose planned arena fits; knob flags given are kept fixed; an error gives the smallest
    /// arena reached.
    #[arg(long, value_name = "BYTES")]
    pub budget: Option<String>,
    /// Run the batch as K sequential slices that share the weights (activations scale with
    /// the slice; K need not divide the batch, slices are balanced). Default: 1.
    #[arg(long, value_name = "K")]
    pub micro_batch: Option<usize>,
    /// Stream the graph inputs: each lives in the arena from its first reader, copied there
    /// from a host-upload staging buffer (reported beside the arena) right before that step.
    /// `--stream-inputs` alone means on. Default: on with --micro-batch above 1, else off.
    #[arg(long, value_name = "on|off", num_args = 0..=1, default_missing_value = "on")]
    pub stream_inputs: Option<String>,
    /// The knob flags (`KNOB_FLAGS`) given on the command line, filled after parsing; with
    /// `--budget` they are fixed and only the others are searched.
    #[arg(skip)]
    pub given: Vec<&'static str>,
}

impl PlanOpts {
    /// The flags' defaults (what `plan` and `run` use when none is given): the settings of the
    /// demo and of `bench`'s model runs.
    pub fn defaults() -> PlanOpts {
        PlanOpts {
            planner: "auto".into(),
            time_limit: 2.0,
            no_inplace: false,
            workspace: "planned".into(),
            alignment: None,
            attention: "tiled".into(),
            conv: "auto".into(),
            workspace_cap: None,
            schedule: "program".into(),
            budget: None,
            micro_batch: None,
            stream_inputs: None,
            given: Vec::new(),
        }
    }
}

/// The argument ids of the knobs `--budget` searches; one given on the command line is fixed.
pub const KNOB_FLAGS: [&str; 7] = [
    "micro_batch",
    "attention",
    "conv",
    "workspace_cap",
    "schedule",
    "no_inplace",
    "workspace",
];

impl Cli {
    /// Parses the command line as `Parser::try_parse` does, then records in `PlanOpts::given`
    /// which knob flags were given on it (a default value is not a given one).
    pub fn try_parse_marked() -> Result<Cli, clap::Error> {
        use clap::parser::ValueSource;
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command().try_get_matches()?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        let (opts, name) = match &mut cli.command {
            Command::Plan(a) => (&mut a.opts, "plan"),
            Command::Run(a) => (&mut a.opts, "run"),
            _ => return Ok(cli),
        };
        if let Some(sub) = matches.subcommand_matches(name) {
            opts.given = KNOB_FLAGS
                .into_iter()
                .filter(|id| sub.value_source(id) == Some(ValueSource::CommandLine))
                .collect();
        }
        Ok(cli)
    }
}

impl PlanOpts {
    /// Whether the knob flag with argument id `id` was given on the command line.
    pub fn given(&self, id: &str) -> bool {
        self.given.contains(&id)
    }
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
    /// Write the report as JSON here (`-`: to stdout, and nothing else goes to stdout).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the plan here as a versioned plan file (`tessera run --plan` executes it;
    /// inference plans only).
    #[arg(long, value_name = "PLAN.json", conflicts_with = "train")]
    pub out: Option<PathBuf>,
    /// Write the picture (arena layout and memory curve M(t)) as SVG here.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Write a self-contained HTML report (picture, tables, sortable tensor list) here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Training switches.
    #[command(flatten)]
    pub train: TrainArgs,
}

/// Training switches shared by `plan` and `run`.
#[derive(Debug, Args, Clone)]
pub struct TrainArgs {
    /// Plan (and run) a training step: the model's forward pass, a loss on a fixed synthetic
    /// batch of targets (cross-entropy; mean squared error for unet), the backward pass and an
    /// SGD update of every weight in place.
    #[arg(long)]
    pub train: bool,
    /// Training steps `run` executes on the device (with `--train`).
    #[arg(long, default_value_t = 1)]
    pub steps: usize,
    /// SGD learning rate (with `--train`; default 0.1, 0.01 for unet's mean squared error).
    #[arg(long)]
    pub lr: Option<f32>,
    /// SGD momentum (with `--train`; 0 is plain SGD, no velocity buffers).
    #[arg(long, default_value_t = 0.0)]
    pub momentum: f32,
    /// Checkpoint recomputation of the training graph (with `--train`): none, sqrt,
    /// every:K, selective, revolve:C or budget:BYTES (suffixes KiB, MiB, GiB).
    #[arg(long, value_name = "STRATEGY")]
    pub checkpoint: Option<String>,
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
    /// Write the report as JSON here (`-`: to stdout, and nothing else goes to stdout).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Fail when no GPU adapter exists instead of running the CPU reference only.
    #[arg(long)]
    pub require_gpu: bool,
    /// Skip executing the allocation baselines (naive-static, naive-dynamic,
    /// naive-dynamic-inplace, caching, ggml-style, buddy).
    #[arg(long)]
    pub no_baselines: bool,
    /// Execute this plan file (from `tessera plan --out`) instead of planning: it must match
    /// the graph (--model/--graph and sizes as planned) and the device.
    #[arg(long, value_name = "PLAN.json", conflicts_with_all = [
        "planner", "no_inplace", "workspace", "alignment", "attention", "conv",
        "workspace_cap", "schedule", "budget", "micro_batch", "train", "stream_inputs",
    ])]
    pub plan: Option<PathBuf>,
    /// Training switches.
    #[command(flatten)]
    pub train: TrainArgs,
    /// Write the picture (arena layout and memory curve M(t)) as SVG here.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Write a self-contained HTML report (picture, tables, sortable tensor list) here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// `tessera demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Fail when no GPU adapter exists instead of running the CPU reference only.
    #[arg(long)]
    pub require_gpu: bool,
    /// Write every model's report as a JSON array here (`-`: to stdout, and nothing else goes
    /// to stdout).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write one SVG picture and one HTML report per model into this folder (created when
    /// missing).
    #[arg(long, value_name = "DIR")]
    pub svg_dir: Option<PathBuf>,
    /// Storage dtype of every model's floats: f32 or f16 (see `run --dtype`).
    #[arg(long, value_name = "f32|f16", default_value = "f32")]
    pub dtype: String,
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
    /// Write the report as JSON here (`-`: to stdout, and nothing else goes to stdout).
    #[arg(long)]
    pub json: Option<PathBuf>,
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
    /// Skip the kernel comparisons (softmax, layernorm, elementwise variants; tiled attention
    /// and direct convolution against their other lowerings).
    #[arg(long)]
    pub no_kernels: bool,
    /// Output elements of each kernel-variant case (rows of 256, 1000 and 4099 for softmax and
    /// layernorm; one vector or rows of 256 for add and gelu).
    #[arg(long, default_value_t = 1 << 20)]
    pub kernel_elements: usize,
    /// Timed runs per measurement after one warm-up (the best is reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}
