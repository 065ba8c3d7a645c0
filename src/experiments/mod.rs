//! The experiment registry behind `tinylab list` and `tinylab run NAME`.
//!
//! An [`Experiment`] has a name, a one-line description and a [`run`](Experiment::run) that reads the
//! seed and the `quick` flag from a [`RunContext`], records its configuration, draws charts through
//! [`RunContext::plot`] and returns [`Metrics`]. [`run_experiment`] finds it in [`registry`], times it and
//! writes everything into one directory (`results/NAME/` unless told otherwise), atomically: the run
//! writes into `results/.NAME.tmp-PID-K`, renamed onto `results/NAME` only once every file is written,
//! so an interrupted run never leaves a `results/NAME` that looks complete:
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
mod char_gpt;
mod char_lm;
mod compression;
mod context;
mod deep_compression;
mod digits_cnn;
mod distill_lab;
mod error;
mod llm_prune;
mod llm_quant;
mod long_context;
mod mcu_deploy;
mod mcu_kernels;
mod mcunet;
mod metrics;
mod mlperf_tiny;
mod output;
mod prune_lab;
mod qaoa_maxcut;
mod qml_digits4;
mod qoc;
mod quant_lab;
mod quantumnas;
mod quantumnat;
mod quickstart;
mod report;
mod token_pruning;
mod trials;
mod variational;
mod vqe_h2;

pub use context::{PlotRecord, RunContext};
pub use digits_cnn::DigitsCnn;
pub use error::ExperimentError;
pub use metrics::{Metrics, TIMINGS_KEY};
pub use output::resume_dir;
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
        &mlperf_tiny::MlperfTiny,
        &mcu_kernels::McuKernels,
        &mcunet::Mcunet,
        &quantumnas::QuantumNas,
        &char_gpt::CharGpt,
        &long_context::LongContext,
        &token_pruning::TokenPruning,
        &llm_quant::LlmQuant,
        &llm_prune::LlmPrune,
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
/// results into `out` (default: [`default_out_dir`]).
///
/// The run's wall-clock time goes into the `total_seconds` timing. The run writes into a temporary
/// sibling directory that replaces `out` only once every file is written (see [`resume_dir`] for
/// files that must survive an interrupted run): a failed or interrupted run leaves the previous
/// results, or none, never a half-written directory. An existing `out` that is not a results
/// directory (no `metrics.json` or `config.json`, and not empty) is refused, not replaced.
pub fn run_experiment(name: &str, seed: u64, quick: bool, out: Option<&Path>) -> Result<RunSummary, ExperimentError> {
    let experiment = find(name)?;
    let out_dir = out.map_or_else(|| default_out_dir(experiment.name()), Path::to_path_buf);
    run_into(experiment, seed, quick, &out_dir)
}

/// [`run_experiment`] of an experiment that need not be registered.
fn run_into(
    experiment: &dyn Experiment,
    seed: u64,
    quick: bool,
    out_dir: &Path,
) -> Result<RunSummary, ExperimentError> {
    let staging = output::Staging::begin(out_dir)?;
    let mut ctx = RunContext::new(experiment.name(), seed, quick, &staging.tmp);
    ctx.set_resume_dir(resume_dir(out_dir)?);
    let written = (|| -> Result<(Vec<PathBuf>, Metrics), ExperimentError> {
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
        Ok((files, metrics))
    })();
    let (files, metrics) = match written {
        Ok(w) => w,
        Err(e) => {
            staging.abort();
            return Err(e);
        }
    };
    let tmp = staging.tmp.clone();
    let out_dir = staging.commit()?;
    let files = files.into_iter().map(|f| f.strip_prefix(&tmp).map_or(f.clone(), |rel| out_dir.join(rel))).collect();
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

    /// A test experiment: writes a file and a resume checkpoint, then fails when `fail` is set.
    struct Probe {
        fail: bool,
        tag: &'static str,
    }

    impl Experiment for Probe {
        fn name(&self) -> &'static str {
            "probe"
        }
        fn description(&self) -> &'static str {
            "writes one file, fails on request"
        }
        fn run(&self, ctx: &mut RunContext) -> Result<Metrics, ExperimentError> {
            ctx.write_json("partial.json", &self.tag)?;
            std::fs::create_dir_all(ctx.resume_dir()).unwrap();
            std::fs::write(ctx.resume_dir().join("train.ckpt"), self.tag).unwrap();
            if self.fail {
                return Err(ExperimentError::other("interrupted on purpose"));
            }
            let mut m = Metrics::new();
            m.insert("tag", self.tag);
            Ok(m)
        }
    }

    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tinylab-out-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Names in `dir`, sorted.
    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_failed_first_run_leaves_no_results_and_no_temp_dir_but_keeps_its_resume_checkpoint() {
        let root = scratch("first");
        let out = root.join("probe");
        let err = run_into(&Probe { fail: true, tag: "a" }, 1, true, &out).unwrap_err();
        assert!(err.to_string().contains("interrupted on purpose"), "{err}");
        assert_eq!(listing(&root), vec![".probe.resume"]);
        assert_eq!(std::fs::read_to_string(root.join(".probe.resume/train.ckpt")).unwrap(), "a");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_failed_rerun_leaves_the_previous_results_untouched_and_a_success_replaces_them() {
        let root = scratch("rerun");
        let out = root.join("probe");
        let summary = run_into(&Probe { fail: false, tag: "first" }, 1, true, &out).unwrap();
        assert_eq!(summary.out_dir, out);
        assert!(summary.files.iter().all(|f| f.starts_with(&out) && f.is_file()), "{:?}", summary.files);
        assert_eq!(listing(&root), vec!["probe"], "a success removes its resume directory");
        let metrics = std::fs::read_to_string(out.join("metrics.json")).unwrap();
        std::fs::write(out.join("extra.txt"), "from the first run").unwrap();

        run_into(&Probe { fail: true, tag: "second" }, 1, true, &out).unwrap_err();
        assert_eq!(std::fs::read_to_string(out.join("metrics.json")).unwrap(), metrics);
        assert_eq!(std::fs::read_to_string(out.join("partial.json")).unwrap().trim(), "\"first\"");
        assert_eq!(listing(&root), vec![".probe.resume", "probe"]);

        run_into(&Probe { fail: false, tag: "third" }, 1, true, &out).unwrap();
        assert!(std::fs::read_to_string(out.join("metrics.json")).unwrap().contains("third"));
        assert!(!out.join("extra.txt").exists(), "the old directory is replaced, not merged");
        assert_eq!(listing(&root), vec!["probe"]);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn an_output_directory_that_is_not_results_is_refused_not_replaced() {
        let root = scratch("refuse");
        let precious = root.join("home");
        std::fs::create_dir_all(&precious).unwrap();
        std::fs::write(precious.join("thesis.tex"), "years of work").unwrap();
        let err = run_into(&Probe { fail: false, tag: "x" }, 1, true, &precious).unwrap_err();
        assert!(matches!(err, ExperimentError::OutDir { .. }) && err.to_string().contains("home"), "{err}");
        assert_eq!(listing(&precious), vec!["thesis.tex"]);
        assert_eq!(listing(&root), vec!["home"]);
        for bad in [Path::new("."), Path::new("/"), Path::new("a/..")] {
            let err = run_into(&Probe { fail: false, tag: "x" }, 1, true, bad).unwrap_err();
            assert!(matches!(err, ExperimentError::OutDir { .. }), "{}: {err}", bad.display());
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn temp_dirs_of_killed_runs_are_removed_by_the_next_run() {
        let root = scratch("stale");
        // No process has this id (above every Linux pid_max).
        let stale = root.join(".probe.tmp-4194305000-0");
        std::fs::create_dir_all(&stale).unwrap();
        std::fs::write(stale.join("metrics.json"), "{}").unwrap();
        let other = root.join(".other.tmp-4194305000-0");
        std::fs::create_dir_all(&other).unwrap();
        run_into(&Probe { fail: false, tag: "x" }, 1, true, &root.join("probe")).unwrap();
        let mut want = vec![".other.tmp-4194305000-0", "probe"];
        if !Path::new("/proc/self").exists() {
            want.insert(1, ".probe.tmp-4194305000-0");
        }
        assert_eq!(listing(&root), want);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let err = find("no_such_experiment").err().expect("unknown name refused");
        let message = err.to_string();
        assert!(message.contains("no_such_experiment") && message.contains("quickstart"), "{message}");
    }
}
