//! Binomial checkpointing (Griewank and Walther 2000, "Algorithm 799: revolve") for a chain of
//! `n` steps with `slots` checkpoint slots.
//!
//! The model: states `x_0 .. x_n`, step `i` maps `x_i` to `x_{i+1}`. `x_0` starts stored in a
//! slot; at most `slots` states are stored at once. Reversing step `i` needs `x_i` in hand
//! (that reversal re-runs step `i` while recording, and is not counted); steps are reversed
//! from `n - 1` down to 0. The cost is the number of forward steps run (advances), the first
//! sweep included. The optimum `P(n, c)` satisfies `P(1, c) = 0`, `P(n, 1) = n (n - 1) / 2`
//! and `P(n, c) = min over 0 < m < n of m + P(n - m, c - 1) + P(m, c)`: advance `m` steps,
//! store `x_m`, reverse the last `n - m` steps with the remaining slots, then the first `m`
//! with all of them. (The closed form is Griewank's binomial bound; the test compares the
//! programme with a brute-force search over every schedule.)
//!
//! In a training graph each step is a segment, the first sweep up to `x_{n-1}` plus the
//! reversal of the last step is the original forward pass, and every later advance and every
//! later reversal clones one segment: the recomputed segments number exactly `P(n, c)`.

/// One action of a revolve schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Run step `i`: `x_i` to `x_{i+1}`.
    Advance(usize),
    /// Store the state in hand, `x_i`, in a free slot.
    Store(usize),
    /// Reverse step `i` (needs `x_i` in hand); frees nothing.
    Reverse(usize),
}

/// The optimal costs `P(n, c)` for every `n <= steps` and `c <= slots`, with the best first
/// advance for each.
#[derive(Clone, Debug)]
pub struct Revolve {
    cost: Vec<Vec<u64>>,
    split: Vec<Vec<usize>>,
    slots: usize,
}

impl Revolve {
    /// The table for chains up to `steps` long with up to `slots` slots (`slots >= 1`; more
    /// slots than steps help nothing, so the table stops at `steps`).
    pub fn new(steps: usize, slots: usize) -> Revolve {
        let slots = slots.clamp(1, steps.max(1));
        let mut cost = vec![vec![0u64; slots + 1]; steps + 1];
        let mut split = vec![vec![0usize; slots + 1]; steps + 1];
        for n in 2..=steps {
            let nn = n as u64;
            cost[n][1] = nn * (nn - 1) / 2;
            split[n][1] = 0;
            for c in 2..=slots {
                let mut best = (u64::MAX, 0);
                for m in 1..n {
                    let v = (m as u64)
                        .saturating_add(cost[n - m][c - 1])
                        .saturating_add(cost[m][c]);
                    if v < best.0 {
                        best = (v, m);
                    }
                }
                cost[n][c] = best.0;
                split[n][c] = best.1;
            }
        }
        Revolve { cost, split, slots }
    }

    /// `P(n, c)`: the fewest advances reversing `n` steps with `c` slots (`c` clamped to the
    /// table; 0 for `n` past the table is never returned: the table covers `n <= steps`).
    pub fn cost(&self, n: usize, c: usize) -> u64 {
        let c = c.clamp(1, self.slots);
        self.cost.get(n).map(|row| row[c]).unwrap_or(u64::MAX)
    }

    /// An optimal schedule for `n` steps with `c` slots (`x_0` stored at the start).
    pub fn schedule(&self, n: usize, c: usize) -> Vec<Action> {
        let mut out = Vec::new();
        self.reverse(
            0,
            n.min(self.cost.len().saturating_sub(1)),
            c.clamp(1, self.slots),
            &mut out,
        );
        out
    }

    fn reverse(&self, lo: usize, n: usize, c: usize, out: &mut Vec<Action>) {
        match (n, c) {
            (0, _) => {}
            (1, _) => out.push(Action::Reverse(lo)),
            (_, 1) => {
                for k in (0..n).rev() {
                    out.extend((lo..lo + k).map(Action::Advance));
                    out.push(Action::Reverse(lo + k));
                }
            }
            _ => {
                let m = self.split[n][c];
                out.extend((lo..lo + m).map(Action::Advance));
                out.push(Action::Store(lo + m));
                self.reverse(lo + m, n - m, c - 1, out);
                self.reverse(lo, m, c, out);
            }
        }
    }
}

/// Replays `actions` on the revolve model and returns the number of advances, or why the
/// schedule is invalid: a reversal without its state in hand, a step reversed out of order, a
/// store past `slots`, or a chain left unreversed. Restores from stored states are implicit:
/// an advance or reversal needing `x_i` takes it from the hand or from a stored slot, and the
/// states above the next step to reverse are freed once it is reversed.
pub fn replay(n: usize, slots: usize, actions: &[Action]) -> Result<u64, String> {
    let mut stored = vec![0usize];
    let mut hand: Option<usize> = Some(0);
    let mut next = n.checked_sub(1);
    let mut advances = 0;
    let have =
        |hand: Option<usize>, stored: &[usize], i: usize| hand == Some(i) || stored.contains(&i);
    for (k, &a) in actions.iter().enumerate() {
        match a {
            Action::Advance(i) => {
                if !have(hand, &stored, i) || next.is_none_or(|r| i >= r) {
                    return Err(format!(
                        "action {k}: advance {i} without x_{i} or past the next reversal"
                    ));
                }
                hand = Some(i + 1);
                advances += 1;
            }
            Action::Store(i) => {
                if hand != Some(i) || stored.len() >= slots {
                    return Err(format!(
                        "action {k}: store x_{i} not in hand or no free slot"
                    ));
                }
                stored.push(i);
            }
            Action::Reverse(i) => {
                if next != Some(i) || !have(hand, &stored, i) {
                    return Err(format!(
                        "action {k}: reverse {i} out of order or without x_{i}"
                    ));
                }
                next = i.checked_sub(1);
                stored.retain(|&s| s < i || s == 0);
                hand = None;
            }
        }
    }
    match next {
        None => Ok(advances),
        Some(r) => Err(format!("step {r} was never reversed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    /// The fewest advances over every schedule, by a 0-1 breadth-first search over the states
    /// (stored set, state in hand, next step to reverse); storing, restoring, freeing and
    /// reversing cost nothing, advancing costs one.
    fn brute_force(n: usize, slots: usize) -> u64 {
        // State: stored mask over x_0..x_{n-1}, hand (n = nothing), next (n = done).
        let idx = |mask: usize, hand: usize, next: usize| (mask * (n + 1) + hand) * (n + 1) + next;
        let mut dist = vec![u64::MAX; (1 << n) * (n + 1) * (n + 1)];
        let mut q = VecDeque::new();
        let start = (1usize, 0usize, n - 1);
        dist[idx(start.0, start.1, start.2)] = 0;
        q.push_back(start);
        while let Some((mask, hand, next)) = q.pop_front() {
            let d = dist[idx(mask, hand, next)];
            if next == n {
                return d;
            }
            let mut go = |s: (usize, usize, usize), w: u64, q: &mut VecDeque<_>| {
                let slot = &mut dist[idx(s.0, s.1, s.2)];
                if d + w < *slot {
                    *slot = d + w;
                    if w == 0 {
                        q.push_front(s)
                    } else {
                        q.push_back(s)
                    }
                }
            };
            if hand < n {
                if hand < next {
                    go((mask, hand + 1, next), 1, &mut q);
                }
                if mask & (1 << hand) == 0 && (mask.count_ones() as usize) < slots {
                    go((mask | (1 << hand), hand, next), 0, &mut q);
                }
                if hand == next {
                    let done = if next == 0 { n } else { next - 1 };
                    go((mask, n, done), 0, &mut q);
                }
            }
            for j in 0..n {
                if mask & (1 << j) != 0 {
                    if j <= next {
                        go((mask, j, next), 0, &mut q);
                    }
                    go((mask & !(1 << j), hand, next), 0, &mut q);
                }
            }
        }
        u64::MAX
    }

    #[test]
    fn known_values() {
        let r = Revolve::new(12, 12);
        assert_eq!(r.cost(1, 1), 0);
        assert_eq!(r.cost(5, 1), 10);
        // Every state stored: each step advanced once, except the last.
        assert_eq!(r.cost(7, 7), 6);
        // Advance 3 and store x_3, advance 2 more, reverse 5; 1 more, reverse 4; reverse 3;
        // from x_0 advance 1 and store x_1, advance 1, reverse 2, 1, 0: 8 advances.
        assert_eq!(r.cost(6, 2), 8);
    }

    #[test]
    fn replay_rejects_bad_schedules() {
        use Action::*;
        assert_eq!(replay(2, 1, &[Advance(0), Reverse(1), Reverse(0)]), Ok(1));
        assert!(replay(2, 1, &[Reverse(1), Reverse(0)]).is_err());
        assert!(replay(2, 1, &[Advance(0), Reverse(1)]).is_err());
        assert!(replay(3, 1, &[Advance(0), Store(1), Advance(1), Reverse(2)]).is_err());
    }

    #[test]
    fn exhaustive_small_chains_match_brute_force() {
        let r = Revolve::new(8, 8);
        for n in 1..=8 {
            for c in 1..=n {
                let want = brute_force(n, c);
                assert_eq!(r.cost(n, c), want, "n {n} c {c}");
                assert_eq!(replay(n, c, &r.schedule(n, c)), Ok(want), "n {n} c {c}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn revolve_matches_brute_force_up_to_12(n in 1usize..=12, c in 1usize..=12) {
            let c = c.min(n);
            let r = Revolve::new(n, c);
            let want = brute_force(n, c);
            prop_assert_eq!(r.cost(n, c), want);
            prop_assert_eq!(replay(n, c, &r.schedule(n, c)), Ok(want));
        }
    }
}
