//! f16 storage: every forward op family on F16 tensors (2 bytes an element in the one arena,
//! math in f32 inside the kernels) run on the GPU in both storage variants, WGSL `f16`
//! (`SHADER_F16`) and `u32`-packed halves, against the CPU reference, on odd shapes that are not
//! multiples of the workgroup size (odd element counts leave half a word at tensor ends, and
//! neighbouring invocations write the two halves of one packed word). Each case also passes
//! the clobber check (every live tensor intact after every node, guard bands unchanged).
//!
//! Reference. The f32 graph on the CPU with every input and weight rounded to f16 first
//! (`TensorData::from_words(F16, ..)`, the values the upload stores), so the GPU and the
//! reference start from equal values; the reference computes in f32 and does not round outputs.
//!
//! Tolerance. The kernels accumulate in f32 and round once per stored tensor; f16's unit roundoff
//! is u = 2^-11. The standard bound for a length-k reduction whose terms are rounded with unit
//! roundoff u is |error| <= k * u * sum |terms| (Higham, gamma_k), so a result of a k-long
//! reduction (a dot product of length k, a row of k softmax or layernorm entries) is allowed
//! (k + 1) * u * max(1, max |reference|): the +1 is the final rounding of the stored output.
//! Kernels that only move elements (permute, concat, embedding, upsample, max pooling) must
//! match exactly. The bound is stated before the run, not tuned to it.

mod common;

use std::sync::OnceLock;
use tessera::cpu::TensorData;
use tessera::execute::clobber_check;
use tessera::graph::{
    AttentionKernel, BinaryOp, Conv2dAttrs, ConvMethod, DType, Graph, GraphBuilder, Init, NodeId,
    Op, PoolAttrs, PoolKind, TensorId, TensorKind, UnaryOp,
};
use tessera::layout::{MemoryLayout, naive_layout};
use tessera::runtime::shaders::FloatStorage;
use tessera::runtime::{Baseline, GemmKernel, Gpu, compile_with_gemm, run_baseline};

/// f16's unit roundoff (round to nearest, 11-bit significand).
const U16: f32 = 1.0 / 2048.0;

/// How closely the GPU must match the reference.
#[derive(Clone, Copy, Debug)]
enum Tol {
    /// Bit-equal: the kernel only moves elements.
    Exact,
    /// Results of reductions of at most this length: (k + 1) * u * max(1, max |ref|).
    Reduction(usize),
}

/// One device per f16 storage variant (device creation is slow on lavapipe).
fn gpus() -> [&'static Gpu; 2] {
    static NATIVE: OnceLock<Gpu> = OnceLock::new();
    static PACKED: OnceLock<Gpu> = OnceLock::new();
    let open = |s: FloatStorage| {
        Gpu::new()
            .and_then(|g| g.with_f16_storage(s))
            .unwrap_or_else(|e| panic!("f16 GPU tests need a wgpu adapter ({s:?}): {e}"))
    };
    [
        NATIVE.get_or_init(|| open(FloatStorage::F16)),
        PACKED.get_or_init(|| open(FloatStorage::F16Packed)),
    ]
}

/// `graph` with every F32 tensor made F16 (U32 ids stay U32).
fn to_f16(mut graph: Graph) -> Graph {
    for t in &mut graph.tensors {
        if t.dtype == DType::F32 {
            t.dtype = DType::F16;
        }
    }
    graph
}

/// Max abs error of `got` against `want` and where, NaN counting as infinitely wrong.
fn max_error(got: &[f32], want: &[f32]) -> (f32, usize) {
    let mut worst = (0.0f32, 0);
    for (k, (a, b)) in got.iter().zip(want).enumerate() {
        let e = if (a - b).is_nan() {
            f32::INFINITY
        } else {
            (a - b).abs()
        };
        if e > worst.0 {
            worst = (e, k);
        }
    }
    worst
}

/// The outputs of f32 graph `g32` on the CPU with its inputs and weights rounded to f16.
fn reference(g32: &Graph) -> Vec<TensorData> {
    let given: Vec<(TensorId, TensorData)> = g32
        .tensor_ids()
        .filter(|&t| {
            let tensor = &g32.tensors[t.index()];
            tensor.kind != TensorKind::Activation && tensor.dtype == DType::F32
        })
        .map(|t| {
            let tensor = &g32.tensors[t.index()];
            let words = tensor.init.words(tensor.shape.numel() as usize);
            (t, TensorData::from_words(DType::F16, &words))
        })
        .collect();
    tessera::cpu::run_outputs_with(g32, &given).expect("cpu reference")
}

/// Runs f16 `graph` at `layout` with `gemm` on `gpu`, compares every output with `want` within
/// `tol` and runs the clobber check.
fn check_one(
    gpu: &Gpu,
    (graph, layout): (&Graph, &MemoryLayout),
    gemm: GemmKernel,
    (want, tol): (&[TensorData], Tol),
    what: &str,
) {
    let what = format!("{what} [{:?}, {gemm:?}]", gpu.f16_storage());
    let compiled = compile_with_gemm(gpu, graph, layout, gemm)
        .unwrap_or_else(|e| panic!("{what}: compile failed: {e}"));
    let got = compiled
        .run(gpu)
        .unwrap_or_else(|e| panic!("{what}: run failed: {e}"));
    assert_eq!(got.outputs.len(), want.len(), "{what}: output count");
    for (i, (g, w)) in got.outputs.iter().zip(want).enumerate() {
        let Some(w) = w.as_f32() else {
            assert_eq!(g.words, w.to_words(), "{what}: output {i} differs");
            continue;
        };
        let g = g.to_f32();
        assert_eq!(g.len(), w.len(), "{what}: output {i} length");
        let scale = w.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let bound = match tol {
            Tol::Exact => 0.0,
            Tol::Reduction(k) => (k as f32 + 1.0) * U16 * scale,
        };
        let (err, at) = max_error(&g, w);
        assert!(
            err <= bound,
            "{what}: output {i} max abs error {err} at {at} (gpu {}, cpu {}), bound {bound}",
            g[at],
            w[at]
        );
    }
    let report = clobber_check(gpu, &compiled, graph, layout)
        .unwrap_or_else(|e| panic!("{what}: clobber check: {e}"));
    assert_eq!(report.failure, None, "{what}: clobber");
    assert_eq!(report.guard_failure, None, "{what}: guard band written");
}

/// The f32 graph `g32` made f16 and checked in both storage variants with the adapter's GEMM
/// kernel, with the naive layout and, if `in_place` names a node, with it run in place.
fn check(g32: Graph, in_place: Option<NodeId>, tol: Tol, what: &str) {
    let want = reference(&g32);
    let graph = to_f16(g32);
    for gpu in gpus() {
        let layout =
            naive_layout(&graph, gpu.min_storage_buffer_offset_alignment()).expect("naive");
        let gemm = gpu.gemm_kernel();
        check_one(gpu, (&graph, &layout), gemm, (&want, tol), what);
        if let Some(n) = in_place {
            let layout = common::in_place_at(&graph, layout, n);
            let what = format!("{what} in place");
            check_one(gpu, (&graph, &layout), gemm, (&want, tol), &what);
        }
    }
}

/// One node `y` of `op` over fresh inputs of `dims`.
fn single(dims: &[&[usize]], op: Op) -> Graph {
    common::single_op(dims, op, 21)
}

const N0: NodeId = NodeId(0);

#[test]
fn f16_gemm_every_transpose_every_kernel_and_vec4() {
    let (m, k, n) = (37, 53, 29);
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let a = if ta { [3, k, m] } else { [3, m, k] };
        let bd = if tb { [3, n, k] } else { [3, k, n] };
        let g32 = single(
            &[&a, &bd],
            Op::MatMul {
                trans_a: ta,
                trans_b: tb,
            },
        );
        let want = reference(&g32);
        let g = to_f16(g32);
        for gpu in gpus() {
            let layout = naive_layout(&g, gpu.min_storage_buffer_offset_alignment()).expect("l");
            for gemm in GemmKernel::ALL {
                let what = format!("matmul ta={ta} tb={tb}");
                check_one(gpu, (&g, &layout), gemm, (&want, Tol::Reduction(k)), &what);
            }
        }
    }
    // K and N multiples of 4: the register GEMM reads a and b as vec4s (f16: 8-byte vectors).
    let aligned = single(
        &[&[2, 9, 36], &[36, 44]],
        Op::MatMul {
            trans_a: false,
            trans_b: false,
        },
    );
    check(aligned, None, Tol::Reduction(36), "matmul vec4");
    let mut b = GraphBuilder::new();
    let x = common::input(&mut b, "x", &[2, 5, 37], 1);
    let w = b.weight("w", &[37, 29], 2, 0.5);
    let bias = b.weight("bias", &[29], 3, 0.5);
    let y = b.linear("y", x, w, Some(bias)).expect("linear");
    b.output(y);
    check(
        b.build().expect("graph"),
        None,
        Tol::Reduction(37),
        "linear",
    );
}

#[test]
fn f16_elementwise_broadcast_and_in_place() {
    for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul] {
        let g = single(&[&[5, 1, 7], &[3, 1]], Op::Binary(op));
        check(g, None, Tol::Reduction(1), &format!("{op:?} broadcast"));
        let g = single(&[&[5, 3, 7], &[3, 1]], Op::Binary(op));
        check(g, Some(N0), Tol::Reduction(1), &format!("{op:?}"));
    }
    for op in [UnaryOp::Relu, UnaryOp::Gelu, UnaryOp::Scale(-1.75)] {
        let g = single(&[&[3, 347]], Op::Unary(op));
        check(g, Some(N0), Tol::Reduction(1), &format!("{op:?}"));
    }
}

#[test]
fn f16_softmax_and_layernorm_rows() {
    for dims in [[7usize, 301], [13, 9]] {
        let g = single(&[&dims], Op::Softmax);
        check(g, Some(N0), Tol::Reduction(dims[1]), "softmax");
        let mut b = GraphBuilder::new();
        let x = common::input(&mut b, "x", &dims, 5);
        let gamma = b.weight("gamma", &[dims[1]], 6, 1.0);
        let beta = b.weight("beta", &[dims[1]], 7, 1.0);
        let y = b
            .op("y", Op::LayerNorm { eps: 1e-5 }, &[x, gamma, beta])
            .expect("layernorm");
        b.output(y);
        check(
            b.build().expect("graph"),
            Some(N0),
            Tol::Reduction(dims[1]),
            "layernorm",
        );
    }
}

#[test]
fn f16_conv_im2col_and_direct_and_pooling() {
    for method in [ConvMethod::Im2col { cap: None }, ConvMethod::Direct] {
        let attrs = Conv2dAttrs {
            stride: [2, 1],
            padding: [1, 1],
            method,
            ..Default::default()
        };
        let mut b = GraphBuilder::new();
        let x = common::input(&mut b, "x", &[2, 5, 11, 13], 1);
        let w = b.weight("w", &[7, 5, 3, 3], 2, 0.5);
        let bias = b.weight("bias", &[7], 3, 0.5);
        let y = b.op("y", Op::Conv2d(attrs), &[x, w, bias]).expect("conv");
        b.output(y);
        check(
            b.build().expect("graph"),
            None,
            Tol::Reduction(45),
            &format!("conv {method:?}"),
        );
    }
    for (kind, tol) in [
        (PoolKind::Max, Tol::Exact),
        (PoolKind::Avg, Tol::Reduction(9)),
    ] {
        let attrs = PoolAttrs {
            kind,
            kernel: [3, 3],
            stride: [2, 2],
            padding: [1, 1],
        };
        check(
            single(&[&[2, 3, 11, 13]], Op::Pool2d(attrs)),
            None,
            tol,
            "pool",
        );
    }
    let g = single(&[&[3, 5, 11, 13]], Op::GlobalAvgPool);
    check(g, None, Tol::Reduction(143), "global average pool");
    let g = single(&[&[2, 3, 5, 7]], Op::Upsample2x { size: [10, 13] });
    check(g, None, Tol::Exact, "upsample");
}

#[test]
fn f16_data_movement_is_exact() {
    let g = single(
        &[&[2, 3, 5, 7]],
        Op::Permute {
            perm: vec![2, 0, 3, 1],
        },
    );
    check(g, None, Tol::Exact, "permute");
    let g = single(
        &[&[2, 3, 5], &[2, 4, 5], &[2, 1, 5]],
        Op::Concat { axis: 1 },
    );
    check(g, None, Tol::Exact, "concat");
    let mut b = GraphBuilder::new();
    let table = b.weight("table", &[17, 9], 4, 1.0);
    let ids = b.input("ids", &[3, 5], DType::U32, Init::Ids { seed: 9, max: 17 });
    let y = b.op("y", Op::Embedding, &[table, ids]).expect("embedding");
    b.output(y);
    check(b.build().expect("graph"), None, Tol::Exact, "embedding");
}

#[test]
fn f16_attention_materialized_and_tiled() {
    // Scores are a length-D reduction stored as f16 (materialized), then a length-T softmax
    // and a length-T weighted sum: the chain of reductions is D + 2T long.
    for kernel in [AttentionKernel::Materialized, AttentionKernel::Tiled] {
        for causal in [true, false] {
            // Causal attention needs S == T.
            let t = if causal { 13 } else { 11 };
            let g = single(
                &[&[2, 3, 13, 9], &[2, 3, t, 9], &[2, 3, t, 9]],
                Op::Attention {
                    causal,
                    scale: 0.3,
                    kernel,
                },
            );
            let what = format!("attention {kernel:?} causal={causal}");
            check(g, None, Tol::Reduction(9 + 2 * t), &what);
        }
    }
}

#[test]
fn a_node_mixing_f32_and_f16_is_refused_naming_it() {
    let mut g = single(&[&[3, 5], &[3, 5]], Op::Binary(BinaryOp::Add));
    g.tensors[0].dtype = DType::F16;
    let gpu = gpus()[1];
    let layout = naive_layout(&g, gpu.min_storage_buffer_offset_alignment()).expect("layout");
    let Err(err) = compile_with_gemm(gpu, &g, &layout, gpu.gemm_kernel()) else {
        panic!("a node mixing f32 and f16 compiled");
    };
    let err = err.to_string();
    assert!(err.contains("node y (add)"), "{err}");
    assert!(err.contains("x0 is f16") && err.contains("is f32"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// The binding limit of [`split_gpus`]: small enough that odd f16 shapes need several bindings.
const LIMIT: u64 = 64 << 10;

/// Both f16 storage variants on devices whose storage binding limit is lowered to [`LIMIT`].
fn split_gpus() -> [&'static Gpu; 2] {
    static NATIVE: OnceLock<Gpu> = OnceLock::new();
    static PACKED: OnceLock<Gpu> = OnceLock::new();
    let open = |s: FloatStorage| {
        Gpu::with_max_binding(LIMIT)
            .and_then(|g| g.with_f16_storage(s))
            .unwrap_or_else(|e| panic!("f16 GPU tests need a wgpu adapter ({s:?}): {e}"))
    };
    [
        NATIVE.get_or_init(|| open(FloatStorage::F16)),
        PACKED.get_or_init(|| open(FloatStorage::F16Packed)),
    ]
}

/// [`check`] on the lowered-limit devices, asserting that the node was split over bindings.
fn check_split(g32: Graph, tol: Tol, what: &str) {
    let want = reference(&g32);
    let graph = to_f16(g32);
    for gpu in split_gpus() {
        let layout =
            naive_layout(&graph, gpu.min_storage_buffer_offset_alignment()).expect("naive");
        for gemm in GemmKernel::ALL {
            let compiled = compile_with_gemm(gpu, &graph, &layout, gemm).expect("compile");
            assert!(
                compiled.dispatch_count() > graph.nodes.len(),
                "{what}: nothing was split"
            );
            check_one(gpu, (&graph, &layout), gemm, (&want, tol), what);
        }
    }
}

#[test]
fn f16_tensors_split_over_bindings_at_odd_element_offsets() {
    // a is 133 KB and b 72 KB of f16: row, column and depth blocks start at odd elements.
    let g = single(
        &[&[3, 97, 229], &[229, 157]],
        Op::MatMul {
            trans_a: false,
            trans_b: false,
        },
    );
    check_split(g, Tol::Reduction(229), "matmul over bindings");
    let g = single(&[&[70001]], Op::Unary(UnaryOp::Gelu));
    check_split(g, Tol::Reduction(1), "gelu over bindings");
    let g = single(&[&[601, 75], &[75]], Op::Binary(BinaryOp::Mul));
    check_split(g, Tol::Reduction(1), "broadcast mul over bindings");
    let g = single(&[&[53, 1001]], Op::Softmax);
    check_split(g, Tol::Reduction(1001), "softmax over bindings");
    let mut b = GraphBuilder::new();
    let table = b.weight("table", &[4099, 9], 4, 1.0);
    let ids = b.input("ids", &[7, 5], DType::U32, Init::Ids { seed: 3, max: 4099 });
    let y = b.op("y", Op::Embedding, &[table, ids]).expect("embedding");
    b.output(y);
    check_split(
        b.build().expect("graph"),
        Tol::Exact,
        "embedding over bindings",
    );
}

#[test]
fn f16_training_kernels() {
    let attrs = Conv2dAttrs {
        stride: [2, 2],
        padding: [1, 1],
        ..Default::default()
    };
    // Forward input 13x11, 3x3 kernel, stride 2, pad 1: output 7x6.
    let dx = Op::Conv2dGradInput {
        attrs,
        input: [13, 11],
    };
    let g = single(&[&[2, 5, 7, 6], &[5, 3, 3, 3]], dx);
    check(g, None, Tol::Reduction(45), "conv2d_grad_input");
    let dw = Op::Conv2dGradWeight {
        attrs,
        kernel: [3, 3],
    };
    let g = single(&[&[2, 3, 13, 11], &[2, 5, 7, 6]], dw);
    check(g, None, Tol::Reduction(84), "conv2d_grad_weight");
    let g = single(&[&[3, 300, 5, 7]], Op::Conv2dGradBias);
    check(g, None, Tol::Reduction(105), "conv2d_grad_bias");
    let pool = PoolAttrs {
        kind: PoolKind::Avg,
        kernel: [3, 3],
        stride: [2, 2],
        padding: [1, 1],
    };
    let op = Op::Pool2dGrad {
        attrs: pool,
        input: [11, 13],
    };
    check(
        single(&[&[2, 3, 6, 7]], op),
        None,
        Tol::Reduction(9),
        "avg pool grad",
    );
    let g = single(&[&[3, 5]], Op::GlobalAvgPoolGrad { size: [11, 13] });
    check(g, None, Tol::Reduction(1), "global_avg_pool_grad");
    let g = single(&[&[2, 3, 21, 25]], Op::Upsample2xGrad { input: [11, 13] });
    check(g, None, Tol::Reduction(4), "upsample2x_grad");
    let g = single(&[&[5, 3, 37]], Op::ReduceTo { shape: vec![3, 1] });
    check(g, None, Tol::Reduction(185), "reduce_to");
    let g = single(&[&[3, 347], &[3, 347]], Op::UnaryBackward(UnaryOp::Gelu));
    check(g, None, Tol::Reduction(1), "gelu backward");
    let g = single(&[&[7, 301], &[7, 301]], Op::SoftmaxBackward);
    check(g, None, Tol::Reduction(301), "softmax backward");
    let g = single(
        &[&[7, 301], &[301], &[7, 301]],
        Op::LayerNormBackward { eps: 1e-5 },
    );
    check(g, None, Tol::Reduction(301), "layernorm backward");
    let g = single(&[&[3, 347], &[3, 347]], Op::MseLoss);
    check(g, None, Tol::Reduction(3 * 347), "mse");
}

#[test]
fn f16_baselines_match_the_single_buffer_run() {
    // linear -> gelu -> layernorm -> softmax on odd widths.
    let mut b = GraphBuilder::new();
    let x = common::input(&mut b, "x", &[3, 7, 37], 1);
    let w = b.weight("w", &[37, 29], 2, 0.5);
    let h = b.linear("h", x, w, None).expect("linear");
    let g = b.gelu("g", h).expect("gelu");
    let gamma = b.constant("gamma", &[29], 1.5);
    let beta = b.constant("beta", &[29], 0.25);
    let n = b
        .op("n", Op::LayerNorm { eps: 1e-5 }, &[g, gamma, beta])
        .expect("layernorm");
    let s = b.op("s", Op::Softmax, &[n]).expect("softmax");
    b.output(s);
    let graph = to_f16(b.build().expect("graph"));
    for gpu in gpus() {
        let layout =
            naive_layout(&graph, gpu.min_storage_buffer_offset_alignment()).expect("naive");
        let want = compile_with_gemm(gpu, &graph, &layout, gpu.gemm_kernel())
            .and_then(|c| c.run(gpu))
            .expect("planned run")
            .outputs;
        for which in Baseline::ALL {
            let run = run_baseline(gpu, &graph, which).expect("baseline run");
            assert!(
                run.outputs == want,
                "{} [{:?}]: outputs differ from the single-buffer run",
                which.name(),
                gpu.f16_storage()
            );
        }
    }
}
