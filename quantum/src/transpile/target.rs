//! The machine a circuit is transpiled for: qubit count, basis gates and directed coupling map.

use super::error::TranspileError;
use std::collections::{BTreeSet, VecDeque};

/// The basis of IBM's superconducting devices, the one [`super::translate_to_basis`] produces.
pub const IBM_BASIS: [&str; 5] = ["cx", "id", "rz", "sx", "x"];

/// A device: `n_qubits` physical qubits, the gate names it executes, and the directed pairs on which
/// a two-qubit gate may act.
///
/// `cx a, b` is allowed when `(a, b)` is in `coupling` (control first); the reverse direction needs
/// its own entry. Every other two-qubit gate of the basis is treated the same way. Gates on three or
/// more qubits are never executable. Barriers and measurements are always allowed.
///
/// ```
/// use tinylab_quantum::transpile::Target;
/// // IBM manila: a line 0-1-2-3-4 with both directions.
/// let manila = Target::ibm(5, &[(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (3, 4), (4, 3)])?;
/// assert!(manila.allows_pair(2, 3) && !manila.allows_pair(0, 2));
/// # Ok::<(), tinylab_quantum::transpile::TranspileError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Number of physical qubits.
    pub n_qubits: usize,
    /// Names of the gates the device executes (OpenQASM names: `rz`, `sx`, `x`, `cx`, `id`, ...).
    pub basis: BTreeSet<String>,
    /// Directed pairs `(control, target)` on which two-qubit gates may act.
    pub coupling: Vec<(usize, usize)>,
}

impl Target {
    /// A target from its parts, checked by [`Target::validate`].
    pub fn new<S: Into<String>>(
        n_qubits: usize,
        basis: impl IntoIterator<Item = S>,
        coupling: &[(usize, usize)],
    ) -> Result<Self, TranspileError> {
        let target =
            Target { n_qubits, basis: basis.into_iter().map(Into::into).collect(), coupling: coupling.to_vec() };
        target.validate()?;
        Ok(target)
    }

    /// A target with the IBM basis [`IBM_BASIS`] (`rz`, `sx`, `x`, `cx`, `id`).
    pub fn ibm(n_qubits: usize, coupling: &[(usize, usize)]) -> Result<Self, TranspileError> {
        Self::new(n_qubits, IBM_BASIS, coupling)
    }

    /// Errors with [`TranspileError::InvalidCoupling`] for a pair naming a qubit beyond `n_qubits` or
    /// the same qubit twice. (The fields are public, so the transpiler checks again before use.)
    pub fn validate(&self) -> Result<(), TranspileError> {
        for (position, &(a, b)) in self.coupling.iter().enumerate() {
            let reason = if a >= self.n_qubits || b >= self.n_qubits {
                "qubit out of range"
            } else if a == b {
                "a qubit coupled to itself"
            } else {
                continue;
            };
            return Err(TranspileError::InvalidCoupling { position, a, b, n_qubits: self.n_qubits, reason });
        }
        Ok(())
    }

    /// True when `name` is a basis gate.
    pub fn supports(&self, name: &str) -> bool {
        self.basis.contains(name)
    }

    /// True when `(a, b)` is a directed pair of the coupling map.
    pub fn has_edge(&self, a: usize, b: usize) -> bool {
        self.coupling.contains(&(a, b))
    }

    /// True when `a` and `b` are coupled in either direction.
    pub fn allows_pair(&self, a: usize, b: usize) -> bool {
        self.has_edge(a, b) || self.has_edge(b, a)
    }

    /// The basis as one comma-separated string (for messages).
    pub(crate) fn basis_list(&self) -> String {
        self.basis.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
    }

    /// Neighbours of each qubit in the undirected coupling graph, sorted.
    pub(crate) fn neighbours(&self) -> Vec<Vec<usize>> {
        let mut adj = vec![BTreeSet::new(); self.n_qubits];
        for &(a, b) in &self.coupling {
            if a < self.n_qubits && b < self.n_qubits && a != b {
                adj[a].insert(b);
                adj[b].insert(a);
            }
        }
        adj.into_iter().map(|s| s.into_iter().collect()).collect()
    }
}

/// A shortest path `from = p[0], ..., p[k] = to` in the undirected graph `adj` (breadth-first search;
/// ties go to the smaller neighbour), or `None` when they are not connected.
pub(crate) fn shortest_path(adj: &[Vec<usize>], from: usize, to: usize) -> Option<Vec<usize>> {
    let mut parent = vec![usize::MAX; adj.len()];
    parent[from] = from;
    let mut queue = VecDeque::from([from]);
    while let Some(u) = queue.pop_front() {
        if u == to {
            let mut path = vec![to];
            let mut v = to;
            while v != from {
                v = parent[v];
                path.push(v);
            }
            path.reverse();
            return Some(path);
        }
        for &v in &adj[u] {
            if parent[v] == usize::MAX {
                parent[v] = u;
                queue.push_back(v);
            }
        }
    }
    None
}
