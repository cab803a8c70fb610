//! `--micro-batch` and `--budget` with fixed knobs on the command line: the JSON
//! `plan.micro_batch`, one error line for a bad slice count, flags kept fixed by the budget
//! search (and named in the report), and a budget below the default resnet arena (image 64,
//! batch 4) met by slicing and validated on the GPU; `--micro-batch 4` on the default resnet at
//! batch 8 streams its inputs (reported with their staging bytes), plans at most 40% of the
//! whole batch's arena and runs validated. Runs the real `tessera` binary.

mod cli_support;

use cli_support::{fails_with, read_json, scratch, succeeds};

const RESNET: [&str; 6] = ["--model", "resnet", "--image", "64", "--batch", "4"];

/// Runs `args --json FILE`, asserts success and returns the report.
fn json_of(args: &[&str], name: &str) -> serde_json::Value {
    let path = scratch("cli-micro-batch", name);
    let p = path.to_string_lossy().to_string();
    succeeds(&[args, &["--json", &p]].concat());
    read_json(&path)
}

fn arena(j: &serde_json::Value) -> u64 {
    j["plan"]["arena_bytes"].as_u64().expect("arena")
}

#[test]
fn plan_reports_the_slices_and_their_smaller_arena() {
    let whole = json_of(&[&["plan"][..], &RESNET].concat(), "whole.json");
    assert_eq!(whole["plan"]["micro_batch"], 1);
    let four = json_of(
        &[&["plan"][..], &RESNET, &["--micro-batch", "4"]].concat(),
        "four.json",
    );
    assert_eq!(four["plan"]["micro_batch"], 4);
    assert!(
        arena(&four) * 2 < arena(&whole),
        "{} vs {}",
        arena(&four),
        arena(&whole)
    );
    let out = succeeds(&[&["plan"][..], &RESNET, &["--micro-batch", "3"]].concat());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("micro-batch:    3 sequential slices"),
        "{text}"
    );
}

#[test]
fn a_bad_slice_count_is_one_error_line() {
    let plan = |k: &'static str| [&["plan"][..], &RESNET, &["--micro-batch", k]].concat();
    fails_with(&plan("0"), &["--micro-batch 0", "at least one slice"]);
    fails_with(
        &plan("5"),
        &["--micro-batch 5 exceeds the batch 4", "`image`"],
    );
    fails_with(&plan("two"), &["--micro-batch"]);
    let budget = [&plan("9")[..], &["--budget", "1MiB"]].concat();
    fails_with(&budget, &["--micro-batch 9 exceeds the batch 4"]);
}

#[test]
fn budget_keeps_the_knobs_the_flags_fix() {
    let whole = json_of(&[&["plan"][..], &RESNET].concat(), "default.json");
    let budget = (arena(&whole) - 1).to_string();
    let args = [
        &["plan"][..],
        &RESNET,
        &["--budget", &budget, "--schedule", "program", "--no-inplace"],
    ]
    .concat();
    let j = json_of(&args, "fixed.json");
    assert_eq!(j["budget"]["met"], true);
    assert_eq!(j["plan"]["schedule"]["name"], "program");
    assert_eq!(j["plan"]["in_place"], false);
    assert_eq!(
        j["budget"]["fixed"],
        serde_json::json!(["schedule program", "in-place off"])
    );
    // Without the flags the search is free to choose `auto` or in-place reuse.
    let free = json_of(
        &[&["plan"][..], &RESNET, &["--budget", &budget]].concat(),
        "free.json",
    );
    assert_eq!(free["budget"]["fixed"], serde_json::json!([]));
    assert_eq!(free["plan"]["in_place"], true);
    // Fixing the slices to one leaves nothing that fits: the error names the fixed knob.
    fails_with(
        &[&args[..], &["--micro-batch", "1"]].concat(),
        &[
            "cannot be met",
            "fixed by flags: micro-batch 1, schedule program, in-place off",
        ],
    );
}

#[test]
fn a_budget_below_the_default_arena_runs_sliced_and_matches_the_reference() {
    let whole = json_of(&[&["plan"][..], &RESNET].concat(), "run-default.json");
    let budget = (arena(&whole) - 1).to_string();
    let args = [
        &["run"][..],
        &RESNET,
        &[
            "--budget",
            &budget,
            "--validate",
            "--require-gpu",
            "--no-baselines",
        ],
    ]
    .concat();
    let j = json_of(&args, "run.json");
    assert_eq!(j["budget"]["met"], true);
    assert!(j["plan"]["micro_batch"].as_u64().expect("k") > 1);
    assert!(arena(&j) < arena(&whole));
    assert_eq!(j["correctness"]["passed"], true);
    assert_eq!(j["validate"]["clobber_check"], "passed");
    assert_eq!(j["validate"]["guard_check"], "passed");
}

#[test]
fn four_slices_at_batch_8_stream_their_inputs_within_40_percent_and_validate() {
    let base = ["plan", "--model", "resnet", "--batch", "8"];
    let whole = json_of(&base, "b8.json");
    assert_eq!(whole["plan"]["streamed_inputs"], false);
    assert_eq!(whole["plan"]["staging_bytes"], 0);
    let four = json_of(&[&base[..], &["--micro-batch", "4"]].concat(), "b8k4.json");
    assert_eq!(four["plan"]["streamed_inputs"], true);
    // The whole batch's images, [8, 3, 32, 32] f32, wait in staging memory beside the arena.
    assert_eq!(four["plan"]["staging_bytes"], 8 * 3 * 32 * 32 * 4);
    assert!(
        arena(&four) as f64 <= 0.40 * arena(&whole) as f64,
        "{} vs {}",
        arena(&four),
        arena(&whole)
    );
    let off = [&base[..], &["--micro-batch", "4", "--stream-inputs", "off"]].concat();
    let uploaded = json_of(&off, "b8k4-off.json");
    assert_eq!(uploaded["plan"]["streamed_inputs"], false);
    assert!(arena(&uploaded) > arena(&four));
    let on = json_of(&[&base[..], &["--stream-inputs"]].concat(), "b8-on.json");
    assert_eq!(on["plan"]["streamed_inputs"], true);
    assert_eq!(arena(&on), arena(&whole));
    fails_with(
        &[&base[..], &["--stream-inputs", "maybe"]].concat(),
        &["--stream-inputs `maybe`", "on or off"],
    );
    let run = [
        &[
            "run",
            "--model",
            "resnet",
            "--batch",
            "8",
            "--micro-batch",
            "4",
        ][..],
        &["--validate", "--require-gpu", "--no-baselines"],
    ]
    .concat();
    let j = json_of(&run, "b8k4-run.json");
    assert_eq!(j["plan"]["streamed_inputs"], true);
    assert_eq!(j["measured"]["staging_bytes"], 8 * 3 * 32 * 32 * 4);
    assert_eq!(j["correctness"]["passed"], true);
    assert_eq!(j["validate"]["clobber_check"], "passed");
    assert_eq!(j["validate"]["guard_check"], "passed");
}
