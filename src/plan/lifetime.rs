//! Half-open lifetimes `[start, end)` over schedule steps (or any integer clock).
//!
//! Two lifetimes conflict iff they intersect: `a.start < b.end && b.start < a.end`.
//! A buffer that dies at step 3 and one born at step 3 do NOT conflict.

use serde::{Deserialize, Serialize};

/// A half-open interval `[start, end)`; `start < end` always holds for a valid lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Lifetime {
    /// First step at which the buffer is live.
    pub start: u64,
    /// First step at which the buffer is no longer live (exclusive).
    pub end: u64,
}

impl Lifetime {
    /// Builds `[start, end)`; returns `None` when `end <= start`.
    pub fn new(start: u64, end: u64) -> Option<Self> {
        (start < end).then_some(Self { start, end })
    }

    /// Number of steps covered.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Always false for a valid lifetime (kept for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// True when the two lifetimes share at least one step.
    pub fn overlaps(&self, other: &Lifetime) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// True when the two lifetimes share no step.
    pub fn is_disjoint(&self, other: &Lifetime) -> bool {
        !self.overlaps(other)
    }

    /// The smallest lifetime covering both.
    pub fn union(&self, other: &Lifetime) -> Lifetime {
        Lifetime {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

impl std::fmt::Display for Lifetime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touching_lifetimes_do_not_overlap() {
        let a = Lifetime::new(0, 3).unwrap();
        let b = Lifetime::new(3, 9).unwrap();
        assert!(a.is_disjoint(&b));
        assert!(b.is_disjoint(&a));
    }

    #[test]
    fn one_step_overlap_is_detected() {
        let a = Lifetime::new(0, 4).unwrap();
        let b = Lifetime::new(3, 9).unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(Lifetime::new(5, 5).is_none());
    }
}
