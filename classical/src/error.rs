//! The error type of the classical crate.

use thiserror::Error;

/// Everything that can go wrong in tensors, autograd, layers, training and data.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClassicalError {
    /// Operands of an op have shapes it cannot combine.
    #[error("{op}: shapes {lhs:?} and {rhs:?} do not match: {why}")]
    ShapeMismatch {
        /// The op.
        op: &'static str,
        /// Shape of the first operand.
        lhs: Vec<usize>,
        /// Shape of the second operand (or the shape asked for).
        rhs: Vec<usize>,
        /// What rule was broken.
        why: String,
    },
    /// An argument outside what the op accepts (an axis, a stride, a probability).
    #[error("{op}: {why}")]
    InvalidArgument {
        /// The op or function.
        op: &'static str,
        /// What was wrong.
        why: String,
    },
    /// Tracing a model or transforming its graph failed.
    #[error("graph: {0}")]
    Graph(String),
    /// `backward` on a value that has no gradient path or is not a scalar.
    #[error("backward: {0}")]
    Backward(String),
    /// Loading or slicing data failed.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// A statistic or fit refused its input.
    #[error(transparent)]
    Stats(#[from] crate::stats::StatsError),
    /// Reading or writing a checkpoint failed.
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    /// A layer defined in another crate (a quantum layer) failed; its error is the source.
    #[error("{layer}: {source}")]
    Layer {
        /// The layer.
        layer: &'static str,
        /// What went wrong inside it.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = ClassicalError> = std::result::Result<T, E>;

/// A shape mismatch error.
pub fn shape_err(op: &'static str, lhs: &[usize], rhs: &[usize], why: impl Into<String>) -> ClassicalError {
    ClassicalError::ShapeMismatch { op, lhs: lhs.to_vec(), rhs: rhs.to_vec(), why: why.into() }
}

/// An invalid-argument error.
pub fn arg_err(op: &'static str, why: impl Into<String>) -> ClassicalError {
    ClassicalError::InvalidArgument { op, why: why.into() }
}
