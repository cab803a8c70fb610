//! Planning a minimalloc-format CSV file (`id,lower,upper,size`, lifetimes half-open) with the
//! library alone: every planner's arena against the max-load lower bound, each plan validated,
//! and the rows written back with an `offset` column (what `tessera plan-csv` does).
//!
//! Usage: `cargo run --release --example csv_planning -- [FILE.csv]` (default: the minimalloc
//! example `tests/data/input.12.csv`).

use std::error::Error;
use std::path::PathBuf;
use std::time::Duration;
use tessera::plan::{Budget, lower_bound, planner_by_name, read_csv, validate, write_csv};

fn main() -> Result<(), Box<dyn Error>> {
    plan_file(std::env::args().nth(1).map(PathBuf::from))
}

/// Plans `path` (default: `tests/data/input.12.csv`) with four planners.
fn plan_file(path: Option<PathBuf>) -> Result<(), Box<dyn Error>> {
    let path = path.unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/input.12.csv")
    });
    let problem = read_csv(&path)?;
    let lb = lower_bound(&problem);
    println!(
        "{}: {} buffers, lower bound {lb}",
        path.display(),
        problem.buffers.len()
    );
    let budget = Budget {
        time_limit: Duration::from_secs(1),
    };
    let mut best = None;
    for name in ["naive", "first-fit", "greedy-size", "exact"] {
        let planner = planner_by_name(name)?;
        let outcome = planner.plan(&problem, &budget)?;
        validate(&problem, &outcome.plan)?;
        let arena = outcome.plan.arena_bytes;
        println!(
            "{name:<12} peak {arena:>8}  ratio {:.4}{}",
            arena as f64 / lb.max(1) as f64,
            if outcome.proven_optimal {
                "  (proven optimal)"
            } else {
                ""
            }
        );
        if best.as_ref().is_none_or(|(_, a)| arena < *a) {
            best = Some((outcome.plan, arena));
        }
    }
    let (plan, _) = best.ok_or("no planner ran")?;
    let csv = write_csv(&problem, &plan);
    println!("\nthe best plan as CSV (first rows):");
    for line in csv.lines().take(4) {
        println!("  {line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_runs() {
        super::plan_file(None).expect("csv_planning example");
    }
}
