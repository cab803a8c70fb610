//! The tiled (flash-style) attention kernel on the GPU (lavapipe in CI) against the CPU
//! reference: query and key lengths that are not multiples of the tiles (1, 7, 33, 301),
//! causal and not, head dims from 1 to the kernel's maximum (so K/V tiles of 16 to 64 keys,
//! including odd widths), several batch x heads, and more workgroups than one grid dimension
//! allows (a folded grid).

mod common;

use common::{check_layouts, gpu};
use tessera::graph::{
    AttentionKernel, DType, Graph, GraphBuilder, Init, Op, TILED_ATTENTION_MAX_HEAD_DIM,
};

/// One attention node: q [b, h, s, d], k and v [b, h, t, d], run by `kernel`.
fn attention(
    (b, h, s, t, d): (usize, usize, usize, usize, usize),
    causal: bool,
    kernel: AttentionKernel,
) -> Graph {
    let mut g = GraphBuilder::new();
    let dims = [[b, h, s, d], [b, h, t, d], [b, h, t, d]];
    let ins: Vec<_> = dims
        .iter()
        .enumerate()
        .map(|(i, dims)| {
            let init = Init::Uniform {
                seed: 31 + i as u64,
                scale: 2.0,
            };
            g.input(&format!("x{i}"), dims, DType::F32, init)
        })
        .collect();
    let op = Op::Attention {
        causal,
        scale: 1.0 / (d as f32).sqrt(),
        kernel,
    };
    let y = g.op("attn", op, &ins).expect("valid attention");
    g.output(y);
    g.build().expect("valid graph")
}

fn check_tiled(dims: (usize, usize, usize, usize, usize), causal: bool) {
    let g = attention(dims, causal, AttentionKernel::Tiled);
    assert_eq!(g.workspace_bytes(tessera::graph::NodeId(0)), 0);
    check_layouts(
        &g,
        None,
        &format!("tiled attention {dims:?} causal={causal}"),
    );
}

#[test]
fn tiled_attention_odd_lengths_causal() {
    // (batch, heads, S, T, D) with S == T: 1, 7, 33 and 301 keys, head dims 1 to 128.
    for dims in [
        (1, 1, 1, 1, 1),
        (2, 3, 7, 7, 5),
        (1, 2, 33, 33, 64),
        (2, 1, 33, 33, TILED_ATTENTION_MAX_HEAD_DIM),
        (1, 3, 301, 301, 5),
        // 51 keys per K/V tile (2048 / 40): tiles of an odd width.
        (1, 2, 100, 100, 40),
        (1, 1, 301, 301, TILED_ATTENTION_MAX_HEAD_DIM),
    ] {
        check_tiled(dims, true);
    }
}

#[test]
fn tiled_attention_odd_lengths_not_causal() {
    for dims in [
        (1, 1, 1, 7, 1),
        (1, 1, 7, 1, 5),
        (3, 2, 7, 33, 5),
        (1, 2, 33, 7, 64),
        (1, 1, 33, 301, TILED_ATTENTION_MAX_HEAD_DIM),
        (2, 2, 301, 33, 64),
        // 20 keys per K/V tile (2048 / 100).
        (2, 1, 45, 77, 100),
    ] {
        check_tiled(dims, false);
    }
}

#[test]
fn tiled_attention_with_a_folded_grid() {
    // One workgroup per 16 query rows of each (batch, head): more than one grid dimension holds.
    let max = gpu().limits().max_compute_workgroups_per_dimension as usize;
    let heads = max + 7;
    check_tiled((1, heads, 3, 3, 1), true);
}

#[test]
fn both_kernels_agree_on_the_same_graph() {
    // 150 keys: three K/V tiles of 64 (head dim 24), so the online rescale matters.
    let dims = (2, 2, 150, 150, 24);
    let tiled = attention(dims, true, AttentionKernel::Tiled);
    let mut materialized = tiled.clone();
    materialized
        .set_attention_kernel(AttentionKernel::Materialized)
        .expect("rewrite");
    assert!(materialized.workspace_bytes(tessera::graph::NodeId(0)) > 0);
    check_layouts(&tiled, None, "tiled");
    check_layouts(&materialized, None, "materialized");
}
