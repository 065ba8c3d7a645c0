//! Trainable circuit templates (also reachable as `qml::ansatz`). Each appends its gates and
//! registers its parameters, named `"{prefix}{k}"` in the order the peer systems store their
//! weights, so weights carry over.

use crate::circuit::Circuit;
use crate::error::Result;
use crate::qml::encoders::Rotation;

fn new_params(circuit: &mut Circuit, prefix: &str, count: usize) -> Result<Vec<crate::circuit::Angle>> {
    let start = circuit.n_params();
    (0..count).map(|k| circuit.param(&format!("{prefix}{}", start + k))).collect()
}

/// The hardware-efficient ansatz of `../shared/peers/bench_pennylane.py`: per layer, `RY(θ)` on every
/// qubit, then `RZ(θ)` on every qubit, then `CX(i, i+1)` for `i = 0..n-2`. `2 n` parameters per layer,
/// in gate order.
pub fn hardware_efficient(circuit: &mut Circuit, layers: usize, prefix: &str) -> Result<()> {
    let n = circuit.n_qubits();
    for _ in 0..layers {
        let theta = new_params(circuit, prefix, 2 * n)?;
        for (q, &angle) in theta[..n].iter().enumerate() {
            circuit.ry(angle, q)?;
        }
        for (q, &angle) in theta[n..].iter().enumerate() {
            circuit.rz(angle, q)?;
        }
        for q in 0..n.saturating_sub(1) {
            circuit.cx(q, q + 1)?;
        }
    }
    Ok(())
}

/// TorchQuantum's trainable block of its MNIST examples, `blocks` times: `U3(θ, φ, λ)` on every qubit,
/// then `CU3(θ, φ, λ)` on the ring `(0,1), (1,2), ..., (n-1,0)` (control first). Parameters: the three
/// angles of each gate in gate order (`6 n` per block).
pub fn u3_cu3(circuit: &mut Circuit, blocks: usize, prefix: &str) -> Result<()> {
    let n = circuit.n_qubits();
    for _ in 0..blocks {
        for q in 0..n {
            let a = new_params(circuit, prefix, 3)?;
            circuit.u3(a[0], a[1], a[2], q)?;
        }
        let pairs: Vec<(usize, usize)> = if n > 1 { (0..n).map(|q| (q, (q + 1) % n)).collect() } else { Vec::new() };
        for (c, t) in pairs {
            let a = new_params(circuit, prefix, 3)?;
            circuit.cu3(a[0], a[1], a[2], c, t)?;
        }
    }
    Ok(())
}

/// PennyLane's `StronglyEntanglingLayers` (Schuld et al., Phys. Rev. A 101, 032308 (2020)): in layer
/// `l`, `Rot(φ, θ, ω) = RZ(ω) RY(θ) RZ(φ)` on every qubit, then `CX(i, (i + r) mod n)` for every
/// qubit `i`, with range `r = (l mod (n-1)) + 1` (no entanglers on one qubit). Parameters in the
/// C order of PennyLane's weights `(layers, n, 3)`: `φ, θ, ω` of qubit 0, then qubit 1, ...
pub fn strongly_entangling(circuit: &mut Circuit, layers: usize, prefix: &str) -> Result<()> {
    let n = circuit.n_qubits();
    for l in 0..layers {
        for q in 0..n {
            let a = new_params(circuit, prefix, 3)?;
            circuit.rz(a[0], q)?.ry(a[1], q)?.rz(a[2], q)?;
        }
        if n > 1 {
            let r = l % (n - 1) + 1;
            for q in 0..n {
                circuit.cx(q, (q + r) % n)?;
            }
        }
    }
    Ok(())
}

/// The random circuits of McClean et al., "Barren plateaus in quantum neural network training
/// landscapes", Nat. Commun. 9, 4812 (2018): `RY(π/4)` on every qubit, then `layers` of one trainable
/// rotation per qubit about the axis `axes[l n + q]` (drawn at random by the caller), each layer
/// followed by `CZ(q, q+1)` for `q = 0..n-2`. One parameter per rotation, in layer-then-qubit order.
/// Errors when `axes` does not have `layers · n` entries.
pub fn random_rotation_layers(circuit: &mut Circuit, layers: usize, axes: &[Rotation], prefix: &str) -> Result<()> {
    let n = circuit.n_qubits();
    if axes.len() != layers * n {
        return Err(crate::error::QuantumError::SizeMismatch {
            what: "rotation axes of the random layers".into(),
            expected: layers * n,
            got: axes.len(),
        });
    }
    for q in 0..n {
        circuit.ry(std::f64::consts::FRAC_PI_4, q)?;
    }
    for l in 0..layers {
        let theta = new_params(circuit, prefix, n)?;
        for (q, &angle) in theta.iter().enumerate() {
            match axes[l * n + q] {
                Rotation::X => circuit.rx(angle, q)?,
                Rotation::Y => circuit.ry(angle, q)?,
                Rotation::Z => circuit.rz(angle, q)?,
            };
        }
        for q in 0..n.saturating_sub(1) {
            circuit.cz(q, q + 1)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_layers_have_one_parameter_per_rotation_and_check_the_axes() {
        let mut c = Circuit::new(3);
        let axes = [Rotation::X, Rotation::Y, Rotation::Z, Rotation::X, Rotation::Y, Rotation::Z];
        random_rotation_layers(&mut c, 2, &axes, "t").unwrap();
        assert_eq!(c.n_params(), 6);
        assert_eq!(c.stats().two_qubit_gates, 4);
        assert!(random_rotation_layers(&mut Circuit::new(3), 2, &axes[..5], "t").is_err());
    }
}
