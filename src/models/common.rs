//! Shared machinery of the model builders: option resolution and checks, the size limit, and a
//! thin layer over [`GraphBuilder`] that gives every weight a fan-in-scaled deterministic
//! initialisation with its own seed.

use super::{ModelError, ModelOptions};
use crate::graph::{
    Conv2dAttrs, DType, Graph, GraphBuilder, Init, Op, PoolAttrs, PoolKind, TensorId,
};

/// Largest tensor footprint a model may have: 2^40 bytes (1 TiB), tensors plus the largest
/// workspace.
pub const MAX_MODEL_BYTES: u64 = 1 << 40;

/// Largest value of any size option (beyond it every model exceeds [`MAX_MODEL_BYTES`]).
pub const MAX_OPTION: usize = 1 << 32;

/// Most layers (or random-graph nodes) a model may have (keeps graph construction bounded).
pub const MAX_LAYERS: usize = 1024;

/// One option a model takes: name (as on the command line), default, meaning.
pub type OptionSpec = (&'static str, usize, &'static str);

/// Option values after defaults are applied (0 for an option the model does not take).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sizes {
    /// Batch size.
    pub batch: usize,
    /// Sequence length.
    pub seq: usize,
    /// Square image side.
    pub image: usize,
    /// Hidden size or channels.
    pub width: usize,
    /// Layer (block) count.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Nodes of a random graph.
    pub nodes: usize,
    /// Random-graph seed (0 allowed).
    pub seed: usize,
}

impl Sizes {
    fn slot(&mut self, option: &str) -> Option<&mut usize> {
        match option {
            "batch" => Some(&mut self.batch),
            "seq" => Some(&mut self.seq),
            "image" => Some(&mut self.image),
            "width" => Some(&mut self.width),
            "layers" => Some(&mut self.layers),
            "heads" => Some(&mut self.heads),
            "vocab" => Some(&mut self.vocab),
            "nodes" => Some(&mut self.nodes),
            "seed" => Some(&mut self.seed),
            _ => None,
        }
    }
}

fn given(opts: &ModelOptions) -> [(&'static str, Option<usize>); 9] {
    [
        ("batch", opts.batch),
        ("seq", opts.seq),
        ("image", opts.image),
        ("width", opts.width),
        ("layers", opts.layers),
        ("heads", opts.heads),
        ("vocab", opts.vocab),
        ("nodes", opts.nodes),
        ("seed", opts.seed),
    ]
}

/// Options that count graph pieces (layers, random-graph nodes): capped at [`MAX_LAYERS`].
const COUNT_OPTIONS: [&str; 2] = ["layers", "nodes"];

/// Options where 0 is a value like any other (a generator seed).
const ZERO_OK: [&str; 1] = ["seed"];

/// A [`ModelError::BadOption`].
pub fn bad(
    model: &'static str,
    option: &'static str,
    value: usize,
    reason: impl Into<String>,
) -> ModelError {
    ModelError::BadOption {
        model,
        option,
        value,
        reason: reason.into(),
    }
}

/// Applies defaults and the checks every model shares: options the model does not take, zero
/// (except for `seed`), absurdly large values, too many layers or nodes.
pub fn resolve(
    model: &'static str,
    spec: &[OptionSpec],
    opts: &ModelOptions,
) -> Result<Sizes, ModelError> {
    let mut sizes = Sizes::default();
    for (option, value) in given(opts) {
        let default = spec
            .iter()
            .find(|(name, _, _)| *name == option)
            .map(|&(_, d, _)| d);
        let v = match (value, default) {
            (None, None) => continue,
            (Some(v), None) => {
                let takes = spec
                    .iter()
                    .map(|(n, _, _)| format!("--{n}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(bad(
                    model,
                    option,
                    v,
                    format!("the {model} model does not take this option (it takes {takes})"),
                ));
            }
            (Some(0), Some(_)) if !ZERO_OK.contains(&option) => {
                return Err(bad(model, option, 0, "must be at least 1"));
            }
            (Some(v), Some(_)) if v > MAX_OPTION => {
                return Err(bad(
                    model,
                    option,
                    v,
                    format!("must be at most {MAX_OPTION}"),
                ));
            }
            (Some(v), Some(_)) if COUNT_OPTIONS.contains(&option) && v > MAX_LAYERS => {
                return Err(bad(
                    model,
                    option,
                    v,
                    format!("must be at most {MAX_LAYERS}"),
                ));
            }
            (Some(v), Some(_)) => v,
            (None, Some(d)) => d,
        };
        if let Some(slot) = sizes.slot(option) {
            *slot = v;
        }
    }
    Ok(sizes)
}

/// Tensor bytes plus the largest workspace of any node, saturating (a builder's graph: every
/// id is valid).
pub fn footprint_bytes(graph: &Graph) -> u64 {
    let workspace = graph
        .node_ids()
        .map(|n| graph.workspace_bytes(n))
        .max()
        .unwrap_or(0);
    graph.total_tensor_bytes().saturating_add(workspace)
}

/// Rejects a graph over [`MAX_MODEL_BYTES`], blaming the option furthest above its default.
pub fn check_size(
    model: &'static str,
    spec: &[OptionSpec],
    opts: &ModelOptions,
    graph: &Graph,
) -> Result<(), ModelError> {
    let bytes = footprint_bytes(graph);
    if bytes <= MAX_MODEL_BYTES {
        return Ok(());
    }
    Err(blame(
        model,
        spec,
        opts,
        format!(
            "the model would need {bytes} bytes of tensors and workspace, more than 2^40 ({MAX_MODEL_BYTES})"
        ),
    ))
}

/// A [`ModelError::BadOption`] for the option furthest above its default (`--batch` when none
/// was given), with `reason`.
pub fn blame(
    model: &'static str,
    spec: &[OptionSpec],
    opts: &ModelOptions,
    reason: String,
) -> ModelError {
    let culprit = given(opts)
        .into_iter()
        .filter(|(name, _)| !ZERO_OK.contains(name))
        .filter_map(|(name, v)| {
            let v = v?;
            let &(spec_name, default, _) = spec.iter().find(|(n, _, _)| *n == name)?;
            Some((spec_name, v, v as f64 / default.max(1) as f64))
        })
        .max_by(|a, b| a.2.total_cmp(&b.2));
    let (option, value) = culprit.map_or(("batch", opts.batch.unwrap_or(0)), |(n, v, _)| (n, v));
    bad(model, option, value, reason)
}

/// FNV-1a of `model/name`: a stable, distinct seed per weight that does not shift when layers
/// are added or removed.
pub fn seed_for(model: &str, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in model.bytes().chain([b'/']).chain(name.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Half-width of a uniform init with variance `gain / fan_in` (`gain` 2 before a ReLU, 1 for a
/// linear path): `sqrt(3 gain / fan_in)`.
pub fn uniform_scale(fan_in: usize, gain: f32) -> f32 {
    (3.0 * gain / fan_in.max(1) as f32).sqrt()
}

/// A [`GraphBuilder`] that names seeds after the model and scales weights by fan-in.
pub struct Net {
    /// The underlying builder.
    pub b: GraphBuilder,
    model: &'static str,
}

impl Net {
    /// An empty network for `model`.
    pub fn new(model: &'static str) -> Self {
        Net {
            b: GraphBuilder::new(),
            model,
        }
    }

    /// Seed of the tensor called `name`.
    pub fn seed(&self, name: &str) -> u64 {
        seed_for(self.model, name)
    }

    /// The `[batch, 3, side, side]` input image called `image`, uniform in `[-1, 1)`.
    pub fn image_input(&mut self, batch: usize, side: usize) -> TensorId {
        let seed = self.seed("image");
        self.b.input(
            "image",
            &[batch, 3, side, side],
            DType::F32,
            Init::Uniform { seed, scale: 1.0 },
        )
    }

    /// Max pooling over `k x k` windows with stride `stride` and padding `pad`.
    pub fn max_pool(
        &mut self,
        name: &str,
        x: TensorId,
        k: usize,
        stride: usize,
        pad: usize,
    ) -> Result<TensorId, ModelError> {
        let pool = PoolAttrs {
            kind: PoolKind::Max,
            kernel: [k; 2],
            stride: [stride; 2],
            padding: [pad; 2],
        };
        Ok(self.b.op(name, Op::Pool2d(pool), &[x])?)
    }

    /// A weight uniform in `[-scale, scale)` with its own seed.
    pub fn weight(&mut self, name: &str, dims: &[usize], scale: f32) -> TensorId {
        let seed = self.seed(name);
        self.b.weight(name, dims, seed, scale)
    }

    /// `x [.., k] @ w [k, n] (+ bias)`; weights `name.w`, `name.b`.
    pub fn linear(
        &mut self,
        name: &str,
        x: TensorId,
        k: usize,
        n: usize,
        bias: bool,
        gain: f32,
    ) -> Result<TensorId, ModelError> {
        let s = uniform_scale(k, gain);
        let w = self.weight(&format!("{name}.w"), &[k, n], s);
        let b = bias.then(|| self.weight(&format!("{name}.b"), &[n], uniform_scale(k, 1.0)));
        Ok(self.b.linear(name, x, w, b)?)
    }

    /// A `k x k` convolution `cin -> cout` with the given stride and padding; weights `name.w`,
    /// `name.b`.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &mut self,
        name: &str,
        x: TensorId,
        (cin, cout): (usize, usize),
        k: usize,
        stride: usize,
        pad: usize,
        bias: bool,
        gain: f32,
    ) -> Result<TensorId, ModelError> {
        let fan_in = cin.saturating_mul(k * k);
        let w = self.weight(
            &format!("{name}.w"),
            &[cout, cin, k, k],
            uniform_scale(fan_in, gain),
        );
        let mut ins = vec![x, w];
        if bias {
            ins.push(self.weight(&format!("{name}.b"), &[cout], uniform_scale(fan_in, 1.0)));
        }
        let attrs = Conv2dAttrs {
            stride: [stride; 2],
            padding: [pad; 2],
            dilation: [1; 2],
            ..Default::default()
        };
        Ok(self.b.op(name, Op::Conv2d(attrs), &ins)?)
    }

    /// Layer norm over the last axis (size `d`) with `gamma = 1` and a small seeded `beta`.
    pub fn layer_norm(
        &mut self,
        name: &str,
        x: TensorId,
        d: usize,
    ) -> Result<TensorId, ModelError> {
        let gamma = self.b.constant(&format!("{name}.gamma"), &[d], 1.0);
        let beta = self.weight(&format!("{name}.beta"), &[d], 0.1);
        Ok(self
            .b
            .op(name, Op::LayerNorm { eps: 1e-5 }, &[x, gamma, beta])?)
    }

    /// Marks `out` as the output and validates.
    pub fn finish(mut self, out: TensorId) -> Result<Graph, ModelError> {
        self.b.output(out);
        Ok(self.b.build()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_per_name_and_model() {
        assert_ne!(seed_for("gpt", "block0.q.w"), seed_for("gpt", "block0.k.w"));
        assert_ne!(seed_for("mlp", "fc0.w"), seed_for("gpt", "fc0.w"));
        assert_eq!(seed_for("mlp", "fc0.w"), seed_for("mlp", "fc0.w"));
    }

    #[test]
    fn uniform_scale_gives_the_requested_variance() {
        // Var of U(-a, a) is a^2 / 3: with a = sqrt(3 g / n) that is g / n.
        let a = uniform_scale(300, 2.0);
        assert!((a * a / 3.0 - 2.0 / 300.0).abs() < 1e-7);
    }
}
