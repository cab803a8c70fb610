//! `tessera::budget::search` at the plan level (CPU only): a budget between the smallest and the
//! default arena is met by a configuration whose arena fits, one below the smallest reachable
//! arena is a one-line error naming that arena and its lower bound, and one above the default
//! keeps the first (most preferred) configuration.

use tessera::budget::{BudgetError, search};
use tessera::graph::Graph;
use tessera::graph::conv::{self, ConvMode};
use tessera::models::{ModelOptions, build};
use tessera::pipeline::{PlanConfig, plan_graph};

fn resnet(image: usize, batch: usize) -> Graph {
    let opts = ModelOptions {
        image: Some(image),
        batch: Some(batch),
        ..ModelOptions::default()
    };
    build("resnet", &opts).expect("resnet builds")
}

/// The arena with the CLI's defaults (conv auto with the default tile, program order).
fn default_arena(g: &Graph) -> u64 {
    let g = conv::choose(g, ConvMode::Auto, None).expect("conv auto");
    plan_graph(&g, &PlanConfig::default())
        .expect("plans")
        .outcome
        .plan
        .arena_bytes
}

/// The smallest arena the search reaches, read from the error for a 1-byte budget.
fn smallest(g: &Graph) -> (u64, String) {
    let err = search(g, &PlanConfig::default(), 1).expect_err("1 byte cannot be met");
    let text = err.to_string();
    let BudgetError::NotMet { smallest, .. } = err else {
        panic!("not a NotMet error: {text}")
    };
    (smallest, text)
}

#[test]
fn a_budget_between_smallest_and_default_is_met() {
    let g = resnet(64, 1);
    let default = default_arena(&g);
    let (small, _) = smallest(&g);
    assert!(small < default, "{small} < {default}");
    let budget = (small + default) / 2;
    let c = search(&g, &PlanConfig::default(), budget).expect("met");
    assert!(c.section.met);
    assert_eq!(c.section.requested_bytes, budget);
    assert!(c.planned.outcome.plan.arena_bytes <= budget);
    // The chosen plan really is the plan of the chosen graph and config.
    let again = plan_graph(&c.graph, &c.cfg).expect("plans");
    assert!(again.outcome.plan.arena_bytes <= budget);
}

#[test]
fn a_budget_below_the_smallest_is_one_line_naming_it() {
    let g = resnet(64, 4);
    let (small, text) = smallest(&g);
    assert_eq!(text.lines().count(), 1, "{text}");
    for needle in [
        "budget 1 B cannot be met",
        "smallest arena reached",
        "lower bound",
    ] {
        assert!(text.contains(needle), "`{text}` lacks `{needle}`");
    }
    let err = search(&g, &PlanConfig::default(), small - 1).expect_err("below the smallest");
    assert!(err.to_string().contains("cannot be met"), "{err}");
    let c = search(&g, &PlanConfig::default(), small).expect("the smallest itself fits");
    assert_eq!(c.planned.outcome.plan.arena_bytes, small);
}

#[test]
fn a_budget_above_the_default_keeps_the_first_configuration() {
    let g = resnet(64, 4);
    let default = default_arena(&g);
    let c = search(&g, &PlanConfig::default(), default).expect("met");
    assert_eq!(c.section.configurations_tried, 1);
    assert_eq!(
        c.section.chosen,
        "schedule program, conv im2col, attention tiled, in-place on, workspace planned, micro-batch 1"
    );
    assert_eq!(c.planned.outcome.plan.arena_bytes, default);
}

#[test]
fn attention_prefers_materialized_until_only_tiled_fits() {
    let g = build("gpt", &ModelOptions::default()).expect("gpt builds");
    let roomy = search(&g, &PlanConfig::default(), 1 << 30).expect("met");
    assert_eq!(roomy.planned.attention, "materialized");
    let materialized = roomy.planned.outcome.plan.arena_bytes;
    let (small, _) = smallest(&g);
    assert!(small < materialized, "{small} < {materialized}");
    let tight = search(&g, &PlanConfig::default(), small).expect("met");
    assert_eq!(tight.planned.attention, "tiled");
    assert!(tight.planned.outcome.plan.arena_bytes <= small);
}
