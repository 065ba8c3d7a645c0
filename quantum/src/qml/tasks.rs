//! The pooled-digits classification tasks of the QML experiments, built once: the bundled 8x8
//! digits of the chosen classes (relabelled `0..` in the order given), average-pooled 2x2 to 4x4 (16
//! features, one per angle of TorchQuantum's `"4x4_ryzxy"` encoder), split train/test stratified by
//! class with a seed. QuantumNAS (Wang et al., HPCA 2022) calls digits 3 vs 6 and 0-3 "MNIST-2" and
//! "MNIST-4"; here they run on the bundled optdigits instead of MNIST.
//!
//! Feature scale: [`angles`] maps a pooled pixel `v` to `v / 16 · π`. The bundled digits already
//! store grey levels divided by 16 (`v ∈ [0, 1]`), so the angles span `[0, π/16]`, not `[0, π]`: the
//! experiments (`qml_digits4`, `qoc`, `quantumnat`, `quantumnas`) have always used this scale, and it
//! is kept so their results reproduce.
//!
//! ```
//! use tinylab_quantum::qml::tasks::{PooledDigits, DIGITS_3_VS_6, TRAIN_FRACTION, angles};
//! let task = PooledDigits::new(&DIGITS_3_VS_6, TRAIN_FRACTION, 0)?;
//! assert_eq!(task.classes(), 2);
//! assert_eq!(task.train.image_shape(), [1, 4, 4]);
//! assert_eq!(angles(task.test.images.iter()).len(), 16 * task.test.len());
//! # Ok::<(), tinylab_classical::data::DataError>(())
//! ```

use tinylab_classical::data::{DataError, ImageDataset, digits};

/// Digits 0 to 3, four classes (QuantumNAS's MNIST-4).
pub const DIGITS_0_TO_3: [usize; 4] = [0, 1, 2, 3];
/// Digits 3 and 6, two classes (QuantumNAS's MNIST-2).
pub const DIGITS_3_VS_6: [usize; 2] = [3, 6];
/// The share of each class used for training in the experiments (the rest is the test set).
pub const TRAIN_FRACTION: f64 = 0.8;
/// Features per pooled image (4x4).
pub const FEATURES: usize = 16;

/// A pooled-digits task: the train and test sets of 4x4 images (see the module documentation).
#[derive(Debug, Clone)]
pub struct PooledDigits {
    /// The training images, `(n, 1, 4, 4)`, labels `0..classes`.
    pub train: ImageDataset,
    /// The test images.
    pub test: ImageDataset,
}

impl PooledDigits {
    /// The digits of `keep` (relabelled `0..keep.len()`), pooled to 4x4, split with
    /// `round(train_fraction · n_c)` of each class `c` in the training set, shuffled by `seed`.
    /// Errors on a digit above 9 or a fraction outside `[0, 1]`.
    pub fn new(keep: &[usize], train_fraction: f64, seed: u64) -> Result<Self, DataError> {
        let data = digits()?.filter_classes(keep)?.avg_pool(2)?;
        let (train, test) = data.stratified_split(train_fraction, seed)?;
        Ok(Self { train, test })
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.train.classes
    }
}

/// Encoder angles `v / 16 · π` of pooled pixels, in `f32` (the scale is explained in the module
/// documentation).
pub fn angles<'a>(pixels: impl IntoIterator<Item = &'a f32>) -> Vec<f32> {
    pixels.into_iter().map(|&v| v / 16.0 * std::f32::consts::PI).collect()
}

/// [`angles`] computed in `f64` (`v as f64 / 16 · π`), for the circuits that bind `f64` inputs
/// directly; it differs from [`angles`] in the last bits, and `qoc` has always used this one.
pub fn angles_f64<'a>(pixels: impl IntoIterator<Item = &'a f32>) -> Vec<f64> {
    pixels.into_iter().map(|&v| v as f64 / 16.0 * std::f64::consts::PI).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_keep_their_classes_pool_and_split_by_class() {
        let task = PooledDigits::new(&DIGITS_0_TO_3, TRAIN_FRACTION, 7).unwrap();
        assert_eq!(task.classes(), 4);
        let (train, test) = (task.train.class_counts(), task.test.class_counts());
        for c in 0..4 {
            let total = (train[c] + test[c]) as f64;
            assert_eq!(train[c], (0.8 * total).round() as usize);
        }
        // The same seed, the same split; the pooled pixels are block means of the 8x8 digits.
        let again = PooledDigits::new(&DIGITS_0_TO_3, TRAIN_FRACTION, 7).unwrap();
        assert_eq!(again.train.labels, task.train.labels);
        let a = angles(task.train.images.iter());
        assert!(a.iter().all(|&x| (0.0..=std::f32::consts::PI / 16.0 + 1e-6).contains(&x)));
        let b = angles_f64(task.train.images.iter());
        assert!(a.iter().zip(&b).all(|(&x, &y)| (x as f64 - y).abs() < 1e-6));
        assert!(PooledDigits::new(&[3, 10], TRAIN_FRACTION, 0).is_err());
    }
}
