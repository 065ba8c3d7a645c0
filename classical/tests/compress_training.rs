//! Compression passes that interact with training, on the bundled digits: pruning masks through SGD
//! and Adam, batch-norm folding, quantization-aware training with weight and activation fake
//! quantization, sensitivity scans, iterative pruning schedules and distillation.
//!
//! Every run is one short epoch on a few hundred 8x8 digits, so the whole file takes a few seconds.

use std::any::Any;
use std::sync::Arc;
use tinylab_classical::autograd::Var;
use tinylab_classical::compress::distill::{DistillConfig, FeatureHint, distill};
use tinylab_classical::compress::prune::{Target, default_filter, masks, prune_magnitude, sparsity_report};
use tinylab_classical::compress::qat::{
    FakeQuantAct, LinearWeights, attach_quantizer, bake_quantizers, insert_activation_quant, remove_activation_quant,
};
use tinylab_classical::compress::quant::{Granularity, QuantScheme, Symmetry};
use tinylab_classical::compress::schedule::{Schedule, ScheduleConfig, iterative_sparsity, run_schedule};
use tinylab_classical::compress::sensitivity::sensitivity_scan;
use tinylab_classical::data::ImageDataset;
use tinylab_classical::graph::{self, FoldBatchNorm, NodeOp, Pass};
use tinylab_classical::nn::{self, Ctx, Module, Sequential, zoo};
use tinylab_classical::optim::{Adam, LrSchedule, Optimizer, Sgd};
use tinylab_classical::train::{TrainConfig, evaluate, fit};
use tinylab_classical::{Result, Tensor};

/// The first `n` digits as a training set and the next 128 as a validation set.
fn digits(n: usize) -> (ImageDataset, ImageDataset) {
    let all = tinylab_classical::data::digits().unwrap();
    let train: Vec<usize> = (0..n).collect();
    let val: Vec<usize> = (n..n + 128).collect();
    (all.subset(&train).unwrap(), all.subset(&val).unwrap())
}

fn cnn(seed: u64) -> Sequential {
    zoo::reference_cnn(1, 8, 10, seed).unwrap()
}

fn one_epoch(lr: f32, seed: u64) -> TrainConfig {
    TrainConfig {
        epochs: 1,
        batch_size: 32,
        lr: LrSchedule::Constant { base: lr },
        seed,
        patience: None,
        clip_grad_norm: None,
        progress: false,
        checkpoint: None,
    }
}

fn train_one_epoch<O>(model: &mut dyn Module, opt: &mut O, lr: f32, data: &(ImageDataset, ImageDataset)) -> f32
where
    O: Optimizer + serde::Serialize + serde::de::DeserializeOwned + Clone,
{
    let (train, val) = data;
    let report =
        fit(model, opt, (&train.images, &train.labels), (&val.images, &val.labels), &one_epoch(lr, 7)).unwrap();
    let last = report.history.last().unwrap();
    assert!(last.train_loss.is_finite() && last.val_loss.is_finite(), "{last:?}");
    last.train_loss
}

/// Weights of the default filter, flattened, by path.
fn weights(model: &dyn Module) -> Vec<(String, Vec<f32>)> {
    nn::named_params(model)
        .into_iter()
        .filter(|(n, p)| default_filter(n, p))
        .map(|(n, p)| (n, p.value.iter().copied().collect()))
        .collect()
}

fn logits(model: &mut Sequential, x: &Tensor) -> Tensor {
    model.forward(&Var::constant(x.clone()), &mut Ctx::eval()).unwrap().value().clone()
}

/// Pruned weights are exactly 0.0 after an epoch of SGD (momentum, weight decay, with and without
/// Nesterov) and of Adam / AdamW; their gradients are zero; the masks are unchanged; and the surviving
/// weights did train. (Two mechanisms keep them at zero: masked gradients, which with a zero value
/// leave momentum, moments and weight decay at zero, and the optimizers' re-application of the mask;
/// the test checks the outcome, which fails when both are dropped or the gradient mask is.)
#[test]
fn pruned_weights_stay_zero_through_training() {
    let data = digits(256);
    let mut nesterov = Sgd::new(0.9, 5e-4);
    nesterov.nesterov = true;
    for (label, global) in [("uniform", false), ("global", true)] {
        for opt in 0..4 {
            let mut model = cnn(3 + opt);
            let target = if global { Target::Global(0.8) } else { Target::Uniform(0.8) };
            let report = prune_magnitude(&mut model, &target, &default_filter).unwrap();
            let (n, z) = (report.total(), report.total() - report.nonzero());
            let expected = if global {
                (0.8 * n as f64).round() as usize
            } else {
                report.layers.iter().map(|l| (0.8 * l.total as f64).round() as usize).sum()
            };
            assert_eq!(z, expected, "{label}");
            let mask_before = masks(&model);
            let w_before = weights(&model);
            match opt {
                0 => train_one_epoch(&mut model, &mut Sgd::new(0.9, 5e-4), 0.05, &data),
                1 => train_one_epoch(&mut model, &mut nesterov.clone(), 0.05, &data),
                2 => train_one_epoch(&mut model, &mut Adam::new(1e-3), 1e-3, &data),
                _ => train_one_epoch(&mut model, &mut Adam::adamw(1e-2), 1e-3, &data),
            };
            assert_eq!(masks(&model), mask_before, "{label}, optimizer {opt}: masks changed");
            let mut pruned = 0;
            model.visit_params("", &mut |name, p| {
                let Some(m) = &p.mask else { return };
                let g = p.grad.as_ref().expect("a trained parameter has a gradient");
                for ((w, m), g) in p.value.iter().zip(m.iter()).zip(g.iter()) {
                    if *m == 0.0 {
                        pruned += 1;
                        assert!(*w == 0.0, "{label}, optimizer {opt}: pruned {name} is {w}");
                        assert!(*g == 0.0, "{label}, optimizer {opt}: pruned {name} has gradient {g}");
                    }
                }
            });
            assert_eq!(pruned, z);
            // The survivors moved: training did happen.
            let moved = weights(&model)
                .iter()
                .zip(&w_before)
                .map(|((_, a), (_, b))| a.iter().zip(b).filter(|(x, y)| x != y).count())
                .sum::<usize>();
            assert!(moved > (n - z) / 2, "{label}, optimizer {opt}: only {moved} of {} survivors moved", n - z);
        }
    }
}

/// Gives every batch norm of `model` non-trivial running statistics and affine parameters.
fn randomise_batch_norms(model: &mut Sequential, seed: u64) {
    let mut rng = tinylab_classical::tensor::rng(seed);
    let mut u = move || tinylab_classical::tensor::uniform(&mut rng) as f32;
    model.visit_buffers_mut("", &mut |name, b| {
        for v in b.iter_mut() {
            *v = if name.ends_with("running_var") { 0.2 + 3.0 * u() } else { 2.0 * u() - 1.0 };
        }
    });
    model.visit_params_mut("", &mut |_, p| {
        if p.value.ndim() == 1 {
            for v in p.value.iter_mut() {
                *v = 2.0 * u() - 0.5;
            }
        }
    });
}

fn count_batch_norms(g: &graph::Graph) -> usize {
    g.nodes().iter().filter(|n| matches!(n.op, NodeOp::BatchNorm { .. })).count()
}

/// Folding the batch norms of a randomly initialised VGG with non-trivial statistics leaves its
/// evaluation-mode outputs unchanged (to f32 rounding); a pruned model keeps its masks and zeros.
#[test]
fn folding_batch_norms_preserves_eval_outputs() {
    let x = tinylab_classical::tensor::randn(&[3, 3, 16, 16], 1.0, &mut tinylab_classical::tensor::rng(5));
    for (seed, prune) in [(1u64, false), (2, true)] {
        let mut model = zoo::vgg_small(3, &[4, 8], 10, seed).unwrap();
        randomise_batch_norms(&mut model, seed + 10);
        if prune {
            prune_magnitude(&mut model, &Target::Uniform(0.5), &default_filter).unwrap();
        }
        let before = logits(&mut model, &x);
        let scale = before.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.1, "outputs are not trivial: {scale}");
        let mut g = graph::trace(&mut model, &[3, 16, 16]).unwrap();
        assert_eq!(count_batch_norms(&g), 4);
        assert_eq!(FoldBatchNorm.apply(&mut g).unwrap().changed.len(), 4);
        assert_eq!(count_batch_norms(&g), 0);
        let after = g.run(&x).unwrap();
        for (a, b) in before.iter().zip(after.iter()) {
            assert!((a - b).abs() <= 1e-4 * (1.0 + scale), "seed {seed}: {a} vs {b}");
        }
        if prune {
            // Folding scales rows, so the pruned weights stay exactly zero in the folded constants.
            let pruned = masks(&model);
            assert_eq!(pruned.len(), 5, "four convolutions and the classifier keep their masks");
            let mut checked = 0;
            for n in g.nodes() {
                let (Some(value), Some(m)) = (&n.value, pruned.get(&n.path)) else { continue };
                assert!(value.iter().zip(m.iter()).all(|(w, m)| *m == 1.0 || *w == 0.0), "{}", n.path);
                checked += 1;
            }
            assert_eq!(checked, 5, "every masked weight is in the folded graph");
        }
    }
}

/// QAT with linear weight quantizers trains, and baking leaves at most `2^bits` distinct values per
/// output channel (`2^bits - 1` for the restricted symmetric grid) without changing the function;
/// pruned weights stay zero through QAT and baking (0 is on every grid).
#[test]
fn qat_trains_and_baking_keeps_the_grid() {
    let data = digits(256);
    let x = data.1.images.clone().into_dyn();
    for (bits, symmetry, granularity) in [
        (4u8, Symmetry::Symmetric, Granularity::PerChannel(0)),
        (2, Symmetry::Asymmetric, Granularity::PerChannel(0)),
        (3, Symmetry::Asymmetric, Granularity::PerTensor),
    ] {
        let mut model = cnn(11);
        prune_magnitude(&mut model, &Target::Uniform(0.3), &default_filter).unwrap();
        let scheme = QuantScheme::new(bits, symmetry, granularity);
        let q = Arc::new(LinearWeights::new(scheme).unwrap());
        assert_eq!(attach_quantizer(&mut model, q, &default_filter), 3);
        train_one_epoch(&mut model, &mut Sgd::new(0.9, 5e-4), 0.05, &data);
        let with_quantizers = logits(&mut model, &x);
        bake_quantizers(&mut model);
        assert!(nn::named_params(&model).iter().all(|(_, p)| p.quantizer.is_none()));
        assert_eq!(logits(&mut model, &x), with_quantizers, "{bits} bits: baking changed the function");
        let limit = match symmetry {
            Symmetry::Symmetric => (1usize << bits) - 1,
            Symmetry::Asymmetric => 1 << bits,
        };
        for (name, p) in nn::named_params(&model) {
            if !default_filter(&name, p) {
                continue;
            }
            for row in p.value.axis_iter(ndarray::Axis(0)) {
                let mut levels: Vec<u32> = row.iter().map(|v| v.to_bits()).collect();
                levels.sort_unstable();
                levels.dedup();
                assert!(levels.len() <= limit, "{name}, {bits} bits: {} levels", levels.len());
            }
            let m = p.mask.as_ref().expect("masks survive baking");
            assert!(p.value.iter().zip(m.iter()).all(|(w, m)| *m == 1.0 || *w == 0.0), "{name}");
        }
    }
}

fn fake_quant_ranges(model: &Sequential) -> Vec<Option<(f32, f32)>> {
    model
        .layers
        .iter()
        .filter_map(|l| (l.as_ref() as &dyn Any).downcast_ref::<FakeQuantAct>())
        .map(|f| f.range)
        .collect()
}

/// Activation fake quantization at the input, after each ReLU and at the output: training sets every
/// range (finite, ordered, non-negative after ReLU and on the [0, 1] digits), evaluation leaves the
/// ranges alone, and removal restores the layer structure.
#[test]
fn activation_quantization_trains_and_sets_ranges() {
    let data = digits(256);
    let mut model = cnn(12);
    let paths: Vec<String> = nn::named_params(&model).into_iter().map(|(n, _)| n).collect();
    let layers = model.layers.len();
    assert_eq!(insert_activation_quant(&mut model, 8).unwrap(), 4, "input, two ReLUs, output");
    assert!(fake_quant_ranges(&model).iter().all(Option::is_none));
    let loss = train_one_epoch(&mut model, &mut Sgd::new(0.9, 5e-4), 0.05, &data);
    assert!(loss < (10f32).ln() + 0.5, "loss {loss}");
    let ranges = fake_quant_ranges(&model);
    assert_eq!(ranges.len(), 4);
    for (i, r) in ranges.iter().enumerate() {
        let (lo, hi) = r.expect("training sets every range");
        assert!(lo.is_finite() && hi.is_finite() && lo < hi, "quantizer {i}: [{lo}, {hi}]");
        if i < 3 {
            assert!(lo >= 0.0, "quantizer {i} sees non-negative values: [{lo}, {hi}]");
        }
    }
    let (lo, hi) = ranges[0].unwrap();
    assert!(lo == 0.0 && hi > 0.5 && hi <= 1.0, "digits lie in [0, 1]: [{lo}, {hi}]");
    let (val_images, val_labels) = (&data.1.images, &data.1.labels);
    let (_, accuracy, _) = evaluate(&mut model, val_images, val_labels, 64).unwrap();
    assert!((0.0..=1.0).contains(&accuracy));
    assert_eq!(fake_quant_ranges(&model), ranges, "evaluation must not move the ranges");
    assert_eq!(remove_activation_quant(&mut model), 4);
    assert_eq!(model.layers.len(), layers);
    assert_eq!(nn::named_params(&model).into_iter().map(|(n, _)| n).collect::<Vec<_>>(), paths);
}

/// A sensitivity scan prunes each layer in turn and measures, but leaves the model (values, masks,
/// buffers) exactly as it came, also when the model was already pruned.
#[test]
fn sensitivity_scan_leaves_the_model_unchanged() {
    let (_, val) = digits(0);
    let mut model = cnn(13);
    prune_magnitude(&mut model, &Target::Uniform(0.5), &default_filter).unwrap();
    let state = nn::state_dict(&mut model);
    let before_masks = masks(&model);
    let mut calls = 0;
    let mut accuracy = |m: &mut dyn Module| -> Result<f32> {
        calls += 1;
        Ok(evaluate(m, &val.images, &val.labels, 128)?.1)
    };
    let sparsities = [0.25, 0.5, 0.9];
    let sens = sensitivity_scan(&mut model, &sparsities, &default_filter, &mut accuracy).unwrap();
    assert_eq!(calls, 1 + 3 * sparsities.len());
    assert_eq!(nn::state_dict(&mut model), state);
    assert_eq!(masks(&model), before_masks);
    assert_eq!(sens.layers.len(), 3);
    let baseline = evaluate(&mut model, &val.images, &val.labels, 128).unwrap().1;
    assert_eq!(sens.baseline, baseline);
    for l in &sens.layers {
        assert_eq!(l.points.iter().map(|p| p.0).collect::<Vec<_>>(), sparsities);
        // Pruning a layer to the sparsity it already has (the smallest half: its own zeros) changes
        // nothing, so that point reproduces the baseline.
        assert_eq!(l.points[1].1, baseline, "{}", l.name);
    }
}

fn schedule_cfg(global: bool) -> ScheduleConfig {
    ScheduleConfig { epochs: 1, batch_size: 32, lr: LrSchedule::Constant { base: 0.05 }, seed: 3, global, rewind: None }
}

/// Three iterative rounds towards 75% reach the equal-ratio sparsities round by round and end with
/// exactly `round(0.75 n)` masked zeros in every pruned layer (uniform) or overall (global).
#[test]
fn iterative_schedule_ends_at_the_target() {
    let data = digits(256);
    let (train, val) = (&data.0, &data.1);
    for global in [false, true] {
        let mut model = cnn(14);
        let stages = run_schedule(
            &mut model,
            &mut Sgd::new(0.9, 5e-4),
            (&train.images, &train.labels),
            (&val.images, &val.labels),
            &Schedule::Iterative { target: 0.75, rounds: 3 },
            &schedule_cfg(global),
            &default_filter,
        )
        .unwrap();
        assert_eq!(stages.len(), 3);
        let report = sparsity_report(&model, &default_filter);
        let total = report.total();
        for (r, st) in stages.iter().enumerate() {
            let expected = iterative_sparsity(r + 1, 3, 0.75);
            assert!((st.sparsity - expected).abs() < 1.0 / total as f64 * 3.0, "round {}: {}", r + 1, st.sparsity);
            assert!(st.accuracy.is_finite() && st.accuracy_after_prune.is_finite());
        }
        assert!(stages.windows(2).all(|w| w[0].sparsity < w[1].sparsity));
        let masked_by_layer: Vec<(String, usize, usize)> = nn::named_params(&model)
            .into_iter()
            .filter(|(n, p)| default_filter(n, p))
            .map(|(n, p)| (n, p.len(), p.mask.as_ref().unwrap().iter().filter(|m| **m == 0.0).count()))
            .collect();
        if global {
            let masked: usize = masked_by_layer.iter().map(|l| l.2).sum();
            assert_eq!(masked, (0.75 * total as f64).round() as usize);
        } else {
            for (name, n, masked) in &masked_by_layer {
                assert_eq!(*masked, (0.75 * *n as f64).round() as usize, "{name}");
            }
        }
        // The reference CNN's 144 + 4608 + 1280 weights are all multiples of 4: exactly 75% either way.
        assert_eq!(total, 6032);
        assert_eq!(report.sparsity(), 0.75, "global: {global}");
        assert_eq!(stages[2].sparsity, 0.75);
    }
}

/// One epoch of distillation into a smaller student returns finite metrics, with and without a
/// FitNets hint through a 1x1 adapter (student and teacher widths differ), and repeats exactly.
#[test]
fn distillation_runs_and_repeats() {
    let data = digits(256);
    let (train, val) = (&data.0, &data.1);
    let mut teacher = cnn(15);
    train_one_epoch(&mut teacher, &mut Sgd::new(0.9, 5e-4), 0.05, &data);
    let run = |teacher: &mut Sequential, hint: Option<FeatureHint>| {
        let mut student = zoo::vgg_small(1, &[8], 10, 16).unwrap();
        let cfg = DistillConfig {
            epochs: 1,
            batch_size: 32,
            lr: LrSchedule::Constant { base: 0.05 },
            seed: 17,
            temperature: 4.0,
            alpha: 0.7,
            hint,
        };
        let history = distill(
            &mut student,
            teacher,
            &mut Sgd::new(0.9, 0.0),
            (&train.images, &train.labels),
            (&val.images, &val.labels),
            &cfg,
        )
        .unwrap();
        (history, nn::state_dict(&mut student))
    };
    // Student layer 2 is its first ReLU (8 channels of 8x8), teacher layer 2 its first ReLU (16).
    let hint = FeatureHint { student_layer: 2, teacher_layer: 2, weight: 0.5 };
    for hint in [None, Some(hint)] {
        let (history, state) = run(&mut teacher, hint);
        assert_eq!(history.len(), 1);
        let m = &history[0];
        assert!(m.train_loss.is_finite() && m.val_loss.is_finite(), "{m:?}");
        assert!((0.0..=1.0).contains(&m.train_accuracy) && (0.0..=1.0).contains(&m.val_accuracy), "{m:?}");
        let (again, state_again) = run(&mut teacher, hint);
        assert_eq!(again, history, "the same seed must give the same run");
        assert_eq!(state_again, state);
    }
}
