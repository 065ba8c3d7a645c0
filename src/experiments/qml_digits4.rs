//! `qml_digits4`: a quantum classifier in the style of TorchQuantum's MNIST-4 example, on the bundled
//! digits.
//!
//! Each 8x8 digit is average-pooled to 4x4 and scaled to `[0, π]`: 16 features for TorchQuantum's
//! `"4x4_ryzxy"` encoder on 4 qubits, followed by trainable blocks of U3 on every qubit and CU3 on the
//! ring, read out as `<Z_i>` (one logit per class), trained with Adam on the cross-entropy with exact
//! adjoint gradients. Two tasks: digits 0-3 (4 classes, `<Z_0..Z_3>`) and 3 vs 6 (2 classes,
//! `<Z_0>, <Z_1>`, as in QuantumNAS). The trained models are then transpiled onto IBM's 5-qubit
//! manila (its basis and line coupling map) and evaluated under its noise model (Aer's
//! `from_backend` construction, readout error included): exactly, and with 8192 seeded shots per test
//! image, as on hardware.

use super::trials::{Spread, TRIALS, trial_seeds};
use super::{Experiment, ExperimentError, Metrics, RunContext};
use crate::plot::{BarChart, BarGroup, LineChart, Series};
use serde_json::json;
use std::time::Instant;
use tinylab_classical::nn::{Ctx, Module};
use tinylab_classical::optim::{Adam, Optimizer};
use tinylab_classical::seed;
use tinylab_classical::{Var, ops, tensor};
use tinylab_noise::DeviceProfile;
use tinylab_noise::qml::DeviceModel;
use tinylab_quantum::Circuit;
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::qml::tasks::{DIGITS_0_TO_3, DIGITS_3_VS_6, PooledDigits, TRAIN_FRACTION, angles};
use tinylab_quantum::qml::{QuantumLayer, ansatz, encoders};

/// The `qml_digits4` experiment (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct QmlDigits4;

/// Trainable U3 + CU3 blocks.
const BLOCKS: usize = 2;
/// Minibatch size.
const BATCH: usize = 32;
/// Adam learning rate.
const LR: f32 = 0.05;
/// Shots per test image on the noisy device.
const SHOTS: usize = 8192;
/// The device.
const DEVICE: &str = "manila";

/// One classification task: its name and the digits it keeps (relabelled `0..`).
struct Task {
    name: &'static str,
    digits: &'static [usize],
}

const TASKS: [Task; 2] =
    [Task { name: "digits_0123", digits: &DIGITS_0_TO_3 }, Task { name: "digits_3v6", digits: &DIGITS_3_VS_6 }];

fn argmax(row: &[f64]) -> usize {
    (0..row.len()).fold(0, |best, k| if row[k] > row[best] { k } else { best })
}

fn accuracy(predictions: &[usize], labels: &[usize]) -> f64 {
    predictions.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / labels.len().max(1) as f64
}

/// What one task measured.
struct TaskResult {
    losses: Vec<f64>,
    noiseless: f64,
    device_exact: f64,
    device_shots: f64,
}

/// Trains and evaluates one task with weights and batch order from `seed` (the split always comes
/// from `split_seed`, the run's seed), writing its figures into `metrics`.
fn run_task(
    task: &Task,
    split_seed: u64,
    seed: u64,
    epochs: usize,
    metrics: &mut Metrics,
) -> Result<TaskResult, ExperimentError> {
    let PooledDigits { train, test } = PooledDigits::new(task.digits, TRAIN_FRACTION, split_seed)?;
    let classes = task.digits.len();
    let mut circuit = Circuit::new(4);
    encoders::ryzxy_4x4(&mut circuit)?;
    ansatz::u3_cu3(&mut circuit, BLOCKS, "w")?;
    let readout: Vec<PauliSum> = (0..classes).map(PauliSum::z).collect::<Result<_, _>>()?;
    let mut layer = QuantumLayer::new(circuit.clone(), readout.clone(), seed::derive(seed, &[1]))?;
    let mut optimizer = Adam::new(0.0);

    // Training.
    let train_x = tensor::from_vec(&[train.len(), 16], angles(train.images.iter()))?;
    let mut losses = Vec::with_capacity(epochs);
    let start = Instant::now();
    for epoch in 0..epochs {
        let mut total = 0.0;
        let order_seed = seed::derive(seed, &[100 + epoch as u64]);
        for (images, labels) in train.batches(BATCH, Some(order_seed))? {
            let n = labels.len();
            let x = tensor::from_vec(&[n, 16], angles(images.iter()))?;
            let mut tape_ctx = Ctx::train(0);
            let logits = layer.forward(&Var::constant(x), &mut tape_ctx)?;
            let loss = ops::cross_entropy(&logits, &labels)?;
            total += loss.item()? as f64 * n as f64;
            optimizer.backward_step(&mut layer, &loss, &tape_ctx, LR)?;
        }
        losses.push(total / train.len() as f64);
    }
    let train_seconds = start.elapsed().as_secs_f64();

    // Noiseless evaluation (exact expectation values).
    let predict = |layer: &mut QuantumLayer, x: Vec<f32>, n: usize| -> Result<Vec<usize>, ExperimentError> {
        let logits = layer.forward(&Var::constant(tensor::from_vec(&[n, 16], x)?), &mut Ctx::eval())?;
        let values: Vec<f64> = logits.value().iter().map(|&v| v as f64).collect();
        Ok(values.chunks(classes).map(argmax).collect())
    };
    let train_accuracy = accuracy(&predict(&mut layer, train_x.iter().copied().collect(), train.len())?, &train.labels);
    let test_features = angles(test.images.iter());
    let noiseless = accuracy(&predict(&mut layer, test_features.clone(), test.len())?, &test.labels);

    // The trained model on the noisy device: exact under the noise model, and with shots.
    let profile = DeviceProfile::builtin(DEVICE)?;
    let device = DeviceModel::new(&circuit, &layer.weights_f64(), &readout, &profile, None)?;
    let start = Instant::now();
    let mut exact_predictions = Vec::with_capacity(test.len());
    let mut shot_predictions = Vec::with_capacity(test.len());
    for (i, row) in test_features.chunks(16).enumerate() {
        let x: Vec<f64> = row.iter().map(|&v| v as f64).collect();
        let exact = device.expectations(&x, None, 0)?;
        exact_predictions.push(argmax(&exact));
        let shot_seed = seed::derive(seed, &[10_000 + i as u64]);
        let sampled = device.expectations(&x, Some(SHOTS), shot_seed)?;
        shot_predictions.push(argmax(&sampled));
    }
    let noisy_seconds = start.elapsed().as_secs_f64();
    let device_exact = accuracy(&exact_predictions, &test.labels);
    let device_shots = accuracy(&shot_predictions, &test.labels);

    let key = |k: &str| format!("{}.{k}", task.name);
    metrics.insert(key("train_samples"), train.len());
    metrics.insert(key("test_samples"), test.len());
    metrics.insert(key("train_accuracy"), train_accuracy);
    metrics.insert(key("test_accuracy_noiseless"), noiseless);
    metrics.insert(key("test_accuracy_manila_exact"), device_exact);
    metrics.insert(key("test_accuracy_manila_8192_shots"), device_shots);
    metrics.insert(key("train_loss_per_epoch"), json!(losses));
    metrics.insert(key("device_circuit_gates"), device.circuit().instructions().len());
    metrics.insert(key("final_layout"), json!(device.final_layout()));
    metrics.insert_timing(key("train_seconds"), train_seconds);
    metrics.insert_timing(key("noisy_eval_seconds"), noisy_seconds);
    Ok(TaskResult { losses, noiseless, device_exact, device_shots })
}

impl Experiment for QmlDigits4 {
    fn name(&self) -> &'static str {
        "qml_digits4"
    }

    fn description(&self) -> &'static str {
        "TorchQuantum-style 4-qubit classifier (4x4_ryzxy encoder, U3+CU3 blocks) on pooled digits 0-3 and \
         3 vs 6: noiseless test accuracy, and on IBM manila's noise model exactly and with 8192 shots"
    }

    fn run(&self, ctx: &mut RunContext) -> Result<Metrics, ExperimentError> {
        let epochs = if ctx.quick { 2 } else { 60 };
        ctx.set_config("epochs", epochs);
        ctx.set_config("batch_size", BATCH);
        ctx.set_config("learning_rate", LR);
        ctx.set_config("optimizer", "Adam (0.9, 0.999)");
        ctx.set_config("blocks", BLOCKS);
        ctx.set_config("encoder", "4x4_ryzxy on 4x4 average-pooled digits scaled to [0, pi]");
        ctx.set_config("device", DEVICE);
        ctx.set_config("shots", SHOTS);
        ctx.set_config("train_fraction", TRAIN_FRACTION);
        ctx.set_config(
            "tasks",
            json!(TASKS.iter().map(|t| json!({"name": t.name, "digits": t.digits})).collect::<Vec<_>>()),
        );
        let mut metrics = Metrics::new();
        let mut results = Vec::new();
        let seeds = trial_seeds(ctx.seed, TRIALS);
        ctx.set_config(
            "trials",
            json!({"count": TRIALS, "seeds": seeds,
                                        "varies": "initial weights, batch order and shot seeds (same split)"}),
        );
        for task in &TASKS {
            let first = run_task(task, ctx.seed, ctx.seed, epochs, &mut metrics)?;
            // Further trials: their figures go to the spreads only.
            let mut trials = vec![(first.noiseless, first.device_exact, first.device_shots)];
            for &seed in &seeds[1..] {
                let r = run_task(task, ctx.seed, seed, epochs, &mut Metrics::new())?;
                trials.push((r.noiseless, r.device_exact, r.device_shots));
            }
            let spread =
                |pick: fn(&(f64, f64, f64)) -> f64| Spread::of(&trials.iter().map(pick).collect::<Vec<_>>()).to_json();
            metrics.insert(
                format!("{}.trials", task.name),
                json!({"test_accuracy_noiseless": spread(|t| t.0), "test_accuracy_manila_exact": spread(|t| t.1),
                       "test_accuracy_manila_8192_shots": spread(|t| t.2)}),
            );
            results.push(first);
        }
        ctx.plot(
            "train_loss",
            &LineChart {
                title: "qml_digits4: training cross-entropy".into(),
                x_label: "epoch".into(),
                y_label: "loss".into(),
                series: TASKS
                    .iter()
                    .zip(&results)
                    .map(|(t, r)| {
                        Series::new(t.name, r.losses.iter().enumerate().map(|(e, &l)| ((e + 1) as f64, l)).collect())
                    })
                    .collect(),
                log_y: false,
                markers: true,
            },
        )?;
        ctx.plot(
            "accuracy",
            &BarChart {
                title: format!("qml_digits4: test accuracy, noiseless and on {DEVICE}"),
                x_label: "task".into(),
                y_label: "test accuracy".into(),
                categories: TASKS.iter().map(|t| t.name.to_string()).collect(),
                groups: vec![
                    BarGroup::new("noiseless", results.iter().map(|r| r.noiseless).collect()),
                    BarGroup::new(format!("{DEVICE} (exact)"), results.iter().map(|r| r.device_exact).collect()),
                    BarGroup::new(format!("{DEVICE}, {SHOTS} shots"), results.iter().map(|r| r.device_shots).collect()),
                ],
                show_values: true,
            },
        )?;
        ctx.note(format!(
            "Noisy evaluation: the trained circuit with its weights bound is transpiled to {DEVICE}'s rz/sx/x/cx basis \
             and routed on its line coupling map from the trivial layout; each test image is then simulated as a \
             density matrix under the device noise model (depolarizing + thermal relaxation per gate, readout \
             error), and <Z_i> is estimated from {SHOTS} seeded shots (or read exactly)."
        ));
        Ok(metrics)
    }
}
