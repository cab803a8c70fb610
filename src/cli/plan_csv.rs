//! `tessera plan-csv`: plan a minimalloc-format CSV file and print peak, bound, ratio, time.

use super::CliError;
use super::args::PlanCsvArgs;
use super::output::{self, Progress};
use tessera::plan::{Budget, PlanReport, plan_and_check, read_csv, write_csv};

/// Runs the command.
pub fn run(args: &PlanCsvArgs) -> Result<(), CliError> {
    let budget = Budget {
        time_limit: super::seconds(args.time_limit)?,
    };
    let problem = read_csv(&args.file)?;
    let spinner = Progress::spinner(format!(
        "planning {} buffers with {}",
        problem.buffers.len(),
        args.planner
    ));
    let (outcome, report) = plan_and_check(&problem, &args.planner, &budget)?;
    drop(spinner);
    if !output::quiet() {
        print_report(args, &report);
    }
    if let Some(out) = &args.out {
        std::fs::write(out, write_csv(&problem, &outcome.plan)).map_err(|source| CliError::Io {
            path: out.display().to_string(),
            source,
        })?;
        if !output::quiet() {
            println!("wrote:         {}", out.display());
        }
    }
    Ok(())
}

/// Prints the planner's report in readable form.
fn print_report(args: &PlanCsvArgs, report: &PlanReport) {
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
}
