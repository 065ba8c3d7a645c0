//! Quantization-aware training and weight-only post-training quantization.
//!
//! Weights: a [`Quantizer`] on a [`Param`] replaces the weight by its quantized value in every forward
//! pass while gradients flow straight through to the float weight (the straight-through estimator,
//! Bengio et al. 2013; Jacob et al. 2018). [`LinearWeights`] re-fits its scale to the current weights at
//! every pass (as PyTorch's per-channel weight observers do during QAT); [`Binary`] and [`Ternary`] are
//! the 1-bit (BinaryConnect / XNOR-Net scaling, Rastegari et al. 2016) and 2-bit (Ternary Weight
//! Networks, Li et al. 2016: threshold `0.7 mean|w|`) extremes.
//!
//! Activations: [`FakeQuantAct`] is a layer that tracks the range of its input (moving-average min /
//! max in training, PyTorch's `MovingAverageMinMaxObserver` with averaging constant 0.01) and
//! fake-quantizes it; its gradient is passed where the input lies inside the range and zero where it
//! was clipped. [`insert_activation_quant`] puts one at the input and after every activation and
//! residual block of a [`Sequential`], the points where an int8 engine requantizes.

use super::quant::{QuantParams, QuantScheme, Symmetry};
use crate::autograd::{Op, Var};
use crate::error::{Result, arg_err};
use crate::nn::{Act, Ctx, Module, Param, Quantizer, Residual, Sequential};
use crate::tensor::Tensor;
use std::any::Any;
use std::sync::Arc;

/// Linear fake quantization of a weight with parameters fitted to the weight itself (min / max per
/// tensor or per channel).
#[derive(Debug, Clone, Copy)]
pub struct LinearWeights {
    scheme: QuantScheme,
}

impl LinearWeights {
    /// A quantizer for `scheme` (2 to 8 bits).
    pub fn new(scheme: QuantScheme) -> Result<Self> {
        if !(2..=8).contains(&scheme.bits) {
            return Err(arg_err("LinearWeights", format!("{} bits: use 2 to 8 (Binary for 1)", scheme.bits)));
        }
        Ok(Self { scheme })
    }

    /// The scheme.
    pub fn scheme(&self) -> QuantScheme {
        self.scheme
    }
}

impl Quantizer for LinearWeights {
    fn quantize(&self, w: &Tensor) -> Tensor {
        // Fitting fails only for non-finite weights, which then pass through unchanged (and show up
        // as NaN losses rather than being hidden).
        self.scheme.fit(w).and_then(|p| p.fake_quantize(w)).unwrap_or_else(|_| w.clone())
    }
}

/// Per-output-channel (axis 0) mean absolute value over `keep` entries, for the scaled sign and
/// ternary quantizers.
fn channel_scale(w: &Tensor, keep: impl Fn(f32, usize) -> bool) -> Vec<f32> {
    w.axis_iter(ndarray::Axis(0))
        .enumerate()
        .map(|(c, row)| {
            let (sum, n) =
                row.iter().filter(|v| keep(**v, c)).fold((0.0f64, 0usize), |(s, n), v| (s + v.abs() as f64, n + 1));
            if n == 0 { 0.0 } else { (sum / n as f64) as f32 }
        })
        .collect()
}

/// Scaled sign: `w -> alpha_c sign(w)` with `alpha_c = mean |w|` over output channel `c` (XNOR-Net's
/// optimal scale for binary weights). Zeros stay zero so that pruned weights remain pruned.
#[derive(Debug, Clone, Copy, Default)]
pub struct Binary;

impl Quantizer for Binary {
    fn quantize(&self, w: &Tensor) -> Tensor {
        if w.ndim() == 0 {
            return w.clone();
        }
        let alpha = channel_scale(w, |v, _| v != 0.0);
        let mut out = w.clone();
        for (c, mut row) in out.axis_iter_mut(ndarray::Axis(0)).enumerate() {
            row.mapv_inplace(|v| if v == 0.0 { 0.0 } else { alpha[c] * v.signum() });
        }
        out
    }
}

/// Ternary Weight Networks: per output channel, `Δ = 0.7 mean|w|`; entries with `|w| <= Δ` become 0,
/// the rest `± alpha` with `alpha` the mean of their magnitudes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ternary;

/// TWN's threshold factor.
const TERNARY_THRESHOLD: f32 = 0.7;

impl Quantizer for Ternary {
    fn quantize(&self, w: &Tensor) -> Tensor {
        if w.ndim() == 0 {
            return w.clone();
        }
        let delta: Vec<f32> = channel_scale(w, |_, _| true).iter().map(|m| TERNARY_THRESHOLD * m).collect();
        let alpha = channel_scale(w, |v, c| v.abs() > delta[c]);
        let mut out = w.clone();
        for (c, mut row) in out.axis_iter_mut(ndarray::Axis(0)).enumerate() {
            row.mapv_inplace(|v| if v.abs() > delta[c] { alpha[c] * v.signum() } else { 0.0 });
        }
        out
    }
}

/// Installs `quantizer` on every selected parameter (quantization-aware training from here on).
pub fn attach_quantizer(
    model: &mut dyn Module,
    quantizer: Arc<dyn Quantizer>,
    filter: &dyn Fn(&str, &Param) -> bool,
) -> usize {
    let mut n = 0;
    model.visit_params_mut("", &mut |name, p| {
        if filter(&name, p) {
            p.quantizer = Some(quantizer.clone());
            n += 1;
        }
    });
    n
}

/// Replaces every parameter's value by its effective (masked, quantized) value and removes the
/// quantizer: post-training weight quantization, or the end of QAT. Masks are kept.
pub fn bake_quantizers(model: &mut dyn Module) {
    model.visit_params_mut("", &mut |_, p| {
        if p.quantizer.is_some() {
            p.value = p.effective_value();
            p.quantizer = None;
        }
    });
}

/// Storage of the selected weights in bits at `bits` per weight (plus one f32 scale per channel of
/// axis 0 when `per_channel`, else one per tensor) and the rest of the parameters in f32.
pub fn quantized_size_bits(
    model: &dyn Module,
    bits: u32,
    per_channel: bool,
    filter: &dyn Fn(&str, &Param) -> bool,
) -> u64 {
    let mut total = 0u64;
    model.visit_params("", &mut |name, p| {
        total += if filter(&name, p) {
            let scales = if per_channel { p.value.shape().first().copied().unwrap_or(1) } else { 1 };
            p.len() as u64 * bits as u64 + 32 * scales as u64
        } else {
            32 * p.len() as u64
        };
    });
    total
}

/// The straight-through gradient of a clamp to `[lo, hi]`: passed inside, zero outside.
#[derive(Debug)]
struct ClampedStraightThrough {
    lo: f32,
    hi: f32,
}

impl Op for ClampedStraightThrough {
    fn name(&self) -> &'static str {
        "fake_quant"
    }
    fn backward(&self, inputs: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let mut g = grad.clone();
        ndarray::Zip::from(&mut g).and(inputs[0]).for_each(|g, &x| {
            if !(self.lo..=self.hi).contains(&x) {
                *g = 0.0;
            }
        });
        Ok(vec![Some(g)])
    }
}

/// `x` fake-quantized with per-tensor `params`, differentiated with the clipped straight-through
/// estimator (Bengio et al. 2013; the gradient passes where `x` lies inside the quantizer's range and
/// is zero where it was clipped), as PyTorch's fake-quantize modules do. Shared by activation QAT and
/// QuantumNAT's post-measurement quantization.
pub fn fake_quantize_ste(x: &Var, params: &QuantParams) -> Result<Var> {
    if params.channels() != 1 {
        return Err(arg_err(
            "fake_quantize_ste",
            format!("needs per-tensor parameters, got {} channels", params.channels()),
        ));
    }
    let (lo, hi) = (params.dequantize_value(params.qmin, 0), params.dequantize_value(params.qmax, 0));
    let y = params.fake_quantize(x.value())?;
    Ok(if x.requires_grad() { Var::from_op(ClampedStraightThrough { lo, hi }, &[x], y) } else { Var::constant(y) })
}

/// Fake quantization of activations with a tracked range.
#[derive(Debug, Clone)]
pub struct FakeQuantAct {
    /// Bits of the grid (asymmetric).
    pub bits: u8,
    /// The tracked range, `None` before the first training batch.
    pub range: Option<(f32, f32)>,
    /// Weight of a new batch's min / max in the moving average.
    pub averaging: f32,
    /// When false the layer only observes (calibration) and passes values through.
    pub enabled: bool,
}

impl FakeQuantAct {
    /// A quantizer of `bits` bits (2 to 8) with PyTorch's averaging constant 0.01.
    pub fn new(bits: u8) -> Result<Self> {
        if !(2..=8).contains(&bits) {
            return Err(arg_err("FakeQuantAct", format!("{bits} bits: use 2 to 8")));
        }
        Ok(Self { bits, range: None, averaging: 0.01, enabled: true })
    }

    /// The quantization parameters of the tracked range.
    pub fn params(&self) -> Result<QuantParams> {
        let (lo, hi) = self.range.ok_or_else(|| arg_err("FakeQuantAct", "no range observed yet"))?;
        QuantParams::from_range(lo, hi, self.bits, Symmetry::Asymmetric)
    }

    fn observe(&mut self, x: &Tensor) {
        if !x.iter().any(|v| v.is_finite()) {
            return;
        }
        let (lo, hi) = super::quant::min_max(x.iter().copied().filter(|v| v.is_finite()));
        self.range = Some(match self.range {
            None => (lo, hi),
            Some((a, b)) => (a + self.averaging * (lo - a), b + self.averaging * (hi - b)),
        });
    }
}

impl Module for FakeQuantAct {
    fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        if ctx.train || self.range.is_none() {
            self.observe(x.value());
        }
        if !self.enabled {
            return Ok(x.clone());
        }
        fake_quantize_ste(x, &self.params()?)
    }
    fn visit_params<'a>(&'a self, _: &str, _: &mut dyn FnMut(String, &'a Param)) {}
    fn visit_params_mut(&mut self, _: &str, _: &mut dyn FnMut(String, &mut Param)) {}
}

/// Inserts a [`FakeQuantAct`] of `bits` bits at the input of `model` and after every [`Act`] and
/// [`Residual`] (recursing into nested sequences and residual bodies), and after the final layer.
/// Returns how many were inserted.
pub fn insert_activation_quant(model: &mut Sequential, bits: u8) -> Result<usize> {
    FakeQuantAct::new(bits)?;
    fn walk(seq: &mut Sequential, bits: u8) -> usize {
        let mut inserted = 0;
        let mut i = 0;
        while i < seq.layers.len() {
            let layer: &mut dyn Any = seq.layers[i].as_mut();
            let after = if let Some(inner) = layer.downcast_mut::<Sequential>() {
                inserted += walk(inner, bits);
                false
            } else if let Some(res) = layer.downcast_mut::<Residual>() {
                inserted += walk(&mut res.body, bits);
                if let Some(s) = &mut res.shortcut {
                    inserted += walk(s, bits);
                }
                true
            } else {
                layer.is::<Act>()
            };
            if after {
                seq.layers.insert(i + 1, Box::new(FakeQuantAct::new(bits).expect("bits checked")));
                inserted += 1;
                i += 1;
            }
            i += 1;
        }
        inserted
    }
    let mut n = walk(model, bits);
    model.layers.insert(0, Box::new(FakeQuantAct::new(bits)?));
    model.layers.push(Box::new(FakeQuantAct::new(bits)?));
    n += 2;
    Ok(n)
}

/// Removes every [`FakeQuantAct`] that [`insert_activation_quant`] put in (after quantization-aware
/// training, before handing the float model to the int8 converter, which calibrates its own ranges).
/// Returns how many were removed.
pub fn remove_activation_quant(model: &mut Sequential) -> usize {
    let mut removed = 0;
    model.layers.retain(|layer| {
        let fake = (layer.as_ref() as &dyn Any).is::<FakeQuantAct>();
        removed += fake as usize;
        !fake
    });
    for layer in &mut model.layers {
        let any: &mut dyn Any = layer.as_mut();
        if let Some(inner) = any.downcast_mut::<Sequential>() {
            removed += remove_activation_quant(inner);
        } else if let Some(res) = any.downcast_mut::<Residual>() {
            removed += remove_activation_quant(&mut res.body);
            if let Some(s) = &mut res.shortcut {
                removed += remove_activation_quant(s);
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::quant::Granularity;

    fn tensor(shape: &[usize], v: Vec<f32>) -> Tensor {
        crate::tensor::from_vec(shape, v).unwrap()
    }

    #[test]
    fn linear_weights_use_at_most_2_to_the_bits_levels_per_channel() {
        let w = crate::tensor::randn(&[4, 50], 1.0, &mut crate::tensor::rng(1));
        for bits in [2u8, 4, 8] {
            let q = LinearWeights::new(QuantScheme::new(bits, Symmetry::Symmetric, Granularity::PerChannel(0)))
                .unwrap()
                .quantize(&w);
            for row in q.axis_iter(ndarray::Axis(0)) {
                let mut levels: Vec<u32> = row.iter().map(|v| v.to_bits()).collect();
                levels.sort();
                levels.dedup();
                assert!(levels.len() < 1 << bits, "{bits} bits: {} levels", levels.len());
            }
        }
        assert!(LinearWeights::new(QuantScheme::new(1, Symmetry::Symmetric, Granularity::PerTensor)).is_err());
    }

    #[test]
    fn binary_and_ternary_follow_their_papers() {
        let w = tensor(&[2, 4], vec![1.0, -3.0, 0.5, 0.0, 0.1, 0.1, -0.1, 2.0]);
        let b = Binary.quantize(&w);
        assert_eq!(b.iter().copied().collect::<Vec<_>>(), vec![1.5, -1.5, 1.5, 0.0, 0.575, 0.575, -0.575, 0.575]);
        // Row 0: mean|w| = 1.125, delta = 0.7875 -> keep 1 and -3, alpha = 2. Row 1: mean 0.575,
        // delta 0.4025 -> keep 2.0 only.
        let t = Ternary.quantize(&w);
        assert_eq!(t.iter().copied().collect::<Vec<_>>(), vec![2.0, -2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0]);
    }

    #[test]
    fn fake_quant_gradient_is_clipped_outside_the_range() {
        let mut fq = FakeQuantAct::new(8).unwrap();
        fq.range = Some((0.0, 1.0));
        let x = Var::leaf(tensor(&[4], vec![-0.5, 0.25, 0.75, 2.0]));
        let y = fq.forward(&x, &mut Ctx::eval()).unwrap();
        crate::ops::sum(&y).backward().unwrap();
        assert_eq!(x.grad().unwrap().iter().copied().collect::<Vec<_>>(), vec![0.0, 1.0, 1.0, 0.0]);
        assert_eq!(y.value()[[3]], 1.0);
    }

    #[test]
    fn insertion_points_follow_activations_and_blocks() {
        let mut model = crate::nn::zoo::resnet_cifar(8, 10, 1).unwrap();
        // Input, output, stem ReLU, one per block body ReLU, one after each of the 3 blocks.
        let paths = crate::nn::named_params(&model).len();
        assert_eq!(insert_activation_quant(&mut model, 8).unwrap(), 2 + 1 + 3 + 3);
        let x = Var::constant(crate::tensor::randn(&[1, 3, 32, 32], 1.0, &mut crate::tensor::rng(0)));
        model.forward(&x, &mut Ctx::train(0)).unwrap();
        assert_eq!(remove_activation_quant(&mut model), 9);
        assert_eq!(crate::nn::named_params(&model).len(), paths);
    }
}
