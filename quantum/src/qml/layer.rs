//! A quantum layer for the classical autograd: hybrid models (classical layers, a quantum circuit,
//! classical layers) train end to end with the classical optimizers.
//!
//! The layer maps a batch of feature rows `(batch, n_inputs)` to expectation values
//! `(batch, n_observables)` of a circuit whose input angles read the features and whose trainable
//! angles are the layer's weights. Its backward pass is one vector-Jacobian product: adjoint
//! differentiation on the statevector for the exact backend, parameter shift for any other
//! [`Estimator`] (shots, noisy density matrices, trajectories). A [`CircuitSampler`] backend draws a
//! random variant of the circuit for every row of a training batch (noise injection, QuantumNAT) and
//! differentiates each variant by adjoint. Tensors are f32 at the boundary, as in the classical crate;
//! the simulation runs in f64.

use crate::circuit::Circuit;
use crate::error::QuantumError;
use crate::grad::{Estimator, StatevectorEstimator, Wrt, adjoint, batch_expectations, batch_vjp, parameter_shift};
use crate::pauli::PauliSum;
use crate::statevector::{Parallelism, SimOptions};
use rayon::prelude::*;
use std::sync::Arc;
use tinylab_classical::autograd::Op;
use tinylab_classical::nn::{Ctx, Module, Param, join};
use tinylab_classical::{ClassicalError, Tensor, Var, seed};

/// Draws a random variant of a circuit: the same qubits, parameters and inputs, with gates added
/// (for example Pauli errors sampled from a device's noise model, so that the average over draws is
/// the noisy channel). The quantum layer's [`LayerBackend::Sampled`] calls it once per batch row.
pub trait CircuitSampler: Send + Sync + std::fmt::Debug {
    /// The variant drawn with `seed` (the same seed, the same variant).
    fn sample(&self, circuit: &Circuit, seed: u64) -> crate::error::Result<Circuit>;
}

/// How the layer evaluates its circuit.
#[derive(Clone)]
pub enum LayerBackend {
    /// Exact expectation values on the statevector; adjoint gradients.
    Exact(SimOptions),
    /// Any estimator (finite shots, a noise model); parameter-shift gradients. Each forward call
    /// draws new seeds from `seed` and a call counter, so training with shots is reproducible.
    Estimated {
        /// The estimator.
        estimator: Arc<dyn Estimator + Send>,
        /// Base seed for sampling estimators.
        seed: u64,
    },
    /// In training passes, every batch row runs its own variant of the circuit drawn by `sampler`
    /// (seeded by `seed`, the call counter and the row), evaluated exactly on the statevector with
    /// adjoint gradients; evaluation passes run the circuit itself, exactly. This is noise-injected
    /// training (QuantumNAT, Wang et al., DAC 2022): the expectation over draws is the noisy model.
    Sampled {
        /// Draws the variants.
        sampler: Arc<dyn CircuitSampler>,
        /// Base seed of the draws.
        seed: u64,
        /// Simulation options.
        options: SimOptions,
    },
}

impl std::fmt::Debug for LayerBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayerBackend::Exact(_) => write!(f, "Exact"),
            LayerBackend::Estimated { seed, .. } => write!(f, "Estimated {{ seed: {seed} }}"),
            LayerBackend::Sampled { sampler, seed, .. } => {
                write!(f, "Sampled {{ sampler: {sampler:?}, seed: {seed} }}")
            }
        }
    }
}

fn layer_error(e: QuantumError) -> ClassicalError {
    ClassicalError::Layer { layer: "quantum layer", source: Box::new(e) }
}

/// A circuit with trainable weights and input features, read out as expectation values.
#[derive(Debug, Clone)]
pub struct QuantumLayer {
    /// The trainable angles, `(n_params,)`, in the circuit's parameter order.
    pub weights: Param,
    circuit: Arc<Circuit>,
    observables: Arc<Vec<PauliSum>>,
    backend: LayerBackend,
    calls: u64,
}

impl QuantumLayer {
    /// A layer with weights drawn uniformly from `[-π, π)` (TorchQuantum's initialisation) with
    /// `seed`, evaluated exactly. The circuit must read at least one input feature.
    pub fn new(circuit: Circuit, observables: Vec<PauliSum>, seed: u64) -> crate::error::Result<Self> {
        if circuit.n_inputs() == 0 {
            return Err(QuantumError::Unsupported("a quantum layer needs a circuit that reads input features".into()));
        }
        if observables.is_empty() {
            return Err(QuantumError::Unsupported("a quantum layer needs at least one observable".into()));
        }
        for o in &observables {
            if o.min_qubits() > circuit.n_qubits() {
                return Err(QuantumError::QubitOutOfRange { qubit: o.min_qubits() - 1, n_qubits: circuit.n_qubits() });
            }
        }
        let mut rng = tinylab_classical::tensor::rng(seed);
        let pi = std::f32::consts::PI;
        let weights = tinylab_classical::tensor::rand_uniform(&[circuit.n_params()], -pi, pi, &mut rng);
        Ok(Self {
            weights: Param::new("weights", weights),
            circuit: Arc::new(circuit),
            observables: Arc::new(observables),
            backend: LayerBackend::Exact(SimOptions::default()),
            calls: 0,
        })
    }

    /// The same layer evaluated with another backend.
    pub fn with_backend(mut self, backend: LayerBackend) -> Self {
        self.backend = backend;
        self
    }

    /// The circuit.
    pub fn circuit(&self) -> &Circuit {
        &self.circuit
    }

    /// The observables read out, one output column each.
    pub fn observables(&self) -> &[PauliSum] {
        &self.observables
    }

    /// The weights as f64.
    pub fn weights_f64(&self) -> Vec<f64> {
        self.weights.effective_value().iter().map(|&v| v as f64).collect()
    }
}

/// The autograd op of one forward call.
#[derive(Debug)]
struct QuantumOp {
    circuit: Arc<Circuit>,
    observables: Arc<Vec<PauliSum>>,
    backend: LayerBackend,
    params: Vec<f64>,
    inputs: Vec<f64>,
    batch: usize,
    seed: u64,
    /// The circuit of each row when a sampler drew them (training passes of [`LayerBackend::Sampled`]).
    row_circuits: Option<Arc<Vec<Circuit>>>,
}

/// Expectation values of every row, each row running its own circuit (in parallel, collected in row
/// order).
fn evaluate_rows(
    circuits: &[Circuit],
    observables: &[PauliSum],
    params: &[f64],
    inputs: &[f64],
    options: &SimOptions,
) -> crate::error::Result<Vec<f64>> {
    let n_in = circuits.first().map_or(0, Circuit::n_inputs);
    let exact = StatevectorEstimator { options: SimOptions { parallelism: Parallelism::Sequential, ..*options } };
    let rows: Vec<Vec<f64>> = circuits
        .par_iter()
        .enumerate()
        .map(|(b, c)| exact.expectations(c, params, &inputs[b * n_in..(b + 1) * n_in], observables, 0))
        .collect::<crate::error::Result<_>>()?;
    Ok(rows.concat())
}

fn evaluate(
    backend: &LayerBackend,
    circuit: &Circuit,
    observables: &[PauliSum],
    params: &[f64],
    inputs: &[f64],
    batch: usize,
    seed: u64,
) -> crate::error::Result<Vec<f64>> {
    match backend {
        LayerBackend::Exact(options) | LayerBackend::Sampled { options, .. } => {
            batch_expectations(circuit, params, inputs, observables, options)
        }
        LayerBackend::Estimated { estimator, .. } => {
            let n_in = circuit.n_inputs();
            let mut out = Vec::with_capacity(batch * observables.len());
            for b in 0..batch {
                let x = &inputs[b * n_in..(b + 1) * n_in];
                out.extend(estimator.expectations(circuit, params, x, observables, seed::derive(seed, &[b as u64]))?);
            }
            Ok(out)
        }
    }
}

impl Op for QuantumOp {
    fn name(&self) -> &'static str {
        "quantum layer"
    }

    fn backward(
        &self,
        inputs: &[&Tensor],
        output: &Tensor,
        grad: &Tensor,
    ) -> tinylab_classical::Result<Vec<Option<Tensor>>> {
        self.backward_needed(inputs, output, grad, &[true, true])
    }

    fn backward_needed(
        &self,
        _inputs: &[&Tensor],
        _output: &Tensor,
        grad: &Tensor,
        needs: &[bool],
    ) -> tinylab_classical::Result<Vec<Option<Tensor>>> {
        let wrt =
            Wrt { inputs: needs.first().copied().unwrap_or(false), params: needs.get(1).copied().unwrap_or(false) };
        let cotangent: Vec<f64> = grad.iter().map(|&g| g as f64).collect();
        let n_in = self.circuit.n_inputs();
        let (grad_params, grad_inputs) = match (&self.backend, &self.row_circuits) {
            (LayerBackend::Sampled { options, .. }, Some(circuits)) => {
                let n_obs = self.observables.len();
                let options = SimOptions { parallelism: Parallelism::Sequential, ..*options };
                let rows: Vec<crate::grad::Gradient> = circuits
                    .par_iter()
                    .enumerate()
                    .map(|(b, c)| {
                        let observable =
                            PauliSum::combination(&self.observables, &cotangent[b * n_obs..(b + 1) * n_obs]);
                        adjoint(c, &self.params, &self.inputs[b * n_in..(b + 1) * n_in], &observable, wrt, &options)
                    })
                    .collect::<crate::error::Result<_>>()
                    .map_err(layer_error)?;
                let mut params = vec![0.0; self.params.len()];
                let mut inputs = Vec::with_capacity(self.batch * n_in);
                for g in &rows {
                    params.iter_mut().zip(&g.params).for_each(|(t, p)| *t += p);
                    inputs.extend_from_slice(&g.inputs);
                }
                (params, inputs)
            }
            (LayerBackend::Exact(options), _) | (LayerBackend::Sampled { options, .. }, None) => {
                let g =
                    batch_vjp(&self.circuit, &self.params, &self.inputs, &self.observables, &cotangent, wrt, options)
                        .map_err(layer_error)?;
                (g.params, g.inputs)
            }
            (LayerBackend::Estimated { estimator, .. }, _) => {
                let n_obs = self.observables.len();
                let mut params = vec![0.0; self.params.len()];
                let mut inputs = Vec::with_capacity(self.batch * n_in);
                for b in 0..self.batch {
                    let observable = PauliSum::combination(&self.observables, &cotangent[b * n_obs..(b + 1) * n_obs]);
                    let x = &self.inputs[b * n_in..(b + 1) * n_in];
                    let seed = seed::derive(self.seed ^ 0x005E_ED0F_BAC4, &[b as u64]);
                    let g = parameter_shift(estimator.as_ref(), &self.circuit, &self.params, x, &observable, wrt, seed)
                        .map_err(layer_error)?;
                    params.iter_mut().zip(&g.params).for_each(|(t, p)| *t += p);
                    inputs.extend_from_slice(&g.inputs);
                }
                (params, inputs)
            }
        };
        let to_tensor = |shape: &[usize], v: &[f64]| {
            tinylab_classical::tensor::from_vec(shape, v.iter().map(|&x| x as f32).collect())
        };
        Ok(vec![
            if wrt.inputs { Some(to_tensor(&[self.batch, n_in], &grad_inputs)?) } else { None },
            if wrt.params { Some(to_tensor(&[self.params.len()], &grad_params)?) } else { None },
        ])
    }
}

impl QuantumLayer {
    /// The layer's circuit evaluated on `x` with the angles `w` (a graph value of shape
    /// `(n_params,)`) in place of the layer's own weights; gradients flow to `w`. This is weight
    /// sharing: the SubCircuits of a QuantumNAS SuperCircuit (Wang et al., HPCA 2022) take their
    /// angles from slices of one set of parameters. `ctx` says whether this is a training pass (a
    /// [`LayerBackend::Sampled`] layer draws circuits only then).
    pub fn forward_with_weights(&mut self, x: &Var, w: &Var, ctx: &Ctx) -> tinylab_classical::Result<Var> {
        if w.shape() != [self.circuit.n_params()] {
            return Err(ClassicalError::ShapeMismatch {
                op: "quantum layer",
                lhs: w.shape().to_vec(),
                rhs: vec![self.circuit.n_params()],
                why: format!(
                    "the weights must be ({},) for a circuit with that many parameters",
                    self.circuit.n_params()
                ),
            });
        }
        let n_in = self.circuit.n_inputs();
        if x.shape().len() != 2 || x.shape()[1] != n_in {
            return Err(ClassicalError::ShapeMismatch {
                op: "quantum layer",
                lhs: x.shape().to_vec(),
                rhs: vec![x.shape().first().copied().unwrap_or(0), n_in],
                why: format!("input must be (batch, {n_in}) for a circuit reading {n_in} features"),
            });
        }
        let batch = x.shape()[0];
        let params: Vec<f64> = w.value().iter().map(|&v| v as f64).collect();
        let inputs: Vec<f64> = x.value().iter().map(|&v| v as f64).collect();
        let seed = match &self.backend {
            LayerBackend::Estimated { seed, .. } | LayerBackend::Sampled { seed, .. } => {
                seed::derive(*seed, &[self.calls])
            }
            LayerBackend::Exact(_) => 0,
        };
        self.calls += 1;
        let row_circuits = match &self.backend {
            LayerBackend::Sampled { sampler, .. } if ctx.train => Some(Arc::new(
                (0..batch)
                    .map(|b| sampler.sample(&self.circuit, seed::derive(seed, &[b as u64])))
                    .collect::<crate::error::Result<Vec<_>>>()
                    .map_err(layer_error)?,
            )),
            _ => None,
        };
        let values = match (&self.backend, &row_circuits) {
            (LayerBackend::Sampled { options, .. }, Some(circuits)) => {
                evaluate_rows(circuits, &self.observables, &params, &inputs, options)
            }
            _ => evaluate(&self.backend, &self.circuit, &self.observables, &params, &inputs, batch, seed),
        }
        .map_err(layer_error)?;
        let out = tinylab_classical::tensor::from_vec(
            &[batch, self.observables.len()],
            values.iter().map(|&v| v as f32).collect(),
        )?;
        let op = QuantumOp {
            circuit: self.circuit.clone(),
            observables: self.observables.clone(),
            backend: self.backend.clone(),
            params,
            inputs,
            batch,
            seed,
            row_circuits,
        };
        Ok(Var::from_op(op, &[x, w], out))
    }
}

impl Module for QuantumLayer {
    fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> tinylab_classical::Result<Var> {
        let w = ctx.param(&self.weights);
        self.forward_with_weights(x, &w, ctx)
    }

    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        f(join(prefix, "weights"), &self.weights);
    }

    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        f(join(prefix, "weights"), &mut self.weights);
    }
}
