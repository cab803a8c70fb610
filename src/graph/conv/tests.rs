//! Conv choices and workspace sizing without a GPU: tile sizing under a cap, the direct tile,
//! `auto`'s rule, the errors, and that the planner sees each op's workspace.

use super::*;
use crate::analysis::{AnalysisOptions, analyze};
use crate::graph::{DType, GraphBuilder, Init};
use crate::models::{ModelOptions, build};
use crate::pipeline::{PlanConfig, plan_graph};

fn attrs(stride: usize, pad: usize, dil: usize) -> Conv2dAttrs {
    Conv2dAttrs {
        stride: [stride; 2],
        padding: [pad; 2],
        dilation: [dil; 2],
        ..Default::default()
    }
}

/// One conv of `c` channels, `k`x`k` kernel, on a `side`x`side` image.
fn one_conv(c: usize, k: usize, side: usize) -> Graph {
    let mut b = GraphBuilder::new();
    let x = b.input("x", &[2, c, side, side], DType::F32, Init::Constant(1.0));
    let w = b.weight("w", &[4, c, k, k], 1, 0.1);
    let y = b.op("y", Op::Conv2d(attrs(1, k / 2, 1)), &[x, w]).unwrap();
    b.output(y);
    b.build().unwrap()
}

#[test]
fn im2col_tile_shrinks_to_the_cap() {
    // ckk = 45: a column is 180 bytes; the default tile is 65536 / 180 = 364 columns.
    assert_eq!(im2col_tile_cols(45, 4, 1000, None), 364);
    assert_eq!(im2col_tile_cols(45, 4, 100, None), 100);
    assert_eq!(im2col_tile_cols(45, 4, 1000, Some(1000)), 5);
    assert_eq!(im2col_tile_cols(45, 4, 1000, Some(180)), 1);
    assert_eq!(im2col_tile_cols(45, 4, 1000, Some(179)), 0);
    // A cap above the default never widens the tile.
    assert_eq!(im2col_tile_cols(45, 4, 1000, Some(1 << 30)), 364);
    // The default keeps at least 16 columns even past the target size.
    assert_eq!(im2col_tile_cols(4608, 4, 49, None), 16);
}

#[test]
fn workspace_follows_the_method() {
    let s = ConvShape::new(&[2, 5, 23, 19], &[6, 5, 3, 3], &[2, 6, 23, 19], DType::F32);
    let im2col = |cap| conv_workspace_bytes(ConvMethod::Im2col { cap }, &s);
    assert_eq!(im2col(None), Some(45 * 364 * 4));
    assert_eq!(im2col(Some(1000)), Some(45 * 5 * 4));
    assert_eq!(conv_workspace_bytes(ConvMethod::Direct, &s), Some(0));
}

#[test]
fn f16_tiles_hold_twice_the_columns_in_the_same_bytes() {
    // ckk = 45: an f16 column is 90 bytes; the default tile is 65536 / 90 = 728 columns.
    assert_eq!(im2col_tile_cols(45, 2, 1000, None), 728);
    assert_eq!(im2col_tile_cols(45, 2, 1000, Some(1000)), 11);
    assert_eq!(im2col_tile_cols(45, 2, 1000, Some(89)), 0);
    let s = ConvShape::new(&[2, 5, 23, 19], &[6, 5, 3, 3], &[2, 6, 23, 19], DType::F16);
    assert_eq!(s.column_bytes(), 90);
    let im2col = |cap| conv_workspace_bytes(ConvMethod::Im2col { cap }, &s);
    assert_eq!(
        im2col(None),
        Some(45 * 437 * 2),
        "the plane (437) caps the tile"
    );
    assert_eq!(im2col(Some(1000)), Some(45 * 11 * 2));
}

#[test]
fn direct_tile_fits_workgroup_memory_and_shrinks_for_wide_windows() {
    let s = ConvShape::new(
        &[1, 70, 10, 10],
        &[9, 70, 3, 3],
        &[1, 9, 10, 10],
        DType::F32,
    );
    let t = direct_tile(&attrs(1, 1, 1), &s).unwrap();
    assert_eq!((t.tile_h, t.tile_w, t.patch_h, t.patch_w), (8, 8, 10, 10));
    assert_eq!(t.chunk, 40);
    // 7x7 dilated by 10: one 8x8 tile would read 68x68 > DIRECT_PATCH elements.
    let s = ConvShape::new(&[1, 2, 70, 70], &[3, 2, 7, 7], &[1, 3, 70, 70], DType::F32);
    let t = direct_tile(&attrs(1, 30, 10), &s).unwrap();
    assert!(
        t.patch_h * t.patch_w <= DIRECT_PATCH && t.tile_h * t.tile_w < 64,
        "{t:?}"
    );
    assert_eq!(t.chunk, 1);
    // Narrow outputs get taller tiles.
    let s = ConvShape::new(&[1, 8, 4, 4], &[8, 8, 3, 3], &[1, 8, 2, 2], DType::F32);
    let t = direct_tile(&attrs(1, 0, 1), &s).unwrap();
    assert_eq!((t.tile_h, t.tile_w), (2, 2));
    // A 65x65 window cannot be staged at all.
    let s = ConvShape::new(&[1, 1, 70, 70], &[1, 1, 65, 65], &[1, 1, 6, 6], DType::F32);
    assert_eq!(direct_tile(&attrs(1, 0, 1), &s), None);
}

#[test]
fn modes_choose_per_op_and_errors_name_the_op() {
    let g = one_conv(5, 3, 13); // column 180 bytes, plane 169
    let m = |mode, cap| {
        let out = choose(&g, mode, cap)?;
        Ok::<_, ConvError>(choices(&out))
    };
    let only =
        |v: Result<Vec<ConvChoice>, ConvError>| v.map(|c| (c[0].method, c[0].workspace_bytes));
    assert_eq!(only(m(ConvMode::Im2col, None)), Ok(("im2col", 180 * 169)));
    assert_eq!(only(m(ConvMode::Direct, None)), Ok(("direct", 0)));
    assert_eq!(only(m(ConvMode::Auto, None)), Ok(("im2col", 180 * 169)));
    // 16 columns fit in 2880 bytes: auto keeps im2col; one byte less and it goes direct.
    assert_eq!(only(m(ConvMode::Auto, Some(2880))), Ok(("im2col", 2880)));
    assert_eq!(only(m(ConvMode::Auto, Some(2879))), Ok(("direct", 0)));
    assert_eq!(
        only(m(ConvMode::Im2col, Some(2879))),
        Ok(("im2col", 180 * 15))
    );
    let e = m(ConvMode::Im2col, Some(100)).unwrap_err();
    assert_eq!(
        e,
        ConvError::CapTooSmall {
            node: "y".into(),
            cap: 100,
            column: 180
        }
    );
    assert!(e.to_string().contains("conv `y`") && !e.to_string().contains('\n'));
    // A window too wide for the direct kernel: direct refuses, auto falls back to im2col.
    let wide = one_conv(1, 65, 70);
    assert!(matches!(
        choose(&wide, ConvMode::Direct, None),
        Err(ConvError::WindowTooLarge { .. })
    ));
    assert!(matches!(
        choose(&wide, ConvMode::Auto, Some(65 * 65 * 4)).map(|g| choices(&g)[0].method),
        Ok("im2col")
    ));
    assert!(matches!(
        choose(&wide, ConvMode::Auto, Some(4)),
        Err(ConvError::NoMethod { .. })
    ));
}

#[test]
fn auto_picks_per_op_under_a_cap() {
    // conv a: ckk = 2*3*3 = 18 (72-byte columns); conv b: ckk = 64*3*3 = 576 (2304 bytes).
    let mut b = GraphBuilder::new();
    let x = b.input("x", &[1, 2, 9, 9], DType::F32, Init::Constant(1.0));
    let wa = b.weight("wa", &[64, 2, 3, 3], 1, 0.1);
    let wb = b.weight("wb", &[3, 64, 3, 3], 2, 0.1);
    let a = b.op("a", Op::Conv2d(attrs(1, 1, 1)), &[x, wa]).unwrap();
    let y = b.op("b", Op::Conv2d(attrs(1, 1, 1)), &[a, wb]).unwrap();
    b.output(y);
    let g = choose(&b.build().unwrap(), ConvMode::Auto, Some(4096)).unwrap();
    let c = choices(&g);
    assert_eq!((c[0].method, c[0].workspace_bytes), ("im2col", 72 * 56));
    assert_eq!((c[1].method, c[1].workspace_bytes), ("direct", 0));
}

#[test]
fn resnet_direct_plans_no_conv_workspace() {
    let opts = ModelOptions::default();
    let g = build("resnet", &opts).unwrap();
    let cfg = PlanConfig::default();
    let im2col = plan_graph(&choose(&g, ConvMode::Im2col, None).unwrap(), &cfg).unwrap();
    let direct_graph = choose(&g, ConvMode::Direct, None).unwrap();
    let direct = plan_graph(&direct_graph, &cfg).unwrap();
    assert!(!direct.conv.is_empty());
    assert!(
        direct
            .conv
            .iter()
            .all(|c| c.method == "direct" && c.workspace_bytes == 0)
    );
    assert_eq!(direct.analysis.workspace_bytes, 0);
    assert!(im2col.analysis.workspace_bytes > 0);
    assert!(direct.outcome.plan.arena_bytes <= im2col.outcome.plan.arena_bytes);
    // Analysis sees the same workspace the report lists.
    let a = analyze(&direct_graph, &AnalysisOptions::default()).unwrap();
    assert_eq!(a.workspace_bytes, 0);
}

#[test]
fn graphs_without_a_method_load_as_im2col() {
    let g = one_conv(2, 3, 5);
    let text = serde_json::to_string(&g)
        .unwrap()
        .replace(r#","method":{"Im2col":{"cap":null}}"#, "");
    assert!(!text.contains("method"));
    let back = Graph::from_json(&text).unwrap();
    assert_eq!(back, g);
}

#[test]
fn graph_files_cannot_ask_for_an_impossible_method() {
    let g = one_conv(2, 3, 5); // 72-byte columns
    let with = |method| {
        let mut h = g.clone();
        if let Op::Conv2d(a) = &mut h.nodes[0].op {
            a.method = method;
        }
        h.validate().map_err(|e| e.to_string())
    };
    assert_eq!(with(ConvMethod::Im2col { cap: Some(72) }), Ok(()));
    let e = with(ConvMethod::Im2col { cap: Some(71) }).unwrap_err();
    assert!(e.contains("node `y`") && e.contains("cap 71 bytes"), "{e}");
    let wide = one_conv(1, 65, 70);
    let mut h = wide.clone();
    if let Op::Conv2d(a) = &mut h.nodes[0].op {
        a.method = ConvMethod::Direct;
    }
    let e = h.validate().unwrap_err().to_string();
    assert!(e.contains("4225-element input window"), "{e}");
}
