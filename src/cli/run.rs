//! `tessera run`: plan, execute on the GPU (or the CPU reference when there is none), compare
//! with the CPU reference, measure, and print/write the report.

use super::args::RunArgs;
use super::{CliError, models, plan, write_json};
use tessera::execute::{ExecuteOptions, TOLERANCE, execute};
use tessera::graph::Graph;
use tessera::pipeline::{PlanConfig, PlannedGraph, plan_graph, plan_variants};
use tessera::report::{RunReport, Table, human_bytes};
use tessera::runtime::Gpu;

/// Opens the GPU; without one, explains and returns `None` unless `require` is set.
pub fn open_gpu(require: bool) -> Result<Option<Gpu>, CliError> {
    match Gpu::new() {
        Ok(gpu) => Ok(Some(gpu)),
        Err(e) if require => Err(e.into()),
        Err(e) => {
            eprintln!(
                "note: no GPU adapter available ({e}); running the CPU reference backend only"
            );
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
    plan::print_conv(&r.plan.conv, 18);
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
    match r.correctness.max_abs_err {
        Some(e) => println!(
            "max abs err:      {e:.3e} (scaled {:.3e}, limit {TOLERANCE:e}) {}",
            r.correctness.scaled_err.unwrap_or(f64::NAN),
            if r.correctness.passed { "ok" } else { "FAILED" }
        ),
        None => println!("max abs err:      n/a (no GPU run)"),
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
        arena_share(r).map_or("n/a".into(), signed_bytes),
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
    if let (Some(planned), Some(dynamic)) = (arena_share(r), r.measured.naive_dynamic_peak_bytes) {
        println!(
            "measured on the device: planned arena {} (the one buffer's allocator delta minus weights and guard bands) vs naive-dynamic peak {} ({:.2}x); that delta minus the planned arena: {:+} bytes (allocator rounding)",
            signed_bytes(planned),
            human_bytes(dynamic),
            dynamic as f64 / planned.max(1) as f64,
            i128::from(planned) - i128::from(r.plan.arena_bytes),
        );
    }
}

/// The arena's share of the one buffer's allocator delta: `arena_device_bytes` minus the
/// weight region and the guard bands (comparable with the baselines, which exclude weights).
fn arena_share(r: &RunReport) -> Option<i64> {
    let others = r.plan.weights_bytes + r.measured.guard_bytes?;
    let d = i128::from(r.measured.arena_device_bytes?) - i128::from(others);
    i64::try_from(d).ok()
}

/// Checks that a report passed; an error names what failed.
pub fn check(r: &RunReport) -> Result<(), CliError> {
    if !r.correctness.passed {
        return Err(CliError::Check(format!(
            "{}: GPU output differs from the CPU reference: scaled error {:?} > {TOLERANCE:e}",
            r.model, r.correctness.scaled_err
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

/// Plans `graph`, executes it (GPU when given, CPU reference always) and builds the report,
/// with the arena under every reuse setting alongside.
pub fn plan_and_execute(
    graph: &Graph,
    model: &str,
    options: Vec<(String, usize)>,
    cfg: &PlanConfig,
    gpu: Option<&Gpu>,
    opts: ExecuteOptions,
) -> Result<RunReport, CliError> {
    let planned = plan_graph(graph, cfg)?;
    execute_planned(planned, model, options, cfg, gpu, opts)
}

/// [`execute_planned`], also returning the training steps' figures
/// ([`ExecuteOptions::training`]).
pub fn execute_planned_training(
    planned: PlannedGraph,
    model: &str,
    options: Vec<(String, usize)>,
    cfg: &PlanConfig,
    gpu: Option<&Gpu>,
    opts: ExecuteOptions,
) -> Result<(RunReport, Option<tessera::execute::TrainingRun>), CliError> {
    let section = plan::section(&planned, cfg);
    let exec = execute(&planned.graph, &planned, gpu, opts)?;
    let training = exec.training.clone();
    let variants = plan_variants(&planned.graph, cfg)?;
    Ok((
        exec.into_report(model, options, cfg, section, variants),
        training,
    ))
}

/// Executes an already planned graph (GPU when given, CPU reference always) and builds the
/// report, with the arena under every reuse setting alongside.
pub fn execute_planned(
    planned: PlannedGraph,
    model: &str,
    options: Vec<(String, usize)>,
    cfg: &PlanConfig,
    gpu: Option<&Gpu>,
    opts: ExecuteOptions,
) -> Result<RunReport, CliError> {
    let section = plan::section(&planned, cfg);
    // The layout describes the scheduled graph: execute that one, not the caller's order.
    let exec = execute(&planned.graph, &planned, gpu, opts)?;
    let variants = plan_variants(&planned.graph, cfg)?;
    Ok(exec.into_report(model, options, cfg, section, variants))
}

/// Runs the command.
pub fn run(args: &RunArgs) -> Result<(), CliError> {
    let gpu = open_gpu(args.require_gpu)?;
    let alignment = match (&gpu, args.opts.alignment) {
        (Some(g), Some(a)) => a.max(g.min_storage_buffer_offset_alignment()),
        (Some(g), None) => g.min_storage_buffer_offset_alignment(),
        (None, a) => a.unwrap_or(256),
    };
    let prepared = plan::prepare(&args.model, &args.opts, alignment)?;
    let cfg = prepared.cfg;
    let trained = super::train::apply(&prepared.graph, &args.model, &args.train)?;
    let planned = match (prepared.planned, &trained) {
        (Some(_), Some(_)) => {
            return Err(CliError::Usage(
                "--train with --budget is not supported yet".into(),
            ));
        }
        (Some(p), None) => p,
        (None, Some(t)) => plan_graph(&t.graph, &cfg)?,
        (None, None) => plan_graph(&prepared.graph, &cfg)?,
    };
    let opts = ExecuteOptions {
        validate: args.validate,
        baselines: !args.no_baselines,
        training: trained.as_ref().map(|t| super::train::spec(t, &args.train)),
    };
    let name = models::model_name(&args.model);
    let (mut report, training) = execute_planned_training(
        planned,
        &name,
        models::options_used(&args.model),
        &cfg,
        gpu.as_ref(),
        opts,
    )?;
    report.budget = prepared.budget;
    report.training = trained
        .as_ref()
        .map(|t| super::train::section(t, &args.model, &args.train, training.as_ref()));
    print_report(&report);
    print_comparison(&report);
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    check(&report)
}
