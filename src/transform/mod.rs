//! Graph-to-graph rewrites between the graph IR and the schedule stage (DESIGN.md's
//! `transform`): autodiff turns a forward graph into a training graph. Pure graph code: no wgpu.

pub mod autodiff;
