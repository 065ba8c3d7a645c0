//! `tinylab export-mcu CHECKPOINT --out DIR [--planner P] [--target T] [--sram KB] [--flash KB]
//! [--kernels portable|dsp]`: an
//! int8 checkpoint (written by `Int8Model::save`, e.g. `results/mcu_deploy/digits_cnn_int8.ckpt`) to a
//! directory of C99 that builds with `make` for the host or a Cortex-M board.

use clap::Args;
use std::path::PathBuf;
use tinylab_classical::int8::Int8Model;
use tinylab_mcu_export::export::{ExportOptions, export};
use tinylab_mcu_export::kernels::Kernels;
use tinylab_mcu_export::plan::Planner;
use tinylab_mcu_export::target::{Board, Target};

/// Arguments of `tinylab export-mcu`.
#[derive(Debug, Args)]
pub struct ExportMcuArgs {
    /// An int8 model checkpoint.
    pub checkpoint: PathBuf,
    /// Directory to write the C sources, test data and build files into.
    #[arg(long)]
    pub out: PathBuf,
    /// Arena planner: greedy (TFLite Micro), inplace (TinyEngine), patch[:GRID[:OPS]] (MCUNetV2).
    #[arg(long, default_value = "inplace")]
    pub planner: Planner,
    /// Build target: host, cortex-m4 or cortex-m7.
    #[arg(long, default_value = "host")]
    pub target: Target,
    /// SRAM of the board in KiB (default: the emulated MPS2 board's 4096).
    #[arg(long)]
    pub sram: Option<usize>,
    /// Flash of the board in KiB (default: the emulated MPS2 board's 4096).
    #[arg(long)]
    pub flash: Option<usize>,
    /// C kernels: portable (plain C99) or dsp (Arm DSP extension: SMLAD / SXTB16). Default: dsp on a
    /// Cortex-M, portable on the host.
    #[arg(long)]
    pub kernels: Option<Kernels>,
}

/// Exports the checkpoint and prints the plan's numbers.
#[allow(clippy::print_stdout)]
pub fn run(args: &ExportMcuArgs) -> Result<(), Box<dyn std::error::Error>> {
    let model = Int8Model::load(&args.checkpoint)?;
    let default = Board::default();
    let board = Board::new(
        args.sram.map_or(default.sram_bytes, |k| k * 1024),
        args.flash.map_or(default.flash_bytes, |k| k * 1024),
    )?;
    let opts = ExportOptions { planner: args.planner, target: args.target, board, kernels: args.kernels };
    let r = export(&model, &args.out, &opts, None)?;
    println!(
        "{}: planner {}, {} kernels, peak SRAM (arena) {} bytes{}, constants {} bytes, {} MACs ({} from patch overlap)",
        args.out.display(),
        r.planner,
        r.kernels,
        r.arena_bytes,
        if r.external_input { " + the caller's input buffer" } else { "" },
        r.constant_bytes,
        r.macs,
        r.extra_macs
    );
    println!("build and run: make -C {} run", args.out.display());
    Ok(())
}
