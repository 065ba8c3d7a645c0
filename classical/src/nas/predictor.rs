//! The accuracy predictor of once-for-all (Cai et al., ICLR 2020, section 3.3): an MLP that maps
//! [`SearchSpace::encode`]'s one-hot encoding of a sub-network to its accuracy, trained on
//! `(config, measured accuracy)` pairs, so a search can score thousands of candidates without
//! evaluating each on a validation set.
//!
//! Targets are standardised (training mean and standard deviation) before the MSE fit and mapped
//! back after prediction. [`AccuracyPredictor::evaluate`] reports the RMSE on held-out configs next to
//! the RMSE of always predicting the training mean, and Kendall's τ between predicted and measured
//! accuracy, which is what a search needs: the ranking of candidates.

use super::space::{ArchConfig, SearchSpace};
use crate::autograd::Var;
use crate::error::{Result, arg_err};
use crate::nn::{self, Ctx, Module, Sequential, zoo};
use crate::ops;
use crate::optim::{Adam, Optimizer};
use crate::stats::kendall_tau;
use crate::tensor::{Tensor, from_vec};
use crate::train::permutation;
use serde::{Deserialize, Serialize};

/// Settings of [`AccuracyPredictor::fit`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PredictorConfig {
    /// Hidden layer widths of the MLP (ReLU between layers; OFA uses three layers of 400).
    pub hidden: Vec<usize>,
    /// Passes over the training pairs.
    pub epochs: usize,
    /// Pairs per Adam step.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub lr: f32,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// Seed of the initial weights and the per-epoch shuffles.
    pub seed: u64,
}

impl Default for PredictorConfig {
    /// Two hidden layers of 64, 150 epochs of batches of 32 at learning rate 3e-3, no weight decay:
    /// enough for a few hundred pairs on the tiny space in well under a second.
    fn default() -> Self {
        Self { hidden: vec![64, 64], epochs: 150, batch_size: 32, lr: 3e-3, weight_decay: 0.0, seed: 0 }
    }
}

/// How well a predictor ranks and fits held-out configs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PredictorReport {
    /// Held-out pairs.
    pub n: usize,
    /// Root mean squared error of the predictions.
    pub rmse: f64,
    /// RMSE of predicting the training mean for every config (the baseline to beat).
    pub mean_rmse: f64,
    /// Kendall's τ-b between predictions and measured accuracies.
    pub kendall_tau: f64,
}

/// An MLP from architecture encodings to accuracy (see the module docs).
#[derive(Debug)]
pub struct AccuracyPredictor {
    space: SearchSpace,
    net: Sequential,
    mean: f64,
    std: f64,
}

impl AccuracyPredictor {
    /// Fits a predictor of `space`'s configs to `pairs` of `(config, accuracy)`. Fails on an empty
    /// set, a non-finite accuracy, a config outside the space or zero epochs / batch size.
    pub fn fit(space: &SearchSpace, pairs: &[(ArchConfig, f64)], cfg: &PredictorConfig) -> Result<Self> {
        let op = "AccuracyPredictor::fit";
        if pairs.is_empty() || cfg.epochs == 0 || cfg.batch_size == 0 {
            return Err(arg_err(
                op,
                format!(
                    "needs pairs ({}), epochs ({}) and batch size ({}) above zero",
                    pairs.len(),
                    cfg.epochs,
                    cfg.batch_size
                ),
            ));
        }
        if let Some((i, (_, y))) = pairs.iter().enumerate().find(|(_, (_, y))| !y.is_finite()) {
            return Err(arg_err(op, format!("accuracy {y} of pair {i} is not finite")));
        }
        let n = pairs.len() as f64;
        let mean = pairs.iter().map(|p| p.1).sum::<f64>() / n;
        let var = pairs.iter().map(|p| (p.1 - mean).powi(2)).sum::<f64>() / n;
        let std = if var > 0.0 { var.sqrt() } else { 1.0 };
        let encodings = pairs.iter().map(|(a, _)| space.encode(a)).collect::<Result<Vec<_>>>()?;
        let targets: Vec<f32> = pairs.iter().map(|p| ((p.1 - mean) / std) as f32).collect();
        let mut sizes = vec![space.encoding_len()];
        sizes.extend(&cfg.hidden);
        sizes.push(1);
        let mut net = zoo::mlp(&sizes, cfg.seed)?;
        let mut opt = Adam::new(cfg.weight_decay);
        for epoch in 0..cfg.epochs {
            let order = permutation(pairs.len(), crate::seed::derive(cfg.seed, &[epoch as u64]));
            for batch in order.chunks(cfg.batch_size) {
                let x = stack(batch.iter().map(|&i| encodings[i].as_slice()), space.encoding_len())?;
                let y = from_vec(&[batch.len(), 1], batch.iter().map(|&i| targets[i]).collect())?;
                let mut ctx = Ctx::train(0);
                let pred = net.forward(&Var::constant(x), &mut ctx)?;
                let loss = ops::mse(&pred, &Var::constant(y))?;
                loss.backward()?;
                nn::zero_grads(&mut net);
                nn::accumulate_grads(&mut net, &ctx);
                opt.step(&mut net, cfg.lr);
            }
        }
        Ok(Self { space: space.clone(), net, mean, std })
    }

    /// The search space the predictor was fitted on.
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }

    /// The mean accuracy of the training pairs (the mean predictor's constant).
    pub fn training_mean(&self) -> f64 {
        self.mean
    }

    /// The predicted accuracy of `arch`.
    pub fn predict(&mut self, arch: &ArchConfig) -> Result<f64> {
        Ok(self.predict_many(std::slice::from_ref(arch))?[0])
    }

    /// The predicted accuracies of `archs`, in one forward pass.
    pub fn predict_many(&mut self, archs: &[ArchConfig]) -> Result<Vec<f64>> {
        if archs.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = archs.iter().map(|a| self.space.encode(a)).collect::<Result<Vec<_>>>()?;
        let x = stack(encodings.iter().map(Vec::as_slice), self.space.encoding_len())?;
        let out = self.net.forward(&Var::constant(x), &mut Ctx::eval())?;
        Ok(out.value().iter().map(|&v| v as f64 * self.std + self.mean).collect())
    }

    /// RMSE, the mean predictor's RMSE and Kendall's τ on `held_out` pairs (at least two, with
    /// accuracies not all equal).
    pub fn evaluate(&mut self, held_out: &[(ArchConfig, f64)]) -> Result<PredictorReport> {
        let archs: Vec<ArchConfig> = held_out.iter().map(|p| p.0.clone()).collect();
        let measured: Vec<f64> = held_out.iter().map(|p| p.1).collect();
        let predicted = self.predict_many(&archs)?;
        let tau = kendall_tau(&predicted, &measured)?;
        let rms = |f: &dyn Fn(usize) -> f64| {
            (measured.iter().enumerate().map(|(i, m)| (f(i) - m).powi(2)).sum::<f64>() / measured.len() as f64).sqrt()
        };
        Ok(PredictorReport {
            n: held_out.len(),
            rmse: rms(&|i| predicted[i]),
            mean_rmse: rms(&|_| self.mean),
            kendall_tau: tau,
        })
    }
}

/// Rows of equal length `width` as a `(rows, width)` tensor.
fn stack<'a>(rows: impl Iterator<Item = &'a [f32]>, width: usize) -> Result<Tensor> {
    let data: Vec<f32> = rows.flat_map(|r| r.iter().copied()).collect();
    from_vec(&[data.len() / width.max(1), width], data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{randn, rng};

    /// A synthetic "accuracy": a saturating function of a capacity that grows with depth, kernel and
    /// expand ratio, with weights that differ per stage, plus Gaussian noise of standard deviation
    /// `noise` (small against the spread of the clean values).
    fn synthetic(space: &SearchSpace, arch: &ArchConfig, noise: f32, r: &mut rand_chacha::ChaCha8Rng) -> f64 {
        let capacity: f64 = space
            .active_blocks(arch)
            .unwrap()
            .iter()
            .map(|b| (1.0 + b.stage as f64 * 0.5) * (b.kernel as f64 / 3.0) * (b.expand as f64 / 3.0).sqrt())
            .sum();
        0.95 - 0.5 * (-capacity / 50.0).exp() + f64::from(randn(&[1], noise, r)[0])
    }

    fn pairs(space: &SearchSpace, n: usize, seed: u64) -> Vec<(ArchConfig, f64)> {
        let mut r = rng(seed);
        (0..n)
            .map(|_| {
                let a = space.sample(&mut r);
                let y = synthetic(space, &a, 0.003, &mut r);
                (a, y)
            })
            .collect()
    }

    #[test]
    #[allow(clippy::print_stderr)] // The measured RMSE and tau, for the record.
    fn predictor_ranks_held_out_configs_of_a_synthetic_target() {
        let space = SearchSpace::tiny(0.5, 32, 1, 10).unwrap();
        let train = pairs(&space, 300, 1);
        let test = pairs(&space, 150, 2);
        let mut p = AccuracyPredictor::fit(&space, &train, &PredictorConfig::default()).unwrap();
        let report = p.evaluate(&test).unwrap();
        eprintln!("synthetic predictor: {report:?}");
        assert!(report.rmse < 0.5 * report.mean_rmse, "{report:?}");
        assert!(report.kendall_tau > 0.8, "{report:?}");
        // Deterministic for a seed.
        let mut q = AccuracyPredictor::fit(&space, &train, &PredictorConfig::default()).unwrap();
        assert_eq!(q.evaluate(&test).unwrap(), report);
    }

    #[test]
    fn bad_training_sets_are_refused() {
        let space = SearchSpace::tiny(0.5, 32, 1, 10).unwrap();
        let cfg = PredictorConfig::default();
        assert!(AccuracyPredictor::fit(&space, &[], &cfg).unwrap_err().to_string().contains("pairs (0)"));
        let nan = vec![(space.smallest(), f64::NAN)];
        assert!(AccuracyPredictor::fit(&space, &nan, &cfg).unwrap_err().to_string().contains("not finite"));
        let mut other = space.smallest();
        other.resolution = 64;
        assert!(AccuracyPredictor::fit(&space, &[(other, 0.5)], &cfg).is_err());
        let mut p = AccuracyPredictor::fit(&space, &[(space.smallest(), 0.5)], &cfg).unwrap();
        assert!(p.predict(&space.largest()).unwrap().is_finite());
        assert!(p.evaluate(&[(space.smallest(), 0.5)]).is_err());
    }
}
