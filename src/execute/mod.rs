//! Executing a planned graph: on the GPU inside the one buffer, and on the CPU reference; the
//! comparison and the device measurements become a [`RunReport`].

mod clobber;

pub use clobber::{Clobber, ClobberReport, clobber_check};

use crate::cpu::{self, CpuError, TensorData};
use crate::graph::Graph;
use crate::pipeline::{PlanConfig, PlannedGraph};
use crate::report::{
    AdapterReport, BaselineReport, CorrectnessSection, MeasuredSection, PlanSection, RunReport,
    TimingSection, ValidateSection, Variant,
};
use crate::runtime::{Baseline, Gpu, OutputData, RuntimeError, measure_compile, run_baseline};
use std::time::Instant;
use thiserror::Error;

/// Scaled error above which a GPU result is wrong: `max|gpu - cpu| / max(1, max|cpu|)`.
pub const TOLERANCE: f64 = 1e-4;

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
    /// Run the clobber check and the sentinel high-water scan.
    pub validate: bool,
    /// Also execute the allocation baselines (naive-static, naive-dynamic, buddy) on the device.
    pub baselines: bool,
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
        }
    }
}

/// Runs `planned` on `gpu` (or only on the CPU when `gpu` is `None`) and measures it. `graph`
/// must be `planned.graph` (the scheduled graph its layout describes), or this fails.
pub fn execute(
    graph: &Graph,
    planned: &PlannedGraph,
    gpu: Option<&Gpu>,
    opts: ExecuteOptions,
) -> Result<Execution, ExecuteError> {
    if graph.nodes != planned.graph.nodes {
        return Err(ExecuteError::GraphMismatch);
    }
    let cpu_start = Instant::now();
    let reference = cpu::run_outputs(graph)?;
    let cpu_ms = cpu_start.elapsed().as_secs_f64() * 1e3;
    let mut measured = MeasuredSection::default();
    let mut timings = TimingSection {
        plan_ms: planned.plan_ms,
        cpu_ms,
        ..Default::default()
    };
    let mut baselines: Vec<BaselineReport> = Vec::new();
    let mut validate = ValidateSection {
        clobber_check: "skipped".into(),
        detail: None,
    };
    let (adapter, correctness) = match gpu {
        None => (
            AdapterReport {
                name: "cpu-reference (no GPU adapter)".into(),
                backend: "none".into(),
                device_type: "none".into(),
            },
            CorrectnessSection {
                max_abs_err: None,
                max_ref_abs: max_abs(&reference),
                scaled_err: None,
                passed: true,
            },
        ),
        Some(gpu) => {
            let s = gpu.summary();
            let adapter = AdapterReport {
                name: s.name.clone(),
                backend: s.backend.clone(),
                device_type: s.device_type.clone(),
            };
            let t = Instant::now();
            let (compiled, bytes) = measure_compile(gpu, graph, &planned.layout)?;
            timings.compile_ms = Some(t.elapsed().as_secs_f64() * 1e3);
            measured.device_peak_bytes = bytes.delta_allocated.map(|d| d.max(0) as u64);
            measured.device_reserved_bytes = bytes.after.map(|a| a.reserved);
            measured.buffer_bytes = Some(compiled.buffer_bytes());
            measured.params_bytes = Some(compiled.params_bytes());
            measured.arena_measured_bytes = measured
                .device_peak_bytes
                .map(|d| d.saturating_sub(planned.layout.weights_bytes + compiled.params_bytes()));
            let out = compiled.run(gpu)?;
            timings.run_ms = Some(out.wall_ms);
            if opts.validate {
                let c = clobber_check(gpu, &compiled, graph, &planned.layout)?;
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
                measured.high_water_bytes = Some(hw);
                let ok = hw <= planned.outcome.plan.arena_bytes;
                validate.detail = Some(format!(
                    "{clobber_detail}; sentinel high-water {hw} bytes vs planned arena {} bytes: {}",
                    planned.outcome.plan.arena_bytes,
                    if ok {
                        "within the plan"
                    } else {
                        "BEYOND the plan"
                    }
                ));
            }
            if opts.baselines {
                for which in Baseline::ALL {
                    let b = run_baseline(gpu, graph, which)?;
                    if which == Baseline::NaiveDynamic {
                        measured.naive_dynamic_peak_bytes = b.peak_allocated_bytes;
                    }
                    baselines.push(BaselineReport {
                        name: which.name().to_string(),
                        measured_peak_bytes: b.peak_allocated_bytes,
                        requested_peak_bytes: b.requested_peak_bytes,
                        held_peak_bytes: b.held_peak_bytes,
                        internal_fragmentation_bytes: b.internal_fragmentation_bytes,
                        run_ms: b.wall_ms,
                        outputs_equal_planned: b.outputs == out.outputs,
                    });
                }
            }
            let c = compare(&out.outputs, &reference);
            let scaled = c.scaled();
            (
                adapter,
                CorrectnessSection {
                    max_abs_err: Some(c.max_abs_err),
                    max_ref_abs: c.max_ref_abs,
                    scaled_err: Some(scaled),
                    passed: scaled <= TOLERANCE,
                },
            )
        }
    };
    Ok(Execution {
        adapter,
        measured,
        validate,
        correctness,
        timings,
        baselines,
    })
}
