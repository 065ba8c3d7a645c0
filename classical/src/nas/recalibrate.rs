//! BatchNorm recalibration of a sub-network. The running statistics of a supernet's BatchNorm layers
//! are updated by every sub-network trained, so they fit none of them exactly; OFA therefore resets
//! them for the sub-network it evaluates, from a few training batches, before measuring its accuracy
//! (Cai et al., "Once-for-All", ICLR 2020, sec. 3.2; `set_running_statistics` in their code).
//!
//! [`recalibrate_batch_norm`] does this for any model (typically the standalone network of
//! [`Supernet::extract`](super::Supernet::extract)): it runs the batches in training mode with
//! momentum `1 / (t + 1)` for batch `t`, so every running statistic ends as the plain average of the
//! per-batch statistics (mean and unbiased variance), whatever it was before.

use crate::autograd::Var;
use crate::error::{Result, arg_err};
use crate::nn::{self, BatchNorm, Ctx, Module};
use crate::tensor::Tensor;

/// The dotted paths of every [`BatchNorm`] layer of `model`.
fn batch_norm_paths(model: &mut dyn Module) -> Vec<String> {
    let candidates: Vec<String> = nn::named_params(model)
        .into_iter()
        .filter_map(|(name, _)| name.strip_suffix(".weight").map(str::to_string))
        .collect();
    candidates
        .into_iter()
        .filter(|path| nn::module_at_mut(model, path).is_some_and(|m| (m as &mut dyn std::any::Any).is::<BatchNorm>()))
        .collect()
}

/// Sets the momentum of every BatchNorm at `paths`, returning the previous ones.
fn set_momentum(model: &mut dyn Module, paths: &[String], momentum: impl Fn(usize) -> f32) -> Vec<f32> {
    let mut old = Vec::with_capacity(paths.len());
    for (i, path) in paths.iter().enumerate() {
        if let Some(bn) =
            nn::module_at_mut(model, path).and_then(|m| (m as &mut dyn std::any::Any).downcast_mut::<BatchNorm>())
        {
            old.push(bn.stats.momentum);
            bn.stats.momentum = momentum(i);
        }
    }
    old
}

/// Replaces the running statistics of every BatchNorm layer of `model` by their average over
/// `batches` (see the module docs); parameters are untouched. Errors on no batches or a failing
/// forward pass (the momenta are restored either way).
pub fn recalibrate_batch_norm(model: &mut dyn Module, batches: &[Tensor]) -> Result<()> {
    if batches.is_empty() {
        return Err(arg_err("recalibrate_batch_norm", "needs at least one batch"));
    }
    let paths = batch_norm_paths(model);
    let old = set_momentum(model, &paths, |_| 1.0);
    let mut result = Ok(());
    for (t, x) in batches.iter().enumerate() {
        set_momentum(model, &paths, |_| 1.0 / (t + 1) as f32);
        if let Err(e) = model.forward(&Var::constant(x.clone()), &mut Ctx::train(0)) {
            result = Err(e);
            break;
        }
    }
    set_momentum(model, &paths, |i| old[i]);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nas::{SearchSpace, Supernet};
    use crate::ops::{self, Conv2dSpec};
    use crate::tensor::{randn, rng};

    #[test]
    fn running_statistics_become_the_average_of_the_batch_statistics() {
        let s = SearchSpace::tiny(0.25, 16, 1, 4).unwrap();
        let mut net = Supernet::new(s.clone(), 1).unwrap();
        let mut sub = net.extract(&s.smallest()).unwrap();
        let batches = [randn(&[4, 1, 16, 16], 1.0, &mut rng(2)), randn(&[6, 1, 16, 16], 2.0, &mut rng(3))];
        recalibrate_batch_norm(&mut sub, &batches).unwrap();
        // The stem's BN sees the stem convolution's output: its per-channel mean and unbiased variance.
        let w = Var::constant(nn::named_params(&sub)[0].1.value.clone());
        let stats = |x: &Tensor| -> Vec<(f64, f64)> {
            let y = ops::conv2d(&Var::constant(x.clone()), &w, None, Conv2dSpec::new(2, 1)).unwrap();
            let y = y.value();
            (0..y.shape()[1])
                .map(|c| {
                    let v: Vec<f64> = y.index_axis(ndarray::Axis(1), c).iter().map(|&v| v as f64).collect();
                    let m = v.iter().sum::<f64>() / v.len() as f64;
                    (m, v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64)
                })
                .collect()
        };
        let (a, b) = (stats(&batches[0]), stats(&batches[1]));
        let state = nn::state_dict(&mut sub);
        let (mean, var) = (&state.buffers["1.running_mean"], &state.buffers["1.running_var"]);
        for c in 0..a.len() {
            assert!((mean[c] as f64 - (a[c].0 + b[c].0) / 2.0).abs() < 1e-4, "mean {c}");
            assert!((var[c] as f64 - (a[c].1 + b[c].1) / 2.0).abs() < 1e-3 * (1.0 + var[c] as f64), "var {c}");
        }
        let bn = nn::module_at_mut(&mut sub, "1").unwrap();
        let bn = (bn as &mut dyn std::any::Any).downcast_mut::<BatchNorm>().unwrap();
        assert_eq!(bn.stats.momentum, 0.1, "momentum restored");
        assert!(recalibrate_batch_norm(&mut sub, &[]).is_err());
    }
}
