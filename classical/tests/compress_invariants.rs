//! Property tests of the compression passes: linear quantization bounds, per-channel scales,
//! calibration independent of batching, exact and monotone magnitude pruning with idempotent masks,
//! and masks that survive training.

use proptest::prelude::*;
use std::collections::BTreeMap;
use tinylab_classical::Tensor;
use tinylab_classical::compress::calibrate::{Calibration, RangeObserver};
use tinylab_classical::compress::prune::{
    Target, default_filter, masks, prune_magnitude, remove_masks, set_masks, sparsity_report,
};
use tinylab_classical::compress::quant::{Granularity, QuantParams, QuantScheme, Symmetry};
use tinylab_classical::nn::{self, Module, zoo};
use tinylab_classical::tensor::from_vec;

fn tensor_strategy() -> impl Strategy<Value = Tensor> {
    (1usize..5, 1usize..7, 1usize..4).prop_flat_map(|(a, b, c)| {
        prop::collection::vec(-10.0f32..10.0, a * b * c).prop_map(move |v| from_vec(&[a, b, c], v).unwrap())
    })
}

fn symmetry() -> impl Strategy<Value = Symmetry> {
    prop_oneof![Just(Symmetry::Symmetric), Just(Symmetry::Asymmetric)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Every value inside the representable range comes back within half a step, integers stay in
    /// range, and zero is exact.
    #[test]
    fn quantize_dequantize_error_is_at_most_half_a_step(
        w in tensor_strategy(), bits in 2u8..=8, sym in symmetry(), axis in prop::option::of(0usize..3),
    ) {
        let granularity = axis.map_or(Granularity::PerTensor, Granularity::PerChannel);
        let params = QuantScheme::new(bits, sym, granularity).fit(&w).unwrap();
        let q = params.quantize(&w).unwrap();
        prop_assert!(q.iter().all(|&v| (params.qmin..=params.qmax).contains(&v)));
        let back = params.dequantize(&q, w.shape()).unwrap();
        let inner: usize = axis.map_or(1, |a| w.shape()[a + 1..].iter().product());
        let channels = axis.map_or(1, |a| w.shape()[a]);
        for (i, (x, y)) in w.iter().zip(back.iter()).enumerate() {
            let c = (i / inner) % channels;
            let (s, z) = (params.scale[c], params.zero_point[c]);
            let lo = s * (params.qmin - z) as f32;
            let hi = s * (params.qmax - z) as f32;
            if *x >= lo && *x <= hi {
                prop_assert!((x - y).abs() <= s / 2.0 * (1.0 + 1e-5) + 1e-6, "{x} -> {y}, scale {s}");
            }
            prop_assert_eq!(params.dequantize_value(params.quantize_value(0.0, c), c), 0.0);
        }
    }

    /// Symmetric per-channel scales are each channel's own absmax / qmax.
    #[test]
    fn per_channel_scales_follow_each_channel(w in tensor_strategy(), bits in 2u8..=8, axis in 0usize..3) {
        let p = QuantParams::per_channel_symmetric(&w, axis, bits).unwrap();
        let qmax = (1i32 << (bits - 1)) - 1;
        for (c, lane) in w.axis_iter(ndarray::Axis(axis)).enumerate() {
            let absmax = lane.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let expected = if absmax == 0.0 { 1.0 } else { absmax / qmax as f32 };
            prop_assert_eq!(p.scale[c], expected);
            prop_assert_eq!(p.zero_point[c], 0);
        }
    }

    /// Fake quantization is idempotent: quantized values are on the grid.
    #[test]
    fn fake_quantization_is_idempotent(w in tensor_strategy(), bits in 2u8..=8, sym in symmetry()) {
        let p = QuantScheme::new(bits, sym, Granularity::PerTensor).fit(&w).unwrap();
        let once = p.fake_quantize(&w).unwrap();
        prop_assert_eq!(p.fake_quantize(&once).unwrap(), once);
    }

    /// The TFLite range rule, recomputed in f64: the range is widened to contain 0, the scale spans it,
    /// and the zero point is the nudged, clamped `qmin - min / scale`.
    #[test]
    fn affine_parameters_follow_tflite(lo in -50.0f32..50.0, width in 0.01f32..100.0, bits in 2u8..=8) {
        let (min, max) = (lo, lo + width);
        let p = QuantParams::affine(min, max, bits).unwrap();
        let (qmin, qmax) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
        let (rmin, rmax) = ((min as f64).min(0.0), (max as f64).max(0.0));
        let scale = (rmax - rmin) / (qmax - qmin) as f64;
        prop_assert!((p.scale[0] as f64 - scale).abs() <= scale * 1e-6);
        let zp = p.zero_point[0] as i64;
        prop_assert!((qmin..=qmax).contains(&zp));
        let ideal = qmin as f64 - rmin / scale;
        prop_assert!((zp as f64 - ideal.clamp(qmin as f64, qmax as f64)).abs() <= 0.5 + 1e-9);
    }

    /// Every calibration method gives the same range however the values are split into batches.
    #[test]
    fn calibration_does_not_depend_on_batching(
        values in prop::collection::vec(-5.0f32..5.0, 10..400), chunk in 1usize..50,
    ) {
        for method in [Calibration::MinMax, Calibration::Percentile(99.0), Calibration::Mse, Calibration::Entropy] {
            let mut whole = RangeObserver::new(method);
            whole.observe(&values);
            let mut parts = RangeObserver::new(method);
            for c in values.chunks(chunk) {
                parts.observe(c);
            }
            let (a, b) = (whole.range().unwrap(), parts.range().unwrap());
            prop_assert_eq!(a, b, "{:?}", method);
            let (min, max) = values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), v| (l.min(*v), h.max(*v)));
            prop_assert!(a.0 >= min && a.1 <= max && a.0 <= a.1, "{:?}: {:?} outside [{min}, {max}]", method, a);
        }
    }
}

fn cnn(seed: u64) -> tinylab_classical::nn::Sequential {
    zoo::reference_cnn(1, 8, 10, seed).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Uniform pruning removes exactly round(s n) weights of each layer, the smallest ones; global
    /// pruning exactly round(s N) over all; pruning again to the same target changes nothing; a larger
    /// target keeps everything pruned so far pruned.
    #[test]
    fn pruning_is_exact_idempotent_and_monotone(seed in 0u64..1000, s in 0.0f64..0.95, extra in 0.0f64..0.05, global in any::<bool>()) {
        let mut model = cnn(seed);
        let target = |s: f64| if global { Target::Global(s) } else { Target::Uniform(s) };
        let report = prune_magnitude(&mut model, &target(s), &default_filter).unwrap();
        if global {
            prop_assert_eq!(report.total() - report.nonzero(), (s * report.total() as f64).round() as usize);
        } else {
            for l in &report.layers {
                prop_assert_eq!(l.total - l.nonzero, (s * l.total as f64).round() as usize, "{}", l.name);
            }
        }
        // Survivors are at least as large as anything pruned (within a layer, or overall).
        let mut kept_min = f32::INFINITY;
        let mut pruned_max = 0.0f32;
        for (_, p) in nn::named_params(&model) {
            let Some(m) = &p.mask else { continue };
            let (mut k, mut q) = (f32::INFINITY, 0.0f32);
            for (w, m) in p.value.iter().zip(m.iter()) {
                if *m == 1.0 { k = k.min(w.abs()) } else { q = q.max(w.abs()); prop_assert_eq!(*w, 0.0) }
            }
            if !global { prop_assert!(q <= k) }
            kept_min = kept_min.min(k);
            pruned_max = pruned_max.max(q);
        }
        prop_assert!(pruned_max <= kept_min);
        let first = masks(&model);
        let again = prune_magnitude(&mut model, &target(s), &default_filter).unwrap();
        prop_assert_eq!(&again, &report);
        prop_assert_eq!(&masks(&model), &first);
        prune_magnitude(&mut model, &target(s + extra), &default_filter).unwrap();
        for (name, p) in nn::named_params(&model) {
            if let (Some(before), Some(after)) = (first.get(&name), &p.mask) {
                prop_assert!(before.iter().zip(after.iter()).all(|(b, a)| *b == 1.0 || *a == 0.0), "{name} regrew");
            }
        }
    }
}

#[test]
fn masks_round_trip_and_removal_keeps_zeros() {
    let mut model = cnn(1);
    prune_magnitude(&mut model, &Target::Uniform(0.6), &default_filter).unwrap();
    let saved = masks(&model);
    let zeros_before = sparsity_report(&model, &default_filter);
    let mut other = cnn(2);
    set_masks(&mut other, &saved).unwrap();
    assert_eq!(masks(&other), saved);
    remove_masks(&mut model);
    assert!(nn::named_params(&model).iter().all(|(_, p)| p.mask.is_none()));
    assert_eq!(sparsity_report(&model, &default_filter), zeros_before);
    let wrong = BTreeMap::from([("0.weight".to_string(), tinylab_classical::tensor::ones(&[2, 2]))]);
    assert!(set_masks(&mut other, &wrong).is_err());
}

/// Pruned weights stay exactly zero through training with SGD (momentum, weight decay) and Adam, and
/// their gradients are masked.
#[test]
fn masks_survive_training() {
    let digits = tinylab_classical::data::digits().unwrap();
    let idx: Vec<usize> = (0..256).collect();
    let sub = digits.subset(&idx).unwrap();
    let data = (&sub.images, sub.labels.as_slice());
    for adam in [false, true] {
        let mut model = cnn(3);
        prune_magnitude(&mut model, &Target::Global(0.8), &default_filter).unwrap();
        let before = sparsity_report(&model, &default_filter);
        let cfg = tinylab_classical::train::TrainConfig {
            epochs: 1,
            batch_size: 32,
            lr: tinylab_classical::optim::LrSchedule::Constant { base: 0.05 },
            seed: 4,
            patience: None,
            clip_grad_norm: None,
            progress: false,
            checkpoint: None,
        };
        if adam {
            let mut opt = tinylab_classical::optim::Adam::new(1e-4);
            tinylab_classical::train::fit(&mut model, &mut opt, data, data, &cfg).unwrap();
        } else {
            let mut opt = tinylab_classical::optim::Sgd::new(0.9, 5e-4);
            tinylab_classical::train::fit(&mut model, &mut opt, data, data, &cfg).unwrap();
        }
        let after = sparsity_report(&model, &default_filter);
        assert_eq!(after.nonzero(), before.nonzero(), "adam: {adam}");
        model.visit_params("", &mut |name, p| {
            if let Some(m) = &p.mask {
                for ((w, m), g) in p.value.iter().zip(m.iter()).zip(p.grad.as_ref().unwrap().iter()) {
                    if *m == 0.0 {
                        assert!(*w == 0.0 && *g == 0.0, "{name}: pruned weight {w}, gradient {g}");
                    }
                }
            }
        });
    }
}

/// Ties round away from zero, as TFLite's `TfLiteRound`.
#[test]
fn rounding_is_half_away_from_zero() {
    let p = QuantParams::symmetric(127.0, 8).unwrap(); // scale 1
    assert_eq!(p.quantize_value(2.5, 0), 3);
    assert_eq!(p.quantize_value(-2.5, 0), -3);
    assert_eq!(p.quantize_value(0.49, 0), 0);
}
