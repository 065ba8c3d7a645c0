//! A hybrid quantum-classical classifier: a 4-qubit circuit (TorchQuantum's `4x4_ryzxy` encoder and
//! two U3 + CU3 blocks) read out as `<Z_q>`, then a linear layer, trained with the Trainer on pooled
//! digits 3 vs 6, then evaluated on IBM manila's noise model (transpiled, density matrix, readout
//! error, 8192 shots) as the hardware would run it.
//!
//! `cargo run --release --example hybrid_on_device`

use tinylab_classical::nn::{Ctx, Linear, Module, Sequential};
use tinylab_classical::optim::{Adam, LrSchedule};
use tinylab_classical::train::{Classification, LabelledArray, TrainConfig, Trainer, argmax};
use tinylab_classical::{Var, ops, tensor};
use tinylab_noise::DeviceProfile;
use tinylab_noise::qml::DeviceModel;
use tinylab_quantum::Circuit;
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::qml::tasks::{DIGITS_3_VS_6, PooledDigits, TRAIN_FRACTION, angles};
use tinylab_quantum::qml::{QuantumLayer, ansatz, encoders};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seed = 7;
    let PooledDigits { train, test } = PooledDigits::new(&DIGITS_3_VS_6, TRAIN_FRACTION, seed)?;
    let features =
        |d: &tinylab_classical::data::ImageDataset| tensor::from_vec(&[d.len(), 16], angles(d.images.iter()));
    let (train_x, test_x) = (features(&train)?, features(&test)?);

    let mut circuit = Circuit::new(4);
    encoders::ryzxy_4x4(&mut circuit)?; // 16 inputs, one rotation each
    ansatz::u3_cu3(&mut circuit, 2, "w")?;
    let readout: Vec<PauliSum> = (0..4).map(PauliSum::z).collect::<Result<_, _>>()?;
    let quantum = QuantumLayer::new(circuit.clone(), readout.clone(), seed)?; // exact, adjoint gradients
    let mut model = Sequential::new().push(quantum).push(Linear::new(4, 2, true, &mut tensor::rng(seed)));

    // Train end to end: the Trainer does not care that layer 0 is a circuit.
    let cfg = TrainConfig {
        epochs: 15,
        batch_size: 32,
        lr: LrSchedule::Constant { base: 0.05 },
        seed,
        patience: None,
        clip_grad_norm: None,
        progress: true,
        checkpoint: None,
    };
    let data = LabelledArray::new(train_x.view(), &train.labels)?;
    let mut metrics = Classification::new(LabelledArray::new(test_x.view(), &test.labels)?);
    let loss = |logits: &Var, labels: &Vec<usize>| ops::cross_entropy(logits, labels);
    let report = Trainer::new(cfg, loss).run(&mut model, &mut Adam::new(0.0), &data, &mut metrics)?;
    let noiseless = report.history.last().map_or(0.0, |h| h.val_accuracy);

    // On the device: the circuit with its trained weights, compiled for manila; the linear head runs
    // on the measured expectation values.
    let weights: Vec<f64> = tinylab_classical::nn::named_params(&model)
        .into_iter()
        .filter(|(name, _)| name.starts_with("0."))
        .flat_map(|(_, p)| p.value.iter().map(|&v| v as f64).collect::<Vec<_>>())
        .collect();
    let device = DeviceModel::new(&circuit, &weights, &readout, &DeviceProfile::builtin("manila")?, None)?;
    let mut head = Sequential::new();
    head.layers.push(model.layers.remove(1));
    let mut right = 0;
    for (i, row) in test_x.rows().into_iter().enumerate() {
        let inputs: Vec<f64> = row.iter().map(|&v| v as f64).collect();
        let z = device.expectations(&inputs, Some(8192), tinylab_classical::seed::derive(seed, &[i as u64]))?;
        let z = tensor::from_vec(&[1, 4], z.iter().map(|&v| v as f32).collect())?;
        let logits = head.forward(&Var::constant(z), &mut Ctx::eval())?;
        right += (argmax(logits.value().iter().copied()) == test.labels[i]) as usize;
    }
    println!(
        "noiseless test accuracy {noiseless:.3}; on manila with 8192 shots {:.3} ({} transpiled gates)",
        right as f64 / test.len() as f64,
        device.circuit().instructions().len()
    );
    Ok(())
}
