//! The planning problem: buffers with a lifetime, a size and an alignment. Pure data, no graph or
//! GPU types; the same structure is built from a tessera graph or read from a minimalloc CSV.

use super::Lifetime;
use serde::{Deserialize, Serialize};

/// Index of a buffer inside a [`Problem`] (its position in `Problem::buffers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BufferId(pub u32);

impl BufferId {
    /// The position in `Problem::buffers`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One buffer to place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buffer {
    /// A label for reports and CSV round trips (the CSV `id` column, or a tensor name).
    pub name: String,
    /// When the buffer is live.
    pub lifetime: Lifetime,
    /// Size in bytes (> 0).
    pub size: u64,
    /// Required offset alignment in bytes (>= 1, a power of two for GPU plans).
    pub align: u64,
}

/// A set of buffers to place in one arena.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The buffers; `BufferId(i)` names `buffers[i]`.
    pub buffers: Vec<Buffer>,
}

impl Problem {
    /// Builds a problem from `(start, end, size, align)` rows, naming the buffers `b0`, `b1`, ...
    /// Nothing is checked here; [`Problem::check`] reports zero sizes, empty lifetimes and the like.
    pub fn from_rows(rows: &[(u64, u64, u64, u64)]) -> Problem {
        let buffers = rows
            .iter()
            .enumerate()
            .map(|(i, &(start, end, size, align))| Buffer {
                name: format!("b{i}"),
                lifetime: Lifetime { start, end },
                size,
                align,
            })
            .collect();
        Problem { buffers }
    }
}

/// The answer: one offset per buffer (same order as `Problem::buffers`) and the arena size.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// `offsets[i]` is the byte offset of `buffers[i]`.
    pub offsets: Vec<u64>,
    /// `max(offset + size)` over all buffers (0 for an empty problem).
    pub arena_bytes: u64,
}
