//! The keyword-spotting data of `mlperf_tiny`: the hook that the keyword-spotting data set (spoken
//! keywords synthesised with espeak-ng, a fixed-point MFCC front end; built on another branch) fills.

use super::super::ExperimentError;
use super::super::compression::Split;

/// The keyword-spotting train / test split: `(N, 1, 49, 10)` MFCC features (49 frames of 10
/// coefficients, the DS-CNN's input) with 12 classes (10 keywords, silence, unknown), seeded by
/// `seed`, smaller when `quick`; `None` while the tree has no keyword-spotting data set. With
/// `None`, `mlperf_tiny` reports the DS-CNN's size, memory and instructions per inference with
/// random weights, and no accuracy (it never trains on a placeholder).
pub(super) fn kws_dataset(seed: u64, quick: bool) -> Result<Option<Split>, ExperimentError> {
    let _ = (seed, quick);
    Ok(None)
}
