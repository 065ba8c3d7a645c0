//! The anomaly-detection entry of `mlperf_tiny`: the FC autoencoder trained on normal machine-sound
//! vectors only (mean squared reconstruction error, Adam, as the DCASE 2020 baseline trains it), and
//! the ROC AUC of each test clip's mean reconstruction error, normal clips against faulty ones.

use super::super::ExperimentError;
use ndarray::{Array4, Axis, Slice};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tinylab_classical::data::machine_sound::{Fault, MachineSoundSet};
use tinylab_classical::nn::{Ctx, Module};
use tinylab_classical::optim::{Adam, LrSchedule};
use tinylab_classical::stats::roc_auc;
use tinylab_classical::train::{Batch, Batches, EpochRecord, Metrics, TrainConfig, Trainer};
use tinylab_classical::{ClassicalError, Tensor, Var, ops};

/// Standardises features with one mean and one standard deviation taken over every value of the
/// training vectors (decibels are on an arbitrary offset; the int8 input quantizer then sees values
/// of order one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Standardize {
    /// Mean of the training values (dB).
    pub mean: f32,
    /// Their standard deviation (dB).
    pub std: f32,
}

impl Standardize {
    /// The statistics of `train`.
    pub fn fit(train: &Array4<f32>) -> Self {
        let n = train.len().max(1) as f64;
        let mean = train.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = train.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        Self { mean: mean as f32, std: (var.sqrt() as f32).max(1e-6) }
    }

    /// `(x - mean) / std`.
    pub fn apply(&self, x: &Array4<f32>) -> Array4<f32> {
        x.mapv(|v| (v - self.mean) / self.std)
    }
}

/// Vectors whose target is themselves, flattened: the [`Batches`] of an autoencoder.
struct Reconstruction<'a> {
    inputs: &'a Array4<f32>,
}

impl Batches for Reconstruction<'_> {
    type Targets = Tensor;

    fn len(&self) -> usize {
        self.inputs.shape()[0]
    }

    fn batch(&self, indices: &[usize]) -> tinylab_classical::Result<Batch<Tensor>> {
        if let Some(&i) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(ClassicalError::InvalidArgument {
                op: "Reconstruction::batch",
                why: format!("sample {i} of a set of {}", self.len()),
            });
        }
        let input = self.inputs.select(Axis(0), indices).into_dyn();
        let targets = flatten_rows(&input)?;
        Ok(Batch { input, targets })
    }
}

/// Rows `range` of `x` (along the sample axis), copied.
pub(super) fn rows(x: &Array4<f32>, range: std::ops::Range<usize>) -> Array4<f32> {
    x.slice_axis(Axis(0), Slice::from(range)).to_owned()
}

/// `(N, ...)` as `(N, prod(...))`.
fn flatten_rows(x: &Tensor) -> tinylab_classical::Result<Tensor> {
    let n = x.shape()[0];
    let per = x.len() / n.max(1);
    x.as_standard_layout().into_owned().into_shape_with_order(vec![n, per]).map_err(|e| {
        ClassicalError::InvalidArgument { op: "flatten_rows", why: format!("{:?} to ({n}, {per}): {e}", x.shape()) }
    })
}

/// One epoch of autoencoder training: mean training loss over the batches, and the mean
/// reconstruction error of the held-out normal vectors.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(super) struct AeEpoch {
    /// 0-based epoch.
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f32,
    /// Mean training MSE.
    pub train_loss: f32,
    /// MSE on the validation vectors.
    pub val_loss: f32,
}

impl EpochRecord for AeEpoch {
    fn val_loss(&self) -> Option<f32> {
        Some(self.val_loss)
    }
}

struct AeMetrics<'a> {
    val: &'a Array4<f32>,
    loss_sum: f64,
    seen: usize,
}

impl Metrics<Tensor> for AeMetrics<'_> {
    type Epoch = AeEpoch;

    fn batch(&mut self, loss: f32, _: &Tensor, targets: &Tensor) -> tinylab_classical::Result<()> {
        let n = targets.shape()[0];
        self.loss_sum += loss as f64 * n as f64;
        self.seen += n;
        Ok(())
    }

    fn epoch(&mut self, epoch: usize, lr: f32, model: &mut dyn Module) -> tinylab_classical::Result<AeEpoch> {
        let errors = float_errors(model, self.val)?;
        let val_loss = (errors.iter().sum::<f64>() / errors.len().max(1) as f64) as f32;
        let train_loss = (self.loss_sum / self.seen.max(1) as f64) as f32;
        (self.loss_sum, self.seen) = (0.0, 0);
        Ok(AeEpoch { epoch, lr, train_loss, val_loss })
    }
}

/// The training settings of the autoencoder.
#[derive(Debug, Clone, Copy)]
pub(super) struct AeRecipe {
    /// Epochs.
    pub epochs: usize,
    /// Adam's rate (constant, as the baseline's).
    pub lr: f32,
    /// Vectors per step.
    pub batch_size: usize,
}

impl AeRecipe {
    /// For the configuration file.
    pub fn describe(&self) -> Value {
        json!({"optimizer": "adam", "lr": self.lr, "schedule": "constant", "epochs": self.epochs,
               "batch_size": self.batch_size, "loss": "mse of the 640 inputs", "data": "normal vectors only"})
    }

    /// Trains `model` on `train` (normal vectors), validating on `val` (held-out normal vectors);
    /// resumes from and writes `checkpoint` when given.
    pub fn train(
        &self,
        model: &mut dyn Module,
        train: &Array4<f32>,
        val: &Array4<f32>,
        seed: u64,
        checkpoint: Option<std::path::PathBuf>,
    ) -> Result<Vec<AeEpoch>, ExperimentError> {
        let cfg = TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: LrSchedule::Constant { base: self.lr },
            seed,
            patience: None,
            clip_grad_norm: None,
            progress: true,
            checkpoint,
        };
        let mut trainer = Trainer::new(cfg, |out: &Var, target: &Tensor| ops::mse(out, &Var::constant(target.clone())));
        let mut metrics = AeMetrics { val, loss_sum: 0.0, seen: 0 };
        let report = trainer.run(model, &mut Adam::new(0.0), &Reconstruction { inputs: train }, &mut metrics)?;
        Ok(report.history)
    }
}

/// Mean squared reconstruction error of each vector of `x` against its `reconstruction` `(N, 640)`.
fn errors_of(x: &Array4<f32>, reconstruction: &Tensor) -> tinylab_classical::Result<Vec<f64>> {
    let target = flatten_rows(&x.clone().into_dyn())?;
    if target.shape() != reconstruction.shape() {
        return Err(tinylab_classical::error::shape_err(
            "errors_of",
            target.shape(),
            reconstruction.shape(),
            "a reconstruction per flattened input",
        ));
    }
    Ok(target
        .outer_iter()
        .zip(reconstruction.outer_iter())
        .map(|(t, r)| t.iter().zip(r.iter()).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>() / t.len() as f64)
        .collect())
}

/// Reconstruction errors of the float model (evaluation mode), 512 vectors at a time.
pub(super) fn float_errors(model: &mut dyn Module, x: &Array4<f32>) -> tinylab_classical::Result<Vec<f64>> {
    let n = x.shape()[0];
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(512) {
        let chunk = rows(x, start..(start + 512).min(n));
        let y = model.forward(&Var::constant(chunk.clone().into_dyn()), &mut Ctx::eval())?;
        out.extend(errors_of(&chunk, y.value())?);
    }
    Ok(out)
}

/// Reconstruction errors of the int8 engine (its dequantized output against the float input).
pub(super) fn int8_errors(
    q: &tinylab_classical::int8::Int8Model,
    x: &Array4<f32>,
) -> tinylab_classical::Result<Vec<f64>> {
    let n = x.shape()[0];
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(512) {
        let chunk = rows(x, start..(start + 512).min(n));
        let y = q.forward(&chunk.clone().into_dyn())?;
        out.extend(errors_of(&chunk, &y)?);
    }
    Ok(out)
}

/// The AUC of the clip scores (mean vector error per clip), normal clips against all faulty ones,
/// and against each fault alone.
pub(super) fn auc_report(set: &MachineSoundSet, vector_errors: &[f64]) -> Result<(f64, Value), ExperimentError> {
    let scores = set.clip_scores(vector_errors)?;
    let normal: Vec<f64> = scores.iter().zip(&set.test_faults).filter(|(_, f)| f.is_none()).map(|(s, _)| *s).collect();
    let faulty: Vec<f64> = scores.iter().zip(&set.test_faults).filter(|(_, f)| f.is_some()).map(|(s, _)| *s).collect();
    let auc = roc_auc(&normal, &faulty)?;
    let mut per_fault = serde_json::Map::new();
    for fault in Fault::ALL {
        let these: Vec<f64> =
            scores.iter().zip(&set.test_faults).filter(|(_, f)| **f == Some(fault)).map(|(s, _)| *s).collect();
        if !these.is_empty() {
            per_fault.insert(fault.name().into(), json!(roc_auc(&normal, &these)?));
        }
    }
    Ok((auc, Value::Object(per_fault)))
}
