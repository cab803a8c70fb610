//! `resnet50`: ResNet-50 (torchvision v1.5) with batch-norm folded into the convolutions.
//!
//! Stem conv 7x7 stride 2 (3 -> `width`) + ReLU, max pool 3x3 stride 2 padding 1; four stages
//! of bottleneck blocks `[3, 4, 6, 3]` with `planes = width, 2 width, 4 width, 8 width`: conv 1x1
//! (-> planes) + ReLU, conv 3x3 (stride 2 in the first block of stages 2-4, as torchvision v1.5
//! puts it) + ReLU, conv 1x1 (-> 4 planes), plus the shortcut (a 1x1 projection, with the
//! block's stride, on the first block of each stage; identity otherwise), add, ReLU. Then a
//! global average pool and a linear to 1000 classes.
//!
//! Batch-norm is folded: every convolution has a bias and no normalisation follows it (what an
//! inference compiler does). torchvision counts 25,557,032 parameters, two per batch-norm
//! channel (gamma, beta; running statistics are buffers); folding leaves one bias per channel,
//! so this model has 25,557,032 - 26,560 = 25,530,472 weights at the default width.

use super::ModelError;
use super::common::{Net, OptionSpec, Sizes};
use crate::graph::{Graph, Op, TensorId};

/// Model name.
pub const NAME: &str = "resnet50";
/// Output classes (ImageNet).
pub const CLASSES: usize = 1000;
/// Bottleneck blocks per stage.
pub const STAGES: [usize; 4] = [3, 4, 6, 3];
/// Output channels of a bottleneck over its inner `planes`.
pub const EXPANSION: usize = 4;

/// One-line description.
pub const DESCRIPTION: &str = "ResNet-50 v1.5, batch-norm folded: 7x7/2 stem + maxpool, bottlenecks [3, 4, 6, 3] (x4 expansion), global avg pool, linear 1000";

/// Options, defaults and meanings.
pub const OPTIONS: &[OptionSpec] = &[
    ("batch", 1, "images per batch"),
    ("image", 224, "square image side in pixels (any size >= 1)"),
    (
        "width",
        64,
        "stem channels; stage planes are 1, 2, 4, 8 times it (x4 out)",
    ),
];

/// One bottleneck block `cin -> 4 planes`; `stride` on the 3x3 and the projection.
fn bottleneck(
    net: &mut Net,
    name: &str,
    x: TensorId,
    (cin, planes): (usize, usize),
    stride: usize,
) -> Result<TensorId, ModelError> {
    let cout = planes.saturating_mul(EXPANSION);
    let h = net.conv(
        &format!("{name}.conv1"),
        x,
        (cin, planes),
        1,
        1,
        0,
        true,
        2.0,
    )?;
    let h = net.b.relu(&format!("{name}.relu1"), h)?;
    let h = net.conv(
        &format!("{name}.conv2"),
        h,
        (planes, planes),
        3,
        stride,
        1,
        true,
        2.0,
    )?;
    let h = net.b.relu(&format!("{name}.relu2"), h)?;
    // A small gain on the last conv of the residual branch keeps the sum O(1) over 16 blocks.
    let h = net.conv(
        &format!("{name}.conv3"),
        h,
        (planes, cout),
        1,
        1,
        0,
        true,
        0.25,
    )?;
    let skip = if cin != cout || stride != 1 {
        net.conv(
            &format!("{name}.proj"),
            x,
            (cin, cout),
            1,
            stride,
            0,
            true,
            1.0,
        )?
    } else {
        x
    };
    let y = net.b.add(&format!("{name}.add"), h, skip)?;
    Ok(net.b.relu(&format!("{name}.relu3"), y)?)
}

/// Builds the graph for resolved sizes.
pub fn build(s: &Sizes) -> Result<Graph, ModelError> {
    let w = s.width;
    let mut net = Net::new(NAME);
    let img = net.image_input(s.batch, s.image);
    let x = net.conv("stem.conv", img, (3, w), 7, 2, 3, true, 2.0)?;
    let x = net.b.relu("stem.relu", x)?;
    let mut x = net.max_pool("stem.maxpool", x, 3, 2, 1)?;
    let mut cin = w;
    for (stage, &blocks) in STAGES.iter().enumerate() {
        let planes = w.saturating_mul(1 << stage);
        for i in 0..blocks {
            let stride = if stage > 0 && i == 0 { 2 } else { 1 };
            let name = format!("layer{}.{i}", stage + 1);
            x = bottleneck(&mut net, &name, x, (cin, planes), stride)?;
            cin = planes.saturating_mul(EXPANSION);
        }
    }
    let pooled = net.b.op("gap", Op::GlobalAvgPool, &[x])?;
    let logits = net.linear("fc", pooled, cin, CLASSES, true, 1.0)?;
    net.finish(logits)
}
