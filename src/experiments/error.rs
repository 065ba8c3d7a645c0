//! The error type of experiment runs.

use crate::plot::PlotError;
use std::path::PathBuf;
use tinylab_classical::ClassicalError;
use tinylab_quantum::QuantumError;

/// Everything that can stop an experiment run. Messages are lower case and fit on one line, so the CLI
/// prints them as they are.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExperimentError {
    /// No registered experiment has this name.
    #[error("unknown experiment `{name}`; known experiments: {}", known.join(", "))]
    Unknown {
        /// The name asked for.
        name: String,
        /// Every registered name, in registry order.
        known: Vec<String>,
    },
    /// Creating the output directory or writing a file failed.
    #[error("writing {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A value could not be turned into JSON.
    #[error("encoding {} as JSON: {source}", path.display())]
    Json {
        /// The file being written.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// An experiment returned a metric under a name the output format reserves.
    #[error("metric name `{0}` is reserved (timings go in `Metrics::insert_timing`)")]
    ReservedMetric(String),
    /// A chart could not be drawn.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// The quantum simulator or the QASM reader refused.
    #[error(transparent)]
    Quantum(#[from] QuantumError),
    /// Tensors, training, data or checkpoints of the classical crate refused.
    #[error(transparent)]
    Classical(#[from] ClassicalError),
    /// Any other failure inside an experiment (use [`ExperimentError::other`]).
    #[error("{0}")]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl ExperimentError {
    /// Wraps an error of another crate (or a message) raised inside an experiment:
    /// `model.fit(&data).map_err(ExperimentError::other)?`.
    pub fn other(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ExperimentError::Other(error.into())
    }
}
