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
    /// The words `start..start + numel` of `of`'s sequence: a slice of another tensor's values
    /// along its outermost dimension, so a micro-batch slice of an input holds exactly the
    /// values of that part of the whole input (`transform::micro_batch`).
    Slice {
        /// The whole tensor's initialisation.
        of: Box<Init>,
        /// The first word of the slice.
        start: u64,
    },
}

/// The generator's multiplier.
const LCG_MUL: u64 = 6364136223846793005;
/// The generator's increment.
const LCG_INC: u64 = 1442695040888963407;

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
        self.0 = self.0.wrapping_mul(LCG_MUL).wrapping_add(LCG_INC);
        (self.0 >> 32) as u32
    }

    /// Skips `n` draws in O(log n) steps (jump-ahead: `n` steps of `x -> a x + c` compose to
    /// one affine map, built by repeated squaring), as if `next_u32` had been called `n` times.
    pub fn skip(&mut self, mut n: u64) {
        let (mut mul, mut add) = (1u64, 0u64);
        let (mut step_mul, mut step_add) = (LCG_MUL, LCG_INC);
        while n > 0 {
            if n & 1 == 1 {
                mul = mul.wrapping_mul(step_mul);
                add = add.wrapping_mul(step_mul).wrapping_add(step_add);
            }
            step_add = step_mul.wrapping_add(1).wrapping_mul(step_add);
            step_mul = step_mul.wrapping_mul(step_mul);
            n >>= 1;
        }
        self.0 = self.0.wrapping_mul(mul).wrapping_add(add);
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 / (1u32 << 24) as f32
    }
}

impl Init {
    /// The initial values as raw 32-bit words (f32 bits, or u32 ids), `numel` of them.
    pub fn words(&self, numel: usize) -> Vec<u32> {
        self.words_from(0, numel)
    }

    /// Words `start..start + numel` of the sequence (the generator skips the first `start`
    /// draws in O(log start) steps, so a slice costs its own size only).
    fn words_from(&self, start: u64, numel: usize) -> Vec<u32> {
        match self {
            Init::Uniform { seed, scale } => {
                let mut rng = Lcg::new(*seed);
                rng.skip(start);
                (0..numel)
                    .map(|_| ((rng.next_f32() * 2.0 - 1.0) * scale).to_bits())
                    .collect()
            }
            Init::Constant(v) => vec![v.to_bits(); numel],
            Init::Ids { seed, max } => {
                let mut rng = Lcg::new(*seed);
                rng.skip(start);
                (0..numel).map(|_| rng.next_u32() % (*max).max(1)).collect()
            }
            Init::None => vec![0; numel],
            Init::Slice { of, start: first } => of.words_from(first.saturating_add(start), numel),
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

#[cfg(test)]
mod tests {
    use super::{Init, Lcg};

    #[test]
    fn skip_equals_drawing() {
        for n in [0u64, 1, 2, 3, 7, 64, 1000, 12345] {
            let (mut a, mut b) = (Lcg::new(9), Lcg::new(9));
            for _ in 0..n {
                a.next_u32();
            }
            b.skip(n);
            assert_eq!(a.next_u32(), b.next_u32(), "n = {n}");
        }
    }

    #[test]
    fn a_slice_holds_its_part_of_the_whole() {
        for whole in [
            Init::Uniform {
                seed: 3,
                scale: 2.0,
            },
            Init::Ids { seed: 4, max: 11 },
            Init::Constant(1.5),
        ] {
            let all = whole.words(100);
            let part = Init::Slice {
                of: Box::new(whole.clone()),
                start: 37,
            };
            assert_eq!(part.words(40), all[37..77].to_vec());
            let nested = Init::Slice {
                of: Box::new(part),
                start: 3,
            };
            assert_eq!(nested.words(10), all[40..50].to_vec());
        }
    }
}
