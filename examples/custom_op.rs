//! A custom differentiable op: softplus `log(1 + e^x)`, written outside the crate the way a new
//! layer would be, checked against finite differences, used in a model, and seen by the model graph.
//!
//! `cargo run --release --example custom_op`

use tinylab_classical::autograd::Op;
use tinylab_classical::graph;
use tinylab_classical::nn::{Ctx, Linear, Module, Param, Sequential, join};
use tinylab_classical::{Result, Tensor, Var, ops, tensor};

/// The op: remembers nothing but its input (the tape hands it back in `backward`).
#[derive(Debug)]
struct SoftplusOp;

impl Op for SoftplusOp {
    fn name(&self) -> &'static str {
        "softplus"
    }
    // d/dx log(1 + e^x) = sigmoid(x).
    fn backward(&self, inputs: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(inputs[0].mapv(|x| 1.0 / (1.0 + (-x).exp())) * grad)])
    }
}

/// The function users call, like `ops::relu`.
fn softplus(x: &Var) -> Var {
    Var::from_op(SoftplusOp, &[x], x.value().mapv(|x| x.max(0.0) + (-x.abs()).exp().ln_1p()))
}

/// A layer wrapping it (no parameters).
#[derive(Debug)]
struct Softplus;

impl Module for Softplus {
    fn forward(&mut self, x: &Var, _: &mut Ctx) -> Result<Var> {
        Ok(softplus(x))
    }
    fn visit_params<'a>(&'a self, _: &str, _: &mut dyn FnMut(String, &'a Param)) {}
    fn visit_params_mut(&mut self, _: &str, _: &mut dyn FnMut(String, &mut Param)) {}
}

fn main() -> Result<()> {
    // 1. The gradient against central finite differences of sum(softplus(x)^2).
    let x0 = tensor::rand_uniform(&[6], -3.0, 3.0, &mut tensor::rng(1));
    let loss = |x: &Var| ops::sum(&ops::mul(&softplus(x), &softplus(x)).expect("same shapes"));
    let x = Var::leaf(x0.clone());
    loss(&x).backward()?;
    let analytic = x.grad().expect("a leaf gets its gradient");
    let eps = 1e-3f32;
    for i in 0..x0.len() {
        let at = |d: f32| {
            let mut v = x0.clone();
            v[i] += d;
            loss(&Var::constant(v)).item()
        };
        let numeric = (at(eps)? - at(-eps)?) / (2.0 * eps);
        println!("x = {:+.3}: backward {:+.5}, finite difference {:+.5}", x0[i], analytic[i], numeric);
        assert!((analytic[i] - numeric).abs() < 1e-2 * (1.0 + numeric.abs()));
    }

    // 2. In a model: the optimizers and the graph need nothing more.
    let mut r = tensor::rng(2);
    let mut net =
        Sequential::new().push(Linear::new(4, 8, true, &mut r)).push(Softplus).push(Linear::new(8, 2, true, &mut r));
    let y = net.forward(&Var::constant(tensor::ones(&[3, 4])), &mut Ctx::eval())?;
    println!("model output shape {:?}", y.shape());
    let g = graph::trace(&mut net, &[4])?;
    print!("{}", g.summary()); // softplus is an `extension` node at path "1"
    println!("MACs {}, parameters {}", graph::cost(&g).macs, graph::cost(&g).params);
    assert_eq!(g.nodes().iter().filter(|n| n.op.name() == "extension `softplus`").count(), 1);
    assert!(g.find(&join("", "1"), |op| op.name().contains("softplus")).is_some());
    Ok(())
}
