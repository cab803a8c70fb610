//! The kernel variants on the device (lavapipe in CI): the subgroup and the workgroup-memory
//! reductions of row softmax and layer normalisation, and the vec4 and scalar elementwise
//! kernels, each checked against the CPU reference on sizes that are not multiples of 4 or of
//! the workgroup, with and without in-place nodes. Each check also lowers the graph with the
//! same options and returns the kernels its steps use, so a test can assert which variant ran.

use super::Lowerer;
use crate::graph::{BinaryOp, DType, Graph, GraphBuilder, Init, NodeId, Op, TensorId, UnaryOp};
use crate::layout::{MemoryLayout, naive_layout};
use crate::runtime::shaders::Kernel;
use crate::runtime::{Gpu, KernelOptions, compile_with};
use std::sync::OnceLock;

fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        Gpu::new().expect("GPU tests need a wgpu adapter (scripts/test installs lavapipe)")
    })
}

/// The device's best variants (subgroups: lavapipe has them) and the plain ones.
fn both_variants() -> [KernelOptions; 2] {
    let best = KernelOptions::for_gpu(gpu());
    assert!(
        best.subgroups,
        "the test device ({}) offers no wgpu::Features::SUBGROUP (lavapipe does); \
         is TESSERA_NO_SUBGROUPS set?",
        gpu().summary().name
    );
    [best, KernelOptions::scalar(best.gemm)]
}

/// `layout` with the outputs of `nodes` moved onto their first inputs (run in place).
fn in_place(graph: &Graph, mut layout: MemoryLayout, nodes: &[NodeId]) -> MemoryLayout {
    for &n in nodes {
        let node = graph.node(n);
        layout.tensor_offsets[node.outputs[0].index()] =
            layout.tensor_offsets[node.inputs[0].index()];
        assert!(layout.is_in_place(graph, n));
    }
    layout
}

/// Runs `graph` at `layout` with `opts`, compares every output with the CPU reference
/// (max abs error <= 1e-4 * max(1, max |ref|)) and returns the kernels of its steps.
fn check(graph: &Graph, layout: &MemoryLayout, opts: KernelOptions, what: &str) -> Vec<Kernel> {
    let gpu = gpu();
    let compiled = compile_with(gpu, graph, layout, opts)
        .unwrap_or_else(|e| panic!("{what}: compile failed: {e}"));
    let got = compiled
        .run(gpu)
        .unwrap_or_else(|e| panic!("{what}: run failed: {e}"));
    let want = crate::cpu::run_outputs(graph).expect("CPU reference");
    for (i, (g, w)) in got.outputs.iter().zip(&want).enumerate() {
        let (g, w) = (g.to_f32(), w.as_f32().expect("f32 output"));
        assert_eq!(g.len(), w.len(), "{what}: output {i} length");
        let scale = w.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (k, (a, b)) in g.iter().zip(w).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * scale,
                "{what}: output {i} element {k}: gpu {a}, cpu {b}"
            );
        }
    }
    let lowerer = Lowerer::new(graph, layout, gpu, opts);
    let steps = graph
        .node_ids()
        .flat_map(|id| lowerer.lower(id).expect("lower"));
    steps.map(|s| s.kernel).collect()
}

fn input(b: &mut GraphBuilder, name: &str, dims: &[usize], seed: u64) -> TensorId {
    let init = Init::Uniform { seed, scale: 3.0 };
    b.input(name, dims, DType::F32, init)
}

/// Softmax (node 0) and layer normalisation (node 1) of `rows` rows of `cols`.
fn norm_graph(rows: usize, cols: usize) -> Graph {
    let mut b = GraphBuilder::new();
    let x = input(&mut b, "x", &[rows, cols], 1);
    let s = b.op("softmax", Op::Softmax, &[x]).expect("softmax");
    b.output(s);
    let x2 = input(&mut b, "x2", &[rows, cols], 2);
    let gamma = b.weight("gamma", &[cols], 3, 1.0);
    let beta = b.weight("beta", &[cols], 4, 1.0);
    let ln = Op::LayerNorm { eps: 1e-5 };
    let y = b
        .op("layernorm", ln, &[x2, gamma, beta])
        .expect("layernorm");
    b.output(y);
    b.build().expect("graph")
}

#[test]
fn softmax_and_layernorm_reduce_right_with_and_without_subgroups() {
    let sg = [
        Kernel::SoftmaxSg,
        Kernel::SoftmaxSgInPlace,
        Kernel::LayerNormSg,
        Kernel::LayerNormSgInPlace,
    ];
    let sg4 = [
        Kernel::SoftmaxSg4,
        Kernel::SoftmaxSg4InPlace,
        Kernel::LayerNormSg4,
        Kernel::LayerNormSg4InPlace,
    ];
    // Rows of 4 and 1000 are whole vec4s (the vec4 subgroup kernels), the others not.
    for cols in [1, 3, 4, 255, 257, 1000, 4099] {
        for rows in [1, 3, 67] {
            let g = norm_graph(rows, cols);
            let naive = naive_layout(&g, gpu().min_storage_buffer_offset_alignment())
                .expect("naive layout");
            let inplace = in_place(&g, naive.clone(), &[NodeId(0), NodeId(1)]);
            for opts in both_variants() {
                for (layout, how) in [(&naive, "naive"), (&inplace, "in place")] {
                    let what = format!("{rows} x {cols}, {how}, subgroups {}", opts.subgroups);
                    let kernels = check(&g, layout, opts, &what);
                    let count = |set: &[Kernel]| kernels.iter().filter(|k| set.contains(k)).count();
                    let (want_sg, want_sg4) = match (opts.subgroups, cols % 4 == 0) {
                        (false, _) => (0, 0),
                        (true, false) => (kernels.len(), 0),
                        (true, true) => (0, kernels.len()),
                    };
                    assert_eq!(count(&sg), want_sg, "{what}: {kernels:?}");
                    assert_eq!(count(&sg4), want_sg4, "{what}: {kernels:?}");
                }
            }
        }
    }
}

/// An elementwise case: output dims, b's dims (`None`: a unary op), vec4 kernels expected.
type Case = (&'static [usize], Option<&'static [usize]>, bool);

/// The elementwise cases.
const CASES: &[Case] = &[
    // Unary (relu, gelu, scale, relu): 1 and 3 elements are too short for a vec4; 1027 runs
    // a vec4 head and a scalar tail of 3 (scaled by -1.5, so a skipped tail shows).
    (&[4], None, true),
    (&[3], None, false),
    (&[1027], None, true),
    (&[1], None, false),
    // Binary, both full, a count that is not a multiple of 4 or of the workgroup.
    (&[7, 1027], Some(&[7, 1027]), true),
    // A row broadcast (VEC_ROW) and a value per row (VEC_SPLAT).
    (&[5, 260], Some(&[260]), true),
    (&[5, 4, 8], Some(&[5, 4, 1]), true),
    // Splat from an operand that is not a whole number of vec4s, a last axis not a multiple
    // of 4, one broadcast value: the scalar kernel.
    (&[5, 6, 8], Some(&[5, 6, 1]), false),
    (&[3, 5], Some(&[5]), false),
    (&[9], Some(&[1]), false),
];

/// One node per case of [`CASES`] (a unary op cycles relu, gelu, scale; a binary op add, sub,
/// mul), each on its own inputs so any of them can run in place.
fn elementwise_graph(case: usize) -> Graph {
    let (out, other, _) = CASES[case];
    let mut b = GraphBuilder::new();
    let x = input(&mut b, "a", out, case as u64 + 10);
    let op = match other {
        None => Op::Unary([UnaryOp::Relu, UnaryOp::Gelu, UnaryOp::Scale(-1.5)][case % 3]),
        Some(_) => Op::Binary([BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul][case % 3]),
    };
    let mut inputs = vec![x];
    if let Some(dims) = other {
        inputs.push(input(&mut b, "b", dims, case as u64 + 20));
    }
    let y = b.op("y", op, &inputs).expect("elementwise op");
    b.output(y);
    b.build().expect("graph")
}

#[test]
fn elementwise_vec4_and_scalar_kernels_agree_with_the_cpu() {
    let quad = [
        Kernel::Binary4,
        Kernel::Binary4InPlace,
        Kernel::Unary4,
        Kernel::Unary4InPlace,
    ];
    for (case, &(out, other, vec4)) in CASES.iter().enumerate() {
        let g = elementwise_graph(case);
        let naive =
            naive_layout(&g, gpu().min_storage_buffer_offset_alignment()).expect("naive layout");
        let inplace = in_place(&g, naive.clone(), &[NodeId(0)]);
        for opts in both_variants() {
            for (layout, how) in [(&naive, "naive"), (&inplace, "in place")] {
                let what = format!("{out:?} with {other:?}, {how}, vec4 {}", opts.vec4);
                let kernels = check(&g, layout, opts, &what);
                let used = kernels.iter().any(|k| quad.contains(k));
                assert_eq!(used, vec4 && opts.vec4, "{what}: {kernels:?}");
                // A count that is not a multiple of 4 adds a scalar step for its tail.
                let n: usize = out.iter().product();
                let tail = used && !n.is_multiple_of(4);
                assert_eq!(kernels.len(), 1 + usize::from(tail), "{what}: {kernels:?}");
            }
        }
    }
}
