//! `--dtype f16` on the command line: `plan.dtype` and the halved sizes in the JSON, graph files
//! carrying their dtype, plan files refusing the other dtype, one-line errors for a bad dtype and
//! for `--train`, and two small models run on the device with `--validate`, checked against the
//! f32 reference (derived threshold) and the f16 reference (tighter). Runs the real binary.

mod cli_support;

use cli_support::{fails_with, read_json, scratch, succeeds};

fn tmp(name: &str) -> String {
    scratch("cli-f16", name).to_string_lossy().into_owned()
}

/// `tessera plan ARGS --json FILE`: the report.
fn plan(args: &[&str], name: &str) -> serde_json::Value {
    let path = tmp(name);
    let mut all = vec!["plan"];
    all.extend_from_slice(args);
    all.extend(["--json", &path]);
    succeeds(&all);
    read_json(path.as_ref())
}

fn u(j: &serde_json::Value, key: &str) -> u64 {
    j["plan"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("plan.{key}: {j}"))
}

#[test]
fn plan_reports_the_dtype_and_halves_the_sizes() {
    let f32 = plan(&["--model", "mlp"], "mlp32.json");
    let f16 = plan(&["--model", "mlp", "--dtype", "f16"], "mlp16.json");
    assert_eq!(
        (f32["plan"]["dtype"].as_str(), f16["plan"]["dtype"].as_str()),
        (Some("f32"), Some("f16"))
    );
    assert_eq!(u(&f32, "activation_bytes"), 2 * u(&f16, "activation_bytes"));
    assert_eq!(
        u(&f32, "weight_tensor_bytes"),
        2 * u(&f16, "weight_tensor_bytes")
    );
    assert!(u(&f16, "arena_bytes") < u(&f32, "arena_bytes"));
    let out = succeeds(&["plan", "--model", "gpt", "--dtype", "f16"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("dtype:          f16 (activations"), "{text}");
}

#[test]
fn graph_files_carry_their_dtype() {
    let file = tmp("gpt16.json");
    succeeds(&["export", "--model", "gpt", "--dtype", "f16", "--out", &file]);
    let j = plan(&["--graph", &file], "graph16.json");
    assert_eq!(j["plan"]["dtype"], "f16");
    let back = plan(&["--graph", &file, "--dtype", "f32"], "graph32.json");
    assert_eq!(back["plan"]["dtype"], "f32");
    assert_eq!(
        u(&back, "activation_bytes"),
        plan(&["--model", "gpt"], "gpt32.json")["plan"]["activation_bytes"]
            .as_u64()
            .unwrap_or(0)
    );
}

#[test]
fn bad_dtypes_and_training_in_f16_are_one_line_errors() {
    fails_with(
        &["plan", "--model", "mlp", "--dtype", "bf16"],
        &["--dtype", "bf16", "f16"],
    );
    fails_with(
        &["plan", "--model", "mlp", "--dtype", "u32"],
        &["--dtype", "u32"],
    );
    fails_with(
        &["plan", "--model", "mlp", "--dtype", "f16", "--train"],
        &["--train", "f32 master weights"],
    );
}

#[test]
fn a_plan_file_is_refused_for_the_other_dtype() {
    let file = tmp("mlp16.plan.json");
    succeeds(&["plan", "--model", "mlp", "--dtype", "f16", "--out", &file]);
    let text = std::fs::read_to_string(&file).expect("plan file");
    assert!(text.contains("\"dtype\": \"f16\""), "{text}");
    fails_with(
        &["run", "--plan", &file, "--model", "mlp", "--no-baselines"],
        &["--dtype f16", "f32"],
    );
    // Without --model, `run --plan` takes the file's model, sizes and dtype.
    let json = tmp("mlp16.plan.run.json");
    succeeds(&["run", "--plan", &file, "--no-baselines", "--json", &json]);
    let j = read_json(json.as_ref());
    assert_eq!(j["plan"]["dtype"], "f16", "{j}");
    assert_eq!(j["correctness"]["passed"], true, "{j}");
}

/// `run --model NAME --dtype f16 --validate --json`: checks the report's dtype, validation and
/// both comparisons, and returns it.
fn run_f16(model: &str, extra: &[&str]) -> serde_json::Value {
    let path = tmp(&format!("run-{model}.json"));
    let mut args = vec![
        "run",
        "--model",
        model,
        "--dtype",
        "f16",
        "--validate",
        "--require-gpu",
    ];
    args.extend_from_slice(extra);
    args.extend(["--json", &path]);
    succeeds(&args);
    let j = read_json(path.as_ref());
    assert_eq!(j["plan"]["dtype"], "f16", "{j}");
    assert_eq!(j["validate"]["clobber_check"], "passed", "{j}");
    assert_eq!(j["validate"]["guard_check"], "passed", "{j}");
    let c = &j["correctness"];
    assert_eq!(c["passed"], true, "{c}");
    assert!(
        matches!(
            j["adapter"]["f16_storage"].as_str(),
            Some("native" | "packed")
        ),
        "{j}"
    );
    assert_eq!(c["reference_dtype"], "f32", "{c}");
    let (err, limit) = (
        c["scaled_err"].as_f64().unwrap_or(f64::NAN),
        c["threshold"].as_f64().unwrap_or(0.0),
    );
    assert!(
        err > 0.0 && err <= limit,
        "{model}: f16 storage error {err} vs {limit}"
    );
    assert!(
        c["threshold_derivation"]
            .as_str()
            .is_some_and(|d| d.contains("u = 2^-11")),
        "{c}"
    );
    let f = &c["f16_reference"];
    assert_eq!(f["reference_dtype"], "f16", "{f}");
    assert_eq!(f["passed"], true, "{f}");
    let (err16, limit16) = (
        f["scaled_err"].as_f64().unwrap_or(f64::NAN),
        f["threshold"].as_f64().unwrap_or(0.0),
    );
    assert!(
        err16 <= limit16 && limit16 < limit,
        "{model}: {err16} vs {limit16} (f32 limit {limit})"
    );
    j
}

#[test]
fn two_small_models_run_in_f16_within_their_thresholds() {
    let mlp = run_f16("mlp", &[]);
    for b in mlp["baselines"].as_array().expect("baselines") {
        assert_eq!(b["outputs_equal_planned"], true, "{b}");
    }
    run_f16("gpt", &["--no-baselines"]);
}
