//! A sequence classifier on the model's blocks: the decoder of [`crate::model`] made bidirectional
//! (every token attends to every token, as BERT's encoder does; Devlin et al. 2019), its final-normed
//! hidden states mean-pooled over the tokens into a linear head. The model SpAtten prunes (Wang, Zhang
//! & Han 2021 evaluate BERT classifiers); trainable with the classical `Trainer` and cross-entropy.

use crate::model::{Gpt, GptConfig};
use tinylab_classical::autograd::Var;
use tinylab_classical::error::arg_err;
use tinylab_classical::nn::{Ctx, Linear, Module, Param, join};
use tinylab_classical::tensor::{randn, rng, zeros};
use tinylab_classical::{Result, ops};

/// Standard deviation of the head's initial weights (GPT-2's 0.02).
const HEAD_STD: f32 = 0.02;

/// A bidirectional transformer classifier. As an [`nn::Module`](Module) its input is token ids as an
/// f32 tensor `[batch, tokens]` and its output the class logits `[batch, classes]`. Parameter paths
/// `encoder.*` (those of [`Gpt`]) and `head.*`.
#[derive(Debug, Clone)]
pub struct SequenceClassifier {
    /// The encoder: a [`Gpt`] whose configuration has `causal: false`; its tied output head is not
    /// used.
    pub encoder: Gpt,
    /// `[classes, d_model]` with a bias: the mean-pooled hidden state to class logits.
    pub head: Linear,
}

impl SequenceClassifier {
    /// A classifier into `classes` classes whose encoder is `config` made bidirectional (its `causal`
    /// is set to false), initialised from `seed`. Errors for fewer than two classes, an invalid
    /// configuration, or an untied one (its `lm_head` would be a parameter nothing uses).
    pub fn new(config: GptConfig, classes: usize, seed: u64) -> Result<Self> {
        if classes < 2 {
            return Err(arg_err("SequenceClassifier", format!("needs at least two classes, got {classes}")));
        }
        if !config.tied {
            return Err(arg_err("SequenceClassifier", "the encoder must be tied (an lm_head would go unused)"));
        }
        let encoder = Gpt::new(GptConfig { causal: false, ..config }, seed)?;
        let d = encoder.config().d_model;
        // The head's draws come after (and apart from) the encoder's, from a generator of its own.
        let mut r = rng(seed ^ 0x5e9c_1a55_u64);
        let head = Linear {
            weight: Param::new("weight", randn(&[classes, d], HEAD_STD, &mut r)),
            bias: Some(Param::new("bias", zeros(&[classes]))),
        };
        Ok(Self { encoder, head })
    }

    /// The encoder's architecture.
    pub fn config(&self) -> &GptConfig {
        self.encoder.config()
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.head.weight.value.shape()[0]
    }

    /// The class logits `[batch, classes]` of final-normed hidden states `h` `[batch * tokens, d]`
    /// (sequence-major): the mean over each sequence's tokens, then the head.
    pub fn classify(&mut self, h: &Var, batch: usize, tokens: usize, ctx: &mut Ctx) -> Result<Var> {
        let d = self.config().d_model;
        let pooled = ops::mean_axes(&ops::reshape(h, &[batch, tokens, d])?, &[1], false)?;
        self.head.forward(&pooled, ctx)
    }
}

impl Module for SequenceClassifier {
    fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        let (ids, batch, tokens) = self.encoder.token_ids(x.value())?;
        let (h, _) = self.encoder.hidden(&ids, (batch, tokens, 0), ctx, None)?;
        self.classify(&h, batch, tokens, ctx)
    }

    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        self.encoder.visit_params(&join(prefix, "encoder"), f);
        self.head.visit_params(&join(prefix, "head"), f);
    }

    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        self.encoder.visit_params_mut(&join(prefix, "encoder"), f);
        self.head.visit_params_mut(&join(prefix, "head"), f);
    }
}
