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
