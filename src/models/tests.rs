//! Model tests: defaults and odd sizes build and validate, the CPU reference gives finite
//! outputs of the right shape, defaults stay cheap, and impossible sizes are typed errors.

use super::*;
use crate::cpu;
use crate::graph::{Init, Op, Shape, TensorKind};

fn opts(
    batch: Option<usize>,
    seq: Option<usize>,
    image: Option<usize>,
    width: Option<usize>,
    layers: Option<usize>,
) -> ModelOptions {
    ModelOptions {
        batch,
        seq,
        image,
        width,
        layers,
        ..Default::default()
    }
}

/// Multiply-adds times two of the compute ops (the cost that matters on lavapipe).
fn flops(g: &Graph) -> u64 {
    let numel = |t: crate::graph::TensorId| g.tensors[t.index()].shape.numel();
    let dims = |t: crate::graph::TensorId| g.tensors[t.index()].shape.dims().to_vec();
    g.nodes
        .iter()
        .map(|n| match &n.op {
            Op::Linear => 2 * numel(n.outputs[0]) * dims(n.inputs[1])[0] as u64,
            Op::MatMul { .. } => {
                2 * numel(n.outputs[0]) * *dims(n.inputs[0]).last().unwrap() as u64
            }
            Op::Conv2d(_) => {
                let w = dims(n.inputs[1]);
                2 * numel(n.outputs[0]) * (w[1] * w[2] * w[3]) as u64
            }
            Op::Attention { .. } => {
                let (q, k) = (dims(n.inputs[0]), dims(n.inputs[1]));
                4 * (q[0] * q[1] * q[2] * k[2] * q[3]) as u64
            }
            _ => numel(n.outputs[0]),
        })
        .sum()
}

#[test]
fn catalog_lists_the_models_with_options() {
    let c = catalog();
    let names: Vec<_> = c.iter().map(|m| m.name).collect();
    assert_eq!(
        names,
        [
            "mlp",
            "resnet",
            "gpt",
            "resnet50",
            "gpt2-small",
            "unet",
            "randwire"
        ]
    );
    for m in c
        .iter()
        .filter(|m| m.name != "randwire" && m.name != "resnet50")
    {
        assert!(!m.description.is_empty());
        assert!(
            m.options.iter().any(|(o, d, _)| *o == "batch" && *d > 0),
            "{}",
            m.name
        );
        assert!(
            m.options.iter().any(|(o, _, _)| *o == "layers"),
            "{}",
            m.name
        );
    }
    assert!(c[1].options.iter().any(|(o, _, _)| *o == "image"));
    assert!(c[2].options.iter().any(|(o, _, _)| *o == "seq"));
}

#[test]
fn defaults_build_validate_and_stay_cheap() {
    for m in catalog().into_iter().filter(|m| !m.full_size) {
        let g = build(m.name, &ModelOptions::default()).unwrap();
        assert_eq!(g.validate(), Ok(()));
        let f = flops(&g);
        assert!(f > 1_000_000 && f < 100_000_000, "{}: {f} flops", m.name);
        assert_eq!(g.outputs.len(), 1);
    }
}

#[test]
fn odd_sizes_build() {
    let g = build("mlp", &opts(Some(3), None, None, Some(37), Some(1))).unwrap();
    assert_eq!(g.tensors[g.outputs[0].index()].shape, Shape::new([3, 10]));
    for image in [4, 17, 31] {
        let g = build(
            "resnet",
            &opts(Some(3), None, Some(image), Some(5), Some(1)),
        )
        .unwrap();
        assert_eq!(
            g.tensors[g.outputs[0].index()].shape,
            Shape::new([3, 10]),
            "image {image}"
        );
    }
    let g = build("gpt", &opts(Some(3), Some(7), None, Some(36), Some(1))).unwrap();
    assert_eq!(
        g.tensors[g.outputs[0].index()].shape,
        Shape::new([3, 7, gpt::VOCAB])
    );
    // Zero residual blocks is not allowed (0 is rejected), but one layer everywhere works.
    build("gpt", &opts(Some(1), Some(1), None, Some(4), Some(1))).unwrap();
}

#[test]
fn building_is_deterministic_and_seeds_are_distinct() {
    for m in catalog() {
        let a = build(m.name, &ModelOptions::default()).unwrap();
        let b = build(m.name, &ModelOptions::default()).unwrap();
        assert_eq!(a, b);
        let mut seeds: Vec<u64> = a
            .tensors
            .iter()
            .filter_map(|t| match t.init {
                Init::Uniform { seed, .. } | Init::Ids { seed, .. } => Some(seed),
                _ => None,
            })
            .collect();
        let n = seeds.len();
        seeds.sort_unstable();
        seeds.dedup();
        assert_eq!(seeds.len(), n, "{}: repeated seeds", m.name);
        assert!(a.tensors.iter().any(|t| t.kind == TensorKind::Input));
    }
}

fn run_default(name: &str) -> (Graph, Vec<f32>) {
    let g = build(name, &ModelOptions::default()).unwrap();
    let outs = cpu::run_outputs(&g).unwrap();
    let v = outs[0].as_f32().unwrap().to_vec();
    assert_eq!(
        v.len() as u64,
        g.tensors[g.outputs[0].index()].shape.numel()
    );
    assert!(v.iter().all(|x| x.is_finite()), "{name}: non-finite output");
    // Not degenerate, and O(1).
    let (lo, hi) = v
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(hi - lo > 1e-3, "{name}: constant output");
    assert!(lo > -100.0 && hi < 100.0, "{name}: output range {lo}..{hi}");
    (g, v)
}

#[test]
fn mlp_default_runs_and_rows_sum_to_one() {
    let (_, v) = run_default("mlp");
    assert_eq!(v.len(), 8 * 10);
    for row in v.chunks(10) {
        let s: f32 = row.iter().sum();
        assert!((s - 1.0).abs() < 1e-5, "row sums to {s}");
    }
}

#[test]
fn resnet_default_runs() {
    let (_, v) = run_default("resnet");
    assert_eq!(v.len(), 2 * 10);
}

#[test]
fn gpt_default_runs() {
    let (_, v) = run_default("gpt");
    assert_eq!(v.len(), 32 * 256);
}

#[test]
fn gpt_is_causal() {
    // With batch 1, a longer sequence draws the same first tokens and the same first positional
    // rows (one generator stream each), so the first 5 positions' logits must not change when
    // 6 more tokens follow them.
    let short = build("gpt", &opts(Some(1), Some(5), None, Some(16), Some(2))).unwrap();
    let long = build("gpt", &opts(Some(1), Some(11), None, Some(16), Some(2))).unwrap();
    let a = cpu::run_outputs(&short).unwrap()[0]
        .as_f32()
        .unwrap()
        .to_vec();
    let b = cpu::run_outputs(&long).unwrap()[0]
        .as_f32()
        .unwrap()
        .to_vec();
    assert_eq!(a.len(), 5 * gpt::VOCAB);
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-5, "{x} vs {y}");
    }
    // ...while the later positions do differ from the earlier ones.
    assert_ne!(&b[..gpt::VOCAB], &b[5 * gpt::VOCAB..6 * gpt::VOCAB]);
}

fn bad_option(r: Result<Graph, ModelError>) -> (&'static str, usize, String) {
    match r {
        Err(ModelError::BadOption {
            option,
            value,
            reason,
            ..
        }) => (option, value, reason),
        other => panic!("expected BadOption, got {other:?}"),
    }
}

#[test]
fn unknown_model_lists_the_known_ones() {
    let err = build("foo", &ModelOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown model `foo` (known: mlp, resnet, gpt, resnet50, gpt2-small, unet, randwire)"
    );
}

#[test]
fn options_a_model_does_not_take_are_errors() {
    assert_eq!(
        bad_option(build("resnet", &opts(None, Some(8), None, None, None))).0,
        "seq"
    );
    assert_eq!(
        bad_option(build("mlp", &opts(None, None, Some(8), None, None))).0,
        "image"
    );
    let (option, _, reason) = bad_option(build("gpt", &opts(None, None, Some(8), None, None)));
    assert_eq!(option, "image");
    assert!(reason.contains("--seq"), "{reason}");
}

#[test]
fn impossible_sizes_are_errors() {
    for name in ["mlp", "resnet", "gpt"] {
        assert_eq!(
            bad_option(build(name, &opts(Some(0), None, None, None, None))).0,
            "batch"
        );
        assert_eq!(
            bad_option(build(name, &opts(None, None, None, Some(0), None))).0,
            "width"
        );
        assert_eq!(
            bad_option(build(name, &opts(None, None, None, None, Some(0)))).0,
            "layers"
        );
        assert_eq!(
            bad_option(build(
                name,
                &opts(None, None, None, None, Some(MAX_LAYERS + 1))
            ))
            .0,
            "layers"
        );
        assert_eq!(
            bad_option(build(
                name,
                &opts(Some(MAX_OPTION + 1), None, None, None, None)
            ))
            .0,
            "batch"
        );
    }
    assert_eq!(
        bad_option(build("gpt", &opts(None, Some(0), None, None, None))).0,
        "seq"
    );
    assert_eq!(
        bad_option(build("resnet", &opts(None, None, Some(0), None, None))).0,
        "image"
    );
    let (option, value, reason) =
        bad_option(build("resnet", &opts(None, None, Some(3), None, None)));
    assert_eq!((option, value), ("image", 3));
    assert!(reason.contains("too small"), "{reason}");
    let (option, value, reason) = bad_option(build("gpt", &opts(None, None, None, Some(30), None)));
    assert_eq!((option, value), ("width", 30));
    assert!(reason.contains("divisible"), "{reason}");
}

#[test]
fn sizes_over_a_terabyte_are_refused() {
    // gpt: batch 2^24 x seq 32 x 256 logits x 4 bytes = 2^39 for the logits alone, plus the rest.
    let (option, _, reason) =
        bad_option(build("gpt", &opts(Some(1 << 26), None, None, None, None)));
    assert_eq!(option, "batch");
    assert!(reason.contains("2^40"), "{reason}");
    // mlp: width 2^20 -> [2^20, 2^20] hidden weights alone are 4 TiB.
    assert_eq!(
        bad_option(build("mlp", &opts(None, None, None, Some(1 << 20), None))).0,
        "width"
    );
    // resnet: a 2^20 image side.
    assert_eq!(
        bad_option(build(
            "resnet",
            &opts(None, None, Some(1 << 20), None, None)
        ))
        .0,
        "image"
    );
    // gpt: a long sequence makes the attention workspace (and everything else) huge.
    assert_eq!(
        bad_option(build(
            "gpt",
            &opts(None, Some(1 << 32), None, Some(4), Some(1))
        ))
        .0,
        "seq"
    );
    // Just under the limit still builds (no allocation happens).
    build(
        "mlp",
        &opts(Some(1 << 16), None, None, Some(1 << 12), Some(2)),
    )
    .unwrap();
}

/// Weight scales keep every activation of the default models finite and O(1) (run with
/// `--nocapture` to see the statistics).
#[test]
fn default_activations_stay_bounded() {
    for m in catalog().into_iter().filter(|m| !m.full_size) {
        let g = build(m.name, &ModelOptions::default()).unwrap();
        let values = cpu::run(&g).unwrap();
        let mut worst = 0.0f32;
        for (t, v) in g.tensors.iter().zip(&values) {
            if let (TensorKind::Activation, Some(v)) = (t.kind, v.as_ref().and_then(|v| v.as_f32()))
            {
                let max = v.iter().fold(0.0f32, |a, x| a.max(x.abs()));
                let rms = (v.iter().map(|x| x * x).sum::<f32>() / v.len().max(1) as f32).sqrt();
                println!(
                    "{:8} {:24} {:>16} rms {rms:8.3} max {max:8.3}",
                    m.name,
                    t.name,
                    t.shape.to_string()
                );
                worst = worst.max(max);
            }
        }
        println!(
            "{}: {} flops, {} bytes, worst |x| {worst}",
            m.name,
            flops(&g),
            g.total_tensor_bytes()
        );
        assert!(
            worst.is_finite() && worst < 100.0,
            "{}: activations reach {worst}",
            m.name
        );
    }
}

mod sizes {
    //! Tests of the full-size and graph-shape models (`gpt2-small`, `resnet50`, `unet`,
    //! `randwire`) and of the `--heads`, `--vocab`, `--nodes` and `--seed` options: output shapes,
    //! parameter counts checked against the published ones, random wiring that is deterministic per
    //! seed and different across seeds, typed errors for impossible options, and every new model
    //! running on the CPU reference at a tiny size.

    use super::super::*;
    use super::bad_option;
    use crate::cpu;
    use crate::graph::{Op, Shape, TensorKind};
    use crate::pipeline::{PlanConfig, plan_graph};

    fn out_shape(g: &Graph) -> Shape {
        g.tensors[g.outputs[0].index()].shape.clone()
    }

    /// Elements of every stored parameter (weights and constants such as layernorm gains).
    fn parameters(g: &Graph) -> u64 {
        g.tensors
            .iter()
            .filter(|t| t.kind == TensorKind::Weight)
            .map(|t| t.shape.numel())
            .sum()
    }

    /// Runs the CPU reference and checks the output is finite, of the right size and not constant.
    fn runs_finite(name: &str, opts: &ModelOptions) -> Graph {
        let g = build(name, opts).unwrap();
        let out = cpu::run_outputs(&g).unwrap();
        let v = out[0].as_f32().unwrap();
        assert_eq!(v.len() as u64, out_shape(&g).numel(), "{name}");
        assert!(v.iter().all(|x| x.is_finite()), "{name}: non-finite output");
        let (lo, hi) = v
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        assert!(hi - lo > 1e-6, "{name}: constant output {lo}");
        g
    }

    #[test]
    fn gpt2_small_has_gpt2_shapes_and_124m_tied_parameters() {
        let g = build("gpt2-small", &ModelOptions::default()).unwrap();
        assert_eq!(out_shape(&g), Shape::new([1, 1024, 50257]));
        // GPT-2 small: 124,439,808 parameters with the LM head tied to the token embedding.
        assert_eq!(parameters(&g), 124_439_808);
        let table = g.tensors.iter().position(|t| t.name == "tok_embed.table");
        let head = g.nodes.iter().find(|n| n.name == "lm_head").unwrap();
        assert_eq!(
            head.op,
            Op::MatMul {
                trans_a: false,
                trans_b: true
            }
        );
        assert_eq!(Some(head.inputs[1].index()), table, "head reads the table");
        // 12 heads of 64 in every attention.
        for n in g
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Attention { .. }))
        {
            let q = &g.tensors[n.inputs[0].index()].shape;
            assert_eq!(q, &Shape::new([1, 12, 1024, 64]), "{}", n.name);
        }
        // The 147 MiB table is one tensor (the binding-limit case the runtime refuses clearly).
        let t = &g.tensors[table.unwrap()];
        assert_eq!(t.size_bytes(), 50257 * 768 * 4);
    }

    #[test]
    fn gpt_heads_and_vocab_options() {
        let opts = ModelOptions {
            heads: Some(8),
            vocab: Some(100),
            width: Some(64),
            seq: Some(9),
            ..Default::default()
        };
        let g = build("gpt", &opts).unwrap();
        assert_eq!(out_shape(&g), Shape::new([1, 9, 100]));
        let attn = g
            .nodes
            .iter()
            .find(|n| matches!(n.op, Op::Attention { .. }))
            .unwrap();
        assert_eq!(
            g.tensors[attn.inputs[0].index()].shape,
            Shape::new([1, 8, 9, 8])
        );
        // Every gpt2-small option is overridable, on the same builder.
        let small = ModelOptions {
            width: Some(24),
            heads: Some(3),
            layers: Some(1),
            seq: Some(5),
            vocab: Some(37),
            batch: Some(2),
            ..Default::default()
        };
        let g = runs_finite("gpt2-small", &small);
        assert_eq!(out_shape(&g), Shape::new([2, 5, 37]));
    }

    #[test]
    fn heads_must_divide_width_and_other_models_refuse_them() {
        let opts = ModelOptions {
            heads: Some(5),
            ..Default::default()
        };
        let (option, value, reason) = bad_option(build("gpt", &opts));
        assert_eq!((option, value), ("width", 64));
        assert!(reason.contains("5 attention heads"), "{reason}");
        let (option, value, _) = bad_option(build("gpt2-small", &opts));
        assert_eq!((option, value), ("width", 768));
        let zero = ModelOptions {
            heads: Some(0),
            ..Default::default()
        };
        assert_eq!(bad_option(build("gpt", &zero)).0, "heads");
        for name in ["mlp", "resnet", "resnet50", "unet", "randwire"] {
            assert_eq!(bad_option(build(name, &opts)).0, "heads", "{name}");
        }
        let vocab = ModelOptions {
            vocab: Some(1 << 32),
            ..Default::default()
        };
        let (option, _, reason) = bad_option(build("gpt", &vocab));
        assert_eq!(option, "vocab");
        assert!(reason.contains("u32"), "{reason}");
    }

    /// Batch-norm channels of torchvision's ResNet-50, from its definition: the stem's, then per
    /// bottleneck `planes + planes + 4 planes`, plus `4 planes` for each stage's downsample.
    fn torchvision_bn_channels() -> u64 {
        let mut n = 64;
        for (stage, &blocks) in resnet50::STAGES.iter().enumerate() {
            let planes = 64u64 << stage;
            n += blocks as u64 * 6 * planes + 4 * planes;
        }
        n
    }

    #[test]
    fn resnet50_matches_torchvision_with_batch_norm_folded() {
        let g = build("resnet50", &ModelOptions::default()).unwrap();
        assert_eq!(out_shape(&g), Shape::new([1, 1000]));
        let convs: Vec<_> = g
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Conv2d(_)))
            .collect();
        // Stem + 16 bottlenecks x 3 + 4 projections.
        assert_eq!(convs.len(), 53);
        assert!(
            convs.iter().all(|n| n.inputs.len() == 3),
            "every conv has a bias"
        );
        // torchvision: 25,557,032 (BN gamma and beta per channel); folded: one bias per channel.
        assert_eq!(torchvision_bn_channels(), 26_560);
        assert_eq!(parameters(&g), 25_557_032 - torchvision_bn_channels());
        assert_eq!(parameters(&g), 25_530_472);
        // v1.5: the stride sits on the 3x3 of the first block of stages 2-4 (7x7 at the end).
        let last = g.nodes.iter().find(|n| n.name == "layer4.2.conv3").unwrap();
        assert_eq!(
            g.tensors[last.outputs[0].index()].shape,
            Shape::new([1, 2048, 7, 7])
        );
        let down = g.nodes.iter().find(|n| n.name == "layer2.0.conv2").unwrap();
        assert!(matches!(&down.op, Op::Conv2d(a) if a.stride == [2, 2]));
        let first = g.nodes.iter().find(|n| n.name == "layer2.0.conv1").unwrap();
        assert!(matches!(&first.op, Op::Conv2d(a) if a.stride == [1, 1]));
    }

    #[test]
    fn resnet50_odd_sizes_build_and_run() {
        for image in [1, 17, 33] {
            let opts = ModelOptions {
                batch: Some(2),
                image: Some(image),
                width: Some(3),
                ..Default::default()
            };
            let g = build("resnet50", &opts).unwrap();
            assert_eq!(out_shape(&g), Shape::new([2, 1000]), "image {image}");
        }
        let tiny = ModelOptions {
            image: Some(19),
            width: Some(2),
            ..Default::default()
        };
        runs_finite("resnet50", &tiny);
        let layers = ModelOptions {
            layers: Some(3),
            ..Default::default()
        };
        assert_eq!(bad_option(build("resnet50", &layers)).0, "layers");
    }

    #[test]
    fn unet_shapes_for_odd_sizes_and_levels() {
        for (image, layers) in [(64, 4), (1, 3), (17, 4), (31, 5), (6, 1), (2, 2)] {
            let opts = ModelOptions {
                batch: Some(2),
                image: Some(image),
                width: Some(3),
                layers: Some(layers),
                ..Default::default()
            };
            let g = build("unet", &opts).unwrap();
            assert_eq!(
                out_shape(&g),
                Shape::new([2, unet::CLASSES, image, image]),
                "image {image}, {layers} levels"
            );
            let ups = g
                .nodes
                .iter()
                .filter(|n| matches!(n.op, Op::Upsample2x { .. }))
                .count();
            assert_eq!(ups, layers - 1);
        }
        let deep = ModelOptions {
            layers: Some(unet::MAX_LEVELS + 1),
            ..Default::default()
        };
        assert_eq!(bad_option(build("unet", &deep)).0, "layers");
        runs_finite(
            "unet",
            &ModelOptions {
                image: Some(13),
                width: Some(2),
                layers: Some(3),
                ..Default::default()
            },
        );
    }

    fn planned_arena(g: &Graph) -> (u64, u64) {
        let p = plan_graph(g, &PlanConfig::default()).unwrap();
        (p.lower_bound, p.outcome.plan.arena_bytes)
    }

    #[test]
    fn unet_branch_order_changes_the_peak() {
        let s = common::resolve(unet::NAME, unet::OPTIONS, &ModelOptions::default()).unwrap();
        let late = unet::build_with_order(&s, unet::SkipOrder::Late).unwrap();
        let early = unet::build_with_order(&s, unet::SkipOrder::Early).unwrap();
        assert_eq!(late, build("unet", &ModelOptions::default()).unwrap());
        // Same nodes, other order.
        assert_eq!(late.nodes.len(), early.nodes.len());
        let (lb_late, arena_late) = planned_arena(&late);
        let (lb_early, arena_early) = planned_arena(&early);
        println!(
            "unet late: lb {lb_late} arena {arena_late}; early: lb {lb_early} arena {arena_early}"
        );
        assert!(
            lb_early < lb_late,
            "projecting skips early should lower the peak: {lb_early} vs {lb_late}"
        );
        assert!(arena_early < arena_late);
    }

    #[test]
    fn randwire_is_a_watts_strogatz_dag_deterministic_per_seed() {
        for seed in 0..20 {
            let preds = randwire::dag(32, seed);
            // Rewiring keeps the edge count of the ring lattice: n K / 2.
            let edges: usize = preds.iter().map(Vec::len).sum();
            assert_eq!(edges, 32 * randwire::K / 2, "seed {seed}");
            for (i, p) in preds.iter().enumerate() {
                assert!(
                    p.iter().all(|&j| j < i),
                    "seed {seed}: edge into {i} not from below"
                );
            }
            assert_eq!(preds, randwire::dag(32, seed));
        }
        // Different seeds give different wirings (all 20 pairwise distinct).
        let all: Vec<_> = (1..=20).map(|s| randwire::dag(32, s)).collect();
        for a in 0..all.len() {
            for b in a + 1..all.len() {
                assert_ne!(all[a], all[b], "seeds {} and {} wire alike", a + 1, b + 1);
            }
        }
        // Rewired: not the ring lattice (which seed-independent P = 0 would give).
        let lattice: Vec<Vec<usize>> = (0..32usize)
            .map(|i| {
                let mut p: Vec<usize> = [1, 2, 30, 31]
                    .iter()
                    .map(|d| (i + d) % 32)
                    .filter(|&j| j < i)
                    .collect();
                p.sort_unstable();
                p
            })
            .collect();
        assert_ne!(all[0], lattice);
    }

    #[test]
    fn randwire_graphs_build_per_seed_and_tiny_ones_run() {
        let opts = |nodes, seed| ModelOptions {
            nodes: Some(nodes),
            seed: Some(seed),
            ..Default::default()
        };
        let a = build("randwire", &opts(32, 1)).unwrap();
        assert_eq!(a, build("randwire", &opts(32, 1)).unwrap());
        let other = build("randwire", &opts(32, 2)).unwrap();
        assert!(a != other, "seeds 1 and 2 built the same graph");
        assert_eq!(a, build("randwire", &ModelOptions::default()).unwrap());
        assert_eq!(out_shape(&a), Shape::new([1, randwire::CLASSES]));
        let convs = a
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Conv2d(_)))
            .count();
        assert_eq!(convs, 33, "stem + one conv per node");
        // Seed 0 is a seed like any other; tiny and degenerate node counts build.
        build("randwire", &opts(32, 0)).unwrap();
        for nodes in [1, 2, 4, 5, 7] {
            let g = runs_finite(
                "randwire",
                &ModelOptions {
                    image: Some(5),
                    width: Some(3),
                    batch: Some(2),
                    ..opts(nodes, 3)
                },
            );
            assert_eq!(out_shape(&g), Shape::new([2, randwire::CLASSES]));
        }
        assert_eq!(bad_option(build("randwire", &opts(0, 1))).0, "nodes");
        assert_eq!(
            bad_option(build("randwire", &opts(MAX_LAYERS + 1, 1))).0,
            "nodes"
        );
        let layers = ModelOptions {
            layers: Some(2),
            ..Default::default()
        };
        assert_eq!(bad_option(build("randwire", &layers)).0, "layers");
        // --nodes and --seed belong to randwire only.
        assert_eq!(bad_option(build("gpt", &opts(3, 1))).0, "nodes");
    }

    #[test]
    fn full_size_models_are_marked_and_the_rest_are_not() {
        let full: Vec<_> = catalog()
            .into_iter()
            .filter(|m| m.full_size)
            .map(|m| m.name)
            .collect();
        assert_eq!(full, ["resnet50", "gpt2-small"]);
    }
}
