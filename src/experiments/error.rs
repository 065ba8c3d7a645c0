//! The error type of experiment runs.

use crate::plot::PlotError;
use std::path::PathBuf;
use tinylab_classical::ClassicalError;
use tinylab_classical::checkpoint::CheckpointError;
use tinylab_classical::data::DataError;
use tinylab_classical::stats::StatsError;
use tinylab_mcu_export::ExportError;
use tinylab_noise::NoiseError;
use tinylab_noise::device::DeviceError;
use tinylab_quantum::QuantumError;
use tinylab_quantum::qasm::QasmError;
use tinylab_quantum::transpile::TranspileError;

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
    /// The output directory cannot receive a run (no final component, or a directory that is not a
    /// previous run's results and would be deleted by the replacement).
    #[error("output directory {}: {why}", path.display())]
    OutDir {
        /// The directory.
        path: PathBuf,
        /// Why it was refused.
        why: String,
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
    /// Tensors, training, data, statistics or checkpoints of the classical crate refused.
    #[error(transparent)]
    Classical(#[from] ClassicalError),
    /// A noise model, device profile or noise-aware method of the noise crate refused.
    #[error(transparent)]
    Noise(#[from] NoiseError),
    /// The transpiler could not compile a circuit for its target.
    #[error(transparent)]
    Transpile(#[from] TranspileError),
    /// The MCU exporter or its toolchain failed.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// Any other failure inside an experiment (use [`ExperimentError::other`]).
    #[error("{0}")]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// Errors of the member crates that already have a home in one of the variants above convert
/// through it, so `?` works on every crate's result inside an experiment.
macro_rules! via {
    ($($source:ty => $variant:ident via $inner:ty),* $(,)?) => {$(
        impl From<$source> for ExperimentError {
            fn from(e: $source) -> Self {
                ExperimentError::$variant(<$inner>::from(e))
            }
        }
    )*};
}

via! {
    DataError => Classical via ClassicalError,
    CheckpointError => Classical via ClassicalError,
    StatsError => Classical via ClassicalError,
    QasmError => Quantum via QuantumError,
    DeviceError => Noise via NoiseError,
}

impl ExperimentError {
    /// Wraps a message, or an error of a crate outside the workspace, raised inside an experiment
    /// (the workspace crates' errors convert with `?`): `ExperimentError::other("no starts")`.
    pub fn other(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ExperimentError::Other(error.into())
    }
}
