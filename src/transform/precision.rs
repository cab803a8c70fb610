//! `--dtype`: the storage precision of a graph's floats. [`cast_floats`] rewrites every float
//! tensor (inputs, weights, activations, outputs) to one float dtype and leaves `U32` ids and
//! labels alone; shape inference carries the dtype through every op (a node's float inputs and
//! its output share one float dtype), so the sizes of every later stage (analysis, plan, budget,
//! micro-batch, checkpoint, plan files) follow it. Weights keep their [`Init`](crate::graph::Init):
//! they are generated in f32 exactly as before and rounded to f16 when their values are made
//! (`cpu::TensorData::from_words`, the device upload). Pure graph code: no wgpu.

use crate::graph::{DType, Graph, GraphError};

/// `graph` with every float tensor stored as `dtype` (`F32` or `F16`), validated.
///
/// Errors: [`GraphError::Invalid`] when `dtype` is not a float dtype; any validation error of
/// the result.
pub fn cast_floats(graph: &Graph, dtype: DType) -> Result<Graph, GraphError> {
    if !dtype.is_float() {
        return Err(GraphError::Invalid(format!(
            "cannot store a model's floats as {dtype}: use f32 or f16"
        )));
    }
    let mut out = graph.clone();
    for t in &mut out.tensors {
        if t.dtype.is_float() {
            t.dtype = dtype;
        }
    }
    out.validate()?;
    Ok(out)
}

/// The float storage of `graph` in words: `f32` or `f16` when every float tensor has that
/// dtype (`f32` when there is none), `mixed` otherwise (a hand-made graph file may mix them
/// across nodes; within a node shape inference refuses it).
pub fn float_dtype_name(graph: &Graph) -> String {
    let mut floats = graph
        .tensors
        .iter()
        .map(|t| t.dtype)
        .filter(|d| d.is_float());
    let first = floats.next().unwrap_or(DType::F32);
    if floats.all(|d| d == first) {
        first.to_string()
    } else {
        "mixed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{ModelOptions, build};

    #[test]
    fn every_float_tensor_changes_and_ids_stay() {
        let g = build("gpt", &ModelOptions::default()).expect("gpt");
        let h = cast_floats(&g, DType::F16).expect("cast");
        for (a, b) in g.tensors.iter().zip(&h.tensors) {
            let want = if a.dtype == DType::U32 {
                DType::U32
            } else {
                DType::F16
            };
            assert_eq!(b.dtype, want, "{}", a.name);
            assert_eq!(a.shape, b.shape);
        }
        assert_eq!(float_dtype_name(&g), "f32");
        assert_eq!(float_dtype_name(&h), "f16");
        assert_eq!(cast_floats(&h, DType::F32).expect("back"), g);
        assert!(cast_floats(&g, DType::U32).is_err());
    }

    #[test]
    fn a_node_mixing_float_dtypes_is_refused_naming_it() {
        let g = build("mlp", &ModelOptions::default()).expect("mlp");
        let mut h = cast_floats(&g, DType::F16).expect("cast");
        let w = h
            .tensors
            .iter()
            .position(|t| t.kind == crate::graph::TensorKind::Weight)
            .expect("a weight");
        h.tensors[w].dtype = DType::F32;
        let err = h.validate().expect_err("mixed node").to_string();
        assert!(err.contains("dtype f32, expected f16"), "{err}");
        assert_eq!(float_dtype_name(&h), "mixed");
    }
}
