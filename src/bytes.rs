//! Checked byte arithmetic shared by every layer that computes sizes and offsets (analysis,
//! plan, layout, runtime): one definition of rounding up to an alignment, and the limits on
//! alignments a graph plan accepts. Nothing here wraps: overflow is `None` or an error.

/// Largest offset alignment a graph plan accepts: 2^32 bytes (4 GiB). Devices ask for at most a
/// few hundred bytes; anything larger is a typo that would only waste the arena.
pub const MAX_ALIGNMENT: u64 = 1 << 32;

/// Rounds `x` up to a multiple of `align`; `None` when `align` is 0 or the result does not fit
/// in a `u64`. `align` need not be a power of two (minimalloc problems use any alignment).
pub fn align_up(x: u64, align: u64) -> Option<u64> {
    if align == 0 {
        return None;
    }
    match x % align {
        0 => Some(x),
        r => x.checked_add(align - r),
    }
}

/// Why an alignment cannot be used for a graph plan (see [`check_alignment`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlignmentProblem {
    /// The alignment is 0.
    Zero,
    /// The alignment is not a power of two.
    NotPowerOfTwo,
    /// The alignment exceeds [`MAX_ALIGNMENT`].
    TooLarge,
}

impl std::fmt::Display for AlignmentProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AlignmentProblem::Zero => write!(f, "it must be at least 1"),
            AlignmentProblem::NotPowerOfTwo => write!(f, "it is not a power of two"),
            AlignmentProblem::TooLarge => {
                write!(
                    f,
                    "it exceeds the largest supported alignment 2^32 ({MAX_ALIGNMENT})"
                )
            }
        }
    }
}

/// Checks an offset alignment for a graph plan: a power of two no larger than
/// [`MAX_ALIGNMENT`].
pub fn check_alignment(align: u64) -> Result<(), AlignmentProblem> {
    if align == 0 {
        Err(AlignmentProblem::Zero)
    } else if !align.is_power_of_two() {
        Err(AlignmentProblem::NotPowerOfTwo)
    } else if align > MAX_ALIGNMENT {
        Err(AlignmentProblem::TooLarge)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align_up_rounds_and_refuses_overflow() {
        assert_eq!(align_up(0, 256), Some(0));
        assert_eq!(align_up(1, 256), Some(256));
        assert_eq!(align_up(256, 256), Some(256));
        assert_eq!(align_up(7, 3), Some(9));
        assert_eq!(align_up(5, 0), None);
        assert_eq!(align_up(u64::MAX, 2), None);
        assert_eq!(align_up(1, 1 << 63), Some(1 << 63));
        assert_eq!(align_up((1 << 63) + 1, 1 << 63), None);
        assert_eq!(align_up(u64::MAX, 1), Some(u64::MAX));
    }

    #[test]
    fn alignments_are_checked() {
        assert_eq!(check_alignment(256), Ok(()));
        assert_eq!(check_alignment(1), Ok(()));
        assert_eq!(check_alignment(0), Err(AlignmentProblem::Zero));
        assert_eq!(check_alignment(3), Err(AlignmentProblem::NotPowerOfTwo));
        assert_eq!(check_alignment(1 << 63), Err(AlignmentProblem::TooLarge));
        assert_eq!(check_alignment(MAX_ALIGNMENT), Ok(()));
    }
}
