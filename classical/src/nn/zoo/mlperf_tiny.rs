//! The four reference models of the MLPerf Tiny benchmark v1.0 (Banbury et al., "MLPerf Tiny
//! Benchmark", NeurIPS 2021 Datasets and Benchmarks; the Keras definitions of
//! `mlcommons/tiny/benchmark/training`), layer for layer, so that their parameter counts equal the
//! Keras models':
//!
//! | task | builder | input (NCHW) | Keras params (total / trainable) |
//! |---|---|---|---|
//! | keyword spotting | [`ds_cnn_kws`] | `1 x 49 x 10` MFCC | 24,908 / 23,756 |
//! | image classification | [`resnet8_eembc`] | `3 x 32 x 32` | 78,666 / 78,186 |
//! | visual wake words | [`mobilenet_v1_vww`] | `3 x 96 x 96` | 221,794 / 216,322 |
//! | anomaly detection | [`fc_autoencoder`] | `1 x 5 x 128` log-mel frames | 269,992 / 267,928 |
//!
//! Keras counts four numbers per batch-norm channel (`gamma`, `beta`, `moving_mean`,
//! `moving_variance`), two of them non-trainable; [`keras_param_count`] counts the same way (our
//! batch norm keeps the running statistics as buffers, not parameters). The totals above include
//! the non-trainable statistics; the trainable figures are what [`crate::nn::param_count`] gives.
//!
//! Where the layers differ from Keras without changing a count or a MAC: the initialisation is
//! PyTorch's (not Keras' Glorot / He), Keras' `padding='same'` with stride 2 pads one more row or
//! column at the bottom / right than at the top / left while [`Conv2dSpec`] pads symmetrically (the
//! output shapes are the same, the windows shift by one pixel), and DS-CNN's final
//! `AveragePooling2D((24, 5))` over its `25 x 5` map (which drops the last row) is a global average
//! pool here.

use crate::error::{Result, arg_err};
use crate::nn::{Act, BatchNorm, Conv2d, Dropout, Flatten, GlobalAvgPool, Linear, Module, Residual, Sequential};
use crate::ops::{Activation, Conv2dSpec};
use crate::tensor::rng;

/// Keras' parameter count of a model: trainable weights plus the non-trainable batch-norm
/// statistics (two per channel), as `model.summary()` prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KerasParamCount {
    /// Trainable parameters (weights, biases, batch-norm scale and shift).
    pub trainable: usize,
    /// Non-trainable ones: batch-norm moving mean and variance.
    pub non_trainable: usize,
}

impl KerasParamCount {
    /// Trainable plus non-trainable: the `Total params` of Keras' summary.
    pub fn total(&self) -> usize {
        self.trainable + self.non_trainable
    }
}

/// Counts `model`'s parameters as Keras does ([`KerasParamCount`]). Takes `&mut` because buffers are
/// only visited mutably; nothing is changed.
pub fn keras_param_count(model: &mut dyn Module) -> KerasParamCount {
    let trainable = crate::nn::param_count(model);
    let mut non_trainable = 0;
    model.visit_buffers_mut("", &mut |_, b| non_trainable += b.len());
    KerasParamCount { trainable, non_trainable }
}

/// Input shape `(C, H, W)` of [`ds_cnn_kws`]: 49 MFCC frames of 10 coefficients (1 s of 16 kHz audio,
/// 40 ms windows every 20 ms).
pub const KWS_INPUT: [usize; 3] = [1, 49, 10];
/// Input shape of [`resnet8_eembc`] (CIFAR-10-sized colour images).
pub const IC_INPUT: [usize; 3] = [3, 32, 32];
/// Input shape of [`mobilenet_v1_vww`].
pub const VWW_INPUT: [usize; 3] = [3, 96, 96];
/// Input shape of [`fc_autoencoder`]: 5 consecutive log-mel frames of 128 bands (640 values).
pub const AD_INPUT: [usize; 3] = [1, 5, 128];

fn check_classes(what: &'static str, classes: usize) -> Result<()> {
    if classes == 0 {
        return Err(arg_err(what, "needs at least one class"));
    }
    Ok(())
}

/// The MLPerf Tiny keyword-spotting DS-CNN (Zhang et al., "Hello Edge", 2017, the "small" model as
/// `keyword_spotting/keras_model.py` builds it): a 10x4 stride-2 convolution with 64 filters, BN,
/// ReLU, dropout 0.2; four depthwise-separable blocks (3x3 depthwise + BN + ReLU, 1x1 pointwise with
/// 64 filters + BN + ReLU); dropout 0.4, average pooling over the `25 x 5` map, a dense classifier.
/// Every convolution carries a bias, as Keras' default. Input `(N, 1, 49, 10)`; for the benchmark's
/// 12 classes, 24,908 Keras parameters.
pub fn ds_cnn_kws(classes: usize, seed: u64) -> Result<Sequential> {
    check_classes("ds_cnn_kws", classes)?;
    const FILTERS: usize = 64;
    let mut r = rng(seed);
    let relu = || Act { kind: Activation::Relu };
    // 'same' for a 10x4 kernel at stride 2 over 49x10 gives 25x5: padding (5, 1) does too.
    let stem = Conv2dSpec { stride: (2, 2), padding: (5, 1), ..Conv2dSpec::default() };
    let mut net = Sequential::new()
        .push(Conv2d::new_rect(KWS_INPUT[0], FILTERS, (10, 4), stem, true, &mut r))
        .push(BatchNorm::new(FILTERS))
        .push(relu())
        .push(Dropout { p: 0.2 });
    for _ in 0..4 {
        net = net
            .push(Conv2d::new(FILTERS, FILTERS, 3, Conv2dSpec::new(1, 1).with_groups(FILTERS), true, &mut r))
            .push(BatchNorm::new(FILTERS))
            .push(relu())
            .push(Conv2d::new(FILTERS, FILTERS, 1, Conv2dSpec::default(), true, &mut r))
            .push(BatchNorm::new(FILTERS))
            .push(relu());
    }
    Ok(net.push(Dropout { p: 0.4 }).push(GlobalAvgPool).push(Linear::new(FILTERS, classes, true, &mut r)))
}

/// The MLPerf Tiny image-classification ResNet-8 (`resnet_v1_eembc` of
/// `image_classification/keras_model.py`, after He et al. 2016): a 3x3 convolution with 16 filters,
/// BN, ReLU; three stacks of one basic block (3x3 conv + BN + ReLU, 3x3 conv + BN, added to the
/// shortcut, ReLU) with 16, 32, 64 filters, the last two at stride 2 with a plain 1x1 stride-2
/// convolution (bias, no BN) as the shortcut; 8x8 average pooling and a dense classifier. Every
/// convolution carries a bias. Input `(N, 3, 32, 32)`; 78,666 Keras parameters with 10 classes.
///
/// Unlike [`super::resnet_cifar`]`(8, ..)` (bias-free convolutions, BN on the projection), this is
/// the benchmark's own definition.
pub fn resnet8_eembc(classes: usize, seed: u64) -> Result<Sequential> {
    check_classes("resnet8_eembc", classes)?;
    let mut r = rng(seed);
    let relu = Some(Activation::Relu);
    let conv = |cin: usize, cout: usize, k: usize, stride: usize, r: &mut rand_chacha::ChaCha8Rng| {
        Conv2d::new(cin, cout, k, Conv2dSpec::new(stride, k / 2), true, r)
    };
    let mut net = Sequential::new()
        .push(conv(IC_INPUT[0], 16, 3, 1, &mut r))
        .push(BatchNorm::new(16))
        .push(Act { kind: Activation::Relu });
    let mut cin = 16;
    for (stage, width) in [16usize, 32, 64].into_iter().enumerate() {
        let stride = if stage == 0 { 1 } else { 2 };
        let body = Sequential::new()
            .push(conv(cin, width, 3, stride, &mut r))
            .push(BatchNorm::new(width))
            .push(Act { kind: Activation::Relu })
            .push(conv(width, width, 3, 1, &mut r))
            .push(BatchNorm::new(width));
        let shortcut =
            (stride != 1 || cin != width).then(|| Sequential::new().push(conv(cin, width, 1, stride, &mut r)));
        net = net.push(Residual { body, shortcut, post: relu });
        cin = width;
    }
    Ok(net.push(GlobalAvgPool).push(Linear::new(cin, classes, true, &mut r)))
}

/// The depthwise-separable layers of MobileNetV1 (Howard et al. 2017, table 1) after the stem:
/// `(output channels at width 1, stride)`.
const MOBILENET_V1_BLOCKS: [(usize, usize); 13] = [
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
];

/// MobileNetV1 with width multiplier `alpha` as the MLPerf Tiny visual-wake-words model builds it
/// (`visual_wake_words/vww_model.py`, after Silicon Labs' `mobilenet_v1_eembc.py`): a 3x3 stride-2
/// convolution with `32 alpha` filters, BN, ReLU; the 13 depthwise-separable layers of the paper
/// (3x3 depthwise + BN + ReLU, 1x1 pointwise + BN + ReLU); average pooling over the final map and a
/// dense classifier. Every convolution carries a bias; the activation is ReLU (not ReLU6). Channel
/// counts are `int(c * alpha)`, which must be at least 1. The benchmark's model is
/// `mobilenet_v1_vww(0.25, 2, seed)` on `(N, 3, 96, 96)`: 221,794 Keras parameters.
pub fn mobilenet_v1_vww(alpha: f32, classes: usize, seed: u64) -> Result<Sequential> {
    check_classes("mobilenet_v1_vww", classes)?;
    if !(alpha > 0.0 && alpha.is_finite()) {
        return Err(arg_err("mobilenet_v1_vww", format!("width multiplier {alpha} must be positive")));
    }
    let width = |c: usize| (c as f32 * alpha) as usize;
    if width(32) == 0 {
        return Err(arg_err("mobilenet_v1_vww", format!("width multiplier {alpha} leaves the stem without channels")));
    }
    let mut r = rng(seed);
    let conv_bn_relu = |net: Sequential, cin, cout, k, spec, r: &mut _| {
        let net = net.push(Conv2d::new(cin, cout, k, spec, true, r)).push(BatchNorm::new(cout));
        net.push(Act { kind: Activation::Relu })
    };
    let mut cin = width(32);
    let mut net = conv_bn_relu(Sequential::new(), VWW_INPUT[0], cin, 3, Conv2dSpec::new(2, 1), &mut r);
    for (c, stride) in MOBILENET_V1_BLOCKS {
        let cout = width(c);
        net = conv_bn_relu(net, cin, cin, 3, Conv2dSpec::new(stride, 1).with_groups(cin), &mut r);
        net = conv_bn_relu(net, cin, cout, 1, Conv2dSpec::default(), &mut r);
        cin = cout;
    }
    Ok(net.push(GlobalAvgPool).push(Linear::new(cin, classes, true, &mut r)))
}

/// The MLPerf Tiny anomaly-detection autoencoder (`anomaly_detection/keras_model.py`, the DCASE 2020
/// task 2 baseline): `inputs -> 128 -> 128 -> 128 -> 128 -> 8 -> 128 -> 128 -> 128 -> 128 ->
/// inputs`, every layer but the last a dense layer with bias followed by BN and ReLU, the last a
/// plain dense layer (the reconstruction). The input `(N, C, H, W)` is flattened first; the
/// benchmark's 640 inputs (5 frames x 128 log-mel bands, [`AD_INPUT`]) give 269,992 Keras
/// parameters.
pub fn fc_autoencoder(inputs: usize, seed: u64) -> Result<Sequential> {
    if inputs == 0 {
        return Err(arg_err("fc_autoencoder", "needs at least one input"));
    }
    let mut r = rng(seed);
    let widths = [128usize, 128, 128, 128, 8, 128, 128, 128, 128];
    let mut net = Sequential::new().push(Flatten);
    let mut cin = inputs;
    for w in widths {
        net = net.push(Linear::new(cin, w, true, &mut r)).push(BatchNorm::new(w)).push(Act { kind: Activation::Relu });
        cin = w;
    }
    Ok(net.push(Linear::new(cin, inputs, true, &mut r)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::Var;
    use crate::graph;
    use crate::nn::Ctx;
    use crate::tensor::randn;

    /// Keras' count of one batch-norm layer over `c` channels (gamma, beta, mean, variance).
    fn bn(c: usize) -> usize {
        4 * c
    }
    /// A `k` x `k2` convolution (or dense layer with `k = k2 = 1`) with bias.
    fn conv(cin: usize, cout: usize, kh: usize, kw: usize) -> usize {
        kh * kw * cin * cout + cout
    }
    /// A depthwise 3x3 convolution with bias.
    fn dw(c: usize) -> usize {
        9 * c + c
    }

    #[test]
    fn ds_cnn_has_the_keras_parameter_count() {
        // Conv2D(64, (10, 4)) + BN, 4 x [DepthwiseConv2D(3x3) + BN + Conv2D(64, 1x1) + BN], Dense(12).
        let keras =
            conv(1, 64, 10, 4) + bn(64) + 4 * (dw(64) + bn(64) + conv(64, 64, 1, 1) + bn(64)) + conv(64, 12, 1, 1);
        assert_eq!(keras, 24_908);
        let count = keras_param_count(&mut ds_cnn_kws(12, 0).unwrap());
        assert_eq!(count.total(), keras);
        // Nine batch norms of 64 channels, two statistics each: Keras' 1,152 non-trainable.
        assert_eq!(count.non_trainable, 9 * 64 * 2);
        assert_eq!(count.trainable, 23_756);
    }

    #[test]
    fn resnet8_has_the_keras_parameter_count() {
        let block = |cin, cout, proj: bool| {
            conv(cin, cout, 3, 3)
                + bn(cout)
                + conv(cout, cout, 3, 3)
                + bn(cout)
                + if proj { conv(cin, cout, 1, 1) } else { 0 }
        };
        let keras = conv(3, 16, 3, 3)
            + bn(16)
            + block(16, 16, false)
            + block(16, 32, true)
            + block(32, 64, true)
            + conv(64, 10, 1, 1);
        assert_eq!(keras, 78_666);
        let count = keras_param_count(&mut resnet8_eembc(10, 0).unwrap());
        assert_eq!(count.total(), keras);
        assert_eq!(count.non_trainable, 2 * (16 * 3 + 32 * 2 + 64 * 2));
    }

    #[test]
    fn mobilenet_v1_025_has_the_keras_parameter_count() {
        let mut keras = conv(3, 8, 3, 3) + bn(8);
        let mut cin = 8;
        for (c, _) in MOBILENET_V1_BLOCKS {
            let cout = c / 4;
            keras += dw(cin) + bn(cin) + conv(cin, cout, 1, 1) + bn(cout);
            cin = cout;
        }
        keras += conv(256, 2, 1, 1);
        assert_eq!(keras, 221_794);
        let count = keras_param_count(&mut mobilenet_v1_vww(0.25, 2, 0).unwrap());
        assert_eq!(count.total(), keras);
        assert_eq!(count.trainable, 216_322);
    }

    #[test]
    fn autoencoder_has_the_keras_parameter_count() {
        let dense_bn = |i, o| conv(i, o, 1, 1) + bn(o);
        let keras = dense_bn(640, 128)
            + 3 * dense_bn(128, 128)
            + dense_bn(128, 8)
            + dense_bn(8, 128)
            + 3 * dense_bn(128, 128)
            + conv(128, 640, 1, 1);
        assert_eq!(keras, 269_992);
        let count = keras_param_count(&mut fc_autoencoder(640, 0).unwrap());
        assert_eq!(count.total(), keras);
        assert_eq!(count.trainable, 267_928);
    }

    fn output_shape(model: &mut Sequential, input: [usize; 3]) -> Vec<usize> {
        let x = Var::constant(randn(&[2, input[0], input[1], input[2]], 1.0, &mut rng(1)));
        model.forward(&x, &mut Ctx::eval()).unwrap().shape().to_vec()
    }

    #[test]
    fn forward_shapes_are_the_benchmarks() {
        assert_eq!(output_shape(&mut ds_cnn_kws(12, 0).unwrap(), KWS_INPUT), [2, 12]);
        assert_eq!(output_shape(&mut resnet8_eembc(10, 0).unwrap(), IC_INPUT), [2, 10]);
        assert_eq!(output_shape(&mut mobilenet_v1_vww(0.25, 2, 0).unwrap(), VWW_INPUT), [2, 2]);
        assert_eq!(output_shape(&mut fc_autoencoder(640, 0).unwrap(), AD_INPUT), [2, 640]);
    }

    #[test]
    fn traced_macs_match_the_layer_arithmetic() {
        // DS-CNN: the stem at 25x5, four separable blocks at 25x5, the classifier.
        let stem = 25 * 5 * 64 * 10 * 4;
        let block = 25 * 5 * (64 * 9 + 64 * 64);
        let mut net = ds_cnn_kws(12, 0).unwrap();
        let g = graph::trace(&mut net, &KWS_INPUT).unwrap();
        assert_eq!(graph::cost(&g).macs, stem + 4 * block + 64 * 12);
        // The autoencoder: one MAC per dense weight.
        let mut ae = fc_autoencoder(640, 0).unwrap();
        let g = graph::trace(&mut ae, &AD_INPUT).unwrap();
        let weights = 640 * 128 + 3 * 128 * 128 + 128 * 8 + 8 * 128 + 3 * 128 * 128 + 128 * 640;
        assert_eq!(graph::cost(&g).macs, weights);
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(ds_cnn_kws(0, 0).is_err());
        assert!(mobilenet_v1_vww(0.01, 2, 0).is_err());
        assert!(mobilenet_v1_vww(f32::NAN, 2, 0).is_err());
        assert!(fc_autoencoder(0, 0).is_err());
    }
}
