//! The experiment registry behind `tinylab list` and `tinylab run NAME`.
//!
//! An [`Experiment`] has a name, a one-line description and a [`run`](Experiment::run) that reads the
//! seed and the `quick` flag from a [`RunContext`], records its configuration, draws charts through
//! [`RunContext::plot`] and returns [`Metrics`]. [`run_experiment`] finds it in [`registry`], times it and
//! writes everything into one directory (`results/NAME/` unless told otherwise):
//!
//! | file | contents |
//! |---|---|
//! | `config.json` | `experiment`, `seed`, `quick` and the entries the experiment recorded |
//! | `metrics.json` | the deterministic values at the top level; wall-clock seconds under `timings` |
//! | `NAME.png`, `NAME.svg` | one pair per chart |
//! | `report.md` | description, configuration and metrics tables, the charts, notes |
//!
//! Same seed and `quick` setting, same `metrics.json` apart from `timings`: the tests hold every
//! experiment to that.
//!
//! # Adding an experiment
//!
//! Write `src/experiments/my_study.rs` with a unit struct implementing [`Experiment`], declare it below
//! (`mod my_study;`) and add one line `&my_study::MyStudy,` to [`registry`]. The CLI, the report and the
//! registry tests pick it up from there; an example in `examples/` that only calls
//! `run_experiment("my_study", ...)` is optional.

mod barren_plateau;
mod compression;
mod context;
mod deep_compression;
mod digits_cnn;
mod distill_lab;
mod error;
mod mcu_deploy;
mod metrics;
mod prune_lab;
mod qaoa_maxcut;
mod qml_digits4;
mod qoc;
mod quant_lab;
mod quantumnas;
mod quantumnat;
mod quickstart;
mod report;
mod trials;
mod variational;
mod vqe_h2;

pub use context::{PlotRecord, RunContext};
pub use digits_cnn::DigitsCnn;
pub use error::ExperimentError;
pub use metrics::{Metrics, TIMINGS_KEY};
pub use quickstart::Quickstart;

use std::path::{Path, PathBuf};
use std::time::Instant;

/// The seed `tinylab run` uses when none is given.
pub const DEFAULT_SEED: u64 = 7;

/// The directory results go to when no output directory is given: `results/NAME` under the current
/// directory.
pub fn default_out_dir(name: &str) -> PathBuf {
    Path::new("results").join(name)
}

/// A study that `tinylab run NAME` can run.
///
/// Implementations are stateless (unit structs): everything a run needs comes from the [`RunContext`],
/// and every random choice derives from `ctx.seed`, so that a rerun reproduces the metrics.
pub trait Experiment: Sync {
    /// The name on the command line: lower case, digits and `_`, unique in the registry.
    fn name(&self) -> &'static str;

    /// One line for `tinylab list` and the top of the report.
    fn description(&self) -> &'static str;

    /// Runs the study. Record configuration with [`RunContext::set_config`], draw charts with
    /// [`RunContext::plot`]; return what was measured (timings via [`Metrics::insert_timing`]). With
    /// `ctx.quick`, finish in seconds on reduced work.
    fn run(&self, ctx: &mut RunContext) -> Result<Metrics, ExperimentError>;
}

/// Every registered experiment, in the order `tinylab list` shows them.
pub fn registry() -> &'static [&'static dyn Experiment] {
    &[
        &quickstart::Quickstart,
        &digits_cnn::DigitsCnn,
        &qml_digits4::QmlDigits4,
        &quantumnat::QuantumNat,
        &qoc::Qoc,
        &vqe_h2::VqeH2,
        &qaoa_maxcut::QaoaMaxcut,
        &barren_plateau::BarrenPlateau,
        &prune_lab::PruneLab,
        &quant_lab::QuantLab,
        &deep_compression::DeepCompression,
        &distill_lab::DistillLab,
        &mcu_deploy::McuDeploy,
        &quantumnas::QuantumNas,
    ]
}

/// The registered experiment called `name`; for an unknown name, an error that lists the known ones.
pub fn find(name: &str) -> Result<&'static dyn Experiment, ExperimentError> {
    registry().iter().copied().find(|e| e.name() == name).ok_or_else(|| ExperimentError::Unknown {
        name: name.to_string(),
        known: registry().iter().map(|e| e.name().to_string()).collect(),
    })
}

/// What a finished run produced.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The experiment's name.
    pub experiment: &'static str,
    /// The directory holding every file of the run.
    pub out_dir: PathBuf,
    /// Every file written: `config.json`, `metrics.json`, the plots (PNG then SVG each), `report.md`.
    pub files: Vec<PathBuf>,
    /// The metrics, including the `total_seconds` timing of the whole run.
    pub metrics: Metrics,
}

/// Runs the registered experiment `name` with `seed` (reduced work when `quick`) and writes its
/// results into `out` (default: [`default_out_dir`]), creating the directory.
///
/// The run's wall-clock time goes into the `total_seconds` timing. Files of earlier runs in the same
/// directory are overwritten, never deleted.
pub fn run_experiment(name: &str, seed: u64, quick: bool, out: Option<&Path>) -> Result<RunSummary, ExperimentError> {
    let experiment = find(name)?;
    let out_dir = out.map_or_else(|| default_out_dir(experiment.name()), Path::to_path_buf);
    std::fs::create_dir_all(&out_dir).map_err(|source| ExperimentError::Io { path: out_dir.clone(), source })?;
    let mut ctx = RunContext::new(experiment.name(), seed, quick, &out_dir);

    let start = Instant::now();
    let mut metrics = experiment.run(&mut ctx)?;
    metrics.insert_timing("total_seconds", start.elapsed().as_secs_f64());
    if let Some(key) = metrics.reserved_key() {
        return Err(ExperimentError::ReservedMetric(key.to_string()));
    }

    let mut files = vec![ctx.write_config()?, ctx.write_metrics(&metrics)?];
    for plot in ctx.plots() {
        files.extend([plot.files.png.clone(), plot.files.svg.clone()]);
    }
    files.push(ctx.write_report(experiment.description(), &metrics)?);
    Ok(RunSummary { experiment: experiment.name(), out_dir, files, metrics })
}

/// The `main` of every example in `examples/`: runs the registered experiment `name` with the
/// command line's `--seed S`, `--quick` and `--out DIR` (as `tinylab run NAME` takes them), prints the
/// report and where the files went, and turns any error into one line on stderr and exit code 1.
#[allow(clippy::print_stdout, clippy::print_stderr)]
pub fn example_main(name: &str) -> std::process::ExitCode {
    fn parse_and_run(name: &str) -> Result<RunSummary, Box<dyn std::error::Error>> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let value_of = |flag: &str| -> Result<Option<&String>, String> {
            match args.iter().position(|a| a == flag) {
                Some(i) => args.get(i + 1).map(Some).ok_or_else(|| format!("{flag} needs a value")),
                None => Ok(None),
            }
        };
        let seed = match value_of("--seed")? {
            Some(s) => s.parse().map_err(|_| format!("--seed takes an unsigned integer, got `{s}`"))?,
            None => DEFAULT_SEED,
        };
        let out = value_of("--out")?.map(PathBuf::from);
        let quick = args.iter().any(|a| a == "--quick");
        Ok(run_experiment(name, seed, quick, out.as_deref())?)
    }
    match parse_and_run(name) {
        Ok(summary) => {
            if let Ok(report) = std::fs::read_to_string(summary.out_dir.join("report.md")) {
                println!("{report}");
            }
            println!("results in {}", summary.out_dir.display());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_lower_case_identifiers() {
        let names: Vec<&str> = registry().iter().map(|e| e.name()).collect();
        for (i, name) in names.iter().enumerate() {
            assert!(!name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            assert!(!names[..i].contains(name), "`{name}` is registered twice");
        }
        assert!(registry().iter().all(|e| !e.description().is_empty() && !e.description().contains('\n')));
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let err = find("no_such_experiment").err().expect("unknown name refused");
        let message = err.to_string();
        assert!(message.contains("no_such_experiment") && message.contains("quickstart"), "{message}");
    }
}
