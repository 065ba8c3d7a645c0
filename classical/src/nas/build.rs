//! The standalone network of a sub-network: plain layers of [`crate::nn`], so it traces, converts to
//! int8 and exports like any other model.
//!
//! Layer layout (the contract supernet extraction and the cost models rely on), as the top-level
//! [`Sequential`]'s layers in order:
//! 1. stem: `Conv2d(in, stem, 3, stride 2, pad 1)`, `BatchNorm`, `Act(Relu6)` (three layers);
//! 2. the first block: a [`Sequential`] (depthwise 3x3, BN, ReLU6, 1x1 projection, BN), wrapped in a
//!    [`Residual`] when its input and output channels agree;
//! 3. every active MBConv block of [`SearchSpace::active_blocks`]: a [`Sequential`] of the 1x1
//!    expansion, BN, ReLU6 (left out when the expand ratio is 1), the depthwise `k x k` convolution
//!    (stride of the block, padding `k / 2`), BN, ReLU6, the 1x1 projection and BN; wrapped in a
//!    [`Residual`] without shortcut when [`BlockSpec::residual`](super::BlockSpec);
//! 4. the feature-mix `Conv2d 1x1`, BN, ReLU6 when the space has one (three layers);
//! 5. `GlobalAvgPool` and `Linear(features, classes, bias)`.

use super::space::{ArchConfig, BlockSpec, SearchSpace};
use crate::error::Result;
use crate::nn::zoo::conv_bn_act;
use crate::nn::{GlobalAvgPool, Linear, Module, Residual, Sequential};
use crate::ops::{Activation, Conv2dSpec};
use crate::tensor::rng;
use rand_chacha::ChaCha8Rng;

/// The standalone network of `arch` with freshly initialised weights from `seed` (see the module docs
/// for its layout). Fails when `arch` is not in `space`.
pub fn standalone(space: &SearchSpace, arch: &ArchConfig, seed: u64) -> Result<Sequential> {
    let blocks = space.active_blocks(arch)?;
    let mut r = rng(seed);
    let mut net = stem(space, &mut r);
    for b in &blocks {
        net = push_block(net, mbconv_body(b, &mut r), b.residual);
    }
    let features = blocks.last().map_or(space.first_block_out(), |b| b.out_channels);
    Ok(head(space, net, features, &mut r))
}

/// Layers 1 and 2 of the layout: the stem and the fixed first block.
pub(crate) fn stem(space: &SearchSpace, r: &mut ChaCha8Rng) -> Sequential {
    let relu6 = Some(Activation::Relu6);
    let stem = space.stem_out();
    let net = conv_bn_act(Sequential::new(), space.in_channels, stem, 3, Conv2dSpec::new(2, 1), relu6, r);
    let first_out = space.first_block_out();
    let mut first = conv_bn_act(Sequential::new(), stem, stem, 3, Conv2dSpec::new(1, 1).with_groups(stem), relu6, r);
    first = conv_bn_act(first, stem, first_out, 1, Conv2dSpec::default(), None, r);
    push_block(net, first, stem == first_out)
}

/// The body of one MBConv block (layer 3 of the layout, without the residual wrapper).
pub(crate) fn mbconv_body(b: &BlockSpec, r: &mut ChaCha8Rng) -> Sequential {
    let relu6 = Some(Activation::Relu6);
    let mut body = Sequential::new();
    if b.expand != 1 {
        body = conv_bn_act(body, b.in_channels, b.hidden_channels, 1, Conv2dSpec::default(), relu6, r);
    }
    let dw = Conv2dSpec::new(b.stride, b.kernel / 2).with_groups(b.hidden_channels);
    body = conv_bn_act(body, b.hidden_channels, b.hidden_channels, b.kernel, dw, relu6, r);
    conv_bn_act(body, b.hidden_channels, b.out_channels, 1, Conv2dSpec::default(), None, r)
}

/// Layers 4 and 5 of the layout appended to `net`, whose output has `features` channels.
pub(crate) fn head(space: &SearchSpace, mut net: Sequential, mut features: usize, r: &mut ChaCha8Rng) -> Sequential {
    if let Some(head) = space.head_channels {
        let c = space.scaled(head);
        net = conv_bn_act(net, features, c, 1, Conv2dSpec::default(), Some(Activation::Relu6), r);
        features = c;
    }
    net.push(GlobalAvgPool).push(Linear::new(features, space.classes, true, r))
}

fn push_block(net: Sequential, body: Sequential, residual: bool) -> Sequential {
    if residual { net.push(Residual { body, shortcut: None, post: None }) } else { net.push(body) }
}

/// Number of layers of the top-level [`Sequential`] before the first elastic block (stem and first
/// block), so callers can index blocks as `STEM_LAYERS + i`.
pub const STEM_LAYERS: usize = 4;

/// Trainable parameters of the standalone network of `arch` (BatchNorm scales and shifts included).
pub fn param_count(space: &SearchSpace, arch: &ArchConfig) -> Result<usize> {
    Ok(crate::nn::param_count(&standalone(space, arch, 0)? as &dyn Module))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::Var;
    use crate::nn::Ctx;

    #[test]
    fn standalone_networks_run_and_have_the_layout() {
        let space = SearchSpace::tiny(0.5, 32, 1, 10).unwrap();
        for arch in [space.smallest(), space.largest()] {
            let mut net = standalone(&space, &arch, 1).unwrap();
            let blocks = space.active_blocks(&arch).unwrap().len();
            assert_eq!(net.layers.len(), STEM_LAYERS + blocks + 2);
            let x = Var::constant(crate::tensor::zeros(&[2, 1, 32, 32]));
            let y = net.forward(&x, &mut Ctx::eval()).unwrap();
            assert_eq!(y.shape(), &[2, 10]);
        }
        assert!(param_count(&space, &space.largest()).unwrap() > param_count(&space, &space.smallest()).unwrap());
    }
}
