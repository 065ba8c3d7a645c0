//! Shape operations: reshape, permute/transpose, flatten, concat, slice, and row gathers (embedding).

use crate::autograd::{Op, Var};
use crate::error::{Result, arg_err, shape_err};
use crate::tensor::{Tensor, into_contiguous};
use ndarray::{Axis, IxDyn, Slice};

#[derive(Debug)]
struct Reshape;

impl Op for Reshape {
    fn name(&self) -> &'static str {
        "reshape"
    }
    fn describe(&self) -> Option<crate::graph::NodeOp> {
        Some(crate::graph::NodeOp::Reshape)
    }
    fn backward(&self, inputs: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let g = into_contiguous(grad.clone()).into_shape_with_order(inputs[0].raw_dim()).expect("same element count");
        Ok(vec![Some(g)])
    }
}

/// The same elements (row-major order) in a new shape.
pub fn reshape(x: &Var, shape: &[usize]) -> Result<Var> {
    let n: usize = shape.iter().product();
    if n != x.value().len() {
        return Err(shape_err("reshape", x.shape(), shape, "element counts differ"));
    }
    let v = into_contiguous(x.value().clone()).into_shape_with_order(IxDyn(shape)).expect("count checked");
    Ok(Var::from_op(Reshape, &[x], v))
}

/// `(N, ...) -> (N, prod(...))`.
pub fn flatten(x: &Var) -> Result<Var> {
    let s = x.shape();
    if s.is_empty() {
        return Err(arg_err("flatten", "needs at least one dimension"));
    }
    let rest: usize = s[1..].iter().product();
    reshape(x, &[s[0], rest])
}

#[derive(Debug)]
struct Permute(Vec<usize>);

impl Op for Permute {
    fn name(&self) -> &'static str {
        "permute"
    }
    fn describe(&self) -> Option<crate::graph::NodeOp> {
        Some(crate::graph::NodeOp::Permute(self.0.clone()))
    }
    fn backward(&self, _: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let mut inverse = vec![0; self.0.len()];
        for (i, &p) in self.0.iter().enumerate() {
            inverse[p] = i;
        }
        Ok(vec![Some(into_contiguous(grad.clone().permuted_axes(IxDyn(&inverse))))])
    }
}

/// Reorders axes: output axis `i` is input axis `order[i]`.
pub fn permute(x: &Var, order: &[usize]) -> Result<Var> {
    let mut seen = order.to_vec();
    seen.sort_unstable();
    if seen != (0..x.shape().len()).collect::<Vec<_>>() {
        return Err(arg_err("permute", format!("{order:?} is not a permutation of the axes of {:?}", x.shape())));
    }
    let v = into_contiguous(x.value().clone().permuted_axes(IxDyn(order)));
    Ok(Var::from_op(Permute(order.to_vec()), &[x], v))
}

/// Swaps the last two axes.
pub fn transpose(x: &Var) -> Result<Var> {
    let n = x.shape().len();
    if n < 2 {
        return Err(arg_err("transpose", format!("needs 2 or more dimensions, got shape {:?}", x.shape())));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.swap(n - 2, n - 1);
    permute(x, &order)
}

#[derive(Debug)]
struct Concat {
    axis: usize,
    sizes: Vec<usize>,
}

impl Op for Concat {
    fn name(&self) -> &'static str {
        "concat"
    }
    fn describe(&self) -> Option<crate::graph::NodeOp> {
        Some(crate::graph::NodeOp::Concat { axis: self.axis })
    }
    fn backward(&self, _: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let mut start = 0;
        Ok(self
            .sizes
            .iter()
            .map(|&s| {
                let part = grad.slice_axis(Axis(self.axis), Slice::from(start..start + s)).to_owned();
                start += s;
                Some(part)
            })
            .collect())
    }
}

/// Joins tensors along `axis` (all other dimensions must agree).
pub fn concat(xs: &[&Var], axis: usize) -> Result<Var> {
    let first = xs.first().ok_or_else(|| arg_err("concat", "needs at least one tensor"))?;
    if axis >= first.shape().len() {
        return Err(arg_err("concat", format!("axis {axis} out of range for shape {:?}", first.shape())));
    }
    for x in &xs[1..] {
        let same_rank = x.shape().len() == first.shape().len();
        let agree = same_rank && x.shape().iter().zip(first.shape()).enumerate().all(|(i, (a, b))| i == axis || a == b);
        if !agree {
            return Err(shape_err("concat", first.shape(), x.shape(), format!("only axis {axis} may differ")));
        }
    }
    let views: Vec<_> = xs.iter().map(|x| x.value().view()).collect();
    let v = ndarray::concatenate(Axis(axis), &views).expect("shapes checked");
    let sizes = xs.iter().map(|x| x.shape()[axis]).collect();
    Ok(Var::from_op(Concat { axis, sizes }, xs, v))
}

#[derive(Debug)]
struct SliceOp {
    axis: usize,
    start: usize,
    end: usize,
}

impl Op for SliceOp {
    fn name(&self) -> &'static str {
        "slice"
    }
    fn describe(&self) -> Option<crate::graph::NodeOp> {
        Some(crate::graph::NodeOp::Slice { axis: self.axis, start: self.start, end: self.end })
    }
    fn backward(&self, inputs: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let mut g = Tensor::zeros(inputs[0].raw_dim());
        g.slice_axis_mut(Axis(self.axis), Slice::from(self.start..self.end)).assign(grad);
        Ok(vec![Some(g)])
    }
}

/// Elements `start..end` along `axis`.
pub fn slice(x: &Var, axis: usize, start: usize, end: usize) -> Result<Var> {
    if axis >= x.shape().len() || start > end || end > x.shape()[axis] {
        return Err(arg_err("slice", format!("range {start}..{end} on axis {axis} of shape {:?}", x.shape())));
    }
    let v = x.value().slice_axis(Axis(axis), Slice::from(start..end)).to_owned();
    Ok(Var::from_op(SliceOp { axis, start, end }, &[x], v))
}

#[derive(Debug)]
struct Embedding(Vec<usize>);

impl Op for Embedding {
    fn name(&self) -> &'static str {
        "embedding"
    }
    fn describe(&self) -> Option<crate::graph::NodeOp> {
        Some(crate::graph::NodeOp::Embedding { indices: self.0.clone() })
    }
    fn backward(&self, inputs: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let mut g = Tensor::zeros(inputs[0].raw_dim());
        for (row, &i) in self.0.iter().enumerate() {
            let mut dst = g.index_axis_mut(Axis(0), i);
            dst += &grad.index_axis(Axis(0), row);
        }
        Ok(vec![Some(g)])
    }
}

/// Rows `indices` of `table` (shape `(V, ...)`), stacked: `(len, ...)`. The gather of embeddings.
pub fn embedding(table: &Var, indices: &[usize]) -> Result<Var> {
    let v = table.shape().first().copied().unwrap_or(0);
    if let Some(&bad) = indices.iter().find(|&&i| i >= v) {
        return Err(arg_err("embedding", format!("index {bad} out of range for a table of {v} rows")));
    }
    let out = table.value().select(Axis(0), indices);
    Ok(Var::from_op(Embedding(indices.to_vec()), &[table], out))
}
