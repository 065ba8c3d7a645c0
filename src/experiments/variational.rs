//! Pieces shared by the variational experiments (`vqe_h2`, `qaoa_maxcut`, `barren_plateau`): a small
//! `f64` Adam optimizer and a minimisation loop on exact adjoint gradients (the circuits come from
//! `tinylab_quantum::library`).
//!
//! The optimizer works on plain slices so that any objective returning `(value, gradient)` can use
//! it; [`expectation_and_gradient`] is the objective of every experiment here: `<ψ(θ)|O|ψ(θ)>` and
//! its gradient by adjoint differentiation (about three circuit passes, whatever the parameter count).

use super::ExperimentError;
use tinylab_quantum::Circuit;
use tinylab_quantum::grad::{Wrt, adjoint};
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::statevector::{Parallelism, SimOptions};

/// Adam (Kingma & Ba, "Adam: a method for stochastic optimization", ICLR 2015) on a flat vector of
/// `f64` parameters, minimising.
///
/// Each [`step`](Adam::step) updates the moment estimates with the gradient and moves every parameter
/// by `-lr * m̂ / (sqrt(v̂) + eps)` with bias-corrected moments `m̂`, `v̂`. The defaults are those of
/// the paper and of PyTorch: `beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-8`.
///
/// Usage: `let mut adam = Adam::new(n, lr);` then, per iteration, `adam.step(&mut params, &grad)?`
/// with the gradient of the objective at `params`; [`minimise`] wraps that loop.
#[derive(Debug, Clone, PartialEq)]
pub struct Adam {
    /// Step size.
    pub lr: f64,
    /// Decay of the first-moment (mean) estimate.
    pub beta1: f64,
    /// Decay of the second-moment (uncentred variance) estimate.
    pub beta2: f64,
    /// Added to `sqrt(v̂)` to keep the step finite.
    pub eps: f64,
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
}

impl Adam {
    /// An optimizer for `n_params` parameters with step size `lr` and the default moments.
    pub fn new(n_params: usize, lr: f64) -> Self {
        Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, m: vec![0.0; n_params], v: vec![0.0; n_params], t: 0 }
    }

    /// Number of steps taken so far.
    pub fn steps(&self) -> usize {
        self.t.max(0) as usize
    }

    /// One update of `params` along `-grad`. Both slices must have the optimizer's length, and the
    /// gradient must be finite; otherwise nothing changes and an error says why.
    pub fn step(&mut self, params: &mut [f64], grad: &[f64]) -> Result<(), ExperimentError> {
        if params.len() != self.m.len() || grad.len() != self.m.len() {
            return Err(ExperimentError::other(format!(
                "adam: optimizer for {} parameters given {} parameters and {} gradient entries",
                self.m.len(),
                params.len(),
                grad.len()
            )));
        }
        if let Some(i) = grad.iter().position(|g| !g.is_finite()) {
            return Err(ExperimentError::other(format!("adam: gradient entry {i} is {}", grad[i])));
        }
        self.t = self.t.saturating_add(1);
        let correction1 = 1.0 - self.beta1.powi(self.t);
        let correction2 = 1.0 - self.beta2.powi(self.t);
        for (((p, &g), m), v) in params.iter_mut().zip(grad).zip(&mut self.m).zip(&mut self.v) {
            *m = self.beta1 * *m + (1.0 - self.beta1) * g;
            *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
            *p -= self.lr * (*m / correction1) / ((*v / correction2).sqrt() + self.eps);
        }
        Ok(())
    }
}

/// When [`minimise`] stops: after `max_steps` Adam steps, or earlier once the gradient's Euclidean
/// norm falls below `grad_tol`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Descent {
    /// Adam's step size.
    pub lr: f64,
    /// Most Adam steps.
    pub max_steps: usize,
    /// Stop when `|∇f| < grad_tol`.
    pub grad_tol: f64,
}

/// The result of [`minimise`].
#[derive(Debug, Clone, PartialEq)]
pub struct Minimum {
    /// The parameters with the lowest value evaluated.
    pub params: Vec<f64>,
    /// The objective there.
    pub value: f64,
    /// Objective evaluations (one per Adam step, plus the final one).
    pub evaluations: usize,
    /// True when the gradient norm fell below the tolerance.
    pub converged: bool,
    /// The objective at every evaluation, in order.
    pub history: Vec<f64>,
}

/// Minimises `objective` (which returns the value and the gradient at the given parameters) from
/// `init` with [`Adam`], keeping the best point evaluated.
pub fn minimise<F>(mut objective: F, init: Vec<f64>, descent: &Descent) -> Result<Minimum, ExperimentError>
where
    F: FnMut(&[f64]) -> Result<(f64, Vec<f64>), ExperimentError>,
{
    let mut adam = Adam::new(init.len(), descent.lr);
    let mut params = init;
    let mut best =
        Minimum { params: params.clone(), value: f64::INFINITY, evaluations: 0, converged: false, history: Vec::new() };
    loop {
        let (value, grad) = objective(&params)?;
        if !value.is_finite() {
            return Err(ExperimentError::other(format!("objective is {value} at evaluation {}", best.evaluations)));
        }
        best.evaluations += 1;
        best.history.push(value);
        if value < best.value {
            best.value = value;
            best.params.clone_from(&params);
        }
        let norm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
        if norm < descent.grad_tol {
            best.converged = true;
            return Ok(best);
        }
        if adam.steps() >= descent.max_steps {
            return Ok(best);
        }
        adam.step(&mut params, &grad)?;
    }
}

/// `<O>` in the state `circuit` prepares from |0...0> with `params`, and its gradient with respect
/// to the parameters, by adjoint differentiation. `parallelism` is the kernels' thread use
/// (`Sequential` when the caller already runs several of these in parallel).
pub fn expectation_and_gradient(
    circuit: &Circuit,
    observable: &PauliSum,
    params: &[f64],
    parallelism: Parallelism,
) -> Result<(f64, Vec<f64>), ExperimentError> {
    let options = SimOptions { parallelism, ..SimOptions::default() };
    let g = adjoint(circuit, params, &[], observable, Wrt::PARAMS, &options)?;
    Ok((g.value, g.params))
}

/// [`expectation_and_gradient`] of `circuit` and `observable` as an objective for [`minimise`].
pub fn adjoint_objective<'a>(
    circuit: &'a Circuit,
    observable: &'a PauliSum,
    parallelism: Parallelism,
) -> impl FnMut(&[f64]) -> Result<(f64, Vec<f64>), ExperimentError> + 'a {
    move |params| expectation_and_gradient(circuit, observable, params, parallelism)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_finds_the_minimum_of_a_quadratic() {
        let target = [0.3, -1.2, 2.0];
        let objective = |x: &[f64]| -> Result<(f64, Vec<f64>), ExperimentError> {
            let d: Vec<f64> = x.iter().zip(&target).map(|(a, b)| a - b).collect();
            Ok((d.iter().map(|v| v * v).sum(), d.iter().map(|v| 2.0 * v).collect()))
        };
        let descent = Descent { lr: 0.1, max_steps: 5000, grad_tol: 1e-9 };
        let min = minimise(objective, vec![0.0; 3], &descent).unwrap();
        assert!(min.converged, "{} evaluations", min.evaluations);
        for (x, t) in min.params.iter().zip(&target) {
            assert!((x - t).abs() < 1e-8, "{x} vs {t}");
        }
    }

    #[test]
    fn adam_refuses_mismatched_or_non_finite_gradients() {
        let mut adam = Adam::new(2, 0.1);
        let mut x = vec![1.0, 2.0];
        assert!(adam.step(&mut x, &[1.0]).is_err());
        assert!(adam.step(&mut x, &[1.0, f64::NAN]).is_err());
        assert_eq!(x, vec![1.0, 2.0]);
        assert_eq!(adam.steps(), 0);
    }
}
