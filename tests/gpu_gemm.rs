//! Both GEMM kernels (workgroup-memory `tiled` and the `register` family, whose vec4 entry point
//! runs where operands align) on the GPU (lavapipe in CI) against the CPU reference, whatever
//! the adapter table would pick: odd sizes (1, 3, 17, 65, 127) that are multiples of no block
//! side, every transpose combination, batches with per-batch and shared b, linear with and
//! without bias, aligned shapes that take the vec4 path with partial blocks, and the im2col
//! convolution's GEMM.

mod common;

use common::{check_gemm, naive};
use tessera::graph::{Conv2dAttrs, DType, Graph, GraphBuilder, Init, Op, TensorId};
use tessera::runtime::GemmKernel;

fn input(b: &mut GraphBuilder, name: &str, dims: &[usize], seed: u64) -> TensorId {
    b.input(name, dims, DType::F32, Init::Uniform { seed, scale: 1.0 })
}

/// `a [.., m, k]` (stored `[.., k, m]` when `ta`) times `b`, batched over `batch` (b 2-D when
/// `shared`).
fn matmul(
    batch: &[usize],
    (m, k, n): (usize, usize, usize),
    (ta, tb): (bool, bool),
    shared: bool,
) -> Graph {
    let mut g = GraphBuilder::new();
    let mut ad = batch.to_vec();
    ad.extend(if ta { [k, m] } else { [m, k] });
    let mut bd = if shared { Vec::new() } else { batch.to_vec() };
    bd.extend(if tb { [n, k] } else { [k, n] });
    let a = input(&mut g, "a", &ad, 3);
    let b = input(&mut g, "b", &bd, 4);
    let op = Op::MatMul {
        trans_a: ta,
        trans_b: tb,
    };
    let y = g.op("y", op, &[a, b]).expect("matmul");
    g.output(y);
    g.build().expect("graph")
}

fn both(graph: &Graph, what: &str) {
    for gemm in GemmKernel::ALL {
        check_gemm(
            graph,
            &naive(graph),
            gemm,
            &format!("{what} ({})", gemm.name()),
        );
    }
}

#[test]
fn odd_sizes_in_every_dimension() {
    for (m, k, n) in [
        (1, 1, 1),
        (1, 3, 17),
        (3, 65, 1),
        (17, 1, 127),
        (65, 127, 3),
        (127, 17, 65),
        (1, 130, 1),
    ] {
        both(
            &matmul(&[], (m, k, n), (false, false), false),
            &format!("{m}x{k}x{n}"),
        );
    }
}

#[test]
fn every_transpose_combination_with_batches_and_shared_b() {
    for t in [(false, false), (true, false), (false, true), (true, true)] {
        let g = matmul(&[2, 3], (17, 65, 33), t, false);
        both(&g, &format!("batched 2x3 of 17x65x33, trans {t:?}"));
        let g = matmul(&[3], (65, 17, 3), t, true);
        both(&g, &format!("batch 3, shared b, 65x17x3, trans {t:?}"));
    }
}

#[test]
fn aligned_shapes_take_the_vec4_path_with_partial_blocks() {
    // K and N multiples of 4, M and N not multiples of any block side (64): the register
    // family runs matmul_reg4 here, with rows and columns past the edges.
    for (m, k, n) in [(1, 4, 4), (37, 64, 72), (129, 36, 68), (65, 132, 260)] {
        both(
            &matmul(&[], (m, k, n), (false, false), false),
            &format!("{m}x{k}x{n}"),
        );
    }
    both(
        &matmul(&[3], (33, 8, 12), (false, false), false),
        "batched aligned",
    );
    both(
        &matmul(&[3], (33, 8, 12), (false, false), true),
        "batched aligned, shared b",
    );
}

#[test]
fn linear_with_and_without_bias() {
    for (k, n) in [(37, 29), (64, 68)] {
        for bias in [true, false] {
            let mut b = GraphBuilder::new();
            let x = input(&mut b, "x", &[2, 67, k], 1);
            let w = b.weight("w", &[k, n], 2, 0.5);
            let bias = bias.then(|| b.weight("bias", &[n], 3, 0.5));
            let y = b.linear("y", x, w, bias).expect("linear");
            b.output(y);
            let g = b.build().expect("graph");
            both(&g, &format!("linear {k}x{n} bias {}", bias.is_some()));
        }
    }
}

#[test]
fn im2col_convolution_gemm() {
    // 5 input channels x 3x3 = 45 over 13x11 positions (unaligned), and 8 x 1x1 = 8 over 12x12
    // (K and the column tile multiples of 4: the vec4 path), both with bias.
    for (c, kside, pad, h, w) in [(5, 3, 1, 13, 11), (8, 1, 0, 12, 12)] {
        let mut b = GraphBuilder::new();
        let x = input(&mut b, "x", &[2, c, h, w], 4);
        let w = b.weight("w", &[6, c, kside, kside], 5, 0.5);
        let bias = b.weight("bias", &[6], 6, 0.5);
        let attrs = Conv2dAttrs {
            stride: [1, 1],
            padding: [pad, pad],
            dilation: [1, 1],
            ..Default::default()
        };
        let y = b.op("y", Op::Conv2d(attrs), &[x, w, bias]).expect("conv");
        b.output(y);
        both(
            &b.build().expect("graph"),
            &format!("conv {c}x{kside}x{kside}"),
        );
    }
}
