//! `randwire`: a randomly wired network in the manner of Xie et al. 2019 ("Exploring Randomly
//! Wired Neural Networks"), one cell at the stem's resolution.
//!
//! The wiring is a Watts-Strogatz graph on `nodes` nodes with `K = 4`, `P = 0.75`, generated as
//! networkx's `watts_strogatz_graph` does (ring lattice to the `K / 2` nearest neighbours on each
//! side, then each lattice edge `(u, u + j)` rewired with probability `P` to a uniformly chosen
//! `w` that is neither `u` nor already a neighbour), with this module's own splitmix64 stream
//! seeded by `--seed` so a seed always gives the same graph. With `nodes <= K` the lattice
//! degenerates and the graph is complete. Edges are made acyclic by node index (lower to
//! higher). Input `[batch, 3, image, image]` -> stem conv 3x3 (3 -> `width`); node `i` sums its
//! inputs with binary adds (nodes without inputs read the stem), then ReLU and a conv 3x3
//! `width -> width`; the nodes without successors are summed, global-average pooled, and a
//! linear gives 10 logits. Each node's conv gain is divided by its fan-in so a sum of many
//! inputs stays O(1).

use super::ModelError;
use super::common::{Net, OptionSpec, Sizes};
use crate::graph::{Graph, Op, TensorId};
use std::collections::BTreeSet;

/// Model name.
pub const NAME: &str = "randwire";
/// Output classes.
pub const CLASSES: usize = 10;
/// Watts-Strogatz neighbours per node (K / 2 on each side of the ring).
pub const K: usize = 4;
/// Watts-Strogatz rewiring probability.
pub const P: f64 = 0.75;

/// One-line description.
pub const DESCRIPTION: &str = "randomly wired CNN (Xie et al. 2019): Watts-Strogatz DAG (K=4, P=0.75) of nodes x (sum inputs, relu, conv3x3), stem conv, sum of sinks, avg pool, linear 10";

/// Options, defaults and meanings.
pub const OPTIONS: &[OptionSpec] = &[
    ("batch", 1, "images per batch"),
    ("image", 32, "square image side in pixels"),
    ("width", 8, "channels of every node"),
    ("nodes", 32, "nodes of the random graph"),
    ("seed", 1, "seed of the random graph (0 allowed)"),
];

/// splitmix64 (Steele, Lea, Flood 2014): a tiny generator whose stream never changes.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` from the top 53 bits.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n >= 1`; the modulo bias is below 2^-50 for any `n` used here).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// The undirected Watts-Strogatz graph on `n` nodes as neighbour sets.
pub fn watts_strogatz(n: usize, seed: u64) -> Vec<BTreeSet<usize>> {
    let mut adj = vec![BTreeSet::new(); n];
    let link = |adj: &mut Vec<BTreeSet<usize>>, a: usize, b: usize| {
        adj[a].insert(b);
        adj[b].insert(a);
    };
    if n <= K {
        for a in 0..n {
            for b in a + 1..n {
                link(&mut adj, a, b);
            }
        }
        return adj;
    }
    for j in 1..=K / 2 {
        for u in 0..n {
            link(&mut adj, u, (u + j) % n);
        }
    }
    let mut rng = SplitMix64(seed);
    for j in 1..=K / 2 {
        for u in 0..n {
            if rng.unit() >= P {
                continue;
            }
            let v = (u + j) % n;
            let mut w = rng.below(n);
            let mut full = false;
            while w == u || adj[u].contains(&w) {
                w = rng.below(n);
                if adj[u].len() >= n - 1 {
                    full = true;
                    break;
                }
            }
            if !full {
                adj[u].remove(&v);
                adj[v].remove(&u);
                link(&mut adj, u, w);
            }
        }
    }
    adj
}

/// Each node's predecessors (lower-indexed neighbours), ascending: the DAG the network runs.
pub fn dag(n: usize, seed: u64) -> Vec<Vec<usize>> {
    watts_strogatz(n, seed)
        .iter()
        .enumerate()
        .map(|(i, nb)| nb.iter().copied().filter(|&j| j < i).collect())
        .collect()
}

/// Sums `xs` left to right with binary adds named `name.add{k}` (one input: itself).
fn sum(net: &mut Net, name: &str, xs: &[TensorId]) -> Result<TensorId, ModelError> {
    let mut acc = xs[0];
    for (k, &x) in xs.iter().enumerate().skip(1) {
        acc = net.b.add(&format!("{name}.add{k}"), acc, x)?;
    }
    Ok(acc)
}

/// Builds the graph for resolved sizes.
pub fn build(s: &Sizes) -> Result<Graph, ModelError> {
    let w = s.width;
    let preds = dag(s.nodes, s.seed as u64);
    let mut net = Net::new(NAME);
    let img = net.image_input(s.batch, s.image);
    let stem = net.conv("stem.conv", img, (3, w), 3, 1, 1, true, 1.0)?;
    let mut outs: Vec<TensorId> = Vec::with_capacity(s.nodes);
    let mut has_successor = vec![false; s.nodes];
    for (i, p) in preds.iter().enumerate() {
        let ins: Vec<TensorId> = if p.is_empty() {
            vec![stem]
        } else {
            p.iter().map(|&j| outs[j]).collect()
        };
        p.iter().for_each(|&j| has_successor[j] = true);
        let name = format!("node{i}");
        let x = sum(&mut net, &name, &ins)?;
        let x = net.b.relu(&format!("{name}.relu"), x)?;
        let gain = 2.0 / ins.len() as f32;
        outs.push(net.conv(&format!("{name}.conv"), x, (w, w), 3, 1, 1, true, gain)?);
    }
    let sinks: Vec<TensorId> = outs
        .iter()
        .zip(&has_successor)
        .filter(|(_, has)| !**has)
        .map(|(&t, _)| t)
        .collect();
    let y = sum(&mut net, "out", &sinks)?;
    let pooled = net.b.op("gap", Op::GlobalAvgPool, &[y])?;
    let logits = net.linear("head", pooled, w, CLASSES, true, 1.0)?;
    net.finish(logits)
}
