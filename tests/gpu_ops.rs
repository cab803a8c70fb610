//! Every op on the GPU (lavapipe in CI) against the CPU reference, on odd shapes that are not
//! multiples of the workgroup size, with the naive layout and, for in-place-capable ops, with a
//! layout that runs the in-place kernel variant. Also the limit checks that fire before any
//! buffer is created.

mod common;

use common::{check, check_layouts, gpu, in_place_at, input, naive};
use tessera::graph::{
    AttentionKernel, BinaryOp, Conv2dAttrs, DType, Graph, GraphBuilder, Init, NodeId, Op,
    PoolAttrs, PoolKind, UnaryOp,
};
use tessera::runtime::{RuntimeError, compile, measure_compile};

/// One node of `op` over fresh inputs of `dims`.
fn single(dims: &[&[usize]], op: Op) -> Graph {
    common::single_op(dims, op, 11)
}

const N0: NodeId = NodeId(0);

#[test]
fn matmul_every_transpose_combination_batched() {
    let (m, k, n) = (37, 53, 29);
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let a = if ta { [3, k, m] } else { [3, m, k] };
        let bd = if tb { [3, n, k] } else { [3, k, n] };
        let g = single(
            &[&a, &bd],
            Op::MatMul {
                trans_a: ta,
                trans_b: tb,
            },
        );
        check_layouts(&g, None, &format!("matmul ta={ta} tb={tb}"));
    }
    let shared = single(
        &[&[3, m, k], &[k, n]],
        Op::MatMul {
            trans_a: false,
            trans_b: false,
        },
    );
    check_layouts(&shared, None, "matmul with a shared 2-D b");
}

#[test]
fn linear_with_and_without_bias() {
    for bias in [true, false] {
        let mut b = GraphBuilder::new();
        let x = input(&mut b, "x", &[2, 5, 37], 1);
        let w = b.weight("w", &[37, 29], 2, 0.5);
        let bias = bias.then(|| b.weight("bias", &[29], 3, 0.5));
        let y = b.linear("y", x, w, bias).expect("linear");
        b.output(y);
        check_layouts(&b.build().expect("graph"), None, "linear");
    }
}

#[test]
fn binary_broadcasting_and_in_place() {
    for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul] {
        let g = single(&[&[5, 1, 7], &[3, 1]], Op::Binary(op));
        check_layouts(&g, None, &format!("{op:?} [5,1,7] with [3,1]"));
        // Output shape equals input 0's: the in-place variant applies.
        let g = single(&[&[5, 3, 7], &[3, 1]], Op::Binary(op));
        check_layouts(&g, Some(N0), &format!("{op:?} [5,3,7] with [3,1]"));
    }
}

#[test]
fn unary_ops_and_in_place() {
    for op in [UnaryOp::Relu, UnaryOp::Gelu, UnaryOp::Scale(-1.75)] {
        let g = single(&[&[3, 347]], Op::Unary(op));
        check_layouts(&g, Some(N0), &format!("{op:?}"));
    }
}

#[test]
fn softmax_and_layernorm_rows_and_in_place() {
    for dims in [[7usize, 300], [13, 9]] {
        let g = single(&[&dims], Op::Softmax);
        check_layouts(&g, Some(N0), &format!("softmax {dims:?}"));
        let mut b = GraphBuilder::new();
        let x = input(&mut b, "x", &dims, 5);
        let gamma = b.weight("gamma", &[dims[1]], 6, 1.0);
        let beta = b.weight("beta", &[dims[1]], 7, 1.0);
        let y = b
            .op("y", Op::LayerNorm { eps: 1e-5 }, &[x, gamma, beta])
            .expect("layernorm");
        b.output(y);
        check_layouts(
            &b.build().expect("graph"),
            Some(N0),
            &format!("layernorm {dims:?}"),
        );
    }
}

#[test]
fn conv2d_stride_padding_dilation() {
    let attrs = Conv2dAttrs {
        stride: [2, 2],
        padding: [1, 1],
        dilation: [2, 2],
        ..Default::default()
    };
    for bias in [true, false] {
        let mut b = GraphBuilder::new();
        let x = input(&mut b, "x", &[3, 5, 11, 13], 1);
        let w = b.weight("w", &[7, 5, 3, 3], 2, 0.5);
        let mut ins = vec![x, w];
        if bias {
            ins.push(b.weight("bias", &[7], 3, 0.5));
        }
        let y = b.op("y", Op::Conv2d(attrs), &ins).expect("conv");
        b.output(y);
        check_layouts(
            &b.build().expect("graph"),
            None,
            &format!("conv2d bias={bias}"),
        );
    }
}

#[test]
fn conv2d_spanning_several_im2col_tiles() {
    // C*KH*KW = 45, so a tile holds 65536 / 180 = 364 output positions; a 23x19 plane (437
    // positions) needs a full tile and a partial one, for each of the 2 images.
    let ckk = 5 * 3 * 3;
    let tile = tessera::graph::conv::im2col_tile_cols(ckk, 4, 23 * 19, None);
    assert!(
        tile < 23 * 19 && (23 * 19) % tile != 0,
        "tile {tile} must split the plane unevenly"
    );
    let attrs = Conv2dAttrs {
        stride: [1, 1],
        padding: [1, 1],
        dilation: [1, 1],
        ..Default::default()
    };
    let mut b = GraphBuilder::new();
    let x = input(&mut b, "x", &[2, 5, 23, 19], 4);
    let w = b.weight("w", &[6, 5, 3, 3], 5, 0.5);
    let bias = b.weight("bias", &[6], 6, 0.5);
    let y = b.op("y", Op::Conv2d(attrs), &[x, w, bias]).expect("conv");
    b.output(y);
    check_layouts(
        &b.build().expect("graph"),
        None,
        "conv2d over several tiles",
    );
}

#[test]
fn pooling_with_padding_and_global_average() {
    for kind in [PoolKind::Max, PoolKind::Avg] {
        let attrs = PoolAttrs {
            kind,
            kernel: [3, 3],
            stride: [2, 2],
            padding: [1, 1],
        };
        let g = single(&[&[2, 3, 11, 13]], Op::Pool2d(attrs));
        check_layouts(&g, None, &format!("{kind:?} pool"));
    }
    check_layouts(
        &single(&[&[3, 5, 11, 13]], Op::GlobalAvgPool),
        None,
        "global average pool",
    );
}

#[test]
fn permute_concat_embedding() {
    check_layouts(
        &single(
            &[&[2, 3, 5, 7]],
            Op::Permute {
                perm: vec![2, 0, 3, 1],
            },
        ),
        None,
        "permute rank 4",
    );
    check_layouts(
        &single(
            &[&[2, 3, 5], &[2, 4, 5], &[2, 1, 5]],
            Op::Concat { axis: 1 },
        ),
        None,
        "concat axis 1",
    );
    let mut b = GraphBuilder::new();
    let table = b.weight("table", &[17, 9], 4, 1.0);
    let ids = b.input("ids", &[3, 5], DType::U32, Init::Ids { seed: 9, max: 17 });
    let y = b.op("y", Op::Embedding, &[table, ids]).expect("embedding");
    let p = b.permute("ids_t", ids, &[1, 0]).expect("permute u32");
    b.output(y);
    b.output(p);
    check_layouts(&b.build().expect("graph"), None, "embedding + u32 permute");
}

#[test]
fn attention_causal_and_not() {
    for causal in [true, false] {
        let scale = 1.0 / 3.0;
        let g = single(
            &[&[2, 3, 13, 9], &[2, 3, 13, 9], &[2, 3, 13, 9]],
            Op::Attention {
                causal,
                scale,
                kernel: AttentionKernel::Materialized,
            },
        );
        check_layouts(&g, None, &format!("attention causal={causal}"));
    }
    let g = single(
        &[&[2, 3, 13, 9], &[2, 3, 11, 9], &[2, 3, 11, 9]],
        Op::Attention {
            causal: false,
            scale: 0.3,
            kernel: AttentionKernel::Materialized,
        },
    );
    check_layouts(&g, None, "attention S=13 T=11");
}

/// x -> linear -> gelu -> reshape -> layernorm -> softmax, with every in-place-capable node
/// run in place over its input.
fn chain() -> Graph {
    let mut b = GraphBuilder::new();
    let x = input(&mut b, "x", &[4, 7, 37], 1);
    let w = b.weight("w", &[37, 30], 2, 0.5);
    let h = b.linear("h", x, w, None).expect("linear");
    let g = b.gelu("g", h).expect("gelu");
    let r = b.reshape("r", g, &[28, 30]).expect("reshape");
    let gamma = b.constant("gamma", &[30], 1.5);
    let beta = b.constant("beta", &[30], 0.25);
    let n = b
        .op("n", Op::LayerNorm { eps: 1e-5 }, &[r, gamma, beta])
        .expect("layernorm");
    let s = b.op("s", Op::Softmax, &[n]).expect("softmax");
    b.output(s);
    b.build().expect("graph")
}

#[test]
fn chain_with_view_and_in_place_nodes() {
    let g = chain();
    check(&g, &naive(&g), "chain (naive)");
    let mut layout = naive(&g);
    // gelu (n1) over h, layernorm (n3) over the reshape view, softmax (n4) over n.
    for n in [1, 3, 4] {
        layout = in_place_at(&g, layout, NodeId(n));
        // The reshape view follows its source.
        layout.tensor_offsets[g.nodes[2].outputs[0].index()] =
            layout.tensor_offsets[g.nodes[1].outputs[0].index()];
    }
    check(&g, &layout, "chain (in place)");
}

#[test]
fn measurements_high_water_node_by_node_and_allocator() {
    let g = chain();
    let layout = naive(&g);
    let (compiled, bytes) = measure_compile(gpu(), &g, &layout).expect("compile");
    assert_eq!(
        compiled.buffer_bytes(),
        layout.total_bytes().div_ceil(4) * 4
    );
    assert!(compiled.params_bytes() > 0);
    // Other tests share the device concurrently, so only the shape of the report is checked
    // here: samples exist on both sides or on neither (never made up).
    assert_eq!(bytes.before.is_some(), bytes.after.is_some());
    assert_eq!(
        bytes.delta_allocated.is_some(),
        gpu().allocator_bytes().is_some()
    );
    let hw = compiled.high_water(gpu()).expect("high water");
    assert!(
        hw > 0 && hw <= layout.arena_bytes,
        "high water {hw} vs arena {}",
        layout.arena_bytes
    );
    let mut seen = Vec::new();
    let out = compiled
        .run_node_by_node(gpu(), |n, snapshot| {
            assert_eq!(snapshot.len() as u64, compiled.buffer_bytes());
            seen.push(n);
        })
        .expect("node by node");
    assert_eq!(seen, g.node_ids().collect::<Vec<_>>());
    let whole = compiled.run(gpu()).expect("run");
    assert_eq!(
        out.outputs, whole.outputs,
        "node-by-node and one-submission runs agree"
    );
    assert!(whole.wall_ms > 0.0);
}

#[test]
fn a_row_larger_than_the_device_limit_is_rejected_before_allocation() {
    // Larger tensors are split over bindings (tests/gpu_chunk.rs); one softmax row is not.
    let limit = gpu().max_binding();
    let g = single(&[&[1, (limit / 4 + 1) as usize]], Op::Softmax);
    match compile(gpu(), &g, &naive(&g)) {
        Err(RuntimeError::RowTooLarge {
            tensor,
            row_bytes,
            limit: l,
            ..
        }) => {
            assert_eq!(tensor, "x0");
            assert!(row_bytes > l && l == limit);
        }
        other => panic!("expected RowTooLarge, got {other:?}"),
    }
}

#[test]
fn arena_larger_than_max_buffer_is_rejected_before_allocation() {
    let (max_binding, max_buffer) = (gpu().max_binding(), gpu().max_buffer());
    let piece = (max_binding / 2 / 4) as usize; // elements; each tensor fits one binding
    let count = (max_buffer / (piece as u64 * 4)) as usize + 2;
    let mut b = GraphBuilder::new();
    let ins: Vec<_> = (0..count)
        .map(|i| input(&mut b, &format!("x{i}"), &[piece], i as u64))
        .collect();
    let y = b.relu("y", ins[0]).expect("relu");
    b.output(y);
    let g = b.build().expect("graph");
    match compile(gpu(), &g, &naive(&g)) {
        Err(RuntimeError::ArenaTooLarge { bytes, limit }) => {
            assert!(bytes > limit && limit == max_buffer)
        }
        other => panic!("expected ArenaTooLarge, got {other:?}"),
    }
}

#[test]
fn more_workgroups_than_one_dimension_allows_use_a_2d_grid() {
    let max = gpu().limits().max_compute_workgroups_per_dimension as usize;
    // 1-D kernels: more than max * WORKGROUP_SIZE elements.
    let n = max * tessera::runtime::shaders::WORKGROUP_SIZE as usize + 1001;
    check_layouts(
        &single(&[&[n]], Op::Unary(UnaryOp::Relu)),
        None,
        "relu beyond one grid row",
    );
    // Row kernels: one workgroup per row, more rows than one dimension allows.
    let g = single(&[&[max + 37, 3]], Op::Softmax);
    check_layouts(&g, Some(N0), "softmax beyond one grid row");
    // Attention's row softmax: one workgroup per (batch x head, query) row.
    let g = single(
        &[&[1, 2, max / 2 + 29, 3], &[1, 2, 5, 3], &[1, 2, 5, 3]],
        Op::Attention {
            causal: false,
            scale: 0.5,
            kernel: AttentionKernel::Materialized,
        },
    );
    check_layouts(&g, None, "attention rows beyond one grid row");
}

#[test]
fn gemm_with_more_row_tiles_than_one_dimension_allows() {
    let max = gpu().limits().max_compute_workgroups_per_dimension as usize;
    // Rows of one block of the (scalar) GEMM kernel this adapter runs: 32 on lavapipe, where
    // 65,535 * 32 + 40 = 2,097,160 rows make 65,537 row tiles, the last partial.
    let tile = gpu().gemm_kernel().entry(false).1[0] as usize;
    let m = max * tile + 40;
    assert!(!m.is_multiple_of(tile) && m.div_ceil(tile) > max);
    let mut b = GraphBuilder::new();
    let x = input(&mut b, "x", &[m, 3], 1);
    let w = b.weight("w", &[3, 5], 2, 0.5);
    let bias = b.weight("bias", &[5], 3, 0.5);
    let y = b.linear("y", x, w, Some(bias)).expect("linear");
    b.output(y);
    check_layouts(
        &b.build().expect("graph"),
        None,
        "linear with M past the grid row",
    );
    // Batched: more matrices than one dimension allows (tiles fold batch into the grid too).
    let g = single(
        &[&[max + 3, 3, 2], &[2, 5]],
        Op::MatMul {
            trans_a: false,
            trans_b: false,
        },
    );
    check_layouts(&g, None, "matmul with batch past the grid row");
}

#[test]
fn convolution_params_are_one_block_per_tile() {
    let attrs = Conv2dAttrs {
        stride: [1, 1],
        padding: [1, 1],
        dilation: [1, 1],
        ..Default::default()
    };
    let mut b = GraphBuilder::new();
    let x = input(&mut b, "x", &[3, 5, 23, 19], 4);
    let w = b.weight("w", &[6, 5, 3, 3], 5, 0.5);
    let y = b.op("y", Op::Conv2d(attrs), &[x, w]).expect("conv");
    b.output(y);
    let g = b.build().expect("graph");
    let tiles =
        (23 * 19u64).div_ceil(tessera::graph::conv::im2col_tile_cols(45, 4, 23 * 19, None)) * 3;
    let compiled = compile(gpu(), &g, &naive(&g)).expect("compile");
    assert_eq!(compiled.dispatch_count() as u64, 2 * tiles);
    let stride = tessera::runtime::shaders::PARAMS_BYTES.next_multiple_of(u64::from(
        gpu().limits().min_uniform_buffer_offset_alignment,
    ));
    // im2col and its GEMM share one block per tile.
    assert_eq!(compiled.params_bytes(), tiles * stride);
}

#[test]
fn timestamps_are_reported_when_the_device_has_them() {
    let g = single(&[&[3, 5]], Op::Unary(UnaryOp::Gelu));
    let out = compile(gpu(), &g, &naive(&g))
        .expect("compile")
        .run(gpu())
        .expect("run");
    assert_eq!(
        out.gpu_ms.is_some(),
        gpu().has_timestamps(),
        "gpu_ms {:?}",
        out.gpu_ms
    );
}
