//! One pre-norm decoder block: `x + mix(norm1(x))`, then `x + mlp(norm2(x))`, where the token mixer
//! is self-attention (a standard block) or Lite Transformer's long-short range attention.

use super::attn::{AttentionSpec, SelfAttention, Step};
use super::config::{BlockKind, GptConfig, Positions};
use super::init::Init;
use super::lsra::CausalConv;
use super::mlp::Mlp;
use super::norm::Norm;
use super::qlinear::LinearVisitor;
use tinylab_classical::autograd::Var;
use tinylab_classical::nn::{Ctx, Param, join};
use tinylab_classical::{Result, ops};

/// A decoder block; parameter paths `norm1`, `attn.*`, `conv.*` (LSRA), `norm2`, `mlp.*`.
#[derive(Debug, Clone)]
pub struct Block {
    /// The norm before the token mixer.
    pub norm1: Norm,
    /// Self-attention over all channels, or over the first half in an LSRA block.
    pub attn: SelfAttention,
    /// LSRA's convolution branch over the second half of the channels.
    pub conv: Option<CausalConv>,
    /// The norm before the MLP.
    pub norm2: Norm,
    /// The feed-forward network.
    pub mlp: Mlp,
}

impl Block {
    /// A freshly initialised block `index` of `config` (its [`GptConfig::block_shape`]).
    pub fn new(config: &GptConfig, index: usize, init: &mut Init) -> Self {
        let shape = config.block_shape(index);
        let spec = AttentionSpec {
            width: config.attn_width(),
            n_heads: shape.n_heads,
            n_kv_heads: shape.n_kv_heads,
            head_dim: config.head_dim(),
            bias: config.bias,
            rope_base: (config.positions == Positions::Rotary).then_some(config.rope_base),
            kernel: config.attention,
            causal: config.causal,
        };
        let norm = || Norm::new(config.norm, config.d_model, config.bias, config.norm_eps);
        let norm1 = norm();
        let attn = SelfAttention::new(spec, init);
        let conv = match config.block {
            BlockKind::Standard => None,
            BlockKind::Lsra { kernel } => {
                Some(CausalConv::new(config.d_model - config.attn_width(), kernel, config.bias, init))
            }
        };
        let mlp = Mlp::new(config.mlp, config.d_model, shape.d_ff, config.bias, init);
        Self { norm1, attn, conv, norm2: norm(), mlp }
    }

    /// The block's output for the residual stream `x` `[batch * tokens, d_model]`.
    pub fn forward(&mut self, x: &Var, step: &mut Step, ctx: &mut Ctx) -> Result<Var> {
        let h = self.norm1.forward(x, ctx)?;
        let mixed = match &mut self.conv {
            None => self.attn.forward(&h, step, ctx)?,
            Some(conv) => {
                let (d, w) = (h.shape()[1], self.attn.width());
                let long = self.attn.forward(&ops::slice(&h, 1, 0, w)?, step, ctx)?;
                let short = conv.forward(&ops::slice(&h, 1, w, d)?, step, ctx)?;
                ops::concat(&[&long, &short], 1)?
            }
        };
        let x = ops::add(x, &mixed)?;
        let h = self.norm2.forward(&x, ctx)?;
        ops::add(&x, &self.mlp.forward(&h, ctx)?)
    }

    /// Calls `f` with the path and value of each parameter.
    pub fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        self.norm1.visit(&join(prefix, "norm1"), f);
        self.attn.visit(&join(prefix, "attn"), f);
        if let Some(conv) = &self.conv {
            conv.visit(&join(prefix, "conv"), f);
        }
        self.norm2.visit(&join(prefix, "norm2"), f);
        self.mlp.visit(&join(prefix, "mlp"), f);
    }

    /// Calls `f` with the path, float layer and slot of each linear layer of the attention and the
    /// MLP (LSRA's convolution branch has none).
    pub fn visit_linears(&mut self, prefix: &str, f: &mut LinearVisitor) -> Result<()> {
        self.attn.visit_linears(&join(prefix, "attn"), f)?;
        self.mlp.visit_linears(&join(prefix, "mlp"), f)
    }

    /// Calls `f` with the path and a mutable reference of each parameter.
    pub fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        self.norm1.visit_mut(&join(prefix, "norm1"), f);
        self.attn.visit_mut(&join(prefix, "attn"), f);
        if let Some(conv) = &mut self.conv {
            conv.visit_mut(&join(prefix, "conv"), f);
        }
        self.norm2.visit_mut(&join(prefix, "norm2"), f);
        self.mlp.visit_mut(&join(prefix, "mlp"), f);
    }
}
