//! Runs every registered planner on every benchmark CSV and prints a Markdown table.
//!
//! Usage: `cargo run --release --example planner_table -- [DIR] [SECONDS] [PLANNERS]`
//! - `DIR`: folder holding `minimalloc/*.csv` and `idealloc/*.csv` (default
//!   `$CARGO_MANIFEST_DIR/../shared/benchmarks`);
//! - `SECONDS`: time limit per search planner and file (default 10);
//! - `PLANNERS`: optional comma-separated subset of planner names.
//!
//! Every plan is validated and checked against the max-load lower bound (LB). Cells read
//! `peak/LB (planner time)`, with `*` when the planner proved optimality and `>=r` when it
//! proved no plan is smaller than `r * LB` (a bound raised by the search). The last row is the
//! geometric mean of the ratio over the minimalloc A-K files.
//!
//! Skip rule (planners whose cost would be hopeless on the largest traces): `ilp` above 60
//! buffers; `matching` (O(g^2) pair checks per round) above 4,000 buffers; `coloring` (explicit
//! interference graph, O(colours) per node in select) above 10,000 buffers. Search planners that
//! refuse a problem as too large (`PlanError::TooLarge`) show `refused: ...`; any other error is
//! a failure (exit status 1).

use std::path::{Path, PathBuf};
use std::time::Duration;
use tessera::plan::{
    Budget, PlanError, Problem, lower_bound, plan_and_check, planner_names, read_csv,
};

/// The largest problem each planner is run on (`None`: no limit).
fn size_limit(planner: &str) -> Option<usize> {
    match planner {
        "ilp" => Some(60),
        "matching" => Some(4_000),
        "coloring" => Some(10_000),
        _ => None,
    }
}

fn csv_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "csv"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn is_hard_set(name: &str) -> bool {
    name.len() > 2 && name.as_bytes()[1] == b'.' && (b'A'..=b'K').contains(&name.as_bytes()[0])
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/benchmarks"));
    let seconds: f64 = match args.get(1).map(|s| s.parse::<f64>()) {
        None => 10.0,
        Some(Ok(s)) if s > 0.0 && s.is_finite() => s,
        Some(_) => {
            eprintln!("SECONDS must be a positive number");
            std::process::exit(2);
        }
    };
    let planners: Vec<&str> = match args.get(2) {
        Some(list) => planner_names()
            .iter()
            .copied()
            .filter(|n| list.split(',').any(|x| x == *n))
            .collect(),
        None => planner_names().to_vec(),
    };
    let budget = Budget {
        time_limit: Duration::from_secs_f64(seconds),
    };

    let mut files = csv_files(&dir.join("minimalloc"));
    files.extend(csv_files(&dir.join("idealloc")));
    if files.is_empty() {
        eprintln!("no CSV files under {}", dir.display());
        std::process::exit(1);
    }

    println!("| file | buffers | LB | {} |", planners.join(" | "));
    println!("|---|---:|---:|{}", "---|".repeat(planners.len()));
    let mut log_sums = vec![(0.0f64, 0usize); planners.len()];
    let mut failures = 0;
    for path in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let problem: Problem = match read_csv(path) {
            Ok(p) => p,
            Err(e) => {
                println!("| {name} | read error: {e} |");
                failures += 1;
                continue;
            }
        };
        let n = problem.buffers.len();
        let mut cells = Vec::with_capacity(planners.len());
        for (k, &planner) in planners.iter().enumerate() {
            if size_limit(planner).is_some_and(|limit| n > limit) {
                cells.push("skipped (n too large)".to_string());
                continue;
            }
            match plan_and_check(&problem, planner, &budget) {
                Ok((_, report)) => {
                    if is_hard_set(&name) {
                        log_sums[k].0 += report.ratio.ln();
                        log_sums[k].1 += 1;
                    }
                    // A bound the search raised above the max-load bound: `>=ratio`.
                    let raised = if !report.proven_optimal
                        && report.proven_lower_bound > report.lower_bound
                    {
                        format!(
                            " >={:.4}",
                            report.proven_lower_bound as f64 / report.lower_bound.max(1) as f64
                        )
                    } else {
                        String::new()
                    };
                    cells.push(format!(
                        "{:.4}{}{raised} ({:.0} ms)",
                        report.ratio,
                        if report.proven_optimal { "*" } else { "" },
                        report.elapsed_ms
                    ));
                }
                Err(e @ PlanError::TooLarge { .. }) => {
                    // The planner's own size limit: not a failure.
                    cells.push(format!("refused: {}", e.to_string().replace('|', "/")));
                }
                Err(e) => {
                    failures += 1;
                    cells.push(format!("error: {}", e.to_string().replace('|', "/")));
                }
            }
        }
        println!(
            "| {name} | {n} | {} | {} |",
            lower_bound(&problem),
            cells.join(" | ")
        );
    }
    let geo: Vec<String> = log_sums
        .iter()
        .map(|&(sum, count)| match count {
            11 => format!("{:.4}", (sum / 11.0).exp()),
            0 => "-".to_string(),
            c => format!("{:.4} ({c} of 11 files)", (sum / c as f64).exp()),
        })
        .collect();
    println!("| geomean A-K | | | {} |", geo.join(" | "));
    if failures > 0 {
        eprintln!("{failures} planner runs failed");
        std::process::exit(1);
    }
}
