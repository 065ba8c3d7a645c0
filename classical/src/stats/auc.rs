//! The area under the ROC curve of a detector's scores, the figure of merit of anomaly detection
//! (MLPerf Tiny's anomaly-detection benchmark and DCASE 2020 task 2).

use super::{StatsError, average_ranks};

/// The ROC AUC of scores where higher means "more anomalous": the probability that a random
/// anomalous sample scores above a random normal one, ties counting one half. Computed as the
/// Mann-Whitney statistic from average ranks, `(R_anomalous - m (m + 1) / 2) / (m n)` for `m`
/// anomalous and `n` normal scores (Hanley & McNeil 1982). Errors when either sample is empty or a
/// score is not finite.
pub fn roc_auc(normal: &[f64], anomalous: &[f64]) -> Result<f64, StatsError> {
    for (len, _) in [(normal.len(), "normal"), (anomalous.len(), "anomalous")] {
        if len == 0 {
            return Err(StatsError::TooFewValues { what: "roc_auc", needed: 1, got: 0 });
        }
    }
    let all: Vec<f64> = normal.iter().chain(anomalous).copied().collect();
    let ranks = average_ranks(&all)?;
    let (n, m) = (normal.len() as f64, anomalous.len() as f64);
    let r_anomalous: f64 = ranks[normal.len()..].iter().sum();
    Ok((r_anomalous - m * (m + 1.0) / 2.0) / (m * n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition: the share of (normal, anomalous) pairs ordered right, ties one half.
    fn pairwise(normal: &[f64], anomalous: &[f64]) -> f64 {
        let mut s = 0.0;
        for &a in anomalous {
            for &b in normal {
                s += if a > b {
                    1.0
                } else if a == b {
                    0.5
                } else {
                    0.0
                };
            }
        }
        s / (normal.len() * anomalous.len()) as f64
    }

    #[test]
    fn auc_equals_the_pairwise_definition() {
        let normal = [0.1, 0.4, 0.35, 0.8, 0.4];
        let anomalous = [0.9, 0.4, 0.7, 0.05];
        assert!((roc_auc(&normal, &anomalous).unwrap() - pairwise(&normal, &anomalous)).abs() < 1e-12);
        assert_eq!(roc_auc(&[0.0, 1.0], &[2.0, 3.0]).unwrap(), 1.0);
        assert_eq!(roc_auc(&[2.0, 3.0], &[0.0, 1.0]).unwrap(), 0.0);
        assert_eq!(roc_auc(&[1.0], &[1.0]).unwrap(), 0.5);
        assert!(roc_auc(&[], &[1.0]).is_err());
        assert!(roc_auc(&[f64::NAN], &[1.0]).is_err());
    }
}
