//! The one reduction adjoint differentiation needs beyond the gate kernels: `<λ| D |ψ>` for a matrix
//! `D` on a few target qubits that acts only where the control qubits are 1 (the derivative of a
//! controlled gate is zero on the rest of the space), and `O|ψ>` for a Pauli sum `O`.
//!
//! Sums run over fixed chunks added in chunk order, so the value is bit-identical at any thread count.

use crate::matrix::C64;
use crate::ops::OpMatrix;
use crate::pauli::PauliSum;
use crate::statevector::Parallelism;
use crate::statevector::kernel::{PARALLEL_THRESHOLD_QUBITS, insert_zero_bits};
use rayon::prelude::*;

/// Groups per partial sum.
const GROUPS_PER_CHUNK: usize = 1 << 12;

/// `<λ| D_c |ψ>` where `D_c` applies `matrix` on `targets` where every qubit of `controls` is 1 and
/// is zero elsewhere.
pub fn controlled_overlap(
    lambda: &[C64],
    psi: &[C64],
    n_qubits: usize,
    targets: &[usize],
    controls: &[usize],
    matrix: &OpMatrix,
    parallelism: Parallelism,
) -> C64 {
    match targets.len() {
        1 => overlap_dim::<2>(lambda, psi, n_qubits, targets, controls, matrix, parallelism),
        2 => overlap_dim::<4>(lambda, psi, n_qubits, targets, controls, matrix, parallelism),
        3 => overlap_dim::<8>(lambda, psi, n_qubits, targets, controls, matrix, parallelism),
        4 => overlap_dim::<16>(lambda, psi, n_qubits, targets, controls, matrix, parallelism),
        5 => overlap_dim::<32>(lambda, psi, n_qubits, targets, controls, matrix, parallelism),
        _ => overlap_dim::<64>(lambda, psi, n_qubits, targets, controls, matrix, parallelism),
    }
}

fn overlap_dim<const D: usize>(
    lambda: &[C64],
    psi: &[C64],
    n_qubits: usize,
    targets: &[usize],
    controls: &[usize],
    matrix: &OpMatrix,
    parallelism: Parallelism,
) -> C64 {
    let mut sorted: Vec<usize> = targets.iter().chain(controls).copied().collect();
    sorted.sort_unstable();
    let control_mask = controls.iter().fold(0usize, |m, &q| m | 1 << q);
    let mut offsets = [0usize; D];
    for (j, o) in offsets.iter_mut().enumerate() {
        *o = targets.iter().enumerate().fold(0usize, |acc, (b, &q)| acc | ((j >> b) & 1) << q);
    }
    let groups = 1usize << (n_qubits - sorted.len());
    let zero = C64::new(0.0, 0.0);
    let chunk = |range: std::ops::Range<usize>| -> C64 {
        let mut acc = zero;
        let mut v = [zero; D];
        for g in range {
            let base = insert_zero_bits(g, &sorted) | control_mask;
            match matrix {
                OpMatrix::Dense(m) => {
                    for (x, &o) in v.iter_mut().zip(&offsets) {
                        *x = psi[base | o];
                    }
                    let data = m.data();
                    for (r, &o) in offsets.iter().enumerate() {
                        let row = &data[r * D..(r + 1) * D];
                        let mut s = zero;
                        for (a, b) in row.iter().zip(&v) {
                            s += a * b;
                        }
                        acc += lambda[base | o].conj() * s;
                    }
                }
                OpMatrix::Diagonal(d) => {
                    for (r, &o) in offsets.iter().enumerate() {
                        acc += lambda[base | o].conj() * d[r] * psi[base | o];
                    }
                }
            }
        }
        acc
    };
    let n_chunks = groups.div_ceil(GROUPS_PER_CHUNK);
    let range = |c: usize| c * GROUPS_PER_CHUNK..((c + 1) * GROUPS_PER_CHUNK).min(groups);
    if parallelism == Parallelism::Auto && n_qubits >= PARALLEL_THRESHOLD_QUBITS && n_chunks > 1 {
        let partials: Vec<C64> = (0..n_chunks).into_par_iter().map(|c| chunk(range(c))).collect();
        partials.into_iter().fold(zero, |a, b| a + b)
    } else {
        (0..n_chunks).map(|c| chunk(range(c))).fold(zero, |a, b| a + b)
    }
}

/// `out = O|ψ>` for a Pauli sum `O` (every string within `n_qubits`, checked by the caller).
///
/// With `P|i> = i^{#Y} (-1)^{|i∧z|} |i⊕x>`, entry `j` of `P|ψ>` is `i^{#Y} (-1)^{|(j⊕x)∧z|} ψ_{j⊕x}`.
/// Terms are grouped by their `x` mask, so a sum of `Z` strings is one pass.
pub fn apply_pauli_sum(observable: &PauliSum, psi: &[C64], out: &mut [C64], n_qubits: usize, parallelism: Parallelism) {
    // (x mask, [(weight · i^{#Y}, z mask)]) groups in first-appearance order.
    let mut groups: Vec<(usize, Vec<(C64, usize)>)> = Vec::new();
    for (w, p) in observable.terms() {
        let (x, z) = p.masks();
        let phase = match (x & z).count_ones() % 4 {
            0 => C64::new(1.0, 0.0),
            1 => C64::new(0.0, 1.0),
            2 => C64::new(-1.0, 0.0),
            _ => C64::new(0.0, -1.0),
        };
        let (x, z) = (x as usize, z as usize);
        match groups.iter_mut().find(|(gx, _)| *gx == x) {
            Some((_, terms)) => terms.push((phase * *w, z)),
            None => groups.push((x, vec![(phase * *w, z)])),
        }
    }
    let fill = |start: usize, block: &mut [C64]| {
        for (k, o) in block.iter_mut().enumerate() {
            let j = start + k;
            let mut acc = C64::new(0.0, 0.0);
            for (x, terms) in &groups {
                let src = j ^ x;
                let mut factor = C64::new(0.0, 0.0);
                for &(w, z) in terms {
                    if (src & z).count_ones() & 1 == 1 {
                        factor -= w;
                    } else {
                        factor += w;
                    }
                }
                acc += factor * psi[src];
            }
            *o = acc;
        }
    };
    const BLOCK: usize = 1 << 12;
    if parallelism == Parallelism::Auto && n_qubits >= PARALLEL_THRESHOLD_QUBITS {
        out.par_chunks_mut(BLOCK).enumerate().for_each(|(b, block)| fill(b * BLOCK, block));
    } else {
        fill(0, out);
    }
}

/// `Re <a|b>`, summed in fixed chunks.
pub fn real_inner(a: &[C64], b: &[C64], parallelism: Parallelism) -> f64 {
    const CHUNK: usize = 1 << 14;
    let chunk = |c: usize| -> f64 {
        let r = c * CHUNK..((c + 1) * CHUNK).min(a.len());
        a[r.clone()].iter().zip(&b[r]).map(|(x, y)| x.re * y.re + x.im * y.im).sum()
    };
    let n_chunks = a.len().div_ceil(CHUNK).max(1);
    if parallelism == Parallelism::Auto && n_chunks > 1 {
        let partials: Vec<f64> = (0..n_chunks).into_par_iter().map(chunk).collect();
        partials.into_iter().sum()
    } else {
        (0..n_chunks).map(chunk).sum()
    }
}
