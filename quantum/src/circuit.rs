//! Circuits: an ordered list of gates, barriers and measurements on numbered qubits, built with a
//! checked builder API or read from OpenQASM 2 ([`crate::qasm`]).
//!
//! Angles are [`Angle`]s: a constant, or an affine function `scale * x + offset` of a named trainable
//! parameter or of an input feature, so that one circuit serves a whole QML batch and its gradients.

use crate::error::{QuantumError, Result};
use crate::gate::{Gate, StandardGate};

mod stats;

pub use stats::CircuitStats;

/// Where a gate angle's value comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Angle {
    /// A fixed number.
    Const(f64),
    /// `scale * params[index] + offset`, for a trainable parameter of the circuit.
    Param {
        /// Index into the circuit's parameter list.
        index: usize,
        /// Multiplier.
        scale: f64,
        /// Added after scaling.
        offset: f64,
    },
    /// `scale * inputs[index] + offset`, for an input feature (one value per sample of a batch).
    Input {
        /// Index of the feature.
        index: usize,
        /// Multiplier.
        scale: f64,
        /// Added after scaling.
        offset: f64,
    },
    /// `scale * (inputs[first] - center) * (inputs[second] - center) + offset`: a product of two
    /// input features, as in the ZZ (IQP) feature map of Havlíček et al. 2019, whose pair angles are
    /// `2 (π - x_i)(π - x_j)`.
    InputPair {
        /// Index of the first feature.
        first: usize,
        /// Index of the second feature.
        second: usize,
        /// Subtracted from both features before the product.
        center: f64,
        /// Multiplier of the product.
        scale: f64,
        /// Added after scaling.
        offset: f64,
    },
}

/// What an angle's value depends on, for gradients: a trainable parameter or an input feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AngleSource {
    /// Trainable parameter `index`.
    Param(usize),
    /// Input feature `index`.
    Input(usize),
}

impl Angle {
    /// The input feature `index`, unscaled.
    pub fn input(index: usize) -> Angle {
        Angle::Input { index, scale: 1.0, offset: 0.0 }
    }

    /// The angle scaled by `s` (the offset too).
    pub fn scaled(self, s: f64) -> Angle {
        match self {
            Angle::Const(v) => Angle::Const(v * s),
            Angle::Param { index, scale, offset } => Angle::Param { index, scale: scale * s, offset: offset * s },
            Angle::Input { index, scale, offset } => Angle::Input { index, scale: scale * s, offset: offset * s },
            Angle::InputPair { first, second, center, scale, offset } => {
                Angle::InputPair { first, second, center, scale: scale * s, offset: offset * s }
            }
        }
    }

    /// The angle plus a constant.
    pub fn shifted(self, d: f64) -> Angle {
        match self {
            Angle::Const(v) => Angle::Const(v + d),
            Angle::Param { index, scale, offset } => Angle::Param { index, scale, offset: offset + d },
            Angle::Input { index, scale, offset } => Angle::Input { index, scale, offset: offset + d },
            Angle::InputPair { first, second, center, scale, offset } => {
                Angle::InputPair { first, second, center, scale, offset: offset + d }
            }
        }
    }

    /// Its value for the given parameter and input values. Indices are checked by
    /// [`Circuit::check_bindings`]; here an index out of range reads as NaN rather than panicking.
    pub fn resolve(&self, params: &[f64], inputs: &[f64]) -> f64 {
        match *self {
            Angle::Const(v) => v,
            Angle::Param { index, scale, offset } => scale * params.get(index).copied().unwrap_or(f64::NAN) + offset,
            Angle::Input { index, scale, offset } => scale * inputs.get(index).copied().unwrap_or(f64::NAN) + offset,
            Angle::InputPair { first, second, center, scale, offset } => {
                let x = |i: usize| inputs.get(i).copied().unwrap_or(f64::NAN) - center;
                scale * x(first) * x(second) + offset
            }
        }
    }

    /// The partial derivatives of the value with respect to what it depends on, at the given
    /// bindings: none for a constant, one entry for a parameter or a feature, two for a pair (one
    /// entry with both contributions summed when both features are the same).
    pub fn partials(&self, params: &[f64], inputs: &[f64]) -> Vec<(AngleSource, f64)> {
        let _ = params;
        match *self {
            Angle::Const(_) => Vec::new(),
            Angle::Param { index, scale, .. } => vec![(AngleSource::Param(index), scale)],
            Angle::Input { index, scale, .. } => vec![(AngleSource::Input(index), scale)],
            Angle::InputPair { first, second, center, scale, .. } => {
                let x = |i: usize| inputs.get(i).copied().unwrap_or(f64::NAN) - center;
                if first == second {
                    vec![(AngleSource::Input(first), 2.0 * scale * x(first))]
                } else {
                    vec![(AngleSource::Input(first), scale * x(second)), (AngleSource::Input(second), scale * x(first))]
                }
            }
        }
    }

    /// True when the value depends on an input feature.
    pub fn is_input(&self) -> bool {
        matches!(self, Angle::Input { .. } | Angle::InputPair { .. })
    }

    /// True for a constant.
    pub fn is_const(&self) -> bool {
        matches!(self, Angle::Const(_))
    }
}

impl From<f64> for Angle {
    fn from(v: f64) -> Self {
        Angle::Const(v)
    }
}

/// One gate application: the gate, its qubits (controls first) and its angles.
#[derive(Debug, Clone, PartialEq)]
pub struct GateApplication {
    /// The gate.
    pub gate: Gate,
    /// The qubits, in the gate's argument order.
    pub qubits: Vec<usize>,
    /// The angles, as many as `gate.n_params()`.
    pub angles: Vec<Angle>,
}

/// One step of a circuit.
#[derive(Debug, Clone, PartialEq)]
pub enum Instruction {
    /// A unitary gate.
    Gate(GateApplication),
    /// A barrier: no effect on the state; stops gate fusion across it.
    Barrier(Vec<usize>),
    /// Measure `qubit` into classical bit `clbit`.
    Measure {
        /// Measured qubit.
        qubit: usize,
        /// Classical bit receiving the outcome.
        clbit: usize,
    },
}

/// A named register of consecutive qubits or classical bits (kept for OpenQASM round trips).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    /// The register's name.
    pub name: String,
    /// Its size.
    pub size: usize,
}

/// A quantum circuit on `n_qubits` qubits and `n_clbits` classical bits.
///
/// ```
/// use tinylab_quantum::circuit::Circuit;
/// let mut bell = Circuit::new(2);
/// bell.h(0)?.cx(0, 1)?;
/// assert_eq!(bell.instructions().len(), 2);
/// # Ok::<(), tinylab_quantum::QuantumError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Circuit {
    n_qubits: usize,
    n_clbits: usize,
    instructions: Vec<Instruction>,
    param_names: Vec<String>,
    n_inputs: usize,
    qregs: Vec<Register>,
    cregs: Vec<Register>,
}

macro_rules! builder_methods {
    ($($method:ident => $gate:ident ( $($q:ident),* ) [ $($a:ident),* ];)*) => {
        $(
            #[doc = concat!("Appends `", stringify!($method), "` (see [`StandardGate::", stringify!($gate), "`]).")]
            pub fn $method(&mut self $(, $a: impl Into<Angle>)* $(, $q: usize)*) -> Result<&mut Self> {
                self.append(Gate::Standard(StandardGate::$gate), &[$($q),*], &[$($a.into()),*])
            }
        )*
    };
}

impl Circuit {
    /// An empty circuit on `n_qubits` qubits (register `q`) and no classical bits.
    pub fn new(n_qubits: usize) -> Self {
        Self::with_registers(vec![Register { name: "q".into(), size: n_qubits }], Vec::new())
    }

    /// An empty circuit whose qubits and classical bits are the concatenation of the given registers.
    pub fn with_registers(qregs: Vec<Register>, cregs: Vec<Register>) -> Self {
        Self {
            n_qubits: qregs.iter().map(|r| r.size).sum(),
            n_clbits: cregs.iter().map(|r| r.size).sum(),
            instructions: Vec::new(),
            param_names: Vec::new(),
            n_inputs: 0,
            qregs,
            cregs,
        }
    }

    /// Adds a classical register `c` of `n` bits (for measurements from the builder).
    pub fn add_clbits(&mut self, name: &str, n: usize) -> &mut Self {
        self.cregs.push(Register { name: name.into(), size: n });
        self.n_clbits += n;
        self
    }

    /// Number of qubits.
    pub fn n_qubits(&self) -> usize {
        self.n_qubits
    }

    /// Number of classical bits.
    pub fn n_clbits(&self) -> usize {
        self.n_clbits
    }

    /// The steps, in order.
    pub fn instructions(&self) -> &[Instruction] {
        &self.instructions
    }

    /// Names of the trainable parameters, in index order.
    pub fn param_names(&self) -> &[String] {
        &self.param_names
    }

    /// Number of trainable parameters.
    pub fn n_params(&self) -> usize {
        self.param_names.len()
    }

    /// Number of input features the circuit reads (one more than the largest input index used).
    pub fn n_inputs(&self) -> usize {
        self.n_inputs
    }

    /// Quantum registers, in qubit order.
    pub fn qregs(&self) -> &[Register] {
        &self.qregs
    }

    /// Classical registers, in bit order.
    pub fn cregs(&self) -> &[Register] {
        &self.cregs
    }

    /// Declares a new trainable parameter and returns its angle; errors if the name is taken.
    pub fn param(&mut self, name: &str) -> Result<Angle> {
        if self.param_names.iter().any(|n| n == name) {
            return Err(QuantumError::DuplicateParameter(name.to_string()));
        }
        self.param_names.push(name.to_string());
        Ok(Angle::Param { index: self.param_names.len() - 1, scale: 1.0, offset: 0.0 })
    }

    /// The angle of an existing parameter, by name.
    pub fn param_by_name(&self, name: &str) -> Option<Angle> {
        let index = self.param_names.iter().position(|n| n == name)?;
        Some(Angle::Param { index, scale: 1.0, offset: 0.0 })
    }

    /// Appends `gate` on `qubits` with `angles`, checking qubit range, repeats and counts.
    pub fn append(&mut self, gate: Gate, qubits: &[usize], angles: &[Angle]) -> Result<&mut Self> {
        gate.validate()?;
        if qubits.len() != gate.n_qubits() {
            return Err(QuantumError::QubitCount { gate: gate.name(), expected: gate.n_qubits(), got: qubits.len() });
        }
        if angles.len() != gate.n_params() {
            return Err(QuantumError::ParamCount { gate: gate.name(), expected: gate.n_params(), got: angles.len() });
        }
        self.check_qubits(&gate.name(), qubits)?;
        for a in angles {
            match *a {
                Angle::Param { index, .. } if index >= self.param_names.len() => {
                    return Err(QuantumError::BindingCount {
                        what: "trainable parameters",
                        expected: self.param_names.len(),
                        got: index + 1,
                    });
                }
                Angle::Input { index, .. } => self.n_inputs = self.n_inputs.max(index + 1),
                Angle::InputPair { first, second, center, scale, offset } => {
                    if ![center, scale, offset].iter().all(|v| v.is_finite()) {
                        return Err(QuantumError::Unsupported(format!(
                            "the input-pair angle of gate `{}` has a non-finite coefficient",
                            gate.name()
                        )));
                    }
                    self.n_inputs = self.n_inputs.max(first.max(second) + 1)
                }
                Angle::Const(v) if !v.is_finite() => {
                    return Err(QuantumError::Unsupported(format!(
                        "angle {v} of gate `{}` is not finite",
                        gate.name()
                    )));
                }
                _ => {}
            }
        }
        self.instructions.push(Instruction::Gate(GateApplication {
            gate,
            qubits: qubits.to_vec(),
            angles: angles.to_vec(),
        }));
        Ok(self)
    }

    /// Appends a barrier on `qubits` (all qubits when empty).
    pub fn barrier(&mut self, qubits: &[usize]) -> Result<&mut Self> {
        self.check_qubits("barrier", qubits)?;
        let qubits = if qubits.is_empty() { (0..self.n_qubits).collect() } else { qubits.to_vec() };
        self.instructions.push(Instruction::Barrier(qubits));
        Ok(self)
    }

    /// Appends a measurement of `qubit` into `clbit`.
    pub fn measure(&mut self, qubit: usize, clbit: usize) -> Result<&mut Self> {
        self.check_qubits("measure", &[qubit])?;
        if clbit >= self.n_clbits {
            return Err(QuantumError::ClbitOutOfRange { clbit, n_clbits: self.n_clbits });
        }
        self.instructions.push(Instruction::Measure { qubit, clbit });
        Ok(self)
    }

    /// Appends a 1- or 2-qubit unitary given by its matrix (checked unitary).
    pub fn unitary(&mut self, matrix: crate::matrix::Matrix, qubits: &[usize]) -> Result<&mut Self> {
        self.append(Gate::unitary(matrix)?, qubits, &[])
    }

    /// Appends an X controlled on every qubit of `controls`, targeting `target`.
    pub fn mcx(&mut self, controls: &[usize], target: usize) -> Result<&mut Self> {
        let mut qubits = controls.to_vec();
        qubits.push(target);
        self.append(Gate::mcx(controls.len())?, &qubits, &[])
    }

    /// Appends every instruction of `other` (same qubit count), keeping this circuit's parameters;
    /// `other`'s parameters are matched by name and added when new.
    pub fn extend(&mut self, other: &Circuit) -> Result<&mut Self> {
        if other.n_qubits != self.n_qubits {
            return Err(QuantumError::SizeMismatch {
                what: "qubits of the appended circuit".into(),
                expected: self.n_qubits,
                got: other.n_qubits,
            });
        }
        let mut remap = Vec::with_capacity(other.param_names.len());
        for name in &other.param_names {
            let index = match self.param_names.iter().position(|n| n == name) {
                Some(i) => i,
                None => {
                    self.param_names.push(name.clone());
                    self.param_names.len() - 1
                }
            };
            remap.push(index);
        }
        for inst in &other.instructions {
            self.append_instruction(inst, &|index| remap[index])?;
        }
        Ok(self)
    }

    /// Appends a copy of `inst` (a gate, barrier or measurement of another circuit), its trainable
    /// parameter `i` read as this circuit's parameter `remap_param(i)`: the one step of every pass
    /// that rebuilds a circuit (concatenation, noise insertion, pruning). Checked like the builder.
    pub fn append_instruction(
        &mut self,
        inst: &Instruction,
        remap_param: &dyn Fn(usize) -> usize,
    ) -> Result<&mut Self> {
        match inst {
            Instruction::Gate(app) => {
                let angles: Vec<Angle> = app
                    .angles
                    .iter()
                    .map(|a| match *a {
                        Angle::Param { index, scale, offset } => {
                            Angle::Param { index: remap_param(index), scale, offset }
                        }
                        other => other,
                    })
                    .collect();
                self.append(app.gate.clone(), &app.qubits, &angles)
            }
            Instruction::Barrier(q) => self.barrier(q),
            Instruction::Measure { qubit, clbit } => self.measure(*qubit, *clbit),
        }
    }

    /// Errors unless `params` and `inputs` have exactly the lengths this circuit reads.
    pub fn check_bindings(&self, params: &[f64], inputs: &[f64]) -> Result<()> {
        if params.len() != self.n_params() {
            return Err(QuantumError::BindingCount {
                what: "trainable parameters",
                expected: self.n_params(),
                got: params.len(),
            });
        }
        if inputs.len() != self.n_inputs {
            return Err(QuantumError::BindingCount {
                what: "input features",
                expected: self.n_inputs,
                got: inputs.len(),
            });
        }
        Ok(())
    }

    /// The circuit without its trailing measurements and barriers, and whether any measurement stood
    /// before a later gate on the same qubit (a mid-circuit measurement).
    pub fn has_mid_circuit_measurement(&self) -> bool {
        let mut measured = vec![false; self.n_qubits];
        for inst in &self.instructions {
            match inst {
                Instruction::Measure { qubit, .. } => measured[*qubit] = true,
                Instruction::Gate(app) => {
                    if app.qubits.iter().any(|&q| measured[q]) {
                        return true;
                    }
                }
                Instruction::Barrier(_) => {}
            }
        }
        false
    }

    /// A copy with `delta` added to angle `position` of instruction `instruction` (a gate): the
    /// shifted evaluations of parameter-shift rules.
    pub fn with_angle_offset(&self, instruction: usize, position: usize, delta: f64) -> Result<Circuit> {
        let mut out = self.clone();
        match out.instructions.get_mut(instruction) {
            Some(Instruction::Gate(app)) if position < app.angles.len() => {
                app.angles[position] = app.angles[position].shifted(delta);
                Ok(out)
            }
            _ => Err(QuantumError::Unsupported(format!(
                "instruction {instruction} is not a gate with an angle at position {position}"
            ))),
        }
    }

    /// A copy with every trainable parameter replaced by its value in `params` (constant angles, no
    /// parameters left): a trained model ready to transpile or export. Inputs stay symbolic.
    pub fn bind_params(&self, params: &[f64]) -> Result<Circuit> {
        if params.len() != self.n_params() {
            return Err(QuantumError::BindingCount {
                what: "trainable parameters",
                expected: self.n_params(),
                got: params.len(),
            });
        }
        let mut out = self.clone();
        out.param_names.clear();
        for inst in &mut out.instructions {
            if let Instruction::Gate(app) = inst {
                for a in &mut app.angles {
                    if let Angle::Param { .. } = a {
                        *a = Angle::Const(a.resolve(params, &[]));
                    }
                }
            }
        }
        Ok(out)
    }

    /// A copy without measurements (classical bits kept), so that gates such as a change of
    /// measurement basis can follow.
    pub fn without_measurements(&self) -> Circuit {
        let mut out = self.clone();
        out.instructions.retain(|i| !matches!(i, Instruction::Measure { .. }));
        out
    }

    /// The (qubit, clbit) pairs of every measurement, in order.
    pub fn measurements(&self) -> Vec<(usize, usize)> {
        self.instructions
            .iter()
            .filter_map(|i| match i {
                Instruction::Measure { qubit, clbit } => Some((*qubit, *clbit)),
                _ => None,
            })
            .collect()
    }

    /// The inverse circuit: gates reversed and each replaced by its inverse. Measurements are not
    /// invertible and give an error; barriers are kept.
    pub fn inverse(&self) -> Result<Circuit> {
        let mut inv = Circuit { instructions: Vec::with_capacity(self.instructions.len()), ..self.clone() };
        for inst in self.instructions.iter().rev() {
            match inst {
                Instruction::Gate(app) => {
                    inv.instructions.extend(crate::ops::inverse_application(app)?.into_iter().map(Instruction::Gate))
                }
                Instruction::Barrier(q) => inv.instructions.push(Instruction::Barrier(q.clone())),
                Instruction::Measure { .. } => {
                    return Err(QuantumError::Unsupported("a circuit with measurements has no inverse".into()));
                }
            }
        }
        Ok(inv)
    }

    fn check_qubits(&self, gate: &str, qubits: &[usize]) -> Result<()> {
        for (i, &q) in qubits.iter().enumerate() {
            if q >= self.n_qubits {
                return Err(QuantumError::QubitOutOfRange { qubit: q, n_qubits: self.n_qubits });
            }
            if qubits[..i].contains(&q) {
                return Err(QuantumError::RepeatedQubit { gate: gate.to_string(), qubit: q });
            }
        }
        Ok(())
    }

    builder_methods! {
        id => Id(q)[];
        x => X(q)[];
        y => Y(q)[];
        z => Z(q)[];
        h => H(q)[];
        s => S(q)[];
        sdg => Sdg(q)[];
        t => T(q)[];
        tdg => Tdg(q)[];
        sx => Sx(q)[];
        sxdg => Sxdg(q)[];
        rx => Rx(q)[theta];
        ry => Ry(q)[theta];
        rz => Rz(q)[theta];
        p => P(q)[lambda];
        u1 => U1(q)[lambda];
        u2 => U2(q)[phi, lambda];
        u3 => U3(q)[theta, phi, lambda];
        cx => Cx(control, target)[];
        cy => Cy(control, target)[];
        cz => Cz(control, target)[];
        ch => Ch(control, target)[];
        csx => Csx(control, target)[];
        swap => Swap(a, b)[];
        iswap => Iswap(a, b)[];
        crx => Crx(control, target)[theta];
        cry => Cry(control, target)[theta];
        crz => Crz(control, target)[theta];
        cp => Cp(control, target)[lambda];
        cu3 => Cu3(control, target)[theta, phi, lambda];
        rxx => Rxx(a, b)[theta];
        ryy => Ryy(a, b)[theta];
        rzz => Rzz(a, b)[theta];
        rzx => Rzx(a, b)[theta];
        ccx => Ccx(c0, c1, target)[];
        cswap => Cswap(control, a, b)[];
    }
}
