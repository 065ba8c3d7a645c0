//! Quantum channels as validated Kraus sets: the standard noise channels, user channels, composition
//! and tensor products, and the superoperator, Pauli-transfer-matrix and Choi representations.
//!
//! Conventions follow Qiskit Aer (`qiskit_aer.noise.errors`), so that noise models built from the
//! same calibration agree: a Kraus operator on `k` qubits is a `2^k x 2^k` matrix whose index bit `j`
//! is the channel's `j`-th qubit.

use crate::error::{NoiseError, Result, check_range};
use nalgebra::DMatrix;
use num_complex::Complex64;
use tinylab_quantum::density::Superop;
use tinylab_quantum::{C64, Matrix};

/// Tolerance of the trace-preservation check `Σ K†K = I`.
pub const CPTP_TOLERANCE: f64 = 1e-12;

fn c(re: f64, im: f64) -> C64 {
    C64::new(re, im)
}

/// The single-qubit Paulis I, X, Y, Z.
pub fn paulis() -> [Matrix; 4] {
    let (o, l, i) = (c(0.0, 0.0), c(1.0, 0.0), c(0.0, 1.0));
    [
        Matrix::from_2x2([[l, o], [o, l]]),
        Matrix::from_2x2([[o, l], [l, o]]),
        Matrix::from_2x2([[o, -i], [i, o]]),
        Matrix::from_2x2([[l, o], [o, -l]]),
    ]
}

/// The `k`-qubit Pauli `index` (base-4 digit `j` is the Pauli on qubit `j`, 0..3 = I X Y Z).
pub fn pauli_product(index: usize, k: usize) -> Matrix {
    let ps = paulis();
    (0..k).rev().fold(Matrix::identity(1), |acc, j| acc.kron(&ps[index >> (2 * j) & 3]))
}

/// A completely positive, trace-preserving map on `n_qubits` qubits, as Kraus operators.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    name: String,
    n_qubits: usize,
    kraus: Vec<Matrix>,
}

impl Channel {
    /// A channel from user Kraus operators, validated: every operator `2^k x 2^k` with `k >= 1`, and
    /// `Σ K†K = I` to [`CPTP_TOLERANCE`] (a Kraus form is completely positive by construction).
    pub fn from_kraus(name: &str, kraus: Vec<Matrix>) -> Result<Self> {
        let first = kraus.first().ok_or_else(|| NoiseError::InvalidChannel {
            channel: name.to_string(),
            reason: "has no Kraus operators",
        })?;
        let dim = first.dim();
        if !dim.is_power_of_two() || dim < 2 {
            return Err(NoiseError::SizeMismatch {
                what: format!("Kraus operator dimension of `{name}` (a power of two >= 2)"),
                expected: dim.next_power_of_two().max(2),
                got: dim,
            });
        }
        for k in &kraus {
            if k.dim() != dim {
                return Err(NoiseError::SizeMismatch {
                    what: format!("Kraus operator dimension of `{name}`"),
                    expected: dim,
                    got: k.dim(),
                });
            }
            if k.data().iter().any(|z| !z.re.is_finite() || !z.im.is_finite()) {
                return Err(NoiseError::InvalidChannel {
                    channel: name.to_string(),
                    reason: "has a non-finite Kraus entry",
                });
            }
        }
        let channel = Self { name: name.to_string(), n_qubits: dim.trailing_zeros() as usize, kraus };
        let deviation = channel.trace_preservation_deviation();
        if deviation > CPTP_TOLERANCE {
            return Err(NoiseError::NotTracePreserving {
                channel: name.to_string(),
                deviation,
                tolerance: CPTP_TOLERANCE,
            });
        }
        Ok(channel)
    }

    /// A channel from its Choi matrix `J = Σ_ij |i><j| ⊗ E(|i><j|)` (`4^k x 4^k`, input index on the
    /// high bits): checked Hermitian, positive semi-definite (completely positive) and trace preserving,
    /// then turned into the minimal Kraus set of its eigendecomposition.
    pub fn from_choi(name: &str, choi: &Matrix) -> Result<Self> {
        let big = choi.dim();
        let bits = big.trailing_zeros() as usize;
        if !big.is_power_of_two() || !bits.is_multiple_of(2) || bits == 0 {
            return Err(NoiseError::SizeMismatch {
                what: format!("Choi matrix dimension of `{name}` (4^k)"),
                expected: 4,
                got: big,
            });
        }
        let dim = 1usize << (bits / 2);
        let m = DMatrix::from_fn(big, big, |r, col| choi.get(r, col));
        let hermitian = (&m + m.adjoint()) * Complex64::new(0.5, 0.0);
        let eig = hermitian.symmetric_eigen();
        let min = eig.eigenvalues.iter().copied().fold(f64::INFINITY, f64::min);
        if min < -1e-10 {
            return Err(NoiseError::NotCompletelyPositive { channel: name.to_string(), eigenvalue: min });
        }
        let mut kraus = Vec::new();
        for (idx, &lambda) in eig.eigenvalues.iter().enumerate() {
            if lambda <= 1e-14 {
                continue;
            }
            // Eigenvector entry (i, r) at index i * dim + r is <r|K|i>.
            let v = eig.eigenvectors.column(idx);
            let mut k = Matrix::identity(dim);
            for i in 0..dim {
                for r in 0..dim {
                    k.set(r, i, v[i * dim + r] * lambda.sqrt());
                }
            }
            kraus.push(k);
        }
        Self::from_kraus(name, kraus)
    }

    /// The channel's name (used in errors and reports).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Qubits it acts on.
    pub fn n_qubits(&self) -> usize {
        self.n_qubits
    }

    /// Its Kraus operators.
    pub fn kraus(&self) -> &[Matrix] {
        &self.kraus
    }

    /// `max |Σ K†K - I|`.
    pub fn trace_preservation_deviation(&self) -> f64 {
        let dim = 1 << self.n_qubits;
        let mut sum = Matrix::diagonal(&vec![c(0.0, 0.0); dim]);
        for k in &self.kraus {
            let term = k.dagger().matmul(k);
            for r in 0..dim {
                for col in 0..dim {
                    sum.set(r, col, sum.get(r, col) + term.get(r, col));
                }
            }
        }
        sum.max_abs_diff(&Matrix::identity(dim))
    }

    /// The identity channel on `n_qubits` qubits.
    pub fn identity(n_qubits: usize) -> Self {
        Self { name: "identity".into(), n_qubits, kraus: vec![Matrix::identity(1 << n_qubits)] }
    }

    /// A mixture of Pauli products: `ρ -> Σ_i p_i P_i ρ P_i` (`probabilities[i]` for Pauli index `i`,
    /// base-4 digits per qubit, 0..3 = I X Y Z; `4^k` entries summing to 1).
    pub fn pauli_mixture(name: &str, probabilities: &[f64]) -> Result<Self> {
        let len = probabilities.len();
        if !len.is_power_of_two() || !len.trailing_zeros().is_multiple_of(2) || len < 4 {
            return Err(NoiseError::SizeMismatch {
                what: format!("Pauli probabilities of `{name}` (4^k)"),
                expected: 4,
                got: len,
            });
        }
        let k = len.trailing_zeros() as usize / 2;
        for (i, &p) in probabilities.iter().enumerate() {
            check_range(&format!("{name} probability {i}"), p, 0.0, 1.0)?;
        }
        let total: f64 = probabilities.iter().sum();
        if (total - 1.0).abs() > 1e-12 {
            return Err(NoiseError::OutOfRange {
                what: format!("{name} total probability"),
                value: total,
                lo: 1.0,
                hi: 1.0,
            });
        }
        let kraus = probabilities
            .iter()
            .enumerate()
            .filter(|&(_, &p)| p > 0.0)
            .map(|(i, &p)| pauli_product(i, k).scale(c(p.sqrt(), 0.0)))
            .collect();
        Self::from_kraus(name, kraus)
    }

    /// Qiskit Aer's `depolarizing_error(λ, k)`: `ρ -> (1 - λ) ρ + λ Tr(ρ) I / 2^k`, for
    /// `0 <= λ <= 4^k / (4^k - 1)` (the upper end is the fully depolarizing Pauli channel).
    pub fn depolarizing(lambda: f64, n_qubits: usize) -> Result<Self> {
        if n_qubits == 0 || n_qubits > 3 {
            return Err(NoiseError::QubitCount { what: "a depolarizing channel", min: 1, max: 3, got: n_qubits });
        }
        let n_paulis = 1usize << (2 * n_qubits);
        let max = n_paulis as f64 / (n_paulis as f64 - 1.0);
        check_range("depolarizing parameter", lambda, 0.0, max)?;
        let mut probs = vec![lambda / n_paulis as f64; n_paulis];
        probs[0] = 1.0 - lambda + lambda / n_paulis as f64;
        Self::pauli_mixture("depolarizing", &probs)
    }

    /// Pauli channel on one qubit: X, Y, Z with probabilities `px`, `py`, `pz`.
    pub fn pauli(px: f64, py: f64, pz: f64) -> Result<Self> {
        Self::pauli_mixture("pauli", &[1.0 - px - py - pz, px, py, pz])
    }

    /// Bit flip: X with probability `p`.
    pub fn bit_flip(p: f64) -> Result<Self> {
        check_range("bit flip probability", p, 0.0, 1.0)?;
        Self::pauli_mixture("bit_flip", &[1.0 - p, p, 0.0, 0.0])
    }

    /// Phase flip: Z with probability `p`.
    pub fn phase_flip(p: f64) -> Result<Self> {
        check_range("phase flip probability", p, 0.0, 1.0)?;
        Self::pauli_mixture("phase_flip", &[1.0 - p, 0.0, 0.0, p])
    }

    /// Bit-phase flip: Y with probability `p`.
    pub fn bit_phase_flip(p: f64) -> Result<Self> {
        check_range("bit-phase flip probability", p, 0.0, 1.0)?;
        Self::pauli_mixture("bit_phase_flip", &[1.0 - p, 0.0, p, 0.0])
    }

    /// Generalised amplitude damping (Nielsen & Chuang 8.3.5): relaxation with probability `gamma`
    /// towards |0> with probability `p0` and towards |1> with `1 - p0`.
    pub fn generalized_amplitude_damping(gamma: f64, p0: f64) -> Result<Self> {
        check_range("damping probability gamma", gamma, 0.0, 1.0)?;
        check_range("ground-state probability", p0, 0.0, 1.0)?;
        let (o, a, b) = (c(0.0, 0.0), (1.0 - gamma).sqrt(), gamma.sqrt());
        let (s0, s1) = (p0.sqrt(), (1.0 - p0).sqrt());
        let kraus = vec![
            Matrix::from_2x2([[c(s0, 0.0), o], [o, c(s0 * a, 0.0)]]),
            Matrix::from_2x2([[o, c(s0 * b, 0.0)], [o, o]]),
            Matrix::from_2x2([[c(s1 * a, 0.0), o], [o, c(s1, 0.0)]]),
            Matrix::from_2x2([[o, o], [c(s1 * b, 0.0), o]]),
        ]
        .into_iter()
        .filter(|k| k.data().iter().any(|z| z.norm() > 0.0))
        .collect();
        Self::from_kraus("generalized_amplitude_damping", kraus)
    }

    /// Amplitude damping: |1> decays to |0> with probability `gamma`.
    pub fn amplitude_damping(gamma: f64) -> Result<Self> {
        Ok(Self { name: "amplitude_damping".into(), ..Self::generalized_amplitude_damping(gamma, 1.0)? })
    }

    /// Phase damping: off-diagonal entries shrink by `sqrt(1 - lambda)`.
    pub fn phase_damping(lambda: f64) -> Result<Self> {
        check_range("phase damping lambda", lambda, 0.0, 1.0)?;
        let o = c(0.0, 0.0);
        let kraus = vec![
            Matrix::from_2x2([[c(1.0, 0.0), o], [o, c((1.0 - lambda).sqrt(), 0.0)]]),
            Matrix::from_2x2([[o, o], [o, c(lambda.sqrt(), 0.0)]]),
        ];
        Self::from_kraus("phase_damping", kraus)
    }

    /// Thermal relaxation for a duration `time` (Qiskit Aer's `thermal_relaxation_error`): populations
    /// relax towards `(1 - p1, p1)` with `exp(-time/T1)`, coherences shrink by `exp(-time/T2)`.
    /// Needs `T2 <= 2 T1`; infinite times mean no relaxation of that kind.
    pub fn thermal_relaxation(t1: f64, t2: f64, time: f64, excited_population: f64) -> Result<Self> {
        if t1.is_nan() || t2.is_nan() || t1 <= 0.0 || t2 <= 0.0 {
            return Err(NoiseError::OutOfRange {
                what: "T1 and T2".into(),
                value: t1.min(t2),
                lo: 0.0,
                hi: f64::INFINITY,
            });
        }
        check_range("gate time", time, 0.0, f64::INFINITY)?;
        check_range("excited-state population", excited_population, 0.0, 1.0)?;
        if t2 > 2.0 * t1 {
            return Err(NoiseError::T2AboveTwiceT1 { t1, t2 });
        }
        let e1 = (-time / t1).exp();
        let e2 = (-time / t2).exp();
        let relax = Self::generalized_amplitude_damping(1.0 - e1, 1.0 - excited_population)?;
        // Amplitude damping already shrinks coherences by sqrt(e1); dephase the rest.
        let extra = if e1 > 0.0 { (e2 * e2 / e1).min(1.0) } else { 0.0 };
        let dephase = Self::phase_damping(1.0 - extra)?;
        Ok(Self { name: "thermal_relaxation".into(), ..relax.then(&dephase)? })
    }

    /// `self`, then `next` (same qubits): Kraus operators `N_j K_i`.
    pub fn then(&self, next: &Channel) -> Result<Channel> {
        if next.n_qubits != self.n_qubits {
            return Err(NoiseError::SizeMismatch {
                what: "qubits of composed channels".into(),
                expected: self.n_qubits,
                got: next.n_qubits,
            });
        }
        let kraus = next.kraus.iter().flat_map(|n| self.kraus.iter().map(move |k| n.matmul(k))).collect();
        Self::from_kraus(&format!("{}+{}", self.name, next.name), kraus)
    }

    /// `self` on the low qubits and `high` on the qubits above them (`high ⊗ self`, Qiskit's
    /// `self.expand(high)`).
    pub fn tensor_high(&self, high: &Channel) -> Result<Channel> {
        let kraus = high.kraus.iter().flat_map(|h| self.kraus.iter().map(move |k| h.kron(k))).collect();
        Self::from_kraus(&format!("{}⊗{}", high.name, self.name), kraus)
    }

    /// The superoperator for the density-matrix simulator.
    pub fn superop(&self) -> Result<Superop> {
        Ok(Superop::from_kraus(&self.kraus)?)
    }

    /// Applies the channel to a `2^k x 2^k` matrix: `Σ K ρ K†`.
    pub fn apply_to_matrix(&self, rho: &Matrix) -> Matrix {
        let dim = rho.dim();
        let mut out = Matrix::diagonal(&vec![c(0.0, 0.0); dim]);
        for k in &self.kraus {
            let term = k.matmul(rho).matmul(&k.dagger());
            for r in 0..dim {
                for col in 0..dim {
                    out.set(r, col, out.get(r, col) + term.get(r, col));
                }
            }
        }
        out
    }

    /// The Choi matrix `Σ_ij |i><j| ⊗ E(|i><j|)` (input index on the high bits).
    pub fn choi(&self) -> Matrix {
        let dim = 1usize << self.n_qubits;
        let mut choi = Matrix::diagonal(&vec![c(0.0, 0.0); dim * dim]);
        for i in 0..dim {
            for j in 0..dim {
                let mut e = Matrix::diagonal(&vec![c(0.0, 0.0); dim]);
                e.set(i, j, c(1.0, 0.0));
                let out = self.apply_to_matrix(&e);
                for r in 0..dim {
                    for col in 0..dim {
                        choi.set(i * dim + r, j * dim + col, out.get(r, col));
                    }
                }
            }
        }
        choi
    }

    /// The Pauli transfer matrix `R_ij = Tr(P_i E(P_j)) / 2^k` (real; Pauli indices as in
    /// [`pauli_product`]). Row and column 0 show trace preservation and unitality.
    pub fn ptm(&self) -> Vec<Vec<f64>> {
        let k = self.n_qubits;
        let (n, dim) = (1usize << (2 * k), 1usize << k);
        let ps: Vec<Matrix> = (0..n).map(|i| pauli_product(i, k)).collect();
        let mut out = vec![vec![0.0; n]; n];
        for (j, pj) in ps.iter().enumerate() {
            let e = self.apply_to_matrix(pj);
            for (i, pi) in ps.iter().enumerate() {
                let prod = pi.matmul(&e);
                let trace: C64 = (0..dim).map(|d| prod.get(d, d)).sum();
                out[i][j] = trace.re / dim as f64;
            }
        }
        out
    }

    /// The Pauli twirl of the channel: the probabilities `p_i = Σ_k |Tr(P_i K_k)|² / 4^n` of the Pauli
    /// channel `ρ -> Σ_i p_i P_i ρ P_i` that averaging the channel over conjugation by every Pauli
    /// gives (Pauli index `i` as in [`pauli_product`]). It keeps the diagonal of the Pauli transfer
    /// matrix, so it has the same average gate fidelity; for a Pauli channel it is the channel itself.
    /// This is what a gate-insertion noise sampler can reproduce exactly (QuantumNAT, Wang et al.,
    /// DAC 2022, samples Pauli errors; Wallman & Emerson, PRA 94, 052325 (2016) on twirling).
    pub fn pauli_twirl(&self) -> Vec<f64> {
        let k = self.n_qubits;
        let (n, dim) = (1usize << (2 * k), 1usize << k);
        (0..n)
            .map(|i| {
                let p = pauli_product(i, k);
                self.kraus
                    .iter()
                    .map(|kr| {
                        let prod = p.matmul(kr);
                        (0..dim).map(|d| prod.get(d, d)).sum::<C64>().norm_sqr()
                    })
                    .sum::<f64>()
                    / (dim * dim) as f64
            })
            .collect()
    }

    /// Average gate fidelity with the identity, `(d F_pro + 1) / (d + 1)` with process fidelity
    /// `F_pro = Σ_i |Tr K_i|² / d²` (what Aer's `from_backend` uses to split a gate error).
    pub fn average_gate_fidelity(&self) -> f64 {
        let d = (1usize << self.n_qubits) as f64;
        let process: f64 =
            self.kraus.iter().map(|k| (0..k.dim()).map(|i| k.get(i, i)).sum::<C64>().norm_sqr()).sum::<f64>() / (d * d);
        (d * process + 1.0) / (d + 1.0)
    }
}
