//! Plan files: round trips and every refusal, on the CPU alone.

use super::*;
use crate::models::{ModelOptions, build};
use crate::pipeline::plan_graph;
use crate::plan::PlanError;
use crate::schedule::Scheduler;

fn lowering() -> Lowering {
    Lowering::new(AttentionKernel::Tiled, ConvMode::Auto, None, 1)
}

/// `model` at its defaults, planned with `schedule`: the base graph and its plan file.
fn planned(model: &str, schedule: Scheduler) -> (Graph, PlanFile, PlannedGraph) {
    let base = build(model, &ModelOptions::default()).expect("model");
    let lowered = lowering().apply(&base).expect("lowering");
    let cfg = PlanConfig {
        schedule,
        ..PlanConfig::default()
    };
    let p = plan_graph(&lowered, &cfg).expect("plan");
    let file = PlanFile::new(model, vec![], &lowered, lowering(), &p, &cfg).expect("plan file");
    (base, file, p)
}

fn lavapipe() -> DeviceLimits {
    DeviceLimits {
        offset_alignment: 32,
        max_binding_bytes: 128 << 20,
        max_buffer_bytes: (2 << 30) - 1,
    }
}

#[test]
fn a_plan_file_round_trips_to_the_same_layout() {
    for (model, schedule) in [
        ("gpt", Scheduler::Program),
        ("unet", Scheduler::Greedy),
        ("resnet", Scheduler::Auto),
    ] {
        let (base, file, p) = planned(model, schedule);
        let read = PlanFile::parse(&file.to_json()).expect("parse");
        assert_eq!(read, file);
        let loaded = read.load(&base, Some(&lavapipe())).expect("load");
        assert_eq!(loaded.planned.layout, p.layout, "{model}");
        assert_eq!(loaded.planned.graph, p.graph, "{model}");
        assert_eq!(loaded.planned.outcome, p.outcome, "{model}");
        assert_eq!(loaded.planned.lower_bound, p.lower_bound, "{model}");
        assert_eq!(loaded.cfg.analysis, PlanConfig::default().analysis);
    }
}

#[test]
fn the_fingerprint_is_stable_and_sees_the_lowering() {
    let base = build("gpt", &ModelOptions::default()).expect("model");
    let tiled = lowering().apply(&base).expect("tiled");
    let again = lowering().apply(&base).expect("tiled");
    let materialized = Lowering::new(AttentionKernel::Materialized, ConvMode::Auto, None, 1)
        .apply(&base)
        .expect("materialized");
    assert_eq!(fingerprint(&tiled), fingerprint(&again));
    assert_ne!(fingerprint(&tiled), fingerprint(&materialized));
    assert!(fingerprint(&tiled).starts_with("sha256:"));
    assert_eq!(fingerprint(&tiled).len(), "sha256:".len() + 64);
}

#[test]
fn a_plan_for_another_graph_is_refused() {
    let (_, file, _) = planned("mlp", Scheduler::Program);
    let gpt = build("gpt", &ModelOptions::default()).expect("model");
    let e = file.load(&gpt, None).expect_err("another graph");
    assert!(matches!(e, PlanFileError::GraphMismatch { .. }), "{e}");
    assert!(e.to_string().contains("`mlp`"), "{e}");
}

/// Two buffers of `file` that are live at the same time.
fn overlapping_pair(file: &PlanFile) -> (usize, usize) {
    let b = &file.buffers;
    for i in 0..b.len() {
        for j in i + 1..b.len() {
            if b[i].start < b[j].end && b[j].start < b[i].end {
                return (i, j);
            }
        }
    }
    panic!("no two buffers live at once");
}

#[test]
fn a_tampered_overlapping_plan_is_refused_by_the_validator() {
    let (base, mut file, _) = planned("gpt", Scheduler::Program);
    let (i, j) = overlapping_pair(&file);
    file.buffers[j].offset = file.buffers[i].offset;
    let e = file.load(&base, None).expect_err("overlap");
    assert!(
        matches!(e, PlanFileError::Invalid(PlanError::Overlap { .. })),
        "{e}"
    );
    assert!(
        e.to_string().starts_with("plan refused by the validator"),
        "{e}"
    );
}

#[test]
fn a_tampered_tensor_offset_or_buffer_is_refused() {
    let (base, file, _) = planned("gpt", Scheduler::Program);
    let mut t = file.clone();
    let last = t.tensors.len() - 1;
    t.tensors[last].offset += 256;
    let e = t.load(&base, None).expect_err("tensor offset");
    assert!(matches!(e, PlanFileError::TensorOffset { .. }), "{e}");
    let mut b = file.clone();
    b.buffers[0].size += 4;
    let e = b.load(&base, None).expect_err("buffer size");
    assert!(
        matches!(e, PlanFileError::BufferMismatch { index: 0, .. }),
        "{e}"
    );
    let mut s = file;
    s.schedule.order.swap(0, 1);
    let e = s.load(&base, None).expect_err("schedule");
    assert!(matches!(e, PlanFileError::Schedule(_)), "{e}");
}

#[test]
fn a_plan_beyond_the_device_is_refused() {
    let (base, file, _) = planned("gpt", Scheduler::Program);
    let coarse = DeviceLimits {
        offset_alignment: 512,
        ..lavapipe()
    };
    let e = file.load(&base, Some(&coarse)).expect_err("alignment");
    assert!(
        matches!(
            e,
            PlanFileError::Alignment {
                plan: 256,
                device: 512
            }
        ),
        "{e}"
    );
    let small = DeviceLimits {
        max_buffer_bytes: file.device.buffer_bytes - 1,
        ..lavapipe()
    };
    let e = file.load(&base, Some(&small)).expect_err("buffer");
    assert!(matches!(e, PlanFileError::BufferTooLarge { .. }), "{e}");
    let narrow = DeviceLimits {
        max_binding_bytes: file.device.largest_binding_bytes - 4,
        ..lavapipe()
    };
    let e = file.load(&base, Some(&narrow)).expect_err("binding");
    assert!(matches!(e, PlanFileError::BindingTooLarge { .. }), "{e}");
    let exact = DeviceLimits {
        max_buffer_bytes: file.device.buffer_bytes,
        max_binding_bytes: file.device.largest_binding_bytes,
        ..lavapipe()
    };
    file.load(&base, Some(&exact)).expect("limits met exactly");
}

#[test]
fn malformed_foreign_and_future_files_get_one_line_errors() {
    let (_, file, _) = planned("mlp", Scheduler::Program);
    let cases: [(String, &str); 5] = [
        ("{\"format\": \"tessera-plan\",".into(), "not a valid"),
        ("{\"model\": \"mlp\"}".into(), "not a tessera plan file"),
        (
            file.to_json()
                .replace("\"format_version\": 1", "\"format_version\": 2"),
            "version 2 is newer",
        ),
        (
            file.to_json().replace("\"planner\"", "\"planer\""),
            "not a valid",
        ),
        (
            file.to_json()
                .replace("\"format_version\": 1", "\"format_version\": \"one\""),
            "format_version",
        ),
    ];
    for (text, expected) in cases {
        let e = PlanFile::parse(&text).expect_err(expected);
        let line = e.to_string();
        assert!(line.contains(expected), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }
}

#[test]
fn streamed_inputs_round_trip_and_older_files_upload_them() {
    let base = build("resnet", &ModelOptions::default()).expect("model");
    let sliced = Lowering::new(AttentionKernel::Tiled, ConvMode::Auto, None, 2);
    let lowered = sliced.apply(&base).expect("lowering");
    let mut cfg = PlanConfig::default();
    cfg.analysis.streamed_inputs = true;
    let p = plan_graph(&lowered, &cfg).expect("plan");
    assert_eq!(p.layout.streamed_inputs.len(), 2, "one input per slice");
    let file = PlanFile::new("resnet", vec![], &lowered, sliced, &p, &cfg).expect("plan file");
    let json = file.to_json();
    assert!(json.contains("\"streamed_inputs\": true"));
    let loaded = PlanFile::parse(&json)
        .expect("parse")
        .load(&base, Some(&lavapipe()))
        .expect("load");
    assert_eq!(loaded.planned.layout, p.layout);
    assert!(loaded.cfg.analysis.streamed_inputs);
    // A file without the field (written before it existed) uploads the inputs: its buffer
    // lifetimes are the uploaded ones, so this streamed plan no longer matches the graph.
    let older = json.replace("  \"streamed_inputs\": true,\n", "");
    let read = PlanFile::parse(&older).expect("an older file parses");
    assert!(!read.streamed_inputs);
    let err = read
        .load(&base, Some(&lavapipe()))
        .expect_err("lifetimes differ");
    assert!(err.to_string().contains("lifetime"), "{err}");
}
