//! `tessera models`: the built-in models and their options with defaults.

use super::CliError;
use super::args::{ExportArgs, ModelArgs};
use std::path::Path;
use tessera::graph::{DType, Graph};
use tessera::models::{ModelOptions, build, catalog};
use tessera::transform::precision::cast_floats;

/// Prints the catalog.
pub fn list() -> Result<(), CliError> {
    for m in catalog() {
        let size = if m.full_size {
            " (full size: plan it; run it as a benchmark, not in the demo)"
        } else {
            ""
        };
        println!("{:<10} {}{size}", m.name, m.description);
        for (opt, default, meaning) in &m.options {
            println!("           --{opt:<8} {default:>6}  {meaning}");
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
        heads: args.heads,
        vocab: args.vocab,
        nodes: args.nodes,
        seed: args.seed,
    }
}

/// The model's display name: the built-in name or the graph file.
pub fn model_name(args: &ModelArgs) -> String {
    match (&args.model, &args.graph) {
        (Some(m), _) => m.clone(),
        (None, Some(g)) => g.display().to_string(),
        (None, None) => String::new(),
    }
}

/// Builds the model named on the command line, or loads and validates `--graph FILE`, with
/// its floats stored as `--dtype` says (a graph file keeps its own dtypes without the flag).
pub fn build_model(args: &ModelArgs) -> Result<Graph, CliError> {
    let graph = match (&args.model, &args.graph) {
        (Some(m), _) => build(m, &options(args))?,
        (None, Some(path)) => load_graph(path)?,
        (None, None) => return Err(CliError::Usage("give --model NAME or --graph FILE".into())),
    };
    match dtype(args)? {
        Some(d) => Ok(cast_floats(&graph, d)?),
        None => Ok(graph),
    }
}

/// The `--dtype` given, if any: `f32` or `f16`.
pub fn dtype(args: &ModelArgs) -> Result<Option<DType>, CliError> {
    args.dtype.as_deref().map(parse_dtype).transpose()
}

/// A `--dtype` value: `f32` or `f16`.
pub fn parse_dtype(name: &str) -> Result<DType, CliError> {
    match DType::from_name(name) {
        Some(d) if d.is_float() => Ok(d),
        _ => Err(CliError::Usage(format!(
            "unknown --dtype `{}` (known: f32, f16)",
            name.escape_debug()
        ))),
    }
}

/// Reads a graph JSON file and validates it.
pub fn load_graph(path: &Path) -> Result<Graph, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
    let graph =
        Graph::from_json(&text).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
    graph
        .validate()
        .map_err(|e| CliError::Usage(format!("{}: invalid graph: {e}", path.display())))?;
    Ok(graph)
}

/// `tessera export`: writes the model's graph as JSON.
pub fn export(args: &ExportArgs) -> Result<(), CliError> {
    let graph = build_model(&args.model)?;
    super::write_json(&args.out, &graph)?;
    println!(
        "wrote {} ({} nodes, {} tensors)",
        args.out.display(),
        graph.nodes.len(),
        graph.tensors.len()
    );
    Ok(())
}

/// The options as used (given or default), for reports.
pub fn options_used(args: &ModelArgs) -> Vec<(String, usize)> {
    let given = [
        ("batch", args.batch),
        ("seq", args.seq),
        ("image", args.image),
        ("width", args.width),
        ("layers", args.layers),
        ("heads", args.heads),
        ("vocab", args.vocab),
        ("nodes", args.nodes),
        ("seed", args.seed),
    ];
    let defaults = catalog()
        .into_iter()
        .find(|m| Some(m.name) == args.model.as_deref())
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
