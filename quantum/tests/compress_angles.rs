//! The classical compression passes apply unchanged to the angles of a quantum layer, because they work
//! on the parameter view: magnitude pruning sets angles to exactly zero and keeps them there through
//! training, and linear fake quantization makes the circuit run with quantized angles.

use std::sync::Arc;
use tinylab_classical::compress::prune::{Target, prune_magnitude, sparsity_report};
use tinylab_classical::compress::qat::{LinearWeights, attach_quantizer};
use tinylab_classical::compress::quant::{Granularity, QuantScheme, Symmetry};
use tinylab_classical::nn::{self, Ctx, Linear, Module, Param, Quantizer, Sequential};
use tinylab_classical::optim::{Adam, Optimizer};
use tinylab_classical::{Tensor, Var, ops, tensor};
use tinylab_quantum::Circuit;
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::qml::{QuantumLayer, ansatz, encoders};

fn hybrid() -> Sequential {
    let mut rng = tensor::rng(3);
    let mut c = Circuit::new(3);
    encoders::angle_encoding(&mut c, encoders::Rotation::Y, &[0, 1, 2], 0, 1.0).unwrap();
    ansatz::strongly_entangling(&mut c, 2, "w").unwrap();
    Sequential::new()
        .push(Linear::new(4, 3, true, &mut rng))
        .push(QuantumLayer::new(c, vec![PauliSum::z(0).unwrap(), PauliSum::z(2).unwrap()], 5).unwrap())
        .push(Linear::new(2, 1, true, &mut rng))
}

fn angles(name: &str, _: &Param) -> bool {
    name == "1.weights"
}

fn forward(model: &mut Sequential, x: &Tensor) -> Tensor {
    model.forward(&Var::constant(x.clone()), &mut Ctx::eval()).unwrap().value().clone()
}

#[test]
fn pruned_angles_are_zero_and_stay_zero_through_training() {
    let mut model = hybrid();
    let report = prune_magnitude(&mut model, &Target::Uniform(0.5), &angles).unwrap();
    let total = report.total();
    assert_eq!(total, 18, "2 layers x 3 qubits x 3 angles");
    assert_eq!(total - report.nonzero(), 9);
    let mut rng = tensor::rng(1);
    let x = tensor::rand_uniform(&[6, 4], -1.0, 1.0, &mut rng);
    let y = tensor::rand_uniform(&[6, 1], -0.5, 0.5, &mut rng);
    let mut opt = Adam::new(0.0);
    for step in 0..5 {
        let mut ctx = Ctx::train(step);
        let out = model.forward(&Var::constant(x.clone()), &mut ctx).unwrap();
        let loss = ops::mse(&out, &Var::constant(y.clone())).unwrap();
        opt.backward_step(&mut model, &loss, &ctx, 0.05).unwrap();
    }
    let after = sparsity_report(&model, &angles);
    assert_eq!(after.nonzero(), 9, "pruned angles were regrown");
    let p = nn::named_params(&model).into_iter().find(|(n, _)| n == "1.weights").unwrap().1;
    let mask = p.mask.as_ref().unwrap();
    assert!(p.value.iter().zip(mask.iter()).all(|(w, m)| *m == 1.0 || *w == 0.0));
}

#[test]
fn quantized_angles_drive_the_circuit() {
    let scheme = QuantScheme::new(4, Symmetry::Symmetric, Granularity::PerTensor);
    let quantizer = LinearWeights::new(scheme).unwrap();
    let x = tensor::rand_uniform(&[3, 4], -1.0, 1.0, &mut tensor::rng(2));

    let mut with_hook = hybrid();
    assert_eq!(attach_quantizer(&mut with_hook, Arc::new(quantizer), &angles), 1);
    let hooked = forward(&mut with_hook, &x);

    // The same model with the quantized angles written in by hand computes the same outputs.
    let mut by_hand = hybrid();
    by_hand.visit_params_mut("", &mut |name, p| {
        if name == "1.weights" {
            p.value = quantizer.quantize(&p.value);
            let mut levels: Vec<u32> = p.value.iter().map(|v| v.to_bits()).collect();
            levels.sort_unstable();
            levels.dedup();
            assert!(levels.len() <= 15, "4-bit symmetric grid has 15 levels");
        }
    });
    assert_eq!(hooked, forward(&mut by_hand, &x));
    assert_ne!(hooked, forward(&mut hybrid(), &x), "quantization changes the output");
}
