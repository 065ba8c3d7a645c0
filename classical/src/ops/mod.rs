//! Differentiable operations on [`Var`](crate::Var)s.
//!
//! Each op is a free function that checks its operands (a shape mismatch names both shapes and the
//! op), computes the value, and records an [`Op`](crate::autograd::Op) whose `backward` gives the
//! input gradients. Every backward is checked against central finite differences in
//! `classical/tests/grad_*.rs`.

mod activation;
mod conv;
mod elementwise;
pub mod fast_exp;
mod linalg;
mod loss;
mod norm;
mod pool;
mod reduce;
mod sgemm;
mod shape;

pub use activation::{Activation, activation, dropout, gelu, log_softmax, relu, relu6, sigmoid, softmax, tanh};
pub use conv::{Conv2dSpec, conv2d};
pub use elementwise::{add, broadcast_shape, div, mul, scale, sub, sum_to_shape};
pub use linalg::{gemm_into, linear, matmul};
pub use loss::{cross_entropy, kl_div, mse};
pub use norm::{BatchNormStats, batch_norm, layer_norm};
pub use pool::{Pool2dSpec, avg_pool2d, global_avg_pool, max_pool2d};
pub use reduce::{max_axis, mean, mean_axes, sum, sum_axes};
pub use shape::{concat, embedding, flatten, permute, reshape, slice, transpose};
