//! Gates: the OpenQASM 2 `qelib1.inc` set as Qiskit ships it, plus `ryy`, `rzx`, `iswap`, checked
//! arbitrary unitaries and multi-controlled gates.
//!
//! A gate is only a name and a shape here; what it does to a state is its *lowering* into
//! [`Op`](crate::ops::Op)s (a dense or diagonal matrix on target qubits, with control qubits as a mask),
//! done in [`crate::ops`]. Matrices follow Qiskit's definitions exactly, global phases included, since
//! a global phase of a base gate becomes a relative phase once the gate is controlled.

use crate::error::{QuantumError, Result};
use crate::matrix::Matrix;
use std::sync::Arc;

macro_rules! standard_gates {
    ($($variant:ident => $name:literal, $qubits:literal, $params:literal, $doc:literal;)*) => {
        /// A gate of the standard library, named as in OpenQASM 2's `qelib1.inc` (Qiskit's version).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum StandardGate {
            $(#[doc = $doc] $variant,)*
        }

        impl StandardGate {
            /// Every standard gate, in declaration order.
            pub const ALL: &'static [StandardGate] = &[$(StandardGate::$variant,)*];

            /// The OpenQASM name.
            pub fn name(self) -> &'static str {
                match self { $(StandardGate::$variant => $name,)* }
            }

            /// The number of qubits the gate acts on (controls included).
            pub fn n_qubits(self) -> usize {
                match self { $(StandardGate::$variant => $qubits,)* }
            }

            /// The number of angles the gate takes.
            pub fn n_params(self) -> usize {
                match self { $(StandardGate::$variant => $params,)* }
            }

            /// The gate with this OpenQASM name, if there is one.
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($name => Some(StandardGate::$variant),)* _ => None }
            }
        }
    };
}

standard_gates! {
    U3 => "u3", 1, 3, "`u3(θ,φ,λ)`: the general single-qubit rotation.";
    U2 => "u2", 1, 2, "`u2(φ,λ) = u3(π/2,φ,λ)`.";
    U1 => "u1", 1, 1, "`u1(λ) = diag(1, e^{iλ})`.";
    U => "u", 1, 3, "`u(θ,φ,λ)`, the same matrix as `u3`.";
    P => "p", 1, 1, "`p(λ)`, the same matrix as `u1`.";
    Id => "id", 1, 0, "The identity.";
    X => "x", 1, 0, "Pauli X.";
    Y => "y", 1, 0, "Pauli Y.";
    Z => "z", 1, 0, "Pauli Z.";
    H => "h", 1, 0, "Hadamard.";
    S => "s", 1, 0, "`diag(1, i)`.";
    Sdg => "sdg", 1, 0, "`diag(1, -i)`.";
    T => "t", 1, 0, "`diag(1, e^{iπ/4})`.";
    Tdg => "tdg", 1, 0, "`diag(1, e^{-iπ/4})`.";
    Sx => "sx", 1, 0, "Square root of X.";
    Sxdg => "sxdg", 1, 0, "Inverse square root of X.";
    Rx => "rx", 1, 1, "`exp(-iθX/2)`.";
    Ry => "ry", 1, 1, "`exp(-iθY/2)`.";
    Rz => "rz", 1, 1, "`exp(-iθZ/2)`.";
    Cx => "cx", 2, 0, "Controlled X (control first).";
    Cy => "cy", 2, 0, "Controlled Y.";
    Cz => "cz", 2, 0, "Controlled Z.";
    Ch => "ch", 2, 0, "Controlled Hadamard.";
    Swap => "swap", 2, 0, "Swap of two qubits.";
    Crx => "crx", 2, 1, "Controlled `rx`.";
    Cry => "cry", 2, 1, "Controlled `ry`.";
    Crz => "crz", 2, 1, "Controlled `rz`.";
    Cu1 => "cu1", 2, 1, "Controlled `u1`.";
    Cp => "cp", 2, 1, "Controlled `p`.";
    Cu3 => "cu3", 2, 3, "Controlled `u3`.";
    Cu => "cu", 2, 4, "`cu(θ,φ,λ,γ)`: controlled `e^{iγ} u(θ,φ,λ)`.";
    Csx => "csx", 2, 0, "Controlled `sx`.";
    Rxx => "rxx", 2, 1, "`exp(-iθ X⊗X/2)`.";
    Rzz => "rzz", 2, 1, "`exp(-iθ Z⊗Z/2)`.";
    Ccx => "ccx", 3, 0, "Toffoli (two controls, then target).";
    Cswap => "cswap", 3, 0, "Fredkin: controlled swap.";
    Rccx => "rccx", 3, 0, "Relative-phase Toffoli, as `qelib1.inc` defines it.";
    Rc3x => "rc3x", 4, 0, "Relative-phase 3-controlled X, as `qelib1.inc` defines it.";
    C3x => "c3x", 4, 0, "3-controlled X.";
    C3sqrtx => "c3sqrtx", 4, 0, "3-controlled `sx`.";
    C4x => "c4x", 5, 0, "4-controlled X.";
    Ryy => "ryy", 2, 1, "`exp(-iθ Y⊗Y/2)` (not in `qelib1.inc`; exported with its definition).";
    Rzx => "rzx", 2, 1, "`exp(-iθ X⊗Z/2)`: Z on the first qubit, X on the second (Qiskit's `rzx`).";
    Iswap => "iswap", 2, 0, "iSWAP: swaps |01> and |10> with a phase i (not in `qelib1.inc`).";
}

impl StandardGate {
    /// True for the gates `qelib1.inc` declares (all but `ryy`, `rzx`, `iswap`).
    pub fn in_qelib1(self) -> bool {
        !matches!(self, StandardGate::Ryy | StandardGate::Rzx | StandardGate::Iswap)
    }
}

/// A gate: its name and shape, not yet its angles.
#[derive(Debug, Clone, PartialEq)]
pub enum Gate {
    /// A gate of the standard library.
    Standard(StandardGate),
    /// A user unitary on 1 or 2 qubits, checked unitary when made (see [`Gate::unitary`]).
    Unitary(Arc<Matrix>),
    /// `base` controlled on `n_controls` qubits; the qubit list puts the controls first.
    Controlled {
        /// The gate applied when every control is |1>.
        base: Box<Gate>,
        /// How many control qubits.
        n_controls: usize,
    },
}

/// Largest number of qubits a user unitary may act on.
pub const MAX_UNITARY_QUBITS: usize = 2;

impl Gate {
    /// A gate from a 2x2 or 4x4 unitary (row-major, little-endian in its qubits); errors unless the
    /// matrix is unitary to [`crate::matrix::UNITARY_TOLERANCE`].
    pub fn unitary(matrix: Matrix) -> Result<Gate> {
        let k = matrix.n_qubits();
        if !(1..=MAX_UNITARY_QUBITS).contains(&k) || matrix.dim() != 1 << k {
            return Err(QuantumError::Unsupported(format!(
                "unitary gates act on 1 or 2 qubits; got a {0}x{0} matrix",
                matrix.dim()
            )));
        }
        matrix.check_unitary()?;
        Ok(Gate::Unitary(Arc::new(matrix)))
    }

    /// `base` controlled on `n_controls` more qubits (`n_controls >= 1`).
    pub fn controlled(base: Gate, n_controls: usize) -> Result<Gate> {
        if n_controls == 0 {
            return Err(QuantumError::Unsupported("a controlled gate needs at least one control".into()));
        }
        Ok(match base {
            Gate::Controlled { base, n_controls: inner } => Gate::Controlled { base, n_controls: inner + n_controls },
            other => Gate::Controlled { base: Box::new(other), n_controls },
        })
    }

    /// The multi-controlled X on `n_controls` controls.
    pub fn mcx(n_controls: usize) -> Result<Gate> {
        Gate::controlled(Gate::Standard(StandardGate::X), n_controls)
    }

    /// Checks what the constructors check, for gates built from the enum variants directly: a
    /// `Unitary` is a unitary on 1 to [`MAX_UNITARY_QUBITS`] qubits, a `Controlled` has a control and
    /// a valid base.
    pub fn validate(&self) -> Result<()> {
        match self {
            Gate::Standard(_) => Ok(()),
            Gate::Unitary(m) => Gate::unitary((**m).clone()).map(|_| ()),
            Gate::Controlled { base, n_controls } => {
                if *n_controls == 0 {
                    return Err(QuantumError::Unsupported("a controlled gate needs at least one control".into()));
                }
                base.validate()
            }
        }
    }

    /// Qubits the gate acts on, controls included.
    pub fn n_qubits(&self) -> usize {
        match self {
            Gate::Standard(g) => g.n_qubits(),
            Gate::Unitary(m) => m.n_qubits(),
            Gate::Controlled { base, n_controls } => base.n_qubits() + n_controls,
        }
    }

    /// Angles the gate takes.
    pub fn n_params(&self) -> usize {
        match self {
            Gate::Standard(g) => g.n_params(),
            Gate::Unitary(_) => 0,
            Gate::Controlled { base, .. } => base.n_params(),
        }
    }

    /// A readable name (the OpenQASM name for standard gates).
    pub fn name(&self) -> String {
        match self {
            Gate::Standard(g) => g.name().to_string(),
            Gate::Unitary(m) => format!("unitary{}q", m.n_qubits()),
            Gate::Controlled { base, n_controls } => format!("c{}_{}", n_controls, base.name()),
        }
    }
}

impl From<StandardGate> for Gate {
    fn from(g: StandardGate) -> Self {
        Gate::Standard(g)
    }
}
