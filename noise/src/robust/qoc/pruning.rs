//! Probabilistic gradient pruning (Wang et al., "QOC: Quantum On-Chip Training with Parameter Shift
//! and Gradient Pruning", DAC 2022, Sec. 3.2 and Algorithm 1).
//!
//! Training alternates two windows. In an *accumulation window* of `w_a` steps every gradient is
//! evaluated and its magnitudes are summed per parameter, `M_i = Σ |g_i|`. In the following *pruning
//! window* of `w_p` steps, each step evaluates only `n − ⌊r·n⌋` parameters, drawn without replacement
//! with probability proportional to `M_i`; the others are pruned (gradient zero, no circuit run). `M`
//! is reset when the next accumulation window starts. Small gradients are the ones shot noise
//! swamps, so skipping them mostly skips noise; the draw being random (not top-k) lets every
//! parameter with a non-zero magnitude be updated now and then.

use crate::error::{NoiseError, Result, check_range};
use rand_chacha::ChaCha8Rng;
use tinylab_classical::tensor::{rng, uniform};

/// The knobs of probabilistic gradient pruning; [`Default`] is the paper's setting (TorchQuantum's
/// `gradient_pruning` example): ratio 0.5, accumulation window 1, pruning window 2.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PruningConfig {
    /// `r`: the fraction of parameters pruned in each step of a pruning window, in `[0, 1)`.
    pub ratio: f64,
    /// `w_a`: steps of the accumulation window (every gradient evaluated), at least 1.
    pub accumulation_window: usize,
    /// `w_p`: steps of the pruning window.
    pub pruning_window: usize,
}

impl Default for PruningConfig {
    fn default() -> Self {
        Self { ratio: 0.5, accumulation_window: 1, pruning_window: 2 }
    }
}

impl PruningConfig {
    /// Checks the ranges: `0 <= ratio < 1`, `accumulation_window >= 1`.
    pub fn validate(&self) -> Result<()> {
        check_range("pruning ratio", self.ratio, 0.0, 1.0)?;
        if self.ratio >= 1.0 {
            return Err(NoiseError::InvalidSetting {
                setting: "pruning ratio",
                value: self.ratio.to_string(),
                requirement: "below 1: at least one gradient is kept",
            });
        }
        if self.accumulation_window == 0 {
            return Err(NoiseError::InvalidSetting {
                setting: "accumulation window",
                value: "0".into(),
                requirement: "at least 1 step: pruning needs accumulated magnitudes",
            });
        }
        Ok(())
    }

    /// Parameters kept in a pruning step out of `n`: `n − ⌊ratio·n⌋`.
    pub fn kept(&self, n: usize) -> usize {
        n - (self.ratio * n as f64).floor() as usize
    }
}

/// `keep` distinct indices drawn without replacement, each draw with probability proportional to the
/// remaining weights (`torch.multinomial` without replacement); sorted. Once the remaining weights are
/// all zero the rest is drawn uniformly, so a zero-weight index is kept only when every positive one
/// already is. Errors for negative or non-finite weights or `keep > weights.len()`.
pub fn sample_kept(weights: &[f64], keep: usize, rng: &mut ChaCha8Rng) -> Result<Vec<usize>> {
    if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
        return Err(NoiseError::InvalidSetting {
            setting: "gradient magnitude",
            value: w.to_string(),
            requirement: "finite and non-negative",
        });
    }
    if keep > weights.len() {
        return Err(NoiseError::SizeMismatch {
            what: "parameters to keep (at most the number of weights)".into(),
            expected: weights.len(),
            got: keep,
        });
    }
    let mut remaining: Vec<usize> = (0..weights.len()).collect();
    let mut kept = Vec::with_capacity(keep);
    for _ in 0..keep {
        let total: f64 = remaining.iter().map(|&i| weights[i]).sum();
        let pick = if total > 0.0 {
            let u = uniform(rng) * total;
            let mut acc = 0.0;
            // The last positive weight takes any rounding remainder.
            let last_positive = remaining.iter().rposition(|&i| weights[i] > 0.0).unwrap_or(0);
            remaining
                .iter()
                .position(|&i| {
                    acc += weights[i];
                    weights[i] > 0.0 && u < acc
                })
                .unwrap_or(last_positive)
        } else {
            ((uniform(rng) * remaining.len() as f64) as usize).min(remaining.len() - 1)
        };
        kept.push(remaining.remove(pick));
    }
    kept.sort_unstable();
    Ok(kept)
}

/// Where a [`GradientPruner`] is in its cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Phase {
    /// Every gradient is evaluated and its magnitude accumulated.
    Accumulate,
    /// A fraction of the gradients is pruned, sampled by accumulated magnitude.
    Prune,
}

/// The state of probabilistic gradient pruning over training (see the module documentation): ask
/// [`selection`](Self::selection) which parameters to evaluate this step, then report the step's
/// gradient with [`observe`](Self::observe).
#[derive(Debug, Clone)]
pub struct GradientPruner {
    config: PruningConfig,
    magnitudes: Vec<f64>,
    /// Position in the cycle of `w_a + w_p` steps.
    position: usize,
    rng: ChaCha8Rng,
}

impl GradientPruner {
    /// A pruner for `n_params` parameters starting an accumulation window; draws are seeded by `seed`.
    pub fn new(n_params: usize, config: PruningConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        Ok(Self { config, magnitudes: vec![0.0; n_params], position: 0, rng: rng(seed) })
    }

    /// The configuration.
    pub fn config(&self) -> &PruningConfig {
        &self.config
    }

    /// The phase of the current step.
    pub fn phase(&self) -> Phase {
        if self.position < self.config.accumulation_window { Phase::Accumulate } else { Phase::Prune }
    }

    /// The magnitudes accumulated in the current cycle, `M_i = Σ |g_i|`.
    pub fn magnitudes(&self) -> &[f64] {
        &self.magnitudes
    }

    /// Which parameters to evaluate this step: all of them in an accumulation window, a sample of
    /// [`PruningConfig::kept`] by accumulated magnitude in a pruning window (a new draw per call).
    pub fn selection(&mut self) -> Result<Vec<bool>> {
        let n = self.magnitudes.len();
        match self.phase() {
            Phase::Accumulate => Ok(vec![true; n]),
            Phase::Prune => {
                let mut mask = vec![false; n];
                for i in sample_kept(&self.magnitudes, self.config.kept(n), &mut self.rng)? {
                    mask[i] = true;
                }
                Ok(mask)
            }
        }
    }

    /// Ends a step with its gradient: accumulates `|g|` in an accumulation window, then advances the
    /// cycle (resetting the magnitudes when a new cycle starts).
    pub fn observe(&mut self, gradient: &[f64]) -> Result<()> {
        if gradient.len() != self.magnitudes.len() {
            return Err(NoiseError::SizeMismatch {
                what: "gradient for the pruner".into(),
                expected: self.magnitudes.len(),
                got: gradient.len(),
            });
        }
        if self.phase() == Phase::Accumulate {
            for (m, g) in self.magnitudes.iter_mut().zip(gradient) {
                *m += g.abs();
            }
        }
        self.position += 1;
        if self.position == self.config.accumulation_window + self.config.pruning_window {
            self.position = 0;
            self.magnitudes.iter_mut().for_each(|m| *m = 0.0);
        }
        Ok(())
    }
}
