//! The noisy fixtures against the device profiles and the transpiler: every fixture circuit of
//! `tests/fixtures/noisy/` parses, names a built-in device, runs on that device as it stands
//! (`transpile::check` with the profile's target), reads its `rz` angles bit for bit as written, and
//! routes with the trivial layout without a single SWAP.

use std::path::{Path, PathBuf};
use tinylab_noise::device::DeviceProfile;
use tinylab_quantum::circuit::{Angle, Instruction};
use tinylab_quantum::qasm;
use tinylab_quantum::transpile::{check, transpile, trivial_layout};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/noisy");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "qasm"))
        .collect();
    out.sort();
    out
}

#[test]
fn fixtures_run_on_their_devices() {
    let files = fixtures();
    assert!(files.len() >= 24, "only {} fixtures", files.len());
    let mut devices = std::collections::BTreeSet::new();
    for path in &files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path.with_extension("json")).unwrap()).unwrap();
        let device = json["device"].as_str().expect("fixture names its device");
        assert!(name.starts_with(&format!("{device}_")), "{name} on {device}");
        devices.insert(device.to_string());
        let profile = DeviceProfile::builtin(device).unwrap();
        let target = profile.target().unwrap();
        let circuit = qasm::parse_file(path).unwrap();
        let n = circuit.n_qubits();
        assert!(n <= 10, "{name}: {n} qubits");
        assert_eq!(json["n_qubits"].as_u64(), Some(n as u64), "{name}");
        assert_eq!(json["probabilities"].as_array().unwrap().len(), 1 << n, "{name}");
        assert_eq!(json["measured_probabilities"].as_array().unwrap().len(), 1 << n, "{name}");
        check(&circuit, &target).unwrap_or_else(|e| panic!("{name}: {e}"));

        // Angles: the digits in the file are exactly the f64 the circuit holds.
        let text = std::fs::read_to_string(path).unwrap();
        let written: Vec<f64> = text
            .lines()
            .filter_map(|l| l.strip_prefix("rz("))
            .map(|l| l[..l.find(')').unwrap()].parse().unwrap())
            .collect();
        let read: Vec<f64> = circuit
            .instructions()
            .iter()
            .filter_map(|i| match i {
                Instruction::Gate(a) if a.gate.name() == "rz" => match a.angles[0] {
                    Angle::Const(v) => Some(v),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        assert_eq!(written.len(), read.len(), "{name}");
        for (w, r) in written.iter().zip(&read) {
            assert_eq!(w.to_bits(), r.to_bits(), "{name}: {w} read as {r}");
        }

        // Already routed: the trivial layout needs no SWAP, so the cx count stays.
        let count = |c: &tinylab_quantum::Circuit| {
            c.instructions().iter().filter(|i| matches!(i, Instruction::Gate(a) if a.gate.name() == "cx")).count()
        };
        let (routed, layout) = transpile(&circuit, &target, &trivial_layout(n)).unwrap();
        assert_eq!(count(&routed), count(&circuit), "{name}");
        assert_eq!(layout, trivial_layout(n), "{name}");
    }
    let all: std::collections::BTreeSet<String> =
        DeviceProfile::builtin_names().iter().map(|s| s.to_string()).collect();
    assert_eq!(devices, all, "every built-in device has fixtures");
}
