//! The model zoo against PyTorch's parameter counts and output shapes, and the dataset operations
//! (splits, class filters, pooling, batches) against their definitions.

use proptest::prelude::*;
use tinylab_classical::data::{ImageDataset, digits, synthetic};
use tinylab_classical::nn::{Ctx, Module, named_params, param_count, zoo};
use tinylab_classical::tensor::{rand_uniform, rng};
use tinylab_classical::{ClassicalError, Var};

fn output_shape(model: &mut dyn Module, input: &[usize]) -> Vec<usize> {
    let x = Var::constant(rand_uniform(input, -1.0, 1.0, &mut rng(0)));
    model.forward(&x, &mut Ctx::eval()).unwrap().shape().to_vec()
}

/// Parameter counts equal those of the same architectures built in PyTorch (counts printed by
/// `sum(p.numel() for p in model.parameters())`; the reference CNN and MobileNetV2 are those of
/// `../shared/peers/bench_torch.py`, ResNet-20 uses 1x1 projection shortcuts: 272,474 as in He et al.).
#[test]
fn zoo_parameter_counts_match_pytorch() {
    assert_eq!(param_count(&zoo::reference_cnn(1, 28, 10, 0).unwrap()), 20_586);
    assert_eq!(param_count(&zoo::reference_cnn(1, 8, 10, 0).unwrap()), 6_186);
    assert_eq!(param_count(&zoo::mobilenet_v2(0.35, 10, 0).unwrap()), 399_338);
    assert_eq!(param_count(&zoo::mobilenet_v2(1.0, 1000, 0).unwrap()), 3_504_872);
    assert_eq!(param_count(&zoo::resnet_cifar(20, 10, 0).unwrap()), 272_474);
    assert_eq!(param_count(&zoo::resnet_cifar(8, 10, 0).unwrap()), 78_042);
    assert_eq!(param_count(&zoo::mlp(&[64, 32, 10], 0).unwrap()), 64 * 32 + 32 + 32 * 10 + 10);
}

/// Every zoo model maps its input to one logit row per sample, and names its parameters uniquely.
#[test]
fn zoo_models_produce_logits_and_unique_names() {
    let mut cases: Vec<(Box<dyn Module>, Vec<usize>)> = vec![
        (Box::new(zoo::reference_cnn(1, 8, 10, 1).unwrap()), vec![3, 1, 8, 8]),
        (Box::new(zoo::resnet_cifar(8, 10, 1).unwrap()), vec![2, 3, 32, 32]),
        (Box::new(zoo::mobilenet_v2(0.35, 10, 1).unwrap()), vec![1, 3, 96, 96]),
        (Box::new(zoo::mobilenet_v2(0.5, 7, 1).unwrap()), vec![2, 3, 64, 64]),
        (Box::new(zoo::vgg_small(3, &[8, 16], 10, 1).unwrap()), vec![2, 3, 16, 16]),
        (Box::new(zoo::mlp(&[64, 16, 10], 1).unwrap()), vec![5, 64]),
    ];
    for (model, input) in &mut cases {
        let out = output_shape(model.as_mut(), input);
        assert_eq!(out[0], input[0]);
        assert_eq!(out.len(), 2, "{out:?}");
        let names: Vec<String> = named_params(model.as_ref()).into_iter().map(|(n, _)| n).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
    }
}

/// Bad geometry is an error naming the problem, not a panic.
#[test]
fn bad_model_inputs_are_errors() {
    assert!(zoo::reference_cnn(1, 6, 10, 0).is_err());
    assert!(zoo::resnet_cifar(10, 10, 0).is_err());
    let mut cnn = zoo::reference_cnn(1, 8, 10, 0).unwrap();
    let x = Var::constant(rand_uniform(&[2, 3, 8, 8], 0.0, 1.0, &mut rng(0)));
    let err = cnn.forward(&x, &mut Ctx::eval()).unwrap_err();
    assert!(matches!(err, ClassicalError::ShapeMismatch { .. } | ClassicalError::InvalidArgument { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("conv2d") && message.contains('3'), "{message}");
}

fn digits_set() -> ImageDataset {
    digits().unwrap()
}

/// A stratified split keeps each class's share within one sample, and the two parts partition the set.
#[test]
fn stratified_split_partitions_and_keeps_class_shares() {
    let d = digits_set();
    let (a, b) = d.stratified_split(0.8, 3).unwrap();
    assert_eq!(a.len() + b.len(), d.len());
    for (c, &total) in d.class_counts().iter().enumerate() {
        let expected = (0.8 * total as f64).round() as usize;
        assert_eq!(a.class_counts()[c], expected);
    }
    // Partition: every image of the original appears in exactly one part (compare pixel sums per class).
    let sum = |x: &ImageDataset| x.images.iter().map(|&v| v as f64).sum::<f64>();
    assert!((sum(&a) + sum(&b) - sum(&d)).abs() < 1e-6 * sum(&d));
    assert!(d.stratified_split(1.5, 0).is_err());
}

/// Filtering classes relabels them in the order given and keeps only their samples.
#[test]
fn filter_classes_relabels_in_the_given_order() {
    let d = digits_set();
    let f = d.filter_classes(&[6, 3]).unwrap();
    assert_eq!(f.classes, 2);
    assert_eq!(f.class_counts(), vec![181, 183]);
    assert!(d.filter_classes(&[10]).unwrap_err().to_string().contains("class 10"));
}

/// 2x2 average pooling of the digits equals the mean of each block.
#[test]
fn avg_pool_averages_blocks() {
    let d = digits_set().subset(&[0, 1, 2]).unwrap();
    let p = d.avg_pool(2).unwrap();
    assert_eq!(p.images.shape(), &[3, 1, 4, 4]);
    let block: f32 = [(2, 4), (2, 5), (3, 4), (3, 5)].iter().map(|&(y, x)| d.images[[1, 0, y, x]]).sum::<f32>() / 4.0;
    assert!((p.images[[1, 0, 1, 2]] - block).abs() < 1e-7);
    assert!(d.avg_pool(3).is_err());
}

proptest! {
    /// Seeded batches cover every sample exactly once, in chunks of the batch size.
    #[test]
    fn batches_cover_every_sample_once(n in 1usize..120, batch in 1usize..40, seed in any::<u64>()) {
        let data = synthetic::gaussian_mixture(n, 3, 2, 1.0, 1).unwrap();
        let mut seen = Vec::new();
        let mut count = 0;
        for (images, labels) in data.batches(batch, Some(seed)).unwrap() {
            prop_assert_eq!(images.shape()[0], labels.len());
            prop_assert!(labels.len() <= batch);
            count += 1;
            for row in images.outer_iter() {
                // The first coordinate identifies the sample (continuous, so distinct almost surely).
                seen.push(row[[0, 0, 0]].to_bits());
            }
        }
        prop_assert_eq!(count, n.div_ceil(batch));
        let mut expected: Vec<u32> = data.images.outer_iter().map(|r| r[[0, 0, 0]].to_bits()).collect();
        seen.sort_unstable();
        expected.sort_unstable();
        prop_assert_eq!(seen, expected);
    }

    /// A seeded split is a partition whose first part has round(fraction * n) samples.
    #[test]
    fn split_sizes(n in 0usize..200, fraction in 0.0f64..=1.0, seed in any::<u64>()) {
        let data = synthetic::gaussian_mixture(n, 2, 1, 1.0, 2).unwrap();
        let (a, b) = data.split(fraction, seed).unwrap();
        prop_assert_eq!(a.len(), (fraction * n as f64).round() as usize);
        prop_assert_eq!(a.len() + b.len(), n);
    }
}

#[test]
fn colored_shapes_are_affine_recolourings_of_the_grey_shapes() {
    let grey = synthetic::shapes(20, 12, 0.3, 4).unwrap();
    let colour = synthetic::colored_shapes(20, 12, 0.3, 4).unwrap();
    assert_eq!(colour.images.shape(), &[20, 3, 12, 12]);
    assert_eq!(colour.labels, grey.labels);
    assert_eq!(colour, synthetic::colored_shapes(20, 12, 0.3, 4).unwrap());
    for i in 0..20 {
        for ch in 0..3 {
            // Two pixels with different grey values fix bg and gain; every other pixel must follow.
            let g = grey.images.slice(ndarray::s![i, 0, .., ..]);
            let c = colour.images.slice(ndarray::s![i, ch, .., ..]);
            let (g0, c0) = (g[[0usize, 0usize]], c[[0usize, 0usize]]);
            let (k, _) = g.iter().enumerate().max_by(|a, b| (a.1 - g0).abs().total_cmp(&(b.1 - g0).abs())).unwrap();
            let gain = (c.iter().nth(k).unwrap() - c0) / (g.iter().nth(k).unwrap() - g0);
            assert!((0.39..1.0).contains(&gain.abs()), "gain {gain}");
            for (&gv, &cv) in g.iter().zip(c.iter()) {
                assert!((c0 + gain * (gv - g0) - cv).abs() < 1e-4);
            }
        }
    }
}
