//! `greedy` (seed 5.4.2): repeatedly run the ready node whose step changes the live bytes the
//! least (bytes freed minus bytes allocated, largest first); ties go to the smaller output, then
//! to the earlier program position. One pass, O(n^2) ready checks.

use super::model::{MemoryModel, empty_set, insert};

/// The greedy order (program positions) and its peak.
pub fn greedy(m: &MemoryModel) -> (Vec<usize>, u64) {
    let mut done = empty_set(m.n);
    let mut live = m.initial_live();
    let mut peak = 0u64;
    let mut order = Vec::with_capacity(m.n);
    for _ in 0..m.n {
        let best = (0..m.n)
            .filter(|&i| m.ready(&done, i))
            .map(|i| {
                let c = m.step(&done, live, i);
                let change = i128::from(c.after) - i128::from(live);
                ((change, m.out_bytes(i), i), c)
            })
            .min_by_key(|&(key, _)| key);
        let Some(((_, _, i), c)) = best else {
            break;
        };
        peak = peak.max(c.during);
        live = c.after;
        insert(&mut done, i);
        order.push(i);
    }
    (order, peak)
}
