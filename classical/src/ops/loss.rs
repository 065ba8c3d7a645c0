//! Losses: cross-entropy on logits, mean squared error, KL divergence (PyTorch's conventions).

use crate::autograd::{Op, Var};
use crate::error::{Result, arg_err, shape_err};
use crate::tensor::Tensor;
use ndarray::{Axis, IxDyn};

#[derive(Debug)]
struct CrossEntropy {
    /// Softmax of the logits, saved by the forward pass.
    probs: Tensor,
    targets: Vec<usize>,
}

impl Op for CrossEntropy {
    fn name(&self) -> &'static str {
        "cross_entropy"
    }
    fn backward(&self, _: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        // d/dlogits of mean_i -log softmax(z_i)[t_i] = (softmax(z) - onehot(t)) / N.
        let n = self.targets.len() as f32;
        let g = grad.iter().next().copied().unwrap_or(1.0) / n;
        let mut d = self.probs.clone();
        for (mut row, &t) in d.axis_iter_mut(Axis(0)).zip(&self.targets) {
            row[t] -= 1.0;
        }
        Ok(vec![Some(d * g)])
    }
}

/// Mean cross-entropy of logits `(N, K)` against class indices (`targets[i] < K`).
pub fn cross_entropy(logits: &Var, targets: &[usize]) -> Result<Var> {
    let s = logits.shape();
    if s.len() != 2 || s[0] != targets.len() {
        return Err(shape_err("cross_entropy", s, &[targets.len()], "logits must be (N, K) with N targets"));
    }
    if s[0] == 0 {
        return Err(arg_err("cross_entropy", "empty batch"));
    }
    if let Some(&t) = targets.iter().find(|&&t| t >= s[1]) {
        return Err(arg_err("cross_entropy", format!("target class {t} out of range for {} classes", s[1])));
    }
    let mut probs = logits.value().clone();
    let mut total = 0.0f64;
    for (mut row, &t) in probs.axis_iter_mut(Axis(0)).zip(targets) {
        let m = row.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let logit = row[t];
        let sum = super::fast_exp::exp_shifted_sum_lane(row.view_mut(), m);
        total += (sum.ln() + m - logit) as f64;
        row.mapv_inplace(|v| v / sum);
    }
    let loss = Tensor::from_elem(IxDyn(&[]), (total / targets.len() as f64) as f32);
    Ok(Var::from_op(CrossEntropy { probs, targets: targets.to_vec() }, &[logits], loss))
}

#[derive(Debug)]
struct Mse;

impl Op for Mse {
    fn name(&self) -> &'static str {
        "mse"
    }
    fn backward(&self, inputs: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let g = grad.iter().next().copied().unwrap_or(1.0);
        let d = (inputs[0] - inputs[1]) * (2.0 * g / inputs[0].len() as f32);
        Ok(vec![Some(d.clone()), Some(-d)])
    }
}

/// Mean squared error `mean((pred - target)^2)` (shapes must be equal).
pub fn mse(pred: &Var, target: &Var) -> Result<Var> {
    if pred.shape() != target.shape() {
        return Err(shape_err("mse", pred.shape(), target.shape(), "shapes must be equal"));
    }
    let d = pred.value() - target.value();
    let v = d.iter().map(|x| (x * x) as f64).sum::<f64>() / d.len().max(1) as f64;
    Ok(Var::from_op(Mse, &[pred, target], Tensor::from_elem(IxDyn(&[]), v as f32)))
}

#[derive(Debug)]
struct KlDiv;

impl Op for KlDiv {
    fn name(&self) -> &'static str {
        "kl_div"
    }
    fn backward(&self, inputs: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (log_q, p) = (inputs[0], inputs[1]);
        let n = log_q.shape()[0] as f32;
        let g = grad.iter().next().copied().unwrap_or(1.0) / n;
        let d_logq = p.mapv(|v| -v * g);
        let d_p = ndarray::Zip::from(p)
            .and(log_q)
            .map_collect(|&pv, &lq| if pv > 0.0 { (pv.ln() + 1.0 - lq) * g } else { 0.0 });
        Ok(vec![Some(d_logq), Some(d_p)])
    }
}

/// `KL(p || q) = Σ p (log p - log q)` divided by the batch size (PyTorch's
/// `kl_div(log_q, p, reduction="batchmean")`): `log_q` are log-probabilities, `p` probabilities; terms
/// with `p = 0` contribute 0. The distillation loss of Hinton et al. (2015).
pub fn kl_div(log_q: &Var, p: &Var) -> Result<Var> {
    if log_q.shape() != p.shape() || log_q.shape().is_empty() {
        return Err(shape_err("kl_div", log_q.shape(), p.shape(), "shapes must be equal, with a batch axis"));
    }
    let n = log_q.shape()[0].max(1) as f64;
    let total: f64 = ndarray::Zip::from(p.value())
        .and(log_q.value())
        .fold(0.0, |acc, &pv, &lq| if pv > 0.0 { acc + (pv as f64) * ((pv as f64).ln() - lq as f64) } else { acc });
    Ok(Var::from_op(KlDiv, &[log_q, p], Tensor::from_elem(IxDyn(&[]), (total / n) as f32)))
}
