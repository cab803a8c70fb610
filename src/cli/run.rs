//! `tessera run`: plan, execute on the GPU (or the CPU reference when there is none), compare
//! with the CPU reference, measure, and print/write the report.

use super::args::RunArgs;
use super::{CliError, models, plan, write_json};
use tessera::execute::{ExecuteOptions, TOLERANCE, execute};
use tessera::pipeline::plan_graph;
use tessera::report::{RunReport, human_bytes};
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
    println!(
        "device allocated: {}",
        opt_bytes(r.measured.device_peak_bytes)
    );
    println!(
        "device reserved:  {}",
        opt_bytes(r.measured.device_reserved_bytes)
    );
    println!("one buffer:       {}", opt_bytes(r.measured.buffer_bytes));
    println!("params buffer:    {}", opt_bytes(r.measured.params_bytes));
    if let Some(hw) = r.measured.high_water_bytes {
        println!(
            "high-water:       {} ({hw} bytes of the arena touched)",
            human_bytes(hw)
        );
    }
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
    if let Some(hw) = r.measured.high_water_bytes {
        if hw > r.plan.arena_bytes {
            return Err(CliError::Check(format!(
                "{}: the run touched {hw} arena bytes, beyond the planned {}",
                r.model, r.plan.arena_bytes
            )));
        }
    }
    Ok(())
}

/// Runs the command.
pub fn run(args: &RunArgs) -> Result<(), CliError> {
    let graph = models::build_model(&args.model)?;
    let gpu = open_gpu(args.require_gpu)?;
    let alignment = match (&gpu, args.opts.alignment) {
        (Some(g), Some(a)) => a.max(g.min_storage_buffer_offset_alignment()),
        (Some(g), None) => g.min_storage_buffer_offset_alignment(),
        (None, a) => a.unwrap_or(256),
    };
    let cfg = plan::config(&args.opts, alignment)?;
    let planned = plan_graph(&graph, &cfg)?;
    let section = plan::section(&planned, &cfg);
    let exec = execute(
        &graph,
        &planned,
        gpu.as_ref(),
        ExecuteOptions {
            validate: args.validate,
        },
    )?;
    let report = exec.into_report(
        &models::model_name(&args.model),
        models::options_used(&args.model),
        &cfg,
        section,
    );
    print_report(&report);
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    check(&report)
}
