//! `tinylab list` and `tinylab run NAME [--seed S] [--quick] [--out DIR]`.

use clap::Args;
use std::path::PathBuf;
use tinylab::experiments::{self, DEFAULT_SEED, ExperimentError};

/// Arguments of `tinylab run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The experiment (see `tinylab list`).
    pub name: String,
    /// Seed of every random choice; the same seed gives the same metrics.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Reduced work that finishes in seconds (for smoke tests).
    #[arg(long)]
    pub quick: bool,
    /// Output directory (default `results/NAME`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Prints every registered experiment with its description.
#[allow(clippy::print_stdout)]
pub fn list() -> Result<(), ExperimentError> {
    let width = experiments::registry().iter().map(|e| e.name().len()).max().unwrap_or(0);
    for e in experiments::registry() {
        println!("{:width$}  {}", e.name(), e.description());
    }
    Ok(())
}

/// Runs one experiment and prints where its files went.
#[allow(clippy::print_stdout)]
pub fn run(args: &RunArgs) -> Result<(), ExperimentError> {
    let summary = experiments::run_experiment(&args.name, args.seed, args.quick, args.out.as_deref())?;
    println!("{}: results in {}", summary.experiment, summary.out_dir.display());
    for file in &summary.files {
        println!("  {}", file.display());
    }
    Ok(())
}
