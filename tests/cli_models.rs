//! The command line for the models at real sizes and the graph-shape models: `tessera models`
//! lists them with their options, `plan` accepts `--heads`, `--vocab`, `--nodes` and `--seed`
//! and plans the full-size defaults, and impossible options give one `error:` line.

mod cli_support;

use cli_support::{fails_with, tessera};

fn stdout_of(args: &[&str]) -> String {
    let out = tessera(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_of(args: &[&str]) -> serde_json::Value {
    let dir = std::env::temp_dir().join(format!("tessera-cli-models-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{}.json", args.join("_").replace('-', "")));
    let file = path.to_string_lossy().into_owned();
    let mut full = args.to_vec();
    full.extend(["--json", file.as_str()]);
    stdout_of(&full);
    let text = std::fs::read_to_string(&path).expect("json written");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

#[test]
fn models_lists_the_new_models_and_options() {
    let out = stdout_of(&["models"]);
    for needle in [
        "gpt2-small",
        "resnet50",
        "unet",
        "randwire",
        "--heads",
        "--vocab",
        "--nodes",
        "--seed",
    ] {
        assert!(
            out.contains(needle),
            "`tessera models` lacks {needle}:\n{out}"
        );
    }
}

#[test]
fn full_size_models_plan_at_their_defaults() {
    for (model, weights) in [
        ("gpt2-small", 124_439_808u64 * 4),
        ("resnet50", 25_530_472 * 4),
    ] {
        let j = json_of(&["plan", "--model", model]);
        let plan = &j["plan"];
        // Weights are placed at aligned offsets, so a little padding may be added.
        let placed = plan["weights_bytes"].as_u64().unwrap_or(0);
        assert!(
            placed >= weights && placed < weights + weights / 100,
            "{model}: {placed} bytes of weights for {weights}: {plan}"
        );
        assert!(plan["arena_bytes"].as_u64().unwrap_or(0) > 0, "{model}");
    }
}

#[test]
fn new_options_reach_the_builders() {
    let a = json_of(&[
        "plan", "--model", "randwire", "--nodes", "12", "--seed", "3",
    ]);
    let b = json_of(&[
        "plan", "--model", "randwire", "--nodes", "12", "--seed", "4",
    ]);
    assert_ne!(a["plan"]["naive_static_bytes"], serde_json::Value::Null);
    // Another wiring: another set of tensors (sums differ), so at least one figure moves.
    assert!(
        a["plan"] != b["plan"],
        "seeds 3 and 4 planned identically: {}",
        a["plan"]
    );
    let small = json_of(&["plan", "--model", "gpt", "--heads", "8", "--vocab", "100"]);
    let big = json_of(&["plan", "--model", "gpt"]);
    assert!(small["plan"]["weights_bytes"].as_u64() < big["plan"]["weights_bytes"].as_u64());
}

#[test]
fn impossible_new_options_are_one_line() {
    fails_with(
        &["plan", "--model", "gpt", "--heads", "5"],
        &["width", "heads"],
    );
    fails_with(
        &["plan", "--model", "gpt2-small", "--heads", "7"],
        &["width 768"],
    );
    fails_with(
        &["plan", "--model", "resnet50", "--heads", "4"],
        &["--heads"],
    );
    fails_with(
        &["plan", "--model", "randwire", "--nodes", "0"],
        &["--nodes 0"],
    );
    fails_with(
        &["plan", "--model", "unet", "--layers", "17"],
        &["--layers 17"],
    );
    fails_with(&["plan", "--model", "mlp", "--seed", "2"], &["--seed"]);
}
