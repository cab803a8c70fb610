//! `mlp`: a multilayer perceptron classifier. Input `x [batch, 300]` -> `layers` x (Linear to
//! `width` + ReLU) -> Linear to 10 classes -> softmax. Output `[batch, 10]` probabilities.

use super::ModelError;
use super::common::{Net, OptionSpec, Sizes};
use crate::graph::{DType, Graph, Init, Op};

/// Model name.
pub const NAME: &str = "mlp";
/// Input features per example (not a power of two on purpose).
pub const IN_FEATURES: usize = 300;
/// Output classes.
pub const CLASSES: usize = 10;

/// One-line description.
pub const DESCRIPTION: &str =
    "multilayer perceptron: [batch, 300] -> layers x (linear width + relu) -> linear 10 -> softmax";

/// Options, defaults and meanings.
pub const OPTIONS: &[OptionSpec] = &[
    ("batch", 8, "examples per batch"),
    ("width", 256, "hidden units per layer"),
    ("layers", 3, "hidden linear+relu layers"),
];

/// Builds the graph for resolved sizes.
pub fn build(s: &Sizes) -> Result<Graph, ModelError> {
    let mut net = Net::new(NAME);
    let seed = net.seed("x");
    let mut x = net.b.input(
        "x",
        &[s.batch, IN_FEATURES],
        DType::F32,
        Init::Uniform { seed, scale: 1.0 },
    );
    let mut k = IN_FEATURES;
    for i in 0..s.layers {
        let h = net.linear(&format!("fc{i}"), x, k, s.width, true, 2.0)?;
        x = net.b.relu(&format!("relu{i}"), h)?;
        k = s.width;
    }
    let logits = net.linear("head", x, k, CLASSES, true, 1.0)?;
    let probs = net.b.op("softmax", Op::Softmax, &[logits])?;
    net.finish(probs)
}
