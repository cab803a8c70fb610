//! The `tessera` command line: argument parsing and one file per subcommand. Every error is
//! printed by `main` as one line with a non-zero exit.

mod args;
mod bench;
mod checkpoint;
mod demo;
mod error;
mod models;
mod output;
mod pictures;
mod plan;
mod plan_csv;
mod run;
mod train;

pub use args::{Cli, Command};
pub use error::CliError;

use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// Runs the parsed command.
pub fn dispatch(cli: Cli) -> Result<(), CliError> {
    output::set_quiet(cli.quiet);
    match cli.command {
        Command::Models => models::list(),
        Command::Plan(a) => plan::run(&a),
        Command::PlanCsv(a) => plan_csv::run(&a),
        Command::Export(a) => models::export(&a),
        Command::Run(a) => run::run(&a),
        Command::Demo(a) => demo::run(&a),
        Command::Bench(a) => bench::run(&a),
    }
}

/// A positive, finite number of seconds.
pub fn seconds(s: f64) -> Result<Duration, CliError> {
    if s.is_finite() && (0.0..1e6).contains(&s) {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(CliError::Usage(format!(
            "time limit {s} is not a number of seconds between 0 and 1e6"
        )))
    }
}

/// Writes `value` as pretty JSON to `path`, or to stdout when `path` is `-`.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| CliError::Usage(e.to_string()))?;
    if output::is_stdout(path) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        return writeln!(out, "{text}")
            .and_then(|()| out.flush())
            .map_err(|source| CliError::Io {
                path: "stdout".into(),
                source,
            });
    }
    std::fs::write(path, text + "\n").map_err(|source| CliError::Io {
        path: path.display().to_string(),
        source,
    })
}
