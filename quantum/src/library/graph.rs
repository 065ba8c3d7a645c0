//! Simple undirected graphs for combinatorial problems on qubits (one node per qubit), and random
//! `d`-regular graphs, the instances of QAOA's MaxCut studies (Farhi, Goldstone & Gutmann,
//! arXiv:1411.4028 (2014); Zhou et al., Phys. Rev. X 10, 021067 (2020)).

use crate::error::{QuantumError, Result};
use tinylab_classical::tensor::{rng, uniform};

/// Pairings the configuration model draws before [`random_regular_graph`] gives up.
pub const MAX_PAIRINGS: usize = 10_000;

/// Largest node count whose cuts [`Graph::cut_values`] enumerates (`2^n` values).
pub const MAX_ENUMERATED_NODES: usize = 30;

/// A simple undirected graph: nodes `0..n_nodes`, edges `(low, high)` without self-loops or repeats,
/// in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    n_nodes: usize,
    edges: Vec<(usize, usize)>,
}

impl Graph {
    /// The graph on `n_nodes` nodes with `edges` (each stored as `(low, high)`, order kept). Errors on
    /// an endpoint outside the graph, a self-loop or an edge listed twice.
    pub fn new(n_nodes: usize, edges: &[(usize, usize)]) -> Result<Self> {
        let invalid = |reason: String| QuantumError::InvalidGraph { nodes: n_nodes, reason };
        let mut out: Vec<(usize, usize)> = Vec::with_capacity(edges.len());
        for &(a, b) in edges {
            if a >= n_nodes || b >= n_nodes {
                return Err(invalid(format!("edge ({a}, {b}) leaves the graph")));
            }
            if a == b {
                return Err(invalid(format!("self-loop on node {a}")));
            }
            let edge = (a.min(b), a.max(b));
            if out.contains(&edge) {
                return Err(invalid(format!("edge ({a}, {b}) appears twice")));
            }
            out.push(edge);
        }
        Ok(Self { n_nodes, edges: out })
    }

    /// Number of nodes.
    pub fn n_nodes(&self) -> usize {
        self.n_nodes
    }

    /// The edges, each `(low, high)`.
    pub fn edges(&self) -> &[(usize, usize)] {
        &self.edges
    }

    /// The degree of every node.
    pub fn degrees(&self) -> Vec<usize> {
        let mut degree = vec![0; self.n_nodes];
        for &(a, b) in &self.edges {
            degree[a] += 1;
            degree[b] += 1;
        }
        degree
    }

    /// The number of edges cut by the partition `z`: bit `q` of `z` is node `q`'s side (the basis
    /// index of the computational state with qubit `q` for node `q`).
    pub fn cut_value(&self, z: u64) -> usize {
        self.edges.iter().filter(|&&(a, b)| (z >> a & 1) != (z >> b & 1)).count()
    }

    /// The cut value of every partition, indexed by `z` as in [`cut_value`](Self::cut_value). Errors
    /// above [`MAX_ENUMERATED_NODES`] nodes.
    pub fn cut_values(&self) -> Result<Vec<usize>> {
        if self.n_nodes > MAX_ENUMERATED_NODES {
            return Err(QuantumError::InvalidGraph {
                nodes: self.n_nodes,
                reason: format!("too many nodes to enumerate every cut (at most {MAX_ENUMERATED_NODES})"),
            });
        }
        Ok((0..1u64 << self.n_nodes).map(|z| self.cut_value(z)).collect())
    }
}

/// A uniformly random index in `0..=i` from a draw in `[0, 1)`.
fn index_upto(i: usize, draw: &mut impl FnMut() -> f64) -> usize {
    ((draw() * (i + 1) as f64) as usize).min(i)
}

/// A random `degree`-regular simple graph on `n` nodes by the configuration model (Bollobás 1980):
/// shuffle `n · degree` stubs (Fisher-Yates, consuming draws in `[0, 1)` from `draw`), pair them in
/// order, and start again on a self-loop or a repeated edge; uniform over the simple regular graphs.
/// Edges come sorted. Errors when `degree >= n` or `n · degree` is odd, or after [`MAX_PAIRINGS`]
/// rejected pairings.
pub fn random_regular_graph(n: usize, degree: usize, draw: &mut impl FnMut() -> f64) -> Result<Graph> {
    let invalid = |reason: String| QuantumError::InvalidGraph { nodes: n, reason };
    if degree >= n || (n * degree) % 2 == 1 {
        return Err(invalid(format!("no {degree}-regular graph (needs degree < n and n·degree even)")));
    }
    for _ in 0..MAX_PAIRINGS {
        let mut stubs: Vec<usize> = (0..n).flat_map(|v| std::iter::repeat_n(v, degree)).collect();
        for i in (1..stubs.len()).rev() {
            let j = index_upto(i, draw);
            stubs.swap(i, j);
        }
        let mut edges: Vec<(usize, usize)> = stubs.chunks(2).map(|p| (p[0].min(p[1]), p[0].max(p[1]))).collect();
        edges.sort_unstable();
        let simple = edges.iter().all(|&(a, b)| a != b) && edges.windows(2).all(|w| w[0] != w[1]);
        if simple {
            return Ok(Graph { n_nodes: n, edges });
        }
    }
    Err(invalid(format!("no simple {degree}-regular pairing in {MAX_PAIRINGS} tries")))
}

/// [`random_regular_graph`] with its draws from the crate's seeded generator
/// (`tinylab_classical::tensor::rng(seed)`): the same seed gives the same graph.
pub fn random_regular_graph_seeded(n: usize, degree: usize, seed: u64) -> Result<Graph> {
    let mut r = rng(seed);
    random_regular_graph(n, degree, &mut || uniform(&mut r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_graphs_are_simple_regular_and_reproducible() {
        for (n, d) in [(4, 3), (8, 3), (10, 3), (12, 3), (9, 4), (7, 2), (6, 0)] {
            for seed in 0..5 {
                let g = random_regular_graph_seeded(n, d, seed).unwrap();
                assert_eq!(g.edges().len(), n * d / 2);
                assert!(g.degrees().iter().all(|&k| k == d), "{:?}", g.degrees());
                assert!(g.edges().iter().all(|&(a, b)| a < b), "no self-loops, edges as (low, high)");
                assert!(g.edges().windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
                assert_eq!(g, random_regular_graph_seeded(n, d, seed).unwrap());
                assert_eq!(Graph::new(n, g.edges()).unwrap(), g);
            }
        }
        assert_ne!(random_regular_graph_seeded(12, 3, 1).unwrap(), random_regular_graph_seeded(12, 3, 2).unwrap());
        assert!(random_regular_graph_seeded(7, 3, 0).is_err(), "n·d odd");
        assert!(random_regular_graph_seeded(3, 3, 0).is_err(), "d >= n");
    }

    #[test]
    fn graphs_check_their_edges_and_count_cuts() {
        assert!(Graph::new(3, &[(0, 3)]).is_err());
        assert!(Graph::new(3, &[(1, 1)]).is_err());
        assert!(Graph::new(3, &[(0, 1), (1, 0)]).is_err());
        let triangle = Graph::new(3, &[(0, 1), (2, 1), (0, 2)]).unwrap();
        assert_eq!(triangle.edges(), &[(0, 1), (1, 2), (0, 2)]);
        assert_eq!(triangle.cut_values().unwrap(), vec![0, 2, 2, 2, 2, 2, 2, 0]);
        assert!(Graph::new(31, &[]).unwrap().cut_values().is_err());
    }
}
