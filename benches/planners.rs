//! Planner speed on synthetic traces of 1k, 10k and 60k buffers.
//!
//! Guards the scalability of the planning layer: the offset planners (`greedy-size`,
//! `best-fit`, `first-fit`) and the validator must stay near `O(n log n)` on realistic traces
//! (most buffers short-lived, a few long-lived), so that 60k-buffer traces such as idealloc's
//! `Y_1` plan in well under a second; `coloring` and `greedy-breadth` are measured up to 10k.
//! Instances come from a fixed-seed LCG, so runs are comparable. Sample sizes are small so
//! that `cargo bench --bench planners` finishes in a few minutes.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use tessera::plan::{Budget, Buffer, Lifetime, Problem, planner_by_name, validate};

/// Knuth's MMIX LCG; the high bits are used.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `n` buffers over `n / 2` steps: 90% live 1-8 steps, 10% live up to a fifth of the trace;
/// sizes log-uniform from 64 B to 4 MiB; alignments in {1, 4, 32, 256}.
fn trace(n: usize, seed: u64) -> Problem {
    let mut rng = Lcg(seed);
    let steps = (n as u64 / 2).max(10);
    let buffers = (0..n)
        .map(|i| {
            let start = rng.below(steps);
            let len = if rng.below(10) == 0 {
                1 + rng.below(steps / 5)
            } else {
                1 + rng.below(8)
            };
            let size = (64u64 << rng.below(16)) + rng.below(64);
            let align = [1, 4, 32, 256][rng.below(4) as usize];
            Buffer {
                name: format!("t{i}"),
                lifetime: Lifetime {
                    start,
                    end: start + len,
                },
                size,
                align,
            }
        })
        .collect();
    Problem { buffers }
}

fn bench_planners(c: &mut Criterion) {
    let mut group = c.benchmark_group("planners");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    let budget = Budget::default();
    for n in [1_000usize, 10_000, 60_000] {
        let problem = trace(n, 42);
        for name in [
            "greedy-size",
            "best-fit",
            "first-fit",
            "coloring",
            "greedy-breadth",
        ] {
            if n > 10_000 && matches!(name, "coloring" | "greedy-breadth") {
                continue;
            }
            let planner = planner_by_name(name).expect("registered planner");
            group.bench_with_input(BenchmarkId::new(name, n), &problem, |b, p| {
                b.iter(|| planner.plan(black_box(p), &budget).expect("plans"));
            });
        }
        let plan = planner_by_name("greedy-size")
            .expect("registered")
            .plan(&problem, &budget)
            .expect("plans")
            .plan;
        group.bench_with_input(BenchmarkId::new("validate", n), &problem, |b, p| {
            b.iter(|| validate(black_box(p), black_box(&plan)).expect("valid"));
        });
    }
    group.finish();
}

criterion_group!(benches, bench_planners);
criterion_main!(benches);
