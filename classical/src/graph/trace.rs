//! Tracing: one evaluation-mode forward pass with a recorder switched on.
//!
//! Every differentiable op builds its result through [`Var::from_op`], which hands the op, its inputs
//! and its output to [`record_op`] here; the op says what it is ([`Op::describe`], `None` for ops
//! defined elsewhere, which become [`NodeOp::Extension`]). [`Ctx::param`](crate::nn::Ctx::param) tells
//! the recorder which values are parameters, and containers open [`scope`]s so that nodes without
//! parameters know the module they came from. The recorder lives in a thread-local slot that is empty
//! outside [`trace`], so an ordinary forward pass pays one thread-local check per op.

use super::Graph;
use super::node::{Node, NodeId, NodeOp, ReduceOp};
use crate::autograd::{Op, Var};
use crate::error::{ClassicalError, Result};
use crate::nn::{Ctx, Module, Param};
use crate::tensor::Tensor;
use std::cell::RefCell;
use std::collections::HashMap;

#[derive(Default)]
struct Recorder {
    nodes: Vec<Node>,
    /// Node of each recorded value, by the value's identity.
    by_key: HashMap<usize, NodeId>,
    /// Clones of every recorded value: keeps them alive so no identity is reused while tracing.
    keep: Vec<Var>,
    /// Open container scopes, outermost first.
    scope: Vec<String>,
    /// Dotted path of every parameter of the traced model, by parameter identity.
    param_paths: HashMap<u64, String>,
    /// The path of the scope opened last: where a failing forward pass most likely failed.
    last_scope: String,
}

thread_local! {
    static RECORDER: RefCell<Option<Recorder>> = const { RefCell::new(None) };
}

/// True while a trace is being recorded on this thread.
pub fn active() -> bool {
    RECORDER.with(|r| r.borrow().is_some())
}

fn with_recorder(f: impl FnOnce(&mut Recorder)) {
    RECORDER.with(|r| {
        if let Some(rec) = r.borrow_mut().as_mut() {
            f(rec)
        }
    })
}

impl Recorder {
    fn scope_path(&self) -> String {
        self.scope.join(".")
    }

    fn push(&mut self, node: Node, var: &Var) -> NodeId {
        let id = self.nodes.len();
        self.nodes.push(node);
        self.by_key.insert(var.key(), id);
        self.keep.push(var.clone());
        id
    }

    /// The node of `var`, recording it as a constant when it was made outside any op.
    fn node_of(&mut self, var: &Var) -> NodeId {
        if let Some(&id) = self.by_key.get(&var.key()) {
            return id;
        }
        let node = Node {
            op: NodeOp::Constant,
            inputs: Vec::new(),
            shape: var.shape().to_vec(),
            path: self.scope_path(),
            value: Some(var.value().clone()),
        };
        self.push(node, var)
    }
}

/// Records `output = op(inputs)`; called by [`Var::from_op`] for every op.
pub(crate) fn record_op(op: &dyn Op, inputs: &[&Var], output: &Var) {
    with_recorder(|rec| {
        let ids: Vec<NodeId> = inputs.iter().map(|v| rec.node_of(v)).collect();
        let kind = op.describe().unwrap_or_else(|| NodeOp::Extension { name: op.name().to_string() });
        let owner = ids.iter().find_map(|&i| match &rec.nodes[i].op {
            NodeOp::Param { name } => Some(name.rsplit_once('.').map_or(String::new(), |(m, _)| m.to_string())),
            _ => None,
        });
        let path = owner.unwrap_or_else(|| rec.scope_path());
        let node = Node { op: kind, inputs: ids, shape: output.shape().to_vec(), path, value: None };
        rec.push(node, output);
    })
}

/// Records that `var` is the value of parameter `p` in this pass.
pub(crate) fn record_param(var: &Var, p: &Param) {
    with_recorder(|rec| {
        let name = rec.param_paths.get(&p.id()).cloned().unwrap_or_else(|| {
            let scope = rec.scope_path();
            crate::nn::join(&scope, &p.name)
        });
        let node = Node {
            op: NodeOp::Param { name: name.clone() },
            inputs: Vec::new(),
            shape: var.shape().to_vec(),
            path: name,
            value: Some(var.value().clone()),
        };
        rec.push(node, var);
    })
}

/// An open container scope; closes when dropped.
#[must_use = "the scope closes when the guard is dropped"]
#[derive(Debug)]
pub struct ScopeGuard {
    open: bool,
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        if self.open {
            with_recorder(|rec| {
                rec.scope.pop();
            });
        }
    }
}

/// Opens the scope `name` (a child's name in its container: `"3"`, `"body"`) for the nodes recorded
/// until the guard drops. Containers call it around each child's forward pass, with the names their
/// `visit_params` uses, so that nodes without parameters get the child's dotted path. Free when no
/// trace is being recorded.
pub fn scope(name: &str) -> ScopeGuard {
    let mut open = false;
    with_recorder(|rec| {
        rec.scope.push(name.to_string());
        rec.last_scope = rec.scope_path();
        open = true;
    });
    ScopeGuard { open }
}

/// Removes the recorder when dropped, also when the traced forward pass fails or panics.
struct Session;

impl Drop for Session {
    fn drop(&mut self) {
        RECORDER.with(|r| r.borrow_mut().take());
    }
}

/// Traces `model` on one sample of per-sample shape `input_shape` (no batch axis: `[3, 32, 32]`).
///
/// The forward pass runs once in evaluation mode on zeros of shape `[1, input_shape...]`; the
/// recorded nodes that the output depends on form the graph, in execution order. Shapes in the graph
/// carry that batch axis of 1. A model whose forward pass depends on the input's values (beyond
/// shapes) should be traced with [`trace_example`] on a representative input.
///
/// ```
/// use tinylab_classical::{graph, nn::zoo};
/// let mut cnn = zoo::reference_cnn(1, 8, 10, 0)?;
/// let g = graph::trace(&mut cnn, &[1, 8, 8])?;
/// let cost = graph::cost(&g);
/// assert_eq!(cost.params, 6186);
/// assert_eq!(cost.macs, 84224);
/// assert_eq!(g.node(g.output()).shape, vec![1, 10]);
/// # Ok::<(), tinylab_classical::ClassicalError>(())
/// ```
pub fn trace(model: &mut dyn Module, input_shape: &[usize]) -> Result<Graph> {
    if input_shape.is_empty() || input_shape.contains(&0) {
        return Err(crate::error::arg_err(
            "graph::trace",
            format!("the per-sample input shape {input_shape:?} must be non-empty and positive"),
        ));
    }
    let mut shape = vec![1];
    shape.extend_from_slice(input_shape);
    trace_example(model, &crate::tensor::zeros(&shape))
}

/// Traces `model` on the input `example` (with its batch axis), as [`trace`] does on zeros.
pub fn trace_example(model: &mut dyn Module, example: &Tensor) -> Result<Graph> {
    if active() {
        return Err(ClassicalError::Graph("a trace is already being recorded on this thread".into()));
    }
    let mut param_paths = HashMap::new();
    model.visit_params("", &mut |name, p| {
        param_paths.entry(p.id()).or_insert(name);
    });
    RECORDER.with(|r| *r.borrow_mut() = Some(Recorder { param_paths, ..Recorder::default() }));
    let _session = Session;
    let x = Var::constant(example.clone());
    with_recorder(|rec| {
        let node =
            Node { op: NodeOp::Input, inputs: Vec::new(), shape: x.shape().to_vec(), path: String::new(), value: None };
        rec.push(node, &x);
    });
    let y = model.forward(&x, &mut Ctx::eval());
    let rec = RECORDER.with(|r| r.borrow_mut().take()).expect("the recorder is installed for the session");
    let y = y.map_err(|e| {
        ClassicalError::Graph(format!(
            "tracing on a per-sample input of shape {:?} failed in `{}`: {e}",
            &example.shape()[1..],
            rec.last_scope
        ))
    })?;
    let output = rec.by_key.get(&y.key()).copied().ok_or_else(|| {
        ClassicalError::Graph(
            "the model's output was not made by a recorded op (a value computed outside the autograd ops?)".into(),
        )
    })?;
    let mut g = Graph { nodes: rec.nodes, input: 0, output };
    canonicalize(&mut g);
    g.compact();
    Ok(g)
}

/// Rewrites the recorded spellings of common layers into their own node kinds: a mean over the two
/// spatial axes of an `(N, C, H, W)` value is a global average pooling.
fn canonicalize(g: &mut Graph) {
    for i in 0..g.nodes.len() {
        let is_gap = match &g.nodes[i].op {
            NodeOp::Reduce { op: ReduceOp::Mean, axes, keepdim: false } => {
                axes == &[2, 3] && g.nodes[g.nodes[i].inputs[0]].shape.len() == 4
            }
            _ => false,
        };
        if is_gap {
            g.nodes[i].op = NodeOp::GlobalAvgPool;
        }
    }
}
