//! A seeded source of random choices (ChaCha8), for tests that want the same circuits every run.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use std::f64::consts::PI;

/// A seeded source of the random choices the generator and the tests make.
pub struct Dice(ChaCha8Rng);

impl Dice {
    /// Dice seeded by `seed` (the same seed gives the same sequence).
    pub fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A uniform 64-bit word.
    pub fn word(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `0..n` (`n > 0`; the modulo bias is negligible for the small `n` of tests).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "Dice::below(0)");
        (self.word() % n as u64) as usize
    }

    /// A uniform number in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.word() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform number in `[-1, 1)`.
    pub fn signed(&mut self) -> f64 {
        2.0 * self.uniform() - 1.0
    }

    /// A uniform angle in `[-π, π)`.
    pub fn angle(&mut self) -> f64 {
        self.signed() * PI
    }

    /// `k` distinct qubits out of `n`, in random order.
    pub fn qubits(&mut self, n: usize, k: usize) -> Vec<usize> {
        distinct(n, k, self.word())
    }
}

/// splitmix64: the small mixer that turns one word into a stream (for choices made from plain data).
pub(crate) fn mix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `k` distinct qubits of `0..n` in an order drawn from `seed` (a partial Fisher-Yates shuffle).
pub fn distinct(n: usize, k: usize, seed: u64) -> Vec<usize> {
    assert!(k <= n, "{k} distinct qubits out of {n}");
    let mut state = seed;
    let mut all: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = i + (mix(&mut state) % (n - i) as u64) as usize;
        all.swap(i, j);
    }
    all.truncate(k);
    all
}
