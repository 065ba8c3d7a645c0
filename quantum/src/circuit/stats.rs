//! Gate counts and depth of a circuit: the budget QuantumNAS constrains (Wang et al., HPCA 2022) and
//! what the experiments report for compiled circuits.

use super::{Circuit, Instruction};

/// Gate counts and depth of a circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct CircuitStats {
    /// Gates on one qubit.
    pub one_qubit_gates: usize,
    /// Gates on two or more qubits.
    pub two_qubit_gates: usize,
    /// Longest chain of gates that share qubits (barriers and measurements not counted).
    pub depth: usize,
}

impl CircuitStats {
    /// The counts of `circuit`.
    pub fn of(circuit: &Circuit) -> Self {
        let mut level = vec![0usize; circuit.n_qubits()];
        let mut stats = CircuitStats::default();
        for inst in circuit.instructions() {
            let Instruction::Gate(app) = inst else { continue };
            if app.qubits.len() == 1 {
                stats.one_qubit_gates += 1;
            } else {
                stats.two_qubit_gates += 1;
            }
            let next = app.qubits.iter().map(|&q| level[q]).max().unwrap_or(0) + 1;
            for &q in &app.qubits {
                level[q] = next;
            }
            stats.depth = stats.depth.max(next);
        }
        stats
    }

    /// All gates.
    pub fn gates(&self) -> usize {
        self.one_qubit_gates + self.two_qubit_gates
    }
}

impl Circuit {
    /// Gate counts and depth of this circuit (see [`CircuitStats`]).
    pub fn stats(&self) -> CircuitStats {
        CircuitStats::of(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_count_gates_and_depth() {
        let mut c = Circuit::new(3);
        c.h(0).unwrap().h(1).unwrap().cx(0, 1).unwrap().x(2).unwrap().cx(1, 2).unwrap();
        c.barrier(&[0, 1, 2]).unwrap();
        assert_eq!(c.stats(), CircuitStats { one_qubit_gates: 3, two_qubit_gates: 2, depth: 3 });
        assert_eq!(c.stats().gates(), 5);
        assert_eq!(Circuit::new(2).stats(), CircuitStats::default());
    }
}
