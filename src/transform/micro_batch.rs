//! Micro-batching (seed 5.4.4, `--micro-batch K`): the batch runs as `K` sequential slices that
//! share the weights, so the activations live at the size of one slice.
//!
//! The rewrite follows the batch through the graph: every graph input whose leading dimension
//! is the batch `B` (the leading dimension of the first input) carries it on axis 0, and each
//! op maps its inputs' batch axis to its output's (a reshape to where the per-sample blocks
//! land, a permutation to the permuted position, a matmul's rows to its output rows, and so
//! on; an op that would mix samples, such as a softmax over the batch axis or a matmul
//! contracting it, is an error naming the node). Nodes whose inputs carry no batch (computed
//! from weights alone) run once and are shared. Every other node is replicated per slice with
//! its shapes re-inferred (a reshape's target gets the slice's size), in program order: slice
//! `i + 1`'s nodes all come after slice `i`'s, so the `program` schedule runs the slices one
//! after the other and frees each slice's activations before the next starts.
//!
//! A batched input becomes one input per slice whose values are exactly that part of the whole
//! input ([`Init::Slice`]): the slices are contiguous parts of the caller's data, so feeding
//! them copies nothing. (A slice *view* into one input would need binding offsets at arbitrary
//! sample boundaries, which a storage buffer's offset alignment, 32 to 256 bytes, forbids.)
//! Each batched graph output is joined by one `Concat` along its batch axis, named as the
//! original output, so callers read one output of the original shape; the pieces being joined
//! are live together with the joined tensor for that copy. To keep that copy small, the join
//! moves back from an output that grows at the end (gpt's logits, `[B, S, vocab]`, from hidden
//! states `[B, S, width]`): the tail of nodes each with one batched input, read by nothing
//! else and smaller than its output (views pass through), runs once on the whole batch after
//! the slices, and the join copies that tail's smaller input instead (the whole batch's output
//! is then written once, where it would have been anyway). `K` need not divide `B`: the slices
//! are balanced (sizes differ by at most one, larger first), and the arena follows the
//! largest.

use crate::graph::{Graph, GraphError, Init, Node, Op, Shape, Tensor, TensorId, TensorKind, infer};
use thiserror::Error;

/// Why a graph cannot be micro-batched as asked.
#[derive(Debug, Error, PartialEq)]
pub enum MicroBatchError {
    /// `K = 0`.
    #[error("--micro-batch 0: the batch needs at least one slice")]
    Zero,
    /// No graph input has a leading dimension to slice.
    #[error("--micro-batch {k}: the graph has no input with a batch dimension to slice")]
    NoBatch {
        /// The slices asked for.
        k: usize,
    },
    /// More slices than samples.
    #[error(
        "--micro-batch {k} exceeds the batch {batch} of input `{input}`: at most one slice per sample"
    )]
    TooMany {
        /// The slices asked for.
        k: usize,
        /// The batch.
        batch: usize,
        /// The input whose leading dimension is the batch.
        input: String,
    },
    /// A node would mix samples, or its batch axis cannot be followed.
    #[error("--micro-batch {k}: node `{node}` ({op}) cannot run on a slice of the batch: {reason}")]
    CannotSlice {
        /// The slices asked for.
        k: usize,
        /// The node.
        node: String,
        /// Its op.
        op: &'static str,
        /// Why.
        reason: String,
    },
    /// The rewritten graph is invalid (a bug in the rewrite if it happens).
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// The batch of `graph`: the leading dimension of its first input of rank at least 1, and that
/// input. `None` when no input has a dimension.
pub fn batch_of(graph: &Graph) -> Option<(usize, TensorId)> {
    graph.tensor_ids().find_map(|t| {
        let tensor = &graph.tensors[t.index()];
        let first = tensor.shape.dims().first()?;
        (tensor.kind == TensorKind::Input).then_some((*first, t))
    })
}

/// The sizes of `k` balanced slices of `batch` samples (larger first; they differ by at most
/// one). `k` must be in `1..=batch`.
pub fn slice_sizes(batch: usize, k: usize) -> Vec<usize> {
    let k = k.max(1);
    (0..k)
        .map(|i| batch / k + usize::from(i < batch % k))
        .collect()
}

/// The slice counts worth planning for `batch`: the smallest `K` for each largest-slice size,
/// ascending (for 8: 1, 2, 3, 4, 8; 5 to 7 slices have a largest slice of 2, as 4 do).
pub fn useful_slice_counts(batch: usize) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    let mut last = None;
    for k in 1..=batch.max(1) {
        let largest = batch.div_ceil(k);
        if last != Some(largest) {
            out.push(k);
            last = Some(largest);
        }
    }
    out
}

/// `graph` rewritten to run its batch as `k` sequential slices (module doc). `k = 1` returns
/// the graph unchanged; `k = 0`, `k` above the batch, or an op that would mix samples is an
/// error naming the cause.
pub fn micro_batch(graph: &Graph, k: usize) -> Result<Graph, MicroBatchError> {
    if k == 0 {
        return Err(MicroBatchError::Zero);
    }
    if k == 1 {
        return Ok(graph.clone());
    }
    let (batch, input) = batch_of(graph).ok_or(MicroBatchError::NoBatch { k })?;
    if k > batch {
        let input = graph.tensors[input.index()].name.clone();
        return Err(MicroBatchError::TooMany { k, batch, input });
    }
    let axes = batch_axes(graph, batch, k)?;
    let tail = whole_batch_tail(graph, &axes);
    let mut r = Rewrite::new(graph, batch, k, axes, tail);
    let sizes = slice_sizes(batch, k);
    let mut start = 0;
    for (slice, &size) in sizes.iter().enumerate() {
        r.slice(slice, start, size)?;
        start += size;
    }
    r.run_tail()?;
    r.join_outputs()?;
    r.out.validate()?;
    Ok(r.out)
}

/// The batch axis of every tensor (`None`: no batch, shared by the slices).
fn batch_axes(
    graph: &Graph,
    batch: usize,
    k: usize,
) -> Result<Vec<Option<usize>>, MicroBatchError> {
    let mut axes: Vec<Option<usize>> = graph
        .tensors
        .iter()
        .map(|t| {
            let batched = t.kind == TensorKind::Input && t.shape.dims().first() == Some(&batch);
            batched.then_some(0)
        })
        .collect();
    for id in graph.node_ids() {
        let node = graph.node(id);
        let ins: Vec<Option<usize>> = node.inputs.iter().map(|t| axes[t.index()]).collect();
        let Some(&out) = node.outputs.first() else {
            continue;
        };
        if ins.iter().all(Option::is_none) {
            continue;
        }
        let cannot = |reason: String| MicroBatchError::CannotSlice {
            k,
            node: node.name.clone(),
            op: node.op.name(),
            reason,
        };
        let axis = out_axis(graph, node, &ins, batch).map_err(cannot)?;
        let dims = graph.tensors[out.index()].shape.dims();
        if dims.get(axis).is_none_or(|d| d % batch != 0) {
            return Err(cannot(format!(
                "its output {dims:?} has no multiple of the batch {batch} on axis {axis}"
            )));
        }
        axes[out.index()] = Some(axis);
    }
    Ok(axes)
}

/// The nodes that run once on the whole batch after the slices (module doc): walking back from
/// each batched output through nodes with one batched input, computed by a node and read by
/// nothing else, that is smaller than the node's output (equal for a view); views at the far
/// end of the walk are left to the slices, so the join is strictly smaller than the output.
fn whole_batch_tail(graph: &Graph, axes: &[Option<usize>]) -> Vec<bool> {
    let producers = graph.producers();
    let mut readers = vec![0usize; graph.tensors.len()];
    for t in graph
        .nodes
        .iter()
        .flat_map(|n| &n.inputs)
        .chain(&graph.outputs)
    {
        readers[t.index()] += 1;
    }
    let size = |t: TensorId| graph.tensors[t.index()].size_bytes();
    let mut tail = vec![false; graph.nodes.len()];
    for &o in graph.outputs.iter().filter(|o| axes[o.index()].is_some()) {
        let mut chain = Vec::new();
        let mut cur = o;
        while let Some(n) = producers[cur.index()] {
            let node = graph.node(n);
            let mut batched = node.inputs.iter().filter(|i| axes[i.index()].is_some());
            let (Some(&i), None) = (batched.next(), batched.next()) else {
                break;
            };
            let smaller = size(i) < size(cur) || (node.op.is_view() && size(i) == size(cur));
            if readers[i.index()] != 1 || producers[i.index()].is_none() || !smaller {
                break;
            }
            chain.push(n);
            cur = i;
        }
        while chain.last().is_some_and(|&n| graph.node(n).op.is_view()) {
            chain.pop();
        }
        for n in chain {
            tail[n.index()] = true;
        }
    }
    tail
}

/// The one axis the inputs' batch axes map to (`map` gives input `i`'s output axis).
fn agree(
    ins: &[Option<usize>],
    map: impl Fn(usize, usize) -> Result<usize, String>,
) -> Result<usize, String> {
    let mut found = None;
    for (i, a) in ins.iter().enumerate() {
        if let Some(a) = a {
            let o = map(i, *a)?;
            if found.is_some_and(|f| f != o) {
                return Err("its inputs carry the batch on different axes".into());
            }
            found = Some(o);
        }
    }
    found.ok_or_else(|| "no input carries the batch".into())
}

/// The batch axis of input 0, the only input allowed to carry it.
fn first_only(ins: &[Option<usize>]) -> Result<usize, String> {
    if ins.iter().skip(1).any(Option::is_some) {
        return Err("an input other than the first carries the batch".into());
    }
    ins.first()
        .copied()
        .flatten()
        .ok_or_else(|| "its first input does not carry the batch".into())
}

/// The output's batch axis, from the inputs' (`ins`, aligned with `node.inputs`), or why the
/// op would mix samples.
fn out_axis(
    graph: &Graph,
    node: &Node,
    ins: &[Option<usize>],
    batch: usize,
) -> Result<usize, String> {
    let dims = |i: usize| graph.tensors[node.inputs[i].index()].shape.dims();
    let out_rank = node
        .outputs
        .first()
        .map_or(0, |o| graph.tensors[o.index()].shape.rank());
    let contracts = || "it reduces over the batch axis".to_string();
    match &node.op {
        Op::Unary(_) => first_only(ins),
        Op::Softmax | Op::LayerNorm { .. } => {
            let a = first_only(ins)?;
            if a + 1 == dims(0).len() {
                Err(contracts())
            } else {
                Ok(a)
            }
        }
        Op::Binary(_) => agree(ins, |i, a| Ok(out_rank - dims(i).len() + a)),
        Op::MatMul { trans_a, trans_b } => agree(ins, |i, a| {
            let trans = if i == 0 { *trans_a } else { *trans_b };
            matmul_axis(i, a, dims(i).len(), trans, out_rank)
        }),
        Op::Linear => {
            let a = first_only(ins)?;
            if a + 1 == dims(0).len() {
                Err(contracts())
            } else {
                Ok(a)
            }
        }
        Op::Conv2d(_) | Op::Pool2d(_) | Op::GlobalAvgPool | Op::Upsample2x { .. } => {
            match first_only(ins)? {
                0 => Ok(0),
                a => Err(format!("the batch is on axis {a}, not on its N axis")),
            }
        }
        Op::Reshape { shape } => {
            let a = first_only(ins)?;
            reshape_axis(dims(0), a, shape, batch).ok_or_else(|| {
                format!("the per-sample blocks of axis {a} do not map onto {shape:?}")
            })
        }
        Op::Permute { perm } => {
            let a = first_only(ins)?;
            perm.iter()
                .position(|&p| p == a)
                .ok_or_else(|| format!("axis {a} is not in the permutation"))
        }
        Op::Concat { axis } => {
            if ins.iter().any(Option::is_none) {
                return Err("some inputs carry the batch and some do not".into());
            }
            let a = agree(ins, |_, a| Ok(a))?;
            if a == *axis {
                Err("it concatenates along the batch axis".into())
            } else {
                Ok(a)
            }
        }
        Op::Embedding => match ins {
            [None, Some(a)] => Ok(*a),
            _ => Err("only the ids may carry the batch".into()),
        },
        Op::Attention { .. } => match ins {
            [Some(a), Some(b), Some(c)] if a == b && b == c && *a < 2 => Ok(*a),
            _ => Err("q, k and v must all carry the batch on axis 0 or 1".into()),
        },
        // Backward, loss and update ops exist only in training graphs, which autodiff builds
        // from an (already sliced) forward graph; they have no batch-axis rule.
        _ => Err("it has no batch-axis rule (micro-batching slices forward graphs)".into()),
    }
}

/// The output axis of a matmul operand's batch axis `a` (operand `i`: 0 for `a`, 1 for `b`, of
/// rank `rank`, transposed or not): a leading (batch) axis stays, `a`'s rows (M) and `b`'s
/// columns (N) become the output's last two axes, and the contracted axis mixes samples.
fn matmul_axis(
    i: usize,
    a: usize,
    rank: usize,
    trans: bool,
    out_rank: usize,
) -> Result<usize, String> {
    let keeps = if i == 0 {
        rank - 2 + usize::from(trans)
    } else {
        rank - 1 - usize::from(trans)
    };
    if a + 2 < rank {
        Ok(a)
    } else if a == keeps {
        Ok(out_rank - 2 + i)
    } else {
        Err("it reduces over the batch axis".into())
    }
}

/// Where a reshape puts the batch: the output axis `j` whose leading axes hold the same outer
/// blocks as the input's axes before `a`, and along which each sample's block of the input
/// (axis `a`'s share of one sample times the axes after it) is a whole number of rows.
fn reshape_axis(din: &[usize], a: usize, dout: &[usize], batch: usize) -> Option<usize> {
    let outer: usize = din.get(..a)?.iter().product();
    let per_sample = din.get(a)? / batch * din.get(a + 1..)?.iter().product::<usize>();
    let mut before = 1usize;
    for (j, &d) in dout.iter().enumerate() {
        let after: usize = dout[j + 1..].iter().product();
        if before == outer && d % batch == 0 && d / batch * after == per_sample {
            return Some(j);
        }
        before = before.checked_mul(d)?;
    }
    None
}

/// The rewrite in progress: the new graph and where each original tensor went.
struct Rewrite<'g> {
    graph: &'g Graph,
    batch: usize,
    k: usize,
    axes: Vec<Option<usize>>,
    out: Graph,
    /// The new id of each tensor without a batch (weights, other inputs, shared results).
    shared: Vec<Option<TensorId>>,
    /// Per slice, the new id of each tensor with a batch.
    slices: Vec<Vec<Option<TensorId>>>,
    /// The nodes that run once on the whole batch after the slices.
    tail: Vec<bool>,
    /// The new id of each batched tensor at the whole batch's size (joined or from the tail).
    whole: Vec<Option<TensorId>>,
}

impl<'g> Rewrite<'g> {
    /// Starts the new graph with every tensor that carries no batch and is not computed.
    fn new(
        graph: &'g Graph,
        batch: usize,
        k: usize,
        axes: Vec<Option<usize>>,
        tail: Vec<bool>,
    ) -> Self {
        let mut r = Rewrite {
            graph,
            batch,
            k,
            axes,
            out: Graph::default(),
            shared: vec![None; graph.tensors.len()],
            slices: Vec::with_capacity(k),
            tail,
            whole: vec![None; graph.tensors.len()],
        };
        for (i, t) in graph.tensors.iter().enumerate() {
            if t.kind != TensorKind::Activation && r.axes[i].is_none() {
                r.shared[i] = Some(r.push_tensor(t.clone()));
            }
        }
        r
    }

    fn push_tensor(&mut self, t: Tensor) -> TensorId {
        self.out.tensors.push(t);
        TensorId((self.out.tensors.len() - 1) as u32)
    }

    /// `dims` with the batch axis holding `size` samples instead of the whole batch.
    fn scaled(&self, dims: &[usize], axis: usize, size: usize) -> Vec<usize> {
        let mut d = dims.to_vec();
        d[axis] = d[axis] / self.batch * size;
        d
    }

    /// Adds slice `slice` (samples `start..start + size`): its inputs, then its nodes in
    /// program order (shared nodes with the first slice).
    fn slice(&mut self, slice: usize, start: usize, size: usize) -> Result<(), MicroBatchError> {
        let g = self.graph;
        let mut ids = vec![None; g.tensors.len()];
        for (i, t) in g.tensors.iter().enumerate() {
            if t.kind == TensorKind::Input && self.axes[i].is_some() {
                let per_sample = t.shape.numel() / self.batch as u64;
                ids[i] = Some(self.push_tensor(Tensor {
                    name: format!("{}#mb{slice}", t.name),
                    shape: Shape::new(self.scaled(t.shape.dims(), 0, size)),
                    init: Init::Slice {
                        of: Box::new(t.init.clone()),
                        start: start as u64 * per_sample,
                    },
                    ..t.clone()
                }));
            }
        }
        for id in g.node_ids() {
            let node = g.node(id);
            let Some(&o) = node.outputs.first() else {
                continue;
            };
            if self.tail[id.index()] {
                continue;
            }
            match self.axes[o.index()] {
                None if slice == 0 => {
                    let t = self.add_node(node, None, &ids, size)?;
                    self.shared[o.index()] = Some(t);
                }
                None => {}
                Some(axis) => {
                    let t = self.add_node(node, Some((slice, axis)), &ids, size)?;
                    ids[o.index()] = Some(t);
                }
            }
        }
        self.slices.push(ids);
        Ok(())
    }

    /// Adds `node` (for `slice` with its output's batch `axis`, or shared), its shapes
    /// re-inferred; a reshape gets the slice's target shape.
    fn add_node(
        &mut self,
        node: &Node,
        slice: Option<(usize, usize)>,
        ids: &[Option<TensorId>],
        size: usize,
    ) -> Result<TensorId, MicroBatchError> {
        let g = self.graph;
        let o = node.outputs[0];
        let orig = &g.tensors[o.index()];
        let inputs: Vec<TensorId> = node
            .inputs
            .iter()
            .map(|t| ids[t.index()].or(self.shared[t.index()]))
            .collect::<Option<_>>()
            .ok_or_else(|| self.cannot(node, "an input was not rewritten".into()))?;
        let expected = match slice {
            Some((_, axis)) => self.scaled(orig.shape.dims(), axis, size),
            None => orig.shape.dims().to_vec(),
        };
        let op = match &node.op {
            Op::Reshape { .. } => Op::Reshape {
                shape: expected.clone(),
            },
            op => op.clone(),
        };
        let name = match slice {
            Some((s, _)) => format!("{}#mb{s}", node.name),
            None => node.name.clone(),
        };
        let infos: Vec<_> = inputs
            .iter()
            .map(|t| {
                let x = &self.out.tensors[t.index()];
                (&x.shape, x.dtype)
            })
            .collect();
        let (shape, dtype) = infer::infer(&name, &op, &infos)?;
        if shape.dims() != expected.as_slice() {
            let why = format!("its slice's output is {:?}, not {expected:?}", shape.dims());
            return Err(self.cannot(node, why));
        }
        let t = self.push_tensor(Tensor {
            name: name.clone(),
            shape,
            dtype,
            kind: TensorKind::Activation,
            init: Init::None,
        });
        self.out.nodes.push(Node {
            name,
            op,
            inputs,
            outputs: vec![t],
        });
        Ok(t)
    }

    fn cannot(&self, node: &Node, reason: String) -> MicroBatchError {
        MicroBatchError::CannotSlice {
            k: self.k,
            node: node.name.clone(),
            op: node.op.name(),
            reason,
        }
    }

    /// The tail nodes, in program order, on the whole batch: each batched input not yet at the
    /// whole batch's size is joined from the slices first.
    fn run_tail(&mut self) -> Result<(), MicroBatchError> {
        let g = self.graph;
        let tail: Vec<_> = g.node_ids().filter(|n| self.tail[n.index()]).collect();
        for id in tail {
            let node = g.node(id);
            for &i in &node.inputs {
                self.joined(i)?;
            }
            let t = self.add_node(node, None, &self.whole.clone(), 0)?;
            self.whole[node.outputs[0].index()] = Some(t);
        }
        Ok(())
    }

    /// Tensor `t` at the whole batch's size: the tail's, or the slices' pieces joined (once);
    /// `None` for a tensor without a batch.
    fn joined(&mut self, t: TensorId) -> Result<Option<TensorId>, MicroBatchError> {
        let Some(axis) = self.axes[t.index()] else {
            return Ok(None);
        };
        if let Some(w) = self.whole[t.index()] {
            return Ok(Some(w));
        }
        let w = self.concat(t, axis)?;
        self.whole[t.index()] = Some(w);
        Ok(Some(w))
    }

    /// Each graph output: shared ones as they are, batched ones at the whole batch's size
    /// (from the tail, or joined from the slices by a `Concat` along their batch axis, named
    /// as the original output).
    fn join_outputs(&mut self) -> Result<(), MicroBatchError> {
        let g = self.graph;
        for &o in &g.outputs {
            let id = match self.joined(o)? {
                None => self.shared[o.index()],
                w => w,
            };
            let id =
                id.ok_or_else(|| GraphError::Invalid(format!("output {o} was not rewritten")))?;
            self.out.outputs.push(id);
        }
        Ok(())
    }

    /// The slices' pieces of output `o` joined along `axis`.
    fn concat(&mut self, o: TensorId, axis: usize) -> Result<TensorId, MicroBatchError> {
        let g = self.graph;
        let orig = &g.tensors[o.index()];
        let pieces: Vec<TensorId> = self
            .slices
            .iter()
            .filter_map(|ids| ids[o.index()])
            .collect();
        let op = Op::Concat { axis };
        let infos: Vec<_> = pieces
            .iter()
            .map(|t| {
                let x = &self.out.tensors[t.index()];
                (&x.shape, x.dtype)
            })
            .collect();
        let (shape, dtype) = infer::infer(&orig.name, &op, &infos)?;
        let t = self.push_tensor(Tensor {
            name: orig.name.clone(),
            shape,
            dtype,
            kind: TensorKind::Activation,
            init: Init::None,
        });
        self.out.nodes.push(Node {
            name: format!("{}#join", orig.name),
            op,
            inputs: pieces,
            outputs: vec![t],
        });
        Ok(t)
    }
}

#[cfg(test)]
mod tests;
