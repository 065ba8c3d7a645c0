//! A chi-square goodness-of-fit test for sampled counts.

/// Upper quantile of the chi-square distribution with `df` degrees of freedom at tail probability
/// `alpha` (Wilson-Hilferty approximation, accurate to a few percent for df >= 1).
pub fn chi_square_critical(df: usize, alpha: f64) -> f64 {
    // z for the upper tail via the inverse of the normal tail (Acklam-style rational fit is overkill
    // here: alpha is one of a few fixed values).
    let z = match alpha {
        a if (a - 1e-3).abs() < 1e-12 => 3.090_232,
        a if (a - 1e-4).abs() < 1e-12 => 3.719_016,
        _ => panic!("alpha must be 1e-3 or 1e-4"),
    };
    let k = df as f64;
    let t = 1.0 - 2.0 / (9.0 * k) + z * (2.0 / (9.0 * k)).sqrt();
    k * t * t * t
}

/// Chi-square statistic and degrees of freedom of `observed` counts against `expected` probabilities
/// (indexed alike). Bins expected below 5 counts are pooled into one bin.
pub fn chi_square(observed: &[usize], expected: &[f64]) -> (f64, usize) {
    let shots: usize = observed.iter().sum();
    let n = shots as f64;
    let (mut stat, mut bins) = (0.0, 0usize);
    let (mut pooled_obs, mut pooled_exp) = (0.0, 0.0);
    for (&o, &p) in observed.iter().zip(expected) {
        let e = p * n;
        if e < 5.0 {
            pooled_obs += o as f64;
            pooled_exp += e;
        } else {
            stat += (o as f64 - e).powi(2) / e;
            bins += 1;
        }
    }
    if pooled_exp >= 1e-12 {
        stat += (pooled_obs - pooled_exp).powi(2) / pooled_exp;
        bins += 1;
    } else {
        assert_eq!(pooled_obs, 0.0, "counts fell on outcomes of probability zero");
    }
    (stat, bins.saturating_sub(1).max(1))
}
