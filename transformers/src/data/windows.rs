//! Next-token prediction windows over a token stream, and the metrics of language modelling.

use ndarray::IxDyn;
use serde::{Deserialize, Serialize};
use tinylab_classical::autograd::Var;
use tinylab_classical::error::arg_err;
use tinylab_classical::nn::{Ctx, Module};
use tinylab_classical::train::{Batch, Batches, EpochRecord, Metrics};
use tinylab_classical::{Result, Tensor, ops};

/// Windows of `context` tokens starting every `stride` tokens; sample `i` is the input
/// `tokens[i*stride..][..context]` and the targets the same window shifted by one (each position
/// predicts the next token). As [`Batches`]: the input is `[n, context]` (ids as f32, what a token
/// model's forward takes) and the targets the `n * context` next-token ids, row-major.
#[derive(Debug, Clone)]
pub struct TokenWindows {
    tokens: Vec<u32>,
    context: usize,
    stride: usize,
}

impl TokenWindows {
    /// Windows over `tokens`; errors when a zero context or stride is asked for or not even one window
    /// (`context + 1` tokens) fits.
    pub fn new(tokens: Vec<u32>, context: usize, stride: usize) -> Result<Self> {
        if context == 0 || stride == 0 {
            return Err(arg_err("TokenWindows::new", "context and stride must be positive"));
        }
        if tokens.len() <= context {
            return Err(arg_err(
                "TokenWindows::new",
                format!("{} tokens hold no window of {context} tokens and its next token", tokens.len()),
            ));
        }
        Ok(Self { tokens, context, stride })
    }

    /// Tokens per window.
    pub fn context(&self) -> usize {
        self.context
    }

    /// The token stream.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Every window's target ids, in window order (what [`evaluate_bpc`] averages over).
    pub fn target_ids(&self) -> Vec<u32> {
        (0..self.len()).flat_map(|i| self.tokens[i * self.stride + 1..][..self.context].iter().copied()).collect()
    }
}

impl Batches for TokenWindows {
    type Targets = Vec<usize>;

    fn len(&self) -> usize {
        (self.tokens.len() - self.context - 1) / self.stride + 1
    }

    fn batch(&self, indices: &[usize]) -> Result<Batch<Vec<usize>>> {
        let t = self.context;
        let mut input = Vec::with_capacity(indices.len() * t);
        let mut targets = Vec::with_capacity(indices.len() * t);
        for &i in indices {
            if i >= self.len() {
                return Err(arg_err("TokenWindows::batch", format!("window {i} of {}", self.len())));
            }
            let w = &self.tokens[i * self.stride..][..t + 1];
            input.extend(w[..t].iter().map(|&x| x as f32));
            targets.extend(w[1..].iter().map(|&x| x as usize));
        }
        let input = Tensor::from_shape_vec(IxDyn(&[indices.len(), t]), input).expect("sized");
        Ok(Batch { input, targets })
    }
}

/// Bits per character (or per token) of a mean cross-entropy in nats.
pub fn bits_per_char(nats: f64) -> f64 {
    nats / std::f64::consts::LN_2
}

/// Mean next-token cross-entropy (nats) of a token model (`[n, t]` ids to `[n, t, vocab]` logits) on
/// every window of `data`, in evaluation mode, `batch_size` windows per forward pass.
pub fn evaluate_bpc(model: &mut dyn Module, data: &TokenWindows, batch_size: usize) -> Result<f64> {
    if batch_size == 0 {
        return Err(arg_err("evaluate_bpc", "batch size must be positive"));
    }
    let order: Vec<usize> = (0..data.len()).collect();
    let (mut total, mut count) = (0f64, 0usize);
    for chunk in order.chunks(batch_size) {
        let batch = data.batch(chunk)?;
        let logits = model.forward(&Var::constant(batch.input), &mut Ctx::eval())?;
        let loss = next_token_loss(&logits, &batch.targets)?;
        total += loss.item()? as f64 * batch.targets.len() as f64;
        count += batch.targets.len();
    }
    Ok(total / count as f64)
}

/// Mean cross-entropy of logits `[n, t, vocab]` against `n * t` next-token ids: the loss the
/// [`Trainer`](tinylab_classical::train::Trainer) minimises for a token model.
pub fn next_token_loss(logits: &Var, targets: &[usize]) -> Result<Var> {
    let s = logits.shape();
    let vocab = *s.last().unwrap_or(&0);
    let rows: usize = s[..s.len().saturating_sub(1)].iter().product();
    ops::cross_entropy(&ops::reshape(logits, &[rows, vocab])?, targets)
}

/// One epoch of language modelling: mean training loss over its steps and the validation loss, in
/// nats and in bits per character.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LmEpoch {
    /// Epoch index (0-based).
    pub epoch: usize,
    /// Learning rate of the epoch.
    pub lr: f32,
    /// Mean training loss (nats per token).
    pub train_loss: f64,
    /// Validation loss (nats per token).
    pub val_loss: f64,
    /// Validation bits per character.
    pub val_bpc: f64,
}

impl EpochRecord for LmEpoch {
    fn val_loss(&self) -> Option<f32> {
        Some(self.val_loss as f32)
    }
}

/// The [`Metrics`] of language modelling: the training loss of every step and, after each epoch,
/// the validation loss over a set of windows.
#[derive(Debug, Clone)]
pub struct LanguageModeling {
    val: TokenWindows,
    batch_size: usize,
    sum: f64,
    steps: usize,
    /// The training loss of every step so far, in order (for loss curves).
    pub step_losses: Vec<f32>,
}

impl LanguageModeling {
    /// Metrics validated on `val`, `batch_size` windows per evaluation pass.
    pub fn new(val: TokenWindows, batch_size: usize) -> Self {
        Self { val, batch_size, sum: 0.0, steps: 0, step_losses: Vec::new() }
    }
}

impl Metrics<Vec<usize>> for LanguageModeling {
    type Epoch = LmEpoch;

    fn batch(&mut self, loss: f32, _output: &Tensor, _targets: &Vec<usize>) -> Result<()> {
        self.sum += loss as f64;
        self.steps += 1;
        self.step_losses.push(loss);
        Ok(())
    }

    fn epoch(&mut self, epoch: usize, lr: f32, model: &mut dyn Module) -> Result<LmEpoch> {
        let val_loss = evaluate_bpc(model, &self.val, self.batch_size)?;
        let train_loss = if self.steps == 0 { f64::NAN } else { self.sum / self.steps as f64 };
        (self.sum, self.steps) = (0.0, 0);
        Ok(LmEpoch { epoch, lr, train_loss, val_loss, val_bpc: bits_per_char(val_loss) })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn windows_shift_targets_by_one() {
        let w = TokenWindows::new((0..10).collect(), 4, 3).unwrap();
        assert_eq!(w.len(), 2);
        let b = w.batch(&[1, 0]).unwrap();
        assert_eq!(b.input.shape(), &[2, 4]);
        assert_eq!(b.input.iter().copied().collect::<Vec<_>>(), vec![3., 4., 5., 6., 0., 1., 2., 3.]);
        assert_eq!(b.targets, vec![4, 5, 6, 7, 1, 2, 3, 4]);
        assert!(w.batch(&[2]).is_err());
        assert_eq!(w.target_ids(), [1, 2, 3, 4, 4, 5, 6, 7]);
        assert!(TokenWindows::new(vec![1, 2], 2, 1).is_err());
    }

    /// Predicts equal logits for every token.
    #[derive(Debug)]
    pub(crate) struct Uniform(pub usize);
    impl Module for Uniform {
        fn forward(&mut self, x: &Var, _: &mut Ctx) -> Result<Var> {
            let s = x.shape();
            Ok(Var::constant(tinylab_classical::tensor::zeros(&[s[0], s[1], self.0])))
        }
        fn visit_params<'a>(&'a self, _: &str, _: &mut dyn FnMut(String, &'a tinylab_classical::nn::Param)) {}
        fn visit_params_mut(&mut self, _: &str, _: &mut dyn FnMut(String, &mut tinylab_classical::nn::Param)) {}
    }

    #[test]
    fn a_uniform_model_scores_log2_vocab_bits() {
        let w = TokenWindows::new((0..50).map(|i| i % 16).collect(), 8, 8).unwrap();
        let bpc = bits_per_char(evaluate_bpc(&mut Uniform(16), &w, 2).unwrap());
        assert!((bpc - 4.0).abs() < 1e-6, "{bpc}");
    }
}
