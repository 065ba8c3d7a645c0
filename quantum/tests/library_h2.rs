//! The chemistry circuits of `tinylab_quantum::library` on the STO-3G H2 Hamiltonians of
//! `quantum/data/h2_sto3g.json` (PennyLane qchem, Jordan-Wigner, labels in wire order): the
//! Hartree-Fock state reaches the file's Hartree-Fock energy only when the labels are read
//! qubit-0-first, and the one-parameter UCC double excitation reaches the exact ground energy.

use serde_json::Value;
use tinylab_quantum::library::{double_excitation, hartree_fock};
use tinylab_quantum::pauli::{LabelOrder, PauliSum};
use tinylab_quantum::{Circuit, Statevector};

/// Every bond of the file: `(bond length, Hamiltonian read in `order`, HF energy, ground energy, occupied orbitals)`.
fn bonds(order: LabelOrder) -> Vec<(f64, PauliSum, f64, f64, Vec<usize>)> {
    let file: Value = serde_json::from_str(include_str!("../data/h2_sto3g.json")).unwrap();
    file["bonds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let terms: Vec<(f64, String)> = b["terms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| (t[0].as_f64().unwrap(), t[1].as_str().unwrap().to_string()))
                .collect();
            let labelled: Vec<(f64, &str)> = terms.iter().map(|(w, l)| (*w, l.as_str())).collect();
            let occupied = b["hf_occupation"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .filter(|(_, o)| o.as_u64() == Some(1))
                .map(|(q, _)| q)
                .collect();
            (
                b["bond_angstrom"].as_f64().unwrap(),
                PauliSum::from_labels_ordered(&labelled, order).unwrap(),
                b["hf_energy"].as_f64().unwrap(),
                b["ground_energy"].as_f64().unwrap(),
                occupied,
            )
        })
        .collect()
}

fn energy(h: &PauliSum, c: &Circuit, params: &[f64]) -> f64 {
    h.expectation(&Statevector::from_circuit(c, params, &[]).unwrap()).unwrap()
}

#[test]
fn hartree_fock_energy_matches_the_file_in_wire_order_only() {
    let first = bonds(LabelOrder::Qubit0First);
    assert!(first.len() > 40);
    for (r, h, hf, _, occupied) in &first {
        assert_eq!(occupied, &vec![0, 1]);
        let e = energy(h, &hartree_fock(4, occupied).unwrap(), &[]);
        assert!((e - hf).abs() < 1e-10, "{r} Å: {e} vs {hf}");
    }
    // Read in Qiskit's order the same labels put the electrons on the wrong orbitals.
    let (r, h, hf, _, occupied) = &bonds(LabelOrder::Qubit0Last)[10];
    let e = energy(h, &hartree_fock(4, occupied).unwrap(), &[]);
    assert!((e - hf).abs() > 1e-3, "{r} Å: {e} vs {hf}");
}

#[test]
fn ucc_double_excitation_reaches_the_ground_energy() {
    for (r, h, _, ground, occupied) in bonds(LabelOrder::Qubit0First).iter().step_by(7) {
        let mut c = hartree_fock(4, occupied).unwrap();
        let theta = c.param("theta").unwrap();
        double_excitation(&mut c, [0, 1], [2, 3], theta).unwrap();
        // E(θ) = a + b cos 2θ + c sin 2θ: scan, then golden-section search around the best point.
        let step = std::f64::consts::PI / 200.0;
        let best = (0..200)
            .map(|k| k as f64 * step - std::f64::consts::FRAC_PI_2)
            .min_by(|a, b| energy(h, &c, &[*a]).total_cmp(&energy(h, &c, &[*b])));
        let (mut lo, mut hi) = (best.unwrap() - step, best.unwrap() + step);
        let g = (5f64.sqrt() - 1.0) / 2.0;
        for _ in 0..100 {
            let (x1, x2) = (hi - g * (hi - lo), lo + g * (hi - lo));
            if energy(h, &c, &[x1]) < energy(h, &c, &[x2]) { hi = x2 } else { lo = x1 }
        }
        let e = energy(h, &c, &[(lo + hi) / 2.0]);
        assert!((e - ground).abs() < 1e-9, "{r} Å: {e} vs {ground}");
    }
}
