//! tessera: run tensor graphs on any GPU through wgpu inside one device buffer laid out ahead of
//! time by a static memory planner, then measure what the device really used.
//!
//! The pipeline runs one way: [`graph`] -> [`transform`] -> [`schedule`] -> [`analysis`] ->
//! [`plan`] -> [`layout`] -> [`runtime`] -> [`report`]. [`cpu`] is the reference backend;
//! [`models`] builds the demo graphs; [`pipeline`] and [`execute`] tie the stages together;
//! [`bytes`] holds the checked size arithmetic they share; [`budget`] searches the knobs for an
//! arena that fits.
//!
//! Build a graph, plan it, run it and read the report (planning needs no GPU; without an
//! adapter the run is the CPU reference alone):
//!
//! ```
//! use tessera::execute::{ExecuteOptions, execute};
//! use tessera::graph::{DType, GraphBuilder, Init};
//! use tessera::pipeline::{PlanConfig, plan_graph};
//! use tessera::plan::validate;
//! use tessera::runtime::Gpu;
//!
//! // y = relu(x @ w1) @ w2 for a batch of 5 rows of 7 features.
//! let mut b = GraphBuilder::new();
//! let x = b.input("x", &[5, 7], DType::F32, Init::Constant(0.5));
//! let w1 = b.weight("w1", &[7, 9], 1, 0.3);
//! let w2 = b.weight("w2", &[9, 3], 2, 0.3);
//! let h = b.linear("h", x, w1, None)?;
//! let h = b.relu("h_relu", h)?;
//! let y = b.linear("y", h, w2, None)?;
//! b.output(y);
//! let graph = b.build()?;
//!
//! // Plan: every plan is validated and never below the max-load lower bound.
//! let gpu = Gpu::new().ok();
//! let mut cfg = PlanConfig::default();
//! if let Some(g) = &gpu {
//!     cfg.analysis.alignment = g.min_storage_buffer_offset_alignment();
//! }
//! let planned = plan_graph(&graph, &cfg)?;
//! validate(&planned.analysis.problem, &planned.outcome.plan)?;
//! assert!(planned.outcome.plan.arena_bytes >= planned.lower_bound);
//!
//! // Run inside the one planned buffer (when there is a GPU) and compare with the CPU reference.
//! let opts = ExecuteOptions { validate: true, baselines: false, ..Default::default() };
//! let report = execute(&planned.graph, &planned, gpu.as_ref(), opts)?;
//! assert!(report.correctness.passed);
//! println!(
//!     "arena {} B (lower bound {} B) on {}: max abs err {:?}, guard check {}",
//!     planned.outcome.plan.arena_bytes,
//!     planned.lower_bound,
//!     report.adapter.name,
//!     report.correctness.max_abs_err,
//!     report.validate.guard_check,
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `examples/` has one runnable file per use: `custom_graph` (the builder), `csv_planning`
//! (minimalloc CSV files), `plan_file` (write, check and run a plan file) and `read_report` (a
//! run's report, as a value and as JSON).

#![warn(missing_docs)]

pub mod analysis;
pub mod bench;
pub mod budget;
pub mod bytes;
pub mod cpu;
pub mod execute;
pub mod graph;
pub mod layout;
pub mod models;
pub mod pipeline;
pub mod plan;
pub mod planfile;
pub mod recompute;
pub mod report;
pub mod runtime;
pub mod schedule;
pub mod transform;
