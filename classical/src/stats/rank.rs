//! Rank correlation: Spearman's ρ is Pearson's correlation of the ranks, tied values sharing the
//! mean of the ranks they span (Spearman, "The proof and measurement of association between two
//! things", Am. J. Psychol. 15, 72 (1904); the tie rule of `scipy.stats.spearmanr`).

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

#[cfg(test)]
mod tests {
    use super::*;

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
