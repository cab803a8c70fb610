//! ggml-alloc's dynamic tensor allocator (`ggml_dyn_tallocr` in ggml's `ggml-alloc.c`,
//! single-buffer form), replayed on the host: pure code, no device.
//!
//! ggml's graph allocator (`ggml_gallocr`) first runs the graph's allocation sequence through
//! this allocator in a measuring pass, records the high-water mark `max_size`, creates ONE
//! backend buffer of that size and then assigns the same offsets for real. The sequence is the
//! dynamic one: graph inputs first, then in node order each node's output (in place over its
//! input when the op can run in place, the input is an activation that is no graph output and
//! this node is its last reader: ggml's `ggml_op_can_inplace` and `n_children == 1` check,
//! here the same rule analysis applies), the inputs freed after their last reader.
//!
//! The allocator itself, as in `ggml_dyn_tallocr_alloc` / `ggml_dyn_tallocr_free_tensor`:
//! sizes are padded to the buffer alignment; free blocks are kept sorted by address, the last
//! one being the unbounded tail of the buffer; a request takes the best-fitting (smallest
//! sufficient; on ties the later) free block other than the tail, and the tail only when none
//! fits; the block's front is handed out and the rest stays free. A freed range merges with
//! the free block that ends where it starts and/or starts where it ends (the tail included),
//! else it is inserted in address order.

use super::timeline::{PoolAllocator, PoolBlock, ReplayError};
use std::collections::BTreeMap;

const SCHEME: &str = "ggml-style";

/// Size of the unbounded tail block (ggml uses `SIZE_MAX/2`).
const TAIL: u64 = u64::MAX / 2;

/// One free range of the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FreeBlock {
    offset: u64,
    size: u64,
}

/// The allocator's state during the measuring pass.
#[derive(Clone, Debug)]
pub(crate) struct DynAllocator {
    alignment: u64,
    /// Free blocks sorted by offset; the last is the unbounded tail.
    free_blocks: Vec<FreeBlock>,
    /// Offset and padded size of every allocated block.
    allocated: BTreeMap<u64, u64>,
    /// The high-water mark: the buffer size this sequence needs.
    max_size: u64,
}

impl DynAllocator {
    /// An empty buffer whose offsets and sizes are multiples of `alignment` (at least 1).
    pub fn new(alignment: u64) -> Self {
        Self {
            alignment: alignment.max(1),
            free_blocks: vec![FreeBlock {
                offset: 0,
                size: TAIL,
            }],
            allocated: BTreeMap::new(),
            max_size: 0,
        }
    }

    /// The high-water mark so far: the size of the one buffer ggml would create.
    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    /// The best-fitting free block for `size` (see the module docs).
    fn best_fit(&self, size: u64) -> usize {
        let last = self.free_blocks.len() - 1;
        let mut best = None;
        let mut best_size = u64::MAX;
        for (i, b) in self.free_blocks[..last].iter().enumerate() {
            if b.size >= size && b.size <= best_size {
                best = Some(i);
                best_size = b.size;
            }
        }
        best.unwrap_or(last)
    }

    /// Adds the free range `[offset, offset + size)`, merging with adjacent free blocks.
    fn release(&mut self, offset: u64, size: u64) {
        let end = offset + size;
        let blocks = &mut self.free_blocks;
        for i in 0..blocks.len() {
            if blocks[i].offset.saturating_add(blocks[i].size) == offset {
                blocks[i].size += size;
                if i + 1 < blocks.len() && blocks[i].offset + blocks[i].size == blocks[i + 1].offset
                {
                    blocks[i].size = blocks[i].size.saturating_add(blocks[i + 1].size);
                    blocks.remove(i + 1);
                }
                return;
            }
            if end == blocks[i].offset {
                blocks[i].offset = offset;
                blocks[i].size = blocks[i].size.saturating_add(size);
                if i > 0 && blocks[i - 1].offset + blocks[i - 1].size == offset {
                    blocks[i - 1].size = blocks[i - 1].size.saturating_add(blocks[i].size);
                    blocks.remove(i);
                }
                return;
            }
        }
        let at = blocks.partition_point(|b| b.offset < offset);
        blocks.insert(at, FreeBlock { offset, size });
    }
}

impl PoolAllocator for DynAllocator {
    fn alloc(&mut self, bytes: u64) -> Result<PoolBlock, ReplayError> {
        let overflow = ReplayError::Overflow {
            scheme: SCHEME,
            bytes,
        };
        let size = bytes
            .max(1)
            .checked_next_multiple_of(self.alignment)
            .filter(|&s| s < TAIL)
            .ok_or(overflow.clone())?;
        let i = self.best_fit(size);
        let block = &mut self.free_blocks[i];
        if block.size < size {
            return Err(overflow);
        }
        let offset = block.offset;
        block.offset += size;
        block.size -= size;
        if block.size == 0 {
            self.free_blocks.remove(i);
        }
        let end = offset.checked_add(size).ok_or(overflow)?;
        self.max_size = self.max_size.max(end);
        self.allocated.insert(offset, size);
        Ok(PoolBlock {
            segment: 0,
            offset,
            held: size,
        })
    }

    fn free(&mut self, block: PoolBlock) -> Result<(), ReplayError> {
        let size = self
            .allocated
            .remove(&block.offset)
            .ok_or(ReplayError::NotAllocated {
                scheme: SCHEME,
                segment: block.segment,
                offset: block.offset,
            })?;
        self.release(block.offset, size);
        Ok(())
    }

    fn segments(&self) -> &[u64] {
        &[]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(b: PoolBlock) -> (u64, u64) {
        (b.offset, b.held)
    }

    #[test]
    fn best_fit_before_the_tail_and_coalescing() {
        let mut a = DynAllocator::new(32);
        // 100 pads to 128 at 0; 64 at 128; 32 at 192: all from the tail, max 224.
        let x = a.alloc(100).unwrap();
        let y = a.alloc(64).unwrap();
        let z = a.alloc(32).unwrap();
        assert_eq!((at(x), at(y), at(z)), ((0, 128), (128, 64), (192, 32)));
        assert_eq!(a.max_size(), 224);
        // Free x: [0, 128) on its own. Free z: [192, 224) merges into the tail (now at 192).
        a.free(x).unwrap();
        a.free(z).unwrap();
        // 96: best fit among non-tail blocks is [0, 128); [96, 128) stays free.
        let d = a.alloc(96).unwrap();
        assert_eq!(at(d), (0, 96));
        // 40 pads to 64: [96, 128) is too small, so the tail at 192 serves it; max 256.
        let e = a.alloc(40).unwrap();
        assert_eq!(at(e), (192, 64));
        assert_eq!(a.max_size(), 256);
        // Free y [128, 192): merges with [96, 128) into [96, 192) (e blocks the tail).
        a.free(y).unwrap();
        // 90 pads to 96 and fits [96, 192) exactly; the high-water mark does not move.
        assert_eq!(at(a.alloc(90).unwrap()), (96, 96));
        assert_eq!(a.max_size(), 256);
        assert!(matches!(a.free(y), Err(ReplayError::NotAllocated { .. })));
    }

    #[test]
    fn ties_go_to_the_later_block_and_merges_reach_both_sides() {
        let mut a = DynAllocator::new(32);
        let b: Vec<PoolBlock> = (0..4).map(|_| a.alloc(64).unwrap()).collect();
        // Blocks at 0, 64, 128, 192; tail at 256. Free the first and third: two 64-byte holes.
        a.free(b[0]).unwrap();
        a.free(b[2]).unwrap();
        // ggml's `<=` keeps the LAST equal-size block: 128, not 0.
        assert_eq!(at(a.alloc(64).unwrap()).0, 128);
        // Free b[1] [64, 128): merges with [0, 64) before it; [128, 192) is in use.
        a.free(b[1]).unwrap();
        // 128 fits the merged [0, 128) exactly.
        assert_eq!(at(a.alloc(128).unwrap()), (0, 128));
        assert_eq!(a.max_size(), 256);
    }

    #[test]
    fn a_freed_block_between_two_free_blocks_joins_them() {
        let mut a = DynAllocator::new(32);
        let b: Vec<PoolBlock> = (0..4).map(|_| a.alloc(64).unwrap()).collect();
        // Free [0, 64) and [128, 192), then [64, 128): it ends where [128, 192) starts and
        // starts where [0, 64) ends, so all three become one free block [0, 192).
        a.free(b[0]).unwrap();
        a.free(b[2]).unwrap();
        a.free(b[1]).unwrap();
        // 192 bytes fit at 0 without touching the tail at 256.
        assert_eq!(at(a.alloc(192).unwrap()), (0, 192));
        assert_eq!(a.max_size(), 256);
    }
}
