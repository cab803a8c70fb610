//! Measurements that can fail, on the GPU (lavapipe in CI): the guard bands around the arena
//! catch a kernel that writes outside its planned range (forced here through the test-only
//! [`Fault`] hook, which moves one node's output binding), naming the band, the offsets and, in
//! node-by-node mode, the node; normal runs of every built-in model pass; the allocator delta
//! around creating the one buffer equals its size within the stated rounding; and device limits
//! are checked before the CPU reference runs.

mod common;

use common::{gpu, naive};
use std::sync::{Mutex, MutexGuard};
use tessera::execute::{ExecuteError, ExecuteOptions, clobber_check, execute};
use tessera::graph::{DType, Graph, GraphBuilder, Init, NodeId, Op};
use tessera::layout::MemoryLayout;
use tessera::models::{ModelOptions, build, catalog};
use tessera::pipeline::{PlanConfig, plan_graph};
use tessera::runtime::{
    BandPosition, Fault, LAVAPIPE_ALLOCATOR_ROUNDING_BYTES, MAX_BUFFER_ROUNDING_BYTES,
    RuntimeError, compile, compile_with_fault, measure_compile,
};

/// The allocator figures are process-wide: tests in this binary take turns on the device so no
/// other test creates a buffer between two samples.
fn device_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// `x` (input, 1000 f32) -> relu `y` (output): in the naive layout `y` is the last arena tensor.
fn relu_graph() -> Graph {
    let mut b = GraphBuilder::new();
    let x = b.input(
        "x",
        &[1000],
        DType::F32,
        Init::Uniform {
            seed: 3,
            scale: 1.0,
        },
    );
    let y = b.relu("y", x).expect("relu");
    b.output(y);
    b.build().expect("graph")
}

fn y_offset(g: &Graph, layout: &MemoryLayout) -> u64 {
    layout.offset(g.nodes[0].outputs[0])
}

#[test]
fn a_write_past_the_arena_is_caught_with_its_offset_and_node() {
    let _lock = device_lock();
    let g = relu_graph();
    let layout = naive(&g);
    let align = gpu().min_storage_buffer_offset_alignment();
    assert!(
        align <= layout.guard_bytes,
        "the shift stays inside the band"
    );
    assert_eq!(y_offset(&g, &layout) + 4000, layout.arena_end());
    let fault = Fault {
        node: NodeId(0),
        shift_output_bytes: align as i64,
    };
    let compiled = compile_with_fault(gpu(), &g, &layout, fault).expect("compile");
    // A correct layout passes on the same graph.
    let clean = compile(gpu(), &g, &layout).expect("compile");
    clean.run(gpu()).expect("run");
    assert_eq!(clean.check_guards(gpu()).expect("guards"), vec![]);

    compiled.run(gpu()).expect("run");
    let found = compiled.check_guards(gpu()).expect("guards");
    assert_eq!(found.len(), 1, "{found:?}");
    let v = &found[0];
    assert_eq!(v.band.position, BandPosition::AfterArena);
    assert_eq!(v.first_changed_byte, layout.arena_end());
    assert_eq!(v.end_changed_byte, layout.arena_end() + align);
    assert_eq!(v.changed_words, align / 4);
    assert_eq!(v.node, None, "one submission cannot name the node");
    // Re-armed: nothing ran since, so the bands are clean again.
    assert_eq!(compiled.check_guards(gpu()).expect("guards"), vec![]);

    let report = clobber_check(gpu(), &compiled, &g, &layout).expect("clobber check");
    let v = report
        .guard_failure
        .expect("node-by-node mode sees the write");
    assert_eq!(v.node.as_deref(), Some("y (relu)"));
    let line = v.to_string();
    assert!(
        line.contains(&format!(
            "[{}, {})",
            layout.arena_end(),
            layout.arena_end() + align
        )) && line.contains("after the arena")
            && line.contains("`y (relu)`")
            && !line.contains('\n'),
        "{line}"
    );
}

#[test]
fn a_write_below_the_arena_is_caught_in_the_band_after_the_weights() {
    let _lock = device_lock();
    let g = relu_graph();
    let layout = naive(&g);
    let align = gpu().min_storage_buffer_offset_alignment();
    let target = layout.arena_start() - align;
    let fault = Fault {
        node: NodeId(0),
        shift_output_bytes: target as i64 - y_offset(&g, &layout) as i64,
    };
    let compiled = compile_with_fault(gpu(), &g, &layout, fault).expect("compile");
    let report = clobber_check(gpu(), &compiled, &g, &layout).expect("clobber check");
    let v = report.guard_failure.expect("guard failure");
    assert_eq!(v.band.position, BandPosition::BeforeArena);
    assert_eq!(v.band.offset, layout.weights_bytes);
    assert_eq!(
        (v.first_changed_byte, v.end_changed_byte),
        (target, layout.arena_start())
    );
    assert_eq!(v.node.as_deref(), Some("y (relu)"));
}

#[test]
fn the_static_check_refuses_a_tensor_placed_in_a_guard_band() {
    let g = relu_graph();
    let mut layout = naive(&g);
    let y = g.nodes[0].outputs[0];
    layout.tensor_offsets[y.index()] = layout.arena_end();
    match compile(gpu(), &g, &layout) {
        Err(e @ RuntimeError::OutsideRegions { .. }) => {
            let line = e.to_string();
            assert!(line.starts_with("y occupies"), "{line}");
        }
        other => panic!("expected OutsideRegions, got {other:?}"),
    }
}

/// The stated allocator rounding for this adapter: below 64 B on lavapipe, below 64 KiB
/// elsewhere.
fn rounding_bound() -> i64 {
    if gpu().summary().name.contains("llvmpipe") {
        LAVAPIPE_ALLOCATOR_ROUNDING_BYTES
    } else {
        MAX_BUFFER_ROUNDING_BYTES
    }
}

#[test]
fn the_static_check_refuses_a_misaligned_arena_start() {
    let g = relu_graph();
    let mut layout = naive(&g);
    layout.guard_bytes += 4;
    match compile(gpu(), &g, &layout) {
        Err(RuntimeError::Misaligned { what, offset, .. }) => {
            assert_eq!(
                (what.as_str(), offset),
                ("the arena start", layout.arena_start())
            );
        }
        other => panic!("expected Misaligned, got {other:?}"),
    }
}

fn config() -> PlanConfig {
    let mut cfg = PlanConfig::default();
    cfg.analysis.alignment = gpu().min_storage_buffer_offset_alignment();
    cfg
}

#[test]
fn every_built_in_model_passes_the_guard_check_with_honest_device_figures() {
    let _lock = device_lock();
    let opts = ExecuteOptions {
        validate: true,
        baselines: false,
        training: None,
    };
    // Full-size models (resnet50, gpt2-small) are benchmarks, not tests.
    for info in catalog().into_iter().filter(|i| !i.full_size) {
        let graph = build(info.name, &ModelOptions::default()).expect("model");
        let planned = plan_graph(&graph, &config()).expect("plan");
        let exec = execute(&graph, &planned, Some(gpu()), opts).expect("execute");
        let (m, name) = (&exec.measured, info.name);
        assert_eq!(exec.validate.guard_check, "passed", "{name}");
        assert_eq!(exec.validate.clobber_check, "passed", "{name}");
        let buffer = m.buffer_bytes.expect("buffer bytes") as i64;
        assert_eq!(
            buffer as u64,
            planned.layout.weights_bytes
                + m.guard_bytes.expect("guards")
                + planned.layout.arena_bytes,
            "{name}: the buffer is weights + guard bands + arena"
        );
        let Some(delta) = m.arena_device_bytes else {
            assert!(gpu().allocator_bytes().is_none(), "{name}: a report exists");
            assert_eq!(m.device_peak_bytes, None, "{name}: never made up");
            continue;
        };
        let (rounding, bound) = (delta - buffer, rounding_bound());
        assert!(
            (0..bound).contains(&rounding),
            "{name}: allocator delta {delta} vs buffer {buffer}: rounding {rounding} outside [0, {bound})"
        );
        let peak = m.device_peak_bytes.expect("peak");
        let params = m.params_bytes.expect("params") as i64;
        assert!(
            peak >= delta && peak >= buffer + params,
            "{name}: peak {peak} holds the buffer {buffer} and the params {params}"
        );
        assert!(m.arena_device_reserved_bytes.is_some() && m.device_peak_reserved_bytes.is_some());
    }
}

#[test]
fn measure_compile_reports_the_one_buffer_alone() {
    let _lock = device_lock();
    let g = relu_graph();
    let layout = naive(&g);
    let (compiled, bytes) = measure_compile(gpu(), &g, &layout).expect("compile");
    match (bytes.buffer, bytes.delta_allocated) {
        (Some(buffer), Some(whole)) => {
            let d = buffer.allocated - compiled.buffer_bytes() as i64;
            assert!((0..rounding_bound()).contains(&d), "rounding {d}");
            // The whole compile also created the params buffer, the buffer sample did not.
            assert!(
                whole
                    >= buffer.allocated + compiled.params_bytes() as i64
                        - MAX_BUFFER_ROUNDING_BYTES
            );
        }
        (None, None) => assert!(gpu().allocator_bytes().is_none()),
        other => panic!("samples on one side only: {other:?}"),
    }
}

/// A graph the device refuses (one binding past the device limit) whose CPU reference would
/// also fail (an embedding id outside its table): the device's refusal must come first.
#[test]
fn device_limits_are_checked_before_the_cpu_reference_runs() {
    let limit = gpu().max_binding();
    let mut b = GraphBuilder::new();
    let table = b.weight("table", &[3, 4], 1, 1.0);
    let ids = b.input("ids", &[2], DType::U32, Init::Ids { seed: 1, max: 1000 });
    let e = b.op("e", Op::Embedding, &[table, ids]).expect("embedding");
    b.output(e);
    let huge = b.input(
        "huge",
        &[(limit / 4 + 1) as usize],
        DType::F32,
        Init::Constant(0.0),
    );
    let y = b.relu("y", huge).expect("relu");
    b.output(y);
    let g = b.build().expect("graph");
    let planned = plan_graph(&g, &config()).expect("plan");
    let opts = ExecuteOptions::default();
    match execute(&g, &planned, Some(gpu()), opts) {
        Err(ExecuteError::Runtime(RuntimeError::BindingTooLarge { tensor, .. })) => {
            assert_eq!(tensor, "huge");
        }
        other => panic!("expected the device's BindingTooLarge first, got {other:?}"),
    }
    // Without a device the CPU reference runs and finds the bad id (skipped where the binding
    // limit, hence the host data, is large).
    if limit <= 256 << 20 {
        assert!(matches!(
            execute(&g, &planned, None, opts),
            Err(ExecuteError::Cpu(_))
        ));
    }
}
