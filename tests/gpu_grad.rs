//! The backward ops on the GPU (lavapipe in CI) against the CPU reference, on shapes that are
//! not multiples of the workgroup size: convolution gradients with stride 2, padding and
//! dilation; pooling gradients with padding and overlapping windows (max with ties); global
//! average pooling; upsampling with the crop; and the attention backward (causal or not,
//! S != T, several row blocks and tiles per head, head dims 5 to 128) chained after a real forward pass, so its row statistics are
//! the real ones.

mod common;

use common::{check_layouts, input};
use tessera::graph::{
    AttentionGradOf, AttentionKernel, Conv2dAttrs, DType, Graph, GraphBuilder, Init, Op, PoolAttrs,
    PoolKind, TensorId,
};

/// One node of `op` over fresh inputs of `dims`.
fn single(dims: &[&[usize]], op: Op) -> Graph {
    common::single_op(dims, op, 21)
}

#[test]
fn conv2d_gradients_with_stride_padding_dilation() {
    let cases = [
        ([2, 2], [1, 1], [1, 1], [13, 11], [3, 3]),
        ([2, 1], [2, 0], [2, 1], [12, 9], [3, 2]),
        ([1, 1], [0, 0], [1, 1], [5, 7], [1, 1]),
    ];
    for (stride, padding, dilation, [h, w], [kh, kw]) in cases {
        let attrs = Conv2dAttrs {
            stride,
            padding,
            dilation,
            ..Default::default()
        };
        let oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) / stride[0] + 1;
        let ow = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) / stride[1] + 1;
        let (n, c, o) = (2, 3, 5);
        let what = format!("stride {stride:?} pad {padding:?} dil {dilation:?}");
        let dx = Op::Conv2dGradInput {
            attrs,
            input: [h, w],
        };
        let g = single(&[&[n, o, oh, ow], &[o, c, kh, kw]], dx);
        check_layouts(&g, None, &format!("conv2d_grad_input {what}"));
        let dw = Op::Conv2dGradWeight {
            attrs,
            kernel: [kh, kw],
        };
        let g = single(&[&[n, c, h, w], &[n, o, oh, ow]], dw);
        check_layouts(&g, None, &format!("conv2d_grad_weight {what}"));
    }
    // 300 channels: more bias threads than one workgroup.
    let g = single(&[&[3, 300, 5, 7]], Op::Conv2dGradBias);
    check_layouts(&g, None, "conv2d_grad_bias");
}

#[test]
fn pooling_gradients_with_padding_overlap_and_ties() {
    for kind in [PoolKind::Max, PoolKind::Avg] {
        for (kernel, stride, padding) in [([3, 3], [2, 2], [1, 1]), ([2, 3], [1, 2], [0, 1])] {
            let attrs = PoolAttrs {
                kind,
                kernel,
                stride,
                padding,
            };
            let (h, w) = (11, 13);
            let oh = (h + 2 * padding[0] - kernel[0]) / stride[0] + 1;
            let ow = (w + 2 * padding[1] - kernel[1]) / stride[1] + 1;
            let mut b = GraphBuilder::new();
            let dy = input(&mut b, "dy", &[2, 3, oh, ow], 5);
            let mut ins = vec![dy];
            if kind == PoolKind::Max {
                // Few distinct values: windows have ties, so the first-maximum rule matters.
                let x = b.input(
                    "x",
                    &[2, 3, h, w],
                    DType::U32,
                    Init::Ids { seed: 3, max: 4 },
                );
                let values = table(&mut b);
                let xf = b.op("xf", Op::Embedding, &[values, x]).expect("gather");
                let flat = b.reshape("xr", xf, &[2, 3, h, w]).expect("reshape");
                ins.push(flat);
            }
            let op = Op::Pool2dGrad {
                attrs,
                input: [h, w],
            };
            let y = b.op("y", op, &ins).expect("pool grad");
            b.output(y);
            let g = b.build().expect("graph");
            check_layouts(
                &g,
                None,
                &format!("{kind:?} pool grad {kernel:?} {stride:?}"),
            );
        }
    }
    let g = single(&[&[3, 5]], Op::GlobalAvgPoolGrad { size: [11, 13] });
    check_layouts(&g, None, "global_avg_pool_grad");
    for (oh, ow) in [(22, 26), (21, 25)] {
        let g = single(&[&[2, 3, oh, ow]], Op::Upsample2xGrad { input: [11, 13] });
        check_layouts(&g, None, &format!("upsample2x_grad to {oh}x{ow}"));
    }
}

/// A `[4, 1]` table of four values (so inputs gathered from it tie often).
fn table(b: &mut GraphBuilder) -> TensorId {
    let t = b.input(
        "values",
        &[4],
        DType::F32,
        Init::Uniform {
            seed: 1,
            scale: 1.0,
        },
    );
    b.reshape("table", t, &[4, 1]).expect("reshape")
}

/// Forward attention, its row statistics and all three gradients, as graph outputs.
fn attention_backward(causal: bool, [s, t, d]: [usize; 3], kernel: AttentionKernel) -> Graph {
    let mut b = GraphBuilder::new();
    let q = input(&mut b, "q", &[2, 3, s, d], 1);
    let k = input(&mut b, "k", &[2, 3, t, d], 2);
    let v = input(&mut b, "v", &[2, 3, t, d], 3);
    let dy = input(&mut b, "dy", &[2, 3, s, d], 4);
    let scale = 1.0 / (d as f32).sqrt();
    let attn = Op::Attention {
        causal,
        scale,
        kernel,
    };
    let o = b.op("o", attn, &[q, k, v]).expect("attention");
    let stats = b
        .op(
            "stats",
            Op::AttentionStats { causal, scale },
            &[q, k, o, dy],
        )
        .expect("stats");
    b.output(stats);
    for wrt in [AttentionGradOf::Q, AttentionGradOf::K, AttentionGradOf::V] {
        let op = Op::AttentionGrad { causal, scale, wrt };
        let g = b
            .op(&format!("d{wrt:?}"), op, &[q, k, v, dy, stats])
            .expect("grad");
        b.output(g);
    }
    b.build().expect("graph")
}

#[test]
fn attention_backward_causal_and_not() {
    for causal in [true, false] {
        let g = attention_backward(causal, [13, 13, 9], AttentionKernel::Tiled);
        check_layouts(&g, None, &format!("attention backward causal={causal}"));
    }
    let g = attention_backward(false, [13, 11, 9], AttentionKernel::Materialized);
    check_layouts(&g, None, "attention backward S=13 T=11");
    let g = attention_backward(true, [5, 5, 128], AttentionKernel::Tiled);
    check_layouts(&g, None, "attention backward D=128");
    // Several 64-row blocks per head and a partial last 16-row tile on each side.
    let g = attention_backward(true, [141, 141, 5], AttentionKernel::Tiled);
    check_layouts(&g, None, "attention backward causal S=T=141");
    let g = attention_backward(false, [70, 83, 7], AttentionKernel::Tiled);
    check_layouts(&g, None, "attention backward S=70 T=83");
}
