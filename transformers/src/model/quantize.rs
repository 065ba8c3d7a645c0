//! Post-training quantization of a [`Gpt`]: swapping its linear layers for [`QuantizedLinear`](crate::quant::QuantizedLinear)s and
//! recording the calibration inputs the quantizers need.
//!
//! [`Gpt::quantize_linears`] asks a chooser for each layer's replacement (W8A8 of SmoothQuant, Xiao
//! et al. 2023; int4 of RTN / AWQ, Lin et al. 2023 / GPTQ, Frantar et al. 2023) and installs it in
//! the layer's [`LinearSlot`](super::qlinear::LinearSlot). [`Gpt::calibrate`] runs evaluation passes
//! over calibration sequences and returns, per layer, the input rows it saw (through any layers
//! already quantized, so a sequential scheme sees the errors of the layers before it).

use super::gpt::Gpt;
use super::qlinear::{Calibration, ChooseLinear, TapSink};
use std::sync::{Arc, Mutex};
use tinylab_classical::autograd::Var;
use tinylab_classical::error::{arg_err, shape_err};
use tinylab_classical::nn::{Ctx, Module};
use tinylab_classical::{Result, Tensor};

impl Gpt {
    /// Replaces each linear layer for which `choose(path, weight [out, in], bias)` returns a layer;
    /// `None` keeps the current one. A replacement must have the float layer's sizes. Evaluation and
    /// [`Gpt::forward_cached`] then use the replacements; training passes are refused.
    pub fn quantize_linears(&mut self, choose: &mut ChooseLinear) -> Result<()> {
        self.visit_linears(&mut |path, layer, slot| {
            let (out, inp) = (layer.weight.value.shape()[0], layer.weight.value.shape()[1]);
            if let Some(q) = choose(&path, &layer.weight.value, layer.bias.as_ref().map(|b| &b.value))? {
                if q.in_features() != inp || q.out_features() != out {
                    return Err(shape_err(
                        "quantize_linears",
                        &[q.out_features(), q.in_features()],
                        &[out, inp],
                        "a replacement must have the float layer's sizes",
                    ));
                }
                slot.quantized = Some(Arc::from(q));
            }
            Ok(())
        })
    }

    /// Drops every replacement: the model is the float one again.
    pub fn dequantize_linears(&mut self) {
        let _ = self.visit_linears(&mut |_, _, slot| {
            slot.quantized = None;
            Ok(())
        });
    }

    /// True when some linear layer has a replacement.
    pub fn is_quantized(&self) -> bool {
        self.blocks.iter().any(|b| b.attn.slots.iter().chain(&b.mlp.slots).any(|s| s.quantized.is_some()))
            || self.lm_head_slot.quantized.is_some()
    }

    /// Bytes of the linear layers as evaluation runs them: a replacement's [`bytes`](crate::quant::QuantizedLinear::bytes),
    /// else four per float weight and bias.
    pub fn linear_bytes(&mut self) -> usize {
        let mut bytes = 0;
        let _ = self.visit_linears(&mut |_, layer, slot| {
            bytes += match &slot.quantized {
                Some(q) => q.bytes(),
                None => 4 * (layer.weight.value.len() + layer.bias.as_ref().map_or(0, |b| b.value.len())),
            };
            Ok(())
        });
        bytes
    }

    /// The input rows `[rows, in]` every linear layer sees over evaluation passes of `batches` (each
    /// token ids `[batch, tokens]`), keyed by the paths of [`Gpt::visit_linears`].
    pub fn calibrate(&mut self, batches: &[Tensor]) -> Result<Calibration> {
        if batches.is_empty() {
            return Err(arg_err("calibrate", "needs at least one batch of token ids"));
        }
        let sink: TapSink = Arc::new(Mutex::new(Default::default()));
        self.visit_linears(&mut |path, _, slot| {
            slot.set_tap(path, sink.clone());
            Ok(())
        })?;
        let mut ctx = Ctx::eval();
        let passes = batches.iter().try_for_each(|b| self.forward(&Var::constant(b.clone()), &mut ctx).map(|_| ()));
        let _ = self.visit_linears(&mut |_, _, slot| {
            slot.clear_tap();
            Ok(())
        });
        passes?;
        let recorded = std::mem::take(&mut *sink.lock().map_err(|_| arg_err("calibrate", "a tap was poisoned"))?);
        let mut inputs = std::collections::BTreeMap::new();
        for (path, parts) in recorded {
            let views: Vec<_> = parts.iter().map(|t| t.view()).collect();
            let rows = ndarray::concatenate(ndarray::Axis(0), &views)
                .map_err(|e| arg_err("calibrate", format!("`{path}`: {e}")))?;
            inputs.insert(path, rows);
        }
        Ok(Calibration { inputs })
    }
}
