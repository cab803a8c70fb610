//! Built-in models with deterministic weights: `mlp`, `resnet` and `gpt`.
//!
//! [`build`] turns a name and [`ModelOptions`] into a validated [`Graph`]; [`catalog`] lists the
//! models and their options for `tessera models`. Every weight has its own seed (derived from
//! its name) and a fan-in-scaled uniform init so activations stay O(1); inputs are seeded too,
//! so a model with the same options always has the same bytes. Defaults run in well under
//! 100 MFLOP each, so seconds on lavapipe. Impossible sizes are [`ModelError::BadOption`]s.

mod common;
mod error;
pub mod gpt;
pub mod mlp;
pub mod resnet;

pub use common::{MAX_LAYERS, MAX_MODEL_BYTES, MAX_OPTION};
pub use error::ModelError;

use crate::graph::{Graph, GraphError};
use common::{OptionSpec, Sizes};
use serde::Serialize;

/// Size options of a model; `None` takes the model's default. An option the model does not
/// take must be `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelOptions {
    /// Examples per batch (`--batch`).
    pub batch: Option<usize>,
    /// Sequence length (`--seq`, sequence models).
    pub seq: Option<usize>,
    /// Square image side (`--image`, image models).
    pub image: Option<usize>,
    /// Hidden size or channels (`--width`).
    pub width: Option<usize>,
    /// Layer or block count (`--layers`).
    pub layers: Option<usize>,
}

/// A catalog entry: what `tessera models` prints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModelInfo {
    /// The name given to `--model`.
    pub name: &'static str,
    /// One line on what it computes.
    pub description: &'static str,
    /// Options it takes: (name without dashes, default, meaning).
    pub options: Vec<(&'static str, usize, &'static str)>,
}

struct Entry {
    name: &'static str,
    description: &'static str,
    options: &'static [OptionSpec],
    build: fn(&Sizes) -> Result<Graph, ModelError>,
    /// Model-specific size checks, run before building.
    check: fn(&Sizes) -> Result<(), ModelError>,
}

fn no_check(_: &Sizes) -> Result<(), ModelError> {
    Ok(())
}

const ENTRIES: &[Entry] = &[
    Entry {
        name: mlp::NAME,
        description: mlp::DESCRIPTION,
        options: mlp::OPTIONS,
        build: mlp::build,
        check: no_check,
    },
    Entry {
        name: resnet::NAME,
        description: resnet::DESCRIPTION,
        options: resnet::OPTIONS,
        build: resnet::build,
        check: resnet::check,
    },
    Entry {
        name: gpt::NAME,
        description: gpt::DESCRIPTION,
        options: gpt::OPTIONS,
        build: gpt::build,
        check: gpt::check,
    },
];

/// Every built-in model, in a fixed order.
pub fn catalog() -> Vec<ModelInfo> {
    ENTRIES
        .iter()
        .map(|e| ModelInfo {
            name: e.name,
            description: e.description,
            options: e.options.to_vec(),
        })
        .collect()
}

/// Builds the named model with `opts` (defaults for `None`), validated.
///
/// Errors: [`ModelError::UnknownModel`]; [`ModelError::BadOption`] for an option the model does
/// not take, a zero, a value over [`MAX_OPTION`] (or layers over [`MAX_LAYERS`]), a
/// model-specific impossibility, or a graph whose tensors plus workspace exceed
/// [`MAX_MODEL_BYTES`].
pub fn build(name: &str, opts: &ModelOptions) -> Result<Graph, ModelError> {
    let entry =
        ENTRIES
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| ModelError::UnknownModel {
                name: name.to_string(),
                known: ENTRIES
                    .iter()
                    .map(|e| e.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
    let sizes = common::resolve(entry.name, entry.options, opts)?;
    (entry.check)(&sizes)?;
    let graph = match (entry.build)(&sizes) {
        // A size so large that a byte count overflows: the options' fault, not a builder bug.
        Err(ModelError::Graph(e @ GraphError::TooLarge { .. })) => {
            return Err(common::blame(
                entry.name,
                entry.options,
                opts,
                e.to_string(),
            ));
        }
        other => other?,
    };
    common::check_size(entry.name, entry.options, opts, &graph)?;
    Ok(graph)
}

#[cfg(test)]
mod tests;
