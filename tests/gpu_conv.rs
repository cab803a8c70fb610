//! Convolution lowerings on the GPU (lavapipe in CI) against the CPU reference: the direct
//! kernel on odd shapes (channels and output channels not multiples of the workgroup blocks,
//! strides 1 and 2, padding, dilation, 1x1, 3x3 and 7x7 kernels, with and without bias,
//! batch > 1, windows wide enough to shrink the tile, several channel chunks), im2col under caps
//! small enough for many chunks, and `auto` choosing per op under a cap.

mod common;

use common::{check, check_layouts, naive};
use tessera::graph::conv::{ConvMode, choices, choose};
use tessera::graph::{Conv2dAttrs, DType, Graph, GraphBuilder, Init, Op};

/// One conv case: input [n, c, h, w], o output channels, a k x k kernel.
#[derive(Clone, Copy, Debug)]
struct Case {
    n: usize,
    c: usize,
    hw: [usize; 2],
    o: usize,
    k: usize,
    stride: [usize; 2],
    pad: [usize; 2],
    dil: [usize; 2],
    bias: bool,
}

fn graph(c: &Case) -> Graph {
    let mut b = GraphBuilder::new();
    let x = b.input(
        "x",
        &[c.n, c.c, c.hw[0], c.hw[1]],
        DType::F32,
        Init::Uniform {
            seed: 3,
            scale: 1.0,
        },
    );
    let w = b.weight("w", &[c.o, c.c, c.k, c.k], 4, 0.5);
    let mut ins = vec![x, w];
    if c.bias {
        ins.push(b.weight("bias", &[c.o], 5, 0.5));
    }
    let attrs = Conv2dAttrs {
        stride: c.stride,
        padding: c.pad,
        dilation: c.dil,
        ..Default::default()
    };
    let y = b.op("y", Op::Conv2d(attrs), &ins).expect("conv");
    b.output(y);
    b.build().expect("graph")
}

fn case(n: usize, c: usize, hw: [usize; 2], o: usize, k: usize) -> Case {
    Case {
        n,
        c,
        hw,
        o,
        k,
        stride: [1, 1],
        pad: [0, 0],
        dil: [1, 1],
        bias: false,
    }
}

const DIRECT_CASES: fn() -> Vec<Case> = || {
    vec![
        Case {
            pad: [1, 1],
            bias: true,
            ..case(2, 3, [13, 11], 5, 3)
        },
        Case {
            stride: [2, 2],
            pad: [1, 1],
            ..case(1, 7, [17, 19], 33, 3)
        },
        Case {
            bias: true,
            ..case(3, 20, [9, 7], 17, 1)
        },
        Case {
            stride: [2, 2],
            pad: [3, 3],
            bias: true,
            ..case(2, 3, [23, 21], 18, 7)
        },
        Case {
            pad: [2, 2],
            dil: [2, 2],
            ..case(1, 5, [15, 14], 6, 3)
        },
        // 70 channels of a 10x10 window: two channel chunks of the staged tile.
        Case {
            pad: [1, 1],
            bias: true,
            ..case(1, 70, [10, 10], 9, 3)
        },
        Case {
            stride: [2, 1],
            pad: [0, 2],
            dil: [1, 3],
            ..case(2, 4, [12, 16], 3, 3)
        },
        // 7x7 dilated by 10: the 8x8 tile's window does not fit, the tile shrinks.
        Case {
            pad: [30, 30],
            dil: [10, 10],
            bias: true,
            ..case(1, 2, [37, 41], 3, 7)
        },
        // Stride 2 on a 1x1 kernel (a resnet downsampling shortcut), output 1 wide.
        Case {
            stride: [2, 2],
            ..case(2, 6, [5, 1], 20, 1)
        },
    ]
};

#[test]
fn direct_conv_matches_the_reference_on_odd_shapes() {
    for c in DIRECT_CASES() {
        let g = choose(&graph(&c), ConvMode::Direct, None).expect("direct fits");
        let ch = choices(&g);
        assert_eq!(
            (ch[0].method, ch[0].workspace_bytes),
            ("direct", 0),
            "{c:?}"
        );
        check_layouts(&g, None, &format!("direct {c:?}"));
    }
}

#[test]
fn im2col_in_many_chunks_under_small_caps() {
    let c = Case {
        pad: [1, 1],
        bias: true,
        ..case(2, 5, [13, 11], 6, 3)
    };
    // A column is 5*3*3*4 = 180 bytes: caps of 1, 5 and 16 columns (143 positions per image).
    for cap in [180, 1000, 2880] {
        let g = choose(&graph(&c), ConvMode::Im2col, Some(cap)).expect("im2col fits");
        let ch = choices(&g);
        assert_eq!(ch[0].method, "im2col");
        assert!(ch[0].workspace_bytes <= cap && ch[0].workspace_bytes >= 180);
        check(&g, &naive(&g), &format!("im2col under a {cap}-byte cap"));
    }
}

#[test]
fn auto_mixes_methods_under_a_cap_and_matches() {
    // a: C*KH*KW = 18 (72-byte columns), b: 576 (2304 bytes): under 4 KiB, a stays im2col
    // (56 columns) and b goes direct.
    let mut b = GraphBuilder::new();
    let x = b.input(
        "x",
        &[2, 2, 9, 11],
        DType::F32,
        Init::Uniform {
            seed: 1,
            scale: 1.0,
        },
    );
    let wa = b.weight("wa", &[64, 2, 3, 3], 2, 0.5);
    let wb = b.weight("wb", &[3, 64, 3, 3], 3, 0.5);
    let bb = b.weight("bb", &[3], 4, 0.5);
    let same = Conv2dAttrs {
        padding: [1, 1],
        ..Default::default()
    };
    let a = b.op("a", Op::Conv2d(same), &[x, wa]).expect("a");
    let y = b.op("b", Op::Conv2d(same), &[a, wb, bb]).expect("b");
    b.output(y);
    let g = choose(&b.build().expect("graph"), ConvMode::Auto, Some(4096)).expect("auto");
    let methods: Vec<_> = choices(&g).iter().map(|c| c.method).collect();
    assert_eq!(methods, ["im2col", "direct"]);
    check(&g, &naive(&g), "auto under a 4 KiB cap");
}
