//! The planner sees the workspace of the chosen attention kernel (no GPU): on
//! `gpt --heads 12 --width 768 --layers 2 --seq 2048` the tiled-attention arena is at most 25%
//! of the materialised one, because the [B, H, S, T] scores (192 MiB per layer) are gone.

use tessera::graph::{AttentionKernel, Graph, Op};
use tessera::models::{ModelOptions, build};
use tessera::pipeline::{PlanConfig, PlannedGraph, plan_graph};

fn gpt(kernel: AttentionKernel) -> Graph {
    let opts = ModelOptions {
        heads: Some(12),
        width: Some(768),
        layers: Some(2),
        seq: Some(2048),
        ..ModelOptions::default()
    };
    let mut g = build("gpt", &opts).expect("gpt builds");
    assert_eq!(g.set_attention_kernel(kernel), Ok(2), "two attention nodes");
    g
}

fn plan(g: &Graph) -> PlannedGraph {
    plan_graph(g, &PlanConfig::default()).expect("plans")
}

#[test]
fn tiled_attention_arena_is_at_most_a_quarter_of_the_materialised_one() {
    let (tiled_g, mat_g) = (
        gpt(AttentionKernel::Tiled),
        gpt(AttentionKernel::Materialized),
    );
    let (tiled, mat) = (plan(&tiled_g), plan(&mat_g));
    assert_eq!((tiled.attention, mat.attention), ("tiled", "materialized"));
    // Materialised: each attention node's workspace is its score matrix; tiled: none at all.
    let scores = 12 * 2048 * 2048 * 4;
    for id in mat_g.node_ids() {
        let want = match mat_g.node(id).op {
            Op::Attention { .. } => scores,
            _ => mat_g.workspace_bytes(id),
        };
        assert_eq!(mat_g.workspace_bytes(id), want);
        if matches!(tiled_g.node(id).op, Op::Attention { .. }) {
            assert_eq!(tiled_g.workspace_bytes(id), 0);
        }
    }
    assert!(mat.outcome.plan.arena_bytes >= scores);
    let (t, m) = (tiled.outcome.plan.arena_bytes, mat.outcome.plan.arena_bytes);
    assert!(
        t.saturating_mul(4) <= m,
        "tiled arena {t} is more than 25% of the materialised {m}"
    );
}

#[test]
fn the_default_model_runs_tiled_attention() {
    let g = build("gpt", &ModelOptions::default()).expect("gpt builds");
    assert_eq!(g.attention_summary(), "tiled");
    assert_eq!(plan(&g).attention, "tiled");
}
