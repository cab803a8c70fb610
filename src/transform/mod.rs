//! Graph-to-graph rewrites that run after the model is built and before the schedule stage
//! (DESIGN.md's `transform`): each takes a graph and returns a new, validated one.

pub mod micro_batch;
