//! The allocation baselines on the device (lavapipe in CI): for the default mlp, resnet and gpt
//! graphs, every baseline (naive-static, naive-dynamic, naive-dynamic-inplace, caching,
//! ggml-style, buddy) produces outputs equal to the planned single-arena run's bit for bit, and
//! the byte accounting is consistent: naive-dynamic requests less at its peak than
//! naive-static and in-place reuse never requests more; caching's reserved bytes are whole
//! PyTorch segments that the device allocator saw appear; ggml-style is one pool at least as
//! large as its in-place sequence's live bytes; buddy holds at least what it was asked for.

mod common;

use common::gpu;
use std::collections::HashMap;
use std::sync::Mutex;
use tessera::analysis::liveness;
use tessera::graph::{DType, Graph, GraphBuilder, Init, TensorKind};
use tessera::models::{ModelOptions, build};
use tessera::pipeline::{PlanConfig, plan_graph};
use tessera::runtime::{Baseline, BaselineRun, compile, run_baseline};

const MIB: u64 = 1 << 20;

/// Bytes of every non-weight tensor that owns its bytes (views share their source's).
fn non_weight_root_bytes(graph: &Graph) -> u64 {
    let live = liveness(graph);
    graph
        .tensor_ids()
        .filter(|&t| live.root[t.index()] == t)
        .map(|t| &graph.tensors[t.index()])
        .filter(|t| t.kind != TensorKind::Weight)
        .map(|t| t.size_bytes())
        .sum()
}

/// Allocator samples are per device and the test binary shares one device: tests that
/// measure must not overlap.
static MEASURING: Mutex<()> = Mutex::new(());

/// Checks that hold for every scheme.
fn check_common(graph: &Graph, run: &BaselineRun, what: &str) {
    assert_eq!(
        run.samples.len(),
        graph.nodes.len(),
        "{what}: one sample per node"
    );
    assert_eq!(run.samples_after_free.len(), graph.nodes.len());
    assert!(run.held_peak_bytes >= run.requested_peak_bytes, "{what}");
    assert!(run.reserved_bytes >= run.held_peak_bytes, "{what}");
    if gpu().allocator_bytes().is_some() {
        assert!(
            run.samples.iter().all(Option::is_some),
            "{what}: allocator samples missing on a backend that reports them"
        );
        let peak = run.peak_allocated_bytes.expect("peak");
        assert!(
            peak >= run.requested_peak_bytes,
            "{what}: measured peak {peak} < requested peak {}",
            run.requested_peak_bytes
        );
    }
}

/// Checks specific to one scheme.
fn check_scheme(graph: &Graph, run: &BaselineRun, what: &str) {
    match run.baseline {
        Baseline::NaiveStatic => {
            let sum = non_weight_root_bytes(graph);
            assert!(run.requested_peak_bytes >= sum, "{what}");
            if let Some(peak) = run.peak_allocated_bytes {
                assert!(peak >= sum, "{what}: measured {peak} < tensor bytes {sum}");
            }
        }
        Baseline::Buddy => {
            // Fragmentation is measured at the held peak, where at most the requested peak
            // is live.
            let frag = run.internal_fragmentation_bytes;
            assert!(frag <= run.held_peak_bytes, "{what}");
            assert!(
                run.held_peak_bytes - frag <= run.requested_peak_bytes,
                "{what}"
            );
            assert!(run.reserved_bytes.is_power_of_two(), "{what}: pool size");
            assert_eq!(run.segments, 1, "{what}");
        }
        Baseline::Caching => {
            // Whole PyTorch segments: 2 MiB, 20 MiB or a multiple of 2 MiB, never freed, so
            // the last sample (every segment exists) covers them all.
            assert!(run.segments >= 1, "{what}");
            assert_eq!(run.reserved_bytes % (2 * MIB), 0, "{what}: segment sizes");
            assert!(
                run.reserved_bytes >= 2 * MIB * run.segments as u64,
                "{what}"
            );
            if let Some(Some(last)) = run.samples.last() {
                assert!(
                    *last >= run.reserved_bytes,
                    "{what}: the device saw {last} bytes, fewer than the {} reserved",
                    run.reserved_bytes
                );
            }
        }
        Baseline::GgmlStyle => {
            assert_eq!(run.segments, 1, "{what}: one buffer");
            assert_eq!(run.reserved_bytes % 4, 0, "{what}");
        }
        Baseline::NaiveDynamic | Baseline::NaiveDynamicInPlace => {
            assert_eq!(run.internal_fragmentation_bytes, 0, "{what}");
            assert_eq!(run.segments, 0, "{what}");
        }
    }
}

fn check_model(name: &str) {
    let _serial = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let graph = build(name, &ModelOptions::default()).expect("model builds");
    let mut cfg = PlanConfig::default();
    cfg.analysis.alignment = gpu().min_storage_buffer_offset_alignment();
    let planned = plan_graph(&graph, &cfg).expect("plans");
    let want = compile(gpu(), &graph, &planned.layout)
        .and_then(|c| c.run(gpu()))
        .unwrap_or_else(|e| panic!("{name}: planned run failed: {e}"))
        .outputs;
    let mut requested = HashMap::new();
    for which in Baseline::ALL {
        let what = format!("{name} {}", which.name());
        let run = run_baseline(gpu(), &graph, which).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(run.baseline, which);
        assert!(
            run.outputs == want,
            "{what}: outputs differ from the planned run"
        );
        check_common(&graph, &run, &what);
        check_scheme(&graph, &run, &what);
        requested.insert(which, run.requested_peak_bytes);
    }
    let req = |b: Baseline| requested[&b];
    assert!(
        req(Baseline::NaiveDynamic) < req(Baseline::NaiveStatic),
        "{name}: naive-dynamic requests no less than naive-static"
    );
    assert!(req(Baseline::NaiveDynamicInPlace) <= req(Baseline::NaiveDynamic));
    // Caching and buddy replay naive-dynamic's sequence; ggml-style the in-place one.
    assert_eq!(req(Baseline::Caching), req(Baseline::NaiveDynamic));
    assert_eq!(req(Baseline::Buddy), req(Baseline::NaiveDynamic));
    assert_eq!(req(Baseline::GgmlStyle), req(Baseline::NaiveDynamicInPlace));
}

#[test]
fn mlp_baselines_match_the_planned_run() {
    check_model("mlp");
}

#[test]
fn resnet_baselines_match_the_planned_run() {
    check_model("resnet");
}

#[test]
fn gpt_baselines_match_the_planned_run() {
    check_model("gpt");
}

/// x [128, 64] -> relu a -> a @ w [64, 4096] = h [128, 4096] (2 MiB) -> relu b (output).
fn growing_graph() -> Graph {
    let mut g = GraphBuilder::new();
    let init = Init::Uniform {
        seed: 3,
        scale: 1.0,
    };
    let x = g.input("x", &[128, 64], DType::F32, init);
    let w = g.weight("w", &[64, 4096], 4, 0.1);
    let a = g.relu("a", x).expect("relu");
    let h = g.matmul("h", a, w, false, false).expect("matmul");
    let b = g.relu("b", h).expect("relu");
    g.output(b);
    g.build().expect("graph")
}

#[test]
fn caching_segments_appear_on_the_device_when_the_replay_creates_them() {
    let _serial = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let graph = growing_graph();
    let run = |b| run_baseline(gpu(), &graph, b).unwrap_or_else(|e| panic!("{b:?}: {e}"));
    let (naive, caching, ggml) = (
        run(Baseline::NaiveDynamic),
        run(Baseline::Caching),
        run(Baseline::GgmlStyle),
    );
    assert!(caching.outputs == naive.outputs && ggml.outputs == naive.outputs);
    // x and a (32 KiB each) share a 2 MiB small segment created before node 0; h (2 MiB, a
    // large request under 10 MiB) needs a 20 MiB segment, created right before node 1; b comes
    // from that segment's cached remainder.
    assert_eq!((caching.segments, caching.reserved_bytes), (2, 22 * MIB));
    // ggml-style: x at 0, a at 32 KiB; x freed; h does not fit x's 32 KiB hole and goes to
    // the end (64 KiB); b runs in place over h. One pool of 2 MiB + 64 KiB.
    assert_eq!(
        (ggml.segments, ggml.reserved_bytes),
        (1, 2 * MIB + 64 * 1024)
    );
    if gpu().allocator_bytes().is_some() {
        let s: Vec<u64> = caching.samples.iter().map(|s| s.expect("sample")).collect();
        assert!(
            (2 * MIB..20 * MIB).contains(&s[0]),
            "after node 0 only the small segment exists: {s:?}"
        );
        assert!(
            s[1] >= 22 * MIB,
            "the large segment appeared before node 1: {s:?}"
        );
        let g0 = ggml.samples[0].expect("sample");
        assert!(
            g0 >= ggml.reserved_bytes,
            "the pool exists from node 0: {g0}"
        );
    }
}

#[test]
fn a_segment_beyond_the_device_limit_is_one_clear_error() {
    let max = gpu().max_buffer();
    // One f32 tensor just past the largest buffer; the check runs before any upload, so no
    // host memory is needed. Kernels index with 32 bits: past 2^32 elements lowering refuses
    // first (another check), so this case needs a device with buffers under 16 GiB.
    let elements = (max / 4 + 1024) as usize;
    if elements as u64 >= u64::from(u32::MAX) {
        eprintln!("skipped: max_buffer_size {max} needs more than 2^32 elements");
        return;
    }
    let mut g = GraphBuilder::new();
    let x = g.input("x", &[elements], DType::F32, Init::Constant(0.0));
    let y = g.relu("y", x).expect("relu");
    g.output(y);
    let graph = g.build().expect("graph");
    for which in [
        Baseline::Caching,
        Baseline::GgmlStyle,
        Baseline::NaiveDynamic,
    ] {
        let err = run_baseline(gpu(), &graph, which).expect_err("too large");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("baseline {} needs a ", which.name())) && !msg.contains('\n'),
            "{msg}"
        );
    }
}
