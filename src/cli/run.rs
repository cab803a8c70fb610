//! `tessera run`: plan, execute on the GPU (or the CPU reference when there is none), compare
//! with the CPU reference, measure, and print/write the report.

use super::args::{ModelArgs, RunArgs};
use super::output::{self, Progress};
use super::pictures::{self, Targets};
use super::{CliError, models, plan, write_json};
use std::path::Path;
use tessera::execute::{ExecuteOptions, execute};
use tessera::pipeline::{PlanConfig, PlannedGraph, plan_variants};
use tessera::planfile::{DeviceLimits, Loaded, PlanFile};
use tessera::report::{
    BudgetSection, CheckpointSection, ComputeSection, Picture, RunReport, Table, human_bytes,
};
use tessera::runtime::Gpu;
use tessera::transform::autodiff::TrainingGraph;

/// Opens the GPU; without one, explains and returns `None` unless `require` is set.
pub fn open_gpu(require: bool) -> Result<Option<Gpu>, CliError> {
    match Gpu::new() {
        Ok(gpu) => Ok(Some(gpu)),
        Err(e) if require => Err(e.into()),
        Err(e) => {
            output::note(&format!(
                "no GPU adapter available ({e}); running the CPU reference backend only"
            ));
            Ok(None)
        }
    }
}

fn opt_bytes(b: Option<u64>) -> String {
    b.map_or_else(
        || "not available".into(),
        |b| format!("{} ({b} bytes)", human_bytes(b)),
    )
}

/// A signed byte count in readable form, with its sign (`+1.00 KiB`, `-48 B`).
pub fn signed_bytes(b: i64) -> String {
    let sign = if b < 0 { "-" } else { "+" };
    format!("{sign}{}", human_bytes(b.unsigned_abs()))
}

fn opt_signed(b: Option<i64>) -> String {
    b.map_or_else(
        || "not available".into(),
        |b| format!("{} ({b:+} bytes)", signed_bytes(b)),
    )
}

/// The allocator figures of a report, one line each.
fn print_device_figures(r: &RunReport) {
    let m = &r.measured;
    println!(
        "one buffer:       {} = weights {} + guard bands {} + arena {}",
        opt_bytes(m.buffer_bytes),
        r.plan.weights_bytes,
        m.guard_bytes.unwrap_or(0),
        m.buffer_bytes
            .unwrap_or(0)
            .saturating_sub(r.plan.weights_bytes + m.guard_bytes.unwrap_or(0))
    );
    let rounding = match (m.arena_device_bytes, m.buffer_bytes) {
        (Some(d), Some(b)) => format!(
            "; minus the buffer size: {:+} bytes (allocator rounding)",
            i128::from(d) - i128::from(b)
        ),
        _ => String::new(),
    };
    println!(
        "buffer allocated: {} allocator growth creating the one buffer alone{rounding}",
        opt_signed(m.arena_device_bytes)
    );
    println!(
        "buffer reserved:  {}",
        opt_signed(m.arena_device_reserved_bytes)
    );
    if let Some(staging) = m.staging_bytes {
        println!(
            "input staging:    {staging} bytes of host-upload memory beside the one buffer, allocator growth creating it {}",
            opt_signed(m.staging_device_bytes)
        );
    }
    println!(
        "device peak:      allocated {}, reserved {} (peak over the run's samples minus the sample before compiling)",
        opt_signed(m.device_peak_bytes),
        opt_signed(m.device_peak_reserved_bytes)
    );
}

/// Prints a report in readable form.
pub fn print_report(r: &RunReport) {
    println!("model:            {} {:?}", r.model, r.options);
    println!(
        "adapter:          {} ({}, {})",
        r.adapter.name, r.adapter.backend, r.adapter.device_type
    );
    println!(
        "planner:          {}{}",
        r.planner,
        if r.plan.proven_optimal {
            " (proven optimal)"
        } else {
            ""
        }
    );
    println!(
        "arena (planned):  {} ({} bytes)",
        human_bytes(r.plan.arena_bytes),
        r.plan.arena_bytes
    );
    println!("attention:        {}", r.plan.attention);
    println!(
        "lower bound:      {} (ratio {:.4})",
        human_bytes(r.plan.lower_bound_bytes),
        r.plan.ratio
    );
    println!(
        "naive static:     {}",
        human_bytes(r.plan.naive_static_bytes)
    );
    println!("weights:          {}", human_bytes(r.plan.weights_bytes));
    println!("dtype:            {}", plan::dtype_line(&r.plan));
    if let (Some(s), "f16") = (&r.adapter.f16_storage, r.plan.dtype.as_str()) {
        println!("f16 storage:      {s}");
    }
    plan::print_conv(&r.plan.conv, 18);
    println!(
        "micro-batch:      {}",
        plan::micro_batch_line(r.plan.micro_batch)
    );
    println!(
        "inputs:           {}",
        plan::inputs_line(r.plan.streamed_inputs, r.plan.staging_bytes)
    );
    println!(
        "schedule:         {}",
        plan::schedule_line(&r.plan.schedule)
    );
    if let Some(b) = &r.budget {
        println!("budget:           {}", plan::budget_line(b));
    }
    if let Some(t) = &r.training {
        println!("training:         {}", super::train::line(t));
    }
    if let Some(c) = &r.plan.checkpoint {
        println!("checkpoint:       {}", super::checkpoint::line(c));
    }
    if let Some(c) = &r.compute {
        println!("compute:          {}", super::checkpoint::compute_line(c));
    }
    print_device_figures(r);
    println!("params buffer:    {}", opt_bytes(r.measured.params_bytes));
    if let Some(hw) = r.measured.high_water_bytes {
        println!(
            "touched extent:   {} ({hw} bytes of the arena changed by a run: use, not safety)",
            human_bytes(hw)
        );
    }
    println!("guard check:      {}", r.validate.guard_check);
    if r.validate.clobber_check != "skipped" {
        println!("clobber check:    {}", r.validate.clobber_check);
    }
    if let Some(d) = &r.validate.detail {
        println!("validation:       {d}");
    }
    let c = &r.correctness;
    match c.max_abs_err {
        Some(e) => println!(
            "max abs err:      {e:.3e} vs the {} reference (scaled {:.3e}, limit {:.3e}) {}",
            c.reference_dtype,
            c.scaled_err.unwrap_or(f64::NAN),
            c.threshold,
            if c.passed { "ok" } else { "FAILED" }
        ),
        None => println!("max abs err:      n/a (no GPU run)"),
    }
    if let Some(f) = &c.f16_reference {
        println!(
            "vs f16 reference: max abs err {} (scaled {}, limit {:.3e}) {}",
            f.max_abs_err.map_or("n/a".into(), |e| format!("{e:.3e}")),
            f.scaled_err.map_or("n/a".into(), |e| format!("{e:.3e}")),
            f.threshold,
            if f.passed { "ok" } else { "FAILED" }
        );
        println!("threshold:        {}", c.threshold_derivation);
    }
    let ms = |x: Option<f64>| x.map_or("n/a".to_string(), |v| format!("{v:.1} ms"));
    println!(
        "time:             plan {:.1} ms, compile {}, run {}, cpu reference {:.1} ms",
        r.timings.plan_ms,
        ms(r.timings.compile_ms),
        ms(r.timings.run_ms),
        r.timings.cpu_ms
    );
}

/// Prints the side-by-side comparison: lower bound, the arena under each reuse setting, the
/// measured planned run, and each executed baseline.
pub fn print_comparison(r: &RunReport) {
    println!();
    let mut t = Table::new(&[
        "scheme",
        "bytes",
        "vs lower bound",
        "measured device",
        "run time",
    ]);
    let lb = r.plan.lower_bound_bytes.max(1) as f64;
    let ratio = |b: u64| format!("{:.3}x", b as f64 / lb);
    t.row(vec![
        "lower bound".into(),
        human_bytes(r.plan.lower_bound_bytes),
        "1.000x".into(),
        String::new(),
        String::new(),
    ]);
    for v in &r.variants {
        t.row(vec![
            format!(
                "plan: in-place {}, workspace {}",
                if v.in_place { "on" } else { "off" },
                v.workspace
            ),
            human_bytes(v.arena_bytes),
            ratio(v.arena_bytes),
            String::new(),
            String::new(),
        ]);
    }
    let ms = |x: f64| format!("{x:.1} ms");
    t.row(vec![
        "planned run (buffer delta minus weights and guards)".into(),
        human_bytes(r.plan.arena_bytes),
        ratio(r.plan.arena_bytes),
        r.arena_share().map_or("n/a".into(), signed_bytes),
        r.timings.run_ms.map_or("n/a".into(), ms),
    ]);
    if let Some(hw) = r.measured.high_water_bytes {
        t.row(vec![
            "touched extent (sentinel scan)".into(),
            human_bytes(hw),
            ratio(hw),
            String::new(),
            String::new(),
        ]);
    }
    let arena = r.plan.arena_bytes.max(1) as f64;
    for b in &r.baselines {
        let differ = if b.outputs_equal_planned {
            ""
        } else {
            ", OUTPUTS DIFFER"
        };
        t.row(vec![
            format!(
                "{} reserved: {:.2}x arena (held {}{differ})",
                b.name,
                b.reserved_peak_bytes as f64 / arena,
                human_bytes(b.held_peak_bytes),
            ),
            human_bytes(b.reserved_peak_bytes),
            ratio(b.reserved_peak_bytes),
            b.measured_peak_bytes.map_or("n/a".into(), human_bytes),
            ms(b.run_ms),
        ]);
    }
    print!("{t}");
    if let (Some(planned), Some(dynamic)) = (r.arena_share(), r.measured.naive_dynamic_peak_bytes) {
        println!(
            "measured on the device: planned arena {} (the one buffer's allocator delta minus weights and guard bands) vs naive-dynamic peak {} ({:.2}x); that delta minus the planned arena: {:+} bytes (allocator rounding)",
            signed_bytes(planned),
            human_bytes(dynamic),
            dynamic as f64 / planned.max(1) as f64,
            i128::from(planned) - i128::from(r.plan.arena_bytes),
        );
    }
}

/// Checks that a report passed; an error names what failed.
pub fn check(r: &RunReport) -> Result<(), CliError> {
    let c = &r.correctness;
    if let Some(f) = c.f16_reference.as_ref().filter(|f| !f.passed) {
        return Err(CliError::Check(format!(
            "{}: GPU output differs from the f16 CPU reference: scaled error {:?} > {:e}",
            r.model, f.scaled_err, f.threshold
        )));
    }
    if !c.passed {
        return Err(CliError::Check(format!(
            "{}: GPU output differs from the {} CPU reference: scaled error {:?} > {:e}",
            r.model, c.reference_dtype, c.scaled_err, c.threshold
        )));
    }
    if r.validate.clobber_check == "failed" {
        return Err(CliError::Check(format!(
            "{}: clobber check failed: {}",
            r.model,
            r.validate.detail.as_deref().unwrap_or("")
        )));
    }
    if let Some(b) = r.baselines.iter().find(|b| !b.outputs_equal_planned) {
        return Err(CliError::Check(format!(
            "{}: baseline {} produced different outputs than the planned run",
            r.model, b.name
        )));
    }
    if !matches!(r.validate.guard_check.as_str(), "passed" | "skipped") {
        return Err(CliError::Check(format!(
            "{}: guard check failed: {}",
            r.model, r.validate.guard_check
        )));
    }
    Ok(())
}

/// Executes an already planned graph (GPU when given, CPU reference always) and builds the
/// report, with the arena under every reuse setting alongside; with `opts.training`, also what
/// the training steps measured.
pub fn execute_planned_training(
    planned: PlannedGraph,
    model: &str,
    options: Vec<(String, usize)>,
    cfg: &PlanConfig,
    gpu: Option<&Gpu>,
    opts: ExecuteOptions,
) -> Result<(RunReport, Option<tessera::execute::TrainingRun>), CliError> {
    let section = plan::section(&planned, cfg);
    let steps = opts
        .training
        .as_ref()
        .map_or(String::new(), |t| format!(" {} training step(s)", t.steps));
    let running = Progress::spinner(format!(
        "{model}: executing{steps}{}{} and the CPU reference",
        if gpu.is_some() { " on the device" } else { "" },
        if opts.validate { ", validating" } else { "" }
    ));
    // The layout describes the scheduled graph: execute that one, not the caller's order.
    let exec = execute(&planned.graph, &planned, gpu, opts)?;
    drop(running);
    let training = exec.training.clone();
    let variants = plan_variants(&planned.graph, cfg)?;
    Ok((
        exec.into_report(model, options, cfg, section, variants),
        training,
    ))
}

/// [`execute_planned_training`] for inference: the report alone.
pub fn execute_planned(
    planned: PlannedGraph,
    model: &str,
    options: Vec<(String, usize)>,
    cfg: &PlanConfig,
    gpu: Option<&Gpu>,
    opts: ExecuteOptions,
) -> Result<RunReport, CliError> {
    Ok(execute_planned_training(planned, model, options, cfg, gpu, opts)?.0)
}

/// The model of a plan file as command-line model arguments: the built-in model and sizes it
/// was planned for. A plan for a graph file needs `--graph`.
fn plan_model(file: &PlanFile) -> Result<ModelArgs, CliError> {
    let usage = |m: String| CliError::Usage(m);
    if !tessera::models::catalog()
        .iter()
        .any(|m| m.name == file.model)
    {
        return Err(usage(format!(
            "the plan file was made for `{}`, not a built-in model: give --graph FILE",
            file.model.escape_debug()
        )));
    }
    let mut m = ModelArgs {
        model: Some(file.model.clone()),
        graph: None,
        dtype: Some(file.dtype.clone()),
        batch: None,
        seq: None,
        image: None,
        width: None,
        layers: None,
        heads: None,
        vocab: None,
        nodes: None,
        seed: None,
    };
    for (name, value) in &file.options {
        let slot = match name.as_str() {
            "batch" => &mut m.batch,
            "seq" => &mut m.seq,
            "image" => &mut m.image,
            "width" => &mut m.width,
            "layers" => &mut m.layers,
            "heads" => &mut m.heads,
            "vocab" => &mut m.vocab,
            "nodes" => &mut m.nodes,
            "seed" => &mut m.seed,
            other => {
                return Err(usage(format!(
                    "the plan file names an unknown model option `{}`",
                    other.escape_debug()
                )));
            }
        };
        *slot = Some(*value);
    }
    Ok(m)
}

/// The model to run: as given, or with neither --model nor --graph the plan file's.
fn model_of(args: &RunArgs, file: &PlanFile) -> Result<ModelArgs, CliError> {
    let m = &args.model;
    if m.model.is_some() || m.graph.is_some() {
        return Ok(m.clone());
    }
    let sizes = [
        m.batch, m.seq, m.image, m.width, m.layers, m.heads, m.vocab, m.nodes, m.seed,
    ];
    if sizes.iter().any(Option::is_some) {
        return Err(CliError::Usage(
            "size options need --model (or --graph); without them `run --plan` takes the plan file's model and sizes".into(),
        ));
    }
    plan_model(file)
}

/// Reads the plan file at `path` and checks it against the graph of the model (as given, or
/// the file's) and the device.
fn load_plan_file(
    path: &Path,
    args: &RunArgs,
    gpu: Option<&Gpu>,
) -> Result<(Loaded, ModelArgs), CliError> {
    let err = |source| CliError::PlanFile {
        path: path.display().to_string(),
        source,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
    let file = PlanFile::parse(&text).map_err(err)?;
    let model = model_of(args, &file)?;
    let graph = models::build_model(&model)?;
    let limits = gpu.map(|g| DeviceLimits {
        offset_alignment: g.min_storage_buffer_offset_alignment(),
        max_binding_bytes: g.max_binding(),
        max_buffer_bytes: g.max_buffer(),
    });
    let mut loaded = file.load(&graph, limits.as_ref()).map_err(err)?;
    loaded.cfg.budget.time_limit = super::seconds(args.opts.time_limit)?;
    Ok((loaded, model))
}

/// What `run` executes: the plan and its config, the report sections planning produced, and
/// the training graph with `--train`.
struct Prepared {
    planned: PlannedGraph,
    cfg: PlanConfig,
    budget: Option<BudgetSection>,
    model: ModelArgs,
    checkpoint: Option<CheckpointSection>,
    compute: ComputeSection,
    trained: Option<TrainingGraph>,
}

/// The planned graph and config: from `--plan`, else planned as the flags say (with the
/// `--budget` section when asked; with `--train`, the training graph, checkpointed as
/// `--checkpoint` says).
fn planned(args: &RunArgs, gpu: Option<&Gpu>) -> Result<Prepared, CliError> {
    if let Some(path) = &args.plan {
        let (l, model) = load_plan_file(path, args, gpu)?;
        let compute = super::checkpoint::inference_compute(&l.planned.graph);
        return Ok(Prepared {
            planned: l.planned,
            cfg: l.cfg,
            budget: None,
            model,
            checkpoint: None,
            compute,
            trained: None,
        });
    }
    let alignment = match (gpu, args.opts.alignment) {
        (Some(g), Some(a)) => a.max(g.min_storage_buffer_offset_alignment()),
        (Some(g), None) => g.min_storage_buffer_offset_alignment(),
        (None, a) => a.unwrap_or(256),
    };
    let started = std::time::Instant::now();
    let (opts, train_budget) = super::checkpoint::training_budget(&args.opts, &args.train)?;
    let mut prepared = plan::prepare(&args.model, &opts, alignment)?;
    let trained = super::train::apply(&prepared.graph, &args.model, &args.train)?;
    let strategy = super::checkpoint::training_strategy(&args.train, train_budget)?;
    let (planned, checkpoint, compute) = match &trained {
        Some(t) => super::checkpoint::plan_training(t, strategy, &prepared.cfg)?,
        None => {
            let p = prepared.plan()?;
            let c = super::checkpoint::inference_compute(&p.graph);
            (p, None, c)
        }
    };
    let budget = match train_budget {
        Some(bytes) => Some(super::checkpoint::training_budget_section(
            bytes,
            &planned,
            checkpoint.as_ref(),
            started,
        )),
        None => prepared.budget,
    };
    Ok(Prepared {
        planned,
        cfg: prepared.cfg,
        budget,
        model: args.model.clone(),
        checkpoint,
        compute,
        trained,
    })
}

/// Runs the command.
pub fn run(args: &RunArgs) -> Result<(), CliError> {
    let gpu = open_gpu(args.require_gpu)?;
    let Prepared {
        planned,
        cfg,
        budget,
        model,
        checkpoint,
        compute,
        trained,
    } = planned(args, gpu.as_ref())?;
    let opts = ExecuteOptions {
        validate: args.validate,
        baselines: !args.no_baselines,
        training: trained.as_ref().map(|t| super::train::spec(t, &args.train)),
    };
    let name = models::model_name(&model);
    let to = Targets {
        svg: args.svg.as_deref(),
        html: args.html.as_deref(),
    };
    let mut pic =
        (to.svg.is_some() || to.html.is_some()).then(|| Picture::from_plan(&name, &planned));
    let (mut report, training) = execute_planned_training(
        planned,
        &name,
        models::options_used(&model),
        &cfg,
        gpu.as_ref(),
        opts,
    )?;
    report.budget = budget;
    report.plan.checkpoint = checkpoint;
    report.compute = Some(compute);
    report.training = trained.as_ref().map(|t| {
        let mut s = super::train::section(t, &model, &args.train, training.as_ref());
        s.weights_max_abs_err = report.correctness.max_abs_err;
        s
    });
    if output::show_report(args.json.as_deref()) {
        print_report(&report);
        print_comparison(&report);
    }
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    if let Some(pic) = &mut pic {
        pic.add_run(&report);
        let (plan, variants) = (&report.plan, &report.variants);
        pictures::write(&to, pic, &report.planner, plan, variants, Some(&report))?;
    }
    check(&report)
}
