//! Graph-to-graph rewrites between the graph IR and the schedule stage (DESIGN.md's
//! `transform`), each taking a graph and returning a new, validated one: autodiff turns a forward
//! graph into a training graph; checkpointing rewrites a training graph to recompute dropped
//! activations; micro-batching runs the batch as sequential slices; precision stores a model's floats as f16. Pure graph code: no wgpu.

pub mod autodiff;
pub mod checkpoint;
pub mod micro_batch;
pub mod precision;
