//! Calibration statistics of a layer's input: running per-channel `max|X_j|` and `mean|X_j|` over
//! every token of every batch seen, the inputs of SmoothQuant's and AWQ's scales.

use super::tokens::TokenRows;
use tinylab_classical::error::arg_err;
use tinylab_classical::{Result, Tensor};

/// Per-input-channel activation statistics gathered over many calibration batches.
#[derive(Debug, Clone, PartialEq)]
pub struct ActStats {
    max_abs: Vec<f32>,
    sum_abs: Vec<f64>,
    tokens: usize,
}

impl ActStats {
    /// Empty statistics for `channels` input features.
    pub fn new(channels: usize) -> Self {
        Self { max_abs: vec![0.0; channels], sum_abs: vec![0.0; channels], tokens: 0 }
    }

    /// Adds a batch `x` of shape `[..., channels]` (every row is a token).
    pub fn observe(&mut self, x: &Tensor) -> Result<()> {
        let rows = TokenRows::new("ActStats::observe", x, self.max_abs.len())?;
        if rows.flat().iter().any(|v| !v.is_finite()) {
            return Err(arg_err("ActStats::observe", "activations must be finite"));
        }
        for row in rows.flat().chunks_exact(self.max_abs.len().max(1)) {
            for ((m, s), &v) in self.max_abs.iter_mut().zip(&mut self.sum_abs).zip(row) {
                *m = m.max(v.abs());
                *s += v.abs() as f64;
            }
        }
        self.tokens += rows.tokens;
        Ok(())
    }

    /// `max|X_j|` per channel.
    pub fn max_abs(&self) -> &[f32] {
        &self.max_abs
    }

    /// `mean|X_j|` per channel (zeros before any token).
    pub fn mean_abs(&self) -> Vec<f32> {
        self.sum_abs.iter().map(|&s| (s / self.tokens.max(1) as f64) as f32).collect()
    }

    /// Tokens seen.
    pub fn tokens(&self) -> usize {
        self.tokens
    }

    /// Input channels.
    pub fn channels(&self) -> usize {
        self.max_abs.len()
    }
}
