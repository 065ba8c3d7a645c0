//! Adjoint differentiation (Jones & Gacon, "Efficient calculation of gradients in classical
//! simulations of variational quantum algorithms", arXiv:2009.02823): one forward sweep, then one
//! backward sweep that un-applies each op to both the state `|ψ>` and the co-state `|λ> = O|ψ>`,
//! reading `∂<O>/∂a = 2 Re <λ| ∂U/∂a |ψ_before>` at every differentiable angle. Memory is two
//! states; time is about three forward passes, whatever the number of parameters.
//!
//! For a quantum layer inside a model, the backward pass needs the vector-Jacobian product
//! `Σ_j c_j ∂<O_j>/∂θ`, which is the gradient of the single observable `Σ_j c_j O_j`: one sweep.

use super::overlap::{apply_pauli_sum, controlled_overlap, real_inner};
use super::tape::{Tape, Wrt};
use crate::circuit::{AngleSource, Circuit};
use crate::error::{QuantumError, Result};
use crate::fusion::{self, FusionConfig, Step};
use crate::matrix::C64;
use crate::pauli::PauliSum;
use crate::statevector::{Parallelism, SimOptions, apply_op_unchecked};
use rayon::prelude::*;

/// States with at least this many qubits run the forward sweep fused (the backward sweep needs the
/// ops one by one); below it fusing costs more than it saves.
const FUSED_FORWARD_MIN_QUBITS: usize = 10;

/// An expectation value and its gradient.
#[derive(Debug, Clone, PartialEq)]
pub struct Gradient {
    /// `<O>`.
    pub value: f64,
    /// `∂<O>/∂θ_k` for every trainable parameter (zeros when not asked for).
    pub params: Vec<f64>,
    /// `∂<O>/∂x_k` for every input feature (zeros when not asked for).
    pub inputs: Vec<f64>,
}

/// What one adjoint sweep gives besides the gradient.
#[derive(Debug, Clone, PartialEq)]
pub struct AdjointOutput {
    /// Value and gradient.
    pub gradient: Gradient,
    /// The co-state at the start of the circuit, `U† O U |ψ0>`: when the initial state is an input
    /// (amplitude encoding), `∂<O>/∂Re ψ0_i = 2 Re` and `∂<O>/∂Im ψ0_i = 2 Im` of its entry `i`.
    pub initial_costate: Option<Vec<C64>>,
}

fn check_observable(observable: &PauliSum, n_qubits: usize) -> Result<()> {
    let needed = observable.min_qubits();
    if needed > n_qubits {
        return Err(QuantumError::QubitOutOfRange { qubit: needed - 1, n_qubits });
    }
    Ok(())
}

/// Runs the adjoint sweep on a tape from `initial` (|0...0> when `None`).
pub fn adjoint_tape(
    tape: &Tape,
    initial: Option<&[C64]>,
    observable: &PauliSum,
    parallelism: Parallelism,
) -> Result<AdjointOutput> {
    let n = tape.n_qubits;
    check_observable(observable, n)?;
    let dim = 1usize << n;
    let mut psi = match initial {
        Some(s) if s.len() == dim => s.to_vec(),
        Some(s) => {
            return Err(QuantumError::SizeMismatch {
                what: format!("amplitudes of the initial state of {n} qubits"),
                expected: dim,
                got: s.len(),
            });
        }
        None => {
            let mut v = crate::statevector::memory::allocate_states(n, 1)?;
            v[0] = C64::new(1.0, 0.0);
            v
        }
    };
    if n >= FUSED_FORWARD_MIN_QUBITS {
        let steps: Vec<Step> = tape.steps.iter().map(|s| Step::Op(s.op.clone())).collect();
        for op in fusion::fuse(&steps, &FusionConfig::default()) {
            // SAFETY: the tape's ops are lowered from a circuit of `n` qubits whose builder checked every
            // gate's qubits, and `psi` / `lambda` hold 2^n amplitudes.
            unsafe { apply_op_unchecked(&mut psi, n, &op, parallelism) };
        }
    } else {
        for step in &tape.steps {
            // SAFETY: the tape's ops are lowered from a circuit of `n` qubits whose builder checked every
            // gate's qubits, and `psi` / `lambda` hold 2^n amplitudes.
            unsafe { apply_op_unchecked(&mut psi, n, &step.op, parallelism) };
        }
    }
    let mut lambda = crate::statevector::memory::allocate_states(n, 1)?;
    apply_pauli_sum(observable, &psi, &mut lambda, n, parallelism);
    let value = real_inner(&psi, &lambda, parallelism);
    let mut params = vec![0.0; tape.n_params];
    let mut inputs = vec![0.0; tape.n_inputs];
    // Below the first differentiable op the sweep only matters for the initial co-state.
    let stop = if initial.is_some() {
        0
    } else {
        tape.steps.iter().position(|s| !s.derivatives.is_empty()).unwrap_or(tape.steps.len())
    };
    let steps = &tape.steps[stop..];
    // Invariant at the top of iteration k: `psi` is the state before step k, `lambda` the co-state
    // after it. (Running the two updates on two threads was measured slower below the kernels' own
    // parallel threshold: waking a worker costs more than a pass over a 12-qubit state.)
    if let Some(last) = steps.last() {
        // SAFETY: the tape's ops are lowered from a circuit of `n` qubits whose builder checked every
        // gate's qubits, and `psi` / `lambda` hold 2^n amplitudes.
        unsafe { apply_op_unchecked(&mut psi, n, &last.inverse, parallelism) };
    }
    for k in (0..steps.len()).rev() {
        let step = &steps[k];
        for d in &step.derivatives {
            let overlap =
                controlled_overlap(&lambda, &psi, n, &step.op.targets, &step.op.controls, &d.matrix, parallelism);
            let g = 2.0 * overlap.re;
            for &(source, weight) in &d.sources {
                match source {
                    AngleSource::Param(i) => params[i] += weight * g,
                    AngleSource::Input(i) => inputs[i] += weight * g,
                }
            }
        }
        // SAFETY: the tape's ops are lowered from a circuit of `n` qubits whose builder checked every
        // gate's qubits, and `psi` / `lambda` hold 2^n amplitudes.
        unsafe { apply_op_unchecked(&mut lambda, n, &step.inverse, parallelism) };
        if k > 0 {
            // SAFETY: the tape's ops are lowered from a circuit of `n` qubits whose builder checked every
            // gate's qubits, and `psi` / `lambda` hold 2^n amplitudes.
            unsafe { apply_op_unchecked(&mut psi, n, &steps[k - 1].inverse, parallelism) };
        }
    }
    Ok(AdjointOutput { gradient: Gradient { value, params, inputs }, initial_costate: initial.map(|_| lambda) })
}

/// `<O>` and its gradient by adjoint differentiation for one binding of `circuit`.
pub fn adjoint(
    circuit: &Circuit,
    params: &[f64],
    inputs: &[f64],
    observable: &PauliSum,
    wrt: Wrt,
    options: &SimOptions,
) -> Result<Gradient> {
    let tape = Tape::new(circuit, params, inputs, wrt)?;
    Ok(adjoint_tape(&tape, None, observable, options.parallelism)?.gradient)
}

/// Gradients for a batch: the rows of `inputs` (`batch x circuit.n_inputs()`) share `params`.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchGradient {
    /// The vector-Jacobian product with respect to the parameters, summed over the batch.
    pub params: Vec<f64>,
    /// Per-sample gradients with respect to the inputs (`batch x n_inputs`, zeros unless asked).
    pub inputs: Vec<f64>,
}

fn batch_size(circuit: &Circuit, inputs: &[f64]) -> Result<usize> {
    let n_in = circuit.n_inputs();
    if n_in == 0 {
        return Err(QuantumError::Unsupported(
            "a batch needs a circuit with input features; call `adjoint` for a circuit without inputs".into(),
        ));
    }
    if !inputs.len().is_multiple_of(n_in) {
        return Err(QuantumError::SizeMismatch {
            what: format!("input values (a multiple of {n_in} features)"),
            expected: inputs.len() / n_in * n_in,
            got: inputs.len(),
        });
    }
    Ok(inputs.len() / n_in)
}

/// Batches of states with at most this many qubits are evaluated op by op from a per-thread tape
/// (inputs re-bound per sample, no fusion); larger ones go through the fused batched statevector.
const TAPE_BATCH_MAX_QUBITS: usize = 10;

fn sample(rows: &[f64], b: usize, width: usize) -> &[f64] {
    &rows[b * width..(b + 1) * width]
}

/// `<O_j>` for every sample of the batch and every observable: `batch x observables.len()`,
/// row-major. Samples run in parallel.
pub fn batch_expectations(
    circuit: &Circuit,
    params: &[f64],
    inputs: &[f64],
    observables: &[PauliSum],
    options: &SimOptions,
) -> Result<Vec<f64>> {
    let batch = batch_size(circuit, inputs)?;
    let n = circuit.n_qubits();
    for o in observables {
        check_observable(o, n)?;
    }
    let n_in = circuit.n_inputs();
    let expectations = |amps: &[C64]| -> Result<Vec<f64>> {
        observables
            .iter()
            .map(|o| o.terms().iter().try_fold(0.0, |acc, (w, p)| Ok(acc + w * p.expectation_of(amps, n)?)))
            .collect()
    };
    if batch == 0 {
        return Ok(Vec::new());
    }
    let rows: Vec<Vec<f64>> = if n <= TAPE_BATCH_MAX_QUBITS {
        let template = Tape::new(circuit, params, sample(inputs, 0, n_in), Wrt::NONE)?;
        (0..batch)
            .into_par_iter()
            .map_init(
                || (template.clone(), vec![C64::new(0.0, 0.0); 1 << n]),
                |(tape, psi), b| {
                    tape.rebind_inputs(circuit, params, sample(inputs, b, n_in))?;
                    psi.fill(C64::new(0.0, 0.0));
                    psi[0] = C64::new(1.0, 0.0);
                    for step in &tape.steps {
                        // SAFETY: the tape's ops are lowered from a circuit of `n` qubits whose builder checked every
                        // gate's qubits, and `psi` / `lambda` hold 2^n amplitudes.
                        unsafe { apply_op_unchecked(psi, n, &step.op, Parallelism::Sequential) };
                    }
                    expectations(psi)
                },
            )
            .collect::<Result<_>>()?
    } else {
        let mut states = crate::statevector::BatchedStatevector::new(n, batch)?;
        states.run(circuit, params, inputs, options)?;
        (0..batch)
            .into_par_iter()
            .map(|b| expectations(states.state(b).expect("sample within the batch")))
            .collect::<Result<_>>()?
    };
    Ok(rows.concat())
}

/// The vector-Jacobian product of [`batch_expectations`]: given `cotangent` (`batch x
/// observables.len()`, the loss gradient with respect to each expectation), the gradient with
/// respect to the shared parameters (summed over samples, in sample order, so the same at any thread
/// count) and to each sample's inputs. One adjoint sweep per sample, samples in parallel, each thread
/// re-binding the inputs of its own copy of the tape.
pub fn batch_vjp(
    circuit: &Circuit,
    params: &[f64],
    inputs: &[f64],
    observables: &[PauliSum],
    cotangent: &[f64],
    wrt: Wrt,
    options: &SimOptions,
) -> Result<BatchGradient> {
    let batch = batch_size(circuit, inputs)?;
    if cotangent.len() != batch * observables.len() {
        return Err(QuantumError::SizeMismatch {
            what: format!("cotangent values (batch {batch} x {} observables)", observables.len()),
            expected: batch * observables.len(),
            got: cotangent.len(),
        });
    }
    let n_in = circuit.n_inputs();
    if batch == 0 {
        return Ok(BatchGradient { params: vec![0.0; circuit.n_params()], inputs: Vec::new() });
    }
    let inner = if batch >= rayon::current_num_threads() { Parallelism::Sequential } else { options.parallelism };
    let template = Tape::new(circuit, params, sample(inputs, 0, n_in), wrt)?;
    let n_obs = observables.len();
    let per_sample: Vec<Gradient> = (0..batch)
        .into_par_iter()
        .map_init(
            || template.clone(),
            |tape, b| {
                tape.rebind_inputs(circuit, params, sample(inputs, b, n_in))?;
                let observable = PauliSum::combination(observables, sample(cotangent, b, n_obs));
                Ok(adjoint_tape(tape, None, &observable, inner)?.gradient)
            },
        )
        .collect::<Result<_>>()?;
    let mut total = vec![0.0; circuit.n_params()];
    let mut grad_inputs = Vec::with_capacity(batch * n_in);
    for g in per_sample {
        total.iter_mut().zip(&g.params).for_each(|(t, p)| *t += p);
        grad_inputs.extend_from_slice(&g.inputs);
    }
    Ok(BatchGradient { params: total, inputs: grad_inputs })
}
