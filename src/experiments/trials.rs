//! Repeated training runs: the seeds of independent trials and the spread of a figure over them.
//!
//! A claim that rests on one training run can land on either side of an instability (the MobileNetV2
//! of `mcu_deploy` reached 73% on one machine and 92.5% on another with the same seed), so the
//! experiments whose headline comes from training report the mean, standard deviation and range over
//! [`TRIALS`] seeds next to the figures of the first trial.

use serde::Serialize;
use serde_json::Value;
use tinylab_classical::seed;

/// Trials of a full run (quick runs use one, or as many as they can afford).
pub(crate) const TRIALS: usize = 3;

/// The index that separates trial seeds from every other stream derived from the run's seed.
const TRIAL_STREAM: u64 = 0x7472_6961_6c73; // "trials"

/// The seeds of `n` trials of a run seeded `base`: trial 0 is `base` itself (so the first trial is
/// the single run the experiment reported before trials existed), trial `t > 0` is
/// `seed::derive(base, &[TRIAL_STREAM, t])`.
pub(crate) fn trial_seeds(base: u64, n: usize) -> Vec<u64> {
    (0..n as u64).map(|t| if t == 0 { base } else { seed::derive(base, &[TRIAL_STREAM, t]) }).collect()
}

/// One figure over independent trials: mean, sample standard deviation (0 for one trial), range and
/// the values in trial order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Spread {
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (`n - 1` in the denominator).
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// The values, trial by trial.
    pub values: Vec<f64>,
}

impl Spread {
    /// The spread of `values` (an empty list gives NaNs, which serialize as null).
    pub fn of(values: &[f64]) -> Self {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var =
            if values.len() > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
        Self {
            mean,
            std: var.sqrt(),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            values: values.to_vec(),
        }
    }

    /// As a JSON object for `metrics.json`.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_matches_hand_computed_values() {
        let s = Spread::of(&[0.7, 0.9, 0.8]);
        assert!((s.mean - 0.8).abs() < 1e-15);
        assert!((s.std - 0.1).abs() < 1e-15, "{}", s.std);
        assert_eq!((s.min, s.max), (0.7, 0.9));
        assert_eq!(Spread::of(&[0.5]).std, 0.0);
    }

    #[test]
    fn trial_seeds_start_with_the_base_and_are_distinct() {
        let seeds = trial_seeds(7, 3);
        assert_eq!(seeds[0], 7);
        assert!(seeds[1] != seeds[2] && !seeds[1..].contains(&7));
        assert_eq!(trial_seeds(7, 3), seeds);
    }
}
