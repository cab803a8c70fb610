//! `tessera plan`: analyse and plan a model; print arena, lower bound, ratio and how in-place
//! reuse and each workspace policy change the arena.

use super::args::{ModelArgs, PlanArgs, PlanOpts};
use super::{CliError, models, write_json};
use serde::Serialize;
use tessera::analysis::{AnalysisOptions, WorkspacePolicy};
use tessera::budget;
use tessera::bytes::{check_alignment, parse_size};
use tessera::graph::conv::{self, ConvChoice, ConvMode};
use tessera::graph::{AttentionKernel, Graph};
use tessera::pipeline::{PlanConfig, PlannedGraph, plan_graph, plan_variants};
use tessera::plan::{Budget, memory_curve};
use tessera::report::{BudgetSection, PlanSection, ScheduleSection, Table, Variant, human_bytes};
use tessera::schedule::Scheduler;

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
        },
        schedule,
    })
}

/// The model's graph with every attention node set to run the `--attention` kernel, so that
/// analysis and the planner see the workspace that kernel needs.
pub fn model_graph(model: &ModelArgs, opts: &PlanOpts) -> Result<Graph, CliError> {
    let kernel = AttentionKernel::from_name(&opts.attention).ok_or_else(|| {
        CliError::Usage(format!(
            "unknown attention kernel `{}` (known: tiled, materialized)",
            opts.attention
        ))
    })?;
    let mut graph = models::build_model(model)?;
    graph.set_attention_kernel(kernel)?;
    Ok(graph)
}

/// `graph` with each conv op's lowering chosen by `--conv` under `--workspace-cap`.
pub fn conv_graph(graph: Graph, opts: &PlanOpts) -> Result<Graph, CliError> {
    let mode = ConvMode::from_name(&opts.conv).ok_or_else(|| {
        CliError::Usage(format!(
            "unknown --conv `{}` (known: im2col, direct, auto)",
            opts.conv.escape_debug()
        ))
    })?;
    let cap = match &opts.workspace_cap {
        Some(text) => {
            Some(parse_size(text).map_err(|e| CliError::Usage(format!("--workspace-cap: {e}")))?)
        }
        None => None,
    };
    Ok(conv::choose(&graph, mode, cap)?)
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
}

/// The graph and config from the flags, or with `--budget` the first configuration whose
/// arena fits (see `tessera::budget`), planned at `alignment`.
pub fn prepare(model: &ModelArgs, opts: &PlanOpts, alignment: u64) -> Result<Prepared, CliError> {
    let cfg = config(opts, alignment)?;
    let Some(text) = &opts.budget else {
        let graph = conv_graph(model_graph(model, opts)?, opts)?;
        return Ok(Prepared {
            graph,
            cfg,
            planned: None,
            budget: None,
        });
    };
    let bytes = parse_size(text).map_err(|e| CliError::Usage(format!("--budget: {e}")))?;
    let c = budget::search(&models::build_model(model)?, &cfg, bytes)?;
    Ok(Prepared {
        graph: c.graph,
        cfg: c.cfg,
        planned: Some(c.planned),
        budget: Some(c.section),
    })
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
    }
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
    format!(
        "{} ({} bytes) {}: {} ({} configuration{} planned, {:.1} ms)",
        human_bytes(b.requested_bytes),
        b.requested_bytes,
        if b.met { "met" } else { "NOT met" },
        b.chosen,
        b.configurations_tried,
        if b.configurations_tried == 1 { "" } else { "s" },
        b.search_ms
    )
}

/// Live bytes at every step `0..steps` from the curve's breakpoints.
pub fn per_step(curve: &[(u64, u64)], steps: u64) -> Vec<u64> {
    let mut out = Vec::with_capacity(steps as usize);
    let mut k = 0;
    let mut live = 0;
    for t in 0..steps {
        while k < curve.len() && curve[k].0 <= t {
            live = curve[k].1;
            k += 1;
        }
        out.push(live);
    }
    out
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
}

/// Runs the command.
pub fn run(args: &PlanArgs) -> Result<(), CliError> {
    let Prepared {
        graph,
        cfg,
        planned,
        budget,
    } = prepare(&args.model, &args.opts, args.opts.alignment.unwrap_or(256))?;
    let trained = super::train::apply(&graph, &args.model, &args.train)?;
    if trained.is_some() && planned.is_some() {
        return Err(CliError::Usage(
            "--train with --budget is not supported yet".into(),
        ));
    }
    let graph = trained.as_ref().map_or(graph, |t| t.graph.clone());
    let p = match planned {
        Some(p) => p,
        None => plan_graph(&graph, &cfg)?,
    };
    let training = trained
        .as_ref()
        .map(|t| super::train::section(t, &args.model, &args.train, None));
    let s = section(&p, &cfg);
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
    println!("in-place nodes: {}", s.in_place_nodes);
    println!("attention:      {}", s.attention);
    print_conv(&s.conv, 16);
    println!("alignment:      {}", s.alignment);
    println!("schedule:       {}", schedule_line(&s.schedule));
    println!("planning time:  {:.1} ms", p.plan_ms);
    if let Some(t) = &training {
        println!("training:       {}", super::train::line(t));
    }
    if let Some(b) = &budget {
        println!("budget:         {}", budget_line(b));
    }
    let curve = per_step(
        &memory_curve(&p.analysis.problem),
        p.analysis.liveness.steps,
    );
    println!(
        "M(t):           {} (live bytes per step, peak = lower bound)",
        sparkline(&curve)
    );
    println!();
    let v = plan_variants(&p.graph, &cfg)?;
    print_variants(&v);
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
        };
        write_json(path, &j)?;
    }
    Ok(())
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
