//! `deep_compression`: the three-stage pipeline of Han, Mao & Dally (ICLR 2016) on the bundled digits:
//! prune (iterative magnitude pruning with fine-tuning), quantize (k-means weight sharing of the
//! surviving weights with codebook fine-tuning) and Huffman-code (the codebook indices and the
//! relative sparse indices), reporting the size of every stage and the total compression ratio at
//! iso-accuracy.
//!
//! Two models: LeNet-300-100 (the paper's first model, here on 8x8 inputs: 64-300-100-10) and the
//! reference CNN. Storage follows the paper: relative indices of 8 bits for convolutions and 5 bits for
//! fully connected layers. The paper's codebooks have 8 bits (conv) and 5 bits (fc); these much smaller
//! models use 8/4 (LeNet) and 5/4 (CNN), recorded in the configuration. Biases and batch-norm
//! parameters stay in fp32 and are counted in every total.

use super::compression::{Recipe, digits_split, test_accuracy};
use super::{Experiment, ExperimentError, Metrics, RunContext};
use crate::plot::{BarChart, BarGroup};
use serde_json::{Value, json};
use tinylab_classical::compress::huffman::{SizeReport, compressed_size};
use tinylab_classical::compress::kmeans::{CodebookFineTune, KMeansQuantizer, SharedWeights};
use tinylab_classical::compress::prune::default_filter;
use tinylab_classical::compress::schedule::{Schedule, ScheduleConfig, run_schedule};
use tinylab_classical::nn::{Module, Sequential, param_count, zoo};
use tinylab_classical::optim::Sgd;

/// The `deep_compression` experiment (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct DeepCompression;

/// One model and its compression settings.
struct Pipeline {
    name: &'static str,
    model: &'static str,
    build: fn(u64) -> Result<Sequential, ExperimentError>,
    sparsity: f64,
    conv_bits: u8,
    fc_bits: u8,
}

/// Relative-index widths of the paper: 8 bits in convolutions, 5 in fully connected layers.
const CONV_INDEX_BITS: u32 = 8;
const FC_INDEX_BITS: u32 = 5;

fn is_conv(p: &tinylab_classical::nn::Param) -> bool {
    p.value.ndim() == 4
}

impl Experiment for DeepCompression {
    fn name(&self) -> &'static str {
        "deep_compression"
    }

    fn description(&self) -> &'static str {
        "Deep Compression on the digits (LeNet-300-100 and the reference CNN): prune, k-means quantize with \
         codebook fine-tuning, Huffman-code; size per stage and total compression at iso-accuracy"
    }

    fn run(&self, ctx: &mut RunContext) -> Result<Metrics, ExperimentError> {
        let quick = ctx.quick;
        let train = Recipe { epochs: if quick { 2 } else { 30 }, lr: 0.05, batch_size: 32, warmup: 0 };
        let finetune = Recipe { epochs: if quick { 1 } else { 8 }, lr: 0.01, batch_size: 32, warmup: 0 };
        let rounds = if quick { 1 } else { 3 };
        let pipelines = [
            Pipeline {
                name: "lenet_300_100",
                model: "mlp([64, 300, 100, 10])",
                build: |s| Ok(zoo::mlp(&[64, 300, 100, 10], s)?),
                sparsity: 0.92,
                conv_bits: 8,
                fc_bits: 4,
            },
            Pipeline {
                name: "reference_cnn",
                model: "reference_cnn(1, 8, 10)",
                build: |s| Ok(zoo::reference_cnn(1, 8, 10, s)?),
                sparsity: 0.8,
                conv_bits: 5,
                fc_bits: 4,
            },
        ];
        let split = digits_split(ctx.seed)?;
        ctx.set_config("data", split.source.clone());
        ctx.set_config("train", train.describe());
        ctx.set_config("finetune_per_stage", finetune.describe());
        ctx.set_config("prune", json!({"schedule": "iterative global magnitude", "rounds": rounds}));
        ctx.set_config("relative_index_bits", json!({"conv": CONV_INDEX_BITS, "fc": FC_INDEX_BITS}));
        let mut metrics = Metrics::new();
        let mut chart_rows = Vec::new();
        for p in &pipelines {
            ctx.set_config(
                p.name,
                json!({"model": p.model, "sparsity": p.sparsity, "kmeans_bits": {"conv": p.conv_bits, "fc": p.fc_bits}}),
            );
            let mut model = (p.build)(ctx.seed)?;
            train.train(&mut model, &split, ctx.seed)?;
            let dense_accuracy = test_accuracy(&mut model, &split)?;
            let dense_bits = 32 * param_count(&model) as u64;

            // Stage 1: prune.
            let cfg = ScheduleConfig {
                epochs: finetune.epochs,
                batch_size: finetune.batch_size,
                lr: finetune.schedule(),
                seed: ctx.seed,
                global: true,
                rewind: None,
            };
            let schedule = Schedule::Iterative { target: p.sparsity, rounds };
            let trainset = (&split.train.images, split.train.labels.as_slice());
            let testset = (&split.test.images, split.test.labels.as_slice());
            run_schedule(&mut model, &mut Sgd::new(0.9, 5e-4), trainset, testset, &schedule, &cfg, &default_filter)?;
            let pruned_accuracy = test_accuracy(&mut model, &split)?;

            // Stage 2: k-means quantization of the survivors, then codebook fine-tuning.
            let mut shared = KMeansQuantizer::new(p.conv_bits).apply(&mut model, |_, w| is_conv(w))?;
            let fc = KMeansQuantizer::new(p.fc_bits).apply(&mut model, |_, w| w.value.ndim() == 2)?;
            shared.layers.extend(fc.layers);
            let quantized_accuracy = test_accuracy(&mut model, &split)?;
            let mut opt = CodebookFineTune::new(shared, Sgd::new(0.9, 0.0));
            finetune.train_with(&mut model, &mut opt, &split, ctx.seed.wrapping_add(1))?;
            let final_accuracy = test_accuracy(&mut model, &split)?;

            // Stage 3: sizes.
            let (layers, weights) = layer_sizes(&model, &opt.state.layers)?;
            let other_bits = dense_bits - weights.dense_bits;
            let total = |bits: u64| bits + other_bits;
            let stages = json!({
                "dense": {"bits": dense_bits, "accuracy": dense_accuracy},
                "pruned": {"bits": total(weights.sparse_bits), "accuracy": pruned_accuracy},
                "pruned_quantized": {"bits": total(weights.quantized_bits), "accuracy_before_finetune": quantized_accuracy,
                                     "accuracy": final_accuracy},
                "pruned_quantized_huffman": {"bits": total(weights.huffman_bits), "accuracy": final_accuracy},
            });
            let ratio = dense_bits as f64 / total(weights.huffman_bits) as f64;
            ctx.note(format!(
                "{}: {:.2}% dense ({} bytes) -> {:.2}% after pruning to {:.0}%, k-means and Huffman coding ({} bytes): \
                 {ratio:.1}x smaller, {:+.2} points.",
                p.name,
                100.0 * dense_accuracy,
                dense_bits / 8,
                100.0 * final_accuracy,
                100.0 * p.sparsity,
                total(weights.huffman_bits).div_ceil(8),
                100.0 * (final_accuracy - dense_accuracy)
            ));
            chart_rows.push((
                p.name,
                [dense_bits, total(weights.sparse_bits), total(weights.quantized_bits), total(weights.huffman_bits)],
            ));
            metrics.insert(
                p.name,
                json!({
                    "stages": stages,
                    "compression_ratio": ratio,
                    "accuracy_change_points": 100.0 * (final_accuracy - dense_accuracy),
                    "layers": layers,
                }),
            );
        }
        let categories = vec!["dense".into(), "pruned".into(), "+ k-means".into(), "+ Huffman".into()];
        ctx.plot(
            "size_per_stage",
            &BarChart {
                title: "Deep Compression on the digits: model size per stage".into(),
                x_label: "stage".into(),
                y_label: "kilobytes".into(),
                categories,
                groups: chart_rows
                    .iter()
                    .map(|(name, bits)| BarGroup::new(*name, bits.iter().map(|b| *b as f64 / 8192.0).collect()))
                    .collect(),
                show_values: true,
            },
        )?;
        Ok(metrics)
    }
}

/// Per-layer sizes of the shared weights and their sum.
fn layer_sizes(
    model: &dyn Module,
    shared: &std::collections::BTreeMap<String, SharedWeights>,
) -> Result<(Vec<Value>, SizeReport), ExperimentError> {
    let mut rows = Vec::new();
    let mut sum = SizeReport::default();
    let mut result = Ok(());
    model.visit_params("", &mut |name, p| {
        let Some(s) = shared.get(&name) else { return };
        let index_bits = if is_conv(p) { CONV_INDEX_BITS } else { FC_INDEX_BITS };
        match compressed_size(s, index_bits) {
            Ok(r) => {
                rows.push(json!({"layer": name, "weights": r.len, "nonzero": r.nnz, "fillers": r.fillers,
                                 "bits": s.bits(), "dense_bits": r.dense_bits, "sparse_bits": r.sparse_bits,
                                 "quantized_bits": r.quantized_bits, "huffman_bits": r.huffman_bits,
                                 "ratio": r.ratio()}));
                sum = sum + r;
            }
            Err(e) => result = Err(e),
        }
    });
    result?;
    Ok((rows, sum))
}
