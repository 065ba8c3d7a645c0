//! Helpers shared by the integration tests: random circuits, comparisons and statistics.
#![allow(dead_code)]

pub mod stats;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use std::f64::consts::PI;
use tinylab_quantum::{Angle, C64, Circuit, Gate, Matrix, StandardGate};

/// A seeded source of the random choices the circuit generator makes.
pub struct Dice(ChaCha8Rng);

impl Dice {
    pub fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }
    pub fn uniform(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn angle(&mut self) -> f64 {
        (2.0 * self.uniform() - 1.0) * PI
    }
    /// `k` distinct qubits out of `n`, in random order.
    pub fn qubits(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = i + self.below(n - i);
            all.swap(i, j);
        }
        all.truncate(k);
        all
    }
}

/// A random unitary on `k` qubits (1 or 2), made from random standard gates.
pub fn random_unitary(dice: &mut Dice, k: usize) -> Matrix {
    let mut c = Circuit::new(k);
    for _ in 0..6 {
        let q = dice.below(k);
        c.u3(dice.angle(), dice.angle(), dice.angle(), q).unwrap();
        if k == 2 {
            c.cx(q, 1 - q).unwrap();
        }
    }
    tinylab_quantum::statevector::unitary(&c, &[], &[]).unwrap()
}

/// A random circuit on `n` qubits with `depth` gates drawn from every standard gate that fits, plus
/// user unitaries and multi-controlled gates.
pub fn random_circuit(dice: &mut Dice, n: usize, depth: usize) -> Circuit {
    let mut c = Circuit::new(n);
    let gates: Vec<StandardGate> = StandardGate::ALL.iter().copied().filter(|g| g.n_qubits() <= n).collect();
    for _ in 0..depth {
        let pick = dice.below(gates.len() + 3);
        let (gate, k) = if pick < gates.len() {
            (Gate::Standard(gates[pick]), gates[pick].n_qubits())
        } else if pick == gates.len() {
            (Gate::unitary(random_unitary(dice, 1)).unwrap(), 1)
        } else if pick == gates.len() + 1 && n >= 2 {
            (Gate::unitary(random_unitary(dice, 2)).unwrap(), 2)
        } else {
            let controls = 1 + dice.below(n.max(2) - 1);
            if controls + 1 > n {
                (Gate::Standard(StandardGate::H), 1)
            } else {
                (Gate::controlled(Gate::Standard(StandardGate::U3), controls).unwrap(), controls + 1)
            }
        };
        let angles: Vec<Angle> = (0..gate.n_params()).map(|_| Angle::Const(dice.angle())).collect();
        let qubits = dice.qubits(n, k);
        c.append(gate, &qubits, &angles).unwrap();
    }
    c
}

/// Largest entry-wise distance between two amplitude vectors.
pub fn max_diff(a: &[C64], b: &[C64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).norm()).fold(0.0, f64::max)
}
