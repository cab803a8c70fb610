//! Checkpointing on synthetic training graphs (a forward chain and backward nodes reading its
//! activations in reverse): outputs bit-identical to the unchanged graph on the CPU reference,
//! shorter lifetimes show up as smaller planned arenas, revolve recomputes `P(n, C + 1)`
//! segments, budgets are met or refused with the smallest arena.

use super::segments::Forward;
use super::*;
use crate::graph::{DType, GraphBuilder, Init, Op, UnaryOp};
use crate::pipeline::{PlanConfig, plan_graph};

/// A residual MLP: `h' = h + gelu(ln(h) W + b)` per layer, `out = relu(h_L)` ends the forward;
/// the backward multiplies a running gradient by each layer's activations in reverse and
/// produces `dW_i = h_i^T d` for every layer. Returns the graph and its forward length.
pub(super) fn residual_mlp(layers: usize, rows: usize, width: usize) -> (Graph, usize) {
    let mut b = GraphBuilder::new();
    let x = b.input(
        "x",
        &[rows, width],
        DType::F32,
        Init::Uniform {
            seed: 1,
            scale: 1.0,
        },
    );
    let mut h = x;
    let mut saved = Vec::new();
    for i in 0..layers {
        let w = b.weight(&format!("w{i}"), &[width, width], 10 + i as u64, 0.3);
        let bias = b.weight(&format!("b{i}"), &[width], 50 + i as u64, 0.1);
        let gamma = b.constant(&format!("g{i}"), &[width], 1.0);
        let beta = b.constant(&format!("be{i}"), &[width], 0.0);
        let n = b
            .op(
                &format!("ln{i}"),
                Op::LayerNorm { eps: 1e-5 },
                &[h, gamma, beta],
            )
            .unwrap();
        let a = b.linear(&format!("lin{i}"), n, w, Some(bias)).unwrap();
        let g = b.gelu(&format!("gelu{i}"), a).unwrap();
        let next = b.add(&format!("res{i}"), h, g).unwrap();
        saved.push((h, n, a, g, w));
        h = next;
    }
    let out = b.relu("out", h).unwrap();
    let fwd = layers * 4 + 1;
    let mut d = b
        .op("d_out", Op::Binary(crate::graph::BinaryOp::Mul), &[out, h])
        .unwrap();
    for (i, &(h_in, n, a, g, w)) in saved.iter().enumerate().rev() {
        let mul = |b: &mut GraphBuilder, name: &str, x, y| {
            b.op(name, Op::Binary(crate::graph::BinaryOp::Mul), &[x, y])
                .unwrap()
        };
        let dg = mul(&mut b, &format!("d_gelu{i}"), d, g);
        let da = mul(&mut b, &format!("d_lin{i}"), dg, a);
        let dw = b.matmul(&format!("dw{i}"), n, da, true, false).unwrap();
        b.output(dw);
        let dn = b.matmul(&format!("dn{i}"), da, w, false, true).unwrap();
        let dh = mul(&mut b, &format!("d_ln{i}"), dn, h_in);
        let dh = b
            .op(
                &format!("d_scale{i}"),
                Op::Unary(UnaryOp::Scale(0.5)),
                &[dh],
            )
            .unwrap();
        d = b.add(&format!("d_res{i}"), d, dh).unwrap();
    }
    b.output(d);
    (b.build().unwrap(), fwd)
}

/// A chain: a stem `h_0 = 2 x`, then layers `a_i = h_i W_i`, `h_{i+1} = a_i + h_i` (one segment
/// each, so `layers + 1` segments; values stay O(1)); the backward of layer `i` reads `a_i` and
/// `h_i`.
pub(super) fn chain(layers: usize, rows: usize, width: usize) -> (Graph, usize) {
    let mut b = GraphBuilder::new();
    let x = b.input(
        "x",
        &[rows, width],
        DType::F32,
        Init::Uniform {
            seed: 2,
            scale: 1.0,
        },
    );
    // A stem so that layer 0 reads an activation (one segment) like the others.
    let mut h = b.op("stem", Op::Unary(UnaryOp::Scale(2.0)), &[x]).unwrap();
    let mut saved = Vec::new();
    let mul = |b: &mut GraphBuilder, name: &str, x, y| {
        b.op(name, Op::Binary(crate::graph::BinaryOp::Mul), &[x, y])
            .unwrap()
    };
    for i in 0..layers {
        let w = b.weight(&format!("w{i}"), &[width, width], 70 + i as u64, 0.5);
        let a = b.linear(&format!("lin{i}"), h, w, None).unwrap();
        let next = b.add(&format!("add{i}"), a, h).unwrap();
        saved.push((h, a, w));
        h = next;
    }
    let mut d = b
        .op("d_out", Op::Unary(UnaryOp::Scale(0.25)), &[h])
        .unwrap();
    for (i, &(h_in, a, w)) in saved.iter().enumerate().rev() {
        let da = mul(&mut b, &format!("d_a{i}"), d, a);
        let dw = b.matmul(&format!("dw{i}"), h_in, da, true, false).unwrap();
        b.output(dw);
        d = b.matmul(&format!("dh{i}"), da, w, false, true).unwrap();
    }
    b.output(d);
    (b.build().unwrap(), layers * 2 + 1)
}

fn strategies() -> Vec<Strategy> {
    vec![
        Strategy::None,
        Strategy::Sqrt,
        Strategy::Every(1),
        Strategy::Every(3),
        Strategy::Selective,
        Strategy::Revolve(1),
        Strategy::Revolve(2),
        Strategy::Revolve(5),
    ]
}

fn bits(g: &Graph) -> Vec<Vec<u32>> {
    crate::cpu::run_outputs(g)
        .unwrap()
        .iter()
        .map(|d| d.to_words())
        .collect()
}

fn arena(g: &Graph) -> u64 {
    let cfg = PlanConfig {
        planner: "best-fit".into(),
        ..PlanConfig::default()
    };
    plan_graph(g, &cfg).unwrap().outcome.plan.arena_bytes
}

#[test]
fn segments_cut_at_the_residual_stream() {
    let (g, fwd) = residual_mlp(5, 3, 7);
    let fw = Forward::new(&g, fwd).unwrap();
    // The first layer reads the graph input, which is always available, so each of its nodes
    // is a segment; every later layer is one segment (ln..res: the stream h is read twice
    // inside), then `out`.
    assert_eq!(fw.len(), 4 + 4 + 1);
    assert!(fw.segments[4..8].iter().all(|r| r.len() == 4));
    let (g, fwd) = chain(6, 3, 5);
    assert_eq!(Forward::new(&g, fwd).unwrap().len(), 7);
}

#[test]
fn every_strategy_gives_bit_identical_outputs() {
    for (g, fwd) in [residual_mlp(6, 5, 9), chain(7, 3, 5)] {
        let want = bits(&g);
        for s in strategies() {
            let ck = apply(&g, fwd, &s).unwrap();
            assert_eq!(ck.forward_len, fwd);
            assert_eq!(ck.graph.nodes[..fwd], g.nodes[..fwd], "{}", s.name());
            assert!(bits(&ck.graph) == want, "outputs differ under {}", s.name());
            assert_eq!(ck.cost().recompute_flops, ck.recompute_flops);
            if s == Strategy::None {
                assert_eq!(ck.recompute_flops, 0);
                assert_eq!(ck.graph, g);
            } else {
                assert!(ck.recompute_flops > 0, "{}", s.name());
            }
        }
    }
}

#[test]
fn sqrt_cuts_the_arena_with_at_most_one_forward_of_recompute() {
    let (g, fwd) = residual_mlp(16, 64, 48);
    let none = arena(&g);
    let ck = apply(&g, fwd, &Strategy::Sqrt).unwrap();
    let sqrt = arena(&ck.graph);
    let cost = ck.cost();
    assert!(sqrt * 10 <= none * 6, "sqrt {sqrt} vs none {none}");
    assert!(cost.recompute_flops <= cost.forward_flops);
    let sel = apply(&g, fwd, &Strategy::Selective).unwrap();
    assert!(arena(&sel.graph) < none);
    // Selective keeps the GEMM outputs, so it recomputes far less than sqrt.
    assert!(sel.recompute_flops * 4 < ck.recompute_flops);
}

#[test]
fn revolve_recomputes_the_optimal_number_of_segments() {
    let n = 9;
    let (g, fwd) = chain(n - 1, 3, 4);
    for c in 1..=n {
        let ck = apply(&g, fwd, &Strategy::Revolve(c)).unwrap();
        // Every recomputed segment clones its `lin` node (or the stem) once; advances also
        // clone `add`.
        let lin = ck
            .recompute_nodes
            .iter()
            .filter(|&&i| {
                ["lin", "stem"]
                    .iter()
                    .any(|p| ck.graph.nodes[i].name.starts_with(p))
            })
            .count() as u64;
        // The stem has no activation besides its output: reversing it is free when the
        // forward pass stored that output (x_1).
        let r = Revolve::new(n, c + 1);
        let sched = r.schedule(n, c + 1);
        let first = sched
            .iter()
            .position(|a| matches!(a, Action::Reverse(_)))
            .unwrap();
        let free = u64::from(sched[..first].contains(&Action::Store(1)));
        assert_eq!(lin + free, r.cost(n, c + 1), "C = {c}");
    }
    // More slots never cost more recompute, and fewer slots cost strictly more here.
    let flops = |c| {
        apply(&g, fwd, &Strategy::Revolve(c))
            .unwrap()
            .recompute_flops
    };
    assert!(flops(1) > flops(2) && flops(2) >= flops(3));
}

#[test]
fn budget_between_sqrt_and_none_is_met_with_less_recompute_than_sqrt() {
    let (g, fwd) = residual_mlp(9, 48, 40);
    let none = arena(&g);
    let sqrt = apply(&g, fwd, &Strategy::Sqrt).unwrap();
    let sqrt_arena = arena(&sqrt.graph);
    assert!(sqrt_arena < none);
    let budget = (none + sqrt_arena) / 2;
    let mut oracle = |x: &Graph| -> Result<u64, String> { Ok(arena(x)) };
    let (ck, got) = apply_budget(&g, fwd, budget, &mut oracle).unwrap();
    assert!(got <= budget && arena(&ck.graph) == got);
    assert!(ck.recompute_flops < sqrt.recompute_flops);
    assert!(bits(&ck.graph) == bits(&g), "budget outputs differ");
    // A budget none meets returns none.
    let (ck, _) = apply_budget(&g, fwd, none, &mut oracle).unwrap();
    assert_eq!(ck.recompute_flops, 0);
    // An impossible budget names the smallest arena reached.
    let err = apply_budget(&g, fwd, 1024, &mut oracle).unwrap_err();
    match &err {
        CheckpointError::BudgetUnmet { smallest, .. } => assert!(*smallest <= sqrt_arena * 11 / 10),
        e => panic!("{e}"),
    }
    assert!(!err.to_string().contains('\n'));
    assert!(matches!(
        apply(&g, fwd, &Strategy::Budget(1)),
        Err(CheckpointError::NeedsPlanner(1))
    ));
}

#[test]
fn bad_input_is_an_error() {
    let (g, _) = chain(3, 2, 3);
    for fwd in [0, g.nodes.len() + 1] {
        let e = apply(&g, fwd, &Strategy::Sqrt).unwrap_err();
        assert!(matches!(e, CheckpointError::ForwardLen { .. }), "{e}");
    }
    // forward_len = everything: an inference graph, nothing to recompute.
    let ck = apply(&g, g.nodes.len(), &Strategy::Sqrt).unwrap();
    assert_eq!(ck.recompute_flops, 0);
    for bad in [
        "",
        "every:0",
        "every:x",
        "revolve:",
        "budget:lots",
        "sqrtt",
        "none:1",
    ] {
        let e = Strategy::parse(bad).unwrap_err();
        assert!(e.to_string().starts_with("--checkpoint"), "{e}");
    }
    for good in [
        "none",
        "sqrt",
        "every:3",
        "selective",
        "revolve:4",
        "budget:2MiB",
    ] {
        let s = Strategy::parse(good).unwrap();
        if !good.starts_with("budget") {
            assert_eq!(s.name(), good);
        }
    }
    assert_eq!(
        Strategy::parse("budget:2KiB").unwrap(),
        Strategy::Budget(2048)
    );
    // Revolve's programme is refused, in one line, where it would run too long.
    assert!(revolve_fits(100, 99) && !revolve_fits(20_000, 4));
    let (g, fwd) = chain(3, 2, 3);
    assert!(apply(&g, fwd, &Strategy::Revolve(usize::MAX)).is_ok());
}

#[test]
fn recompute_names_are_recognised() {
    use super::{is_recompute_name, recompute_name};
    assert_eq!(recompute_name("h1", 2), "h1.recompute2");
    assert!(is_recompute_name(&recompute_name("block0.attn.out", 12)));
    for name in [
        "h1",
        "h1.recompute",
        ".recompute1",
        "h1.recompute2x",
        "recompute3",
    ] {
        assert!(!is_recompute_name(name), "{name}");
    }
}
