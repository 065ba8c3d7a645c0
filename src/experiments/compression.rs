//! What the compression labs share: the two datasets (the bundled digits and a synthetic 32x32 set),
//! one training recipe, and test accuracy.

use super::ExperimentError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tinylab_classical::ClassicalError;
use tinylab_classical::data::{DIGITS_SOURCE, ImageDataset, digits, synthetic};
use tinylab_classical::nn::Module;
use tinylab_classical::optim::{LrSchedule, Optimizer, Sgd};
use tinylab_classical::train::{EpochMetrics, TrainConfig, evaluate, fit};

/// A train / test split and where it came from.
pub(crate) struct Split {
    /// Training images.
    pub train: ImageDataset,
    /// Held-out images (accuracy is reported on these).
    pub test: ImageDataset,
    /// A sentence for the configuration.
    pub source: String,
}

/// The bundled digits, stratified 80/20.
pub(crate) fn digits_split(seed: u64) -> Result<Split, ExperimentError> {
    let all = digits().map_err(ClassicalError::from)?;
    let (train, test) = all.stratified_split(0.8, seed).map_err(ClassicalError::from)?;
    Ok(Split { train, test, source: format!("{DIGITS_SOURCE}; stratified 80/20 split") })
}

/// `n` synthetic shape images of `size x size` with pixel noise 0.8 (bars, squares, diagonals at
/// random places; see `synthetic::shapes`), split 80/20.
pub(crate) fn shapes_split(n: usize, size: usize, seed: u64) -> Result<Split, ExperimentError> {
    split_80_20(
        synthetic::shapes(n, size, 0.8, seed),
        format!("synthetic::shapes({n} images, {size}x{size}"),
        0.8,
        seed,
    )
}

/// The same shapes recoloured in RGB (`synthetic::colored_shapes`) with pixel noise `noise`, split 80/20.
pub(crate) fn colored_shapes_split(n: usize, size: usize, noise: f32, seed: u64) -> Result<Split, ExperimentError> {
    let data = synthetic::colored_shapes(n, size, noise, seed);
    split_80_20(data, format!("synthetic::colored_shapes({n} images, 3x{size}x{size}"), noise, seed)
}

fn split_80_20(
    all: Result<ImageDataset, tinylab_classical::data::DataError>,
    what: String,
    noise: f32,
    seed: u64,
) -> Result<Split, ExperimentError> {
    let all = all.map_err(ClassicalError::from)?;
    let (train, test) = all.stratified_split(0.8, seed).map_err(ClassicalError::from)?;
    Ok(Split { train, test, source: format!("{what}, noise {noise}), stratified 80/20 split") })
}

/// SGD with momentum 0.9, weight decay 5e-4 and a cosine learning rate: the recipe of every lab.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recipe {
    /// Epochs.
    pub epochs: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Minibatch size.
    pub batch_size: usize,
    /// Epochs of linear warm-up before the cosine decay.
    pub warmup: usize,
}

impl Recipe {
    /// The cosine schedule of this recipe.
    pub fn schedule(&self) -> LrSchedule {
        LrSchedule::Cosine { base: self.lr as f32, min: 0.0, warmup: self.warmup, total: self.epochs }
    }

    /// The recipe for the configuration file, with SGD (momentum 0.9, weight decay 5e-4) as
    /// [`Recipe::train`] runs it.
    pub fn describe(&self) -> Value {
        self.describe_with(json!({"optimizer": "sgd", "momentum": 0.9, "weight_decay": 5e-4}))
    }

    /// The schedule of the recipe for the configuration file, merged with the description of the
    /// optimizer that runs it (an object).
    pub fn describe_with(&self, optimizer: Value) -> Value {
        let mut v = optimizer;
        if let Value::Object(m) = &mut v {
            for (key, value) in [
                ("lr", json!(self.lr)),
                ("schedule", json!("cosine")),
                ("warmup_epochs", json!(self.warmup)),
                ("epochs", json!(self.epochs)),
                ("batch_size", json!(self.batch_size)),
            ] {
                m.insert(key.to_string(), value);
            }
        }
        v
    }

    /// Trains `model` with SGD (momentum 0.9, weight decay 5e-4) on `split.train`, validating on
    /// `split.test`; returns the history.
    pub fn train(
        &self,
        model: &mut dyn Module,
        split: &Split,
        seed: u64,
    ) -> Result<Vec<EpochMetrics>, ExperimentError> {
        self.train_with(model, &mut Sgd::new(0.9, 5e-4), split, seed)
    }

    /// The same with any optimizer (a codebook fine-tuner, say).
    pub fn train_with<O>(
        &self,
        model: &mut dyn Module,
        optimizer: &mut O,
        split: &Split,
        seed: u64,
    ) -> Result<Vec<EpochMetrics>, ExperimentError>
    where
        O: Optimizer + Serialize + DeserializeOwned + Clone,
    {
        let cfg = TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.schedule(),
            seed,
            patience: None,
            clip_grad_norm: None,
            progress: true,
            checkpoint: None,
        };
        let train = (&split.train.images, split.train.labels.as_slice());
        let test = (&split.test.images, split.test.labels.as_slice());
        Ok(fit(model, optimizer, train, test, &cfg)?.history)
    }
}

/// Accuracy of `model` on the test images.
pub(crate) fn test_accuracy(model: &mut dyn Module, split: &Split) -> Result<f32, ExperimentError> {
    Ok(evaluate(model, &split.test.images, &split.test.labels, 256)?.1)
}
