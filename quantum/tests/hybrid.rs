//! The quantum layer inside a hybrid model (linear -> quantum -> linear) passes the autograd gradient
//! check: the gradients the tape gives every parameter (classical weights and circuit angles) match
//! central finite differences of the loss, for the exact (adjoint) and the shot-free estimator
//! (parameter-shift) backends; and the model trains.

use std::sync::Arc;
use tinylab_classical::nn::{self, Ctx, Linear, Module, Sequential};
use tinylab_classical::optim::{Adam, Optimizer};
use tinylab_classical::{Tensor, Var, ops, tensor};
use tinylab_quantum::Circuit;
use tinylab_quantum::grad::{BasisEstimator, StatevectorBackend};
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::qml::{LayerBackend, QuantumLayer, ansatz, encoders};

fn hybrid(backend: LayerBackend) -> Sequential {
    let mut rng = tensor::rng(3);
    let mut c = Circuit::new(3);
    encoders::angle_encoding(&mut c, encoders::Rotation::Y, &[0, 1, 2], 0, 1.0).unwrap();
    ansatz::strongly_entangling(&mut c, 2, "w").unwrap();
    c.crx(c.param_by_name("w0").unwrap().scaled(0.5), 0, 2).unwrap();
    let readout = vec![PauliSum::z(0).unwrap(), PauliSum::from_labels(&[(0.5, "XIZ"), (0.25, "YYI")]).unwrap()];
    Sequential::new()
        .push(Linear::new(4, 3, true, &mut rng))
        .push(QuantumLayer::new(c, readout, 5).unwrap().with_backend(backend))
        .push(Linear::new(2, 1, true, &mut rng))
}

fn loss(model: &mut Sequential, x: &Tensor, y: &Tensor, ctx: &mut Ctx) -> Var {
    let out = model.forward(&Var::constant(x.clone()), ctx).unwrap();
    ops::mse(&out, &Var::constant(y.clone())).unwrap()
}

fn gradient_check(backend: LayerBackend) {
    let mut model = hybrid(backend);
    let mut rng = tensor::rng(9);
    let x = tensor::rand_uniform(&[5, 4], -1.0, 1.0, &mut rng);
    let y = tensor::rand_uniform(&[5, 1], -0.5, 0.5, &mut rng);
    let mut ctx = Ctx::train(0);
    loss(&mut model, &x, &y, &mut ctx).backward().unwrap();
    nn::zero_grads(&mut model);
    nn::accumulate_grads(&mut model, &ctx);
    let analytic: Vec<(String, Vec<f32>)> = nn::named_params(&model)
        .into_iter()
        .map(|(name, p)| (name, p.grad.as_ref().expect("every parameter gets a gradient").iter().copied().collect()))
        .collect();
    let eps = 1e-2f32;
    for (name, grads) in analytic {
        for (k, &g) in grads.iter().enumerate() {
            let mut at = |delta: f32| -> f64 {
                model.visit_params_mut("", &mut |n, p| {
                    if n == name {
                        p.value.as_slice_mut().unwrap()[k] += delta;
                    }
                });
                let v = loss(&mut model, &x, &y, &mut Ctx::eval()).item().unwrap() as f64;
                model.visit_params_mut("", &mut |n, p| {
                    if n == name {
                        p.value.as_slice_mut().unwrap()[k] -= delta;
                    }
                });
                v
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps as f64);
            let tol = 2e-3 + 1e-2 * fd.abs();
            assert!((g as f64 - fd).abs() < tol, "{name}[{k}]: autograd {g} vs finite difference {fd}");
        }
    }
}

#[test]
fn hybrid_model_passes_the_gradient_check_with_adjoint() {
    gradient_check(LayerBackend::Exact(Default::default()));
}

#[test]
fn hybrid_model_passes_the_gradient_check_with_parameter_shift() {
    let estimator = BasisEstimator { backend: StatevectorBackend::default(), shots: None };
    gradient_check(LayerBackend::Estimated { estimator: Arc::new(estimator), seed: 1 });
}

#[test]
fn hybrid_model_trains() {
    let mut model = hybrid(LayerBackend::Exact(Default::default()));
    let mut rng = tensor::rng(11);
    let x = tensor::rand_uniform(&[16, 4], -1.0, 1.0, &mut rng);
    let y = tensor::rand_uniform(&[16, 1], -0.3, 0.3, &mut rng);
    let mut opt = Adam::new(0.0);
    let first = loss(&mut model, &x, &y, &mut Ctx::eval()).item().unwrap();
    for _ in 0..60 {
        let mut ctx = Ctx::train(0);
        let l = loss(&mut model, &x, &y, &mut ctx);
        opt.backward_step(&mut model, &l, &ctx, 0.03).unwrap();
    }
    let last = loss(&mut model, &x, &y, &mut Ctx::eval()).item().unwrap();
    assert!(last < 0.5 * first, "loss {first} -> {last}");
}

#[test]
fn bad_input_shapes_are_errors() {
    let mut model = hybrid(LayerBackend::Exact(Default::default()));
    let wrong = tensor::zeros(&[2, 5]);
    assert!(model.forward(&Var::constant(wrong), &mut Ctx::eval()).is_err());
    let mut layer = QuantumLayer::new(
        {
            let mut c = Circuit::new(2);
            encoders::angle_encoding(&mut c, encoders::Rotation::X, &[0, 1], 0, 1.0).unwrap();
            c
        },
        vec![PauliSum::z(0).unwrap()],
        0,
    )
    .unwrap();
    let err = layer.forward(&Var::constant(tensor::zeros(&[3, 4])), &mut Ctx::eval()).unwrap_err();
    assert!(err.to_string().contains("(batch, 2)"), "{err}");
    assert!(QuantumLayer::new(Circuit::new(2), vec![PauliSum::z(0).unwrap()], 0).is_err());
}
