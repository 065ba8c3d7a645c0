//! Student's t distribution: its CDF through the regularised incomplete beta function, and its
//! quantiles by bisection, for confidence intervals of means over a few seeds (where the normal
//! approximation is far too narrow: with 3 seeds the 95% factor is 4.30, not 1.96).

use super::StatsError;

/// `ln Γ(x)` for `x > 0` by the Lanczos approximation (g = 7, nine coefficients; relative error
/// below 1e-14 on the arguments used here).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + G + 0.5;
    let series = C[1..].iter().enumerate().fold(C[0], |acc, (i, &c)| acc + c / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

/// The continued fraction of the incomplete beta function (modified Lentz), converging for
/// `x < (a + 1) / (a + b + 2)`.
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    d = if d.abs() < TINY { TINY } else { d };
    d = 1.0 / d;
    let mut h = d;
    for m in 1..500 {
        let m = m as f64;
        for numerator in [
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0)),
        ] {
            d = 1.0 + numerator * d;
            d = if d.abs() < TINY { TINY } else { d };
            c = 1.0 + numerator / c;
            c = if c.abs() < TINY { TINY } else { c };
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// The regularised incomplete beta function `I_x(a, b)` for `a, b > 0`, `x ∈ [0, 1]`.
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front = (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

fn check_dof(dof: f64) -> Result<(), StatsError> {
    if dof.is_finite() && dof > 0.0 {
        Ok(())
    } else {
        Err(StatsError::OutOfRange { what: "degrees of freedom", value: dof })
    }
}

/// `P(T ≤ t)` for Student's t with `dof > 0` degrees of freedom:
/// `1 − I_{ν/(ν+t²)}(ν/2, 1/2) / 2` for `t ≥ 0`, and by symmetry below.
pub fn student_t_cdf(t: f64, dof: f64) -> Result<f64, StatsError> {
    check_dof(dof)?;
    if t.is_nan() {
        return Err(StatsError::NotFinite { what: "t", index: 0, value: t });
    }
    let tail = 0.5 * incomplete_beta(dof / 2.0, 0.5, dof / (dof + t * t));
    Ok(if t >= 0.0 { 1.0 - tail } else { tail })
}

/// The `p`-quantile of Student's t with `dof > 0` degrees of freedom (`p ∈ (0, 1)`), by bisection of
/// [`student_t_cdf`] to a relative precision of about 1e-13.
pub fn student_t_quantile(p: f64, dof: f64) -> Result<f64, StatsError> {
    check_dof(dof)?;
    if !(p > 0.0 && p < 1.0) {
        return Err(StatsError::OutOfRange { what: "probability", value: p });
    }
    if p < 0.5 {
        return Ok(-student_t_quantile(1.0 - p, dof)?);
    }
    let mut hi = 1.0;
    while student_t_cdf(hi, dof)? < p {
        hi *= 2.0;
        if hi > 1e12 {
            return Err(StatsError::OutOfRange { what: "probability", value: p });
        }
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if student_t_cdf(mid, dof)? < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-14 * hi {
            break;
        }
    }
    Ok(0.5 * (lo + hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two-sided 95% critical values `t_{0.975, ν}` from the standard tables (R's `qt(0.975, ν)`).
    #[test]
    fn quantiles_match_the_tables() {
        for (dof, want) in [
            (1.0, 12.706204736174703),
            (2.0, 4.302652729749464),
            (4.0, 2.7764451051977934),
            (10.0, 2.2281388519862744),
            (30.0, 2.0422724563012373),
        ] {
            let got = student_t_quantile(0.975, dof).unwrap();
            assert!((got - want).abs() < 1e-9 * want, "ν = {dof}: {got} vs {want}");
        }
        // ν = 1 is the Cauchy distribution: P(T ≤ 1) = 3/4.
        assert!((student_t_cdf(1.0, 1.0).unwrap() - 0.75).abs() < 1e-13);
        assert!((student_t_cdf(0.0, 5.0).unwrap() - 0.5).abs() < 1e-15);
        assert!((student_t_quantile(0.025, 4.0).unwrap() + 2.7764451051977934).abs() < 1e-9);
        assert!(student_t_quantile(1.0, 3.0).is_err() && student_t_quantile(0.5, 0.0).is_err());
    }
}
