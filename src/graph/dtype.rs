//! Element types. Every size computation goes through [`DType::size_bytes`].

use serde::{Deserialize, Serialize};

/// The element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 16-bit float storage (`--dtype f16`): kernels and the CPU reference compute in f32 and
    /// round every stored value to f16.
    F16,
    /// 32-bit unsigned integer (token ids for embedding gathers).
    U32,
}

impl DType {
    /// Bytes per element.
    pub fn size_bytes(self) -> u64 {
        match self {
            DType::F32 | DType::U32 => 4,
            DType::F16 => 2,
        }
    }

    /// True for the float dtypes (`F32`, `F16`): the values a model's weights and activations
    /// hold. `U32` ids are not floats.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16)
    }

    /// The dtype named `name` (`f32`, `f16`, `u32`), as [`Display`](std::fmt::Display) writes it.
    pub fn from_name(name: &str) -> Option<DType> {
        [DType::F32, DType::F16, DType::U32]
            .into_iter()
            .find(|d| d.to_string() == name)
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::U32 => "u32",
        };
        f.write_str(s)
    }
}
