//! End to end on the GPU for the models at real sizes and the graph-shape models, at tiny
//! sizes (their defaults are benchmarks, not tests): `gpt2-small` (tied LM head), `resnet50`,
//! `unet` (with the `upsample2x` op) and `randwire`, planned with in-place reuse, match the CPU
//! reference, pass the clobber check and stay inside the planned arena. Also `upsample2x` alone
//! on odd shapes against the CPU reference.

mod common;

use common::{check, check_layouts, gpu};
use tessera::analysis::{AnalysisOptions, WorkspacePolicy};
use tessera::execute::clobber_check;
use tessera::graph::{DType, Graph, GraphBuilder, Init, Op};
use tessera::models::{ModelOptions, build};
use tessera::pipeline::{PlanConfig, plan_graph};
use tessera::runtime::compile;

fn planned_check(graph: &Graph, what: &str) {
    let cfg = PlanConfig {
        analysis: AnalysisOptions {
            alignment: gpu().min_storage_buffer_offset_alignment(),
            in_place: true,
            workspace: WorkspacePolicy::Planned,
            streamed_inputs: false,
        },
        ..PlanConfig::default()
    };
    let planned = plan_graph(graph, &cfg).expect("plan");
    check(graph, &planned.layout, what);
    let compiled = compile(gpu(), graph, &planned.layout).expect("compile");
    let report = clobber_check(gpu(), &compiled, graph, &planned.layout).expect("clobber check");
    assert_eq!(report.failure, None, "{what}: clobber check");
    let hw = compiled.high_water(gpu()).expect("high water");
    assert!(
        hw <= planned.outcome.plan.arena_bytes,
        "{what}: high-water {hw} beyond the plan"
    );
}

#[test]
fn gpt2_small_tiny_with_tied_head() {
    let opts = ModelOptions {
        batch: Some(2),
        seq: Some(7),
        width: Some(24),
        heads: Some(3),
        layers: Some(1),
        vocab: Some(53),
        ..Default::default()
    };
    planned_check(&build("gpt2-small", &opts).unwrap(), "gpt2-small tiny");
}

#[test]
fn resnet50_tiny_odd_image() {
    let opts = ModelOptions {
        image: Some(19),
        width: Some(2),
        ..Default::default()
    };
    planned_check(&build("resnet50", &opts).unwrap(), "resnet50 tiny");
}

#[test]
fn unet_tiny_odd_image() {
    let opts = ModelOptions {
        batch: Some(2),
        image: Some(13),
        width: Some(3),
        layers: Some(3),
        ..Default::default()
    };
    planned_check(&build("unet", &opts).unwrap(), "unet tiny");
}

#[test]
fn randwire_tiny_two_seeds() {
    for seed in [1, 2] {
        let opts = ModelOptions {
            image: Some(7),
            width: Some(3),
            nodes: Some(9),
            seed: Some(seed),
            ..Default::default()
        };
        planned_check(
            &build("randwire", &opts).unwrap(),
            &format!("randwire seed {seed}"),
        );
    }
}

#[test]
fn upsample2x_on_odd_shapes() {
    for (dims, size) in [
        ([2, 3, 5, 7], [10, 13]),
        ([1, 1, 1, 1], [1, 2]),
        ([1, 5, 9, 3], [17, 6]),
    ] {
        let mut b = GraphBuilder::new();
        let x = b.input(
            "x",
            &dims,
            DType::F32,
            Init::Uniform {
                seed: 7,
                scale: 1.0,
            },
        );
        let y = b
            .op("y", Op::Upsample2x { size }, &[x])
            .expect("upsample2x");
        b.output(y);
        check_layouts(
            &b.build().expect("graph"),
            None,
            &format!("upsample2x {dims:?} -> {size:?}"),
        );
    }
}
