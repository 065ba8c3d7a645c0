//! `vqe_h2`: the variational quantum eigensolver (Peruzzo et al., Nat. Commun. 5, 4213 (2014)) for
//! the ground-state energy of H2 in the STO-3G basis over a scan of bond lengths.
//!
//! The 4-qubit Jordan-Wigner Hamiltonians come from `quantum/data/h2_sto3g.json` (made with
//! PennyLane's differentiable Hartree-Fock, with exact and Hartree-Fock energies from the dense
//! matrix). Each is checked on load: `<HF|H|HF>` in the simulator must equal the file's Hartree-Fock
//! energy, which pins down the qubit order of the labels.
//!
//! Two ansätze, both optimised with exact adjoint gradients and Adam:
//! - **UCC double excitation**: the Hartree-Fock state (X on the occupied spin orbitals 0 and 1), then
//!   `exp(θ (a†_2 a†_3 a_1 a_0 − h.c.))`, which under Jordan-Wigner is the product of eight commuting
//!   Pauli-string rotations with weights `±1/8`; one parameter, started at `θ = 0` (the Hartree-Fock
//!   energy). For H2 in a minimal basis it spans the exact ground state.
//! - **hardware-efficient** (`RY`, `RZ` on every qubit and a CNOT chain per layer, three layers) after
//!   the Hartree-Fock state, best of three starts from seeded random angles in `[−π, π)`: a comparison
//!   without chemistry built in (from small angles it often stalls in a local minimum).
//!
//! Reports the energies and errors per bond length, the error at 0.735 Å against chemical accuracy
//! (1.6 mHa), the dissociation curve and the error curve.

use super::variational::{Descent, Minimum, adjoint_objective, minimise};
use super::{Experiment, ExperimentError, Metrics, RunContext};
use crate::plot::{LineChart, Series};
use serde::Deserialize;
use serde_json::json;
use std::time::Instant;
use tinylab_classical::tensor::{rng, uniform};
use tinylab_quantum::library::templates::hardware_efficient;
use tinylab_quantum::library::{double_excitation, hartree_fock};
use tinylab_quantum::pauli::{LabelOrder, PauliSum};
use tinylab_quantum::statevector::Parallelism;
use tinylab_quantum::{Circuit, Statevector};

/// The H2 Hamiltonians (copy of `quantum/tests/fixtures/qml/h2_hamiltonians.json`; its generator is
/// `gen_h2.py` beside the original).
const H2_DATA: &str = include_str!("../../quantum/data/h2_sto3g.json");
/// Where the data comes from, for the configuration.
const H2_SOURCE: &str = "quantum/data/h2_sto3g.json (PennyLane qchem, STO-3G, Jordan-Wigner, 4 qubits)";
/// Qubits (spin orbitals) of the STO-3G H2 Hamiltonians.
const H2_QUBITS: usize = 4;
/// Chemical accuracy, 1 kcal/mol in Hartree (rounded as usual).
const CHEMICAL_ACCURACY: f64 = 1.6e-3;
/// The bond length near equilibrium whose error is the headline number.
const EQUILIBRIUM: f64 = 0.735;
/// The bond lengths of `--quick` (Å); the full run takes every bond length of the file.
const QUICK_BONDS: [f64; 5] = [0.5, 0.735, 1.0, 1.5, 2.5];
/// The largest tolerated difference between the simulated `<HF|H|HF>` and the file's value.
const HF_CHECK_TOLERANCE: f64 = 1e-9;
/// Layers of the hardware-efficient ansatz (`2 n` parameters each).
const HEA_LAYERS: usize = 3;
/// Half-width of the uniform range of the hardware-efficient initial angles.
const HEA_INIT_SCALE: f64 = std::f64::consts::PI;
/// Seeded random starts of the hardware-efficient ansatz per bond length (the best is kept).
const HEA_STARTS: usize = 3;
/// Optimiser settings of the one-parameter UCC ansatz.
const UCC_DESCENT: Descent = Descent { lr: 0.05, max_steps: 3000, grad_tol: 1e-9 };
/// Optimiser settings of the hardware-efficient ansatz.
const HEA_DESCENT: Descent = Descent { lr: 0.05, max_steps: 2000, grad_tol: 1e-7 };
/// Floor of the errors on the log-scale chart (errors at round-off level, or a hair below the exact
/// value, are drawn there).
const ERROR_FLOOR: f64 = 1e-15;

/// The `vqe_h2` experiment (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct VqeH2;

/// The file's layout (fields not listed are ignored).
#[derive(Debug, Deserialize)]
struct H2File {
    qubits: usize,
    bonds: Vec<BondRecord>,
}

/// One bond length of the file.
#[derive(Debug, Deserialize)]
struct BondRecord {
    bond_angstrom: f64,
    /// `[coefficient, label]`, character `i` of the label acting on qubit `i`.
    terms: Vec<(f64, String)>,
    ground_energy: f64,
    hf_energy: f64,
    hf_occupation: Vec<u8>,
}

/// A bond length ready to simulate.
struct Bond {
    angstrom: f64,
    hamiltonian: PauliSum,
    exact: f64,
    hf: f64,
    occupied: Vec<usize>,
}

/// What the two ansätze reached at one bond length.
struct BondResult {
    angstrom: f64,
    exact: f64,
    hf: f64,
    hf_check_error: f64,
    ucc: Minimum,
    hea: Minimum,
}

impl Experiment for VqeH2 {
    fn name(&self) -> &'static str {
        "vqe_h2"
    }

    fn description(&self) -> &'static str {
        "VQE for the H2 ground state (STO-3G, 4 qubits) over bond lengths: UCC double excitation and a \
         hardware-efficient ansatz with adjoint gradients and Adam, against exact and Hartree-Fock energies"
    }

    fn run(&self, ctx: &mut RunContext) -> Result<Metrics, ExperimentError> {
        let all = load(H2_DATA)?;
        let bonds: Vec<&Bond> = if ctx.quick {
            QUICK_BONDS
                .iter()
                .map(|&r| {
                    all.iter()
                        .find(|b| (b.angstrom - r).abs() < 1e-9)
                        .ok_or_else(|| ExperimentError::other(format!("vqe_h2: bond length {r} Å is not in the data")))
                })
                .collect::<Result<_, _>>()?
        } else {
            all.iter().collect()
        };
        ctx.set_config("data", H2_SOURCE);
        ctx.set_config("bond_lengths_angstrom", bonds.iter().map(|b| b.angstrom).collect::<Vec<_>>());
        ctx.set_config("ucc_ansatz", "HF reference, exp(θ(a†2 a†3 a1 a0 − h.c.)) as 8 Pauli rotations; θ0 = 0");
        ctx.set_config(
            "hea_ansatz",
            json!({"layers": HEA_LAYERS, "layer": "RY all, RZ all, CNOT chain", "reference": "HF",
                   "init": "uniform in [-pi, pi), seeded", "starts": HEA_STARTS}),
        );
        ctx.set_config("optimizer", "adam (beta1 0.9, beta2 0.999), exact adjoint gradients");
        ctx.set_config("ucc_descent", descent_json(&UCC_DESCENT));
        ctx.set_config("hea_descent", descent_json(&HEA_DESCENT));
        ctx.set_config("chemical_accuracy_ha", CHEMICAL_ACCURACY);

        let start = Instant::now();
        let mut draws = rng(ctx.seed);
        let mut results = Vec::with_capacity(bonds.len());
        for bond in &bonds {
            let hea_inits: Vec<Vec<f64>> = (0..HEA_STARTS)
                .map(|_| {
                    (0..HEA_LAYERS * 2 * H2_QUBITS)
                        .map(|_| HEA_INIT_SCALE * (2.0 * uniform(&mut draws) - 1.0))
                        .collect()
                })
                .collect();
            results.push(solve(bond, &hea_inits)?);
        }
        let solve_seconds = start.elapsed().as_secs_f64();

        let mut metrics = record(&results)?;
        metrics.insert_timing("optimisation_seconds", solve_seconds);
        plot(ctx, &results)?;
        let at = results.iter().find(|r| (r.angstrom - EQUILIBRIUM).abs() < 1e-9);
        if let Some(r) = at {
            ctx.note(format!(
                "At {EQUILIBRIUM} Å the UCC ansatz reaches {:.10} Ha against the exact {:.10} Ha (error \
                 {:.2e} Ha, chemical accuracy is {CHEMICAL_ACCURACY:.1e} Ha) after {} gradient evaluations; \
                 Hartree-Fock misses {:.2e} Ha of correlation energy. The hardware-efficient ansatz \
                 ({HEA_LAYERS} layers, {} parameters, best of {HEA_STARTS} starts) ends {:.2e} Ha from the exact \
                 energy.",
                r.ucc.value,
                r.exact,
                r.ucc.value - r.exact,
                r.ucc.evaluations,
                r.hf - r.exact,
                r.hea.params.len(),
                r.hea.value - r.exact,
            ));
        }
        ctx.note(
            "Energies include nuclear repulsion (inside the identity term). Every Hamiltonian is checked on \
             load: the simulated <HF|H|HF> equals the file's Hartree-Fock energy (`max_hf_check_error`), \
             which confirms that character i of a label acts on qubit i. The error chart draws |E − E_exact| \
             with a floor of 1e-15 Ha.",
        );
        Ok(metrics)
    }
}

fn descent_json(d: &Descent) -> serde_json::Value {
    json!({"lr": d.lr, "max_steps": d.max_steps, "grad_tol": d.grad_tol})
}

/// Parses the data file and turns every bond length into a [`Bond`].
fn load(text: &str) -> Result<Vec<Bond>, ExperimentError> {
    let file: H2File = serde_json::from_str(text).map_err(|e| ExperimentError::other(format!("h2 data: {e}")))?;
    if file.qubits != H2_QUBITS {
        return Err(ExperimentError::other(format!("h2 data: {} qubits, expected {H2_QUBITS}", file.qubits)));
    }
    file.bonds
        .iter()
        .map(|record| {
            if record.hf_occupation.len() != file.qubits {
                return Err(ExperimentError::other(format!(
                    "h2 data at {} Å: hf_occupation has {} entries for {} qubits",
                    record.bond_angstrom,
                    record.hf_occupation.len(),
                    file.qubits
                )));
            }
            Ok(Bond {
                angstrom: record.bond_angstrom,
                hamiltonian: hamiltonian(&record.terms, file.qubits)?,
                exact: record.ground_energy,
                hf: record.hf_energy,
                occupied: (0..file.qubits).filter(|&q| record.hf_occupation[q] == 1).collect(),
            })
        })
        .collect()
}

/// The observable of `[coefficient, label]` terms whose label character `i` acts on qubit `i` (the
/// file's PennyLane wire order, [`LabelOrder::Qubit0First`]); every label must name all the qubits.
fn hamiltonian(terms: &[(f64, String)], n_qubits: usize) -> Result<PauliSum, ExperimentError> {
    if let Some((_, label)) = terms.iter().find(|(_, l)| l.chars().count() != n_qubits) {
        return Err(ExperimentError::other(format!("h2 data: label `{label}` is not {n_qubits} characters long")));
    }
    let labelled: Vec<(f64, &str)> = terms.iter().map(|(w, l)| (*w, l.as_str())).collect();
    Ok(PauliSum::from_labels_ordered(&labelled, LabelOrder::Qubit0First)?)
}

/// The UCC double-excitation ansatz on 4 qubits from the Hartree-Fock state with spin orbitals 0 and 1
/// occupied: `cos θ |HF> + sin θ |orbitals 2, 3 occupied>`. One parameter, `theta`.
fn ucc_double(occupied: &[usize]) -> Result<Circuit, ExperimentError> {
    if occupied != [0, 1] {
        return Err(ExperimentError::other(format!(
            "vqe_h2: the UCC ansatz is written for 4 spin orbitals with 0 and 1 occupied, not {occupied:?}"
        )));
    }
    let mut c = hartree_fock(H2_QUBITS, occupied)?;
    let theta = c.param("theta")?;
    double_excitation(&mut c, [0, 1], [2, 3], theta)?;
    Ok(c)
}

/// The hardware-efficient ansatz after the Hartree-Fock state.
fn hardware_efficient_from_hf(n: usize, occupied: &[usize]) -> Result<Circuit, ExperimentError> {
    let mut c = hartree_fock(n, occupied)?;
    hardware_efficient(&mut c, HEA_LAYERS, "t")?;
    Ok(c)
}

/// Checks the Hartree-Fock energy and runs both ansätze at one bond length (the hardware-efficient one
/// from each of `hea_inits`, keeping the lowest energy; its `evaluations` count every start).
fn solve(bond: &Bond, hea_inits: &[Vec<f64>]) -> Result<BondResult, ExperimentError> {
    let n = H2_QUBITS;
    let hf_state = Statevector::from_circuit(&hartree_fock(n, &bond.occupied)?, &[], &[])?;
    let hf_check_error = (bond.hamiltonian.expectation(&hf_state)? - bond.hf).abs();
    if hf_check_error > HF_CHECK_TOLERANCE {
        return Err(ExperimentError::other(format!(
            "vqe_h2 at {} Å: simulated <HF|H|HF> differs from the data's Hartree-Fock energy by {hf_check_error:.3e} \
             (qubit order of the labels?)",
            bond.angstrom
        )));
    }
    let h = &bond.hamiltonian;
    let ucc_circuit = ucc_double(&bond.occupied)?;
    let ucc = minimise(adjoint_objective(&ucc_circuit, h, Parallelism::Sequential), vec![0.0], &UCC_DESCENT)?;
    let hea_circuit = hardware_efficient_from_hf(n, &bond.occupied)?;
    let mut hea: Option<Minimum> = None;
    let mut evaluations = 0;
    for init in hea_inits {
        if init.len() != hea_circuit.n_params() {
            return Err(ExperimentError::other("vqe_h2: hardware-efficient initial angles of the wrong length"));
        }
        let run = minimise(adjoint_objective(&hea_circuit, h, Parallelism::Sequential), init.clone(), &HEA_DESCENT)?;
        evaluations += run.evaluations;
        if hea.as_ref().is_none_or(|best| run.value < best.value) {
            hea = Some(run);
        }
    }
    let mut hea = hea.ok_or_else(|| ExperimentError::other("vqe_h2: no hardware-efficient starts"))?;
    hea.evaluations = evaluations;
    Ok(BondResult { angstrom: bond.angstrom, exact: bond.exact, hf: bond.hf, hf_check_error, ucc, hea })
}

/// The metrics of the scan.
fn record(results: &[BondResult]) -> Result<Metrics, ExperimentError> {
    let max_abs = |f: &dyn Fn(&BondResult) -> f64| results.iter().map(|r| f(r).abs()).fold(0.0, f64::max);
    let ucc_error = |r: &BondResult| r.ucc.value - r.exact;
    let hea_error = |r: &BondResult| r.hea.value - r.exact;
    let lowest = results
        .iter()
        .min_by(|a, b| a.ucc.value.total_cmp(&b.ucc.value))
        .ok_or_else(|| ExperimentError::other("vqe_h2: no bond lengths"))?;
    let mut metrics = Metrics::new();
    metrics
        .insert("n_bonds", results.len())
        .insert("ucc_max_abs_error", max_abs(&ucc_error))
        .insert("hea_max_abs_error", max_abs(&hea_error))
        .insert("max_hf_check_error", results.iter().map(|r| r.hf_check_error).fold(0.0, f64::max))
        .insert("ucc_all_within_chemical_accuracy", results.iter().all(|r| ucc_error(r).abs() < CHEMICAL_ACCURACY))
        .insert(
            "hea_bonds_within_chemical_accuracy",
            results.iter().filter(|r| hea_error(r).abs() < CHEMICAL_ACCURACY).count(),
        )
        .insert("ucc_all_converged", results.iter().all(|r| r.ucc.converged))
        .insert("ucc_min_energy_bond_angstrom", lowest.angstrom)
        .insert(
            "bonds",
            results
                .iter()
                .map(|r| {
                    json!({
                        "bond_angstrom": r.angstrom,
                        "exact_energy": r.exact,
                        "hf_energy": r.hf,
                        "ucc_energy": r.ucc.value,
                        "ucc_error": ucc_error(r),
                        "ucc_theta": r.ucc.params[0],
                        "ucc_evaluations": r.ucc.evaluations,
                        "hea_energy": r.hea.value,
                        "hea_error": hea_error(r),
                        "hea_evaluations": r.hea.evaluations,
                    })
                })
                .collect::<Vec<_>>(),
        );
    if let Some(r) = results.iter().find(|r| (r.angstrom - EQUILIBRIUM).abs() < 1e-9) {
        metrics
            .insert("ucc_error_at_0735", ucc_error(r))
            .insert("ucc_energy_at_0735", r.ucc.value)
            .insert("ucc_theta_at_0735", r.ucc.params[0])
            .insert("exact_energy_at_0735", r.exact)
            .insert("hf_energy_at_0735", r.hf)
            .insert("hea_error_at_0735", hea_error(r))
            .insert("ucc_within_chemical_accuracy_at_0735", ucc_error(r).abs() < CHEMICAL_ACCURACY);
    }
    Ok(metrics)
}

/// The dissociation curve and the error curve.
fn plot(ctx: &mut RunContext, results: &[BondResult]) -> Result<(), ExperimentError> {
    let curve = |f: &dyn Fn(&BondResult) -> f64| results.iter().map(|r| (r.angstrom, f(r))).collect::<Vec<_>>();
    ctx.plot(
        "energy",
        &LineChart {
            title: "H2 (STO-3G): ground-state energy against bond length".into(),
            x_label: "bond length (Å)".into(),
            y_label: "energy (Ha)".into(),
            // The VQE points last, on top of the exact curve they cover; the hardware-efficient energies
            // (on the same curve) are in the error chart.
            series: vec![
                Series::new("Hartree-Fock", curve(&|r| r.hf)),
                Series::new("exact (FCI)", curve(&|r| r.exact)),
                Series::new("VQE, UCC double excitation", curve(&|r| r.ucc.value)),
            ],
            log_y: false,
            markers: true,
        },
    )?;
    let floored = |e: f64| e.abs().max(ERROR_FLOOR);
    ctx.plot(
        "error",
        &LineChart {
            title: "H2 (STO-3G): energy error against the exact ground state".into(),
            x_label: "bond length (Å)".into(),
            y_label: "|E − E_exact| (Ha)".into(),
            series: vec![
                Series::new("VQE, UCC double excitation", curve(&|r| floored(r.ucc.value - r.exact))),
                Series::new(
                    format!("VQE, hardware-efficient ({HEA_LAYERS} layers)"),
                    curve(&|r| floored(r.hea.value - r.exact)),
                ),
                Series::new("Hartree-Fock", curve(&|r| floored(r.hf - r.exact))),
                Series::new("chemical accuracy (1.6 mHa)", curve(&|_| CHEMICAL_ACCURACY)),
            ],
            log_y: true,
            markers: true,
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bond_loads_and_matches_its_hartree_fock_energy() {
        let bonds = load(H2_DATA).unwrap();
        assert!(bonds.len() > 40);
        for bond in &bonds {
            assert_eq!(bond.occupied, vec![0, 1]);
            let state = Statevector::from_circuit(&hartree_fock(4, &bond.occupied).unwrap(), &[], &[]).unwrap();
            let e = bond.hamiltonian.expectation(&state).unwrap();
            assert!((e - bond.hf).abs() < 1e-10, "{} Å: {e} vs {}", bond.angstrom, bond.hf);
        }
    }

    #[test]
    fn double_excitation_rotates_between_the_two_determinants() {
        let c = ucc_double(&[0, 1]).unwrap();
        for theta in [0.0, 0.3, -1.1, 2.0] {
            let amps = Statevector::from_circuit(&c, &[theta], &[]).unwrap().into_amplitudes();
            for (i, a) in amps.iter().enumerate() {
                let want = match i {
                    0b0011 => theta.cos(),
                    0b1100 => theta.sin(),
                    _ => 0.0,
                };
                assert!((a.re - want).abs() < 1e-12 && a.im.abs() < 1e-12, "θ {theta}, index {i}: {a}");
            }
        }
    }

    #[test]
    fn labels_read_qubit_zero_first_and_bad_labels_are_refused() {
        use tinylab_quantum::pauli::Pauli;
        let h = hamiltonian(&[(0.5, "ZIIX".to_string())], 4).unwrap();
        let (w, p) = h.terms()[0];
        assert_eq!((w, p.get(0), p.get(3)), (0.5, Pauli::Z, Pauli::X));
        assert!(hamiltonian(&[(1.0, "ZIX".to_string())], 4).is_err());
        assert!(hamiltonian(&[(1.0, "ZIIQ".to_string())], 4).is_err());
        assert!(ucc_double(&[0, 2]).is_err());
    }
}
