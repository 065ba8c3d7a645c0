//! Error mitigation: readout-error mitigation by the tensored inverse of the confusion matrices, and
//! zero-noise extrapolation of expectation values by unitary folding.

pub mod readout;
pub mod zne;

pub use readout::{mitigate_readout, nearest_distribution};
pub use zne::{Extrapolation, ZneResult, fold, zne_expectation};
