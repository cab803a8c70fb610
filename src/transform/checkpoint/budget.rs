//! `budget:BYTES`: the least recompute whose planned arena fits.
//!
//! A dynamic programme over the segments (a 0/1 knapsack kept as its exact Pareto frontier)
//! gives, for every amount of stored activation bytes, the set of segments to drop with the
//! fewest recompute FLOPs: keeping segment `s` stores its backward-read activations, dropping
//! it recomputes the segment once. Dropped segments are recomputed in groups of
//! `round(sqrt(n))` consecutive segments that keep only the group's input, as `sqrt` does, so
//! dropping everything is `sqrt`. The frontier runs from "drop nothing" (`none`) to "drop
//! everything" with recompute rising; the planner (the `oracle`, given the rewritten graph,
//! returns its planned arena) then bisects it for the first candidate that fits. The arena is
//! not exactly monotone along the frontier, so the answer is the first fitting candidate the
//! bisection finds, verified by planning it; the smallest arena planned is in the error when
//! even dropping everything does not fit.

use super::segments::Forward;
use super::{CheckpointError, Checkpointed, grouped, sqrt_group};
use crate::graph::{Graph, TensorId, cost};
use std::fmt::Display;

/// Most frontier points kept (evenly thinned past it; first and last always kept).
const MAX_POINTS: usize = 2048;

#[derive(Clone, Debug)]
struct Point {
    kept_bytes: u64,
    flops: u64,
    drop: Vec<bool>,
}

/// The Pareto frontier of (stored bytes, recompute FLOPs) over which segments to drop, sorted
/// by FLOPs ascending (stored bytes descending). The last segment is always kept.
fn frontier(graph: &Graph, fw: &Forward) -> Vec<Point> {
    let n = fw.len();
    let none = fw.stored_by_none();
    let mut pts = vec![Point {
        kept_bytes: 0,
        flops: 0,
        drop: Vec::new(),
    }];
    for s in 0..n.saturating_sub(1) {
        let bytes = fw.segments[s]
            .clone()
            .flat_map(|i| graph.nodes[i].outputs.iter().copied())
            .filter(|&t| none[t.index()] && fw.root[t.index()] == t)
            .map(|t: TensorId| graph.tensors[t.index()].size_bytes())
            .fold(0u64, u64::saturating_add);
        let flops = cost::flops_of(graph, fw.segments[s].clone());
        let mut next = Vec::with_capacity(pts.len() * 2);
        for p in pts {
            let mut keep = p.clone();
            keep.kept_bytes = keep.kept_bytes.saturating_add(bytes);
            keep.drop.push(false);
            let mut drop = p;
            drop.flops = drop.flops.saturating_add(flops);
            drop.drop.push(true);
            next.push(keep);
            next.push(drop);
        }
        pts = prune(next);
    }
    // Dropping everything (`sqrt`) ends the frontier even where a segment storing nothing
    // made it a dominated point.
    let all = vec![true; n.saturating_sub(1)];
    if pts.last().is_some_and(|p| p.drop != all) {
        let flops = (0..n.saturating_sub(1))
            .map(|s| cost::flops_of(graph, fw.segments[s].clone()))
            .fold(0u64, u64::saturating_add);
        pts.push(Point {
            kept_bytes: 0,
            flops,
            drop: all,
        });
    }
    pts
}

/// Keeps the points no other point beats in both FLOPs and bytes, thinned to [`MAX_POINTS`].
fn prune(mut pts: Vec<Point>) -> Vec<Point> {
    pts.sort_by_key(|p| (p.flops, p.kept_bytes));
    let mut out: Vec<Point> = Vec::with_capacity(pts.len());
    for p in pts {
        if out.last().is_none_or(|l| p.kept_bytes < l.kept_bytes) {
            out.push(p);
        }
    }
    if out.len() > MAX_POINTS {
        let last = out.len() - 1;
        let step = out.len().div_ceil(MAX_POINTS);
        out = out
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % step == 0 || *i == last)
            .map(|(_, p)| p)
            .collect();
    }
    out
}

/// `budget:BYTES` on `graph` (forward pass `nodes[..forward_len]`): the candidate with the
/// least recompute whose arena, as `oracle` plans it, is at most `budget` bytes. Returns it
/// with its planned arena. An impossible budget is [`CheckpointError::BudgetUnmet`] with the
/// smallest arena planned; an oracle failure is [`CheckpointError::Oracle`].
pub fn apply_budget<E: Display>(
    graph: &Graph,
    forward_len: usize,
    budget: u64,
    oracle: &mut dyn FnMut(&Graph) -> Result<u64, E>,
) -> Result<(Checkpointed, u64), CheckpointError> {
    let fw = Forward::new(graph, forward_len)?;
    let pts = frontier(graph, &fw);
    let group = sqrt_group(fw.len());
    let mut planned = 0usize;
    let mut smallest: Option<(u64, String)> = None;
    let mut eval = |i: usize| -> Result<(Checkpointed, u64), CheckpointError> {
        let mut kept: Vec<bool> = pts[i].drop.iter().map(|d| !d).collect();
        kept.resize(fw.len(), true);
        let d = grouped(graph, &fw, &kept, group);
        let ck = super::rewrite::rewrite(graph, &fw, &d)?;
        let arena = oracle(&ck.graph).map_err(|e| CheckpointError::Oracle(e.to_string()))?;
        planned += 1;
        let dropped = pts[i].drop.iter().filter(|&&x| x).count();
        if smallest.as_ref().is_none_or(|(a, _)| arena < *a) {
            smallest = Some((arena, format!("{dropped} of {} segments dropped", fw.len())));
        }
        Ok((ck, arena))
    };
    let first = eval(0)?;
    if first.1 <= budget {
        return Ok(first);
    }
    let mut hi = pts.len() - 1;
    let mut best = eval(hi)?;
    if best.1 > budget || hi == 0 {
        let (s, strategy) = smallest.unwrap_or((best.1, String::new()));
        return Err(CheckpointError::BudgetUnmet {
            budget,
            smallest: s,
            strategy,
            candidates: planned,
        });
    }
    let mut lo = 0;
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let cand = eval(mid)?;
        if cand.1 <= budget {
            hi = mid;
            best = cand;
        } else {
            lo = mid;
        }
    }
    Ok(best)
}
