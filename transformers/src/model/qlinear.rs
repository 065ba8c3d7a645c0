//! Inference-time replacements of a model's linear layers: each `nn::Linear` of the decoder has a
//! [`LinearSlot`] beside it that may hold a [`QuantizedLinear`] (W8A8, int4, dense; see
//! [`crate::quant`]) and a calibration tap.
//!
//! With a quantized layer in the slot, evaluation and cached decoding call it instead of the float
//! weight (the float `Linear` stays, untouched, for inspection and saving); a training pass is
//! refused, since the integer layers have no gradient. A tap records the input rows the layer sees
//! on evaluation passes, the calibration data of SmoothQuant (Xiao et al. 2023), AWQ (Lin et al.
//! 2023) and GPTQ (Frantar et al. 2023); see [`crate::model::Gpt::calibrate`].

use super::decode;
use crate::quant::QuantizedLinear;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tinylab_classical::autograd::Var;
use tinylab_classical::error::arg_err;
use tinylab_classical::nn::{Ctx, Linear};
use tinylab_classical::{Result, Tensor};

/// The recorded inputs of every tapped layer, by path, in the order the passes saw them.
pub(crate) type TapSink = Arc<Mutex<BTreeMap<String, Vec<Tensor>>>>;

/// What runs in place of one `Linear` at inference, and whether its inputs are recorded.
#[derive(Clone, Default)]
pub struct LinearSlot {
    /// The layer evaluation uses instead of the float weight, when set.
    pub quantized: Option<Arc<dyn QuantizedLinear>>,
    tap: Option<(String, TapSink)>,
}

impl std::fmt::Debug for LinearSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinearSlot")
            .field("quantized_bytes", &self.quantized.as_ref().map(|q| q.bytes()))
            .field("tap", &self.tap.as_ref().map(|t| &t.0))
            .finish()
    }
}

impl LinearSlot {
    /// `layer(x)` for `x` `[rows, in]`: through the quantized layer when one is set (evaluation only),
    /// else the float path of [`decode::project`]; a tap records `x` first on evaluation passes.
    pub fn project(&self, layer: &mut Linear, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        if let Some((path, sink)) = &self.tap
            && !ctx.train
        {
            let mut map = sink.lock().map_err(|_| arg_err("calibrate", "a calibration tap was poisoned"))?;
            map.entry(path.clone()).or_default().push(x.value().clone());
        }
        match &self.quantized {
            None => decode::project(layer, x, ctx),
            Some(_) if ctx.train => Err(arg_err(
                "quantized_linear",
                "this model has quantized linear layers, which have no gradient: train the float model, then quantize",
            )),
            Some(q) => Ok(Var::constant(q.forward(x.value())?)),
        }
    }

    /// Starts recording this layer's inputs under `path` into `sink`.
    pub(crate) fn set_tap(&mut self, path: String, sink: TapSink) {
        self.tap = Some((path, sink));
    }

    /// Stops recording.
    pub(crate) fn clear_tap(&mut self) {
        self.tap = None;
    }
}

/// A replacement chooser for [`crate::model::Gpt::quantize_linears`]: given a layer's path, float
/// weight `[out, in]` and bias, the quantized layer to use, or `None` to keep the float one.
pub type ChooseLinear<'a> = dyn FnMut(&str, &Tensor, Option<&Tensor>) -> Result<Option<Box<dyn QuantizedLinear>>> + 'a;

/// One linear layer of a model with its slot, for the visitors of the model's modules.
pub type LinearVisitor<'a> = dyn FnMut(String, &mut Linear, &mut LinearSlot) -> Result<()> + 'a;

/// The calibration inputs of a model's linear layers: per path, all rows each layer saw, `[rows, in]`.
#[derive(Debug, Clone, Default)]
pub struct Calibration {
    /// Input rows by layer path (`blocks.0.attn.q_proj`, ...).
    pub inputs: BTreeMap<String, Tensor>,
}

impl Calibration {
    /// The rows recorded for `path`.
    pub fn get(&self, path: &str) -> Result<&Tensor> {
        self.inputs.get(path).ok_or_else(|| arg_err("calibration", format!("no inputs were recorded for `{path}`")))
    }
}

/// A layer that divides its inputs by per-channel scales before an inner layer: AWQ's
/// `Q(W diag(s)) (x / s)` (Lin et al. 2023) when the division cannot be folded into the op before.
pub struct InputScaled<L> {
    scales: Vec<f32>,
    inner: L,
}

impl<L: QuantizedLinear> InputScaled<L> {
    /// `inner(x / scales)`; one positive finite scale per input of `inner`.
    pub fn new(scales: Vec<f32>, inner: L) -> Result<Self> {
        if scales.len() != inner.in_features() {
            return Err(tinylab_classical::error::shape_err(
                "InputScaled",
                &[scales.len()],
                &[inner.in_features()],
                "one scale per input",
            ));
        }
        if scales.iter().any(|&s| s <= 0.0 || !s.is_finite()) {
            return Err(arg_err("InputScaled", "scales must be positive and finite"));
        }
        Ok(Self { scales, inner })
    }
}

impl<L: QuantizedLinear> QuantizedLinear for InputScaled<L> {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.inner.forward(&crate::quant::smooth::divide_input_channels(x, &self.scales)?)
    }
    fn in_features(&self) -> usize {
        self.inner.in_features()
    }
    fn out_features(&self) -> usize {
        self.inner.out_features()
    }
    /// The inner layer's bytes and an f32 per scale.
    fn bytes(&self) -> usize {
        self.inner.bytes() + 4 * self.scales.len()
    }
}
