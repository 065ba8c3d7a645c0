//! Statevector simulation: `2^n` complex amplitudes, qubit 0 the least significant bit of a basis
//! index (Qiskit's order).
//!
//! [`Statevector::run`] lowers a circuit to ops ([`crate::ops`]), fuses them ([`crate::fusion`]) and
//! applies them with the kernels of [`kernel`]. [`BatchedStatevector`] evolves a batch of states
//! through one circuit with per-state input angles. Measurement-side functions (probabilities,
//! seeded sampling, Pauli expectations) live in [`measure`].

pub mod batch;
pub mod kernel;
pub mod measure;
pub mod memory;

pub use batch::BatchedStatevector;
pub use kernel::Parallelism;

use crate::circuit::{Circuit, Instruction};
use crate::error::{QuantumError, Result};
use crate::fusion::{self, FusionConfig, Step};
use crate::matrix::C64;
use crate::ops::{self, Op, OpMatrix};

/// How to simulate: fusion settings and thread use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SimOptions {
    /// Gate fusion settings.
    pub fusion: FusionConfig,
    /// Thread use of the kernels.
    pub parallelism: Parallelism,
}

/// A pure state of `n_qubits` qubits.
#[derive(Debug, Clone, PartialEq)]
pub struct Statevector {
    n_qubits: usize,
    amps: Vec<C64>,
}

/// Applies `op` without checking it.
///
/// # Safety
/// `op` passed [`check_op`] for `n_qubits`, and `amps.len() == 2^n_qubits`: the kernels index the
/// amplitudes through raw pointers at positions built from the op's qubits.
pub(crate) unsafe fn apply_op_unchecked(amps: &mut [C64], n_qubits: usize, op: &Op, parallelism: Parallelism) {
    let kernel = kernel::DenseKernel::best();
    match &op.matrix {
        // SAFETY: check_op bounds the qubits and the matrix size; the caller sizes `amps`.
        OpMatrix::Dense(m) => unsafe {
            kernel::apply_dense_unchecked(kernel, amps, n_qubits, &op.targets, &op.controls, m, parallelism)
        },
        OpMatrix::Diagonal(d) if op.targets.len() <= 3 => {
            // SAFETY: as above (check_op made `d` of length 2^targets).
            unsafe { kernel::apply_small_diagonal_unchecked(amps, n_qubits, &op.targets, &op.controls, d, parallelism) }
        }
        OpMatrix::Diagonal(d) => {
            if op.controls.is_empty() {
                kernel::apply_diagonal_table_unchecked(amps, n_qubits, &op.targets, d, parallelism)
            } else {
                // Fold the controls into the table: entries with a control at 0 are 1.
                let mut qubits = op.targets.clone();
                qubits.extend_from_slice(&op.controls);
                let k = op.targets.len();
                let table: Vec<C64> = (0..1usize << qubits.len())
                    .map(|t| {
                        if t >> k == (1 << op.controls.len()) - 1 { d[t & ((1 << k) - 1)] } else { C64::new(1.0, 0.0) }
                    })
                    .collect();
                kernel::apply_diagonal_table_unchecked(amps, n_qubits, &qubits, &table, parallelism)
            }
        }
    }
}

/// Checks an op's qubits: in range, distinct, and a matrix of the right size.
pub(crate) fn check_op(op: &Op, n_qubits: usize) -> Result<()> {
    let qubits: Vec<usize> = op.qubits().collect();
    kernel::check_qubits(&qubits, n_qubits, "op")?;
    let dim = match &op.matrix {
        OpMatrix::Dense(m) => m.dim(),
        OpMatrix::Diagonal(d) => d.len(),
    };
    if dim != 1 << op.targets.len() {
        return Err(QuantumError::SizeMismatch {
            what: "matrix dimension of an op".into(),
            expected: 1 << op.targets.len(),
            got: dim,
        });
    }
    if matches!(op.matrix, OpMatrix::Dense(_)) && op.targets.len() > kernel::MAX_DENSE_TARGETS {
        return Err(QuantumError::Unsupported(format!(
            "dense ops act on at most {} qubits, got {}",
            kernel::MAX_DENSE_TARGETS,
            op.targets.len()
        )));
    }
    Ok(())
}

/// Lowers the gates of `circuit` with the given bindings into steps (barriers become fences).
/// Measurements are skipped; a gate after a measurement on the same qubit is an error, since a pure
/// state cannot represent the collapse.
pub fn lower_circuit(circuit: &Circuit, params: &[f64], inputs: &[f64]) -> Result<Vec<Step>> {
    circuit.check_bindings(params, inputs)?;
    if circuit.has_mid_circuit_measurement() {
        return Err(QuantumError::Unsupported(
            "a gate acts on a qubit after it was measured (mid-circuit measurement); statevector simulation \
             handles measurements only at the end"
                .into(),
        ));
    }
    let mut steps = Vec::with_capacity(circuit.instructions().len());
    let mut ops = Vec::new();
    for inst in circuit.instructions() {
        match inst {
            Instruction::Gate(app) => {
                ops.clear();
                ops::lower(app, params, inputs, &mut ops)?;
                steps.extend(ops.drain(..).map(Step::Op));
            }
            Instruction::Barrier(_) => steps.push(Step::Fence),
            Instruction::Measure { .. } => {}
        }
    }
    Ok(steps)
}

impl Statevector {
    /// |0...0> on `n_qubits` qubits; errors with the bytes needed when it would not fit in memory.
    pub fn new(n_qubits: usize) -> Result<Self> {
        let mut amps = memory::allocate_states(n_qubits, 1)?;
        amps[0] = C64::new(1.0, 0.0);
        Ok(Self { n_qubits, amps })
    }

    /// A state from its amplitudes (length a power of two, norm 1 to within 1e-9).
    pub fn from_amplitudes(amps: Vec<C64>) -> Result<Self> {
        if !amps.len().is_power_of_two() {
            return Err(QuantumError::SizeMismatch {
                what: "amplitude count (a power of two)".into(),
                expected: amps.len().next_power_of_two(),
                got: amps.len(),
            });
        }
        let norm: f64 = amps.iter().map(|a| a.norm_sqr()).sum();
        if (norm - 1.0).abs().partial_cmp(&1e-9) != Some(std::cmp::Ordering::Less) {
            return Err(QuantumError::Unsupported(format!("amplitudes have squared norm {norm}, not 1")));
        }
        Ok(Self { n_qubits: amps.len().trailing_zeros() as usize, amps })
    }

    /// The state `circuit` prepares from |0...0>, with default options.
    pub fn from_circuit(circuit: &Circuit, params: &[f64], inputs: &[f64]) -> Result<Self> {
        let mut sv = Self::new(circuit.n_qubits())?;
        sv.run(circuit, params, inputs, &SimOptions::default())?;
        Ok(sv)
    }

    /// Number of qubits.
    pub fn n_qubits(&self) -> usize {
        self.n_qubits
    }

    /// The amplitudes; index bit `q` is qubit `q`.
    pub fn amplitudes(&self) -> &[C64] {
        &self.amps
    }

    /// Consumes the state, returning its amplitudes.
    pub fn into_amplitudes(self) -> Vec<C64> {
        self.amps
    }

    /// Applies one op after checking its qubits.
    pub fn apply_op(&mut self, op: &Op, parallelism: Parallelism) -> Result<()> {
        check_op(op, self.n_qubits)?;
        // SAFETY: checked just above; the state holds 2^n amplitudes.
        unsafe { apply_op_unchecked(&mut self.amps, self.n_qubits, op, parallelism) };
        Ok(())
    }

    /// Evolves the state by `circuit` (its trailing measurements ignored) with the given parameter and
    /// input values.
    pub fn run(&mut self, circuit: &Circuit, params: &[f64], inputs: &[f64], options: &SimOptions) -> Result<()> {
        if circuit.n_qubits() != self.n_qubits {
            return Err(QuantumError::SizeMismatch {
                what: "qubits of the circuit and the state".into(),
                expected: self.n_qubits,
                got: circuit.n_qubits(),
            });
        }
        let steps = lower_circuit(circuit, params, inputs)?;
        self.run_steps(&steps, options)
    }

    /// Applies lowered steps, fused as `options` say.
    pub fn run_steps(&mut self, steps: &[Step], options: &SimOptions) -> Result<()> {
        for step in steps {
            if let Step::Op(op) = step {
                check_op(op, self.n_qubits)?;
            }
        }
        let fusion_on = options.fusion.enabled && self.n_qubits >= options.fusion.min_state_qubits;
        let cfg = if fusion_on { options.fusion } else { FusionConfig::disabled() };
        for op in fusion::fuse(steps, &cfg) {
            // SAFETY: fusion merges the ops checked above, on their qubits.
            unsafe { apply_op_unchecked(&mut self.amps, self.n_qubits, &op, options.parallelism) };
        }
        Ok(())
    }

    /// One step of a quantum trajectory (Monte-Carlo wave function): picks the branch `i` of the
    /// operators `branches` on `qubits` with probability `p_i = ||B_i ψ||²` using the uniform number `u`
    /// in [0, 1), applies `B_i / sqrt(p_i)`, and returns `i`. `branches` are the Kraus operators of a
    /// channel, possibly multiplied by the gate before it (`K_i U`), so that gate and noise cost one
    /// pass. The `p_i` come from the reduced density matrix of `qubits`, gathered in one pass over the
    /// state (in fixed chunks, so the result does not depend on the thread count).
    pub fn apply_kraus_sampled(
        &mut self,
        qubits: &[usize],
        branches: &[crate::matrix::Matrix],
        u: f64,
        parallelism: Parallelism,
    ) -> Result<usize> {
        crate::density::check_qubits(qubits, self.n_qubits, "kraus channel")?;
        let k = qubits.len();
        let dim = 1usize << k;
        if k == 0 || k > kernel::MAX_DENSE_TARGETS || branches.is_empty() || branches.iter().any(|m| m.dim() != dim) {
            return Err(QuantumError::SizeMismatch {
                what: format!("Kraus operators on {k} qubits (at most {})", kernel::MAX_DENSE_TARGETS),
                expected: dim,
                got: branches.first().map_or(0, |m| m.dim()),
            });
        }
        let reduced = self.reduced_density(qubits, parallelism);
        // p_i = Tr(B ρ_Q B†) = Σ_{r,a,b} B[r][a] ρ[a][b] conj(B[r][b]).
        let probability = |m: &crate::matrix::Matrix| -> f64 {
            let mut p = 0.0;
            for r in 0..dim {
                for a in 0..dim {
                    let bra = m.get(r, a);
                    if bra == C64::new(0.0, 0.0) {
                        continue;
                    }
                    for b in 0..dim {
                        p += (bra * reduced[a * dim + b] * m.get(r, b).conj()).re;
                    }
                }
            }
            p.max(0.0)
        };
        let probs: Vec<f64> = branches.iter().map(probability).collect();
        let total: f64 = probs.iter().sum();
        let mut target = u * total;
        let mut chosen = probs.len() - 1;
        for (i, &p) in probs.iter().enumerate() {
            if target < p {
                chosen = i;
                break;
            }
            target -= p;
        }
        while probs[chosen] <= 0.0 && chosen > 0 {
            chosen -= 1;
        }
        let m = branches[chosen].scale(C64::new(1.0 / probs[chosen].sqrt(), 0.0));
        kernel::apply_dense(&mut self.amps, self.n_qubits, qubits, &[], &m, parallelism)?;
        Ok(chosen)
    }

    /// The reduced density matrix of `qubits` (row-major, `2^k x 2^k`, bit `j` of an index is
    /// `qubits[j]`), summed over fixed chunks of the other qubits.
    pub fn reduced_density(&self, qubits: &[usize], parallelism: Parallelism) -> Vec<C64> {
        let dim = 1usize << qubits.len();
        let mut sorted = qubits.to_vec();
        sorted.sort_unstable();
        let offsets: Vec<usize> =
            (0..dim).map(|a| qubits.iter().enumerate().fold(0usize, |i, (b, &q)| i | (a >> b & 1) << q)).collect();
        let groups = self.amps.len() / dim;
        let chunk = |range: std::ops::Range<usize>| {
            let mut acc = vec![C64::new(0.0, 0.0); dim * dim];
            let mut vals = vec![C64::new(0.0, 0.0); dim];
            for g in range {
                let base = kernel::insert_zero_bits(g, &sorted);
                for (v, &o) in vals.iter_mut().zip(&offsets) {
                    *v = self.amps[base | o];
                }
                for a in 0..dim {
                    for b in 0..dim {
                        acc[a * dim + b] += vals[a] * vals[b].conj();
                    }
                }
            }
            acc
        };
        const GROUPS_PER_CHUNK: usize = 1 << 12;
        let n_chunks = groups.div_ceil(GROUPS_PER_CHUNK).max(1);
        let range = |c: usize| c * GROUPS_PER_CHUNK..((c + 1) * GROUPS_PER_CHUNK).min(groups);
        let partials: Vec<Vec<C64>> =
            if parallelism == Parallelism::Auto && self.n_qubits >= kernel::PARALLEL_THRESHOLD_QUBITS {
                use rayon::prelude::*;
                (0..n_chunks).into_par_iter().map(|c| chunk(range(c))).collect()
            } else {
                (0..n_chunks).map(|c| chunk(range(c))).collect()
            };
        partials.into_iter().fold(vec![C64::new(0.0, 0.0); dim * dim], |mut acc, p| {
            acc.iter_mut().zip(p).for_each(|(a, b)| *a += b);
            acc
        })
    }

    /// `<self|other>`.
    pub fn inner(&self, other: &Statevector) -> Result<C64> {
        if other.n_qubits != self.n_qubits {
            return Err(QuantumError::SizeMismatch {
                what: "qubits of the two states".into(),
                expected: self.n_qubits,
                got: other.n_qubits,
            });
        }
        Ok(measure::chunked_sum(self.amps.len(), |r| {
            r.map(|i| self.amps[i].conj() * other.amps[i]).fold(C64::new(0.0, 0.0), |a, b| a + b)
        }))
    }

    /// Largest amplitude-wise distance to `other` after removing the global phase.
    pub fn distance_up_to_phase(&self, other: &Statevector) -> f64 {
        let overlap = self.inner(other).unwrap_or(C64::new(0.0, 0.0));
        let phase = if overlap.norm() > 0.0 { overlap / overlap.norm() } else { C64::new(1.0, 0.0) };
        self.amps.iter().zip(&other.amps).map(|(a, b)| (a * phase - b).norm()).fold(0.0, f64::max)
    }
}

/// Largest circuit whose full unitary [`unitary`] will build (a `2^n x 2^n` dense matrix).
pub const MAX_UNITARY_QUBITS: usize = 12;

/// The full unitary of `circuit` (column `c` is the state the circuit makes from basis state `c`),
/// for circuits of at most [`MAX_UNITARY_QUBITS`] qubits.
pub fn unitary(circuit: &Circuit, params: &[f64], inputs: &[f64]) -> Result<crate::matrix::Matrix> {
    let n = circuit.n_qubits();
    if n > MAX_UNITARY_QUBITS {
        return Err(QuantumError::Unsupported(format!(
            "a full unitary is built for at most {MAX_UNITARY_QUBITS} qubits, the circuit has {n}"
        )));
    }
    let steps = lower_circuit(circuit, params, inputs)?;
    let ops = fusion::fuse(&steps, &FusionConfig::default());
    for op in &ops {
        check_op(op, n)?;
    }
    let dim = 1usize << n;
    let mut columns = vec![C64::new(0.0, 0.0); dim * dim];
    for (c, column) in columns.chunks_mut(dim).enumerate() {
        column[c] = C64::new(1.0, 0.0);
        for op in &ops {
            // SAFETY: every op checked above; a column holds 2^n amplitudes.
            unsafe { apply_op_unchecked(column, n, op, Parallelism::Sequential) };
        }
    }
    Ok(crate::matrix::Matrix::from_rows(columns)?.transpose())
}
