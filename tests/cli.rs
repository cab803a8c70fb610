//! The command line's contract: bad input gives a one-line `error:` and a non-zero exit; good
//! input prints the promised fields. Runs the real `tessera` binary.

mod cli_support;

use cli_support::{fails_with, read_json, scratch, succeeds, tessera};
use std::process::{Command, Output};

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn unknown_model_is_one_line() {
    fails_with(
        &["plan", "--model", "nosuch"],
        &["unknown model `nosuch`", "mlp"],
    );
}

#[test]
fn impossible_sizes_are_one_line() {
    fails_with(&["plan", "--model", "mlp", "--batch", "0"], &["batch"]);
    fails_with(&["plan", "--model", "gpt", "--width", "10"], &["width"]);
    fails_with(&["plan", "--model", "resnet", "--seq", "8"], &["seq"]);
}

#[test]
fn unknown_planner_and_policy_are_one_line() {
    fails_with(
        &["plan", "--model", "mlp", "--planner", "magic"],
        &["unknown planner `magic`"],
    );
    fails_with(
        &["plan", "--model", "mlp", "--workspace", "huge"],
        &["workspace policy `huge`"],
    );
}

#[test]
fn a_malformed_graph_is_one_line() {
    let path = tmp("mlp.json");
    succeeds(&[
        "export",
        "--model",
        "mlp",
        "--layers",
        "1",
        "--out",
        path.to_str().unwrap(),
    ]);
    // A valid export plans fine.
    let ok = tessera(&["plan", "--graph", path.to_str().unwrap()]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // Make the first node read the last node's output: a cycle.
    let mut g: serde_json::Value = read_json(&path);
    let last_out = g["nodes"].as_array().unwrap().last().unwrap()["outputs"][0].clone();
    g["nodes"][0]["inputs"][0] = last_out;
    let bad = tmp("cycle.json");
    std::fs::write(&bad, g.to_string()).unwrap();
    fails_with(
        &["plan", "--graph", bad.to_str().unwrap()],
        &["invalid graph", "cycle"],
    );
    // A dangling tensor id.
    g["nodes"][0]["inputs"][0] = serde_json::json!(100000);
    std::fs::write(&bad, g.to_string()).unwrap();
    fails_with(
        &["plan", "--graph", bad.to_str().unwrap()],
        &["does not exist"],
    );
    // Not JSON at all.
    std::fs::write(&bad, "{ nope").unwrap();
    fails_with(
        &["plan", "--graph", bad.to_str().unwrap()],
        &["not a tessera graph"],
    );
}

#[test]
fn a_malformed_csv_names_the_line() {
    let path = tmp("bad.csv");
    std::fs::write(&path, "id,lower,upper,size\nb0,0,3,8\nb1,5,2,4\n").unwrap();
    fails_with(&["plan-csv", path.to_str().unwrap()], &["line 3"]);
    std::fs::write(&path, "id,lower,size\nb0,0,8\n").unwrap();
    fails_with(&["plan-csv", path.to_str().unwrap()], &["upper"]);
}

#[test]
fn plan_csv_prints_peak_bound_and_writes_offsets() {
    let input = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/input.12.csv");
    let out_path = tmp("plan12.csv");
    let out = tessera(&[
        "plan-csv",
        input,
        "--planner",
        "exact",
        "--out",
        out_path.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("peak:          12"), "{stdout}");
    assert!(stdout.contains("lower bound:   12"), "{stdout}");
    assert!(stdout.contains("proven"), "{stdout}");
    let written = std::fs::read_to_string(&out_path).unwrap();
    assert!(
        written.lines().next().unwrap().ends_with(",offset"),
        "{written}"
    );
    assert_eq!(written.lines().count(), 6);
}

#[test]
fn a_row_beyond_the_binding_limit_is_a_clear_error() {
    // Tensors past the storage binding limit are split over several bindings; one row past it
    // cannot be. TESSERA_MAX_BINDING lowers the limit to 1 KiB, below mlp's 1,200-byte rows of
    // x [batch, 300]; a malformed value is refused too.
    let args = [
        "run",
        "--model",
        "mlp",
        "--width",
        "1",
        "--layers",
        "1",
        "--no-baselines",
        "--require-gpu",
    ];
    for (value, needles) in [
        ("1KiB", &["tensor x ", "1200 bytes", "1024 bytes"][..]),
        ("lots", &["TESSERA_MAX_BINDING", "lots"][..]),
    ] {
        let out = tessera_env(&args, &[("TESSERA_MAX_BINDING", value)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{value}: {stderr}");
        let errors: Vec<_> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{value}: {stderr}");
        for n in needles {
            assert!(
                errors[0].contains(n),
                "{value}: `{}` lacks `{n}`",
                errors[0]
            );
        }
    }
}

#[test]
fn gpt2_small_shaped_run_splits_its_embedding_and_logits_and_validates() {
    // Under a 64 KiB binding limit the token table [3001, 32] and the logits [8, 3001] need
    // several bindings each; the run must match the CPU reference, pass the clobber check and
    // leave the guard bands intact.
    let path = scratch("cli", "chunked-gpt2.json");
    let p = path.to_string_lossy().to_string();
    let args = [
        "run",
        "--model",
        "gpt2-small",
        "--seq",
        "8",
        "--width",
        "32",
        "--heads",
        "2",
        "--layers",
        "1",
        "--vocab",
        "3001",
        "--validate",
        "--no-baselines",
        "--require-gpu",
        "--json",
        &p,
    ];
    let out = tessera_env(&args, &[("TESSERA_MAX_BINDING", "64KiB")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = read_json(&path);
    assert_eq!(j["correctness"]["passed"], true, "{j}");
    assert_eq!(j["validate"]["clobber_check"], "passed", "{j}");
    assert_eq!(j["validate"]["guard_check"], "passed", "{j}");
}

/// `tessera` with extra environment variables.
fn tessera_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run tessera")
}

/// Asserts `out` failed with exactly one `error:` line mentioning every needle.
fn one_error_line(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let errors: Vec<_> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "expected one error line, got: {stderr}");
    for n in needles {
        assert!(
            errors[0].contains(n),
            "`{}` does not mention `{n}`",
            errors[0]
        );
    }
}

#[test]
fn the_cpu_reference_refuses_what_the_host_cannot_hold() {
    // Without an adapter the CPU reference is all that runs; with the host memory capped at
    // 1 GiB, [400000, 10000] f32 activations (16 GB each) must be refused with the estimate,
    // before anything is allocated (no abort).
    let args = [
        "run", "--model", "mlp", "--batch", "400000", "--width", "10000",
    ];
    let out = tessera_env(
        &args,
        &[
            ("WGPU_ADAPTER_NAME", "no-such-adapter-anywhere"),
            ("TESSERA_HOST_MEMORY", "1073741824"),
        ],
    );
    one_error_line(
        &out,
        &[
            "CPU reference would hold",
            "32400040000 bytes",
            "1073741824",
        ],
    );
    // A cap that is not a number is an error, not ignored.
    let out = tessera_env(
        &["run", "--model", "mlp"],
        &[
            ("WGPU_ADAPTER_NAME", "no-such-adapter-anywhere"),
            ("TESSERA_HOST_MEMORY", "lots"),
        ],
    );
    one_error_line(&out, &["TESSERA_HOST_MEMORY=\"lots\"", "bytes"]);
    // The same sizes as given, on whatever this machine has: one line too (the device limits
    // or the host memory, whichever is checked first), never an abort.
    let out = tessera(&args);
    one_error_line(&out, &[]);
}

#[test]
fn bad_alignments_are_one_line() {
    for (value, needle) in [
        ("9223372036854775808", "2^32"),
        ("0", "at least 1"),
        ("3", "power of two"),
    ] {
        fails_with(
            &["plan", "--model", "mlp", "--alignment", value],
            &["--alignment", value, needle],
        );
        fails_with(
            &["run", "--model", "mlp", "--alignment", value],
            &["--alignment", needle],
        );
    }
    fails_with(
        &[
            "plan",
            "--model",
            "mlp",
            "--alignment",
            "18446744073709551616",
        ],
        &["--alignment", "too large"],
    );
}

#[test]
fn huge_dimensions_in_a_graph_are_one_line() {
    let path = tmp("huge-src.json");
    succeeds(&[
        "export",
        "--model",
        "mlp",
        "--layers",
        "1",
        "--out",
        path.to_str().unwrap(),
    ]);
    let g: serde_json::Value = read_json(&path);
    let bad = tmp("huge.json");
    let write = |g: &serde_json::Value| std::fs::write(&bad, g.to_string()).unwrap();
    // One tensor whose element count overflows.
    let mut h = g.clone();
    h["tensors"][0]["shape"] = serde_json::json!([1u64 << 62, 1u64 << 62]);
    write(&h);
    fails_with(
        &["plan", "--graph", bad.to_str().unwrap()],
        &["invalid graph", "`x`", "too large"],
    );
    // Elements fit but bytes do not (2^62 f32 = 2^64 bytes).
    h["tensors"][0]["shape"] = serde_json::json!([1u64 << 61, 2]);
    write(&h);
    fails_with(&["plan", "--graph", bad.to_str().unwrap()], &["too large"]);
    // A dimension beyond u64, and a negative one: JSON errors naming the place.
    let text = g
        .to_string()
        .replacen("[8,300]", "[8,99999999999999999999999]", 1);
    std::fs::write(&bad, text).unwrap();
    fails_with(
        &["plan", "--graph", bad.to_str().unwrap()],
        &["not a tessera graph", "line"],
    );
    let text = g.to_string().replacen("[8,300]", "[8,-300]", 1);
    std::fs::write(&bad, text).unwrap();
    fails_with(
        &["plan", "--graph", bad.to_str().unwrap()],
        &["not a tessera graph"],
    );
}

#[test]
fn sizes_whose_products_overflow_are_one_line() {
    // 2^32 x 2^32 tokens: the element count overflows 64 bits while every option is in range.
    fails_with(
        &[
            "plan",
            "--model",
            "gpt",
            "--batch",
            "4294967296",
            "--seq",
            "4294967296",
        ],
        &["bad --", "too large"],
    );
    fails_with(
        &[
            "plan",
            "--model",
            "mlp",
            "--batch",
            "4294967296",
            "--width",
            "4294967296",
        ],
        &["bad --"],
    );
    fails_with(
        &["plan", "--model", "mlp", "--batch", "18446744073709551615"],
        &["bad --batch", "at most"],
    );
    fails_with(
        &[
            "plan",
            "--model",
            "mlp",
            "--batch",
            "99999999999999999999999",
        ],
        &["--batch", "too large"],
    );
    fails_with(&["plan", "--model", "mlp", "--batch", "-3"], &["-3"]);
}

#[test]
fn an_unknown_option_is_one_line() {
    fails_with(
        &["plan", "--model", "mlp", "--bogus"],
        &["unexpected argument '--bogus'", "--help"],
    );
    fails_with(&["frobnicate"], &["unrecognized subcommand"]);
}

#[test]
fn run_writes_the_json_fields_of_the_contract() {
    let path = tmp("gpt.json");
    succeeds(&[
        "run",
        "--model",
        "gpt",
        "--validate",
        "--require-gpu",
        "--json",
        path.to_str().unwrap(),
    ]);
    let j: serde_json::Value = read_json(&path);
    for key in ["model", "planner"] {
        assert!(j[key].is_string(), "{key}");
    }
    for key in ["name", "backend", "device_type"] {
        assert!(j["adapter"][key].is_string(), "adapter.{key}");
    }
    for key in ["arena_bytes", "lower_bound_bytes", "naive_static_bytes"] {
        assert!(j["plan"][key].as_u64().unwrap() > 0, "plan.{key}");
    }
    let arena = j["plan"]["arena_bytes"].as_u64().unwrap();
    assert!(arena < j["plan"]["naive_static_bytes"].as_u64().unwrap());
    // Measured from the allocator, not copied from the plan: it covers at least weights + arena.
    let device = j["measured"]["device_peak_bytes"]
        .as_u64()
        .expect("Vulkan reports allocator bytes");
    assert!(device >= arena + j["plan"]["weights_bytes"].as_u64().unwrap());
    assert!(j["measured"]["high_water_bytes"].as_u64().unwrap() <= arena);
    assert!(j["measured"].get("naive_dynamic_peak_bytes").is_some());
    assert_eq!(j["validate"]["clobber_check"], "passed");
    assert!(
        j["correctness"]["max_abs_err"].as_f64().unwrap()
            <= 1e-4 * j["correctness"]["max_ref_abs"].as_f64().unwrap().max(1.0)
    );
    assert!(j["timings"]["run_ms"].as_f64().unwrap() > 0.0);
}

#[test]
fn without_an_adapter_the_demo_says_so_and_require_gpu_fails() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .env("WGPU_ADAPTER_NAME", "no-such-adapter-anywhere")
            .output()
            .expect("run tessera")
    };
    let out = run(&["run", "--model", "mlp"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("no GPU adapter"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("cpu-reference"));
    let out = run(&["run", "--model", "mlp", "--require-gpu"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: no GPU adapter"));
}

/// A reader that goes away (`tessera plan ... | head -0`) ends the process quietly: no panic
/// message about a broken pipe, and no `error:` line.
#[cfg(unix)]
#[test]
fn a_closed_stdout_ends_quietly() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["plan", "--model", "mlp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tessera");
    drop(child.stdout.take()); // the reader exits before the first line
    let out = child.wait_with_output().expect("wait for tessera");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("error:"),
        "a closed stdout must end tessera quietly; stderr: {stderr}"
    );
}

#[test]
fn plan_csv_json_reports_the_bound_the_search_proved() {
    // Three conflicting 3-byte buffers aligned to 4: max-load bound 9, optimum 11 (proved by
    // showing 10 infeasible), so the proven bound exceeds the max-load one.
    let input = tmp("gap.csv");
    std::fs::write(
        &input,
        "id,lower,upper,size,alignment\na,0,2,3,4\nb,0,2,3,4\nc,0,2,3,4\nd,2,3,1,1\n",
    )
    .unwrap();
    let json = tmp("gap.json");
    let args = [
        "plan-csv",
        input.to_str().unwrap(),
        "--planner",
        "exact",
        "--json",
        json.to_str().unwrap(),
    ];
    let out = tessera(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("proven bound:  11"), "{stdout}");
    let v = read_json(&json);
    assert_eq!(v["peak_bytes"], 11);
    assert_eq!(v["lower_bound_bytes"], 9);
    assert_eq!(v["proven_lower_bound_bytes"], 11);
    assert_eq!(v["proven_optimal"], true);
}
