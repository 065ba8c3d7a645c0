//! `digits_cnn`: the reference CNN of `../shared/peers/bench_torch.py`, adapted to 8x8 inputs, trained
//! on the bundled UCI optdigits digits.
//!
//! A stratified 80/20 split (seeded), SGD with momentum 0.9 and weight decay 5e-4, a cosine learning
//! rate from 0.05 with one warm-up epoch, batch 32. Reports test accuracy, the per-epoch history, a
//! loss curve, an accuracy curve and the confusion matrix on the test set.

use super::trials::{Spread, TRIALS, trial_seeds};
use super::{Experiment, ExperimentError, Metrics, RunContext};
use crate::plot::{HeatMap, LineChart, Series};
use serde_json::json;
use std::time::Instant;
use tinylab_classical::data::{DIGITS_SOURCE, digits};
use tinylab_classical::nn::zoo;
use tinylab_classical::optim::{LrSchedule, Sgd};
use tinylab_classical::train::{TrainConfig, evaluate, fit};

/// The `digits_cnn` experiment (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct DigitsCnn;

/// Fraction of the digits used for training.
const TRAIN_FRACTION: f64 = 0.8;

impl Experiment for DigitsCnn {
    fn name(&self) -> &'static str {
        "digits_cnn"
    }

    fn description(&self) -> &'static str {
        "the reference CNN (conv16-bn-relu-pool, conv32-bn-relu-pool, linear) trained on the bundled 8x8 \
         UCI digits: test accuracy, loss and accuracy curves, confusion matrix"
    }

    fn run(&self, ctx: &mut RunContext) -> Result<Metrics, ExperimentError> {
        let epochs = if ctx.quick { 3 } else { 15 };
        let batch_size = 32;
        let (base_lr, warmup, momentum, weight_decay) = (0.05f64, 1, 0.9f64, 5e-4f64);
        let lr = LrSchedule::Cosine { base: base_lr as f32, warmup, total: epochs, min: 0.0 };
        ctx.set_config("data", DIGITS_SOURCE);
        ctx.set_config("train_fraction", TRAIN_FRACTION);
        ctx.set_config("split", "stratified by class, seeded");
        ctx.set_config("model", "reference_cnn(1 channel, 8x8, 10 classes)");
        ctx.set_config("optimizer", json!({"kind": "sgd", "momentum": momentum, "weight_decay": weight_decay}));
        ctx.set_config("lr_schedule", json!({"kind": "cosine", "base": base_lr, "warmup_epochs": warmup, "min": 0.0}));
        ctx.set_config("epochs", epochs);
        ctx.set_config("batch_size", batch_size);

        let all = digits().map_err(tinylab_classical::ClassicalError::from)?;
        let (train, test) =
            all.stratified_split(TRAIN_FRACTION, ctx.seed).map_err(tinylab_classical::ClassicalError::from)?;
        ctx.set_config(
            "trials",
            json!({"count": TRIALS, "seeds": trial_seeds(ctx.seed, TRIALS),
                                        "varies": "initial weights and batch order (same split)"}),
        );
        // One training run per trial seed; trial 0 (the run's own seed) gives the curves and the
        // confusion matrix, all trials the spread of the test accuracy.
        let train_one = |seed: u64| -> Result<_, ExperimentError> {
            let mut model = zoo::reference_cnn(1, 8, 10, seed)?;
            let mut optimizer = Sgd::new(momentum, weight_decay);
            let cfg = TrainConfig {
                epochs,
                batch_size,
                lr,
                seed,
                patience: None,
                clip_grad_norm: None,
                progress: true,
                checkpoint: None,
            };
            let report =
                fit(&mut model, &mut optimizer, (&train.images, &train.labels), (&test.images, &test.labels), &cfg)?;
            let evaluation = evaluate(&mut model, &test.images, &test.labels, 256)?;
            Ok((report, evaluation))
        };
        let start = Instant::now();
        let (report, (test_loss, test_accuracy, predictions)) = train_one(ctx.seed)?;
        let train_seconds = start.elapsed().as_secs_f64();
        let mut trial_accuracies = vec![test_accuracy as f64];
        for seed in trial_seeds(ctx.seed, TRIALS).into_iter().skip(1) {
            trial_accuracies.push(train_one(seed)?.1.1 as f64);
        }

        let mut confusion = vec![vec![0usize; 10]; 10];
        for (&truth, &predicted) in test.labels.iter().zip(&predictions) {
            confusion[truth][predicted] += 1;
        }
        let mut metrics = Metrics::new();
        metrics.insert("train_samples", train.len());
        metrics.insert("test_samples", test.len());
        metrics.insert("test_accuracy", test_accuracy);
        let spread = Spread::of(&trial_accuracies);
        metrics.insert("trials", json!({"test_accuracy": spread.to_json()}));
        metrics.insert("test_loss", test_loss);
        metrics.insert("final_train_loss", report.history.last().map_or(f32::NAN, |h| h.train_loss));
        metrics.insert("history", serde_json::to_value(&report.history).map_err(ExperimentError::other)?);
        metrics.insert("confusion_matrix", json!(confusion));
        metrics.insert_timing("train_seconds", train_seconds);

        let curve = |pick: fn(&tinylab_classical::train::EpochMetrics) -> f32| -> Vec<f64> {
            report.history.iter().map(|h| pick(h) as f64).collect()
        };
        let epochs_axis = |ys: Vec<f64>| ys.into_iter().enumerate().map(|(e, y)| ((e + 1) as f64, y)).collect();
        ctx.plot(
            "loss",
            &LineChart {
                title: "digits CNN: cross-entropy per epoch".into(),
                x_label: "epoch".into(),
                y_label: "loss".into(),
                series: vec![
                    Series::new("train", epochs_axis(curve(|h| h.train_loss))),
                    Series::new("test", epochs_axis(curve(|h| h.val_loss))),
                ],
                log_y: true,
                markers: true,
            },
        )?;
        ctx.plot(
            "accuracy",
            &LineChart {
                title: "digits CNN: accuracy per epoch".into(),
                x_label: "epoch".into(),
                y_label: "accuracy".into(),
                series: vec![
                    Series::new("train", epochs_axis(curve(|h| h.train_accuracy))),
                    Series::new("test", epochs_axis(curve(|h| h.val_accuracy))),
                ],
                log_y: false,
                markers: true,
            },
        )?;
        let labels: Vec<String> = (0..10).map(|d| d.to_string()).collect();
        ctx.plot(
            "confusion_matrix",
            &HeatMap {
                title: format!("digits CNN: test confusion matrix ({:.2}% correct)", 100.0 * test_accuracy),
                x_label: "predicted digit".into(),
                y_label: "true digit".into(),
                values: confusion.iter().map(|row| row.iter().map(|&c| c as f64).collect()).collect(),
                row_labels: labels.clone(),
                col_labels: labels,
                cell_labels: true,
                range: None,
            },
        )?;
        ctx.note(format!(
            "{} training and {} test images; {epochs} epochs took {train_seconds:.2} s on this machine. \
             The test set doubles as the validation set of the curves (no model selection is done on it). \
             Over {TRIALS} trials (seeds {:?}) the test accuracy is {:.2}% ± {:.2} (range {:.2} to {:.2}).",
            train.len(),
            test.len(),
            trial_seeds(ctx.seed, TRIALS),
            100.0 * spread.mean,
            100.0 * spread.std,
            100.0 * spread.min,
            100.0 * spread.max
        ));
        Ok(metrics)
    }
}
