//! `--checkpoint` on the command line: `plan.checkpoint`, `compute.*` and the frontier in the
//! JSON report, the arena cut of `sqrt` within one forward pass of recompute on gpt and
//! resnet, budgets met with less recompute than `sqrt` or refused in one line, and a
//! checkpointed training run on the GPU whose losses equal the unchanged graph's bit for bit.

mod cli_support;

use cli_support::{fails_with, read_json, scratch, succeeds};

fn json_of(args: &[&str], name: &str) -> serde_json::Value {
    let path = scratch("cli-checkpoint", name);
    let p = path.to_string_lossy().to_string();
    let mut all = args.to_vec();
    all.extend_from_slice(&["--json", &p]);
    succeeds(&all);
    read_json(&path)
}

// best-fit keeps the many plans (the frontier, budget candidates) fast; `auto` may search for
// seconds per plan.
const GPT: [&str; 9] = [
    "--model",
    "gpt",
    "--layers",
    "4",
    "--seq",
    "32",
    "--train",
    "--planner",
    "best-fit",
];
const RESNET: [&str; 9] = [
    "--model",
    "resnet",
    "--layers",
    "4",
    "--image",
    "24",
    "--train",
    "--planner",
    "best-fit",
];

fn plan(model: &[&str], checkpoint: &str, name: &str) -> serde_json::Value {
    json_of(
        &[&["plan"][..], model, &["--checkpoint", checkpoint]].concat(),
        name,
    )
}

fn arena(j: &serde_json::Value) -> u64 {
    j["plan"]["arena_bytes"].as_u64().expect("arena")
}

fn flops(j: &serde_json::Value, which: &str) -> u64 {
    j["compute"][which].as_u64().expect("flops")
}

#[test]
fn sqrt_cuts_the_arena_within_one_forward_of_recompute() {
    for (model, tag) in [(&GPT, "gpt"), (&RESNET, "resnet")] {
        let none = plan(model, "none", &format!("{tag}-none.json"));
        let sqrt = plan(model, "sqrt", &format!("{tag}-sqrt.json"));
        assert_eq!(sqrt["plan"]["checkpoint"]["strategy"], "sqrt");
        assert_eq!(flops(&none, "recompute_flops"), 0);
        assert_eq!(flops(&none, "forward_flops"), flops(&sqrt, "forward_flops"));
        assert_eq!(
            flops(&none, "backward_flops"),
            flops(&sqrt, "backward_flops")
        );
        assert!(arena(&sqrt) * 10 <= arena(&none) * 6, "{tag}");
        let r = flops(&sqrt, "recompute_flops");
        assert!(r > 0 && r <= flops(&sqrt, "forward_flops"), "{tag}");
        assert_eq!(
            sqrt["plan"]["checkpoint"]["recompute_flops"].as_u64(),
            Some(r)
        );
        // The frontier lists every strategy, `none` first with the same arena.
        let rows = sqrt["checkpoint_frontier"].as_array().expect("frontier");
        let names: Vec<_> = rows.iter().map(|r| r["strategy"].as_str()).collect();
        for s in ["none", "sqrt", "every:2", "selective"] {
            assert!(names.contains(&Some(s)), "{tag}: {names:?}");
        }
        assert_eq!(rows[0]["arena_bytes"].as_u64(), Some(arena(&none)));
    }
}

#[test]
fn without_checkpoint_the_report_has_compute_and_no_checkpoint() {
    let j = json_of(&[&["plan"][..], &GPT].concat(), "plain.json");
    assert!(j["plan"]["checkpoint"].is_null());
    assert_eq!(flops(&j, "recompute_flops"), 0);
    assert!(flops(&j, "backward_flops") > flops(&j, "forward_flops"));
    let inference = json_of(
        &[
            "plan",
            "--model",
            "gpt",
            "--seq",
            "32",
            "--planner",
            "best-fit",
        ],
        "inf.json",
    );
    assert_eq!(flops(&inference, "backward_flops"), 0);
    assert!(inference["checkpoint_frontier"].is_null());
}

#[test]
fn a_budget_between_sqrt_and_none_recomputes_less_than_sqrt() {
    let none = plan(&GPT, "none", "b-none.json");
    let sqrt = plan(&GPT, "sqrt", "b-sqrt.json");
    let budget = (arena(&none) + arena(&sqrt)) / 2;
    let j = plan(&GPT, &format!("budget:{budget}"), "b.json");
    assert!(arena(&j) <= budget);
    assert!(flops(&j, "recompute_flops") < flops(&sqrt, "recompute_flops"));
}

#[test]
fn bad_checkpoint_options_are_one_error_line() {
    fails_with(
        &["plan", "--model", "gpt", "--checkpoint", "sqrt"],
        &["--checkpoint needs --train"],
    );
    fails_with(
        &[&["plan"][..], &GPT, &["--checkpoint", "every:0"]].concat(),
        &["--checkpoint `every:0`", "at least 1"],
    );
    fails_with(
        &[&["plan"][..], &GPT, &["--checkpoint", "budget:64KiB"]].concat(),
        &["budget:65536 bytes cannot be met", "smallest planned arena"],
    );
}

#[test]
fn a_checkpointed_training_run_matches_none_on_the_gpu() {
    let small = [
        "--model", "gpt", "--layers", "3", "--seq", "12", "--train", "--steps", "2",
    ];
    let run = |c: &str, extra: &[&str]| {
        json_of(
            &[
                &["run"][..],
                &small,
                &["--checkpoint", c, "--no-baselines", "--require-gpu"],
                extra,
            ]
            .concat(),
            &format!("run-{c}.json"),
        )
    };
    let none = run("none", &[]);
    let sqrt = run("sqrt", &["--validate"]);
    assert!(arena(&sqrt) < arena(&none));
    assert_eq!(sqrt["correctness"]["passed"], true);
    assert_eq!(sqrt["validate"]["clobber_check"], "passed");
    // Same kernels in the same order of accumulation: every loss equal, not just close.
    assert_eq!(sqrt["training"]["losses"], none["training"]["losses"]);
    assert!(sqrt["training"]["loss_after"].as_f64() < sqrt["training"]["loss_before"].as_f64());
}

/// `--budget` with `--train` composes with checkpointing: the budget becomes checkpointing's own
/// (`budget:BYTES`), met between the `sqrt` and `none` arenas with the report's `budget`
/// section filled; an impossible one is one line; `--budget` and `--checkpoint` together are
/// refused.
#[test]
fn a_training_budget_is_met_by_checkpointing() {
    let none = plan(&GPT, "none", "tb-none.json");
    let sqrt = plan(&GPT, "sqrt", "tb-sqrt.json");
    let budget = (arena(&none) + arena(&sqrt)) / 2;
    let text = budget.to_string();
    let j = json_of(
        &[&["plan"][..], &GPT, &["--budget", &text]].concat(),
        "tb.json",
    );
    assert!(arena(&j) <= budget, "arena {} > budget {budget}", arena(&j));
    assert!(arena(&j) < arena(&none), "the budget must force a cut");
    assert_eq!(j["budget"]["requested_bytes"].as_u64(), Some(budget));
    assert_eq!(j["budget"]["met"].as_bool(), Some(true));
    let strategy = j["plan"]["checkpoint"]["strategy"]
        .as_str()
        .expect("strategy");
    assert!(strategy.starts_with("budget"), "strategy {strategy}");
    assert!(flops(&j, "recompute_flops") <= flops(&sqrt, "recompute_flops"));
    fails_with(
        &[&["plan"][..], &GPT, &["--budget", "64KiB"]].concat(),
        &["cannot be met", "smallest planned arena"],
    );
    fails_with(
        &[
            &["plan"][..],
            &GPT,
            &["--budget", "1MiB", "--checkpoint", "sqrt"],
        ]
        .concat(),
        &["--budget or --checkpoint, not both"],
    );
}
