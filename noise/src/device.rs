//! Device profiles: the calibration of a (fake) IBM device as plain data.
//!
//! A [`DeviceProfile`] mirrors the JSON that `../shared/peers/qiskit_noisy.py --export-profile NAME`
//! prints from qiskit-ibm-runtime's `Fake<Name>V2` backends: qubit count, basis gates, the directed
//! coupling map, per-qubit T1, T2 (seconds), frequency (Hz), readout error and readout length
//! (seconds), and per-gate error and length (seconds). Numbers a backend does not report are JSON
//! `null` (`None` here); a missing key reads as `null` too, an unknown key is an error.
//!
//! Seven profiles are built in ([`DeviceProfile::builtin`]): manila, lima, quito, belem (5 qubits),
//! jakarta, nairobi (7) and guadalupe (16), exported with qiskit-ibm-runtime 0.51 (files in
//! `noise/profiles/`). [`DeviceProfile::load`] reads any file of the same schema.
//!
//! ```
//! use tinylab_noise::device::DeviceProfile;
//! let manila = DeviceProfile::builtin("manila")?;
//! assert_eq!((manila.name.as_str(), manila.num_qubits), ("fake_manila", 5));
//! let cx01 = manila.gate("cx", &[0, 1]).expect("cx on (0, 1)");
//! assert!(cx01.error.unwrap() > 0.0);
//! # Ok::<(), tinylab_noise::device::DeviceError>(())
//! ```

use serde::{Deserialize, Serialize};
use std::path::Path;
use thiserror::Error;
use tinylab_quantum::transpile::{Target, TranspileError};

/// Errors reading or validating a device profile. Each names the file (or built-in profile) and,
/// for inconsistent data, the field (`qubits[3].t1`, `gates[12].qubits[1]`, ...).
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// The file could not be read.
    #[error("cannot read device profile `{path}`: {message}")]
    Io {
        /// The path.
        path: String,
        /// The system's message.
        message: String,
    },
    /// The text is not JSON of the profile schema.
    #[error("device profile `{source_name}`: line {line}, column {column}: {message}")]
    Json {
        /// The file or built-in name.
        source_name: String,
        /// Line of the problem (from 1).
        line: usize,
        /// Column of the problem (from 1).
        column: usize,
        /// What serde_json reported.
        message: String,
    },
    /// A qubit index beyond the device.
    #[error("device profile `{source_name}`: {field} = {qubit} is not a qubit of a {num_qubits}-qubit device")]
    QubitOutOfRange {
        /// The file or built-in name.
        source_name: String,
        /// The field holding the index.
        field: String,
        /// The index.
        qubit: usize,
        /// Qubits of the device.
        num_qubits: usize,
    },
    /// A value outside its range or otherwise inconsistent.
    #[error("device profile `{source_name}`: {field}: {reason}")]
    Invalid {
        /// The file or built-in name.
        source_name: String,
        /// The offending field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A qubit whose dephasing time exceeds twice its relaxation time, which no qubit can have
    /// (`1/T2 = 1/(2 T1) + 1/T_phi` with `T_phi > 0`).
    #[error("device profile `{source_name}`: qubits[{qubit}]: T2 = {t2} exceeds 2 T1 = {}", 2.0 * t1)]
    T2AboveTwiceT1 {
        /// The file or built-in name.
        source_name: String,
        /// The qubit.
        qubit: usize,
        /// Its T1 (seconds).
        t1: f64,
        /// Its T2 (seconds).
        t2: f64,
    },
    /// A name that is not one of the built-in profiles.
    #[error("no built-in device profile `{name}`; built in: {}", DeviceProfile::builtin_names().join(", "))]
    UnknownDevice {
        /// The name asked for.
        name: String,
    },
}

/// The most qubits a calibrated gate may act on.
pub const MAX_GATE_QUBITS: usize = 2;

/// Calibration of one qubit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QubitProperties {
    /// Energy relaxation time T1 (seconds).
    pub t1: Option<f64>,
    /// Dephasing time T2 (seconds).
    pub t2: Option<f64>,
    /// Qubit frequency (Hz).
    pub frequency: Option<f64>,
    /// Readout assignment error (probability; Aer uses it for both flips).
    pub readout_error: Option<f64>,
    /// Duration of a measurement (seconds).
    pub readout_length: Option<f64>,
}

/// Calibration of one gate on one tuple of qubits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateProperties {
    /// The gate's name (`rz`, `sx`, `x`, `cx`, `id`, ...).
    pub gate: String,
    /// The qubits, in the gate's argument order (control first for `cx`).
    pub qubits: Vec<usize>,
    /// Gate error (probability, as the backend reports it).
    pub error: Option<f64>,
    /// Gate duration (seconds).
    pub length: Option<f64>,
}

/// A device's calibration, field for field the JSON of `qiskit_noisy.py --export-profile`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceProfile {
    /// The backend's name (`fake_manila`, ...).
    pub name: String,
    /// Number of qubits.
    pub num_qubits: usize,
    /// Names of the gates that have calibrations, sorted.
    pub basis_gates: Vec<String>,
    /// Directed pairs `[control, target]` on which two-qubit gates run.
    pub coupling_map: Vec<[usize; 2]>,
    /// Per-qubit calibration, indexed by qubit.
    pub qubits: Vec<QubitProperties>,
    /// Per-gate calibration, one entry per gate and qubit tuple.
    pub gates: Vec<GateProperties>,
}

/// The built-in profiles: (short name, JSON text).
const BUILTIN: [(&str, &str); 7] = [
    ("manila", include_str!("../profiles/manila.json")),
    ("lima", include_str!("../profiles/lima.json")),
    ("quito", include_str!("../profiles/quito.json")),
    ("belem", include_str!("../profiles/belem.json")),
    ("jakarta", include_str!("../profiles/jakarta.json")),
    ("nairobi", include_str!("../profiles/nairobi.json")),
    ("guadalupe", include_str!("../profiles/guadalupe.json")),
];

/// Names of the built-in profiles, in [`BUILTIN`] order.
const BUILTIN_NAMES: [&str; 7] = {
    let mut names = [""; 7];
    let mut i = 0;
    while i < BUILTIN.len() {
        names[i] = BUILTIN[i].0;
        i += 1;
    }
    names
};

impl DeviceProfile {
    /// Parses and validates a profile from JSON text; `source_name` (a path or a name) appears in
    /// errors.
    pub fn from_json_str(text: &str, source_name: &str) -> Result<Self, DeviceError> {
        let profile: DeviceProfile = serde_json::from_str(text).map_err(|e| {
            let message = e.to_string();
            // serde_json appends " at line L column C"; the position has fields of its own.
            let message = match message.rfind(" at line ") {
                Some(i) => message[..i].to_string(),
                None => message,
            };
            // serde quotes the offending text (an unknown field's name) as is: escape control
            // characters so that the error stays one line.
            let message: String = message
                .chars()
                .map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() })
                .collect();
            DeviceError::Json { source_name: source_name.to_string(), line: e.line(), column: e.column(), message }
        })?;
        profile.validate_as(source_name)?;
        Ok(profile)
    }

    /// Reads and validates a profile file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, DeviceError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| DeviceError::Io { path: path.display().to_string(), message: e.to_string() })?;
        Self::from_json_str(&text, &path.display().to_string())
    }

    /// A built-in profile by name: `manila`, `lima`, `quito`, `belem`, `jakarta`, `nairobi`,
    /// `guadalupe` (case-insensitive; a `fake_` prefix is accepted).
    pub fn builtin(name: &str) -> Result<Self, DeviceError> {
        let lower = name.to_ascii_lowercase();
        let short = lower.strip_prefix("fake_").unwrap_or(&lower);
        let (key, text) = BUILTIN
            .iter()
            .find(|(n, _)| *n == short)
            .ok_or_else(|| DeviceError::UnknownDevice { name: name.to_string() })?;
        Self::from_json_str(text, &format!("builtin:{key}"))
    }

    /// Names of the built-in profiles.
    pub fn builtin_names() -> &'static [&'static str] {
        &BUILTIN_NAMES
    }

    /// The calibration of `gate` on exactly `qubits` (in that order), if the profile has one.
    pub fn gate(&self, gate: &str, qubits: &[usize]) -> Option<&GateProperties> {
        self.gates.iter().find(|g| g.gate == gate && g.qubits == qubits)
    }

    /// The coupling map as `(control, target)` pairs.
    pub fn coupling_pairs(&self) -> Vec<(usize, usize)> {
        self.coupling_map.iter().map(|&[a, b]| (a, b)).collect()
    }

    /// The transpiler target of this device: its qubits, basis gates and coupling map.
    pub fn target(&self) -> Result<Target, TranspileError> {
        Target::new(self.num_qubits, self.basis_gates.iter().cloned(), &self.coupling_pairs())
    }

    /// Checks the profile's consistency: one `qubits` entry per qubit; coupling pairs and gate qubits
    /// within the device, distinct, at most [`MAX_GATE_QUBITS`] per gate, and every two-qubit gate on a coupling pair; every gate named in
    /// `basis_gates`; T1, T2, frequency positive and durations non-negative (finite) when present;
    /// errors in `[0, 1]`; `T2 <= 2 T1` where both are given.
    pub fn validate(&self) -> Result<(), DeviceError> {
        self.validate_as(&self.name)
    }

    fn validate_as(&self, source: &str) -> Result<(), DeviceError> {
        let invalid =
            |field: String, reason: String| DeviceError::Invalid { source_name: source.to_string(), field, reason };
        let n = self.num_qubits;
        let in_range = |field: String, qubit: usize| {
            if qubit < n {
                Ok(())
            } else {
                Err(DeviceError::QubitOutOfRange { source_name: source.to_string(), field, qubit, num_qubits: n })
            }
        };
        if n == 0 {
            return Err(invalid("num_qubits".into(), "a device has at least one qubit".into()));
        }
        if self.qubits.len() != n {
            return Err(invalid("qubits".into(), format!("{} entries for {n} qubits", self.qubits.len())));
        }
        for (i, &[a, b]) in self.coupling_map.iter().enumerate() {
            in_range(format!("coupling_map[{i}][0]"), a)?;
            in_range(format!("coupling_map[{i}][1]"), b)?;
            if a == b {
                return Err(invalid(format!("coupling_map[{i}]"), format!("qubit {a} coupled to itself")));
            }
        }
        let positive = |field: String, v: Option<f64>| match v {
            Some(x) if !(x.is_finite() && x > 0.0) => Err(invalid(field, format!("{x} is not a positive number"))),
            _ => Ok(()),
        };
        let duration = |field: String, v: Option<f64>| match v {
            Some(x) if !(x.is_finite() && x >= 0.0) => Err(invalid(field, format!("{x} is not a duration >= 0"))),
            _ => Ok(()),
        };
        let probability = |field: String, v: Option<f64>| match v {
            Some(x) if !(0.0..=1.0).contains(&x) => Err(invalid(field, format!("{x} is not a probability in [0, 1]"))),
            _ => Ok(()),
        };
        for (q, p) in self.qubits.iter().enumerate() {
            positive(format!("qubits[{q}].t1"), p.t1)?;
            positive(format!("qubits[{q}].t2"), p.t2)?;
            positive(format!("qubits[{q}].frequency"), p.frequency)?;
            probability(format!("qubits[{q}].readout_error"), p.readout_error)?;
            duration(format!("qubits[{q}].readout_length"), p.readout_length)?;
            if let (Some(t1), Some(t2)) = (p.t1, p.t2)
                && t2 > 2.0 * t1
            {
                return Err(DeviceError::T2AboveTwiceT1 { source_name: source.to_string(), qubit: q, t1, t2 });
            }
        }
        for (i, g) in self.gates.iter().enumerate() {
            if !self.basis_gates.contains(&g.gate) {
                return Err(invalid(format!("gates[{i}].gate"), format!("`{}` is not in basis_gates", g.gate)));
            }
            if g.qubits.is_empty() {
                return Err(invalid(format!("gates[{i}].qubits"), "no qubits".into()));
            }
            // A noise model builds a 2^k-dimensional channel per gate: a calibration of a gate on
            // many qubits would allocate without bound, and devices calibrate 1- and 2-qubit gates.
            if g.qubits.len() > MAX_GATE_QUBITS {
                return Err(invalid(
                    format!("gates[{i}].qubits"),
                    format!("{} qubits; calibrations are of gates on at most {MAX_GATE_QUBITS}", g.qubits.len()),
                ));
            }
            for (k, &q) in g.qubits.iter().enumerate() {
                in_range(format!("gates[{i}].qubits[{k}]"), q)?;
                if g.qubits[..k].contains(&q) {
                    return Err(invalid(format!("gates[{i}].qubits"), format!("qubit {q} appears twice")));
                }
            }
            if let [a, b] = *g.qubits.as_slice()
                && !self.coupling_map.contains(&[a, b])
            {
                return Err(invalid(
                    format!("gates[{i}].qubits"),
                    format!("`{}` on ({a}, {b}), which is not in coupling_map", g.gate),
                ));
            }
            probability(format!("gates[{i}].error"), g.error)?;
            duration(format!("gates[{i}].length"), g.length)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_loads_and_validates() {
        let sizes = [5, 5, 5, 5, 7, 7, 16];
        assert_eq!(
            DeviceProfile::builtin_names(),
            ["manila", "lima", "quito", "belem", "jakarta", "nairobi", "guadalupe"]
        );
        for (&name, n) in DeviceProfile::builtin_names().iter().zip(sizes) {
            let p = DeviceProfile::builtin(name).unwrap();
            assert_eq!(p.name, format!("fake_{name}"));
            assert_eq!((p.num_qubits, p.qubits.len()), (n, n));
            assert_eq!(p.basis_gates, ["cx", "id", "rz", "sx", "x"]);
            // Every qubit has rz, sx, x, id; every coupling pair a cx.
            assert_eq!(p.gates.len(), 4 * n + p.coupling_map.len());
            for &[a, b] in &p.coupling_map {
                assert!(p.gate("cx", &[a, b]).is_some_and(|g| g.error.is_some_and(|e| e > 0.0)));
            }
            assert!(p.qubits.iter().all(|q| q.t1.is_some() && q.t2.is_some() && q.readout_error.is_some()));
            p.validate().unwrap();
            let target = p.target().unwrap();
            assert_eq!((target.n_qubits, target.coupling.len()), (n, p.coupling_map.len()));
        }
        // Names are case-insensitive and may carry the backend prefix.
        assert_eq!(DeviceProfile::builtin("FAKE_Lima").unwrap().name, "fake_lima");
        let e = DeviceProfile::builtin("washington").unwrap_err();
        assert_eq!(
            e.to_string(),
            "no built-in device profile `washington`; built in: manila, lima, quito, belem, jakarta, nairobi, guadalupe"
        );
    }

    #[test]
    fn files_load_and_round_trip() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/jakarta.json");
        let p = DeviceProfile::load(&path).unwrap();
        assert_eq!(p, DeviceProfile::builtin("jakarta").unwrap());
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(DeviceProfile::from_json_str(&text, "round trip").unwrap(), p);
        let e = DeviceProfile::load("no/such/profile.json").unwrap_err();
        assert!(matches!(&e, DeviceError::Io { path, .. } if path == "no/such/profile.json"), "{e}");
    }

    fn manila_json() -> serde_json::Value {
        serde_json::to_value(DeviceProfile::builtin("manila").unwrap()).unwrap()
    }

    fn from_value(v: &serde_json::Value) -> Result<DeviceProfile, DeviceError> {
        DeviceProfile::from_json_str(&v.to_string(), "test.json")
    }

    #[test]
    fn nulls_read_as_none() {
        let mut v = manila_json();
        v["qubits"][2]["t2"] = serde_json::Value::Null;
        v["gates"][0]["error"] = serde_json::Value::Null;
        v["gates"][0]["length"] = serde_json::Value::Null;
        let p = from_value(&v).unwrap();
        assert_eq!((p.qubits[2].t2, p.gates[0].error, p.gates[0].length), (None, None, None));
    }

    #[test]
    fn malformed_files_give_positions() {
        let e = DeviceProfile::from_json_str("{\n \"name\": \"x\",\n \"num_qubits\": [1]\n}", "bad.json").unwrap_err();
        match &e {
            DeviceError::Json { source_name, line, .. } => assert_eq!((source_name.as_str(), *line), ("bad.json", 3)),
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().starts_with("device profile `bad.json`: line 3, column "), "{e}");
        let mut v = manila_json();
        v["qubits"][0]["t3"] = serde_json::json!(1.0);
        let e = from_value(&v).unwrap_err();
        assert!(e.to_string().contains("unknown field `t3`"), "{e}");
        let e = DeviceProfile::from_json_str("", "empty.json").unwrap_err();
        assert!(matches!(e, DeviceError::Json { .. }), "{e}");
    }

    #[test]
    fn out_of_range_qubits_are_named() {
        let mut v = manila_json();
        assert_eq!(v["gates"][9]["gate"], "cx");
        v["gates"][9]["qubits"][1] = serde_json::json!(7);
        let e = from_value(&v).unwrap_err();
        assert_eq!(
            e,
            DeviceError::QubitOutOfRange {
                source_name: "test.json".into(),
                field: "gates[9].qubits[1]".into(),
                qubit: 7,
                num_qubits: 5
            }
        );
        assert_eq!(
            e.to_string(),
            "device profile `test.json`: gates[9].qubits[1] = 7 is not a qubit of a 5-qubit device"
        );
        let mut v = manila_json();
        v["coupling_map"][3] = serde_json::json!([2, 5]);
        match from_value(&v) {
            Err(DeviceError::QubitOutOfRange { field, qubit: 5, .. }) => assert_eq!(field, "coupling_map[3][1]"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn inconsistent_values_are_named() {
        let cases: [(&str, serde_json::Value, &str); 7] = [
            ("/qubits/1/t1", serde_json::json!(-1e-4), "qubits[1].t1"),
            ("/qubits/4/t2", serde_json::json!(0.0), "qubits[4].t2"),
            ("/qubits/0/readout_error", serde_json::json!(1.5), "qubits[0].readout_error"),
            ("/gates/3/error", serde_json::json!(-0.1), "gates[3].error"),
            ("/gates/3/length", serde_json::json!(-1.0), "gates[3].length"),
            ("/gates/2/gate", serde_json::json!("h"), "gates[2].gate"),
            ("/num_qubits", serde_json::json!(6), "qubits"),
        ];
        for (pointer, value, field) in cases {
            let mut v = manila_json();
            *v.pointer_mut(pointer).unwrap() = value;
            match from_value(&v) {
                Err(DeviceError::Invalid { field: f, .. }) => assert_eq!(f, field, "{pointer}"),
                other => panic!("{pointer}: {other:?}"),
            }
        }
        // A cx on a pair outside the coupling map, and a gate on one qubit twice.
        let mut v = manila_json();
        let cx = v["gates"].as_array().unwrap().iter().position(|g| g["gate"] == "cx").unwrap();
        v["gates"][cx]["qubits"] = serde_json::json!([0, 2]);
        let e = from_value(&v).unwrap_err();
        assert!(e.to_string().contains("not in coupling_map"), "{e}");
        v["gates"][cx]["qubits"] = serde_json::json!([1, 1]);
        assert!(from_value(&v).unwrap_err().to_string().contains("appears twice"));
    }

    /// Regression: `qubits[0].t2 = 3 * t1` was accepted (and silently clamped to `2 T1` by the noise
    /// model); no qubit has `T2 > 2 T1`.
    #[test]
    fn t2_above_twice_t1_is_refused() {
        let mut v = manila_json();
        let t1 = v["qubits"][0]["t1"].as_f64().unwrap();
        v["qubits"][0]["t2"] = serde_json::json!(3.0 * t1);
        let e = from_value(&v).unwrap_err();
        assert!(matches!(e, DeviceError::T2AboveTwiceT1 { qubit: 0, .. }), "{e:?}");
        assert!(e.to_string().contains("test.json") && e.to_string().contains("exceeds 2 T1"), "{e}");
        v["qubits"][0]["t2"] = serde_json::json!(2.0 * t1);
        from_value(&v).unwrap();
    }

    /// Regression: a calibration of a gate on any number of distinct qubits was accepted, and
    /// `NoiseModel::from_profile` builds a 2^k-dimensional channel for a gate on k qubits (16 qubits
    /// of guadalupe: 4^16 Kraus operators of 2^16 x 2^16), an allocation the file size does not bound.
    #[test]
    fn gates_on_more_than_two_qubits_are_refused() {
        let mut v = manila_json();
        v["gates"][0]["qubits"] = serde_json::json!([0, 1, 2]);
        let e = from_value(&v).unwrap_err();
        assert!(
            matches!(&e, DeviceError::Invalid { field, .. } if field == "gates[0].qubits")
                && e.to_string().contains("3 qubits"),
            "{e}"
        );
    }
}
