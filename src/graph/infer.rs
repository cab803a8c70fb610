//! Shape and dtype inference for every op, plus each op's workspace request. Used by the
//! builder when a node is added and again by validation for hand-made graphs.

use super::op::{AttentionKernel, TILED_ATTENTION_MAX_HEAD_DIM};
use super::{Conv2dAttrs, DType, GraphError, Op, PoolAttrs, Shape};

mod grad;

/// Input facts handed to inference.
pub type InputInfo<'a> = (&'a Shape, DType);

struct Ctx<'a> {
    node: &'a str,
    op: &'a Op,
    inputs: &'a [InputInfo<'a>],
}

impl Ctx<'_> {
    fn shape_err(&self, detail: impl Into<String>) -> GraphError {
        let inputs = self
            .inputs
            .iter()
            .map(|(s, d)| format!("{s}:{d}"))
            .collect::<Vec<_>>()
            .join(", ");
        GraphError::Shape {
            node: self.node.to_string(),
            op: self.op.name(),
            detail: detail.into(),
            inputs,
        }
    }

    fn attr_err(&self, detail: impl Into<String>) -> GraphError {
        GraphError::Attribute {
            node: self.node.to_string(),
            op: self.op.name(),
            detail: detail.into(),
        }
    }

    fn arity(&self, lo: usize, hi: usize) -> Result<(), GraphError> {
        let n = self.inputs.len();
        if n < lo || n > hi {
            let expected = if lo == hi {
                lo.to_string()
            } else {
                format!("{lo} to {hi}")
            };
            return Err(GraphError::Arity {
                node: self.node.to_string(),
                op: self.op.name(),
                expected,
                found: n,
            });
        }
        Ok(())
    }

    fn dtype(&self, index: usize, expected: DType) -> Result<(), GraphError> {
        let found = self.inputs[index].1;
        if found != expected {
            return Err(GraphError::DType {
                node: self.node.to_string(),
                op: self.op.name(),
                index,
                found,
                expected,
            });
        }
        Ok(())
    }

    /// The node's float dtype: that of its first float input (`F32` when it has none). Every
    /// float input and the output of a node share it (f32 or f16 storage, f32 arithmetic).
    fn float(&self) -> DType {
        self.inputs
            .iter()
            .map(|i| i.1)
            .find(|d| d.is_float())
            .unwrap_or(DType::F32)
    }

    /// Every input is a float of the node's one float dtype ([`Ctx::float`]).
    fn all_float(&self) -> Result<(), GraphError> {
        let f = self.float();
        (0..self.inputs.len()).try_for_each(|i| self.dtype(i, f))
    }

    fn dims(&self, i: usize) -> &[usize] {
        self.inputs[i].0.dims()
    }
}

/// Output size of a sliding window, or `None` when the window does not fit.
pub fn window_out(
    input: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    dilation: usize,
) -> Option<usize> {
    let span = dilation
        .checked_mul(kernel.checked_sub(1)?)?
        .checked_add(1)?;
    let padded = input.checked_add(pad.checked_mul(2)?)?;
    if stride == 0 || padded < span {
        return None;
    }
    Some((padded - span) / stride + 1)
}

/// Infers the output shape and dtype of `op` applied to `inputs`.
pub fn infer(node: &str, op: &Op, inputs: &[InputInfo<'_>]) -> Result<(Shape, DType), GraphError> {
    let c = Ctx { node, op, inputs };
    match op {
        Op::MatMul { trans_a, trans_b } => matmul(&c, *trans_a, *trans_b),
        Op::Linear => linear(&c),
        Op::Binary(_) => binary(&c),
        Op::Unary(_) | Op::Softmax => same_shape(&c),
        Op::LayerNorm { eps } => layer_norm(&c, *eps),
        Op::Conv2d(a) => conv2d(&c, a),
        Op::Pool2d(a) => pool2d(&c, a),
        Op::Upsample2x { size } => upsample2x(&c, size),
        Op::GlobalAvgPool => global_avg_pool(&c),
        Op::Reshape { shape } => reshape(&c, shape),
        Op::Permute { perm } => permute(&c, perm),
        Op::Concat { axis } => concat(&c, *axis),
        Op::Embedding => embedding(&c),
        Op::Attention {
            causal,
            scale,
            kernel,
        } => attention(&c, *causal, *scale, *kernel),
        Op::ReduceTo { shape } => reduce_to(&c, shape),
        Op::UnaryBackward(_) | Op::SoftmaxBackward => same_shapes(&c, 2),
        Op::LayerNormBackward { eps } => layer_norm_backward(&c, *eps),
        Op::EmbeddingBackward { vocab } => embedding_backward(&c, *vocab),
        Op::Slice { axis, start, len } => slice(&c, *axis, *start, *len),
        Op::SoftmaxCrossEntropy | Op::SoftmaxCrossEntropyBackward => cross_entropy(&c),
        Op::MseLoss | Op::MseLossBackward => mse(&c),
        Op::SgdStep { lr: factor } | Op::MomentumAccumulate { momentum: factor } => {
            if !factor.is_finite() {
                return Err(c.attr_err("the learning rate / momentum must be finite"));
            }
            same_shapes(&c, 2)
        }
        Op::Conv2dGradInput { attrs, input } => grad::conv2d_grad_input(&c, attrs, *input),
        Op::Conv2dGradWeight { attrs, kernel } => grad::conv2d_grad_weight(&c, attrs, *kernel),
        Op::Conv2dGradBias => grad::conv2d_grad_bias(&c),
        Op::Pool2dGrad { attrs, input } => grad::pool2d_grad(&c, attrs, *input),
        Op::GlobalAvgPoolGrad { size } => grad::global_avg_pool_grad(&c, *size),
        Op::Upsample2xGrad { input } => grad::upsample2x_grad(&c, *input),
        Op::AttentionStats { causal, scale } => grad::attention_stats(&c, *causal, *scale),
        Op::AttentionGrad { causal, scale, wrt } => grad::attention_grad(&c, *causal, *scale, *wrt),
    }
}

/// `a @ b` with optional transposes and shared batch dims.
fn matmul(c: &Ctx<'_>, trans_a: bool, trans_b: bool) -> Result<(Shape, DType), GraphError> {
    c.arity(2, 2)?;
    c.all_float()?;
    let (a, b) = (c.dims(0), c.dims(1));
    if a.len() < 2 || b.len() < 2 {
        return Err(c.shape_err("matmul needs rank >= 2 operands"));
    }
    let (m, ka) = if trans_a {
        (a[a.len() - 1], a[a.len() - 2])
    } else {
        (a[a.len() - 2], a[a.len() - 1])
    };
    let (kb, n) = if trans_b {
        (b[b.len() - 1], b[b.len() - 2])
    } else {
        (b[b.len() - 2], b[b.len() - 1])
    };
    if ka != kb {
        return Err(c.shape_err(format!("inner dimensions differ: {ka} vs {kb}")));
    }
    let batch_a = &a[..a.len() - 2];
    let batch_b = &b[..b.len() - 2];
    if !batch_b.is_empty() && batch_a != batch_b {
        return Err(c.shape_err("batch dimensions differ (b must have a's batch dims or be 2-D)"));
    }
    let mut out = batch_a.to_vec();
    out.extend([m, n]);
    Ok((Shape(out), c.float()))
}

/// `x [.., K] @ w [K, N] (+ bias [N])`.
fn linear(c: &Ctx<'_>) -> Result<(Shape, DType), GraphError> {
    let inputs = c.inputs;
    c.arity(2, 3)?;
    c.all_float()?;
    let (x, w) = (c.dims(0), c.dims(1));
    if x.is_empty() || w.len() != 2 || x[x.len() - 1] != w[0] {
        return Err(c.shape_err("linear needs x [.., K] and w [K, N]"));
    }
    if inputs.len() == 3 && c.dims(2) != [w[1]] {
        return Err(c.shape_err(format!("bias must be [{}]", w[1])));
    }
    let mut out = x.to_vec();
    *out.last_mut().unwrap_or(&mut 0) = w[1];
    Ok((Shape(out), c.float()))
}

/// Broadcasting elementwise ops.
fn binary(c: &Ctx<'_>) -> Result<(Shape, DType), GraphError> {
    let inputs = c.inputs;
    c.arity(2, 2)?;
    c.all_float()?;
    Shape::broadcast(inputs[0].0, inputs[1].0)
        .map(|s| (s, c.float()))
        .ok_or_else(|| c.shape_err("shapes do not broadcast"))
}

/// Unary ops and softmax: the input's shape.
fn same_shape(c: &Ctx<'_>) -> Result<(Shape, DType), GraphError> {
    let inputs = c.inputs;
    let op = c.op;
    c.arity(1, 1)?;
    c.all_float()?;
    if matches!(op, Op::Softmax) && c.dims(0).is_empty() {
        return Err(c.shape_err("softmax needs rank >= 1"));
    }
    Ok((inputs[0].0.clone(), c.float()))
}

/// Layer norm over the last axis with `gamma`, `beta`.
fn layer_norm(c: &Ctx<'_>, eps: f32) -> Result<(Shape, DType), GraphError> {
    let inputs = c.inputs;
    c.arity(3, 3)?;
    c.all_float()?;
    if eps.is_nan() || eps < 0.0 {
        return Err(c.attr_err("eps must be >= 0"));
    }
    let x = c.dims(0);
    let d = *x
        .last()
        .ok_or_else(|| c.shape_err("layernorm needs rank >= 1"))?;
    if c.dims(1) != [d] || c.dims(2) != [d] {
        return Err(c.shape_err(format!("gamma and beta must be [{d}]")));
    }
    Ok((inputs[0].0.clone(), c.float()))
}

/// NCHW convolution (and its method's constraints).
fn conv2d(c: &Ctx<'_>, a: &Conv2dAttrs) -> Result<(Shape, DType), GraphError> {
    let inputs = c.inputs;
    c.arity(2, 3)?;
    c.all_float()?;
    let (x, w) = (c.dims(0), c.dims(1));
    if x.len() != 4 || w.len() != 4 {
        return Err(c.shape_err("conv2d needs x [N, C, H, W] and w [O, C, KH, KW]"));
    }
    if x[1] != w[1] {
        return Err(c.shape_err(format!(
            "input channels {} vs weight channels {}",
            x[1], w[1]
        )));
    }
    if inputs.len() == 3 && c.dims(2) != [w[0]] {
        return Err(c.shape_err(format!("bias must be [{}]", w[0])));
    }
    if a.stride.contains(&0) || a.dilation.contains(&0) {
        return Err(c.attr_err("stride and dilation must be >= 1"));
    }
    let oh = window_out(x[2], w[2], a.stride[0], a.padding[0], a.dilation[0]);
    let ow = window_out(x[3], w[3], a.stride[1], a.padding[1], a.dilation[1]);
    let (Some(oh), Some(ow)) = (oh, ow) else {
        return Err(c.shape_err("kernel larger than the padded input"));
    };
    let out = [x[0], w[0], oh, ow];
    if let Some(why) =
        super::conv::method_problem(a, &super::conv::ConvShape::new(x, w, &out, c.float()))
    {
        return Err(c.attr_err(why));
    }
    Ok((Shape::new(out), c.float()))
}

/// Max/average pooling over a window.
fn pool2d(c: &Ctx<'_>, a: &PoolAttrs) -> Result<(Shape, DType), GraphError> {
    let PoolAttrs {
        kernel,
        stride,
        padding,
        ..
    } = a;
    c.arity(1, 1)?;
    c.all_float()?;
    let x = c.dims(0);
    if x.len() != 4 {
        return Err(c.shape_err("pooling needs x [N, C, H, W]"));
    }
    if stride.contains(&0) || kernel.contains(&0) {
        return Err(c.attr_err("kernel and stride must be >= 1"));
    }
    if padding[0] >= kernel[0] || padding[1] >= kernel[1] {
        return Err(c.attr_err("padding must be smaller than the kernel"));
    }
    let oh = window_out(x[2], kernel[0], stride[0], padding[0], 1);
    let ow = window_out(x[3], kernel[1], stride[1], padding[1], 1);
    match (oh, ow) {
        (Some(oh), Some(ow)) => Ok((Shape::new([x[0], x[1], oh, ow]), c.float())),
        _ => Err(c.shape_err("window larger than the padded input")),
    }
}

/// Nearest 2x upsampling, optionally cropped by one.
fn upsample2x(c: &Ctx<'_>, size: &[usize; 2]) -> Result<(Shape, DType), GraphError> {
    c.arity(1, 1)?;
    c.all_float()?;
    let x = c.dims(0);
    if x.len() != 4 {
        return Err(c.shape_err("upsample2x needs x [N, C, H, W]"));
    }
    for (axis, (&out, &inp)) in size.iter().zip(&x[2..]).enumerate() {
        let double = inp
            .checked_mul(2)
            .ok_or_else(|| c.shape_err("2x overflows"))?;
        if out != double && out.checked_add(1) != Some(double) {
            return Err(c.attr_err(format!(
                "size[{axis}] {out} must be 2 x {inp} = {double} or one less"
            )));
        }
    }
    Ok((Shape::new([x[0], x[1], size[0], size[1]]), c.float()))
}

/// Mean over each H x W plane.
fn global_avg_pool(c: &Ctx<'_>) -> Result<(Shape, DType), GraphError> {
    c.arity(1, 1)?;
    c.all_float()?;
    let x = c.dims(0);
    if x.len() != 4 {
        return Err(c.shape_err("global average pool needs x [N, C, H, W]"));
    }
    Ok((Shape::new([x[0], x[1]]), c.float()))
}

/// Same element count, new dims.
fn reshape(c: &Ctx<'_>, shape: &[usize]) -> Result<(Shape, DType), GraphError> {
    let inputs = c.inputs;
    let node = c.node;
    c.arity(1, 1)?;
    let new = Shape::new(shape.to_vec());
    let count = new.checked_numel();
    if count.is_none() || inputs[0].0.checked_numel().is_none() {
        return Err(GraphError::TooLarge {
            what: format!("node `{node}` (reshape) of {} to {new}", inputs[0].0),
            detail: "an element count exceeds 2^64".into(),
        });
    }
    if count != inputs[0].0.checked_numel() {
        return Err(c.shape_err(format!("cannot reshape to {new}: element count differs")));
    }
    Ok((new, inputs[0].1))
}

/// Axis permutation.
fn permute(c: &Ctx<'_>, perm: &[usize]) -> Result<(Shape, DType), GraphError> {
    let inputs = c.inputs;
    c.arity(1, 1)?;
    let x = c.dims(0);
    let mut seen = vec![false; x.len()];
    if perm.len() != x.len()
        || perm
            .iter()
            .any(|&p| p >= x.len() || std::mem::replace(&mut seen[p], true))
    {
        return Err(c.attr_err(format!("{perm:?} is not a permutation of 0..{}", x.len())));
    }
    Ok((Shape(perm.iter().map(|&p| x[p]).collect()), inputs[0].1))
}

/// Concatenation along `axis`.
fn concat(c: &Ctx<'_>, axis: usize) -> Result<(Shape, DType), GraphError> {
    let inputs = c.inputs;
    c.arity(1, usize::MAX)?;
    let first = c.dims(0);
    if axis >= first.len() {
        return Err(c.attr_err(format!("axis {axis} out of range for rank {}", first.len())));
    }
    let dtype = inputs[0].1;
    let mut out = first.to_vec();
    for (i, (s, _)) in inputs.iter().enumerate().skip(1) {
        c.dtype(i, dtype)?;
        let sd = s.dims();
        let compatible = sd.len() == first.len()
            && sd
                .iter()
                .zip(first)
                .enumerate()
                .all(|(k, (a, b))| k == axis || a == b);
        if !compatible {
            return Err(c.shape_err(format!(
                "input {i} does not match the others outside axis {axis}"
            )));
        }
        out[axis] = out[axis]
            .checked_add(sd[axis])
            .ok_or_else(|| c.shape_err(format!("concatenated axis {axis} overflows")))?;
    }
    Ok((Shape(out), dtype))
}

/// Rows of a [V, D] table gathered by u32 ids.
fn embedding(c: &Ctx<'_>) -> Result<(Shape, DType), GraphError> {
    c.arity(2, 2)?;
    c.dtype(0, c.float())?;
    c.dtype(1, DType::U32)?;
    let table = c.dims(0);
    if table.len() != 2 {
        return Err(c.shape_err("embedding table must be [V, D]"));
    }
    let mut out = c.dims(1).to_vec();
    out.push(table[1]);
    Ok((Shape(out), c.float()))
}

/// Scaled dot-product attention over [B, H, S, D].
fn attention(
    c: &Ctx<'_>,
    causal: bool,
    scale: f32,
    kernel: AttentionKernel,
) -> Result<(Shape, DType), GraphError> {
    let inputs = c.inputs;
    c.arity(3, 3)?;
    c.all_float()?;
    if !scale.is_finite() {
        return Err(c.attr_err("scale must be finite"));
    }
    let (q, k, v) = (c.dims(0), c.dims(1), c.dims(2));
    if q.len() != 4 || k.len() != 4 || v.len() != 4 {
        return Err(c.shape_err("attention needs q, k, v of rank 4 [B, H, S, D]"));
    }
    if k != v || q[0] != k[0] || q[1] != k[1] || q[3] != k[3] {
        return Err(c.shape_err("q [B,H,S,D], k and v [B,H,T,D] must agree"));
    }
    if causal && q[2] != k[2] {
        return Err(c.shape_err("causal attention needs S == T"));
    }
    if kernel == AttentionKernel::Tiled && q[3] > TILED_ATTENTION_MAX_HEAD_DIM {
        return Err(c.attr_err(format!(
            "head dimension {} exceeds the tiled kernel's maximum {TILED_ATTENTION_MAX_HEAD_DIM}; \
             use --attention materialized",
            q[3]
        )));
    }
    Ok((inputs[0].0.clone(), c.float()))
}

/// Sum down to `shape`, which must broadcast to the input's shape.
fn reduce_to(c: &Ctx<'_>, shape: &[usize]) -> Result<(Shape, DType), GraphError> {
    c.arity(1, 1)?;
    c.all_float()?;
    let target = Shape::new(shape.to_vec());
    match Shape::broadcast(&target, c.inputs[0].0) {
        Some(s) if &s == c.inputs[0].0 => Ok((target, c.float())),
        _ => Err(c.shape_err(format!("{target} does not broadcast to the input"))),
    }
}

/// `n` f32 inputs of one shape; the output has it.
fn same_shapes(c: &Ctx<'_>, n: usize) -> Result<(Shape, DType), GraphError> {
    c.arity(n, n)?;
    c.all_float()?;
    if c.inputs.iter().any(|(s, _)| *s != c.inputs[0].0) {
        return Err(c.shape_err("inputs must have one shape"));
    }
    if matches!(c.op, Op::SoftmaxBackward) && c.dims(0).is_empty() {
        return Err(c.shape_err("softmax needs rank >= 1"));
    }
    Ok((c.inputs[0].0.clone(), c.float()))
}

/// `x [.., D]`, `gamma [D]`, `dy` like x.
fn layer_norm_backward(c: &Ctx<'_>, eps: f32) -> Result<(Shape, DType), GraphError> {
    c.arity(3, 3)?;
    c.all_float()?;
    if eps.is_nan() || eps < 0.0 {
        return Err(c.attr_err("eps must be >= 0"));
    }
    let d = *c
        .dims(0)
        .last()
        .ok_or_else(|| c.shape_err("layernorm needs rank >= 1"))?;
    if c.dims(1) != [d] || c.dims(2) != c.dims(0) {
        return Err(c.shape_err(format!("gamma must be [{d}] and dy like x")));
    }
    Ok((c.inputs[0].0.clone(), c.float()))
}

/// `ids [..]` (u32), `dy [.., D]` -> `[vocab, D]`.
fn embedding_backward(c: &Ctx<'_>, vocab: usize) -> Result<(Shape, DType), GraphError> {
    c.arity(2, 2)?;
    c.dtype(0, DType::U32)?;
    c.dtype(1, c.float())?;
    let (ids, dy) = (c.dims(0), c.dims(1));
    match dy.split_last() {
        Some((&d, lead)) if lead == ids => Ok((Shape::new([vocab, d]), c.float())),
        _ => Err(c.shape_err("dy must be the ids' shape plus one trailing axis")),
    }
}

/// `x[.., start..start + len, ..]` along `axis`.
fn slice(c: &Ctx<'_>, axis: usize, start: usize, len: usize) -> Result<(Shape, DType), GraphError> {
    c.arity(1, 1)?;
    let x = c.dims(0);
    let end = start.checked_add(len);
    match (x.get(axis), end) {
        (Some(&n), Some(end)) if end <= n => {
            let mut out = x.to_vec();
            out[axis] = len;
            Ok((Shape(out), c.inputs[0].1))
        }
        _ => Err(c.attr_err(format!(
            "slice {start}..{start}+{len} of axis {axis} is outside {}",
            c.inputs[0].0
        ))),
    }
}

/// `logits [.., C]`, `labels [..]` u32 (and `dloss [1]` for the backward) -> `[1]` or logits'.
fn cross_entropy(c: &Ctx<'_>) -> Result<(Shape, DType), GraphError> {
    let backward = matches!(c.op, Op::SoftmaxCrossEntropyBackward);
    let n = if backward { 3 } else { 2 };
    c.arity(n, n)?;
    c.dtype(0, c.float())?;
    c.dtype(1, DType::U32)?;
    match c.dims(0).split_last() {
        Some((&classes, lead)) if classes > 0 && lead == c.dims(1) => {}
        _ => return Err(c.shape_err("labels must be the logits' shape without the class axis")),
    }
    if backward {
        c.dtype(2, c.float())?;
        if c.dims(2) != [1] {
            return Err(c.shape_err("dloss must be [1]"));
        }
        return Ok((c.inputs[0].0.clone(), c.float()));
    }
    Ok((Shape::new([1]), c.float()))
}

/// `pred`, `target` of one shape (and `dloss [1]` for the backward) -> `[1]` or pred's.
fn mse(c: &Ctx<'_>) -> Result<(Shape, DType), GraphError> {
    let backward = matches!(c.op, Op::MseLossBackward);
    let n = if backward { 3 } else { 2 };
    c.arity(n, n)?;
    c.all_float()?;
    if c.dims(0) != c.dims(1) {
        return Err(c.shape_err("pred and target must have one shape"));
    }
    if backward {
        if c.dims(2) != [1] {
            return Err(c.shape_err("dloss must be [1]"));
        }
        return Ok((c.inputs[0].0.clone(), c.float()));
    }
    Ok((Shape::new([1]), c.float()))
}

/// Target size of one im2col tile in bytes. Convolution builds its column matrix one tile of
/// output positions of one image at a time, so its workspace stays near this size instead of
/// growing with batch and image area (tiled im2col, seed 5.4.4); a workspace cap shrinks it
/// (see [`conv::im2col_tile_cols`](super::conv::im2col_tile_cols)).
pub const IM2COL_TILE_BYTES: u64 = 64 * 1024;

/// Scratch bytes the op asks for while it runs (0 for most ops): the im2col column matrix of a
/// convolution, the score matrix of materialised attention (tiled attention needs none), in
/// elements of `dtype` (the node's output dtype: an f16 node's workspace holds f16). Saturates; validation rejects a graph where it
/// would (see [`checked_workspace_bytes`]). Call only on inputs that passed [`infer`].
pub fn workspace_bytes(op: &Op, inputs: &[InputInfo<'_>], output: &Shape, dtype: DType) -> u64 {
    checked_workspace_bytes(op, inputs, output, dtype).unwrap_or(u64::MAX)
}

/// [`workspace_bytes`], or `None` when the byte count overflows a `u64`.
pub fn checked_workspace_bytes(
    op: &Op,
    inputs: &[InputInfo<'_>],
    output: &Shape,
    dtype: DType,
) -> Option<u64> {
    // Workspaces hold elements of the node's float dtype (its output's).
    let elem = dtype.size_bytes();
    match op {
        Op::Conv2d(a) => {
            let (x, w, o) = (inputs[0].0.dims(), inputs[1].0.dims(), output.dims());
            // Overflow checks first; `ConvShape` saturates.
            Shape::new([x[1], w[2], w[3]]).checked_numel()?;
            Shape::new([o[2], o[3]]).checked_numel()?;
            // im2col: [C*KH*KW, tile], one tile of one image's column matrix; direct: none.
            let shape = super::conv::ConvShape::new(x, w, o, dtype);
            super::conv::conv_workspace_bytes(a.method, &shape)
        }
        Op::Attention {
            kernel: AttentionKernel::Tiled,
            ..
        } => Some(0),
        Op::Attention {
            kernel: AttentionKernel::Materialized,
            ..
        } => {
            let (q, k) = (inputs[0].0.dims(), inputs[1].0.dims());
            Shape::new([q[0], q[1], q[2], k[2]])
                .checked_numel()?
                .checked_mul(elem)
        }
        _ => Some(0),
    }
}
