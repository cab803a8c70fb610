//! `tessera plan-csv`: plan a minimalloc-format CSV file and print peak, bound, ratio, time.

use super::CliError;
use super::args::PlanCsvArgs;
use tessera::plan::{Budget, plan_and_check, read_csv, write_csv};

/// Runs the command.
pub fn run(args: &PlanCsvArgs) -> Result<(), CliError> {
    let budget = Budget {
        time_limit: super::seconds(args.time_limit)?,
    };
    let problem = read_csv(&args.file)?;
    let (outcome, report) = plan_and_check(&problem, &args.planner, &budget)?;
    println!("file:          {}", args.file.display());
    println!("planner:       {}", report.planner);
    println!("buffers:       {}", report.buffers);
    println!("peak:          {}", report.arena_bytes);
    println!("lower bound:   {}", report.lower_bound);
    println!("ratio:         {:.4}", report.ratio);
    println!("time:          {:.1} ms", report.elapsed_ms);
    println!(
        "optimal:       {}",
        if report.proven_optimal {
            "proven"
        } else {
            "not proven"
        }
    );
    println!("validated:     yes (no live overlap, aligned, inside the arena)");
    if let Some(out) = &args.out {
        std::fs::write(out, write_csv(&problem, &outcome.plan)).map_err(|source| CliError::Io {
            path: out.display().to_string(),
            source,
        })?;
        println!("wrote:         {}", out.display());
    }
    Ok(())
}
