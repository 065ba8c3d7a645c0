//! MaxCut as an observable: `C = Σ_{(i,j)∈E} (1 − Z_i Z_j)/2`, diagonal in the computational basis
//! with the cut value of each partition on its diagonal (Farhi, Goldstone & Gutmann,
//! arXiv:1411.4028 (2014)).

use super::graph::Graph;
use crate::error::Result;
use crate::pauli::{Pauli, PauliString, PauliSum};

/// The MaxCut cost `C = (|E|/2) I − Σ_{(i,j)∈E} Z_i Z_j / 2` of `graph`, node `q` on qubit `q`:
/// `<z|C|z>` is [`Graph::cut_value`]`(z)`. Terms: the identity first, then one `Z Z` per edge in edge
/// order. A minimiser maximises the cut with [`PauliSum::scaled`]`(-1.0)`.
pub fn maxcut_hamiltonian(graph: &Graph) -> Result<PauliSum> {
    let mut terms = Vec::with_capacity(graph.edges().len() + 1);
    terms.push((graph.edges().len() as f64 / 2.0, PauliString::default()));
    for &(a, b) in graph.edges() {
        terms.push((-0.5, PauliString::new(&[(a, Pauli::Z), (b, Pauli::Z)])?));
    }
    Ok(PauliSum::new(terms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Circuit;
    use crate::Statevector;
    use crate::library::graph::random_regular_graph_seeded;

    #[test]
    fn the_expectation_on_every_basis_state_is_its_cut_value() {
        for (n, d, seed) in [(6, 3, 1), (8, 3, 2), (7, 4, 3)] {
            let g = random_regular_graph_seeded(n, d, seed).unwrap();
            let h = maxcut_hamiltonian(&g).unwrap();
            for z in 0..1u64 << n {
                let mut prep = Circuit::new(n);
                for q in (0..n).filter(|&q| z >> q & 1 == 1) {
                    prep.x(q).unwrap();
                }
                let e = h.expectation(&Statevector::from_circuit(&prep, &[], &[]).unwrap()).unwrap();
                // The cut counted directly from the edges, independent of Graph::cut_value.
                let cut = g.edges().iter().filter(|&&(a, b)| (z >> a) % 2 != (z >> b) % 2).count();
                assert!((e - cut as f64).abs() < 1e-12, "z = {z:b}: {e} vs {cut}");
                assert_eq!(g.cut_value(z), cut);
            }
        }
    }
}
