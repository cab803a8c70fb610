//! A caching allocator in the manner of PyTorch's CUDA caching allocator
//! (`c10/cuda/CUDACachingAllocator.cpp`, native backend, default configuration), replayed on
//! the host: pure code, no device. Its rules, with PyTorch's names:
//!
//! - `round_size`: a request is rounded up to a multiple of `kMinBlockSize` = 512 B (at least
//!   512 B).
//! - `get_pool`: rounded requests of at most `kSmallSize` = 1 MiB go to the small pool, larger
//!   ones to the large pool; a block never moves between pools.
//! - `get_free_block`: best fit, the cached free block of the request's pool with the smallest
//!   size that fits (PyTorch orders blocks by stream, size, then address; here by size, then
//!   segment creation order, then offset: there is one stream).
//! - `get_allocation_size` when no cached block fits: a new segment (`cudaMalloc`) of
//!   `kSmallBuffer` = 2 MiB for a small request, `kLargeBuffer` = 20 MiB for a request under
//!   `kMinLargeAlloc` = 10 MiB, else the request rounded up to a multiple of `kRoundLarge` =
//!   2 MiB.
//! - `should_split`: the block handed out is split and the remainder cached when the remainder
//!   is at least 512 B (small pool) or more than 1 MiB (large pool; `max_split_size` is
//!   unlimited by default); otherwise the whole block is handed out.
//! - `free_block` / `try_merge_blocks`: a freed block merges with free neighbours of the same
//!   segment and stays cached; segments are never returned to the device (nothing here calls
//!   `empty_cache`, and the replay never runs out of device memory, so the out-of-memory path
//!   that frees unsplit cached segments never triggers).
//!
//! The sum of the segment sizes is what `torch.cuda.memory_reserved()` reports.

use super::timeline::{PoolAllocator, PoolBlock, ReplayError};
use std::collections::{BTreeMap, BTreeSet};

/// `kMinBlockSize`: every request is rounded up to a multiple of this.
pub(crate) const MIN_BLOCK: u64 = 512;
/// `kSmallSize`: the largest request served from the small pool.
pub(crate) const SMALL_SIZE: u64 = 1 << 20;
/// `kSmallBuffer`: the size of a small-pool segment.
pub(crate) const SMALL_BUFFER: u64 = 2 << 20;
/// `kLargeBuffer`: the segment size for large requests under [`MIN_LARGE_ALLOC`].
pub(crate) const LARGE_BUFFER: u64 = 20 << 20;
/// `kMinLargeAlloc`: from this size on a segment is the request rounded to [`ROUND_LARGE`].
pub(crate) const MIN_LARGE_ALLOC: u64 = 10 << 20;
/// `kRoundLarge`: large segments are multiples of this.
pub(crate) const ROUND_LARGE: u64 = 2 << 20;

const SCHEME: &str = "caching";

/// The small (0) or large (1) pool.
fn pool_of(rounded: u64) -> usize {
    usize::from(rounded > SMALL_SIZE)
}

/// `round_size`: `bytes` rounded up to a multiple of 512, at least 512.
fn round_size(bytes: u64) -> Option<u64> {
    bytes.max(1).checked_next_multiple_of(MIN_BLOCK)
}

/// `get_allocation_size`: the segment created for a rounded request no cached block fits.
fn allocation_size(rounded: u64) -> Option<u64> {
    if rounded <= SMALL_SIZE {
        Some(SMALL_BUFFER)
    } else if rounded < MIN_LARGE_ALLOC {
        Some(LARGE_BUFFER)
    } else {
        rounded.checked_next_multiple_of(ROUND_LARGE)
    }
}

/// `should_split`: keep the remainder of a block as its own cached block?
fn should_split(pool: usize, remaining: u64) -> bool {
    match pool {
        0 => remaining >= MIN_BLOCK,
        _ => remaining > SMALL_SIZE,
    }
}

/// One block of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Block {
    size: u64,
    allocated: bool,
}

/// The caching allocator's state: segments, every block by (segment, offset), and the cached
/// free blocks of each pool ordered for best fit.
#[derive(Clone, Debug, Default)]
pub(crate) struct CachingAllocator {
    /// Size of each segment, in creation order.
    segments: Vec<u64>,
    /// Pool of each segment.
    segment_pool: Vec<usize>,
    /// Every block, free or allocated, keyed by (segment, offset).
    blocks: BTreeMap<(usize, u64), Block>,
    /// Free blocks of the small and large pools as (size, segment, offset).
    free: [BTreeSet<(u64, usize, u64)>; 2],
}

impl CachingAllocator {
    /// Takes the best-fitting cached block of `pool` for `size`, or creates a segment.
    fn take_block(&mut self, pool: usize, size: u64) -> Result<(usize, u64, u64), ReplayError> {
        if let Some(&key) = self.free[pool].range((size, 0, 0)..).next() {
            self.free[pool].remove(&key);
            let (block, segment, offset) = key;
            return Ok((segment, offset, block));
        }
        let bytes = allocation_size(size).ok_or(ReplayError::Overflow {
            scheme: SCHEME,
            bytes: size,
        })?;
        self.segments.push(bytes);
        self.segment_pool.push(pool);
        Ok((self.segments.len() - 1, 0, bytes))
    }

    /// Marks a block free and caches it.
    fn cache(&mut self, segment: usize, offset: u64, size: u64) {
        let block = Block {
            size,
            allocated: false,
        };
        self.blocks.insert((segment, offset), block);
        self.free[self.segment_pool[segment]].insert((size, segment, offset));
    }

    /// The free block of `segment` ending exactly at `offset`, if any (its offset and size).
    fn free_before(&self, segment: usize, offset: u64) -> Option<(u64, u64)> {
        let (&(s, o), b) = self.blocks.range(..(segment, offset)).next_back()?;
        (s == segment && !b.allocated && o + b.size == offset).then_some((o, b.size))
    }

    /// Removes a cached free block from the books (it is being merged).
    fn uncache(&mut self, segment: usize, offset: u64, size: u64) {
        self.blocks.remove(&(segment, offset));
        self.free[self.segment_pool[segment]].remove(&(size, segment, offset));
    }
}

impl PoolAllocator for CachingAllocator {
    fn alloc(&mut self, bytes: u64) -> Result<PoolBlock, ReplayError> {
        let overflow = ReplayError::Overflow {
            scheme: SCHEME,
            bytes,
        };
        let size = round_size(bytes).ok_or(overflow)?;
        let pool = pool_of(size);
        let (segment, offset, block) = self.take_block(pool, size)?;
        let remaining = block - size;
        let held = if should_split(pool, remaining) {
            self.cache(segment, offset + size, remaining);
            size
        } else {
            block
        };
        let b = Block {
            size: held,
            allocated: true,
        };
        self.blocks.insert((segment, offset), b);
        Ok(PoolBlock {
            segment,
            offset,
            held,
        })
    }

    fn free(&mut self, block: PoolBlock) -> Result<(), ReplayError> {
        let (segment, mut offset) = (block.segment, block.offset);
        let mut size = match self.blocks.get(&(segment, offset)) {
            Some(b) if b.allocated => b.size,
            _ => {
                return Err(ReplayError::NotAllocated {
                    scheme: SCHEME,
                    segment,
                    offset,
                });
            }
        };
        self.blocks.remove(&(segment, offset));
        if let Some((o, s)) = self.free_before(segment, offset) {
            self.uncache(segment, o, s);
            (offset, size) = (o, s + size);
        }
        let next = self.blocks.get(&(segment, offset + size)).copied();
        if let Some(n) = next.filter(|n| !n.allocated) {
            self.uncache(segment, offset + size, n.size);
            size += n.size;
        }
        self.cache(segment, offset, size);
        Ok(())
    }

    fn segments(&self) -> &[u64] {
        &self.segments
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn at(b: PoolBlock) -> (usize, u64, u64) {
        (b.segment, b.offset, b.held)
    }

    #[test]
    fn small_requests_round_split_best_fit_and_coalesce() {
        let mut a = CachingAllocator::default();
        // 1000 B rounds to 1024; no cached block: a 2 MiB segment, split (remainder
        // 2 MiB - 1024 >= 512 stays cached).
        let x = a.alloc(1000).unwrap();
        assert_eq!(at(x), (0, 0, 1024));
        assert_eq!(a.segments().iter().sum::<u64>(), 2 * MIB);
        // 512 B: the only cached block is the remainder at 1024.
        let y = a.alloc(512).unwrap();
        assert_eq!(at(y), (0, 1024, 512));
        // Freeing x leaves a 1024-byte hole at 0 (its right neighbour y is in use).
        a.free(x).unwrap();
        // 700 B rounds to 1024: best fit is the hole, exactly; nothing left to split.
        let z = a.alloc(700).unwrap();
        assert_eq!(at(z), (0, 0, 1024));
        // Freeing y and z merges everything back into one free 2 MiB block...
        a.free(y).unwrap();
        a.free(z).unwrap();
        // ...so two 1 MiB requests (still small: <= 1 MiB) fit in the same segment.
        let p = a.alloc(MIB).unwrap();
        let q = a.alloc(MIB).unwrap();
        assert_eq!((at(p), at(q)), ((0, 0, MIB), (0, MIB, MIB)));
        // The segment is full: one more byte (512 rounded) needs a second segment.
        let r = a.alloc(1).unwrap();
        assert_eq!(at(r), (1, 0, 512));
        assert_eq!(a.segments(), &[2 * MIB, 2 * MIB]);
        // Freeing p twice is refused.
        a.free(p).unwrap();
        assert!(matches!(a.free(p), Err(ReplayError::NotAllocated { .. })));
    }

    #[test]
    fn large_requests_follow_segment_sizes_and_the_split_threshold() {
        let mut a = CachingAllocator::default();
        // 1.5 MiB (> 1 MiB, < 10 MiB): a 20 MiB segment; remainder 18.5 MiB > 1 MiB: split.
        let l1 = a.alloc(3 * MIB / 2).unwrap();
        assert_eq!(at(l1), (0, 0, 3 * MIB / 2));
        // 19 MiB: the cached 18.5 MiB block is too small; a new segment of 19 MiB rounded up to
        // 2 MiB multiples = 20 MiB. Remainder 1 MiB is not MORE than 1 MiB: not split, the
        // whole 20 MiB block is held.
        let l2 = a.alloc(19 * MIB).unwrap();
        assert_eq!(at(l2), (1, 0, 20 * MIB));
        // 18.5 MiB fits the cached remainder of segment 0 exactly.
        let l3 = a.alloc(37 * MIB / 2).unwrap();
        assert_eq!(at(l3), (0, 3 * MIB / 2, 37 * MIB / 2));
        // A small request never uses the large pool: a fresh 2 MiB segment.
        let s = a.alloc(100).unwrap();
        assert_eq!(at(s), (2, 0, 512));
        // 12 MiB + 1 B rounds to 12 MiB + 512; segment = 14 MiB (7 x 2 MiB); remainder
        // 2 MiB - 512 > 1 MiB: split and cached.
        let l4 = a.alloc(12 * MIB + 1).unwrap();
        assert_eq!(at(l4), (3, 0, 12 * MIB + 512));
        // 1.5 MiB best-fits that remainder (the only large free block); what would be left,
        // 2 MiB - 512 - 1.5 MiB = 523,776 B, is under 1 MiB: the whole remainder is held.
        let l5 = a.alloc(3 * MIB / 2).unwrap();
        assert_eq!(at(l5), (3, 12 * MIB + 512, 2 * MIB - 512));
        assert_eq!(
            a.segments().iter().sum::<u64>(),
            20 * MIB + 20 * MIB + 2 * MIB + 14 * MIB
        );
        // Freed blocks stay cached: nothing is returned.
        for b in [l1, l2, l3, s, l4, l5] {
            a.free(b).unwrap();
        }
        assert_eq!(a.segments().iter().sum::<u64>(), 56 * MIB);
        // Segment 0 coalesced back into one 20 MiB block: 20 MiB fits without a new segment.
        assert_eq!(at(a.alloc(20 * MIB).unwrap()).2, 20 * MIB);
        assert_eq!(a.segments().len(), 4);
    }

    #[test]
    fn best_fit_prefers_the_smallest_block_then_the_oldest_segment() {
        let mut a = CachingAllocator::default();
        // Three small blocks in one segment: [0, 4096) [4096, 5120) [5120, 9216) and the rest.
        let b0 = a.alloc(4096).unwrap();
        let b1 = a.alloc(1024).unwrap();
        let b2 = a.alloc(4096).unwrap();
        let _b3 = a.alloc(512).unwrap();
        a.free(b0).unwrap();
        a.free(b2).unwrap();
        // Free: 4096 at 0, 4096 at 5120, and the tail (2 MiB - 9728). 3000 -> 3072: the two
        // 4096 blocks tie on size, the lower offset wins; 1024 B remain at 3072.
        assert_eq!(at(a.alloc(3000).unwrap()), (0, 0, 3072));
        // 1000 -> 1024: the 1024-byte leftover at 3072 is the tightest fit.
        assert_eq!(at(a.alloc(1000).unwrap()), (0, 3072, 1024));
        let _ = b1;
    }
}
