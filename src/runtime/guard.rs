//! Guard bands: the two sentinel-filled bands of the one buffer that no plan places anything in
//! (between the weights and the arena, and after the arena; see
//! [`MemoryLayout::guard_bands`](crate::layout::MemoryLayout::guard_bands)). Every guard word
//! that differs from [`SENTINEL`] after a run was written by a kernel outside its planned range:
//! an out-of-plan write, reported with its buffer offsets and, in node-by-node mode, the node.

use serde::Serialize;

/// The word every guard band (and, for the touched-extent scan, the arena) is filled with.
pub const SENTINEL: u32 = 0xDEAD_BEEF;

/// Which of the two guard bands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BandPosition {
    /// `[weights_bytes, arena_start)`: between the weight region and the arena.
    BeforeArena,
    /// `[arena_end, buffer end)`: after the arena.
    AfterArena,
}

impl std::fmt::Display for BandPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BandPosition::BeforeArena => "between the weights and the arena",
            BandPosition::AfterArena => "after the arena",
        })
    }
}

/// One guard band of the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct GuardBand {
    /// Where it sits.
    pub position: BandPosition,
    /// Absolute offset of its first byte in the one buffer (a multiple of 4).
    pub offset: u64,
    /// Its size in bytes (a multiple of 4).
    pub bytes: u64,
}

/// Guard words that changed: an out-of-plan write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GuardViolation {
    /// The band that was written.
    pub band: GuardBand,
    /// Absolute buffer offset of the first changed guard word.
    pub first_changed_byte: u64,
    /// Absolute buffer offset one past the last changed guard word.
    pub end_changed_byte: u64,
    /// How many guard words changed.
    pub changed_words: u64,
    /// The node after which the change was first seen, as `name (op)`; `None` when it was
    /// seen after the whole graph ran in one submission.
    pub node: Option<String>,
}

impl std::fmt::Display for GuardViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "out-of-plan write: {} word(s) of the guard band {} (bytes [{}, {})) changed at buffer bytes [{}, {})",
            self.changed_words,
            self.band.position,
            self.band.offset,
            self.band.offset + self.band.bytes,
            self.first_changed_byte,
            self.end_changed_byte
        )?;
        match &self.node {
            Some(node) => write!(f, ", written by node `{node}`"),
            None => write!(f, ", seen after the whole graph ran in one submission"),
        }
    }
}

/// Compares `bytes`, the current contents of `band`, with the sentinel; `None` when intact. A
/// short read counts its missing words as changed.
pub fn scan_band(band: GuardBand, bytes: &[u8]) -> Option<GuardViolation> {
    let sentinel = SENTINEL.to_le_bytes();
    let words = band.bytes / 4;
    let mut changed = (0u64, u64::MAX, 0u64); // (count, first word, last word)
    for w in 0..words {
        let at = (w * 4) as usize;
        if bytes.get(at..at + 4) != Some(&sentinel[..]) {
            changed = (changed.0 + 1, changed.1.min(w), w);
        }
    }
    let (count, first, last) = changed;
    (count > 0).then(|| GuardViolation {
        band,
        first_changed_byte: band.offset + first * 4,
        end_changed_byte: band.offset + (last + 1) * 4,
        changed_words: count,
        node: None,
    })
}

/// Scans every band in a snapshot of the whole buffer (`snapshot[i]` is buffer byte `i`).
pub fn scan_snapshot(bands: &[GuardBand], snapshot: &[u8]) -> Vec<GuardViolation> {
    bands
        .iter()
        .filter_map(|&b| {
            let start = usize::try_from(b.offset).unwrap_or(usize::MAX);
            let end = start.saturating_add(usize::try_from(b.bytes).unwrap_or(usize::MAX));
            scan_band(b, snapshot.get(start..end).unwrap_or(&[]))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn band() -> GuardBand {
        GuardBand {
            position: BandPosition::AfterArena,
            offset: 64,
            bytes: 16,
        }
    }

    fn filled() -> Vec<u8> {
        std::iter::repeat_n(SENTINEL.to_le_bytes(), 4)
            .flatten()
            .collect()
    }

    #[test]
    fn an_intact_band_passes() {
        assert_eq!(scan_band(band(), &filled()), None);
    }

    #[test]
    fn a_changed_byte_is_reported_with_its_word_offsets() {
        let mut b = filled();
        b[5] = 0;
        b[13] ^= 1;
        let v = scan_band(band(), &b).expect("violation");
        assert_eq!(
            (v.first_changed_byte, v.end_changed_byte, v.changed_words),
            (68, 80, 2)
        );
        let line = v.to_string();
        assert!(
            line.contains("[68, 80)") && line.contains("after the arena"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }

    #[test]
    fn a_short_read_counts_as_changed() {
        let v = scan_band(band(), &filled()[..8]).expect("violation");
        assert_eq!((v.first_changed_byte, v.changed_words), (72, 2));
    }

    #[test]
    fn a_snapshot_is_scanned_at_each_band_offset() {
        let mut snap = vec![0u8; 64];
        snap.extend(filled());
        assert!(scan_snapshot(&[band()], &snap).is_empty());
        snap[64] = 1;
        assert_eq!(scan_snapshot(&[band()], &snap).len(), 1);
    }
}
