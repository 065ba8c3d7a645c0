//! `quantumnat`: QuantumNAT's ablation (Wang et al., "QuantumNAT: Quantum Noise-Aware Training with
//! Noise Injection, Quantization and Normalization", DAC 2022) on IBM device noise models.
//!
//! Three tasks: pooled digits 0-3 (4 classes) and 3 vs 6 (2 classes) with TorchQuantum's
//! `"4x4_ryzxy"` encoder, and four Gaussian blobs in 8 dimensions (RY then RZ encoding). Each model
//! has two blocks, as the paper's multi-block QNNs: block 1 is the encoder and two layers of U3 on
//! every qubit and RZZ on the ring, read out as `<Z_0..Z_3>`; block 2 encodes those four outcomes as
//! RY angles, adds one layer and reads one `<Z_i>` per class as the logits. Each block is compiled
//! for the device (its basis and coupling map, trivial layout) with the angles symbolic, and the
//! whole chain is trained end to end with Adam on the cross-entropy. The variants, in the paper's
//! cumulative order (its Table 3), plus noise injection alone:
//!
//! 1. `baseline`: noise-free training, raw `<Z_i>` passed on and used as logits (TorchQuantum's
//!    MNIST recipe);
//! 2. `injection_only`: Pauli and readout errors drawn from the device's model into every training
//!    pass;
//! 3. `norm`: noise-free training, each block's outcomes normalized over the batch (on the device,
//!    with the statistics of the device's own outcomes on the test set);
//! 4. `norm+inject`: normalization and noise injection;
//! 5. `norm+inject+quant`: QuantumNAT, block 1's normalized outcomes also snapped to 5 levels
//!    (straight-through in training) before block 2 reads them. The logits stay continuous:
//!    quantizing them would only create ties.
//!
//! Every variant is trained on three seeds per device (IBM manila, quito — the noisiest built-in
//! profile — and jakarta) and evaluated noise-free and on the device's density-matrix model with
//! readout error and 8192 shots per test input. A sweep then varies the quantizer's levels for the
//! full method on digits 0-3.

use super::{Experiment, ExperimentError, Metrics, RunContext};
use crate::plot::{BarChart, BarGroup, LineChart, Series};
use serde_json::json;
use std::time::Instant;
use tinylab_classical::data::{ImageDataset, synthetic};
use tinylab_classical::nn::{Ctx, Module};
use tinylab_classical::optim::{Adam, Optimizer};
use tinylab_classical::seed;
use tinylab_classical::stats::mean;
use tinylab_classical::train::permutation;
use tinylab_classical::{Var, ops, tensor};
use tinylab_noise::DeviceProfile;
use tinylab_noise::robust::nat::{NatBlock, NatClassifier, OutcomeQuantizer, PostProcess};
use tinylab_quantum::Circuit;
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::qml::encoders::{self, Rotation};
use tinylab_quantum::qml::tasks::{PooledDigits, angles};

/// The `quantumnat` experiment (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct QuantumNat;

/// Fraction of each task's samples used for training (stratified, seeded).
const TRAIN_FRACTION: f64 = 0.8;
/// U3 + RZZ layers of the first block (after the task's encoder) and of the second (after an RY
/// encoding of the first block's four outcomes).
const LAYERS: [usize; 2] = [2, 1];
/// Minibatch size (also the batch of the normalization statistics in training).
const BATCH: usize = 32;
/// Adam learning rate.
const LR: f32 = 0.02;
/// Noise factor of the injected errors.
const NOISE_FACTOR: f64 = 0.5;
/// Levels and clip of the post-measurement quantizer.
const LEVELS: usize = 5;
const CLIP: f32 = 2.0;
/// Levels tried in the quantization sweep.
const SWEEP_LEVELS: [usize; 4] = [3, 5, 9, 17];
/// Shots per test input on the device.
const SHOTS: usize = 8192;

/// A classification task as feature rows.
struct Task {
    name: &'static str,
    /// A few characters for chart labels.
    short: &'static str,
    n_features: usize,
    classes: usize,
    train_x: Vec<f32>,
    train_y: Vec<usize>,
    test_x: Vec<f32>,
    test_y: Vec<usize>,
}

/// One training recipe of the ablation.
#[derive(Debug, Clone, Copy)]
struct Variant {
    name: &'static str,
    inject: bool,
    normalize: bool,
    /// Levels of the post-measurement quantizer (`None`: no quantization).
    levels: Option<usize>,
}

/// The ablation in the paper's cumulative order (Table 3: baseline, + post-measurement
/// normalization, + gate insertion, + post-measurement quantization), plus injection alone.
const VARIANTS: [Variant; 5] = [
    Variant { name: "baseline", inject: false, normalize: false, levels: None },
    Variant { name: "injection_only", inject: true, normalize: false, levels: None },
    Variant { name: "norm", inject: false, normalize: true, levels: None },
    Variant { name: "norm+inject", inject: true, normalize: true, levels: None },
    Variant { name: "norm+inject+quant", inject: true, normalize: true, levels: Some(LEVELS) },
];

fn digits_task(name: &'static str, short: &'static str, keep: &[usize], seed: u64) -> Result<Task, ExperimentError> {
    let PooledDigits { train, test } = PooledDigits::new(keep, TRAIN_FRACTION, seed)?;
    let scaled = |d: &ImageDataset| angles(d.images.iter());
    Ok(Task {
        name,
        short,
        n_features: 16,
        classes: keep.len(),
        train_x: scaled(&train),
        train_y: train.labels.clone(),
        test_x: scaled(&test),
        test_y: test.labels.clone(),
    })
}

/// Four Gaussian blobs in 8 dimensions, each feature mapped to `[0, π]` by the training set's range.
fn blobs_task(seed: u64) -> Result<Task, ExperimentError> {
    let data = synthetic::gaussian_mixture(400, 4, 8, 1.5, seed::derive(seed, &[5]))?;
    let (train, test) = data.stratified_split(TRAIN_FRACTION, seed)?;
    let rows = |d: &ImageDataset| -> Vec<f32> { d.images.iter().copied().collect() };
    let (train_raw, test_raw) = (rows(&train), rows(&test));
    let (mut lo, mut hi) = ([f32::INFINITY; 8], [f32::NEG_INFINITY; 8]);
    for row in train_raw.chunks(8) {
        for f in 0..8 {
            lo[f] = lo[f].min(row[f]);
            hi[f] = hi[f].max(row[f]);
        }
    }
    let scale = |raw: &[f32]| -> Vec<f32> {
        raw.chunks(8)
            .flat_map(|row| (0..8).map(move |f| (row[f] - lo[f]) / (hi[f] - lo[f]) * std::f32::consts::PI))
            .collect()
    };
    Ok(Task {
        name: "blobs_4x8",
        short: "blobs",
        n_features: 8,
        classes: 4,
        train_x: scale(&train_raw),
        train_y: train.labels.clone(),
        test_x: scale(&test_raw),
        test_y: test.labels.clone(),
    })
}

/// Appends `layers` of U3 on each of 4 qubits and RZZ on the ring, parameters named `{tag}_...`.
fn append_layers(c: &mut Circuit, layers: usize, tag: &str) -> Result<(), ExperimentError> {
    for l in 0..layers {
        for q in 0..4 {
            let a: Vec<_> = (0..3).map(|k| c.param(&format!("{tag}_u3_{l}_{q}_{k}"))).collect::<Result<_, _>>()?;
            c.u3(a[0], a[1], a[2], q)?;
        }
        for q in 0..4 {
            let t = c.param(&format!("{tag}_rzz_{l}_{q}"))?;
            c.rzz(t, q, (q + 1) % 4)?;
        }
    }
    Ok(())
}

/// The two logical circuits of a task: the task's encoder and `LAYERS[0]` layers, read out as
/// `<Z_0..Z_3>`; then those four outcomes as `RY` angles and `LAYERS[1]` layers, read out as one
/// `<Z_i>` per class.
fn logical_circuits(task: &Task) -> Result<[Circuit; 2], ExperimentError> {
    let mut first = Circuit::new(4);
    if task.n_features == 16 {
        encoders::ryzxy_4x4(&mut first)?;
    } else {
        encoders::angle_encoding(&mut first, Rotation::Y, &[0, 1, 2, 3], 0, 1.0)?;
        encoders::angle_encoding(&mut first, Rotation::Z, &[0, 1, 2, 3], 4, 1.0)?;
    }
    append_layers(&mut first, LAYERS[0], "b0")?;
    let mut second = Circuit::new(4);
    encoders::angle_encoding(&mut second, Rotation::Y, &[0, 1, 2, 3], 0, 1.0)?;
    append_layers(&mut second, LAYERS[1], "b1")?;
    Ok([first, second])
}

/// Accuracy of `logits` (`classes` per row) with argmax ties broken uniformly at random, counted in
/// expectation: a row whose label is among `k` tied maxima scores `1/k`. Quantized outcomes tie often
/// (5 levels); taking the first maximum would favour class 0.
fn accuracy(logits: &[f64], classes: usize, labels: &[usize]) -> f64 {
    let score = |row: &[f64], label: usize| {
        let best = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let tied = row.iter().filter(|&&v| v == best).count();
        if row[label] == best { 1.0 / tied as f64 } else { 0.0 }
    };
    let total: f64 = logits.chunks(classes).zip(labels).map(|(row, &l)| score(row, l)).sum();
    total / labels.len().max(1) as f64
}

/// Trains `model` on the task with Adam; returns the mean loss per epoch.
fn train(model: &mut NatClassifier, task: &Task, epochs: usize, seed: u64) -> Result<Vec<f64>, ExperimentError> {
    let mut optimizer = Adam::new(0.0);
    let n = task.train_y.len();
    let f = task.n_features;
    let mut losses = Vec::with_capacity(epochs);
    for epoch in 0..epochs {
        let order = permutation(n, seed::derive(seed, &[100 + epoch as u64]));
        let mut total = 0.0;
        for chunk in order.chunks(BATCH) {
            let x: Vec<f32> = chunk.iter().flat_map(|&i| task.train_x[i * f..(i + 1) * f].iter().copied()).collect();
            let labels: Vec<usize> = chunk.iter().map(|&i| task.train_y[i]).collect();
            let mut ctx = Ctx::train(0);
            let logits = model.forward(&Var::constant(tensor::from_vec(&[chunk.len(), f], x)?), &mut ctx)?;
            let loss = ops::cross_entropy(&logits, &labels)?;
            total += loss.item()? as f64 * chunk.len() as f64;
            optimizer.backward_step(model, &loss, &ctx, LR)?;
        }
        losses.push(total / n as f64);
    }
    Ok(losses)
}

/// What one trained variant measured.
struct VariantResult {
    noiseless: f64,
    device: f64,
}

/// Trains one variant of `task` for `device` and evaluates it.
fn run_variant(
    task: &Task,
    profile: &DeviceProfile,
    variant: Variant,
    epochs: usize,
    seed: u64,
) -> Result<(VariantResult, serde_json::Value), ExperimentError> {
    let Variant { name, inject, normalize, levels } = variant;
    let [first, second] = logical_circuits(task)?;
    let hidden: Vec<PauliSum> = (0..4).map(PauliSum::z).collect::<Result<_, _>>()?;
    let readout: Vec<PauliSum> = (0..task.classes).map(PauliSum::z).collect::<Result<_, _>>()?;
    // Quantization snaps the outcomes a later block reads; the last block's outcomes are the logits
    // and stay continuous (quantizing them would only create ties).
    let quantizer = levels.map(|l| OutcomeQuantizer::new(l, CLIP)).transpose()?;
    let blocks = vec![
        NatBlock::new(
            &first,
            &hidden,
            profile,
            None,
            PostProcess { normalize, quantize: quantizer },
            seed::derive(seed, &[1]),
        ),
        NatBlock::new(
            &second,
            &readout,
            profile,
            None,
            PostProcess { normalize, quantize: None },
            seed::derive(seed, &[4]),
        ),
    ]
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    let mut model = NatClassifier::new(blocks)?;
    if inject {
        model = model.with_noise_injection(NOISE_FACTOR, seed::derive(seed, &[2]))?;
    }
    let start = Instant::now();
    let losses = train(&mut model, task, epochs, seed)?;
    let train_seconds = start.elapsed().as_secs_f64();

    let n_test = task.test_y.len();
    let test = Var::constant(tensor::from_vec(&[n_test, task.n_features], task.test_x.clone())?);
    let noiseless_logits: Vec<f64> =
        model.forward(&test, &mut Ctx::eval())?.value().iter().map(|&v| v as f64).collect();
    let noiseless = accuracy(&noiseless_logits, task.classes, &task.test_y);
    let inputs: Vec<f64> = task.test_x.iter().map(|&v| v as f64).collect();
    let start = Instant::now();
    let device_logits = model.device_logits(&inputs, Some(SHOTS), seed::derive(seed, &[3]))?;
    let device = accuracy(&device_logits, task.classes, &task.test_y);
    let stats = model.blocks.iter().map(|b| b.deployed().map(|d| d.stats())).collect::<Result<Vec<_>, _>>()?;
    let record = json!({
        "variant": name,
        "test_accuracy_noiseless": noiseless,
        "test_accuracy_device": device,
        "final_train_loss": losses.last().copied(),
        "train_loss_per_epoch": losses,
        "device_circuits": stats,
        "train_seconds": train_seconds,
        "device_eval_seconds": start.elapsed().as_secs_f64(),
    });
    Ok((VariantResult { noiseless, device }, record))
}

impl Experiment for QuantumNat {
    fn name(&self) -> &'static str {
        "quantumnat"
    }

    fn description(&self) -> &'static str {
        "QuantumNAT ablation (noise injection, post-measurement normalization and quantization) with two-block \
         classifiers on digits 0-3, digits 3 vs 6 and 4 Gaussian blobs, evaluated on the IBM manila, quito and \
         jakarta noise models (density matrix, readout error, 8192 shots), 3 seeds; plus a quantization-levels sweep"
    }

    fn run(&self, ctx: &mut RunContext) -> Result<Metrics, ExperimentError> {
        let (epochs, devices, max_train, max_test, trials): (usize, &[&str], usize, usize, usize) = if ctx.quick {
            (1, &["manila"], 64, 40, 1)
        } else {
            (40, &["manila", "quito", "jakarta"], usize::MAX, usize::MAX, 3)
        };
        ctx.set_config("trials", trials);
        ctx.set_config("epochs", epochs);
        ctx.set_config("batch_size", BATCH);
        ctx.set_config("learning_rate", LR);
        ctx.set_config("optimizer", "Adam (0.9, 0.999)");
        ctx.set_config("layers_per_block", json!(LAYERS));
        ctx.set_config(
            "architecture",
            "block 1: task encoder + layers of U3 on every qubit and RZZ on the ring, read <Z_0..Z_3>; block 2: \
             RY encoding of those outcomes + layers, read one <Z_i> per class",
        );
        ctx.set_config("noise_factor", NOISE_FACTOR);
        ctx.set_config("quantization", json!({"levels": LEVELS, "clip": CLIP}));
        ctx.set_config("shots", SHOTS);
        ctx.set_config("devices", json!(devices));
        ctx.set_config("train_fraction", TRAIN_FRACTION);
        let mut tasks = vec![
            digits_task("digits_0123", "0-3", &[0, 1, 2, 3], ctx.seed)?,
            digits_task("digits_3v6", "3v6", &[3, 6], ctx.seed)?,
        ];
        tasks.push(blobs_task(ctx.seed)?);
        for t in &mut tasks {
            let (ntr, nte) = (t.train_y.len().min(max_train), t.test_y.len().min(max_test));
            t.train_x.truncate(ntr * t.n_features);
            t.train_y.truncate(ntr);
            t.test_x.truncate(nte * t.n_features);
            t.test_y.truncate(nte);
        }
        let bar = if ctx.quick {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new((tasks.len() * devices.len() * VARIANTS.len() * trials) as u64)
        };
        let mut metrics = Metrics::new();
        let mut records = Vec::new();
        let mut categories = Vec::new();
        // Mean device accuracy over trials, per variant, per (task, device).
        let mut device_acc = vec![Vec::new(); VARIANTS.len()];
        for task in &tasks {
            for &device in devices {
                let profile = DeviceProfile::builtin(device)?;
                // Short labels so nine categories fit under the bars: "0-3 mani", "3v6 quit", ...
                categories.push(format!("{} {}", task.short, &device[..device.len().min(4)]));
                for (v, &variant) in VARIANTS.iter().enumerate() {
                    let (mut noiseless, mut on_device) = (Vec::new(), Vec::new());
                    for trial in 0..trials {
                        bar.set_message(format!("{} on {device}: {}, trial {trial}", task.name, variant.name));
                        let seed = seed::derive(ctx.seed, &[1000 + trial as u64]);
                        let (result, mut record) = run_variant(task, &profile, variant, epochs, seed)?;
                        let timing = format!("{}.{device}.{}.trial{trial}.train_seconds", task.name, variant.name);
                        metrics.insert_timing(timing, record["train_seconds"].as_f64().unwrap_or(0.0));
                        record["task"] = json!(task.name);
                        record["device"] = json!(device);
                        record["trial"] = json!(trial);
                        if let Some(o) = record.as_object_mut() {
                            o.remove("train_seconds");
                            o.remove("device_eval_seconds");
                        }
                        records.push(record);
                        noiseless.push(result.noiseless);
                        on_device.push(result.device);
                        bar.inc(1);
                    }
                    let key = |k: &str| format!("{}.{device}.{}.{k}", task.name, variant.name);
                    metrics.insert(key("test_accuracy_noiseless"), mean(&noiseless)?);
                    metrics.insert(key("test_accuracy_device"), mean(&on_device)?);
                    device_acc[v].push(mean(&on_device)?);
                }
            }
        }
        bar.finish_and_clear();
        for task in &tasks {
            metrics.insert(format!("{}.train_samples", task.name), task.train_y.len());
            metrics.insert(format!("{}.test_samples", task.name), task.test_y.len());
        }
        for (v, variant) in VARIANTS.iter().enumerate() {
            metrics.insert(format!("mean_device_accuracy.{}", variant.name), mean(&device_acc[v])?);
        }
        let (base, full) = (mean(&device_acc[0])?, mean(&device_acc[VARIANTS.len() - 1])?);
        metrics.insert("quantumnat_gain_over_baseline_points", 100.0 * (full - base));
        metrics.insert(
            "quantumnat_wins",
            device_acc[VARIANTS.len() - 1].iter().zip(&device_acc[0]).filter(|(f, b)| f > b).count(),
        );
        metrics.insert("task_device_pairs", device_acc[0].len());
        metrics.insert("runs", json!(records));
        ctx.plot(
            "device_accuracy",
            &BarChart {
                title: format!("QuantumNAT ablation: device accuracy, {SHOTS} shots, mean of {trials}"),
                x_label: "task @ device".into(),
                y_label: "test accuracy".into(),
                categories,
                groups: VARIANTS
                    .iter()
                    .zip(&device_acc)
                    .map(|(variant, acc)| BarGroup::new(variant.name, acc.clone()))
                    .collect(),
                show_values: false,
            },
        )?;
        // Quantization levels: the full method on the 4-class digits with coarser and finer grids.
        let sweep_levels: &[usize] = if ctx.quick { &[3] } else { &SWEEP_LEVELS };
        let sweep_devices = &devices[..devices.len().min(2)];
        let digits4 = &tasks[0];
        let mut sweep_series = Vec::new();
        for &device in sweep_devices {
            let profile = DeviceProfile::builtin(device)?;
            let mut points = Vec::new();
            for &levels in sweep_levels {
                let variant =
                    Variant { name: "norm+inject+quant", inject: true, normalize: true, levels: Some(levels) };
                let mut on_device = Vec::new();
                for trial in 0..trials {
                    let seed = seed::derive(ctx.seed, &[1000 + trial as u64]);
                    on_device.push(run_variant(digits4, &profile, variant, epochs, seed)?.0.device);
                }
                metrics.insert(format!("levels_sweep.{}.{device}.levels{levels}", digits4.name), mean(&on_device)?);
                points.push((levels as f64, mean(&on_device)?));
            }
            sweep_series.push(Series::new(device, points));
        }
        ctx.plot(
            "quantization_levels",
            &LineChart {
                title: format!("QuantumNAT on {}: device accuracy vs quantization levels", digits4.name),
                x_label: "levels of the post-measurement quantizer".into(),
                y_label: "test accuracy on the device".into(),
                series: sweep_series,
                log_y: false,
                markers: true,
            },
        )?;
        ctx.note(
            "Variants are cumulative. Training runs on the circuit compiled for the device (rz/sx/x/cx, routed on its \
             coupling map from the trivial layout) with the angles symbolic; noise injection inserts Pauli errors \
             drawn from the Pauli twirl of each gate's calibrated channel, and X flips for readout errors. Device \
             evaluation binds the weights, recompiles (one-qubit runs merged), simulates the density matrix under \
             the device model and samples 8192 shots per test input; normalization there uses the device outcomes' \
             own test-set statistics, as the paper prescribes.",
        );
        Ok(metrics)
    }
}
