//! `--budget` on the command line: the JSON `budget` section and the chosen settings, the
//! one-line error when nothing fits, and a budgeted run on the GPU that matches the CPU
//! reference. Runs the real `tessera` binary.

mod cli_support;

use cli_support::tessera;

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-cli-budget-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

/// Runs `args --json FILE`, asserts success and returns the parsed report.
fn json_of(args: &[&str], name: &str) -> serde_json::Value {
    let path = tmp(name);
    let p = path.to_string_lossy().to_string();
    let mut all = args.to_vec();
    all.extend_from_slice(&["--json", &p]);
    let out = tessera(&all);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("json")).expect("valid json")
}

const RESNET: [&str; 6] = ["--model", "resnet", "--image", "64", "--batch", "1"];

#[test]
fn plan_budget_is_met_and_reported() {
    let plain = json_of(&[&["plan"][..], &RESNET].concat(), "plain.json");
    assert!(plain["budget"].is_null());
    let default = plain["plan"]["arena_bytes"].as_u64().expect("arena");
    let budget = default - 1;
    let b = budget.to_string();
    let j = json_of(
        &[&["plan"][..], &RESNET, &["--budget", &b]].concat(),
        "b.json",
    );
    assert_eq!(j["budget"]["met"], true);
    assert_eq!(j["budget"]["requested_bytes"].as_u64(), Some(budget));
    assert!(j["plan"]["arena_bytes"].as_u64().expect("arena") <= budget);
    // The plan fields follow the chosen settings.
    let chosen = j["budget"]["chosen"].as_str().expect("chosen");
    let schedule = j["plan"]["schedule"]["name"].as_str().expect("schedule");
    assert!(
        chosen.starts_with(&format!("schedule {schedule},")),
        "{chosen}"
    );
}

#[test]
fn an_unmeetable_budget_is_one_error_line() {
    let out = tessera(&[&["plan"][..], &RESNET, &["--budget", "100KiB"]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let errors: Vec<_> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    for n in [
        "budget 100.00 KiB cannot be met",
        "smallest arena reached",
        "lower bound",
    ] {
        assert!(errors[0].contains(n), "`{}` lacks `{n}`", errors[0]);
    }
    let out = tessera(&[&["plan"][..], &RESNET, &["--budget", "lots"]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--budget"), "{stderr}");
}

#[test]
fn a_budgeted_run_matches_the_reference_on_the_gpu() {
    let plain = json_of(&[&["plan"][..], &RESNET].concat(), "plain-run.json");
    let budget = (plain["plan"]["arena_bytes"].as_u64().expect("arena") - 1).to_string();
    let args = [
        &["run"][..],
        &RESNET,
        &[
            "--budget",
            &budget,
            "--validate",
            "--no-baselines",
            "--require-gpu",
        ],
    ]
    .concat();
    let j = json_of(&args, "run.json");
    assert_eq!(j["budget"]["met"], true);
    assert!(j["plan"]["arena_bytes"].as_u64() <= budget.parse().ok());
    assert_eq!(j["correctness"]["passed"], true);
    assert_eq!(j["validate"]["clobber_check"], "passed");
}
