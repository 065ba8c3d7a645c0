//! Reductions: sums and means over all or some axes, and the maximum along an axis.

use crate::autograd::{Op, Var};
use crate::error::{Result, arg_err};
use crate::tensor::Tensor;
use ndarray::Axis;

fn check_axes(op: &'static str, shape: &[usize], axes: &[usize]) -> Result<Vec<usize>> {
    let mut sorted = axes.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != axes.len() {
        return Err(arg_err(op, format!("repeated axis in {axes:?}")));
    }
    if let Some(&a) = sorted.iter().find(|&&a| a >= shape.len()) {
        return Err(arg_err(op, format!("axis {a} out of range for shape {shape:?}")));
    }
    Ok(sorted)
}

/// Sum over `axes` (kept as size-1 dims when `keepdim`), divided by `divisor`.
#[derive(Debug)]
struct SumAxes {
    axes: Vec<usize>,
    keepdim: bool,
    divisor: f32,
    /// A mean (for the model graph: the divisor is 1 for a mean over size-1 axes too).
    mean: bool,
}

impl Op for SumAxes {
    fn name(&self) -> &'static str {
        "sum_axes"
    }
    fn describe(&self) -> Option<crate::graph::NodeOp> {
        let op = if self.mean { crate::graph::ReduceOp::Mean } else { crate::graph::ReduceOp::Sum };
        Some(crate::graph::NodeOp::Reduce { op, axes: self.axes.clone(), keepdim: self.keepdim })
    }
    fn backward(&self, inputs: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let x = inputs[0];
        let mut g = grad.clone();
        if !self.keepdim {
            for &a in &self.axes {
                g = g.insert_axis(Axis(a));
            }
        }
        let g = g.broadcast(x.raw_dim()).expect("reduced shape broadcasts back").to_owned() / self.divisor;
        Ok(vec![Some(g)])
    }
}

fn reduce(x: &Var, axes: &[usize], keepdim: bool, mean: bool, op: &'static str) -> Result<Var> {
    let axes = check_axes(op, x.shape(), axes)?;
    let mut v = x.value().clone();
    for &a in axes.iter().rev() {
        v = v.sum_axis(Axis(a));
        if keepdim {
            v = v.insert_axis(Axis(a));
        }
    }
    let count: usize = axes.iter().map(|&a| x.shape()[a]).product();
    let divisor = if mean { count.max(1) as f32 } else { 1.0 };
    if mean {
        v /= divisor;
    }
    Ok(Var::from_op(SumAxes { axes, keepdim, divisor, mean }, &[x], v))
}

/// Sum over the given axes.
pub fn sum_axes(x: &Var, axes: &[usize], keepdim: bool) -> Result<Var> {
    reduce(x, axes, keepdim, false, "sum_axes")
}

/// Mean over the given axes.
pub fn mean_axes(x: &Var, axes: &[usize], keepdim: bool) -> Result<Var> {
    reduce(x, axes, keepdim, true, "mean_axes")
}

/// Sum of every element (a 0-d tensor).
pub fn sum(x: &Var) -> Var {
    let axes: Vec<usize> = (0..x.shape().len()).collect();
    reduce(x, &axes, false, false, "sum").expect("all axes are valid")
}

/// Mean of every element (a 0-d tensor).
pub fn mean(x: &Var) -> Var {
    let axes: Vec<usize> = (0..x.shape().len()).collect();
    reduce(x, &axes, false, true, "mean").expect("all axes are valid")
}

#[derive(Debug)]
struct MaxAxis {
    axis: usize,
    keepdim: bool,
}

impl Op for MaxAxis {
    fn name(&self) -> &'static str {
        "max_axis"
    }
    fn describe(&self) -> Option<crate::graph::NodeOp> {
        Some(crate::graph::NodeOp::Reduce {
            op: crate::graph::ReduceOp::Max,
            axes: vec![self.axis],
            keepdim: self.keepdim,
        })
    }
    fn backward(&self, inputs: &[&Tensor], output: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let x = inputs[0];
        let (mut out, mut g) = (output.clone(), grad.clone());
        if !self.keepdim {
            out = out.insert_axis(Axis(self.axis));
            g = g.insert_axis(Axis(self.axis));
        }
        // The gradient goes to the first maximal element of each lane (ties: lowest index).
        let mut gx = Tensor::zeros(x.raw_dim());
        for ((lane, mut glane), (m, gv)) in
            x.lanes(Axis(self.axis)).into_iter().zip(gx.lanes_mut(Axis(self.axis))).zip(out.iter().zip(g.iter()))
        {
            if let Some(i) = lane.iter().position(|v| v == m) {
                glane[i] = *gv;
            }
        }
        Ok(vec![Some(gx)])
    }
}

/// Maximum along `axis`.
pub fn max_axis(x: &Var, axis: usize, keepdim: bool) -> Result<Var> {
    check_axes("max_axis", x.shape(), &[axis])?;
    if x.shape()[axis] == 0 {
        return Err(arg_err("max_axis", format!("axis {axis} of shape {:?} is empty", x.shape())));
    }
    let mut v = x.value().fold_axis(Axis(axis), f32::NEG_INFINITY, |&a, &b| if b > a || a.is_nan() { b } else { a });
    if keepdim {
        v = v.insert_axis(Axis(axis));
    }
    Ok(Var::from_op(MaxAxis { axis, keepdim }, &[x], v))
}
