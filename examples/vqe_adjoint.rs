//! VQE for the H2 molecule (STO-3G, 4 qubits, bond 0.735 Å) with adjoint gradients: a Hartree-Fock
//! start and the UCCSD excitations (one double, two spin-preserving singles), optimised by Adam on
//! the plain parameter vector. The adjoint gradient (one forward and one backward sweep) is checked
//! against parameter shift first.
//!
//! `cargo run --release --example vqe_adjoint`

use tinylab_classical::optim::{Adam, VectorOptimizer};
use tinylab_quantum::grad::{StatevectorEstimator, Wrt, adjoint, parameter_shift};
use tinylab_quantum::library::{double_excitation, hartree_fock, single_excitation};
use tinylab_quantum::pauli::{LabelOrder, PauliSum};
use tinylab_quantum::statevector::SimOptions;

/// The Hamiltonian and exact ground energy at `bond` Å from the bundled PennyLane qchem data (labels
/// in wire order, qubit 0 first).
fn h2(bond: f64) -> Result<(PauliSum, f64), Box<dyn std::error::Error>> {
    let file: serde_json::Value = serde_json::from_str(include_str!("../quantum/data/h2_sto3g.json"))?;
    let b = file["bonds"]
        .as_array()
        .and_then(|bs| bs.iter().find(|b| (b["bond_angstrom"].as_f64().unwrap_or(0.0) - bond).abs() < 1e-6))
        .ok_or("bond length not in the data")?;
    let terms: Vec<(f64, String)> = b["terms"]
        .as_array()
        .ok_or("no terms")?
        .iter()
        .map(|t| (t[0].as_f64().unwrap_or(0.0), t[1].as_str().unwrap_or("").to_string()))
        .collect();
    let labels: Vec<(f64, &str)> = terms.iter().map(|(w, l)| (*w, l.as_str())).collect();
    Ok((
        PauliSum::from_labels_ordered(&labels, LabelOrder::Qubit0First)?,
        b["ground_energy"].as_f64().ok_or("no energy")?,
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (hamiltonian, exact) = h2(0.735)?;
    let mut circuit = hartree_fock(4, &[0, 1])?; // two electrons in the lowest spin orbitals
    let theta = circuit.param("double")?;
    double_excitation(&mut circuit, [0, 1], [2, 3], theta)?;
    for (from, to) in [(0, 2), (1, 3)] {
        let phi = circuit.param(&format!("single_{from}_{to}"))?;
        single_excitation(&mut circuit, from, to, phi)?;
    }
    let n = circuit.n_params();
    let opts = SimOptions::default();

    // Adjoint = parameter shift at a random point.
    let point: Vec<f64> = (0..n).map(|k| 0.1 * (k as f64 + 1.0).sin()).collect();
    let a = adjoint(&circuit, &point, &[], &hamiltonian, Wrt::PARAMS, &opts)?;
    let s =
        parameter_shift(&StatevectorEstimator { options: opts }, &circuit, &point, &[], &hamiltonian, Wrt::PARAMS, 0)?;
    let worst = a.params.iter().zip(&s.params).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    println!("{n} parameters; adjoint vs parameter shift: max difference {worst:.2e}");
    assert!(worst < 1e-10);

    // Adam on the f64 parameters, from the Hartree-Fock point (all angles zero, E = E_HF).
    let mut params = vec![0.0; n];
    let mut adam = Adam::new(0.0);
    let mut energy = f64::INFINITY;
    for step in 0..200 {
        let g = adjoint(&circuit, &params, &[], &hamiltonian, Wrt::PARAMS, &opts)?;
        energy = g.value;
        if step % 40 == 0 {
            println!("step {step:>3}: E = {energy:.8} Ha");
        }
        adam.step_vector("vqe", &mut params, &g.params, 0.05)?;
    }
    println!("E = {energy:.8} Ha, exact {exact:.8} Ha, error {:.1e} Ha (chemical accuracy: 1.6e-3)", energy - exact);
    assert!(energy - exact < 1.6e-3);
    Ok(())
}
