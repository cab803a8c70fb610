//! `gpt`: a small pre-LN decoder-only transformer producing next-token logits.
//!
//! Token ids `[batch, seq]` (u32) -> embedding (vocab 256) + learned positional embedding
//! (`[seq, width]`, broadcast-added) -> `layers` blocks of: layernorm; q, k, v linears; reshape
//! to `[B, S, H, Dh]` (a view) and permute to `[B, H, S, Dh]`; causal attention with scale
//! `1/sqrt(Dh)`; permute back and reshape to `[B, S, width]`; output linear; residual add;
//! layernorm; MLP (linear to `4 width`, GELU, linear back); residual add. Then a final
//! layernorm and a linear (no bias) to `[batch, seq, 256]` logits. Heads = 4.

use super::ModelError;
use super::common::{Net, OptionSpec, Sizes, bad};
use crate::graph::{DType, Graph, Init, Op, TensorId};

/// Model name.
pub const NAME: &str = "gpt";
/// Vocabulary size (token ids are in `0..VOCAB`).
pub const VOCAB: usize = 256;
/// Attention heads; `width` must be a multiple.
pub const HEADS: usize = 4;

/// One-line description.
pub const DESCRIPTION: &str = "pre-LN decoder transformer: token + position embedding, layers x (causal attention, 4 heads + gelu MLP), logits over 256 tokens";

/// Options, defaults and meanings.
pub const OPTIONS: &[OptionSpec] = &[
    ("batch", 1, "sequences per batch"),
    ("seq", 32, "tokens per sequence"),
    ("width", 64, "model width (a multiple of 4 heads)"),
    ("layers", 2, "decoder blocks"),
];

/// Checks sizes this model cannot build.
pub fn check(s: &Sizes) -> Result<(), ModelError> {
    if !s.width.is_multiple_of(HEADS) {
        return Err(bad(
            NAME,
            "width",
            s.width,
            format!("must be divisible by the {HEADS} attention heads"),
        ));
    }
    Ok(())
}

/// Projects `x [B, S, W]` with a linear and splits heads: `[B, H, S, Dh]`.
fn heads(net: &mut Net, name: &str, x: TensorId, s: &Sizes) -> Result<TensorId, ModelError> {
    let dh = s.width / HEADS;
    let p = net.linear(name, x, s.width, s.width, true, 1.0)?;
    let r = net
        .b
        .reshape(&format!("{name}.split"), p, &[s.batch, s.seq, HEADS, dh])?;
    Ok(net.b.permute(&format!("{name}.heads"), r, &[0, 2, 1, 3])?)
}

fn block(net: &mut Net, name: &str, x: TensorId, s: &Sizes) -> Result<TensorId, ModelError> {
    let (w, dh) = (s.width, s.width / HEADS);
    let h = net.layer_norm(&format!("{name}.ln1"), x, w)?;
    let q = heads(net, &format!("{name}.q"), h, s)?;
    let k = heads(net, &format!("{name}.k"), h, s)?;
    let v = heads(net, &format!("{name}.v"), h, s)?;
    let scale = 1.0 / (dh as f32).sqrt();
    let a = net.b.op(
        &format!("{name}.attn"),
        Op::Attention {
            causal: true,
            scale,
        },
        &[q, k, v],
    )?;
    let a = net
        .b
        .permute(&format!("{name}.attn.merge"), a, &[0, 2, 1, 3])?;
    let a = net
        .b
        .reshape(&format!("{name}.attn.flat"), a, &[s.batch, s.seq, w])?;
    // Residual-branch outputs use gain 0.5 so the stream stays O(1) over the layers.
    let o = net.linear(&format!("{name}.proj"), a, w, w, true, 0.5)?;
    let x = net.b.add(&format!("{name}.res1"), x, o)?;
    let h = net.layer_norm(&format!("{name}.ln2"), x, w)?;
    let hidden = w.saturating_mul(4);
    let m = net.linear(&format!("{name}.fc1"), h, w, hidden, true, 1.0)?;
    let m = net.b.gelu(&format!("{name}.gelu"), m)?;
    let m = net.linear(&format!("{name}.fc2"), m, hidden, w, true, 0.5)?;
    Ok(net.b.add(&format!("{name}.res2"), x, m)?)
}

/// Builds the graph for resolved sizes.
pub fn build(s: &Sizes) -> Result<Graph, ModelError> {
    check(s)?;
    let w = s.width;
    let mut net = Net::new(NAME);
    let seed = net.seed("tokens");
    let max = u32::try_from(VOCAB).unwrap_or(u32::MAX);
    let ids = net.b.input(
        "tokens",
        &[s.batch, s.seq],
        DType::U32,
        Init::Ids { seed, max },
    );
    let table = net.weight("tok_embed.table", &[VOCAB, w], 1.0);
    let pos = net.weight("pos_embed", &[s.seq, w], 0.5);
    let e = net.b.op("tok_embed", Op::Embedding, &[table, ids])?;
    let mut x = net.b.add("embed", e, pos)?;
    for i in 0..s.layers {
        x = block(&mut net, &format!("block{i}"), x, s)?;
    }
    let h = net.layer_norm("ln_f", x, w)?;
    let logits = net.linear("lm_head", h, w, VOCAB, false, 1.0)?;
    net.finish(logits)
}
