//! Post-training conversion of a float [`Sequential`] to an [`Int8Model`] in one call.
//!
//! 1. Lowering: the model is walked (nested `Sequential`s and `Residual`s included, layers found by
//!    downcasting), batch norms are folded into the preceding `Conv2d` / `Linear`
//!    ([`fold_batch_norm`]), a following ReLU / ReLU6 is attached to it, dropout is dropped.
//! 2. Calibration: the folded float graph runs over the calibration images; a [`RangeObserver`] sees
//!    the input and every tensor that gets parameters of its own (conv / linear outputs after their
//!    activation, residual sums); pooling, flatten and standalone ReLUs keep their input's parameters,
//!    as TFLite requires.
//! 3. Quantization (TFLite's int8 scheme): weights per output channel, symmetric on [-127, 127];
//!    activations per tensor, asymmetric on [-128, 127]; biases int32 at scale `s_in s_w[o]`;
//!    requantization multipliers `s_in s_w[o] / s_out` ([`quantize_multiplier`]); ReLU / ReLU6 become
//!    the output clamp (`CalculateActivationRangeQuantized`).

use super::fixed_point::{QuantizedMultiplier, Requant, RoundingPolicy, quantize_multiplier};
use super::float_graph::{self, FloatLayer, FloatNode};
use super::graph::{Int8Layer, Int8Model, Int8Node, scale_zp};
use super::kernels::add::QAdd;
use super::kernels::conv::QConv2d;
use super::kernels::depthwise::QDepthwiseConv2d;
use super::kernels::fully_connected::QLinear;
use crate::compress::calibrate::{Calibration, RangeObserver};
use crate::compress::fold::fold_batch_norm;
use crate::compress::quant::QuantParams;
use crate::error::{Result, arg_err};
use crate::nn::{
    Act, AvgPool2d, BatchNorm, Conv2d, Dropout, Flatten, GlobalAvgPool, Linear, MaxPool2d, Module, Residual,
    Sequential, join,
};
use crate::ops::Activation;
use crate::tensor::{Tensor, contiguous};
use ndarray::{Axis, Slice};
use std::any::Any;

/// Settings of [`convert`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvertOptions {
    /// How activation ranges are estimated from the calibration set (min-max by default).
    pub calibration: Calibration,
    /// Rounding of every requantization (TFLite's double rounding by default).
    pub policy: RoundingPolicy,
    /// Calibration images per float forward pass.
    pub batch_size: usize,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        Self { calibration: Calibration::MinMax, policy: RoundingPolicy::DoubleRounding, batch_size: 128 }
    }
}

/// Converts `model` to an int8 model, calibrating activation ranges on `calibration` images
/// `(N, C, H, W)`. Unsupported layers or activations are errors naming the layer's path.
pub fn convert(model: &Sequential, calibration: &Tensor, opts: &ConvertOptions) -> Result<Int8Model> {
    let shape = calibration.shape();
    if shape.len() != 4 || shape[0] == 0 {
        return Err(arg_err(
            "int8::convert",
            format!("calibration images must be a non-empty (N, C, H, W), got {shape:?}"),
        ));
    }
    if opts.batch_size == 0 {
        return Err(arg_err("int8::convert", "batch size must be positive"));
    }
    let graph = lower(model, "")?;
    let (input, observers) = calibrate(&graph, calibration, opts)?;
    let mut points = observers.into_iter();
    let mut current = input.clone();
    let nodes = quantize_nodes(&graph, &mut current, &mut points, opts.policy)?;
    Int8Model::from_parts(input, [shape[1], shape[2], shape[3]], nodes, opts.policy)
}

/// A short name of a module for error messages.
fn type_name(m: &dyn Module) -> String {
    let debug = format!("{m:?}");
    debug.split(|c: char| !c.is_alphanumeric() && c != '_').next().unwrap_or("?").to_string()
}

fn supported_act(kind: Activation, path: &str) -> Result<Activation> {
    match kind {
        Activation::Relu | Activation::Relu6 => Ok(kind),
        other => Err(arg_err(
            "int8::convert",
            format!("activation {other:?} at `{path}` has no int8 kernel (only ReLU and ReLU6 fold into clamps)"),
        )),
    }
}

/// Lowers a `Sequential` to the float graph (see the module docs).
fn lower(model: &Sequential, prefix: &str) -> Result<Vec<FloatNode>> {
    let layers: Vec<(String, &dyn Module)> = model
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| (join(prefix, &i.to_string()), l.as_ref()))
        .filter(|(_, l)| (*l as &dyn Any).downcast_ref::<Dropout>().is_none())
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < layers.len() {
        let (path, layer) = (&layers[i].0, layers[i].1);
        let any = layer as &dyn Any;
        i += 1;
        let weighted = if let Some(c) = any.downcast_ref::<Conv2d>() {
            Some((c.weight.effective_value(), c.bias.as_ref().map(|b| b.effective_value()), Some(c.spec)))
        } else {
            any.downcast_ref::<Linear>()
                .map(|l| (l.weight.effective_value(), l.bias.as_ref().map(|b| b.effective_value()), None))
        };
        if let Some((mut weight, mut bias, spec)) = weighted {
            if let Some(bn) = layers.get(i).and_then(|(_, l)| (*l as &dyn Any).downcast_ref::<BatchNorm>()) {
                let (w, b) = fold_batch_norm(&weight, bias.as_ref(), bn)?;
                (weight, bias) = (w, Some(b));
                i += 1;
            }
            let mut act = None;
            if let Some((p, a)) =
                layers.get(i).and_then(|(p, l)| (*l as &dyn Any).downcast_ref::<Act>().map(|a| (p, a)))
            {
                act = Some(supported_act(a.kind, p)?);
                i += 1;
            }
            let bias = bias.unwrap_or_else(|| crate::tensor::zeros(&[weight.shape()[0]]));
            let layer = match spec {
                Some(spec) => FloatLayer::Conv { weight, bias, spec, act },
                None => FloatLayer::Linear { weight, bias, act },
            };
            out.push(FloatNode { path: path.clone(), layer });
            continue;
        }
        let layer = if any.downcast_ref::<BatchNorm>().is_some() {
            return Err(arg_err("int8::convert", format!("batch norm at `{path}` does not follow a Conv2d or Linear")));
        } else if let Some(a) = any.downcast_ref::<Act>() {
            FloatLayer::Act(supported_act(a.kind, path)?)
        } else if let Some(p) = any.downcast_ref::<MaxPool2d>() {
            FloatLayer::MaxPool(p.spec)
        } else if let Some(p) = any.downcast_ref::<AvgPool2d>() {
            FloatLayer::AvgPool(p.spec)
        } else if any.downcast_ref::<GlobalAvgPool>().is_some() {
            FloatLayer::GlobalAvgPool
        } else if any.downcast_ref::<Flatten>().is_some() {
            FloatLayer::Flatten
        } else if let Some(s) = any.downcast_ref::<Sequential>() {
            out.extend(lower(s, path)?);
            continue;
        } else if let Some(r) = any.downcast_ref::<Residual>() {
            FloatLayer::Residual {
                body: lower(&r.body, &join(path, "body"))?,
                shortcut: r.shortcut.as_ref().map(|s| lower(s, &join(path, "shortcut"))).transpose()?,
                post: r.post.map(|a| supported_act(a, path)).transpose()?,
            }
        } else {
            return Err(arg_err("int8::convert", format!("layer `{path}` ({}) has no int8 kernel", type_name(layer))));
        };
        out.push(FloatNode { path: path.clone(), layer });
    }
    Ok(out)
}

/// Marks, in point order, which points get their own parameters.
fn own_params(graph: &[FloatNode], out: &mut Vec<bool>) {
    for node in graph {
        if let FloatLayer::Residual { body, shortcut, .. } = &node.layer {
            own_params(body, out);
            if let Some(s) = shortcut {
                own_params(s, out);
            }
        }
        out.push(node.layer.has_own_params());
    }
}

/// The input's parameters and, per point, the calibrated parameters (None where inherited).
fn calibrate(
    graph: &[FloatNode],
    images: &Tensor,
    opts: &ConvertOptions,
) -> Result<(QuantParams, Vec<Option<QuantParams>>)> {
    let mut own = Vec::new();
    own_params(graph, &mut own);
    let mut input_obs = RangeObserver::new(opts.calibration);
    let mut observers: Vec<Option<RangeObserver>> =
        own.iter().map(|&o| o.then(|| RangeObserver::new(opts.calibration))).collect();
    let n = images.shape()[0];
    for start in (0..n).step_by(opts.batch_size) {
        let batch = images.slice_axis(Axis(0), Slice::from(start..(start + opts.batch_size).min(n))).to_owned();
        input_obs.observe(contiguous(&batch).as_slice().expect("standard layout"));
        let mut point = 0;
        float_graph::run(graph, batch, &mut point, &mut |p, t| {
            if let Some(obs) = observers[p].as_mut() {
                obs.observe(t.as_slice().expect("ops return standard layout"));
            }
            Ok(())
        })?;
    }
    let params = |obs: &RangeObserver| -> Result<QuantParams> {
        let (lo, hi) = obs.range()?;
        QuantParams::affine(lo, hi, 8)
    };
    let input = params(&input_obs)?;
    let points = observers.iter().map(|o| o.as_ref().map(params).transpose()).collect::<Result<_>>()?;
    Ok((input, points))
}

/// TFLite's `CalculateActivationRangeQuantized` for the output parameters `p`.
fn activation_range(act: Option<Activation>, p: &QuantParams) -> (i32, i32) {
    let (s, zp) = scale_zp(p);
    let q = |f: f32| zp + (f / s).round() as i32;
    match act {
        Some(Activation::Relu) => (q(0.0).max(-128), 127),
        Some(Activation::Relu6) => (q(0.0).max(-128), q(6.0).min(127)),
        _ => (-128, 127),
    }
}

/// Per-channel int8 weights, their scales, and the int32 bias at scale `s_in s_w[o]`.
fn quantize_weights(weight: &Tensor, bias: &Tensor, s_in: f32) -> Result<(Vec<i8>, Vec<f32>, Vec<i32>)> {
    let wp = QuantParams::per_channel_symmetric(weight, 0, 8)?;
    let wq = wp.quantize(weight)?.into_iter().map(|v| v as i8).collect();
    let bq = bias
        .iter()
        .zip(&wp.scale)
        .map(|(&b, &sw)| (b as f64 / (s_in as f64 * sw as f64)).round().clamp(i32::MIN as f64, i32::MAX as f64) as i32)
        .collect();
    Ok((wq, wp.scale, bq))
}

/// Per-channel multipliers `s_in s_w[o] / s_out` (in f64, as TFLite computes them).
fn multipliers(
    s_in: f32,
    weight_scales: &[f32],
    s_out: f32,
    policy: RoundingPolicy,
) -> Result<Vec<QuantizedMultiplier>> {
    weight_scales.iter().map(|&sw| quantize_multiplier(s_in as f64 * sw as f64 / s_out as f64, policy)).collect()
}

fn quantize_nodes(
    graph: &[FloatNode],
    current: &mut QuantParams,
    points: &mut impl Iterator<Item = Option<QuantParams>>,
    policy: RoundingPolicy,
) -> Result<Vec<Int8Node>> {
    let mut nodes = Vec::with_capacity(graph.len());
    for node in graph {
        let (s_in, zp_in) = scale_zp(current);
        let (layer, output, act) = match &node.layer {
            FloatLayer::Residual { body, shortcut, post } => {
                let mut main_q = current.clone();
                let body = quantize_nodes(body, &mut main_q, points, policy)?;
                let mut skip_q = current.clone();
                let shortcut = shortcut.as_ref().map(|s| quantize_nodes(s, &mut skip_q, points, policy)).transpose()?;
                let out = next_own(points, &node.path)?;
                let (lo, hi) = activation_range(*post, &out);
                let add = QAdd::new(scale_zp(&main_q), scale_zp(&skip_q), scale_zp(&out), lo, hi, policy)?;
                (Int8Layer::Residual { body, shortcut, add }, out, *post)
            }
            FloatLayer::Conv { weight, bias, spec, act } => {
                let out = next_own(points, &node.path)?;
                let (lo, hi) = activation_range(*act, &out);
                let (wq, scales, bq) = quantize_weights(weight, bias, s_in)?;
                let requant =
                    Requant::new(multipliers(s_in, &scales, out.scale[0], policy)?, out.zero_point[0], lo, hi, policy)?;
                let ws = weight.shape();
                let shape = [ws[0], ws[1], ws[2], ws[3]];
                let depthwise = spec.groups > 1 && ws[1] == 1;
                let layer = if depthwise {
                    let op = QDepthwiseConv2d::new(wq, shape, bq, *spec, zp_in, requant)?;
                    Int8Layer::Depthwise { op, weight_scales: scales }
                } else {
                    Int8Layer::Conv { op: QConv2d::new(wq, shape, bq, *spec, zp_in, requant)?, weight_scales: scales }
                };
                (layer, out, *act)
            }
            FloatLayer::Linear { weight, bias, act } => {
                let out = next_own(points, &node.path)?;
                let (lo, hi) = activation_range(*act, &out);
                let (wq, scales, bq) = quantize_weights(weight, bias, s_in)?;
                let requant =
                    Requant::new(multipliers(s_in, &scales, out.scale[0], policy)?, out.zero_point[0], lo, hi, policy)?;
                let (o, k) = (weight.shape()[0], weight.shape()[1]);
                let op = QLinear::new(wq, o, k, bq, zp_in, requant)?;
                (Int8Layer::FullyConnected { op, weight_scales: scales }, out, *act)
            }
            other => {
                points.next();
                let layer = match other {
                    FloatLayer::MaxPool(s) => Int8Layer::MaxPool(*s),
                    FloatLayer::AvgPool(s) => Int8Layer::AvgPool(*s),
                    FloatLayer::GlobalAvgPool => Int8Layer::GlobalAvgPool,
                    FloatLayer::Flatten => Int8Layer::Flatten,
                    FloatLayer::Act(a) => {
                        let (min, max) = activation_range(Some(*a), current);
                        Int8Layer::Clamp { min, max }
                    }
                    _ => unreachable!("weighted layers and residuals are handled above"),
                };
                let act = if let FloatLayer::Act(a) = other { Some(*a) } else { None };
                (layer, current.clone(), act)
            }
        };
        *current = output.clone();
        nodes.push(Int8Node { path: node.path.clone(), layer, output, act });
    }
    Ok(nodes)
}

fn next_own(points: &mut impl Iterator<Item = Option<QuantParams>>, path: &str) -> Result<QuantParams> {
    points
        .next()
        .flatten()
        .ok_or_else(|| arg_err("int8::convert", format!("no calibrated range for the output of `{path}`")))
}
