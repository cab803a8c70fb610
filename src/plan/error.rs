//! Errors of the planning layer.

use thiserror::Error;

/// Everything that can go wrong while reading, planning or validating.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// A buffer has size zero.
    #[error("buffer `{name}` has size 0")]
    ZeroSize {
        /// The buffer's name.
        name: String,
    },
    /// A buffer's alignment is zero.
    #[error("buffer `{name}` has alignment 0")]
    ZeroAlign {
        /// The buffer's name.
        name: String,
    },
    /// The planner name is not known.
    #[error("unknown planner `{0}` (known: {1})")]
    UnknownPlanner(String, String),
    /// A buffer's lifetime is empty (`end <= start`).
    #[error("buffer `{name}` has an empty lifetime [{start}, {end})")]
    EmptyLifetime {
        /// The buffer's name.
        name: String,
        /// Lifetime start.
        start: u64,
        /// Lifetime end (exclusive).
        end: u64,
    },
    /// The problem has more buffers than a `BufferId` can name.
    #[error("too many buffers: {0} (at most 2^32)")]
    TooManyBuffers(usize),
    /// An offset, size or arena computation overflowed `u64`.
    #[error("arithmetic overflow while placing buffer `{name}`")]
    Overflow {
        /// The buffer being placed.
        name: String,
    },
    /// A byte count (a region, a total, an aligned size) does not fit in a `u64`.
    #[error("byte count overflows 2^64: {what}")]
    SizeOverflow {
        /// What was being computed, with the sizes involved.
        what: String,
    },
    /// An offset alignment cannot be used.
    #[error("alignment {align} cannot be used: {reason}")]
    Alignment {
        /// The alignment asked for.
        align: u64,
        /// Why not.
        reason: String,
    },
    /// A perfect-packing request cannot be met (see `plan::perfect`).
    #[error("perfect packing: {0}")]
    Packing(String),
    /// A CSV input is malformed.
    #[error("CSV line {line}, column `{column}`: {message}")]
    Csv {
        /// 1-based line number in the file.
        line: usize,
        /// The column concerned (or `-` when the whole line is concerned).
        column: String,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read.
    #[error("cannot read `{path}`: {message}")]
    Io {
        /// The path.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// A plan has the wrong number of offsets.
    #[error("plan has {got} offsets but the problem has {expected} buffers")]
    OffsetCount {
        /// Number of buffers.
        expected: usize,
        /// Number of offsets.
        got: usize,
    },
    /// An offset is not a multiple of the buffer's alignment.
    #[error("buffer `{name}` at offset {offset} is not aligned to {align}")]
    Misaligned {
        /// The buffer's name.
        name: String,
        /// Its offset.
        offset: u64,
        /// Its alignment.
        align: u64,
    },
    /// A buffer ends past the arena.
    #[error("buffer `{name}` occupies [{offset}, {end}) beyond the arena of {arena_bytes} bytes")]
    OutsideArena {
        /// The buffer's name.
        name: String,
        /// Its offset.
        offset: u64,
        /// `offset + size`.
        end: u64,
        /// The plan's arena size.
        arena_bytes: u64,
    },
    /// `arena_bytes` differs from `max(offset + size)`.
    #[error("plan claims an arena of {claimed} bytes but its buffers end at {actual}")]
    ArenaMismatch {
        /// `Plan::arena_bytes`.
        claimed: u64,
        /// `max(offset + size)`.
        actual: u64,
    },
    /// Two buffers that are live at the same time share bytes.
    #[error("buffers {a} and {b} overlap in time and memory")]
    Overlap {
        /// The first buffer: "`name` (lifetime [s, e), bytes [o, o + size))".
        a: String,
        /// The second buffer, in the same form.
        b: String,
    },
    /// A planner returned an arena below the max-load lower bound: a planner or validator bug.
    #[error(
        "planner `{planner}` returned {arena_bytes} bytes, below the lower bound {lower_bound}"
    )]
    BelowLowerBound {
        /// The planner's name.
        planner: String,
        /// The arena it returned.
        arena_bytes: u64,
        /// The max-load lower bound.
        lower_bound: u64,
    },
    /// A search planner refuses a problem too large for it.
    #[error("planner `{planner}` accepts at most {limit} {what}; this problem has {actual}")]
    TooLarge {
        /// The planner's name.
        planner: &'static str,
        /// What is counted (`"buffers"`, `"conflicting pairs"`).
        what: &'static str,
        /// The limit.
        limit: usize,
        /// The problem's count.
        actual: usize,
    },
    /// The MILP solver failed (numerical trouble, or an answer that did not validate).
    #[error("planner `{planner}`: solver failed: {message}")]
    Solver {
        /// The planner's name.
        planner: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The schedule stage produced an order that does not apply to the graph: a scheduler bug.
    #[error("scheduler `{scheduler}` produced an invalid order: {message}")]
    InvalidSchedule {
        /// The scheduler's name.
        scheduler: String,
        /// Why the order does not apply.
        message: String,
    },
}
