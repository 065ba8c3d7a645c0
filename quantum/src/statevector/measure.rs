//! Reading a state out: probabilities, seeded sampling, and reductions that give the same bits
//! whatever the thread count.

use super::Statevector;
use crate::error::{QuantumError, Result};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::ops::{Add, Range};

/// Amplitudes per partial sum of [`chunked_sum`].
const REDUCE_CHUNK: usize = 1 << 14;

/// `Σ f(chunk)` over `0..len` split into fixed chunks, summed in chunk order: parallel, yet
/// bit-identical for any thread count because the chunking and the order of the final sum are fixed.
pub fn chunked_sum<T>(len: usize, f: impl Fn(Range<usize>) -> T + Sync) -> T
where
    T: Send + Add<Output = T> + Default,
{
    let chunks = len.div_ceil(REDUCE_CHUNK).max(1);
    if chunks == 1 {
        // One chunk: the same single partial sum, without a trip through the thread pool.
        return T::default() + f(0..len);
    }
    let partials: Vec<T> =
        (0..chunks).into_par_iter().map(|c| f(c * REDUCE_CHUNK..((c + 1) * REDUCE_CHUNK).min(len))).collect();
    partials.into_iter().fold(T::default(), |a, b| a + b)
}

/// A uniform draw in `[0, 1)` with 53 random bits.
pub(crate) fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// `shots` draws of basis-state indices from `probs` (need not be normalised), seeded: the same seed
/// gives the same draws on every machine and thread count.
pub fn sample_indices(probs: &[f64], shots: usize, seed: u64) -> Result<Vec<usize>> {
    if probs.iter().any(|p| !p.is_finite() || *p < 0.0) {
        return Err(QuantumError::Sampling("probabilities must be finite and non-negative".into()));
    }
    let mut cumulative = Vec::with_capacity(probs.len());
    let mut total = 0.0;
    for p in probs {
        total += p;
        cumulative.push(total);
    }
    if total <= 0.0 {
        return Err(QuantumError::Sampling("probabilities sum to zero".into()));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Ok((0..shots)
        .map(|_| {
            let u = uniform(&mut rng) * total;
            cumulative.partition_point(|&c| c <= u).min(probs.len() - 1)
        })
        .collect())
}

/// Counts of sampled outcomes as bit strings of `n_bits` characters, bit 0 rightmost (Qiskit's
/// convention), for outcomes given as integers.
pub fn counts_as_bitstrings(outcomes: &[usize], n_bits: usize) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for &o in outcomes {
        let s: String = (0..n_bits).rev().map(|b| if o >> b & 1 == 1 { '1' } else { '0' }).collect();
        *counts.entry(s).or_insert(0) += 1;
    }
    counts
}

/// The classical register value a measured basis state `outcome` leaves behind: for each
/// `(qubit, clbit)` measurement in order, `clbit` takes `qubit`'s bit (later measurements overwrite
/// earlier ones); unmeasured classical bits stay 0.
pub fn outcome_to_clbits(outcome: usize, measurements: &[(usize, usize)]) -> usize {
    measurements.iter().fold(0usize, |bits, &(qubit, clbit)| (bits & !(1 << clbit)) | ((outcome >> qubit & 1) << clbit))
}

impl Statevector {
    /// `|amplitude|^2` of every basis state, index bit `q` = qubit `q`.
    pub fn probabilities(&self) -> Vec<f64> {
        let amps = self.amplitudes();
        if amps.len() >= 1 << super::kernel::PARALLEL_THRESHOLD_QUBITS {
            amps.par_iter().map(|a| a.norm_sqr()).collect()
        } else {
            amps.iter().map(|a| a.norm_sqr()).collect()
        }
    }

    /// The squared norm (1 for a valid state).
    pub fn norm_sqr(&self) -> f64 {
        let amps = self.amplitudes();
        chunked_sum(amps.len(), |r| amps[r].iter().map(|a| a.norm_sqr()).sum::<f64>())
    }

    /// Marginal probabilities of `qubits` (bit `b` of the outcome index is `qubits[b]`).
    pub fn marginal_probabilities(&self, qubits: &[usize]) -> Result<Vec<f64>> {
        for (i, &q) in qubits.iter().enumerate() {
            if q >= self.n_qubits() {
                return Err(QuantumError::QubitOutOfRange { qubit: q, n_qubits: self.n_qubits() });
            }
            if qubits[..i].contains(&q) {
                return Err(QuantumError::RepeatedQubit { gate: "marginal".into(), qubit: q });
            }
        }
        let mut out = vec![0.0; 1 << qubits.len()];
        for (i, a) in self.amplitudes().iter().enumerate() {
            let t = qubits.iter().enumerate().fold(0, |t, (b, &q)| t | (i >> q & 1) << b);
            out[t] += a.norm_sqr();
        }
        Ok(out)
    }

    /// `shots` measurements of every qubit, as basis-state indices; seeded.
    pub fn sample(&self, shots: usize, seed: u64) -> Result<Vec<usize>> {
        sample_indices(&self.probabilities(), shots, seed)
    }
}
