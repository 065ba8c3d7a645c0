//! Pruning schedules: when to prune how much, interleaved with training.
//!
//! - [`Schedule::OneShot`]: prune once to the target, then fine-tune.
//! - [`Schedule::Iterative`]: `rounds` rounds of prune + fine-tune; each round removes the same fraction
//!   of the weights still alive, so round `r` reaches `1 - (1 - s)^(r / rounds)` (Han et al. 2015).
//! - [`Schedule::Gradual`]: automated gradual pruning (Zhu & Gupta, "To prune, or not to prune", 2017):
//!   `s_t = s_f + (s_i - s_f) (1 - (t - t_0) / (n Δt))^3`, pruning a little before every training epoch
//!   from `start` to `end`.
//!
//! Lottery-ticket rewinding (Frankle & Carbin 2019; Frankle et al. 2020 for rewinding to an early
//! iteration) keeps the mask found by training and resets the surviving weights to their values at
//! initialisation or an early epoch: [`Rewind`] captures those values and restores them under a mask.

use super::prune::{Target, prune_magnitude, sparsity_report};
use crate::error::{Result, arg_err};
use crate::nn::{self, Module, Param, StateDict};
use crate::optim::{LrSchedule, Optimizer};
use crate::seed;
use crate::train::{TrainConfig, evaluate, fit};
use ndarray::Array4;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// When and how much to prune.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    /// Prune to `target` once, then fine-tune for the whole budget.
    OneShot {
        /// Final sparsity.
        target: f64,
    },
    /// Prune in `rounds` equal-ratio steps, fine-tuning after each.
    Iterative {
        /// Final sparsity.
        target: f64,
        /// Number of prune + fine-tune rounds.
        rounds: usize,
    },
    /// Zhu & Gupta's cubic ramp from `initial` at epoch `start` to `target` at epoch `end`, pruning before
    /// every epoch in between, then training on at `target`.
    Gradual {
        /// Sparsity at `start`.
        initial: f64,
        /// Sparsity from `end` on.
        target: f64,
        /// First pruning epoch.
        start: usize,
        /// Epoch at which `target` is reached.
        end: usize,
    },
}

/// Zhu & Gupta's automated gradual pruning sparsity at step `t` of a ramp from `initial` at `start` to
/// `target` at `end` (clamped outside the ramp).
pub fn agp_sparsity(t: usize, initial: f64, target: f64, start: usize, end: usize) -> f64 {
    if t <= start {
        return if t < start { 0.0 } else { initial };
    }
    if t >= end || end <= start {
        return target;
    }
    let progress = (t - start) as f64 / (end - start) as f64;
    target + (initial - target) * (1.0 - progress).powi(3)
}

/// Sparsity after round `round` (1-based) of `rounds` equal-ratio rounds towards `target`.
pub fn iterative_sparsity(round: usize, rounds: usize, target: f64) -> f64 {
    if round >= rounds {
        return target;
    }
    1.0 - (1.0 - target).powf(round as f64 / rounds.max(1) as f64)
}

impl Schedule {
    fn check(&self) -> Result<()> {
        let ok = |s: f64| (0.0..=1.0).contains(&s);
        let valid = match *self {
            Schedule::OneShot { target } => ok(target),
            Schedule::Iterative { target, rounds } => ok(target) && rounds > 0,
            Schedule::Gradual { initial, target, start, end } => ok(initial) && ok(target) && start <= end,
        };
        if valid { Ok(()) } else { Err(arg_err("prune schedule", format!("{self:?} is not a valid schedule"))) }
    }
}

/// Settings of [`run_schedule`]: the fine-tuning and which parameters are pruned how.
#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    /// Epochs of training per stage (per round for iterative, total for one-shot and gradual).
    pub epochs: usize,
    /// Minibatch size.
    pub batch_size: usize,
    /// Learning rate per epoch within a stage.
    pub lr: LrSchedule,
    /// Seed of shuffling and dropout.
    pub seed: u64,
    /// Rank all selected weights together instead of layer by layer.
    pub global: bool,
    /// Rewind surviving weights to this state after each pruning step (lottery tickets).
    pub rewind: Option<Rewind>,
}

/// One stage of a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageResult {
    /// Stage index (round or epoch).
    pub stage: usize,
    /// Sparsity of the selected weights during the stage.
    pub sparsity: f64,
    /// Validation accuracy right after pruning, before training.
    pub accuracy_after_prune: f32,
    /// Validation accuracy at the end of the stage.
    pub accuracy: f32,
}

/// Runs `schedule` on `model`: prune (the default filter: conv and linear weights), optionally rewind,
/// train, and record validation accuracy after every stage.
pub fn run_schedule<O>(
    model: &mut dyn Module,
    optimizer: &mut O,
    train: (&Array4<f32>, &[usize]),
    val: (&Array4<f32>, &[usize]),
    schedule: &Schedule,
    cfg: &ScheduleConfig,
    filter: &dyn Fn(&str, &Param) -> bool,
) -> Result<Vec<StageResult>>
where
    O: Optimizer + Serialize + DeserializeOwned + Clone,
{
    schedule.check()?;
    let target = |s: f64| if cfg.global { Target::Global(s) } else { Target::Uniform(s) };
    let mut train_stage = |model: &mut dyn Module, stage: usize, epochs: usize, lr: LrSchedule| -> Result<f32> {
        let tc = TrainConfig {
            epochs,
            batch_size: cfg.batch_size,
            lr,
            seed: seed::derive(cfg.seed, &[stage as u64]),
            patience: None,
            clip_grad_norm: None,
            progress: false,
            checkpoint: None,
        };
        let report = fit(model, optimizer, train, val, &tc)?;
        Ok(report.history.last().map_or(f32::NAN, |h| h.val_accuracy))
    };
    let stage_of = |model: &mut dyn Module, s: f64| -> Result<(f64, f32)> {
        prune_magnitude(model, &target(s), filter)?;
        if let Some(r) = &cfg.rewind {
            r.rewind(model)?;
        }
        let reached = sparsity_report(model, filter).sparsity();
        Ok((reached, evaluate(model, val.0, val.1, 256)?.1))
    };
    let mut out = Vec::new();
    match *schedule {
        Schedule::OneShot { target } => {
            let (sparsity, accuracy_after_prune) = stage_of(model, target)?;
            let accuracy = train_stage(model, 0, cfg.epochs, cfg.lr)?;
            out.push(StageResult { stage: 0, sparsity, accuracy_after_prune, accuracy });
        }
        Schedule::Iterative { target, rounds } => {
            for round in 1..=rounds {
                let (sparsity, accuracy_after_prune) = stage_of(model, iterative_sparsity(round, rounds, target))?;
                let accuracy = train_stage(model, round, cfg.epochs, cfg.lr)?;
                out.push(StageResult { stage: round, sparsity, accuracy_after_prune, accuracy });
            }
        }
        Schedule::Gradual { initial, target, start, end } => {
            for epoch in 0..cfg.epochs {
                let s = agp_sparsity(epoch, initial, target, start, end);
                let (sparsity, accuracy_after_prune) = if epoch >= start && (epoch <= end) {
                    stage_of(model, s)?
                } else {
                    (sparsity_report(model, filter).sparsity(), f32::NAN)
                };
                let lr = LrSchedule::Constant { base: cfg.lr.at(epoch) };
                let accuracy = train_stage(model, epoch, 1, lr)?;
                out.push(StageResult { stage: epoch, sparsity, accuracy_after_prune, accuracy });
            }
        }
    }
    Ok(out)
}

/// Saved parameter values to rewind to (lottery tickets).
#[derive(Debug, Clone, PartialEq)]
pub struct Rewind {
    state: StateDict,
}

impl Rewind {
    /// Captures the model's current parameters and buffers (call at initialisation, or after an early
    /// epoch for late rewinding).
    pub fn capture(model: &mut dyn Module) -> Self {
        Self { state: nn::state_dict(model) }
    }

    /// Restores the captured values, keeping the model's current masks (so pruned weights stay zero and
    /// survivors get their early values back).
    pub fn rewind(&self, model: &mut dyn Module) -> Result<()> {
        let masks = super::prune::masks(model);
        nn::load_state_dict(model, &self.state)?;
        super::prune::set_masks(model, &masks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agp_follows_the_cubic_ramp() {
        assert_eq!(agp_sparsity(0, 0.0, 0.9, 0, 10), 0.0);
        assert_eq!(agp_sparsity(10, 0.0, 0.9, 0, 10), 0.9);
        assert_eq!(agp_sparsity(20, 0.0, 0.9, 0, 10), 0.9);
        // Halfway: 0.9 (1 - 0.5^3) = 0.7875.
        assert!((agp_sparsity(5, 0.0, 0.9, 0, 10) - 0.7875).abs() < 1e-12);
        let ramp: Vec<f64> = (0..=10).map(|t| agp_sparsity(t, 0.1, 0.8, 0, 10)).collect();
        assert!(ramp.windows(2).all(|w| w[1] >= w[0]));
    }

    #[test]
    fn iterative_rounds_remove_the_same_fraction_of_survivors() {
        let s: Vec<f64> = (1..=3).map(|r| iterative_sparsity(r, 3, 0.875)).collect();
        assert!((s[0] - 0.5).abs() < 1e-12 && (s[1] - 0.75).abs() < 1e-12 && s[2] == 0.875);
    }

    #[test]
    fn rewinding_keeps_the_mask_and_restores_survivors() {
        let mut model = crate::nn::zoo::mlp(&[6, 5, 3], 2).unwrap();
        let rewind = Rewind::capture(&mut model);
        let initial = nn::state_dict(&mut model);
        model.visit_params_mut("", &mut |_, p| p.value.mapv_inplace(|w| w * 3.0 + 0.5));
        prune_magnitude(&mut model, &Target::Uniform(0.5), &super::super::prune::default_filter).unwrap();
        rewind.rewind(&mut model).unwrap();
        for (name, p) in crate::nn::named_params(&model) {
            let (_, init) = &initial.params[&name];
            match &p.mask {
                Some(m) => {
                    for ((w, m), w0) in p.value.iter().zip(m.iter()).zip(init) {
                        assert_eq!(*w, if *m == 1.0 { *w0 } else { 0.0 });
                    }
                }
                None => assert_eq!(p.value.iter().copied().collect::<Vec<_>>(), *init),
            }
        }
    }
}
