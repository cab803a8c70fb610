//! `--dtype f16` in planning, without a GPU: for every built-in model (the full-size ones too)
//! the f16 plan's float activation bytes and weight bytes are exactly half the f32 plan's, the
//! arena shrinks (ratio printed), the conv workspace is sized in f16 elements, and plan files of
//! the two dtypes have different fingerprints and refuse to load for the other dtype.

use tessera::graph::{DType, Graph, TensorKind};
use tessera::models::{ModelOptions, build, catalog};
use tessera::pipeline::{PlanConfig, PlannedGraph, plan_graph};
use tessera::planfile::{Lowering, PlanFile, PlanFileError};
use tessera::transform::precision::cast_floats;

/// A quick planner (the full-size models have thousands of buffers).
fn config() -> PlanConfig {
    PlanConfig {
        planner: "greedy-size".into(),
        ..PlanConfig::default()
    }
}

fn plan(g: &Graph) -> PlannedGraph {
    plan_graph(g, &config()).expect("plan")
}

/// Bytes of the `u32` tensors the arena holds (token ids): the same in both dtypes.
fn id_bytes(g: &Graph) -> u64 {
    g.tensors
        .iter()
        .filter(|t| t.dtype == DType::U32 && t.kind != TensorKind::Weight)
        .map(|t| t.size_bytes())
        .sum()
}

#[test]
fn every_model_halves_its_activation_and_weight_bytes_in_f16() {
    for m in catalog() {
        let g32 = build(m.name, &ModelOptions::default()).expect("model");
        let g16 = cast_floats(&g32, DType::F16).expect("f16");
        let (p32, p16) = (plan(&g32), plan(&g16));
        let (a32, a16) = (&p32.analysis, &p16.analysis);
        let ids = id_bytes(&g32);
        assert_eq!(
            a32.activation_bytes - ids,
            2 * (a16.activation_bytes - ids),
            "{}: float activation bytes",
            m.name
        );
        assert_eq!(
            a32.weight_tensor_bytes,
            2 * a16.weight_tensor_bytes,
            "{}: weight bytes",
            m.name
        );
        let (ar32, ar16) = (p32.outcome.plan.arena_bytes, p16.outcome.plan.arena_bytes);
        assert!(ar16 < ar32, "{}: arena {ar16} vs {ar32}", m.name);
        println!(
            "{:<11} arena f32 {ar32:>10} f16 {ar16:>10} ratio {:.3}; activations {} -> {}; weights {} -> {}",
            m.name,
            ar16 as f64 / ar32 as f64,
            a32.activation_bytes,
            a16.activation_bytes,
            a32.weight_tensor_bytes,
            a16.weight_tensor_bytes
        );
    }
}

#[test]
fn plan_files_of_the_two_dtypes_differ_and_refuse_each_other() {
    let g32 = build("resnet", &ModelOptions::default()).expect("resnet");
    let g16 = cast_floats(&g32, DType::F16).expect("f16");
    let lowering = Lowering::new(
        tessera::graph::AttentionKernel::Tiled,
        tessera::graph::conv::ConvMode::Auto,
        None,
        1,
    );
    let file = |g: &Graph| {
        let lowered = lowering.apply(g).expect("lowering");
        let p = plan(&lowered);
        PlanFile::new(
            "resnet",
            Vec::new(),
            &lowered,
            lowering.clone(),
            &p,
            &config(),
        )
        .expect("plan file")
    };
    let (f32_file, f16_file) = (file(&g32), file(&g16));
    assert_eq!(
        (f32_file.dtype.as_str(), f16_file.dtype.as_str()),
        ("f32", "f16")
    );
    assert_ne!(f32_file.graph_fingerprint, f16_file.graph_fingerprint);
    assert!(f16_file.arena_bytes < f32_file.arena_bytes);
    // Each loads for its own dtype and is refused, naming both dtypes, for the other.
    f16_file.load(&g16, None).expect("f16 plan, f16 graph");
    let err = f16_file.load(&g32, None).expect_err("f16 plan, f32 graph");
    assert!(matches!(err, PlanFileError::Dtype { .. }), "{err}");
    assert!(err.to_string().contains("--dtype f16"), "{err}");
    let text = f16_file.to_json();
    let back = PlanFile::parse(&text).expect("parse");
    assert_eq!(back.dtype, "f16");
    // A file without the field (written before it existed) is an f32 plan.
    let old = f32_file.to_json().replace("  \"dtype\": \"f32\",\n", "");
    assert!(!old.contains("\"dtype\""));
    assert_eq!(PlanFile::parse(&old).expect("old file").dtype, "f32");
}

#[test]
fn conv_workspace_is_sized_in_f16_elements() {
    let g32 = build("resnet", &ModelOptions::default()).expect("resnet");
    let g16 = cast_floats(&g32, DType::F16).expect("f16");
    let lowering = Lowering::new(
        tessera::graph::AttentionKernel::Tiled,
        tessera::graph::conv::ConvMode::Im2col,
        Some(4096),
        1,
    );
    let (l32, l16) = (
        lowering.apply(&g32).expect("f32"),
        lowering.apply(&g16).expect("f16"),
    );
    for (id, node) in l16.node_ids().zip(&l16.nodes) {
        let (w32, w16) = (l32.workspace_bytes(id), l16.workspace_bytes(id));
        if w32 == 0 {
            continue;
        }
        // Under a 4 KiB cap an f16 tile holds twice the columns of an f32 one (until the
        // plane runs out), in at most the cap's bytes.
        assert!(w16 <= 4096 && w32 <= 4096, "{}: {w16} {w32}", node.name);
        assert!(w16 >= w32 / 2, "{}", node.name);
    }
}

#[test]
fn attention_scores_and_micro_batches_follow_the_dtype() {
    let opts = ModelOptions {
        batch: Some(3),
        ..ModelOptions::default()
    };
    let gpt = build("gpt", &opts).expect("gpt");
    for (kernel, halves) in [
        (tessera::graph::AttentionKernel::Materialized, true),
        (tessera::graph::AttentionKernel::Tiled, false),
    ] {
        let lowering = Lowering::new(kernel, tessera::graph::conv::ConvMode::Auto, None, 2);
        let l32 = lowering.apply(&gpt).expect("f32");
        let l16 = lowering
            .apply(&cast_floats(&gpt, DType::F16).expect("f16"))
            .expect("f16");
        let (p32, p16) = (plan(&l32), plan(&l16));
        let (w32, w16) = (p32.analysis.workspace_bytes, p16.analysis.workspace_bytes);
        if halves {
            // The score matrices of both slices: [2 or 1, H, S, S] elements each.
            assert!(w32 > 0 && w32 == 2 * w16, "{w32} {w16}");
        } else {
            assert_eq!((w32, w16), (0, 0));
        }
        let ids = id_bytes(&l32);
        assert_eq!(
            p32.analysis.activation_bytes - ids,
            2 * (p16.analysis.activation_bytes - ids)
        );
        assert!(p16.outcome.plan.arena_bytes < p32.outcome.plan.arena_bytes);
    }
}
