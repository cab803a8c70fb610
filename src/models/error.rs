//! Errors of the model builders: an unknown name, an impossible option, or a graph error
//! (which would be a bug in a builder).

use crate::graph::GraphError;
use thiserror::Error;

/// A model could not be built.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    /// No built-in model has this name.
    #[error("unknown model `{name}` (known: {known})")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// The built-in names, comma-separated.
        known: String,
    },
    /// An option the model does not take, or a size it cannot build.
    #[error("model `{model}`: bad --{option} {value}: {reason}")]
    BadOption {
        /// The model.
        model: &'static str,
        /// The option name as on the command line, without dashes (`batch`, `seq`, ...).
        option: &'static str,
        /// The value given.
        value: usize,
        /// Why it cannot be used.
        reason: String,
    },
    /// The builder produced an invalid graph.
    #[error(transparent)]
    Graph(#[from] GraphError),
}
