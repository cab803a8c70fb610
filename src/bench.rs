//! What `tessera bench` measures, side by side in one process on one machine:
//!
//! - GEMM throughput: each WGSL GEMM kernel ([`GemmKernel::ALL`]) on the adapter and the CPU
//!   reference's [`sgemm`] (`matrixmultiply`, threaded) on the host, at the same shapes and on
//!   the same data; the GPU result is checked against the CPU one. Figures are best of `reps`
//!   runs after one warm-up. GPU time is the compute pass's timestamps where the device has them,
//!   else the run's wall time (input upload and readback included); [`GemmBench::timer`] says
//!   which.
//! - Model run time: the planned single-buffer run against the naive-dynamic run (a buffer per
//!   tensor, created before its producer, destroyed after its last reader) and the
//!   caching-allocator run, each best of `reps` host wall times of one whole graph run (the
//!   baselines also sample the allocator after every node, as `tessera run` does).
//!
//! - Kernel variants: row softmax, layer normalisation and elementwise ops at a few sizes, each
//!   run with the plain kernels ([`KernelOptions::scalar`]: workgroup-memory reductions, one
//!   element per invocation) and with the device's best ([`KernelOptions::for_gpu`]: subgroup
//!   reductions where the device has them, vec4 elementwise kernels), as GB/s of the bytes the
//!   op must read and write; both results are checked against the CPU reference.
//!
//! - Fused kernels: tiled (flash-style) attention and direct convolution at a few odd shapes,
//!   each against the other lowering of the same op (materialised attention, im2col + GEMM),
//!   as GFLOP/s; both results are checked against the CPU reference.
//!
//! Ratios are the figures: on lavapipe the shaders run on the same CPU cores as the sgemm.

use crate::cpu::{CpuError, sgemm};
use crate::graph::{
    AttentionKernel, BinaryOp, Conv2dAttrs, ConvMethod, DType, Graph, GraphBuilder, GraphError,
    Init, Op, TensorKind, UnaryOp,
};
use crate::layout::naive_layout;
use crate::models::{ModelError, ModelOptions, build};
use crate::pipeline::{PlanConfig, plan_graph};
use crate::plan::PlanError;
use crate::runtime::{
    AdapterSummary, Baseline, GemmKernel, Gpu, KernelOptions, RuntimeError, compile, compile_with,
    compile_with_gemm, run_baseline,
};
use serde::Serialize;
use std::time::Instant;
use thiserror::Error;

/// Anything a benchmark can fail with.
#[derive(Debug, Error)]
pub enum BenchError {
    /// Building a benchmark graph failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// Building a model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Planning failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The GPU runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The CPU sgemm failed.
    #[error(transparent)]
    Cpu(#[from] CpuError),
    /// A kernel's result differs from the CPU sgemm's beyond the tolerance.
    #[error(
        "GEMM {m}x{k}x{n} ({kernel}): max abs error {err} vs the CPU sgemm exceeds {tolerance}"
    )]
    Wrong {
        /// Rows.
        m: usize,
        /// Depth.
        k: usize,
        /// Columns.
        n: usize,
        /// The kernel.
        kernel: &'static str,
        /// Its max abs error.
        err: f32,
        /// The tolerance (1e-4 of the largest |value|, at least 1e-4).
        tolerance: f32,
    },
    /// A kernel variant's result differs from the CPU reference beyond the tolerance.
    #[error(
        "kernel case {case} ({variant}): max abs error {err} vs the CPU reference exceeds {tolerance}"
    )]
    WrongKernel {
        /// The case, e.g. `softmax 1024 x 257`.
        case: String,
        /// `plain` or `best`.
        variant: &'static str,
        /// Its max abs error.
        err: f32,
        /// The tolerance (1e-4 of the largest |value|, at least 1e-4).
        tolerance: f32,
    },
}

/// One kernel at one shape.
#[derive(Clone, Debug, Serialize)]
pub struct KernelTime {
    /// `tiled` or `register`.
    pub kernel: GemmKernel,
    /// Best time of one GEMM, ms.
    pub ms: f64,
    /// 2*M*N*K / time.
    pub gflops: f64,
    /// GFLOP/s of this kernel over the CPU sgemm's.
    pub ratio_to_cpu: f64,
    /// Largest |GPU - CPU| over C.
    pub max_abs_err: f32,
}

/// One GEMM shape, C[M, N] = A[M, K] B[K, N].
#[derive(Clone, Debug, Serialize)]
pub struct GemmRow {
    /// Rows of C.
    pub m: usize,
    /// Columns of C.
    pub n: usize,
    /// Depth.
    pub k: usize,
    /// 2*M*N*K.
    pub flops: u64,
    /// Best CPU sgemm time, ms.
    pub cpu_ms: f64,
    /// CPU sgemm GFLOP/s.
    pub cpu_gflops: f64,
    /// Every GPU kernel.
    pub kernels: Vec<KernelTime>,
}

/// The GEMM section of `tessera bench`.
#[derive(Clone, Debug, Serialize)]
pub struct GemmBench {
    /// `timestamps` (compute pass only) or `wall` (upload and readback included).
    pub timer: &'static str,
    /// The kernel the adapter table picks.
    pub table_kernel: GemmKernel,
    /// The CPU sgemm: crate and threads.
    pub cpu: String,
    /// One row per shape.
    pub rows: Vec<GemmRow>,
}

/// One model's run times.
#[derive(Clone, Debug, Serialize)]
pub struct ModelTimes {
    /// The model name.
    pub model: String,
    /// Planned single-buffer run, best wall ms.
    pub planned_ms: f64,
    /// Naive-dynamic run, best wall ms.
    pub naive_dynamic_ms: f64,
    /// Caching-allocator run, best wall ms.
    pub caching_ms: f64,
    /// naive_dynamic_ms / planned_ms (above 1: the planned run is faster).
    pub naive_dynamic_over_planned: f64,
    /// caching_ms / planned_ms.
    pub caching_over_planned: f64,
}

/// Everything `tessera bench` reports.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// The adapter.
    pub adapter: AdapterSummary,
    /// GEMM throughput.
    pub gemm: GemmBench,
    /// Model run times.
    pub models: Vec<ModelTimes>,
    /// Softmax, layer-norm and elementwise kernel variants (absent with `--no-kernels`).
    pub kernels: Option<KernelBench>,
    /// Tiled attention and direct convolution against their other lowerings (absent with
    /// `--no-kernels`).
    pub fused: Option<FusedBench>,
}

/// One fused op at one shape: the fused kernel and the other lowering of the same op.
#[derive(Clone, Debug, Serialize)]
pub struct FusedRow {
    /// `attention (tiled)`, `attention (tiled, causal)` or `conv (direct)`.
    pub op: String,
    /// The shape, e.g. `B1 H4 S257 T257 D64` or `N1 C32 57x57 -> O35 3x3 s1 p1`.
    pub shape: String,
    /// Multiply-adds times two (attention: q.k and p.v over every key, causal or not).
    pub flops: u64,
    /// The fused kernel's best GPU time, ms.
    pub fused_ms: f64,
    /// The other lowering's (materialised attention, im2col + GEMM) best GPU time, ms.
    pub other_ms: f64,
    /// `flops` over `fused_ms`, GFLOP/s.
    pub fused_gflops: f64,
    /// `flops` over `other_ms`, GFLOP/s.
    pub other_gflops: f64,
    /// other_ms / fused_ms (above 1: the fused kernel is faster).
    pub other_over_fused: f64,
}

/// Tiled attention and direct convolution side by side with the other lowerings.
#[derive(Clone, Debug, Serialize)]
pub struct FusedBench {
    /// `timestamps` (compute-pass timestamps) or `wall` (whole run incl. transfers).
    pub timer: &'static str,
    /// One row per case.
    pub rows: Vec<FusedRow>,
}

/// One op at one shape, with the plain and the best kernel variants.
#[derive(Clone, Debug, Serialize)]
pub struct KernelRow {
    /// What runs, e.g. `softmax`, `add (row broadcast)`.
    pub op: String,
    /// The output shape, e.g. `1024 x 257`.
    pub shape: String,
    /// Bytes the op must read and write once each (f32 inputs and output).
    pub bytes: u64,
    /// Best time with the plain kernels, ms.
    pub plain_ms: f64,
    /// Best time with the device's best kernels, ms.
    pub best_ms: f64,
    /// `bytes` over `plain_ms`, GB/s.
    pub plain_gbs: f64,
    /// `bytes` over `best_ms`, GB/s.
    pub best_gbs: f64,
    /// plain_ms / best_ms (above 1: the best variant is faster).
    pub speedup: f64,
}

/// The kernel-variant section of `tessera bench`.
#[derive(Clone, Debug, Serialize)]
pub struct KernelBench {
    /// `timestamps` (compute pass only) or `wall` (upload and readback included).
    pub timer: &'static str,
    /// The plain variants.
    pub plain: KernelOptions,
    /// The device's best variants.
    pub best: KernelOptions,
    /// One row per op and shape.
    pub rows: Vec<KernelRow>,
}

/// The default GEMM shapes `(m, k, n)`: square 256 to 2048, skinny (one row, a tall thin and a
/// deep thin product) and odd sizes.
pub const DEFAULT_SHAPES: &[(usize, usize, usize)] = &[
    (256, 256, 256),
    (512, 512, 512),
    (1024, 1024, 1024),
    (2048, 2048, 2048),
    (1, 1024, 1024),
    (4096, 64, 64),
    (64, 4096, 64),
    (127, 65, 257),
    (1000, 999, 1001),
];

/// The `matrixmultiply` threads: `MATMUL_NUM_THREADS`, else the physical cores, clamped 1..=4
/// (the crate's rule).
fn cpu_threads() -> usize {
    std::env::var("MATMUL_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
        .clamp(1, 4)
}

/// A graph computing one `[m, k] x [k, n]` matmul of two inputs.
fn gemm_graph(m: usize, k: usize, n: usize) -> Result<Graph, GraphError> {
    let mut b = GraphBuilder::new();
    let x = b.input(
        "a",
        &[m, k],
        DType::F32,
        Init::Uniform {
            seed: 1,
            scale: 1.0,
        },
    );
    let w = b.input(
        "b",
        &[k, n],
        DType::F32,
        Init::Uniform {
            seed: 2,
            scale: 1.0,
        },
    );
    let mm = Op::MatMul {
        trans_a: false,
        trans_b: false,
    };
    let y = b.op("c", mm, &[x, w])?;
    b.output(y);
    b.build()
}

/// The f32 values of the graph's input tensors, in order.
fn input_values(graph: &Graph) -> Vec<Vec<f32>> {
    graph
        .tensors_of_kind(TensorKind::Input)
        .into_iter()
        .map(|t| {
            let tensor = &graph.tensors[t.index()];
            let words = tensor.init.words(tensor.shape.numel() as usize);
            words.into_iter().map(f32::from_bits).collect()
        })
        .collect()
}

/// Best of `reps` (at least one) values of `f`.
fn best<E>(reps: usize, mut f: impl FnMut() -> Result<f64, E>) -> Result<f64, E> {
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        best = best.min(f()?);
    }
    Ok(best)
}

fn gflops(flops: u64, ms: f64) -> f64 {
    flops as f64 / (ms.max(1e-9) * 1e6)
}

/// One shape: the CPU sgemm and every GPU kernel, best of `reps`.
fn gemm_row(
    gpu: &Gpu,
    (m, k, n): (usize, usize, usize),
    reps: usize,
) -> Result<GemmRow, BenchError> {
    let graph = gemm_graph(m, k, n)?;
    let inputs = input_values(&graph);
    let (a, b) = (&inputs[0], &inputs[1]);
    let mut want = vec![0.0f32; m * n];
    sgemm((m, k, n), (a, false), (b, false), &mut want)?;
    let cpu_ms = best(reps, || -> Result<f64, BenchError> {
        let t = Instant::now();
        sgemm((m, k, n), (a, false), (b, false), &mut want)?;
        Ok(t.elapsed().as_secs_f64() * 1e3)
    })?;
    let flops = 2 * (m * n * k) as u64;
    let cpu_gflops = gflops(flops, cpu_ms);
    let scale = want.iter().fold(1.0f32, |s, v| s.max(v.abs()));
    let layout = naive_layout(&graph, gpu.min_storage_buffer_offset_alignment())?;
    let mut kernels = Vec::new();
    for kernel in GemmKernel::ALL {
        let compiled = compile_with_gemm(gpu, &graph, &layout, kernel)?;
        let mut out = compiled.run(gpu)?;
        let ms = best(reps, || -> Result<f64, BenchError> {
            out = compiled.run(gpu)?;
            Ok(out.gpu_ms.unwrap_or(out.wall_ms))
        })?;
        let got = out.outputs.first().map(|o| o.to_f32()).unwrap_or_default();
        let err = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (g - w).abs())
            // NaN wins, so a NaN output fails the check below.
            .fold(0.0f32, |e, d| if d.is_nan() || d > e { d } else { e });
        let tolerance = 1e-4 * scale;
        if err.is_nan() || err > tolerance || got.len() != want.len() {
            let kernel = kernel.name();
            return Err(BenchError::Wrong {
                m,
                k,
                n,
                kernel,
                err,
                tolerance,
            });
        }
        let g = gflops(flops, ms);
        kernels.push(KernelTime {
            kernel,
            ms,
            gflops: g,
            ratio_to_cpu: g / cpu_gflops,
            max_abs_err: err,
        });
    }
    Ok(GemmRow {
        m,
        n,
        k,
        flops,
        cpu_ms,
        cpu_gflops,
        kernels,
    })
}

/// GEMM throughput at `shapes` (`(m, k, n)`), best of `reps`.
pub fn bench_gemm(
    gpu: &Gpu,
    shapes: &[(usize, usize, usize)],
    reps: usize,
) -> Result<GemmBench, BenchError> {
    let rows = shapes
        .iter()
        .map(|&s| gemm_row(gpu, s, reps))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(GemmBench {
        timer: if gpu.has_timestamps() {
            "timestamps"
        } else {
            "wall"
        },
        table_kernel: gpu.gemm_kernel(),
        cpu: format!("matrixmultiply 0.3 sgemm, {} threads", cpu_threads()),
        rows,
    })
}

/// Planned, naive-dynamic and caching run times of model `name` at its default size, planned
/// with `cfg`, best of `reps` wall times each.
pub fn bench_model(
    gpu: &Gpu,
    name: &str,
    cfg: &PlanConfig,
    reps: usize,
) -> Result<ModelTimes, BenchError> {
    let graph = build(name, &ModelOptions::default())?;
    let planned = plan_graph(&graph, cfg)?;
    let graph = &planned.graph;
    let compiled = compile(gpu, graph, &planned.layout)?;
    compiled.run(gpu)?;
    let planned_ms = best(reps, || compiled.run(gpu).map(|o| o.wall_ms))?;
    let baseline = |which| best(reps, || run_baseline(gpu, graph, which).map(|b| b.wall_ms));
    let naive_dynamic_ms = baseline(Baseline::NaiveDynamic)?;
    let caching_ms = baseline(Baseline::Caching)?;
    Ok(ModelTimes {
        model: name.to_string(),
        planned_ms,
        naive_dynamic_ms,
        caching_ms,
        naive_dynamic_over_planned: naive_dynamic_ms / planned_ms.max(1e-9),
        caching_over_planned: caching_ms / planned_ms.max(1e-9),
    })
}

/// One kernel case: the op, its output dims, the bytes it must read and write, and the
/// one-node graph that runs it.
struct KernelCase {
    op: String,
    dims: Vec<usize>,
    bytes: u64,
    graph: Graph,
}

impl KernelCase {
    fn new(op: &str, dims: Vec<usize>, bytes: u64, graph: Graph) -> KernelCase {
        KernelCase {
            op: op.to_string(),
            dims,
            bytes,
            graph,
        }
    }
}

/// The kernel cases of about `elements` output elements each. Row ops use rows of 256, 1000
/// and 4099 (one of them not a multiple of 4 or of the workgroup).
fn kernel_cases(elements: usize) -> Result<Vec<KernelCase>, GraphError> {
    let mut cases = Vec::new();
    let f = |n: usize| 4 * n as u64;
    for cols in [256, 1000, 4099] {
        let rows = elements.div_ceil(cols).max(1);
        let n = rows * cols;
        let mut b = GraphBuilder::new();
        let x = bench_input(&mut b, "x", &[rows, cols], 1);
        let y = b.op("softmax", Op::Softmax, &[x])?;
        b.output(y);
        cases.push(KernelCase::new(
            "softmax",
            vec![rows, cols],
            f(2 * n),
            b.build()?,
        ));
        let mut b = GraphBuilder::new();
        let x = bench_input(&mut b, "x", &[rows, cols], 1);
        let gamma = b.weight("gamma", &[cols], 2, 1.0);
        let beta = b.weight("beta", &[cols], 3, 1.0);
        let ln = Op::LayerNorm { eps: 1e-5 };
        let y = b.op("layernorm", ln, &[x, gamma, beta])?;
        b.output(y);
        let bytes = f(2 * n + 2 * cols);
        cases.push(KernelCase::new(
            "layernorm",
            vec![rows, cols],
            bytes,
            b.build()?,
        ));
    }
    let n = elements.max(1);
    let rows = n.div_ceil(256);
    let binaries: [(&str, Vec<usize>, Vec<usize>); 2] = [
        ("add", vec![n], vec![n]),
        ("add (row broadcast)", vec![rows, 256], vec![256]),
    ];
    for (name, a, other) in binaries {
        let mut b = GraphBuilder::new();
        let x = bench_input(&mut b, "a", &a, 1);
        let y = bench_input(&mut b, "b", &other, 2);
        let z = b.op("add", Op::Binary(BinaryOp::Add), &[x, y])?;
        b.output(z);
        let m: usize = a.iter().product();
        let bytes = f(2 * m + other.iter().product::<usize>());
        cases.push(KernelCase::new(name, a, bytes, b.build()?));
    }
    let mut b = GraphBuilder::new();
    let x = bench_input(&mut b, "x", &[n], 1);
    let y = b.op("gelu", Op::Unary(UnaryOp::Gelu), &[x])?;
    b.output(y);
    cases.push(KernelCase::new("gelu", vec![n], f(2 * n), b.build()?));
    Ok(cases)
}

fn bench_input(
    b: &mut GraphBuilder,
    name: &str,
    dims: &[usize],
    seed: u64,
) -> crate::graph::TensorId {
    b.input(name, dims, DType::F32, Init::Uniform { seed, scale: 2.0 })
}

/// Best time of `graph` compiled with `opts` over `reps` runs after a warm-up, checked against
/// `want` (the CPU reference).
fn time_variant(
    gpu: &Gpu,
    graph: &Graph,
    opts: KernelOptions,
    want: &[f32],
    (case, variant, reps): (&str, &'static str, usize),
) -> Result<f64, BenchError> {
    let layout = naive_layout(graph, gpu.min_storage_buffer_offset_alignment())?;
    let compiled = compile_with(gpu, graph, &layout, opts)?;
    let mut out = compiled.run(gpu)?;
    let ms = best(reps, || -> Result<f64, BenchError> {
        out = compiled.run(gpu)?;
        Ok(out.gpu_ms.unwrap_or(out.wall_ms))
    })?;
    let got = out.outputs.first().map(|o| o.to_f32()).unwrap_or_default();
    let err = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0f32, |e, d| if d.is_nan() || d > e { d } else { e });
    let tolerance = 1e-4 * want.iter().fold(1.0f32, |s, v| s.max(v.abs()));
    if err.is_nan() || err > tolerance || got.len() != want.len() {
        return Err(BenchError::WrongKernel {
            case: case.to_string(),
            variant,
            err,
            tolerance,
        });
    }
    Ok(ms)
}

/// Softmax, layer normalisation and elementwise ops of about `elements` elements each, with
/// the plain and the device's best kernel variants side by side, best of `reps`.
pub fn bench_kernels(gpu: &Gpu, elements: usize, reps: usize) -> Result<KernelBench, BenchError> {
    let best_opts = KernelOptions::for_gpu(gpu);
    let plain = KernelOptions::scalar(best_opts.gemm);
    let mut rows = Vec::new();
    for KernelCase {
        op,
        dims,
        bytes,
        graph,
    } in kernel_cases(elements)?
    {
        let shape = dims
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(" x ");
        let case = format!("{op} {shape}");
        let want = crate::cpu::run_outputs(&graph)?;
        let want = want.first().and_then(|w| w.as_f32()).unwrap_or_default();
        let plain_ms = time_variant(gpu, &graph, plain, want, (&case, "plain", reps))?;
        let best_ms = time_variant(gpu, &graph, best_opts, want, (&case, "best", reps))?;
        let gbs = |ms: f64| bytes as f64 / (ms.max(1e-9) * 1e6);
        rows.push(KernelRow {
            op,
            shape,
            bytes,
            plain_ms,
            best_ms,
            plain_gbs: gbs(plain_ms),
            best_gbs: gbs(best_ms),
            speedup: plain_ms / best_ms.max(1e-9),
        });
    }
    Ok(KernelBench {
        timer: if gpu.has_timestamps() {
            "timestamps"
        } else {
            "wall"
        },
        plain,
        best: best_opts,
        rows,
    })
}

/// One fused case: name, shape, flops, and the graph with the fused and with the other lowering.
type FusedCase = (String, String, u64, Graph, Graph);

/// Attention `[b, h, s, d]` (t = s), one graph per kernel: fused first.
fn attention_case(
    b: usize,
    h: usize,
    s: usize,
    d: usize,
    causal: bool,
) -> Result<FusedCase, GraphError> {
    let graph = |kernel| -> Result<Graph, GraphError> {
        let mut g = GraphBuilder::new();
        let q = bench_input(&mut g, "q", &[b, h, s, d], 1);
        let k = bench_input(&mut g, "k", &[b, h, s, d], 2);
        let v = bench_input(&mut g, "v", &[b, h, s, d], 3);
        let scale = 1.0 / (d as f32).sqrt();
        let y = g.op(
            "attn",
            Op::Attention {
                causal,
                scale,
                kernel,
            },
            &[q, k, v],
        )?;
        g.output(y);
        g.build()
    };
    let op = if causal {
        "attention (tiled, causal)"
    } else {
        "attention (tiled)"
    };
    let flops = 4 * (b * h * s * s * d) as u64;
    Ok((
        op.to_string(),
        format!("B{b} H{h} S{s} T{s} D{d}"),
        flops,
        graph(AttentionKernel::Tiled)?,
        graph(AttentionKernel::Materialized)?,
    ))
}

/// Convolution of `[n, c, hw, hw]` by `o` filters `k x k`, stride `st`, padding `k / 2`, with
/// a bias; one graph per lowering: direct first.
fn conv_case(
    n: usize,
    c: usize,
    hw: usize,
    o: usize,
    k: usize,
    st: usize,
) -> Result<FusedCase, GraphError> {
    let pad = k / 2;
    let graph = |method| -> Result<Graph, GraphError> {
        let mut g = GraphBuilder::new();
        let x = bench_input(&mut g, "x", &[n, c, hw, hw], 1);
        let w = g.weight("w", &[o, c, k, k], 2, 1.0);
        let bias = g.weight("b", &[o], 3, 1.0);
        let attrs = Conv2dAttrs {
            stride: [st; 2],
            padding: [pad; 2],
            dilation: [1; 2],
            method,
        };
        let y = g.op("conv", Op::Conv2d(attrs), &[x, w, bias])?;
        g.output(y);
        g.build()
    };
    let out = (hw + 2 * pad - k) / st + 1;
    let flops = 2 * (n * o * out * out * c * k * k) as u64;
    Ok((
        "conv (direct)".to_string(),
        format!("N{n} C{c} {hw}x{hw} -> O{o} {k}x{k} s{st} p{pad}"),
        flops,
        graph(ConvMethod::Direct)?,
        graph(ConvMethod::Im2col { cap: None })?,
    ))
}

/// Tiled attention against materialised attention and direct convolution against im2col +
/// GEMM, at shapes that are not multiples of the tiles, best of `reps` GPU times each, both
/// lowerings checked against the CPU reference.
pub fn bench_fused(gpu: &Gpu, reps: usize) -> Result<FusedBench, BenchError> {
    let opts = KernelOptions::for_gpu(gpu);
    let cases = [
        attention_case(1, 4, 257, 64, false)?,
        attention_case(1, 4, 257, 64, true)?,
        attention_case(2, 2, 201, 32, false)?,
        conv_case(1, 32, 57, 35, 3, 1)?,
        conv_case(1, 64, 29, 64, 3, 2)?,
        conv_case(2, 3, 65, 16, 7, 1)?,
    ];
    let mut rows = Vec::new();
    for (op, shape, flops, fused, other) in cases {
        let case = format!("{op} {shape}");
        let want = crate::cpu::run_outputs(&fused)?;
        let want = want.first().and_then(|w| w.as_f32()).unwrap_or_default();
        let fused_ms = time_variant(gpu, &fused, opts, want, (&case, "fused", reps))?;
        let other_ms = time_variant(gpu, &other, opts, want, (&case, "other", reps))?;
        rows.push(FusedRow {
            op,
            shape,
            flops,
            fused_ms,
            other_ms,
            fused_gflops: gflops(flops, fused_ms),
            other_gflops: gflops(flops, other_ms),
            other_over_fused: other_ms / fused_ms.max(1e-9),
        });
    }
    let timer = if gpu.has_timestamps() {
        "timestamps"
    } else {
        "wall"
    };
    Ok(FusedBench { timer, rows })
}
