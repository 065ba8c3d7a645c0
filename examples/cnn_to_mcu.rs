//! The classical pipeline in one page: train a CNN on the bundled digits with the Trainer, prune half
//! of its channels through the model graph and fine-tune, convert it to int8, and export C for a
//! Cortex-M4 (or the host).
//!
//! `cargo run --release --example cnn_to_mcu` (writes `results/cnn_to_mcu/`; then
//! `make -C results/cnn_to_mcu/c run` builds and checks it on the host with gcc).

use tinylab_classical::compress::channel::{ChannelPlan, Importance, prune_channels};
use tinylab_classical::data::digits;
use tinylab_classical::int8::{self, ConvertOptions};
use tinylab_classical::nn::zoo;
use tinylab_classical::optim::{LrSchedule, Sgd};
use tinylab_classical::train::{Classification, LabelledArray, TrainConfig, Trainer, evaluate, gather_batch};
use tinylab_classical::{Var, graph, ops};
use tinylab_mcu_export::export::{ExportOptions, Samples, export};
use tinylab_mcu_export::graph::McuGraph;
use tinylab_mcu_export::plan::Planner;
use tinylab_mcu_export::target::{Board, Target};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seed = 7;
    let (train, test) = digits()?.stratified_split(0.8, seed)?;
    let mut model = zoo::reference_cnn(1, 8, 10, seed)?; // (N, 1, 8, 8) -> (N, 10)

    // Train: cross-entropy on labelled images, validated every epoch, seeded per (epoch, batch).
    let train_set = LabelledArray::new(train.images.view(), &train.labels)?;
    let mut metrics = Classification::new(LabelledArray::new(test.images.view(), &test.labels)?);
    let mut cfg = TrainConfig {
        epochs: 8,
        batch_size: 32,
        lr: LrSchedule::Cosine { base: 0.05, min: 0.0, warmup: 1, total: 8 },
        seed,
        patience: None,
        clip_grad_norm: None,
        progress: true,
        checkpoint: None,
    };
    let loss = |logits: &Var, labels: &Vec<usize>| ops::cross_entropy(logits, labels);
    Trainer::new(cfg.clone(), loss).run(&mut model, &mut Sgd::new(0.9, 5e-4), &train_set, &mut metrics)?;
    let (_, float_acc, _) = evaluate(&mut model, &test.images, &test.labels, 256)?;

    // Prune: the graph finds which layers share channels; half of each group goes, then fine-tune.
    let before = graph::cost(&graph::trace(&mut model, &[1, 8, 8])?);
    let report = prune_channels(&mut model, &[1, 8, 8], &ChannelPlan::Uniform(0.5), Importance::L1)?;
    cfg.epochs = 4;
    cfg.lr = LrSchedule::Constant { base: 0.01 };
    Trainer::new(cfg, loss).run(&mut model, &mut Sgd::new(0.9, 5e-4), &train_set, &mut metrics)?;
    let (_, pruned_acc, _) = evaluate(&mut model, &test.images, &test.labels, 256)?;
    println!("float {float_acc:.3} -> pruned {pruned_acc:.3}; MACs {} -> {}", before.macs, report.macs_after);

    // Quantize: int8 with TFLite's arithmetic, calibrated on 256 training images.
    let calibration = gather_batch(&train.images, &(0..256).collect::<Vec<_>>());
    let q = int8::convert(&mut model, &calibration, &ConvertOptions::default())?;
    let test_x = test.images.clone().into_dyn();
    let hits = q.predict(&test_x)?.iter().zip(&test.labels).filter(|(p, t)| p == t).count();
    println!("int8 {:.3}, {} bytes of weights and parameters", hits as f64 / test.len() as f64, q.size().total());

    // Export: C99 for a Cortex-M4 with 256 KiB of SRAM, TinyEngine's in-place arena plan, and eight
    // test images whose outputs the generated driver compares byte for byte.
    let out = std::path::Path::new("results/cnn_to_mcu/c");
    let mcu = McuGraph::from_int8(&q)?;
    let samples = Samples::from_engine(&q, &mcu, &gather_batch(&test.images, &(0..8).collect::<Vec<_>>()))?;
    let target = if std::env::args().any(|a| a == "--host") { Target::Host } else { Target::CortexM4 };
    let opts =
        ExportOptions { planner: Planner::InPlace, target, board: Board::new(256 * 1024, 1024 * 1024)?, kernels: None };
    let r = export(&q, out, &opts, Some(&samples))?;
    println!(
        "{}: arena {} bytes, constants {} bytes; `make -C {} run`",
        out.display(),
        r.arena_bytes,
        r.constant_bytes,
        out.display()
    );
    Ok(())
}
