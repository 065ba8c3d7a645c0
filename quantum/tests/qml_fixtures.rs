//! Encoders, ansatz templates and gradients against numbers from the peer systems
//! (`tests/fixtures/qml/`, made by the generator scripts there): PennyLane (the reference
//! hardware-efficient ansatz of `bench_pennylane.py`, StronglyEntanglingLayers), Qiskit (ZZ feature
//! map) and TorchQuantum (the MNIST-4 style model: 4x4_ryzxy encoder, U3 + CU3 blocks, Z readout,
//! NLL loss and its gradient).

use serde_json::Value;
use tinylab_quantum::circuit::Angle;
use tinylab_quantum::grad::{self, Wrt, batch_expectations, batch_vjp};
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::qml::{ansatz, encoders};
use tinylab_quantum::statevector::SimOptions;
use tinylab_quantum::{Circuit, Statevector};

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/qml").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture exists")).expect("fixture parses")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect()
}

fn sum_z(n: usize) -> PauliSum {
    PauliSum::new((0..n).map(|q| (1.0, PauliSum::z(q).unwrap().terms()[0].1)).collect())
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "{what}[{k}]: got {g}, PennyLane/peer {w} (diff {:e})", (g - w).abs());
    }
}

#[test]
fn reference_ansatz_matches_pennylane_lightning() {
    let f = fixture("pennylane_reference.json");
    for case in f["reference_ansatz"].as_array().unwrap() {
        let n = case["qubits"].as_u64().unwrap() as usize;
        let layers = case["layers"].as_u64().unwrap() as usize;
        let theta = floats(&case["theta"]);
        let mut c = Circuit::new(n);
        ansatz::hardware_efficient(&mut c, layers, "t").unwrap();
        let g = grad::adjoint(&c, &theta, &[], &sum_z(n), Wrt::PARAMS, &SimOptions::default()).unwrap();
        let what = format!("n={n} L={layers}");
        assert_close(&format!("{what} value"), &[g.value], &[case["value"].as_f64().unwrap()], 1e-10);
        assert_close(&format!("{what} gradient"), &g.params, &floats(&case["grad"]), 1e-10);
    }
    // bench_pennylane.py's own printed lines: value and grad_head at 8..20 qubits.
    for line in f["bench_pennylane"].as_array().unwrap() {
        let n = line["qubits"].as_u64().unwrap() as usize;
        // θ is stored for the sizes the fixture lists in full (8 and 12 qubits).
        let Some(theta) = pennylane_theta(n, 4) else { continue };
        let mut c = Circuit::new(n);
        ansatz::hardware_efficient(&mut c, 4, "t").unwrap();
        let g = grad::adjoint(&c, &theta, &[], &sum_z(n), Wrt::PARAMS, &SimOptions::default()).unwrap();
        assert_close(&format!("bench n={n} value"), &[g.value], &[line["value"].as_f64().unwrap()], 1e-10);
        assert_close(&format!("bench n={n} grad_head"), &g.params[..3], &floats(&line["grad_head"]), 1e-10);
    }
}

/// The θ of bench_pennylane.py for n qubits, taken from the fixture entry with that size.
fn pennylane_theta(n: usize, layers: usize) -> Option<Vec<f64>> {
    let f = fixture("pennylane_reference.json");
    f["reference_ansatz"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["qubits"] == n && c["layers"] == layers)
        .map(|c| floats(&c["theta"]))
}

#[test]
fn parameter_shift_matches_pennylane_parameter_shift() {
    let f = fixture("pennylane_reference.json");
    let case = &f["parameter_shift"];
    let (n, layers) = (case["qubits"].as_u64().unwrap() as usize, case["layers"].as_u64().unwrap() as usize);
    let mut c = Circuit::new(n);
    ansatz::hardware_efficient(&mut c, layers, "t").unwrap();
    let theta = pennylane_theta(n, layers).expect("fixture theta");
    let g = grad::gradient(
        grad::GradientMethod::ParameterShift,
        &c,
        &theta,
        &[],
        &sum_z(n),
        Wrt::PARAMS,
        &SimOptions::default(),
    )
    .unwrap();
    assert_close("parameter shift", &g.params, &floats(&case["grad_parameter_shift"]), 1e-10);
}

#[test]
fn strongly_entangling_layers_match_pennylane() {
    let f = fixture("pennylane_reference.json");
    let case = &f["strongly_entangling"];
    let n = case["qubits"].as_u64().unwrap() as usize;
    let layers = case["layers"].as_u64().unwrap() as usize;
    let weights = floats(&case["weights"]);
    let mut c = Circuit::new(n);
    ansatz::strongly_entangling(&mut c, layers, "w").unwrap();
    for (key, obs) in [("z0", PauliSum::z(0).unwrap()), ("sum_z", sum_z(n))] {
        let g = grad::adjoint(&c, &weights, &[], &obs, Wrt::PARAMS, &SimOptions::default()).unwrap();
        assert_close(&format!("{key} value"), &[g.value], &[case[key]["value"].as_f64().unwrap()], 1e-10);
        assert_close(&format!("{key} gradient"), &g.params, &floats(&case[key]["grad"]), 1e-10);
    }
}

#[test]
fn zz_feature_map_matches_qiskit() {
    let f = fixture("pennylane_reference.json");
    let case = &f["zz_feature_map"];
    let n = case["qubits"].as_u64().unwrap() as usize;
    let reps = case["reps"].as_u64().unwrap() as usize;
    let x = floats(&case["x"]);
    let mut c = Circuit::new(n);
    encoders::zz_feature_map(&mut c, reps).unwrap();
    let state = Statevector::from_circuit(&c, &[], &x).unwrap();
    let (re, im) = (floats(&case["statevector_re"]), floats(&case["statevector_im"]));
    for (i, a) in state.amplitudes().iter().enumerate() {
        assert!(
            (a.re - re[i]).abs() < 1e-12 && (a.im - im[i]).abs() < 1e-12,
            "amplitude {i}: {a} vs {}+{}i",
            re[i],
            im[i]
        );
    }
}

/// The TorchQuantum model: encoder, then U3 + CU3 blocks with the fixture's weights (in circuit
/// order), read out as <Z_i>.
fn torchquantum_model(f: &Value) -> (Circuit, Vec<f64>, Vec<String>) {
    let mut c = Circuit::new(4);
    encoders::ryzxy_4x4(&mut c).unwrap();
    ansatz::u3_cu3(&mut c, f["blocks"].as_u64().unwrap() as usize, "w").unwrap();
    let order: Vec<String> =
        f["application_order"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
    let by_name = |name: &str| f["parameters"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap().clone();
    let weights: Vec<f64> = order.iter().flat_map(|name| floats(&by_name(name)["values"])).collect();
    (c, weights, order)
}

#[test]
fn torchquantum_model_logits_loss_and_gradients() {
    let f = fixture("torchquantum_reference.json");
    // The encoder is the one TorchQuantum lists.
    let mut enc = Circuit::new(4);
    encoders::ryzxy_4x4(&mut enc).unwrap();
    for (inst, want) in enc.instructions().iter().zip(f["encoder"].as_array().unwrap()) {
        let tinylab_quantum::circuit::Instruction::Gate(app) = inst else { panic!("gates only") };
        assert_eq!(app.gate.name(), want["gate"].as_str().unwrap());
        assert_eq!(app.qubits[0] as u64, want["wires"][0].as_u64().unwrap());
        assert!(
            matches!(app.angles[0], Angle::Input { index, .. } if index as u64 == want["input_idx"][0].as_u64().unwrap())
        );
    }
    let (c, weights, order) = torchquantum_model(&f);
    let x: Vec<f64> = f["x"].as_array().unwrap().iter().flat_map(floats).collect();
    let y: Vec<usize> = f["y"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let batch = y.len();
    let readout: Vec<PauliSum> = (0..4).map(|q| PauliSum::z(q).unwrap()).collect();
    let logits = batch_expectations(&c, &weights, &x, &readout, &SimOptions::default()).unwrap();
    let want_logits: Vec<f64> = f["logits"].as_array().unwrap().iter().flat_map(floats).collect();
    assert_close("logits", &logits, &want_logits, 1e-10);
    // Mean NLL of log-softmax, and its gradient with respect to the logits.
    let mut loss = 0.0;
    let mut cotangent = vec![0.0; logits.len()];
    for b in 0..batch {
        let row = &logits[4 * b..4 * b + 4];
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = row.iter().map(|v| (v - max).exp()).sum();
        loss -= (row[y[b]] - max - z.ln()) / batch as f64;
        for k in 0..4 {
            let p = (row[k] - max).exp() / z;
            cotangent[4 * b + k] = (p - if k == y[b] { 1.0 } else { 0.0 }) / batch as f64;
        }
    }
    assert_close("loss", &[loss], &[f["loss"].as_f64().unwrap()], 1e-10);
    let g = batch_vjp(&c, &weights, &x, &readout, &cotangent, Wrt::PARAMS, &SimOptions::default()).unwrap();
    let params = f["parameters"].as_array().unwrap();
    for (k, name) in order.iter().enumerate() {
        let want = floats(&params.iter().find(|p| p["name"] == name.as_str()).unwrap()["grad"]);
        assert_close(&format!("gradient of {name}"), &g.params[3 * k..3 * k + 3], &want, 1e-10);
    }
}

#[test]
fn amplitude_encoding_prepares_the_normalised_vector() {
    let x = [0.3, -1.2, 0.0, 2.5, -0.7, 0.1, 1.9];
    let want = encoders::amplitude_state(&x, 3).unwrap();
    let c = encoders::amplitude_circuit(&x, 3).unwrap();
    let state = Statevector::from_circuit(&c, &[], &[]).unwrap();
    for (a, b) in state.amplitudes().iter().zip(&want) {
        assert!((a - b).norm() < 1e-12, "{a} vs {b}");
    }
    assert!(encoders::amplitude_state(&[0.0; 4], 2).is_err());
    assert!(encoders::amplitude_state(&[1.0; 5], 2).is_err());
}
