//! `exact`: a dynamic programme over the sets of executed nodes (the downsets of the DAG), in
//! the manner of Serenity (Ahn et al., MLSys 2020). The state is the set of nodes run so far;
//! its value is the least peak of any order reaching it (the live bytes after a set do not
//! depend on the order inside it, so the peak of a completion depends only on the set). States
//! are expanded layer by layer (sets of size k, then k + 1), each keeping the predecessor that
//! reached it with the least peak; states whose peak exceeds a known order's peak (the upper
//! bound, from `beam`) are pruned, as Serenity prunes with its budget. The search stops at a
//! time limit or a state cap and then reports that it did not finish.

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
    /// No order stays within the upper bound it was given (a wrong bound).
    NoOrderWithinBound,
}

/// The search's answer: an optimal order and its peak, or why it stopped.
pub type ExactResult = Result<(Vec<usize>, u64, usize), Unfinished>;

/// One stored state: how it was reached.
struct Entry {
    parent: u32,
    node: u32,
    peak: u64,
}

/// The minimum-peak order (program positions), its peak and the number of states explored,
/// given an order with peak `upper_bound` exists (pass `u64::MAX` if none is known).
pub fn exact(m: &MemoryModel, upper_bound: u64, limit: Duration, cap: usize) -> ExactResult {
    let started = Instant::now();
    let mut entries = vec![Entry {
        parent: u32::MAX,
        node: u32::MAX,
        peak: 0,
    }];
    // The current layer: (set, index into entries, live bytes after the set).
    let mut layer: Vec<(NodeSet, u32, u64)> = vec![(empty_set(m.n), 0, m.initial_live())];
    let mut expanded = 0usize;
    for _ in 0..m.n {
        let mut next: Vec<(NodeSet, u32, u64)> = Vec::new();
        let mut index: HashMap<NodeSet, usize> = HashMap::new();
        for (done, e, live) in &layer {
            let base = entries[*e as usize].peak;
            for i in (0..m.n).filter(|&i| m.ready(done, i)) {
                expanded += 1;
                if expanded % 1024 == 0 && started.elapsed() > limit {
                    return Err(Unfinished::TimeLimit);
                }
                let c = m.step(done, *live, i);
                let peak = base.max(c.during);
                if peak > upper_bound {
                    continue;
                }
                let mut set = done.clone();
                insert(&mut set, i);
                if let Some(&k) = index.get(&set) {
                    let slot = &mut entries[next[k].1 as usize];
                    if peak < slot.peak {
                        *slot = Entry {
                            parent: *e,
                            node: i as u32,
                            peak,
                        };
                    }
                    continue;
                }
                if entries.len() >= cap {
                    return Err(Unfinished::StateCap);
                }
                index.insert(set.clone(), next.len());
                next.push((set, entries.len() as u32, c.after));
                entries.push(Entry {
                    parent: *e,
                    node: i as u32,
                    peak,
                });
            }
        }
        if next.is_empty() {
            return Err(Unfinished::NoOrderWithinBound);
        }
        layer = next;
    }
    let (_, last, _) = layer.first().ok_or(Unfinished::NoOrderWithinBound)?;
    let peak = entries[*last as usize].peak;
    let mut order = Vec::with_capacity(m.n);
    let mut k = *last;
    while entries[k as usize].parent != u32::MAX {
        order.push(entries[k as usize].node as usize);
        k = entries[k as usize].parent;
    }
    order.reverse();
    Ok((order, peak, entries.len()))
}
