//! `quant_lab`: quantization of the reference CNN on the bundled digits (the course's lab 2).
//!
//! From one trained fp32 model:
//!
//! - k-means weight sharing with 2, 4 and 8 bits per weight (Deep Compression), before and after
//!   codebook fine-tuning;
//! - linear weight quantization, symmetric per-tensor and per-channel, 4 and 8 bits: post-training
//!   (PTQ: quantize the trained weights) and quantization-aware training (QAT: fake quantization with
//!   the straight-through estimator, then quantize);
//! - ternary and binary weights (QAT only: PTQ at one or two bits destroys the model);
//! - the integer-only engine: the fp32 model converted to int8 (BN folded, per-channel int8 weights,
//!   asymmetric int8 activations calibrated on training images by min-max, percentile, MSE and
//!   entropy) and run with TFLite Micro's arithmetic, next to its fake-quant float simulation; and the
//!   same after 8-bit QAT of weights and activations.
//!
//! Every row reports test accuracy and model size; convolutions and linear weights are quantized,
//! biases and batch-norm parameters stay in fp32 except in the int8 engine (int32 biases, BN folded).

use super::compression::{Recipe, Split, digits_split, test_accuracy};
use super::{Experiment, ExperimentError, Metrics, RunContext};
use crate::plot::{BarChart, BarGroup};
use serde_json::{Value, json};
use std::sync::Arc;
use tinylab_classical::compress::calibrate::Calibration;
use tinylab_classical::compress::kmeans::{CodebookFineTune, KMeansQuantizer, KMeansState};
use tinylab_classical::compress::prune::default_filter;
use tinylab_classical::compress::qat::{
    Binary, LinearWeights, Ternary, attach_quantizer, bake_quantizers, insert_activation_quant, quantized_size_bits,
    remove_activation_quant,
};
use tinylab_classical::compress::quant::{Granularity, QuantScheme, Symmetry};
use tinylab_classical::int8::{ConvertOptions, Int8Model, convert};
use tinylab_classical::nn::{Module, Quantizer, Sequential, StateDict, load_state_dict, param_count, state_dict, zoo};
use tinylab_classical::optim::Sgd;

/// The `quant_lab` experiment (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct QuantLab;

/// Calibration images taken from the training split for the int8 converter.
const CALIBRATION_IMAGES: usize = 256;

struct Lab {
    split: Split,
    trained: StateDict,
    finetune: Recipe,
    seed: u64,
    fp32_bits: u64,
}

impl Lab {
    fn model(&self) -> Result<Sequential, ExperimentError> {
        let mut m = zoo::reference_cnn(1, 8, 10, 0)?;
        load_state_dict(&mut m, &self.trained)?;
        Ok(m)
    }

    fn row(&self, method: &str, bits: Value, accuracy: f32, size_bits: u64) -> Value {
        json!({"method": method, "bits": bits, "accuracy": accuracy, "size_bytes": size_bits.div_ceil(8),
               "compression": self.fp32_bits as f64 / size_bits as f64})
    }

    /// Fine-tunes `model` with `optimizer` for the fine-tuning recipe.
    fn fine_tune<O>(&self, model: &mut dyn Module, optimizer: &mut O, salt: u64) -> Result<(), ExperimentError>
    where
        O: tinylab_classical::optim::Optimizer + serde::Serialize + serde::de::DeserializeOwned + Clone,
    {
        self.finetune.train_with(model, optimizer, &self.split, self.seed.wrapping_add(salt))?;
        Ok(())
    }

    fn calibration(&self) -> tinylab_classical::Tensor {
        let n = CALIBRATION_IMAGES.min(self.split.train.len());
        let first: Vec<usize> = (0..n).collect();
        tinylab_classical::train::gather_batch(&self.split.train.images, &first)
    }

    /// Test accuracy of the int8 engine and of its fake-quant simulation, and the share of test images
    /// on which they predict the same class.
    fn int8_accuracy(&self, q: &Int8Model) -> Result<(f32, f32, f32), ExperimentError> {
        let x = self.split.test.images.clone().into_dyn();
        let engine = q.predict(&x)?;
        let fake = q.forward_fake_quant(&x)?;
        let fake: Vec<usize> =
            fake.outer_iter().map(|row| tinylab_classical::train::argmax(row.iter().copied())).collect();
        let labels = &self.split.test.labels;
        let acc = |p: &[usize]| p.iter().zip(labels).filter(|(a, b)| a == b).count() as f32 / labels.len() as f32;
        let agree = engine.iter().zip(&fake).filter(|(a, b)| a == b).count() as f32 / labels.len() as f32;
        Ok((acc(&engine), acc(&fake), agree))
    }
}

impl Experiment for QuantLab {
    fn name(&self) -> &'static str {
        "quant_lab"
    }

    fn description(&self) -> &'static str {
        "quantization of the reference CNN on the digits: fp32 vs k-means 2/4/8-bit vs linear per-tensor / \
         per-channel 4/8-bit (PTQ and QAT), ternary and binary, and the int8 integer-only engine"
    }

    fn run(&self, ctx: &mut RunContext) -> Result<Metrics, ExperimentError> {
        let quick = ctx.quick;
        let train_recipe = Recipe { epochs: if quick { 2 } else { 20 }, lr: 0.05, batch_size: 32, warmup: 0 };
        let finetune = Recipe { epochs: if quick { 1 } else { 5 }, lr: 0.01, batch_size: 32, warmup: 0 };
        let split = digits_split(ctx.seed)?;
        ctx.set_config("data", split.source.clone());
        ctx.set_config("model", "reference_cnn(1, 8, 10)");
        ctx.set_config("train", train_recipe.describe());
        ctx.set_config("finetune_and_qat", finetune.describe());
        ctx.set_config("quantized_parameters", "conv and linear weights (biases and BN in fp32 except in int8)");
        ctx.set_config("int8_calibration_images", CALIBRATION_IMAGES);

        let mut model = zoo::reference_cnn(1, 8, 10, ctx.seed)?;
        train_recipe.train(&mut model, &split, ctx.seed)?;
        let fp32_accuracy = test_accuracy(&mut model, &split)?;
        let fp32_bits = 32 * param_count(&model) as u64;
        let lab = Lab { trained: state_dict(&mut model), split, finetune, seed: ctx.seed, fp32_bits };
        let mut rows = vec![lab.row("fp32", json!(32), fp32_accuracy, fp32_bits)];

        // K-means weight sharing.
        for (i, bits) in [2u8, 4, 8].into_iter().enumerate() {
            let mut m = lab.model()?;
            let shared = KMeansQuantizer::new(bits).apply(&mut m, default_filter)?;
            let size = kmeans_size_bits(&m, &shared);
            rows.push(lab.row("k-means", json!(bits), test_accuracy(&mut m, &lab.split)?, size));
            let mut opt = CodebookFineTune::new(shared, Sgd::new(0.9, 0.0));
            lab.fine_tune(&mut m, &mut opt, 10 + i as u64)?;
            rows.push(lab.row("k-means + fine-tuned codebook", json!(bits), test_accuracy(&mut m, &lab.split)?, size));
        }

        // Linear weight quantization, PTQ and QAT.
        for (i, (bits, granularity)) in [
            (8u8, Granularity::PerTensor),
            (8, Granularity::PerChannel(0)),
            (4, Granularity::PerTensor),
            (4, Granularity::PerChannel(0)),
        ]
        .into_iter()
        .enumerate()
        {
            let per_channel = matches!(granularity, Granularity::PerChannel(_));
            let label = if per_channel { "per-channel" } else { "per-tensor" };
            let quantizer: Arc<dyn Quantizer> =
                Arc::new(LinearWeights::new(QuantScheme::new(bits, Symmetry::Symmetric, granularity))?);
            let size = quantized_size_bits(&lab.model()?, bits as u32, per_channel, &default_filter);
            let mut m = lab.model()?;
            attach_quantizer(&mut m, quantizer.clone(), &default_filter);
            bake_quantizers(&mut m);
            rows.push(lab.row(&format!("linear {label} PTQ"), json!(bits), test_accuracy(&mut m, &lab.split)?, size));
            let mut m = lab.model()?;
            attach_quantizer(&mut m, quantizer, &default_filter);
            lab.fine_tune(&mut m, &mut Sgd::new(0.9, 5e-4), 20 + i as u64)?;
            bake_quantizers(&mut m);
            rows.push(lab.row(&format!("linear {label} QAT"), json!(bits), test_accuracy(&mut m, &lab.split)?, size));
        }

        // Ternary and binary weights (QAT).
        for (i, (name, bits, quantizer)) in
            [("ternary QAT", 2u32, Arc::new(Ternary) as Arc<dyn Quantizer>), ("binary QAT", 1, Arc::new(Binary))]
                .into_iter()
                .enumerate()
        {
            let mut m = lab.model()?;
            attach_quantizer(&mut m, quantizer, &default_filter);
            lab.fine_tune(&mut m, &mut Sgd::new(0.9, 5e-4), 30 + i as u64)?;
            bake_quantizers(&mut m);
            let size = quantized_size_bits(&m, bits, true, &default_filter);
            rows.push(lab.row(name, json!(bits), test_accuracy(&mut m, &lab.split)?, size));
        }

        // The int8 engine after PTQ, with each calibration method.
        let calibration = lab.calibration();
        let mut int8 = Vec::new();
        for method in [Calibration::MinMax, Calibration::Percentile(99.99), Calibration::Mse, Calibration::Entropy] {
            let q = convert(
                &mut lab.model()?,
                &calibration,
                &ConvertOptions { calibration: method, ..ConvertOptions::default() },
            )?;
            let (engine, fake, agree) = lab.int8_accuracy(&q)?;
            int8.push(json!({"stage": "PTQ", "calibration": format!("{method:?}"), "engine_accuracy": engine,
                             "fake_quant_accuracy": fake, "prediction_agreement": agree,
                             "engine_minus_fake_quant_points": 100.0 * (engine - fake),
                             "size_bytes": q.size().total(), "size": q.size()}));
            if method == Calibration::MinMax {
                rows.push(lab.row("int8 engine PTQ (min-max)", json!(8), engine, 8 * q.size().total() as u64));
            }
        }
        // 8-bit QAT of weights and activations, then conversion.
        let mut m = lab.model()?;
        let quantizer: Arc<dyn Quantizer> = Arc::new(LinearWeights::new(QuantScheme::INT8_WEIGHTS)?);
        attach_quantizer(&mut m, quantizer, &default_filter);
        insert_activation_quant(&mut m, 8)?;
        lab.fine_tune(&mut m, &mut Sgd::new(0.9, 5e-4), 40)?;
        remove_activation_quant(&mut m);
        bake_quantizers(&mut m);
        let q = convert(&mut m, &calibration, &ConvertOptions::default())?;
        let (engine, fake, agree) = lab.int8_accuracy(&q)?;
        int8.push(
            json!({"stage": "QAT", "calibration": "MinMax", "engine_accuracy": engine, "fake_quant_accuracy": fake,
                         "prediction_agreement": agree, "engine_minus_fake_quant_points": 100.0 * (engine - fake),
                         "size_bytes": q.size().total(), "size": q.size()}),
        );
        rows.push(lab.row("int8 engine QAT", json!(8), engine, 8 * q.size().total() as u64));

        ctx.plot(
            "accuracy",
            &BarChart {
                title: "digits CNN: test accuracy by quantization method".into(),
                x_label: "method (bits)".into(),
                y_label: "test accuracy".into(),
                categories: rows
                    .iter()
                    .map(|r| format!("{} ({})", r["method"].as_str().unwrap_or(""), r["bits"]))
                    .collect(),
                groups: vec![BarGroup::new(
                    "test accuracy",
                    rows.iter().map(|r| r["accuracy"].as_f64().unwrap_or(0.0)).collect(),
                )],
                show_values: false,
            },
        )?;
        ctx.plot(
            "size",
            &BarChart {
                title: "digits CNN: model size by quantization method".into(),
                x_label: "method (bits)".into(),
                y_label: "bytes".into(),
                categories: rows
                    .iter()
                    .map(|r| format!("{} ({})", r["method"].as_str().unwrap_or(""), r["bits"]))
                    .collect(),
                groups: vec![BarGroup::new(
                    "size",
                    rows.iter().map(|r| r["size_bytes"].as_f64().unwrap_or(0.0)).collect(),
                )],
                show_values: false,
            },
        )?;
        let table: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "| {} | {} | {:.2}% | {} | {:.1}x |",
                    r["method"].as_str().unwrap_or(""),
                    r["bits"],
                    100.0 * r["accuracy"].as_f64().unwrap_or(f64::NAN),
                    r["size_bytes"],
                    r["compression"].as_f64().unwrap_or(f64::NAN)
                )
            })
            .collect();
        ctx.note(format!(
            "| method | bits | test accuracy | bytes | compression |\n|---|---|---|---|---|\n{}",
            table.join("\n")
        ));
        let mut metrics = Metrics::new();
        metrics.insert("fp32_accuracy", fp32_accuracy);
        metrics.insert("rows", json!(rows));
        metrics.insert("int8", json!(int8));
        metrics.insert("test_samples", lab.split.test.len());
        Ok(metrics)
    }
}

/// Size of a k-means-shared model: `bits` per clustered weight plus a 32-bit codebook per tensor, the
/// other parameters in fp32.
fn kmeans_size_bits(model: &dyn Module, shared: &KMeansState) -> u64 {
    let mut bits = 0u64;
    model.visit_params("", &mut |name, p| {
        bits += match shared.layers.get(&name) {
            Some(s) => p.len() as u64 * s.bits() as u64 + 32 * (1u64 << s.bits()),
            None => 32 * p.len() as u64,
        };
    });
    bits
}
