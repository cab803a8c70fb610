//! The CPU reference backend: the correctness oracle for the GPU runtime.
//!
//! [`run`] evaluates every node of a validated [`Graph`] in order with plain f32 loops (f64
//! accumulation where sums are long) and returns the value of every tensor. Kernels are written
//! for clarity, not speed: convolution is a direct seven-deep loop (never im2col) so that it
//! checks the GPU's im2col path independently. One file per op family; [`eval_node`] runs one op.
//!
//! Future work (not built): a host arena executing the same memory plan as the GPU, so that a
//! planner bug shows up on the CPU too.

mod attention;
mod conv;
mod data;
mod elementwise;
mod error;
mod layout_ops;
mod matmul;
mod norm;
mod pool;
mod resize;

pub use data::{TensorData, initial_data};
pub use error::CpuError;

use crate::graph::infer::infer;
use crate::graph::{DType, Graph, Op, Shape, TensorKind};

/// Largest element count of any one tensor the CPU reference accepts (16 GiB of f32).
pub const MAX_ELEMENTS: u64 = 1 << 32;

/// Evaluates every node of `graph` in order.
///
/// Returns one entry per tensor, indexed by `TensorId`: inputs and weights hold their initial
/// values, activations the computed values (a reshape output holds a copy), and `None` marks a
/// tensor that no node computes. The graph is validated first.
pub fn run(graph: &Graph) -> Result<Vec<Option<TensorData>>, CpuError> {
    graph.validate()?;
    for t in &graph.tensors {
        let elements = t.shape.numel();
        if elements > MAX_ELEMENTS {
            return Err(CpuError::TooLarge {
                name: t.name.clone(),
                elements,
                limit: MAX_ELEMENTS,
            });
        }
    }
    let mut values: Vec<Option<TensorData>> = graph
        .tensors
        .iter()
        .map(|t| (t.kind != TensorKind::Activation).then(|| initial_data(t)))
        .collect();
    for node in &graph.nodes {
        let mut inputs = Vec::with_capacity(node.inputs.len());
        for &t in &node.inputs {
            let tensor = graph.tensor(t)?;
            let data = values
                .get(t.index())
                .and_then(Option::as_ref)
                .ok_or_else(|| CpuError::Mismatch {
                    node: node.name.clone(),
                    op: node.op.name(),
                    detail: format!("input {t} `{}` has no value yet", tensor.name),
                })?;
            inputs.push((&tensor.shape, data));
        }
        let [out] = node.outputs[..] else {
            return Err(CpuError::Mismatch {
                node: node.name.clone(),
                op: node.op.name(),
                detail: format!("expected one output, found {}", node.outputs.len()),
            });
        };
        let result = eval(&node.name, &node.op, &inputs, &graph.tensor(out)?.shape)?;
        if let Some(slot) = values.get_mut(out.index()) {
            *slot = Some(result);
        }
    }
    Ok(values)
}

/// Evaluates `graph` and returns the values of its outputs, in `graph.outputs` order.
pub fn run_outputs(graph: &Graph) -> Result<Vec<TensorData>, CpuError> {
    let values = run(graph)?;
    graph
        .outputs
        .iter()
        .map(|&o| {
            values
                .get(o.index())
                .and_then(Option::clone)
                .ok_or_else(|| {
                    CpuError::from(crate::graph::GraphError::Invalid(format!(
                        "output {o} has no value"
                    )))
                })
        })
        .collect()
}

/// Evaluates one op on explicit inputs, checking data lengths against shapes and the inferred
/// output shape against `out_shape`. Errors name the op (there is no node).
pub fn eval_node(
    op: &Op,
    inputs: &[(&Shape, &TensorData)],
    out_shape: &Shape,
) -> Result<TensorData, CpuError> {
    eval(op.name(), op, inputs, out_shape)
}

/// Shared kernel context: the node being evaluated, for error messages and allocation.
pub(crate) struct Ctx<'a> {
    node: &'a str,
    op: &'a Op,
}

impl Ctx<'_> {
    /// A mismatch error naming the node.
    pub(crate) fn mismatch(&self, detail: impl Into<String>) -> CpuError {
        CpuError::Mismatch {
            node: self.node.to_string(),
            op: self.op.name(),
            detail: detail.into(),
        }
    }

    /// `n` zeros, or an error when the host cannot allocate them.
    pub(crate) fn zeros(&self, n: usize) -> Result<Vec<f32>, CpuError> {
        let mut v = Vec::new();
        v.try_reserve_exact(n).map_err(|_| CpuError::OutOfMemory {
            node: self.node.to_string(),
            op: self.op.name(),
            elements: n,
        })?;
        v.resize(n, 0.0);
        Ok(v)
    }

    /// Input `i` as floats.
    pub(crate) fn f32_in<'d>(
        &self,
        inputs: &[(&Shape, &'d TensorData)],
        i: usize,
    ) -> Result<&'d [f32], CpuError> {
        inputs
            .get(i)
            .and_then(|(_, d)| d.as_f32())
            .ok_or_else(|| self.mismatch(format!("input {i} is missing or not f32")))
    }

    /// Optional input `i` as floats: `None` when the node has fewer inputs (an absent bias).
    pub(crate) fn optional_f32_in<'d>(
        &self,
        inputs: &[(&Shape, &'d TensorData)],
        i: usize,
    ) -> Result<Option<&'d [f32]>, CpuError> {
        if inputs.len() > i {
            self.f32_in(inputs, i).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Input `i` as integers.
    pub(crate) fn u32_in<'d>(
        &self,
        inputs: &[(&Shape, &'d TensorData)],
        i: usize,
    ) -> Result<&'d [u32], CpuError> {
        inputs
            .get(i)
            .and_then(|(_, d)| d.as_u32())
            .ok_or_else(|| self.mismatch(format!("input {i} is missing or not u32")))
    }

    /// The dims of input `i`.
    pub(crate) fn dims<'s>(
        &self,
        inputs: &[(&'s Shape, &TensorData)],
        i: usize,
    ) -> Result<&'s [usize], CpuError> {
        inputs
            .get(i)
            .map(|(s, _)| s.dims())
            .ok_or_else(|| self.mismatch(format!("input {i} is missing")))
    }

    /// The node name (for errors built by kernels).
    pub(crate) fn node(&self) -> &str {
        self.node
    }

    /// The op name.
    pub(crate) fn op_name(&self) -> &'static str {
        self.op.name()
    }
}

fn numel(shape: &Shape) -> Result<usize, ()> {
    usize::try_from(shape.numel()).map_err(|_| ())
}

/// Checks the inputs against the op, then dispatches to the kernel of its family.
fn eval(
    node: &str,
    op: &Op,
    inputs: &[(&Shape, &TensorData)],
    out_shape: &Shape,
) -> Result<TensorData, CpuError> {
    let cx = Ctx { node, op };
    for (i, (shape, data)) in inputs.iter().enumerate() {
        if numel(shape) != Ok(data.len()) {
            return Err(cx.mismatch(format!(
                "input {i} has shape {shape} but {} elements",
                data.len()
            )));
        }
    }
    let infos: Vec<_> = inputs.iter().map(|(s, d)| (*s, d.dtype())).collect();
    let (shape, dtype) = infer(node, op, &infos)?;
    if &shape != out_shape {
        return Err(cx.mismatch(format!(
            "output shape {out_shape} differs from the inferred {shape}"
        )));
    }
    let elements = out_shape.numel();
    if elements > MAX_ELEMENTS {
        return Err(CpuError::TooLarge {
            name: node.to_string(),
            elements,
            limit: MAX_ELEMENTS,
        });
    }
    if elements == 0 {
        // Nothing to compute; also keeps kernels away from index products of empty shapes.
        return Ok(match dtype {
            DType::U32 => TensorData::U32(Vec::new()),
            DType::F32 | DType::F16 => TensorData::F32(Vec::new()),
        });
    }
    let out = match op {
        Op::MatMul { trans_a, trans_b } => {
            matmul::matmul(&cx, inputs, out_shape, *trans_a, *trans_b)?
        }
        Op::Linear => matmul::linear(&cx, inputs, out_shape)?,
        Op::Binary(b) => elementwise::binary(&cx, *b, inputs, out_shape)?,
        Op::Unary(u) => elementwise::unary(&cx, *u, inputs)?,
        Op::Softmax => norm::softmax(&cx, inputs)?,
        Op::LayerNorm { eps } => norm::layer_norm(&cx, inputs, *eps)?,
        Op::Conv2d(a) => conv::conv2d(&cx, a, inputs, out_shape)?,
        Op::Pool2d(a) => pool::pool2d(&cx, a, inputs, out_shape)?,
        Op::GlobalAvgPool => pool::global_avg_pool(&cx, inputs)?,
        Op::Reshape { .. } => layout_ops::reshape(&cx, inputs)?,
        Op::Permute { perm } => layout_ops::permute(&cx, perm, inputs, out_shape)?,
        Op::Concat { axis } => layout_ops::concat(&cx, *axis, inputs, out_shape)?,
        Op::Embedding => layout_ops::embedding(&cx, inputs)?,
        Op::Attention { causal, scale } => attention::attention(&cx, inputs, *causal, *scale)?,
        Op::Upsample2x { .. } => resize::upsample2x(&cx, inputs, out_shape)?,
    };
    if numel(out_shape) != Ok(out.len()) {
        return Err(cx.mismatch(format!(
            "kernel produced {} elements for output {out_shape}",
            out.len()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
