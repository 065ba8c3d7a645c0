//! A trained QML model moved onto a device gives the same expectation values as the logical circuit
//! when the noise is switched off, and noisy passes are exact / unbiased estimates.

use tinylab_noise::DeviceProfile;
use tinylab_noise::qml::DeviceModel;
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::qml::{ansatz, encoders};
use tinylab_quantum::{Circuit, Statevector};

fn model() -> (Circuit, Vec<f64>, Vec<PauliSum>) {
    let mut c = Circuit::new(4);
    encoders::ryzxy_4x4(&mut c).unwrap();
    ansatz::u3_cu3(&mut c, 2, "w").unwrap();
    let weights: Vec<f64> = (0..c.n_params()).map(|k| ((k * 37 % 23) as f64 - 11.0) * 0.27).collect();
    let readout = (0..4).map(|q| PauliSum::z(q).unwrap()).collect();
    (c, weights, readout)
}

#[test]
fn transpiled_model_matches_the_logical_circuit_without_noise() {
    let (c, w, readout) = model();
    let profile = DeviceProfile::builtin("manila").unwrap();
    let device = DeviceModel::new(&c, &w, &readout, &profile, None).unwrap();
    for s in 0..5 {
        let x: Vec<f64> = (0..16).map(|k| ((k * 7 + s * 3) % 11) as f64 * 0.29).collect();
        let logical = Statevector::from_circuit(&c, &w, &x).unwrap();
        let physical = Statevector::from_circuit(device.circuit(), &[], &x).unwrap();
        for o in &readout {
            let want = o.expectation(&logical).unwrap();
            let moved = o.relabel(device.final_layout()).unwrap();
            let got = moved.expectation(&physical).unwrap();
            assert!((want - got).abs() < 1e-10, "sample {s}: logical {want} vs device {got}");
        }
    }
}
