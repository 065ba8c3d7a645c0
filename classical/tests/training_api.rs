//! The training API beside `fit`: the Trainer on a dataset that is not images (regression on feature
//! rows, through a user `Batches` and `Metrics`) resumes bit-exactly; `backward_step` is the
//! four-call step; the f64 vector Adam follows the hand-computed update; `Var::item` refuses
//! non-scalars; the seed scheme's values are fixed.

use ndarray::Axis;
use serde::{Deserialize, Serialize};
use tinylab_classical::nn::{self, Act, Ctx, Dropout, Linear, Module, Sequential, StateDict};
use tinylab_classical::ops::{self, Activation};
use tinylab_classical::optim::{Adam, LrSchedule, Optimizer, Sgd, VectorOptimizer};
use tinylab_classical::tensor::{self, rng};
use tinylab_classical::train::{Batch, Batches, EpochRecord, Metrics, TrainConfig, Trainer};
use tinylab_classical::{ClassicalError, Result, Tensor, Var, seed};

/// Regression rows: `x` of width 6, a 2-wide target each.
struct Rows {
    x: Tensor,
    y: Tensor,
}

impl Rows {
    fn new(n: usize, seed: u64) -> Self {
        let mut r = rng(seed);
        let x = tensor::randn(&[n, 6], 1.0, &mut r);
        let y = x.slice(ndarray::s![.., 0..2]).mapv(|v| v.sin()) + x.slice(ndarray::s![.., 4..6]);
        Self { x, y: y.into_dyn() }
    }
}

impl Batches for Rows {
    type Targets = Tensor;

    fn len(&self) -> usize {
        self.x.shape()[0]
    }

    fn batch(&self, indices: &[usize]) -> Result<Batch<Tensor>> {
        Ok(Batch { input: self.x.select(Axis(0), indices), targets: self.y.select(Axis(0), indices) })
    }
}

/// One epoch's record: the mean training loss, used as the "validation" loss, and the step count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    loss: f32,
    steps: usize,
}

impl EpochRecord for Record {
    fn val_loss(&self) -> Option<f32> {
        Some(self.loss)
    }
}

#[derive(Default)]
struct MeanLoss {
    sum: f64,
    steps: usize,
}

impl Metrics<Tensor> for MeanLoss {
    type Epoch = Record;

    fn batch(&mut self, loss: f32, output: &Tensor, targets: &Tensor) -> Result<()> {
        assert_eq!(output.shape(), targets.shape());
        self.sum += loss as f64;
        self.steps += 1;
        Ok(())
    }

    fn epoch(&mut self, _epoch: usize, _lr: f32, _model: &mut dyn Module) -> Result<Record> {
        let record = Record { loss: (self.sum / self.steps.max(1) as f64) as f32, steps: self.steps };
        *self = MeanLoss::default();
        Ok(record)
    }
}

fn regressor() -> Sequential {
    let mut r = rng(4);
    Sequential::new()
        .push(Linear::new(6, 16, true, &mut r))
        .push(Act { kind: Activation::Tanh })
        .push(Dropout { p: 0.1 })
        .push(Linear::new(16, 2, true, &mut r))
}

fn config(epochs: usize, checkpoint: Option<std::path::PathBuf>) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 10,
        lr: LrSchedule::Step { base: 0.02, gamma: 0.5, every: 2 },
        seed: 21,
        patience: None,
        clip_grad_norm: Some(1.0),
        progress: false,
        checkpoint,
    }
}

fn bits(state: &StateDict) -> Vec<(String, Vec<u32>)> {
    state.params.iter().map(|(k, (_, v))| (k.clone(), v.iter().map(|x| x.to_bits()).collect())).collect()
}

fn mse(output: &Var, targets: &Tensor) -> Result<Var> {
    ops::mse(output, &Var::constant(targets.clone()))
}

#[test]
fn trainer_on_feature_rows_resumes_bit_exactly() {
    let data = Rows::new(45, 8);
    let mut straight = regressor();
    let report = Trainer::new(config(4, None), mse)
        .run(&mut straight, &mut Adam::adamw(1e-2), &data, &mut MeanLoss::default())
        .unwrap();
    assert_eq!(report.history.len(), 4);
    assert!(report.history.iter().all(|r| r.steps == 5), "45 rows in batches of 10: 5 steps per epoch");
    assert!(report.history[3].loss < report.history[0].loss, "{:?}", report.history);

    let dir = std::env::temp_dir().join(format!("tinylab-trainer-rows-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rows.ckpt");
    let _ = std::fs::remove_file(&path);
    let mut first = regressor();
    let mut opt = Adam::adamw(1e-2);
    let part = Trainer::new(config(2, Some(path.clone())), mse)
        .run(&mut first, &mut opt, &data, &mut MeanLoss::default())
        .unwrap();
    assert_eq!((part.history.len(), part.resumed_from), (2, 0));
    // A fresh model and optimizer: everything comes from the checkpoint.
    let mut resumed = regressor();
    let rest = Trainer::new(config(4, Some(path.clone())), mse)
        .run(&mut resumed, &mut Adam::adamw(1e-2), &data, &mut MeanLoss::default())
        .unwrap();
    assert_eq!(rest.resumed_from, 2);
    assert_eq!(rest.history, report.history);
    assert_eq!(bits(&nn::state_dict(&mut resumed)), bits(&nn::state_dict(&mut straight)));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn trainer_stops_early_and_refuses_a_zero_batch() {
    let data = Rows::new(20, 1);
    // A rate so large that the loss cannot keep improving.
    let cfg = TrainConfig { patience: Some(1), lr: LrSchedule::Constant { base: 0.0 }, ..config(10, None) };
    let report = Trainer::new(cfg, mse).run(&mut regressor(), &mut Sgd::new(0.0, 0.0), &data, &mut MeanLoss::default());
    let report = report.unwrap();
    assert!(report.stopped_early && report.history.len() < 10, "{:?}", report.history);
    let zero = TrainConfig { batch_size: 0, ..config(1, None) };
    let err = Trainer::new(zero, mse).run(&mut regressor(), &mut Sgd::new(0.0, 0.0), &data, &mut MeanLoss::default());
    assert!(matches!(err, Err(ClassicalError::InvalidArgument { .. })));
}

#[test]
fn backward_step_equals_the_four_calls() {
    let data = Rows::new(12, 3);
    let batch = data.batch(&(0..12).collect::<Vec<_>>()).unwrap();
    let step = |model: &mut Sequential, opt: &mut Adam, composed: bool| {
        let mut ctx = Ctx::train(17);
        let out = model.forward(&Var::constant(batch.input.clone()), &mut ctx).unwrap();
        let loss = mse(&out, &batch.targets).unwrap();
        if composed {
            opt.backward_step(model, &loss, &ctx, 0.01).unwrap();
        } else {
            loss.backward().unwrap();
            nn::zero_grads(model);
            nn::accumulate_grads(model, &ctx);
            opt.step(model, 0.01);
        }
    };
    let (mut a, mut b) = (regressor(), regressor());
    let (mut oa, mut ob) = (Adam::new(0.0), Adam::new(0.0));
    for _ in 0..3 {
        step(&mut a, &mut oa, true);
        step(&mut b, &mut ob, false);
    }
    assert_eq!(bits(&nn::state_dict(&mut a)), bits(&nn::state_dict(&mut b)));
    // A loss that is not a scalar is refused before anything moves.
    let before = bits(&nn::state_dict(&mut a));
    let mut ctx = Ctx::train(0);
    let out = a.forward(&Var::constant(batch.input.clone()), &mut ctx).unwrap();
    assert!(oa.backward_step(&mut a, &out, &ctx, 0.01).is_err());
    assert_eq!(bits(&nn::state_dict(&mut a)), before);
}

#[test]
fn f64_adam_follows_the_hand_computed_two_steps() {
    let mut adam = Adam::new(0.0);
    let mut w = vec![1.0f64, -2.0];
    let (g1, g2) = ([0.5f64, -1.0], [0.25f64, 2.0]);
    let lr = 0.1;
    adam.step_vector("w", &mut w, &g1, lr).unwrap();
    adam.step_vector("w", &mut w, &g2, lr).unwrap();
    // By hand, with b1 = 0.9, b2 = 0.999: m1 = (1 - b1) g1, v1 = (1 - b2) g1^2;
    // m2 = b1 m1 + (1 - b1) g2, v2 = b2 v1 + (1 - b2) g2^2; step t moves by
    // -lr (m_t / (1 - b1^t)) / (sqrt(v_t / (1 - b2^t)) + 1e-8).
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
    let mut expected = vec![1.0f64, -2.0];
    for i in 0..2 {
        let (m1, v1) = ((1.0 - b1) * g1[i], (1.0 - b2) * g1[i] * g1[i]);
        expected[i] -= lr * (m1 / (1.0 - b1)) / ((v1 / (1.0 - b2)).sqrt() + eps);
        let (m2, v2) = (b1 * m1 + (1.0 - b1) * g2[i], b2 * v1 + (1.0 - b2) * g2[i] * g2[i]);
        expected[i] -= lr * (m2 / (1.0 - b1 * b1)) / ((v2 / (1.0 - b2 * b2)).sqrt() + eps);
    }
    // The same operations in the same order: the same bits.
    assert_eq!(w, expected);
    // And the values of the same formula computed independently (Python floats).
    assert!((w[0] - 0.806_782_040_477_462).abs() < 1e-12 && (w[1] + 1.936_610_353_472_075).abs() < 1e-12, "{w:?}");
    // The first step of Adam moves every coordinate by about lr against the gradient's sign.
    let mut once = vec![0.0f64; 2];
    Adam::new(0.0).step_vector("w", &mut once, &g1, lr).unwrap();
    assert!((once[0] + 0.1).abs() < 1e-8 && (once[1] - 0.1).abs() < 1e-8, "{once:?}");
    // Keys are independent states; a length or finiteness problem changes nothing.
    let mut other = vec![0.0f64; 3];
    assert!(adam.step_vector("w", &mut other, &[1.0, 1.0, 1.0], lr).is_err());
    assert!(adam.step_vector("w", &mut w, &[1.0], lr).is_err());
    let kept = w.clone();
    assert!(adam.step_vector("w", &mut w, &[1.0, f64::NAN], lr).is_err());
    assert_eq!(w, kept);
    adam.step_vector("other", &mut other, &[1.0, 1.0, 1.0], lr).unwrap();
    assert!(other.iter().all(|v| (v + 0.1).abs() < 1e-8), "a fresh key starts at step 1: {other:?}");
}

#[test]
fn f64_sgd_with_momentum_follows_the_rule() {
    let mut sgd = Sgd::new(0.9, 0.1);
    let mut w = vec![1.0f64];
    sgd.step_vector("w", &mut w, &[0.5], 0.1).unwrap();
    // d = 0.5 + 0.1 * 1 = 0.6; buf = 0.6; w = 1 - 0.06.
    assert!((w[0] - 0.94).abs() < 1e-15, "{}", w[0]);
    sgd.step_vector("w", &mut w, &[0.5], 0.1).unwrap();
    // d = 0.5 + 0.094 = 0.594; buf = 0.54 + 0.594 = 1.134; w = 0.94 - 0.1134.
    assert!((w[0] - 0.8266).abs() < 1e-15, "{}", w[0]);
}

#[test]
fn tensor_hyperparameters_keep_their_f32_values() {
    // The optimizers hold f64 hyperparameters and round them to f32 for tensors: the usual
    // literals must round to the same f32 as written directly.
    for (wide, narrow) in [(0.9f64, 0.9f32), (0.999, 0.999), (1e-8, 1e-8), (5e-4, 5e-4), (1e-3, 1e-3), (1e-2, 1e-2)] {
        assert_eq!((wide as f32).to_bits(), narrow.to_bits(), "{wide}");
    }
}

#[test]
fn item_reads_scalars_and_names_the_shape_otherwise() {
    assert_eq!(Var::constant(tensor::from_vec(&[], vec![2.5]).unwrap()).item().unwrap(), 2.5);
    assert_eq!(Var::constant(tensor::from_vec(&[1, 1], vec![-1.0]).unwrap()).item().unwrap(), -1.0);
    let err = Var::constant(tensor::from_vec(&[2, 3], vec![0.0; 6]).unwrap()).item().unwrap_err();
    assert!(err.to_string().contains("[2, 3]"), "{err}");
}

#[test]
fn seed_derivation_is_stable() {
    assert_eq!(seed::derive(42, &[0]), 6_332_618_229_526_065_668);
    assert_eq!(seed::derive(42, &[1, 2]), 17_592_914_093_553_962_002);
    assert_ne!(seed::derive(42, &[1]), seed::derive(43, &[1]));
}
