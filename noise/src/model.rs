//! Noise models: which channel follows which gate on which qubits, and each qubit's readout error.
//!
//! [`NoiseModel::from_profile`] builds a model from a device calibration the way Qiskit Aer's
//! `NoiseModel.from_backend` does (`qiskit_aer.noise.device.models.basic_device_gate_errors` with
//! thermal relaxation at temperature 0), so the two simulators agree on the same circuit:
//!
//! - every gate with a duration gets thermal relaxation on each of its qubits (T1, T2 truncated to
//!   `2 T1`, duration = the gate's length), the qubits' channels tensored;
//! - the rest of the reported gate error `e` becomes a depolarizing channel applied *before* the
//!   relaxation, with parameter `λ = d (e - r) / (d F_r - 1)` where `F_r` is the relaxation's average
//!   gate fidelity and `r = 1 - F_r` (only when `e > r`; `e` is first capped at `d / (d + 1)` and `λ`
//!   at `4^k / (4^k - 1)`);
//! - each qubit's `readout_error` `p` becomes the symmetric confusion matrix `[[1-p, p], [p, 1-p]]`.
//!
//! Gates the model does not name are ideal.

use crate::channel::Channel;
use crate::device::DeviceProfile;
use crate::error::{NoiseError, Result};
use crate::readout::ReadoutError;
use std::collections::{BTreeMap, BTreeSet};
use tinylab_quantum::density::Superop;

/// A channel with its superoperator computed once.
#[derive(Debug, Clone)]
pub struct GateNoise {
    /// The channel (on the gate's qubits, in the gate's argument order).
    pub channel: Channel,
    /// Its superoperator for the density-matrix simulator.
    pub superop: Superop,
}

impl GateNoise {
    fn new(channel: Channel) -> Result<Self> {
        let superop = channel.superop()?;
        Ok(Self { channel, superop })
    }
}

/// Gate errors by gate name and qubits, readout errors by qubit.
#[derive(Debug, Clone, Default)]
pub struct NoiseModel {
    name: String,
    gate_errors: BTreeMap<(String, Vec<usize>), GateNoise>,
    all_qubit_errors: BTreeMap<String, GateNoise>,
    readout: BTreeMap<usize, ReadoutError>,
    basis_gates: BTreeSet<String>,
    coupling_map: Vec<(usize, usize)>,
    n_qubits: Option<usize>,
}

impl NoiseModel {
    /// An ideal model (no errors) called `name`.
    pub fn new(name: &str) -> Self {
        Self { name: name.to_string(), ..Self::default() }
    }

    /// The model's name (the device's, for profiles).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds `channel` after every `gate` on exactly `qubits` (in the gate's argument order), composing
    /// with an error already there.
    pub fn add_quantum_error(&mut self, channel: Channel, gate: &str, qubits: &[usize]) -> Result<()> {
        if channel.n_qubits() != qubits.len() {
            return Err(NoiseError::SizeMismatch {
                what: format!("qubits of the error on `{gate}` {qubits:?}"),
                expected: qubits.len(),
                got: channel.n_qubits(),
            });
        }
        let key = (gate.to_string(), qubits.to_vec());
        let channel = match self.gate_errors.get(&key) {
            Some(existing) => existing.channel.then(&channel)?,
            None => channel,
        };
        self.gate_errors.insert(key, GateNoise::new(channel)?);
        Ok(())
    }

    /// Adds `channel` after every `gate` on any qubits (used where no qubit-specific error is set).
    pub fn add_all_qubit_quantum_error(&mut self, channel: Channel, gate: &str) -> Result<()> {
        self.all_qubit_errors.insert(gate.to_string(), GateNoise::new(channel)?);
        Ok(())
    }

    /// Sets the readout error of `qubit`.
    pub fn add_readout_error(&mut self, error: ReadoutError, qubit: usize) {
        self.readout.insert(qubit, error);
    }

    /// The error that follows `gate` on `qubits`, if any.
    pub fn gate_error(&self, gate: &str, qubits: &[usize]) -> Option<&GateNoise> {
        self.gate_errors
            .get(&(gate.to_string(), qubits.to_vec()))
            .or_else(|| self.all_qubit_errors.get(gate).filter(|e| e.channel.n_qubits() == qubits.len()))
    }

    /// The qubit-specific errors: gate name, qubits, noise.
    pub fn gate_errors(&self) -> impl Iterator<Item = (&str, &[usize], &GateNoise)> {
        self.gate_errors.iter().map(|((g, q), n)| (g.as_str(), q.as_slice(), n))
    }

    /// The errors that apply to a gate on any qubits: gate name, noise.
    pub fn all_qubit_errors(&self) -> impl Iterator<Item = (&str, &GateNoise)> {
        self.all_qubit_errors.iter().map(|(g, n)| (g.as_str(), n))
    }

    /// The readout errors by qubit.
    pub fn readout_errors(&self) -> impl Iterator<Item = (usize, &ReadoutError)> {
        self.readout.iter().map(|(&q, e)| (q, e))
    }

    /// The same model with every gate error replaced by its Pauli twirl ([`Channel::pauli_twirl`]):
    /// the noise a Pauli-insertion sampler reproduces exactly. Readout errors are kept.
    pub fn pauli_twirled(&self) -> Result<Self> {
        let twirl = |n: &GateNoise| -> Result<GateNoise> {
            GateNoise::new(Channel::pauli_mixture(&format!("twirled {}", n.channel.name()), &n.channel.pauli_twirl())?)
        };
        let mut out = self.clone();
        for noise in out.gate_errors.values_mut().chain(out.all_qubit_errors.values_mut()) {
            *noise = twirl(noise)?;
        }
        Ok(out)
    }

    /// The readout error of `qubit`, if any.
    pub fn readout_error(&self, qubit: usize) -> Option<&ReadoutError> {
        self.readout.get(&qubit)
    }

    /// True when some readout error is set.
    pub fn has_readout_errors(&self) -> bool {
        !self.readout.is_empty()
    }

    /// The device's basis gates (empty for hand-built models).
    pub fn basis_gates(&self) -> &BTreeSet<String> {
        &self.basis_gates
    }

    /// The device's directed coupling map (empty for hand-built models).
    pub fn coupling_map(&self) -> &[(usize, usize)] {
        &self.coupling_map
    }

    /// The device's qubit count, for models built from a profile.
    pub fn device_qubits(&self) -> Option<usize> {
        self.n_qubits
    }

    /// Applies each qubit's readout error to a probability vector over `2^n_qubits` outcomes.
    pub fn apply_readout(&self, probs: &mut [f64], n_qubits: usize) -> Result<()> {
        for (&q, err) in &self.readout {
            if q < n_qubits {
                err.apply(probs, q)?;
            }
        }
        Ok(())
    }

    /// The model Qiskit Aer's `NoiseModel.from_backend` builds from this calibration (see the module
    /// documentation).
    pub fn from_profile(profile: &DeviceProfile) -> Result<Self> {
        profile.validate()?;
        let mut model = Self::new(&profile.name);
        model.basis_gates = profile.basis_gates.iter().cloned().collect();
        model.coupling_map = profile.coupling_map.iter().map(|e| (e[0], e[1])).collect();
        model.n_qubits = Some(profile.num_qubits);
        for gate in &profile.gates {
            let relax = relaxation(profile, &gate.qubits, gate.length.unwrap_or(0.0))?;
            let depol = match gate.error {
                Some(e) => depolarizing_rest(gate.qubits.len(), e, relax.as_ref())?,
                None => None,
            };
            let channel = match (depol, relax) {
                (Some(d), Some(r)) => Some(d.then(&r)?),
                (Some(d), None) => Some(d),
                (None, r) => r,
            };
            if let Some(channel) = channel {
                model.add_quantum_error(channel, &gate.gate, &gate.qubits)?;
            }
        }
        for (q, props) in profile.qubits.iter().enumerate() {
            if let Some(p) = props.readout_error
                && p > 0.0
            {
                model.add_readout_error(ReadoutError::symmetric(p)?, q);
            }
        }
        Ok(model)
    }

    /// The model of a built-in device profile (`manila`, `lima`, ...; see
    /// [`DeviceProfile::builtin_names`]).
    pub fn builtin(name: &str) -> Result<Self> {
        Self::from_profile(&DeviceProfile::builtin(name)?)
    }
}

/// Thermal relaxation on each of `qubits` for `time` seconds (tensored, first qubit lowest), or `None`
/// when the time is zero or no qubit relaxes.
fn relaxation(profile: &DeviceProfile, qubits: &[usize], time: f64) -> Result<Option<Channel>> {
    if time <= 0.0 {
        return Ok(None);
    }
    let mut total: Option<Channel> = None;
    let mut any = false;
    for &q in qubits {
        let props = &profile.qubits[q];
        let t1 = props.t1.unwrap_or(f64::INFINITY);
        let t2 = props.t2.unwrap_or(f64::INFINITY).min(2.0 * t1);
        let single = if t1.is_infinite() && t2.is_infinite() {
            Channel::identity(1)
        } else {
            any = true;
            Channel::thermal_relaxation(t1, t2, time, 0.0)?
        };
        total = Some(match total {
            None => single,
            Some(low) => low.tensor_high(&single)?,
        });
    }
    Ok(total.filter(|_| any))
}

/// The depolarizing channel that, applied before `relax`, makes the gate's average error `error`
/// (Aer's `_device_depolarizing_error`), or `None` when relaxation already accounts for it.
fn depolarizing_rest(k: usize, error: f64, relax: Option<&Channel>) -> Result<Option<Channel>> {
    let dim = (1usize << k) as f64;
    let error = error.min(dim / (dim + 1.0));
    let relax_fid = relax.map_or(1.0, Channel::average_gate_fidelity);
    let relax_infid = 1.0 - relax_fid;
    if error <= relax_infid {
        return Ok(None);
    }
    let n_paulis = (1usize << (2 * k)) as f64;
    let lambda = (dim * (error - relax_infid) / (dim * relax_fid - 1.0)).min(n_paulis / (n_paulis - 1.0));
    Ok(Some(Channel::depolarizing(lambda, k)?))
}
