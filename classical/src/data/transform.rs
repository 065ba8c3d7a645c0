//! Per-channel normalisation and seeded augmentation (random crop with zero padding, horizontal
//! flip), as torchvision's `Normalize`, `RandomCrop(padding=p)` and `RandomHorizontalFlip`.

use super::{DataError, ImageDataset, invalid};
use crate::tensor::{rng, uniform};
use ndarray::{Array4, Axis};
use serde::{Deserialize, Serialize};

/// Per-channel `(x - mean) / std`, with statistics fitted on a training set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalize {
    /// Mean of each channel.
    pub mean: Vec<f32>,
    /// Standard deviation of each channel (never zero: constant channels get 1).
    pub std: Vec<f32>,
}

impl Normalize {
    /// The statistics of every channel of `data` (accumulated in f64).
    pub fn fit(data: &ImageDataset) -> Self {
        let c = data.image_shape()[0];
        let (mut mean, mut std) = (Vec::with_capacity(c), Vec::with_capacity(c));
        for ch in 0..c {
            let view = data.images.index_axis(Axis(1), ch);
            let n = view.len().max(1) as f64;
            let m = view.iter().map(|&v| v as f64).sum::<f64>() / n;
            let var = view.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / n;
            mean.push(m as f32);
            std.push(if var > 0.0 { var.sqrt() as f32 } else { 1.0 });
        }
        Self { mean, std }
    }

    /// Normalises `data` in place.
    pub fn apply(&self, data: &mut ImageDataset) -> Result<(), DataError> {
        let c = data.image_shape()[0];
        if c != self.mean.len() {
            return Err(invalid("Normalize::apply", format!("fitted on {} channels, data has {c}", self.mean.len())));
        }
        for (ch, mut plane) in data.images.axis_iter_mut(Axis(1)).enumerate() {
            let (m, s) = (self.mean[ch], self.std[ch]);
            plane.mapv_inplace(|v| (v - m) / s);
        }
        Ok(())
    }
}

/// Seeded augmentation of a batch: each image is shifted by a random offset in `[-pad, pad]` on each
/// axis (pixels shifted in are zero) and, when `flip`, mirrored left-right with probability 1/2.
pub fn augment(batch: &Array4<f32>, pad: usize, flip: bool, seed: u64) -> Array4<f32> {
    let (n, c, h, w) = batch.dim();
    let mut r = rng(seed);
    let mut out = Array4::<f32>::zeros((n, c, h, w));
    for i in 0..n {
        let span = 2 * pad + 1;
        let dy = (uniform(&mut r) * span as f64) as isize % span as isize - pad as isize;
        let dx = (uniform(&mut r) * span as f64) as isize % span as isize - pad as isize;
        let mirror = flip && uniform(&mut r) < 0.5;
        for ch in 0..c {
            for y in 0..h {
                let sy = y as isize + dy;
                if sy < 0 || sy >= h as isize {
                    continue;
                }
                for x in 0..w {
                    let xx = if mirror { w - 1 - x } else { x };
                    let sx = xx as isize + dx;
                    if sx >= 0 && sx < w as isize {
                        out[[i, ch, y, x]] = batch[[i, ch, sy as usize, sx as usize]];
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_channels_have_zero_mean_unit_variance() {
        let mut d = crate::data::synthetic::shapes(200, 8, 0.3, 1).unwrap();
        let norm = Normalize::fit(&d);
        norm.apply(&mut d).unwrap();
        let again = Normalize::fit(&d);
        assert!(again.mean[0].abs() < 1e-5 && (again.std[0] - 1.0).abs() < 1e-4, "{again:?}");
    }

    #[test]
    fn augmentation_without_shift_or_flip_is_identity_and_flip_is_an_involution() {
        let d = crate::data::synthetic::shapes(10, 8, 0.0, 2).unwrap();
        assert_eq!(augment(&d.images, 0, false, 5), d.images);
        let shifted = augment(&d.images, 2, true, 5);
        // Shifting only moves or drops pixels: no new mass appears.
        assert!(shifted.sum() <= d.images.sum() + 1e-4);
        assert_eq!(shifted, augment(&d.images, 2, true, 5));
    }
}
