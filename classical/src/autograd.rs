//! Reverse-mode automatic differentiation.
//!
//! A [`Var`] is a reference-counted node: its value, the [`Op`] that made it (none for leaves), and its
//! inputs. [`Var::backward`] orders the graph topologically once and walks it in reverse, asking each
//! op for the gradients of its inputs given the gradient of its output, and summing gradients of nodes
//! used several times. Leaves created with [`Var::leaf`] keep their gradient ([`Var::grad`]); constants
//! made with [`Var::constant`] get none and stop the walk.
//!
//! New differentiable operations, in this crate or outside it, implement [`Op`] and build their result
//! with [`Var::from_op`].

use crate::error::{ClassicalError, Result};
use crate::tensor::Tensor;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A differentiable operation: how to send an output gradient back to the inputs.
pub trait Op: std::fmt::Debug {
    /// A short name for errors and debugging.
    fn name(&self) -> &'static str;

    /// Gradients with respect to each input (in input order; `None` where an input gets no gradient),
    /// given the inputs' values, the output value, and the gradient of the loss w.r.t. the output.
    fn backward(&self, inputs: &[&Tensor], output: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>>;

    /// What the op is, for the model graph ([`crate::graph`]); `None` (the default) records it as an
    /// [`Extension`](crate::graph::NodeOp::Extension) node named [`name`](Op::name).
    fn describe(&self) -> Option<crate::graph::NodeOp> {
        None
    }

    /// As [`backward`](Op::backward), told which inputs need a gradient (`needs[i]`), so that costly
    /// gradients nobody reads can be skipped (a first convolution's input gradient). The tape calls
    /// this; the default ignores `needs` and calls `backward`.
    fn backward_needed(
        &self,
        inputs: &[&Tensor],
        output: &Tensor,
        grad: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let _ = needs;
        self.backward(inputs, output, grad)
    }
}

#[derive(Debug)]
struct Node {
    value: Tensor,
    grad: RefCell<Option<Tensor>>,
    op: Option<Box<dyn Op>>,
    inputs: Vec<Var>,
    requires_grad: bool,
}

/// A value in the computation graph.
#[derive(Debug, Clone)]
pub struct Var(Rc<Node>);

impl Var {
    /// A value that needs no gradient (data, targets).
    pub fn constant(value: Tensor) -> Var {
        Var(Rc::new(Node { value, grad: RefCell::new(None), op: None, inputs: Vec::new(), requires_grad: false }))
    }

    /// A leaf whose gradient is kept (a parameter, or an input one differentiates by).
    pub fn leaf(value: Tensor) -> Var {
        Var(Rc::new(Node { value, grad: RefCell::new(None), op: None, inputs: Vec::new(), requires_grad: true }))
    }

    /// The result of `op` on `inputs`. It needs a gradient when any input does; otherwise the op is
    /// dropped and the result is a constant.
    ///
    /// While a model is being traced ([`crate::graph::trace`]) the op is also recorded as a graph node.
    pub fn from_op(op: impl Op + 'static, inputs: &[&Var], value: Tensor) -> Var {
        let requires_grad = inputs.iter().any(|v| v.0.requires_grad);
        if !requires_grad {
            let var = Var::constant(value);
            crate::graph::record_op(&op, inputs, &var);
            return var;
        }
        let var = Var(Rc::new(Node {
            value,
            grad: RefCell::new(None),
            op: Some(Box::new(op)),
            inputs: inputs.iter().map(|v| (*v).clone()).collect(),
            requires_grad,
        }));
        if let Some(op) = var.0.op.as_deref() {
            crate::graph::record_op(op, inputs, &var);
        }
        var
    }

    /// The identity of the node behind this value (equal for clones), for the graph recorder.
    pub(crate) fn key(&self) -> usize {
        Rc::as_ptr(&self.0) as usize
    }

    /// The value.
    pub fn value(&self) -> &Tensor {
        &self.0.value
    }

    /// The shape of the value.
    pub fn shape(&self) -> &[usize] {
        self.0.value.shape()
    }

    /// The value of a one-element tensor (a loss, a metric) as an `f32`, PyTorch's `item()`.
    /// Errors, naming the shape, when the value holds more or fewer than one element.
    pub fn item(&self) -> Result<f32> {
        match self.0.value.iter().next() {
            Some(&v) if self.0.value.len() == 1 => Ok(v),
            _ => Err(crate::error::shape_err("item", self.shape(), &[], "item() needs a one-element value")),
        }
    }

    /// True when gradients flow to or through this value.
    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad
    }

    /// The gradient accumulated by the last [`Var::backward`] (leaves only).
    pub fn grad(&self) -> Option<Tensor> {
        self.0.grad.borrow().clone()
    }

    /// A constant with the same value: stops gradients (PyTorch's `detach`).
    pub fn detach(&self) -> Var {
        Var::constant(self.0.value.clone())
    }

    /// Back-propagates from this scalar (a one-element tensor).
    pub fn backward(&self) -> Result<()> {
        if self.0.value.len() != 1 {
            return Err(ClassicalError::Backward(format!(
                "backward() needs a scalar, got shape {:?}; use backward_with",
                self.shape()
            )));
        }
        self.backward_with(Tensor::ones(self.0.value.raw_dim()))
    }

    /// Back-propagates `seed` (the gradient of some loss w.r.t. this value).
    pub fn backward_with(&self, seed: Tensor) -> Result<()> {
        if seed.shape() != self.shape() {
            return Err(crate::error::shape_err("backward", self.shape(), seed.shape(), "seed must match the value"));
        }
        if !self.0.requires_grad {
            return Err(ClassicalError::Backward("the value does not depend on anything that needs a gradient".into()));
        }
        let order = self.topological_order();
        let mut grads: HashMap<*const Node, Tensor> = HashMap::new();
        grads.insert(Rc::as_ptr(&self.0), seed);
        for var in order.iter().rev() {
            let key = Rc::as_ptr(&var.0);
            let Some(grad) = grads.remove(&key) else { continue };
            match &var.0.op {
                None => {
                    let mut slot = var.0.grad.borrow_mut();
                    match slot.as_mut() {
                        Some(g) => *g += &grad,
                        None => *slot = Some(grad),
                    }
                }
                Some(op) => {
                    let inputs: Vec<&Tensor> = var.0.inputs.iter().map(|v| &v.0.value).collect();
                    let needs: Vec<bool> = var.0.inputs.iter().map(|v| v.0.requires_grad).collect();
                    let input_grads = op.backward_needed(&inputs, &var.0.value, &grad, &needs)?;
                    if input_grads.len() != inputs.len() {
                        return Err(ClassicalError::Backward(format!(
                            "op `{}` returned {} gradients for {} inputs",
                            op.name(),
                            input_grads.len(),
                            inputs.len()
                        )));
                    }
                    for (input, g) in var.0.inputs.iter().zip(input_grads) {
                        let Some(g) = g else { continue };
                        if !input.0.requires_grad {
                            continue;
                        }
                        if g.shape() != input.shape() {
                            return Err(crate::error::shape_err(
                                op.name(),
                                input.shape(),
                                g.shape(),
                                "backward returned a gradient of the wrong shape",
                            ));
                        }
                        let k = Rc::as_ptr(&input.0);
                        match grads.get_mut(&k) {
                            Some(acc) => *acc += &g,
                            None => {
                                grads.insert(k, g);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Clears the stored gradient of this leaf.
    pub fn zero_grad(&self) {
        *self.0.grad.borrow_mut() = None;
    }

    /// Nodes reachable from `self` that need gradients, each after all of its inputs.
    fn topological_order(&self) -> Vec<Var> {
        let mut order = Vec::new();
        let mut seen = std::collections::HashSet::new();
        // Iterative DFS (deep graphs must not overflow the stack): (node, inputs pushed?).
        let mut stack = vec![(self.clone(), false)];
        while let Some((var, expanded)) = stack.pop() {
            let key = Rc::as_ptr(&var.0);
            if expanded {
                order.push(var);
                continue;
            }
            if !seen.insert(key) {
                continue;
            }
            stack.push((var.clone(), true));
            for input in &var.0.inputs {
                if input.0.requires_grad && !seen.contains(&Rc::as_ptr(&input.0)) {
                    stack.push((input.clone(), false));
                }
            }
        }
        order
    }
}
