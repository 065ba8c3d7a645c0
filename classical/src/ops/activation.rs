//! Element-wise activations (one op, a `match` per kind), softmax / log-softmax and dropout.

use crate::autograd::{Op, Var};
use crate::error::{Result, arg_err};
use crate::tensor::{Tensor, contiguous, uniform};
use ndarray::Axis;

/// An element-wise nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)` (MobileNet's activation).
    Relu6,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// `x Φ(x)` with the exact normal CDF (PyTorch's default GELU).
    Gelu,
}

/// `erf(x)` to about 1e-7 (Abramowitz & Stegun 7.1.26 is not enough near 0 for gradients, so this uses
/// the series below |x| < 2 and the complementary continued-fraction bound above).
fn erf(x: f64) -> f64 {
    if x.abs() < 2.5 {
        // Maclaurin series: erf(x) = 2/sqrt(pi) sum (-1)^n x^(2n+1) / (n! (2n+1)).
        let (mut term, mut sum, x2) = (x, x, x * x);
        for n in 1..60 {
            term *= -x2 / n as f64;
            let add = term / (2 * n + 1) as f64;
            sum += add;
            if add.abs() < 1e-17 {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        // erfc(x) = e^{-x^2}/(x sqrt(pi)) * continued fraction, evaluated backwards.
        let ax = x.abs();
        let mut f = 0.0;
        for k in (1..40).rev() {
            f = (k as f64 / 2.0) / (ax + f);
        }
        let erfc = (-ax * ax).exp() / (std::f64::consts::PI.sqrt() * (ax + f));
        (1.0 - erfc).copysign(x)
    }
}

impl Activation {
    fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Relu => x.max(0.0),
            Activation::Relu6 => x.clamp(0.0, 6.0),
            Activation::Sigmoid => super::fast_exp::sigmoid(x),
            Activation::Tanh => x.tanh(),
            Activation::Gelu => {
                let x = x as f64;
                (0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))) as f32
            }
        }
    }

    /// `d f / d x` at input `x` with output `y`.
    fn derivative(self, x: f32, y: f32) -> f32 {
        match self {
            Activation::Relu => (x > 0.0) as u8 as f32,
            Activation::Relu6 => (x > 0.0 && x < 6.0) as u8 as f32,
            Activation::Sigmoid => y * (1.0 - y),
            Activation::Tanh => 1.0 - y * y,
            Activation::Gelu => {
                let x = x as f64;
                let cdf = 0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2));
                let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
                (cdf + x * pdf) as f32
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Relu6 => "relu6",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Gelu => "gelu",
        }
    }
}

#[derive(Debug)]
struct Elementwise(Activation);

impl Op for Elementwise {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn describe(&self) -> Option<crate::graph::NodeOp> {
        Some(crate::graph::NodeOp::Activation(self.0))
    }
    fn backward(&self, inputs: &[&Tensor], output: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        // One pass over contiguous slices (ReLU, the hot one in CNNs, multiplies by its 0/1 derivative
        // directly: the same bits as `derivative`, without the dispatch).
        let (g, x, y) = (contiguous(grad), contiguous(inputs[0]), contiguous(output));
        let (gs, xs, ys) = (g.as_slice().unwrap(), x.as_slice().unwrap(), y.as_slice().unwrap());
        let values: Vec<f32> = match self.0 {
            Activation::Relu => gs.iter().zip(xs).map(|(&g, &x)| g * (x > 0.0) as u8 as f32).collect(),
            kind => gs.iter().zip(xs).zip(ys).map(|((&g, &x), &y)| g * kind.derivative(x, y)).collect(),
        };
        let g = Tensor::from_shape_vec(x.raw_dim(), values).expect("same shape");
        Ok(vec![Some(g)])
    }
}

/// Applies an activation element-wise.
pub fn activation(x: &Var, kind: Activation) -> Var {
    let xs = contiguous(x.value());
    let values: Vec<f32> = xs.as_slice().expect("standard layout").iter().map(|&v| kind.apply(v)).collect();
    Var::from_op(Elementwise(kind), &[x], Tensor::from_shape_vec(xs.raw_dim(), values).expect("same shape"))
}

/// `max(x, 0)`.
pub fn relu(x: &Var) -> Var {
    activation(x, Activation::Relu)
}

/// `min(max(x, 0), 6)`.
pub fn relu6(x: &Var) -> Var {
    activation(x, Activation::Relu6)
}

/// The logistic sigmoid.
pub fn sigmoid(x: &Var) -> Var {
    activation(x, Activation::Sigmoid)
}

/// Hyperbolic tangent.
pub fn tanh(x: &Var) -> Var {
    activation(x, Activation::Tanh)
}

/// GELU with the exact normal CDF.
pub fn gelu(x: &Var) -> Var {
    activation(x, Activation::Gelu)
}

fn check_axis(op: &'static str, x: &Var, axis: usize) -> Result<()> {
    if axis >= x.shape().len() {
        return Err(arg_err(op, format!("axis {axis} out of range for shape {:?}", x.shape())));
    }
    Ok(())
}

/// Numerically stable softmax of each lane along `axis` (max subtracted first).
fn softmax_value(x: &Tensor, axis: usize) -> Tensor {
    let mut y = x.clone();
    for mut lane in y.lanes_mut(Axis(axis)) {
        let m = lane.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let s = super::fast_exp::exp_shifted_sum_lane(lane.view_mut(), m);
        lane.mapv_inplace(|v| v / s);
    }
    y
}

#[derive(Debug)]
struct Softmax {
    axis: usize,
    log: bool,
}

impl Op for Softmax {
    fn name(&self) -> &'static str {
        if self.log { "log_softmax" } else { "softmax" }
    }
    fn describe(&self) -> Option<crate::graph::NodeOp> {
        Some(crate::graph::NodeOp::Softmax { axis: self.axis, log: self.log })
    }
    fn backward(&self, _: &[&Tensor], output: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let ax = Axis(self.axis);
        let g = if self.log {
            // d/dx: g - softmax * sum(g)
            let p = output.mapv(f32::exp);
            let s = grad.sum_axis(ax).insert_axis(ax);
            grad - &(p * &s)
        } else {
            // d/dx: y * (g - sum(g * y))
            let s = (grad * output).sum_axis(ax).insert_axis(ax);
            output * &(grad - &s)
        };
        Ok(vec![Some(g)])
    }
}

/// Softmax along `axis`.
pub fn softmax(x: &Var, axis: usize) -> Result<Var> {
    check_axis("softmax", x, axis)?;
    Ok(Var::from_op(Softmax { axis, log: false }, &[x], softmax_value(x.value(), axis)))
}

/// Log-softmax along `axis` (computed as `x - max - log Σ e^{x - max}`).
pub fn log_softmax(x: &Var, axis: usize) -> Result<Var> {
    check_axis("log_softmax", x, axis)?;
    let mut y = x.value().clone();
    for mut lane in y.lanes_mut(Axis(axis)) {
        let m = lane.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let lse = m + lane.fold(0.0f32, |a, &b| a + super::fast_exp::exp(b - m)).ln();
        lane.mapv_inplace(|v| v - lse);
    }
    Ok(Var::from_op(Softmax { axis, log: true }, &[x], y))
}

#[derive(Debug)]
struct Dropout(Tensor);

/// Dropout in evaluation mode while a model is traced: the identity, recorded as a dropout node.
#[derive(Debug)]
struct DropoutEval(f32);

impl Op for DropoutEval {
    fn name(&self) -> &'static str {
        "dropout"
    }
    fn describe(&self) -> Option<crate::graph::NodeOp> {
        Some(crate::graph::NodeOp::Dropout { p: self.0 })
    }
    fn backward(&self, _: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(grad.clone())])
    }
}

impl Op for Dropout {
    fn name(&self) -> &'static str {
        "dropout"
    }
    fn backward(&self, _: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(grad * &self.0)])
    }
}

/// Inverted dropout: zeroes each element with probability `p` and scales the rest by `1/(1-p)`;
/// the identity when `train` is false. The mask is drawn from `rng`.
pub fn dropout(x: &Var, p: f32, train: bool, rng: &mut rand_chacha::ChaCha8Rng) -> Result<Var> {
    if !(0.0..1.0).contains(&p) {
        return Err(arg_err("dropout", format!("p = {p} must be in [0, 1)")));
    }
    if !train || p == 0.0 {
        if crate::graph::active() {
            return Ok(Var::from_op(DropoutEval(p), &[x], x.value().clone()));
        }
        return Ok(x.clone());
    }
    let keep = 1.0 / (1.0 - p);
    let mask = x.value().mapv(|_| if uniform(rng) < p as f64 { 0.0 } else { keep });
    let v = x.value() * &mask;
    Ok(Var::from_op(Dropout(mask), &[x], v))
}
