//! The GEMM params' leading dimensions and base offsets on the device: graphs only produce dense
//! operands (lda = K, offsets 0), so here each GEMM entry point runs on sub-matrices of padded
//! buffers (lda > K, ldb > N, ldc > N, nonzero a/b/c offsets), as a GEMM split over several
//! bindings uses them, and is compared with f64 loops. Elements of C between the rows and past
//! the offset must keep their sentinel.

use super::cx::{block as params_block, fold_grid};
use super::{Region, Step};
use crate::runtime::dispatch::{ParamsBuffer, Pipelines, bind_step, read_ranges, submit_steps};
use crate::runtime::shaders::{GemmParams, Kernel};
use crate::runtime::{GemmKernel, Gpu};
use std::sync::Arc;

const SENTINEL: f32 = 7777.0;

/// One strided GEMM: shape, leading dimensions and element offsets.
#[derive(Clone, Copy, Debug)]
struct Case {
    m: usize,
    k: usize,
    n: usize,
    ld: [usize; 3],
    off: [usize; 3],
}

impl Case {
    /// Elements of a, b and c the case addresses.
    fn lens(&self) -> [usize; 3] {
        let Case { m, k, n, ld, off } = *self;
        [
            off[0] + (m - 1) * ld[0] + k,
            off[1] + (k - 1) * ld[1] + n,
            off[2] + (m - 1) * ld[2] + n,
        ]
    }

    fn params(&self, block: [u32; 2]) -> GemmParams {
        let w = |x: usize| u32::try_from(x).expect("small");
        let (tiles_m, tiles_n) = (
            self.m.div_ceil(block[0] as usize),
            self.n.div_ceil(block[1] as usize),
        );
        GemmParams {
            m: w(self.m),
            n: w(self.n),
            k: w(self.k),
            batch: 1,
            col_group: w(self.n),
            group_stride: w(self.m * self.ld[2]),
            c_offset: w(self.off[2]),
            tiles_n: w(tiles_n),
            tiles_m: w(tiles_m),
            tiles: w(tiles_n * tiles_m),
            lda: w(self.ld[0]),
            ldb: w(self.ld[1]),
            ldc: w(self.ld[2]),
            a_offset: w(self.off[0]),
            b_offset: w(self.off[1]),
            ..GemmParams::default()
        }
    }
}

fn values(len: usize, seed: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7 + seed * 13) % 23) as f32 / 11.0 - 1.0)
        .collect()
}

/// Runs `kernel` on `case` and returns c as read back.
fn run(gpu: &Gpu, kernel: Kernel, block: [u32; 2], case: Case, a: &[f32], b: &[f32]) -> Vec<f32> {
    let align = gpu.min_storage_buffer_offset_alignment().max(16);
    let bytes = |v: usize| (v as u64 * 4).next_multiple_of(align);
    let lens = case.lens();
    let starts = [0, bytes(lens[0]), bytes(lens[0]) + bytes(lens[1])];
    let total = starts[2] + bytes(lens[2]);
    let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("gemm ld test"),
        size: total,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let c0 = vec![SENTINEL; lens[2]];
    for (start, data) in starts.iter().zip([a, b, &c0]) {
        gpu.queue()
            .write_buffer(&buffer, *start, bytemuck::cast_slice(data));
    }
    let region = |i: usize| Region {
        buffer: 0,
        offset: starts[i],
        size: bytes(lens[i]),
    };
    let params = case.params(block);
    let step = Step {
        node: Arc::from("gemm"),
        kernel,
        storage: crate::runtime::shaders::FloatStorage::F32,
        bindings: vec![region(0), region(1), region(2), region(2)],
        params: params_block(&params),
        groups: fold_grid(u64::from(params.tiles), 65535).expect("grid"),
    };
    let steps = [step];
    let params = ParamsBuffer::new(gpu, steps.iter()).expect("params");
    let mut kernels = Pipelines::default();
    let bound =
        bind_step(gpu.device(), &mut kernels, &params, 0, &steps[0], &buffer).expect("bind");
    submit_steps(gpu, &kernels.pipelines, [bound].iter()).expect("run");
    let encoder = gpu
        .device()
        .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
    let out = read_ranges(gpu, encoder, &[(&buffer, starts[2], lens[2] as u64 * 4)]).expect("read");
    bytemuck::cast_slice(&out[0]).to_vec()
}

#[test]
fn leading_dimensions_and_offsets_address_sub_matrices() {
    let gpu = Gpu::new().expect("GPU tests need a wgpu adapter (scripts/test installs lavapipe)");
    // Unaligned (tiled and scalar register entries), then vec4-aligned (all three).
    let cases = [
        Case {
            m: 37,
            k: 19,
            n: 70,
            ld: [23, 75, 73],
            off: [5, 3, 9],
        },
        Case {
            m: 70,
            k: 36,
            n: 44,
            ld: [40, 52, 49],
            off: [8, 12, 3],
        },
    ];
    for (i, case) in cases.into_iter().enumerate() {
        let lens = case.lens();
        let (a, b) = (values(lens[0], 1), values(lens[1], 2));
        let mut entries = vec![
            GemmKernel::Tiled.entry(false),
            GemmKernel::Register.entry(false),
        ];
        if i == 1 {
            entries.push(GemmKernel::Register.entry(true));
        }
        for (kernel, block) in entries {
            let c = run(&gpu, kernel, block, case, &a, &b);
            let mut want = vec![SENTINEL; lens[2]];
            for r in 0..case.m {
                for j in 0..case.n {
                    let mut acc = 0.0f64;
                    for p in 0..case.k {
                        let av = a[case.off[0] + r * case.ld[0] + p];
                        let bv = b[case.off[1] + p * case.ld[1] + j];
                        acc += f64::from(av) * f64::from(bv);
                    }
                    want[case.off[2] + r * case.ld[2] + j] = acc as f32;
                }
            }
            for (e, (g, w)) in c.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-4 * w.abs().max(1.0),
                    "{kernel:?} {case:?}: c[{e}] = {g}, want {w}"
                );
            }
        }
    }
}
