//! `tinylab`: the command-line front of the workbench.
//!
//! `tinylab sim FILE.qasm [--shots N] [--seed S] [--json]` simulates an OpenQASM 2 file and prints the
//! exact probabilities (qubit 0 the least significant bit of the index) and, with `--shots`, seeded
//! counts (bit strings with bit 0 rightmost). `tinylab list` shows the registered experiments and
//! `tinylab run NAME [--seed S] [--quick] [--out DIR]` runs one into `results/NAME/`.
//! `tinylab export-mcu CHECKPOINT --out DIR [--planner P] [--target T] [--sram KB] [--flash KB]` writes
//! C99 for a microcontroller from an int8 checkpoint. Any failure
//! prints one line to stderr and exits 1.

mod export_mcu;
mod run;
mod sim;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// tinylab: efficient machine learning, classical and quantum.
#[derive(Debug, Parser)]
#[command(name = "tinylab", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate an OpenQASM 2.0 file on the statevector simulator.
    Sim(sim::SimArgs),
    /// List the registered experiments.
    List,
    /// Run a registered experiment and write results/NAME/ (config, metrics, plots, report).
    Run(run::RunArgs),
    /// Export an int8 checkpoint to C99 for a microcontroller (or the host), with a memory plan.
    ExportMcu(export_mcu::ExportMcuArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Sim(args) => sim::run(&args).map_err(Into::into),
        Command::List => run::list().map_err(Into::into),
        Command::Run(args) => run::run(&args).map_err(Into::into),
        Command::ExportMcu(args) => export_mcu::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {e}");
            }
            ExitCode::FAILURE
        }
    }
}
