//! Pieces shared by the variational experiments (`vqe_h2`, `qaoa_maxcut`, `barren_plateau`): a
//! minimisation loop on exact adjoint gradients with `classical::optim`'s Adam (stepping the plain
//! `f64` parameter vector through [`VectorOptimizer`]); the circuits come from
//! `tinylab_quantum::library`.
//!
//! The loop works on plain slices so that any objective returning `(value, gradient)` can use it; [`expectation_and_gradient`] is the objective of every experiment here: `<ψ(θ)|O|ψ(θ)>` and
//! its gradient by adjoint differentiation (about three circuit passes, whatever the parameter count).

use super::ExperimentError;
use tinylab_classical::optim::{Adam, VectorOptimizer};
use tinylab_quantum::Circuit;
use tinylab_quantum::grad::{Wrt, adjoint};
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::statevector::{Parallelism, SimOptions};

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
/// `init` with [`Adam`] (PyTorch's defaults, no weight decay), keeping the best point evaluated.
pub fn minimise<F>(mut objective: F, init: Vec<f64>, descent: &Descent) -> Result<Minimum, ExperimentError>
where
    F: FnMut(&[f64]) -> Result<(f64, Vec<f64>), ExperimentError>,
{
    let mut adam = Adam::new(0.0);
    let mut steps = 0;
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
        if steps >= descent.max_steps {
            return Ok(best);
        }
        adam.step_vector("params", &mut params, &grad, descent.lr)?;
        steps += 1;
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
    fn minimise_refuses_a_non_finite_gradient() {
        let objective = |_: &[f64]| -> Result<(f64, Vec<f64>), ExperimentError> { Ok((1.0, vec![f64::NAN])) };
        let descent = Descent { lr: 0.1, max_steps: 10, grad_tol: 0.0 };
        assert!(minimise(objective, vec![0.0], &descent).is_err());
    }
}
