//! Layers, composition and the model zoo.
//!
//! A layer owns its [`Param`]s (value, gradient, optional pruning mask, optional quantizer hook, a
//! name) and implements [`Module`]. A forward pass runs under a [`Ctx`] that says whether we are
//! training, carries the seeded generator for dropout, and records which graph leaf stands for which
//! parameter, so that after `backward` [`accumulate_grads`] can hand the gradients back to the
//! parameters. [`named_params`] lists every parameter with its dotted path (`"features.0.weight"`),
//! the view the compression passes work on.

mod layers;
pub mod zoo;

pub use layers::{
    Act, AvgPool2d, BatchNorm, Conv2d, Dropout, Embedding, Flatten, GlobalAvgPool, LayerNorm, Linear, MaxPool2d,
    Residual, Sequential,
};

use crate::autograd::{Op, Var};
use crate::error::{Result, arg_err};
use crate::tensor::Tensor;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A transformation applied to a weight in every forward pass, with gradients passed straight through
/// (the straight-through estimator): the hook quantization-aware training uses.
pub trait Quantizer: std::fmt::Debug + Send + Sync {
    /// The quantized (fake-quantized) weight.
    fn quantize(&self, w: &Tensor) -> Tensor;
}

static NEXT_PARAM_ID: AtomicU64 = AtomicU64::new(1);

/// A trainable tensor of a layer.
#[derive(Debug, Clone)]
pub struct Param {
    /// The layer-local name (`"weight"`, `"bias"`).
    pub name: String,
    /// The current value.
    pub value: Tensor,
    /// The accumulated gradient (None until a backward pass reaches it).
    pub grad: Option<Tensor>,
    /// A 0/1 mask of the same shape: masked entries are zero in the forward pass and get no gradient
    /// (pruning).
    pub mask: Option<Tensor>,
    /// Applied to the (masked) value in the forward pass, straight-through in the backward pass.
    pub quantizer: Option<Arc<dyn Quantizer>>,
    id: u64,
}

impl Param {
    /// A parameter with a value and no gradient, mask or quantizer.
    pub fn new(name: &str, value: Tensor) -> Self {
        Self {
            name: name.to_string(),
            value,
            grad: None,
            mask: None,
            quantizer: None,
            id: NEXT_PARAM_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The value the forward pass sees: masked, then quantized.
    pub fn effective_value(&self) -> Tensor {
        let masked = match &self.mask {
            Some(m) => &self.value * m,
            None => self.value.clone(),
        };
        match &self.quantizer {
            Some(q) => q.quantize(&masked),
            None => masked,
        }
    }

    /// The identity of this parameter (unique per process, kept by clones): how a forward pass's
    /// values are matched to parameters.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Number of scalar entries.
    pub fn len(&self) -> usize {
        self.value.len()
    }

    /// True for a parameter with no entries.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
}

/// Straight-through: the forward value is `q(w)`, the gradient w.r.t. `w` is the incoming gradient.
#[derive(Debug)]
struct StraightThrough;

impl Op for StraightThrough {
    fn name(&self) -> &'static str {
        "straight_through"
    }
    fn backward(&self, _: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(grad.clone())])
    }
}

/// The state of one forward pass.
#[derive(Debug)]
pub struct Ctx {
    /// Training mode (batch statistics, dropout) or evaluation mode.
    pub train: bool,
    rng: rand_chacha::ChaCha8Rng,
    leaves: Vec<(u64, Var)>,
}

impl Ctx {
    /// A training pass; `seed` drives dropout.
    pub fn train(seed: u64) -> Self {
        Self { train: true, rng: crate::tensor::rng(seed), leaves: Vec::new() }
    }

    /// An evaluation pass (no gradients are recorded for parameters).
    pub fn eval() -> Self {
        Self { train: false, rng: crate::tensor::rng(0), leaves: Vec::new() }
    }

    /// The generator for random layers.
    pub fn rng(&mut self) -> &mut rand_chacha::ChaCha8Rng {
        &mut self.rng
    }

    /// The graph value of a parameter: a leaf in training, a constant in evaluation; masked and
    /// quantized as the parameter says.
    pub fn param(&mut self, p: &Param) -> Var {
        if !self.train {
            let v = Var::constant(p.effective_value());
            crate::graph::record_param(&v, p);
            return v;
        }
        let masked = match &p.mask {
            Some(m) => &p.value * m,
            None => p.value.clone(),
        };
        let leaf = Var::leaf(masked);
        self.leaves.push((p.id, leaf.clone()));
        match &p.quantizer {
            Some(q) => Var::from_op(StraightThrough, &[&leaf], q.quantize(leaf.value())),
            None => leaf,
        }
    }
}

/// A layer or a model.
///
/// Passes read a model's structure from its traced graph ([`crate::graph::trace`]), not by walking
/// the module tree. `Any` is a supertrait so that a pass that must edit one layer's settings (channel
/// pruning lowering a depthwise convolution's `groups`) can reach the concrete layer found by
/// [`module_at_mut`].
pub trait Module: std::any::Any + Send + std::fmt::Debug {
    /// The output for input `x`.
    fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var>;

    /// Calls `f` with the dotted path and a reference of every parameter.
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param));

    /// Calls `f` with the dotted path and a mutable reference of every parameter.
    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param));

    /// Calls `f` with the dotted path of every non-trainable state vector (batch-norm running
    /// statistics), for checkpoints.
    fn visit_buffers_mut(&mut self, _prefix: &str, _f: &mut dyn FnMut(String, &mut Vec<f32>)) {}

    /// The child module called `name` (the segment its parameter paths use: `"3"` in a
    /// [`Sequential`], `"body"` in a [`Residual`]); `None` for leaves. Containers implement it so
    /// that [`module_at`] can find a layer by its dotted path.
    fn child(&self, _name: &str) -> Option<&dyn Module> {
        None
    }

    /// The child module called `name`, mutably (see [`child`](Module::child)).
    fn child_mut(&mut self, _name: &str) -> Option<&mut dyn Module> {
        None
    }
}

/// The module at dotted path `path` (`""` is `model` itself), found through
/// [`Module::child`]; the path of a layer is the prefix of its parameters' paths.
pub fn module_at<'a>(model: &'a dyn Module, path: &str) -> Option<&'a dyn Module> {
    if path.is_empty() {
        return Some(model);
    }
    path.split('.').try_fold(model, |m, name| m.child(name))
}

/// The module at dotted path `path`, mutably (see [`module_at`]).
pub fn module_at_mut<'a>(model: &'a mut dyn Module, path: &str) -> Option<&'a mut dyn Module> {
    if path.is_empty() {
        return Some(model);
    }
    path.split('.').try_fold(model, |m, name| m.child_mut(name))
}

/// `prefix.name`, or `name` at the top.
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") }
}

/// Every parameter of `model` with its dotted path, in a fixed order.
pub fn named_params(model: &dyn Module) -> Vec<(String, &Param)> {
    let mut out = Vec::new();
    model.visit_params("", &mut |name, p| out.push((name, p)));
    out
}

/// Total number of scalar parameters.
pub fn param_count(model: &dyn Module) -> usize {
    named_params(model).iter().map(|(_, p)| p.len()).sum()
}

/// Adds the gradients the last backward pass left on `ctx`'s leaves to the parameters' `grad`
/// (masked entries get zero).
pub fn accumulate_grads(model: &mut dyn Module, ctx: &Ctx) {
    let by_id: BTreeMap<u64, &Var> = ctx.leaves.iter().map(|(id, v)| (*id, v)).collect();
    model.visit_params_mut("", &mut |_, p| {
        let Some(g) = by_id.get(&p.id).and_then(|v| v.grad()) else { return };
        let g = match &p.mask {
            Some(m) => g * m,
            None => g,
        };
        match &mut p.grad {
            Some(acc) => *acc += &g,
            None => p.grad = Some(g),
        }
    });
}

/// Clears every parameter's gradient.
pub fn zero_grads(model: &mut dyn Module) {
    model.visit_params_mut("", &mut |_, p| p.grad = None);
}

/// Parameters and buffers by dotted path: what a checkpoint of a model holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StateDict {
    /// Parameter values: shape and row-major data.
    pub params: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    /// Buffers (running statistics).
    pub buffers: BTreeMap<String, Vec<f32>>,
}

/// The model's parameters and buffers.
pub fn state_dict(model: &mut dyn Module) -> StateDict {
    let mut params = BTreeMap::new();
    model.visit_params("", &mut |name, p| {
        params.insert(name, (p.value.shape().to_vec(), p.value.iter().copied().collect()));
    });
    let mut buffers = BTreeMap::new();
    model.visit_buffers_mut("", &mut |name, b| {
        buffers.insert(name, b.clone());
    });
    StateDict { params, buffers }
}

/// Loads `state` into `model`; every name must exist with the same shape and as many values as the
/// shape holds (errors name the first mismatch). Everything is checked before anything is written,
/// so a failed load leaves the model as it was.
pub fn load_state_dict(model: &mut dyn Module, state: &StateDict) -> Result<()> {
    let mut error = None;
    let mut seen = 0;
    let mut fail = |e| {
        if error.is_none() {
            error = Some(e);
        }
    };
    model.visit_params("", &mut |name, p| match state.params.get(&name) {
        Some((shape, data)) if shape.as_slice() != p.value.shape() => {
            fail(arg_err("load_state_dict", format!("`{name}` has shape {shape:?}, model has {:?}", p.value.shape())))
        }
        Some((shape, data)) if shape.iter().product::<usize>() != data.len() => fail(arg_err(
            "load_state_dict",
            format!(
                "`{name}` has shape {shape:?} ({} values) but {} values",
                shape.iter().product::<usize>(),
                data.len()
            ),
        )),
        Some(_) => seen += 1,
        None => fail(arg_err("load_state_dict", format!("`{name}` missing from the state"))),
    });
    let mut lengths = Vec::new();
    model.visit_buffers_mut("", &mut |name, b| lengths.push((name, b.len())));
    for (name, len) in lengths {
        match state.buffers.get(&name) {
            Some(v) if v.len() == len => {}
            Some(v) => fail(arg_err("load_state_dict", format!("buffer `{name}` has {} values, model {len}", v.len()))),
            None => fail(arg_err("load_state_dict", format!("buffer `{name}` missing from the state"))),
        }
    }
    if let Some(e) = error {
        return Err(e);
    }
    if seen != state.params.len() {
        return Err(arg_err("load_state_dict", format!("state has {} parameters, model {seen}", state.params.len())));
    }
    model.visit_params_mut("", &mut |name, p| {
        if let Some((shape, data)) = state.params.get(&name)
            && let Ok(v) = Tensor::from_shape_vec(ndarray::IxDyn(shape), data.clone())
        {
            p.value = v;
        }
    });
    model.visit_buffers_mut("", &mut |name, b| {
        if let Some(v) = state.buffers.get(&name) {
            b.clone_from(v);
        }
    });
    Ok(())
}
