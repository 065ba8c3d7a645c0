//! Gradients from evaluations only: parameter-shift rules (exact for any [`Estimator`], noisy or
//! sampled ones included, because noise channels that do not depend on an angle leave the
//! expectation a trigonometric polynomial of the same frequencies), and central finite differences
//! (for checking).
//!
//! Each gate angle that depends on a parameter or input is shifted on its own and the chain rule adds
//! `∂angle/∂source` times the angle's derivative into the source's entry, so a parameter shared by
//! several gates, or scaled, is handled exactly. Evaluations run in parallel and are summed in a fixed
//! order; sampled ones get a seed derived from the evaluation's index.

use super::adjoint::Gradient;
use super::derivative::{ShiftRule, shift_rule};
use super::estimator::Estimator;
use super::tape::Wrt;
use crate::circuit::{AngleSource, Circuit, Instruction};
use crate::error::{QuantumError, Result};
use crate::pauli::PauliSum;
use rayon::prelude::*;
use tinylab_classical::seed;

/// One differentiable gate angle: where it is, what it depends on, and its shift rule.
struct ShiftedAngle {
    instruction: usize,
    position: usize,
    sources: Vec<(AngleSource, f64)>,
    rule: ShiftRule,
}

/// Every gate angle that depends on a source `wanted` accepts, with the partials of those sources.
fn shifted_angles(
    circuit: &Circuit,
    params: &[f64],
    inputs: &[f64],
    wanted: impl Fn(AngleSource) -> bool,
) -> Result<Vec<ShiftedAngle>> {
    let mut out = Vec::new();
    for (i, inst) in circuit.instructions().iter().enumerate() {
        let Instruction::Gate(app) = inst else { continue };
        let angles: Vec<f64> = app.angles.iter().map(|a| a.resolve(params, inputs)).collect();
        for (k, a) in app.angles.iter().enumerate() {
            let sources: Vec<_> = a.partials(params, inputs).into_iter().filter(|(s, _)| wanted(*s)).collect();
            if sources.is_empty() {
                continue;
            }
            out.push(ShiftedAngle { instruction: i, position: k, sources, rule: shift_rule(&app.gate, &angles, k)? });
        }
    }
    Ok(out)
}

fn accumulate(grad: &mut Gradient, sources: &[(AngleSource, f64)], d: f64) {
    for &(s, w) in sources {
        match s {
            AngleSource::Param(i) => grad.params[i] += w * d,
            AngleSource::Input(i) => grad.inputs[i] += w * d,
        }
    }
}

/// The derivative of `<O>` with respect to each of `angles` by its shift rule; evaluation `e` is
/// seeded with `seed::derive(seed, &[e + 1])`. Evaluations run in parallel and are summed in a fixed
/// order.
fn angle_derivatives(
    estimator: &dyn Estimator,
    circuit: &Circuit,
    params: &[f64],
    inputs: &[f64],
    observable: &PauliSum,
    angles: &[ShiftedAngle],
    seed: u64,
) -> Result<Vec<f64>> {
    let observables = std::slice::from_ref(observable);
    // Every (angle, term) evaluation, numbered for its seed.
    let jobs: Vec<(usize, f64, f64)> = angles
        .iter()
        .enumerate()
        .flat_map(|(a, s)| s.rule.terms.iter().map(move |&(shift, c)| (a, shift, c)))
        .collect();
    let results: Vec<f64> = jobs
        .par_iter()
        .enumerate()
        .map(|(e, &(a, shift, c))| {
            let shifted = circuit.with_angle_offset(angles[a].instruction, angles[a].position, shift)?;
            Ok(c * estimator.expectations(
                &shifted,
                params,
                inputs,
                observables,
                seed::derive(seed, &[e as u64 + 1]),
            )?[0])
        })
        .collect::<Result<_>>()?;
    let mut derivative = vec![0.0; angles.len()];
    for (&(a, _, _), r) in jobs.iter().zip(results) {
        derivative[a] += r;
    }
    Ok(derivative)
}

/// Adds each angle's derivative into the entries of its sources (the chain rule).
fn chain(grad: &mut Gradient, angles: &[ShiftedAngle], derivative: &[f64]) {
    for (s, &d) in angles.iter().zip(derivative) {
        accumulate(grad, &s.sources, d);
    }
}

/// `<O>` and its gradient by parameter-shift rules (two-term for Pauli rotations, four-term for
/// controlled rotations, the general equidistant rule otherwise), every evaluation done by
/// `estimator`. Sampling estimators draw evaluation `e` with seed `seed::derive(seed, &[e])`.
pub fn parameter_shift(
    estimator: &dyn Estimator,
    circuit: &Circuit,
    params: &[f64],
    inputs: &[f64],
    observable: &PauliSum,
    wrt: Wrt,
    seed: u64,
) -> Result<Gradient> {
    circuit.check_bindings(params, inputs)?;
    let angles = shifted_angles(circuit, params, inputs, |s| wrt.wants(s))?;
    let value =
        estimator.expectations(circuit, params, inputs, std::slice::from_ref(observable), seed::derive(seed, &[0]))?[0];
    let mut grad = Gradient { value, params: vec![0.0; circuit.n_params()], inputs: vec![0.0; circuit.n_inputs()] };
    chain(&mut grad, &angles, &angle_derivatives(estimator, circuit, params, inputs, observable, &angles, seed)?);
    Ok(grad)
}

/// A parameter-shift gradient with respect to a subset of the parameters, and its cost.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectedGradient {
    /// `∂<O>/∂θ_i` for every selected parameter `i`, zero for the others.
    pub params: Vec<f64>,
    /// Estimator evaluations made: one per shift-rule term of every angle that depends on a selected
    /// parameter (two per occurrence under a Pauli rotation). Unselected parameters cost nothing.
    pub evaluations: usize,
}

/// The gradient of `<O>` with respect to the parameters `i` with `selected[i]`, by the shift rules
/// of [`parameter_shift`] (evaluation `e` of the selected angles seeded with
/// `seed::derive(seed, &[e + 1])`), without evaluating `<O>` itself (on-chip training reads it from its
/// forward run). This is what gradient pruning needs: a pruned parameter
/// costs no circuit run (Wang et al., "QOC: Quantum On-Chip Training with Parameter Shift and
/// Gradient Pruning", DAC 2022).
pub fn parameter_shift_selected(
    estimator: &dyn Estimator,
    circuit: &Circuit,
    params: &[f64],
    inputs: &[f64],
    observable: &PauliSum,
    selected: &[bool],
    seed: u64,
) -> Result<SelectedGradient> {
    circuit.check_bindings(params, inputs)?;
    if selected.len() != circuit.n_params() {
        return Err(QuantumError::SizeMismatch {
            what: "parameter selection for a parameter-shift gradient".into(),
            expected: circuit.n_params(),
            got: selected.len(),
        });
    }
    let wanted = |s: AngleSource| matches!(s, AngleSource::Param(i) if selected[i]);
    let angles = shifted_angles(circuit, params, inputs, wanted)?;
    let mut grad = Gradient { value: 0.0, params: vec![0.0; circuit.n_params()], inputs: Vec::new() };
    chain(&mut grad, &angles, &angle_derivatives(estimator, circuit, params, inputs, observable, &angles, seed)?);
    let evaluations = angles.iter().map(|a| a.rule.terms.len()).sum();
    Ok(SelectedGradient { params: grad.params, evaluations })
}

/// `<O>` and its gradient by central differences of step `step` on each parameter and input (each
/// source moved as a whole, so shared parameters need no chain rule). For checking: truncation error
/// `O(step²)`, rounding error `O(ε/step)`.
pub fn finite_difference(
    estimator: &dyn Estimator,
    circuit: &Circuit,
    params: &[f64],
    inputs: &[f64],
    observable: &PauliSum,
    wrt: Wrt,
    step: f64,
) -> Result<Gradient> {
    circuit.check_bindings(params, inputs)?;
    let observables = std::slice::from_ref(observable);
    let value = estimator.expectations(circuit, params, inputs, observables, 0)?[0];
    let mut sources: Vec<AngleSource> = Vec::new();
    if wrt.params {
        sources.extend((0..params.len()).map(AngleSource::Param));
    }
    if wrt.inputs {
        sources.extend((0..inputs.len()).map(AngleSource::Input));
    }
    let derivatives: Vec<f64> = sources
        .par_iter()
        .map(|&s| {
            let eval = |delta: f64| -> Result<f64> {
                let (mut p, mut x) = (params.to_vec(), inputs.to_vec());
                match s {
                    AngleSource::Param(i) => p[i] += delta,
                    AngleSource::Input(i) => x[i] += delta,
                }
                Ok(estimator.expectations(circuit, &p, &x, observables, 0)?[0])
            };
            Ok((eval(step)? - eval(-step)?) / (2.0 * step))
        })
        .collect::<Result<_>>()?;
    let mut grad = Gradient { value, params: vec![0.0; circuit.n_params()], inputs: vec![0.0; circuit.n_inputs()] };
    for (&s, d) in sources.iter().zip(derivatives) {
        accumulate(&mut grad, &[(s, 1.0)], d);
    }
    Ok(grad)
}
