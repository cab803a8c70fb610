//! Backward rule of `conv2d`: d x by [`Op::Conv2dGradInput`] (dy and the weight; a gathered
//! transposed convolution), d w by [`Op::Conv2dGradWeight`] (the forward input and dy), d bias
//! by [`Op::Conv2dGradBias`] (dy summed over N, OH, OW). None of them needs a workspace.

use crate::graph::{GraphBuilder, GraphError, Node, Op, TensorId};

/// `conv2d`: inputs x, w and an optional bias.
pub(crate) fn backward(
    b: &mut GraphBuilder,
    node: &Node,
    dy: TensorId,
    wanted: &[bool],
) -> Result<Vec<Option<TensorId>>, GraphError> {
    let Op::Conv2d(attrs) = node.op else {
        return Ok(vec![None; node.inputs.len()]);
    };
    let n = &node.name;
    let (x, w) = (node.inputs[0], node.inputs[1]);
    let (xd, wd) = (b.shape(x)?.dims().to_vec(), b.shape(w)?.dims().to_vec());
    let mut out = vec![None; node.inputs.len()];
    if wanted.first() == Some(&true) {
        let op = Op::Conv2dGradInput {
            attrs,
            input: [xd[2], xd[3]],
        };
        out[0] = Some(b.op(&format!("{n}.dx"), op, &[dy, w])?);
    }
    if wanted.get(1) == Some(&true) {
        let op = Op::Conv2dGradWeight {
            attrs,
            kernel: [wd[2], wd[3]],
        };
        out[1] = Some(b.op(&format!("{n}.dw"), op, &[x, dy])?);
    }
    if wanted.get(2) == Some(&true) {
        out[2] = Some(b.op(&format!("{n}.dbias"), Op::Conv2dGradBias, &[dy])?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::backward;
    use crate::graph::{Conv2dAttrs, ConvMethod, GraphBuilder};
    use crate::transform::autodiff::tests::gradcheck::{check_rule, f32_input};

    #[test]
    fn conv2d_gradients_match_finite_differences() {
        let geometries = [
            ([2, 2], [1, 1], [1, 1], [7, 6], [3, 3]),
            ([2, 1], [2, 0], [2, 1], [8, 5], [3, 2]),
        ];
        for (stride, padding, dilation, [h, w], [kh, kw]) in geometries {
            for method in [ConvMethod::default(), ConvMethod::Direct] {
                let attrs = Conv2dAttrs {
                    stride,
                    padding,
                    dilation,
                    method,
                };
                let build = |b: &mut GraphBuilder| {
                    let x = f32_input(b, "x", &[2, 3, h, w], 1);
                    let wt = f32_input(b, "w", &[4, 3, kh, kw], 2);
                    let bias = f32_input(b, "bias", &[4], 3);
                    b.op("conv", crate::graph::Op::Conv2d(attrs), &[x, wt, bias])
                };
                let what = format!("conv2d {stride:?} {padding:?} {dilation:?} {method:?}");
                check_rule(backward, build, &[], &what);
            }
        }
    }
}
