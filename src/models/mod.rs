//! Built-in models with deterministic weights: the small `mlp`, `resnet` and `gpt`; the
//! deployment-size `resnet50` and `gpt2-small`; and the graph-shape models `unet` (skip
//! connections) and `randwire` (random wiring), whose node order matters for the peak.
//!
//! [`build`] turns a name and [`ModelOptions`] into a validated [`Graph`]; [`catalog`] lists the
//! models and their options for `tessera models`. Every weight has its own seed (derived from
//! its name) and a fan-in-scaled uniform init so activations stay O(1); inputs are seeded too,
//! so a model with the same options always has the same bytes. Defaults of the small and
//! graph-shape models run in seconds on lavapipe; the full-size ones ([`ModelInfo::full_size`])
//! plan in well under a second but are for benchmarks, not the demo. Impossible sizes are
//! [`ModelError::BadOption`]s.

mod common;
mod error;
pub mod gpt;
pub mod mlp;
pub mod randwire;
pub mod resnet;
pub mod resnet50;
pub mod unet;

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
    /// Layer or block count (`--layers`; U-Net levels).
    pub layers: Option<usize>,
    /// Attention heads (`--heads`, transformers; must divide the width).
    pub heads: Option<usize>,
    /// Vocabulary size (`--vocab`, transformers).
    pub vocab: Option<usize>,
    /// Nodes of a randomly wired network (`--nodes`).
    pub nodes: Option<usize>,
    /// Seed of a randomly wired network's graph (`--seed`; 0 is allowed).
    pub seed: Option<usize>,
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
    /// A model at deployment size (`resnet50`, `gpt2-small`): it plans in well under a second,
    /// but executing it takes minutes on a CPU device (and gpt2-small's 147 MiB embedding
    /// exceeds a 128 MiB storage binding), so `tessera demo` leaves it out.
    pub full_size: bool,
}

struct Entry {
    name: &'static str,
    description: &'static str,
    options: &'static [OptionSpec],
    build: fn(&Sizes) -> Result<Graph, ModelError>,
    /// Model-specific size checks, run before building.
    check: fn(&Sizes) -> Result<(), ModelError>,
    full_size: bool,
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
        full_size: false,
    },
    Entry {
        name: resnet::NAME,
        description: resnet::DESCRIPTION,
        options: resnet::OPTIONS,
        build: resnet::build,
        check: resnet::check,
        full_size: false,
    },
    Entry {
        name: gpt::NAME,
        description: gpt::DESCRIPTION,
        options: gpt::OPTIONS,
        build: gpt::build,
        check: gpt::check,
        full_size: false,
    },
    Entry {
        name: resnet50::NAME,
        description: resnet50::DESCRIPTION,
        options: resnet50::OPTIONS,
        build: resnet50::build,
        check: no_check,
        full_size: true,
    },
    Entry {
        name: gpt::GPT2_SMALL,
        description: gpt::GPT2_DESCRIPTION,
        options: gpt::GPT2_OPTIONS,
        build: gpt::build_gpt2,
        check: gpt::check_gpt2,
        full_size: true,
    },
    Entry {
        name: unet::NAME,
        description: unet::DESCRIPTION,
        options: unet::OPTIONS,
        build: unet::build,
        check: unet::check,
        full_size: false,
    },
    Entry {
        name: randwire::NAME,
        description: randwire::DESCRIPTION,
        options: randwire::OPTIONS,
        build: randwire::build,
        check: no_check,
        full_size: false,
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
            full_size: e.full_size,
        })
        .collect()
}

/// Builds the named model with `opts` (defaults for `None`), validated.
///
/// Errors: [`ModelError::UnknownModel`]; [`ModelError::BadOption`] for an option the model does
/// not take, a zero (except `seed`), a value over [`MAX_OPTION`] (or layers or nodes over
/// [`MAX_LAYERS`]), a model-specific impossibility, or a graph whose tensors plus workspace
/// exceed [`MAX_MODEL_BYTES`].
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
