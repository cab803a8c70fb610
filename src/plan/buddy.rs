//! A power-of-two buddy allocator over one heap, the pooled baseline of seed 5.3.1: requests
//! are rounded up to a power-of-two block (never smaller than `min_block`), larger free blocks
//! are split in halves until one fits, and a freed block merges with its buddy whenever the
//! buddy is free too.
//!
//! Pure host code (no GPU types). The heap starts at `min_block` bytes and doubles when a
//! request finds no free block: the old heap becomes the left half of the new one, so every
//! offset already handed out stays valid, and the final [`BuddyAllocator::heap_bytes`] is the
//! smallest power-of-two heap this allocation sequence needed under this policy. Among free
//! blocks the smallest sufficient size wins, then the lowest offset, so a run is deterministic
//! and a replay of the same sequence returns the same offsets.

use std::collections::{BTreeSet, HashMap};
use thiserror::Error;

/// What the buddy allocator refuses.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum BuddyError {
    /// `min_block` must be at least 1.
    #[error("the minimum block size must be at least 1 byte")]
    ZeroMinBlock,
    /// The heap would have to grow beyond its limit.
    #[error(
        "out of memory: {requested} bytes need a {block}-byte block but the heap cannot grow past {max_heap} bytes ({held} bytes held)"
    )]
    OutOfMemory {
        /// Bytes asked for.
        requested: u64,
        /// The power-of-two block it needs.
        block: u64,
        /// The heap limit.
        max_heap: u64,
        /// Bytes held in blocks at the time.
        held: u64,
    },
    /// `free` was given an offset that is not the start of an allocated block.
    #[error("offset {offset} is not the start of an allocated block")]
    NotAllocated {
        /// The offset passed to `free`.
        offset: u64,
    },
}

/// One block handed out: `[offset, offset + size)` inside the heap; `size` is a power of two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Block {
    /// Byte offset in the heap (a multiple of `size`).
    pub offset: u64,
    /// Block size in bytes (a power of two, at least the minimum block).
    pub size: u64,
}

/// A buddy allocator whose heap grows by doubling up to a limit.
#[derive(Clone, Debug)]
pub struct BuddyAllocator {
    /// Size of an order-0 block (a power of two).
    min_block: u64,
    /// Largest heap allowed.
    max_heap: u64,
    /// The heap is one block of this order.
    top: u32,
    /// Free block offsets per order.
    free: Vec<BTreeSet<u64>>,
    /// Allocated blocks: offset -> (order, bytes requested).
    used: HashMap<u64, (u32, u64)>,
    held: u64,
    requested: u64,
}

impl BuddyAllocator {
    /// An allocator with blocks of at least `min_block` bytes (rounded up to a power of two,
    /// typically the device's storage offset alignment, so every block offset is aligned) and a
    /// heap that may grow up to `max_heap` bytes.
    pub fn new(min_block: u64, max_heap: u64) -> Result<Self, BuddyError> {
        if min_block == 0 {
            return Err(BuddyError::ZeroMinBlock);
        }
        let min_block = min_block.checked_next_power_of_two().unwrap_or(1 << 63);
        Ok(Self {
            min_block,
            max_heap,
            top: 0,
            free: vec![BTreeSet::from([0])],
            used: HashMap::new(),
            held: 0,
            requested: 0,
        })
    }

    /// The smallest block size (a power of two).
    pub fn min_block(&self) -> u64 {
        self.min_block
    }

    /// Current heap size: the largest the heap has ever been (it never shrinks).
    pub fn heap_bytes(&self) -> u64 {
        self.size_of(self.top)
    }

    /// Bytes held in allocated blocks, internal fragmentation included.
    pub fn held_bytes(&self) -> u64 {
        self.held
    }

    /// Bytes requested by the live allocations (sizes as asked).
    pub fn requested_bytes(&self) -> u64 {
        self.requested
    }

    /// The block size a request of `bytes` gets, or `None` when no u64 power of two holds it.
    pub fn block_size(&self, bytes: u64) -> Option<u64> {
        bytes.max(self.min_block).checked_next_power_of_two()
    }

    /// Free blocks, sorted by offset.
    pub fn free_blocks(&self) -> Vec<Block> {
        let mut out: Vec<Block> = self
            .free
            .iter()
            .enumerate()
            .flat_map(|(k, set)| {
                let size = self.size_of(k as u32);
                set.iter().map(move |&offset| Block { offset, size })
            })
            .collect();
        out.sort();
        out
    }

    fn size_of(&self, order: u32) -> u64 {
        self.min_block << order
    }

    /// Allocates a block for `bytes` (0 bytes still take a minimum block), growing the heap by
    /// doubling when no free block is large enough.
    pub fn alloc(&mut self, bytes: u64) -> Result<Block, BuddyError> {
        let oom = |s: &Self, block: u64| BuddyError::OutOfMemory {
            requested: bytes,
            block,
            max_heap: s.max_heap,
            held: s.held,
        };
        let block = self.block_size(bytes).ok_or_else(|| oom(self, u64::MAX))?;
        let order = (block / self.min_block).trailing_zeros();
        let found = loop {
            let hit =
                (order..=self.top).find_map(|k| self.free[k as usize].first().map(|&off| (k, off)));
            match hit {
                Some(hit) => break hit,
                None => self.grow().ok_or_else(|| oom(self, block))?,
            }
        };
        let (mut k, offset) = found;
        self.free[k as usize].remove(&offset);
        while k > order {
            k -= 1;
            let upper = offset + self.size_of(k);
            self.free[k as usize].insert(upper);
        }
        self.used.insert(offset, (order, bytes));
        self.held += block;
        self.requested += bytes;
        Ok(Block {
            offset,
            size: block,
        })
    }

    /// Doubles the heap; `None` when that would pass `max_heap`.
    fn grow(&mut self) -> Option<()> {
        let old = self.heap_bytes();
        let new = old.checked_mul(2).filter(|&n| n <= self.max_heap)?;
        let top = self.top as usize;
        if self.free[top].remove(&0) {
            // The whole old heap was free: it and the new half form one free block.
            self.free.push(BTreeSet::from([0]));
        } else {
            self.free[top].insert(old);
            self.free.push(BTreeSet::new());
        }
        self.top += 1;
        debug_assert_eq!(self.heap_bytes(), new);
        Some(())
    }

    /// Frees the block starting at `offset`, merging it with its buddy as long as the buddy is
    /// free.
    pub fn free(&mut self, offset: u64) -> Result<(), BuddyError> {
        let (mut order, bytes) = self
            .used
            .remove(&offset)
            .ok_or(BuddyError::NotAllocated { offset })?;
        self.held -= self.size_of(order);
        self.requested -= bytes;
        let mut at = offset;
        while order < self.top {
            let buddy = at ^ self.size_of(order);
            if !self.free[order as usize].remove(&buddy) {
                break;
            }
            at = at.min(buddy);
            order += 1;
        }
        self.free[order as usize].insert(at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blk(offset: u64, size: u64) -> Block {
        Block { offset, size }
    }

    #[test]
    fn rounds_to_powers_of_two_at_least_min_block() {
        let a = BuddyAllocator::new(24, 1 << 20).unwrap();
        assert_eq!(a.min_block(), 32);
        assert_eq!(a.block_size(0), Some(32));
        assert_eq!(a.block_size(1), Some(32));
        assert_eq!(a.block_size(33), Some(64));
        assert_eq!(a.block_size(64), Some(64));
        assert_eq!(a.block_size(u64::MAX), None);
        assert_eq!(
            BuddyAllocator::new(0, 1).unwrap_err(),
            BuddyError::ZeroMinBlock
        );
    }

    #[test]
    fn splits_a_large_block_down_to_the_request() {
        let mut a = BuddyAllocator::new(32, 256).unwrap();
        let b = a.alloc(256).unwrap();
        a.free(b.offset).unwrap();
        assert_eq!(a.free_blocks(), vec![blk(0, 256)]);
        assert_eq!(a.alloc(20).unwrap(), blk(0, 32));
        // 256 split into 128 | 64 | 32 | 32(used).
        assert_eq!(
            a.free_blocks(),
            vec![blk(32, 32), blk(64, 64), blk(128, 128)]
        );
        assert_eq!(a.alloc(40).unwrap(), blk(64, 64));
        assert_eq!(a.alloc(1).unwrap(), blk(32, 32));
        assert_eq!((a.held_bytes(), a.requested_bytes()), (128, 61));
    }

    #[test]
    fn coalesces_buddies_back_into_the_whole_heap() {
        let mut a = BuddyAllocator::new(32, 256).unwrap();
        a.alloc(256).map(|b| a.free(b.offset)).unwrap().unwrap();
        let x = a.alloc(32).unwrap();
        let y = a.alloc(32).unwrap();
        let z = a.alloc(64).unwrap();
        assert_eq!((x.offset, y.offset, z.offset), (0, 32, 64));
        a.free(x.offset).unwrap();
        // x's buddy y is still used: no merge.
        assert!(a.free_blocks().contains(&blk(0, 32)));
        a.free(y.offset).unwrap();
        assert!(a.free_blocks().contains(&blk(0, 64)));
        a.free(z.offset).unwrap();
        assert_eq!(a.free_blocks(), vec![blk(0, 256)]);
        assert_eq!((a.held_bytes(), a.requested_bytes()), (0, 0));
        assert_eq!(
            a.free(z.offset).unwrap_err(),
            BuddyError::NotAllocated { offset: 64 }
        );
    }

    #[test]
    fn every_offset_is_a_multiple_of_its_block_and_the_min_block() {
        let mut a = BuddyAllocator::new(256, 1 << 30).unwrap();
        let mut live = Vec::new();
        for (i, bytes) in [7u64, 1000, 300, 4096, 1, 70_000, 256, 513]
            .iter()
            .enumerate()
        {
            let b = a.alloc(*bytes).unwrap();
            assert_eq!(b.offset % b.size, 0);
            assert_eq!(b.offset % 256, 0);
            assert!(b.size >= *bytes && b.size.is_power_of_two());
            live.push(b);
            if i % 3 == 2 {
                let dead = live.remove(0);
                a.free(dead.offset).unwrap();
            }
        }
        live.sort();
        for w in live.windows(2) {
            assert!(w[0].offset + w[0].size <= w[1].offset, "{w:?} overlap");
        }
        assert!(live.iter().all(|b| b.offset + b.size <= a.heap_bytes()));
    }

    #[test]
    fn grows_by_doubling_and_keeps_existing_offsets() {
        let mut a = BuddyAllocator::new(32, 1024).unwrap();
        assert_eq!(a.heap_bytes(), 32);
        let x = a.alloc(32).unwrap();
        assert_eq!(x, blk(0, 32));
        let y = a.alloc(32).unwrap();
        assert_eq!((y, a.heap_bytes()), (blk(32, 32), 64));
        let z = a.alloc(100).unwrap();
        assert_eq!((z, a.heap_bytes()), (blk(128, 128), 256));
        // Growing from an empty heap yields one free block, not fragments.
        let mut e = BuddyAllocator::new(32, 1024).unwrap();
        assert_eq!(e.alloc(1000).unwrap(), blk(0, 1024));
        e.free(0).unwrap();
        assert_eq!(e.free_blocks(), vec![blk(0, 1024)]);
    }

    #[test]
    fn out_of_memory_past_the_heap_limit() {
        let mut a = BuddyAllocator::new(32, 128).unwrap();
        a.alloc(64).unwrap();
        a.alloc(64).unwrap();
        let err = a.alloc(1).unwrap_err();
        assert_eq!(
            err,
            BuddyError::OutOfMemory {
                requested: 1,
                block: 32,
                max_heap: 128,
                held: 128
            }
        );
        assert_eq!(a.heap_bytes(), 128);
        assert!(a.alloc(u64::MAX).is_err());
    }
}
