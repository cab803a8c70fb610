//! `exact`: a dynamic programme over the sets of executed nodes (the downsets of the DAG), in
//! the manner of Serenity (Ahn et al., MLSys 2020). The state is the set of nodes run so far;
//! its value is the least peak of any order reaching it (the live bytes after a set do not
//! depend on the order inside it, so the peak of a completion depends only on the set). States
//! are expanded layer by layer, each keeping the predecessor that reached it with the least
//! peak. A node that is free to run right after its producer (an in-place unary op on a tensor
//! only it reads: [`MemoryModel::follower`]) runs together with it, which loses no optimum and
//! shrinks the state space; states whose peak exceeds a known order's peak (the upper
//! bound) are pruned, as Serenity prunes with its budget. One pass with bound `B` either finds
//! the optimum (when it is at most `B`: every optimal order then stays within `B`) or proves the
//! optimum exceeds `B`. [`exact_search`] bisects `B` between a lower bound ([`MemoryModel::
//! floor`]) and the best known order's peak, so most passes are cheap, tightly pruned ones. The
//! search stops at a time limit or a state cap and then reports that it did not finish.

use super::model::{MemoryModel, NodeSet, empty_set, insert};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Most states `exact` keeps (all layers together) before giving up: about 24 bytes each plus
/// two layers of bitsets, so a few hundred MiB at most for graphs of a few hundred nodes.
pub const STATE_CAP: usize = 4_000_000;

/// Why the dynamic programme did not finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unfinished {
    /// The time limit passed.
    TimeLimit,
    /// More than [`STATE_CAP`] states.
    StateCap,
    /// No order stays within the bound; every order's peak is at least `least_above` (the
    /// least step peak the pass pruned), so the next bound to try is at least that.
    NoOrderWithinBound {
        /// The least pruned step peak (`u64::MAX` when nothing was pruned).
        least_above: u64,
    },
}

/// The search's answer: an optimal order and its peak, or why it stopped.
pub type ExactResult = Result<(Vec<usize>, u64, usize), Unfinished>;

/// One stored state: how it was reached.
struct Entry {
    parent: u32,
    node: u32,
    peak: u64,
}

/// One layer of the programme: (set, index into the entries, live bytes after the set).
type Layer = Vec<(NodeSet, u32, u64)>;

/// Runs `i` and the chain of free followers it drags along ([`MemoryModel::follower`]) after
/// `done`, writing the new set into `set`: the peak of those steps and the live bytes after.
fn advance(m: &MemoryModel, done: &[u64], live: u64, i: usize, set: &mut Vec<u64>) -> (u64, u64) {
    set.clear();
    set.extend_from_slice(done);
    let (mut peak, mut live, mut k) = (0u64, live, Some(i));
    while let Some(v) = k {
        let c = m.step(set, live, v);
        peak = peak.max(c.during);
        live = c.after;
        insert(set, v);
        k = m.follower(v);
    }
    (peak, live)
}

/// The minimum-peak order (program positions), its peak and the number of states stored,
/// among the orders whose peak is at most `bound` (`u64::MAX`: no bound).
pub fn exact(m: &MemoryModel, bound: u64, limit: Duration, cap: usize) -> ExactResult {
    let started = Instant::now();
    let mut entries = vec![Entry {
        parent: u32::MAX,
        node: u32::MAX,
        peak: 0,
    }];
    let mut layer: Layer = vec![(empty_set(m.n), 0, m.initial_live())];
    let heads = (0..m.n).filter(|&i| !m.is_follower(i)).count();
    let mut expanded = 0usize;
    let mut least_above = u64::MAX;
    let mut scratch = Vec::with_capacity(m.n.div_ceil(64));
    for _ in 0..heads {
        // Each new set once: its position in `next` (entry, live bytes after it).
        let mut index: HashMap<NodeSet, u32> = HashMap::new();
        let mut next: Vec<(u32, u64)> = Vec::new();
        for (done, e, live) in &layer {
            let base = entries[*e as usize].peak;
            for i in (0..m.n).filter(|&i| !m.is_follower(i) && m.ready(done, i)) {
                expanded += 1;
                if expanded % 1024 == 1 && started.elapsed() > limit {
                    return Err(Unfinished::TimeLimit);
                }
                let (during, after) = advance(m, done, *live, i, &mut scratch);
                let peak = base.max(during);
                if peak > bound {
                    least_above = least_above.min(peak);
                    continue;
                }
                let entry = Entry {
                    parent: *e,
                    node: i as u32,
                    peak,
                };
                if let Some(&k) = index.get(scratch.as_slice()) {
                    let slot = &mut entries[next[k as usize].0 as usize];
                    if peak < slot.peak {
                        *slot = entry;
                    }
                    continue;
                }
                if entries.len() >= cap {
                    return Err(Unfinished::StateCap);
                }
                index.insert(scratch.as_slice().into(), next.len() as u32);
                next.push((entries.len() as u32, after));
                entries.push(entry);
            }
        }
        if next.is_empty() {
            return Err(Unfinished::NoOrderWithinBound { least_above });
        }
        // The next layer in insertion order, so ties resolve the same way on every run.
        let mut sets: Vec<(u32, NodeSet)> = index.into_iter().map(|(set, k)| (k, set)).collect();
        sets.sort_unstable_by_key(|&(k, _)| k);
        layer = sets
            .into_iter()
            .map(|(k, set)| (set, next[k as usize].0, next[k as usize].1))
            .collect();
    }
    let (_, last, _) = layer
        .first()
        .ok_or(Unfinished::NoOrderWithinBound { least_above })?;
    Ok((
        unwind(m, &entries, *last),
        entries[*last as usize].peak,
        entries.len(),
    ))
}

/// The order that reached entry `last`, followers included.
fn unwind(m: &MemoryModel, entries: &[Entry], last: u32) -> Vec<usize> {
    let mut heads = Vec::new();
    let mut k = last;
    while entries[k as usize].parent != u32::MAX {
        heads.push(entries[k as usize].node as usize);
        k = entries[k as usize].parent;
    }
    let mut order = Vec::with_capacity(m.n);
    for &h in heads.iter().rev() {
        let mut v = Some(h);
        while let Some(x) = v {
            order.push(x);
            v = m.follower(x);
        }
    }
    order
}

/// What [`exact_search`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Search {
    /// The best order found (the known one when nothing better was found).
    pub order: Vec<usize>,
    /// Its peak.
    pub peak: u64,
    /// True when `peak` is proven minimal.
    pub proven: bool,
    /// States stored by the pass that found the optimum (0 otherwise).
    pub states: usize,
    /// Passes that proved the optimum above their bound.
    pub passes: usize,
    /// Why the search stopped before a proof, if it did.
    pub stopped: Option<Unfinished>,
    /// A proven lower bound on the optimum (equal to `peak` when proven).
    pub lower: u64,
}

/// The minimum-peak order by bisection on the bound: `known` is an order (program positions)
/// with peak `known_peak`; the passes share the time `limit`, each may store `cap` states.
pub fn exact_search(
    m: &MemoryModel,
    known: &[usize],
    known_peak: u64,
    limit: Duration,
    cap: usize,
) -> Search {
    let started = Instant::now();
    let mut out = Search {
        order: known.to_vec(),
        peak: known_peak,
        proven: false,
        states: 0,
        passes: 0,
        stopped: None,
        lower: 0,
    };
    // The optimum lies in [lo, out.peak]: passes below lo are pointless, out.peak is reached.
    let mut lo = m.floor().min(out.peak);
    out.lower = lo;
    while lo < out.peak {
        let mid = lo + (out.peak - lo - 1) / 2;
        let left = limit.saturating_sub(started.elapsed());
        match exact(m, mid, left, cap) {
            Ok((order, peak, states)) => {
                // Optimal: every optimal order stays within `mid`, so the pass saw them all.
                out.states = states;
                (out.order, out.peak, out.proven, out.lower) = (order, peak, true, peak);
                return out;
            }
            Err(Unfinished::NoOrderWithinBound { least_above }) => {
                out.passes += 1;
                lo = least_above.max(mid + 1);
                out.lower = lo.min(out.peak);
            }
            Err(why) => {
                out.stopped = Some(why);
                return out;
            }
        }
    }
    out.proven = true;
    out.lower = out.peak;
    out
}
