//! `quantumnas`: noise-adaptive co-search of a circuit and its qubit mapping, then iterative pruning
//! (Wang et al., "QuantumNAS", HPCA 2022), on pooled digits 3 vs 6 and 0 to 3 (QuantumNAS's MNIST-2
//! and MNIST-4 tasks, on the bundled 8x8 digits) and the noise models of IBM manila (a line, `cx`
//! error about 1%) and quito (a T, `cx` error about 3.5%). The logits are 5 times the read-out `<Z>`
//! (summed `Z0 + Z1` against `Z2 + Z3` on two classes), everywhere: with raw `<Z>` in `[-1, 1]` every
//! cross-entropy sits near `ln 2` and the search's scores hardly differ.
//!
//! 1. A SuperCircuit (TorchQuantum's `"4x4_ryzxy"` encoder, then up to four blocks of `U3` on every
//!    qubit and `RZZ` on the ring) is trained noise-free with the sandwich rule: each step adds the
//!    gradients of the full SuperCircuit and of a uniformly drawn SubCircuit; SubCircuits share its
//!    weights. (QuantumNAS's restricted sampling alone, a random walk of two genes per step, left the
//!    full SuperCircuit at 0.68 / 0.45 noiseless test accuracy on 3 vs 6 / 0-3; the sandwich rule
//!    keeps it at 0.95 / 0.69.)
//! 2. On each device, evolutionary search over (SubCircuit, initial layout) scores each candidate by
//!    the cross-entropy on validation digits of its inherited weights, compiled for the device from
//!    that layout and simulated as a density matrix under the device's noise with readout error;
//!    candidates with more `cx` than the budget after routing are rejected. Random search with as
//!    many evaluations is the baseline.
//! 3. The searched SubCircuit, the best random one, and a human design of equal parameter count
//!    (full blocks in order, trivial layout) are trained the same way, twice: inheriting their
//!    weights and fine-tuned noise-free, and from fresh weights for the same epochs; they are tested
//!    on the device: accuracy (exact density matrix, and 8192 shots), loss and the compiled gate
//!    counts; the searched circuit also from the trivial layout. The search runs with several seeds
//!    and the means are reported.
//! 4. The first seed's searched circuit is pruned iteratively: angles wrapped into `[-π, π)`, the smallest set to
//!    zero by the shared magnitude-pruning pass, fine-tuned with masks; fully pruned gates leave the
//!    circuit. The pruning curve gives test accuracy noiseless and on the device, and the gate counts.
//! 5. The search's proxy is checked: ten random candidates per device, their noisy validation loss
//!    with inherited weights against their noisy test loss after fine-tuning (Spearman rank correlation).

use super::{Experiment, ExperimentError, Metrics, RunContext};
use crate::plot::{BarChart, BarGroup, LineChart, Series};
use serde_json::json;
use std::time::Instant;
use tinylab_classical::data::ImageDataset;
use tinylab_classical::optim::LrSchedule;
use tinylab_classical::seed;
use tinylab_classical::stats::{StatsError, mean, spearman};
use tinylab_noise::DeviceProfile;
use tinylab_noise::robust::nas::train::steps;
use tinylab_noise::robust::nas::{
    Budget, Candidate, DeviceEvaluator, EvolutionSettings, Labelled, LayerKind, Sampling, SearchProblem,
    SubCircuitConfig, SuperCircuit, SuperCircuitModel, TrainSettings, class_readout, default_groups,
    evolutionary_search, iterative_prune, noiseless_scores, random_search, train,
};
use tinylab_quantum::Circuit;
use tinylab_quantum::circuit::CircuitStats;
use tinylab_quantum::qml::encoders;
use tinylab_quantum::qml::tasks::{DIGITS_0_TO_3, DIGITS_3_VS_6, PooledDigits, angles};

/// The `quantumnas` experiment (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct QuantumNas;

/// The devices searched for and tested on: a line (manila) and a T with noisier `cx` (quito).
const DEVICES: [&str; 2] = ["manila", "quito"];
/// The tasks: pooled digits 3 vs 6 (QuantumNAS's MNIST-2) and 0 to 3 (MNIST-4), relabelled `0..`.
const TASKS: [(&str, &[usize]); 2] = [("digits_3_vs_6", &DIGITS_3_VS_6), ("digits_0_to_3", &DIGITS_0_TO_3)];
/// Scale of the read-out `<Z>` sums that gives the logits (a softmax temperature of 1/5; see
/// `tinylab_noise::robust::nas::readout`): raw `<Z>` in `[-1, 1]` leave every cross-entropy near
/// `ln 2` on two classes, and the search's noisy validation losses then barely differ.
const LOGIT_SCALE: f64 = 5.0;
/// Fraction of the digits for training (the rest is the test set); stratified, seeded.
const TRAIN_FRACTION: f64 = 0.8;
/// Fraction of the training digits kept for the training proper (the rest validates the search).
const FIT_FRACTION: f64 = 0.8;
/// The layers of a block.
const LAYERS: [LayerKind; 2] = [LayerKind::U3, LayerKind::Rzz];
/// Blocks of the SuperCircuit.
const MAX_BLOCKS: usize = 4;
/// How SuperCircuit training samples SubCircuits.
const SUPER_SAMPLING: Sampling = Sampling::Sandwich;
/// Gates a sampled layer keeps at least.
const MIN_WIDTH: usize = 1;
/// Most `cx` of a candidate's compiled circuit.
const MAX_CX: usize = 24;
/// Minibatch size.
const BATCH: usize = 32;
/// Adam's peak learning rate for the SuperCircuit (cosine decay to zero over its epochs).
const SUPER_LR: f32 = 0.05;
/// Adam's peak learning rate for fine-tuning (cosine decay to zero over its epochs).
const FINE_LR: f32 = 0.02;
/// Shots per test digit in the shot-based evaluation.
const SHOTS: usize = 8192;

/// How much work a run does.
struct Plan {
    super_epochs: usize,
    fine_epochs: usize,
    prune_epochs: usize,
    prune_targets: Vec<f64>,
    validation_rows: usize,
    test_rows: usize,
    search_seeds: usize,
    /// Random candidates fine-tuned to test the inherited-weight proxy of the search.
    proxy_candidates: usize,
    evolution: EvolutionSettings,
}

fn plan(quick: bool, seed: u64) -> Plan {
    let seed = seed::derive(seed, &[4]);
    if quick {
        Plan {
            super_epochs: 10,
            fine_epochs: 4,
            prune_epochs: 2,
            prune_targets: vec![0.3, 0.6],
            validation_rows: 24,
            test_rows: 36,
            search_seeds: 1,
            proxy_candidates: 3,
            evolution: EvolutionSettings {
                population: 6,
                parents: 2,
                mutations: 2,
                crossovers: 2,
                iterations: 3,
                mutation_prob: 0.4,
                seed,
            },
        }
    } else {
        Plan {
            super_epochs: 200,
            fine_epochs: 40,
            prune_epochs: 10,
            prune_targets: vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
            validation_rows: usize::MAX,
            test_rows: usize::MAX,
            search_seeds: 3,
            proxy_candidates: 10,
            evolution: EvolutionSettings {
                population: 20,
                parents: 5,
                mutations: 8,
                crossovers: 8,
                iterations: 10,
                mutation_prob: 0.3,
                seed,
            },
        }
    }
}

/// Pooled 4x4 digits scaled to `[0, π]`, at most `rows` of them (spread over the set).
fn labelled(data: &ImageDataset, rows: usize) -> Result<Labelled, ExperimentError> {
    let features = angles(data.images.iter());
    let all = Labelled::new(features, 16, data.labels.clone())?;
    if rows >= all.len() {
        return Ok(all);
    }
    let step = all.len() as f64 / rows as f64;
    let pick: Vec<usize> = (0..rows).map(|i| (i as f64 * step) as usize).collect();
    Ok(all.subset(&pick)?)
}

/// A progress bar over `len` units (hidden when stderr is no terminal).
fn bar(len: usize, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!("{{bar:40}} {{pos}}/{{len}} {what} [{{elapsed}} < {{eta}}]"))
            .expect("valid template"),
    );
    bar
}

/// What one finished design measured.
#[derive(Debug, Clone, serde::Serialize)]
struct Tested {
    config: SubCircuitConfig,
    layout: Vec<usize>,
    n_params: usize,
    validation_loss_inherited: f64,
    stats: CircuitStats,
    noiseless: f64,
    device_exact: f64,
    device_shots: f64,
    device_loss: f64,
}

/// The data of a run.
struct Sets {
    fit: Labelled,
    validation: Labelled,
    test: Labelled,
}

/// Training settings of a run.
struct Schedules {
    fine: TrainSettings,
    prune: TrainSettings,
}

/// Where a finished design's weights start.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// The trained SuperCircuit's weights, then fine-tuning.
    Inherited,
    /// Fresh weights drawn from this seed (TorchQuantum's uniform initialisation), then the same
    /// training.
    Scratch(u64),
}

/// Trains `config` (from the SuperCircuit's weights or from scratch) noise-free with `settings`
/// and tests it on the device from `layout`.
#[allow(clippy::too_many_arguments)]
fn finish(
    trained: &SuperCircuitModel,
    config: &SubCircuitConfig,
    layout: &[usize],
    start: Start,
    evaluator: &DeviceEvaluator,
    sets: &Sets,
    settings: &TrainSettings,
    seed: u64,
) -> Result<(Tested, SuperCircuitModel), ExperimentError> {
    let mut model = match start {
        Start::Inherited => trained.clone(),
        Start::Scratch(init) => {
            SuperCircuitModel::new(trained.supercircuit().clone(), trained.observables().to_vec(), init)?
        }
    };
    model.activate(config)?;
    let sub = model.active().clone();
    let inherited = evaluator.compile(&sub.circuit, &model.active_weights(), layout)?;
    let validation_loss_inherited = evaluator.scores(&inherited, &sets.validation, None, 0)?.loss;
    let progress = bar(steps(&sets.fit, settings), "fine-tuning steps");
    train(&mut model, &sets.fit, settings, Sampling::Active, &mut |n| progress.inc(n as u64))?;
    progress.finish_and_clear();
    let weights = model.active_weights();
    let noiseless = noiseless_scores(&sub.circuit, &weights, model.observables(), &sets.test)?.accuracy;
    let compiled = evaluator.compile(&sub.circuit, &weights, layout)?;
    let exact = evaluator.scores(&compiled, &sets.test, None, 0)?;
    let shots = evaluator.scores(&compiled, &sets.test, Some(SHOTS), seed)?;
    let tested = Tested {
        config: config.clone(),
        layout: layout.to_vec(),
        n_params: sub.circuit.n_params(),
        validation_loss_inherited,
        stats: compiled.stats(),
        noiseless,
        device_exact: exact.accuracy,
        device_shots: shots.accuracy,
        device_loss: exact.loss,
    };
    Ok((tested, model))
}

/// One point of a pruning curve.
#[derive(Debug, Clone, serde::Serialize)]
struct PrunePoint {
    sparsity: f64,
    pruned_angles: usize,
    noiseless_accuracy: f64,
    device_accuracy: f64,
    device_loss: f64,
    stats: CircuitStats,
    fine_tune_losses: Vec<f64>,
}

/// The three designs compared.
const DESIGNS: [&str; 3] = ["searched", "random_search", "human"];

/// What one search seed found on one device: the three designs, inherited + fine-tuned and from
/// scratch, in the order of [`DESIGNS`].
struct SeedStudy {
    evolution_best_so_far: Vec<f64>,
    random_best_so_far: Vec<f64>,
    inherited: Vec<Tested>,
    scratch: Vec<Tested>,
}

/// What the study found on one device of one task.
struct DeviceStudy {
    label: String,
    /// A few characters for chart labels (`3v6m`: task, then the device's initial).
    short: String,
    seeds: Vec<SeedStudy>,
    pruning: Vec<PrunePoint>,
}

/// Mean of `f` over the seeds for design `d` (inherited or from scratch).
fn mean_over(seeds: &[SeedStudy], scratch: bool, d: usize, f: &dyn Fn(&Tested) -> f64) -> Result<f64, StatsError> {
    mean(&seeds.iter().map(|s| f(if scratch { &s.scratch[d] } else { &s.inherited[d] })).collect::<Vec<_>>())
}

/// One search (evolution, then random search of equal cost) on `device` with `seed`, and the three
/// designs trained and tested. Returns the searched circuit's fine-tuned model and layout too.
fn study_seed(
    problem: SearchProblem,
    plan: &Plan,
    sets: &Sets,
    schedules: &Schedules,
    seed: u64,
    key: &dyn Fn(&str) -> String,
    metrics: &mut Metrics,
) -> Result<(SeedStudy, SuperCircuitModel, Vec<usize>), ExperimentError> {
    let model = problem.model;
    let evaluator = problem.evaluator;
    let start = Instant::now();
    let e = EvolutionSettings { seed: seed::derive(plan.evolution.seed, &[seed]), ..plan.evolution };
    let progress = bar(e.population + (e.iterations - 1) * (e.mutations + e.crossovers), "candidates (evolution)");
    let evolution = evolutionary_search(problem, &e, &mut |n| progress.inc(n as u64))?;
    progress.finish_and_clear();
    metrics.insert_timing(key("evolution_seconds"), start.elapsed().as_secs_f64());
    let evaluations = evolution.evaluated.len();
    let start = Instant::now();
    let progress = bar(evaluations, "candidates (random search)");
    let random = random_search(problem, evaluations, seed::derive(seed, &[2]), &mut |n| progress.inc(n as u64))?;
    progress.finish_and_clear();
    metrics.insert_timing(key("random_search_seconds"), start.elapsed().as_secs_f64());
    metrics.insert(key("search_evaluations"), evaluations);
    metrics.insert(key("evolution_best_so_far"), json!(evolution.best_so_far()));
    metrics.insert(key("random_best_so_far"), json!(random.best_so_far()));
    metrics.insert(key("evolution_best_candidate"), json!(evolution.best()));
    metrics.insert(key("random_best_candidate"), json!(random.best()));

    // The searched, random-best and human designs, inherited + fine-tuned and from scratch.
    let start = Instant::now();
    let searched = evolution.best().candidate.clone();
    let best_random = random.best().candidate.clone();
    let n_params = model.supercircuit().build(&searched.arch.config())?.circuit.n_params();
    let (human_config, _) = model.supercircuit().regular(n_params)?;
    let trivial: Vec<usize> = (0..model.supercircuit().n_qubits()).collect();
    let designs = [
        (searched.arch.config(), searched.layout.clone()),
        (best_random.arch.config(), best_random.layout.clone()),
        (human_config, trivial.clone()),
    ];
    let mut inherited = Vec::new();
    let mut scratch = Vec::new();
    let mut searched_model = None;
    for (d, (config, layout)) in designs.iter().enumerate() {
        let test_seed = seed::derive(seed, &[3 + d as u64]);
        let (tested, tuned) =
            finish(model, config, layout, Start::Inherited, evaluator, sets, &schedules.fine, test_seed)?;
        metrics.insert(key(&format!("{}.inherited", DESIGNS[d])), json!(tested));
        inherited.push(tested);
        if d == 0 {
            searched_model = Some(tuned);
        }
        let init = Start::Scratch(seed::derive(seed, &[100]));
        let (tested, _) = finish(model, config, layout, init, evaluator, sets, &schedules.fine, test_seed)?;
        metrics.insert(key(&format!("{}.scratch", DESIGNS[d])), json!(tested));
        scratch.push(tested);
    }
    let searched_model = searched_model.ok_or_else(|| ExperimentError::other("no searched design"))?;
    // The searched architecture from the trivial layout: what the mapping alone contributes.
    let sub = searched_model.active().clone();
    let on_trivial = evaluator.compile(&sub.circuit, &searched_model.active_weights(), &trivial)?;
    let trivial_scores = evaluator.scores(&on_trivial, &sets.test, None, 0)?;
    metrics.insert(key("searched_on_trivial_layout_accuracy"), trivial_scores.accuracy);
    metrics.insert(key("searched_on_trivial_layout_loss"), trivial_scores.loss);
    metrics.insert(key("searched_on_trivial_layout_stats"), json!(on_trivial.stats()));
    metrics.insert_timing(key("fine_tune_and_test_seconds"), start.elapsed().as_secs_f64());
    let study = SeedStudy {
        evolution_best_so_far: evolution.best_so_far(),
        random_best_so_far: random.best_so_far(),
        inherited,
        scratch,
    };
    Ok((study, searched_model, searched.layout))
}

/// Searches with every seed, then prunes the first seed's searched circuit, on `device`, from the
/// trained SuperCircuit `model`; `prefix` names the task.
#[allow(clippy::too_many_arguments)]
fn study_device(
    prefix: &str,
    device: &'static str,
    model: &SuperCircuitModel,
    sets: &Sets,
    plan: &Plan,
    schedules: &Schedules,
    seed: u64,
    metrics: &mut Metrics,
) -> Result<DeviceStudy, ExperimentError> {
    let profile = DeviceProfile::builtin(device)?;
    let evaluator = DeviceEvaluator::new(&profile, model.observables().to_vec())?;
    let budget = Budget { max_two_qubit_gates: Some(MAX_CX), max_depth: None };
    let problem = SearchProblem { model, evaluator: &evaluator, validation: &sets.validation, budget };

    let mut seeds = Vec::new();
    let mut first = None;
    for k in 0..plan.search_seeds {
        let key = |name: &str| format!("{prefix}.{device}.seed{k}.{name}");
        let (study, tuned, layout) =
            study_seed(problem, plan, sets, schedules, seed::derive(seed, &[k as u64]), &key, metrics)?;
        seeds.push(study);
        if first.is_none() {
            first = Some((tuned, layout));
        }
    }
    let key = |name: &str| format!("{prefix}.{device}.{name}");
    for (d, name) in DESIGNS.iter().enumerate() {
        for (scratch, start) in [(false, "inherited"), (true, "scratch")] {
            let avg = |f: &dyn Fn(&Tested) -> f64| mean_over(&seeds, scratch, d, f);
            metrics.insert(
                key(&format!("mean.{name}.{start}")),
                json!({
                    "device_exact": avg(&|t| t.device_exact)?,
                    "device_shots": avg(&|t| t.device_shots)?,
                    "device_loss": avg(&|t| t.device_loss)?,
                    "noiseless": avg(&|t| t.noiseless)?,
                    "cx": avg(&|t| t.stats.two_qubit_gates as f64)?,
                    "depth": avg(&|t| t.stats.depth as f64)?,
                    "n_params": avg(&|t| t.n_params as f64)?,
                }),
            );
        }
    }

    // How well the search's proxy ranks circuits: random candidates' noisy validation loss with
    // inherited weights against their noisy test loss after the same fine-tuning as the designs
    // (QuantumNAS, Sec. 5, reports this correlation for its SuperCircuits).
    let mut rng = tinylab_classical::tensor::rng(seed::derive(seed, &[999]));
    let mut proxy = Vec::with_capacity(plan.proxy_candidates);
    for _ in 0..plan.proxy_candidates {
        let c = Candidate::random(model.supercircuit(), profile.num_qubits, &mut rng)?;
        let (t, _) =
            finish(model, &c.arch.config(), &c.layout, Start::Inherited, &evaluator, sets, &schedules.fine, seed)?;
        proxy.push((t.validation_loss_inherited, t.device_loss));
    }
    let (inherited, tuned): (Vec<f64>, Vec<f64>) = proxy.iter().copied().unzip();
    // Constant losses have no rank correlation: recorded as null.
    let correlation = match spearman(&inherited, &tuned) {
        Err(StatsError::ZeroVariance { .. }) => f64::NAN,
        other => other?,
    };
    metrics.insert(key("proxy.spearman_inherited_vs_finetuned_loss"), correlation);
    metrics.insert(key("proxy.pairs"), json!(proxy));

    // Iterative pruning of the first seed's searched circuit.
    let (mut searched_model, layout) = first.ok_or_else(|| ExperimentError::other("no search seed"))?;
    let sub = searched_model.active().clone();
    let start = Instant::now();
    let progress = bar(steps(&sets.fit, &schedules.prune) * plan.prune_targets.len(), "pruning steps");
    let steps = iterative_prune(&mut searched_model, &sets.fit, &plan.prune_targets, &schedules.prune, &mut |n| {
        progress.inc(n as u64)
    })?;
    progress.finish_and_clear();
    let dense = &seeds[0].inherited[0];
    let mut pruning = vec![PrunePoint {
        sparsity: 0.0,
        pruned_angles: 0,
        noiseless_accuracy: dense.noiseless,
        device_accuracy: dense.device_exact,
        device_loss: dense.device_loss,
        stats: dense.stats,
        fine_tune_losses: Vec::new(),
    }];
    for step in &steps {
        let noiseless = noiseless_scores(&sub.circuit, &step.weights, model.observables(), &sets.test)?;
        let compiled = evaluator.compile(&sub.circuit, &step.weights, &layout)?;
        let noisy = evaluator.scores(&compiled, &sets.test, None, 0)?;
        pruning.push(PrunePoint {
            sparsity: step.sparsity(),
            pruned_angles: step.pruned,
            noiseless_accuracy: noiseless.accuracy,
            device_accuracy: noisy.accuracy,
            device_loss: noisy.loss,
            stats: compiled.stats(),
            fine_tune_losses: step.fine_tune_losses.clone(),
        });
    }
    metrics.insert(key("pruning_curve"), json!(pruning));
    metrics.insert_timing(key("pruning_seconds"), start.elapsed().as_secs_f64());
    let short_task = prefix.trim_start_matches("digits_").replace("_vs_", "v").replace("_to_", "-");
    let short = format!("{short_task}{}", &device[..device.len().min(1)]);
    Ok(DeviceStudy { label: format!("{prefix} {device}"), short, seeds, pruning })
}

/// One task: its data, the SuperCircuit trained on it, and the study on every device.
fn study_task(
    ctx: &mut RunContext,
    task: &str,
    digits_kept: &[usize],
    plan: &Plan,
    super_settings: &TrainSettings,
    schedules: &Schedules,
    metrics: &mut Metrics,
) -> Result<Vec<DeviceStudy>, ExperimentError> {
    let key = |name: &str| format!("{task}.{name}");
    // Data: train / test, and the training digits split again into fit / validation.
    let PooledDigits { train: train_set, test: test_set } = PooledDigits::new(digits_kept, TRAIN_FRACTION, ctx.seed)?;
    let (fit_set, validation_set) = train_set.stratified_split(FIT_FRACTION, seed::derive(ctx.seed, &[3]))?;
    let sets = Sets {
        fit: labelled(&fit_set, usize::MAX)?,
        validation: labelled(&validation_set, plan.validation_rows)?,
        test: labelled(&test_set, plan.test_rows)?,
    };
    metrics.insert(key("fit_samples"), sets.fit.len());
    metrics.insert(key("validation_samples"), sets.validation.len());
    metrics.insert(key("test_samples"), sets.test.len());

    // The SuperCircuit, trained noise-free with a sampled SubCircuit per step.
    let mut encoder = Circuit::new(4);
    encoders::ryzxy_4x4(&mut encoder)?;
    let supercircuit = SuperCircuit::new(encoder, LAYERS.to_vec(), MAX_BLOCKS, MIN_WIDTH)?;
    let groups = default_groups(digits_kept.len(), supercircuit.n_qubits());
    ctx.set_config(key("readout_groups"), json!(groups));
    let readout = class_readout(&groups, LOGIT_SCALE)?;
    let mut model = SuperCircuitModel::new(supercircuit, readout, seed::derive(ctx.seed, &[5]))?;
    metrics.insert(key("supercircuit_params"), model.supercircuit().n_params());
    let start = Instant::now();
    let progress = bar(steps(&sets.fit, super_settings), "SuperCircuit steps");
    let super_losses = train(&mut model, &sets.fit, super_settings, SUPER_SAMPLING, &mut |n| progress.inc(n as u64))?;
    progress.finish_and_clear();
    metrics.insert_timing(key("supercircuit_train_seconds"), start.elapsed().as_secs_f64());
    metrics.insert(key("supercircuit_loss_per_epoch"), json!(super_losses));
    // The full SuperCircuit's own noiseless test accuracy, a yardstick for the inherited weights.
    let full = model.supercircuit().build(&model.supercircuit().full_config())?;
    let full_weights = full.inherit(&model.weights())?;
    let full_scores = noiseless_scores(&full.circuit, &full_weights, model.observables(), &sets.test)?;
    metrics.insert(key("supercircuit_full_noiseless_test_accuracy"), full_scores.accuracy);

    DEVICES
        .iter()
        .enumerate()
        .map(|(i, &device)| {
            study_device(
                task,
                device,
                &model,
                &sets,
                plan,
                schedules,
                seed::derive(ctx.seed, &[10 + i as u64]),
                metrics,
            )
        })
        .collect()
}

impl Experiment for QuantumNas {
    fn name(&self) -> &'static str {
        "quantumnas"
    }

    fn description(&self) -> &'static str {
        "QuantumNAS on pooled digits 3 vs 6 and 0-3 and IBM manila / quito noise models: SuperCircuit training, \
         evolutionary co-search of SubCircuit and qubit mapping vs random search and a human design of equal \
         parameter count (inherited + fine-tuned, and from scratch), then iterative angle pruning"
    }

    fn run(&self, ctx: &mut RunContext) -> Result<Metrics, ExperimentError> {
        let plan = plan(ctx.quick, ctx.seed);
        let cosine = |base: f32, epochs: usize| LrSchedule::Cosine { base, min: 0.0, warmup: 0, total: epochs };
        let super_settings = TrainSettings {
            epochs: plan.super_epochs,
            batch_size: BATCH,
            lr: cosine(SUPER_LR, plan.super_epochs),
            seed: seed::derive(ctx.seed, &[1]),
        };
        let fine = TrainSettings {
            epochs: plan.fine_epochs,
            batch_size: BATCH,
            lr: cosine(FINE_LR, plan.fine_epochs),
            seed: seed::derive(ctx.seed, &[2]),
        };
        let schedules = Schedules {
            fine,
            prune: TrainSettings { epochs: plan.prune_epochs, lr: cosine(FINE_LR, plan.prune_epochs), ..fine },
        };
        ctx.set_config("devices", json!(DEVICES));
        ctx.set_config("tasks", json!(TASKS));
        ctx.set_config("encoder", "4x4_ryzxy on 4x4 average-pooled digits scaled to [0, pi]");
        ctx.set_config(
            "readout",
            "logit of class i = scale * sum of <Z_q> over the qubits of group i (two classes: Z0+Z1 vs Z2+Z3; \
             four: Z_i), softmax cross-entropy",
        );
        ctx.set_config("logit_scale", LOGIT_SCALE);
        ctx.set_config("block_layers", json!(LAYERS.iter().map(|k| k.name()).collect::<Vec<_>>()));
        ctx.set_config("max_blocks", MAX_BLOCKS);
        ctx.set_config("min_width", MIN_WIDTH);
        ctx.set_config("budget_max_cx", MAX_CX);
        ctx.set_config("supercircuit_sampling", json!(SUPER_SAMPLING));
        ctx.set_config("supercircuit_training", json!(super_settings));
        ctx.set_config("fine_tuning", json!(schedules.fine));
        ctx.set_config("prune_fine_tuning", json!(schedules.prune));
        ctx.set_config("prune_targets", json!(plan.prune_targets));
        ctx.set_config("evolution", json!(plan.evolution));
        ctx.set_config("search_seeds", plan.search_seeds);
        ctx.set_config("shots", SHOTS);
        ctx.set_config("train_fraction", TRAIN_FRACTION);
        ctx.set_config("fit_fraction_of_train", FIT_FRACTION);
        let mut metrics = Metrics::new();
        let mut studies = Vec::new();
        for (task, digits_kept) in TASKS {
            studies.extend(study_task(ctx, task, digits_kept, &plan, &super_settings, &schedules, &mut metrics)?);
        }
        plot(ctx, &studies)?;
        let mut table = String::from(
            "Mean over the search seeds, test set. Columns: device accuracy exact / 8192 shots, device loss, cx \
             after routing; inherited + fine-tuned | from scratch (same epochs).\n\n\
             | task device | design | exact | shots | loss | cx | scratch exact | scratch loss |\n\
             |---|---|---|---|---|---|---|---|\n",
        );
        for s in &studies {
            for (d, name) in DESIGNS.iter().enumerate() {
                let m = |scratch: bool, f: &dyn Fn(&Tested) -> f64| mean_over(&s.seeds, scratch, d, f);
                table.push_str(&format!(
                    "| {} | {name} | {:.3} | {:.3} | {:.3} | {:.1} | {:.3} | {:.3} |\n",
                    s.label,
                    m(false, &|t| t.device_exact)?,
                    m(false, &|t| t.device_shots)?,
                    m(false, &|t| t.device_loss)?,
                    m(false, &|t| t.stats.two_qubit_gates as f64)?,
                    m(true, &|t| t.device_exact)?,
                    m(true, &|t| t.device_loss)?,
                ));
            }
        }
        ctx.note(table);
        ctx.note(format!(
            "Logits are {LOGIT_SCALE} times summed <Z> of qubit groups, in training, search scores, fine-tuning and \
             evaluation alike. Scores on a device: each circuit has its weights bound, gates that are identities at \
             their angles removed, and is translated to rz/sx/x/cx, routed on the coupling map from its initial \
             layout and has its one-qubit runs merged; each digit is simulated as a density matrix under the \
             device's noise model (depolarizing and thermal relaxation per gate, readout error) and <Z_i> read \
             exactly or from {SHOTS} seeded shots. The search scores candidates with the SuperCircuit's weights (no \
             retraining) on the validation digits. The three final designs are trained two ways, each the same for \
             all three: inheriting the SuperCircuit's weights and fine-tuned noise-free, and from fresh random \
             weights for the same epochs. The human design fills blocks (U3 on every qubit, then the RZZ ring) in \
             order up to the searched circuit's parameter count and runs from the trivial layout. Candidates above \
             {MAX_CX} cx after routing are rejected. Pruning starts from the first seed's fine-tuned searched \
             circuit."
        ));
        Ok(metrics)
    }
}

/// The charts of a run.
fn plot(ctx: &mut RunContext, studies: &[DeviceStudy]) -> Result<(), ExperimentError> {
    let curve = |name: String, values: &[f64]| {
        Series::new(name, values.iter().enumerate().map(|(i, &v)| ((i + 1) as f64, v)).collect())
    };
    ctx.plot(
        "search",
        &LineChart {
            title: "quantumnas: best noisy validation loss so far (first search seed)".into(),
            x_label: "candidates evaluated".into(),
            y_label: "cross-entropy".into(),
            series: studies
                .iter()
                .flat_map(|s| {
                    [
                        curve(format!("{}: evolution", s.label), &s.seeds[0].evolution_best_so_far),
                        curve(format!("{}: random search", s.label), &s.seeds[0].random_best_so_far),
                    ]
                })
                .collect(),
            log_y: false,
            markers: false,
        },
    )?;
    let tested: Vec<(String, &Tested)> = studies
        .iter()
        .flat_map(|s| {
            DESIGNS.iter().zip(&s.seeds[0].inherited).map(move |(name, t)| {
                let short = match *name {
                    "searched" => "NAS",
                    "random_search" => "rand",
                    _ => "hum",
                };
                (format!("{} {short}", s.short), t)
            })
        })
        .collect();
    let categories: Vec<String> = tested.iter().map(|(n, _)| n.clone()).collect();
    let group =
        |name: &str, f: &dyn Fn(&Tested) -> f64| BarGroup::new(name, tested.iter().map(|(_, t)| f(t)).collect());
    ctx.plot(
        "accuracy",
        &BarChart {
            title: "quantumnas: test accuracy (first search seed)".into(),
            x_label: "device and design".into(),
            y_label: "test accuracy".into(),
            categories: categories.clone(),
            groups: vec![
                group("noiseless", &|t| t.noiseless),
                group("device (exact)", &|t| t.device_exact),
                group(&format!("device, {SHOTS} shots"), &|t| t.device_shots),
            ],
            show_values: false,
        },
    )?;
    ctx.plot(
        "gates",
        &BarChart {
            title: "quantumnas: compiled circuits (first search seed)".into(),
            x_label: "device and design".into(),
            y_label: "gates".into(),
            categories,
            groups: vec![
                group("cx", &|t| t.stats.two_qubit_gates as f64),
                group("one-qubit", &|t| t.stats.one_qubit_gates as f64),
                group("depth", &|t| t.stats.depth as f64),
            ],
            show_values: false,
        },
    )?;
    let along =
        |s: &DeviceStudy, f: &dyn Fn(&PrunePoint) -> f64| s.pruning.iter().map(|p| (p.sparsity, f(p))).collect();
    ctx.plot(
        "pruning",
        &LineChart {
            title: "quantumnas: iterative pruning of the searched circuit".into(),
            x_label: "angle sparsity".into(),
            y_label: "test accuracy".into(),
            series: studies
                .iter()
                .flat_map(|s| {
                    [
                        Series::new(format!("{}: noiseless", s.label), along(s, &|p| p.noiseless_accuracy)),
                        Series::new(format!("{}: on device", s.label), along(s, &|p| p.device_accuracy)),
                    ]
                })
                .collect(),
            log_y: false,
            markers: true,
        },
    )?;
    ctx.plot(
        "pruning_gates",
        &LineChart {
            title: "quantumnas: compiled gates of the pruned circuit".into(),
            x_label: "angle sparsity".into(),
            y_label: "gates".into(),
            series: studies
                .iter()
                .flat_map(|s| {
                    [
                        Series::new(format!("{}: cx", s.label), along(s, &|p| p.stats.two_qubit_gates as f64)),
                        Series::new(format!("{}: one-qubit", s.label), along(s, &|p| p.stats.one_qubit_gates as f64)),
                    ]
                })
                .collect(),
            log_y: false,
            markers: true,
        },
    )?;
    Ok(())
}
