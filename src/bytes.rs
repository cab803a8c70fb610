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

/// Why a size string such as `64KiB` cannot be read (see [`parse_size`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot read `{text}` as a size: {why} (write a whole number of bytes with an optional B, KiB, MiB or GiB suffix, e.g. 65536, 64KiB, 1.5MiB)"
)]
pub struct SizeError {
    /// The text given (escaped when it is printed).
    pub text: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// Parses a byte count: a number with an optional binary suffix `B`, `KiB`, `MiB` or `GiB`
/// (case-insensitive, `K`/`M`/`G` accepted, spaces around the suffix allowed). A fraction is
/// allowed with a suffix when it comes to whole bytes (`1.5KiB` = 1536). One definition for
/// every size flag (`--workspace-cap`, `--budget`).
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let err = |why| SizeError {
        text: text.escape_debug().to_string(),
        why,
    };
    let t = text.trim();
    let split = t
        .find(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
        .unwrap_or(t.len());
    let (number, suffix) = (&t[..split], t[split..].trim());
    let unit: u64 = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        _ => return Err(err("unknown unit (use B, KiB, MiB or GiB)")),
    };
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() {
        return Err(err("no number"));
    }
    if frac.contains('.')
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(err("not a number"));
    }
    let too_large = || err("too large for 64 bits");
    let digits = |s: &str| -> Result<u128, SizeError> {
        if s.len() > 30 {
            return Err(too_large());
        }
        Ok(s.parse::<u128>().unwrap_or(0))
    };
    // value = (whole + frac / 10^len) * unit, exact in u128.
    let scale = 10u128.pow(frac.len().min(30) as u32);
    let frac_value = digits(frac)?;
    let scaled = digits(whole)?
        .checked_mul(scale)
        .and_then(|w| w.checked_add(frac_value))
        .and_then(|v| v.checked_mul(u128::from(unit)))
        .ok_or_else(too_large)?;
    if scaled % scale != 0 {
        return Err(err("not a whole number of bytes"));
    }
    u64::try_from(scaled / scale).map_err(|_| too_large())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("64 kib"), Ok(64 << 10));
        assert_eq!(parse_size("3MiB"), Ok(3 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("100B"), Ok(100));
    }

    #[test]
    fn bad_sizes_are_one_line_errors_naming_the_value() {
        for bad in [
            "",
            "KiB",
            "12XB",
            "1.2.3",
            "-5",
            "0.3B",
            "1.0000001KiB",
            "99999999999999999999",
        ] {
            let e = parse_size(bad).expect_err(bad).to_string();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
        // 2^34 GiB = 2^64 bytes: one past u64.
        let e = parse_size("17179869184GiB").expect_err("2^64 bytes");
        assert!(e.why.contains("64 bits"), "{e}");
        assert_eq!(parse_size("17179869183GiB"), Ok(17179869183 << 30));
    }

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
