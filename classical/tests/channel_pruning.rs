//! Structured channel pruning: the channel groups the analysis finds (checked against the zoo
//! architectures by hand), output equivalence when the removed channels carry exact zeros (plain,
//! residual and depthwise models), the surgery against direct slices of the original weights,
//! parameter and MAC counts against closed forms, importance scores against hand computations, the
//! errors, and pruning followed by fine-tuning.

use proptest::prelude::*;
use std::any::Any;
use std::collections::BTreeMap;
use tinylab_classical::compress::channel::{
    ChannelGroup, ChannelPlan, ChannelPruner, Importance, Role, count_macs, output_shape, prune_channels, top_k,
};
use tinylab_classical::data::digits;
use tinylab_classical::nn::{
    self, Act, BatchNorm, Conv2d, Ctx, Flatten, LayerNorm, Linear, Module, Param, Sequential, param_count, zoo,
};
use tinylab_classical::ops::{Activation, Conv2dSpec};
use tinylab_classical::optim::{LrSchedule, Sgd};
use tinylab_classical::tensor::{Tensor, from_vec, rand_uniform, rng, uniform};
use tinylab_classical::train::{TrainConfig, evaluate, fit, permutation};
use tinylab_classical::{Var, ops};

fn forward_eval(model: &mut Sequential, x: &Tensor) -> Tensor {
    model.forward(&Var::constant(x.clone()), &mut Ctx::eval()).unwrap().value().clone()
}

fn conv(model: &dyn Module, path: &str) -> Conv2d {
    (nn::module_at(model, path).unwrap() as &dyn Any).downcast_ref::<Conv2d>().unwrap().clone()
}

fn bn(model: &dyn Module, path: &str) -> BatchNorm {
    (nn::module_at(model, path).unwrap() as &dyn Any).downcast_ref::<BatchNorm>().unwrap().clone()
}

fn linear(model: &dyn Module, path: &str) -> Linear {
    (nn::module_at(model, path).unwrap() as &dyn Any).downcast_ref::<Linear>().unwrap().clone()
}

/// Non-trivial batch-norm parameters and running statistics everywhere (the defaults are 1, 0, 0, 1).
fn randomize_batch_norms(model: &mut Sequential, seed: u64) {
    let mut r = rng(seed);
    let mut paths = Vec::new();
    model.visit_buffers_mut("", &mut |name, _| {
        if let Some(p) = name.strip_suffix(".running_mean") {
            paths.push(p.to_string());
        }
    });
    for path in paths {
        let layer = nn::module_at_mut(model, &path).unwrap();
        let b = (layer as &mut dyn Any).downcast_mut::<BatchNorm>().unwrap();
        let c = b.gamma.len();
        b.gamma.value = rand_uniform(&[c], 0.5, 1.5, &mut r);
        b.beta.value = rand_uniform(&[c], -0.3, 0.3, &mut r);
        b.stats.mean = (0..c).map(|_| (uniform(&mut r) as f32 - 0.5) * 0.2).collect();
        b.stats.var = (0..c).map(|_| 0.5 + uniform(&mut r) as f32).collect();
    }
}

/// Makes channels `chans` of `group` exactly zero after every member: zero producer and depthwise
/// filters and biases, and batch norms with zero running mean and zero shift (so BN(0) = 0 in eval
/// mode whatever the scale and variance), so ReLU / ReLU6 / the residual sum keep them zero.
fn zero_channels(model: &mut Sequential, group: &ChannelGroup, chans: &[usize]) {
    for m in &group.members {
        let layer = nn::module_at_mut(model, &m.path).unwrap() as &mut dyn Any;
        match m.role {
            Role::Producer | Role::Depthwise => {
                let (w, b) = if let Some(c) = layer.downcast_mut::<Conv2d>() {
                    (&mut c.weight, &mut c.bias)
                } else {
                    let l = layer.downcast_mut::<Linear>().unwrap();
                    (&mut l.weight, &mut l.bias)
                };
                for &c in chans {
                    w.value.index_axis_mut(ndarray::Axis(0), c).fill(0.0);
                    if let Some(b) = b {
                        b.value[[c]] = 0.0;
                    }
                }
            }
            Role::BatchNorm { block } => {
                assert_eq!(block, 1);
                let b = layer.downcast_mut::<BatchNorm>().unwrap();
                for &c in chans {
                    b.beta.value[[c]] = 0.0;
                    b.stats.mean[c] = 0.0;
                }
            }
            Role::Consumer { .. } => {}
        }
    }
}

fn max_rel_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.shape(), b.shape());
    let scale = a.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-6);
    a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// Zeroes a seeded random half (floor(C/2)) of every prunable group's channels, prunes with
/// `Uniform(0.5)` by L1 norm, and checks that exactly the zeroed channels went and that the outputs
/// did not change.
fn check_zero_channel_pruning(mut model: Sequential, input: &[usize], seed: u64) {
    randomize_batch_norms(&mut model, seed);
    let pruner = ChannelPruner::new(&mut model, &input[1..]).unwrap();
    let mut expected = BTreeMap::new();
    for (gi, g) in pruner.groups().iter().filter(|g| g.prunable()).enumerate() {
        let mut perm = permutation(g.channels, seed ^ gi as u64);
        perm.truncate(g.channels / 2);
        zero_channels(&mut model, g, &perm);
        expected.insert(g.name.clone(), (0..g.channels).filter(|c| !perm.contains(c)).collect::<Vec<_>>());
    }
    let x = rand_uniform(input, -1.0, 1.0, &mut rng(seed + 1));
    let before = forward_eval(&mut model, &x);
    let params_before = param_count(&model);
    let report = prune_channels(&mut model, &input[1..], &ChannelPlan::Uniform(0.5), Importance::L1).unwrap();
    for change in &report.groups {
        assert_eq!(&change.kept, &expected[&change.name], "group {}", change.name);
        assert_eq!(change.after, change.before - change.before / 2);
    }
    assert_eq!(report.groups.len(), expected.len());
    assert_eq!(report.params_before, params_before);
    assert_eq!(report.params_after, param_count(&model));
    assert!(report.params_after < report.params_before);
    assert_eq!(report.macs_after, count_macs(&mut model, &input[1..]).unwrap());
    assert!(report.macs_after < report.macs_before);
    let after = forward_eval(&mut model, &x);
    let diff = max_rel_diff(&before, &after);
    assert!(diff <= 1e-5, "outputs moved by {diff} (relative)");
}

#[test]
fn pruning_all_zero_channels_leaves_reference_cnn_outputs_unchanged() {
    check_zero_channel_pruning(zoo::reference_cnn(1, 8, 10, 3).unwrap(), &[3, 1, 8, 8], 10);
}

#[test]
fn pruning_all_zero_channels_leaves_vgg_small_outputs_unchanged() {
    check_zero_channel_pruning(zoo::vgg_small(3, &[8, 16], 10, 4).unwrap(), &[2, 3, 32, 32], 11);
}

#[test]
fn pruning_all_zero_channels_leaves_resnet8_outputs_unchanged() {
    check_zero_channel_pruning(zoo::resnet_cifar(8, 10, 5).unwrap(), &[2, 3, 32, 32], 12);
}

#[test]
fn pruning_all_zero_channels_leaves_mobilenet_v2_outputs_unchanged() {
    check_zero_channel_pruning(zoo::mobilenet_v2(0.25, 10, 6).unwrap(), &[2, 3, 32, 32], 13);
}

#[test]
fn pruning_all_zero_channels_leaves_mlp_outputs_unchanged() {
    check_zero_channel_pruning(zoo::mlp(&[64, 24, 16, 10], 7).unwrap(), &[4, 1, 8, 8], 14);
}

fn summary(g: &ChannelGroup) -> Vec<(&str, Role)> {
    g.members.iter().map(|m| (m.path.as_str(), m.role)).collect()
}

const P: Role = Role::Producer;
const B: Role = Role::BatchNorm { block: 1 };
const C: Role = Role::Consumer { block: 1 };

/// ResNet-8's groups, written out from the architecture: the stem and the first stage's residual sums
/// form one group, each later stage's body output and projection shortcut another.
#[test]
fn resnet8_groups_follow_the_residual_additions() {
    let mut model = zoo::resnet_cifar(8, 10, 0).unwrap();
    let pruner = ChannelPruner::new(&mut model, &[3, 32, 32]).unwrap();
    let names: Vec<(&str, usize, bool)> =
        pruner.groups().iter().map(|g| (g.name.as_str(), g.channels, g.prunable())).collect();
    assert_eq!(
        names,
        [
            ("input", 3, false),
            ("0", 16, true),
            ("3.body.0", 16, true),
            ("4.body.0", 32, true),
            ("4.body.3", 32, true),
            ("5.body.0", 64, true),
            ("5.body.3", 64, true),
            ("7", 10, false),
        ]
    );
    let g = pruner.group("0").unwrap();
    assert_eq!(
        summary(g),
        [("0", P), ("1", B), ("3.body.0", C), ("3.body.3", P), ("3.body.4", B), ("4.body.0", C), ("4.shortcut.0", C)]
    );
    let g = pruner.group("4.body.3").unwrap();
    assert_eq!(
        summary(g),
        [
            ("4.body.3", P),
            ("4.body.4", B),
            ("4.shortcut.0", P),
            ("4.shortcut.1", B),
            ("5.body.0", C),
            ("5.shortcut.0", C)
        ]
    );
    assert_eq!(summary(pruner.group("5.body.3").unwrap())[3..], [("5.shortcut.1", B), ("7", C)]);
    assert_eq!(summary(pruner.group("3.body.0").unwrap()), [("3.body.0", P), ("3.body.1", B), ("3.body.3", C)]);
}

/// MobileNetV2's depthwise convolutions belong to the group of the expansion before them, and pruning
/// lowers their `groups` with the channels.
#[test]
fn mobilenet_depthwise_convolutions_follow_their_input_channels() {
    let mut model = zoo::mobilenet_v2(0.25, 10, 0).unwrap();
    let pruner = ChannelPruner::new(&mut model, &[3, 32, 32]).unwrap();
    // Layer 3 is the t = 1 block 8 -> 8 with an identity shortcut: depthwise, BN, ReLU6, project, BN.
    let g = pruner.group("0").unwrap();
    assert_eq!(
        summary(g),
        [
            ("0", P),
            ("1", B),
            ("3.body.0", Role::Depthwise),
            ("3.body.1", B),
            ("3.body.3", C),
            ("3.body.3", P),
            ("3.body.4", B),
            ("4.0", C)
        ]
    );
    // Layer 4 is the first t = 6 block (8 -> 48 -> 8, stride 2, no shortcut).
    let g = pruner.group("4.0").unwrap();
    assert_eq!(g.channels, 48);
    assert_eq!(summary(g), [("4.0", P), ("4.1", B), ("4.3", Role::Depthwise), ("4.4", B), ("4.6", C)]);
    let keep: BTreeMap<String, Vec<usize>> = [("4.0".to_string(), (0..48).step_by(3).collect())].into();
    let report = pruner.apply(&mut model, &keep).unwrap();
    let dw = conv(&model, "4.3");
    assert_eq!(dw.spec.groups, 16);
    assert_eq!(dw.weight.value.shape(), &[16, 1, 3, 3]);
    assert_eq!(conv(&model, "4.6").weight.value.shape(), &[8, 16, 1, 1]);
    // Removed: 32 channels of a 1x1 conv 8 -> 48, two BNs, a 3x3 depthwise and the 1x1 projection 48 -> 8.
    assert_eq!(report.params_before - report.params_after, 32 * (8 + 2 + 9 + 2 + 8));
    // MACs removed: expansion at 16x16, depthwise at 8x8 (stride 2), projection at 8x8.
    assert_eq!(report.macs_before - report.macs_after, 32 * (16 * 16 * 8 + 8 * 8 * 9 + 8 * 8 * 8));
    let out = forward_eval(&mut model, &rand_uniform(&[1, 3, 32, 32], -1.0, 1.0, &mut rng(0)));
    assert_eq!(out.shape(), &[1, 10]);
}

/// ResNet-8's MACs, layer by layer from the architecture.
#[test]
fn mac_counts_match_the_closed_form() {
    let mut resnet = zoo::resnet_cifar(8, 10, 0).unwrap();
    let conv = |hw: usize, o: usize, i: usize, k: usize| (hw * hw * o * i * k * k) as u64;
    let expected = conv(32, 16, 3, 3)
        + 2 * conv(32, 16, 16, 3)
        + conv(16, 32, 16, 3)
        + conv(16, 32, 32, 3)
        + conv(16, 32, 16, 1)
        + conv(8, 64, 32, 3)
        + conv(8, 64, 64, 3)
        + conv(8, 64, 32, 1)
        + 64 * 10;
    assert_eq!(count_macs(&mut resnet, &[3, 32, 32]).unwrap(), expected);
    assert_eq!(output_shape(&mut resnet, &[3, 32, 32]).unwrap(), [10]);
    let mut cnn = zoo::reference_cnn(1, 28, 10, 0).unwrap();
    assert_eq!(count_macs(&mut cnn, &[1, 28, 28]).unwrap(), conv(28, 16, 1, 3) + conv(14, 32, 16, 3) + 32 * 49 * 10);
    // Depthwise: groups divide the input channels.
    let mut dw = Sequential::new().push(Conv2d::new(8, 8, 3, Conv2dSpec::new(1, 1).with_groups(8), false, &mut rng(0)));
    assert_eq!(count_macs(&mut dw, &[8, 5, 5]).unwrap(), conv(5, 8, 1, 3));
    assert!(count_macs(&mut dw, &[4, 5, 5]).is_err());
}

fn random_subset(n: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut s = permutation(n, seed);
    s.truncate(k);
    s.sort_unstable();
    s
}

fn expand(keep: &[usize], block: usize) -> Vec<usize> {
    keep.iter().flat_map(|&c| c * block..(c + 1) * block).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Keeping `k1` of 16 and `k2` of 32 channels of the reference CNN: every tensor is the original
    /// sliced at the kept indices (the linear layer's columns in blocks of 2x2), the parameter and MAC
    /// counts are the closed forms, and a forward pass gives logits.
    #[test]
    fn reference_cnn_surgery_slices_every_member(k1 in 1usize..=16, k2 in 1usize..=32, seed in 0u64..1000) {
        let original = zoo::reference_cnn(1, 8, 10, seed).unwrap();
        let mut model = zoo::reference_cnn(1, 8, 10, seed).unwrap();
        randomize_batch_norms(&mut model, seed);
        let reference = bn(&model, "5");
        let keep1 = random_subset(16, k1, seed);
        let keep2 = random_subset(32, k2, seed + 1);
        let plan = ChannelPlan::Keep([("0".to_string(), keep1.clone()), ("4".to_string(), keep2.clone())].into());
        let report = prune_channels(&mut model, &[1, 8, 8], &plan, Importance::L1).unwrap();
        let ax = ndarray::Axis;
        prop_assert_eq!(&conv(&model, "0").weight.value, &conv(&original, "0").weight.value.select(ax(0), &keep1));
        prop_assert_eq!(
            &conv(&model, "4").weight.value,
            &conv(&original, "4").weight.value.select(ax(0), &keep2).select(ax(1), &keep1)
        );
        prop_assert_eq!(
            &conv(&model, "4").bias.unwrap().value,
            &conv(&original, "4").bias.unwrap().value.select(ax(0), &keep2)
        );
        let b = bn(&model, "5");
        prop_assert_eq!(&b.gamma.value, &reference.gamma.value.select(ax(0), &keep2));
        prop_assert_eq!(b.stats.var.clone(), keep2.iter().map(|&c| reference.stats.var[c]).collect::<Vec<_>>());
        prop_assert_eq!(
            &linear(&model, "9").weight.value,
            &linear(&original, "9").weight.value.select(ax(1), &expand(&keep2, 4))
        );
        let params = 9 * k1 + k1 + 2 * k1 + 9 * k1 * k2 + k2 + 2 * k2 + 4 * k2 * 10 + 10;
        prop_assert_eq!(param_count(&model), params);
        prop_assert_eq!(report.params_after, params);
        prop_assert_eq!(report.params_before, 6186);
        let macs = (64 * 9 * k1 + 16 * 9 * k1 * k2 + 4 * k2 * 10) as u64;
        prop_assert_eq!(report.macs_after, macs);
        let out = forward_eval(&mut model, &rand_uniform(&[2, 1, 8, 8], 0.0, 1.0, &mut rng(seed)));
        prop_assert_eq!(out.shape(), &[2, 10]);
    }

    /// The kept channels are the k highest-scoring ones, ties to the lower index.
    #[test]
    fn top_k_keeps_the_highest_scores(scores in prop::collection::vec(0u8..6, 1..40), frac in 0.0f64..1.0) {
        let k = ((scores.len() as f64 * frac) as usize).max(1);
        let s: Vec<f32> = scores.iter().map(|&x| x as f32).collect();
        let kept = top_k(&s, k);
        prop_assert_eq!(kept.len(), k);
        prop_assert!(kept.windows(2).all(|w| w[0] < w[1]));
        for c in 0..s.len() {
            if !kept.contains(&c) {
                // Every dropped channel scores below every kept one, or ties with kept ones of lower index.
                for &q in &kept {
                    prop_assert!(s[c] < s[q] || (s[c] == s[q] && q < c));
                }
            }
        }
    }
}

/// A 2 -> 3 -> 2 conv net with hand-picked weights.
fn tiny_net() -> Sequential {
    let mut r = rng(0);
    let mut c1 = Conv2d::new(2, 3, 1, Conv2dSpec::default(), true, &mut r);
    c1.weight.value = from_vec(&[3, 2, 1, 1], vec![1.0, -2.0, 0.5, 0.5, -3.0, 0.0]).unwrap();
    let mut b1 = BatchNorm::new(3);
    b1.gamma.value = from_vec(&[3], vec![0.5, -2.0, 1.0]).unwrap();
    let c2 = Conv2d::new(3, 2, 1, Conv2dSpec::default(), true, &mut r);
    Sequential::new().push(c1).push(b1).push(Act { kind: Activation::Relu }).push(c2).push(Flatten).push(Linear::new(
        2 * 4,
        3,
        true,
        &mut r,
    ))
}

#[test]
fn importance_scores_match_hand_computations() {
    let mut model = tiny_net();
    let pruner = ChannelPruner::new(&mut model, &[2, 2, 2]).unwrap();
    let close = |a: Vec<f32>, b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6) && a.len() == b.len();
    assert!(close(pruner.importance(&model, "0", Importance::L1).unwrap(), &[3.0, 1.0, 3.0]));
    let l2 = [5.0f32.sqrt(), 0.5f32.sqrt(), 3.0];
    assert!(close(pruner.importance(&model, "0", Importance::L2).unwrap(), &l2));
    assert!(close(pruner.importance(&model, "0", Importance::BnScale).unwrap(), &[0.5, 2.0, 1.0]));
    let err = pruner.importance(&model, "0", Importance::Taylor).unwrap_err().to_string();
    assert!(err.contains("gradient of `0.weight`"), "{err}");
    // Hand-set gradient: |1*1 - 2*1| = 1, |0.5*2 - 0.5*2| = 0, |-3*1 + 0*1| = 3.
    let c = (nn::module_at_mut(&mut model, "0").unwrap() as &mut dyn Any).downcast_mut::<Conv2d>().unwrap();
    c.weight.grad = Some(from_vec(&[3, 2, 1, 1], vec![1.0, 1.0, 2.0, -2.0, 1.0, 1.0]).unwrap());
    assert!(close(pruner.importance(&model, "0", Importance::Taylor).unwrap(), &[1.0, 0.0, 3.0]));
    // The second conv's group flows through Flatten: 2 channels of 2x2 into the linear layer.
    let g = pruner.group("3").unwrap();
    assert_eq!(summary(g), [("3", P), ("5", Role::Consumer { block: 4 })]);
    // BN has no scale for a group without batch norm.
    assert!(pruner.importance(&model, "3", Importance::BnScale).is_err());
    // L1 with ratio 0.34 removes floor(1.02) = 1 channel of 3: the middle one (ties 0 and 2 kept).
    let report = prune_channels(&mut model, &[2, 2, 2], &ChannelPlan::Uniform(0.34), Importance::L1).unwrap();
    assert_eq!(report.groups[0].kept, [0, 2]);
    assert_eq!(report.groups[1].kept, [0, 1]); // floor(0.68) = 0 of the second group's 2
}

/// Taylor importance from a real backward pass equals |sum w * dL/dw| per filter of the gradients
/// accumulate_grads left, and pruning by it works end to end.
#[test]
fn taylor_importance_uses_accumulated_gradients() {
    let mut model = zoo::reference_cnn(1, 8, 10, 9).unwrap();
    let data = digits().unwrap();
    let idx: Vec<usize> = (0..32).collect();
    let x = Var::constant(tinylab_classical::train::gather_batch(&data.images, &idx));
    let mut ctx = Ctx::train(0);
    let loss = ops::cross_entropy(&model.forward(&x, &mut ctx).unwrap(), &data.labels[..32]).unwrap();
    loss.backward().unwrap();
    nn::accumulate_grads(&mut model, &ctx);
    let pruner = ChannelPruner::new(&mut model, &[1, 8, 8]).unwrap();
    let scores = pruner.importance(&model, "4", Importance::Taylor).unwrap();
    let c = conv(&model, "4");
    let g = c.weight.grad.as_ref().unwrap();
    for (o, s) in scores.iter().enumerate() {
        let w = c.weight.value.index_axis(ndarray::Axis(0), o);
        let d = g.index_axis(ndarray::Axis(0), o);
        let hand: f64 = w.iter().zip(d.iter()).map(|(&a, &b)| a as f64 * b as f64).sum();
        assert!((hand.abs() as f32 - s).abs() <= 1e-6 * (1.0 + s.abs()), "{o}: {hand} vs {s}");
    }
    assert!(scores.iter().any(|&s| s > 0.0));
    let report = prune_channels(&mut model, &[1, 8, 8], &ChannelPlan::Uniform(0.25), Importance::Taylor).unwrap();
    assert_eq!(report.groups.iter().map(|g| g.after).collect::<Vec<_>>(), [12, 24]);
    assert_eq!(report.groups[1].kept, top_k(&scores, 24));
    assert_eq!(forward_eval(&mut model, x.value()).shape(), &[32, 10]);
}

/// Global ranking by batch-norm scale: the lowest scales go first across groups, one channel per
/// group always stays.
#[test]
fn global_plan_ranks_channels_across_groups() {
    let make = || {
        let mut model = zoo::reference_cnn(1, 8, 10, 0).unwrap();
        for (path, values) in [
            ("1", (0..16).map(|i| 0.01 * (i + 1) as f32).collect::<Vec<_>>()),
            ("5", { (0..32).map(|i| 1.0 + i as f32).collect() }),
        ] {
            let l = nn::module_at_mut(&mut model, path).unwrap();
            let b = (l as &mut dyn Any).downcast_mut::<BatchNorm>().unwrap();
            b.gamma.value = from_vec(&[values.len()], values).unwrap();
        }
        model
    };
    let mut model = make();
    let report = prune_channels(&mut model, &[1, 8, 8], &ChannelPlan::Global(0.25), Importance::BnScale).unwrap();
    assert_eq!(report.groups[0].kept, (12..16).collect::<Vec<_>>());
    assert_eq!(report.groups[1].after, 32);
    let mut model = make();
    let report = prune_channels(&mut model, &[1, 8, 8], &ChannelPlan::Global(0.5), Importance::BnScale).unwrap();
    assert_eq!(report.groups[0].kept, [15]);
    assert_eq!(report.groups[1].kept, (9..32).collect::<Vec<_>>());
    // Per group: only the named group changes.
    let mut model = make();
    let plan = ChannelPlan::PerGroup([("4".to_string(), 0.5)].into());
    let report = prune_channels(&mut model, &[1, 8, 8], &plan, Importance::BnScale).unwrap();
    assert_eq!((report.groups[0].after, report.groups[1].kept.clone()), (16, (16..32).collect::<Vec<_>>()));
}

/// A layer from outside the crate.
#[derive(Debug)]
struct Custom;

/// An op defined outside the crate (as the quantum layer is): the graph records it as an extension.
#[derive(Debug)]
struct Doubling;

impl tinylab_classical::autograd::Op for Doubling {
    fn name(&self) -> &'static str {
        "doubling"
    }
    fn backward(&self, _: &[&Tensor], _: &Tensor, grad: &Tensor) -> tinylab_classical::Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(grad * 2.0)])
    }
}

impl Module for Custom {
    fn forward(&mut self, x: &Var, _: &mut Ctx) -> tinylab_classical::Result<Var> {
        Ok(Var::from_op(Doubling, &[x], x.value() * 2.0))
    }
    fn visit_params<'a>(&'a self, _: &str, _: &mut dyn FnMut(String, &'a Param)) {}
    fn visit_params_mut(&mut self, _: &str, _: &mut dyn FnMut(String, &mut Param)) {}
}

#[test]
fn bad_plans_and_models_are_clear_errors() {
    let mut model = zoo::reference_cnn(1, 8, 10, 0).unwrap();
    let before = nn::state_dict(&mut model);
    let msg = |plan: ChannelPlan, imp: Importance, model: &mut Sequential| {
        prune_channels(model, &[1, 8, 8], &plan, imp).unwrap_err().to_string()
    };
    for r in [1.0, -0.1, f32::NAN, 1.5] {
        assert!(msg(ChannelPlan::Uniform(r), Importance::L1, &mut model).contains("must be in [0, 1)"));
        assert!(msg(ChannelPlan::Global(r), Importance::L1, &mut model).contains("must be in [0, 1)"));
    }
    let per = |name: &str, r: f32| ChannelPlan::PerGroup([(name.to_string(), r)].into());
    assert!(msg(per("4", 1.0), Importance::L1, &mut model).contains("must be in [0, 1)"));
    let e = msg(per("conv9", 0.5), Importance::L1, &mut model);
    assert!(e.contains("unknown channel group `conv9`") && e.contains("\"4\""), "{e}");
    assert!(msg(per("9", 0.5), Importance::L1, &mut model).contains("model output"));
    assert!(msg(per("input", 0.5), Importance::L1, &mut model).contains("model input"));
    let keep = |v: Vec<usize>| ChannelPlan::Keep([("4".to_string(), v)].into());
    for bad in [vec![], vec![3, 1], vec![1, 1], vec![0, 32]] {
        assert!(msg(keep(bad), Importance::L1, &mut model).contains("strictly increasing"));
    }
    assert!(msg(ChannelPlan::Uniform(0.5), Importance::Taylor, &mut model).contains("gradient"));
    assert_eq!(nn::state_dict(&mut model), before, "failed passes must not touch the model");

    // The pruner refuses a model that changed after the analysis.
    let pruner = ChannelPruner::new(&mut model, &[1, 8, 8]).unwrap();
    prune_channels(&mut model, &[1, 8, 8], &ChannelPlan::Uniform(0.5), Importance::L1).unwrap();
    let e = pruner.apply(&mut model, &BTreeMap::new()).unwrap_err().to_string();
    assert!(e.contains("analyse it again"), "{e}");

    // Unsupported layers and shapes.
    let mut mlp_ln = Sequential::new().push(Flatten).push(Linear::new(4, 4, true, &mut rng(0))).push(LayerNorm::new(4));
    let e = ChannelPruner::new(&mut mlp_ln, &[4]).unwrap_err().to_string();
    assert!(e.contains("`2`") && e.contains("layer norm"), "{e}");
    // An op of another crate keeps the channels flowing into it whole, with the reason.
    let mut custom = Sequential::new()
        .push(Conv2d::new(1, 2, 1, Conv2dSpec::default(), true, &mut rng(0)))
        .push(Custom)
        .push(Conv2d::new(2, 3, 1, Conv2dSpec::default(), true, &mut rng(1)));
    let p = ChannelPruner::new(&mut custom, &[1, 4, 4]).unwrap();
    let why = p.group("0").unwrap().fixed.clone().unwrap();
    assert!(why.contains("extension `doubling`") && why.contains("`1`"), "{why}");
    assert_eq!(count_macs(&mut custom, &[1, 4, 4]).unwrap(), 16 * 2 + 16 * 3 * 2);
    let e = ChannelPruner::new(&mut zoo::reference_cnn(1, 8, 10, 0).unwrap(), &[3, 8, 8]).unwrap_err().to_string();
    assert!(e.contains("[3, 8, 8]") && e.contains("`0`"), "{e}");
    assert!(ChannelPruner::new(&mut model, &[]).is_err());
    // A grouped (not depthwise) convolution pins the channels on both sides.
    let mut grouped = Sequential::new()
        .push(Conv2d::new(2, 4, 1, Conv2dSpec::default(), false, &mut rng(0)))
        .push(Conv2d::new(4, 4, 1, Conv2dSpec::default().with_groups(2), false, &mut rng(1)))
        .push(Conv2d::new(4, 2, 1, Conv2dSpec::default(), false, &mut rng(2)));
    let p = ChannelPruner::new(&mut grouped, &[2, 3, 3]).unwrap();
    assert!(p.groups().iter().all(|g| !g.prunable()));
    assert!(p.group("0").unwrap().fixed.as_deref().unwrap().contains("grouped convolution `1`"));
}

/// A pruned model keeps its pruning masks on the surviving weights, and its state dict loads into
/// a model of the same pruned shape (the masked weights being zero, as the optimizers keep them).
#[test]
fn masks_are_sliced_and_pruned_models_checkpoint() {
    let mut model = zoo::reference_cnn(1, 8, 10, 2).unwrap();
    model.visit_params_mut("", &mut |name, p| {
        if name == "4.weight" {
            let mask = p.value.mapv(|w| if w > 0.0 { 1.0 } else { 0.0 });
            p.value *= &mask;
            p.mask = Some(mask);
        }
    });
    let original = conv(&model, "4");
    let keep = ChannelPlan::Keep([("0".to_string(), vec![1, 5, 9]), ("4".to_string(), vec![0, 7])].into());
    prune_channels(&mut model, &[1, 8, 8], &keep, Importance::L1).unwrap();
    let c = conv(&model, "4");
    let ax = ndarray::Axis;
    let expected = original.weight.mask.unwrap().select(ax(0), &[0, 7]).select(ax(1), &[1, 5, 9]);
    assert_eq!(c.weight.mask.as_ref().unwrap(), &expected);
    assert!(c.weight.value.iter().zip(expected.iter()).all(|(&w, &m)| (w > 0.0) == (m == 1.0)));
    assert!(c.weight.value.iter().any(|&w| w > 0.0));
    let state = nn::state_dict(&mut model);
    let mut copy = zoo::reference_cnn(1, 8, 10, 99).unwrap();
    prune_channels(&mut copy, &[1, 8, 8], &keep, Importance::L1).unwrap();
    nn::load_state_dict(&mut copy, &state).unwrap();
    let x = rand_uniform(&[2, 1, 8, 8], 0.0, 1.0, &mut rng(1));
    assert_eq!(forward_eval(&mut copy, &x), forward_eval(&mut model, &x));
}

fn cfg(epochs: usize, lr: f32) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 32,
        lr: LrSchedule::Constant { base: lr },
        seed: 5,
        patience: None,
        clip_grad_norm: None,
        progress: false,
        checkpoint: None,
    }
}

/// Prune half the channels of a briefly trained reference CNN on the digits, fine-tune one epoch:
/// accuracy comes back to a reasonable level.
#[test]
fn pruning_then_fine_tuning_recovers_accuracy() {
    let all = digits().unwrap();
    let (train, val) = all.stratified_split(0.6, 3).unwrap();
    let mut model = zoo::reference_cnn(1, 8, 10, 1).unwrap();
    let mut opt = Sgd::new(0.9, 0.0);
    fit(&mut model, &mut opt, (&train.images, &train.labels), (&val.images, &val.labels), &cfg(3, 0.05)).unwrap();
    let (_, acc_trained, _) = evaluate(&mut model, &val.images, &val.labels, 256).unwrap();
    let report = prune_channels(&mut model, &[1, 8, 8], &ChannelPlan::Uniform(0.5), Importance::L1).unwrap();
    assert_eq!(report.groups.iter().map(|g| g.after).collect::<Vec<_>>(), [8, 16]);
    assert!(report.params_after * 3 < report.params_before, "{report:?}");
    let (_, acc_pruned, _) = evaluate(&mut model, &val.images, &val.labels, 256).unwrap();
    let mut opt = Sgd::new(0.9, 0.0);
    fit(&mut model, &mut opt, (&train.images, &train.labels), (&val.images, &val.labels), &cfg(1, 0.02)).unwrap();
    let (_, acc_tuned, _) = evaluate(&mut model, &val.images, &val.labels, 256).unwrap();
    assert!(acc_trained > 0.85, "trained {acc_trained}");
    assert!(acc_tuned > 0.85 && acc_tuned >= acc_pruned - 0.02, "{acc_trained} -> {acc_pruned} -> {acc_tuned}");
}

/// Silences a seeded random half of every prunable group's channels through batch norm alone (scale and
/// shift 0 in every batch norm of the group, so the channel is exactly zero whatever the filters), then
/// prunes globally by batch-norm scale with a ratio that removes exactly as many channels as were
/// silenced: the silenced ones go, in every group at once, and the outputs stay.
fn check_global_bn_scale_pruning(mut model: Sequential, input: &[usize], seed: u64) {
    randomize_batch_norms(&mut model, seed);
    let pruner = ChannelPruner::new(&mut model, &input[1..]).unwrap();
    let (mut silenced, mut total) = (0usize, 0usize);
    let mut expected = BTreeMap::new();
    for (gi, g) in pruner.groups().iter().filter(|g| g.prunable()).enumerate() {
        let mut perm = permutation(g.channels, seed ^ (gi as u64 + 100));
        perm.truncate(g.channels / 2);
        for path in g.paths_where(|r| matches!(r, Role::BatchNorm { .. })) {
            let b = (nn::module_at_mut(&mut model, path).unwrap() as &mut dyn Any).downcast_mut::<BatchNorm>().unwrap();
            for &c in &perm {
                b.gamma.value[[c]] = 0.0;
                b.beta.value[[c]] = 0.0;
            }
        }
        silenced += perm.len();
        total += g.channels;
        expected.insert(g.name.clone(), (0..g.channels).filter(|c| !perm.contains(c)).collect::<Vec<_>>());
    }
    let x = rand_uniform(input, -1.0, 1.0, &mut rng(seed + 1));
    let before = forward_eval(&mut model, &x);
    let ratio = ((silenced as f64 + 0.5) / total as f64) as f32;
    let report = prune_channels(&mut model, &input[1..], &ChannelPlan::Global(ratio), Importance::BnScale).unwrap();
    for change in &report.groups {
        assert_eq!(&change.kept, &expected[&change.name], "group {}", change.name);
    }
    let diff = max_rel_diff(&before, &forward_eval(&mut model, &x));
    assert!(diff <= 1e-5, "outputs moved by {diff} (relative)");
}

#[test]
fn global_bn_scale_pruning_removes_silenced_channels_of_resnet8_and_mobilenet() {
    check_global_bn_scale_pruning(zoo::resnet_cifar(8, 10, 21).unwrap(), &[2, 3, 32, 32], 21);
    check_global_bn_scale_pruning(zoo::mobilenet_v2(0.25, 10, 22).unwrap(), &[1, 3, 32, 32], 22);
    check_global_bn_scale_pruning(zoo::vgg_small(3, &[8, 16, 32], 10, 23).unwrap(), &[2, 3, 32, 32], 23);
}

/// The same on ResNet-20 and the full-width MobileNetV2 (a fraction of a second in the test profile).
#[test]
fn zero_channel_pruning_of_resnet20_and_full_mobilenet_keeps_outputs() {
    check_zero_channel_pruning(zoo::resnet_cifar(20, 10, 31).unwrap(), &[2, 3, 32, 32], 31);
    check_zero_channel_pruning(zoo::mobilenet_v2(1.0, 10, 32).unwrap(), &[2, 3, 32, 32], 32);
    check_global_bn_scale_pruning(zoo::resnet_cifar(20, 10, 33).unwrap(), &[2, 3, 32, 32], 33);
    check_global_bn_scale_pruning(zoo::mobilenet_v2(1.0, 10, 34).unwrap(), &[2, 3, 32, 32], 34);
}
