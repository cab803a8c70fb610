//! A custom graph through the builder: a two-layer perceptron with a residual connection,
//! planned by three planners side by side, then run inside the one planned buffer on the GPU
//! (the CPU reference alone when there is no adapter) and checked against the CPU reference.
//!
//! Usage: `cargo run --release --example custom_graph`

use std::error::Error;
use tessera::execute::{ExecuteOptions, execute};
use tessera::graph::{DType, Graph, GraphBuilder, GraphError, Init};
use tessera::pipeline::{PlanConfig, plan_graph};
use tessera::runtime::Gpu;

/// `y = x + relu(x @ w1 + b1) @ w2` on `rows` rows of `width` features.
fn perceptron(rows: usize, width: usize) -> Result<Graph, GraphError> {
    let mut b = GraphBuilder::new();
    let x = b.input("x", &[rows, width], DType::F32, Init::Constant(0.25));
    let w1 = b.weight("w1", &[width, 4 * width], 1, 0.2);
    let b1 = b.weight("b1", &[4 * width], 2, 0.1);
    let w2 = b.weight("w2", &[4 * width, width], 3, 0.2);
    let h = b.linear("up", x, w1, Some(b1))?;
    let h = b.relu("act", h)?;
    let h = b.linear("down", h, w2, None)?;
    let y = b.add("residual", x, h)?;
    b.output(y);
    b.build()
}

fn main() -> Result<(), Box<dyn Error>> {
    // Odd sizes on purpose: nothing is a multiple of a workgroup size.
    let graph = perceptron(37, 21)?;
    let gpu = Gpu::new()
        .map_err(|e| eprintln!("no GPU ({e}): running the CPU reference only"))
        .ok();
    let mut cfg = PlanConfig::default();
    if let Some(g) = &gpu {
        cfg.analysis.alignment = g.min_storage_buffer_offset_alignment();
    }
    for planner in ["naive", "greedy-size", "exact"] {
        let p = plan_graph(
            &graph,
            &PlanConfig {
                planner: planner.into(),
                ..cfg.clone()
            },
        )?;
        println!(
            "{planner:<12} arena {:>7} B  lower bound {:>7} B{}",
            p.outcome.plan.arena_bytes,
            p.lower_bound,
            if p.outcome.proven_optimal {
                "  (proven optimal)"
            } else {
                ""
            }
        );
    }
    let planned = plan_graph(&graph, &cfg)?;
    println!("\nwhere each tensor lives in the one buffer:");
    for (t, offset) in planned
        .graph
        .tensors
        .iter()
        .zip(&planned.layout.tensor_offsets)
    {
        println!(
            "  {:<10} {:>6} B at offset {offset}",
            t.name,
            t.size_bytes()
        );
    }
    let opts = ExecuteOptions {
        validate: true,
        baselines: false,
        training: None,
    };
    let run = execute(&planned.graph, &planned, gpu.as_ref(), opts)?;
    println!(
        "\nran on {}: max abs err {:?}, clobber check {}, guard check {}",
        run.adapter.name,
        run.correctness.max_abs_err,
        run.validate.clobber_check,
        run.validate.guard_check
    );
    if !run.correctness.passed {
        return Err("GPU outputs differ from the CPU reference".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_runs() {
        super::main().expect("custom_graph example");
    }
}
