//! Graph validation: ids in range, one producer per activation, nodes in a topological order
//! (a cycle shows up as a use before definition), every recorded shape equal to the inferred
//! one, and every byte count (each tensor, each workspace request, the sum of all tensors)
//! representable in a `u64`. Returns the first problem found as a [`GraphError`]; never panics.

use super::infer::infer;
use super::*;

impl Graph {
    /// Checks the graph; see the module docs for what is checked.
    pub fn validate(&self) -> Result<(), GraphError> {
        if self.outputs.is_empty() {
            return Err(GraphError::Invalid("the graph has no outputs".into()));
        }
        if u32::try_from(self.tensors.len()).is_err() || u32::try_from(self.nodes.len()).is_err() {
            return Err(GraphError::Invalid(format!(
                "{} tensors and {} nodes: ids are limited to 2^32",
                self.tensors.len(),
                self.nodes.len()
            )));
        }
        self.check_names()?;
        self.check_tensor_sizes()?;
        let mut produced = vec![false; self.tensors.len()];
        for (i, t) in self.tensors.iter().enumerate() {
            if t.kind != TensorKind::Activation {
                produced[i] = true;
            }
        }
        self.check_ids_and_producers()?;
        for id in self.node_ids() {
            let node = self.node(id);
            for &t in &node.inputs {
                if !produced[t.index()] {
                    return Err(GraphError::Cycle {
                        node: id,
                        op: node.op.name(),
                        tensor: t,
                        name: self.tensors[t.index()].name.clone(),
                    });
                }
            }
            let (shape, dtype) = infer(&node.name, &node.op, &self.input_infos(node))?;
            if node.outputs.len() != 1 {
                return Err(GraphError::Arity {
                    node: node.name.clone(),
                    op: node.op.name(),
                    expected: "1 output".into(),
                    found: node.outputs.len(),
                });
            }
            let out = node.outputs[0];
            let rec = &self.tensors[out.index()];
            if rec.shape != shape || rec.dtype != dtype {
                return Err(GraphError::OutputShape {
                    node: node.name.clone(),
                    op: node.op.name(),
                    tensor: out,
                    recorded: rec.shape.clone(),
                    inferred: shape,
                });
            }
            if self.checked_workspace_bytes(id).is_none() {
                return Err(GraphError::TooLarge {
                    what: format!("node `{}` ({}) workspace", node.name, node.op.name()),
                    detail: format!("its scratch for output {shape} exceeds 2^64 bytes"),
                });
            }
            produced[out.index()] = true;
        }
        for &o in &self.outputs {
            if o.index() >= self.tensors.len() {
                return Err(GraphError::Invalid(format!("output {o} does not exist")));
            }
            if !produced[o.index()] {
                return Err(GraphError::Invalid(format!("output {o} is never produced")));
            }
        }
        self.check_in_place_updates()
    }

    /// An optimizer update ([`Op::updates_in_place`]) rewrites its first input's storage, so no
    /// later node may read, and no graph output may be, a tensor of that storage defined before
    /// the update (it would see the new bytes): the reads of the old value come first.
    fn check_in_place_updates(&self) -> Result<(), GraphError> {
        let mut root: Vec<TensorId> = self.tensor_ids().collect();
        let mut def: Vec<Option<usize>> = vec![None; self.tensors.len()];
        let mut last_update: Vec<Option<usize>> = vec![None; self.tensors.len()];
        let stale =
            |t: TensorId, root: &[TensorId], def: &[Option<usize>], last: &[Option<usize>]| {
                last[root[t.index()].index()].filter(|&u| def[t.index()].is_none_or(|d| d < u))
            };
        for (step, id) in self.node_ids().enumerate() {
            let node = self.node(id);
            for &t in &node.inputs {
                if let Some(u) = stale(t, &root, &def, &last_update) {
                    return Err(GraphError::Invalid(format!(
                        "node `{}` ({}) reads `{}` after node `{}` rewrote its storage in place",
                        node.name,
                        node.op.name(),
                        self.tensors[t.index()].name,
                        self.nodes[u].name
                    )));
                }
            }
            for &o in &node.outputs {
                def[o.index()] = Some(step);
                if node.op.is_view()
                    && let Some(&src) = node.inputs.first()
                {
                    root[o.index()] = root[src.index()];
                }
            }
            if node.op.updates_in_place()
                && let Some(&w) = node.inputs.first()
            {
                last_update[root[w.index()].index()] = Some(step);
            }
        }
        for &o in &self.outputs {
            if let Some(u) = stale(o, &root, &def, &last_update) {
                return Err(GraphError::Invalid(format!(
                    "output `{}` is read after node `{}` rewrote its storage in place",
                    self.tensors[o.index()].name,
                    self.nodes[u].name
                )));
            }
        }
        Ok(())
    }

    /// Every id a node names exists, and each activation has at most one producer (inputs and
    /// weights none).
    fn check_ids_and_producers(&self) -> Result<(), GraphError> {
        // Which activations have a producer at all (to tell cycles from missing producers).
        let mut has_producer = vec![false; self.tensors.len()];
        for id in self.node_ids() {
            let node = self.node(id);
            for &t in node.inputs.iter().chain(&node.outputs) {
                if t.index() >= self.tensors.len() {
                    return Err(GraphError::DanglingTensor {
                        node: id,
                        op: node.op.name(),
                        tensor: t,
                    });
                }
            }
            for &t in &node.outputs {
                let tensor = &self.tensors[t.index()];
                if tensor.kind != TensorKind::Activation
                    || std::mem::replace(&mut has_producer[t.index()], true)
                {
                    return Err(GraphError::MultipleProducers {
                        tensor: t,
                        name: tensor.name.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Tensor and node names are labels printed in errors and reports: no control characters.
    fn check_names(&self) -> Result<(), GraphError> {
        let tensors = self.tensors.iter().map(|t| ("tensor", &t.name));
        let nodes = self.nodes.iter().map(|n| ("node", &n.name));
        match tensors
            .chain(nodes)
            .find(|(_, name)| name.chars().any(char::is_control))
        {
            Some((what, name)) => Err(GraphError::Invalid(format!(
                "{what} name `{}` contains a control character",
                printable(name)
            ))),
            None => Ok(()),
        }
    }

    /// Every tensor's byte size, and their sum, must fit in a `u64`.
    fn check_tensor_sizes(&self) -> Result<(), GraphError> {
        let mut total = 0u64;
        for (i, t) in self.tensors.iter().enumerate() {
            let what = || {
                format!(
                    "tensor {} `{}` {} {}",
                    TensorId(i as u32),
                    t.name,
                    t.shape,
                    t.dtype
                )
            };
            let bytes = t.checked_size_bytes().ok_or_else(|| GraphError::TooLarge {
                what: what(),
                detail: "its element or byte count exceeds 2^64".into(),
            })?;
            total = total
                .checked_add(bytes)
                .ok_or_else(|| GraphError::TooLarge {
                    what: "the graph".into(),
                    detail: format!("its tensors up to {} sum to more than 2^64 bytes", what()),
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Graph {
        let mut b = GraphBuilder::new();
        let x = b.input("x", &[2, 3], DType::F32, Init::Constant(1.0));
        let y = b.relu("y", x).unwrap();
        let z = b.relu("z", y).unwrap();
        b.output(z);
        b.build().unwrap()
    }

    #[test]
    fn a_built_graph_validates() {
        assert_eq!(tiny().validate(), Ok(()));
    }

    #[test]
    fn a_cycle_is_reported() {
        let mut g = tiny();
        // y now reads z, which is produced after it: a cycle.
        g.nodes[0].inputs[0] = TensorId(2);
        let err = g.validate().unwrap_err();
        assert!(matches!(err, GraphError::Cycle { .. }), "{err}");
    }

    #[test]
    fn a_dangling_id_is_reported() {
        let mut g = tiny();
        g.nodes[1].inputs[0] = TensorId(99);
        assert!(matches!(
            g.validate(),
            Err(GraphError::DanglingTensor { .. })
        ));
    }

    #[test]
    fn shape_mismatch_names_the_node() {
        let mut b = GraphBuilder::new();
        let x = b.input("x", &[2, 3], DType::F32, Init::Constant(1.0));
        let w = b.weight("w", &[4, 5], 1, 0.1);
        let err = b.linear("fc", x, w, None).unwrap_err();
        assert!(err.to_string().contains("fc"), "{err}");
    }

    #[test]
    fn dtype_mismatch_is_reported() {
        let mut b = GraphBuilder::new();
        let x = b.input("ids", &[4], DType::U32, Init::Ids { seed: 1, max: 3 });
        let err = b.relu("r", x).unwrap_err();
        assert!(matches!(err, GraphError::DType { .. }), "{err}");
    }
}
