//! The model zoo: small reference architectures, all built from the layers of [`super`] and seeded.

pub mod mlperf_tiny;

use super::{Act, BatchNorm, Conv2d, Flatten, GlobalAvgPool, Linear, MaxPool2d, Residual, Sequential};
use crate::error::{Result, arg_err};
use crate::ops::{Activation, Conv2dSpec, Pool2dSpec};
use crate::tensor::rng;

/// A multi-layer perceptron with ReLU between layers: `sizes = [in, hidden..., out]`.
pub fn mlp(sizes: &[usize], seed: u64) -> Result<Sequential> {
    if sizes.len() < 2 {
        return Err(arg_err("mlp", "needs at least input and output sizes"));
    }
    let mut r = rng(seed);
    let mut net = Sequential::new().push(Flatten);
    for (i, w) in sizes.windows(2).enumerate() {
        net = net.push(Linear::new(w[0], w[1], true, &mut r));
        if i + 2 < sizes.len() {
            net = net.push(Act { kind: Activation::Relu });
        }
    }
    Ok(net)
}

/// Appends a bias-free convolution, its BatchNorm and, when given, an activation to `net`.
pub(crate) fn conv_bn_act(
    net: Sequential,
    cin: usize,
    cout: usize,
    k: usize,
    spec: Conv2dSpec,
    act: Option<Activation>,
    r: &mut rand_chacha::ChaCha8Rng,
) -> Sequential {
    let net = net.push(Conv2d::new(cin, cout, k, spec, false, r)).push(BatchNorm::new(cout));
    match act {
        Some(kind) => net.push(Act { kind }),
        None => net,
    }
}

/// The reference CNN of `../shared/peers/bench_torch.py`: conv3x3(c->16, pad 1)-BN-ReLU-maxpool2,
/// conv3x3(16->32, pad 1)-BN-ReLU-maxpool2, linear(32 (hw/4)^2 -> classes). The convolutions carry
/// biases, as PyTorch's `Conv2d` does by default. `hw` must be divisible by 4 (28 for MNIST, 8 for the
/// bundled digits).
pub fn reference_cnn(channels: usize, hw: usize, classes: usize, seed: u64) -> Result<Sequential> {
    if !hw.is_multiple_of(4) || hw == 0 {
        return Err(arg_err("reference_cnn", format!("input side {hw} must be a positive multiple of 4")));
    }
    let mut r = rng(seed);
    let pad1 = Conv2dSpec::new(1, 1);
    Ok(Sequential::new()
        .push(Conv2d::new(channels, 16, 3, pad1, true, &mut r))
        .push(BatchNorm::new(16))
        .push(Act { kind: Activation::Relu })
        .push(MaxPool2d { spec: Pool2dSpec::new(2) })
        .push(Conv2d::new(16, 32, 3, pad1, true, &mut r))
        .push(BatchNorm::new(32))
        .push(Act { kind: Activation::Relu })
        .push(MaxPool2d { spec: Pool2dSpec::new(2) })
        .push(Flatten)
        .push(Linear::new(32 * (hw / 4) * (hw / 4), classes, true, &mut r)))
}

/// A small VGG for 32x32 inputs: stages of two conv3x3-BN-ReLU with `widths[i]` channels, each
/// followed by 2x2 max pooling, then global average pooling and a linear classifier.
pub fn vgg_small(channels: usize, widths: &[usize], classes: usize, seed: u64) -> Result<Sequential> {
    if widths.is_empty() {
        return Err(arg_err("vgg_small", "needs at least one stage"));
    }
    let mut r = rng(seed);
    let mut net = Sequential::new();
    let mut cin = channels;
    for &w in widths {
        net = conv_bn_act(net, cin, w, 3, Conv2dSpec::new(1, 1), Some(Activation::Relu), &mut r);
        net = conv_bn_act(net, w, w, 3, Conv2dSpec::new(1, 1), Some(Activation::Relu), &mut r);
        net = net.push(MaxPool2d { spec: Pool2dSpec::new(2) });
        cin = w;
    }
    Ok(net.push(GlobalAvgPool).push(Linear::new(cin, classes, true, &mut r)))
}

/// ResNet for 32x32 inputs (He et al. 2016, section 4.2): depth `6n + 2` (8, 20, 32, ...), three
/// stages of `n` basic blocks with 16, 32, 64 channels, stride 2 between stages with 1x1-conv + BN
/// projection shortcuts.
pub fn resnet_cifar(depth: usize, classes: usize, seed: u64) -> Result<Sequential> {
    if depth < 8 || !(depth - 2).is_multiple_of(6) {
        return Err(arg_err("resnet_cifar", format!("depth {depth} is not 6n + 2 with n >= 1")));
    }
    let blocks = (depth - 2) / 6;
    let mut r = rng(seed);
    let mut net = conv_bn_act(Sequential::new(), 3, 16, 3, Conv2dSpec::new(1, 1), Some(Activation::Relu), &mut r);
    let mut cin = 16;
    for (stage, &w) in [16usize, 32, 64].iter().enumerate() {
        for b in 0..blocks {
            let stride = if stage > 0 && b == 0 { 2 } else { 1 };
            let body =
                conv_bn_act(Sequential::new(), cin, w, 3, Conv2dSpec::new(stride, 1), Some(Activation::Relu), &mut r);
            let body = conv_bn_act(body, w, w, 3, Conv2dSpec::new(1, 1), None, &mut r);
            let shortcut = (stride != 1 || cin != w)
                .then(|| conv_bn_act(Sequential::new(), cin, w, 1, Conv2dSpec::new(stride, 0), None, &mut r));
            net = net.push(Residual { body, shortcut, post: Some(Activation::Relu) });
            cin = w;
        }
    }
    Ok(net.push(GlobalAvgPool).push(Linear::new(cin, classes, true, &mut r)))
}

/// Channels rounded as MobileNetV2 does: `max(8, int(c * width + 4) // 8 * 8)`.
pub fn mobilenet_channels(c: usize, width: f32) -> usize {
    (((c as f32 * width + 4.0) as usize) / 8 * 8).max(8)
}

/// Channels rounded as torchvision's and MCUNet's `_make_divisible(c * width, 8)`: to the nearest
/// multiple of 8 (at least 8), plus 8 when that loses more than 10% of `c * width`.
pub fn make_divisible_channels(c: usize, width: f32) -> usize {
    let v = c as f32 * width;
    let rounded = (((v + 4.0) as usize) / 8 * 8).max(8);
    if (rounded as f32) < 0.9 * v { rounded + 8 } else { rounded }
}

/// MobileNetV2 (Sandler et al. 2018) with a width multiplier, as `../shared/peers/bench_torch.py` builds
/// it: inverted residual blocks (1x1 expand, 3x3 depthwise, 1x1 project, ReLU6, residual when stride 1
/// and shapes agree), a 1280-channel head, global pooling and a linear classifier. Works for any input
/// resolution of at least 32. Channels are rounded by [`mobilenet_channels`].
pub fn mobilenet_v2(width: f32, classes: usize, seed: u64) -> Result<Sequential> {
    mobilenet_v2_rounded(width, classes, seed, mobilenet_channels)
}

/// [`mobilenet_v2`] with the channel rounding `round(c, width)` of the caller's choice, e.g.
/// [`make_divisible_channels`] for the torchvision / MCUNet definition of the narrow models.
pub fn mobilenet_v2_rounded(
    width: f32,
    classes: usize,
    seed: u64,
    round: fn(usize, f32) -> usize,
) -> Result<Sequential> {
    if !(width > 0.0 && width.is_finite()) {
        return Err(arg_err("mobilenet_v2", format!("width multiplier {width} must be positive")));
    }
    let cfg: [(usize, usize, usize, usize); 7] =
        [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)];
    let mut r = rng(seed);
    let relu6 = Some(Activation::Relu6);
    let mut cin = round(32, width);
    let mut net = conv_bn_act(Sequential::new(), 3, cin, 3, Conv2dSpec::new(2, 1), relu6, &mut r);
    for (t, c, n, s) in cfg {
        let cout = round(c, width);
        for i in 0..n {
            let stride = if i == 0 { s } else { 1 };
            let hidden = cin * t;
            let mut body = Sequential::new();
            if t != 1 {
                body = conv_bn_act(body, cin, hidden, 1, Conv2dSpec::default(), relu6, &mut r);
            }
            body = conv_bn_act(body, hidden, hidden, 3, Conv2dSpec::new(stride, 1).with_groups(hidden), relu6, &mut r);
            body = conv_bn_act(body, hidden, cout, 1, Conv2dSpec::default(), None, &mut r);
            if stride == 1 && cin == cout {
                net = net.push(Residual { body, shortcut: None, post: None });
            } else {
                net = net.push(body);
            }
            cin = cout;
        }
    }
    net = conv_bn_act(net, cin, 1280, 1, Conv2dSpec::default(), relu6, &mut r);
    Ok(net.push(GlobalAvgPool).push(Linear::new(1280, classes, true, &mut r)))
}
