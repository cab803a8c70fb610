//! Tensors: shape, dtype, role, and how their values are initialised (deterministically).

use super::{DType, Shape};
use serde::{Deserialize, Serialize};

/// What a tensor is for; decides how the planner treats it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TensorKind {
    /// Fed by the caller before each run; lives from the start until its last use.
    Input,
    /// A parameter: uploaded once to the persistent region, never reused.
    Weight,
    /// Produced by a node.
    Activation,
}

/// How the values of an input or weight are generated. Deterministic: same seed, same bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Init {
    /// Uniform in `[-scale, scale)` from a 64-bit LCG seeded by `seed`.
    Uniform {
        /// Generator seed.
        seed: u64,
        /// Half-width of the range.
        scale: f32,
    },
    /// Every element equal to `value`.
    Constant(f32),
    /// Integers uniform in `[0, max)` (stored as u32), for token ids.
    Ids {
        /// Generator seed.
        seed: u64,
        /// Exclusive upper bound.
        max: u32,
    },
    /// Produced by a node (activations).
    None,
}

/// A 64-bit linear congruential generator (Knuth's MMIX constants); tiny and reproducible.
#[derive(Clone, Debug)]
pub struct Lcg(u64);

impl Lcg {
    /// Seeds the generator.
    pub fn new(seed: u64) -> Self {
        Lcg(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1))
    }

    /// Next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 32) as u32
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 / (1u32 << 24) as f32
    }
}

impl Init {
    /// The initial values as raw 32-bit words (f32 bits, or u32 ids), `numel` of them.
    pub fn words(&self, numel: usize) -> Vec<u32> {
        match *self {
            Init::Uniform { seed, scale } => {
                let mut rng = Lcg::new(seed);
                (0..numel)
                    .map(|_| ((rng.next_f32() * 2.0 - 1.0) * scale).to_bits())
                    .collect()
            }
            Init::Constant(v) => vec![v.to_bits(); numel],
            Init::Ids { seed, max } => {
                let mut rng = Lcg::new(seed);
                (0..numel).map(|_| rng.next_u32() % max.max(1)).collect()
            }
            Init::None => vec![0; numel],
        }
    }
}

/// One tensor of a graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tensor {
    /// Readable name (unique within a graph is recommended, not required).
    pub name: String,
    /// Dimensions.
    pub shape: Shape,
    /// Element type.
    pub dtype: DType,
    /// Input, weight or activation.
    pub kind: TensorKind,
    /// Initial values for inputs and weights.
    pub init: Init,
}

impl Tensor {
    /// Size in bytes: elements times the dtype's size. Saturates; validation rejects every
    /// tensor where it would (see [`Tensor::checked_size_bytes`]).
    pub fn size_bytes(&self) -> u64 {
        self.checked_size_bytes().unwrap_or(u64::MAX)
    }

    /// Size in bytes, or `None` when the element count or the byte count overflows a `u64`.
    pub fn checked_size_bytes(&self) -> Option<u64> {
        self.shape
            .checked_numel()?
            .checked_mul(self.dtype.size_bytes())
    }
}
