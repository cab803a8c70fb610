//! `tessera bench` on tiny shapes and one small model (a smoke test: no timed assertions): the
//! table and the JSON carry both GEMM kernels and the CPU sgemm side by side with their ratios,
//! the plain and best softmax / layernorm / elementwise kernel variants, tiled attention and
//! direct convolution beside their other lowerings, and the planned,
//! naive-dynamic and caching run times; bad `--shapes` and `--models` values
//! are one-line errors. Runs the real `tessera` binary on the test GPU (lavapipe in CI).

mod cli_support;

use cli_support::{fails_with, read_json, scratch, succeeds, tessera};

#[test]
fn bench_reports_gemm_ratios_and_model_times() {
    let path = scratch("cli-bench", "bench.json");
    let p = path.to_string_lossy().to_string();
    let args = [
        "bench",
        "--shapes",
        "3x5x7,17x1x65,8x12x16",
        "--reps",
        "1",
        "--models",
        "mlp",
        "--kernel-elements",
        "3000",
        "--json",
        &p,
    ];
    let out = succeeds(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "cpu GFLOP/s",
        "tiled / cpu",
        "register / cpu",
        "naive-dynamic / planned",
        "best / plain",
    ] {
        assert!(stdout.contains(needle), "no `{needle}` in:\n{stdout}");
    }
    let j = read_json(&path);
    assert!(j["adapter"]["name"].is_string());
    let rows = j["gemm"]["rows"].as_array().expect("gemm.rows");
    assert_eq!(rows.len(), 3);
    assert_eq!(
        (rows[0]["m"].as_u64(), rows[0]["k"].as_u64()),
        (Some(3), Some(5))
    );
    assert_eq!(rows[2]["flops"].as_u64(), Some(2 * 8 * 12 * 16));
    for r in rows {
        assert!(r["cpu_gflops"].as_f64().is_some_and(|g| g > 0.0), "{r}");
        let kernels = r["kernels"].as_array().expect("kernels");
        let names: Vec<_> = kernels.iter().map(|k| k["kernel"].as_str()).collect();
        assert_eq!(names, [Some("tiled"), Some("register")]);
        for k in kernels {
            assert!(k["ratio_to_cpu"].as_f64().is_some_and(|x| x > 0.0), "{k}");
            assert!(k["max_abs_err"].as_f64().is_some_and(|e| e < 1e-3), "{k}");
        }
    }
    let table = j["gemm"]["table_kernel"].as_str();
    assert!(matches!(table, Some("tiled" | "register")), "{table:?}");
    let kernels = j["kernels"]["rows"].as_array().expect("kernels.rows");
    let ops: Vec<_> = kernels.iter().filter_map(|r| r["op"].as_str()).collect();
    for op in ["softmax", "layernorm", "add", "add (row broadcast)", "gelu"] {
        assert!(ops.contains(&op), "no {op} row in {ops:?}");
    }
    // Rows of 4099 hold 3000 elements in one row.
    assert!(
        kernels.iter().any(|r| r["shape"] == "1 x 4099"),
        "{kernels:?}"
    );
    for r in kernels {
        for f in ["plain_gbs", "best_gbs", "speedup"] {
            assert!(r[f].as_f64().is_some_and(|x| x > 0.0), "{f}: {r}");
        }
    }
    assert_eq!(j["kernels"]["plain"]["vec4"], false);
    assert_eq!(j["kernels"]["best"]["vec4"], true);
    // The fused section: tiled attention and direct convolution beside their other lowerings
    // (each checked against the CPU reference, or bench fails).
    let fused = j["fused"]["rows"].as_array().expect("fused.rows");
    let ops: Vec<_> = fused.iter().filter_map(|r| r["op"].as_str()).collect();
    for op in [
        "attention (tiled)",
        "attention (tiled, causal)",
        "conv (direct)",
    ] {
        assert!(ops.contains(&op), "no {op} row in {ops:?}");
    }
    for r in fused {
        for f in ["fused_gflops", "other_gflops", "other_over_fused"] {
            assert!(r[f].as_f64().is_some_and(|x| x > 0.0), "{f}: {r}");
        }
    }
    let models = j["models"].as_array().expect("models");
    assert_eq!(models.len(), 1);
    assert_eq!(models[0]["model"], "mlp");
    for f in [
        "planned_ms",
        "naive_dynamic_ms",
        "caching_ms",
        "naive_dynamic_over_planned",
    ] {
        assert!(models[0][f].as_f64().is_some_and(|x| x > 0.0), "{f}");
    }
}

#[test]
fn bad_bench_arguments_are_one_line_errors() {
    fails_with(
        &["bench", "--shapes", "3x0x7", "--no-models"],
        &["--shapes", "3x0x7"],
    );
    fails_with(
        &["bench", "--shapes", "3x5", "--no-models"],
        &["--shapes", "MxKxN"],
    );
    fails_with(
        &["bench", "--shapes", "8x8x8", "--models", "nope"],
        &["nope"],
    );
}

/// `--quiet` prints nothing on stdout, and `--json -` writes the report alone there.
#[test]
fn bench_respects_quiet_and_json_to_stdout() {
    let quiet = tessera(&[
        "--quiet",
        "bench",
        "--shapes",
        "7x5x3",
        "--no-models",
        "--no-kernels",
        "--reps",
        "1",
    ]);
    assert!(quiet.status.success());
    assert!(
        quiet.stdout.is_empty(),
        "--quiet printed {:?}",
        quiet.stdout
    );
    let out = tessera(&[
        "bench",
        "--shapes",
        "7x5x3",
        "--no-models",
        "--no-kernels",
        "--reps",
        "1",
        "--json",
        "-",
    ]);
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON");
    assert_eq!(j["gemm"]["rows"].as_array().map(Vec::len), Some(1));
    assert!(
        j["kernels"].is_null(),
        "--no-kernels still measured kernels"
    );
    assert!(
        j["fused"].is_null(),
        "--no-kernels still measured fused kernels"
    );
}

/// `TESSERA_NO_SUBGROUPS` creates the device without subgroups: the kernel section's best
/// variants fall back to the workgroup-memory reductions (and still match the CPU), while
/// without it the test device (lavapipe) uses subgroups.
#[test]
fn no_subgroups_env_turns_the_subgroup_reductions_off() {
    let args = [
        "bench",
        "--shapes",
        "4x4x4",
        "--no-models",
        "--kernel-elements",
        "600",
        "--reps",
        "1",
        "--json",
        "-",
    ];
    let run = |no_subgroups: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
        cmd.args(args);
        if no_subgroups {
            cmd.env("TESSERA_NO_SUBGROUPS", "1");
        } else {
            cmd.env_remove("TESSERA_NO_SUBGROUPS");
        }
        let out = cmd.output().expect("run tessera");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON");
        j["kernels"]["best"]["subgroups"].as_bool()
    };
    assert_eq!(run(true), Some(false));
    assert_eq!(
        run(false),
        Some(true),
        "the test device (lavapipe) has subgroups"
    );
}
