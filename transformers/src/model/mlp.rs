//! The feed-forward network of a block: GELU (`fc1`, `fc2`, GPT-2) or SwiGLU (`gate_proj`,
//! `up_proj`, `down_proj`, Shazeer 2020), with the fused `silu(gate) * up` op the latter needs.

use super::config::MlpKind;
use super::init::{Init, linear};
use super::qlinear::{LinearSlot, LinearVisitor};
use ndarray::Zip;
use tinylab_classical::autograd::{Op, Var};
use tinylab_classical::error::shape_err;
use tinylab_classical::nn::{Ctx, Linear, Module, Param, join};
use tinylab_classical::ops::fast_exp::sigmoid;
use tinylab_classical::tensor::contiguous;
use tinylab_classical::{Result, Tensor, ops};

/// `x sigmoid(x)` (the SiLU / swish of Ramachandran et al. 2017) and its derivative.
#[inline(always)]
fn silu_and_slope(x: f32) -> (f32, f32) {
    let s = sigmoid(x);
    (x * s, s * (1.0 + x * (1.0 - s)))
}

/// The tape record of [`swiglu`].
#[derive(Debug)]
struct SwiGlu;

/// `silu(gate) * up`, element-wise for two tensors of one shape: the gated unit of SwiGLU as one op
/// (no intermediate `silu(gate)` tensor on the tape). Differentiable in both.
pub fn swiglu(gate: &Var, up: &Var) -> Result<Var> {
    if gate.shape() != up.shape() {
        return Err(shape_err("swiglu", gate.shape(), up.shape(), "gate and up must have one shape"));
    }
    let (g, u) = (contiguous(gate.value()), contiguous(up.value()));
    let value = Zip::from(&*g).and(&*u).map_collect(|&g, &u| silu_and_slope(g).0 * u);
    Ok(Var::from_op(SwiGlu, &[gate, up], value))
}

impl Op for SwiGlu {
    fn name(&self) -> &'static str {
        "swiglu"
    }

    fn backward(&self, inputs: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (g, u) = (inputs[0], inputs[1]);
        let d_gate = Zip::from(grad).and(g).and(u).map_collect(|&dy, &g, &u| dy * u * silu_and_slope(g).1);
        let d_up = Zip::from(grad).and(g).map_collect(|&dy, &g| dy * silu_and_slope(g).0);
        Ok(vec![Some(d_gate), Some(d_up)])
    }
}

/// The feed-forward network over `[rows, d_model]`: `fc2(gelu(fc1(x)))` or
/// `down_proj(silu(gate_proj(x)) * up_proj(x))`.
#[derive(Debug, Clone)]
pub struct Mlp {
    /// Which network.
    pub kind: MlpKind,
    /// SwiGLU's `gate_proj` `[d_ff, d_model]`.
    pub gate: Option<Linear>,
    /// `fc1` or `up_proj`, `[d_ff, d_model]`.
    pub input: Linear,
    /// `fc2` or `down_proj`, `[d_model, d_ff]`.
    pub output: Linear,
    /// Inference replacements of `gate`, `input` and `output`, in that order.
    pub slots: [LinearSlot; 3],
}

impl Mlp {
    /// A freshly initialised network (the output projection gets the residual scaling of `init`).
    pub fn new(kind: MlpKind, d_model: usize, d_ff: usize, bias: bool, init: &mut Init) -> Self {
        let gate = (kind == MlpKind::SwiGlu).then(|| linear(d_model, d_ff, bias, init.std, init));
        let input = linear(d_model, d_ff, bias, init.std, init);
        let output = linear(d_ff, d_model, bias, init.residual_std, init);
        Self { kind, gate, input, output, slots: Default::default() }
    }

    /// The output for `x` `[rows, d_model]`.
    pub fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        let up = self.slots[1].project(&mut self.input, x, ctx)?;
        let h = match &mut self.gate {
            Some(gate) => swiglu(&self.slots[0].project(gate, x, ctx)?, &up)?,
            None => ops::gelu(&up),
        };
        self.slots[2].project(&mut self.output, &h, ctx)
    }

    /// The PyTorch names of the input and output layers.
    pub(crate) fn names(&self) -> (&'static str, &'static str) {
        match self.kind {
            MlpKind::Gelu => ("fc1", "fc2"),
            MlpKind::SwiGlu => ("up_proj", "down_proj"),
        }
    }

    /// Calls `f` with the path and value of each parameter.
    pub fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        let (input, output) = self.names();
        if let Some(gate) = &self.gate {
            gate.visit_params(&join(prefix, "gate_proj"), f);
        }
        self.input.visit_params(&join(prefix, input), f);
        self.output.visit_params(&join(prefix, output), f);
    }

    /// Calls `f` with the path, float layer and slot of each linear layer.
    pub fn visit_linears(&mut self, prefix: &str, f: &mut LinearVisitor) -> Result<()> {
        let (input, output) = self.names();
        let [gate_slot, input_slot, output_slot] = &mut self.slots;
        if let Some(gate) = &mut self.gate {
            f(join(prefix, "gate_proj"), gate, gate_slot)?;
        }
        f(join(prefix, input), &mut self.input, input_slot)?;
        f(join(prefix, output), &mut self.output, output_slot)
    }

    /// Calls `f` with the path and a mutable reference of each parameter.
    pub fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        let (input, output) = self.names();
        if let Some(gate) = &mut self.gate {
            gate.visit_params_mut(&join(prefix, "gate_proj"), f);
        }
        self.input.visit_params_mut(&join(prefix, input), f);
        self.output.visit_params_mut(&join(prefix, output), f);
    }
}
