//! `mcunet`: MCUNet's joint architecture search for microcontrollers (Lin et al., NeurIPS 2020) on
//! Fashion-MNIST, against scaling a fixed MobileNetV2 under the same memory.
//!
//! For each budget (peak SRAM and flash; in the full form also instructions):
//! 1. TinyNAS ([`tinynas::choose_space`]) picks the width and resolution of the search space among a
//!    grid by the mean MACs of the sampled sub-networks that fit the budget under the
//!    [`McuCostModel`] (in-place planner, the DSP kernels the Cortex-M runs).
//! 2. A once-for-all [`Supernet`] of the chosen space is trained by progressive shrinking on the
//!    images resized to its resolution (checkpointed in the full form).
//! 3. `sampled` admitted sub-networks are drawn ([`search::random_search`] with the measured score),
//!    extracted, their BatchNorm recalibrated, and their accuracy measured on a validation split.
//! 4. The accuracy predictor is fitted on three quarters of them and judged on the rest (RMSE,
//!    Kendall's tau).
//! 5. Evolutionary search and random search (equal predictor evaluations) under the budget; in the
//!    full form with a latency table measured under qemu (Cortex-M4) and a latency budget.
//! 6. The evolutionary winner and the random winner are extracted and fine-tuned; the scaled
//!    baselines (`space.uniform(depth, 3, 6)`, the deepest that fits, at every width x resolution of
//!    the grid) are trained with the same recipe and epochs; the baseline best on validation is the
//!    one compared.
//! 7. The searched network is converted to int8, exported to C (in-place plan) and run on the host
//!    over test images; with the ARM toolchain in the full form, also under qemu on a Cortex-M4 with
//!    128 KiB SRAM / 512 KiB flash and a Cortex-M7 with 320 KiB / 1 MiB: every output byte against
//!    the Rust engine, and the measured arena, flash and instructions next to the cost model's.

use super::compression::{Recipe, Split};
use super::{Experiment, ExperimentError, Metrics, RunContext};
use crate::plot::{LineChart, ScatterChart, Series};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Instant;
use tinylab_classical::data::transform::resize_dataset;
use tinylab_classical::data::{FashionSource, ImageDataset, fashion_mnist};
use tinylab_classical::int8::{ConvertOptions, Int8Model, convert};
use tinylab_classical::nas::predictor::{AccuracyPredictor, PredictorConfig};
use tinylab_classical::nas::recalibrate::recalibrate_batch_norm;
use tinylab_classical::nas::search::{EvolutionConfig, SearchProblem, SearchResult, evolution_search, random_search};
use tinylab_classical::nas::shrink::{ShrinkConfig, progressive_shrink};
use tinylab_classical::nas::tinynas::{self, MacsSource, SpaceCriterion, TinyNasConfig};
use tinylab_classical::nas::{ArchConfig, ArchCost, Constraints, CostModel, SearchSpace, Supernet, build};
use tinylab_classical::nn::Sequential;
use tinylab_classical::optim::Sgd;
use tinylab_classical::seed::derive;
use tinylab_classical::tensor::Tensor;
use tinylab_classical::train::{LabelledArray, argmax, evaluate, evaluate_labelled, gather_batch};
use tinylab_mcu_export::export::{ExportOptions, Samples, export_graph};
use tinylab_mcu_export::graph::McuGraph;
use tinylab_mcu_export::kernels::Kernels;
use tinylab_mcu_export::nas::McuCostModel;
use tinylab_mcu_export::nas::measure::{MeasureOptions, load_or_measure};
use tinylab_mcu_export::plan::Planner;
use tinylab_mcu_export::target::{Board, Target};
use tinylab_mcu_export::toolchain;

/// The study.
pub struct Mcunet;

/// Images per batch everywhere (supernet, fine-tuning, BatchNorm recalibration).
const BATCH: usize = 32;
/// Images used to calibrate the int8 activation ranges.
const CALIBRATION_IMAGES: usize = 256;
/// The planner every cost and export uses (TinyEngine's in-place depthwise).
const PLANNER: Planner = Planner::InPlace;

/// A memory budget of the search.
#[derive(Clone, Copy, Debug)]
struct Budget {
    name: &'static str,
    sram_bytes: u64,
    flash_bytes: u64,
}

/// A real part the searched networks are deployed on under qemu.
struct Part {
    key: &'static str,
    description: &'static str,
    target: Target,
    sram_bytes: usize,
    flash_bytes: usize,
}

const PARTS: [Part; 2] = [
    Part {
        key: "cortex_m4",
        description: "Cortex-M4, 128 KiB SRAM / 512 KiB flash (STM32F411-class), qemu mps2-an386",
        target: Target::CortexM4,
        sram_bytes: 128 * 1024,
        flash_bytes: 512 * 1024,
    },
    Part {
        key: "cortex_m7",
        description: "Cortex-M7, 320 KiB SRAM / 1 MiB flash (STM32F746-class), qemu mps2-an500",
        target: Target::CortexM7,
        sram_bytes: 320 * 1024,
        flash_bytes: 1024 * 1024,
    },
];

/// Everything the quick and the full form differ in.
struct Scale {
    widths: Vec<f32>,
    resolutions: Vec<usize>,
    budgets: Vec<Budget>,
    /// Fraction of the bundled 10k training / 2k test images used.
    data_fraction: f64,
    tinynas_samples: usize,
    shrink_epochs: usize,
    shrink_lr: f32,
    sampled: usize,
    recalibration_batches: usize,
    evolution: EvolutionConfig,
    finetune: Recipe,
    host_images: usize,
    mcu_images: usize,
    /// Measure a latency table and run on qemu (when the ARM toolchain is present).
    qemu: bool,
    /// Latency budget: this quantile of the predicted instructions of the chosen space's sampled
    /// sub-networks that fit the memory budget.
    latency_share: f64,
}

impl Scale {
    fn of(quick: bool) -> Self {
        let kib = |k: u64| k * 1024;
        if quick {
            Scale {
                widths: vec![0.25, 0.5],
                resolutions: vec![16, 24],
                budgets: vec![Budget { name: "8KiB", sram_bytes: kib(8), flash_bytes: kib(64) }],
                data_fraction: 0.1,
                tinynas_samples: 100,
                shrink_epochs: 1,
                shrink_lr: 0.05,
                sampled: 32,
                recalibration_batches: 2,
                evolution: EvolutionConfig { population: 12, generations: 3, ..EvolutionConfig::default() },
                finetune: Recipe { epochs: 1, lr: 0.05, batch_size: BATCH, warmup: 0 },
                host_images: 200,
                mcu_images: 0,
                qemu: false,
                latency_share: 1.0,
            }
        } else {
            Scale {
                widths: vec![0.25, 0.5, 0.75],
                resolutions: vec![16, 24, 32],
                budgets: vec![
                    Budget { name: "8KiB", sram_bytes: kib(8), flash_bytes: kib(64) },
                    Budget { name: "16KiB", sram_bytes: kib(16), flash_bytes: kib(128) },
                ],
                data_fraction: 0.3,
                tinynas_samples: 300,
                shrink_epochs: 2,
                shrink_lr: 0.05,
                sampled: 80,
                recalibration_batches: 4,
                evolution: EvolutionConfig { population: 40, generations: 10, ..EvolutionConfig::default() },
                finetune: Recipe { epochs: 3, lr: 0.05, batch_size: BATCH, warmup: 0 },
                host_images: 2000,
                mcu_images: 50,
                qemu: true,
                latency_share: 0.5,
            }
        }
    }
}

/// Fashion-MNIST at one resolution: search-training, validation and test images.
struct Data {
    train: ImageDataset,
    val: ImageDataset,
    test: ImageDataset,
}

impl Data {
    fn resized(&self, r: usize) -> Result<Data, ExperimentError> {
        Ok(Data {
            train: resize_dataset(&self.train, r, r)?,
            val: resize_dataset(&self.val, r, r)?,
            test: resize_dataset(&self.test, r, r)?,
        })
    }

    fn split(&self) -> Split {
        Split { train: self.train.clone(), test: self.val.clone(), source: String::new() }
    }
}

/// The data at every resolution of the grid, resized once.
struct DataCache {
    base: Data,
    by_resolution: BTreeMap<usize, Data>,
}

impl DataCache {
    fn at(&mut self, r: usize) -> Result<&Data, ExperimentError> {
        if !self.by_resolution.contains_key(&r) {
            let d = self.base.resized(r)?;
            self.by_resolution.insert(r, d);
        }
        Ok(&self.by_resolution[&r])
    }
}

fn load_data(fraction: f64, seed: u64) -> Result<Data, ExperimentError> {
    let all = fashion_mnist(&FashionSource::Bundled)?;
    let (train, test) = if fraction < 1.0 {
        (all.train.stratified_split(fraction, seed)?.0, all.test.stratified_split(fraction, seed)?.0)
    } else {
        (all.train, all.test)
    };
    let (train, val) = train.stratified_split(0.85, derive(seed, &[1]))?;
    Ok(Data { train, val, test })
}

/// A fine-tuned network: validation and test accuracy, its costs.
struct Tuned {
    model: Sequential,
    val_accuracy: f64,
    test_accuracy: f64,
}

fn fine_tune(mut model: Sequential, data: &Data, recipe: &Recipe, seed: u64) -> Result<Tuned, ExperimentError> {
    let history = recipe.train(&mut model, &data.split(), seed)?;
    let val_accuracy = history.last().map_or(0.0, |h| h.val_accuracy as f64);
    let test_accuracy = evaluate(&mut model, &data.test.images, &data.test.labels, 256)?.1 as f64;
    Ok(Tuned { model, val_accuracy, test_accuracy })
}

fn cost_json(c: &ArchCost) -> Value {
    json!({"macs": c.macs, "params": c.params, "flash_bytes": c.flash_bytes, "peak_sram_bytes": c.peak_sram_bytes,
           "latency_instructions": c.latency_instructions})
}

fn kib(bytes: u64) -> f64 {
    bytes as f64 / 1024.0
}

/// The accuracy of one sub-network of the supernet: extracted, BatchNorm recalibrated on the first
/// training batches, evaluated on the validation images.
fn subnet_accuracy(
    net: &mut Supernet,
    arch: &ArchConfig,
    calib: &[Tensor],
    val: &LabelledArray,
) -> tinylab_classical::Result<f64> {
    let mut sub = net.extract(arch)?;
    recalibrate_batch_norm(&mut sub, calib)?;
    Ok(evaluate_labelled(&mut sub, val, 256)?.1 as f64)
}

impl Experiment for Mcunet {
    fn name(&self) -> &'static str {
        "mcunet"
    }

    fn description(&self) -> &'static str {
        "MCUNet: TinyNAS space choice + once-for-all search under SRAM/flash budgets vs scaled MobileNetV2, deployed to C"
    }

    fn run(&self, ctx: &mut RunContext) -> Result<Metrics, ExperimentError> {
        let scale = Scale::of(ctx.quick);
        let seed = ctx.seed;
        let arm = scale.qemu && toolchain::available(Target::CortexM4) && toolchain::available(Target::CortexM7);
        if scale.qemu && !arm && toolchain::toolchains_required() {
            return Err(ExperimentError::other(format!(
                "the ARM toolchain (arm-none-eabi-gcc, newlib, qemu-system-arm) is missing and {} is set",
                toolchain::REQUIRE_TOOLCHAINS_ENV
            )));
        }
        let mut cache = DataCache { base: load_data(scale.data_fraction, seed)?, by_resolution: BTreeMap::new() };
        ctx.set_config(
            "data",
            json!({"source": "bundled Fashion-MNIST subset (10k train / 2k test, stratified)",
                   "fraction": scale.data_fraction, "train": cache.base.train.len(), "val": cache.base.val.len(),
                   "test": cache.base.test.len(), "resize": "bilinear from 28x28"}),
        );
        ctx.set_config(
            "budgets",
            scale
                .budgets
                .iter()
                .map(|b| json!({"name": b.name, "sram_bytes": b.sram_bytes, "flash_bytes": b.flash_bytes}))
                .collect::<Vec<_>>(),
        );
        ctx.set_config(
            "grid",
            json!({"widths": scale.widths, "resolutions": scale.resolutions, "space": "SearchSpace::tiny"}),
        );
        ctx.set_config(
            "cost_model",
            "McuCostModel: in-place planner, DSP kernels (scratch in the arena); flash = int8 constants",
        );
        ctx.set_config(
            "supernet",
            json!({"plan": "ShrinkConfig::ofa (full, kernel, depth, expand)", "epochs_per_phase": scale.shrink_epochs,
                   "lr": scale.shrink_lr, "batch_size": BATCH, "optimizer": "sgd momentum 0.9, weight decay 1e-4"}),
        );
        ctx.set_config("sampled_subnets", scale.sampled);
        ctx.set_config("evolution", serde_json::to_value(&scale.evolution).map_err(ExperimentError::other)?);
        ctx.set_config("finetune", scale.finetune.describe());
        ctx.set_config(
            "baselines",
            "scaled MobileNetV2: space.uniform(depth, kernel 3, expand 6), the deepest depth that fits, per width x resolution; trained from scratch with the fine-tuning recipe",
        );
        ctx.set_config("arm_toolchain_available", arm);
        ctx.set_config("latency_budget_quantile_of_fitting_samples", scale.latency_share);
        if arm {
            ctx.set_config("parts", PARTS.iter().map(|p| p.description).collect::<Vec<_>>());
        }

        let mut metrics = Metrics::new();
        let mut baseline_cache: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        let mut pareto: Vec<Series> = Vec::new();
        let mut predictor_points: Vec<Series> = Vec::new();
        let mut rows = Vec::new();
        let mut budgets_out = Vec::new();
        for (bi, budget) in scale.budgets.iter().enumerate() {
            let t0 = Instant::now();
            let bseed = derive(seed, &[bi as u64]);
            let out = run_budget(ctx, &scale, budget, bseed, arm, &mut cache, &mut baseline_cache)?;
            metrics.insert_timing(format!("budget_{}_seconds", budget.name), t0.elapsed().as_secs_f64());
            for (stage, secs) in out.seconds {
                metrics.insert_timing(format!("budget_{}_{stage}_seconds", budget.name), secs);
            }
            pareto.extend(out.pareto);
            predictor_points.push(out.predictor_points);
            rows.push(out.row);
            budgets_out.push(out.metrics);
        }
        for (row, b) in rows.iter().zip(&budgets_out) {
            let name = row["budget"].as_str().unwrap_or("");
            for (key, value) in [
                ("searched_test_accuracy", row["searched"].clone()),
                ("random_search_test_accuracy", row["random"].clone()),
                ("best_baseline_test_accuracy", row["baseline"]["test_accuracy"].clone()),
                ("searched_minus_best_baseline_points", row["gain_points"].clone()),
                ("searched_int8_test_accuracy", row["int8"].clone()),
                ("predictor_kendall_tau", row["tau"].clone()),
                ("host_mismatching_outputs", b["deployment"]["host"]["mismatching_outputs"].clone()),
            ] {
                metrics.insert(format!("{name}_{key}"), value);
            }
        }
        ctx.note(deployment_table(&budgets_out));
        metrics.insert("budgets", Value::Array(budgets_out));
        ctx.plot(
            "pareto",
            &ScatterChart {
                title: "fine-tuned test accuracy vs peak SRAM (cost model)".into(),
                x_label: "peak SRAM (KiB)".into(),
                y_label: "test accuracy".into(),
                classes: pareto,
            },
        )?;
        ctx.plot(
            "predictor",
            &ScatterChart {
                title: "accuracy predictor on held-out sub-networks".into(),
                x_label: "measured supernet accuracy (validation)".into(),
                y_label: "predicted accuracy".into(),
                classes: predictor_points,
            },
        )?;
        ctx.note(summary(&rows));
        Ok(metrics)
    }
}

/// What one budget contributes.
struct BudgetOut {
    metrics: Value,
    pareto: Vec<Series>,
    predictor_points: Series,
    row: Value,
    /// Wall-clock seconds of the stages (timings, not metrics).
    seconds: Vec<(&'static str, f64)>,
}

/// Steps 1 to 7 of the module docs for one budget; `baseline_cache` keeps the baselines trained for
/// an earlier budget (keyed by architecture), so each is trained once per run.
fn run_budget(
    ctx: &mut RunContext,
    scale: &Scale,
    budget: &Budget,
    seed: u64,
    arm: bool,
    cache: &mut DataCache,
    baseline_cache: &mut BTreeMap<String, (f64, f64)>,
) -> Result<BudgetOut, ExperimentError> {
    let name = budget.name;
    let memory = Constraints {
        max_sram_bytes: Some(budget.sram_bytes),
        max_flash_bytes: Some(budget.flash_bytes),
        max_latency_instructions: None,
    };
    let plain = McuCostModel::new(PLANNER, Kernels::Dsp, Board::default());

    // 1. TinyNAS: the space.
    let spaces = tinynas::grid(&scale.widths, &scale.resolutions, &|w, r| SearchSpace::tiny(w, r, 1, 10))?;
    let tn_cfg =
        TinyNasConfig { samples: scale.tinynas_samples, seed: derive(seed, &[0]), criterion: SpaceCriterion::MeanMacs };
    let tn = tinynas::choose_space(&spaces, &plain, &memory, MacsSource::CostModel, &tn_cfg)?;
    let space = spaces[tn.chosen].clone();
    let cdf: Vec<Series> = tn
        .spaces
        .iter()
        .filter(|s| !s.cdf.is_empty())
        .map(|s| {
            Series::new(
                format!("w{} r{} ({} fit)", s.width, s.resolution, s.satisfying),
                s.cdf.iter().map(|p| (2.0 * p.macs as f64 / 1e6, p.fraction)).collect(),
            )
        })
        .collect();
    ctx.plot(
        &format!("flops_cdf_{name}"),
        &LineChart {
            title: format!("FLOPs CDF of the sub-networks that fit the {name} budget, per space"),
            x_label: "MFLOPs (2 x MACs)".into(),
            y_label: "cumulative share".into(),
            series: cdf,
            log_y: false,
            markers: false,
        },
    )?;

    // Latency table and budget (full form with qemu).
    let (cost_model, constraints, latency_table) = if arm {
        let path = ctx.resume_dir().join(format!("latency_m4_w{}_r{}.json", space.width, space.resolution));
        let opts = MeasureOptions {
            planners: vec![PLANNER],
            ..MeasureOptions::cortex_m4(ctx.resume_dir().join("latency_build"), derive(seed, &[1]))
        };
        let table = load_or_measure(&path, &space, &opts)?;
        let model = McuCostModel::new(PLANNER, Kernels::Dsp, Board::default()).with_latency(table.clone())?;
        let limit = latency_quantile(&model, &space, &memory, scale, derive(seed, &[9]))?;
        (model, Constraints { max_latency_instructions: limit, ..memory }, Some(table))
    } else {
        (plain.clone(), memory, None)
    };

    // 2. Supernet.
    let data = cache.at(space.resolution)?;
    let train = LabelledArray::new(data.train.images.view(), &data.train.labels)?;
    let val = LabelledArray::new(data.val.images.view(), &data.val.labels)?;
    let t0 = Instant::now();
    let mut net = Supernet::new(space.clone(), derive(seed, &[2]))?;
    let mut shrink = ShrinkConfig::ofa(scale.shrink_epochs, scale.shrink_lr, BATCH, derive(seed, &[3]));
    shrink.progress = !ctx.quick;
    shrink.checkpoint = ctx.checkpoint(&format!("supernet_{name}.ckpt"))?;
    let shrunk = progressive_shrink(&mut net, || Sgd::new(0.9, 1e-4), &train, Some(&val), &shrink)?;
    let supernet_seconds = t0.elapsed().as_secs_f64();
    let calib: Vec<Tensor> = (0..scale.recalibration_batches)
        .map(|b| {
            gather_batch(
                &data.train.images,
                &((b * BATCH)..((b + 1) * BATCH).min(data.train.len())).collect::<Vec<_>>(),
            )
        })
        .collect();

    // 3. Measured accuracies of admitted sub-networks.
    let problem = SearchProblem { space: &space, cost_model: &cost_model, constraints, max_tries: 10_000 };
    let mut pairs: Vec<(ArchConfig, f64)> = Vec::new();
    let t0 = Instant::now();
    random_search(
        &problem,
        &mut |a| {
            let acc = subnet_accuracy(&mut net, a, &calib, &val)?;
            pairs.push((a.clone(), acc));
            Ok(acc)
        },
        scale.sampled,
        derive(seed, &[4]),
    )?;
    let sampling_seconds = t0.elapsed().as_secs_f64();

    // 4. Predictor.
    let held = pairs.len() / 4;
    let (fit_pairs, held_pairs) = pairs.split_at(pairs.len() - held);
    let mut predictor = AccuracyPredictor::fit(
        &space,
        fit_pairs,
        &PredictorConfig { seed: derive(seed, &[5]), ..PredictorConfig::default() },
    )?;
    let report = predictor.evaluate(held_pairs)?;
    let predicted_held = predictor.predict_many(&held_pairs.iter().map(|(a, _)| a.clone()).collect::<Vec<_>>())?;
    let predictor_points = Series::new(
        format!("held-out, {name}"),
        held_pairs.iter().zip(&predicted_held).map(|((_, m), &p)| (*m, p)).collect(),
    );

    // 5. Searches with the predictor.
    let evo_cfg = EvolutionConfig { seed: derive(seed, &[6]), ..scale.evolution.clone() };
    let evaluations = evo_cfg.evaluations();
    let evolved = evolution_search(&problem, &mut |a| predictor.predict(a), &evo_cfg)?;
    let random = random_search(&problem, &mut |a| predictor.predict(a), evaluations, derive(seed, &[7]))?;

    // 6. Fine-tuning: searched, random, baselines.
    let mut tune_subnet = |r: &SearchResult, tag: u64| -> Result<(Tuned, f64), ExperimentError> {
        let supernet_acc = subnet_accuracy(&mut net, &r.best, &calib, &val)?;
        let mut model = net.extract(&r.best)?;
        recalibrate_batch_norm(&mut model, &calib)?;
        Ok((fine_tune(model, data, &scale.finetune, derive(seed, &[8, tag]))?, supernet_acc))
    };
    let (searched, searched_supernet_acc) = tune_subnet(&evolved, 0)?;
    let (random_tuned, random_supernet_acc) = tune_subnet(&random, 1)?;
    let search_json = |r: &SearchResult, supernet_acc: f64, t: &Tuned| {
        json!({"arch": r.best.key(), "predicted_accuracy": r.score, "supernet_val_accuracy": supernet_acc,
               "finetuned_val_accuracy": t.val_accuracy, "finetuned_test_accuracy": t.test_accuracy,
               "cost": cost_json(&r.cost)})
    };
    let evolution_metrics = search_json(&evolved, searched_supernet_acc, &searched);
    let random_metrics = search_json(&random, random_supernet_acc, &random_tuned);

    let mut baselines = Vec::new();
    for (si, s) in spaces.iter().enumerate() {
        let fits = s.depths.iter().rev().map(|&d| s.uniform(d, 3, 6)).find_map(|a| match plain.cost(s, &a) {
            Ok(c) if memory.admits(&c) => Some(Ok((a, c))),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        });
        let Some(fit) = fits else { continue };
        let (arch, cost) = fit?;
        let key = arch.key();
        if !baseline_cache.contains_key(&key) {
            let d = cache.at(s.resolution)?;
            let model = build::standalone(s, &arch, derive(ctx.seed, &[100, si as u64]))?;
            let t = fine_tune(model, d, &scale.finetune, derive(ctx.seed, &[101, si as u64]))?;
            baseline_cache.insert(key.clone(), (t.val_accuracy, t.test_accuracy));
        }
        let (val_accuracy, test_accuracy) = baseline_cache[&key];
        baselines.push(json!({"width": s.width, "resolution": s.resolution, "depth": arch.depths[0], "arch": key,
                              "cost": cost_json(&cost), "val_accuracy": val_accuracy, "test_accuracy": test_accuracy}));
    }
    let best_baseline = baselines
        .iter()
        .fold(None::<&Value>, |best, b| match best {
            Some(x) if x["val_accuracy"].as_f64() >= b["val_accuracy"].as_f64() => best,
            _ => Some(b),
        })
        .cloned();

    // 7. int8, export, run.
    let data = cache.at(space.resolution)?;
    let deployment = deploy(ctx, &space, &evolved, searched.model, data, budget, scale, &cost_model, arm)?;

    let gain =
        best_baseline.as_ref().and_then(|b| b["test_accuracy"].as_f64()).map(|b| 100.0 * (searched.test_accuracy - b));
    let f = |v: &Value, k: &str| v["cost"][k].as_f64().unwrap_or(0.0);
    let mut pareto = vec![
        Series::new(format!("searched {name}"), vec![(kib(evolved.cost.peak_sram_bytes), searched.test_accuracy)]),
        Series::new(
            format!("random search {name}"),
            vec![(kib(random.cost.peak_sram_bytes), random_tuned.test_accuracy)],
        ),
    ];
    if !baselines.is_empty() {
        pareto.push(Series::new(
            format!("scaled MobileNetV2 {name}"),
            baselines
                .iter()
                .map(|b| (f(b, "peak_sram_bytes") / 1024.0, b["test_accuracy"].as_f64().unwrap_or(0.0)))
                .collect(),
        ));
    }
    let row = json!({"budget": name, "sram_bytes": budget.sram_bytes, "flash_bytes": budget.flash_bytes,
                     "space": format!("w{} r{}", space.width, space.resolution),
                     "searched": searched.test_accuracy, "searched_sram": evolved.cost.peak_sram_bytes,
                     "searched_flash": evolved.cost.flash_bytes,
                     "random": random_tuned.test_accuracy, "baseline": best_baseline.clone(), "gain_points": gain,
                     "int8": deployment["int8_engine_test_accuracy"].clone(),
                     "test_images": deployment["test_images"].clone(),
                     "tau": report.kendall_tau, "rmse": report.rmse});
    let shrink_last = shrunk
        .history
        .last()
        .map(|e| json!({"largest_val_accuracy": e.val_accuracy, "phase": format!("{:?}", e.phase)}));
    let metrics = json!({
        "budget": {"name": name, "sram_bytes": budget.sram_bytes, "flash_bytes": budget.flash_bytes,
                   "latency_instructions": constraints.max_latency_instructions},
        "tinynas": {"chosen": {"width": space.width, "resolution": space.resolution},
                    "spaces": tn.spaces.iter().map(|s| json!({"width": s.width, "resolution": s.resolution,
                        "sampled": s.sampled, "satisfying": s.satisfying, "mean_macs": s.mean_macs})).collect::<Vec<_>>()},
        "latency_table_entries": latency_table.as_ref().map(|t| t.entries.len()),
        "supernet": {"epochs": shrunk.history.len(), "last": shrink_last},
        "sampled": {"count": pairs.len(),
                    "mean_accuracy": pairs.iter().map(|p| p.1).sum::<f64>() / pairs.len().max(1) as f64,
                    "best_accuracy": pairs.iter().map(|p| p.1).fold(0.0, f64::max)},
        "predictor": {"train_pairs": fit_pairs.len(), "held_out": report.n, "rmse": report.rmse,
                      "mean_predictor_rmse": report.mean_rmse, "kendall_tau": report.kendall_tau},
        "search": {"evaluations": evaluations, "evolution": evolution_metrics, "random": random_metrics},
        "baselines": baselines,
        "best_baseline": best_baseline,
        "searched_minus_best_baseline_points": gain,
        "deployment": deployment,
    });
    let seconds = vec![("supernet", supernet_seconds), ("sampling", sampling_seconds)];
    Ok(BudgetOut { metrics, pareto, predictor_points, row, seconds })
}

/// The `scale.latency_share` quantile of the predicted instructions of `scale.tinynas_samples`
/// sub-networks of `space` that `memory` admits (`None` when none does).
fn latency_quantile(
    model: &McuCostModel,
    space: &SearchSpace,
    memory: &Constraints,
    scale: &Scale,
    seed: u64,
) -> Result<Option<u64>, ExperimentError> {
    let mut r = tinylab_classical::tensor::rng(seed);
    let mut latencies = Vec::new();
    for _ in 0..scale.tinynas_samples {
        let c = model.evaluate(space, &space.sample(&mut r))?;
        if memory.admits(&c) {
            latencies.extend(c.latency_instructions);
        }
    }
    latencies.sort_unstable();
    let i = ((scale.latency_share * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len().max(1)) - 1;
    Ok(latencies.get(i).copied())
}

/// Accuracy of output bytes (argmax, first on ties) against labels.
fn accuracy_of_outputs(outputs: &[Vec<i8>], labels: &[usize]) -> f64 {
    let right = outputs.iter().zip(labels).filter(|(o, l)| argmax(o.iter().map(|&v| v as f32)) == **l).count();
    right as f64 / outputs.len().max(1) as f64
}

/// Converts the fine-tuned searched network to int8, exports it and runs it on the host (always) and
/// on the Cortex-M4 / M7 parts (with `arm`), next to the cost model's predictions.
#[allow(clippy::too_many_arguments)]
fn deploy(
    ctx: &RunContext,
    space: &SearchSpace,
    searched: &SearchResult,
    mut model: Sequential,
    data: &Data,
    budget: &Budget,
    scale: &Scale,
    cost_model: &McuCostModel,
    arm: bool,
) -> Result<Value, ExperimentError> {
    let calib: Vec<usize> = (0..CALIBRATION_IMAGES.min(data.train.len())).collect();
    let q: Int8Model = convert(&mut model, &gather_batch(&data.train.images, &calib), &ConvertOptions::default())?;
    let test_x = data.test.images.clone().into_dyn();
    let engine = q.predict(&test_x)?;
    let labels = &data.test.labels;
    let engine_accuracy = engine.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / labels.len().max(1) as f64;
    let graph = McuGraph::from_int8(&q)?;
    let predicted_host =
        McuCostModel::new(PLANNER, Kernels::Portable, Board::default()).evaluate(space, &searched.best)?;
    let predicted = cost_model.evaluate(space, &searched.best)?;
    let subset = |n: usize| -> Result<(Samples, &[usize]), ExperimentError> {
        let n = n.min(labels.len());
        let idx: Vec<usize> = (0..n).collect();
        Ok((Samples::from_engine(&q, &graph, &gather_batch(&data.test.images, &idx))?, &labels[..n]))
    };
    let engine_on = |l: &[usize]| engine.iter().zip(l).filter(|(p, l)| p == l).count() as f64 / l.len().max(1) as f64;
    let (host_set, host_labels) = subset(scale.host_images)?;
    let dir = ctx.out_dir.join("c").join(format!("{}-host", budget.name));
    let opts = ExportOptions { planner: PLANNER, target: Target::Host, board: Board::default(), kernels: None };
    let exported = export_graph(&graph, &dir, &opts, &host_set)?;
    let run = toolchain::run(&toolchain::build(&dir, Target::Host)?, Target::Host)?;
    let measured_sram = exported.arena_bytes + if exported.external_input { exported.input_bytes } else { 0 };
    let mut out = json!({
        "int8_engine_test_accuracy": engine_accuracy, "test_images": labels.len(),
        "graph_macs": graph.macs(), "graph_constant_bytes": graph.constant_bytes(),
        "predicted": cost_json(&predicted), "predicted_portable": cost_json(&predicted_host),
        "fits_budget": predicted.peak_sram_bytes <= budget.sram_bytes && predicted.flash_bytes <= budget.flash_bytes
            && (measured_sram as u64) <= budget.sram_bytes && (graph.constant_bytes() as u64) <= budget.flash_bytes,
        "host": {"images": host_set.inputs.len(), "mismatching_outputs": run.mismatches,
                 "accuracy": accuracy_of_outputs(&run.outputs, host_labels), "engine_accuracy": engine_on(host_labels),
                 "arena_bytes": exported.arena_bytes, "peak_sram_bytes": measured_sram,
                 "flash_constant_bytes": exported.constant_bytes},
    });
    if arm {
        let (mcu_set, mcu_labels) = subset(scale.mcu_images)?;
        for part in &PARTS {
            let dir = ctx.out_dir.join("c").join(format!("{}-{}", budget.name, part.target.name()));
            let board = Board::new(part.sram_bytes, part.flash_bytes)?;
            let opts = ExportOptions { planner: PLANNER, target: part.target, board, kernels: None };
            let exported = export_graph(&graph, &dir, &opts, &mcu_set)?;
            let elf = toolchain::build(&dir, part.target)?;
            let run = toolchain::run(&elf, part.target)?;
            let sizes = toolchain::size(&elf)?;
            let per = run.instructions.iter().sum::<u64>() / run.instructions.len().max(1) as u64;
            let test_data = mcu_set.inputs.len() * (graph.input_bytes() + graph.output_bytes());
            out[part.key] = json!({
                "part": part.description, "images": mcu_set.inputs.len(), "mismatching_outputs": run.mismatches,
                "accuracy": accuracy_of_outputs(&run.outputs, mcu_labels), "engine_accuracy": engine_on(mcu_labels),
                "peak_sram_bytes": exported.arena_bytes + if exported.external_input { exported.input_bytes } else { 0 },
                "predicted_peak_sram_bytes": predicted.peak_sram_bytes,
                "flash_bytes": sizes.flash(), "flash_bytes_without_test_data": sizes.flash().saturating_sub(test_data),
                "constant_bytes": exported.constant_bytes, "predicted_flash_bytes": predicted.flash_bytes,
                "instructions_per_inference": per,
                "predicted_instructions": if part.target == Target::CortexM4 { predicted.latency_instructions } else { None },
                "text": sizes.text, "data": sizes.data, "bss": sizes.bss});
        }
    }
    Ok(out)
}

/// The report's table of the deployments: predicted against measured peak SRAM, flash and
/// instructions of the searched network on every target it ran on.
fn deployment_table(budgets: &[Value]) -> String {
    let num = |v: &Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.0}"));
    let kib = |v: &Value| v.as_f64().map_or("-".to_string(), |x| format!("{:.1}", x / 1024.0));
    let mut s = String::from(
        "Deployment of the searched networks (int8, in-place plan): predicted by the cost model / measured on the build.\n\n\
         | budget | target | images | mismatching outputs | accuracy (MCU / engine) | peak SRAM KiB | constants (flash) KiB | program flash KiB | instructions / inference |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for b in budgets {
        let d = &b["deployment"];
        let name = b["budget"]["name"].as_str().unwrap_or("");
        let h = &d["host"];
        s.push_str(&format!(
            "| {name} | host (portable kernels) | {} | {} | {} / {} | {} / {} | {} / {} | - | - |\n",
            num(&h["images"]),
            num(&h["mismatching_outputs"]),
            h["accuracy"],
            h["engine_accuracy"],
            kib(&d["predicted_portable"]["peak_sram_bytes"]),
            kib(&h["peak_sram_bytes"]),
            kib(&d["predicted_portable"]["flash_bytes"]),
            kib(&h["flash_constant_bytes"]),
        ));
        for key in ["cortex_m4", "cortex_m7"] {
            let t = &d[key];
            if t.is_null() {
                continue;
            }
            s.push_str(&format!(
                "| {name} | {} | {} | {} | {} / {} | {} / {} | {} / {} | {} | {} / {} |\n",
                t["part"].as_str().unwrap_or(key),
                num(&t["images"]),
                num(&t["mismatching_outputs"]),
                t["accuracy"],
                t["engine_accuracy"],
                kib(&t["predicted_peak_sram_bytes"]),
                kib(&t["peak_sram_bytes"]),
                kib(&t["predicted_flash_bytes"]),
                kib(&t["constant_bytes"]),
                kib(&t["flash_bytes_without_test_data"]),
                num(&t["predicted_instructions"]),
                num(&t["instructions_per_inference"]),
            ));
        }
    }
    s.push_str(
        "\nThe latency table is measured on the Cortex-M4, so the M7 has no predicted instructions. Program flash \
         is the ELF's text + data less the test images; the baselines are held to the SRAM and flash budgets \
         only (the latency table covers the chosen space).",
    );
    s
}

/// The report's table: searched vs random vs the best baseline per budget, and the verdict.
fn summary(rows: &[Value]) -> String {
    let pct = |v: &Value| v.as_f64().map_or("-".to_string(), |a| format!("{:.1}%", 100.0 * a));
    let mut s = String::from(
        "| budget (SRAM / flash) | space | searched | random search | best scaled MobileNetV2 | searched int8 | predictor tau / RMSE |\n|---|---|---|---|---|---|---|\n",
    );
    let mut verdicts = Vec::new();
    for r in rows {
        let b = &r["baseline"];
        let base = if b.is_null() {
            "none fits".to_string()
        } else {
            format!(
                "{} (w{} r{} d{}, {:.1} KiB)",
                pct(&b["test_accuracy"]),
                b["width"],
                b["resolution"],
                b["depth"],
                b["cost"]["peak_sram_bytes"].as_f64().unwrap_or(0.0) / 1024.0
            )
        };
        s.push_str(&format!(
            "| {} ({:.0} / {:.0} KiB) | {} | {} ({:.1} KiB) | {} | {} | {} | {:.2} / {:.3} |\n",
            r["budget"].as_str().unwrap_or(""),
            r["sram_bytes"].as_f64().unwrap_or(0.0) / 1024.0,
            r["flash_bytes"].as_f64().unwrap_or(0.0) / 1024.0,
            r["space"].as_str().unwrap_or(""),
            pct(&r["searched"]),
            r["searched_sram"].as_f64().unwrap_or(0.0) / 1024.0,
            pct(&r["random"]),
            base,
            pct(&r["int8"]),
            r["tau"].as_f64().unwrap_or(f64::NAN),
            r["rmse"].as_f64().unwrap_or(f64::NAN),
        ));
        if let (Some(g), Some(p), Some(q)) =
            (r["gain_points"].as_f64(), r["searched"].as_f64(), b["test_accuracy"].as_f64())
        {
            // Two binomial standard errors of the difference of two accuracies on n test images:
            // a gain inside them is a tie, not a win.
            let n = r["test_images"].as_f64().unwrap_or(1.0).max(1.0);
            let band = 200.0 * ((p * (1.0 - p) + q * (1.0 - q)) / n).sqrt();
            let verdict = if g > band {
                "beats"
            } else if g < -band {
                "falls short of"
            } else {
                "ties with"
            };
            verdicts.push(format!(
                "{}: the searched network {verdict} the best scaled baseline ({g:+.1} points of test accuracy; \
                 two standard errors of the difference on {n} test images are {band:.1} points).",
                r["budget"].as_str().unwrap_or(""),
            ));
        }
    }
    s.push('\n');
    s.push_str(&verdicts.join(" "));
    s.push_str(
        " Protocol: the searched and the random-search networks start from their supernet weights (extracted, \
         BatchNorm recalibrated), the baselines from scratch (there is no supernet of a fixed architecture); \
         all get the same fine-tuning recipe and epochs, and the baseline is chosen on the validation split. \
         Accuracies are on the test images at each network's own resolution.",
    );
    s
}
