//! Micro-batched graphs on the GPU (lavapipe): resnet, mlp and gpt run as dividing and ragged
//! slices give the outputs of the whole batch's GPU run and of the CPU reference of the
//! original graph, and their plans pass the clobber and guard checks. With streamed inputs
//! (each slice's input copied into the arena right before its slice) the outputs are the same,
//! and an input copied one step after its reader is caught by the clobber check.

mod common;

use common::gpu;
use tessera::analysis::AnalysisOptions;
use tessera::execute::{TOLERANCE, clobber_check, compare};
use tessera::graph::{Graph, TensorKind};
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

/// The planning config of [`cfg`] with the graph inputs streamed.
fn streamed_cfg() -> PlanConfig {
    let mut c = cfg();
    c.analysis.streamed_inputs = true;
    c
}

fn resnet(batch: usize) -> Graph {
    let opts = ModelOptions {
        batch: Some(batch),
        image: Some(13),
        ..ModelOptions::default()
    };
    build("resnet", &opts).expect("model builds")
}

#[test]
fn streamed_inputs_match_the_reference_and_the_uploaded_run() {
    let g = resnet(5);
    let reference = tessera::cpu::run_outputs(&g).expect("cpu reference");
    let whole = run_planned(&g);
    for k in [1, 3] {
        let m = micro_batch(&g, k).expect("micro-batches");
        let planned = plan_graph(&m, &streamed_cfg()).expect("plans");
        let layout = &planned.layout;
        // Every slice's input is streamed, each at its first reader, and staged beside the one
        // buffer: together exactly the whole batch's input.
        assert_eq!(layout.streamed_inputs.len(), k);
        let input_bytes: u64 = g
            .tensors
            .iter()
            .filter(|t| t.kind == TensorKind::Input)
            .map(|t| t.size_bytes())
            .sum();
        assert_eq!(layout.staging_bytes(&planned.graph), input_bytes);
        let compiled = compile(gpu(), &planned.graph, layout).expect("compiles");
        assert_eq!(compiled.staging_bytes(), input_bytes);
        for run in 0..2 {
            let out = compiled.run(gpu()).expect("runs").outputs;
            let c = compare(&out, &reference);
            assert!(c.scaled() <= TOLERANCE, "k={k} run {run} vs cpu: {c:?}");
            let words: Vec<Vec<u32>> = out.into_iter().map(|o| o.words).collect();
            assert_eq!(words, whole, "k={k} run {run} vs the whole batch, uploaded");
        }
        let report =
            clobber_check(gpu(), &compiled, &planned.graph, layout).expect("clobber check");
        assert_eq!(report.failure, None, "k={k}");
        assert!(compiled.check_guards(gpu()).expect("guards").is_empty());
    }
}

#[test]
fn an_input_copied_after_its_reader_fails_the_clobber_check() {
    let m = micro_batch(&resnet(4), 2).expect("micro-batches");
    let planned = plan_graph(&m, &streamed_cfg()).expect("plans");
    let mut late = planned.layout.clone();
    // The second slice's input, copied one step after its first reader instead of before it.
    let s = late.streamed_inputs.last_mut().expect("a streamed input");
    let (tensor, reader) = (s.tensor, s.step);
    assert!(reader > 0, "the second slice starts after the first");
    s.step += 1;
    let compiled = compile(gpu(), &planned.graph, &late).expect("compiles");
    let report =
        clobber_check(gpu(), &compiled, &planned.graph, &late).expect("clobber check runs");
    let f = report.failure.expect("the late copy is caught");
    assert_eq!(f.tensor, tensor, "{f}");
    assert_eq!(
        f.node,
        planned
            .graph
            .node_ids()
            .nth(reader as usize)
            .expect("reader"),
        "{f}"
    );
    // Copied in time, the same plan passes.
    let compiled = compile(gpu(), &planned.graph, &planned.layout).expect("compiles");
    let report = clobber_check(gpu(), &compiled, &planned.graph, &planned.layout)
        .expect("clobber check runs");
    assert_eq!(report.failure, None);
}
