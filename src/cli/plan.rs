//! `tessera plan`: analyse and plan a model; print arena, lower bound, ratio and how in-place
//! reuse and each workspace policy change the arena.

use super::args::{ModelArgs, PlanArgs, PlanOpts};
use super::output::{self, Progress};
use super::pictures::{self, Targets};
use super::{CliError, models, write_json};
use serde::Serialize;
use std::time::Instant;
use tessera::analysis::{AnalysisOptions, WorkspacePolicy};
use tessera::budget::{self, Fixed};
use tessera::bytes::{check_alignment, parse_size};
use tessera::graph::conv::{self, ConvChoice, ConvMode};
use tessera::graph::{AttentionKernel, Graph};
use tessera::pipeline::{PlanConfig, PlannedGraph, plan_graph, plan_variants};
use tessera::plan::{Budget, memory_curve};
use tessera::planfile::{Lowering, PlanFile};
use tessera::report::{
    BudgetSection, ComputeSection, Picture, PlanSection, ScheduleSection, Table, TrainingSection,
    Variant, human_bytes, per_step,
};
use tessera::schedule::Scheduler;
use tessera::transform::micro_batch::micro_batch;

/// Planning config from the command line, with the given offset alignment.
pub fn config(opts: &PlanOpts, alignment: u64) -> Result<PlanConfig, CliError> {
    let workspace = WorkspacePolicy::from_name(&opts.workspace).ok_or_else(|| {
        CliError::Usage(format!(
            "unknown workspace policy `{}` (known: global, grouped, planned)",
            opts.workspace
        ))
    })?;
    let schedule = Scheduler::from_name(&opts.schedule).ok_or_else(|| {
        CliError::Usage(format!(
            "unknown schedule `{}` (known: program, greedy, beam, exact, auto)",
            opts.schedule
        ))
    })?;
    // The value given (`run` may raise it to the device's), then the one used.
    for align in opts.alignment.into_iter().chain([alignment]) {
        check_alignment(align).map_err(|problem| {
            CliError::Usage(format!("--alignment {align} cannot be used: {problem}"))
        })?;
    }
    Ok(PlanConfig {
        planner: opts.planner.clone(),
        budget: Budget {
            time_limit: super::seconds(opts.time_limit)?,
        },
        analysis: AnalysisOptions {
            alignment,
            in_place: !opts.no_inplace,
            workspace,
            streamed_inputs: stream_inputs(opts)?,
        },
        schedule,
    })
}

/// The model's graph with every attention node set to run the `--attention` kernel, so that
/// analysis and the planner see the workspace that kernel needs.
pub fn model_graph(model: &ModelArgs, opts: &PlanOpts) -> Result<Graph, CliError> {
    let kernel = attention_kernel(opts)?;
    let mut graph = models::build_model(model)?;
    graph.set_attention_kernel(kernel)?;
    Ok(graph)
}

/// The `--attention` kernel.
fn attention_kernel(opts: &PlanOpts) -> Result<AttentionKernel, CliError> {
    AttentionKernel::from_name(&opts.attention).ok_or_else(|| {
        CliError::Usage(format!(
            "unknown attention kernel `{}` (known: tiled, materialized)",
            opts.attention
        ))
    })
}

/// The `--conv` mode.
fn conv_mode(opts: &PlanOpts) -> Result<ConvMode, CliError> {
    ConvMode::from_name(&opts.conv).ok_or_else(|| {
        CliError::Usage(format!(
            "unknown --conv `{}` (known: im2col, direct, auto)",
            opts.conv.escape_debug()
        ))
    })
}

/// The `--workspace-cap` in bytes, if given.
fn workspace_cap(opts: &PlanOpts) -> Result<Option<u64>, CliError> {
    match &opts.workspace_cap {
        Some(text) => {
            Ok(Some(parse_size(text).map_err(|e| {
                CliError::Usage(format!("--workspace-cap: {e}"))
            })?))
        }
        None => Ok(None),
    }
}

/// `graph` with each conv op's lowering chosen by `--conv` under `--workspace-cap`.
pub fn conv_graph(graph: Graph, opts: &PlanOpts) -> Result<Graph, CliError> {
    Ok(conv::choose(
        &graph,
        conv_mode(opts)?,
        workspace_cap(opts)?,
    )?)
}

/// The knobs the user's flags fix for a `--budget` search (`cfg` is [`config`]'s): each knob
/// flag given on the command line, even at its default value; the others are searched.
pub fn fixed(opts: &PlanOpts, cfg: &PlanConfig) -> Result<Fixed, CliError> {
    let given = |id: &str| opts.given(id);
    Ok(Fixed {
        micro_batch: opts.micro_batch,
        attention: given("attention")
            .then(|| attention_kernel(opts))
            .transpose()?,
        conv: given("conv").then(|| conv_mode(opts)).transpose()?,
        conv_cap: workspace_cap(opts)?,
        schedule: given("schedule").then_some(cfg.schedule),
        in_place: given("no_inplace").then_some(cfg.analysis.in_place),
        workspace: given("workspace").then_some(cfg.analysis.workspace),
    })
}

/// A graph and config ready to plan: as the flags say, or as the `--budget` search chose (then
/// with its plan and report section).
pub struct Prepared {
    /// The graph to plan (attention kernels and conv methods applied).
    pub graph: Graph,
    /// The planning config.
    pub cfg: PlanConfig,
    /// The search's plan of `graph` under `cfg` (with `--budget` only).
    pub planned: Option<PlannedGraph>,
    /// The report's `budget` section (with `--budget` only).
    pub budget: Option<BudgetSection>,
    /// Micro-batch slices `graph` runs its batch as.
    pub micro_batch: usize,
    /// The attention and conv lowering applied to `graph` (recorded in plan files).
    pub lowering: Lowering,
}

impl Prepared {
    /// The plan: the search's, or `graph` planned under `cfg`.
    pub fn plan(&mut self) -> Result<PlannedGraph, CliError> {
        if let Some(p) = self.planned.take() {
            return Ok(p);
        }
        let mut p = plan_with_progress(&self.graph, &self.cfg)?;
        p.micro_batch = self.micro_batch;
        Ok(p)
    }
}

/// The graph and config from the flags (micro-batched by `--micro-batch`), or with `--budget`
/// the first configuration whose arena fits (see `tessera::budget`; the knob flags given are
/// fixed), planned at `alignment`.
pub fn prepare(model: &ModelArgs, opts: &PlanOpts, alignment: u64) -> Result<Prepared, CliError> {
    let cfg = config(opts, alignment)?;
    let Some(text) = &opts.budget else {
        let k = opts.micro_batch.unwrap_or(1);
        let graph = micro_batch(&conv_graph(model_graph(model, opts)?, opts)?, k)?;
        let lowering = Lowering {
            attention: opts.attention.clone(),
            conv: opts.conv.clone(),
            workspace_cap: workspace_cap(opts)?,
            micro_batch: k,
        };
        return Ok(Prepared {
            graph,
            cfg,
            planned: None,
            budget: None,
            micro_batch: k,
            lowering,
        });
    };
    let bytes = parse_size(text).map_err(|e| CliError::Usage(format!("--budget: {e}")))?;
    let fixed = fixed(opts, &cfg)?;
    let base = models::build_model(model)?;
    let search = Progress::spinner(format!("searching for an arena within {text}"));
    let c = budget::search_with(&base, &cfg, bytes, &fixed)?;
    drop(search);
    Ok(Prepared {
        graph: c.graph,
        cfg: c.cfg,
        planned: Some(c.planned),
        budget: Some(c.section),
        micro_batch: c.knobs.micro_batch,
        lowering: Lowering::new(
            c.knobs.attention,
            c.knobs.conv,
            c.knobs.conv_cap,
            c.knobs.micro_batch,
        ),
    })
}

/// The micro-batch setting in words.
pub fn micro_batch_line(k: usize) -> String {
    if k == 1 {
        "1 (the whole batch at once)".into()
    } else {
        format!("{k} sequential slices sharing the weights")
    }
}

/// Prints one line summarising the conv ops' methods and workspace (nothing without convs),
/// its label padded to `width` columns.
pub fn print_conv(choices: &[ConvChoice], width: usize) {
    if choices.is_empty() {
        return;
    }
    let direct = choices.iter().filter(|c| c.method == "direct").count();
    let largest = choices.iter().map(|c| c.workspace_bytes).max().unwrap_or(0);
    println!(
        "{:<width$}{} im2col, {direct} direct; largest conv workspace {}",
        "conv:",
        choices.len() - direct,
        human_bytes(largest)
    );
}

/// The plan section of a report.
pub fn section(p: &PlannedGraph, cfg: &PlanConfig) -> PlanSection {
    let arena = p.outcome.plan.arena_bytes;
    PlanSection {
        arena_bytes: arena,
        lower_bound_bytes: p.lower_bound,
        ratio: if p.lower_bound == 0 {
            1.0
        } else {
            arena as f64 / p.lower_bound as f64
        },
        naive_static_bytes: p.analysis.naive_static_bytes,
        weights_bytes: p.analysis.weights_bytes,
        workspace_bytes: p.analysis.workspace_bytes,
        workspace_policy: cfg.analysis.workspace.name().to_string(),
        in_place: cfg.analysis.in_place,
        in_place_nodes: p.analysis.in_place_nodes.len(),
        buffers: p.analysis.problem.buffers.len(),
        alignment: cfg.analysis.alignment,
        proven_optimal: p.outcome.proven_optimal,
        attention: p.attention.to_string(),
        conv: p.conv.clone(),
        schedule: p.schedule.clone(),
        micro_batch: p.micro_batch,
        checkpoint: None,
        dtype: tessera::transform::precision::float_dtype_name(&p.graph),
        activation_bytes: p.analysis.activation_bytes,
        weight_tensor_bytes: p.analysis.weight_tensor_bytes,
        streamed_inputs: cfg.analysis.streamed_inputs,
        staging_bytes: p.layout.staging_bytes(&p.graph),
    }
}

/// Whether the graph inputs are streamed: as `--stream-inputs on|off` says, else on exactly
/// when `--micro-batch` asks for more than one slice (each slice's input arrives when its slice
/// starts).
pub fn stream_inputs(opts: &PlanOpts) -> Result<bool, CliError> {
    match opts.stream_inputs.as_deref() {
        None => Ok(opts.micro_batch.unwrap_or(1) > 1),
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(other) => Err(CliError::Usage(format!(
            "--stream-inputs `{}`: expected on or off",
            other.escape_debug()
        ))),
    }
}

/// The input upload in words (`plan` and `run` print it).
pub fn inputs_line(streamed: bool, staging_bytes: u64) -> String {
    match streamed {
        true => format!(
            "streamed: each copied into the arena right before its first reader, from {} of host-upload staging memory beside the arena",
            human_bytes(staging_bytes)
        ),
        false => "uploaded before the run (live from step 0)".into(),
    }
}

/// The storage dtype in one line, with the unaligned activation and weight bytes it gives.
pub fn dtype_line(s: &PlanSection) -> String {
    format!(
        "{} (activations {}, weights {}, unaligned; ids u32)",
        s.dtype,
        human_bytes(s.activation_bytes),
        human_bytes(s.weight_tensor_bytes)
    )
}

/// The schedule in one line: what was asked, what runs, its model peak against the program
/// order's, and for `auto` each candidate's planned arena.
pub fn schedule_line(s: &ScheduleSection) -> String {
    let mut line = format!(
        "{}{}, peak live {} (program order {}), {:.1} ms",
        s.name,
        if s.chosen == s.name {
            String::new()
        } else {
            format!(" -> {}", s.chosen)
        },
        human_bytes(s.peak_live_bytes),
        human_bytes(s.program_peak_live_bytes),
        s.schedule_ms
    );
    if !s.candidates.is_empty() {
        let c: Vec<String> = s
            .candidates
            .iter()
            .map(|c| format!("{} {}", c.name, human_bytes(c.arena_bytes)))
            .collect();
        line += &format!("; arenas: {}", c.join(", "));
    }
    if let Some(n) = &s.note {
        line += &format!("; {n}");
    }
    line
}

/// The budget search in one line: the budget, that it is met, the settings chosen.
pub fn budget_line(b: &BudgetSection) -> String {
    let fixed = if b.fixed.is_empty() {
        String::new()
    } else {
        format!("; fixed by flags: {}", b.fixed.join(", "))
    };
    format!(
        "{} ({} bytes) {}: {} ({} configuration{} planned, {:.1} ms{fixed})",
        human_bytes(b.requested_bytes),
        b.requested_bytes,
        if b.met { "met" } else { "NOT met" },
        b.chosen,
        b.configurations_tried,
        if b.configurations_tried == 1 { "" } else { "s" },
        b.search_ms
    )
}

/// One character per step, its height the live bytes relative to the peak.
pub fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let peak = values.iter().copied().max().unwrap_or(0).max(1);
    values
        .iter()
        .map(|&v| BARS[((v as u128 * 7).div_ceil(peak as u128)) as usize])
        .collect()
}

/// Prints the variants as a table.
pub fn print_variants(v: &[Variant]) {
    let mut t = Table::new(&[
        "in-place",
        "workspace",
        "arena",
        "lower bound",
        "workspace bytes",
    ]);
    for x in v {
        t.row(vec![
            if x.in_place { "on" } else { "off" }.into(),
            x.workspace.clone(),
            human_bytes(x.arena_bytes),
            human_bytes(x.lower_bound_bytes),
            human_bytes(x.workspace_bytes),
        ]);
    }
    print!("{t}");
}

#[derive(Serialize)]
struct PlanJson {
    model: String,
    options: Vec<(String, usize)>,
    planner: String,
    plan: PlanSection,
    variants: Vec<Variant>,
    /// Live bytes at each step (the memory curve M(t)); its maximum is the lower bound.
    memory_curve: Vec<u64>,
    planning_ms: f64,
    /// The `--budget` search; `null` without `--budget`.
    budget: Option<BudgetSection>,
    /// The training graph (`--train`); `null` otherwise.
    training: Option<tessera::report::TrainingSection>,
    /// FLOPs and bytes moved (`graph::cost`).
    compute: tessera::report::ComputeSection,
    /// `--train`: every checkpoint strategy's arena and recompute FLOPs.
    checkpoint_frontier: Option<Vec<tessera::recompute::FrontierRow>>,
}

/// Plans `graph` under `cfg` behind a spinner (searches and `--schedule auto` take seconds).
pub fn plan_with_progress(graph: &Graph, cfg: &PlanConfig) -> Result<PlannedGraph, CliError> {
    let _spinner = Progress::spinner(format!(
        "planning (planner {}, schedule {})",
        cfg.planner,
        cfg.schedule.name()
    ));
    Ok(plan_graph(graph, cfg)?)
}

/// Writes the plan file of `p` (a plan of `graph`) to `path`.
fn write_plan_file(
    path: &std::path::Path,
    args: &PlanArgs,
    graph: &Graph,
    lowering: Lowering,
    p: &PlannedGraph,
    cfg: &PlanConfig,
) -> Result<(), CliError> {
    let file = PlanFile::new(
        &models::model_name(&args.model),
        models::options_used(&args.model),
        graph,
        lowering,
        p,
        cfg,
    )
    .map_err(|source| CliError::PlanFile {
        path: path.display().to_string(),
        source,
    })?;
    std::fs::write(path, file.to_json()).map_err(|source| CliError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Runs the command.
pub fn run(args: &PlanArgs) -> Result<(), CliError> {
    let started = Instant::now();
    let (opts, train_budget) = super::checkpoint::training_budget(&args.opts, &args.train)?;
    let Prepared {
        graph,
        cfg,
        planned,
        mut budget,
        micro_batch,
        lowering,
    } = prepare(&args.model, &opts, opts.alignment.unwrap_or(256))?;
    let trained = super::train::apply(&graph, &args.model, &args.train)?;
    let strategy = super::checkpoint::training_strategy(&args.train, train_budget)?;
    let (p, checkpoint, compute) = match (planned, &trained) {
        (Some(p), _) => {
            let c = super::checkpoint::inference_compute(&p.graph);
            (p, None, c)
        }
        (None, Some(t)) => super::checkpoint::plan_training(t, strategy, &cfg)?,
        (None, None) => {
            let mut p = plan_with_progress(&graph, &cfg)?;
            p.micro_batch = micro_batch;
            let c = super::checkpoint::inference_compute(&p.graph);
            (p, None, c)
        }
    };
    if let Some(path) = &args.out {
        write_plan_file(path, args, &graph, lowering, &p, &cfg)?;
    }
    let training = trained
        .as_ref()
        .map(|t| super::train::section(t, &args.model, &args.train, None));
    if let Some(bytes) = train_budget {
        let b = super::checkpoint::training_budget_section(bytes, &p, checkpoint.as_ref(), started);
        budget = Some(b);
    }
    let mut s = section(&p, &cfg);
    s.checkpoint = checkpoint;
    let curve = per_step(
        &memory_curve(&p.analysis.problem),
        p.analysis.liveness.steps,
    );
    let v = plan_variants(&p.graph, &cfg)?;
    let to = Targets {
        svg: args.svg.as_deref(),
        html: args.html.as_deref(),
    };
    if to.svg.is_some() || to.html.is_some() {
        let pic = Picture::from_plan(&models::model_name(&args.model), &p);
        pictures::write(&to, &pic, &cfg.planner, &s, &v, None)?;
    }
    let shown = output::show_report(args.json.as_deref());
    if shown {
        let extra = Extra {
            budget: budget.as_ref(),
            training: training.as_ref(),
            compute: &compute,
        };
        print_plan(args, &p, &cfg, &s, &extra, &curve);
        print_variants(&v);
    }
    let frontier = match &trained {
        Some(t) => Some(super::checkpoint::frontier(t, &cfg, shown)?),
        None => None,
    };
    if let Some(path) = &args.json {
        let j = PlanJson {
            model: models::model_name(&args.model),
            options: models::options_used(&args.model),
            planner: cfg.planner.clone(),
            plan: s,
            variants: v,
            memory_curve: curve,
            planning_ms: p.plan_ms,
            budget,
            training,
            compute,
            checkpoint_frontier: frontier,
        };
        write_json(path, &j)?;
    }
    Ok(())
}

/// The optional parts of the plan report.
struct Extra<'a> {
    budget: Option<&'a BudgetSection>,
    training: Option<&'a TrainingSection>,
    compute: &'a ComputeSection,
}

/// Prints the plan in readable form.
fn print_plan(
    args: &PlanArgs,
    p: &PlannedGraph,
    cfg: &PlanConfig,
    s: &PlanSection,
    extra: &Extra,
    curve: &[u64],
) {
    let graph = &p.graph;
    println!(
        "model:          {} ({} nodes, {} tensors)",
        models::model_name(&args.model),
        graph.nodes.len(),
        graph.tensors.len()
    );
    println!(
        "planner:        {}{}",
        cfg.planner,
        if s.proven_optimal {
            " (proven optimal)"
        } else {
            ""
        }
    );
    println!(
        "arena:          {} ({} bytes)",
        human_bytes(s.arena_bytes),
        s.arena_bytes
    );
    println!(
        "lower bound:    {} ({} bytes), ratio {:.4}",
        human_bytes(s.lower_bound_bytes),
        s.lower_bound_bytes,
        s.ratio
    );
    println!(
        "naive static:   {} ({:.2}x the arena)",
        human_bytes(s.naive_static_bytes),
        s.naive_static_bytes as f64 / s.arena_bytes.max(1) as f64
    );
    println!("weights:        {}", human_bytes(s.weights_bytes));
    println!("dtype:          {}", dtype_line(s));
    println!("in-place nodes: {}", s.in_place_nodes);
    println!("attention:      {}", s.attention);
    print_conv(&s.conv, 16);
    println!("micro-batch:    {}", micro_batch_line(s.micro_batch));
    println!(
        "inputs:         {}",
        inputs_line(s.streamed_inputs, s.staging_bytes)
    );
    println!("alignment:      {}", s.alignment);
    println!("schedule:       {}", schedule_line(&s.schedule));
    println!("planning time:  {:.1} ms", p.plan_ms);
    if let Some(t) = extra.training {
        println!("training:       {}", super::train::line(t));
    }
    if let Some(c) = &s.checkpoint {
        println!("checkpoint:     {}", super::checkpoint::line(c));
    }
    println!(
        "compute:        {}",
        super::checkpoint::compute_line(extra.compute)
    );
    if let Some(b) = extra.budget {
        println!("budget:         {}", budget_line(b));
    }
    println!(
        "M(t):           {} (live bytes per step, peak = lower bound)",
        sparkline(curve)
    );
    if let Some(path) = &args.out {
        println!("plan file:      {}", path.display());
    }
    println!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_step_expands_breakpoints() {
        // 4 bytes live on [0, 2), 10 on [2, 3), nothing after.
        assert_eq!(per_step(&[(0, 4), (2, 10), (3, 0)], 4), vec![4, 4, 10, 0]);
    }

    #[test]
    fn sparkline_scales_to_the_peak() {
        assert_eq!(sparkline(&[0, 5, 10]), "▁▅█");
    }
}
