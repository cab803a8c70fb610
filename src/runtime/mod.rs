//! The wgpu runtime: device setup ([`Gpu`]), WGSL kernels (one file per family in `shaders/`),
//! and the executor that runs a graph inside ONE device buffer at the offsets of a
//! [`MemoryLayout`](crate::layout::MemoryLayout): weights first (uploaded once), then the
//! planned arena. Bind groups are prepared once at the planned offsets; a run writes the
//! inputs, encodes every dispatch in one submission and reads the outputs back.
//!
//! It also measures and checks: allocator samples around the creation of the one buffer alone
//! and during runs ([`measure_compile`], [`RunOutput::device_peak`]), the guard bands around the
//! arena whose changed words are out-of-plan writes ([`Compiled::check_guards`]), the touched
//! extent of the arena ([`Compiled::high_water`]) and a node-by-node hook for clobber checks
//! ([`Compiled::run_node_by_node`]).
//!
//! [`run_baseline`] executes the same kernels under the allocation schemes a user would pick
//! instead of a plan (one buffer per tensor kept or freed eagerly, with or without in-place
//! reuse; a PyTorch-style caching allocator; ggml-alloc's best fit in one measured buffer; a
//! buddy pool) and samples the allocator after every node, so the planned arena can be
//! compared with what those schemes really use.

mod baseline;
mod dispatch;
mod error;
mod executor;
mod gemm;
mod gpu;
mod guard;
mod kernels;
mod lower;
mod measure;
pub mod shaders;
mod stream;

pub use baseline::{Baseline, BaselineRun, ReplayError, run_baseline};
pub use dispatch::device_words;
pub use error::RuntimeError;
pub use executor::{
    Compiled, Fault, OutputData, RunOutput, compile, compile_with, compile_with_fault,
    compile_with_gemm,
};
pub use gemm::GemmKernel;
pub use gpu::{AdapterSummary, F16_STORAGE_ENV, Gpu, MAX_BINDING_ENV, NO_SUBGROUPS_ENV};
pub use guard::{BandPosition, GuardBand, GuardViolation, SENTINEL, scan_snapshot};
pub use kernels::KernelOptions;
pub use measure::{
    AllocatorBytes, AllocatorDelta, DeviceBytes, LAVAPIPE_ALLOCATOR_ROUNDING_BYTES,
    MAX_BUFFER_ROUNDING_BYTES, measure_compile,
};
