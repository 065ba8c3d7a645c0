//! Multi-controlled gates from singly controlled ones and Toffolis (Barenco et al. 1995, "Elementary
//! gates for quantum computation"), as lists of [`Piece`]s on qubit indices.
//!
//! - Lemma 7.9: `C^k(W) = C^{k-1}(V) · C^{k-1}X · C(V†) · C^{k-1}X · C(V)` (time order right to left)
//!   with `V² = W` ([`square_root_steps`]); the inner `C^{k-1}X` borrows the target as a dirty ancilla.
//! - Lemma 7.2: `C^m X` from `4(m-2)` Toffolis borrowing `m-2` idle qubits ([`staircase`]).
//! - Lemma 7.3: `C^m X` with one borrowed qubit, from two halves that each borrow the other half's
//!   qubits ([`one_dirty`]).
//!
//! Borrowed ("dirty") qubits may be in any state and are left as they were. A gate with `k` controls
//! expands to `O(k²)` gates.

use super::elements::Elem;
use super::su2::{M2, dagger2, sqrt2};

/// One step of a multi-controlled construction.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    /// A 2x2 element (one or more controls, or none).
    Elem(Elem),
    /// X on `target` controlled by every qubit of `controls`, free to borrow the `dirty` qubits.
    Mcx {
        /// Control qubits.
        controls: Vec<usize>,
        /// Target qubit.
        target: usize,
        /// Idle qubits it may borrow.
        dirty: Vec<usize>,
    },
}

/// How `C^m X` (`m >= 3`) is built from smaller gates, given how many idle qubits it may borrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum McxRule {
    /// [`staircase`]: needs `m - 2` borrowed qubits.
    Staircase,
    /// [`one_dirty`]: needs one borrowed qubit.
    OneDirty,
    /// [`square_root_steps`] with `W = X`: needs none.
    SquareRoot,
}

/// The construction of `C^m X` (`m >= 3`) with `n_dirty` idle qubits to borrow.
pub(crate) fn mcx_rule(m: usize, n_dirty: usize) -> McxRule {
    if n_dirty + 2 >= m {
        McxRule::Staircase
    } else if n_dirty > 0 {
        McxRule::OneDirty
    } else {
        McxRule::SquareRoot
    }
}

fn mcx(controls: Vec<usize>, target: usize, dirty: Vec<usize>) -> Piece {
    Piece::Mcx { controls, target, dirty }
}

/// Lemma 7.2: `C^m X` (`m >= 3`) from `controls` to `target` as `4(m-2)` Toffolis, borrowing
/// `dirty[..m-2]`.
pub(crate) fn staircase(controls: &[usize], target: usize, dirty: &[usize]) -> Vec<Piece> {
    let m = controls.len();
    let (x, b) = (controls, dirty);
    let toffoli = |a: usize, c: usize, t: usize| mcx(vec![a, c], t, Vec::new());
    let mut half = vec![toffoli(x[m - 1], b[m - 3], target)];
    let down: Vec<Piece> = (2..=m - 2).rev().map(|i| toffoli(x[i], b[i - 2], b[i - 1])).collect();
    half.extend(down.iter().cloned());
    half.push(toffoli(x[0], x[1], b[0]));
    half.extend(down.into_iter().rev());
    [half.clone(), half].concat()
}

/// Lemma 7.3: `C^m X` (`m >= 3`) from `controls` to `target`, borrowing `ancilla`: the first
/// `ceil(m/2)` controls flip the ancilla (borrowing the other controls and the target), then the other
/// controls and the ancilla flip the target (borrowing the first controls); both twice.
pub(crate) fn one_dirty(controls: &[usize], target: usize, ancilla: usize) -> Vec<Piece> {
    let m1 = controls.len().div_ceil(2);
    let (first, second) = controls.split_at(m1);
    let mut second_controls = second.to_vec();
    second_controls.push(ancilla);
    let mut spare_for_first = second.to_vec();
    spare_for_first.push(target);
    let s1 = mcx(first.to_vec(), ancilla, spare_for_first);
    let s2 = mcx(second_controls, target, first.to_vec());
    vec![s1.clone(), s2.clone(), s1, s2]
}

/// Lemma 7.9: `W` on `target` controlled by `controls` (`k >= 2`), with `V² = W`, in time order:
/// `C(V)` from the last control, `C^{k-1}X` onto the last control (borrowing the target), `C(V†)`,
/// the same `C^{k-1}X`, and `C^{k-1}(V)` from the other controls.
pub(crate) fn square_root_steps(controls: &[usize], target: usize, w: &M2) -> Vec<Piece> {
    let k = controls.len();
    let v = sqrt2(w);
    let vd = dagger2(&v);
    let last = controls[k - 1];
    let lower = &controls[..k - 1];
    let elem = |controls: Vec<usize>, m: M2| Piece::Elem(Elem { controls, target, m, free: false });
    let flip = mcx(lower.to_vec(), last, vec![target]);
    vec![elem(vec![last], v), flip.clone(), elem(vec![last], vd), flip, elem(lower.to_vec(), v)]
}
