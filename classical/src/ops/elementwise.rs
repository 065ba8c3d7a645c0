//! Broadcasting arithmetic: `add`, `sub`, `mul`, `div` (NumPy broadcasting rules), and scaling.

use crate::autograd::{Op, Var};
use crate::error::{Result, shape_err};
use crate::tensor::Tensor;
use ndarray::{Axis, IxDyn};

/// The broadcast shape of `a` and `b` (NumPy rules), or an error naming both shapes.
pub fn broadcast_shape(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(shape_err(op, a, b, format!("dimension {i} from the right cannot broadcast"))),
        };
    }
    Ok(out)
}

/// Sums `g` down to `shape` (the inverse of broadcasting): the gradient of a broadcast operand.
pub fn sum_to_shape(g: &Tensor, shape: &[usize]) -> Tensor {
    let mut g = g.clone();
    while g.ndim() > shape.len() {
        g = g.sum_axis(Axis(0));
    }
    for (axis, &d) in shape.iter().enumerate() {
        if d == 1 && g.shape()[axis] != 1 {
            g = g.sum_axis(Axis(axis)).insert_axis(Axis(axis));
        }
    }
    g.into_shape_with_order(IxDyn(shape)).expect("sum_to_shape keeps the element count")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinaryKind {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryKind {
    fn name(self) -> &'static str {
        match self {
            BinaryKind::Add => "add",
            BinaryKind::Sub => "sub",
            BinaryKind::Mul => "mul",
            BinaryKind::Div => "div",
        }
    }
}

#[derive(Debug)]
struct Binary(BinaryKind);

impl Op for Binary {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn describe(&self) -> Option<crate::graph::NodeOp> {
        let op = match self.0 {
            BinaryKind::Add => crate::graph::BinaryOp::Add,
            BinaryKind::Sub => crate::graph::BinaryOp::Sub,
            BinaryKind::Mul => crate::graph::BinaryOp::Mul,
            BinaryKind::Div => crate::graph::BinaryOp::Div,
        };
        Some(crate::graph::NodeOp::Binary { op, act: None })
    }

    fn backward(&self, inputs: &[&Tensor], _output: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (a, b) = (inputs[0], inputs[1]);
        let (ga, gb) = match self.0 {
            BinaryKind::Add => (grad.clone(), grad.clone()),
            BinaryKind::Sub => (grad.clone(), -grad),
            BinaryKind::Mul => (grad * b, grad * a),
            BinaryKind::Div => {
                let ga = grad / b;
                let gb = -(grad * a) / (b * b);
                (ga, gb)
            }
        };
        Ok(vec![Some(sum_to_shape(&ga, a.shape())), Some(sum_to_shape(&gb, b.shape()))])
    }
}

fn binary(kind: BinaryKind, a: &Var, b: &Var) -> Result<Var> {
    broadcast_shape(kind.name(), a.shape(), b.shape())?;
    let (x, y) = (a.value(), b.value());
    let value = match kind {
        BinaryKind::Add => x + y,
        BinaryKind::Sub => x - y,
        BinaryKind::Mul => x * y,
        BinaryKind::Div => x / y,
    };
    Ok(Var::from_op(Binary(kind), &[a, b], value))
}

/// `a + b` with broadcasting.
pub fn add(a: &Var, b: &Var) -> Result<Var> {
    binary(BinaryKind::Add, a, b)
}

/// `a - b` with broadcasting.
pub fn sub(a: &Var, b: &Var) -> Result<Var> {
    binary(BinaryKind::Sub, a, b)
}

/// `a * b` (element-wise) with broadcasting.
pub fn mul(a: &Var, b: &Var) -> Result<Var> {
    binary(BinaryKind::Mul, a, b)
}

/// `a / b` (element-wise) with broadcasting.
pub fn div(a: &Var, b: &Var) -> Result<Var> {
    binary(BinaryKind::Div, a, b)
}

#[derive(Debug)]
struct Scale(f32);

impl Op for Scale {
    fn name(&self) -> &'static str {
        "scale"
    }
    fn describe(&self) -> Option<crate::graph::NodeOp> {
        Some(crate::graph::NodeOp::Scale(self.0))
    }
    fn backward(&self, _: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(grad * self.0)])
    }
}

/// `s * a` for a constant `s`.
pub fn scale(a: &Var, s: f32) -> Var {
    Var::from_op(Scale(s), &[a], a.value() * s)
}
