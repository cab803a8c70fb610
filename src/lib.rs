//! tessera: run tensor graphs on any GPU through wgpu inside one device buffer laid out ahead of
//! time by a static memory planner, then measure what the device really used.
//!
//! The pipeline runs one way: [`graph`] -> [`schedule`] -> [`analysis`] -> [`plan`] ->
//! [`layout`] -> [`runtime`] -> [`report`]. [`cpu`] is the reference backend; [`models`] builds
//! the demo graphs; [`pipeline`] and [`execute`] tie the stages together; [`bytes`] holds the
//! checked size arithmetic they share.
//!
//! Planning needs no GPU:
//!
//! ```
//! use tessera::models::{build, ModelOptions};
//! use tessera::pipeline::{plan_graph, PlanConfig};
//! use tessera::plan::validate;
//!
//! let graph = build("gpt", &ModelOptions::default())?;
//! let planned = plan_graph(&graph, &PlanConfig::default())?;
//! // Every plan is validated and never below the max-load lower bound.
//! validate(&planned.analysis.problem, &planned.outcome.plan)?;
//! assert!(planned.outcome.plan.arena_bytes >= planned.lower_bound);
//! assert!(planned.outcome.plan.arena_bytes < planned.analysis.naive_static_bytes);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Running it on a GPU is `runtime::Gpu::new()`, then `execute::execute(&planned.graph, &planned,
//! Some(&gpu), Default::default())`, which also checks the result against the CPU reference.

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
pub mod report;
pub mod runtime;
pub mod schedule;
