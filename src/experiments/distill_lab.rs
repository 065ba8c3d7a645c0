//! `distill_lab`: knowledge distillation on the bundled digits.
//!
//! A teacher (a small VGG with stages of 32 and 64 channels) is trained on the labels; a student of half
//! the width (16 and 32 channels) is then trained three ways from the same initialisation: alone on the
//! labels, distilled from the teacher's softened outputs (Hinton et al. 2015, T = 4, alpha = 0.9), and
//! distilled with a FitNets feature hint on the first stage's output as well. The teacher learns from
//! the whole training split, the students from a stratified tenth of it (143 images): the setting where
//! a teacher's soft targets carry knowledge the few labels do not (on the full split every model is
//! within a point of 98%).

use super::compression::{Recipe, Split, digits_split, test_accuracy};
use super::{Experiment, ExperimentError, Metrics, RunContext};
use crate::plot::{LineChart, Series};
use serde_json::json;
use tinylab_classical::compress::distill::{DistillConfig, FeatureHint, distill};
use tinylab_classical::nn::{param_count, zoo};
use tinylab_classical::optim::Sgd;
use tinylab_classical::train::EpochMetrics;

/// The `distill_lab` experiment (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct DistillLab;

/// Fraction of the training split the students see (the teacher sees all of it).
const STUDENT_FRACTION: f64 = 0.1;

/// Index of the first stage's max-pooling layer in `zoo::vgg_small` (conv-bn-relu twice, then pool).
const FIRST_STAGE_OUTPUT: usize = 6;

impl Experiment for DistillLab {
    fn name(&self) -> &'static str {
        "distill_lab"
    }

    fn description(&self) -> &'static str {
        "knowledge distillation on the digits: a half-width student trained alone, distilled from a VGG \
         teacher's soft targets, and distilled with a feature hint"
    }

    fn run(&self, ctx: &mut RunContext) -> Result<Metrics, ExperimentError> {
        let quick = ctx.quick;
        let recipe = Recipe { epochs: if quick { 2 } else { 30 }, lr: 0.05, batch_size: 32 };
        let (temperature, alpha, hint_weight) = (4.0f32, 0.9f32, 1.0f32);
        let (teacher_widths, student_widths) = ([32usize, 64], [16usize, 32]);
        let full = digits_split(ctx.seed)?;
        let fraction = STUDENT_FRACTION;
        let (train, _) =
            full.train.stratified_split(fraction, ctx.seed).map_err(tinylab_classical::ClassicalError::from)?;
        let split = Split {
            train,
            test: full.test.clone(),
            source: format!("{}; {fraction} of the training part", full.source),
        };
        ctx.set_config("data", split.source.clone());
        ctx.set_config("teacher_train_samples", full.train.len());
        ctx.set_config("student_train_samples", split.train.len());
        ctx.set_config("teacher", format!("vgg_small(1, {teacher_widths:?}, 10)"));
        ctx.set_config("student", format!("vgg_small(1, {student_widths:?}, 10)"));
        ctx.set_config("recipe", recipe.describe());
        ctx.set_config(
            "distillation",
            json!({"temperature": temperature, "alpha": alpha,
            "hint": {"student_layer": FIRST_STAGE_OUTPUT, "teacher_layer": FIRST_STAGE_OUTPUT, "weight": hint_weight,
                     "adapter": "1x1 conv 16 -> 32 channels"}}),
        );

        let mut teacher = zoo::vgg_small(1, &teacher_widths, 10, ctx.seed)?;
        let teacher_history = recipe.train(&mut teacher, &full, ctx.seed)?;
        let teacher_accuracy = test_accuracy(&mut teacher, &split)?;

        let student_seed = ctx.seed.wrapping_add(1);
        let mut alone = zoo::vgg_small(1, &student_widths, 10, student_seed)?;
        let alone_history = recipe.train(&mut alone, &split, ctx.seed)?;
        let alone_accuracy = test_accuracy(&mut alone, &split)?;

        let train = (&split.train.images, split.train.labels.as_slice());
        let test = (&split.test.images, split.test.labels.as_slice());
        let mut distilled_run = |hint: Option<FeatureHint>| -> Result<(f32, Vec<EpochMetrics>), ExperimentError> {
            let mut student = zoo::vgg_small(1, &student_widths, 10, student_seed)?;
            let cfg = DistillConfig {
                epochs: recipe.epochs,
                batch_size: recipe.batch_size,
                lr: recipe.schedule(),
                seed: ctx.seed,
                temperature,
                alpha,
                hint,
            };
            let history = distill(&mut student, &mut teacher, &mut Sgd::new(0.9, 5e-4), train, test, &cfg)?;
            Ok((test_accuracy(&mut student, &split)?, history))
        };
        let (kd_accuracy, kd_history) = distilled_run(None)?;
        let hint =
            FeatureHint { student_layer: FIRST_STAGE_OUTPUT, teacher_layer: FIRST_STAGE_OUTPUT, weight: hint_weight };
        let (hint_accuracy, hint_history) = distilled_run(Some(hint))?;

        let teacher_params = param_count(&teacher);
        let student_params = param_count(&zoo::vgg_small(1, &student_widths, 10, 0)?);
        let mut metrics = Metrics::new();
        metrics.insert("teacher_accuracy", teacher_accuracy);
        metrics.insert("student_alone_accuracy", alone_accuracy);
        metrics.insert("student_distilled_accuracy", kd_accuracy);
        metrics.insert("student_distilled_hint_accuracy", hint_accuracy);
        metrics.insert("distillation_gain_points", 100.0 * (kd_accuracy - alone_accuracy));
        metrics.insert("teacher_params", teacher_params);
        metrics.insert("student_params", student_params);
        metrics.insert("train_samples", split.train.len());
        metrics.insert("test_samples", split.test.len());

        let curve = |name: &str, h: &[EpochMetrics]| {
            Series::new(name, h.iter().map(|m| ((m.epoch + 1) as f64, m.val_accuracy as f64)).collect())
        };
        ctx.plot(
            "test_accuracy",
            &LineChart {
                title: "distillation on the digits: test accuracy per epoch".into(),
                x_label: "epoch".into(),
                y_label: "test accuracy".into(),
                series: vec![
                    curve("teacher", &teacher_history),
                    curve("student alone", &alone_history),
                    curve("student distilled", &kd_history),
                    curve("student distilled + hint", &hint_history),
                ],
                log_y: false,
                markers: true,
            },
        )?;
        ctx.note(format!(
            "Teacher {teacher_params} parameters, student {student_params}. Test accuracy: teacher {:.2}%, \
             student alone {:.2}%, distilled {:.2}%, distilled with hint {:.2}%.",
            100.0 * teacher_accuracy,
            100.0 * alone_accuracy,
            100.0 * kd_accuracy,
            100.0 * hint_accuracy
        ));
        Ok(metrics)
    }
}
