//! Gradients of expectation values with respect to trainable parameters and input features.
//!
//! | method | where | cost | exact |
//! |---|---|---|---|
//! | [`adjoint`] | statevector | ~3 circuit passes, any number of parameters | yes |
//! | [`parameter_shift`] | any [`Estimator`]: exact, shot-based, noisy | 2 (or 2R) evaluations per angle | yes, in expectation |
//! | [`parameter_shift_selected`] | the same, for a subset of the parameters (gradient pruning) | 2 (or 2R) per angle of a selected parameter | yes, in expectation |
//! | [`finite_difference`] | any [`Estimator`] | 2 evaluations per source | no (checking only) |
//!
//! [`GradientMethod`] picks one by name for code that lets users choose. Batched forms
//! ([`batch_expectations`], [`batch_vjp`]) evaluate one circuit on a batch of input rows in parallel,
//! which is what a quantum layer of a hybrid model needs.

mod adjoint;
mod derivative;
mod estimator;
mod overlap;
mod shift;
mod tape;

pub use adjoint::{AdjointOutput, BatchGradient, Gradient, adjoint, adjoint_tape, batch_expectations, batch_vjp};
pub use derivative::{ShiftRule, base_derivative, shift_rule};
pub use estimator::{BasisEstimator, Estimator, ProbabilityBackend, StatevectorBackend, StatevectorEstimator};
pub use shift::{SelectedGradient, finite_difference, parameter_shift, parameter_shift_selected};
pub use tape::{Tape, Wrt};

use crate::circuit::Circuit;
use crate::error::Result;
use crate::pauli::PauliSum;
use crate::statevector::SimOptions;

/// A way to differentiate, for APIs that let the user choose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GradientMethod {
    /// Adjoint differentiation on the statevector.
    Adjoint,
    /// Parameter shift with exact expectation values.
    ParameterShift,
    /// Parameter shift with `shots` seeded samples per measured basis and evaluation.
    Shots {
        /// Samples per basis and evaluation.
        shots: usize,
        /// Seed of the first evaluation (later ones derive from it).
        seed: u64,
    },
    /// Central finite differences with this step.
    FiniteDifference {
        /// The step.
        step: f64,
    },
}

/// `<O>` and its gradient with the chosen method on the ideal statevector.
pub fn gradient(
    method: GradientMethod,
    circuit: &Circuit,
    params: &[f64],
    inputs: &[f64],
    observable: &PauliSum,
    wrt: Wrt,
    options: &SimOptions,
) -> Result<Gradient> {
    let exact = StatevectorEstimator { options: *options };
    match method {
        GradientMethod::Adjoint => adjoint(circuit, params, inputs, observable, wrt, options),
        GradientMethod::ParameterShift => parameter_shift(&exact, circuit, params, inputs, observable, wrt, 0),
        GradientMethod::Shots { shots, seed } => {
            let sampled = BasisEstimator { backend: StatevectorBackend { options: *options }, shots: Some(shots) };
            parameter_shift(&sampled, circuit, params, inputs, observable, wrt, seed)
        }
        GradientMethod::FiniteDifference { step } => {
            finite_difference(&exact, circuit, params, inputs, observable, wrt, step)
        }
    }
}
