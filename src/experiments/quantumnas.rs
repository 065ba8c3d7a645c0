//! `quantumnas`: noise-adaptive co-search of a circuit and its qubit mapping, then iterative pruning
//! (Wang et al., "QuantumNAS", HPCA 2022), on pooled digits 3 vs 6 (QuantumNAS's MNIST-2 task, on the
//! bundled 8x8 digits) and the noise models of IBM manila (a line, `cx` error about 1%) and quito (a
//! T, `cx` error about 3.5%).
//!
//! 1. A SuperCircuit (TorchQuantum's `"4x4_ryzxy"` encoder, then up to four blocks of `U3` on every
//!    qubit and `RZZ` on the ring) is trained noise-free with restricted sampling: each step trains a
//!    SubCircuit two genes away from the previous one; SubCircuits share its weights.
//! 2. On each device, evolutionary search over (SubCircuit, initial layout) scores each candidate by
//!    the cross-entropy on validation digits of its inherited weights, compiled for the device from
//!    that layout and simulated as a density matrix under the device's noise with readout error;
//!    candidates with more `cx` than the budget after routing are rejected. Random search with as
//!    many evaluations is the baseline.
//! 3. The searched SubCircuit, the best random one, and a human design of equal parameter count
//!    (full blocks in order, trivial layout) inherit their weights, are fine-tuned noise-free for the
//!    same epochs and are tested on the device: accuracy (exact density matrix, and 8192 shots) and
//!    the compiled gate counts; the searched circuit also from the trivial layout.
//! 4. The searched circuit is pruned iteratively: angles wrapped into `[-π, π)`, the smallest set to
//!    zero by the shared magnitude-pruning pass, fine-tuned with masks; fully pruned gates leave the
//!    circuit. The pruning curve gives test accuracy noiseless and on the device, and the gate counts.

use super::{Experiment, ExperimentError, Metrics, RunContext};
use crate::plot::{BarChart, BarGroup, LineChart, Series};
use serde_json::json;
use std::time::Instant;
use tinylab_classical::ClassicalError;
use tinylab_classical::data::{ImageDataset, digits};
use tinylab_classical::optim::LrSchedule;
use tinylab_noise::DeviceProfile;
use tinylab_noise::robust::CircuitStats;
use tinylab_noise::robust::nas::train::steps;
use tinylab_noise::robust::nas::{
    Budget, DeviceEvaluator, EvolutionSettings, Labelled, LayerKind, Sampling, SearchProblem, SubCircuitConfig,
    SuperCircuit, SuperCircuitModel, TrainSettings, evolutionary_search, iterative_prune, noiseless_scores,
    random_search, train,
};
use tinylab_quantum::Circuit;
use tinylab_quantum::grad::derive_seed;
use tinylab_quantum::pauli::PauliSum;
use tinylab_quantum::qml::encoders;

/// The `quantumnas` experiment (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct QuantumNas;

/// The devices searched for and tested on: a line (manila) and a T with noisier `cx` (quito).
const DEVICES: [&str; 2] = ["manila", "quito"];
/// The digits classified (relabelled `0..`), one `<Z_i>` logit each.
const DIGITS: [usize; 2] = [3, 6];
/// Fraction of the digits for training (the rest is the test set); stratified, seeded.
const TRAIN_FRACTION: f64 = 0.8;
/// Fraction of the training digits kept for the training proper (the rest validates the search).
const FIT_FRACTION: f64 = 0.8;
/// The layers of a block.
const LAYERS: [LayerKind; 2] = [LayerKind::U3, LayerKind::Rzz];
/// Blocks of the SuperCircuit.
const MAX_BLOCKS: usize = 4;
/// How SuperCircuit training samples SubCircuits.
const SUPER_SAMPLING: Sampling = Sampling::Restricted { changes: 2 };
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
    evolution: EvolutionSettings,
}

fn plan(quick: bool, seed: u64) -> Plan {
    let seed = derive_seed(seed, 4);
    if quick {
        Plan {
            super_epochs: 10,
            fine_epochs: 4,
            prune_epochs: 2,
            prune_targets: vec![0.3, 0.6],
            validation_rows: 24,
            test_rows: 36,
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
    let features = data.images.iter().map(|&v| v / 16.0 * std::f32::consts::PI).collect();
    let all = Labelled::new(features, 16, data.labels.clone()).map_err(ExperimentError::other)?;
    if rows >= all.len() {
        return Ok(all);
    }
    let step = all.len() as f64 / rows as f64;
    let pick: Vec<usize> = (0..rows).map(|i| (i as f64 * step) as usize).collect();
    all.subset(&pick).map_err(ExperimentError::other)
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

/// Fine-tunes `config` from the SuperCircuit's weights and tests it on the device from `layout`.
fn finish(
    trained: &SuperCircuitModel,
    config: &SubCircuitConfig,
    layout: &[usize],
    evaluator: &DeviceEvaluator,
    sets: &Sets,
    settings: &TrainSettings,
    seed: u64,
) -> Result<(Tested, SuperCircuitModel), ExperimentError> {
    let mut model = trained.clone();
    model.activate(config).map_err(ExperimentError::other)?;
    let sub = model.active().clone();
    let inherited = evaluator.compile(&sub.circuit, &model.active_weights(), layout).map_err(ExperimentError::other)?;
    let validation_loss_inherited =
        evaluator.scores(&inherited, &sets.validation, None, 0).map_err(ExperimentError::other)?.loss;
    let progress = bar(steps(&sets.fit, settings), "fine-tuning steps");
    train(&mut model, &sets.fit, settings, Sampling::Active, &mut |n| progress.inc(n as u64))
        .map_err(ExperimentError::other)?;
    progress.finish_and_clear();
    let weights = model.active_weights();
    let noiseless = noiseless_scores(&sub.circuit, &weights, model.observables(), &sets.test)
        .map_err(ExperimentError::other)?
        .accuracy;
    let compiled = evaluator.compile(&sub.circuit, &weights, layout).map_err(ExperimentError::other)?;
    let exact = evaluator.scores(&compiled, &sets.test, None, 0).map_err(ExperimentError::other)?;
    let shots = evaluator.scores(&compiled, &sets.test, Some(SHOTS), seed).map_err(ExperimentError::other)?;
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

/// What the study found on one device.
struct DeviceStudy {
    device: &'static str,
    evolution_best_so_far: Vec<f64>,
    random_best_so_far: Vec<f64>,
    designs: [(&'static str, Tested); 3],
    pruning: Vec<PrunePoint>,
}

/// Search, fine-tuning, testing and pruning on `device`, from the trained SuperCircuit `model`.
fn study_device(
    device: &'static str,
    model: &SuperCircuitModel,
    sets: &Sets,
    plan: &Plan,
    schedules: &Schedules,
    seed: u64,
    metrics: &mut Metrics,
) -> Result<DeviceStudy, ExperimentError> {
    let key = |k: &str| format!("{device}.{k}");
    let profile = DeviceProfile::builtin(device).map_err(ExperimentError::other)?;
    let evaluator = DeviceEvaluator::new(&profile, model.observables().to_vec()).map_err(ExperimentError::other)?;
    let budget = Budget { max_two_qubit_gates: Some(MAX_CX), max_depth: None };
    let problem = SearchProblem { model, evaluator: &evaluator, validation: &sets.validation, budget };

    // Evolutionary co-search, and random search of equal cost.
    let start = Instant::now();
    let e = plan.evolution;
    let progress = bar(e.population + (e.iterations - 1) * (e.mutations + e.crossovers), "candidates (evolution)");
    let evolution =
        evolutionary_search(problem, &e, &mut |n| progress.inc(n as u64)).map_err(ExperimentError::other)?;
    progress.finish_and_clear();
    metrics.insert_timing(key("evolution_seconds"), start.elapsed().as_secs_f64());
    let evaluations = evolution.evaluated.len();
    let start = Instant::now();
    let progress = bar(evaluations, "candidates (random search)");
    let random = random_search(problem, evaluations, derive_seed(seed, 2), &mut |n| progress.inc(n as u64))
        .map_err(ExperimentError::other)?;
    progress.finish_and_clear();
    metrics.insert_timing(key("random_search_seconds"), start.elapsed().as_secs_f64());
    metrics.insert(key("search_evaluations"), evaluations);
    metrics.insert(key("evolution_best_so_far"), json!(evolution.best_so_far()));
    metrics.insert(key("random_best_so_far"), json!(random.best_so_far()));
    metrics.insert(key("evolution_best_candidate"), json!(evolution.best()));
    metrics.insert(key("random_best_candidate"), json!(random.best()));

    // The searched, random-best and human designs: inherit, fine-tune, test.
    let start = Instant::now();
    let searched = evolution.best().candidate.clone();
    let (searched_result, mut searched_model) = finish(
        model,
        &searched.arch.config(),
        &searched.layout,
        &evaluator,
        sets,
        &schedules.fine,
        derive_seed(seed, 3),
    )?;
    let best_random = random.best().candidate.clone();
    let (random_result, _) = finish(
        model,
        &best_random.arch.config(),
        &best_random.layout,
        &evaluator,
        sets,
        &schedules.fine,
        derive_seed(seed, 4),
    )?;
    let (human_config, _) = model.supercircuit().regular(searched_result.n_params).map_err(ExperimentError::other)?;
    let trivial: Vec<usize> = (0..model.supercircuit().n_qubits()).collect();
    let (human_result, _) =
        finish(model, &human_config, &trivial, &evaluator, sets, &schedules.fine, derive_seed(seed, 5))?;
    // The searched architecture from the trivial layout: what the mapping alone contributes.
    let sub = searched_model.active().clone();
    let on_trivial =
        evaluator.compile(&sub.circuit, &searched_model.active_weights(), &trivial).map_err(ExperimentError::other)?;
    let trivial_scores = evaluator.scores(&on_trivial, &sets.test, None, 0).map_err(ExperimentError::other)?;
    metrics.insert(key("searched_on_trivial_layout_accuracy"), trivial_scores.accuracy);
    metrics.insert(key("searched_on_trivial_layout_stats"), json!(on_trivial.stats()));
    let designs = [("searched", searched_result), ("random_search", random_result), ("human", human_result)];
    for (name, tested) in &designs {
        metrics.insert(key(name), json!(tested));
    }
    metrics.insert_timing(key("fine_tune_and_test_seconds"), start.elapsed().as_secs_f64());

    // Iterative pruning of the searched circuit.
    let start = Instant::now();
    let progress = bar(steps(&sets.fit, &schedules.prune) * plan.prune_targets.len(), "pruning steps");
    let steps = iterative_prune(&mut searched_model, &sets.fit, &plan.prune_targets, &schedules.prune, &mut |n| {
        progress.inc(n as u64)
    })
    .map_err(ExperimentError::other)?;
    progress.finish_and_clear();
    let dense = &designs[0].1;
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
        let noiseless = noiseless_scores(&sub.circuit, &step.weights, model.observables(), &sets.test)
            .map_err(ExperimentError::other)?;
        let compiled =
            evaluator.compile(&sub.circuit, &step.weights, &searched.layout).map_err(ExperimentError::other)?;
        let noisy = evaluator.scores(&compiled, &sets.test, None, 0).map_err(ExperimentError::other)?;
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
    Ok(DeviceStudy {
        device,
        evolution_best_so_far: evolution.best_so_far(),
        random_best_so_far: random.best_so_far(),
        designs,
        pruning,
    })
}

impl Experiment for QuantumNas {
    fn name(&self) -> &'static str {
        "quantumnas"
    }

    fn description(&self) -> &'static str {
        "QuantumNAS on pooled digits 3 vs 6 and IBM manila / quito noise models: SuperCircuit training, evolutionary \
         co-search of SubCircuit and qubit mapping vs random search and a human design of equal parameter count, \
         then iterative angle pruning"
    }

    fn run(&self, ctx: &mut RunContext) -> Result<Metrics, ExperimentError> {
        let plan = plan(ctx.quick, ctx.seed);
        let cosine = |base: f32, epochs: usize| LrSchedule::Cosine { base, min: 0.0, warmup: 0, total: epochs };
        let super_settings = TrainSettings {
            epochs: plan.super_epochs,
            batch_size: BATCH,
            lr: cosine(SUPER_LR, plan.super_epochs),
            seed: derive_seed(ctx.seed, 1),
        };
        let fine = TrainSettings {
            epochs: plan.fine_epochs,
            batch_size: BATCH,
            lr: cosine(FINE_LR, plan.fine_epochs),
            seed: derive_seed(ctx.seed, 2),
        };
        let schedules = Schedules {
            fine,
            prune: TrainSettings { epochs: plan.prune_epochs, lr: cosine(FINE_LR, plan.prune_epochs), ..fine },
        };
        ctx.set_config("devices", json!(DEVICES));
        ctx.set_config("digits", json!(DIGITS));
        ctx.set_config("encoder", "4x4_ryzxy on 4x4 average-pooled digits scaled to [0, pi]");
        ctx.set_config("readout", "<Z_i> of logical qubit i as the logit of class i, softmax cross-entropy");
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
        ctx.set_config("shots", SHOTS);
        ctx.set_config("train_fraction", TRAIN_FRACTION);
        ctx.set_config("fit_fraction_of_train", FIT_FRACTION);
        let mut metrics = Metrics::new();

        // Data: train / test, and the training digits split again into fit / validation.
        let all = digits().map_err(ClassicalError::from)?;
        let data = all.filter_classes(&DIGITS).and_then(|d| d.avg_pool(2)).map_err(ClassicalError::from)?;
        let (train_set, test_set) = data.stratified_split(TRAIN_FRACTION, ctx.seed).map_err(ClassicalError::from)?;
        let (fit_set, validation_set) =
            train_set.stratified_split(FIT_FRACTION, derive_seed(ctx.seed, 3)).map_err(ClassicalError::from)?;
        let sets = Sets {
            fit: labelled(&fit_set, usize::MAX)?,
            validation: labelled(&validation_set, plan.validation_rows)?,
            test: labelled(&test_set, plan.test_rows)?,
        };
        metrics.insert("fit_samples", sets.fit.len());
        metrics.insert("validation_samples", sets.validation.len());
        metrics.insert("test_samples", sets.test.len());

        // The SuperCircuit, trained noise-free with a sampled SubCircuit per step.
        let mut encoder = Circuit::new(4);
        encoders::ryzxy_4x4(&mut encoder)?;
        let supercircuit =
            SuperCircuit::new(encoder, LAYERS.to_vec(), MAX_BLOCKS, MIN_WIDTH).map_err(ExperimentError::other)?;
        let readout: Vec<PauliSum> = (0..DIGITS.len()).map(PauliSum::z).collect::<Result<_, _>>()?;
        let mut model =
            SuperCircuitModel::new(supercircuit, readout, derive_seed(ctx.seed, 5)).map_err(ExperimentError::other)?;
        metrics.insert("supercircuit_params", model.supercircuit().n_params());
        let start = Instant::now();
        let progress = bar(steps(&sets.fit, &super_settings), "SuperCircuit steps");
        let super_losses =
            train(&mut model, &sets.fit, &super_settings, SUPER_SAMPLING, &mut |n| progress.inc(n as u64))
                .map_err(ExperimentError::other)?;
        progress.finish_and_clear();
        metrics.insert_timing("supercircuit_train_seconds", start.elapsed().as_secs_f64());
        metrics.insert("supercircuit_loss_per_epoch", json!(super_losses));

        let studies = DEVICES
            .iter()
            .enumerate()
            .map(|(i, &device)| {
                study_device(
                    device,
                    &model,
                    &sets,
                    &plan,
                    &schedules,
                    derive_seed(ctx.seed, 10 + i as u64),
                    &mut metrics,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        plot(ctx, &studies)?;
        ctx.note(format!(
            "Scores on a device: each circuit has its weights bound, gates that are identities at their angles \
             removed, and is translated to rz/sx/x/cx, routed on the coupling map from its initial layout and has \
             its one-qubit runs merged; each digit is simulated as a density matrix under the device's noise model \
             (depolarizing and thermal relaxation per gate, readout error) and <Z_i> read exactly or from {SHOTS} \
             seeded shots. The search scores candidates with the SuperCircuit's weights (no retraining) on the \
             validation digits; the three final designs all inherit those weights and are fine-tuned noise-free \
             for the same epochs. The human design fills blocks (U3 on every qubit, then the RZZ ring) in order up \
             to the searched circuit's parameter count and runs from the trivial layout. Candidates above {MAX_CX} \
             cx after routing are rejected. Pruning starts from the fine-tuned searched circuit."
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
            title: "quantumnas: best noisy validation loss so far".into(),
            x_label: "candidates evaluated".into(),
            y_label: "cross-entropy".into(),
            series: studies
                .iter()
                .flat_map(|s| {
                    [
                        curve(format!("{}: evolution", s.device), &s.evolution_best_so_far),
                        curve(format!("{}: random search", s.device), &s.random_best_so_far),
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
            s.designs.iter().map(move |(name, t)| {
                let short = match *name {
                    "searched" => "NAS",
                    "random_search" => "random",
                    other => other,
                };
                (format!("{}: {short} {}p", s.device, t.n_params), t)
            })
        })
        .collect();
    let categories: Vec<String> = tested.iter().map(|(n, _)| n.clone()).collect();
    let group =
        |name: &str, f: &dyn Fn(&Tested) -> f64| BarGroup::new(name, tested.iter().map(|(_, t)| f(t)).collect());
    ctx.plot(
        "accuracy",
        &BarChart {
            title: "quantumnas: test accuracy, noiseless and on the device".into(),
            x_label: "device and design".into(),
            y_label: "test accuracy".into(),
            categories: categories.clone(),
            groups: vec![
                group("noiseless", &|t| t.noiseless),
                group("device (exact)", &|t| t.device_exact),
                group(&format!("device, {SHOTS} shots"), &|t| t.device_shots),
            ],
            show_values: true,
        },
    )?;
    ctx.plot(
        "gates",
        &BarChart {
            title: "quantumnas: compiled circuits on the device".into(),
            x_label: "device and design".into(),
            y_label: "gates".into(),
            categories,
            groups: vec![
                group("cx", &|t| t.stats.two_qubit_gates as f64),
                group("one-qubit", &|t| t.stats.one_qubit_gates as f64),
                group("depth", &|t| t.stats.depth as f64),
            ],
            show_values: true,
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
                        Series::new(format!("{}: noiseless", s.device), along(s, &|p| p.noiseless_accuracy)),
                        Series::new(format!("{}: on device", s.device), along(s, &|p| p.device_accuracy)),
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
                        Series::new(format!("{}: cx", s.device), along(s, &|p| p.stats.two_qubit_gates as f64)),
                        Series::new(format!("{}: one-qubit", s.device), along(s, &|p| p.stats.one_qubit_gates as f64)),
                    ]
                })
                .collect(),
            log_y: false,
            markers: true,
        },
    )?;
    Ok(())
}
