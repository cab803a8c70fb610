//! Micro-batched graphs on the GPU (lavapipe): resnet, mlp and gpt run as dividing and ragged
//! slices give the outputs of the whole batch's GPU run and of the CPU reference of the
//! original graph, and their plans pass the clobber and guard checks.

mod common;

use common::gpu;
use tessera::analysis::AnalysisOptions;
use tessera::execute::{TOLERANCE, clobber_check, compare};
use tessera::graph::Graph;
use tessera::models::{ModelOptions, build};
use tessera::pipeline::{PlanConfig, plan_graph};
use tessera::runtime::{OutputData, compile};
use tessera::transform::micro_batch::micro_batch;

fn cfg() -> PlanConfig {
    PlanConfig {
        analysis: AnalysisOptions {
            alignment: gpu().min_storage_buffer_offset_alignment(),
            ..AnalysisOptions::default()
        },
        ..PlanConfig::default()
    }
}

/// The planned GPU run's outputs of `g`, after checking the plan with the clobber check and
/// the guard bands.
fn run_planned(g: &Graph) -> Vec<Vec<u32>> {
    let planned = plan_graph(g, &cfg()).expect("plans");
    let compiled = compile(gpu(), &planned.graph, &planned.layout).expect("compiles");
    let out = compiled.run(gpu()).expect("runs").outputs;
    let report =
        clobber_check(gpu(), &compiled, &planned.graph, &planned.layout).expect("clobber check");
    assert_eq!(report.failure, None);
    assert!(compiled.check_guards(gpu()).expect("guards").is_empty());
    out.into_iter().map(|o: OutputData| o.words).collect()
}

fn check(name: &str, opts: ModelOptions, slices: &[usize]) {
    let g = build(name, &opts).expect("model builds");
    let reference = tessera::cpu::run_outputs(&g).expect("cpu reference");
    let whole = run_planned(&g);
    for &k in slices {
        let m = micro_batch(&g, k).expect("micro-batches");
        let sliced = run_planned(&m);
        let data: Vec<_> = m
            .outputs
            .iter()
            .zip(&sliced)
            .map(|(&tensor, words)| OutputData {
                tensor,
                dtype: m.tensors[tensor.index()].dtype,
                words: words.clone(),
            })
            .collect();
        let c = compare(&data, &reference);
        assert!(c.scaled() <= TOLERANCE, "{name} k={k} vs cpu: {c:?}");
        // Same kernels on each sample's rows: the slices give the whole run's bits.
        assert_eq!(sliced, whole, "{name} k={k} vs the whole batch on the GPU");
    }
}

#[test]
fn resnet_slices_match_the_whole_batch_and_the_reference() {
    let opts = ModelOptions {
        batch: Some(5),
        image: Some(13),
        ..ModelOptions::default()
    };
    check("resnet", opts, &[5, 2]);
}

#[test]
fn mlp_slices_match_the_whole_batch_and_the_reference() {
    let opts = ModelOptions {
        batch: Some(7),
        ..ModelOptions::default()
    };
    check("mlp", opts, &[3, 7]);
}

#[test]
fn gpt_slices_match_the_whole_batch_and_the_reference() {
    let opts = ModelOptions {
        batch: Some(3),
        seq: Some(19),
        ..ModelOptions::default()
    };
    check("gpt", opts, &[3, 2]);
}
