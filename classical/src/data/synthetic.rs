//! Seeded synthetic image sets, for tests, sweeps and scaling experiments that must not depend on a
//! download.

use super::{DataError, ImageDataset, invalid};
use crate::tensor::{rng, uniform};
use ndarray::Array4;
use rand_chacha::ChaCha8Rng;

pub(crate) fn normal(rng: &mut ChaCha8Rng) -> f32 {
    // Box-Muller on two uniforms in (0, 1].
    let u1 = 1.0 - uniform(rng);
    let u2 = uniform(rng);
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// `n` images of `size x size` showing one of four shapes (0 horizontal bar, 1 vertical bar, 2 square
/// outline, 3 diagonal), at a seeded position, with Gaussian pixel noise of standard deviation
/// `noise`. A small task that a CNN solves and a linear model does not.
pub fn shapes(n: usize, size: usize, noise: f32, seed: u64) -> Result<ImageDataset, DataError> {
    if size < 4 {
        return Err(invalid("shapes", format!("images must be at least 4x4, asked for {size}x{size}")));
    }
    let mut r = rng(seed);
    let mut images = Array4::<f32>::zeros((n, 1, size, size));
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = (uniform(&mut r) * 4.0) as usize % 4;
        let len = size / 2 + (uniform(&mut r) * (size / 2) as f64) as usize % (size / 2);
        let y0 = (uniform(&mut r) * (size - len + 1) as f64) as usize % (size - len + 1);
        let x0 = (uniform(&mut r) * (size - len + 1) as f64) as usize % (size - len + 1);
        let mut img = images.slice_mut(ndarray::s![i, 0, .., ..]);
        for k in 0..len {
            match class {
                0 => img[[y0 + len / 2, x0 + k]] = 1.0,
                1 => img[[y0 + k, x0 + len / 2]] = 1.0,
                2 => {
                    img[[y0, x0 + k]] = 1.0;
                    img[[y0 + len - 1, x0 + k]] = 1.0;
                    img[[y0 + k, x0]] = 1.0;
                    img[[y0 + k, x0 + len - 1]] = 1.0;
                }
                _ => img[[y0 + k, x0 + k]] = 1.0,
            }
        }
        if noise > 0.0 {
            img.mapv_inplace(|v| v + noise * normal(&mut r));
        }
        labels.push(class);
    }
    ImageDataset::new(images, labels, 4)
}

/// [`shapes`] in colour: `n` images `3 x size x size` whose shape (the class) is drawn in a seeded
/// colour contrast over a seeded background colour (channel `ch` is `bg[ch] + gain[ch] v` of the grey
/// image `v`, noise included, with `bg` in `[0, 1)` and `|gain|` in `[0.4, 1)` of either sign), so that
/// colour is a nuisance the classifier must ignore. The input of
/// RGB models such as MobileNetV2 in the MCU deployment study.
pub fn colored_shapes(n: usize, size: usize, noise: f32, seed: u64) -> Result<ImageDataset, DataError> {
    colorize(&shapes(n, size, noise, seed)?, seed)
}

/// Ten shape classes, the size of CIFAR-10's label set: `n` images of `size x size` (at least 8)
/// showing 0 a horizontal bar, 1 a vertical bar, 2 a square outline, 3 a diagonal, 4 an
/// anti-diagonal, 5 a filled square, 6 a plus, 7 an X, 8 a circle outline, 9 an L (left and bottom
/// edges of a square), each of a seeded side between `size / 2` and `size - 1` at a seeded
/// position, with Gaussian pixel noise of standard deviation `noise`. Classes are drawn uniformly.
pub fn shapes10(n: usize, size: usize, noise: f32, seed: u64) -> Result<ImageDataset, DataError> {
    if size < 8 {
        return Err(invalid("shapes10", format!("images must be at least 8x8, asked for {size}x{size}")));
    }
    let mut r = rng(seed);
    let mut images = Array4::<f32>::zeros((n, 1, size, size));
    let mut labels = Vec::with_capacity(n);
    let draw = |u: f64, range: usize| (u * range as f64) as usize % range;
    for i in 0..n {
        let class = draw(uniform(&mut r), 10);
        let len = size / 2 + draw(uniform(&mut r), size / 2);
        let y0 = draw(uniform(&mut r), size - len + 1);
        let x0 = draw(uniform(&mut r), size - len + 1);
        let mut img = images.slice_mut(ndarray::s![i, 0, .., ..]);
        let last = len - 1;
        for y in 0..len {
            for x in 0..len {
                let on = match class {
                    0 => y == len / 2,
                    1 => x == len / 2,
                    2 => y == 0 || y == last || x == 0 || x == last,
                    3 => x == y,
                    4 => x + y == last,
                    5 => true,
                    6 => y == len / 2 || x == len / 2,
                    7 => x == y || x + y == last,
                    8 => {
                        let c = last as f64 / 2.0;
                        let d = ((x as f64 - c).powi(2) + (y as f64 - c).powi(2)).sqrt();
                        (d - c).abs() < 0.5
                    }
                    _ => x == 0 || y == last,
                };
                if on {
                    img[[y0 + y, x0 + x]] = 1.0;
                }
            }
        }
        if noise > 0.0 {
            img.mapv_inplace(|v| v + noise * normal(&mut r));
        }
        labels.push(class);
    }
    ImageDataset::new(images, labels, 10)
}

/// [`shapes10`] recoloured as [`colored_shapes`] recolours [`shapes`]: the 10-class `3 x size x size`
/// stand-in for CIFAR-10 (the MLPerf Tiny image-classification input shape at `size = 32`).
pub fn colored_shapes10(n: usize, size: usize, noise: f32, seed: u64) -> Result<ImageDataset, DataError> {
    colorize(&shapes10(n, size, noise, seed)?, seed)
}

/// Channel `ch` of image `i` is `bg[ch] + gain[ch] v` of the grey image `v` (see [`colored_shapes`]).
fn colorize(grey: &ImageDataset, seed: u64) -> Result<ImageDataset, DataError> {
    let [_, size, _] = grey.image_shape();
    let n = grey.len();
    let mut r = rng(seed ^ 0xC0_10_55);
    let mut images = Array4::<f32>::zeros((n, 3, size, size));
    for i in 0..n {
        for ch in 0..3 {
            let bg = uniform(&mut r) as f32;
            let magnitude = 0.4 + 0.6 * uniform(&mut r) as f32;
            let gain = if uniform(&mut r) < 0.5 { -magnitude } else { magnitude };
            let src = grey.images.slice(ndarray::s![i, 0, .., ..]);
            let mut dst = images.slice_mut(ndarray::s![i, ch, .., ..]);
            dst.zip_mut_with(&src, |d, &v| *d = bg + gain * v);
        }
    }
    ImageDataset::new(images, grey.labels.clone(), grey.classes)
}

/// `n` images of `size x size` textures of one of four kinds (0 horizontal stripes, 1 vertical
/// stripes, 2 diagonal stripes, 3 checkerboard), each a sinusoidal grating `0.5 + 0.5 sin(...)` with a
/// seeded period between 2 and `size / 2` pixels and a seeded phase, plus Gaussian pixel noise of
/// standard deviation `noise`. Texture, not shape, separates the classes: a test of frequency
/// selectivity.
pub fn textures(n: usize, size: usize, noise: f32, seed: u64) -> Result<ImageDataset, DataError> {
    if size < 4 {
        return Err(invalid("textures", format!("images must be at least 4x4, asked for {size}x{size}")));
    }
    let mut r = rng(seed);
    let mut images = Array4::<f32>::zeros((n, 1, size, size));
    let mut labels = Vec::with_capacity(n);
    let max_period = (size / 2).max(2) as f64;
    for i in 0..n {
        let class = (uniform(&mut r) * 4.0) as usize % 4;
        let period = 2.0 + uniform(&mut r) * (max_period - 2.0);
        let phase = uniform(&mut r) * std::f64::consts::TAU;
        let k = std::f64::consts::TAU / period;
        for y in 0..size {
            for x in 0..size {
                let (xf, yf) = (x as f64, y as f64);
                let v = match class {
                    0 => (k * yf + phase).sin(),
                    1 => (k * xf + phase).sin(),
                    2 => (k * (xf + yf) / std::f64::consts::SQRT_2 + phase).sin(),
                    _ => (k * xf + phase).sin() * (k * yf + phase).sin(),
                };
                images[[i, 0, y, x]] = (0.5 + 0.5 * v) as f32 + noise * normal(&mut r);
            }
        }
        labels.push(class);
    }
    ImageDataset::new(images, labels, 4)
}

/// `n` samples of `classes` isotropic Gaussian blobs in `dim` dimensions (centres drawn uniformly in
/// `[-spread, spread]`, unit variance), as `(n, 1, 1, dim)` images.
pub fn gaussian_mixture(
    n: usize,
    classes: usize,
    dim: usize,
    spread: f32,
    seed: u64,
) -> Result<ImageDataset, DataError> {
    if classes == 0 || dim == 0 {
        return Err(invalid("gaussian_mixture", "needs at least one class and one dimension"));
    }
    let mut r = rng(seed);
    let centres: Vec<f32> = (0..classes * dim).map(|_| spread * (2.0 * uniform(&mut r) as f32 - 1.0)).collect();
    let mut images = Array4::<f32>::zeros((n, 1, 1, dim));
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % classes;
        for d in 0..dim {
            images[[i, 0, 0, d]] = centres[c * dim + d] + normal(&mut r);
        }
        labels.push(c);
    }
    ImageDataset::new(images, labels, classes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_seeded_and_balanced_enough() {
        let a = shapes(400, 12, 0.0, 3).unwrap();
        assert_eq!(a, shapes(400, 12, 0.0, 3).unwrap());
        assert_ne!(a, shapes(400, 12, 0.0, 4).unwrap());
        assert!(a.class_counts().iter().all(|&c| c > 60), "{:?}", a.class_counts());
        // Noise-free bars light exactly `len` pixels, at least half the side.
        for i in 0..a.len() {
            let lit = a.images.slice(ndarray::s![i, 0, .., ..]).iter().filter(|&&v| v == 1.0).count();
            assert!(lit >= 6, "sample {i} lights {lit} pixels");
        }
        assert!(shapes(1, 3, 0.0, 0).is_err());
    }

    #[test]
    fn texture_orientation_shows_in_row_and_column_variation() {
        let d = textures(200, 16, 0.0, 9).unwrap();
        assert_eq!(d, textures(200, 16, 0.0, 9).unwrap());
        for i in 0..d.len() {
            let img = d.images.slice(ndarray::s![i, 0, .., ..]);
            // Horizontal stripes are constant along each row, vertical ones along each column.
            let row_spread = (0..16usize).map(|y| img[[y, 0]] - img[[y, 15]]).fold(0.0f32, |m, v| m.max(v.abs()));
            let col_spread = (0..16usize).map(|x| img[[0, x]] - img[[15, x]]).fold(0.0f32, |m, v| m.max(v.abs()));
            match d.labels[i] {
                0 => assert!(row_spread < 1e-6, "sample {i}"),
                1 => assert!(col_spread < 1e-6, "sample {i}"),
                _ => {}
            }
            assert!(img.iter().all(|&v| (-1e-6..=1.0 + 1e-6).contains(&v)));
        }
        assert!(d.class_counts().iter().all(|&c| c > 30), "{:?}", d.class_counts());
    }

    #[test]
    fn shapes10_are_seeded_and_draw_the_named_shapes() {
        let d = shapes10(400, 16, 0.0, 4).unwrap();
        assert_eq!(d, shapes10(400, 16, 0.0, 4).unwrap());
        assert_ne!(d.images, shapes10(400, 16, 0.0, 5).unwrap().images);
        assert_eq!(d.classes, 10);
        assert!(d.class_counts().iter().all(|&c| c > 20), "{:?}", d.class_counts());
        for i in 0..d.len() {
            let img = d.images.slice(ndarray::s![i, 0, .., ..]);
            let on = img.iter().filter(|&&v| v == 1.0).count();
            // The side is between 8 and 15: count the pixels each shape lights for its side.
            let rows = (0..16).filter(|&y| img.row(y).iter().any(|&v| v == 1.0)).count();
            let cols = (0..16).filter(|&x| img.column(x).iter().any(|&v| v == 1.0)).count();
            let len = rows.max(cols);
            let expected = match d.labels[i] {
                0 | 1 | 3 | 4 => len,
                2 => 4 * len - 4,
                5 => len * len,
                6 | 9 => 2 * len - 1,
                7 => 2 * len - len % 2,
                _ => continue,
            };
            assert_eq!(on, expected, "sample {i} class {}", d.labels[i]);
            assert!((8..16).contains(&len), "sample {i}: side {len}");
        }
        let c = colored_shapes10(50, 32, 0.1, 2).unwrap();
        assert_eq!(c.images.shape(), &[50, 3, 32, 32]);
        assert_eq!(c.labels, shapes10(50, 32, 0.1, 2).unwrap().labels);
        assert!(shapes10(1, 7, 0.0, 0).is_err());
    }

    #[test]
    fn mixture_means_approach_the_centres() {
        let d = gaussian_mixture(4000, 2, 3, 5.0, 1).unwrap();
        assert_eq!(d.class_counts(), vec![2000, 2000]);
        let mean0: f32 = (0..4000).step_by(2).map(|i| d.images[[i, 0, 0, 0]]).sum::<f32>() / 2000.0;
        let mean1: f32 = (1..4000).step_by(2).map(|i| d.images[[i, 0, 0, 0]]).sum::<f32>() / 2000.0;
        let var0: f32 = (0..4000).step_by(2).map(|i| (d.images[[i, 0, 0, 0]] - mean0).powi(2)).sum::<f32>() / 2000.0;
        assert!((var0 - 1.0).abs() < 0.1, "variance {var0}");
        assert!((mean0 - mean1).abs() > 0.1);
    }
}
