//! `tessera models`: the built-in models and their options with defaults.

use super::CliError;
use super::args::ModelArgs;
use tessera::graph::Graph;
use tessera::models::{ModelOptions, build, catalog};

/// Prints the catalog.
pub fn list() -> Result<(), CliError> {
    for m in catalog() {
        println!("{:<8} {}", m.name, m.description);
        for (opt, default, meaning) in &m.options {
            println!("         --{opt:<8} {default:>6}  {meaning}");
        }
    }
    Ok(())
}

/// Model options from the command line.
pub fn options(args: &ModelArgs) -> ModelOptions {
    ModelOptions {
        batch: args.batch,
        seq: args.seq,
        image: args.image,
        width: args.width,
        layers: args.layers,
    }
}

/// Builds the model named on the command line.
pub fn build_model(args: &ModelArgs) -> Result<Graph, CliError> {
    Ok(build(&args.model, &options(args))?)
}

/// The options as used (given or default), for reports.
pub fn options_used(args: &ModelArgs) -> Vec<(String, usize)> {
    let given = [
        ("batch", args.batch),
        ("seq", args.seq),
        ("image", args.image),
        ("width", args.width),
        ("layers", args.layers),
    ];
    let defaults = catalog()
        .into_iter()
        .find(|m| m.name == args.model)
        .map(|m| m.options)
        .unwrap_or_default();
    defaults
        .iter()
        .map(|(opt, default, _)| {
            let v = given
                .iter()
                .find(|(n, _)| n == opt)
                .and_then(|(_, v)| *v)
                .unwrap_or(*default);
            (opt.to_string(), v)
        })
        .collect()
}
