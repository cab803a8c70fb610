//! `--attention tiled|materialized` on the command line (planning only, no GPU): the choice
//! reaches the planner (`plan.attention`, the workspace, the arena), the default is `tiled`, and
//! an unknown kernel or a head dimension the tiled kernel cannot run is one `error:` line.

mod cli_support;

use cli_support::{fails_with, tessera};

/// The `plan` section of `tessera plan ARGS --json`.
fn plan_json(args: &[&str]) -> serde_json::Value {
    let dir = std::env::temp_dir().join(format!("tessera-cli-attention-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{}.json", args.join("_").replace('-', "")));
    let file = path.to_string_lossy().into_owned();
    let mut full = vec!["plan"];
    full.extend(args);
    full.extend(["--json", file.as_str()]);
    let out = tessera(&full);
    assert!(
        out.status.success(),
        "{full:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).expect("json written");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json parses");
    json["plan"].clone()
}

#[test]
fn the_choice_reaches_the_plan() {
    let model = [
        "--model", "gpt", "--seq", "160", "--heads", "2", "--width", "32",
    ];
    let default = plan_json(&model);
    let tiled = plan_json(&[&model[..], &["--attention", "tiled"]].concat());
    let mat = plan_json(&[&model[..], &["--attention", "materialized"]].concat());
    assert_eq!(default, tiled, "tiled is the default");
    assert_eq!(tiled["attention"], "tiled");
    assert_eq!(mat["attention"], "materialized");
    assert_eq!(tiled["workspace_bytes"], 0);
    // Materialised: per layer [1, 2, 160, 160] scores in f32 (the default policy plans each).
    let scores = 2 * 160 * 160 * 4;
    assert!(mat["workspace_bytes"].as_u64().unwrap() >= scores);
    assert!(mat["arena_bytes"].as_u64() > tiled["arena_bytes"].as_u64());
    let mlp = plan_json(&["--model", "mlp"]);
    assert_eq!(mlp["attention"], "none");
}

#[test]
fn bad_attention_choices_are_one_line() {
    fails_with(
        &["plan", "--model", "gpt", "--attention", "flash"],
        &["unknown attention kernel `flash`", "tiled", "materialized"],
    );
    // Head dimension 256 > 128: the tiled kernel refuses the node by name; materialised runs.
    let big = ["plan", "--model", "gpt", "--width", "256", "--heads", "1"];
    fails_with(&big, &["block0.attn", "head dimension 256", "128"]);
    let out = tessera(&[&big[..], &["--attention", "materialized"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
