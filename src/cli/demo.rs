//! `tessera demo`: every built-in model at its default size, planned, run on the GPU, checked
//! against the CPU reference, in one table.

use super::args::DemoArgs;
use super::run::{check, open_gpu, plan_and_execute};
use super::{CliError, plan, write_json};
use tessera::execute::ExecuteOptions;
use tessera::models::{ModelOptions, build, catalog};
use tessera::report::{Table, human_bytes};

/// Runs the command.
pub fn run(args: &DemoArgs) -> Result<(), CliError> {
    let gpu = open_gpu(args.require_gpu)?;
    let alignment = gpu
        .as_ref()
        .map_or(256, |g| g.min_storage_buffer_offset_alignment());
    let opts = super::args::PlanOpts {
        planner: "auto".into(),
        time_limit: 2.0,
        no_inplace: false,
        workspace: "planned".into(),
        alignment: None,
        schedule: "program".into(),
    };
    let cfg = plan::config(&opts, alignment)?;
    let mut table = Table::new(&[
        "model",
        "adapter",
        "arena",
        "lower bound",
        "naive static",
        "naive dynamic*",
        "weights",
        "measured device*",
        "max abs err",
        "time",
    ]);
    let mut reports = Vec::new();
    // Full-size models (resnet50, gpt2-small) are benchmarks: minutes on a CPU device.
    for info in catalog().into_iter().filter(|m| !m.full_size) {
        let graph = build(info.name, &ModelOptions::default())?;
        let options = info
            .options
            .iter()
            .map(|(o, d, _)| (o.to_string(), *d))
            .collect();
        let opts = ExecuteOptions {
            validate: true,
            baselines: true,
        };
        let r = plan_and_execute(&graph, info.name, options, &cfg, gpu.as_ref(), opts)?;
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
            human_bytes(r.plan.weights_bytes),
            r.measured
                .device_peak_bytes
                .map_or("n/a".into(), human_bytes),
            r.correctness
                .max_abs_err
                .map_or("n/a (cpu only)".into(), |e| format!("{e:.2e}")),
            format!("{time:.0} ms"),
        ]);
        reports.push(r);
    }
    print!("{table}");
    println!();
    for line in [
        "arena: planned bytes for everything with a lifetime (weights live in a separate persistent region);",
        "lower bound: max over time of live bytes; naive static: every tensor its own region, none reused;",
        "* measured by the wgpu allocator report: naive dynamic = peak while executing with one buffer per",
        "  tensor, created before its producer and freed after its last consumer (weights excluded);",
        "  measured device = growth when the planned run's buffers were created (weights + arena + params).",
        "max abs err: largest difference from the CPU reference over every output element.",
    ] {
        println!("{line}");
    }
    if let Some(path) = &args.json {
        write_json(path, &reports)?;
    }
    reports.iter().try_for_each(check)
}
