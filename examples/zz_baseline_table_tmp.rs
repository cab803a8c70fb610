//! Throwaway: baseline table (not to be committed).
use tessera::models::{ModelOptions, build};
use tessera::pipeline::{PlanConfig, plan_graph};
use tessera::runtime::{Baseline, Gpu, measure_compile, run_baseline};
fn main() {
    let gpu = Gpu::new().unwrap();
    println!(
        "adapter {:?} align {}",
        gpu.summary().name,
        gpu.min_storage_buffer_offset_alignment()
    );
    println!(
        "| model | scheme | measured peak (alloc delta) | requested peak | held peak | frag | reserved | wall ms |"
    );
    for name in ["mlp", "resnet", "gpt"] {
        let g = build(name, &ModelOptions::default()).unwrap();
        let mut cfg = PlanConfig::default();
        cfg.analysis.alignment = gpu.min_storage_buffer_offset_alignment();
        let p = plan_graph(&g, &cfg).unwrap();
        let (c, bytes) = measure_compile(&gpu, &g, &p.layout).unwrap();
        let r = c.run(&gpu).unwrap();
        println!(
            "| {name} | planned arena ({}) | {:?} (incl weights {} + params {}) | arena {} | lb {} | - | buffer {} | {:.1} |",
            g.nodes.len(),
            bytes.delta_allocated,
            p.layout.weights_bytes,
            c.params_bytes(),
            p.layout.arena_bytes,
            p.lower_bound,
            c.buffer_bytes(),
            r.wall_ms
        );
        for b in Baseline::ALL {
            let x = run_baseline(&gpu, &g, b).unwrap();
            assert_eq!(x.outputs, r.outputs);
            if b == Baseline::NaiveDynamic && name == "mlp" {
                println!("{:?}\n{:?}", x.samples, x.samples_after_free);
            }
            println!(
                "| {name} | {} | {:?} | {} | {} | {} | {} | {:.1} |",
                b.name(),
                x.peak_allocated_bytes,
                x.requested_peak_bytes,
                x.held_peak_bytes,
                x.internal_fragmentation_bytes,
                x.reserved_bytes,
                x.wall_ms
            );
        }
    }
}
#[allow(dead_code)]
fn curve() {}
