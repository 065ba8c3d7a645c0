//! Rank correlation: Spearman's ρ is Pearson's correlation of the ranks, tied values sharing the
//! mean of the ranks they span (Spearman, "The proof and measurement of association between two
//! things", Am. J. Psychol. 15, 72 (1904); the tie rule of `scipy.stats.spearmanr`). Kendall's τ-b
//! counts concordant and discordant pairs (Kendall, "The treatment of ties in ranking problems",
//! Biometrika 33, 239 (1945); `scipy.stats.kendalltau`'s default).

use super::{StatsError, check_finite};

/// The 1-based ranks of `values` in ascending order, each run of equal values given the mean of the
/// ranks it spans (`[10, 20, 20, 5]` ranks `[2, 3.5, 3.5, 1]`). Errors on a value that is not finite.
pub fn average_ranks(values: &[f64]) -> Result<Vec<f64>, StatsError> {
    check_finite("ranks", values.iter().copied())?;
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut k = 0;
    while k < order.len() {
        let mut end = k;
        while end + 1 < order.len() && values[order[end + 1]] == values[order[k]] {
            end += 1;
        }
        for &i in &order[k..=end] {
            ranks[i] = (k + end) as f64 / 2.0 + 1.0;
        }
        k = end + 1;
    }
    Ok(ranks)
}

/// Pearson's correlation coefficient of two paired samples of at least two values. Errors when the
/// lengths differ, a value is not finite, or either sample is constant.
pub fn pearson(a: &[f64], b: &[f64]) -> Result<f64, StatsError> {
    if a.len() != b.len() {
        return Err(StatsError::LengthMismatch { what: "correlation", left: a.len(), right: b.len() });
    }
    if a.len() < 2 {
        return Err(StatsError::TooFewValues { what: "correlation", needed: 2, got: a.len() });
    }
    check_finite("correlation", a.iter().chain(b).copied())?;
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    if va == 0.0 || vb == 0.0 {
        return Err(StatsError::ZeroVariance { what: "correlation" });
    }
    Ok(cov / (va * vb).sqrt())
}

/// Spearman's rank correlation of two paired samples: [`pearson`] of their [`average_ranks`].
/// Errors as [`pearson`] does (a constant sample has no rank correlation).
pub fn spearman(a: &[f64], b: &[f64]) -> Result<f64, StatsError> {
    pearson(&average_ranks(a)?, &average_ranks(b)?)
}

/// Kendall's τ-b of two paired samples of at least two values:
/// `(C - D) / sqrt((P - T_a) (P - T_b))` over the `P = n (n - 1) / 2` pairs, with `C` concordant and
/// `D` discordant pairs and `T_a`, `T_b` the pairs tied in `a` and in `b` (a pair tied in both counts
/// in both). Counted over all pairs, O(n²), which suits the few hundred architectures an accuracy
/// predictor is judged on. Errors as [`pearson`] does (a constant sample has no rank correlation).
pub fn kendall_tau(a: &[f64], b: &[f64]) -> Result<f64, StatsError> {
    if a.len() != b.len() {
        return Err(StatsError::LengthMismatch { what: "kendall tau", left: a.len(), right: b.len() });
    }
    if a.len() < 2 {
        return Err(StatsError::TooFewValues { what: "kendall tau", needed: 2, got: a.len() });
    }
    check_finite("kendall tau", a.iter().chain(b).copied())?;
    let (mut concordant, mut discordant, mut tied_a, mut tied_b) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..a.len() {
        for j in i + 1..a.len() {
            let (da, db) = (a[i] - a[j], b[i] - b[j]);
            if da == 0.0 {
                tied_a += 1;
            }
            if db == 0.0 {
                tied_b += 1;
            }
            if da * db > 0.0 {
                concordant += 1;
            } else if da * db < 0.0 {
                discordant += 1;
            }
        }
    }
    let pairs = (a.len() * (a.len() - 1) / 2) as u64;
    if tied_a == pairs || tied_b == pairs {
        return Err(StatsError::ZeroVariance { what: "kendall tau" });
    }
    let denom = (((pairs - tied_a) as f64) * ((pairs - tied_b) as f64)).sqrt();
    Ok((concordant as f64 - discordant as f64) / denom)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// τ is symmetric in its arguments, flips sign with one of them, lies in [-1, 1], and is 1
        /// against any strictly increasing transform of the same sample.
        #[test]
        fn kendall_tau_identities(a in proptest::collection::vec(-5i32..5, 2..30), seed in 0u64..1000) {
            let a: Vec<f64> = a.into_iter().map(f64::from).collect();
            let mut r = crate::tensor::rng(seed);
            let b: Vec<f64> = a.iter().map(|_| (crate::tensor::uniform(&mut r) * 4.0).floor()).collect();
            let neg: Vec<f64> = b.iter().map(|v| -v).collect();
            if let (Ok(t), Ok(u), Ok(n)) = (kendall_tau(&a, &b), kendall_tau(&b, &a), kendall_tau(&a, &neg)) {
                proptest::prop_assert!((t - u).abs() < 1e-12 && (t + n).abs() < 1e-12 && t.abs() <= 1.0 + 1e-12);
            }
            if let Ok(t) = kendall_tau(&a, &a.iter().map(|v| v.exp()).collect::<Vec<_>>()) {
                proptest::prop_assert!((t - 1.0).abs() < 1e-12);
            }
        }
    }

    /// By hand: `[2, 1, 4, 5, 3]` against `1..=5` has 3 discordant pairs of 10, τ = (7 - 3) / 10; with
    /// a tie in `a` (`[1, 2, 2, 3, 5]` against `[2, 1, 4, 3, 5]`): C = 7, D = 2, one tied pair,
    /// τ-b = 5 / sqrt(9 · 10).
    #[test]
    fn kendall_tau_matches_hand_counts() {
        let t = kendall_tau(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 1.0, 4.0, 5.0, 3.0]).unwrap();
        assert!((t - 0.4).abs() < 1e-15, "{t}");
        let tied = kendall_tau(&[1.0, 2.0, 2.0, 3.0, 5.0], &[2.0, 1.0, 4.0, 3.0, 5.0]).unwrap();
        assert!((tied - 5.0 / 90f64.sqrt()).abs() < 1e-15, "{tied}");
        assert_eq!(kendall_tau(&[3.0, 2.0, 1.0], &[1.0, 2.0, 3.0]).unwrap(), -1.0);
        assert_eq!(kendall_tau(&[1.0, 1.0], &[1.0, 2.0]), Err(StatsError::ZeroVariance { what: "kendall tau" }));
        assert!(matches!(kendall_tau(&[1.0], &[1.0]), Err(StatsError::TooFewValues { .. })));
        assert!(kendall_tau(&[1.0, f64::NAN], &[1.0, 2.0]).is_err());
    }

    #[test]
    fn ranks_share_ties() {
        assert_eq!(average_ranks(&[10.0, 20.0, 20.0, 5.0]).unwrap(), vec![2.0, 3.5, 3.5, 1.0]);
        assert_eq!(average_ranks(&[1.0, 1.0, 1.0]).unwrap(), vec![2.0; 3]);
        assert!(average_ranks(&[1.0, f64::NAN]).is_err());
    }

    /// Closed forms and scipy.stats.spearmanr: 0.6668859288553503 for the tied pair below, and
    /// `1 - 6 Σd² / (n(n²-1)) = 1 - 6·8/(5·24) = 0.6` for ranks without ties.
    #[test]
    fn spearman_matches_known_values() {
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 25.0, 90.0]).unwrap() - 1.0).abs() < 1e-15);
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[4.0, 3.0, 2.0, 1.0]).unwrap() + 1.0).abs() < 1e-15);
        let no_ties = spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 1.0, 4.0, 5.0, 3.0]).unwrap();
        assert!((no_ties - 0.6).abs() < 1e-12, "{no_ties}");
        let tied = spearman(&[1.0, 2.0, 2.0, 3.0, 5.0], &[2.0, 1.0, 4.0, 3.0, 5.0]).unwrap();
        assert!((tied - 0.6668859288553503).abs() < 1e-12, "{tied}");
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), Err(StatsError::ZeroVariance { what: "correlation" }));
        assert!(matches!(spearman(&[1.0, 2.0], &[1.0]), Err(StatsError::LengthMismatch { .. })));
        assert!(matches!(spearman(&[1.0], &[1.0]), Err(StatsError::TooFewValues { .. })));
    }
}
