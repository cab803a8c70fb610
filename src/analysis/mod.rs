//! Analysis of a scheduled graph: reference counts, liveness intervals, in-place alias groups,
//! workspace requests, and the planning problem they define (one buffer per storage group).
//!
//! Steps: the node at schedule position `i` runs at step `i`. A tensor produced at step `i` and
//! last read at step `j` lives `[i, j + 1)`; graph inputs are live from step 0 (streamed inputs,
//! [`AnalysisOptions::streamed_inputs`], from their first reader's step); graph outputs stay
//! live until the end `[def, n)`; weights live in the persistent region and are not planned.
//! A node's workspace lives `[i, i + 1)`.
//!
//! [`precision`] derives the error threshold of a graph stored in f16 from its depth and
//! reductions.

mod buffers;
mod liveness;
pub mod precision;
mod workspace;

pub use buffers::{AnalysisOptions, BufferOrigin, MemoryAnalysis, analyze, in_place_target};
pub use liveness::{Liveness, liveness, liveness_with};
pub use workspace::{WorkspacePolicy, workspace_family};

#[cfg(test)]
mod tests;
