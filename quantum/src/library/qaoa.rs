//! The QAOA ansatz for MaxCut (Farhi, Goldstone & Gutmann, arXiv:1411.4028 (2014)) and the INTERP
//! initialisation of depth `p + 1` from the optimised angles of depth `p` (Zhou, Wang, Choi, Pichler
//! & Lukin, "Quantum approximate optimization algorithm: performance, mechanism, and implementation
//! on near-term devices", Phys. Rev. X 10, 021067 (2020), Appendix B).

use super::graph::Graph;
use crate::circuit::Circuit;
use crate::error::Result;

/// The depth-`p` QAOA circuit for MaxCut on `graph` (node `q` on qubit `q`): `H` on every qubit,
/// then per layer `l` the cost unitary `exp(−iγ_l C)` (an `RZZ(−γ_l)` per edge, equal up to a global
/// phase) and the mixer `exp(−iβ_l Σ X)` (an `RX(2β_l)` per qubit). Parameters `gamma0, beta0,
/// gamma1, beta1, ...` (see [`interleave`]).
pub fn qaoa_maxcut(graph: &Graph, p: usize) -> Result<Circuit> {
    let n = graph.n_nodes();
    let mut c = Circuit::new(n);
    for q in 0..n {
        c.h(q)?;
    }
    for l in 0..p {
        let gamma = c.param(&format!("gamma{l}"))?;
        let beta = c.param(&format!("beta{l}"))?;
        for &(a, b) in graph.edges() {
            c.rzz(gamma.scaled(-1.0), a, b)?;
        }
        for q in 0..n {
            c.rx(beta.scaled(2.0), q)?;
        }
    }
    Ok(c)
}

/// The INTERP rule for one angle sequence: `x'_i = (i/p) x_{i−1} + ((p − i)/p) x_i` for `i = 0..=p`
/// (0-based, `x_{−1} = x_p = 0`), from `p` angles to `p + 1`; empty for an empty input.
pub fn interp(previous: &[f64]) -> Vec<f64> {
    let p = previous.len();
    if p == 0 {
        return Vec::new();
    }
    let at = |i: usize| previous.get(i).copied().unwrap_or(0.0);
    (0..=p)
        .map(|i| {
            let before = if i == 0 { 0.0 } else { at(i - 1) };
            (i as f64 / p as f64) * before + ((p - i) as f64 / p as f64) * at(i)
        })
        .collect()
}

/// `gammas` and `betas` in the parameter order of [`qaoa_maxcut`]: `γ0, β0, γ1, β1, ...`.
pub fn interleave(gammas: &[f64], betas: &[f64]) -> Vec<f64> {
    gammas.iter().zip(betas).flat_map(|(&g, &b)| [g, b]).collect()
}

/// The parameters of [`qaoa_maxcut`] split into `(gammas, betas)` (the inverse of [`interleave`]).
pub fn split_angles(params: &[f64]) -> (Vec<f64>, Vec<f64>) {
    (params.iter().step_by(2).copied().collect(), params.iter().skip(1).step_by(2).copied().collect())
}

/// The INTERP starting point of depth `p + 1` from the parameters of depth `p` (both in
/// [`qaoa_maxcut`]'s order).
pub fn interp_params(previous: &[f64]) -> Vec<f64> {
    let (gammas, betas) = split_angles(previous);
    interleave(&interp(&gammas), &interp(&betas))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Statevector;
    use crate::library::{maxcut_hamiltonian, random_regular_graph_seeded};

    #[test]
    fn interp_extends_the_angles() {
        assert_eq!(interp(&[0.6]), vec![0.6, 0.6]);
        assert_eq!(interp(&[1.0, 2.0]), vec![1.0, 1.5, 2.0]);
        assert!(interp(&[]).is_empty());
        assert_eq!(interp_params(&[1.0, 0.1, 2.0, 0.2]), interleave(&[1.0, 1.5, 2.0], &interp(&[0.1, 0.2])));
        assert_eq!(split_angles(&interleave(&[1.0, 2.0], &[3.0, 4.0])), (vec![1.0, 2.0], vec![3.0, 4.0]));
    }

    #[test]
    fn expected_cut_of_the_ansatz_matches_the_probabilities() {
        let g = random_regular_graph_seeded(6, 3, 5).unwrap();
        let c = qaoa_maxcut(&g, 2).unwrap();
        assert_eq!(c.n_params(), 4);
        let h = maxcut_hamiltonian(&g).unwrap();
        let cuts = g.cut_values().unwrap();
        for params in [[0.4, 0.3, 0.7, 0.2], [0.0; 4]] {
            let state = Statevector::from_circuit(&c, &params, &[]).unwrap();
            let direct: f64 = state.probabilities().iter().zip(&cuts).map(|(p, &cut)| p * cut as f64).sum();
            assert!((h.expectation(&state).unwrap() - direct).abs() < 1e-12);
        }
        // At γ = 0 the state is uniform: <C> = |E|/2.
        let uniform = Statevector::from_circuit(&c, &[0.0; 4], &[]).unwrap();
        assert!((h.expectation(&uniform).unwrap() - g.edges().len() as f64 / 2.0).abs() < 1e-12);
    }
}
