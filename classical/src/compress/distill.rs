//! Knowledge distillation: a student learns from a teacher's softened outputs (Hinton, Vinyals & Dean,
//! "Distilling the Knowledge in a Neural Network", 2015) and, optionally, from its intermediate feature
//! maps (FitNets hints, Romero et al. 2015).
//!
//! The output loss is `alpha T^2 KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) CE(s, y)`; the
//! `T^2` keeps the soft-target gradients on the same scale as the hard-label ones when `T` changes.
//! A feature hint adds `beta mean((a(f_s) - f_t)^2)` between the output of a student layer and a teacher
//! layer, `a` being a 1x1 convolution adapter (trained with the student) when channel counts differ.

use crate::autograd::Var;
use crate::error::{Result, arg_err, shape_err};
use crate::nn::{Conv2d, Ctx, Module, Sequential};
use crate::ops::{self, Conv2dSpec};
use crate::optim::{LrSchedule, Optimizer, Sgd};
use crate::seed;
use crate::train::{Batch, Batches, EpochMetrics, EpochTally, LabelledArray};
use ndarray::Array4;
use serde::{Deserialize, Serialize};

/// Hinton's distillation loss on logits (student `s`, teacher `t`, labels `targets`).
pub fn kd_loss(student: &Var, teacher: &Var, targets: &[usize], temperature: f32, alpha: f32) -> Result<Var> {
    if student.shape() != teacher.shape() {
        return Err(shape_err("kd_loss", student.shape(), teacher.shape(), "student and teacher logits must agree"));
    }
    if temperature.is_nan() || temperature <= 0.0 || !(0.0..=1.0).contains(&alpha) {
        return Err(arg_err("kd_loss", format!("temperature {temperature} must be > 0 and alpha {alpha} in [0, 1]")));
    }
    let axis = student.shape().len().saturating_sub(1);
    let soft_teacher = ops::softmax(&ops::scale(&teacher.detach(), 1.0 / temperature), axis)?.detach();
    let log_student = ops::log_softmax(&ops::scale(student, 1.0 / temperature), axis)?;
    let soft = ops::scale(&ops::kl_div(&log_student, &soft_teacher)?, alpha * temperature * temperature);
    if alpha == 1.0 {
        return Ok(soft);
    }
    let hard = ops::scale(&ops::cross_entropy(student, targets)?, 1.0 - alpha);
    ops::add(&soft, &hard)
}

/// Mean squared error between feature maps, the FitNets hint loss.
pub fn feature_loss(student: &Var, teacher: &Var) -> Result<Var> {
    ops::mse(student, &teacher.detach())
}

/// Settings of [`distill`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DistillConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per step.
    pub batch_size: usize,
    /// Learning rate per epoch.
    pub lr: LrSchedule,
    /// Seed of shuffling and dropout.
    pub seed: u64,
    /// Softmax temperature of the soft targets.
    pub temperature: f32,
    /// Weight of the soft-target term (1 - alpha on the labels).
    pub alpha: f32,
    /// An optional feature hint between two layers.
    pub hint: Option<FeatureHint>,
}

/// A FitNets hint: match the output of top-level layer `student_layer` of the student to that of
/// `teacher_layer` of the teacher (both `Sequential`), weighted by `weight`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct FeatureHint {
    /// Index into the student's layers (its output is matched).
    pub student_layer: usize,
    /// Index into the teacher's layers.
    pub teacher_layer: usize,
    /// Weight of the hint loss.
    pub weight: f32,
}

/// Runs `model`'s layers on `x`, returning the output and the output of layer `tap` (if any).
fn forward_tapped(model: &mut Sequential, x: &Var, tap: Option<usize>, ctx: &mut Ctx) -> Result<(Var, Option<Var>)> {
    if let Some(t) = tap
        && t >= model.layers.len()
    {
        return Err(arg_err("distill", format!("hint layer {t} of a model with {} layers", model.layers.len())));
    }
    let mut h = x.clone();
    let mut tapped = None;
    for (i, layer) in model.layers.iter_mut().enumerate() {
        h = layer.forward(&h, ctx)?;
        if Some(i) == tap {
            tapped = Some(h.clone());
        }
    }
    Ok((h, tapped))
}

/// Trains `student` against `teacher` (evaluated in inference mode) on labelled images; returns the
/// per-epoch metrics with validation on `val`. The same seed gives the same run.
pub fn distill<O: Optimizer>(
    student: &mut Sequential,
    teacher: &mut Sequential,
    optimizer: &mut O,
    train: (&Array4<f32>, &[usize]),
    val: (&Array4<f32>, &[usize]),
    cfg: &DistillConfig,
) -> Result<Vec<EpochMetrics>> {
    if train.0.shape()[0] != train.1.len() || cfg.batch_size == 0 {
        return Err(shape_err("distill", train.0.shape(), &[train.1.len()], "one label per image, batch size > 0"));
    }
    let data = LabelledArray::new(train.0.view(), train.1)?;
    let val = LabelledArray::new(val.0.view(), val.1)?;
    let mut adapter: Option<Conv2d> = None;
    let mut adapter_opt = Sgd::new(0.9, 0.0);
    let mut history = Vec::new();
    for epoch in 0..cfg.epochs {
        let lr = cfg.lr.at(epoch);
        let order = data.order(seed::derive(cfg.seed, &[epoch as u64]));
        let mut tally = EpochTally::default();
        for (b, chunk) in order.chunks(cfg.batch_size).enumerate() {
            let Batch { input, targets: y } = data.batch(chunk)?;
            let x = Var::constant(input);
            let (t_logits, t_feat) = forward_tapped(teacher, &x, cfg.hint.map(|h| h.teacher_layer), &mut Ctx::eval())?;
            let mut ctx = Ctx::train(seed::derive(cfg.seed, &[epoch as u64, b as u64]));
            let (s_logits, s_feat) = forward_tapped(student, &x, cfg.hint.map(|h| h.student_layer), &mut ctx)?;
            let mut loss = kd_loss(&s_logits, &t_logits, &y, cfg.temperature, cfg.alpha)?;
            if let (Some(hint), Some(sf), Some(tf)) = (cfg.hint, s_feat, t_feat) {
                let sf = match (sf.shape(), tf.shape()) {
                    (s, t) if s == t => sf,
                    (s, t) if s.len() == 4 && t.len() == 4 && s[2..] == t[2..] => {
                        let a = adapter.get_or_insert_with(|| {
                            Conv2d::new(s[1], t[1], 1, Conv2dSpec::default(), false, &mut crate::tensor::rng(cfg.seed))
                        });
                        a.forward(&sf, &mut ctx)?
                    }
                    (s, t) => return Err(shape_err("distill hint", s, t, "features must agree in spatial size")),
                };
                loss = ops::add(&loss, &ops::scale(&feature_loss(&sf, &tf)?, hint.weight))?;
            }
            optimizer.backward_step(student, &loss, &ctx, lr)?;
            if let Some(a) = &mut adapter {
                adapter_opt.step_from(a, &ctx, lr);
            }
            tally.add_batch(loss.item()?, s_logits.value(), &y);
        }
        history.push(tally.finish(epoch, lr, student, &val)?);
    }
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits(v: Vec<f32>) -> Var {
        Var::leaf(crate::tensor::from_vec(&[2, 3], v).unwrap())
    }

    #[test]
    fn kd_loss_matches_the_closed_form() {
        let s = logits(vec![1.0, 2.0, 0.5, -1.0, 0.0, 3.0]);
        let t = logits(vec![2.0, 1.0, 0.0, 0.5, 0.5, 1.0]);
        let (temp, alpha) = (4.0f32, 0.7f32);
        let loss = kd_loss(&s, &t, &[1, 2], temp, alpha).unwrap().value()[[]] as f64;
        let softmax = |row: &[f32], t: f32| -> Vec<f64> {
            let m = row.iter().map(|v| (*v / t) as f64).fold(f64::MIN, f64::max);
            let e: Vec<f64> = row.iter().map(|v| ((*v / t) as f64 - m).exp()).collect();
            let z: f64 = e.iter().sum();
            e.iter().map(|x| x / z).collect()
        };
        let (sv, tv) = (s.value().iter().copied().collect::<Vec<_>>(), t.value().iter().copied().collect::<Vec<_>>());
        let mut kl = 0.0;
        let mut ce = 0.0;
        for (r, y) in [(0usize, 1usize), (1, 2)] {
            let (ps, pt) = (softmax(&sv[3 * r..3 * r + 3], temp), softmax(&tv[3 * r..3 * r + 3], temp));
            kl += pt.iter().zip(&ps).map(|(p, q)| p * (p / q).ln()).sum::<f64>();
            ce -= softmax(&sv[3 * r..3 * r + 3], 1.0)[y].ln();
        }
        let expected = alpha as f64 * (temp * temp) as f64 * kl / 2.0 + (1.0 - alpha as f64) * ce / 2.0;
        assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
    }

    #[test]
    fn soft_gradient_vanishes_when_student_equals_teacher() {
        let s = logits(vec![1.0, 2.0, 0.5, -1.0, 0.0, 3.0]);
        let t = logits(vec![1.0, 2.0, 0.5, -1.0, 0.0, 3.0]);
        kd_loss(&s, &t, &[0, 0], 3.0, 1.0).unwrap().backward().unwrap();
        assert!(s.grad().unwrap().iter().all(|g| g.abs() < 1e-6));
        assert!(t.grad().is_none_or(|g| g.iter().all(|v| *v == 0.0)), "the teacher gets no gradient");
    }

    #[test]
    fn bad_settings_are_errors() {
        let s = logits(vec![0.0; 6]);
        assert!(kd_loss(&s, &logits(vec![0.0; 6]), &[0, 0], 0.0, 0.5).is_err());
        assert!(kd_loss(&s, &logits(vec![0.0; 6]), &[0, 0], 1.0, 1.5).is_err());
    }
}
