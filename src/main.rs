//! `tinylab`: the command-line front of the workbench.
//!
//! `tinylab sim FILE.qasm [--shots N] [--seed S] [--json]` simulates an OpenQASM 2 file and prints the
//! exact probabilities (qubit 0 the least significant bit of the index) and, with `--shots`, seeded
//! counts (bit strings with bit 0 rightmost). Any failure prints one line to stderr and exits 1.

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sim(args) => sim::run(&args),
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
