//! Seeded initialisation of a fresh model, GPT-2's scheme (Radford et al. 2019): weights and
//! embeddings `N(0, 0.02^2)`, biases zero, and the projections that write into the residual stream
//! (`o_proj`, `fc2` / `down_proj`) scaled by `1/sqrt(2 n_layers)`.

use rand_chacha::ChaCha8Rng;
use tinylab_classical::nn::{Linear, Param};
use tinylab_classical::tensor::{randn, rng, zeros};

/// The generator and the two standard deviations of an initialisation.
#[derive(Debug)]
pub struct Init {
    /// The seeded generator every draw comes from, in parameter order.
    pub rng: ChaCha8Rng,
    /// Standard deviation of embeddings and ordinary weights (0.02).
    pub std: f32,
    /// Standard deviation of residual output projections (`0.02 / sqrt(2 n_layers)`).
    pub residual_std: f32,
}

impl Init {
    /// GPT-2's scheme for `n_layers` blocks, drawn from `seed`.
    pub fn gpt2(seed: u64, n_layers: usize) -> Self {
        Self { rng: rng(seed), std: 0.02, residual_std: 0.02 / ((2 * n_layers.max(1)) as f32).sqrt() }
    }
}

/// A `[outputs, inputs]` linear layer with `N(0, std^2)` weights and zero biases.
pub fn linear(inputs: usize, outputs: usize, bias: bool, std: f32, init: &mut Init) -> Linear {
    Linear {
        weight: Param::new("weight", randn(&[outputs, inputs], std, &mut init.rng)),
        bias: bias.then(|| Param::new("bias", zeros(&[outputs]))),
    }
}
