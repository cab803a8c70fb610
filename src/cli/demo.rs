//! `tessera demo`: every built-in model at its default size, planned, run on the GPU, checked
//! against the CPU reference, in one table.

use super::args::DemoArgs;
use super::output::{self, Progress};
use super::run::{check, execute_planned, open_gpu, signed_bytes};
use super::{CliError, pictures, plan, write_json};
use tessera::execute::ExecuteOptions;
use tessera::models::{ModelOptions, build, catalog};
use tessera::pipeline::plan_graph;
use tessera::report::{Picture, RunReport, Table, human_bytes};
use tessera::transform::precision::cast_floats;

/// The reserved bytes of baseline `name` and their ratio to the planned arena ("n/a" when it
/// did not run).
fn baseline_cell(r: &RunReport, name: &str) -> String {
    r.baselines
        .iter()
        .find(|b| b.name == name)
        .map_or("n/a".into(), |b| {
            let ratio = b.reserved_peak_bytes as f64 / r.plan.arena_bytes.max(1) as f64;
            format!("{} ({ratio:.1}x)", human_bytes(b.reserved_peak_bytes))
        })
}

/// Runs the command.
pub fn run(args: &DemoArgs) -> Result<(), CliError> {
    let gpu = open_gpu(args.require_gpu)?;
    let alignment = gpu
        .as_ref()
        .map_or(256, |g| g.min_storage_buffer_offset_alignment());
    let opts = super::args::PlanOpts::defaults();
    let cfg = plan::config(&opts, alignment)?;
    let dtype = super::models::parse_dtype(&args.dtype)?;
    let mut table = Table::new(&[
        "model",
        "adapter",
        "arena",
        "lower bound",
        "naive static",
        "naive dynamic*",
        "caching reserved",
        "ggml-style pool",
        "weights",
        "measured device*",
        "max abs err",
        "time",
    ]);
    let mut reports = Vec::new();
    // Full-size models (resnet50, gpt2-small) are benchmarks: minutes on a CPU device.
    let models: Vec<_> = catalog().into_iter().filter(|m| !m.full_size).collect();
    let progress = Progress::bar(models.len() as u64, "demo");
    for info in models {
        progress.set_message(format!("demo: {}", info.name));
        let graph = cast_floats(&build(info.name, &ModelOptions::default())?, dtype)?;
        let options = info
            .options
            .iter()
            .map(|(o, d, _)| (o.to_string(), *d))
            .collect();
        let opts = ExecuteOptions {
            validate: true,
            baselines: true,
            training: None,
        };
        let planned = plan_graph(&graph, &cfg)?;
        let mut pic = Picture::from_plan(info.name, &planned);
        let r = execute_planned(planned, info.name, options, &cfg, gpu.as_ref(), opts)?;
        if let Some(dir) = &args.svg_dir {
            pic.add_run(&r);
            pictures::write_into(dir, &r, &pic)?;
        }
        let time = r.timings.plan_ms
            + r.timings.compile_ms.unwrap_or(0.0)
            + r.timings.run_ms.unwrap_or(r.timings.cpu_ms);
        table.row(vec![
            r.model.clone(),
            r.adapter.name.clone(),
            human_bytes(r.plan.arena_bytes),
            human_bytes(r.plan.lower_bound_bytes),
            human_bytes(r.plan.naive_static_bytes),
            r.measured
                .naive_dynamic_peak_bytes
                .map_or("n/a".into(), human_bytes),
            baseline_cell(&r, "caching"),
            baseline_cell(&r, "ggml-style"),
            human_bytes(r.plan.weights_bytes),
            r.measured
                .arena_device_bytes
                .map_or("n/a".into(), signed_bytes),
            r.correctness
                .max_abs_err
                .map_or("n/a (cpu only)".into(), |e| format!("{e:.2e}")),
            format!("{time:.0} ms"),
        ]);
        reports.push(r);
        progress.inc();
    }
    drop(progress);
    if output::show_report(args.json.as_deref()) {
        print_table(&table);
        if let Some(dir) = &args.svg_dir {
            println!(
                "pictures: {} (MODEL.svg and MODEL.html for each model)",
                dir.display()
            );
        }
    }
    if let Some(path) = &args.json {
        write_json(path, &reports)?;
    }
    reports.iter().try_for_each(check)
}

/// Prints the table and what its columns mean.
fn print_table(table: &Table) {
    print!("{table}");
    println!();
    for line in [
        "arena: planned bytes for everything with a lifetime (weights live in a separate persistent region);",
        "lower bound: max over time of live bytes; naive static: every tensor its own region, none reused;",
        "* measured by the wgpu allocator report: naive dynamic = peak while executing with one buffer per",
        "  tensor, created before its producer and freed after its last consumer (weights excluded);",
        "  measured device = allocator growth (signed) around creating the one buffer alone: weights, two guard",
        "  bands (4 KiB each) and the arena, plus the allocator's rounding (0-63 B on lavapipe).",
        "caching reserved: segments a PyTorch-style caching allocator created (its memory_reserved());",
        "ggml-style pool: the one buffer ggml-alloc's measuring pass sizes (best fit, in place); both run",
        "  on the device with outputs equal to the planned run's, weights excluded, ratio to the arena.",
        "max abs err: largest difference from the CPU reference over every output element.",
        "Every row passed the clobber check and the guard check (no write outside the arena); the demo fails otherwise.",
    ] {
        println!("{line}");
    }
}
