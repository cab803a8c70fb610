//! `run --train` on the models whose backward needs the convolution, pooling, upsampling and
//! attention gradients (resnet, unet, randwire, gpt with both attention kernels), at small
//! sizes on the device (gpt at head dims 128 and 32): the device's loss before and after matches the CPU reference's, and
//! three steps lower the loss.

mod cli_support;

use cli_support::{read_json, scratch, succeeds};

/// Runs `run --train --steps 3` on `model` with `extra` options; returns (device losses,
/// CPU reference losses before and after).
fn train(model: &str, extra: &[&str]) -> (Vec<f64>, Vec<f64>) {
    let json = scratch("train-models", &format!("{model}{}.json", extra.join("")));
    let file = json.to_string_lossy().into_owned();
    let mut args = vec![
        "run",
        "--model",
        model,
        "--train",
        "--steps",
        "3",
        "--no-baselines",
        "--require-gpu",
        "--json",
        file.as_str(),
    ];
    args.extend(extra);
    succeeds(&args);
    let report = read_json(&json);
    let floats = |key: &str| -> Vec<f64> {
        report["training"][key]
            .as_array()
            .unwrap_or_else(|| panic!("{model}: training.{key} missing"))
            .iter()
            .map(|v| v.as_f64().expect("a number"))
            .collect()
    };
    let (losses, reference) = (floats("losses"), floats("reference_losses"));
    let before = report["training"]["loss_before"]
        .as_f64()
        .expect("loss_before");
    let after = report["training"]["loss_after"]
        .as_f64()
        .expect("loss_after");
    assert_eq!((before, after), (losses[0], losses[3]), "{model}");
    (losses, reference)
}

fn check(model: &str, extra: &[&str]) {
    let (losses, reference) = train(model, extra);
    let what = format!("{model} {extra:?}: device {losses:?}, CPU {reference:?}");
    assert_eq!(losses.len(), 4, "{what}");
    for (device, cpu) in [(losses[0], reference[0]), (losses[3], reference[1])] {
        assert!((device - cpu).abs() <= 1e-3 * cpu.abs().max(1.0), "{what}");
    }
    assert!(losses[3] < losses[0], "{what}");
}

#[test]
fn resnet_trains_with_both_conv_lowerings() {
    check(
        "resnet",
        &["--layers", "2", "--image", "15", "--batch", "2"],
    );
    check(
        "resnet",
        &["--layers", "2", "--image", "13", "--conv", "direct"],
    );
}

#[test]
fn unet_and_randwire_train() {
    check("unet", &["--layers", "2", "--image", "15", "--batch", "1"]);
    check(
        "randwire",
        &["--nodes", "6", "--image", "15", "--batch", "1"],
    );
}

#[test]
fn gpt_trains_with_both_attention_kernels() {
    // The default (tiled) kernel at head dim 128; tests/cli_train.rs covers the default size.
    check(
        "gpt",
        &[
            "--layers", "1", "--seq", "7", "--width", "256", "--heads", "2",
        ],
    );
    let materialized = [
        "--layers",
        "1",
        "--seq",
        "11",
        "--attention",
        "materialized",
    ];
    check("gpt", &materialized);
}
