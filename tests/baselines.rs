//! The dynamic-allocation baselines on the device (lavapipe in CI): for the default mlp, resnet
//! and gpt graphs, every baseline's outputs equal the naive single-arena run's bit for bit, and
//! the byte accounting is consistent: naive-dynamic requests less at its peak than
//! naive-static, buddy holds at least what it was asked for, and where the backend reports
//! allocator bytes, naive-static's measured peak covers every non-weight tensor it holds.

mod common;

use common::{gpu, naive};
use std::sync::Mutex;
use tessera::analysis::liveness;
use tessera::graph::{Graph, TensorKind};
use tessera::models::{ModelOptions, build};
use tessera::runtime::{Baseline, compile, run_baseline};

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

fn check_model(name: &str) {
    let _serial = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let graph = build(name, &ModelOptions::default()).expect("model builds");
    let want = compile(gpu(), &graph, &naive(&graph))
        .and_then(|c| c.run(gpu()))
        .unwrap_or_else(|e| panic!("{name}: single-arena run failed: {e}"))
        .outputs;
    let reports_bytes = gpu().allocator_bytes().is_some();
    let mut requested = Vec::new();
    for which in Baseline::ALL {
        let what = format!("{name} {}", which.name());
        let run = run_baseline(gpu(), &graph, which).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(run.baseline, which);
        assert_eq!(
            run.outputs, want,
            "{what}: outputs differ from the arena run"
        );
        assert_eq!(
            run.samples.len(),
            graph.nodes.len(),
            "{what}: one sample per node"
        );
        assert_eq!(run.samples_after_free.len(), graph.nodes.len());
        assert!(run.held_peak_bytes >= run.requested_peak_bytes, "{what}");
        assert!(run.reserved_bytes >= run.held_peak_bytes, "{what}");
        if reports_bytes {
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
        match which {
            Baseline::NaiveStatic => {
                let sum = non_weight_root_bytes(&graph);
                assert!(run.requested_peak_bytes >= sum, "{what}");
                if let Some(peak) = run.peak_allocated_bytes {
                    assert!(peak >= sum, "{what}: measured {peak} < tensor bytes {sum}");
                }
            }
            Baseline::Buddy => {
                // Fragmentation is measured at the held peak, where at most the requested
                // peak is live.
                let frag = run.internal_fragmentation_bytes;
                assert!(frag <= run.held_peak_bytes, "{what}");
                assert!(
                    run.held_peak_bytes - frag <= run.requested_peak_bytes,
                    "{what}"
                );
                assert!(run.reserved_bytes.is_power_of_two(), "{what}: pool size");
            }
            Baseline::NaiveDynamic => assert_eq!(run.internal_fragmentation_bytes, 0),
        }
        requested.push(run.requested_peak_bytes);
    }
    assert!(
        requested[1] < requested[0],
        "{name}: naive-dynamic requested {} >= naive-static {}",
        requested[1],
        requested[0]
    );
    assert_eq!(
        requested[1], requested[2],
        "{name}: buddy replays naive-dynamic"
    );
}

#[test]
fn mlp_baselines_match_the_arena_run() {
    check_model("mlp");
}

#[test]
fn resnet_baselines_match_the_arena_run() {
    check_model("resnet");
}

#[test]
fn gpt_baselines_match_the_arena_run() {
    check_model("gpt");
}
