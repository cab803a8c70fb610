//! The `--schedule` flag end to end through the real binary: `plan.schedule` in the JSON
//! report, `auto` never worse than `program`, a bad name is one error line, and (on the GPU,
//! lavapipe under scripts/test) a run in a scheduled order matches the CPU reference and passes
//! the clobber check, so the planned layout and the executed graph are the same graph.

mod cli_support;

use cli_support::tessera;

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-schedule-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs tessera with `args` plus `--json FILE` and returns the parsed report.
fn json(args: &[&str], name: &str) -> serde_json::Value {
    let path = tmp(name);
    let mut all = args.to_vec();
    all.extend(["--json", path.to_str().unwrap()]);
    let out = tessera(&all);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A small random-wired network where the program order is not the best.
const RANDWIRE: [&str; 10] = [
    "--model", "randwire", "--nodes", "10", "--seed", "1", "--image", "8", "--width", "4",
];

#[test]
fn plan_reports_the_schedule_and_auto_never_loses_to_program() {
    let mut args = vec!["plan"];
    args.extend(RANDWIRE);
    let program = json(&args, "program.json");
    assert_eq!(program["plan"]["schedule"]["name"], "program");
    assert_eq!(program["plan"]["schedule"]["chosen"], "program");
    args.extend(["--schedule", "auto"]);
    let auto = json(&args, "auto.json");
    let s = &auto["plan"]["schedule"];
    assert_eq!(s["name"], "auto");
    let arena = auto["plan"]["arena_bytes"].as_u64().unwrap();
    let cands = s["candidates"].as_array().unwrap();
    assert_eq!(cands[0]["name"], "program");
    let winner = cands.iter().find(|c| c["name"] == s["chosen"]).unwrap();
    assert_eq!(winner["arena_bytes"].as_u64().unwrap(), arena);
    assert!(
        cands
            .iter()
            .all(|c| c["arena_bytes"].as_u64().unwrap() >= arena)
    );
    let program_arena = program["plan"]["arena_bytes"].as_u64().unwrap();
    assert_eq!(cands[0]["arena_bytes"].as_u64().unwrap(), program_arena);
    // On this graph scheduling pays: a smaller peak and arena than the builder's order.
    assert!(arena < program_arena, "{arena} vs {program_arena}");
    assert!(s["peak_live_bytes"].as_u64() < s["program_peak_live_bytes"].as_u64());
    assert_eq!(s["peak_live_bytes"], auto["plan"]["lower_bound_bytes"]);
}

#[test]
fn an_unknown_schedule_is_one_line() {
    let out = tessera(&["plan", "--model", "mlp", "--schedule", "magic"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let errors: Vec<_> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("unknown schedule `magic`"), "{stderr}");
    assert!(errors[0].contains("greedy"), "{stderr}");
}

#[test]
fn a_scheduled_run_matches_the_reference_and_passes_the_clobber_check() {
    let mut args = vec!["run"];
    args.extend(RANDWIRE);
    args.extend(["--schedule", "exact", "--validate", "--require-gpu"]);
    let j = json(&args, "run.json");
    assert_eq!(j["plan"]["schedule"]["chosen"], "exact");
    assert!(
        j["plan"]["schedule"]["peak_live_bytes"].as_u64()
            < j["plan"]["schedule"]["program_peak_live_bytes"].as_u64()
    );
    assert_eq!(j["validate"]["clobber_check"], "passed");
    assert_eq!(j["correctness"]["passed"], true);
    assert!(
        j["baselines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["outputs_equal_planned"] == true)
    );
}
