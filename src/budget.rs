//! `--budget`: searches the planning knobs (micro-batch slices, attention kernel, conv lowering
//! and workspace cap, schedule, in-place reuse, workspace policy) for the first configuration,
//! in a fixed preference order, whose planned arena fits a byte budget; when none fits, the
//! error names the smallest arena reached and what sets it. Knobs the user set with a flag
//! (`--micro-batch`, `--attention`, `--conv`, `--workspace-cap`, `--schedule`, `--no-inplace`,
//! `--workspace`) are fixed constraints ([`Fixed`]): only the others are searched, and the
//! report and the error list the fixed ones.
//!
//! Cost model (a fixed preference order, fastest first): micro-batching is the outermost knob,
//! so every setting of the others is tried with the whole batch before any is tried with 2
//! slices, and so on (each extra slice dispatches every kernel of the network once more, on a
//! smaller share of the work, while the other knobs change some ops only); only slice counts
//! that shrink the largest slice are tried (for a batch of 8: 1, 2, 3, 4, 8). Within a slice
//! count, materialized attention before tiled, then conv `im2col`, `auto` with the default
//! tile, `auto` with a 16 KiB and a 4 KiB cap, then `direct` (im2col is a GEMM, the direct
//! kernel is slower); the `program` schedule before `auto` (scheduling costs planning time
//! only); in-place reuse and the workspace policy cost nothing at run time, so for each of the
//! costed settings they are tried in the order (in-place on, planned), (on, grouped),
//! (on, global), (off, planned).
//! Settings that give the same graph as an earlier one (no attention or no conv ops) are skipped.

use crate::analysis::WorkspacePolicy;
use crate::graph::conv::{self, ConvMode};
use crate::graph::{AttentionKernel, Graph, GraphError};
use crate::pipeline::{PlanConfig, PlannedGraph, plan_graph};
use crate::plan::{PlanError, memory_curve};
use crate::report::{BudgetSection, human_bytes};
use crate::schedule::Scheduler;
use crate::transform::micro_batch::{MicroBatchError, batch_of, micro_batch, useful_slice_counts};
use std::time::Instant;
use thiserror::Error;

/// The conv settings in preference order: (mode, im2col workspace cap; `None` = default tile).
const CONV_ORDER: [(ConvMode, Option<u64>); 5] = [
    (ConvMode::Im2col, None),
    (ConvMode::Auto, None),
    (ConvMode::Auto, Some(16 * 1024)),
    (ConvMode::Auto, Some(4 * 1024)),
    (ConvMode::Direct, None),
];

/// The free settings (in-place, workspace policy) in the order they are tried.
const FREE_ORDER: [(bool, WorkspacePolicy); 4] = [
    (true, WorkspacePolicy::Planned),
    (true, WorkspacePolicy::Grouped),
    (true, WorkspacePolicy::Global),
    (false, WorkspacePolicy::Planned),
];

/// Why a budget search failed.
#[derive(Debug, Error)]
pub enum BudgetError {
    /// No configuration tried has an arena within the budget.
    #[error(
        "budget {} cannot be met: the smallest arena reached is {} ({settings}); its lower bound (largest live set) is {} at step {step}; weights ({}) are a separate region, not in the arena ({searched} configurations planned{fixed})",
        human_bytes(*.requested),
        human_bytes(*.smallest),
        human_bytes(*.bound),
        human_bytes(*.weights)
    )]
    NotMet {
        /// The budget, bytes.
        requested: u64,
        /// The smallest planned arena reached, bytes.
        smallest: u64,
        /// The settings that reached it.
        settings: String,
        /// That configuration's lower bound (its largest live set), bytes.
        bound: u64,
        /// The step where that live set peaks.
        step: u64,
        /// The weights' bytes (a region of the buffer outside the arena).
        weights: u64,
        /// How many configurations were planned, and whether the time limit stopped the search.
        searched: String,
        /// `; fixed by flags: ...` naming the knobs the flags fixed, or empty.
        fixed: String,
    },
    /// Planning failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The graph is invalid.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The graph cannot be micro-batched as `--micro-batch` asks.
    #[error(transparent)]
    MicroBatch(#[from] MicroBatchError),
}

/// Knobs the user fixed with flags; `None` leaves a knob to the search.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fixed {
    /// `--micro-batch K`.
    pub micro_batch: Option<usize>,
    /// `--attention`.
    pub attention: Option<AttentionKernel>,
    /// `--conv`.
    pub conv: Option<ConvMode>,
    /// `--workspace-cap BYTES`.
    pub conv_cap: Option<u64>,
    /// `--schedule`.
    pub schedule: Option<Scheduler>,
    /// `--no-inplace` (fixes in-place reuse off).
    pub in_place: Option<bool>,
    /// `--workspace`.
    pub workspace: Option<WorkspacePolicy>,
}

impl Fixed {
    /// The fixed knobs in words, one per knob (`micro-batch 2`, `schedule program`, ...).
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut put = |name: &str, v: Option<String>| out.extend(v.map(|v| format!("{name} {v}")));
        put("micro-batch", self.micro_batch.map(|k| k.to_string()));
        put("attention", self.attention.map(|a| a.name().into()));
        put("conv", self.conv.map(|c| conv_name(c).into()));
        put("workspace cap", self.conv_cap.map(human_bytes));
        put("schedule", self.schedule.map(|s| s.name().into()));
        put(
            "in-place",
            self.in_place.map(|on| if on { "on" } else { "off" }.into()),
        );
        put("workspace", self.workspace.map(|w| w.name().into()));
        out
    }

    /// The slice counts to try for `model`: the fixed one, else the useful ones (just 1 for a
    /// graph without a batch to slice).
    fn slice_counts(&self, model: &Graph) -> Vec<usize> {
        match (self.micro_batch, batch_of(model)) {
            (Some(k), _) => vec![k],
            (None, Some((batch, _))) => useful_slice_counts(batch),
            (None, None) => vec![1],
        }
    }

    /// The conv settings to try, in preference order, as the flags allow.
    fn conv_order(&self) -> Vec<(ConvMode, Option<u64>)> {
        let mut out: Vec<(ConvMode, Option<u64>)> = Vec::new();
        for (mode, cap) in CONV_ORDER {
            let c = (mode, self.conv_cap.or(cap));
            if self.conv.is_none_or(|m| m == mode) && !out.contains(&c) {
                out.push(c);
            }
        }
        out
    }

    /// The free settings to try, in order, as the flags allow.
    fn free_order(&self) -> Vec<(bool, WorkspacePolicy)> {
        let ok = |&(i, w): &(bool, WorkspacePolicy)| {
            self.in_place.is_none_or(|x| x == i) && self.workspace.is_none_or(|x| x == w)
        };
        let out: Vec<_> = FREE_ORDER.into_iter().filter(ok).collect();
        if out.is_empty() {
            let i = self.in_place.unwrap_or(true);
            vec![(i, self.workspace.unwrap_or(WorkspacePolicy::Planned))]
        } else {
            out
        }
    }

    /// The schedules to try, in order.
    fn schedules(&self) -> Vec<Scheduler> {
        match self.schedule {
            Some(s) => vec![s],
            None => vec![Scheduler::Program, Scheduler::Auto],
        }
    }
}

/// A conv mode's command-line name.
fn conv_name(mode: ConvMode) -> &'static str {
    match mode {
        ConvMode::Im2col => "im2col",
        ConvMode::Direct => "direct",
        ConvMode::Auto => "auto",
    }
}

/// One configuration of the knobs.
#[derive(Clone, Debug, PartialEq)]
pub struct Knobs {
    /// Attention kernel of every attention node.
    pub attention: AttentionKernel,
    /// Conv lowering mode.
    pub conv: ConvMode,
    /// Largest im2col workspace of one conv op (`None`: the default tile).
    pub conv_cap: Option<u64>,
    /// Execution order.
    pub schedule: Scheduler,
    /// In-place reuse.
    pub in_place: bool,
    /// Workspace policy.
    pub workspace: WorkspacePolicy,
    /// Micro-batch slices (1: the whole batch at once).
    pub micro_batch: usize,
}

impl Knobs {
    /// The settings in words, e.g. `schedule auto, conv direct, attention tiled, in-place on,
    /// workspace planned, micro-batch 2`.
    pub fn describe(&self) -> String {
        let conv = match (self.conv, self.conv_cap) {
            (ConvMode::Auto, Some(c)) | (ConvMode::Im2col, Some(c)) => {
                format!("{}, cap {}", conv_name(self.conv), human_bytes(c))
            }
            (mode, _) => conv_name(mode).to_string(),
        };
        format!(
            "schedule {}, conv {conv}, attention {}, in-place {}, workspace {}, micro-batch {}",
            self.schedule.name(),
            self.attention.name(),
            if self.in_place { "on" } else { "off" },
            self.workspace.name(),
            self.micro_batch
        )
    }
}

/// The configuration found: its graph (attention and conv choices applied), config and plan.
#[derive(Debug)]
pub struct BudgetChoice {
    /// The graph with the chosen attention kernel and conv methods.
    pub graph: Graph,
    /// The chosen planning config.
    pub cfg: PlanConfig,
    /// The chosen knobs.
    pub knobs: Knobs,
    /// The plan of `graph` under `cfg`; its arena is within the budget.
    pub planned: PlannedGraph,
    /// The report's `budget` section.
    pub section: BudgetSection,
}

/// A graph with its attention kernel, conv mode and conv cap applied.
type Costed = (Graph, AttentionKernel, ConvMode, Option<u64>);

/// The attention kernels worth trying for `graph`, in preference order, as the flags allow.
fn attention_order(graph: &Graph, fixed: &Fixed) -> Vec<AttentionKernel> {
    if let Some(k) = fixed.attention {
        vec![k]
    } else if graph.attention_summary() == "none" {
        vec![AttentionKernel::Tiled]
    } else {
        vec![AttentionKernel::Materialized, AttentionKernel::Tiled]
    }
}

/// Every distinct graph the attention and conv settings give, in preference order, each with
/// its (attention, conv, cap); settings a conv op cannot be lowered under are left out.
fn costed_graphs(model: &Graph, fixed: &Fixed) -> Result<Vec<Costed>, GraphError> {
    let mut out: Vec<Costed> = Vec::new();
    for kernel in attention_order(model, fixed) {
        let mut g = model.clone();
        g.set_attention_kernel(kernel)?;
        for (mode, cap) in fixed.conv_order() {
            let Ok(c) = conv::choose(&g, mode, cap) else {
                continue;
            };
            let same = |o: &Costed| o.1 == kernel && conv::choices(&o.0) == conv::choices(&c);
            if !out.iter().any(same) {
                out.push((c, kernel, mode, cap));
            }
        }
    }
    Ok(out)
}

/// The step where `p`'s live bytes peak (its lower bound).
fn peak_step(p: &PlannedGraph) -> u64 {
    memory_curve(&p.analysis.problem)
        .iter()
        .max_by_key(|&&(t, live)| (live, std::cmp::Reverse(t)))
        .map_or(0, |&(t, _)| t)
}

/// Searches for the first configuration in the preference order (module doc) whose planned
/// arena is at most `budget` bytes, every knob searched; see [`search_with`].
pub fn search(model: &Graph, base: &PlanConfig, budget: u64) -> Result<BudgetChoice, BudgetError> {
    search_with(model, base, budget, &Fixed::default())
}

/// Searches the knobs `fixed` leaves open, in the preference order (module doc), for the first
/// configuration whose planned arena is at most `budget` bytes; `base` gives the planner and
/// the alignment, and its time limit bounds each plan and the whole search (checked after each
/// plan). `model` is the model's graph (its attention kernels and conv methods are overridden).
/// A fixed slice count the graph cannot be cut into is an error; a searched one is skipped.
pub fn search_with(
    model: &Graph,
    base: &PlanConfig,
    budget: u64,
    fixed: &Fixed,
) -> Result<BudgetChoice, BudgetError> {
    let mut s = Search {
        base,
        budget,
        fixed,
        started: Instant::now(),
        tried: 0,
        smallest: None,
    };
    for k in fixed.slice_counts(model) {
        let sliced = match micro_batch(model, k) {
            Ok(g) => g,
            Err(e) if fixed.micro_batch.is_some() => return Err(e.into()),
            Err(_) => continue,
        };
        for (graph, attention, conv, conv_cap) in costed_graphs(&sliced, fixed)? {
            for schedule in fixed.schedules() {
                for (in_place, workspace) in fixed.free_order() {
                    let knobs = Knobs {
                        attention,
                        conv,
                        conv_cap,
                        schedule,
                        in_place,
                        workspace,
                        micro_batch: k,
                    };
                    if let Some(found) = s.try_knobs(&graph, knobs)? {
                        return Ok(found);
                    }
                }
            }
        }
    }
    let searched = format!("all {}", s.tried);
    Err(not_met(budget, s.smallest, searched, fixed))
}

/// The search in progress.
struct Search<'a> {
    base: &'a PlanConfig,
    budget: u64,
    fixed: &'a Fixed,
    started: Instant,
    tried: usize,
    smallest: Option<(PlannedGraph, Knobs)>,
}

impl Search<'_> {
    /// Plans `graph` under `knobs`: `Some` when it fits, `None` to go on, an error when the
    /// time limit stops the search.
    fn try_knobs(
        &mut self,
        graph: &Graph,
        knobs: Knobs,
    ) -> Result<Option<BudgetChoice>, BudgetError> {
        let mut cfg = self.base.clone();
        cfg.schedule = knobs.schedule;
        cfg.analysis.in_place = knobs.in_place;
        cfg.analysis.workspace = knobs.workspace;
        let mut planned = plan_graph(graph, &cfg)?;
        planned.micro_batch = knobs.micro_batch;
        self.tried += 1;
        let arena = planned.outcome.plan.arena_bytes;
        if arena <= self.budget {
            let section = BudgetSection {
                requested_bytes: self.budget,
                met: true,
                configurations_tried: self.tried,
                chosen: knobs.describe(),
                search_ms: self.started.elapsed().as_secs_f64() * 1e3,
                fixed: self.fixed.describe(),
            };
            return Ok(Some(BudgetChoice {
                graph: graph.clone(),
                cfg,
                knobs,
                planned,
                section,
            }));
        }
        if self
            .smallest
            .as_ref()
            .is_none_or(|(s, _)| arena < s.outcome.plan.arena_bytes)
        {
            self.smallest = Some((planned, knobs));
        }
        if self.started.elapsed() > self.base.budget.time_limit {
            let searched = format!("search stopped at the time limit after {}", self.tried);
            return Err(not_met(
                self.budget,
                self.smallest.take(),
                searched,
                self.fixed,
            ));
        }
        Ok(None)
    }
}

/// The error for a budget nothing met, from the smallest plan reached.
/// `searched` says how many configurations were planned ("all 32", "search stopped ... after 5");
/// the knobs `fixed` by flags are named after it.
fn not_met(
    budget: u64,
    smallest: Option<(PlannedGraph, Knobs)>,
    searched: String,
    fixed: &Fixed,
) -> BudgetError {
    let f = fixed.describe();
    let fixed = if f.is_empty() {
        String::new()
    } else {
        format!("; fixed by flags: {}", f.join(", "))
    };
    let (arena, settings, bound, step, weights) = match &smallest {
        Some((p, k)) => (
            p.outcome.plan.arena_bytes,
            k.describe(),
            p.lower_bound,
            peak_step(p),
            p.analysis.weights_bytes,
        ),
        None => (0, "no configuration could be planned".into(), 0, 0, 0),
    };
    BudgetError::NotMet {
        requested: budget,
        smallest: arena,
        settings,
        bound,
        step,
        weights,
        searched,
        fixed,
    }
}
