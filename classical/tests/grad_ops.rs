//! Every op's backward against central finite differences.
//!
//! For an op `f` and fixed random weights `R`, the scalar `L = Σ f(x) ⊙ R` has the analytic gradient
//! the tape computes; each input element is nudged by ±ε and `(L(x+ε) - L(x-ε)) / 2ε` (accumulated in
//! f64) must agree to 1e-2 relative (f32 arithmetic, ε = 1e-2 on inputs kept away from kinks).

use proptest::prelude::*;
use tinylab_classical::ops::{self, Conv2dSpec, Pool2dSpec};
use tinylab_classical::tensor::{self, Tensor};
use tinylab_classical::{Result, Var};

type F<'a> = dyn Fn(&[Var]) -> Result<Var> + 'a;

fn loss(f: &F<'_>, inputs: &[Tensor], weights: &Tensor) -> f64 {
    let vars: Vec<Var> = inputs.iter().map(|t| Var::constant(t.clone())).collect();
    let out = f(&vars).unwrap();
    out.value().iter().zip(weights.iter()).map(|(a, b)| (*a as f64) * (*b as f64)).sum()
}

/// Checks the gradients of `f` at `inputs` for the inputs listed in `check`.
fn check_grads(f: &F<'_>, inputs: Vec<Tensor>, check: &[usize], seed: u64) {
    let leaves: Vec<Var> = inputs.iter().map(|t| Var::leaf(t.clone())).collect();
    let out = f(&leaves).unwrap();
    let mut rng = tensor::rng(seed);
    let weights = tensor::rand_uniform(out.shape(), -1.0, 1.0, &mut rng);
    out.backward_with(weights.clone()).unwrap();
    let eps = 2e-3f32;
    for &k in check {
        let analytic = leaves[k].grad().expect("leaf has a gradient");
        for idx in 0..inputs[k].len() {
            let mut plus = inputs.clone();
            let mut minus = inputs.clone();
            plus[k].as_slice_mut().unwrap()[idx] += eps;
            minus[k].as_slice_mut().unwrap()[idx] -= eps;
            let numeric = (loss(f, &plus, &weights) - loss(f, &minus, &weights)) / (2.0 * eps as f64);
            let a = analytic.as_slice().unwrap()[idx] as f64;
            assert!(
                (a - numeric).abs() <= 1e-2 * numeric.abs().max(1.0),
                "input {k}, element {idx}: analytic {a} vs numeric {numeric}"
            );
        }
    }
}

fn rand(shape: &[usize], seed: u64) -> Tensor {
    tensor::rand_uniform(shape, -1.0, 1.0, &mut tensor::rng(seed))
}

/// Values at least 0.1 apart and away from 0 (no kinks of relu/max within ε).
fn spread(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut values: Vec<f32> = (0..n).map(|i| (i as f32 - n as f32 / 2.0 + 0.5) * 0.1 + 0.03).collect();
    let mut rng = tensor::rng(seed);
    for i in (1..n).rev() {
        let j = (tensor::uniform(&mut rng) * (i + 1) as f64) as usize;
        values.swap(i, j);
    }
    tensor::from_vec(shape, values).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn broadcasting_arithmetic(seed in any::<u64>(), m in 1usize..4, n in 1usize..4) {
        let a = rand(&[m, n], seed);
        let b = rand(&[1, n], seed ^ 1);
        let d = tensor::rand_uniform(&[m, 1], 0.5, 2.0, &mut tensor::rng(seed ^ 2));
        check_grads(&|v: &[Var]| ops::add(&v[0], &v[1]), vec![a.clone(), b.clone()], &[0, 1], seed);
        check_grads(&|v: &[Var]| ops::sub(&v[0], &v[1]), vec![a.clone(), b.clone()], &[0, 1], seed);
        check_grads(&|v: &[Var]| ops::mul(&v[0], &v[1]), vec![a.clone(), b.clone()], &[0, 1], seed);
        check_grads(&|v: &[Var]| ops::div(&v[0], &v[1]), vec![a.clone(), d], &[0, 1], seed);
        check_grads(&|v: &[Var]| Ok(ops::scale(&v[0], -1.5)), vec![a], &[0], seed);
    }

    #[test]
    fn matmul_plain_and_batched(seed in any::<u64>(), m in 1usize..5, k in 1usize..5, n in 1usize..5) {
        check_grads(&|v: &[Var]| ops::matmul(&v[0], &v[1]), vec![rand(&[m, k], seed), rand(&[k, n], seed ^ 3)], &[0, 1], seed);
        check_grads(&|v: &[Var]| ops::matmul(&v[0], &v[1]), vec![rand(&[2, m, k], seed), rand(&[2, k, n], seed ^ 3)], &[0, 1], seed);
        check_grads(&|v: &[Var]| ops::matmul(&v[0], &v[1]), vec![rand(&[3, m, k], seed), rand(&[k, n], seed ^ 3)], &[0, 1], seed);
    }

    #[test]
    fn reductions(seed in any::<u64>(), m in 1usize..4, n in 1usize..4) {
        let x = spread(&[m, n, 2], seed);
        check_grads(&|v: &[Var]| Ok(ops::sum(&v[0])), vec![x.clone()], &[0], seed);
        check_grads(&|v: &[Var]| Ok(ops::mean(&v[0])), vec![x.clone()], &[0], seed);
        check_grads(&|v: &[Var]| ops::sum_axes(&v[0], &[0, 2], true), vec![x.clone()], &[0], seed);
        check_grads(&|v: &[Var]| ops::mean_axes(&v[0], &[1], false), vec![x.clone()], &[0], seed);
        check_grads(&|v: &[Var]| ops::max_axis(&v[0], 1, false), vec![x], &[0], seed);
    }

    #[test]
    fn shape_ops(seed in any::<u64>(), m in 1usize..4, n in 1usize..4) {
        let x = rand(&[m, n, 2], seed);
        check_grads(&|v: &[Var]| ops::reshape(&v[0], &[n, 2 * m]), vec![x.clone()], &[0], seed);
        check_grads(&|v: &[Var]| ops::permute(&v[0], &[2, 0, 1]), vec![x.clone()], &[0], seed);
        check_grads(&|v: &[Var]| ops::transpose(&v[0]), vec![x.clone()], &[0], seed);
        check_grads(&|v: &[Var]| ops::slice(&v[0], 1, 0, n.div_ceil(2)), vec![x.clone()], &[0], seed);
        check_grads(&|v: &[Var]| ops::concat(&[&v[0], &v[1]], 1), vec![x.clone(), rand(&[m, 1, 2], seed ^ 5)], &[0, 1], seed);
        let idx = [0usize, m - 1, 0];
        check_grads(&|v: &[Var]| ops::embedding(&v[0], &idx), vec![x], &[0], seed);
    }

    #[test]
    fn activations(seed in any::<u64>(), n in 1usize..6) {
        let x = spread(&[2, n], seed);
        let wide = tensor::from_vec(&[2, n], x.iter().map(|v| v * 30.0).collect()).unwrap();
        check_grads(&|v: &[Var]| Ok(ops::relu(&v[0])), vec![x.clone()], &[0], seed);
        check_grads(&|v: &[Var]| Ok(ops::relu6(&v[0])), vec![wide], &[0], seed);
        check_grads(&|v: &[Var]| Ok(ops::sigmoid(&v[0])), vec![x.clone()], &[0], seed);
        check_grads(&|v: &[Var]| Ok(ops::tanh(&v[0])), vec![x.clone()], &[0], seed);
        check_grads(&|v: &[Var]| Ok(ops::gelu(&v[0])), vec![x.clone()], &[0], seed);
        check_grads(&|v: &[Var]| ops::softmax(&v[0], 1), vec![x.clone()], &[0], seed);
        check_grads(&|v: &[Var]| ops::log_softmax(&v[0], 1), vec![x], &[0], seed);
    }

    #[test]
    fn losses(seed in any::<u64>(), n in 1usize..5, k in 2usize..5) {
        let targets: Vec<usize> = (0..n).map(|i| (i * 7 + seed as usize) % k).collect();
        check_grads(&|v: &[Var]| ops::cross_entropy(&v[0], &targets), vec![rand(&[n, k], seed)], &[0], seed);
        check_grads(&|v: &[Var]| ops::mse(&v[0], &v[1]), vec![rand(&[n, k], seed), rand(&[n, k], seed ^ 9)], &[0, 1], seed);
        let p = ops::softmax(&Var::constant(rand(&[n, k], seed ^ 11)), 1).unwrap().value().clone();
        check_grads(&|v: &[Var]| ops::log_softmax(&v[0], 1).and_then(|lq| ops::kl_div(&lq, &v[1])), vec![rand(&[n, k], seed), p], &[0, 1], seed);
    }

    #[test]
    fn conv2d_all_geometries(seed in any::<u64>(), stride in 1usize..3, pad in 0usize..2, dil in 1usize..3, grouped in any::<bool>()) {
        let groups = if grouped { 2 } else { 1 };
        let spec = Conv2dSpec { stride: (stride, stride), padding: (pad, pad), dilation: (dil, dil), groups };
        let x = rand(&[2, 4, 6, 5], seed);
        let w = rand(&[4, 4 / groups, 3, 2], seed ^ 1);
        let b = rand(&[4], seed ^ 2);
        check_grads(&|v: &[Var]| ops::conv2d(&v[0], &v[1], Some(&v[2]), spec), vec![x, w, b], &[0, 1, 2], seed);
    }

    #[test]
    fn depthwise_and_pointwise_conv(seed in any::<u64>()) {
        let x = rand(&[2, 3, 5, 5], seed);
        let dw = Conv2dSpec::new(1, 1).with_groups(3);
        check_grads(&|v: &[Var]| ops::conv2d(&v[0], &v[1], None, dw), vec![x.clone(), rand(&[3, 1, 3, 3], seed ^ 1)], &[0, 1], seed);
        check_grads(&|v: &[Var]| ops::conv2d(&v[0], &v[1], None, Conv2dSpec::default()), vec![x, rand(&[4, 3, 1, 1], seed ^ 2)], &[0, 1], seed);
    }

    #[test]
    fn pooling(seed in any::<u64>(), k in 2usize..4, pad in 0usize..2) {
        let x = spread(&[2, 2, 6, 6], seed);
        let spec = Pool2dSpec { kernel: k, stride: k - 1, padding: pad.min(k / 2) };
        check_grads(&|v: &[Var]| ops::max_pool2d(&v[0], spec), vec![x.clone()], &[0], seed);
        check_grads(&|v: &[Var]| ops::avg_pool2d(&v[0], spec), vec![x.clone()], &[0], seed);
        check_grads(&|v: &[Var]| ops::global_avg_pool(&v[0]), vec![x], &[0], seed);
    }

    #[test]
    fn normalisation(seed in any::<u64>(), train in any::<bool>()) {
        let x = rand(&[3, 2, 2, 2], seed);
        let (g, b) = (rand(&[2], seed ^ 1), rand(&[2], seed ^ 2));
        check_grads(&|v: &[Var]| {
            let mut stats = ops::BatchNormStats::new(2);
            stats.mean = vec![0.1, -0.2];
            stats.var = vec![0.5, 1.5];
            ops::batch_norm(&v[0], &v[1], &v[2], &mut stats, train)
        }, vec![x.clone(), g.clone(), b.clone()], &[0, 1, 2], seed);
        let y = rand(&[3, 4], seed ^ 3);
        check_grads(&|v: &[Var]| ops::layer_norm(&v[0], &v[1], &v[2], 1e-5), vec![y, rand(&[4], seed ^ 4), rand(&[4], seed ^ 5)], &[0, 1, 2], seed);
    }
}

/// Dropout: the gradient is the mask the forward pass used (same seed, same mask).
#[test]
fn dropout_gradient_is_its_mask() {
    let x = Var::leaf(rand(&[4, 5], 1));
    let y = ops::dropout(&x, 0.3, true, &mut tensor::rng(9)).unwrap();
    y.backward_with(tensor::ones(&[4, 5])).unwrap();
    let g = x.grad().unwrap();
    for (gv, (yv, xv)) in g.iter().zip(y.value().iter().zip(x.value().iter())) {
        assert!(*gv == 0.0 && *yv == 0.0 || (*gv - 1.0 / 0.7).abs() < 1e-6 && (*yv - xv / 0.7).abs() < 1e-6);
    }
    let same = ops::dropout(&Var::constant(x.value().clone()), 0.3, true, &mut tensor::rng(9)).unwrap();
    assert_eq!(same.value(), y.value());
}

/// A dilated tap that lands beyond the input row on every output column (a 1-pixel input, kernel 3,
/// dilation 2, padding 2) contributes nothing: only the centre tap sees the pixel. Regression: the
/// unroll once sliced past the row there.
#[test]
fn conv_with_taps_beyond_every_column_uses_only_the_taps_inside() {
    let x = Tensor::from_shape_vec(vec![1, 1, 1, 1], vec![2.0]).unwrap();
    let w = Tensor::from_shape_vec(vec![1, 1, 3, 3], (1..=9).map(|v| v as f32).collect()).unwrap();
    let spec = Conv2dSpec { dilation: (2, 2), ..Conv2dSpec::new(1, 2) };
    let y = ops::conv2d(&Var::leaf(x.clone()), &Var::leaf(w.clone()), None, spec).unwrap();
    assert_eq!(y.value().shape(), &[1, 1, 1, 1]);
    assert_eq!(y.value().iter().copied().collect::<Vec<_>>(), vec![2.0 * 5.0]);
    check_grads(&|v: &[Var]| ops::conv2d(&v[0], &v[1], None, spec), vec![x, w], &[0, 1], 3);
}
