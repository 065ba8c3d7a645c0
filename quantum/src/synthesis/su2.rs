//! 2x2 complex matrices: products, adjoints, square roots and the ZYZ (`u3` plus phase) angles.

use crate::matrix::{C64, Matrix};

/// A 2x2 matrix by rows.
pub(crate) type M2 = [[C64; 2]; 2];

/// Complex zero.
pub(crate) const ZERO: C64 = C64::new(0.0, 0.0);
/// Complex one.
pub(crate) const ONE: C64 = C64::new(1.0, 0.0);
/// Pauli X.
pub(crate) const X: M2 = [[ZERO, ONE], [ONE, ZERO]];
/// The square root of X that `sx` applies.
pub(crate) const SX: M2 = [[C64::new(0.5, 0.5), C64::new(0.5, -0.5)], [C64::new(0.5, -0.5), C64::new(0.5, 0.5)]];
/// The identity.
pub(crate) const IDENTITY: M2 = [[ONE, ZERO], [ZERO, ONE]];

/// Conjugate transpose.
pub(crate) fn dagger2(m: &M2) -> M2 {
    [[m[0][0].conj(), m[1][0].conj()], [m[0][1].conj(), m[1][1].conj()]]
}

/// `diag(1, z)`.
pub(crate) fn diag2(z: C64) -> M2 {
    [[ONE, ZERO], [ZERO, z]]
}

/// The 2x2 array of a 2x2 [`Matrix`] (`None` for another size).
pub(crate) fn from_matrix(m: &Matrix) -> Option<M2> {
    (m.dim() == 2).then(|| [[m.get(0, 0), m.get(0, 1)], [m.get(1, 0), m.get(1, 1)]])
}

/// A square root `V` of a 2x2 matrix `W` (`V² = W`); unitary when `W` is.
pub(crate) fn sqrt2(w: &M2) -> M2 {
    if *w == X {
        return SX;
    }
    let tr = w[0][0] + w[1][1];
    let det = w[0][0] * w[1][1] - w[0][1] * w[1][0];
    let s0 = det.sqrt();
    let (s, t2) =
        if (tr + s0 * 2.0).norm() >= (tr - s0 * 2.0).norm() { (s0, tr + s0 * 2.0) } else { (-s0, tr - s0 * 2.0) };
    let t = t2.sqrt();
    [[(w[0][0] + s) / t, w[0][1] / t], [w[1][0] / t, (w[1][1] + s) / t]]
}

/// `(θ, φ, λ, γ)` with `W = e^{iγ} u3(θ, φ, λ)`.
pub(crate) fn zyz(w: &M2) -> [f64; 4] {
    let (a, b) = (w[0][0].norm(), w[1][0].norm());
    let theta = 2.0 * b.atan2(a);
    let gamma = w[0][0].arg();
    let phi = w[1][0].arg() - gamma;
    let lambda = if a >= b { w[1][1].arg() - gamma - phi } else { (-w[0][1]).arg() - gamma };
    [theta, phi, lambda, gamma]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops;

    fn c(re: f64, im: f64) -> C64 {
        C64::new(re, im)
    }

    fn mul(a: &M2, b: &M2) -> M2 {
        let mut m = [[ZERO; 2]; 2];
        for i in 0..2 {
            for j in 0..2 {
                m[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j];
            }
        }
        m
    }

    fn dist(a: &M2, b: &M2) -> f64 {
        (0..4).map(|k| (a[k / 2][k % 2] - b[k / 2][k % 2]).norm()).fold(0.0, f64::max)
    }

    fn u3(t: f64, p: f64, l: f64) -> M2 {
        from_matrix(&ops::u3_matrix(t, p, l)).unwrap()
    }

    #[test]
    fn zyz_reproduces_with_phase() {
        let cases = [
            u3(0.3, 1.2, -2.0),
            u3(std::f64::consts::PI, 0.4, 0.9),
            u3(0.0, 0.0, 1.1),
            X,
            SX,
            [[c(0.0, 1.0), ZERO], [ZERO, c(-1.0, 0.0)]],
            [[ZERO, c(0.0, -1.0)], [c(0.0, 1.0), ZERO]],
        ];
        for (i, w0) in cases.iter().enumerate() {
            let w = {
                let ph = C64::from_polar(1.0, 0.37 * i as f64);
                [[w0[0][0] * ph, w0[0][1] * ph], [w0[1][0] * ph, w0[1][1] * ph]]
            };
            let [t, p, l, g] = zyz(&w);
            let back = u3(t, p, l);
            let ph = C64::from_polar(1.0, g);
            let back = [[back[0][0] * ph, back[0][1] * ph], [back[1][0] * ph, back[1][1] * ph]];
            assert!(dist(&back, &w) < 1e-14, "case {i}: {back:?} vs {w:?}");
        }
    }

    #[test]
    fn square_roots() {
        for w in [X, SX, u3(0.3, 1.2, -2.0), u3(2.9, -0.3, 0.8), [[c(-1.0, 0.0), ZERO], [ZERO, c(-1.0, 0.0)]]] {
            let v = sqrt2(&w);
            assert!(dist(&mul(&v, &v), &w) < 1e-14);
            assert!(dist(&mul(&v, &dagger2(&v)), &IDENTITY) < 1e-14);
        }
    }
}
