//! `unet`: a U-Net encoder-decoder (Ronneberger et al. 2015) with concatenated skip
//! connections, producing per-pixel logits `[batch, 2, image, image]`.
//!
//! Level `i` of `layers` has `width * 2^i` channels. Encoder: at each level two conv 3x3 +
//! ReLU; every level but the last keeps its features `e_i` for the skip connection and max
//! pools 2x2 stride 2 (with one row of padding on odd sides, so the side rounds up). Decoder,
//! from the bottom up: nearest 2x upsampling ([`Op::Upsample2x`], cropped by one on odd sides
//! so it matches `e_i`) and a conv 3x3 halving the channels (the up-convolution, as in Stable
//! Diffusion's U-Net); the skip projection, a 1x1 conv `e_i -> ceil(c_i / 2)` channels; concat
//! along channels; two conv 3x3 + ReLU. A final 1x1 conv gives two classes.
//!
//! The skip projections are where the order of the branches changes the peak: the builder
//! writes each one in the decoder, next to its concat (the way decoder code is usually
//! written), so `e_i` (`c_i` channels) stays live across everything below level `i`, including
//! the up-convolution at level `i`, whose upsampled input has `2 c_i` channels at full size: the
//! peak. Running the projection right after level `i`'s encoder instead keeps only its
//! half-width output live (at the default size the lower bound drops from 4.5 to 4 units of one
//! level-0 activation). [`build_with_order`] builds either order for comparisons.

use super::ModelError;
use super::common::{Net, OptionSpec, Sizes, bad};
use crate::graph::{Graph, Op, TensorId};

/// Model name.
pub const NAME: &str = "unet";
/// Output classes per pixel.
pub const CLASSES: usize = 2;
/// Most levels: the bottom level has `width * 2^(layers - 1)` channels.
pub const MAX_LEVELS: usize = 16;

/// One-line description.
pub const DESCRIPTION: &str = "U-Net: layers levels of 2x (conv3x3 + relu), maxpool down, 2x nearest upsample, 1x1 skip projections, concat skips, 1x1 conv to 2 classes";

/// Options, defaults and meanings.
pub const OPTIONS: &[OptionSpec] = &[
    ("batch", 1, "images per batch"),
    ("image", 64, "square image side in pixels (any size >= 1)"),
    (
        "width",
        8,
        "channels at the first level (doubled per level)",
    ),
    ("layers", 4, "levels, the bottom one included"),
];

/// Where the 1x1 skip projections appear in program order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipOrder {
    /// In the decoder, just before their concat (what [`build`] does).
    Late,
    /// In the encoder, right after the features they project.
    Early,
}

/// Checks sizes this model cannot build.
pub fn check(s: &Sizes) -> Result<(), ModelError> {
    if s.layers > MAX_LEVELS {
        return Err(bad(
            NAME,
            "layers",
            s.layers,
            format!("at most {MAX_LEVELS} levels (channels double per level)"),
        ));
    }
    Ok(())
}

/// Two conv 3x3 + ReLU at `cin -> cout`.
fn double_conv(
    net: &mut Net,
    name: &str,
    x: TensorId,
    (cin, cout): (usize, usize),
) -> Result<TensorId, ModelError> {
    let h = net.conv(&format!("{name}.conv1"), x, (cin, cout), 3, 1, 1, true, 2.0)?;
    let h = net.b.relu(&format!("{name}.relu1"), h)?;
    let h = net.conv(
        &format!("{name}.conv2"),
        h,
        (cout, cout),
        3,
        1,
        1,
        true,
        2.0,
    )?;
    Ok(net.b.relu(&format!("{name}.relu2"), h)?)
}

/// Channels at level `i`.
fn channels(s: &Sizes, i: usize) -> usize {
    s.width
        .saturating_mul(1usize.checked_shl(i as u32).unwrap_or(usize::MAX))
}

/// Channels of level `i`'s skip projection.
fn skip_channels(s: &Sizes, i: usize) -> usize {
    channels(s, i).div_ceil(2)
}

/// Builds the graph for resolved sizes, skip projections in the decoder.
pub fn build(s: &Sizes) -> Result<Graph, ModelError> {
    build_with_order(s, SkipOrder::Late)
}

/// Builds the graph with the skip projections at `order` (same graph, other node order).
pub fn build_with_order(s: &Sizes, order: SkipOrder) -> Result<Graph, ModelError> {
    check(s)?;
    let mut net = Net::new(NAME);
    let img = net.image_input(s.batch, s.image);
    // Encoder: (features kept for the skip, or their projection; side).
    let mut skips: Vec<(TensorId, usize)> = Vec::new();
    let (mut x, mut cin, mut side) = (img, 3, s.image);
    for i in 0..s.layers {
        x = double_conv(&mut net, &format!("enc{i}"), x, (cin, channels(s, i)))?;
        cin = channels(s, i);
        if i + 1 == s.layers {
            break;
        }
        let kept = match order {
            SkipOrder::Early => skip_projection(&mut net, s, i, x)?,
            SkipOrder::Late => x,
        };
        skips.push((kept, side));
        x = net.max_pool(&format!("down{i}"), x, 2, 2, side % 2)?;
        side = side.div_ceil(2);
    }
    // Decoder.
    for (i, (kept, side)) in skips.into_iter().enumerate().rev() {
        let c = channels(s, i);
        let size = [side; 2];
        let u = net
            .b
            .op(&format!("up{i}.upsample"), Op::Upsample2x { size }, &[x])?;
        let u = net.conv(&format!("up{i}.conv"), u, (cin, c), 3, 1, 1, true, 1.0)?;
        let skip = match order {
            SkipOrder::Early => kept,
            SkipOrder::Late => skip_projection(&mut net, s, i, kept)?,
        };
        let cat = net
            .b
            .op(&format!("up{i}.concat"), Op::Concat { axis: 1 }, &[u, skip])?;
        x = double_conv(
            &mut net,
            &format!("dec{i}"),
            cat,
            (c + skip_channels(s, i), c),
        )?;
        cin = c;
    }
    let logits = net.conv("head", x, (cin, CLASSES), 1, 1, 0, true, 1.0)?;
    net.finish(logits)
}

/// The 1x1 conv projecting level `i`'s encoder features for its skip connection.
fn skip_projection(
    net: &mut Net,
    s: &Sizes,
    i: usize,
    e: TensorId,
) -> Result<TensorId, ModelError> {
    let (c, k) = (channels(s, i), skip_channels(s, i));
    net.conv(&format!("skip{i}.proj"), e, (c, k), 1, 1, 0, true, 1.0)
}
