//! The `tessera` binary: parses the command line and prints any error as one line.

mod cli;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    if let Err(e) = cli::dispatch(cli) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
