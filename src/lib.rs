//! tessera: run tensor graphs on any GPU through wgpu inside one device buffer laid out ahead of
//! time by a static memory planner, then measure what the device really used.
//!
//! The pipeline runs one way: [`graph`] -> [`analysis`] -> [`plan`] -> [`layout`] -> [`runtime`]
//! -> [`report`]. [`cpu`] is the reference backend; [`models`] builds the demo graphs.

pub mod analysis;
pub mod cpu;
pub mod execute;
pub mod graph;
pub mod layout;
pub mod models;
pub mod pipeline;
pub mod plan;
pub mod report;
pub mod runtime;
