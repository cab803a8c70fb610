//! Pooling lowering: max/average pooling with padding and global average pooling (NCHW), one
//! thread per output element.

use super::Step;
use super::cx::NodeCx;
use crate::graph::{PoolAttrs, PoolKind};
use crate::runtime::RuntimeError;
use crate::runtime::shaders::{self, Kernel, PoolParams};

/// Max or average pooling over a window.
pub(super) fn pool2d(cx: &NodeCx<'_>, a: &PoolAttrs) -> Result<Vec<Step>, RuntimeError> {
    let (x, out) = (cx.input(0)?, cx.output()?);
    let total = cx.numel(out);
    let v = |d: u64, what: &str| cx.u32_of(d, what);
    let at = |d: usize, what: &str| cx.u32_of(d as u64, what);
    let params = PoolParams {
        total: v(total, "outputs")?,
        h: v(cx.dim(x, 2)?, "input height")?,
        w: v(cx.dim(x, 3)?, "input width")?,
        oh: v(cx.dim(out, 2)?, "output height")?,
        ow: v(cx.dim(out, 3)?, "output width")?,
        kh: at(a.kernel[0], "window")?,
        kw: at(a.kernel[1], "window")?,
        stride_h: at(a.stride[0], "stride")?,
        stride_w: at(a.stride[1], "stride")?,
        pad_h: at(a.padding[0], "padding")?,
        pad_w: at(a.padding[1], "padding")?,
        kind: match a.kind {
            PoolKind::Max => shaders::POOL_MAX,
            PoolKind::Avg => shaders::POOL_AVG,
        },
    };
    let bindings = vec![cx.region(x)?, cx.region(out)?];
    let groups = cx.groups_1d(total)?;
    Ok(vec![cx.step(Kernel::Pool2d, bindings, &params, groups)])
}

/// Mean over each H x W plane.
pub(super) fn global_avg_pool(cx: &NodeCx<'_>) -> Result<Vec<Step>, RuntimeError> {
    let (x, out) = (cx.input(0)?, cx.output()?);
    let total = cx.numel(out);
    cx.u32_of(cx.numel(x), "input elements")?;
    let params = PoolParams {
        total: cx.u32_of(total, "outputs")?,
        h: cx.u32_of(cx.dim(x, 2)?, "input height")?,
        w: cx.u32_of(cx.dim(x, 3)?, "input width")?,
        ..PoolParams::default()
    };
    let bindings = vec![cx.region(x)?, cx.region(out)?];
    let groups = cx.groups_1d(total)?;
    Ok(vec![cx.step(
        Kernel::GlobalAvgPool,
        bindings,
        &params,
        groups,
    )])
}
