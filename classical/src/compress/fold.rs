//! Batch-norm folding: `BN(conv(x))` in evaluation mode is an affine map per output channel, so it can
//! be absorbed into the convolution (or linear layer) before it:
//!
//! `w'[o] = w[o] * gamma[o] / sqrt(var[o] + eps)`,
//! `b'[o] = (b[o] - mean[o]) * gamma[o] / sqrt(var[o] + eps) + beta[o]`.
//!
//! Integer inference engines (TFLite, CMSIS-NN) only ever see folded weights, so post-training
//! quantization folds first and then quantizes (Jacob et al., "Quantization and Training of Neural
//! Networks for Efficient Integer-Arithmetic-Only Inference", CVPR 2018, section 3.2). The arithmetic
//! is here; the pass that finds each conv/linear + batch-norm pair of a model is
//! [`graph::FoldBatchNorm`](crate::graph::FoldBatchNorm), on the traced graph.

use crate::error::{Result, shape_err};
use crate::nn::BatchNorm;
use crate::tensor::Tensor;

/// The folded weight and bias of a layer with `weight` (output channels on axis 0) and optional `bias`
/// followed by a batch norm with scale `gamma`, shift `beta` and running `(mean, var, eps)`.
pub fn fold_affine(
    weight: &Tensor,
    bias: Option<&Tensor>,
    gamma: &Tensor,
    beta: &Tensor,
    (mean, var, eps): (&[f32], &[f32], f32),
) -> Result<(Tensor, Tensor)> {
    let channels = weight.shape().first().copied().unwrap_or(0);
    if gamma.len() != channels || beta.len() != channels || mean.len() != channels || var.len() != channels {
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
    let factor: Vec<f32> = gamma.iter().zip(var).map(|(g, v)| g / (v + eps).sqrt()).collect();
    let mut folded = weight.clone();
    for (o, mut row) in folded.axis_iter_mut(ndarray::Axis(0)).enumerate() {
        row.mapv_inplace(|w| w * factor[o]);
    }
    let beta: Vec<f32> = beta.iter().copied().collect();
    let old_bias: Vec<f32> = bias.map_or_else(|| vec![0.0; channels], |b| b.iter().copied().collect());
    let new_bias = (0..channels).map(|o| (old_bias[o] - mean[o]) * factor[o] + beta[o]).collect();
    Ok((folded, crate::tensor::from_vec(&[channels], new_bias)?))
}

/// The folded weight and bias of a layer with `weight` and optional `bias` followed by `bn`
/// ([`fold_affine`] with the layer's effective scale and shift and its running statistics).
pub fn fold_batch_norm(weight: &Tensor, bias: Option<&Tensor>, bn: &BatchNorm) -> Result<(Tensor, Tensor)> {
    let (gamma, beta) = (bn.gamma.effective_value(), bn.beta.effective_value());
    fold_affine(weight, bias, &gamma, &beta, (&bn.stats.mean, &bn.stats.var, bn.stats.eps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Var;
    use crate::graph::{self, FoldBatchNorm, Pass};
    use crate::nn::{Ctx, Module, zoo};
    use crate::tensor::zeros;

    #[test]
    fn folded_graph_computes_the_same_function() {
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
        let x = crate::tensor::randn(&[2, 3, 32, 32], 1.0, &mut crate::tensor::rng(2));
        let before = model.forward(&Var::constant(x.clone()), &mut Ctx::eval()).unwrap().value().clone();
        let mut g = graph::trace(&mut model, &[3, 32, 32]).unwrap();
        let report = FoldBatchNorm.apply(&mut g).unwrap();
        assert_eq!(report.changed.len(), 1 + 3 * 2 + 2); // stem, two per block, two projection shortcuts
        assert!(g.nodes().iter().all(|n| !matches!(n.op, graph::NodeOp::BatchNorm { .. })));
        let after = g.run(&x).unwrap();
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
