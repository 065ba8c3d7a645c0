//! Our ops, optimizers and learning-rate schedules against PyTorch.
//!
//! `fixtures/torch_reference.json` is written by `fixtures/gen_torch_reference.py` (PyTorch 2.x, CPU;
//! see the script's doc). Every op input there is a float32 value, so we feed PyTorch's exact inputs to
//! our f32 ops; PyTorch computed the reference forward values and the gradients of
//! `loss = sum(out * g)` in float64, so the differences below are our f32 rounding (plus any bug).
//! Here the loss gradient is seeded with `backward_with(g)`, which is that same gradient.
//!
//! Tolerances: an element passes when `|ours - torch| <= abs + rel * |torch|`, with `abs = rel`:
//! - `CONV`, `1e-5`, for conv2d (sums of up to 40 products through `gemm`; worst observed 8e-7);
//! - `MEDIUM`, `2e-6`, for matmul, batch norm and layer norm (worst observed 2.3e-7);
//! - `TIGHT`, `1e-6`, for element-wise ops, pooling, broadcasting, softmax and losses (worst observed
//!   2.3e-7), and for the optimizers, which PyTorch also ran in f32 (worst observed 1.1e-7, a couple
//!   of ulps; `1e-6` is about 8 ulps at magnitude 1);
//! - `LR_TOL` for learning rates: `3e-8` absolute (4 ulps of a 0.1 base rate: the f32 cosine)
//!   plus `1e-7` relative (worst observed 1.2e-8).
//!
//! "Worst observed" is `max |ours - torch| / (1 + |torch|)` over all elements of the tests using that
//! tolerance, measured when the tolerances were set; none was loosened to make a test pass.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use tinylab_classical::nn::{Ctx, Module, Param};
use tinylab_classical::ops::{self, BatchNormStats, Conv2dSpec, Pool2dSpec};
use tinylab_classical::optim::{Adam, LrSchedule, Optimizer, Sgd};
use tinylab_classical::tensor::{self, Tensor};
use tinylab_classical::{Result, Var};

// ------------------------------------------------------------------------------------------------
// The fixture.

/// A flat row-major array with its shape.
#[derive(Debug, Deserialize)]
struct Array {
    shape: Vec<usize>,
    data: Vec<f64>,
}

/// One op case: inputs, the loss weights `g`, the forward output, the gradients of each input.
#[derive(Debug, Deserialize)]
struct Case {
    params: serde_json::Value,
    inputs: BTreeMap<String, Array>,
    g: Array,
    out: Array,
    grads: BTreeMap<String, Array>,
    #[serde(default)]
    extra: BTreeMap<String, Array>,
}

/// The initial parameter and the gradient of each step, shared by every optimizer run.
#[derive(Debug, Deserialize)]
struct OptimCommon {
    p0: Vec<f64>,
    grads: Vec<Vec<f64>>,
}

/// One optimizer run: its settings and the parameter after each step.
#[derive(Debug, Deserialize)]
struct OptimRun {
    settings: serde_json::Value,
    params_after_step: Vec<Vec<f64>>,
}

#[derive(Debug, Deserialize)]
struct Optim {
    common: OptimCommon,
    #[serde(flatten)]
    runs: BTreeMap<String, OptimRun>,
}

/// A learning-rate schedule: `lrs` from PyTorch's StepLR; for cosine, PyTorch's rates (`torch_lrs`)
/// and the closed form of our documented schedule (`formula_lrs`, a few steps longer).
#[derive(Debug, Deserialize)]
struct Schedule {
    kind: String,
    base: f64,
    #[serde(default)]
    gamma: f64,
    #[serde(default)]
    every: usize,
    #[serde(default)]
    min: f64,
    #[serde(default)]
    warmup: usize,
    #[serde(default)]
    total: usize,
    #[serde(default)]
    lrs: Vec<f64>,
    #[serde(default)]
    torch_lrs: Vec<f64>,
    #[serde(default)]
    formula_lrs: Vec<f64>,
}

#[derive(Debug, Deserialize)]
struct Fixture {
    cases: BTreeMap<String, Case>,
    optim: Optim,
    schedules: BTreeMap<String, Schedule>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        serde_json::from_str(include_str!("fixtures/torch_reference.json")).expect("torch_reference.json parses")
    })
}

fn case(name: &str) -> &'static Case {
    fixture().cases.get(name).unwrap_or_else(|| panic!("case `{name}` missing from the fixture"))
}

/// An f32 tensor of values that must be float32-representable (the script draws them so). The check
/// allows 1e-12 relative because serde_json's default float parser may be one f64 ulp off.
fn to_tensor(a: &Array) -> Tensor {
    let data = a
        .data
        .iter()
        .map(|&v| {
            let f = v as f32;
            assert!((f as f64 - v).abs() <= 1e-12 * v.abs(), "input {v} is not an f32 value");
            f
        })
        .collect();
    tensor::from_vec(&a.shape, data).expect("fixture shape matches its data")
}

// ------------------------------------------------------------------------------------------------
// Comparison.

/// `|ours - torch| <= abs + rel * |torch|` per element.
#[derive(Debug, Clone, Copy)]
struct Tol {
    abs: f64,
    rel: f64,
}

/// conv2d: 1e-5 absolute plus 1e-5 relative.
const CONV: Tol = Tol { abs: 1e-5, rel: 1e-5 };
/// Short sums (matmul over 5 terms, normalisation statistics): 2e-6.
const MEDIUM: Tol = Tol { abs: 2e-6, rel: 2e-6 };
/// Element-wise ops and others with no long sums, and the f32 optimizers: 1e-6.
const TIGHT: Tol = Tol { abs: 1e-6, rel: 1e-6 };

/// Panics naming `what` and the worst element when any element of `ours` is outside `tol` of `want`.
fn assert_close(what: &str, ours: &[f32], our_shape: &[usize], want: &[f64], want_shape: &[usize], tol: Tol) {
    assert_eq!(our_shape, want_shape, "{what}: shape");
    assert_eq!(ours.len(), want.len(), "{what}: length");
    let mut worst: Option<(usize, f64)> = None;
    for (i, (&o, &w)) in ours.iter().zip(want).enumerate() {
        let excess = (o as f64 - w).abs() / (tol.abs + tol.rel * w.abs());
        // A NaN counts as infinitely far off.
        let excess = if excess.is_nan() { f64::INFINITY } else { excess };
        if excess > 1.0 && worst.is_none_or(|(_, e)| excess > e) {
            worst = Some((i, excess));
        }
    }
    if let Some((i, excess)) = worst {
        panic!(
            "{what}: element {i} is {} but PyTorch says {} (|diff| = {:.3e}, {excess:.1}x the tolerance {tol:?})",
            ours[i],
            want[i],
            (ours[i] as f64 - want[i]).abs()
        );
    }
}

fn assert_tensor_close(what: &str, ours: &Tensor, want: &Array, tol: Tol) {
    let ours = tensor::contiguous(ours);
    assert_close(what, ours.as_slice().expect("contiguous"), ours.shape(), &want.data, &want.shape, tol);
}

/// Runs `f` on leaves made from the case's inputs (passed in the order of `names`), checks the output,
/// back-propagates `g` and checks the gradient of every input.
fn check_case(name: &str, names: &[&str], tol: Tol, f: impl FnOnce(&[Var]) -> Result<Var>) {
    let c = case(name);
    assert_eq!(names.len(), c.inputs.len(), "{name}: the fixture has inputs {:?}", c.inputs.keys());
    let leaves: Vec<Var> = names
        .iter()
        .map(|n| Var::leaf(to_tensor(c.inputs.get(*n).unwrap_or_else(|| panic!("{name}: no input `{n}`")))))
        .collect();
    let out = f(&leaves).unwrap_or_else(|e| panic!("{name}: forward failed: {e}"));
    assert_tensor_close(&format!("{name}: output"), out.value(), &c.out, tol);
    out.backward_with(to_tensor(&c.g)).unwrap_or_else(|e| panic!("{name}: backward failed: {e}"));
    for (n, leaf) in names.iter().zip(&leaves) {
        let grad = leaf.grad().unwrap_or_else(|| panic!("{name}: no gradient for `{n}`"));
        assert_tensor_close(&format!("{name}: gradient of `{n}`"), &grad, &c.grads[*n], tol);
    }
}

fn usize_param(c: &Case, key: &str) -> usize {
    c.params[key].as_u64().unwrap_or_else(|| panic!("param `{key}`")) as usize
}

fn pair_param(c: &Case, key: &str) -> (usize, usize) {
    let v = c.params[key].as_array().unwrap_or_else(|| panic!("param `{key}`"));
    (v[0].as_u64().unwrap() as usize, v[1].as_u64().unwrap() as usize)
}

fn f32_list(c: &Case, key: &str) -> Vec<f32> {
    let v = c.params[key].as_array().unwrap_or_else(|| panic!("param `{key}`"));
    v.iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

// ------------------------------------------------------------------------------------------------
// The fixture itself and the checker.

/// Every case in the fixture is checked by some test below (a new case cannot be silently skipped).
#[test]
fn every_fixture_case_is_covered() {
    const CHECKED: &[&str] = &[
        "conv2d_grouped_stride2",
        "conv2d_depthwise_dilated",
        "conv2d_pointwise",
        "conv2d_rect_stride",
        "conv2d_rect_kernel_dilation",
        "conv2d_pointwise_grouped",
        "max_pool2d_k3s2p1",
        "avg_pool2d_k2s2",
        "avg_pool2d_k3s2p1",
        "global_avg_pool",
        "batch_norm_train",
        "batch_norm_eval",
        "layer_norm",
        "relu6",
        "gelu",
        "sigmoid",
        "tanh",
        "softmax_axis1",
        "log_softmax_axis1",
        "cross_entropy",
        "mse",
        "kl_div_batchmean",
        "matmul",
        "broadcast_add",
        "broadcast_mul",
        "broadcast_div",
    ];
    let f = fixture();
    let in_fixture: Vec<&str> = f.cases.keys().map(String::as_str).collect();
    let mut checked = CHECKED.to_vec();
    checked.sort_unstable();
    assert_eq!(in_fixture, checked);
    let runs: Vec<&str> = f.optim.runs.keys().map(String::as_str).collect();
    assert_eq!(runs, ["adam_l2", "adamw", "sgd_momentum_wd", "sgd_nesterov_wd"]);
    let schedules: Vec<&str> = f.schedules.keys().map(String::as_str).collect();
    assert_eq!(schedules, ["cosine_no_warmup", "cosine_warmup3", "step_lr"]);
}

/// The checker rejects a result that is off by a little more than the tolerance, and a NaN.
#[test]
fn checker_rejects_small_errors() {
    let want = [1.0f64, -2.0, 0.0];
    let shape = [3usize];
    let ok = [1.0f32, -2.0, 0.0];
    assert_close("exact", &ok, &shape, &want, &shape, TIGHT);
    for bad in [[1.0f32, -2.0, 2.1e-6], [1.0, -2.0 + 4e-6, 0.0], [1.0, -2.0, f32::NAN]] {
        let caught = std::panic::catch_unwind(|| assert_close("bad", &bad, &shape, &want, &shape, TIGHT));
        assert!(caught.is_err(), "{bad:?} passed against {want:?}");
    }
}

// ------------------------------------------------------------------------------------------------
// conv2d (tolerance CONV).

fn conv_spec(c: &Case) -> Conv2dSpec {
    Conv2dSpec {
        stride: pair_param(c, "stride"),
        padding: pair_param(c, "padding"),
        dilation: pair_param(c, "dilation"),
        groups: usize_param(c, "groups"),
    }
}

fn check_conv(name: &str) {
    let spec = conv_spec(case(name));
    if case(name).inputs.contains_key("b") {
        check_case(name, &["x", "w", "b"], CONV, |v| ops::conv2d(&v[0], &v[1], Some(&v[2]), spec));
    } else {
        check_case(name, &["x", "w"], CONV, |v| ops::conv2d(&v[0], &v[1], None, spec));
    }
}

/// conv2d, x (2,4,7,7), w (6,2,3,3), bias, stride 2, padding 1, groups 2: output and all gradients.
#[test]
fn conv2d_grouped_stride2() {
    check_conv("conv2d_grouped_stride2");
}

/// Depthwise conv2d, x (1,3,6,6), w (3,1,3,3), stride 1, padding 2, dilation 2, groups 3, no bias.
#[test]
fn conv2d_depthwise_dilated() {
    check_conv("conv2d_depthwise_dilated");
}

/// 1x1 conv2d, stride 1, bias (the path that skips im2col).
#[test]
fn conv2d_pointwise() {
    check_conv("conv2d_pointwise");
}

/// conv2d with stride (2,1) and padding (0,1), 3x3 kernel, bias.
#[test]
fn conv2d_rect_stride() {
    check_conv("conv2d_rect_stride");
}

/// conv2d with a 2x3 kernel, stride (1,2), padding (1,2), dilation (2,1), bias.
#[test]
fn conv2d_rect_kernel_dilation() {
    check_conv("conv2d_rect_kernel_dilation");
}

/// 1x1 conv2d with 2 groups, no bias (the pointwise path, per group).
#[test]
fn conv2d_pointwise_grouped() {
    check_conv("conv2d_pointwise_grouped");
}

// ------------------------------------------------------------------------------------------------
// Pooling.

fn pool_spec(c: &Case) -> Pool2dSpec {
    Pool2dSpec {
        kernel: usize_param(c, "kernel"),
        stride: usize_param(c, "stride"),
        padding: usize_param(c, "padding"),
    }
}

/// max_pool2d kernel 3, stride 2, padding 1: output and gradient (max is exact: tight tolerance).
#[test]
fn max_pool2d_k3s2p1() {
    let spec = pool_spec(case("max_pool2d_k3s2p1"));
    check_case("max_pool2d_k3s2p1", &["x"], TIGHT, |v| ops::max_pool2d(&v[0], spec));
}

/// avg_pool2d kernel 2, stride 2: output and gradient.
#[test]
fn avg_pool2d_k2s2() {
    let spec = pool_spec(case("avg_pool2d_k2s2"));
    check_case("avg_pool2d_k2s2", &["x"], TIGHT, |v| ops::avg_pool2d(&v[0], spec));
}

/// avg_pool2d kernel 3, stride 2, padding 1 with padding counted (`count_include_pad=True`).
#[test]
fn avg_pool2d_k3s2p1_count_include_pad() {
    let spec = pool_spec(case("avg_pool2d_k3s2p1"));
    check_case("avg_pool2d_k3s2p1", &["x"], TIGHT, |v| ops::avg_pool2d(&v[0], spec));
}

/// Global average pooling (mean over H and W).
#[test]
fn global_avg_pool() {
    check_case("global_avg_pool", &["x"], TIGHT, |v| ops::global_avg_pool(&v[0]));
}

// ------------------------------------------------------------------------------------------------
// Normalisation.

/// Batch norm in training mode: output, gradients of x, gamma, beta, and the running mean/variance
/// after one update (momentum 0.1 from mean 0 / var 1, unbiased variance).
#[test]
fn batch_norm_train() {
    let c = case("batch_norm_train");
    let mut stats = BatchNormStats::new(3);
    stats.mean = f32_list(c, "running_mean");
    stats.var = f32_list(c, "running_var");
    stats.momentum = c.params["momentum"].as_f64().unwrap() as f32;
    stats.eps = c.params["eps"].as_f64().unwrap() as f32;
    check_case("batch_norm_train", &["x", "gamma", "beta"], MEDIUM, |v| {
        ops::batch_norm(&v[0], &v[1], &v[2], &mut stats, true)
    });
    let shape = [3usize];
    assert_close(
        "running mean",
        &stats.mean,
        &shape,
        &c.extra["running_mean"].data,
        &c.extra["running_mean"].shape,
        TIGHT,
    );
    assert_close("running var", &stats.var, &shape, &c.extra["running_var"].data, &c.extra["running_var"].shape, TIGHT);
}

/// Batch norm in eval mode with given running statistics: output and gradients; the statistics do
/// not change.
#[test]
fn batch_norm_eval() {
    let c = case("batch_norm_eval");
    let mut stats = BatchNormStats::new(3);
    stats.mean = f32_list(c, "running_mean");
    stats.var = f32_list(c, "running_var");
    stats.eps = c.params["eps"].as_f64().unwrap() as f32;
    let before = stats.clone();
    check_case("batch_norm_eval", &["x", "gamma", "beta"], MEDIUM, |v| {
        ops::batch_norm(&v[0], &v[1], &v[2], &mut stats, false)
    });
    assert_eq!(stats, before);
}

/// Layer norm over the last axis of (3,7), eps 1e-5: output and gradients of x, gamma, beta.
#[test]
fn layer_norm() {
    let eps = case("layer_norm").params["eps"].as_f64().unwrap() as f32;
    check_case("layer_norm", &["x", "gamma", "beta"], MEDIUM, |v| ops::layer_norm(&v[0], &v[1], &v[2], eps));
}

// ------------------------------------------------------------------------------------------------
// Activations.

/// relu6 on values spanning both clamps.
#[test]
fn relu6() {
    check_case("relu6", &["x"], TIGHT, |v| Ok(ops::relu6(&v[0])));
}

/// GELU with the exact erf form.
#[test]
fn gelu() {
    check_case("gelu", &["x"], TIGHT, |v| Ok(ops::gelu(&v[0])));
}

/// Logistic sigmoid.
#[test]
fn sigmoid() {
    check_case("sigmoid", &["x"], TIGHT, |v| Ok(ops::sigmoid(&v[0])));
}

/// tanh.
#[test]
fn tanh() {
    check_case("tanh", &["x"], TIGHT, |v| Ok(ops::tanh(&v[0])));
}

/// Softmax over axis 1 of a (2,5,3) tensor (the middle axis, so lanes are strided).
#[test]
fn softmax_axis1() {
    check_case("softmax_axis1", &["x"], TIGHT, |v| ops::softmax(&v[0], 1));
}

/// Log-softmax over axis 1 of a (2,5,3) tensor.
#[test]
fn log_softmax_axis1() {
    check_case("log_softmax_axis1", &["x"], TIGHT, |v| ops::log_softmax(&v[0], 1));
}

// ------------------------------------------------------------------------------------------------
// Losses (scalar outputs; `g` is a scalar weight, so a backward that ignores the incoming gradient
// fails).

/// Cross-entropy (mean over the batch) of (5,4) logits with integer targets.
#[test]
fn cross_entropy() {
    let targets: Vec<usize> = case("cross_entropy").params["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap() as usize)
        .collect();
    check_case("cross_entropy", &["logits"], TIGHT, |v| ops::cross_entropy(&v[0], &targets));
}

/// Mean squared error: gradients of both prediction and target.
#[test]
fn mse() {
    check_case("mse", &["pred", "target"], TIGHT, |v| ops::mse(&v[0], &v[1]));
}

/// `kl_div(log_q, p, reduction="batchmean")`: gradients of both log_q and p.
#[test]
fn kl_div_batchmean() {
    check_case("kl_div_batchmean", &["log_q", "p"], TIGHT, |v| ops::kl_div(&v[0], &v[1]));
}

// ------------------------------------------------------------------------------------------------
// Linear algebra and broadcasting.

/// (3,5) x (5,4) matrix product and both gradients.
#[test]
fn matmul() {
    check_case("matmul", &["a", "b"], MEDIUM, |v| ops::matmul(&v[0], &v[1]));
}

/// (2,3,4) + (3,1): the gradient of the broadcast operand is summed back to (3,1).
#[test]
fn broadcast_add() {
    check_case("broadcast_add", &["a", "b"], TIGHT, |v| ops::add(&v[0], &v[1]));
}

/// (2,3,4) * (3,1) with broadcasting.
#[test]
fn broadcast_mul() {
    check_case("broadcast_mul", &["a", "b"], TIGHT, |v| ops::mul(&v[0], &v[1]));
}

/// (2,3,4) / (3,1) with broadcasting (denominators in ±[0.5, 2]).
#[test]
fn broadcast_div() {
    check_case("broadcast_div", &["a", "b"], TIGHT, |v| ops::div(&v[0], &v[1]));
}

// ------------------------------------------------------------------------------------------------
// Optimizers: one 6-entry parameter, five steps with the fixture's gradients; PyTorch ran in f32.

/// A model that is just one parameter.
#[derive(Debug)]
struct OneParam(Param);

impl Module for OneParam {
    fn forward(&mut self, x: &Var, _ctx: &mut Ctx) -> Result<Var> {
        Ok(x.clone())
    }
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        f(tinylab_classical::nn::join(prefix, "p"), &self.0);
    }
    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        f(tinylab_classical::nn::join(prefix, "p"), &mut self.0);
    }
}

fn vec_tensor(v: &[f64]) -> Tensor {
    to_tensor(&Array { shape: vec![v.len()], data: v.to_vec() })
}

/// Runs `opt` for the fixture's steps and compares the parameter after each one.
fn check_optimizer(name: &str, opt: &mut dyn Optimizer) {
    let f = fixture();
    let run = &f.optim.runs[name];
    let lr = run.settings["lr"].as_f64().unwrap() as f32;
    let mut model = OneParam(Param::new("p", vec_tensor(&f.optim.common.p0)));
    assert_eq!(run.params_after_step.len(), f.optim.common.grads.len());
    for (step, (grad, want)) in f.optim.common.grads.iter().zip(&run.params_after_step).enumerate() {
        model.0.grad = Some(vec_tensor(grad));
        opt.step(&mut model, lr);
        let what = format!("{name}: parameter after step {}", step + 1);
        // 1e-6 is about 8 ulps at the parameters' magnitude (up to 2.6).
        assert_close(&what, model.0.value.as_slice().unwrap(), &[want.len()], want, &[want.len()], TIGHT);
    }
}

fn sgd_from(settings: &serde_json::Value) -> Sgd {
    let get = |k: &str| settings[k].as_f64().unwrap() as f32;
    let mut opt = Sgd::new(get("momentum"), get("weight_decay"));
    opt.nesterov = settings["nesterov"].as_bool().unwrap();
    opt
}

/// SGD, lr 0.1, momentum 0.9, weight decay 0.01, against `torch.optim.SGD`.
#[test]
fn sgd_momentum_weight_decay() {
    let mut opt = sgd_from(&fixture().optim.runs["sgd_momentum_wd"].settings);
    assert!(!opt.nesterov);
    check_optimizer("sgd_momentum_wd", &mut opt);
}

/// SGD with Nesterov momentum (lr 0.1, momentum 0.9, weight decay 0.01).
#[test]
fn sgd_nesterov_weight_decay() {
    let mut opt = sgd_from(&fixture().optim.runs["sgd_nesterov_wd"].settings);
    assert!(opt.nesterov);
    check_optimizer("sgd_nesterov_wd", &mut opt);
}

/// Adam, lr 0.01, L2 weight decay 0.01 (added to the gradient), against `torch.optim.Adam`.
#[test]
fn adam_l2_weight_decay() {
    let wd = fixture().optim.runs["adam_l2"].settings["weight_decay"].as_f64().unwrap() as f32;
    check_optimizer("adam_l2", &mut Adam::new(wd));
}

/// AdamW, lr 0.01, decoupled weight decay 0.01, against `torch.optim.AdamW`.
#[test]
fn adamw_decoupled_weight_decay() {
    let wd = fixture().optim.runs["adamw"].settings["weight_decay"].as_f64().unwrap() as f32;
    check_optimizer("adamw", &mut Adam::adamw(wd));
}

// ------------------------------------------------------------------------------------------------
// Learning-rate schedules: f32 rates against f64 references.

/// 3e-8 absolute (4 ulps of a 0.1 rate) plus 1e-7 relative.
const LR_TOL: Tol = Tol { abs: 3e-8, rel: 1e-7 };

fn check_rates(what: &str, schedule: &LrSchedule, want: &[f64]) {
    let ours: Vec<f32> = (0..want.len()).map(|t| schedule.at(t)).collect();
    assert_close(what, &ours, &[ours.len()], want, &[want.len()], LR_TOL);
}

/// StepLR(step 3, gamma 0.5) over 8 epochs.
#[test]
fn step_lr_schedule() {
    let s = &fixture().schedules["step_lr"];
    assert_eq!(s.kind, "step");
    let schedule = LrSchedule::Step { base: s.base as f32, gamma: s.gamma as f32, every: s.every };
    check_rates("StepLR", &schedule, &s.lrs);
}

fn cosine(s: &Schedule) -> LrSchedule {
    assert_eq!(s.kind, "cosine");
    LrSchedule::Cosine { base: s.base as f32, min: s.min as f32, warmup: s.warmup, total: s.total }
}

/// Cosine without warm-up: equals PyTorch's CosineAnnealingLR(T_max = total) for t = 0..=total, and
/// stays at `min` after `total` as its doc says.
#[test]
fn cosine_schedule_without_warmup() {
    let s = &fixture().schedules["cosine_no_warmup"];
    assert_eq!(s.warmup, 0);
    assert_eq!(s.torch_lrs.len(), s.total + 1);
    check_rates("cosine (PyTorch CosineAnnealingLR)", &cosine(s), &s.torch_lrs);
    check_rates("cosine (closed form)", &cosine(s), &s.formula_lrs);
}

/// Cosine with a 3-step linear warm-up (`base (t+1)/warmup`, then the cosine from `base`): equals
/// PyTorch's SequentialLR(LinearLR, CosineAnnealingLR) for t = 0..=total and the closed form beyond.
#[test]
fn cosine_schedule_with_warmup() {
    let s = &fixture().schedules["cosine_warmup3"];
    assert_eq!(s.warmup, 3);
    assert_eq!(s.torch_lrs.len(), s.total + 1);
    check_rates("warm-up cosine (PyTorch SequentialLR)", &cosine(s), &s.torch_lrs);
    check_rates("warm-up cosine (closed form)", &cosine(s), &s.formula_lrs);
}
