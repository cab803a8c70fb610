//! Host tensor values: a flat row-major vector of f32 or u32, plus the deterministic initial
//! values of inputs and weights.

use crate::graph::{DType, Init, Tensor};

/// The value of one tensor on the host, row-major.
///
/// All arithmetic is f32; `F16` tensors are held as f32 values rounded to f16 precision.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// 32-bit floats (also used for f16 tensors).
    F32(Vec<f32>),
    /// 32-bit unsigned integers (token ids).
    U32(Vec<u32>),
}

impl TensorData {
    /// The floats, or `None` for integer data.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match self {
            TensorData::F32(v) => Some(v),
            TensorData::U32(_) => None,
        }
    }

    /// The integers, or `None` for float data.
    pub fn as_u32(&self) -> Option<&[u32]> {
        match self {
            TensorData::U32(v) => Some(v),
            TensorData::F32(_) => None,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::U32(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The graph dtype this data is computed in (`F32` or `U32`).
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::U32(_) => DType::U32,
        }
    }

    /// True when this data can be the value of a tensor of `dtype`: floats for `F32` and `F16`
    /// (f16 values are held as f32), integers for `U32`.
    pub fn holds(&self, dtype: DType) -> bool {
        match self {
            TensorData::F32(_) => dtype.is_float(),
            TensorData::U32(_) => dtype == DType::U32,
        }
    }

    /// The value stored in a tensor of `dtype`: floats rounded to the nearest f16 (ties to even,
    /// as the device's f16 stores do) for `F16`, unchanged otherwise.
    pub fn rounded_to(self, dtype: DType) -> TensorData {
        match (self, dtype) {
            (TensorData::F32(mut v), DType::F16) => {
                for x in &mut v {
                    *x = round_f16(*x);
                }
                TensorData::F32(v)
            }
            (d, _) => d,
        }
    }

    /// Interprets raw 32-bit words (as produced by [`Init::words`] or read back from a device
    /// buffer of 32-bit elements): f32 bits for `F32`, ids for `U32`, and f32 bits rounded to
    /// f16 precision for `F16`.
    pub fn from_words(dtype: DType, words: &[u32]) -> TensorData {
        match dtype {
            DType::F32 => TensorData::F32(words.iter().map(|&w| f32::from_bits(w)).collect()),
            DType::F16 => TensorData::F32(
                words
                    .iter()
                    .map(|&w| round_f16(f32::from_bits(w)))
                    .collect(),
            ),
            DType::U32 => TensorData::U32(words.to_vec()),
        }
    }

    /// The values as raw 32-bit words (f32 bits or ids), the inverse of [`TensorData::from_words`]
    /// for `F32` and `U32`.
    pub fn to_words(&self) -> Vec<u32> {
        match self {
            TensorData::F32(v) => v.iter().map(|x| x.to_bits()).collect(),
            TensorData::U32(v) => v.clone(),
        }
    }
}

/// `x` rounded to the nearest f16 and back (ties to even; beyond 65504 it becomes infinite,
/// as an f16 store does).
pub fn round_f16(x: f32) -> f32 {
    half::f16::from_f32(x).to_f32()
}

/// The deterministic initial value of an input or weight (zeros for an activation), computed
/// from its [`Init`]. Allocates `numel` elements: callers with untrusted shapes should bound the
/// size first (as [`crate::cpu::run`] does).
pub fn initial_data(t: &Tensor) -> TensorData {
    let numel = usize::try_from(t.shape.numel()).unwrap_or(usize::MAX);
    let words = match t.init {
        Init::None => vec![0; numel],
        ref init => init.words(numel),
    };
    TensorData::from_words(t.dtype, &words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Shape, TensorKind};

    #[test]
    fn words_round_trip() {
        let d = TensorData::F32(vec![1.5, -2.0, 0.0]);
        assert_eq!(TensorData::from_words(DType::F32, &d.to_words()), d);
        let ids = TensorData::U32(vec![3, 7]);
        assert_eq!(TensorData::from_words(DType::U32, &ids.to_words()), ids);
        assert_eq!(ids.as_f32(), None);
        assert_eq!(ids.as_u32(), Some(&[3u32, 7][..]));
    }

    #[test]
    fn f16_words_are_rounded() {
        // 1 + 2^-12 is not representable in f16 (10 mantissa bits): it rounds to 1.
        let d = TensorData::from_words(DType::F16, &[(1.0f32 + 1.0 / 4096.0).to_bits()]);
        assert_eq!(d.as_f32(), Some(&[1.0f32][..]));
    }

    #[test]
    fn f16_outputs_round_once_and_other_data_is_untouched() {
        let v = TensorData::F32(vec![1.0 + 1.0 / 4096.0, 1.0 + 3.0 / 2048.0, 70000.0, 0.1]);
        let r = v.clone().rounded_to(DType::F16);
        let expected = [1.0, 1.0 + 2.0 / 1024.0, f32::INFINITY, 0.099975586];
        assert_eq!(r.as_f32(), Some(&expected[..]));
        assert_eq!(v.clone().rounded_to(DType::F32), v);
        assert!(v.holds(DType::F16) && v.holds(DType::F32) && !v.holds(DType::U32));
        let ids = TensorData::U32(vec![1]);
        assert!(ids.holds(DType::U32) && !ids.holds(DType::F16));
    }

    #[test]
    fn initial_data_follows_init() {
        let t = Tensor {
            name: "w".into(),
            shape: Shape::new([2, 2]),
            dtype: DType::F32,
            kind: TensorKind::Weight,
            init: Init::Constant(0.5),
        };
        assert_eq!(initial_data(&t), TensorData::F32(vec![0.5; 4]));
        let ids = Tensor {
            dtype: DType::U32,
            init: Init::Ids { seed: 3, max: 5 },
            ..t
        };
        let v = initial_data(&ids);
        assert!(
            v.as_u32()
                .is_some_and(|v| v.len() == 4 && v.iter().all(|&i| i < 5))
        );
    }
}
