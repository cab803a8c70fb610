//! End to end on the GPU: every built-in model (default and odd sizes), planned with in-place
//! reuse under every workspace policy, matches the CPU reference, is bit-identical to the
//! naive layout's run, passes the clobber check and stays inside its planned arena. A
//! deliberately overlapping plan is caught by the clobber check.

mod common;

use common::gpu;
use tessera::analysis::{AnalysisOptions, WorkspacePolicy, liveness};
use tessera::execute::{TOLERANCE, clobber_check, compare};
use tessera::graph::{Graph, TensorKind};
use tessera::layout::naive_layout;
use tessera::models::{ModelOptions, build};
use tessera::pipeline::{PlanConfig, plan_graph};
use tessera::runtime::compile;

fn cfg(ws: WorkspacePolicy, in_place: bool) -> PlanConfig {
    let alignment = gpu().min_storage_buffer_offset_alignment();
    PlanConfig {
        analysis: AnalysisOptions {
            alignment,
            in_place,
            workspace: ws,
            streamed_inputs: false,
        },
        ..PlanConfig::default()
    }
}

fn check_model(graph: &Graph) {
    let reference = tessera::cpu::run_outputs(graph).expect("cpu reference");
    let naive = compile(
        gpu(),
        graph,
        &naive_layout(graph, gpu().min_storage_buffer_offset_alignment()).expect("naive layout"),
    )
    .expect("compile naive")
    .run(gpu())
    .expect("run naive");
    let c = compare(&naive.outputs, &reference);
    assert!(c.scaled() <= TOLERANCE, "naive layout vs cpu: {c:?}");
    for ws in WorkspacePolicy::ALL {
        let planned = plan_graph(graph, &cfg(ws, true)).expect("plan");
        assert!(planned.outcome.plan.arena_bytes < planned.analysis.naive_static_bytes);
        let compiled = compile(gpu(), graph, &planned.layout).expect("compile planned");
        let out = compiled.run(gpu()).expect("run planned");
        // Same kernels, same order: the planned run must be bit-identical to the naive one.
        assert_eq!(
            out.outputs,
            naive.outputs,
            "planned ({}) differs from naive",
            ws.name()
        );
        let report =
            clobber_check(gpu(), &compiled, graph, &planned.layout).expect("clobber check");
        assert_eq!(report.failure, None, "workspace {}", ws.name());
        // The guard bands around the arena must be untouched after the runs above (the
        // touched extent, `high_water`, cannot exceed the arena by construction: no check).
        let violations = compiled.check_guards(gpu()).expect("guard check");
        assert!(violations.is_empty(), "out-of-plan writes: {violations:?}");
    }
}

#[test]
fn mlp_default_and_odd() {
    check_model(&build("mlp", &ModelOptions::default()).unwrap());
    check_model(
        &build(
            "mlp",
            &ModelOptions {
                batch: Some(3),
                width: Some(37),
                layers: Some(2),
                ..Default::default()
            },
        )
        .unwrap(),
    );
}

#[test]
fn resnet_default_and_odd() {
    check_model(&build("resnet", &ModelOptions::default()).unwrap());
    let odd = ModelOptions {
        batch: Some(1),
        image: Some(17),
        width: Some(6),
        layers: Some(1),
        ..Default::default()
    };
    check_model(&build("resnet", &odd).unwrap());
}

#[test]
fn gpt_default_and_odd() {
    check_model(&build("gpt", &ModelOptions::default()).unwrap());
    let odd = ModelOptions {
        batch: Some(2),
        seq: Some(7),
        width: Some(36),
        layers: Some(1),
        ..Default::default()
    };
    check_model(&build("gpt", &odd).unwrap());
}

#[test]
fn in_place_shrinks_resnet_and_gpt() {
    for name in ["resnet", "gpt"] {
        let g = build(name, &ModelOptions::default()).unwrap();
        let on = plan_graph(&g, &cfg(WorkspacePolicy::Planned, true)).unwrap();
        let off = plan_graph(&g, &cfg(WorkspacePolicy::Planned, false)).unwrap();
        assert!(!on.analysis.in_place_nodes.is_empty(), "{name}");
        assert!(
            on.outcome.plan.arena_bytes < off.outcome.plan.arena_bytes,
            "{name}: in-place did not shrink the arena"
        );
    }
}

#[test]
fn a_deliberately_overlapping_plan_is_caught_on_the_device() {
    let graph = build("resnet", &ModelOptions::default()).unwrap();
    let planned = plan_graph(&graph, &cfg(WorkspacePolicy::Planned, true)).unwrap();
    let live = liveness(&graph);
    // Victim: the activation live across the most steps (a residual skip). Culprit: a tensor
    // produced strictly inside the victim's lifetime, moved onto the victim's bytes.
    let intervals: Vec<_> = graph
        .tensor_ids()
        .map(|t| (t, live.interval(&graph, t)))
        .collect();
    let (victim, (vs, ve)) = intervals
        .iter()
        .filter(|(t, iv)| {
            iv.is_some()
                && graph.tensors[t.index()].kind == TensorKind::Activation
                && !graph.outputs.contains(t)
        })
        .map(|(t, iv)| (*t, iv.unwrap()))
        .max_by_key(|(_, (s, e))| e - s)
        .unwrap();
    let (culprit, _) = intervals
        .iter()
        .filter_map(|(t, iv)| iv.map(|iv| (*t, iv)))
        .find(|(t, (s, _))| {
            // Born while the victim is live, no bigger, and not reading the victim itself (the
            // runtime rejects an output on its own input's offset for ops that cannot run in place).
            let producer = graph.nodes.iter().find(|n| n.outputs.contains(t));
            let reads_victim =
                producer.is_some_and(|n| n.inputs.iter().any(|&i| live.root[i.index()] == victim));
            *s > vs
                && *s + 1 < ve
                && !reads_victim
                && graph.tensors[t.index()].size_bytes()
                    <= graph.tensors[victim.index()].size_bytes()
        })
        .expect("a tensor born while the victim is live");
    let mut bad = planned.layout.clone();
    bad.tensor_offsets[culprit.index()] = bad.tensor_offsets[victim.index()];
    // Views of the culprit follow it.
    for t in graph.tensor_ids() {
        if live.root[t.index()] == culprit {
            bad.tensor_offsets[t.index()] = bad.tensor_offsets[victim.index()];
        }
    }
    let compiled =
        compile(gpu(), &graph, &bad).expect("the runtime does not check overlaps itself");
    let report = clobber_check(gpu(), &compiled, &graph, &bad).unwrap();
    let failure = report
        .failure
        .expect("the clobber check must catch the overlap");
    assert_eq!(failure.tensor, victim, "{failure}");
    assert!(
        failure
            .to_string()
            .contains(&graph.tensors[victim.index()].name)
    );
}
