//! The training loop: a [`Trainer`] that runs minibatch training over any [`Batches`] (images with
//! labels, feature rows, token sequences, point sets, clips) with a loss closure, [`Metrics`]
//! callbacks per batch and per epoch, a progress bar, gradient clipping, a learning-rate schedule,
//! early stopping on the validation loss, and checkpoints that resume bit-exactly; [`fit`] is the
//! Trainer on labelled images with cross-entropy and classification metrics.
//!
//! Every random choice is a function of the seed, the epoch and the batch index (the shuffle of epoch
//! `e` uses seed `seed::derive(seed, &[e])`; dropout in batch `b` of epoch `e` uses
//! `seed::derive(seed, &[e, b])`, see [`crate::seed`]), and a checkpoint holds the model, the
//! optimizer state and the history at the end of an epoch. A run resumed from epoch `e` therefore
//! makes exactly the updates the uninterrupted run made.
//!
//! ```
//! use tinylab_classical::nn::zoo;
//! use tinylab_classical::optim::{LrSchedule, Sgd};
//! use tinylab_classical::train::{LabelledArray, TrainConfig, Trainer, Classification};
//! use tinylab_classical::{ops, tensor};
//!
//! # fn main() -> tinylab_classical::Result<()> {
//! // 64 feature rows of width 8 in 3 classes, trained as they are (no image shape needed).
//! let x = tensor::randn(&[64, 8], 1.0, &mut tensor::rng(0));
//! let y: Vec<usize> = (0..64).map(|i| i % 3).collect();
//! let data = LabelledArray::new(x.view(), &y)?;
//! let mut model = zoo::mlp(&[8, 16, 3], 1)?;
//! let cfg = TrainConfig {
//!     epochs: 2, batch_size: 16, lr: LrSchedule::Constant { base: 0.05 }, seed: 7,
//!     patience: None, clip_grad_norm: Some(5.0), progress: false, checkpoint: None,
//! };
//! let mut metrics = Classification::new(data.clone());
//! let mut trainer = Trainer::new(cfg, |logits, labels: &Vec<usize>| ops::cross_entropy(logits, labels));
//! let report = trainer.run(&mut model, &mut Sgd::new(0.9, 0.0), &data, &mut metrics)?;
//! assert_eq!(report.history.len(), 2);
//! # Ok(())
//! # }
//! ```

use crate::autograd::Var;
use crate::checkpoint;
use crate::error::{Result, arg_err, shape_err};
use crate::nn::{self, Ctx, Module, StateDict};
use crate::ops;
use crate::optim::{LrSchedule, Optimizer, clip_grad_norm};
use crate::seed;
use crate::tensor::Tensor;
use ndarray::{Array4, ArrayView, ArrayViewD, Axis, Dimension};
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

/// What a checkpoint of a training run holds: everything a resumed run needs to make exactly the
/// updates the uninterrupted run would have made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainState<O, H = EpochMetrics> {
    /// Epochs finished.
    pub epochs_done: usize,
    /// Model parameters and buffers.
    pub model: StateDict,
    /// Optimizer state.
    pub optimizer: O,
    /// Metrics so far.
    pub history: Vec<H>,
    /// Best validation loss so far and the epochs since it improved.
    pub best: (f32, usize),
}

/// Checkpoint kind string of training states. The `.2` marks the optimizer layout with `f64`
/// hyperparameters and vector states: a checkpoint of the earlier layout is refused by kind
/// instead of being misread.
pub const TRAIN_STATE_KIND: &str = "train_state.2";

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

/// One batch of a [`Batches`]: the model's input and what the loss compares its output with.
#[derive(Debug, Clone)]
pub struct Batch<T> {
    /// The input tensor, samples along axis 0 (images `[n, c, h, w]`, rows `[n, f]`, token ids
    /// `[n, t]`, point sets `[n, p, 3]`, clips `[n, t, c, h, w]`).
    pub input: Tensor,
    /// The targets of the same samples, in the same order.
    pub targets: T,
}

/// A training set the [`Trainer`] draws batches from: anything that can hand out the input tensor
/// and the targets of a list of sample indices. Batch `b` of epoch `e` is
/// `batch(&order(seed::derive(seed, &[e]))[b * batch_size..][..batch_size])`.
pub trait Batches {
    /// What the loss closure compares the model's output with (class labels, target tensors, next
    /// tokens).
    type Targets;

    /// Number of samples.
    fn len(&self) -> usize;

    /// True when there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The samples `indices`, in that order, as one batch. Errors when an index is out of range.
    fn batch(&self, indices: &[usize]) -> Result<Batch<Self::Targets>>;

    /// The order of the samples in the epoch whose shuffle seed is `seed` (a seeded
    /// [`permutation`] unless the set needs another order, such as sequences bucketed by length).
    fn order(&self, seed: u64) -> Vec<usize> {
        permutation(self.len(), seed)
    }
}

/// Samples along axis 0 of an array of any rank (images, feature rows, token ids), each with a
/// class label: the [`Batches`] of classification.
#[derive(Debug, Clone)]
pub struct LabelledArray<'a> {
    inputs: ArrayViewD<'a, f32>,
    labels: &'a [usize],
}

impl<'a> LabelledArray<'a> {
    /// `inputs` with one label per row of axis 0; errors naming both lengths otherwise.
    pub fn new<D: Dimension>(inputs: ArrayView<'a, f32, D>, labels: &'a [usize]) -> Result<Self> {
        let inputs = inputs.into_dyn();
        if inputs.ndim() == 0 || inputs.shape()[0] != labels.len() {
            return Err(shape_err("LabelledArray", inputs.shape(), &[labels.len()], "one label per sample (axis 0)"));
        }
        Ok(Self { inputs, labels })
    }

    /// The labels.
    pub fn labels(&self) -> &'a [usize] {
        self.labels
    }
}

impl Batches for LabelledArray<'_> {
    type Targets = Vec<usize>;

    fn len(&self) -> usize {
        self.labels.len()
    }

    fn batch(&self, indices: &[usize]) -> Result<Batch<Vec<usize>>> {
        if let Some(&i) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(arg_err("LabelledArray::batch", format!("sample {i} of a set of {}", self.len())));
        }
        Ok(Batch {
            input: self.inputs.select(Axis(0), indices),
            targets: indices.iter().map(|&i| self.labels[i]).collect(),
        })
    }
}

/// Cross-entropy loss, accuracy and predicted classes of `model` in evaluation mode over `data`,
/// in order, `batch_size` samples at a time.
pub fn evaluate_labelled(
    model: &mut dyn Module,
    data: &LabelledArray,
    batch_size: usize,
) -> Result<(f32, f32, Vec<usize>)> {
    let n = data.len();
    let (mut loss_sum, mut correct, mut predictions) = (0.0f64, 0usize, Vec::with_capacity(n));
    for start in (0..n).step_by(batch_size.max(1)) {
        let idx: Vec<usize> = (start..(start + batch_size).min(n)).collect();
        let batch = data.batch(&idx)?;
        let logits = model.forward(&Var::constant(batch.input), &mut Ctx::eval())?;
        loss_sum += ops::cross_entropy(&logits, &batch.targets)?.item()? as f64 * idx.len() as f64;
        for (row, &t) in logits.value().axis_iter(Axis(0)).zip(&batch.targets) {
            let p = argmax(row.iter().copied());
            correct += (p == t) as usize;
            predictions.push(p);
        }
    }
    Ok(((loss_sum / n.max(1) as f64) as f32, correct as f32 / n.max(1) as f32, predictions))
}

/// Loss, accuracy and predicted classes of `model` in evaluation mode.
pub fn evaluate(
    model: &mut dyn Module,
    images: &Array4<f32>,
    labels: &[usize],
    batch_size: usize,
) -> Result<(f32, f32, Vec<usize>)> {
    check_data(images, labels)?;
    evaluate_labelled(model, &LabelledArray::new(images.view(), labels)?, batch_size)
}

/// Index of the largest value (the first one on ties; 0 for an empty input): the predicted class of a
/// row of logits.
pub fn argmax(values: impl Iterator<Item = f32>) -> usize {
    values.enumerate().fold((0, f32::NEG_INFINITY), |(bi, bv), (i, v)| if v > bv { (i, v) } else { (bi, bv) }).0
}

/// Training loss and accuracy of one epoch, summed batch by batch (shared by [`Classification`] and
/// the distillation loop).
#[derive(Debug, Clone, Default)]
pub struct EpochTally {
    loss_sum: f64,
    correct: usize,
    seen: usize,
}

impl EpochTally {
    /// Adds a batch: its mean `loss` and the `logits` of its `targets`.
    pub fn add_batch(&mut self, loss: f32, logits: &Tensor, targets: &[usize]) {
        self.loss_sum += loss as f64 * targets.len() as f64;
        for (row, &t) in logits.axis_iter(Axis(0)).zip(targets) {
            self.correct += (argmax(row.iter().copied()) == t) as usize;
        }
        self.seen += targets.len();
    }

    /// The epoch's metrics, with `model` evaluated on `val`.
    pub fn finish(&self, epoch: usize, lr: f32, model: &mut dyn Module, val: &LabelledArray) -> Result<EpochMetrics> {
        let (val_loss, val_accuracy, _) = evaluate_labelled(model, val, 256)?;
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

/// A record of one epoch that early stopping can read.
pub trait EpochRecord {
    /// The validation loss of the epoch, if the record has one (records without one never count
    /// as an improvement).
    fn val_loss(&self) -> Option<f32>;
}

impl EpochRecord for EpochMetrics {
    fn val_loss(&self) -> Option<f32> {
        Some(self.val_loss)
    }
}

/// The metrics callbacks of a [`Trainer`]: one call per training step and one per epoch.
pub trait Metrics<T> {
    /// What an epoch yields: kept in the history, the checkpoint and the report.
    type Epoch: EpochRecord + Clone + Serialize + DeserializeOwned;

    /// After every step: the batch's loss, the model's output and the batch's targets.
    fn batch(&mut self, loss: f32, output: &Tensor, targets: &T) -> Result<()>;

    /// After the last step of `epoch` (trained with rate `lr`), before the checkpoint: the epoch's
    /// record, typically with a validation pass of `model`.
    fn epoch(&mut self, epoch: usize, lr: f32, model: &mut dyn Module) -> Result<Self::Epoch>;
}

/// Classification metrics: training loss and accuracy over the epoch's batches, validation loss and
/// accuracy on a labelled set after each epoch ([`EpochMetrics`]).
#[derive(Debug, Clone)]
pub struct Classification<'a> {
    val: LabelledArray<'a>,
    tally: EpochTally,
}

impl<'a> Classification<'a> {
    /// Metrics validated on `val`.
    pub fn new(val: LabelledArray<'a>) -> Self {
        Self { val, tally: EpochTally::default() }
    }
}

impl Metrics<Vec<usize>> for Classification<'_> {
    type Epoch = EpochMetrics;

    fn batch(&mut self, loss: f32, output: &Tensor, targets: &Vec<usize>) -> Result<()> {
        self.tally.add_batch(loss, output, targets);
        Ok(())
    }

    fn epoch(&mut self, epoch: usize, lr: f32, model: &mut dyn Module) -> Result<EpochMetrics> {
        std::mem::take(&mut self.tally).finish(epoch, lr, model, &self.val)
    }
}

/// The result of a training run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainReport<H = EpochMetrics> {
    /// Metrics of every epoch, including those before a resume.
    pub history: Vec<H>,
    /// True when early stopping ended the run.
    pub stopped_early: bool,
    /// The epoch the run resumed from (0 when it started fresh).
    pub resumed_from: usize,
}

/// Minibatch training of any model on any [`Batches`]: the settings of a [`TrainConfig`] and a loss
/// closure (model output and batch targets to a scalar loss).
///
/// A step forwards the batch in training mode with a [`Ctx`] seeded by `seed::derive(seed, &[epoch,
/// batch])`, computes the loss, back-propagates it, clips the global gradient norm when asked, and
/// steps the optimizer with the epoch's rate; the [`Metrics`] see every step and every epoch. With
/// a checkpoint path the run resumes from it when it exists and writes it after every epoch, so an
/// interrupted run continues bit-exactly; with a patience the run stops after that many epochs
/// without a better validation loss.
pub struct Trainer<T, L> {
    config: TrainConfig,
    loss: L,
    targets: std::marker::PhantomData<fn(&T)>,
}

impl<T, L> Trainer<T, L>
where
    L: FnMut(&Var, &T) -> Result<Var>,
{
    /// A trainer with `config` minimising `loss`.
    pub fn new(config: TrainConfig, loss: L) -> Self {
        Self { config, loss, targets: std::marker::PhantomData }
    }

    /// The settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Trains `model` with `optimizer` on `data`; errors on a zero batch size, on a checkpoint that
    /// cannot be read or does not fit the model, and on any error of a step or a callback.
    pub fn run<B, O, M>(
        &mut self,
        model: &mut dyn Module,
        optimizer: &mut O,
        data: &B,
        metrics: &mut M,
    ) -> Result<TrainReport<M::Epoch>>
    where
        B: Batches<Targets = T> + ?Sized,
        O: Optimizer + Serialize + DeserializeOwned + Clone,
        M: Metrics<T>,
    {
        let cfg = &self.config;
        if cfg.batch_size == 0 {
            return Err(arg_err("Trainer::run", "batch size must be positive"));
        }
        let mut history = Vec::new();
        let mut best = (f32::INFINITY, 0usize);
        let mut start_epoch = 0;
        if let Some(path) = &cfg.checkpoint
            && path.exists()
        {
            let state: TrainState<O, M::Epoch> = checkpoint::load(path, TRAIN_STATE_KIND)?;
            nn::load_state_dict(model, &state.model)?;
            *optimizer = state.optimizer;
            history = state.history;
            best = state.best;
            start_epoch = state.epochs_done;
        }
        let batches_per_epoch = data.len().div_ceil(cfg.batch_size);
        let bar = if cfg.progress {
            let bar = indicatif::ProgressBar::new((cfg.epochs * batches_per_epoch) as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} batches, epoch {msg} [{elapsed} < {eta}]",
                )
                .map_err(|e| arg_err("Trainer::run", format!("progress template: {e}")))?,
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
            let order = data.order(seed::derive(cfg.seed, &[epoch as u64]));
            for (b, chunk) in order.chunks(cfg.batch_size).enumerate() {
                let batch = data.batch(chunk)?;
                let mut ctx = Ctx::train(seed::derive(cfg.seed, &[epoch as u64, b as u64]));
                let output = model.forward(&Var::constant(batch.input), &mut ctx)?;
                let loss = (self.loss)(&output, &batch.targets)?;
                let value = loss.item()?;
                loss.backward()?;
                nn::zero_grads(model);
                nn::accumulate_grads(model, &ctx);
                if let Some(max) = cfg.clip_grad_norm {
                    clip_grad_norm(model, max);
                }
                optimizer.step(model, lr);
                metrics.batch(value, output.value(), &batch.targets)?;
                bar.set_message(format!("{}/{}", epoch + 1, cfg.epochs));
                bar.inc(1);
            }
            let record = metrics.epoch(epoch, lr, model)?;
            best = match record.val_loss() {
                Some(v) if v < best.0 => (v, 0),
                _ => (best.0, best.1 + 1),
            };
            history.push(record);
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
}

/// Trains `model` with cross-entropy on `(train_images, train_labels)`, validating on
/// `(val_images, val_labels)` after each epoch: the [`Trainer`] on a [`LabelledArray`] with
/// [`Classification`] metrics.
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
    let train = LabelledArray::new(train.0.view(), train.1)?;
    let mut metrics = Classification::new(LabelledArray::new(val.0.view(), val.1)?);
    Trainer::new(cfg.clone(), |logits: &Var, labels: &Vec<usize>| ops::cross_entropy(logits, labels)).run(
        model,
        optimizer,
        &train,
        &mut metrics,
    )
}
