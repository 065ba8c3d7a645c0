//! Labelled image data: the bundled digits, synthetic generators, file loaders, transforms and
//! batching.
//!
//! Every set is an [`ImageDataset`]: an `(n, channels, height, width)` array of `f32` and one class
//! label per image. The bundled [`digits()`] set (UCI optdigits, 1797 images of 8x8) needs no
//! download; [`fashion_mnist()`] reads Fashion-MNIST (a bundled stratified subset, or the full set
//! from a directory); [`idx`] reads MNIST-style IDX files and [`cifar`] the CIFAR-10 binary batches for users
//! who have them; [`synthetic`] makes seeded sets of any size for tests and scaling experiments.
//! Loaders check every header and length and return a [`DataError`] naming the file and what was
//! wrong. [`audio`] holds keyword spotting: the MLPerf Tiny MFCC front end in fixed point and its
//! float reference, seeded augmentation, and [`kws_dataset`] (MFCC maps as an [`ImageDataset`]).

pub mod audio;
pub mod cifar;
mod dataset;
mod digits;
pub mod fashion_mnist;
pub mod idx;
pub mod machine_sound;
pub mod synthetic;
pub mod transform;

pub use audio::kws::{KWS_CLASSES, KwsData, KwsOptions, KwsSource, kws_dataset};
pub use dataset::{Batches, ImageDataset};
pub use digits::{DIGITS_SOURCE, digits};
pub use fashion_mnist::{FashionMnist, FashionSource, fashion_mnist};

use std::path::PathBuf;
use thiserror::Error;

/// What can go wrong loading or slicing data.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DataError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file's content does not follow its format.
    #[error("{path}: {why}")]
    Format {
        /// The file (or the name of an embedded resource).
        path: PathBuf,
        /// What was wrong, with the offending value.
        why: String,
    },
    /// An argument outside what the function accepts.
    #[error("{op}: {why}")]
    InvalidArgument {
        /// The function.
        op: &'static str,
        /// What was wrong.
        why: String,
    },
}

pub(crate) fn format_err(path: impl Into<PathBuf>, why: impl Into<String>) -> DataError {
    DataError::Format { path: path.into(), why: why.into() }
}

pub(crate) fn invalid(op: &'static str, why: impl Into<String>) -> DataError {
    DataError::InvalidArgument { op, why: why.into() }
}
