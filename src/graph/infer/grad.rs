//! Shape inference of the backward ops (the gradients of convolution, pooling, upsampling and
//! attention). Each checks that its gradient input has the shape the forward op would have
//! produced from the stated forward input size, so a mis-wired backward graph fails here.

use super::{Ctx, window_out};
use crate::graph::op::TILED_ATTENTION_MAX_HEAD_DIM;
use crate::graph::{AttentionGradOf, Conv2dAttrs, DType, GraphError, PoolAttrs, PoolKind, Shape};

type Inferred = Result<(Shape, DType), GraphError>;

/// The forward output size of a convolution or pooling window over `input`, or a shape error.
fn forward_out(
    c: &Ctx<'_>,
    input: [usize; 2],
    kernel: [usize; 2],
    a: (&[usize; 2], &[usize; 2], &[usize; 2]),
) -> Result<[usize; 2], GraphError> {
    let (stride, padding, dilation) = a;
    let oh = window_out(input[0], kernel[0], stride[0], padding[0], dilation[0]);
    let ow = window_out(input[1], kernel[1], stride[1], padding[1], dilation[1]);
    match (oh, ow) {
        (Some(oh), Some(ow)) => Ok([oh, ow]),
        _ => Err(c.shape_err(format!(
            "window {kernel:?} larger than the padded input {input:?}"
        ))),
    }
}

/// Stride and dilation must be positive.
fn check_conv_attrs(c: &Ctx<'_>, a: &Conv2dAttrs) -> Result<(), GraphError> {
    if a.stride.contains(&0) || a.dilation.contains(&0) {
        return Err(c.attr_err("stride and dilation must be >= 1"));
    }
    Ok(())
}

/// `dy [N, O, OH, OW]`, `w [O, C, KH, KW]` -> `dx [N, C, H, W]`.
pub(super) fn conv2d_grad_input(c: &Ctx<'_>, a: &Conv2dAttrs, input: [usize; 2]) -> Inferred {
    c.arity(2, 2)?;
    c.all_float()?;
    check_conv_attrs(c, a)?;
    let (dy, w) = (c.dims(0), c.dims(1));
    if dy.len() != 4 || w.len() != 4 {
        return Err(c.shape_err("needs dy [N, O, OH, OW] and w [O, C, KH, KW]"));
    }
    if dy[1] != w[0] {
        return Err(c.shape_err(format!("dy has {} channels, w {} outputs", dy[1], w[0])));
    }
    let out = forward_out(c, input, [w[2], w[3]], (&a.stride, &a.padding, &a.dilation))?;
    if dy[2..] != out {
        return Err(c.shape_err(format!(
            "dy is {}x{} but the forward output of a {input:?} input is {out:?}",
            dy[2], dy[3]
        )));
    }
    Ok((Shape::new([dy[0], w[1], input[0], input[1]]), c.float()))
}

/// `x [N, C, H, W]`, `dy [N, O, OH, OW]` -> `dw [O, C, KH, KW]`.
pub(super) fn conv2d_grad_weight(c: &Ctx<'_>, a: &Conv2dAttrs, kernel: [usize; 2]) -> Inferred {
    c.arity(2, 2)?;
    c.all_float()?;
    check_conv_attrs(c, a)?;
    let (x, dy) = (c.dims(0), c.dims(1));
    if x.len() != 4 || dy.len() != 4 || x[0] != dy[0] {
        return Err(c.shape_err("needs x [N, C, H, W] and dy [N, O, OH, OW]"));
    }
    let out = forward_out(
        c,
        [x[2], x[3]],
        kernel,
        (&a.stride, &a.padding, &a.dilation),
    )?;
    if dy[2..] != out {
        return Err(c.shape_err(format!(
            "dy is {}x{} but the forward output is {out:?}",
            dy[2], dy[3]
        )));
    }
    Ok((Shape::new([dy[1], x[1], kernel[0], kernel[1]]), c.float()))
}

/// `dy [N, O, OH, OW]` -> `[O]`.
pub(super) fn conv2d_grad_bias(c: &Ctx<'_>) -> Inferred {
    c.arity(1, 1)?;
    c.all_float()?;
    let dy = c.dims(0);
    if dy.len() != 4 {
        return Err(c.shape_err("needs dy [N, O, OH, OW]"));
    }
    Ok((Shape::new([dy[1]]), c.float()))
}

/// `dy [N, C, OH, OW]` (and `x [N, C, H, W]` for max) -> `[N, C, H, W]`.
pub(super) fn pool2d_grad(c: &Ctx<'_>, a: &PoolAttrs, input: [usize; 2]) -> Inferred {
    let arity = if a.kind == PoolKind::Max { 2 } else { 1 };
    c.arity(arity, arity)?;
    c.all_float()?;
    if a.stride.contains(&0) || a.kernel.contains(&0) {
        return Err(c.attr_err("kernel and stride must be >= 1"));
    }
    let dy = c.dims(0);
    if dy.len() != 4 {
        return Err(c.shape_err("needs dy [N, C, OH, OW]"));
    }
    let out = forward_out(c, input, a.kernel, (&a.stride, &a.padding, &[1, 1]))?;
    if dy[2..] != out {
        return Err(c.shape_err(format!(
            "dy is {}x{} but the forward output of a {input:?} input is {out:?}",
            dy[2], dy[3]
        )));
    }
    let dx = [dy[0], dy[1], input[0], input[1]];
    if arity == 2 && c.dims(1) != dx {
        return Err(c.shape_err(format!("x must be {dx:?}")));
    }
    Ok((Shape::new(dx), c.float()))
}

/// `dy [N, C]` -> `[N, C, H, W]`.
pub(super) fn global_avg_pool_grad(c: &Ctx<'_>, size: [usize; 2]) -> Inferred {
    c.arity(1, 1)?;
    c.all_float()?;
    let dy = c.dims(0);
    if dy.len() != 2 {
        return Err(c.shape_err("needs dy [N, C]"));
    }
    Ok((Shape::new([dy[0], dy[1], size[0], size[1]]), c.float()))
}

/// `dy [N, C, OH, OW]` with `OH` = `2 H` or `2 H - 1` (and so for W) -> `[N, C, H, W]`.
pub(super) fn upsample2x_grad(c: &Ctx<'_>, input: [usize; 2]) -> Inferred {
    c.arity(1, 1)?;
    c.all_float()?;
    let dy = c.dims(0);
    if dy.len() != 4 {
        return Err(c.shape_err("needs dy [N, C, OH, OW]"));
    }
    for axis in 0..2 {
        let (out, inp) = (dy[2 + axis], input[axis]);
        let double = inp.checked_mul(2);
        if Some(out) != double && out.checked_add(1) != double {
            return Err(c.shape_err(format!(
                "dy axis {} is {out}, not 2 x {inp} or one less",
                2 + axis
            )));
        }
    }
    Ok((Shape::new([dy[0], dy[1], input[0], input[1]]), c.float()))
}

/// q `[B, H, S, D]` and k `[B, H, T, D]` agreeing, a finite scale, S == T when causal and
/// D at most the kernels' maximum; returns (q dims, k dims).
fn attention_dims<'a>(
    c: &'a Ctx<'_>,
    causal: bool,
    scale: f32,
) -> Result<(&'a [usize], &'a [usize]), GraphError> {
    if !scale.is_finite() {
        return Err(c.attr_err("scale must be finite"));
    }
    let (q, k) = (c.dims(0), c.dims(1));
    if q.len() != 4 || k.len() != 4 || q[..2] != k[..2] || q[3] != k[3] {
        return Err(c.shape_err("q [B,H,S,D] and k [B,H,T,D] must agree"));
    }
    if causal && q[2] != k[2] {
        return Err(c.shape_err("causal attention needs S == T"));
    }
    if q[3] > TILED_ATTENTION_MAX_HEAD_DIM {
        return Err(c.attr_err(format!(
            "head dimension {} exceeds the backward kernels' maximum \
             {TILED_ATTENTION_MAX_HEAD_DIM}",
            q[3]
        )));
    }
    Ok((q, k))
}

/// `q`, `k`, `o`, `dy` -> `[B, H, S, 2]`.
pub(super) fn attention_stats(c: &Ctx<'_>, causal: bool, scale: f32) -> Inferred {
    c.arity(4, 4)?;
    c.all_float()?;
    let (q, _) = attention_dims(c, causal, scale)?;
    if c.dims(2) != q || c.dims(3) != q {
        return Err(c.shape_err("o and dy must have q's shape"));
    }
    Ok((Shape::new([q[0], q[1], q[2], 2]), c.float()))
}

/// `q`, `k`, `v`, `dy`, `stats` -> the gradient of q, k or v (that input's shape).
pub(super) fn attention_grad(
    c: &Ctx<'_>,
    causal: bool,
    scale: f32,
    wrt: AttentionGradOf,
) -> Inferred {
    c.arity(5, 5)?;
    c.all_float()?;
    let (q, k) = attention_dims(c, causal, scale)?;
    if c.dims(2) != k || c.dims(3) != q || c.dims(4) != [q[0], q[1], q[2], 2] {
        return Err(
            c.shape_err("v must have k's shape, dy q's, and stats [B, H, S, 2] (attention_stats)")
        );
    }
    let out = if wrt == AttentionGradOf::Q { q } else { k };
    Ok((Shape::new(out.to_vec()), c.float()))
}

#[cfg(test)]
mod tests {
    use crate::graph::infer::infer;
    use crate::graph::{AttentionGradOf, Conv2dAttrs, DType, Op, Shape};

    fn err(op: &Op, dims: &[&[usize]]) -> String {
        let shapes: Vec<Shape> = dims.iter().map(|d| Shape::new(d.to_vec())).collect();
        let infos: Vec<_> = shapes.iter().map(|s| (s, DType::F32)).collect();
        infer("n", op, &infos).unwrap_err().to_string()
    }

    #[test]
    fn mis_wired_gradients_are_refused_with_the_op_named() {
        let attrs = Conv2dAttrs {
            stride: [2, 2],
            padding: [1, 1],
            ..Default::default()
        };
        // 7x7 input, 3x3 kernel, stride 2, padding 1 -> 4x4; a 3x4 dy is wrong.
        let op = Op::Conv2dGradInput {
            attrs,
            input: [7, 7],
        };
        let e = err(&op, &[&[1, 4, 3, 4], &[4, 2, 3, 3]]);
        assert!(
            e.contains("conv2d_grad_input") && e.contains("[4, 4]"),
            "{e}"
        );
        let e = err(&Op::Upsample2xGrad { input: [3, 3] }, &[&[1, 1, 4, 6]]);
        assert!(e.contains("upsample2x_grad"), "{e}");
        let op = Op::AttentionGrad {
            causal: false,
            scale: 1.0,
            wrt: AttentionGradOf::K,
        };
        let q = [1, 2, 3, 4];
        let e = err(&op, &[&q, &q, &q, &q, &[1, 2, 3, 1]]);
        assert!(e.contains("attention_grad_k") && e.contains("stats"), "{e}");
        let big = [1, 1, 2, 129];
        let op = Op::AttentionStats {
            causal: true,
            scale: 1.0,
        };
        let e = err(&op, &[&big, &big, &big, &big]);
        assert!(e.contains("129"), "{e}");
    }
}
