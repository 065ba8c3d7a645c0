//! The f32 tensor: an n-dimensional ndarray array, row-major (C order).
//!
//! Ops keep their inputs in standard (contiguous, row-major) layout so kernels can take slices;
//! [`contiguous`] makes a standard-layout copy only when needed.

use ndarray::{ArrayD, IxDyn};

/// An n-dimensional f32 array.
pub type Tensor = ArrayD<f32>;

/// A tensor of zeros with the given shape.
pub fn zeros(shape: &[usize]) -> Tensor {
    Tensor::zeros(IxDyn(shape))
}

/// A tensor of ones with the given shape.
pub fn ones(shape: &[usize]) -> Tensor {
    Tensor::ones(IxDyn(shape))
}

/// A tensor from a flat row-major vector; errors when `data.len()` is not the product of `shape`.
pub fn from_vec(shape: &[usize], data: Vec<f32>) -> crate::Result<Tensor> {
    let n: usize = shape.iter().product();
    if n != data.len() {
        return Err(crate::error::shape_err("from_vec", shape, &[data.len()], "element count differs"));
    }
    Ok(Tensor::from_shape_vec(IxDyn(shape), data).expect("length checked"))
}

/// The tensor in standard (row-major, contiguous) layout: borrowed when it already is, copied
/// otherwise. Kernels call this to get a flat slice without copying in the common case.
pub fn contiguous(t: &Tensor) -> std::borrow::Cow<'_, Tensor> {
    if t.is_standard_layout() {
        std::borrow::Cow::Borrowed(t)
    } else {
        std::borrow::Cow::Owned(t.as_standard_layout().into_owned())
    }
}

/// The owned tensor in standard layout, copied only when it is not already.
pub fn into_contiguous(t: Tensor) -> Tensor {
    if t.is_standard_layout() { t } else { t.as_standard_layout().into_owned() }
}

/// A seeded tensor of independent normal draws `N(0, std^2)` (Box-Muller on ChaCha8).
pub fn randn(shape: &[usize], std: f32, rng: &mut rand_chacha::ChaCha8Rng) -> Tensor {
    let n: usize = shape.iter().product();
    let mut data = Vec::with_capacity(n);
    while data.len() < n {
        let (a, b) = normal_pair(rng);
        data.push(a * std);
        if data.len() < n {
            data.push(b * std);
        }
    }
    Tensor::from_shape_vec(IxDyn(shape), data).expect("length matches")
}

/// A seeded tensor of uniform draws in `[lo, hi)`.
pub fn rand_uniform(shape: &[usize], lo: f32, hi: f32, rng: &mut rand_chacha::ChaCha8Rng) -> Tensor {
    let n: usize = shape.iter().product();
    let data = (0..n).map(|_| lo + (hi - lo) * uniform(rng) as f32).collect();
    Tensor::from_shape_vec(IxDyn(shape), data).expect("length matches")
}

/// A uniform draw in `[0, 1)` with 53 random bits.
pub fn uniform(rng: &mut rand_chacha::ChaCha8Rng) -> f64 {
    use rand_chacha::rand_core::Rng;
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

fn normal_pair(rng: &mut rand_chacha::ChaCha8Rng) -> (f32, f32) {
    let u1 = 1.0 - uniform(rng); // (0, 1]
    let u2 = uniform(rng);
    let r = (-2.0 * u1.ln()).sqrt();
    let t = 2.0 * std::f64::consts::PI * u2;
    ((r * t.cos()) as f32, (r * t.sin()) as f32)
}

/// A seeded ChaCha8 generator.
pub fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    use rand_chacha::rand_core::SeedableRng;
    rand_chacha::ChaCha8Rng::seed_from_u64(seed)
}
