//! The graph IR: tensors with shape and dtype, nodes applying ops, a builder with shape
//! inference, and validation that returns typed errors for malformed graphs.

mod builder;
pub mod conv;
pub mod cost;
mod dag;
mod dtype;
mod error;
mod ids;
pub mod infer;
mod op;
mod rewrite;
mod shape;
mod tensor;
mod validate;

pub use builder::GraphBuilder;
pub use dag::{Graph, Node};
pub use dtype::DType;
pub use error::{GraphError, printable};
pub use ids::{NodeId, TensorId};
pub use op::{
    AttentionGradOf, AttentionKernel, BinaryOp, Conv2dAttrs, ConvMethod, Op, PoolAttrs, PoolKind,
    TILED_ATTENTION_MAX_HEAD_DIM, UnaryOp,
};
pub use shape::Shape;
pub use tensor::{Init, Lcg, Tensor, TensorKind};
