//! Folded grids on the device: real devices allow 65,535 workgroups per dimension, so the 3-D
//! fold (more than 65,535^2 workgroups) cannot be reached by a test. Here the lowering is given
//! a per-dimension limit of 5, so 26 or more workgroups fold into 3-D grids, and every folded
//! kernel family runs on the GPU (lavapipe in CI) against the CPU reference.

use super::Lowerer;
use crate::graph::{AttentionKernel, DType, Graph, GraphBuilder, Init, Op, TensorKind};
use crate::layout::naive_layout;
use crate::runtime::dispatch::{
    ParamsBuffer, Pipelines, bind_step, output_specs, read_ranges, submit_steps, to_outputs,
};
use crate::runtime::{GemmKernel, Gpu};

/// The per-dimension limit the lowering is told.
const TINY: u32 = 5;

/// Runs `graph` with every dispatch lowered against [`TINY`] and compares with the CPU.
fn check_folded(gpu: &Gpu, graph: &Graph, what: &str) {
    check_folded_with(gpu, graph, what, gpu.gemm_kernel());
}

/// [`check_folded`] with `gemm` running the GEMMs.
fn check_folded_with(gpu: &Gpu, graph: &Graph, what: &str, gemm: GemmKernel) {
    let layout =
        naive_layout(graph, gpu.min_storage_buffer_offset_alignment()).expect("naive layout");
    let lowerer = Lowerer {
        graph,
        place: &layout,
        max_groups: TINY,
        max_binding: gpu.max_binding(),
        align: gpu.min_storage_buffer_offset_alignment(),
        gemm,
        subgroups: gpu.has_subgroups(),
        vec4: true,
        f16: gpu.f16_storage(),
    };
    let steps: Vec<_> = graph
        .node_ids()
        .flat_map(|id| lowerer.lower(id).expect("lower"))
        .collect();
    assert!(steps.iter().any(|s| s.groups[2] > 1), "{what}: no 3-D grid");
    let device = gpu.device();
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("fold test"),
        size: layout.total_bytes().div_ceil(4) * 4,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    for kind in [TensorKind::Weight, TensorKind::Input] {
        for t in graph.tensors_of_kind(kind) {
            let tensor = &graph.tensors[t.index()];
            let words = tensor.init.words(tensor.shape.numel() as usize);
            gpu.queue()
                .write_buffer(&buffer, layout.offset(t), bytemuck::cast_slice(&words));
        }
    }
    let params = ParamsBuffer::new(gpu, steps.iter()).expect("params");
    let mut kernels = Pipelines::default();
    let bound: Vec<_> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| bind_step(device, &mut kernels, &params, i as u64, s, &buffer).expect("bind"))
        .collect();
    submit_steps(gpu, &kernels.pipelines, bound.iter()).expect("run");
    let specs = output_specs(graph, &layout);
    let ranges: Vec<_> = specs.iter().map(|s| (&buffer, s.2.offset, s.3)).collect();
    let encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
    let bytes = read_ranges(gpu, encoder, &ranges).expect("read");
    let which: Vec<_> = specs.iter().map(|s| (s.0, s.1)).collect();
    let want = crate::cpu::run_outputs(graph).expect("cpu");
    for (got, want) in to_outputs(&which, &bytes).iter().zip(&want) {
        let (got, want) = (got.to_f32(), want.as_f32().expect("f32 output"));
        let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (k, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-4 * scale,
                "{what}: element {k}: gpu {g}, cpu {w}"
            );
        }
    }
}

fn input(b: &mut GraphBuilder, dims: &[usize], seed: u64) -> crate::graph::TensorId {
    let name = format!("x{seed}");
    b.input(&name, dims, DType::F32, Init::Uniform { seed, scale: 1.0 })
}

#[test]
fn every_folded_kernel_family_agrees_with_the_cpu() {
    let gpu = Gpu::new().expect("GPU tests need a wgpu adapter (scripts/test installs lavapipe)");
    // 1-D: 30 * 256 + 17 elements -> 31 workgroups -> [5, 5, 2]; the relu reads them as vec4s
    // (4 elements per invocation, so 4 times as many), the product with one broadcast value
    // one per invocation.
    let mut b = GraphBuilder::new();
    let x = input(&mut b, &[4 * (30 * 256 + 17)], 1);
    let y = b.relu("relu", x).expect("relu");
    b.output(y);
    let x = input(&mut b, &[30 * 256 + 17], 11);
    let one = input(&mut b, &[1], 12);
    let z = b.op("mul", Op::Binary(crate::graph::BinaryOp::Mul), &[x, one]);
    b.output(z.expect("mul"));
    check_folded(&gpu, &b.build().expect("graph"), "relu");
    // GEMM: 31 row tiles of 64 (61 of 32) of a linear; 3 batches of 3 (5) row tiles of a
    // matmul; both GEMM kernels.
    let mut b = GraphBuilder::new();
    let x = input(&mut b, &[64 * 30 + 7, 3], 2);
    let w = b.weight("w", &[3, 5], 3, 0.5);
    let bias = b.weight("bias", &[5], 4, 0.5);
    let y = b.linear("linear", x, w, Some(bias)).expect("linear");
    b.output(y);
    let a = input(&mut b, &[3, 16 * 8 + 5, 4], 5);
    let m = b.weight("m", &[4, 19], 6, 0.5);
    let mm = Op::MatMul {
        trans_a: false,
        trans_b: false,
    };
    let z = b.op("matmul", mm, &[a, m]).expect("matmul");
    b.output(z);
    let g = b.build().expect("graph");
    for gemm in GemmKernel::ALL {
        check_folded_with(&gpu, &g, &format!("gemm {}", gemm.name()), gemm);
    }
    // Rows: 31 softmax rows; attention with 2 x 16 rows; tiled attention with 30 row blocks.
    let mut b = GraphBuilder::new();
    let x = input(&mut b, &[31, 7], 7);
    let y = b.op("softmax", Op::Softmax, &[x]).expect("softmax");
    b.output(y);
    let q = input(&mut b, &[1, 2, 16, 3], 8);
    let k = input(&mut b, &[1, 2, 5, 3], 9);
    let v = input(&mut b, &[1, 2, 5, 3], 10);
    let attn = Op::Attention {
        causal: false,
        scale: 0.5,
        kernel: AttentionKernel::Materialized,
    };
    let o = b.op("attention", attn, &[q, k, v]).expect("attention");
    b.output(o);
    // Tiled attention: 3 heads x 10 blocks of 16 query rows = 30 workgroups.
    let q = input(&mut b, &[1, 3, 150, 5], 11);
    let k = input(&mut b, &[1, 3, 150, 5], 12);
    let v = input(&mut b, &[1, 3, 150, 5], 13);
    let tiled = Op::Attention {
        causal: true,
        scale: 0.4,
        kernel: AttentionKernel::Tiled,
    };
    let o = b.op("tiled", tiled, &[q, k, v]).expect("tiled attention");
    b.output(o);
    check_folded(&gpu, &b.build().expect("graph"), "rows");
}

#[test]
fn folded_direct_convolution_agrees_with_the_cpu() {
    let gpu = Gpu::new().expect("GPU tests need a wgpu adapter (scripts/test installs lavapipe)");
    // 2 images x 3 blocks of 16 output channels x 3 x 3 tiles of 8 x 8 = 54 workgroups.
    let mut b = GraphBuilder::new();
    let x = input(&mut b, &[2, 3, 20, 20], 11);
    let w = b.weight("w", &[33, 3, 3, 3], 12, 0.5);
    let bias = b.weight("bias", &[33], 13, 0.5);
    let attrs = crate::graph::Conv2dAttrs {
        padding: [1, 1],
        method: crate::graph::ConvMethod::Direct,
        ..Default::default()
    };
    let y = b
        .op("conv", Op::Conv2d(attrs), &[x, w, bias])
        .expect("conv");
    b.output(y);
    check_folded(&gpu, &b.build().expect("graph"), "direct conv");
}
