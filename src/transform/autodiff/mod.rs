//! Autodiff as a graph transform. This file belongs to the autodiff branch (which owns the
//! dispatcher, `training_graph` and the rules of the other op families); until that branch is
//! merged here it only declares the backward rules of convolution, pooling and attention and
//! their finite-difference checks.

#[cfg(test)]
mod gradcheck;
pub(crate) mod rules_attention;
pub(crate) mod rules_conv;
pub(crate) mod rules_pool;
