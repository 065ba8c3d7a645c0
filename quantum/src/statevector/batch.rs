//! A batch of statevectors evolved through one circuit, each with its own input features: the forward
//! pass of a quantum layer over a minibatch.
//!
//! The fusion plan depends only on the circuit's shape, so it is made once; each state then lowers the
//! circuit with its own inputs, composes the planned blocks, and applies them. States are independent,
//! so the batch runs in parallel over states (each state's kernels then run serially unless the state
//! alone is above the parallel threshold).

use super::{SimOptions, Statevector, apply_op_unchecked, check_op, lower_circuit};
use crate::circuit::Circuit;
use crate::error::{QuantumError, Result};
use crate::fusion::{self, FusionConfig};
use crate::matrix::C64;
use crate::pauli::PauliString;
use rayon::prelude::*;

/// `batch` states of `n_qubits` qubits, stored one after another.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchedStatevector {
    n_qubits: usize,
    batch: usize,
    amps: Vec<C64>,
}

impl BatchedStatevector {
    /// `batch` copies of |0...0>; errors with the bytes needed when they would not fit in memory.
    pub fn new(n_qubits: usize, batch: usize) -> Result<Self> {
        let mut amps = super::memory::allocate_states(n_qubits, batch)?;
        let dim = 1usize << n_qubits;
        for b in 0..batch {
            amps[b * dim] = C64::new(1.0, 0.0);
        }
        Ok(Self { n_qubits, batch, amps })
    }

    /// Number of qubits per state.
    pub fn n_qubits(&self) -> usize {
        self.n_qubits
    }

    /// Number of states.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Amplitudes of state `b`.
    pub fn state(&self, b: usize) -> Option<&[C64]> {
        let dim = 1usize << self.n_qubits;
        self.amps.get(b * dim..(b + 1) * dim)
    }

    /// State `b` as a [`Statevector`] (a copy).
    pub fn to_statevector(&self, b: usize) -> Result<Statevector> {
        let amps = self.state(b).ok_or(QuantumError::SizeMismatch {
            what: "state index within the batch".into(),
            expected: self.batch,
            got: b,
        })?;
        Statevector::from_amplitudes(amps.to_vec())
    }

    /// Evolves every state by `circuit` with shared `params` and per-state `inputs` (row-major,
    /// `batch x circuit.n_inputs()`).
    pub fn run(&mut self, circuit: &Circuit, params: &[f64], inputs: &[f64], options: &SimOptions) -> Result<()> {
        if circuit.n_qubits() != self.n_qubits {
            return Err(QuantumError::SizeMismatch {
                what: "qubits of the circuit and the batch".into(),
                expected: self.n_qubits,
                got: circuit.n_qubits(),
            });
        }
        let n_in = circuit.n_inputs();
        if inputs.len() != self.batch * n_in {
            return Err(QuantumError::SizeMismatch {
                what: format!("input values (batch {} x {} features)", self.batch, n_in),
                expected: self.batch * n_in,
                got: inputs.len(),
            });
        }
        if self.batch == 0 {
            return Ok(());
        }
        let fusion_on = options.fusion.enabled && self.n_qubits >= options.fusion.min_state_qubits;
        let cfg = if fusion_on { options.fusion } else { FusionConfig::disabled() };
        // The plan is the same for every state: make it from the first one.
        let first_steps = lower_circuit(circuit, params, &inputs[..n_in])?;
        for step in &first_steps {
            if let fusion::Step::Op(op) = step {
                check_op(op, self.n_qubits)?;
            }
        }
        let plan = fusion::plan(&first_steps, &cfg);
        let dim = 1usize << self.n_qubits;
        let n = self.n_qubits;
        let parallelism = options.parallelism;
        self.amps.par_chunks_mut(dim).enumerate().try_for_each(|(b, state)| -> Result<()> {
            let steps = lower_circuit(circuit, params, &inputs[b * n_in..(b + 1) * n_in])?;
            for block in &plan {
                let op = fusion::compose(block, &steps);
                // SAFETY: `compose` builds each op on the qubits of the plan's ops, checked above on
                // the first state's steps (every state lowers the same circuit); `state` is 2^n long.
                unsafe { apply_op_unchecked(state, n, &op, parallelism) };
            }
            Ok(())
        })
    }

    /// `<ψ_b|P|ψ_b>` for every state `b`.
    pub fn expectations(&self, pauli: &PauliString) -> Result<Vec<f64>> {
        let dim = 1usize << self.n_qubits;
        self.amps.chunks(dim).map(|s| pauli.expectation_of(s, self.n_qubits)).collect()
    }
}
