//! Resize lowering: nearest-neighbour 2x upsampling (NCHW, optionally cropped by one row or
//! column), one thread per output element.

use super::Step;
use super::cx::NodeCx;
use crate::runtime::RuntimeError;
use crate::runtime::shaders::{Kernel, ResizeParams};

/// `out[n, c, y, x] = x[n, c, y / 2, x / 2]`.
pub(super) fn upsample2x(cx: &NodeCx<'_>) -> Result<Vec<Step>, RuntimeError> {
    let (x, out) = (cx.input(0)?, cx.output()?);
    let total = cx.numel(out);
    cx.u32_of(cx.numel(x), "input elements")?;
    let params = ResizeParams {
        total: cx.u32_of(total, "outputs")?,
        h: cx.u32_of(cx.dim(x, 2)?, "input height")?,
        w: cx.u32_of(cx.dim(x, 3)?, "input width")?,
        oh: cx.u32_of(cx.dim(out, 2)?, "output height")?,
        ow: cx.u32_of(cx.dim(out, 3)?, "output width")?,
    };
    let bindings = vec![cx.region(x)?, cx.region(out)?];
    let groups = cx.groups_1d(total)?;
    Ok(vec![cx.step(Kernel::Upsample2x, bindings, &params, groups)])
}
