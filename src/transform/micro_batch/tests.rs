//! Micro-batching on the CPU: the rewritten graph computes the same outputs as the whole batch
//! (mlp, gpt, resnet; dividing and ragged slices), its shapes are the slices', and each bad
//! request is one error naming its cause.

use super::*;
use crate::graph::{DType, GraphBuilder};
use crate::models::{ModelOptions, build};

fn model(name: &str, batch: usize, image: Option<usize>) -> Graph {
    let opts = ModelOptions {
        batch: Some(batch),
        image,
        ..ModelOptions::default()
    };
    build(name, &opts).expect("model builds")
}

/// Largest |a - b| over all outputs, relative to the largest |b|.
fn scaled_diff(a: &Graph, b: &Graph) -> f64 {
    let (x, y) = (
        crate::cpu::run_outputs(a).expect("cpu runs the micro-batched graph"),
        crate::cpu::run_outputs(b).expect("cpu runs the whole batch"),
    );
    assert_eq!(x.len(), y.len());
    let (mut diff, mut top) = (0f64, 0f64);
    for (p, q) in x.iter().zip(&y) {
        let (p, q) = (p.as_f32().expect("f32"), q.as_f32().expect("f32"));
        assert_eq!(p.len(), q.len());
        for (u, v) in p.iter().zip(q) {
            diff = diff.max(f64::from((u - v).abs()));
            top = top.max(f64::from(v.abs()));
        }
    }
    diff / top.max(1e-30)
}

fn same_outputs(g: &Graph, k: usize) -> Graph {
    let m = micro_batch(g, k).expect("micro-batches");
    let shapes = |g: &Graph| -> Vec<Shape> {
        g.outputs
            .iter()
            .map(|o| g.tensors[o.index()].shape.clone())
            .collect()
    };
    assert_eq!(shapes(&m), shapes(g), "k = {k}");
    let d = scaled_diff(&m, g);
    assert!(d <= 1e-6, "k = {k}: scaled difference {d:e}");
    m
}

#[test]
fn slices_are_balanced_and_useful_counts_skip_repeats() {
    assert_eq!(slice_sizes(8, 4), vec![2, 2, 2, 2]);
    assert_eq!(slice_sizes(8, 3), vec![3, 3, 2]);
    assert_eq!(slice_sizes(5, 5), vec![1; 5]);
    assert_eq!(useful_slice_counts(8), vec![1, 2, 3, 4, 8]);
    assert_eq!(useful_slice_counts(1), vec![1]);
}

#[test]
fn mlp_slices_compute_the_whole_batch() {
    let g = model("mlp", 8, None);
    let m = same_outputs(&g, 4);
    // Four input slices of two rows; the weights are not copied.
    let inputs: Vec<_> = m
        .tensors
        .iter()
        .filter(|t| t.kind == TensorKind::Input)
        .map(|t| t.shape.dims()[0])
        .collect();
    assert_eq!(inputs, vec![2, 2, 2, 2]);
    let weights = |g: &Graph| g.tensors_of_kind(TensorKind::Weight).len();
    assert_eq!(weights(&m), weights(&g));
    same_outputs(&g, 3);
    same_outputs(&g, 8);
}

#[test]
fn gpt_slices_follow_the_batch_through_reshapes_and_attention() {
    let g = model("gpt", 4, None);
    same_outputs(&g, 2);
    same_outputs(&g, 3);
}

#[test]
fn resnet_slices_compute_the_whole_batch() {
    let g = model("resnet", 3, Some(8));
    same_outputs(&g, 3);
    same_outputs(&g, 2);
}

#[test]
fn one_slice_is_the_graph_itself() {
    let g = model("mlp", 4, None);
    assert_eq!(micro_batch(&g, 1), Ok(g));
}

#[test]
fn bad_slice_counts_are_one_line_errors() {
    let g = model("mlp", 4, None);
    assert_eq!(micro_batch(&g, 0), Err(MicroBatchError::Zero));
    let e = micro_batch(&g, 5).expect_err("5 slices of 4 samples");
    assert!(
        matches!(e, MicroBatchError::TooMany { k: 5, batch: 4, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("exceeds the batch 4"), "{e}");
}

#[test]
fn an_op_mixing_samples_is_refused_naming_it() {
    let mut b = GraphBuilder::new();
    let x = b.input("x", &[4, 6], DType::F32, Init::Constant(1.0));
    let t = b.permute("t", x, &[1, 0]).expect("permute");
    let s = b.op("mix", Op::Softmax, &[t]).expect("softmax");
    b.output(s);
    let g = b.build().expect("valid");
    let e = micro_batch(&g, 2).expect_err("softmax over the batch");
    let text = e.to_string();
    assert!(text.contains("node `mix` (softmax)"), "{text}");
    assert!(text.contains("reduces over the batch axis"), "{text}");
    // Softmax over the other axis slices fine.
    let mut b = GraphBuilder::new();
    let x = b.input(
        "x",
        &[4, 6],
        DType::F32,
        Init::Uniform {
            seed: 1,
            scale: 1.0,
        },
    );
    let s = b.op("rows", Op::Softmax, &[x]).expect("softmax");
    b.output(s);
    let g = b.build().expect("valid");
    same_outputs(&g, 2);
}

#[test]
fn a_reshape_that_mixes_samples_is_refused() {
    let mut b = GraphBuilder::new();
    let x = b.input("x", &[4, 6], DType::F32, Init::Constant(1.0));
    let r = b.reshape("r", x, &[6, 4]).expect("reshape");
    b.output(r);
    let g = b.build().expect("valid");
    let e = micro_batch(&g, 2).expect_err("[4, 6] -> [6, 4] splits samples across rows");
    assert!(e.to_string().contains("node `r` (reshape)"), "{e}");
}
