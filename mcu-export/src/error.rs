//! The error type of the MCU exporter.

use std::path::PathBuf;
use thiserror::Error;

/// Everything that can go wrong exporting, planning, building or running a model on a microcontroller.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The int8 graph holds something the exporter cannot generate code for.
    #[error("layer `{layer}`: {why}")]
    Unsupported {
        /// Dotted path of the layer.
        layer: String,
        /// What is not supported.
        why: String,
    },
    /// An argument outside what the exporter accepts (a patch grid, a memory size).
    #[error("{what}: {why}")]
    InvalidArgument {
        /// The function or option.
        what: &'static str,
        /// What was wrong.
        why: String,
    },
    /// The plan needs more memory than the target has.
    #[error("the model does not fit: {what} needs {needed} bytes but the target has {available}")]
    DoesNotFit {
        /// `"SRAM"` or `"flash"`.
        what: &'static str,
        /// Bytes the plan needs.
        needed: usize,
        /// Bytes the target has.
        available: usize,
    },
    /// A file or directory could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A tool (gcc, arm-none-eabi-gcc, qemu-system-arm, make) is missing.
    #[error("{tool} not found: {hint}")]
    ToolMissing {
        /// The program.
        tool: String,
        /// How to install it.
        hint: String,
    },
    /// A build or run command failed; its output is kept.
    #[error("`{command}` failed ({status}):\n{output}")]
    CommandFailed {
        /// The command line.
        command: String,
        /// Exit status as text.
        status: String,
        /// Its stdout and stderr.
        output: String,
    },
    /// The Rust int8 engine rejected something.
    #[error(transparent)]
    Engine(#[from] tinylab_classical::error::ClassicalError),
}

/// Shorthand for results of this crate.
pub type Result<T, E = ExportError> = std::result::Result<T, E>;

/// An invalid-argument error.
pub fn arg_err(what: &'static str, why: impl Into<String>) -> ExportError {
    ExportError::InvalidArgument { what, why: why.into() }
}

/// An I/O error naming `path`.
pub fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ExportError {
    let path = path.into();
    move |source| ExportError::Io { path, source }
}
