//! `distill_lab`: knowledge distillation on the bundled digits.
//!
//! A teacher (a small VGG with stages of 32 and 64 channels) is trained on the labels; a student of half
//! the width (16 and 32 channels) is then trained three ways from the same initialisation: alone on the
//! labels, distilled from the teacher's softened outputs (Hinton et al. 2015, T = 4, alpha = 0.9), and
//! distilled with a FitNets feature hint on the first stage's output as well. The teacher learns from
//! the whole training split, the students from a stratified tenth of it (143 images): the setting where
//! a teacher's soft targets carry knowledge the few labels do not (on the full split every model is
//! within a point of 98%). A full run averages three trials, each with its own split and
//! initialisation (`seed::derive(seed, &[trial])`); `--quick` runs one short trial.

use super::compression::{Recipe, Split, digits_split, test_accuracy};
use super::{Experiment, ExperimentError, Metrics, RunContext};
use crate::plot::{LineChart, Series};
use serde_json::json;
use tinylab_classical::compress::distill::{DistillConfig, FeatureHint, distill};
use tinylab_classical::data::DIGITS_SOURCE;
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
        let settings = Settings {
            recipe: Recipe { epochs: if quick { 2 } else { 30 }, lr: 0.05, batch_size: 32, warmup: 0 },
            temperature: 4.0,
            alpha: 0.9,
            hint_weight: 1.0,
        };
        let trials = if quick { 1 } else { TRIALS };
        ctx.set_config("data", format!("{DIGITS_SOURCE}; stratified 80/20 split per trial"));
        ctx.set_config("student_fraction_of_training_split", STUDENT_FRACTION);
        ctx.set_config("teacher", format!("vgg_small(1, {TEACHER_WIDTHS:?}, 10)"));
        ctx.set_config("student", format!("vgg_small(1, {STUDENT_WIDTHS:?}, 10)"));
        ctx.set_config("recipe", settings.recipe.describe());
        ctx.set_config("trials", json!({"count": trials, "seeds": "derive_seed(seed, [trial])"}));
        ctx.set_config(
            "distillation",
            json!({"temperature": settings.temperature, "alpha": settings.alpha,
            "hint": {"student_layer": FIRST_STAGE_OUTPUT, "teacher_layer": FIRST_STAGE_OUTPUT,
                     "weight": settings.hint_weight, "adapter": "1x1 conv 16 -> 32 channels"}}),
        );
        let results: Vec<Trial> = (0..trials)
            .map(|t| run_trial(&settings, tinylab_classical::seed::derive(ctx.seed, &[t as u64])))
            .collect::<Result<_, _>>()?;

        let mean = |pick: fn(&Trial) -> f32| results.iter().map(|t| pick(t) as f64).sum::<f64>() / results.len() as f64;
        let each = |pick: fn(&Trial) -> f32| results.iter().map(pick).collect::<Vec<f32>>();
        let teacher_params = param_count(&zoo::vgg_small(1, &TEACHER_WIDTHS, 10, 0)?);
        let student_params = param_count(&zoo::vgg_small(1, &STUDENT_WIDTHS, 10, 0)?);
        let mut metrics = Metrics::new();
        metrics.insert("teacher_accuracy_mean", mean(|t| t.teacher.0));
        metrics.insert("student_alone_accuracy_mean", mean(|t| t.alone.0));
        metrics.insert("student_distilled_accuracy_mean", mean(|t| t.distilled.0));
        metrics.insert("student_distilled_hint_accuracy_mean", mean(|t| t.hint.0));
        metrics.insert("distillation_gain_points_mean", 100.0 * (mean(|t| t.distilled.0) - mean(|t| t.alone.0)));
        metrics.insert("hint_gain_points_mean", 100.0 * (mean(|t| t.hint.0) - mean(|t| t.alone.0)));
        metrics.insert(
            "per_trial",
            json!({"teacher": each(|t| t.teacher.0), "student_alone": each(|t| t.alone.0),
                   "student_distilled": each(|t| t.distilled.0), "student_distilled_hint": each(|t| t.hint.0),
                   "student_train_samples": results.iter().map(|t| t.student_samples).collect::<Vec<_>>(),
                   "test_samples": results.iter().map(|t| t.test_samples).collect::<Vec<_>>()}),
        );
        metrics.insert("teacher_params", teacher_params);
        metrics.insert("student_params", student_params);

        let first = &results[0];
        let curve = |name: &str, h: &[EpochMetrics]| {
            Series::new(name, h.iter().map(|m| ((m.epoch + 1) as f64, m.val_accuracy as f64)).collect())
        };
        ctx.plot(
            "test_accuracy",
            &LineChart {
                title: "distillation on the digits: test accuracy per epoch (trial 0)".into(),
                x_label: "epoch".into(),
                y_label: "test accuracy".into(),
                series: vec![
                    curve("teacher", &first.teacher.1),
                    curve("student alone", &first.alone.1),
                    curve("student distilled", &first.distilled.1),
                    curve("student distilled + hint", &first.hint.1),
                ],
                log_y: false,
                markers: true,
            },
        )?;
        ctx.note(format!(
            "Teacher {teacher_params} parameters, student {student_params}; mean test accuracy over {trials} \
             trial(s): teacher {:.2}%, student alone {:.2}%, distilled {:.2}%, distilled with hint {:.2}%.",
            100.0 * mean(|t| t.teacher.0),
            100.0 * mean(|t| t.alone.0),
            100.0 * mean(|t| t.distilled.0),
            100.0 * mean(|t| t.hint.0)
        ));
        Ok(metrics)
    }
}

/// Trials averaged in a full run (each with its own split and initialisation).
const TRIALS: usize = 3;
/// Stage widths of the teacher and of the half-width student.
const TEACHER_WIDTHS: [usize; 2] = [32, 64];
const STUDENT_WIDTHS: [usize; 2] = [16, 32];

/// What every trial shares.
struct Settings {
    recipe: Recipe,
    temperature: f32,
    alpha: f32,
    hint_weight: f32,
}

/// Final test accuracy and per-epoch history of each model of one trial.
struct Trial {
    teacher: (f32, Vec<EpochMetrics>),
    alone: (f32, Vec<EpochMetrics>),
    distilled: (f32, Vec<EpochMetrics>),
    hint: (f32, Vec<EpochMetrics>),
    student_samples: usize,
    test_samples: usize,
}

/// One trial: split, teacher, and the three students, all from `seed`.
fn run_trial(s: &Settings, seed: u64) -> Result<Trial, ExperimentError> {
    let recipe = s.recipe;
    let full = digits_split(seed)?;
    let (train, _) =
        full.train.stratified_split(STUDENT_FRACTION, seed).map_err(tinylab_classical::ClassicalError::from)?;
    let split = Split { train, test: full.test.clone(), source: full.source.clone() };

    let mut teacher = zoo::vgg_small(1, &TEACHER_WIDTHS, 10, seed)?;
    let teacher_history = recipe.train(&mut teacher, &full, seed)?;
    let teacher_result = (test_accuracy(&mut teacher, &split)?, teacher_history);

    let student_seed = seed.wrapping_add(1);
    let mut alone = zoo::vgg_small(1, &STUDENT_WIDTHS, 10, student_seed)?;
    let alone_history = recipe.train(&mut alone, &split, seed)?;
    let alone_result = (test_accuracy(&mut alone, &split)?, alone_history);

    let train = (&split.train.images, split.train.labels.as_slice());
    let test = (&split.test.images, split.test.labels.as_slice());
    let mut distilled_run = |hint: Option<FeatureHint>| -> Result<(f32, Vec<EpochMetrics>), ExperimentError> {
        let mut student = zoo::vgg_small(1, &STUDENT_WIDTHS, 10, student_seed)?;
        let cfg = DistillConfig {
            epochs: recipe.epochs,
            batch_size: recipe.batch_size,
            lr: recipe.schedule(),
            seed,
            temperature: s.temperature,
            alpha: s.alpha,
            hint,
        };
        let history = distill(&mut student, &mut teacher, &mut Sgd::new(0.9, 5e-4), train, test, &cfg)?;
        Ok((test_accuracy(&mut student, &split)?, history))
    };
    let distilled = distilled_run(None)?;
    let hint =
        FeatureHint { student_layer: FIRST_STAGE_OUTPUT, teacher_layer: FIRST_STAGE_OUTPUT, weight: s.hint_weight };
    let hint = distilled_run(Some(hint))?;
    Ok(Trial {
        teacher: teacher_result,
        alone: alone_result,
        distilled,
        hint,
        student_samples: split.train.len(),
        test_samples: split.test.len(),
    })
}
