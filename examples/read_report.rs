//! Reading a report: run a built-in model on the GPU with the baselines, then read what was
//! measured (allocator figures, validation, correctness, each baseline beside the plan) from
//! the report value, and from its JSON as a script reading `tessera run --json` would.
//!
//! Usage: `cargo run --release --example read_report`

use std::error::Error;
use tessera::execute::{ExecuteOptions, execute};
use tessera::models::{ModelOptions, build};
use tessera::pipeline::{PlanConfig, plan_graph};
use tessera::runtime::Gpu;

fn main() -> Result<(), Box<dyn Error>> {
    let gpu = Gpu::new()
        .map_err(|e| eprintln!("no GPU ({e}): the report holds the CPU reference only"))
        .ok();
    let mut cfg = PlanConfig::default();
    if let Some(g) = &gpu {
        cfg.analysis.alignment = g.min_storage_buffer_offset_alignment();
    }
    let graph = build("mlp", &ModelOptions::default())?;
    let planned = plan_graph(&graph, &cfg)?;
    let opts = ExecuteOptions {
        validate: true,
        baselines: true,
        training: None,
    };
    let report = execute(&planned.graph, &planned, gpu.as_ref(), opts)?;

    // As a value: typed fields.
    let arena = planned.outcome.plan.arena_bytes;
    println!(
        "adapter:            {} ({})",
        report.adapter.name, report.adapter.backend
    );
    println!(
        "planned arena:      {arena} B (lower bound {} B)",
        planned.lower_bound
    );
    match report.measured.arena_device_bytes {
        Some(d) => println!("one buffer created: {d:+} B by the allocator report"),
        None => println!("one buffer created: not measurable on this backend"),
    }
    println!("clobber check:      {}", report.validate.clobber_check);
    println!("guard check:        {}", report.validate.guard_check);
    println!("correct:            {}", report.correctness.passed);
    for b in &report.baselines {
        println!(
            "baseline {:<22} reserved {:>9} B = {:.2}x the arena, outputs equal: {}",
            b.name,
            b.reserved_peak_bytes,
            b.reserved_peak_bytes as f64 / arena.max(1) as f64,
            b.outputs_equal_planned
        );
    }

    // As JSON: the same sections by name.
    let json = serde_json::json!({
        "measured": report.measured,
        "validate": report.validate,
        "correctness": report.correctness,
        "baselines": report.baselines,
    });
    let passed = json["correctness"]["passed"]
        .as_bool()
        .ok_or("no correctness.passed")?;
    let baselines = json["baselines"].as_array().map_or(0, Vec::len);
    println!("from JSON:          correctness.passed = {passed}, {baselines} baselines");
    if !passed {
        return Err("outputs differ from the CPU reference".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_runs() {
        super::main().expect("read_report example");
    }
}
