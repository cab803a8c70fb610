//! Element types. Every size computation goes through [`DType::size_bytes`].

use serde::{Deserialize, Serialize};

/// The element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DType {
    /// 32-bit float (all arithmetic today).
    F32,
    /// 16-bit float storage: 2 bytes an element in the arena; kernels compute in f32.
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
