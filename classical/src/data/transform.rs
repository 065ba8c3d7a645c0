//! Per-channel normalisation, seeded augmentation (random crop with zero padding, horizontal flip)
//! and bilinear resizing, as torchvision's `Normalize`, `RandomCrop(padding=p)`,
//! `RandomHorizontalFlip` and `Resize` (without antialiasing).

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

/// Bilinear resize of every image of `batch` to `height x width` with half-pixel centres (PyTorch's
/// `interpolate(mode="bilinear", align_corners=False)` without antialiasing): output pixel `o` reads
/// the input at `(o + 0.5) * in / out - 0.5`, clamped to `[0, in - 1]`, interpolating linearly between
/// the two neighbouring pixels on each axis. Downscaling by an integer factor 2 therefore averages
/// 2x2 blocks; larger factors sample (no antialiasing), as TinyNAS' resolution search does.
pub fn resize_bilinear(batch: &Array4<f32>, height: usize, width: usize) -> Result<Array4<f32>, DataError> {
    let (n, c, h, w) = batch.dim();
    if height == 0 || width == 0 || h == 0 || w == 0 {
        return Err(invalid("resize_bilinear", format!("cannot resize {h}x{w} images to {height}x{width}")));
    }
    let ys = bilinear_taps(h, height);
    let xs = bilinear_taps(w, width);
    Ok(Array4::from_shape_fn((n, c, height, width), |(i, ch, y, x)| {
        let ((y0, y1, fy), (x0, x1, fx)) = (ys[y], xs[x]);
        let img = batch.slice(ndarray::s![i, ch, .., ..]);
        let top = img[[y0, x0]] * (1.0 - fx) + img[[y0, x1]] * fx;
        let bottom = img[[y1, x0]] * (1.0 - fx) + img[[y1, x1]] * fx;
        top * (1.0 - fy) + bottom * fy
    }))
}

/// `data` with every image resized by [`resize_bilinear`] (labels kept).
pub fn resize_dataset(data: &ImageDataset, height: usize, width: usize) -> Result<ImageDataset, DataError> {
    ImageDataset::new(resize_bilinear(&data.images, height, width)?, data.labels.clone(), data.classes)
}

/// For each of `out` output positions along an axis of `len` input pixels: the two input pixels it
/// interpolates and the weight of the second.
fn bilinear_taps(len: usize, out: usize) -> Vec<(usize, usize, f32)> {
    let scale = len as f64 / out as f64;
    (0..out)
        .map(|o| {
            let src = ((o as f64 + 0.5) * scale - 0.5).clamp(0.0, (len - 1) as f64);
            let lo = src.floor() as usize;
            let hi = (lo + 1).min(len - 1);
            (lo, hi, (src - lo as f64) as f32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2x2 image `v(y, x) = 2y + x` upsampled to 4x4: the source coordinates of outputs 0..4 are
    /// `(o + 0.5) / 2 - 0.5` = -0.25, 0.25, 0.75, 1.25, clamped to 0, 0.25, 0.75, 1, so the output is
    /// `2 sy + sx` at those coordinates (bilinear is exact on a linear image).
    #[test]
    fn bilinear_upsampling_matches_the_hand_computed_case() {
        let img = Array4::from_shape_vec((1, 1, 2, 2), vec![0.0, 1.0, 2.0, 3.0]).unwrap();
        let out = resize_bilinear(&img, 4, 4).unwrap();
        let coords = [0.0f32, 0.25, 0.75, 1.0];
        for (y, sy) in coords.iter().enumerate() {
            for (x, sx) in coords.iter().enumerate() {
                assert!((out[[0, 0, y, x]] - (2.0 * sy + sx)).abs() < 1e-6, "({y}, {x}): {}", out[[0, 0, y, x]]);
            }
        }
        assert_eq!(out[[0, 0, 1, 2]], 1.25);
    }

    proptest::proptest! {
        /// Bilinear weights are a convex combination: outputs stay within the input's range, and a
        /// constant image stays constant, at any pair of sizes.
        #[test]
        fn bilinear_outputs_are_convex_combinations(h in 1usize..9, w in 1usize..9, oh in 1usize..13, ow in 1usize..13, seed in 0u64..100) {
            let mut r = rng(seed);
            let img = Array4::from_shape_fn((2, 1, h, w), |_| uniform(&mut r) as f32);
            let (lo, hi) = img.iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            let out = resize_bilinear(&img, oh, ow).unwrap();
            proptest::prop_assert_eq!(out.dim(), (2, 1, oh, ow));
            proptest::prop_assert!(out.iter().all(|&v| v >= lo - 1e-6 && v <= hi + 1e-6));
            let flat = resize_bilinear(&Array4::from_elem((1, 1, h, w), 0.375), oh, ow).unwrap();
            proptest::prop_assert!(flat.iter().all(|&v| (v - 0.375).abs() < 1e-6));
        }
    }

    #[test]
    fn bilinear_halving_averages_blocks_and_same_size_is_identity() {
        let d = crate::data::synthetic::shapes(6, 8, 0.3, 3).unwrap();
        assert_eq!(resize_bilinear(&d.images, 8, 8).unwrap(), d.images);
        let half = resize_dataset(&d, 4, 4).unwrap();
        let pooled = d.avg_pool(2).unwrap();
        assert_eq!(half.labels, d.labels);
        assert!(half.images.iter().zip(&pooled.images).all(|(a, b)| (a - b).abs() < 1e-6));
        let wide = resize_bilinear(&d.images, 5, 11).unwrap();
        assert_eq!(wide.dim(), (6, 1, 5, 11));
        assert!(resize_bilinear(&d.images, 0, 4).unwrap_err().to_string().contains("to 0x4"));
    }

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
