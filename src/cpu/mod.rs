//! The CPU reference backend: the correctness oracle for the GPU runtime.
//!
//! [`run`] evaluates every node of a validated [`Graph`] in order with plain f32 loops (f64
//! accumulation where sums are long) and returns the value of every tensor. Kernels are written
//! for clarity, not speed: convolution is a direct seven-deep loop (never im2col) so that it
//! checks the GPU's im2col path independently. One file per op family; [`eval_node`] runs one op.
//!
//! f16 semantics: an `F16` tensor's value is held as f32 numbers rounded to f16 precision. Inputs
//! and weights are rounded when generated or given, and every node whose output is `F16` computes
//! in f32 and rounds its result once, at the tensor boundary ([`TensorData::rounded_to`]): what a
//! device storing f16 between kernels that compute in f32 does.
//!
//! Before allocating anything, [`run`] and [`run_outputs`] estimate the host bytes they will
//! hold at their peak ([`host_peak_bytes`], from their own retention policy) and refuse a graph
//! that would not fit in the available memory ([`available_host_bytes`]).
//!
//! Future work (not built): a host arena executing the same memory plan as the GPU, so that a
//! planner bug shows up on the CPU too.

mod attention;
mod attention_grad;
mod conv;
mod conv_grad;
mod data;
mod elementwise;
mod error;
mod grad;
mod host;
mod layout_ops;
mod loss;
mod matmul;
mod norm;
mod pool;
mod pool_grad;
mod resize;

pub use data::{TensorData, initial_data, round_f16};
pub use error::CpuError;
pub use grad::gelu_derivative;
pub use host::{
    FALLBACK_AVAILABLE_BYTES, HOST_MEMORY_ENV, HostMemory, Retention, VALUE_BYTES,
    available_host_bytes, host_peak_bytes,
};
pub use matmul::sgemm;

use crate::graph::infer::infer;
use crate::graph::{DType, Graph, Op, Shape, TensorId, TensorKind};

/// Largest element count of any one tensor the CPU reference accepts (16 GiB of f32).
pub const MAX_ELEMENTS: u64 = 1 << 32;

/// Evaluates every node of `graph` in order, keeping every value.
///
/// Returns one entry per tensor, indexed by `TensorId`: inputs and weights hold their initial
/// values, activations the computed values (a reshape output holds a copy), and `None` marks a
/// tensor that no node computes. The graph is validated first, and refused with
/// [`CpuError::HostMemory`] when its values would not fit in the host's available memory
/// ([`host_peak_bytes`] with [`Retention::All`]).
pub fn run(graph: &Graph) -> Result<Vec<Option<TensorData>>, CpuError> {
    evaluate(graph, Retention::All)
}

/// Evaluates `graph` and returns the values of its outputs, in `graph.outputs` order. Each
/// value is dropped after its last reader ([`Retention::UntilLastUse`]), so the host holds far
/// less than [`run`] does; a graph whose peak would not fit is refused like in [`run`].
pub fn run_outputs(graph: &Graph) -> Result<Vec<TensorData>, CpuError> {
    run_outputs_with(graph, &[])
}

/// [`run_outputs`] with some inputs or weights holding `given` values instead of their initial
/// ones (the weights after earlier training steps, say). A value whose length differs from its
/// tensor's element count is an error naming the tensor.
pub fn run_outputs_with(
    graph: &Graph,
    given: &[(TensorId, TensorData)],
) -> Result<Vec<TensorData>, CpuError> {
    let values = evaluate_with(graph, Retention::UntilLastUse, given)?;
    take_outputs(graph, values)
}

/// Evaluates an f16 graph as the f32 reference of it and returns its outputs: inputs and weights
/// hold their f16 values (rounded as in [`run_outputs`]), but every node keeps its f32 result
/// unrounded, so the difference from [`run_outputs`] is what storing activations in f16 costs.
/// For a graph without `F16` tensors this is [`run_outputs`].
pub fn run_outputs_f32(graph: &Graph) -> Result<Vec<TensorData>, CpuError> {
    let values = evaluate_in(graph, Retention::UntilLastUse, &[], Rounding::InputsOnly)?;
    take_outputs(graph, values)
}

/// Where the reference rounds the values of `F16` tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rounding {
    /// Inputs, weights and every node's output (the f16 graph's own semantics).
    AtTensorBoundaries,
    /// Inputs and weights only: activations stay f32 (the f32 reference of an f16 graph).
    InputsOnly,
}

/// Moves the values of `graph`'s outputs out of `values`, in `graph.outputs` order.
fn take_outputs(
    graph: &Graph,
    mut values: Vec<Option<TensorData>>,
) -> Result<Vec<TensorData>, CpuError> {
    let mut outputs: Vec<TensorData> = Vec::with_capacity(graph.outputs.len());
    for (k, &o) in graph.outputs.iter().enumerate() {
        // A tensor listed twice as an output is moved out once and copied after.
        let earlier = graph.outputs[..k].iter().position(|&p| p == o);
        let value = match earlier {
            Some(e) => Some(outputs[e].clone()),
            None => values.get_mut(o.index()).and_then(Option::take),
        };
        outputs.push(value.ok_or_else(|| {
            CpuError::from(crate::graph::GraphError::Invalid(format!(
                "output {o} has no value"
            )))
        })?);
    }
    Ok(outputs)
}

/// Refuses `graph` when a tensor exceeds [`MAX_ELEMENTS`] or the peak host bytes under
/// `retention` exceed the available memory.
fn check_host_limits(
    graph: &Graph,
    retention: Retention,
    available: HostMemory,
) -> Result<(), CpuError> {
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
    let needed = host_peak_bytes(graph, retention);
    if needed > available.bytes {
        return Err(CpuError::HostMemory {
            needed,
            available: available.bytes,
            origin: available.source,
        });
    }
    Ok(())
}

/// The evaluation loop behind [`run`] and [`run_outputs`]: inputs and weights are generated
/// when first read, values are dropped as `retention` says ([`host_peak_bytes`] follows the
/// same steps).
fn evaluate(graph: &Graph, retention: Retention) -> Result<Vec<Option<TensorData>>, CpuError> {
    evaluate_with(graph, retention, &[])
}

/// [`evaluate`] with the `given` values of some inputs or weights (checked against their
/// tensors) in place of their initial values.
fn evaluate_with(
    graph: &Graph,
    retention: Retention,
    given: &[(TensorId, TensorData)],
) -> Result<Vec<Option<TensorData>>, CpuError> {
    evaluate_in(graph, retention, given, Rounding::AtTensorBoundaries)
}

/// [`evaluate_with`], rounding `F16` values where `rounding` says.
fn evaluate_in(
    graph: &Graph,
    retention: Retention,
    given: &[(TensorId, TensorData)],
    rounding: Rounding,
) -> Result<Vec<Option<TensorData>>, CpuError> {
    graph.validate()?;
    check_host_limits(graph, retention, available_host_bytes()?)?;
    let drop_after = host::drop_after(graph, retention);
    let mut values: Vec<Option<TensorData>> = vec![None; graph.tensors.len()];
    for (t, data) in given {
        let tensor = graph.tensor(*t)?;
        if tensor.kind == TensorKind::Activation
            || tensor.shape.numel() != data.len() as u64
            || !data.holds(tensor.dtype)
        {
            return Err(CpuError::Mismatch {
                node: tensor.name.clone(),
                op: "given value",
                detail: format!(
                    "{} {} elements of {} for a {:?} tensor {} {}",
                    data.len(),
                    data.dtype(),
                    t,
                    tensor.kind,
                    tensor.shape,
                    tensor.dtype
                ),
            });
        }
        values[t.index()] = Some(data.clone().rounded_to(tensor.dtype));
    }
    for (step, node) in graph.nodes.iter().enumerate() {
        for &t in &node.inputs {
            materialise(graph, &mut values, t.index());
        }
        let result = eval_graph_node(graph, node, &values, rounding)?;
        if let Some(slot) = node.outputs.first().and_then(|o| values.get_mut(o.index())) {
            *slot = Some(result);
        }
        for &t in &node.inputs {
            if drop_after[t.index()] == Some(step) {
                values[t.index()] = None;
            }
        }
    }
    for t in 0..graph.tensors.len() {
        let returned = retention == Retention::All || graph.outputs.iter().any(|o| o.index() == t);
        if returned {
            materialise(graph, &mut values, t);
        }
    }
    Ok(values)
}

/// Gives an input or weight without a value its initial value (activations are left alone).
fn materialise(graph: &Graph, values: &mut [Option<TensorData>], t: usize) {
    if let (Some(tensor), Some(slot)) = (graph.tensors.get(t), values.get_mut(t))
        && tensor.kind != TensorKind::Activation
        && slot.is_none()
    {
        *slot = Some(initial_data(tensor));
    }
}

/// Evaluates one node of `graph` on the values held so far.
fn eval_graph_node(
    graph: &Graph,
    node: &crate::graph::Node,
    values: &[Option<TensorData>],
    rounding: Rounding,
) -> Result<TensorData, CpuError> {
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
    let out = graph.tensor(out)?;
    let value = eval(&node.name, &node.op, &inputs, &out.shape)?;
    Ok(match rounding {
        Rounding::AtTensorBoundaries => value.rounded_to(out.dtype),
        Rounding::InputsOnly => value,
    })
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
        self.filled(n, 0.0)
    }

    /// `n` f64 accumulators at zero (gradient sums), or an error when the host cannot allocate
    /// them.
    pub(crate) fn zeros_f64(&self, n: usize) -> Result<Vec<f64>, CpuError> {
        self.filled(n, 0.0)
    }

    /// `n` copies of `value`, or an error when the host cannot allocate them.
    fn filled<T: Clone>(&self, n: usize, value: T) -> Result<Vec<T>, CpuError> {
        let mut v = Vec::new();
        v.try_reserve_exact(n).map_err(|_| CpuError::OutOfMemory {
            node: self.node.to_string(),
            op: self.op.name(),
            elements: n,
        })?;
        v.resize(n, value);
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

/// The element count of `shape` as a `usize`, `None` when it overflows.
fn numel(shape: &Shape) -> Option<usize> {
    usize::try_from(shape.checked_numel()?).ok()
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
        match numel(shape) {
            None => {
                return Err(cx.mismatch(format!(
                    "input {i} has shape {shape}, whose element count overflows"
                )));
            }
            Some(n) if n != data.len() => {
                return Err(cx.mismatch(format!(
                    "input {i} has shape {shape} but {} elements",
                    data.len()
                )));
            }
            Some(_) => {}
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
        Op::Attention { causal, scale, .. } => attention::attention(&cx, inputs, *causal, *scale)?,
        Op::Upsample2x { .. } => resize::upsample2x(&cx, inputs, out_shape)?,
        Op::ReduceTo { .. } => grad::reduce_to(&cx, inputs, out_shape)?,
        Op::UnaryBackward(u) => grad::unary_backward(&cx, *u, inputs)?,
        Op::SoftmaxBackward => grad::softmax_backward(&cx, inputs)?,
        Op::LayerNormBackward { eps } => grad::layer_norm_backward(&cx, inputs, *eps)?,
        Op::EmbeddingBackward { vocab } => grad::embedding_backward(&cx, inputs, *vocab)?,
        Op::Slice { axis, start, len } => grad::slice(&cx, *axis, *start, *len, inputs)?,
        Op::SoftmaxCrossEntropy => loss::cross_entropy(&cx, inputs)?,
        Op::SoftmaxCrossEntropyBackward => loss::cross_entropy_backward(&cx, inputs)?,
        Op::MseLoss => loss::mse(&cx, inputs)?,
        Op::MseLossBackward => loss::mse_backward(&cx, inputs)?,
        Op::SgdStep { lr } => loss::sgd_step(&cx, inputs, *lr)?,
        Op::MomentumAccumulate { momentum } => loss::momentum(&cx, inputs, *momentum)?,
        Op::Conv2dGradInput { attrs, .. } => conv_grad::grad_input(&cx, attrs, inputs, out_shape)?,
        Op::Conv2dGradWeight { attrs, .. } => {
            conv_grad::grad_weight(&cx, attrs, inputs, out_shape)?
        }
        Op::Conv2dGradBias => conv_grad::grad_bias(&cx, inputs)?,
        Op::Pool2dGrad { attrs, .. } => pool_grad::pool2d_grad(&cx, attrs, inputs, out_shape)?,
        Op::GlobalAvgPoolGrad { .. } => pool_grad::global_avg_pool_grad(&cx, inputs, out_shape)?,
        Op::Upsample2xGrad { .. } => pool_grad::upsample2x_grad(&cx, inputs, out_shape)?,
        Op::AttentionStats { causal, scale } => {
            attention_grad::stats(&cx, inputs, *causal, *scale)?
        }
        Op::AttentionGrad { causal, scale, wrt } => {
            attention_grad::grad(&cx, inputs, *causal, *scale, *wrt)?
        }
    };
    if numel(out_shape) != Some(out.len()) {
        return Err(cx.mismatch(format!(
            "kernel produced {} elements for output {out_shape}",
            out.len()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
