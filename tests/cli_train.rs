//! `--train` end to end through the binary: training steps on the device (lavapipe) with the
//! weights updated in place lower the loss, agree with the CPU reference's steps (the run fails
//! otherwise), and are reported as `training.loss_before` / `training.loss_after`; `plan
//! --train` plans the training graph; bad training flags are one-line errors.

mod cli_support;

use cli_support::{fails_with, read_json, scratch, succeeds};

/// Runs `tessera run ARGS --json F` and returns the report.
fn run_json(name: &str, args: &[&str]) -> serde_json::Value {
    let path = scratch("train", name);
    let p = path.to_str().expect("utf-8 path");
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--json", p, "--require-gpu"]);
    succeeds(&all);
    read_json(&path)
}

fn losses(r: &serde_json::Value) -> (f64, f64) {
    let t = &r["training"];
    let before = t["loss_before"].as_f64().expect("loss_before");
    let after = t["loss_after"].as_f64().expect("loss_after");
    (before, after)
}

#[test]
fn five_steps_lower_the_mlp_loss_and_match_the_reference() {
    let r = run_json(
        "mlp.json",
        &["--model", "mlp", "--train", "--steps", "5", "--validate"],
    );
    let (before, after) = losses(&r);
    assert!(after < before, "loss {before} -> {after}");
    assert_eq!(r["training"]["steps"], 5);
    assert_eq!(r["training"]["losses"].as_array().map(Vec::len), Some(6));
    let [rb, ra] = [0, 1].map(|i| r["training"]["reference_losses"][i].as_f64().unwrap());
    assert!((rb - before).abs() < 1e-4 && (ra - after).abs() < 1e-4);
    assert_eq!(r["correctness"]["passed"], true);
    assert_eq!(r["validate"]["clobber_check"], "passed");
    assert_eq!(r["validate"]["guard_check"], "passed");
    // The updated weights are views of the weights: the arena holds no copy of them.
    assert!(
        r["plan"]["arena_bytes"].as_u64().unwrap() < r["plan"]["weights_bytes"].as_u64().unwrap()
    );
}

#[test]
fn five_steps_lower_a_small_gpt_loss_with_momentum() {
    let r = run_json(
        "gpt.json",
        &[
            "--model",
            "gpt",
            "--layers",
            "1",
            "--seq",
            "13",
            "--width",
            "24",
            "--heads",
            "3",
            "--vocab",
            "37",
            "--train",
            "--steps",
            "5",
            "--momentum",
            "0.9",
            "--no-baselines",
        ],
    );
    let (before, after) = losses(&r);
    assert!(after < before, "loss {before} -> {after}");
    assert_eq!(r["correctness"]["passed"], true);
    assert_eq!(r["training"]["loss"], "cross-entropy");
}

#[test]
fn plan_train_plans_the_training_graph() {
    let path = scratch("train", "plan.json");
    let p = path.to_str().expect("utf-8 path");
    succeeds(&["plan", "--model", "mlp", "--json", p]);
    let inference = read_json(&path);
    // beam reorders the training graph: the updates still follow every read of their weight.
    succeeds(&["plan", "--model", "gpt", "--train", "--schedule", "beam"]);
    succeeds(&["plan", "--model", "mlp", "--train", "--json", p]);
    let training = read_json(&path);
    let arena = |r: &serde_json::Value| r["plan"]["arena_bytes"].as_u64().unwrap();
    assert!(arena(&training) > arena(&inference));
    assert!(training["training"]["backward_nodes"].as_u64().unwrap() > 0);
    assert!(training["training"]["loss_before"].is_null());
}

#[test]
fn bad_training_flags_are_one_line() {
    fails_with(&["plan", "--model", "mlp", "--steps", "3"], &["--train"]);
    fails_with(
        &["run", "--model", "mlp", "--train", "--steps", "0"],
        &["--steps"],
    );
    fails_with(
        &["plan", "--model", "mlp", "--train", "--lr", "inf"],
        &["finite"],
    );
}
