//! Density-matrix simulation: mixed states of `n` qubits as `2^n x 2^n` complex matrices.
//!
//! The matrix is stored as a `2n`-qubit vector: entry `ρ[r][c]` sits at index `r | c << n`
//! (column-stacking vectorisation). Then `vec(U ρ U†) = (conj(U) ⊗ U) vec(ρ)`: a gate `U` on qubit `q`
//! is `U` on qubit `q` of the vector followed by `conj(U)` on qubit `q + n`, so unitary evolution reuses
//! the statevector kernels, fusion and threading unchanged. Small uncontrolled ops are applied as one
//! `2k`-qubit superoperator pass instead of two.
//!
//! A channel given by Kraus operators `{K_i}` on `k` qubits becomes the superoperator
//! `S = Σ_i conj(K_i) ⊗ K_i` on `2k` qubits of the vector ([`Superop`]), one pass with the dense kernel
//! (`k <= 3`; larger channels apply each Kraus operator to a copy).
//!
//! Measurement-side functions (probabilities, sampling, Pauli expectations, partial trace, purity,
//! fidelity, trace distance) live in [`measure`] and [`metrics`].

pub mod measure;
pub mod metrics;
mod superop;

pub use superop::Superop;

use crate::circuit::Circuit;
use crate::error::{QuantumError, Result};
use crate::fusion::{self, FusionConfig, Step};
use crate::matrix::{C64, Matrix};
use crate::ops::{Op, OpMatrix};
use crate::statevector::kernel::{self, Parallelism};
use crate::statevector::{self, SimOptions, Statevector, memory};

/// A mixed state of `n_qubits` qubits.
#[derive(Debug, Clone, PartialEq)]
pub struct DensityMatrix {
    n_qubits: usize,
    /// `ρ[r][c]` at index `r | c << n_qubits`.
    data: Vec<C64>,
}

/// Checks that `qubits` are distinct and below `n_qubits`.
pub(crate) fn check_qubits(qubits: &[usize], n_qubits: usize, what: &str) -> Result<()> {
    for (i, &q) in qubits.iter().enumerate() {
        if q >= n_qubits {
            return Err(QuantumError::QubitOutOfRange { qubit: q, n_qubits });
        }
        if qubits[..i].contains(&q) {
            return Err(QuantumError::RepeatedQubit { gate: what.to_string(), qubit: q });
        }
    }
    Ok(())
}

impl DensityMatrix {
    /// `|0...0><0...0|`; errors with the bytes needed when `4^n` amplitudes would not fit in memory.
    pub fn new(n_qubits: usize) -> Result<Self> {
        let mut data = Self::allocate(n_qubits)?;
        data[0] = C64::new(1.0, 0.0);
        Ok(Self { n_qubits, data })
    }

    fn allocate(n_qubits: usize) -> Result<Vec<C64>> {
        memory::allocate_states(2 * n_qubits, 1).map_err(|e| match e {
            QuantumError::TooLarge { bytes_needed, bytes_available, .. } => {
                QuantumError::TooLarge { n_qubits, bytes_needed, bytes_available }
            }
            other => other,
        })
    }

    /// `|ψ><ψ|` of a pure state.
    pub fn from_statevector(state: &Statevector) -> Result<Self> {
        let n = state.n_qubits();
        let mut data = Self::allocate(n)?;
        let amps = state.amplitudes();
        let dim = amps.len();
        for (c, &ac) in amps.iter().enumerate() {
            let conj = ac.conj();
            for (r, &ar) in amps.iter().enumerate() {
                data[r | (c * dim)] = ar * conj;
            }
        }
        Ok(Self { n_qubits: n, data })
    }

    /// A density matrix from its entries, row-major (`dim x dim` with `dim` a power of two). Checks
    /// Hermiticity and unit trace to `1e-9`; positivity is the caller's promise (see
    /// [`metrics::min_eigenvalue`] to check it).
    pub fn from_matrix(m: &Matrix) -> Result<Self> {
        let dim = m.dim();
        if !dim.is_power_of_two() {
            return Err(QuantumError::SizeMismatch {
                what: "density matrix dimension (a power of two)".into(),
                expected: dim.next_power_of_two(),
                got: dim,
            });
        }
        let n = dim.trailing_zeros() as usize;
        let mut data = Self::allocate(n)?;
        let mut trace = C64::new(0.0, 0.0);
        for r in 0..dim {
            trace += m.get(r, r);
            for c in 0..dim {
                let v = m.get(r, c);
                if (v - m.get(c, r).conj()).norm() > 1e-9 {
                    return Err(QuantumError::Unsupported(format!(
                        "matrix is not Hermitian: entry ({r}, {c}) = {v} but ({c}, {r}) = {}",
                        m.get(c, r)
                    )));
                }
                data[r | c << n] = v;
            }
        }
        if (trace - C64::new(1.0, 0.0)).norm() > 1e-9 {
            return Err(QuantumError::Unsupported(format!("density matrix has trace {trace}, not 1")));
        }
        Ok(Self { n_qubits: n, data })
    }

    /// The state `circuit` prepares from |0...0> (noiseless), with default options.
    pub fn from_circuit(circuit: &Circuit, params: &[f64], inputs: &[f64]) -> Result<Self> {
        let mut rho = Self::new(circuit.n_qubits())?;
        rho.run(circuit, params, inputs, &SimOptions::default())?;
        Ok(rho)
    }

    /// Number of qubits.
    pub fn n_qubits(&self) -> usize {
        self.n_qubits
    }

    /// The matrix dimension `2^n`.
    pub fn dim(&self) -> usize {
        1 << self.n_qubits
    }

    /// Entry `ρ[row][col]`.
    pub fn get(&self, row: usize, col: usize) -> C64 {
        self.data[row | col << self.n_qubits]
    }

    /// The vectorised matrix (`ρ[r][c]` at `r | c << n`).
    pub fn as_vector(&self) -> &[C64] {
        &self.data
    }

    /// The matrix as a row-major [`Matrix`].
    pub fn to_matrix(&self) -> Matrix {
        let dim = self.dim();
        let mut m = Matrix::identity(dim);
        for r in 0..dim {
            for c in 0..dim {
                m.set(r, c, self.get(r, c));
            }
        }
        m
    }

    /// `Tr ρ` (1 for a state; channels that are trace preserving keep it).
    pub fn trace(&self) -> C64 {
        (0..self.dim()).map(|i| self.get(i, i)).sum()
    }

    /// Applies a unitary op: `ρ -> U ρ U†`.
    pub fn apply_op(&mut self, op: &Op, parallelism: Parallelism) -> Result<()> {
        statevector::check_op(op, self.n_qubits)?;
        // SAFETY: checked just above.
        unsafe { self.apply_op_unchecked(op, parallelism) };
        Ok(())
    }

    /// [`apply_op`](Self::apply_op) without the check.
    ///
    /// # Safety
    /// `op` passed `check_op` for this state's qubit count (the vectorised matrix always holds
    /// `4^n` entries).
    pub(crate) unsafe fn apply_op_unchecked(&mut self, op: &Op, parallelism: Parallelism) {
        let n = self.n_qubits;
        let shifted = |qs: &[usize]| qs.iter().map(|q| q + n).collect::<Vec<_>>();
        let k = op.targets.len();
        if op.controls.is_empty() {
            // One pass with the superoperator U ⊗ conj(U) on 2k qubits when it stays small.
            let mut targets = op.targets.clone();
            targets.extend(shifted(&op.targets));
            match &op.matrix {
                OpMatrix::Dense(u) if k <= 2 => {
                    let s = u.conj().kron(u);
                    // SAFETY: row qubits `q < n` and column qubits `q + n < 2n`, distinct because the
                    // op's are; `s` is `4^k x 4^k` on `2k <= 4` targets; `data` holds `2^(2n)` entries.
                    unsafe {
                        kernel::apply_dense_unchecked(
                            kernel::DenseKernel::best(),
                            &mut self.data,
                            2 * n,
                            &targets,
                            &[],
                            &s,
                            parallelism,
                        )
                    };
                    return;
                }
                OpMatrix::Diagonal(d) if 2 * k <= 10 => {
                    let dim = d.len();
                    let table: Vec<C64> = (0..dim * dim).map(|t| d[t % dim] * d[t / dim].conj()).collect();
                    if targets.len() <= 3 {
                        // SAFETY: as above; the table has `2^(2k)` entries for the `2k` targets.
                        unsafe {
                            kernel::apply_small_diagonal_unchecked(
                                &mut self.data,
                                2 * n,
                                &targets,
                                &[],
                                &table,
                                parallelism,
                            )
                        };
                    } else {
                        kernel::apply_diagonal_table_unchecked(&mut self.data, 2 * n, &targets, &table, parallelism);
                    }
                    return;
                }
                _ => {}
            }
        }
        // SAFETY: the caller checked `op` for `n` qubits, so it is valid for the `2n`-qubit vector.
        unsafe { statevector::apply_op_unchecked(&mut self.data, 2 * n, op, parallelism) };
        let conj = Op {
            targets: shifted(&op.targets),
            controls: shifted(&op.controls),
            matrix: match &op.matrix {
                OpMatrix::Dense(u) => OpMatrix::Dense(u.conj()),
                OpMatrix::Diagonal(d) => OpMatrix::Diagonal(d.iter().map(|z| z.conj()).collect()),
            },
        };
        // SAFETY: `conj` acts on the column qubits `q + n < 2n`, distinct as the op's are.
        unsafe { statevector::apply_op_unchecked(&mut self.data, 2 * n, &conj, parallelism) };
    }

    /// Evolves the state by the gates of `circuit` (noiselessly; trailing measurements ignored).
    pub fn run(&mut self, circuit: &Circuit, params: &[f64], inputs: &[f64], options: &SimOptions) -> Result<()> {
        if circuit.n_qubits() != self.n_qubits {
            return Err(QuantumError::SizeMismatch {
                what: "qubits of the circuit and the density matrix".into(),
                expected: self.n_qubits,
                got: circuit.n_qubits(),
            });
        }
        let steps = statevector::lower_circuit(circuit, params, inputs)?;
        self.run_steps(&steps, options)
    }

    /// Applies lowered steps, fused as `options` say.
    pub fn run_steps(&mut self, steps: &[Step], options: &SimOptions) -> Result<()> {
        for step in steps {
            if let Step::Op(op) = step {
                statevector::check_op(op, self.n_qubits)?;
            }
        }
        let fusion_on = options.fusion.enabled && 2 * self.n_qubits >= options.fusion.min_state_qubits;
        let cfg = if fusion_on { options.fusion } else { FusionConfig::disabled() };
        for op in fusion::fuse(steps, &cfg) {
            // SAFETY: fusion only merges the ops checked above, on their qubits.
            unsafe { self.apply_op_unchecked(&op, options.parallelism) };
        }
        Ok(())
    }

    /// Applies the channel with Kraus operators `kraus` (each `2^k x 2^k`, bit `j` of a matrix index is
    /// `qubits[j]`): `ρ -> Σ K ρ K†`. The operators are not checked for completeness here (see
    /// [`Superop::from_kraus`] and the noise crate's validated channels).
    pub fn apply_kraus(&mut self, qubits: &[usize], kraus: &[Matrix], parallelism: Parallelism) -> Result<()> {
        check_qubits(qubits, self.n_qubits, "kraus channel")?;
        let k = qubits.len();
        for m in kraus {
            if m.dim() != 1 << k {
                return Err(QuantumError::SizeMismatch {
                    what: format!("Kraus operator dimension for {k} qubits"),
                    expected: 1 << k,
                    got: m.dim(),
                });
            }
        }
        if 2 * k <= kernel::MAX_DENSE_TARGETS {
            let s = Superop::from_kraus(kraus)?;
            return self.apply_superop_unchecked(qubits, &s, parallelism);
        }
        if k > kernel::MAX_DENSE_TARGETS {
            return Err(QuantumError::Unsupported(format!(
                "Kraus channels act on at most {} qubits, got {k}",
                kernel::MAX_DENSE_TARGETS
            )));
        }
        // Larger channels: Σ_i K_i ρ K_i† with one copy of ρ per operator.
        let n = self.n_qubits;
        let shifted: Vec<usize> = qubits.iter().map(|q| q + n).collect();
        let mut total = vec![C64::new(0.0, 0.0); self.data.len()];
        for m in kraus {
            let mut term = self.data.clone();
            kernel::apply_dense(&mut term, 2 * n, qubits, &[], m, parallelism)?;
            kernel::apply_dense(&mut term, 2 * n, &shifted, &[], &m.conj(), parallelism)?;
            total.iter_mut().zip(&term).for_each(|(a, b)| *a += b);
        }
        self.data = total;
        Ok(())
    }

    /// Applies `op` directly to the vectorised matrix, a `2n`-qubit vector whose qubit `q < n` is row
    /// qubit `q` and `q + n` is column qubit `q`: the building block of superoperator-level fusion
    /// (noisy simulators fuse gates and channels into such ops). `op` may be any linear map.
    pub fn apply_vectorised(&mut self, op: &Op, parallelism: Parallelism) -> Result<()> {
        statevector::check_op(op, 2 * self.n_qubits)?;
        // SAFETY: checked just above for the 2n-qubit vector.
        unsafe { statevector::apply_op_unchecked(&mut self.data, 2 * self.n_qubits, op, parallelism) };
        Ok(())
    }

    /// Applies a precomputed superoperator on `qubits`.
    pub fn apply_superop(&mut self, qubits: &[usize], s: &Superop, parallelism: Parallelism) -> Result<()> {
        check_qubits(qubits, self.n_qubits, "superoperator")?;
        if s.n_qubits() != qubits.len() {
            return Err(QuantumError::SizeMismatch {
                what: "qubits of the superoperator".into(),
                expected: qubits.len(),
                got: s.n_qubits(),
            });
        }
        self.apply_superop_unchecked(qubits, s, parallelism)
    }

    fn apply_superop_unchecked(&mut self, qubits: &[usize], s: &Superop, parallelism: Parallelism) -> Result<()> {
        let n = self.n_qubits;
        let mut targets = qubits.to_vec();
        targets.extend(qubits.iter().map(|q| q + n));
        kernel::apply_dense(&mut self.data, 2 * n, &targets, &[], s.matrix(), parallelism)?;
        Ok(())
    }

    /// Resets `qubit` to |0> (the channel `{|0><0|, |0><1|}`).
    pub fn reset(&mut self, qubit: usize) -> Result<()> {
        let zero = C64::new(0.0, 0.0);
        let one = C64::new(1.0, 0.0);
        let k0 = Matrix::from_2x2([[one, zero], [zero, zero]]);
        let k1 = Matrix::from_2x2([[zero, one], [zero, zero]]);
        self.apply_kraus(&[qubit], &[k0, k1], Parallelism::default())
    }
}
