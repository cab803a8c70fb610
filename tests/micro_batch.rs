//! Micro-batching and budgets at the plan level (CPU only): `--micro-batch 4` on a batch of 8
//! plans at most 40% of the whole batch's arena (resnet at image 64 and resnet50 at 224), a
//! budget below everything one batch can reach is met by slicing it, and knobs fixed by flags
//! stay fixed in the search (and are named when nothing fits). On the default resnet (32 px)
//! the 40% needs the inputs streamed (each slice's input live from its slice's first step).

use tessera::analysis::WorkspacePolicy;
use tessera::budget::{BudgetError, Fixed, search, search_with};
use tessera::graph::Graph;
use tessera::graph::conv::{self, ConvMode};
use tessera::models::{ModelOptions, build};
use tessera::pipeline::{PlanConfig, plan_graph};
use tessera::schedule::Scheduler;
use tessera::transform::micro_batch::micro_batch;

fn model(name: &str, batch: usize, image: Option<usize>) -> Graph {
    let opts = ModelOptions {
        batch: Some(batch),
        image,
        ..ModelOptions::default()
    };
    build(name, &opts).expect("model builds")
}

/// The arena with the CLI's defaults (conv auto, program order) after `k` slices.
fn arena(g: &Graph, k: usize) -> u64 {
    let g = conv::choose(g, ConvMode::Auto, None).expect("conv auto");
    let g = micro_batch(&g, k).expect("micro-batches");
    plan_graph(&g, &PlanConfig::default())
        .expect("plans")
        .outcome
        .plan
        .arena_bytes
}

#[test]
fn four_slices_of_a_batch_of_eight_plan_at_most_40_percent() {
    for (name, image) in [("resnet", Some(64)), ("resnet50", None)] {
        let g = model(name, 8, image);
        let whole = arena(&g, 1);
        let by = |k: usize| arena(&g, k);
        let (two, four, eight) = (by(2), by(4), by(8));
        assert!(
            two < whole && four < two && eight <= four,
            "{name}: {whole} {two} {four} {eight}"
        );
        assert!(
            four as f64 <= 0.40 * whole as f64,
            "{name}: 4 slices {four} vs the whole batch {whole}"
        );
    }
}

/// The arena with the CLI's defaults after `k` slices, the inputs streamed or not.
fn arena_streamed(g: &Graph, k: usize, streamed: bool) -> u64 {
    let g = conv::choose(g, ConvMode::Auto, None).expect("conv auto");
    let g = micro_batch(&g, k).expect("micro-batches");
    let mut cfg = PlanConfig::default();
    cfg.analysis.streamed_inputs = streamed;
    plan_graph(&g, &cfg)
        .expect("plans")
        .outcome
        .plan
        .arena_bytes
}

#[test]
fn four_slices_of_the_default_resnet_at_batch_8_plan_at_most_40_percent_streamed() {
    let g = model("resnet", 8, None);
    let whole = arena_streamed(&g, 1, false);
    // The whole batch's input is read at step 0: streaming it changes nothing.
    assert_eq!(arena_streamed(&g, 1, true), whole);
    let four = arena_streamed(&g, 4, true);
    assert!(
        four as f64 <= 0.40 * whole as f64,
        "4 streamed slices {four} vs the whole batch {whole}"
    );
    // Uploaded before the run, all four slices' inputs are live from step 0: above 40%.
    let uploaded = arena_streamed(&g, 4, false);
    assert!(
        uploaded as f64 > 0.40 * whole as f64,
        "4 uploaded slices {uploaded} vs {whole}"
    );
}

#[test]
fn gpt_logits_are_written_once_so_slices_still_shrink_the_arena() {
    // The logits [4, 32, 256] outweigh the hidden states [4, 32, 64]: the LM head runs once on
    // the joined hidden states, so the slices do not pay for the logits twice.
    let g = model("gpt", 4, None);
    let (whole, two, four) = (arena(&g, 1), arena(&g, 2), arena(&g, 4));
    // Past two slices the peak is the head itself: its whole-batch input and the logits.
    assert!(four <= two && two < whole, "{whole} {two} {four}");
    let m = micro_batch(&g, 4).expect("micro-batches");
    let heads = m
        .nodes
        .iter()
        .filter(|n| n.name.starts_with("lm_head"))
        .count();
    assert_eq!(heads, 1, "the head runs once");
}

#[test]
fn a_budget_below_what_one_batch_reaches_is_met_by_slicing() {
    let g = model("resnet", 4, Some(64));
    let whole = Fixed {
        micro_batch: Some(1),
        ..Fixed::default()
    };
    let err = search_with(&g, &PlanConfig::default(), 1, &whole).expect_err("1 byte");
    let BudgetError::NotMet { smallest, .. } = &err else {
        panic!("not NotMet: {err}")
    };
    // Every other knob searched, the whole batch: the message names the fixed knob.
    assert!(
        err.to_string().contains("fixed by flags: micro-batch 1"),
        "{err}"
    );
    let budget = smallest - 1;
    assert!(search_with(&g, &PlanConfig::default(), budget, &whole).is_err());
    let c = search(&g, &PlanConfig::default(), budget).expect("met by slicing");
    assert!(c.knobs.micro_batch > 1, "{:?}", c.knobs);
    assert!(c.planned.outcome.plan.arena_bytes <= budget);
    assert_eq!(c.planned.micro_batch, c.knobs.micro_batch);
    assert!(
        c.section
            .chosen
            .ends_with(&format!("micro-batch {}", c.knobs.micro_batch))
    );
    assert!(c.section.fixed.is_empty());
    // The chosen graph is the sliced one, and plans within the budget again.
    let again = plan_graph(&c.graph, &c.cfg).expect("plans");
    assert!(again.outcome.plan.arena_bytes <= budget);
}

#[test]
fn knobs_fixed_by_flags_are_kept() {
    let g = model("resnet", 4, Some(64));
    let fixed = Fixed {
        schedule: Some(Scheduler::Greedy),
        in_place: Some(false),
        workspace: Some(WorkspacePolicy::Grouped),
        conv: Some(ConvMode::Direct),
        ..Fixed::default()
    };
    // A generous budget: the first configuration, with every fixed knob as given.
    let c = search_with(&g, &PlanConfig::default(), u64::MAX, &fixed).expect("met");
    assert_eq!(c.section.configurations_tried, 1);
    let k = &c.knobs;
    assert_eq!(
        (k.schedule, k.in_place, k.workspace, k.conv, k.micro_batch),
        (
            Scheduler::Greedy,
            false,
            WorkspacePolicy::Grouped,
            ConvMode::Direct,
            1
        )
    );
    assert_eq!(c.cfg.schedule, Scheduler::Greedy);
    assert!(!c.cfg.analysis.in_place);
    assert_eq!(
        c.section.fixed,
        vec![
            "conv direct",
            "schedule greedy",
            "in-place off",
            "workspace grouped"
        ]
    );
    // A tight one: only the free knobs move (here the slices).
    let whole = arena(&g, 1);
    let c = search_with(&g, &PlanConfig::default(), whole * 6 / 10, &fixed).expect("met");
    let k = &c.knobs;
    assert_eq!(
        (k.schedule, k.in_place, k.workspace, k.conv),
        (
            Scheduler::Greedy,
            false,
            WorkspacePolicy::Grouped,
            ConvMode::Direct
        )
    );
    assert!(k.micro_batch > 1);
}

#[test]
fn a_fixed_slice_count_the_batch_cannot_take_is_an_error() {
    let g = model("resnet", 4, Some(16));
    let fixed = Fixed {
        micro_batch: Some(5),
        ..Fixed::default()
    };
    let err = search_with(&g, &PlanConfig::default(), u64::MAX, &fixed).expect_err("5 of 4");
    assert!(err.to_string().contains("exceeds the batch 4"), "{err}");
}
