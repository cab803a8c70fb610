//! The `transform` stage of DESIGN.md: graph-to-graph rewrites that run before scheduling and
//! analysis (autodiff to a training graph, checkpoint recomputation, ...). Each rewrite returns
//! a new, validated graph; none imports a later stage.

pub mod checkpoint;
