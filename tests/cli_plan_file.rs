//! `plan --out` and `run --plan` on the command line: a round trip with the same results, and
//! one `error:` line for a plan of another graph, a plan beyond the device, a tampered
//! (overlapping) plan, a malformed file and a future format version. Also `--json -` (the
//! report alone on stdout) and `--quiet`. Runs the real `tessera` binary (GPU runs on lavapipe).

mod cli_support;

use cli_support::{fails_with, read_json, scratch, succeeds, tessera};
use serde_json::Value;

fn path(name: &str) -> String {
    scratch("cli-plan-file", name).to_string_lossy().to_string()
}

/// `plan --model gpt --seq 19 --out FILE`, returning the plan file's path.
fn gpt_plan(name: &str) -> String {
    let file = path(name);
    succeeds(&["plan", "--model", "gpt", "--seq", "19", "--out", &file]);
    file
}

#[test]
fn a_plan_file_runs_with_the_same_results_as_planning_again() {
    let file = gpt_plan("gpt.json");
    let plan = read_json(std::path::Path::new(&file));
    assert_eq!(plan["format"], "tessera-plan");
    assert_eq!(plan["format_version"], 1);
    assert!(
        plan["graph_fingerprint"]
            .as_str()
            .is_some_and(|f| f.starts_with("sha256:"))
    );
    let (a, b) = (path("direct.json"), path("from-file.json"));
    let common = [
        "run",
        "--model",
        "gpt",
        "--seq",
        "19",
        "--no-baselines",
        "--validate",
    ];
    succeeds(&[&common[..], &["--alignment", "256", "--json", &a]].concat());
    succeeds(&[&common[..], &["--plan", &file, "--json", &b]].concat());
    let (a, b) = (read_json(a.as_ref()), read_json(b.as_ref()));
    for key in [
        "arena_bytes",
        "lower_bound_bytes",
        "weights_bytes",
        "alignment",
    ] {
        assert_eq!(a["plan"][key], b["plan"][key], "plan.{key}");
    }
    assert_eq!(b["plan"]["arena_bytes"], plan["arena_bytes"]);
    // The same layout on the same device: bit-identical outputs, so the same error.
    assert_eq!(
        a["correctness"]["max_abs_err"],
        b["correctness"]["max_abs_err"]
    );
    assert_eq!(b["correctness"]["passed"], true);
    assert_eq!(b["validate"]["clobber_check"], "passed");
    assert_eq!(b["validate"]["guard_check"], "passed");
}

#[test]
fn a_plan_for_another_graph_is_refused() {
    let file = gpt_plan("other.json");
    fails_with(
        &["run", "--model", "gpt", "--seq", "20", "--plan", &file],
        &["plan was made for another graph", "`gpt` [", "seq=19"],
    );
    fails_with(
        &["run", "--model", "mlp", "--plan", &file],
        &["another graph"],
    );
    // The planning flags belong to the plan file.
    fails_with(
        &[
            "run",
            "--model",
            "gpt",
            "--seq",
            "19",
            "--plan",
            &file,
            "--attention",
            "materialized",
        ],
        &["--plan", "--attention"],
    );
}

#[test]
fn a_plan_beyond_the_device_is_refused() {
    // gpt2-small's logits (1024 x 50257 f32) are one 206 MB binding; lavapipe allows 128 MiB.
    let big = path("gpt2.json");
    succeeds(&["plan", "--model", "gpt2-small", "--out", &big]);
    fails_with(
        &["run", "--model", "gpt2-small", "--plan", &big],
        &["binds lm_head with 205852672 bytes", "storage binding"],
    );
    // Offsets aligned to 16 bytes cannot be bound where the device needs 32.
    let fine = path("align16.json");
    succeeds(&[
        "plan",
        "--model",
        "mlp",
        "--alignment",
        "16",
        "--out",
        &fine,
    ]);
    fails_with(
        &["run", "--model", "mlp", "--plan", &fine],
        &["offset alignment 16", "--alignment 32"],
    );
}

/// Indices of two buffers of the plan that are live at the same time.
fn overlapping(buffers: &[Value]) -> (usize, usize) {
    let life = |b: &Value| (b["start"].as_u64().unwrap(), b["end"].as_u64().unwrap());
    for i in 0..buffers.len() {
        for j in i + 1..buffers.len() {
            let ((s1, e1), (s2, e2)) = (life(&buffers[i]), life(&buffers[j]));
            if s1 < e2 && s2 < e1 {
                return (i, j);
            }
        }
    }
    panic!("no two buffers live at once");
}

#[test]
fn a_tampered_overlapping_plan_is_refused_before_running() {
    let file = gpt_plan("tampered.json");
    let mut plan = read_json(file.as_ref());
    let buffers = plan["buffers"].as_array_mut().expect("buffers");
    let (i, j) = overlapping(buffers);
    buffers[j]["offset"] = buffers[i]["offset"].clone();
    std::fs::write(&file, plan.to_string()).expect("write");
    fails_with(
        &["run", "--model", "gpt", "--seq", "19", "--plan", &file],
        &[
            "tampered.json",
            "plan refused by the validator",
            "overlap in time and memory",
        ],
    );
}

#[test]
fn malformed_and_future_plan_files_are_refused() {
    let file = gpt_plan("future.json");
    let text = std::fs::read_to_string(&file).expect("plan");
    let cases = [
        (
            "truncated.json",
            text[..text.len() / 2].to_string(),
            "not a valid tessera plan file",
        ),
        (
            "future.json",
            text.replace("\"format_version\": 1", "\"format_version\": 2"),
            "format version 2 is newer than this tessera reads (1)",
        ),
        (
            "graph.json",
            "{\"tensors\": []}".to_string(),
            "not a tessera plan file",
        ),
    ];
    for (name, body, needle) in cases {
        let p = path(name);
        std::fs::write(&p, body).expect("write");
        fails_with(
            &["run", "--model", "gpt", "--seq", "19", "--plan", &p],
            &[name, needle],
        );
    }
    fails_with(
        &["run", "--model", "gpt", "--plan", &path("missing.json")],
        &["cannot read", "missing.json"],
    );
}

#[test]
fn json_dash_writes_the_report_alone_to_stdout() {
    for args in [
        &["plan", "--model", "gpt", "--json", "-"][..],
        &["run", "--model", "mlp", "--no-baselines", "--json", "-"][..],
    ] {
        let out = succeeds(args);
        let stdout = String::from_utf8(out.stdout).expect("utf-8");
        let report: Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
        assert!(report["plan"]["arena_bytes"].as_u64().is_some(), "{args:?}");
        // Progress bars stay off when stdout and stderr are not terminals.
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains('\r') && !stderr.contains("\u{1b}["),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn quiet_prints_nothing_but_still_writes_files() {
    let file = path("quiet-plan.json");
    let out = succeeds(&[
        "--quiet", "plan", "--model", "gpt", "--seq", "19", "--out", &file,
    ]);
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    assert_eq!(read_json(file.as_ref())["format"], "tessera-plan");
    let json = path("quiet-run.json");
    let out = tessera(&[
        "run",
        "--model",
        "gpt",
        "--seq",
        "19",
        "--plan",
        &file,
        "--no-baselines",
        "--quiet",
        "--json",
        &json,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(read_json(json.as_ref())["correctness"]["passed"], true);
}

#[test]
fn a_plan_file_alone_names_its_model_and_sizes() {
    let file = gpt_plan("alone.json");
    let json = path("alone-run.json");
    succeeds(&["run", "--plan", &file, "--no-baselines", "--json", &json]);
    let r = read_json(json.as_ref());
    assert_eq!(r["model"], "gpt");
    assert!(
        r["options"]
            .as_array()
            .expect("options")
            .iter()
            .any(|o| o[0] == "seq" && o[1] == 19)
    );
    assert_eq!(r["correctness"]["passed"], true);
    fails_with(
        &["run", "--plan", &file, "--seq", "19"],
        &["size options need --model"],
    );
    fails_with(&["plan"], &["give --model NAME or --graph FILE"]);
}
