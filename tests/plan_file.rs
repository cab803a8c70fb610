//! Plan files on the GPU: a plan written to JSON, read back and loaded against the graph and
//! the device runs with outputs bit-identical to the run of the plan it was written from.
//! A missing adapter fails (see `common`).

mod common;

use tessera::graph::{AttentionKernel, conv::ConvMode};
use tessera::models::{ModelOptions, build};
use tessera::pipeline::{PlanConfig, plan_graph};
use tessera::planfile::{DeviceLimits, Lowering, PlanFile};
use tessera::runtime::{OutputData, compile};
use tessera::schedule::Scheduler;

fn run(graph: &tessera::graph::Graph, layout: &tessera::layout::MemoryLayout) -> Vec<OutputData> {
    let gpu = common::gpu();
    let compiled = compile(gpu, graph, layout).expect("compile");
    compiled.run(gpu).expect("run").outputs
}

#[test]
fn a_plan_file_runs_with_identical_outputs() {
    let gpu = common::gpu();
    let limits = DeviceLimits {
        offset_alignment: gpu.min_storage_buffer_offset_alignment(),
        max_binding_bytes: gpu.max_binding(),
        max_buffer_bytes: gpu.max_buffer(),
    };
    let gpt = ModelOptions {
        seq: Some(19), // not a multiple of any workgroup size
        ..ModelOptions::default()
    };
    let cases = [
        ("gpt", gpt, Scheduler::Program),
        ("unet", ModelOptions::default(), Scheduler::Greedy),
    ];
    for (model, opts, schedule) in cases {
        let base = build(model, &opts).expect("model");
        let lowering = Lowering::new(AttentionKernel::Tiled, ConvMode::Auto, None, 1);
        let lowered = lowering.apply(&base).expect("lowering");
        let mut cfg = PlanConfig {
            schedule,
            ..PlanConfig::default()
        };
        cfg.analysis.alignment = limits.offset_alignment;
        let planned = plan_graph(&lowered, &cfg).expect("plan");
        let file = PlanFile::new(model, vec![], &lowered, lowering, &planned, &cfg).expect("file");
        let read = PlanFile::parse(&file.to_json()).expect("parse");
        let loaded = read.load(&base, Some(&limits)).expect("load");
        let direct = run(&planned.graph, &planned.layout);
        let from_file = run(&loaded.planned.graph, &loaded.planned.layout);
        assert!(!direct.is_empty());
        assert_eq!(direct, from_file, "{model}: outputs differ");
    }
}
