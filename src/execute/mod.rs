//! Executing a planned graph: on the GPU inside the one buffer, and on the CPU reference; the
//! comparison and the device measurements become a [`RunReport`].
//!
//! An f16 graph is compared twice ([`crate::analysis::precision`]): with the f32 reference (the
//! same f16-rounded inputs and weights, activations in f32; threshold derived from f16's unit
//! roundoff and the graph's depth) and with the f16 reference (the same rounding at every tensor
//! boundary; a much tighter threshold). Both must pass.

mod clobber;
mod train;

pub use clobber::{Clobber, ClobberReport, clobber_check};
pub use train::{TrainSpec, TrainingRun};

use crate::analysis::precision::{ErrorBound, f16_error_bound};
use crate::cpu::{self, CpuError, TensorData};
use crate::graph::{DType, Graph};
use crate::pipeline::{PlanConfig, PlannedGraph};
use crate::report::{
    AdapterReport, BaselineReport, CorrectnessSection, MeasuredSection, PlanSection,
    ReferenceCheck, RunReport, TimingSection, ValidateSection, Variant,
};
use crate::runtime::{
    Baseline, Gpu, GuardViolation, OutputData, RunOutput, RuntimeError, compile, measure_compile,
    run_baseline,
};
use std::time::Instant;
use thiserror::Error;

/// Scaled error above which a GPU result of an f32 graph is wrong:
/// `max|gpu - cpu| / max(1, max|cpu|)` (f16 graphs derive theirs, [`crate::analysis::precision`]).
pub const TOLERANCE: f64 = crate::analysis::precision::F32_TOLERANCE;

/// Why an execution failed.
#[derive(Debug, Error)]
pub enum ExecuteError {
    /// The CPU reference failed.
    #[error(transparent)]
    Cpu(#[from] CpuError),
    /// The GPU runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The graph given is not the one the plan was made for (e.g. the caller's order instead
    /// of the scheduled graph, `PlannedGraph::graph`).
    #[error(
        "the graph to execute differs from the planned (scheduled) graph; pass PlannedGraph::graph"
    )]
    GraphMismatch,
}

/// The result of comparing outputs with the reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Comparison {
    /// Max absolute difference.
    pub max_abs_err: f64,
    /// Max absolute reference value.
    pub max_ref_abs: f64,
}

impl Comparison {
    /// `max_abs_err / max(1, max_ref_abs)`.
    pub fn scaled(&self) -> f64 {
        self.max_abs_err / self.max_ref_abs.max(1.0)
    }
}

/// Compares device outputs with reference outputs element by element. A length or dtype
/// mismatch counts as an infinite error.
pub fn compare(gpu: &[OutputData], reference: &[TensorData]) -> Comparison {
    let mut c = Comparison {
        max_abs_err: 0.0,
        max_ref_abs: 0.0,
    };
    if gpu.len() != reference.len() {
        c.max_abs_err = f64::INFINITY;
        return c;
    }
    for (g, r) in gpu.iter().zip(reference) {
        let gw = &g.words;
        let len = match r {
            TensorData::F32(v) => v.len(),
            TensorData::U32(v) => v.len(),
        };
        if gw.len() != len {
            c.max_abs_err = f64::INFINITY;
            continue;
        }
        match r {
            TensorData::F32(rv) => {
                for (&w, &x) in gw.iter().zip(rv) {
                    let d = (f64::from(f32::from_bits(w)) - f64::from(x)).abs();
                    c.max_abs_err = c
                        .max_abs_err
                        .max(if d.is_nan() { f64::INFINITY } else { d });
                    c.max_ref_abs = c.max_ref_abs.max(f64::from(x).abs());
                }
            }
            TensorData::U32(rv) => {
                if gw != rv {
                    c.max_abs_err = f64::INFINITY;
                }
            }
        }
    }
    c
}

fn max_abs(reference: &[TensorData]) -> f64 {
    reference
        .iter()
        .filter_map(TensorData::as_f32)
        .flatten()
        .fold(0.0f64, |m, &x| m.max(f64::from(x).abs()))
}

/// Options for [`execute`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ExecuteOptions {
    /// Run the clobber check (node by node, also naming the node of any out-of-plan write) and
    /// the arena's touched-extent scan. The guard check runs either way.
    pub validate: bool,
    /// Also execute the allocation baselines ([`Baseline::ALL`]) on the device.
    pub baselines: bool,
    /// A training graph: run this many steps (weights updated in place) and the forward pass
    /// after them; the CPU reference takes the same steps, and `correctness` compares the last
    /// step's outputs. Validation then runs on a fresh copy of the compiled graph (initial
    /// weights), and the baselines run one step each against the first step's outputs.
    pub training: Option<TrainSpec>,
}

/// What one execution measured; with the plan section it makes a [`RunReport`].
#[derive(Clone, Debug)]
pub struct Execution {
    /// The adapter used.
    pub adapter: AdapterReport,
    /// Device measurements.
    pub measured: MeasuredSection,
    /// Plan validation on the device.
    pub validate: ValidateSection,
    /// Agreement with the CPU reference.
    pub correctness: CorrectnessSection,
    /// Timings.
    pub timings: TimingSection,
    /// Allocation baselines executed on the device.
    pub baselines: Vec<BaselineReport>,
    /// The training steps ([`ExecuteOptions::training`]).
    pub training: Option<TrainingRun>,
}

impl Execution {
    /// Combines this execution with the plan into the full report.
    pub fn into_report(
        self,
        model: &str,
        options: Vec<(String, usize)>,
        cfg: &PlanConfig,
        plan: PlanSection,
        variants: Vec<Variant>,
    ) -> RunReport {
        RunReport {
            model: model.to_string(),
            options,
            adapter: self.adapter,
            planner: cfg.planner.clone(),
            plan,
            measured: self.measured,
            validate: self.validate,
            correctness: self.correctness,
            timings: self.timings,
            variants,
            baselines: self.baselines,
            budget: None,
            training: None,
            compute: None,
        }
    }
}

/// The CPU references a device run is compared with: `f32` always (for an f16 graph, the f32
/// reference of it), and for an f16 graph also the f16 reference with its error bound.
struct References {
    f32: Vec<TensorData>,
    f16: Option<(Vec<TensorData>, ErrorBound)>,
}

impl References {
    /// The references of `graph` whose own CPU evaluation (or last training step) is
    /// `reference`: an f16 graph is also evaluated with its activations kept in f32.
    fn new(graph: &Graph, reference: Vec<TensorData>, training: bool) -> Result<Self, CpuError> {
        if training || !graph.tensors.iter().any(|t| t.dtype == DType::F16) {
            return Ok(References {
                f32: reference,
                f16: None,
            });
        }
        Ok(References {
            f32: cpu::run_outputs_f32(graph)?,
            f16: Some((reference, f16_error_bound(graph))),
        })
    }

    /// The correctness section for the device's outputs (`None`: no GPU ran).
    fn section(&self, gpu: Option<&[OutputData]>) -> CorrectnessSection {
        let check = |reference: &[TensorData], threshold: f64| match gpu {
            Some(out) => {
                let c = compare(out, reference);
                let scaled = c.scaled();
                (
                    Some(c.max_abs_err),
                    c.max_ref_abs,
                    Some(scaled),
                    scaled <= threshold,
                )
            }
            None => (None, max_abs(reference), None, true),
        };
        let (threshold, derivation) = match &self.f16 {
            Some((_, b)) => (b.threshold, b.derivation()),
            None => (
                TOLERANCE,
                "fixed f32 tolerance 1e-4 of scale (f32 storage)".to_string(),
            ),
        };
        let f16_reference = self.f16.as_ref().map(|(r, b)| {
            let (max_abs_err, max_ref_abs, scaled_err, passed) = check(r, b.f16_threshold);
            ReferenceCheck {
                reference_dtype: "f16".into(),
                max_abs_err,
                max_ref_abs,
                scaled_err,
                threshold: b.f16_threshold,
                passed,
            }
        });
        let (max_abs_err, max_ref_abs, scaled_err, passed) = check(&self.f32, threshold);
        CorrectnessSection {
            max_abs_err,
            max_ref_abs,
            scaled_err,
            passed: passed && f16_reference.as_ref().is_none_or(|c| c.passed),
            reference_dtype: "f32".into(),
            threshold,
            threshold_derivation: derivation,
            f16_reference,
        }
    }
}

/// The adapter section of a run without a GPU.
fn cpu_adapter() -> AdapterReport {
    AdapterReport {
        name: "cpu-reference (no GPU adapter)".into(),
        backend: "none".into(),
        device_type: "none".into(),
        f16_storage: None,
    }
}

/// What the planned run on the device produced, before the CPU reference runs.
struct DeviceRun {
    out: RunOutput,
    /// Steps 2..=N and the loss after them ([`ExecuteOptions::training`]).
    steps: Option<train::DeviceSteps>,
    measured: MeasuredSection,
    validate: ValidateSection,
    compile_ms: f64,
}

/// One line for `validate.guard_check`: `passed`, or the first out-of-plan write found
/// (preferring one that names its node) and how many more bands were written.
fn guard_verdict(found: &[GuardViolation]) -> String {
    let first = found.iter().find(|v| v.node.is_some()).or(found.first());
    match first {
        None => "passed".into(),
        Some(v) if found.len() > 1 => format!("{v} (and {} more)", found.len() - 1),
        Some(v) => v.to_string(),
    }
}

/// Compiles `planned` on `gpu` (every device limit is checked there), runs it once, checks the
/// guard bands, and with `opts.validate` (or after a guard failure, to name the node) runs the
/// node-by-node clobber check; with `opts.validate` also the touched-extent scan.
fn run_on_device(
    gpu: &Gpu,
    graph: &Graph,
    planned: &PlannedGraph,
    opts: ExecuteOptions,
) -> Result<DeviceRun, ExecuteError> {
    let t = Instant::now();
    let (compiled, bytes) = measure_compile(gpu, graph, &planned.layout)?;
    let compile_ms = t.elapsed().as_secs_f64() * 1e3;
    let out = compiled.run(gpu)?;
    let steps = match opts.training {
        Some(spec) => Some(train::device_steps(gpu, &compiled, &out, spec)?),
        None => None,
    };
    let mut found = compiled.check_guards(gpu)?;
    let mut peak = steps.as_ref().map_or(out.device_peak, |s| s.peak);
    // The steps rewrote the weights: validate a fresh copy that starts from the initial ones.
    let fresh = match opts.training {
        Some(_) if opts.validate || !found.is_empty() => {
            Some(compile(gpu, graph, &planned.layout)?)
        }
        _ => None,
    };
    let compiled = fresh.as_ref().unwrap_or(&compiled);
    let mut validate = ValidateSection {
        clobber_check: "skipped".into(),
        guard_check: String::new(),
        detail: None,
    };
    let mut measured = MeasuredSection::default();
    if opts.validate || !found.is_empty() {
        let c = clobber_check(gpu, compiled, graph, &planned.layout)?;
        peak = match (peak, c.device_peak) {
            (Some(a), Some(b)) => Some(a.peak_with(b)),
            (a, b) => a.or(b),
        };
        found.extend(c.guard_failure.clone());
        if opts.validate {
            validate.clobber_check = if c.failure.is_some() {
                "failed"
            } else {
                "passed"
            }
            .into();
            let clobber_detail = match &c.failure {
                Some(f) => format!("clobbered: {f}"),
                None => format!(
                    "{} nodes, {} tensor checks, no live tensor changed",
                    c.nodes_checked, c.tensor_checks
                ),
            };
            let hw = compiled.high_water(gpu)?;
            found.extend(compiled.check_guards(gpu)?);
            measured.high_water_bytes = Some(hw);
            validate.detail = Some(format!(
                "{clobber_detail}; arena touched extent {hw} of {} planned bytes",
                planned.outcome.plan.arena_bytes
            ));
        }
    }
    validate.guard_check = guard_verdict(&found);
    let buffer = bytes.buffer;
    measured.arena_device_bytes = buffer.map(|d| d.allocated);
    measured.arena_device_reserved_bytes = buffer.map(|d| d.reserved);
    let run_peak = peak.zip(bytes.before).map(|(p, b)| p.since(&b));
    measured.device_peak_bytes = run_peak.map(|d| d.allocated);
    measured.device_peak_reserved_bytes = run_peak.map(|d| d.reserved);
    measured.buffer_bytes = Some(compiled.buffer_bytes());
    measured.guard_bytes = Some(compiled.guard_bands().iter().map(|g| g.bytes).sum());
    measured.params_bytes = Some(compiled.params_bytes());
    if compiled.staging_bytes() > 0 {
        measured.staging_bytes = Some(compiled.staging_bytes());
        measured.staging_device_bytes = compiled.staging_alloc().map(|d| d.allocated);
    }
    Ok(DeviceRun {
        out,
        steps,
        measured,
        validate,
        compile_ms,
    })
}

/// Runs `planned` on `gpu` (or only on the CPU when `gpu` is `None`) and measures it. `graph`
/// must be `planned.graph` (the scheduled graph its layout describes), or this fails. The device
/// work (compile, with every device limit checked, run and validation) comes first, so a graph
/// the device cannot hold is refused before the CPU reference spends time and host memory.
pub fn execute(
    graph: &Graph,
    planned: &PlannedGraph,
    gpu: Option<&Gpu>,
    opts: ExecuteOptions,
) -> Result<Execution, ExecuteError> {
    if graph.nodes != planned.graph.nodes {
        return Err(ExecuteError::GraphMismatch);
    }
    let device = match gpu {
        Some(gpu) => Some((gpu, run_on_device(gpu, graph, planned, opts)?)),
        None => None,
    };
    let cpu_start = Instant::now();
    let ref_steps = match opts.training {
        Some(spec) => Some(train::reference_steps(graph, spec)?),
        None => None,
    };
    let reference = match &ref_steps {
        Some(r) => r.last.clone(),
        None => cpu::run_outputs(graph)?,
    };
    let references = References::new(graph, reference, ref_steps.is_some())?;
    let cpu_ms = train::ms_since(cpu_start);
    let mut training = None;
    let mut timings = TimingSection {
        plan_ms: planned.plan_ms,
        cpu_ms,
        ..Default::default()
    };
    let mut baselines: Vec<BaselineReport> = Vec::new();
    let mut validate = ValidateSection {
        clobber_check: "skipped".into(),
        guard_check: "skipped".into(),
        detail: None,
    };
    let mut measured = MeasuredSection::default();
    let device_missing = device.is_none();
    let (adapter, correctness) = match device {
        None => (cpu_adapter(), references.section(None)),
        Some((gpu, run)) => {
            let s = gpu.summary();
            let adapter = AdapterReport {
                name: s.name.clone(),
                backend: s.backend.clone(),
                device_type: s.device_type.clone(),
                f16_storage: Some(gpu.f16_storage().name().to_string()),
            };
            timings.compile_ms = Some(run.compile_ms);
            timings.run_ms = Some(run.out.wall_ms);
            (measured, validate) = (run.measured, run.validate);
            let out = run.out;
            if opts.baselines {
                for which in Baseline::ALL {
                    let b = run_baseline(gpu, graph, which)?;
                    if which == Baseline::NaiveDynamic {
                        measured.naive_dynamic_peak_bytes = b.peak_allocated_bytes;
                    }
                    baselines.push(BaselineReport {
                        name: which.name().to_string(),
                        reserved_peak_bytes: b.reserved_bytes,
                        segments: b.segments,
                        measured_peak_bytes: b.peak_allocated_bytes,
                        requested_peak_bytes: b.requested_peak_bytes,
                        held_peak_bytes: b.held_peak_bytes,
                        internal_fragmentation_bytes: b.internal_fragmentation_bytes,
                        run_ms: b.wall_ms,
                        outputs_equal_planned: b.outputs == out.outputs,
                        measured_samples_bytes: b.samples,
                    });
                }
            }
            if let Some(r) = &ref_steps {
                training = Some(train::training_run(run.steps.as_ref(), r));
            }
            let last = run.steps.as_ref().map_or(&out.outputs, |s| &s.last.outputs);
            (adapter, references.section(Some(last)))
        }
    };
    if device_missing && let Some(r) = &ref_steps {
        training = Some(train::training_run(None, r));
    }
    Ok(Execution {
        adapter,
        measured,
        validate,
        correctness,
        timings,
        baselines,
        training,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{GraphBuilder, Init, Op, TensorId, UnaryOp};
    use crate::transform::precision::cast_floats;

    /// A small f16 graph: x [4, 9] -> linear -> gelu.
    fn graph() -> Graph {
        let mut b = GraphBuilder::new();
        let x = b.input(
            "x",
            &[4, 9],
            DType::F32,
            Init::Uniform {
                seed: 1,
                scale: 1.0,
            },
        );
        let w = b.weight("w", &[9, 5], 2, 0.5);
        let y = b.op("y", Op::Linear, &[x, w]).expect("linear");
        let z = b.op("z", Op::Unary(UnaryOp::Gelu), &[y]).expect("gelu");
        b.output(z);
        cast_floats(&b.build().expect("graph"), DType::F16).expect("f16")
    }

    fn device(values: &[f32]) -> Vec<OutputData> {
        vec![OutputData {
            tensor: TensorId(0),
            dtype: DType::F16,
            words: values.iter().map(|v| v.to_bits()).collect(),
        }]
    }

    #[test]
    fn an_f16_graph_is_checked_against_both_references() {
        let g = graph();
        let refs = References::new(&g, cpu::run_outputs(&g).expect("f16"), false).expect("refs");
        let (f16_ref, bound) = refs.f16.as_ref().expect("f16 graph");
        let same = f16_ref[0].as_f32().expect("floats").to_vec();
        // The device returning exactly the f16 reference passes both checks.
        let ok = refs.section(Some(&device(&same)));
        assert!(ok.passed, "{ok:?}");
        assert_eq!(ok.reference_dtype, "f32");
        assert_eq!(ok.threshold, bound.threshold);
        assert!(
            ok.threshold_derivation
                .contains("D = 2 rounding nodes deep")
        );
        let f = ok.f16_reference.as_ref().expect("f16 check");
        assert_eq!(f.max_abs_err, Some(0.0));
        // An error of twice the threshold (scale is at least 1) fails, and so does one between
        // the two thresholds against the tighter f16 reference alone.
        let off = |e: f64| {
            let mut v = same.clone();
            v[7] += e as f32;
            refs.section(Some(&device(&v)))
        };
        let bad = off(2.0 * bound.threshold);
        assert!(!bad.passed);
        let between = off((bound.threshold + bound.f16_threshold) / 2.0);
        assert!(!between.passed, "{between:?}");
        assert!(between.f16_reference.as_ref().is_some_and(|f| !f.passed));
    }

    #[test]
    fn an_f32_graph_keeps_the_fixed_tolerance() {
        let g = cast_floats(&graph(), DType::F32).expect("f32");
        let refs = References::new(&g, cpu::run_outputs(&g).expect("f32"), false).expect("refs");
        let s = refs.section(None);
        assert_eq!((s.threshold, s.f16_reference.is_none()), (TOLERANCE, true));
        assert!(s.passed && s.max_abs_err.is_none());
    }
}
