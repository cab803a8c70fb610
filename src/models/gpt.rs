//! `gpt` and `gpt2-small`: pre-LN decoder-only transformers producing next-token logits.
//!
//! Token ids `[batch, seq]` (u32) -> embedding (`vocab` rows) + learned positional embedding
//! (`[seq, width]`, broadcast-added) -> `layers` blocks of: layernorm; q, k, v linears; reshape
//! to `[B, S, H, Dh]` (a view) and permute to `[B, H, S, Dh]`; causal attention with scale
//! `1/sqrt(Dh)`; permute back and reshape to `[B, S, width]`; output linear; residual add;
//! layernorm; MLP (linear to `4 width`, GELU, linear back); residual add. Then a final
//! layernorm and the LM head to `[batch, seq, vocab]` logits.
//!
//! `gpt` (small defaults: width 64, 4 heads, vocab 256) has an untied LM head, a linear without
//! bias. `gpt2-small` is the same builder with GPT-2 small's sizes (width 768, 12 heads, 12
//! layers, seq 1024, vocab 50257) and, as GPT-2 does, a tied head: the logits are the final
//! hidden states times the token-embedding table transposed (`matmul` with `trans_b`), so the
//! 147 MiB table is stored once. Its weights then number 124,439,808, GPT-2 small's count
//! (layernorm gains are constants here, but still stored parameters).

use super::ModelError;
use super::common::{Net, OptionSpec, Sizes, bad, uniform_scale};
use crate::graph::{DType, Graph, Init, Op, TensorId};

/// Model name.
pub const NAME: &str = "gpt";
/// Name of the GPT-2 small configuration.
pub const GPT2_SMALL: &str = "gpt2-small";
/// Default vocabulary size of `gpt` (token ids are in `0..vocab`).
pub const VOCAB: usize = 256;
/// Default attention heads of `gpt`; `width` must be a multiple of `--heads`.
pub const HEADS: usize = 4;
/// GPT-2's vocabulary (byte-level BPE).
pub const GPT2_VOCAB: usize = 50257;

/// One-line description.
pub const DESCRIPTION: &str = "pre-LN decoder transformer: token + position embedding, layers x (causal attention + gelu MLP), untied linear logits over vocab tokens";

/// One-line description of `gpt2-small`.
pub const GPT2_DESCRIPTION: &str = "GPT-2 small (124M weights): the gpt builder at width 768, 12 heads, 12 layers, seq 1024, vocab 50257, LM head tied to the token embedding";

/// Options, defaults and meanings.
pub const OPTIONS: &[OptionSpec] = &[
    ("batch", 1, "sequences per batch"),
    ("seq", 32, "tokens per sequence"),
    ("width", 64, "model width (a multiple of --heads)"),
    ("layers", 2, "decoder blocks"),
    ("heads", HEADS, "attention heads (must divide --width)"),
    (
        "vocab",
        VOCAB,
        "vocabulary size (rows of the token embedding)",
    ),
];

/// Options of `gpt2-small`: GPT-2 small's sizes, each overridable.
pub const GPT2_OPTIONS: &[OptionSpec] = &[
    ("batch", 1, "sequences per batch"),
    ("seq", 1024, "tokens per sequence"),
    ("width", 768, "model width (a multiple of --heads)"),
    ("layers", 12, "decoder blocks"),
    ("heads", 12, "attention heads (must divide --width)"),
    (
        "vocab",
        GPT2_VOCAB,
        "vocabulary size (rows of the token embedding)",
    ),
];

/// Checks sizes `gpt` cannot build.
pub fn check(s: &Sizes) -> Result<(), ModelError> {
    check_named(NAME, s)
}

/// Checks sizes `gpt2-small` cannot build.
pub fn check_gpt2(s: &Sizes) -> Result<(), ModelError> {
    check_named(GPT2_SMALL, s)
}

fn check_named(model: &'static str, s: &Sizes) -> Result<(), ModelError> {
    if !s.width.is_multiple_of(s.heads.max(1)) {
        return Err(bad(
            model,
            "width",
            s.width,
            format!(
                "must be divisible by the {} attention heads (--heads)",
                s.heads
            ),
        ));
    }
    if u32::try_from(s.vocab).is_err() {
        return Err(bad(
            model,
            "vocab",
            s.vocab,
            "token ids are u32: at most 2^32 - 1",
        ));
    }
    Ok(())
}

/// Projects `x [B, S, W]` with a linear and splits heads: `[B, H, S, Dh]`.
fn heads(net: &mut Net, name: &str, x: TensorId, s: &Sizes) -> Result<TensorId, ModelError> {
    let dh = s.width / s.heads;
    let p = net.linear(name, x, s.width, s.width, true, 1.0)?;
    let r = net
        .b
        .reshape(&format!("{name}.split"), p, &[s.batch, s.seq, s.heads, dh])?;
    Ok(net.b.permute(&format!("{name}.heads"), r, &[0, 2, 1, 3])?)
}

fn block(net: &mut Net, name: &str, x: TensorId, s: &Sizes) -> Result<TensorId, ModelError> {
    let (w, dh) = (s.width, s.width / s.heads);
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

/// Builds `gpt` (untied LM head) for resolved sizes.
pub fn build(s: &Sizes) -> Result<Graph, ModelError> {
    check(s)?;
    build_with(NAME, s, false)
}

/// Builds `gpt2-small` (LM head tied to the token embedding) for resolved sizes.
pub fn build_gpt2(s: &Sizes) -> Result<Graph, ModelError> {
    check_gpt2(s)?;
    build_with(GPT2_SMALL, s, true)
}

fn build_with(model: &'static str, s: &Sizes, tied: bool) -> Result<Graph, ModelError> {
    let w = s.width;
    let mut net = Net::new(model);
    let seed = net.seed("tokens");
    let max = u32::try_from(s.vocab).map_err(|_| bad(model, "vocab", s.vocab, "over u32"))?;
    let ids = net.b.input(
        "tokens",
        &[s.batch, s.seq],
        DType::U32,
        Init::Ids { seed, max },
    );
    // Tied: the table is also the LM head, so scale it like a projection from width (logits
    // stay O(1)); untied: O(1) embeddings as before.
    let table_scale = if tied { uniform_scale(w, 1.0) } else { 1.0 };
    let table = net.weight("tok_embed.table", &[s.vocab, w], table_scale);
    let pos = net.weight("pos_embed", &[s.seq, w], 0.5);
    let e = net.b.op("tok_embed", Op::Embedding, &[table, ids])?;
    let mut x = net.b.add("embed", e, pos)?;
    for i in 0..s.layers {
        x = block(&mut net, &format!("block{i}"), x, s)?;
    }
    let h = net.layer_norm("ln_f", x, w)?;
    let logits = if tied {
        // [B, S, W] x table[V, W]^T -> [B, S, V]: the table is shared (2-D b).
        let mm = Op::MatMul {
            trans_a: false,
            trans_b: true,
        };
        net.b.op("lm_head", mm, &[h, table])?
    } else {
        net.linear("lm_head", h, w, s.vocab, false, 1.0)?
    };
    net.finish(logits)
}
