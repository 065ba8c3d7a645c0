//! Helpers shared by the integration tests: comparisons and statistics. Random circuits come from
//! the one generator, `tinylab_testkit` (`Dice`, `random_circuit`, `Mix`).
#![allow(dead_code)]

pub mod stats;

use tinylab_quantum::C64;

/// Largest entry-wise distance between two amplitude vectors.
pub fn max_diff(a: &[C64], b: &[C64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).norm()).fold(0.0, f64::max)
}
