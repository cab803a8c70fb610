//! Tensors larger than one storage binding, on a device created with the binding limit lowered
//! to 64 KiB (lavapipe in CI) so that small, odd shapes need several bindings: the GEMM in row,
//! column and depth blocks (and all three together, and per matrix of a batch; aligned blocks
//! on both GEMM kernels, the register family's vec4 entry included), the embedding
//! gather over blocks of the table and of the tokens, softmax and layernorm over blocks of
//! rows, elementwise ops over chunks (with broadcast operands), each against the CPU reference
//! with and without the in-place variant; a whole gpt2-small-shaped model planned, validated by
//! the clobber check and the guard bands; and the refusals (a row larger than a binding, an op
//! that cannot be split), before any buffer is created.

mod common;

use common::{check_gemm_on, check_on, in_place_at, naive};
use std::sync::OnceLock;
use tessera::analysis::AnalysisOptions;
use tessera::execute::{TOLERANCE, clobber_check, compare};
use tessera::graph::{BinaryOp, DType, Graph, GraphBuilder, Init, NodeId, Op, UnaryOp};
use tessera::models::{ModelOptions, build};
use tessera::pipeline::{PlanConfig, plan_graph};
use tessera::runtime::{GemmKernel, Gpu, RuntimeError, compile, compile_with_gemm};

/// The lowered storage binding limit.
const LIMIT: u64 = 64 << 10;

/// This binary's device, its binding limit lowered to [`LIMIT`].
fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let gpu = Gpu::with_max_binding(LIMIT)
            .unwrap_or_else(|e| panic!("GPU tests need a wgpu adapter (lavapipe): {e}"));
        assert_eq!(gpu.max_binding(), LIMIT, "the limit was lowered");
        gpu
    })
}

/// One node of `op` over fresh inputs of `dims`.
fn single(dims: &[&[usize]], op: Op) -> Graph {
    common::single_op(dims, op, 21)
}

/// Checks `g` against the CPU with the naive layout (and node 0 in place when asked), after
/// asserting that some tensor of it needs more than one binding.
fn check_split(g: &Graph, in_place: bool, what: &str) {
    let largest = g.tensors.iter().map(|t| t.size_bytes()).max().unwrap_or(0);
    assert!(
        largest > LIMIT,
        "{what}: nothing to split ({largest} bytes)"
    );
    let compiled = compile(gpu(), g, &naive(g)).expect("compile");
    assert!(
        compiled.dispatch_count() > g.nodes.len(),
        "{what}: {} dispatches for {} nodes, so nothing was split",
        compiled.dispatch_count(),
        g.nodes.len()
    );
    check_on(gpu(), g, &naive(g), &format!("{what} (naive)"));
    if in_place {
        let layout = in_place_at(g, naive(g), NodeId(0));
        check_on(gpu(), g, &layout, &format!("{what} (in place)"));
    }
}

fn mm(trans_a: bool, trans_b: bool) -> Op {
    Op::MatMul { trans_a, trans_b }
}

#[test]
fn gemm_in_row_blocks() {
    // A [301, 61] is 73,444 bytes: rows of A and C in blocks, bias on every block.
    check_split(
        &single(&[&[301, 61], &[61, 37], &[37]], Op::Linear),
        false,
        "A rows",
    );
    // C [300, 70] is 84,000 bytes.
    check_split(
        &single(&[&[300, 20], &[20, 70]], Op::Linear),
        false,
        "C rows",
    );
}

#[test]
fn gemm_in_column_blocks_of_a_transposed_b() {
    // The tied-head shape: B [400, 45] stored transposed is 72,000 bytes.
    check_split(
        &single(&[&[7, 45], &[400, 45]], mm(false, true)),
        false,
        "B^T columns",
    );
}

#[test]
fn gemm_in_depth_blocks_accumulating() {
    // B [300, 70] is 84,000 bytes: K in blocks, later blocks add to C, bias once.
    let g = single(&[&[9, 300], &[300, 70], &[70]], Op::Linear);
    check_split(&g, false, "B depth");
    // A stored transposed [300, 61] is 73,200 bytes.
    check_split(
        &single(&[&[300, 61], &[300, 13]], mm(true, false)),
        false,
        "A^T depth",
    );
}

#[test]
fn gemm_in_rows_columns_and_depth_together_and_per_batch() {
    // A [150, 130], B^T [170, 130] and C [150, 170]: rows and columns.
    let g = single(&[&[150, 130], &[170, 130]], mm(false, true));
    check_split(&g, false, "rows and columns");
    // A [300, 300], B [300, 71], C [300, 71]: rows and depth.
    check_split(
        &single(&[&[300, 300], &[300, 71]], Op::Linear),
        false,
        "rows and depth",
    );
    // Every transpose, batched: each matrix of the batch in its own blocks.
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let a = if ta { [2, 130, 150] } else { [2, 150, 130] };
        let b = if tb { [2, 77, 130] } else { [2, 130, 77] };
        check_split(
            &single(&[&a, &b], mm(ta, tb)),
            false,
            &format!("batched {ta} {tb}"),
        );
    }
}

#[test]
fn gemm_blocks_on_both_kernels_and_the_vec4_entry() {
    // Shapes whose blocks align to vec4s (K, N, lda, ldb and offsets multiples of 4), so the
    // register family runs every block through matmul_reg4 (the lowering unit test
    // `blocks_over_bindings_keep_the_vec4_entry_where_their_offsets_align` pins the entry);
    // the tiled kernel runs the same blocks, later depth blocks accumulating into C on both.
    let cases = [
        // B [300, 72] is 86,400 bytes: depth blocks, bias once.
        (
            single(&[&[9, 300], &[300, 72], &[72]], Op::Linear),
            "B depth",
        ),
        // A [301, 64] is 77,056 bytes: row blocks.
        (single(&[&[301, 64], &[64, 36]], Op::Linear), "A rows"),
        // A [150, 132], B [132, 136], C [150, 136]: rows and depth, batched.
        (
            single(&[&[2, 150, 132], &[2, 132, 136]], mm(false, false)),
            "batched rows and depth",
        ),
    ];
    for (g, what) in &cases {
        for gemm in GemmKernel::ALL {
            let what = format!("{what} ({})", gemm.name());
            let compiled = compile_with_gemm(gpu(), g, &naive(g), gemm).expect("compile");
            assert!(
                compiled.dispatch_count() > g.nodes.len(),
                "{what}: nothing was split"
            );
            check_gemm_on(gpu(), g, &naive(g), gemm, &what);
        }
    }
}

#[test]
fn embedding_over_blocks_of_the_table_and_of_the_tokens() {
    for (vocab, width, tokens) in [(1000, 24, 123), (50, 7, 2900), (1000, 24, 801)] {
        let mut b = GraphBuilder::new();
        let table = b.weight("table", &[vocab, width], 4, 1.0);
        let max = vocab as u32;
        let ids = b.input("ids", &[tokens], DType::U32, Init::Ids { seed: 9, max });
        let y = b.op("y", Op::Embedding, &[table, ids]).expect("embedding");
        b.output(y);
        let g = b.build().expect("graph");
        check_split(
            &g,
            false,
            &format!("embedding {vocab}x{width}, {tokens} ids"),
        );
    }
}

#[test]
fn softmax_and_layernorm_over_row_blocks() {
    // Rows of 244 bytes: blocks of a multiple of 8 rows keep every start aligned.
    check_split(&single(&[&[301, 61]], Op::Softmax), true, "softmax");
    let ln = Op::LayerNorm { eps: 1e-5 };
    check_split(&single(&[&[301, 61], &[61], &[61]], ln), true, "layernorm");
}

#[test]
fn elementwise_over_chunks_with_broadcast_operands() {
    let add = Op::Binary(BinaryOp::Add);
    check_split(
        &single(&[&[301, 61], &[301, 61]], add.clone()),
        true,
        "a + b",
    );
    check_split(&single(&[&[301, 61], &[61]], add.clone()), true, "a + row");
    check_split(
        &single(&[&[301, 61], &[1]], add.clone()),
        true,
        "a + scalar",
    );
    let mul = Op::Binary(BinaryOp::Mul);
    check_split(&single(&[&[9, 40, 61], &[40, 61]], mul), true, "a * plane");
    check_split(&single(&[&[40, 61], &[9, 40, 61]], add), false, "plane + a");
    check_split(
        &single(&[&[301, 61]], Op::Unary(UnaryOp::Gelu)),
        true,
        "gelu",
    );
}

#[test]
fn a_gpt_whose_embedding_and_logits_exceed_a_binding_matches_and_stays_in_plan() {
    // gpt2-small's structure (tied head) and an untied gpt, at a vocabulary whose table
    // [3001, 32] and logits [8, 3001] exceed 64 KiB.
    let opts = ModelOptions {
        batch: Some(1),
        seq: Some(8),
        width: Some(32),
        layers: Some(1),
        heads: Some(2),
        vocab: Some(3001),
        ..ModelOptions::default()
    };
    for model in ["gpt2-small", "gpt"] {
        let g = build(model, &opts).expect("model");
        let config = PlanConfig {
            analysis: AnalysisOptions {
                alignment: gpu().min_storage_buffer_offset_alignment(),
                ..AnalysisOptions::default()
            },
            ..PlanConfig::default()
        };
        let planned = plan_graph(&g, &config).expect("plan");
        let compiled = compile(gpu(), &g, &planned.layout).expect("compile");
        let reference = tessera::cpu::run_outputs(&g).expect("cpu reference");
        let out = compiled.run(gpu()).expect("run");
        let c = compare(&out.outputs, &reference);
        assert!(c.scaled() <= TOLERANCE, "{model} vs cpu: {c:?}");
        let report = clobber_check(gpu(), &compiled, &g, &planned.layout).expect("clobber");
        assert_eq!(report.failure, None, "{model}");
        let violations = compiled.check_guards(gpu()).expect("guard check");
        assert!(
            violations.is_empty(),
            "{model}: out-of-plan writes: {violations:?}"
        );
    }
}

#[test]
fn a_row_larger_than_a_binding_is_refused_naming_the_tensor() {
    // One softmax row of 16,385 floats is 65,540 bytes.
    let g = single(&[&[2, 16_385]], Op::Softmax);
    match compile(gpu(), &g, &naive(&g)) {
        Err(e @ RuntimeError::RowTooLarge { .. }) => {
            let text = e.to_string();
            let needles = [
                "tensor x0",
                "rows are 65540 bytes",
                "1 row(s)",
                "65536 bytes",
            ];
            for needle in needles {
                assert!(text.contains(needle), "{text} lacks {needle}");
            }
        }
        other => panic!("expected RowTooLarge, got {other:?}"),
    }
    // A GEMM whose A row (16,380 floats) and the aligned-down slack pass the limit.
    let g = single(&[&[2, 16_380], &[3, 16_380]], mm(false, true));
    assert!(matches!(
        compile(gpu(), &g, &naive(&g)),
        Err(RuntimeError::RowTooLarge { tensor, row_bytes: 65_520, .. }) if tensor == "x0"
    ));
}

#[test]
fn an_op_without_a_split_lowering_is_refused_naming_the_tensor() {
    let g = single(&[&[300, 61]], Op::Permute { perm: vec![1, 0] });
    match compile(gpu(), &g, &naive(&g)) {
        Err(RuntimeError::BindingTooLarge {
            tensor,
            bytes,
            limit,
        }) => {
            assert!(tensor.contains("tensor x0 of node y"), "{tensor}");
            assert!(tensor.contains("cannot be split"), "{tensor}");
            assert_eq!((bytes, limit), (73_200, LIMIT));
        }
        other => panic!("expected BindingTooLarge, got {other:?}"),
    }
}
