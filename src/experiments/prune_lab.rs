//! `prune_lab`: fine-grained and channel pruning of two models on two datasets (the course's lab 1).
//!
//! Settings: the reference CNN on the bundled 8x8 digits, and a small VGG (stages of 16, 32, 64
//! channels) on synthetic 32x32 shape images. For each:
//!
//! 1. train a dense baseline;
//! 2. sensitivity: prune each layer alone to 10..95% and measure test accuracy (no fine-tuning), then
//!    prune every layer to the largest sparsity its curve allows within 0.5 points and fine-tune;
//! 3. fine-grained global magnitude pruning to 50..95%, accuracy before and after fine-tuning, with
//!    non-zero weights and the MACs left to a zero-skipping kernel;
//! 4. channel pruning (L1 filter norm, the same ratio in every prunable group) of 25..75% of the
//!    channels, accuracy before and after fine-tuning, with the smaller dense model's parameters and
//!    MACs;
//! 5. (digits) the pruning schedules at 90% sparsity on the same budget: one-shot, iterative (3 rounds),
//!    automated gradual pruning, and lottery-ticket rewinding to initialisation.
//!
//! The headline is the target: 5x fewer non-zero weights (80% sparsity) with at most 0.5 points
//! of test accuracy lost after fine-tuning.

use super::compression::{Recipe, Split, digits_split, shapes_split, test_accuracy};
use super::{Experiment, ExperimentError, Metrics, RunContext};
use crate::plot::{BarChart, BarGroup, LineChart, Series};
use serde_json::{Value, json};
use tinylab_classical::compress::channel::{ChannelPlan, Importance, count_macs, count_nonzero_macs, prune_channels};
use tinylab_classical::compress::prune::{Target, default_filter, prune_magnitude, sparsity_report};
use tinylab_classical::compress::schedule::{Rewind, Schedule, ScheduleConfig, run_schedule};
use tinylab_classical::compress::sensitivity::sensitivity_scan;
use tinylab_classical::nn::{Module, Sequential, StateDict, load_state_dict, param_count, state_dict, zoo};
use tinylab_classical::optim::Sgd;

/// The `prune_lab` experiment (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct PruneLab;

/// One model on one dataset.
struct Setting {
    name: &'static str,
    model: &'static str,
    split: Split,
    input_shape: Vec<usize>,
    build: Box<dyn Fn(u64) -> Result<Sequential, ExperimentError>>,
    train: Recipe,
    finetune: Recipe,
}

impl Setting {
    /// A fresh model holding `state`.
    fn restore(&self, state: &StateDict) -> Result<Sequential, ExperimentError> {
        let mut model = (self.build)(0)?;
        load_state_dict(&mut model, state)?;
        Ok(model)
    }
}

/// Fine-grained sparsities of the sweep (0.8 is the 5x point).
const SPARSITIES: [f64; 5] = [0.5, 0.7, 0.8, 0.9, 0.95];
/// Channel ratios of the sweep.
const CHANNEL_RATIOS: [f32; 3] = [0.25, 0.5, 0.75];
/// Per-layer sparsities of the sensitivity scan.
const SCAN: [f64; 8] = [0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];

impl Experiment for PruneLab {
    fn name(&self) -> &'static str {
        "prune_lab"
    }

    fn description(&self) -> &'static str {
        "fine-grained and channel pruning of the reference CNN (digits) and a small VGG (synthetic 32x32): \
         sensitivity curves, accuracy vs sparsity with and without fine-tuning, size and MACs, schedules"
    }

    fn run(&self, ctx: &mut RunContext) -> Result<Metrics, ExperimentError> {
        let quick = ctx.quick;
        let seed = ctx.seed;
        let settings = vec![
            Setting {
                name: "digits",
                model: "reference_cnn(1, 8, 10)",
                split: digits_split(seed)?,
                input_shape: vec![1, 8, 8],
                build: Box::new(|s| Ok(zoo::reference_cnn(1, 8, 10, s)?)),
                train: Recipe { epochs: if quick { 2 } else { 20 }, lr: 0.05, batch_size: 32, warmup: 0 },
                finetune: Recipe { epochs: if quick { 1 } else { 10 }, lr: 0.01, batch_size: 32, warmup: 0 },
            },
            Setting {
                name: "shapes32",
                model: "vgg_small(1, [16, 32, 64], 4)",
                split: if quick { shapes_split(200, 16, seed)? } else { shapes_split(2500, 32, seed)? },
                input_shape: if quick { vec![1, 16, 16] } else { vec![1, 32, 32] },
                build: Box::new(|s| Ok(zoo::vgg_small(1, &[16, 32, 64], 4, s)?)),
                train: Recipe { epochs: if quick { 1 } else { 15 }, lr: 0.05, batch_size: 32, warmup: 0 },
                finetune: Recipe { epochs: if quick { 1 } else { 5 }, lr: 0.01, batch_size: 32, warmup: 0 },
            },
        ];
        let mut metrics = Metrics::new();
        let mut config = serde_json::Map::new();
        let mut trained_states = Vec::new();
        for setting in &settings {
            config.insert(
                setting.name.into(),
                json!({"data": setting.split.source, "model": setting.model, "train": setting.train.describe(),
                       "finetune": setting.finetune.describe()}),
            );
            let (result, trained) = run_setting(ctx, setting)?;
            metrics.insert(setting.name, result);
            trained_states.push(trained);
        }
        ctx.set_config("settings", Value::Object(config));
        ctx.set_config("fine_grained_sparsities", json!(SPARSITIES));
        ctx.set_config("channel_ratios", json!(CHANNEL_RATIOS));
        ctx.set_config("sensitivity_sparsities", json!(SCAN));
        ctx.set_config("fine_grained", "global magnitude pruning of conv and linear weights (biases and BN kept)");
        ctx.set_config("channel", "L1 norm of each filter, the same ratio in every prunable channel group");

        let digits = run_schedules(ctx, &settings[0], &trained_states[0])?;
        metrics.insert("schedules_digits_90", digits);
        Ok(metrics)
    }
}

/// Steps 1 to 4 for one setting; returns its metrics and the trained dense state, and draws its charts.
fn run_setting(ctx: &mut RunContext, setting: &Setting) -> Result<(Value, StateDict), ExperimentError> {
    let seed = ctx.seed;
    let mut model = (setting.build)(seed)?;
    setting.train.train(&mut model, &setting.split, seed)?;
    let baseline = test_accuracy(&mut model, &setting.split)?;
    let trained = state_dict(&mut model);
    let dense_params = param_count(&model);
    let dense_macs = count_macs(&mut model, &setting.input_shape)?;
    let prunable = sparsity_report(&model, &default_filter).total();

    // Sensitivity, layer by layer.
    let sensitivity = sensitivity_scan(&mut model, &SCAN, &default_filter, &mut |m: &mut dyn Module| {
        Ok(tinylab_classical::train::evaluate(m, &setting.split.test.images, &setting.split.test.labels, 256)?.1)
    })?;
    ctx.plot(
        &format!("sensitivity_{}", setting.name),
        &LineChart {
            title: format!("{}: accuracy when one layer alone is pruned", setting.name),
            x_label: "sparsity of the layer".into(),
            y_label: "test accuracy".into(),
            series: sensitivity
                .layers
                .iter()
                .map(|l| {
                    Series::new(
                        format!("{} ({})", l.name, l.size),
                        l.points.iter().map(|&(s, a)| (s, a as f64)).collect(),
                    )
                })
                .collect(),
            log_y: false,
            markers: true,
        },
    )?;

    // Fine-grained sweep.
    let mut fine = Vec::new();
    for (i, &s) in SPARSITIES.iter().enumerate() {
        let mut m = setting.restore(&trained)?;
        let report = prune_magnitude(&mut m, &Target::Global(s), &default_filter)?;
        let before = test_accuracy(&mut m, &setting.split)?;
        setting.finetune.train(&mut m, &setting.split, seed.wrapping_add(100 + i as u64))?;
        let after = test_accuracy(&mut m, &setting.split)?;
        let after_report = sparsity_report(&m, &default_filter);
        fine.push(json!({
            "sparsity": s,
            "nonzero_weights": after_report.nonzero(),
            "compression": report.compression(),
            "accuracy_pruned": before,
            "accuracy_finetuned": after,
            "drop_points_finetuned": 100.0 * (baseline - after),
            "nonzero_macs": count_nonzero_macs(&mut m, &setting.input_shape)?,
        }));
    }

    // Channel sweep.
    let mut channel = Vec::new();
    for (i, &r) in CHANNEL_RATIOS.iter().enumerate() {
        let mut m = setting.restore(&trained)?;
        let report = prune_channels(&mut m, &setting.input_shape, &ChannelPlan::Uniform(r), Importance::L1)?;
        let before = test_accuracy(&mut m, &setting.split)?;
        setting.finetune.train(&mut m, &setting.split, seed.wrapping_add(200 + i as u64))?;
        let after = test_accuracy(&mut m, &setting.split)?;
        channel.push(json!({
            "channel_ratio": r,
            "params": report.params_after,
            "macs": report.macs_after,
            "param_reduction": dense_params as f64 / report.params_after as f64,
            "mac_reduction": dense_macs as f64 / report.macs_after as f64,
            "accuracy_pruned": before,
            "accuracy_finetuned": after,
            "drop_points_finetuned": 100.0 * (baseline - after),
            "channels": report.groups.iter().map(|g| json!({"group": g.name, "before": g.before, "after": g.after})).collect::<Vec<_>>(),
        }));
    }

    let curve = |rows: &[Value], x: &str, y: &str, name: &str| {
        Series::new(name, rows.iter().map(|r| (r[x].as_f64().unwrap_or(0.0), r[y].as_f64().unwrap_or(0.0))).collect())
    };
    let base_line =
        |x0: f64, x1: f64| Series::new("dense baseline", vec![(x0, baseline as f64), (x1, baseline as f64)]);
    ctx.plot(
        &format!("accuracy_vs_sparsity_{}", setting.name),
        &LineChart {
            title: format!("{}: fine-grained (global magnitude) pruning", setting.name),
            x_label: "fraction of conv/linear weights pruned".into(),
            y_label: "test accuracy".into(),
            series: vec![
                curve(&fine, "sparsity", "accuracy_pruned", "pruned"),
                curve(&fine, "sparsity", "accuracy_finetuned", "pruned + fine-tuned"),
                base_line(SPARSITIES[0], SPARSITIES[SPARSITIES.len() - 1]),
            ],
            log_y: false,
            markers: true,
        },
    )?;
    ctx.plot(
        &format!("accuracy_vs_channels_{}", setting.name),
        &LineChart {
            title: format!("{}: channel pruning (L1 filter norm)", setting.name),
            x_label: "fraction of channels removed per group".into(),
            y_label: "test accuracy".into(),
            series: vec![
                curve(&channel, "channel_ratio", "accuracy_pruned", "pruned"),
                curve(&channel, "channel_ratio", "accuracy_finetuned", "pruned + fine-tuned"),
                base_line(CHANNEL_RATIOS[0] as f64, CHANNEL_RATIOS[CHANNEL_RATIOS.len() - 1] as f64),
            ],
            log_y: false,
            markers: true,
        },
    )?;

    let five_x = fine.iter().find(|r| r["sparsity"].as_f64() == Some(0.8)).cloned().unwrap_or(Value::Null);
    // Prune each layer to the sparsity its own curve allows within 0.5 points, then fine-tune.
    let allocation = sensitivity.allocate(0.005);
    let mut allocated = setting.restore(&trained)?;
    prune_magnitude(&mut allocated, &Target::PerLayer(allocation.clone()), &default_filter)?;
    let allocated_pruned = test_accuracy(&mut allocated, &setting.split)?;
    setting.finetune.train(&mut allocated, &setting.split, seed.wrapping_add(300))?;
    let allocated_result = json!({
        "allocation": allocation,
        "sparsity": sparsity_report(&allocated, &default_filter).sparsity(),
        "accuracy_pruned": allocated_pruned,
        "accuracy_finetuned": test_accuracy(&mut allocated, &setting.split)?,
    });
    ctx.note(format!(
        "{}: dense {:.2}% with {dense_params} parameters ({prunable} prunable) and {dense_macs} MACs per sample. \
         At 80% fine-grained sparsity (5x fewer non-zero weights) after fine-tuning: {:.2}% ({:+.2} points).",
        setting.name,
        100.0 * baseline,
        100.0 * five_x["accuracy_finetuned"].as_f64().unwrap_or(f64::NAN),
        -five_x["drop_points_finetuned"].as_f64().unwrap_or(f64::NAN),
    ));
    let metrics = json!({
        "baseline_accuracy": baseline,
        "dense_params": dense_params,
        "prunable_weights": prunable,
        "dense_macs": dense_macs,
        "sensitivity": sensitivity,
        "sensitivity_allocation_0.5_points": allocated_result,
        "fine_grained": fine,
        "channel": channel,
        "five_x": five_x,
    });
    Ok((metrics, trained))
}

/// Step 5: the schedules at 90% sparsity, each with the same number of training epochs after the dense
/// baseline `trained` (which `setting.build(seed)` trained; the lottery ticket rewinds to that
/// initialisation).
fn run_schedules(ctx: &mut RunContext, setting: &Setting, trained: &StateDict) -> Result<Value, ExperimentError> {
    let seed = ctx.seed;
    let target = 0.9;
    let rounds = 3;
    let budget = setting.finetune.epochs * rounds;
    let rewind = Rewind::capture(&mut (setting.build)(seed)?);
    let train = (&setting.split.train.images, setting.split.train.labels.as_slice());
    let test = (&setting.split.test.images, setting.split.test.labels.as_slice());
    let per_round = setting.finetune.epochs;
    let runs: Vec<(&str, Schedule, usize, Option<Rewind>)> = vec![
        ("one-shot", Schedule::OneShot { target }, budget, None),
        ("iterative", Schedule::Iterative { target, rounds }, per_round, None),
        ("gradual (AGP)", Schedule::Gradual { initial: 0.0, target, start: 0, end: budget * 2 / 3 }, budget, None),
        (
            "lottery ticket (rewind to init)",
            Schedule::Iterative { target, rounds },
            setting.train.epochs.min(budget),
            Some(rewind),
        ),
    ];
    let mut out = Vec::new();
    for (name, schedule, epochs, rewind) in runs {
        let lottery = rewind.is_some();
        let mut m = setting.restore(trained)?;
        // The cosine learning rate spans one stage: the whole budget for one-shot and gradual, one
        // round for iterative, one full training for the lottery ticket (which restarts from init).
        let stage_epochs = if matches!(schedule, Schedule::Iterative { .. }) { epochs } else { budget };
        let base = if lottery { setting.train.lr } else { setting.finetune.lr };
        let lr = tinylab_classical::optim::LrSchedule::Cosine {
            base: base as f32,
            min: 0.0,
            warmup: 0,
            total: stage_epochs,
        };
        let cfg = ScheduleConfig { epochs, batch_size: setting.finetune.batch_size, lr, seed, global: true, rewind };
        let stages = run_schedule(&mut m, &mut Sgd::new(0.9, 5e-4), train, test, &schedule, &cfg, &default_filter)?;
        let accuracy = test_accuracy(&mut m, &setting.split)?;
        out.push(json!({
            "schedule": name,
            "training_epochs": stages.len() * if matches!(schedule, Schedule::Gradual { .. }) { 1 } else { epochs },
            "final_sparsity": sparsity_report(&m, &default_filter).sparsity(),
            "accuracy": accuracy,
            "stages": stages,
        }));
    }
    ctx.plot(
        "schedules_digits",
        &BarChart {
            title: format!("digits: pruning schedules at {:.0}% sparsity", 100.0 * target),
            x_label: "schedule".into(),
            y_label: "test accuracy".into(),
            categories: out.iter().map(|r| r["schedule"].as_str().unwrap_or("").to_string()).collect(),
            groups: vec![BarGroup::new(
                "test accuracy",
                out.iter().map(|r| r["accuracy"].as_f64().unwrap_or(0.0)).collect(),
            )],
            show_values: true,
        },
    )?;
    Ok(json!(out))
}
