//! The CPU side of `--dtype f16` for every small built-in model at its default size: the f16
//! reference (rounding at every tensor boundary) stays within the derived threshold
//! (`analysis::precision`) of the f32 reference (same f16-rounded inputs and weights,
//! activations in f32), and both differ from the model built in f32 only through rounding.

use tessera::analysis::precision::f16_error_bound;
use tessera::cpu::{TensorData, run_outputs, run_outputs_f32};
use tessera::graph::DType;
use tessera::models::{ModelOptions, build};
use tessera::transform::precision::cast_floats;

/// `max |a - b| / max(1, max |b|)` over every element.
fn scaled(a: &[TensorData], b: &[TensorData]) -> f64 {
    let (mut err, mut scale) = (0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (x.as_f32().expect("floats"), y.as_f32().expect("floats"));
        assert_eq!(x.len(), y.len());
        for (p, q) in x.iter().zip(y) {
            err = err.max(f64::from((p - q).abs()));
            scale = scale.max(f64::from(q.abs()));
        }
    }
    err / scale.max(1.0)
}

#[test]
fn f16_storage_stays_within_the_derived_threshold_on_the_cpu() {
    for name in ["mlp", "resnet", "gpt", "unet", "randwire"] {
        let g = cast_floats(
            &build(name, &ModelOptions::default()).expect("model"),
            DType::F16,
        )
        .expect("f16");
        let bound = f16_error_bound(&g);
        let (f16, f32) = (
            run_outputs(&g).expect("f16 ref"),
            run_outputs_f32(&g).expect("f32 ref"),
        );
        let e = scaled(&f16, &f32);
        println!(
            "{name:<9} D {:>3} K {:>5} scaled error {e:.3e} threshold {:.3e} ({:.1}x below)",
            bound.depth,
            bound.max_reduction,
            bound.threshold,
            bound.threshold / e
        );
        assert!(e > 0.0, "{name}: f16 storage must change something");
        assert!(
            e <= bound.threshold,
            "{name}: {e:e} > {:e}",
            bound.threshold
        );
    }
}

#[test]
fn the_f32_reference_of_an_f32_graph_is_the_reference() {
    let g = build("mlp", &ModelOptions::default()).expect("mlp");
    assert_eq!(run_outputs_f32(&g).expect("a"), run_outputs(&g).expect("b"));
}
