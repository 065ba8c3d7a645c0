//! The training loop: minibatch SGD over a labelled image set with metrics per epoch, a progress
//! bar, early stopping, and checkpoints that resume bit-exactly.
//!
//! Every random choice is a function of the seed, the epoch and the batch index (the shuffle of epoch
//! `e` uses seed `seed::derive(seed, &[e])`; dropout in batch `b` of epoch `e` uses `seed::derive(seed, &[e, b])`), and a
//! checkpoint holds the model, the optimizer state and the history at the end of an epoch. A run
//! resumed from epoch `e` therefore makes exactly the updates the uninterrupted run made.

use crate::autograd::Var;
use crate::checkpoint;
use crate::error::{Result, arg_err, shape_err};
use crate::nn::{self, Ctx, Module, StateDict};
use crate::ops;
use crate::seed;
use crate::optim::{LrSchedule, Optimizer, clip_grad_norm};
use crate::tensor::Tensor;
use ndarray::{Array4, Axis};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Settings of [`fit`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per step.
    pub batch_size: usize,
    /// Learning rate per epoch.
    pub lr: LrSchedule,
    /// Seed of shuffling and dropout.
    pub seed: u64,
    /// Stop after this many epochs without a better validation loss.
    pub patience: Option<usize>,
    /// Clip the global gradient norm to this value.
    pub clip_grad_norm: Option<f32>,
    /// Show an indicatif progress bar.
    pub progress: bool,
    /// Write a checkpoint here after every epoch, and resume from it when it exists.
    pub checkpoint: Option<PathBuf>,
}

/// Metrics of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 0-based epoch.
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f32,
    /// Mean training loss over the epoch's batches.
    pub train_loss: f32,
    /// Training accuracy over the epoch (in training mode, as the batches went by).
    pub train_accuracy: f32,
    /// Loss on the validation set after the epoch.
    pub val_loss: f32,
    /// Accuracy on the validation set after the epoch.
    pub val_accuracy: f32,
}

/// What a checkpoint of a training run holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainState<O> {
    /// Epochs finished.
    pub epochs_done: usize,
    /// Model parameters and buffers.
    pub model: StateDict,
    /// Optimizer state.
    pub optimizer: O,
    /// Metrics so far.
    pub history: Vec<EpochMetrics>,
    /// Best validation loss so far and the epochs since it improved.
    pub best: (f32, usize),
}

/// Checkpoint kind string of training states.
pub const TRAIN_STATE_KIND: &str = "train_state";

/// A seeded permutation of `0..n` (Fisher-Yates).
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = crate::tensor::rng(seed);
    let mut idx: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (crate::tensor::uniform(&mut rng) * (i + 1) as f64) as usize;
        idx.swap(i, j.min(i));
    }
    idx
}

/// The samples `indices` of `images` as one batch tensor.
pub fn gather_batch(images: &Array4<f32>, indices: &[usize]) -> Tensor {
    images.select(Axis(0), indices).into_dyn()
}

fn check_data(images: &Array4<f32>, labels: &[usize]) -> Result<()> {
    if images.shape()[0] != labels.len() {
        return Err(shape_err("fit", images.shape(), &[labels.len()], "one label per image"));
    }
    Ok(())
}

/// Loss, accuracy and predicted classes of `model` in evaluation mode.
pub fn evaluate(
    model: &mut dyn Module,
    images: &Array4<f32>,
    labels: &[usize],
    batch_size: usize,
) -> Result<(f32, f32, Vec<usize>)> {
    check_data(images, labels)?;
    let n = labels.len();
    let (mut loss_sum, mut correct, mut predictions) = (0.0f64, 0usize, Vec::with_capacity(n));
    for start in (0..n).step_by(batch_size.max(1)) {
        let idx: Vec<usize> = (start..(start + batch_size).min(n)).collect();
        let x = Var::constant(gather_batch(images, &idx));
        let logits = model.forward(&x, &mut Ctx::eval())?;
        let y = &labels[start..start + idx.len()];
        loss_sum +=
            ops::cross_entropy(&logits, y)?.value().iter().next().copied().unwrap_or(0.0) as f64 * idx.len() as f64;
        for (row, &t) in logits.value().axis_iter(Axis(0)).zip(y) {
            let p = argmax(row.iter().copied());
            correct += (p == t) as usize;
            predictions.push(p);
        }
    }
    Ok(((loss_sum / n.max(1) as f64) as f32, correct as f32 / n.max(1) as f32, predictions))
}

/// Index of the largest value (the first one on ties; 0 for an empty input): the predicted class of a
/// row of logits.
pub fn argmax(values: impl Iterator<Item = f32>) -> usize {
    values.enumerate().fold((0, f32::NEG_INFINITY), |(bi, bv), (i, v)| if v > bv { (i, v) } else { (bi, bv) }).0
}

/// Training loss and accuracy of one epoch, summed batch by batch (shared by [`fit`] and the
/// distillation loop).
#[derive(Debug, Clone, Default)]
pub struct EpochTally {
    loss_sum: f64,
    correct: usize,
    seen: usize,
}

impl EpochTally {
    /// Adds a batch: its mean `loss` (a scalar) and the `logits` of its `targets`.
    pub fn add_batch(&mut self, loss: &Var, logits: &Tensor, targets: &[usize]) {
        self.loss_sum += loss.value().iter().next().copied().unwrap_or(0.0) as f64 * targets.len() as f64;
        for (row, &t) in logits.axis_iter(Axis(0)).zip(targets) {
            self.correct += (argmax(row.iter().copied()) == t) as usize;
        }
        self.seen += targets.len();
    }

    /// The epoch's metrics, with `model` evaluated on `val`.
    pub fn finish(
        &self,
        epoch: usize,
        lr: f32,
        model: &mut dyn Module,
        val: (&Array4<f32>, &[usize]),
    ) -> Result<EpochMetrics> {
        let (val_loss, val_accuracy, _) = evaluate(model, val.0, val.1, 256)?;
        let n = self.seen.max(1);
        Ok(EpochMetrics {
            epoch,
            lr,
            train_loss: (self.loss_sum / n as f64) as f32,
            train_accuracy: self.correct as f32 / n as f32,
            val_loss,
            val_accuracy,
        })
    }
}

/// The result of [`fit`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainReport {
    /// Metrics of every epoch, including those before a resume.
    pub history: Vec<EpochMetrics>,
    /// True when early stopping ended the run.
    pub stopped_early: bool,
    /// The epoch the run resumed from (0 when it started fresh).
    pub resumed_from: usize,
}

/// Trains `model` with cross-entropy on `(train_images, train_labels)`, validating on
/// `(val_images, val_labels)` after each epoch.
pub fn fit<O>(
    model: &mut dyn Module,
    optimizer: &mut O,
    train: (&Array4<f32>, &[usize]),
    val: (&Array4<f32>, &[usize]),
    cfg: &TrainConfig,
) -> Result<TrainReport>
where
    O: Optimizer + Serialize + DeserializeOwned + Clone,
{
    check_data(train.0, train.1)?;
    check_data(val.0, val.1)?;
    if cfg.batch_size == 0 {
        return Err(arg_err("fit", "batch size must be positive"));
    }
    let mut history = Vec::new();
    let mut best = (f32::INFINITY, 0usize);
    let mut start_epoch = 0;
    if let Some(path) = &cfg.checkpoint
        && path.exists()
    {
        let state: TrainState<O> = checkpoint::load(path, TRAIN_STATE_KIND)?;
        nn::load_state_dict(model, &state.model)?;
        *optimizer = state.optimizer;
        history = state.history;
        best = state.best;
        start_epoch = state.epochs_done;
    }
    let n = train.1.len();
    let batches_per_epoch = n.div_ceil(cfg.batch_size);
    let bar = if cfg.progress {
        let bar = indicatif::ProgressBar::new((cfg.epochs * batches_per_epoch) as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} batches, epoch {msg} [{elapsed} < {eta}]")
                .expect("valid template"),
        );
        bar.set_position((start_epoch * batches_per_epoch) as u64);
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut stopped_early = cfg.patience.is_some_and(|p| best.1 >= p);
    for epoch in start_epoch..cfg.epochs {
        if stopped_early {
            break;
        }
        let lr = cfg.lr.at(epoch);
        let order = permutation(n, seed::derive(cfg.seed, &[epoch as u64]));
        let mut tally = EpochTally::default();
        for (b, chunk) in order.chunks(cfg.batch_size).enumerate() {
            let x = Var::constant(gather_batch(train.0, chunk));
            let y: Vec<usize> = chunk.iter().map(|&i| train.1[i]).collect();
            let mut ctx = Ctx::train(seed::derive(cfg.seed, &[epoch as u64, b as u64]));
            let logits = model.forward(&x, &mut ctx)?;
            let loss = ops::cross_entropy(&logits, &y)?;
            loss.backward()?;
            nn::zero_grads(model);
            nn::accumulate_grads(model, &ctx);
            if let Some(max) = cfg.clip_grad_norm {
                clip_grad_norm(model, max);
            }
            optimizer.step(model, lr);
            tally.add_batch(&loss, logits.value(), &y);
            bar.set_message(format!("{}/{}", epoch + 1, cfg.epochs));
            bar.inc(1);
        }
        let metrics = tally.finish(epoch, lr, model, val)?;
        let val_loss = metrics.val_loss;
        history.push(metrics);
        best = if val_loss < best.0 { (val_loss, 0) } else { (best.0, best.1 + 1) };
        if let Some(path) = &cfg.checkpoint {
            let state = TrainState {
                epochs_done: epoch + 1,
                model: nn::state_dict(model),
                optimizer: optimizer.clone(),
                history: history.clone(),
                best,
            };
            checkpoint::save(path, TRAIN_STATE_KIND, &state)?;
        }
        stopped_early = cfg.patience.is_some_and(|p| best.1 >= p);
    }
    bar.finish_and_clear();
    Ok(TrainReport { history, stopped_early, resumed_from: start_epoch })
}
