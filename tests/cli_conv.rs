//! The command line's conv switches: `--conv im2col|direct|auto` and `--workspace-cap` on `plan`
//! and `run`, the per-op `plan.conv` list in the JSON, and one-line errors for bad values.
//! Runs the real `tessera` binary.

mod cli_support;

use cli_support::{fails_with, tessera};

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-cli-conv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

/// `tessera plan --model resnet EXTRA --json`: the parsed report.
fn plan_json(extra: &[&str], name: &str) -> serde_json::Value {
    let path = tmp(name);
    let mut args = vec!["plan", "--model", "resnet", "--json"];
    let p = path.to_string_lossy().to_string();
    args.push(&p);
    args.extend_from_slice(extra);
    let out = tessera(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("conv:"),
        "plan prints a conv summary: {stdout}"
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("json")).expect("valid json")
}

/// `(method, workspace_bytes)` of every entry of `plan.conv`.
fn conv_list(j: &serde_json::Value) -> Vec<(String, u64)> {
    j["plan"]["conv"]
        .as_array()
        .expect("plan.conv is a list")
        .iter()
        .map(|c| {
            assert!(c["node"].is_string());
            (
                c["method"].as_str().expect("method").to_string(),
                c["workspace_bytes"].as_u64().expect("bytes"),
            )
        })
        .collect()
}

#[test]
fn plan_lists_each_conv_and_direct_has_no_workspace() {
    let direct = plan_json(&["--conv", "direct"], "direct.json");
    let list = conv_list(&direct);
    assert_eq!(list.len(), 8);
    assert!(
        list.iter().all(|(m, b)| m == "direct" && *b == 0),
        "{list:?}"
    );
    assert_eq!(direct["plan"]["workspace_bytes"], 0);
    let im2col = plan_json(
        &["--conv", "im2col", "--workspace-cap", "2KiB"],
        "im2col.json",
    );
    let list = conv_list(&im2col);
    assert!(
        list.iter()
            .all(|(m, b)| m == "im2col" && *b > 0 && *b <= 2048),
        "{list:?}"
    );
    // Under the same cap, auto sends the convs whose tile would be narrower than 16 columns to
    // the direct kernel: the stem's 108-byte columns fit 18 of them and the 1x1 projection's
    // 64-byte columns 32; the 3x3 convs over 16 or 32 channels fit at most 3.
    let auto = plan_json(&["--workspace-cap", "2KiB"], "auto.json");
    let list = conv_list(&auto);
    assert_eq!(list[0], ("im2col".to_string(), 18 * 108));
    assert_eq!(list[7], ("im2col".to_string(), 32 * 64));
    assert!(list[1..7].iter().all(|(m, _)| m == "direct"), "{list:?}");
}

#[test]
fn bad_conv_values_are_one_line() {
    fails_with(
        &["plan", "--model", "resnet", "--conv", "winograd"],
        &["--conv", "winograd", "im2col, direct, auto"],
    );
    fails_with(
        &["plan", "--model", "resnet", "--workspace-cap", "12XB"],
        &["--workspace-cap", "12XB", "unit"],
    );
    fails_with(
        &[
            "plan",
            "--model",
            "resnet",
            "--conv",
            "im2col",
            "--workspace-cap",
            "64",
        ],
        &["conv `stem.conv`", "64 bytes", "108 bytes"],
    );
}

#[test]
fn resnet_direct_runs_and_validates_on_the_gpu() {
    let path = tmp("run.json");
    let p = path.to_string_lossy().to_string();
    let out = tessera(&[
        "run",
        "--model",
        "resnet",
        "--conv",
        "direct",
        "--validate",
        "--no-baselines",
        "--require-gpu",
        "--json",
        &p,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("0 im2col, 8 direct"), "{stdout}");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("json")).expect("json");
    assert_eq!(j["correctness"]["passed"], true);
    assert_eq!(j["validate"]["clobber_check"], "passed");
    assert!(conv_list(&j).iter().all(|(m, b)| m == "direct" && *b == 0));
}
