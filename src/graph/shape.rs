//! Tensor shapes: a list of dimensions, row-major, with numpy-style broadcasting.

use serde::{Deserialize, Serialize};

/// Dimensions of a tensor, outermost first. A scalar has no dimensions.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shape(pub Vec<usize>);

impl Shape {
    /// Builds a shape from dimensions.
    pub fn new(dims: impl Into<Vec<usize>>) -> Self {
        Shape(dims.into())
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Number of elements (1 for a scalar). Saturates instead of overflowing; a validated graph
    /// has no shape where it would (see [`Shape::checked_numel`]).
    pub fn numel(&self) -> u64 {
        self.checked_numel().unwrap_or(u64::MAX)
    }

    /// Number of elements, or `None` when the product of the non-zero dimensions does not fit
    /// in a `u64` (a zero dimension does not excuse the others: strides must fit too).
    pub fn checked_numel(&self) -> Option<u64> {
        let mut product = 1u64;
        let mut zero = false;
        for &d in &self.0 {
            match d {
                0 => zero = true,
                d => product = product.checked_mul(u64::try_from(d).ok()?)?,
            }
        }
        Some(if zero { 0 } else { product })
    }

    /// The last dimension (1 for a scalar).
    pub fn last(&self) -> usize {
        self.0.last().copied().unwrap_or(1)
    }

    /// Row-major strides in elements (saturating; exact for shapes whose
    /// [`Shape::checked_numel`] is `Some`).
    pub fn strides(&self) -> Vec<usize> {
        let mut strides = vec![1usize; self.0.len()];
        for i in (0..self.0.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1].saturating_mul(self.0[i + 1]);
        }
        strides
    }

    /// Numpy broadcasting of two shapes, or `None` when they are incompatible.
    pub fn broadcast(a: &Shape, b: &Shape) -> Option<Shape> {
        let rank = a.rank().max(b.rank());
        let mut out = vec![0usize; rank];
        for (i, slot) in out.iter_mut().enumerate() {
            let da = if i < rank - a.rank() {
                1
            } else {
                a.0[i - (rank - a.rank())]
            };
            let db = if i < rank - b.rank() {
                1
            } else {
                b.0[i - (rank - b.rank())]
            };
            *slot = match (da, db) {
                (x, y) if x == y => x,
                (1, y) => y,
                (x, 1) => x,
                _ => return None,
            };
        }
        Some(Shape(out))
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        let a = Shape::new([2, 1, 5]);
        let b = Shape::new([3, 1]);
        assert_eq!(Shape::broadcast(&a, &b), Some(Shape::new([2, 3, 5])));
        assert_eq!(Shape::broadcast(&Shape::new([4]), &Shape::new([3])), None);
    }

    #[test]
    fn strides_are_row_major() {
        assert_eq!(Shape::new([2, 3, 4]).strides(), vec![12, 4, 1]);
        assert_eq!(Shape::new([] as [usize; 0]).numel(), 1);
    }

    #[test]
    fn checked_numel_refuses_overflow_even_next_to_a_zero() {
        let big = 1usize << 40;
        assert_eq!(Shape::new([big, big]).checked_numel(), None);
        assert_eq!(Shape::new([0, big, big]).checked_numel(), None);
        assert_eq!(Shape::new([big, big, 0]).checked_numel(), None);
        assert_eq!(Shape::new([0, big]).checked_numel(), Some(0));
        assert_eq!(Shape::new([3, 5]).checked_numel(), Some(15));
        assert_eq!(Shape::new([big, big]).numel(), u64::MAX);
    }
}
