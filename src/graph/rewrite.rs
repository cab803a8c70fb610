//! Graph rewrites that choose how ops run before analysis sees the graph: today the attention
//! kernel. The choice lives on the op (`Op::Attention::kernel`), so the one definition of
//! workspace sizing ([`infer::workspace_bytes`](super::infer::workspace_bytes)) gives analysis,
//! the naive layout, the baselines and the lowering the same figure.

use super::{AttentionKernel, Graph, GraphError, Op};

impl Graph {
    /// Sets the kernel of every attention node to `kernel`, then revalidates the graph, so a
    /// node the kernel cannot run (a tiled head dimension past
    /// [`TILED_ATTENTION_MAX_HEAD_DIM`](super::TILED_ATTENTION_MAX_HEAD_DIM)) is an error naming
    /// it. Returns the number of attention nodes.
    pub fn set_attention_kernel(&mut self, kernel: AttentionKernel) -> Result<usize, GraphError> {
        let mut count = 0;
        for node in &mut self.nodes {
            if let Op::Attention { kernel: k, .. } = &mut node.op {
                *k = kernel;
                count += 1;
            }
        }
        if count > 0 {
            self.validate()?;
        }
        Ok(count)
    }

    /// What runs the graph's attention nodes, as reported in `plan.attention`: the kernel's
    /// name when they all agree, `mixed` when they differ (a graph file may choose per node),
    /// `none` without attention nodes.
    pub fn attention_summary(&self) -> &'static str {
        let mut kernels = self.nodes.iter().filter_map(|n| match n.op {
            Op::Attention { kernel, .. } => Some(kernel),
            _ => None,
        });
        match kernels.next() {
            None => "none",
            Some(first) if kernels.all(|k| k == first) => first.name(),
            Some(_) => "mixed",
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::{AttentionKernel, DType, GraphBuilder, GraphError, Init, NodeId, Op};

    fn attention_graph(
        d: usize,
        kernel: AttentionKernel,
    ) -> Result<crate::graph::Graph, GraphError> {
        let mut b = GraphBuilder::new();
        let x: Vec<_> = (0..3)
            .map(|i| {
                b.input(
                    &format!("x{i}"),
                    &[1, 2, 9, d],
                    DType::F32,
                    Init::Constant(0.0),
                )
            })
            .collect();
        let op = Op::Attention {
            causal: true,
            scale: 0.5,
            kernel,
        };
        let y = b.op("attn", op, &x)?;
        b.output(y);
        b.build()
    }

    #[test]
    fn the_kernel_sets_the_workspace() {
        let mut g = attention_graph(8, AttentionKernel::Materialized).unwrap();
        // Scores [1, 2, 9, 9] in f32.
        assert_eq!(g.workspace_bytes(NodeId(0)), 2 * 9 * 9 * 4);
        assert_eq!(g.set_attention_kernel(AttentionKernel::Tiled), Ok(1));
        assert_eq!(g.workspace_bytes(NodeId(0)), 0);
        assert_eq!(g.attention_summary(), "tiled");
    }

    #[test]
    fn a_head_dimension_past_the_tiled_maximum_is_refused_naming_the_node() {
        let max = crate::graph::TILED_ATTENTION_MAX_HEAD_DIM;
        assert!(attention_graph(max, AttentionKernel::Tiled).is_ok());
        let err = attention_graph(max + 1, AttentionKernel::Tiled).unwrap_err();
        assert!(
            matches!(&err, GraphError::Attribute { node, .. } if node == "attn"),
            "{err}"
        );
        assert!(
            err.to_string().contains("--attention materialized"),
            "{err}"
        );
        let mut g = attention_graph(max + 1, AttentionKernel::Materialized).unwrap();
        let err = g.set_attention_kernel(AttentionKernel::Tiled).unwrap_err();
        assert!(err.to_string().contains("`attn`"), "{err}");
    }

    #[test]
    fn the_summary_names_the_kernel_or_mixed_or_none() {
        let mut g = attention_graph(4, AttentionKernel::Tiled).unwrap();
        let mut second = g.nodes[0].clone();
        second.name = "attn2".into();
        if let Op::Attention { kernel, .. } = &mut second.op {
            *kernel = AttentionKernel::Materialized;
        }
        assert_eq!(g.attention_summary(), "tiled");
        g.nodes.push(second);
        assert_eq!(g.attention_summary(), "mixed");
        g.nodes.clear();
        assert_eq!(g.attention_summary(), "none");
    }
}
