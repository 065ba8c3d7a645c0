//! One call from an int8 model to a directory that builds for a target: plan the arena, refuse a plan
//! that does not fit the board, generate the C sources, the test data and driver, and the target's
//! build files, and write `plan.json` (the plan and the per-op memory) beside them.

use crate::KERNELS_H;
use crate::codegen::{GeneratedModel, generate};
use crate::error::{ExportError, Result, arg_err, io_err};
use crate::graph::McuGraph;
use crate::harness;
use crate::kernels::Kernels;
use crate::plan::{MemoryPlan, OpMemory, Planner, plan_with};
use crate::target::{Board, Target, write_target_files};
use std::path::{Path, PathBuf};
use tinylab_classical::int8::Int8Model;
use tinylab_classical::tensor::Tensor;

/// What to export for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportOptions {
    /// How the arena is planned.
    pub planner: Planner,
    /// The build target.
    pub target: Target,
    /// The board's memory (the plan must fit).
    pub board: Board,
    /// The C kernels; `None` takes the target's ([`Kernels::for_target`]: the DSP ones on the
    /// Cortex-M4 / M7). `Some(Kernels::Portable)` on a Cortex-M measures what the DSP kernels gain.
    pub kernels: Option<Kernels>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self { planner: Planner::InPlace, target: Target::Host, board: Board::default(), kernels: None }
    }
}

impl ExportOptions {
    /// The C kernels this export generates.
    pub fn kernels(&self) -> Kernels {
        self.kernels.unwrap_or_else(|| Kernels::for_target(self.target))
    }
}

/// Test samples in the byte order of `model_invoke` (NHWC in, NHWC / features out).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Samples {
    /// Quantized inputs, one per sample.
    pub inputs: Vec<Vec<i8>>,
    /// The Rust engine's outputs for them.
    pub expected: Vec<Vec<i8>>,
}

impl Samples {
    /// Quantizes every image of `x` `(N, C, H, W)` and runs the Rust engine on it, one sample at a time
    /// (the MCU's batch of 1).
    pub fn from_engine(model: &Int8Model, graph: &McuGraph, x: &Tensor) -> Result<Self> {
        let q = model.quantize_input(x)?;
        let shape = x.shape();
        let per = q.len() / shape[0].max(1);
        let mut s = Samples::default();
        for sample in q.chunks_exact(per.max(1)) {
            let out = model.run_quantized(sample, [1, shape[1], shape[2], shape[3]])?;
            s.inputs.push(graph.engine_input_to_c(sample)?);
            s.expected.push(graph.engine_output_to_c(&out)?);
        }
        Ok(s)
    }

    /// One input at the input zero point (a real 0 image) and the engine's output for it: the smoke
    /// test written when no samples are given.
    pub fn zero_input(model: &Int8Model, graph: &McuGraph) -> Result<Self> {
        let [c, h, w] = model.input_shape();
        let zp = graph.input_quant.1 as i8;
        let input = vec![zp; c * h * w];
        let out = model.run_quantized(&input, [1, c, h, w])?;
        Ok(Samples { inputs: vec![input], expected: vec![graph.engine_output_to_c(&out)?] })
    }
}

/// What an export produced.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExportReport {
    /// The plan's planner (with the stage chosen, for patches).
    pub planner: Planner,
    /// The C kernels exported (`TL_USE_DSP`).
    pub kernels: Kernels,
    /// Peak SRAM of activations and kernel scratch: the arena.
    pub arena_bytes: usize,
    /// True when the input is read from the caller's buffer (not counted in the arena).
    pub external_input: bool,
    /// Bytes of input and output.
    pub input_bytes: usize,
    /// Bytes of output.
    pub output_bytes: usize,
    /// Bytes of weights, biases and requantization parameters (flash, before code).
    pub constant_bytes: usize,
    /// MACs of one inference as planned, and the share the patch overlap adds.
    pub macs: usize,
    /// MACs added by patch overlap.
    pub extra_macs: usize,
    /// Memory in use at every op.
    pub per_op: Vec<OpMemory>,
    /// The directory written.
    #[serde(skip)]
    pub dir: PathBuf,
}

/// Plans `graph` for the portable kernels and checks the plan fits `board`: see
/// [`plan_for_board_with`].
pub fn plan_for_board(graph: &McuGraph, planner: Planner, board: &Board) -> Result<MemoryPlan> {
    plan_for_board_with(graph, planner, Kernels::Portable, board)
}

/// Plans `graph` for `kernels` and checks the plan fits `board`: the arena within the SRAM left
/// after the stack and heap, the constants within the flash.
pub fn plan_for_board_with(graph: &McuGraph, planner: Planner, kernels: Kernels, board: &Board) -> Result<MemoryPlan> {
    let p = plan_with(graph, planner, kernels)?;
    let sram = board.sram_for_data();
    let external = if p.external_input { graph.input_bytes() } else { 0 };
    if p.arena_bytes + external > sram {
        return Err(ExportError::DoesNotFit { what: "SRAM", needed: p.arena_bytes + external, available: sram });
    }
    if graph.constant_bytes() > board.flash_bytes {
        return Err(ExportError::DoesNotFit {
            what: "flash",
            needed: graph.constant_bytes(),
            available: board.flash_bytes,
        });
    }
    Ok(p)
}

/// Exports `model` into `dir` for `opts.target` with the test `samples` (the zero-input smoke sample
/// when `None`). The directory then builds with `make` (see [`crate::toolchain`]).
pub fn export(model: &Int8Model, dir: &Path, opts: &ExportOptions, samples: Option<&Samples>) -> Result<ExportReport> {
    let graph = McuGraph::from_int8(model)?;
    let zero;
    let samples = match samples {
        Some(s) => s,
        None => {
            zero = Samples::zero_input(model, &graph)?;
            &zero
        }
    };
    export_graph(&graph, dir, opts, samples)
}

/// [`export`] of an already lowered graph.
pub fn export_graph(graph: &McuGraph, dir: &Path, opts: &ExportOptions, samples: &Samples) -> Result<ExportReport> {
    if samples.inputs.iter().any(|i| i.len() != graph.input_bytes()) {
        return Err(arg_err("export", format!("every test input must have {} bytes", graph.input_bytes())));
    }
    let p = plan_for_board_with(graph, opts.planner, opts.kernels(), &opts.board)?;
    let GeneratedModel { model_h, model_c, kernels_c } = generate(graph, &p)?;
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(io_err(path))
    };
    write("model.h", &model_h)?;
    write("model.c", &model_c)?;
    write("tl_kernels.h", KERNELS_H)?;
    write("tl_kernels.c", &kernels_c)?;
    harness::write_main(dir)?;
    harness::write_testdata(dir, &samples.inputs, &samples.expected)?;
    write_target_files(dir, opts.target, &opts.board)?;
    let report = ExportReport {
        planner: p.planner,
        kernels: p.kernels,
        arena_bytes: p.arena_bytes,
        external_input: p.external_input,
        input_bytes: graph.input_bytes(),
        output_bytes: graph.output_bytes(),
        constant_bytes: graph.constant_bytes(),
        macs: p.macs,
        extra_macs: p.extra_macs,
        per_op: p.per_op.clone(),
        dir: dir.to_path_buf(),
    };
    let json = serde_json::json!({ "report": &report, "plan": &p });
    write("plan.json", &serde_json::to_string_pretty(&json).map_err(|e| arg_err("plan.json", e.to_string()))?)?;
    Ok(report)
}
