//! Running a plan file: plan a model once, write the plan as a versioned plan file, read it
//! back and check it against the graph and the device (what `tessera run --plan` does), then
//! execute it and compare with the CPU reference. A plan for another graph is refused.
//!
//! Usage: `cargo run --release --example plan_file`

use std::error::Error;
use tessera::execute::{ExecuteOptions, execute};
use tessera::graph::{AttentionKernel, conv::ConvMode};
use tessera::models::{ModelOptions, build};
use tessera::pipeline::{PlanConfig, plan_graph};
use tessera::planfile::{DeviceLimits, Lowering, PlanFile};
use tessera::runtime::Gpu;

fn main() -> Result<(), Box<dyn Error>> {
    let gpu = Gpu::new()
        .map_err(|e| eprintln!("no GPU ({e}): running the CPU reference only"))
        .ok();
    let limits = gpu.as_ref().map(|g| DeviceLimits {
        offset_alignment: g.min_storage_buffer_offset_alignment(),
        max_binding_bytes: g.max_binding(),
        max_buffer_bytes: g.max_buffer(),
    });

    // Plan once: the graph after its attention/conv lowering is what the plan describes.
    let options = ModelOptions {
        seq: Some(23),
        ..ModelOptions::default()
    };
    let graph = build("gpt", &options)?;
    let lowering = Lowering::new(AttentionKernel::Tiled, ConvMode::Auto, None, 1);
    let lowered = lowering.apply(&graph)?;
    let cfg = PlanConfig::default(); // offsets aligned to 256: fine for most devices
    let planned = plan_graph(&lowered, &cfg)?;
    let file = PlanFile::new(
        "gpt",
        vec![("seq".into(), 23)],
        &lowered,
        lowering,
        &planned,
        &cfg,
    )?;
    let path =
        std::env::temp_dir().join(format!("tessera-example-plan-{}.json", std::process::id()));
    std::fs::write(&path, file.to_json())?;
    println!(
        "wrote {} ({} buffers, arena {} B, fingerprint {})",
        path.display(),
        file.buffers.len(),
        file.arena_bytes,
        file.graph_fingerprint
    );

    // Later: read it back, check it against the graph and the device, and run it.
    let read = PlanFile::parse(&std::fs::read_to_string(&path)?)?;
    std::fs::remove_file(&path)?;
    let loaded = read.load(&graph, limits.as_ref())?;
    let opts = ExecuteOptions {
        validate: true,
        baselines: false,
        training: None,
    };
    let run = execute(&loaded.planned.graph, &loaded.planned, gpu.as_ref(), opts)?;
    println!(
        "ran the plan file on {}: max abs err {:?}, guard check {}",
        run.adapter.name, run.correctness.max_abs_err, run.validate.guard_check
    );
    if !run.correctness.passed {
        return Err("outputs differ from the CPU reference".into());
    }

    // The same file against another graph: one line saying so.
    let other = build("gpt", &ModelOptions::default())?;
    match read.load(&other, limits.as_ref()) {
        Err(e) => println!("another graph: {e}"),
        Ok(_) => return Err("a plan for another graph was accepted".into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_runs() {
        super::main().expect("plan_file example");
    }
}
