//! Batch-norm folding: `BN(conv(x))` in evaluation mode is an affine map per output channel, so it can
//! be absorbed into the convolution (or linear layer) before it:
//!
//! `w'[o] = w[o] * gamma[o] / sqrt(var[o] + eps)`,
//! `b'[o] = (b[o] - mean[o]) * gamma[o] / sqrt(var[o] + eps) + beta[o]`.
//!
//! Integer inference engines (TFLite, CMSIS-NN) only ever see folded weights, so post-training
//! quantization folds first and then quantizes (Jacob et al., "Quantization and Training of Neural
//! Networks for Efficient Integer-Arithmetic-Only Inference", CVPR 2018, section 3.2).

use crate::error::{Result, shape_err};
use crate::nn::{BatchNorm, Conv2d, Linear, Module, Param, Residual, Sequential};
use crate::tensor::Tensor;
use std::any::Any;

/// The folded weight and bias of a layer with `weight` (output channels on axis 0) and optional `bias`
/// followed by `bn`.
pub fn fold_batch_norm(weight: &Tensor, bias: Option<&Tensor>, bn: &BatchNorm) -> Result<(Tensor, Tensor)> {
    let channels = weight.shape().first().copied().unwrap_or(0);
    let (gamma, beta) = (&bn.gamma.effective_value(), &bn.beta.effective_value());
    if gamma.len() != channels || beta.len() != channels || bn.stats.mean.len() != channels {
        return Err(shape_err(
            "fold_batch_norm",
            weight.shape(),
            gamma.shape(),
            "batch norm must have one channel per output channel of the layer",
        ));
    }
    if let Some(b) = bias
        && b.len() != channels
    {
        return Err(shape_err("fold_batch_norm", weight.shape(), b.shape(), "one bias per output channel"));
    }
    let factor: Vec<f32> = gamma.iter().zip(&bn.stats.var).map(|(g, v)| g / (v + bn.stats.eps).sqrt()).collect();
    let mut folded = weight.clone();
    for (o, mut row) in folded.axis_iter_mut(ndarray::Axis(0)).enumerate() {
        row.mapv_inplace(|w| w * factor[o]);
    }
    let beta: Vec<f32> = beta.iter().copied().collect();
    let old_bias: Vec<f32> = bias.map_or_else(|| vec![0.0; channels], |b| b.iter().copied().collect());
    let new_bias = (0..channels).map(|o| (old_bias[o] - bn.stats.mean[o]) * factor[o] + beta[o]).collect();
    Ok((folded, crate::tensor::from_vec(&[channels], new_bias)?))
}

/// Replaces the weight and bias of `param`/`bias` by their folded values, keeping the weight's mask and
/// quantizer (scaling a row keeps pruned entries zero).
fn fold_into(weight: &mut Param, bias: &mut Option<Param>, bn: &BatchNorm) -> Result<()> {
    let masked = match &weight.mask {
        Some(m) => &weight.value * m,
        None => weight.value.clone(),
    };
    let (w, b) = fold_batch_norm(&masked, bias.as_ref().map(|b| &b.value), bn)?;
    weight.value = w;
    weight.grad = None;
    match bias {
        Some(p) => {
            p.value = b;
            p.grad = None;
        }
        None => *bias = Some(Param::new("bias", b)),
    }
    Ok(())
}

/// Folds every batch norm that directly follows a [`Conv2d`] or [`Linear`] in `model` (nested
/// [`Sequential`]s and [`Residual`] branches included) into that layer and removes it. Returns how
/// many were folded. The model computes the same function in evaluation mode (up to rounding); its
/// parameter paths after a folded layer shift down by one index.
pub fn fold_batch_norms(model: &mut Sequential) -> Result<usize> {
    let mut folded = 0;
    let mut i = 0;
    while i < model.layers.len() {
        folded += fold_nested(model.layers[i].as_mut())?;
        if i + 1 < model.layers.len() {
            let next: &dyn Any = model.layers[i + 1].as_ref();
            if let Some(bn) = next.downcast_ref::<BatchNorm>() {
                let bn = bn.clone();
                let layer: &mut dyn Any = model.layers[i].as_mut();
                let done = if let Some(conv) = layer.downcast_mut::<Conv2d>() {
                    fold_into(&mut conv.weight, &mut conv.bias, &bn)?;
                    true
                } else if let Some(linear) = layer.downcast_mut::<Linear>() {
                    fold_into(&mut linear.weight, &mut linear.bias, &bn)?;
                    true
                } else {
                    false
                };
                if done {
                    model.layers.remove(i + 1);
                    folded += 1;
                }
            }
        }
        i += 1;
    }
    Ok(folded)
}

fn fold_nested(layer: &mut dyn Module) -> Result<usize> {
    let any: &mut dyn Any = layer;
    if let Some(seq) = any.downcast_mut::<Sequential>() {
        return fold_batch_norms(seq);
    }
    if let Some(res) = any.downcast_mut::<Residual>() {
        let mut n = fold_batch_norms(&mut res.body)?;
        if let Some(s) = &mut res.shortcut {
            n += fold_batch_norms(s)?;
        }
        return Ok(n);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::Var;
    use crate::nn::{Ctx, zoo};
    use crate::tensor::zeros;

    #[test]
    fn folded_model_computes_the_same_function() {
        let mut model = zoo::resnet_cifar(8, 10, 1).unwrap();
        // Give the batch norms non-trivial statistics and affine parameters.
        let mut k = 0.0f32;
        model.visit_buffers_mut("", &mut |_, b| {
            for v in b.iter_mut() {
                k += 1.0;
                *v = 0.5 + (k * 0.37).sin().abs();
            }
        });
        model.visit_params_mut("", &mut |name, p| {
            if p.value.ndim() == 1 && !name.ends_with("bias") {
                p.value.mapv_inplace(|g| g * 1.3 + 0.1);
            }
        });
        let x = Var::constant(crate::tensor::randn(&[2, 3, 32, 32], 1.0, &mut crate::tensor::rng(2)));
        let before = model.forward(&x, &mut Ctx::eval()).unwrap().value().clone();
        let n = fold_batch_norms(&mut model).unwrap();
        assert_eq!(n, 1 + 3 * 2 + 2); // stem, two per block, two projection shortcuts
        let after = model.forward(&x, &mut Ctx::eval()).unwrap().value().clone();
        for (a, b) in before.iter().zip(after.iter()) {
            assert!((a - b).abs() <= 1e-4 * (1.0 + a.abs()), "{a} vs {b}");
        }
    }

    #[test]
    fn mismatched_channels_are_an_error() {
        let bn = BatchNorm::new(3);
        assert!(fold_batch_norm(&zeros(&[4, 2]), None, &bn).is_err());
    }
}
