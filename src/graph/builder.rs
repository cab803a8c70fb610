//! A builder that adds tensors and nodes with shape inference, so a built graph is valid by
//! construction. Every op method returns the new output tensor or a [`GraphError`].

use super::infer::infer;
use super::*;

/// Incrementally builds a [`Graph`].
#[derive(Debug, Default)]
pub struct GraphBuilder {
    graph: Graph,
}

impl GraphBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder that continues `g`: its tensors and nodes keep their ids, new ones follow.
    pub fn from_graph(g: Graph) -> GraphBuilder {
        GraphBuilder { graph: g }
    }

    /// The graph built so far (not yet validated as a whole).
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Replaces the graph outputs.
    pub fn set_outputs(&mut self, outputs: Vec<TensorId>) {
        self.graph.outputs = outputs;
    }

    fn add_tensor(
        &mut self,
        name: &str,
        shape: Shape,
        dtype: DType,
        kind: TensorKind,
        init: Init,
    ) -> TensorId {
        let id = TensorId(self.graph.tensors.len() as u32);
        self.graph.tensors.push(Tensor {
            name: name.to_string(),
            shape,
            dtype,
            kind,
            init,
        });
        id
    }

    /// Adds a graph input with deterministic contents.
    pub fn input(&mut self, name: &str, dims: &[usize], dtype: DType, init: Init) -> TensorId {
        self.add_tensor(name, Shape::new(dims), dtype, TensorKind::Input, init)
    }

    /// Adds an f32 weight initialised uniformly in `[-scale, scale)`.
    pub fn weight(&mut self, name: &str, dims: &[usize], seed: u64, scale: f32) -> TensorId {
        self.add_tensor(
            name,
            Shape::new(dims),
            DType::F32,
            TensorKind::Weight,
            Init::Uniform { seed, scale },
        )
    }

    /// Adds an f32 weight with every element equal to `value`.
    pub fn constant(&mut self, name: &str, dims: &[usize], value: f32) -> TensorId {
        self.add_tensor(
            name,
            Shape::new(dims),
            DType::F32,
            TensorKind::Weight,
            Init::Constant(value),
        )
    }

    /// Applies `op` to `inputs`, inferring the output; the node and its output are named `name`.
    pub fn op(&mut self, name: &str, op: Op, inputs: &[TensorId]) -> Result<TensorId, GraphError> {
        let node = NodeId(self.graph.nodes.len() as u32);
        let mut infos = Vec::with_capacity(inputs.len());
        for &t in inputs {
            let tensor = self
                .graph
                .tensors
                .get(t.index())
                .ok_or(GraphError::DanglingTensor {
                    node,
                    op: op.name(),
                    tensor: t,
                })?;
            infos.push((&tensor.shape, tensor.dtype));
        }
        let (shape, dtype) = infer(name, &op, &infos)?;
        let out = self.add_tensor(name, shape, dtype, TensorKind::Activation, Init::None);
        self.graph.nodes.push(Node {
            name: name.to_string(),
            op,
            inputs: inputs.to_vec(),
            outputs: vec![out],
        });
        Ok(out)
    }

    /// Shape of an existing tensor (for model code that needs it).
    pub fn shape(&self, t: TensorId) -> Result<&Shape, GraphError> {
        self.graph.tensor(t).map(|x| &x.shape)
    }

    /// Marks `t` as a graph output.
    pub fn output(&mut self, t: TensorId) {
        self.graph.outputs.push(t);
    }

    /// Finishes the graph and validates it.
    pub fn build(self) -> Result<Graph, GraphError> {
        self.graph.validate()?;
        Ok(self.graph)
    }

    // Convenience wrappers, one per op family.

    /// `a @ b` with optional transposes.
    pub fn matmul(
        &mut self,
        name: &str,
        a: TensorId,
        b: TensorId,
        trans_a: bool,
        trans_b: bool,
    ) -> Result<TensorId, GraphError> {
        self.op(name, Op::MatMul { trans_a, trans_b }, &[a, b])
    }

    /// `x @ w + bias`.
    pub fn linear(
        &mut self,
        name: &str,
        x: TensorId,
        w: TensorId,
        bias: Option<TensorId>,
    ) -> Result<TensorId, GraphError> {
        let mut ins = vec![x, w];
        ins.extend(bias);
        self.op(name, Op::Linear, &ins)
    }

    /// Elementwise `a + b`.
    pub fn add(&mut self, name: &str, a: TensorId, b: TensorId) -> Result<TensorId, GraphError> {
        self.op(name, Op::Binary(BinaryOp::Add), &[a, b])
    }

    /// max(x, 0).
    pub fn relu(&mut self, name: &str, x: TensorId) -> Result<TensorId, GraphError> {
        self.op(name, Op::Unary(UnaryOp::Relu), &[x])
    }

    /// GELU (tanh approximation).
    pub fn gelu(&mut self, name: &str, x: TensorId) -> Result<TensorId, GraphError> {
        self.op(name, Op::Unary(UnaryOp::Gelu), &[x])
    }

    /// Zero-copy reshape.
    pub fn reshape(
        &mut self,
        name: &str,
        x: TensorId,
        dims: &[usize],
    ) -> Result<TensorId, GraphError> {
        self.op(
            name,
            Op::Reshape {
                shape: dims.to_vec(),
            },
            &[x],
        )
    }

    /// Flattens all dims after the first: `[N, ...] -> [N, prod(...)]` (a view).
    pub fn flatten(&mut self, name: &str, x: TensorId) -> Result<TensorId, GraphError> {
        let dims = self.shape(x)?.dims().to_vec();
        let n = dims.first().copied().unwrap_or(1);
        let rest: usize = dims.iter().skip(1).product();
        self.reshape(name, x, &[n, rest])
    }

    /// Axis permutation (a copy).
    pub fn permute(
        &mut self,
        name: &str,
        x: TensorId,
        perm: &[usize],
    ) -> Result<TensorId, GraphError> {
        self.op(
            name,
            Op::Permute {
                perm: perm.to_vec(),
            },
            &[x],
        )
    }
}
