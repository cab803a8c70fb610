//! Shared helpers for GPU tests: one device per test binary, and comparison against the CPU
//! reference. A missing adapter FAILS the test (scripts/test guarantees lavapipe).

#![allow(dead_code)]

use std::sync::OnceLock;
use tessera::graph::{DType, Graph, GraphBuilder, Init, NodeId, Op, TensorId, TensorKind};
use tessera::layout::{MemoryLayout, naive_layout};
use tessera::runtime::{Compiled, GemmKernel, Gpu, compile, compile_with_gemm};

/// The test binary's one GPU (device creation is slow on lavapipe).
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        Gpu::new().unwrap_or_else(|e| {
            panic!(
                "GPU tests need a wgpu adapter and none could be opened: {e}\n\
                 Install Mesa lavapipe (apt-get install -y mesa-vulkan-drivers) or run scripts/test."
            )
        })
    })
}

/// The naive layout at this device's storage offset alignment.
pub fn naive(graph: &Graph) -> MemoryLayout {
    naive_layout(graph, gpu().min_storage_buffer_offset_alignment()).expect("naive layout")
}

/// The naive layout with node `n`'s output moved onto its first input (in place). The caller
/// guarantees the input is not read after `n` and is not a weight or graph output.
pub fn in_place_at(graph: &Graph, mut layout: MemoryLayout, n: NodeId) -> MemoryLayout {
    let node = graph.node(n);
    let input = node.inputs[0];
    assert_ne!(
        graph.tensors[input.index()].kind,
        TensorKind::Weight,
        "weights never run in place"
    );
    layout.tensor_offsets[node.outputs[0].index()] = layout.tensor_offsets[input.index()];
    assert!(layout.is_in_place(graph, n));
    layout
}

/// Runs `graph` on the GPU at `layout` and compares every output with the CPU reference:
/// max abs error <= 1e-4 * max(1, max |ref|) for floats, exact for integers.
pub fn check(graph: &Graph, layout: &MemoryLayout, what: &str) {
    check_on(gpu(), graph, layout, what);
}

/// [`check`] on a given device (one created with other limits).
pub fn check_on(gpu: &Gpu, graph: &Graph, layout: &MemoryLayout, what: &str) {
    let compiled =
        compile(gpu, graph, layout).unwrap_or_else(|e| panic!("{what}: compile failed: {e}"));
    check_compiled(gpu, graph, &compiled, what);
}

/// [`check`] with every GEMM run by `gemm` instead of the adapter table's kernel.
pub fn check_gemm(graph: &Graph, layout: &MemoryLayout, gemm: GemmKernel, what: &str) {
    check_gemm_on(gpu(), graph, layout, gemm, what);
}

/// [`check_gemm`] on a given device (one created with other limits).
pub fn check_gemm_on(
    gpu: &Gpu,
    graph: &Graph,
    layout: &MemoryLayout,
    gemm: GemmKernel,
    what: &str,
) {
    let compiled = compile_with_gemm(gpu, graph, layout, gemm)
        .unwrap_or_else(|e| panic!("{what}: compile failed: {e}"));
    check_compiled(gpu, graph, &compiled, what);
}

/// Runs `compiled` (of `graph`) on `gpu` and compares every output with the CPU reference as
/// [`check`] says.
pub fn check_compiled(gpu: &Gpu, graph: &Graph, compiled: &Compiled, what: &str) {
    let want = tessera::cpu::run_outputs(graph)
        .unwrap_or_else(|e| panic!("{what}: CPU reference failed: {e}"));
    let got = compiled
        .run(gpu)
        .unwrap_or_else(|e| panic!("{what}: run failed: {e}"));
    assert_eq!(got.outputs.len(), want.len(), "{what}: output count");
    for (i, (g, w)) in got.outputs.iter().zip(&want).enumerate() {
        match w.as_f32() {
            Some(w) => {
                let g = g.to_f32();
                assert_eq!(g.len(), w.len(), "{what}: output {i} length");
                let scale = w.iter().fold(1.0f32, |m, v| m.max(v.abs()));
                let (mut err, mut at) = (0.0f32, 0);
                for (k, (a, b)) in g.iter().zip(w).enumerate() {
                    let e = (a - b).abs();
                    if e > err || e.is_nan() {
                        err = e;
                        at = k;
                    }
                }
                assert!(
                    err <= 1e-4 * scale,
                    "{what}: output {i} max abs error {err} at {at} (gpu {}, cpu {}), tolerance {}",
                    g[at],
                    w[at],
                    1e-4 * scale
                );
            }
            None => assert_eq!(g.words, w.to_words(), "{what}: output {i} differs"),
        }
    }
}

/// [`check`] with the naive layout, and with node `in_place` (if any) run in place.
pub fn check_layouts(graph: &Graph, in_place: Option<NodeId>, what: &str) {
    check(graph, &naive(graph), &format!("{what} (naive)"));
    if let Some(n) = in_place {
        check(
            graph,
            &in_place_at(graph, naive(graph), n),
            &format!("{what} (in place)"),
        );
    }
}

/// A graph input of `dims`, uniform in [-1, 1) from `seed`.
pub fn input(b: &mut GraphBuilder, name: &str, dims: &[usize], seed: u64) -> TensorId {
    b.input(name, dims, DType::F32, Init::Uniform { seed, scale: 1.0 })
}

/// One node `y` of `op` over fresh inputs `x0, x1, ..` of `dims` (seeds from `first_seed`).
pub fn single_op(dims: &[&[usize]], op: Op, first_seed: u64) -> Graph {
    let mut b = GraphBuilder::new();
    let ins: Vec<_> = dims
        .iter()
        .enumerate()
        .map(|(i, d)| input(&mut b, &format!("x{i}"), d, first_seed + i as u64))
        .collect();
    let y = b.op("y", op, &ins).expect("valid op");
    b.output(y);
    b.build().expect("valid graph")
}
