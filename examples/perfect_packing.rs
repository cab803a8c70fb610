//! Writes generated perfect packings (optimum = max-load bound by construction) as minimalloc
//! CSV files, for `tessera plan-csv` and `minimalloc`.
//!
//! Usage: `cargo run --release --example perfect_packing -- KIND BUFFERS SEED [OUT.csv]`
//! where KIND is `guillotine` or `non-guillotine`; without OUT the CSV goes to stdout. The rows
//! carry no offsets (the plan is the generator's secret); the optimum is 64 x 16 KiB = 1 MiB.

use std::error::Error;
use tessera::plan::perfect::{Kind, Spec, generate};
use tessera::plan::{Plan, write_csv};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: perfect_packing guillotine|non-guillotine BUFFERS SEED [OUT.csv]";
    if args.len() < 3 || args.len() > 4 {
        return Err(usage.into());
    }
    let kind = match args[0].as_str() {
        "guillotine" => Kind::Guillotine,
        "non-guillotine" => Kind::NonGuillotine,
        other => return Err(format!("unknown kind `{other}`; {usage}").into()),
    };
    let buffers: usize = args[1]
        .parse()
        .map_err(|e| format!("BUFFERS `{}`: {e}", args[1]))?;
    let seed: u64 = args[2]
        .parse()
        .map_err(|e| format!("SEED `{}`: {e}", args[2]))?;
    let packing = generate(&Spec::new(kind, buffers, seed))?;
    // Without offsets: an empty plan leaves the offset column empty, so strip it.
    let csv = write_csv(&packing.problem, &Plan::default());
    let rows: String = csv
        .lines()
        .map(|l| {
            let l = l.strip_suffix(",offset").unwrap_or(l);
            format!("{}\n", l.strip_suffix(',').unwrap_or(l))
        })
        .collect();
    match args.get(3) {
        Some(path) => std::fs::write(path, rows).map_err(|e| format!("writing `{path}`: {e}"))?,
        None => print!("{rows}"),
    }
    Ok(())
}
