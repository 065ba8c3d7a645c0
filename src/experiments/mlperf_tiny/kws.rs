//! The keyword-spotting data of `mlperf_tiny`: spoken keywords synthesised with espeak-ng, through
//! the fixed-point MFCC front end ([`tinylab_classical::data::kws_dataset`]), split by voice.

use super::super::ExperimentError;
use super::super::compression::Split;
use tinylab_classical::data::{KwsOptions, KwsSource, kws_dataset as load};

/// The keyword-spotting train / test split: `(N, 1, 49, 10)` MFCC features (49 frames of 10
/// coefficients, the DS-CNN's input) with 12 classes (10 keywords, silence, unknown), test voices
/// unseen in training, seeded by `seed`. The quick form reads the bundled feature maps explicitly
/// (so it gives the same numbers on a machine that has the synthesis cache); the full form reads the
/// espeak-ng cache (`scripts/gen_kws.sh`) when it exists and the bundle otherwise, and says which.
pub(super) fn kws_dataset(seed: u64, quick: bool) -> Result<Option<Split>, ExperimentError> {
    let source = if quick { KwsSource::Bundled } else { KwsSource::Auto };
    let data =
        load(&KwsOptions { source, seed, ..KwsOptions::default() }).map_err(tinylab_classical::ClassicalError::from)?;
    let source = format!(
        "espeak-ng keywords, fixed-point MFCC (49x10), {:?} form: {} training voices, {} held-out test voices, \
         {} / {} clips",
        data.form,
        data.train_voices.len(),
        data.test_voices.len(),
        data.train.len(),
        data.test.len()
    );
    Ok(Some(Split { train: data.train, test: data.test, source }))
}
