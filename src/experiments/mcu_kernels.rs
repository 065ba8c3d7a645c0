//! `mcu_kernels`: instructions per multiply-accumulate of the exported C kernels on the emulated
//! Cortex-M4 (mps2-an386) and Cortex-M7 (mps2-an500), the portable kernels (`TL_USE_DSP 0`) against
//! the DSP-extension ones (`TL_USE_DSP 1`: SXTB16 / SMLAD on pairs of q15), per op type and end to end.
//!
//! Three models, converted to int8 with random weights and calibration images (instruction counts
//! depend on the shapes, hardly on the values): the MobileNetV2 (width 0.35, 4 classes) that
//! `mcu_deploy` exports, at 3x96x96 (3x32x32 with `--quick`), the reference CNN on 1x8x8 digits, and
//! MLPerf Tiny's keyword-spotting DS-CNN on its 1x49x10 MFCC map (12 classes). Each is exported
//! with the in-place planner for each target and kernel set as a profiling build (every op's kernel
//! calls bracketed by SysTick reads: [`tinylab_mcu_export::harness::write_profile_driver`]), run under
//! qemu with `-icount` (deterministic instruction counts), and its outputs checked byte for byte
//! against the Rust engine. Instructions per MAC of an op type are the instructions of its ops over
//! their MACs; end to end, the instructions of one inference over the model's MACs (every op, the
//! MAC-free ones too). The MobileNetV2 is also exported with the greedy planner, whose depthwise
//! convolutions run out of place, to compare them with the in-place ones.

use super::{Experiment, ExperimentError, Metrics, RunContext};
use crate::plot::{BarChart, BarGroup};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tinylab_classical::int8::{ConvertOptions, Int8Model, convert};
use tinylab_classical::nn::zoo;
use tinylab_classical::tensor::{Tensor, randn, rng};
use tinylab_mcu_export::export::{ExportOptions, Samples, export_graph};
use tinylab_mcu_export::graph::{McuGraph, OpKind};
use tinylab_mcu_export::harness::write_profile_driver;
use tinylab_mcu_export::kernels::Kernels;
use tinylab_mcu_export::plan::Planner;
use tinylab_mcu_export::target::{Board, Target};
use tinylab_mcu_export::toolchain;

/// The study.
pub struct McuKernels;

/// Calibration images of the conversion.
const CALIBRATION_IMAGES: usize = 8;

/// The goal for the MobileNetV2 on the Cortex-M4, end to end.
const GOAL_INSTRUCTIONS_PER_MAC: f64 = 1.5;

const TARGETS: [Target; 2] = [Target::CortexM4, Target::CortexM7];
const KERNELS: [Kernels; 2] = [Kernels::Portable, Kernels::Dsp];

/// One model of the study.
struct Model {
    name: &'static str,
    /// The name on the chart's categories.
    short: &'static str,
    description: String,
    int8: Int8Model,
    graph: McuGraph,
    samples: Samples,
}

/// One profiled build: a model for a target, kernel set and planner.
#[derive(Clone, Copy)]
struct Job {
    model: usize,
    target: Target,
    kernels: Kernels,
    planner: Planner,
}

/// What a profiled build measured, per inference.
struct Measured {
    /// Instructions of one `model_invoke`.
    total: u64,
    /// Instructions of each op's kernel calls.
    per_op: Vec<f64>,
    /// The plan's arena: activations and the kernels' scratch areas.
    arena_bytes: usize,
}

/// The op type reported for an op with MACs (`None`: pooling, additions, reshapes, clamps).
fn op_type(kind: &OpKind) -> Option<String> {
    match kind {
        OpKind::Conv { geometry: g, .. } if g.kernel == (1, 1) && g.groups == 1 && g.stride == (1, 1) => {
            Some("conv 1x1".into())
        }
        OpKind::Conv { geometry: g, .. } => Some(format!("conv {}x{} s{}", g.kernel.0, g.kernel.1, g.stride.0)),
        OpKind::Depthwise { geometry: g, .. } => {
            Some(format!("depthwise {}x{} s{}", g.kernel.0, g.kernel.1, g.stride.0))
        }
        OpKind::FullyConnected { .. } => Some("fully connected".into()),
        _ => None,
    }
}

fn tag(job: &Job, models: &[Model]) -> String {
    let planner = match job.planner {
        Planner::Greedy => "greedy",
        _ => "inplace",
    };
    format!("{}-{}-{}-{planner}", models[job.model].name, job.target, job.kernels)
}

fn convert_model(
    mut net: tinylab_classical::nn::Sequential,
    shape: [usize; 3],
    seed: u64,
) -> Result<Model, ExperimentError> {
    let [c, h, w] = shape;
    let calib: Tensor = randn(&[CALIBRATION_IMAGES, c, h, w], 1.0, &mut rng(seed + 1));
    let int8 = convert(&mut net, &calib, &ConvertOptions::default())?;
    let graph = McuGraph::from_int8(&int8)?;
    let x: Tensor = randn(&[1, c, h, w], 1.0, &mut rng(seed + 2));
    let samples = Samples::from_engine(&int8, &graph, &x)?;
    Ok(Model { name: "", short: "", description: String::new(), int8, graph, samples })
}

/// Exports, builds and runs one profiled job; checks the outputs.
fn measure(ctx_dir: &std::path::Path, job: &Job, models: &[Model]) -> Result<Measured, ExperimentError> {
    let m = &models[job.model];
    let dir = ctx_dir.join("c").join(tag(job, models));
    let opts =
        ExportOptions { planner: job.planner, target: job.target, board: Board::default(), kernels: Some(job.kernels) };
    let report = export_graph(&m.graph, &dir, &opts, &m.samples)?;
    write_profile_driver(&dir)?;
    let profiled = toolchain::build_and_profile(&dir, job.target)?;
    if profiled.run.outputs != m.samples.expected {
        return Err(ExperimentError::other(format!(
            "{}: the C output differs from the Rust engine's",
            tag(job, models)
        )));
    }
    let (run, per_op) = (profiled.run, profiled.per_op);
    let total = run.instructions.iter().sum::<u64>() / run.instructions.len().max(1) as u64;
    // The build directories are large (the weights as C); only the numbers are kept.
    std::fs::remove_dir_all(&dir).ok();
    Ok(Measured { total, per_op, arena_bytes: report.arena_bytes })
}

impl Experiment for McuKernels {
    fn name(&self) -> &'static str {
        "mcu_kernels"
    }

    fn description(&self) -> &'static str {
        "instructions per MAC of the exported C kernels on emulated Cortex-M4 / M7: portable vs DSP (SMLAD), per op type and end to end"
    }

    fn run(&self, ctx: &mut RunContext) -> Result<Metrics, ExperimentError> {
        let (quick, seed) = (ctx.quick, ctx.seed);
        let res = if quick { 32 } else { 96 };
        let mut mbv2 = convert_model(zoo::mobilenet_v2(0.35, 4, seed)?, [3, res, res], seed)?;
        mbv2.name = "mbv2_w035";
        mbv2.short = "mbv2";
        mbv2.description = format!("zoo::mobilenet_v2(0.35, 4) at 3x{res}x{res}, random weights");
        let mut digits = convert_model(zoo::reference_cnn(1, 8, 10, seed)?, [1, 8, 8], seed + 10)?;
        digits.name = "digits_cnn";
        digits.short = "digits";
        digits.description = "zoo::reference_cnn(1, 8, 10) at 1x8x8, random weights".into();
        let mut ds_cnn = convert_model(zoo::mlperf_tiny::ds_cnn_kws(12, seed)?, [1, 49, 10], seed + 20)?;
        ds_cnn.name = "ds_cnn_kws";
        ds_cnn.short = "ds-cnn";
        ds_cnn.description = "zoo::mlperf_tiny::ds_cnn_kws(12) at 1x49x10, random weights".into();
        let models = vec![mbv2, digits, ds_cnn];

        let arm = TARGETS.iter().all(|&t| toolchain::available(t));
        ctx.set_config("arm_toolchain_available", arm);
        ctx.set_config("calibration_images", CALIBRATION_IMAGES);
        ctx.set_config(
            "mcu",
            "qemu-system-arm -M mps2-an386 (Cortex-M4F) and -M mps2-an500 (Cortex-M7), -icount shift=7; \
             gcc-arm-none-eabi -O2",
        );
        ctx.set_config("kernels", "portable: TL_USE_DSP 0 (plain C99); dsp: TL_USE_DSP 1 (arm_acle.h SXTB16 / SMLAD)");
        for m in &models {
            ctx.set_config(
                m.name,
                json!({"model": m.description, "macs": m.graph.macs(), "ops": m.graph.ops.len(),
                       "int8_size": m.int8.size(), "samples": m.samples.inputs.len()}),
            );
        }

        // MACs per op type (known without a toolchain).
        let mut type_macs: Vec<BTreeMap<String, usize>> = Vec::new();
        for m in &models {
            let mut macs = BTreeMap::new();
            for op in &m.graph.ops {
                if let Some(t) = op_type(&op.kind) {
                    let per = op.macs_per_pixel(m.graph.tensors[op.inputs[0]]);
                    let out = m.graph.tensors[op.output];
                    let n = if matches!(op.kind, OpKind::FullyConnected { .. }) { per } else { per * out.h * out.w };
                    *macs.entry(t).or_insert(0) += n;
                }
            }
            type_macs.push(macs);
        }
        let mut metrics = Metrics::new();
        metrics.insert(
            "macs_by_op_type",
            json!(
                models.iter().zip(&type_macs).map(|(m, t)| (m.name.to_string(), json!(t))).collect::<BTreeMap<_, _>>()
            ),
        );
        if !arm {
            ctx.note("The ARM toolchain or qemu is not installed: no instruction counts (only the MACs by op type).");
            let categories: Vec<String> = type_macs[0].keys().cloned().collect();
            let total = models[0].graph.macs().max(1) as f64;
            ctx.plot(
                "mac_share",
                &BarChart {
                    title: "MobileNetV2-0.35: share of MACs by op type".into(),
                    x_label: "op type".into(),
                    y_label: "% of MACs".into(),
                    categories,
                    groups: vec![BarGroup::new(
                        "MACs",
                        type_macs[0].values().map(|&n| 100.0 * n as f64 / total).collect(),
                    )],
                    show_values: true,
                },
            )?;
            return Ok(metrics);
        }

        // Every profiled build: every model with the in-place plan on both targets and kernel sets,
        // and the MobileNetV2 with the greedy plan (out-of-place depthwise), DSP kernels (and the
        // portable ones too in the full run).
        let mut jobs = Vec::new();
        for (mi, _) in models.iter().enumerate() {
            for target in TARGETS {
                for kernels in KERNELS {
                    jobs.push(Job { model: mi, target, kernels, planner: Planner::InPlace });
                    if mi == 0 && (kernels == Kernels::Dsp || !quick) {
                        jobs.push(Job { model: mi, target, kernels, planner: Planner::Greedy });
                    }
                }
            }
        }
        let out_dir = ctx.out_dir.clone();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<std::sync::Mutex<Option<Result<Measured, ExperimentError>>>> =
            jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else { break };
                        let r = measure(&out_dir, job, &models);
                        if let Ok(mut slot) = results[i].lock() {
                            *slot = Some(r);
                        }
                    }
                });
            }
        });
        let mut measured = Vec::with_capacity(jobs.len());
        for r in results {
            let r = r.into_inner().map_err(|_| ExperimentError::other("a build thread panicked"))?;
            measured.push(r.ok_or_else(|| ExperimentError::other("a build did not run"))??);
        }
        let _ = std::fs::remove_dir(out_dir.join("c"));

        // Per op type and end to end, in-place plans.
        let series: Vec<(Target, Kernels)> =
            TARGETS.iter().flat_map(|&t| KERNELS.iter().map(move |&k| (t, k))).collect();
        let mut end_to_end = Vec::new();
        let mut by_type = Vec::new();
        // (model, op type) -> per series instructions per MAC, for the chart and the table.
        let mut chart: BTreeMap<(usize, String), Vec<f64>> = BTreeMap::new();
        let mut e2e_chart: Vec<Vec<f64>> = vec![vec![0.0; series.len()]; models.len()];
        for (job, got) in jobs.iter().zip(&measured) {
            if job.planner != Planner::InPlace {
                continue;
            }
            let m = &models[job.model];
            let si = series.iter().position(|&s| s == (job.target, job.kernels)).unwrap_or(0);
            let macs = m.graph.macs() as f64;
            end_to_end.push(json!({"model": m.name, "target": job.target.name(), "kernels": job.kernels.name(),
                                   "instructions_per_inference": got.total, "arena_bytes": got.arena_bytes,
                                   "instructions_per_mac": got.total as f64 / macs}));
            e2e_chart[job.model][si] = got.total as f64 / macs;
            let mut sums: BTreeMap<String, f64> = BTreeMap::new();
            for (op, &n) in m.graph.ops.iter().zip(&got.per_op) {
                let t = op_type(&op.kind).unwrap_or_else(|| "other (no MACs)".into());
                *sums.entry(t).or_insert(0.0) += n;
            }
            for (t, instructions) in sums {
                let macs = type_macs[job.model].get(&t).copied().unwrap_or(0);
                let per_mac = if macs > 0 { instructions / macs as f64 } else { 0.0 };
                by_type.push(json!({"model": m.name, "op_type": t, "target": job.target.name(),
                                    "kernels": job.kernels.name(), "macs": macs,
                                    "instructions": instructions.round(), "instructions_per_mac": per_mac}));
                if macs > 0 {
                    chart.entry((job.model, t)).or_insert_with(|| vec![0.0; series.len()])[si] = per_mac;
                }
            }
        }
        metrics.insert("end_to_end", Value::Array(end_to_end));
        // Every op of every in-place build, for a closer look: ops.json.
        let mut per_op = Vec::new();
        for (job, got) in jobs.iter().zip(&measured) {
            let m = &models[job.model];
            let ops: Vec<Value> = m
                .graph
                .ops
                .iter()
                .zip(&got.per_op)
                .enumerate()
                .map(|(i, (op, &n))| {
                    let si = m.graph.tensors[op.inputs[0]];
                    let so = m.graph.tensors[op.output];
                    json!({"op": i, "kind": op.kind.name(), "path": op.path, "input": [si.h, si.w, si.c],
                           "output": [so.h, so.w, so.c], "instructions": n.round()})
                })
                .collect();
            per_op.push(json!({"build": tag(job, &models), "ops": ops}));
        }
        ctx.write_json("ops.json", &per_op)?;
        metrics.insert("by_op_type", Value::Array(by_type));

        // In-place against out-of-place depthwise (the MobileNetV2's depthwise ops).
        let mut inplace_rows = Vec::new();
        for (target, kernels) in &series {
            let find = |planner: Planner| {
                jobs.iter()
                    .zip(&measured)
                    .find(|(j, _)| j.model == 0 && j.target == *target && j.kernels == *kernels && j.planner == planner)
            };
            let (Some((_, a)), Some((_, b))) = (find(Planner::InPlace), find(Planner::Greedy)) else { continue };
            let dw = |m: &Measured| -> f64 {
                models[0]
                    .graph
                    .ops
                    .iter()
                    .zip(&m.per_op)
                    .filter(|(op, _)| matches!(op.kind, OpKind::Depthwise { .. }))
                    .map(|(_, n)| n)
                    .sum()
            };
            let (ip, oop) = (dw(a), dw(b));
            inplace_rows.push(json!({"target": target.name(), "kernels": kernels.name(),
                                     "depthwise_instructions_in_place": ip.round(),
                                     "depthwise_instructions_out_of_place": oop.round(),
                                     "in_place_over_out_of_place": ip / oop.max(1.0),
                                     "in_place_no_slower": ip <= oop}));
        }
        metrics.insert("depthwise_in_place_vs_out_of_place", Value::Array(inplace_rows));
        let goal = e2e_chart[0][series.iter().position(|&s| s == (Target::CortexM4, Kernels::Dsp)).unwrap_or(0)];
        metrics.insert(
            "goal",
            json!({"mbv2_cortex_m4_dsp_instructions_per_mac": goal, "goal_instructions_per_mac": GOAL_INSTRUCTIONS_PER_MAC,
                   "met": goal <= GOAL_INSTRUCTIONS_PER_MAC}),
        );

        // The chart: one category per (model, op type), then end to end per model.
        let mut categories = Vec::new();
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); series.len()];
        for ((mi, t), v) in &chart {
            categories.push(format!("{} {t}", models[*mi].short));
            for (s, x) in v.iter().enumerate() {
                values[s].push(*x);
            }
        }
        for (m, e2e) in models.iter().zip(&e2e_chart) {
            categories.push(format!("{} end to end", m.short));
            for (s, x) in e2e.iter().enumerate() {
                values[s].push(*x);
            }
        }
        let groups = series
            .iter()
            .zip(values)
            .map(|((t, k), v)| BarGroup::new(format!("{} {}", t.name(), k.name()), v))
            .collect();
        ctx.plot(
            "instructions_per_mac",
            &BarChart {
                title: "qemu instructions per MAC: portable vs DSP kernels".into(),
                x_label: "op type".into(),
                y_label: "instructions / MAC".into(),
                categories: categories.clone(),
                groups,
                show_values: false,
            },
        )?;

        // The table of the report.
        let mut table = String::from("| op type | MACs |");
        for (t, k) in &series {
            table.push_str(&format!(" {} {} |", t.name(), k.name()));
        }
        table.push_str("\n|---|---:|");
        table.push_str(&"---:|".repeat(series.len()));
        for ((mi, t), v) in &chart {
            let macs = type_macs[*mi].get(t).copied().unwrap_or(0);
            table.push_str(&format!("\n| {} {t} | {macs} |", models[*mi].name));
            for x in v {
                table.push_str(&format!(" {x:.2} |"));
            }
        }
        for (mi, m) in models.iter().enumerate() {
            table.push_str(&format!("\n| {} end to end | {} |", m.name, m.graph.macs()));
            for x in &e2e_chart[mi] {
                table.push_str(&format!(" {x:.2} |"));
            }
        }
        ctx.note(format!(
            "Instructions per MAC (qemu `-icount`, deterministic; instructions, not cycles: qemu models no \
             pipeline, no flash wait states, no unaligned-access penalty).\n\n{table}"
        ));
        ctx.note(format!(
            "Goal of the issue: at most {GOAL_INSTRUCTIONS_PER_MAC} instructions per MAC end to end for the \
             MobileNetV2 on the Cortex-M4 with the DSP kernels; measured {goal:.3}."
        ));
        Ok(metrics)
    }
}
