//! The `tinylab sim` command end to end: JSON output against Aer's fixture, seeded counts, and one-line
//! errors with a non-zero exit status.

use std::path::Path;
use std::process::Command;

fn tinylab(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tinylab")).args(args).output().expect("tinylab runs")
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/circuits").join(name).display().to_string()
}

#[test]
fn sim_json_matches_the_aer_fixture() {
    let out = tinylab(&["sim", &fixture("registers_broadcast.qasm"), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("registers_broadcast.json")).unwrap()).unwrap();
    assert_eq!(got["n_qubits"], want["n_qubits"]);
    let (g, w) = (got["probabilities"].as_array().unwrap(), want["probabilities"].as_array().unwrap());
    assert_eq!(g.len(), w.len());
    for (a, b) in g.iter().zip(w) {
        assert!((a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-10);
    }
    assert!(got.get("counts").is_none());
}

#[test]
fn sim_counts_are_seeded_and_keyed_by_classical_bits() {
    let file = fixture("registers_broadcast.qasm");
    let run = |seed: &str| {
        let out = tinylab(&["sim", &file, "--shots", "1000", "--seed", seed, "--json"]);
        assert!(out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["counts"].as_object().unwrap().clone()
    };
    let a = run("3");
    assert_eq!(a, run("3"));
    assert_ne!(a, run("4"));
    // Five classical bits over three registers; the counts add up to the shots.
    assert!(a.keys().all(|k| k.len() == 5 && k.chars().all(|c| c == '0' || c == '1')));
    assert_eq!(a.values().map(|v| v.as_u64().unwrap()).sum::<u64>(), 1000);
}

#[test]
fn sim_without_json_prints_a_summary() {
    let out = tinylab(&["sim", &fixture("bell.qasm"), "--shots", "100"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("|00>") && text.contains("|11>") && text.contains("counts"), "{text}");
}

#[test]
fn failures_print_one_line_and_exit_non_zero() {
    let dir = std::env::temp_dir().join(format!("tinylab-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.qasm");
    std::fs::write(&bad, "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\nfoo q[0];\n").unwrap();
    let missing = dir.join("missing.qasm");
    for path in [&bad, &missing] {
        let out = tinylab(&["sim", path.to_str().unwrap(), "--json"]);
        assert!(!out.status.success());
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("error: "), "{err}");
        assert!(out.stdout.is_empty());
    }
    let err = String::from_utf8(tinylab(&["sim", bad.to_str().unwrap()]).stderr).unwrap();
    assert!(err.contains("line 4") && err.contains("foo"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn noisy_fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("noise/tests/fixtures/noisy").join(name).display().to_string()
}

/// `--noise DEVICE` (density matrix by default) reproduces Aer's probabilities and
/// `measured_probabilities`; a profile file works like the built-in name.
#[test]
fn noisy_sim_json_matches_aer() {
    let qasm = noisy_fixture("manila_ghz5.qasm");
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(noisy_fixture("manila_ghz5.json")).unwrap()).unwrap();
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("noise/profiles/manila.json").display().to_string();
    for noise in ["manila", profile.as_str()] {
        let out = tinylab(&["sim", &qasm, "--noise", noise, "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for key in ["probabilities", "measured_probabilities"] {
            let (g, w) = (got[key].as_array().unwrap(), want[key].as_array().unwrap());
            assert_eq!(g.len(), w.len());
            for (a, b) in g.iter().zip(w) {
                assert!((a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-9, "{key}");
            }
        }
    }
}

/// Trajectories agree with the density matrix within sampling error; `--transpile` makes a circuit
/// outside the device basis runnable and reports the final layout; without it the refusal says why.
#[test]
fn trajectories_and_transpile_from_the_cli() {
    let qasm = noisy_fixture("manila_ghz5.qasm");
    let run = |args: &[&str]| {
        let out = tinylab(args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let density = run(&["sim", &qasm, "--noise", "manila", "--json"]);
    let traj = run(&["sim", &qasm, "--noise", "manila", "--method", "trajectories", "--shots", "3000", "--json"]);
    for (a, b) in density["probabilities"].as_array().unwrap().iter().zip(traj["probabilities"].as_array().unwrap()) {
        assert!((a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 0.04);
    }
    let general = fixture("registers_broadcast.qasm");
    let refused = tinylab(&["sim", &general, "--noise", "manila"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("not in the target basis") && err.contains("--transpile"), "{err}");
    let routed = run(&["sim", &general, "--noise", "manila", "--transpile", "--json"]);
    assert!(routed["final_layout"].is_array());
    let total: f64 = routed["measured_probabilities"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-9);
    let bad = tinylab(&["sim", &qasm, "--noise", "atlantis"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("guadalupe"));
}
