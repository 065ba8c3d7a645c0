//! Seeded sampling of the next token from logits, and [`generate`]: a prompt continued token by
//! token through the KV cache.
//!
//! The filters run in the order of Hugging Face's `generate`: divide by the temperature, keep the
//! `top_k` largest logits, then keep the smallest set of most likely tokens whose probability mass
//! reaches `top_p` (nucleus sampling, Holtzman et al. 2020); the kept probabilities are renormalised
//! and one token is drawn by inverting their cumulative sum with a uniform from the seeded generator.
//! Ties are broken by the lower token id, so a given seed always gives the same tokens.

use super::cache::KvCache;
use super::gpt::Gpt;
use tinylab_classical::Result;
use tinylab_classical::error::arg_err;
use tinylab_classical::tensor::{from_vec, rng, uniform};

/// How the next token is chosen from the logits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampler {
    /// Logits are divided by this; `0` means greedy (the most likely token, no draw).
    pub temperature: f32,
    /// Keep only the `k` most likely tokens.
    pub top_k: Option<usize>,
    /// Keep the smallest most-likely set with probability mass at least `p` (in `(0, 1]`).
    pub top_p: Option<f32>,
}

impl Sampler {
    /// Always the most likely token.
    pub fn greedy() -> Self {
        Self { temperature: 0.0, top_k: None, top_p: None }
    }

    /// Plain sampling from `softmax(logits / temperature)`.
    pub fn temperature(temperature: f32) -> Self {
        Self { temperature, top_k: None, top_p: None }
    }

    fn check(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(arg_err(
                "sampler",
                format!("temperature {} must be finite and non-negative", self.temperature),
            ));
        }
        if self.top_k == Some(0) {
            return Err(arg_err("sampler", "top_k must keep at least one token"));
        }
        if let Some(p) = self.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(arg_err("sampler", format!("top_p {p} must be in (0, 1]")));
        }
        Ok(())
    }

    /// The distribution the sampler draws from: `(token, probability)` for every kept token, most
    /// likely first (one token with probability 1 when greedy). Errors on empty or non-finite logits.
    pub fn distribution(&self, logits: &[f32]) -> Result<Vec<(usize, f64)>> {
        self.check()?;
        if logits.is_empty() {
            return Err(arg_err("sampler", "no logits to sample from"));
        }
        if let Some(bad) = logits.iter().find(|v| !v.is_finite()) {
            return Err(arg_err("sampler", format!("logit {bad} is not finite")));
        }
        // Most likely first, ties by the lower id.
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
        if self.temperature == 0.0 {
            return Ok(vec![(order[0], 1.0)]);
        }
        order.truncate(self.top_k.unwrap_or(usize::MAX).min(order.len()));
        let t = self.temperature as f64;
        let max = logits[order[0]] as f64 / t;
        let weights: Vec<f64> = order.iter().map(|&i| (logits[i] as f64 / t - max).exp()).collect();
        let total: f64 = weights.iter().sum();
        let mut kept: Vec<(usize, f64)> = order.into_iter().zip(weights.into_iter().map(|w| w / total)).collect();
        if let Some(p) = self.top_p {
            let mut mass = 0.0;
            let keep = kept
                .iter()
                .position(|&(_, q)| {
                    mass += q;
                    mass >= p as f64
                })
                .map_or(kept.len(), |i| i + 1);
            kept.truncate(keep);
            let total: f64 = kept.iter().map(|&(_, q)| q).sum();
            kept.iter_mut().for_each(|(_, q)| *q /= total);
        }
        Ok(kept)
    }

    /// One token drawn from [`distribution`](Self::distribution) with the uniform `u` in `[0, 1)`.
    pub fn pick(&self, logits: &[f32], u: f64) -> Result<usize> {
        let kept = self.distribution(logits)?;
        let mut acc = 0.0;
        for &(token, q) in &kept {
            acc += q;
            if u < acc {
                return Ok(token);
            }
        }
        Ok(kept.last().expect("at least one kept token").0)
    }

    /// One token drawn with the next uniform of `rng` (no draw when greedy).
    pub fn sample(&self, logits: &[f32], rng: &mut rand_chacha::ChaCha8Rng) -> Result<usize> {
        if self.temperature == 0.0 {
            return self.pick(logits, 0.0);
        }
        self.pick(logits, uniform(rng))
    }
}

/// `n_tokens` tokens continuing `prompt`, chosen by `sampler` with draws from `seed`, through a fresh
/// KV cache (the prompt is prefilled in one pass, then one token per step). The prompt and the
/// continuation must fit in the model's context.
///
/// ```
/// use tinylab_transformers::model::{Gpt, GptConfig, Sampler, generate};
/// let mut model = Gpt::new(GptConfig::llama_like(32, 16, 16, 1, 2, 1, 32), 0)?;
/// let nucleus = Sampler { temperature: 0.8, top_k: Some(10), top_p: Some(0.9) };
/// let tokens = generate(&mut model, &[1, 2, 3], 5, &nucleus, 42)?;
/// assert_eq!(tokens, generate(&mut model, &[1, 2, 3], 5, &nucleus, 42)?); // seeded
/// assert!(tokens.len() == 5 && tokens.iter().all(|&t| t < 32));
/// # Ok::<(), tinylab_classical::ClassicalError>(())
/// ```
pub fn generate(
    model: &mut Gpt,
    prompt: &[usize],
    n_tokens: usize,
    sampler: &Sampler,
    seed: u64,
) -> Result<Vec<usize>> {
    sampler.check()?;
    if prompt.is_empty() {
        return Err(arg_err("generate", "the prompt needs at least one token"));
    }
    let context = model.config().context;
    if prompt.len() + n_tokens.saturating_sub(1) > context {
        return Err(arg_err(
            "generate",
            format!("a prompt of {} tokens and {n_tokens} new tokens do not fit a context of {context}", prompt.len()),
        ));
    }
    let vocab = model.config().vocab;
    let mut cache = KvCache::new(model.config(), 1);
    let mut draws = rng(seed);
    let mut out = Vec::with_capacity(n_tokens);
    let mut input: Vec<usize> = prompt.to_vec();
    while out.len() < n_tokens {
        let ids = from_vec(&[1, input.len()], input.iter().map(|&t| t as f32).collect())?;
        let logits = model.forward_cached(&ids, &mut cache)?;
        let last = logits.as_slice().expect("contiguous");
        let next = sampler.sample(&last[last.len() - vocab..], &mut draws)?;
        out.push(next);
        input = vec![next];
    }
    Ok(out)
}
