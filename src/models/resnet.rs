//! `resnet`: a small residual CNN classifier on `[batch, 3, image, image]` images.
//!
//! Stem conv3x3 (3 -> width, padding 1) + ReLU; max pool 3x3 stride 2 padding 1; `layers`
//! residual blocks at `width` (conv3x3-ReLU-conv3x3, identity skip, add, ReLU); one downsample
//! block (conv3x3 stride 2 to `2 width`, ReLU, conv3x3, with a 1x1 stride-2 projection on the
//! skip, add, ReLU); global average pool; linear to 10 logits. Odd image sizes work: every
//! stride-2 stage rounds up.

use super::ModelError;
use super::common::{Net, OptionSpec, Sizes, bad};
use crate::graph::{Graph, Op, TensorId};

/// Model name.
pub const NAME: &str = "resnet";
/// Output classes.
pub const CLASSES: usize = 10;
/// Smallest image side: both stride-2 stages must have at least two rows to reduce.
pub const MIN_IMAGE: usize = 4;

/// One-line description.
pub const DESCRIPTION: &str = "residual CNN: stem conv + maxpool, layers x basic block, stride-2 block (2x channels), global avg pool, linear 10";

/// Options, defaults and meanings.
pub const OPTIONS: &[OptionSpec] = &[
    ("batch", 2, "images per batch"),
    ("image", 32, "square image side in pixels (>= 4)"),
    (
        "width",
        16,
        "channels after the stem (doubled by the downsample block)",
    ),
    ("layers", 2, "residual blocks before the downsample block"),
];

/// Checks sizes this model cannot build.
pub fn check(s: &Sizes) -> Result<(), ModelError> {
    if s.image < MIN_IMAGE {
        return Err(bad(
            NAME,
            "image",
            s.image,
            format!("too small for two stride-2 stages (need at least {MIN_IMAGE})"),
        ));
    }
    Ok(())
}

fn block(net: &mut Net, name: &str, x: TensorId, c: usize) -> Result<TensorId, ModelError> {
    let h = net.conv(&format!("{name}.conv1"), x, (c, c), 3, 1, 1, true, 2.0)?;
    let h = net.b.relu(&format!("{name}.relu1"), h)?;
    // A smaller gain on the residual branch keeps the sum O(1).
    let h = net.conv(&format!("{name}.conv2"), h, (c, c), 3, 1, 1, true, 0.5)?;
    let y = net.b.add(&format!("{name}.add"), h, x)?;
    Ok(net.b.relu(&format!("{name}.relu2"), y)?)
}

/// Builds the graph for resolved sizes.
pub fn build(s: &Sizes) -> Result<Graph, ModelError> {
    check(s)?;
    let w = s.width;
    let w2 = w.saturating_mul(2);
    let mut net = Net::new(NAME);
    let img = net.image_input(s.batch, s.image);
    let x = net.conv("stem.conv", img, (3, w), 3, 1, 1, true, 2.0)?;
    let x = net.b.relu("stem.relu", x)?;
    let mut x = net.max_pool("stem.maxpool", x, 3, 2, 1)?;
    for i in 0..s.layers {
        x = block(&mut net, &format!("block{i}"), x, w)?;
    }
    // Downsample block: stride 2, channels doubled, projected skip (no bias on the projection).
    let h = net.conv("down.conv1", x, (w, w2), 3, 2, 1, true, 2.0)?;
    let h = net.b.relu("down.relu1", h)?;
    let h = net.conv("down.conv2", h, (w2, w2), 3, 1, 1, true, 0.5)?;
    let skip = net.conv("down.proj", x, (w, w2), 1, 2, 0, false, 1.0)?;
    let y = net.b.add("down.add", h, skip)?;
    let y = net.b.relu("down.relu2", y)?;
    let pooled = net.b.op("gap", Op::GlobalAvgPool, &[y])?;
    let logits = net.linear("head", pooled, w2, CLASSES, true, 1.0)?;
    net.finish(logits)
}
