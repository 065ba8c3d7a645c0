//! The small dense f64 linear algebra GPTQ needs: Cholesky factors and a triangular inverse, on
//! row-major `n x n` matrices. Plain loops in a fixed order (deterministic); `O(n^3)`.

use tinylab_classical::Result;
use tinylab_classical::error::arg_err;

/// The lower Cholesky factor `L` of a symmetric positive definite `a` (`a = L L^T`; only the lower
/// triangle of `a` is read); errors when a pivot is not positive.
pub(crate) fn cholesky_lower(a: &[f64], n: usize) -> Result<Vec<f64>> {
    let mut l = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|p| l[i * n + p] * l[j * n + p]).sum();
            if i == j {
                let d = a[i * n + i] - s;
                if d <= 0.0 || !d.is_finite() {
                    return Err(arg_err("cholesky", format!("matrix is not positive definite (pivot {i}: {d})")));
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - s) / l[j * n + j];
            }
        }
    }
    Ok(l)
}

/// The inverse of a lower triangular `l` with a nonzero diagonal (lower triangular too).
pub(crate) fn lower_inverse(l: &[f64], n: usize) -> Vec<f64> {
    let mut inv = vec![0f64; n * n];
    for c in 0..n {
        // Forward substitution for column c of L^-1.
        inv[c * n + c] = 1.0 / l[c * n + c];
        for i in c + 1..n {
            let s: f64 = (c..i).map(|p| l[i * n + p] * inv[p * n + c]).sum();
            inv[i * n + c] = -s / l[i * n + i];
        }
    }
    inv
}

/// The upper triangular `U` with `U^T U = h^-1` for a symmetric positive definite `h` (GPTQ's
/// `Cholesky(H^-1)^T`): `h = L L^T`, `h^-1 = L^-T L^-1`, then the lower factor of that, transposed.
pub(crate) fn upper_cholesky_of_inverse(h: &[f64], n: usize) -> Result<Vec<f64>> {
    let linv = lower_inverse(&cholesky_lower(h, n)?, n);
    // h^-1[i][j] = Σ_p linv[p][i] linv[p][j], p >= max(i, j).
    let mut hinv = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (i..n).map(|p| linv[p * n + i] * linv[p * n + j]).sum();
            hinv[i * n + j] = s;
            hinv[j * n + i] = s;
        }
    }
    let lh = cholesky_lower(&hinv, n)?;
    let mut u = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            u[j * n + i] = lh[i * n + j];
        }
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `U^T U h = I` for a random symmetric positive definite `h`, and `U` is upper triangular.
    #[test]
    fn upper_factor_of_the_inverse() {
        let n = 7;
        let b: Vec<f64> = (0..n * n).map(|i| ((i * 37 % 11) as f64 - 5.0) / 3.0).collect();
        let mut h = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                h[i * n + j] =
                    (0..n).map(|p| b[i * n + p] * b[j * n + p]).sum::<f64>() + if i == j { 1.0 } else { 0.0 };
            }
        }
        let u = upper_cholesky_of_inverse(&h, n).unwrap();
        for i in 0..n {
            for j in 0..i {
                assert_eq!(u[i * n + j], 0.0);
            }
            for j in 0..n {
                let utu_h: f64 =
                    (0..n).map(|p| (0..n).map(|q| u[q * n + i] * u[q * n + p]).sum::<f64>() * h[p * n + j]).sum();
                let expect = if i == j { 1.0 } else { 0.0 };
                assert!((utu_h - expect).abs() < 1e-9, "({i}, {j}): {utu_h}");
            }
        }
        assert!(cholesky_lower(&[1.0, 2.0, 2.0, 1.0], 2).is_err());
    }
}
