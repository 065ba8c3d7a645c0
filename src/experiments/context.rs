//! [`RunContext`]: what an experiment knows about its run, and where it puts what it makes.

use super::error::ExperimentError;
use super::metrics::Metrics;
use super::report;
use crate::plot::{self, Chart, PlotFiles};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The settings of one run and the artefacts it has produced so far.
///
/// An experiment reads `seed` and `quick`, records its configuration with [`set_config`](Self::set_config),
/// draws charts with [`plot`](Self::plot) and adds prose with [`note`](Self::note);
/// [`run_experiment`](super::run_experiment) then writes `config.json`, `metrics.json` and `report.md`
/// from it into `out_dir`.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// Seed of every random choice in the run (data order, initial weights, sampling).
    pub seed: u64,
    /// A reduced run for tests and CI: seconds, not minutes; the same code paths on less work.
    pub quick: bool,
    /// The directory that receives every file of the run. Under
    /// [`run_experiment`](super::run_experiment) a temporary sibling of the final directory, renamed
    /// onto it when the run has finished; keep files that must survive a failed run in
    /// [`resume_dir`](Self::resume_dir).
    pub out_dir: PathBuf,
    experiment: String,
    resume_dir: Option<PathBuf>,
    config: BTreeMap<String, Value>,
    plots: Vec<PlotRecord>,
    notes: Vec<String>,
}

/// A chart a run has written, as the report lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotRecord {
    /// The file stem (`NAME` of `NAME.png`).
    pub name: String,
    /// The chart's title.
    pub title: String,
    /// The files written.
    pub files: PlotFiles,
}

impl RunContext {
    /// A context for running `experiment` with `seed` into `out_dir` (created when files are written).
    pub fn new(experiment: impl Into<String>, seed: u64, quick: bool, out_dir: impl Into<PathBuf>) -> Self {
        RunContext {
            seed,
            quick,
            out_dir: out_dir.into(),
            experiment: experiment.into(),
            resume_dir: None,
            config: BTreeMap::new(),
            plots: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// The name of the experiment being run.
    pub fn experiment(&self) -> &str {
        &self.experiment
    }

    /// Where to keep files that must survive an interrupted run, such as a training checkpoint to
    /// resume from (`TrainConfig::checkpoint`): under [`run_experiment`](super::run_experiment),
    /// `PARENT/.NAME.resume` next to the results, kept when the run fails, removed when it succeeds
    /// (files in [`out_dir`](Self::out_dir) only appear once the whole run has finished). For a
    /// context made with [`new`](Self::new), `out_dir` itself. Not created.
    pub fn resume_dir(&self) -> &Path {
        self.resume_dir.as_deref().unwrap_or(&self.out_dir)
    }

    /// The checkpoint a full run trains through: `name` in the [`resume_dir`](Self::resume_dir),
    /// which is created; `None` in the quick form, which never checkpoints.
    pub fn checkpoint(&self, name: &str) -> Result<Option<PathBuf>, ExperimentError> {
        if self.quick {
            return Ok(None);
        }
        let path = self.resume_dir().join(name);
        std::fs::create_dir_all(self.resume_dir())
            .map_err(|source| ExperimentError::Io { path: path.clone(), source })?;
        Ok(Some(path))
    }

    pub(crate) fn set_resume_dir(&mut self, dir: PathBuf) {
        self.resume_dir = Some(dir);
    }

    /// Records one configuration entry (shots, epochs, learning rate, data set, ...) for `config.json`.
    /// A second call with the same key replaces the value.
    pub fn set_config(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        self.config.insert(key.into(), value.into());
    }

    /// The configuration as written to `config.json`: the recorded entries plus `experiment`, `seed` and
    /// `quick` (which override entries of the same names).
    pub fn config(&self) -> Value {
        let mut object: serde_json::Map<String, Value> =
            self.config.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        object.insert("experiment".into(), Value::from(self.experiment.as_str()));
        object.insert("seed".into(), Value::from(self.seed));
        object.insert("quick".into(), Value::from(self.quick));
        Value::Object(object)
    }

    /// Draws `chart` as `out_dir/NAME.png` and `out_dir/NAME.svg` and lists it in the report.
    pub fn plot<C: Chart>(&mut self, name: &str, chart: &C) -> Result<PlotFiles, ExperimentError> {
        let files = plot::render(&self.out_dir, name, chart)?;
        let record = PlotRecord { name: name.to_string(), title: chart.title().to_string(), files: files.clone() };
        match self.plots.iter_mut().find(|p| p.name == name) {
            Some(existing) => *existing = record,
            None => self.plots.push(record),
        }
        Ok(files)
    }

    /// The charts drawn so far, in order.
    pub fn plots(&self) -> &[PlotRecord] {
        &self.plots
    }

    /// Adds a paragraph of Markdown to the report's notes (what the numbers mean, caveats).
    pub fn note(&mut self, markdown: impl Into<String>) {
        self.notes.push(markdown.into());
    }

    /// The notes added so far.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Writes `value` as pretty JSON to `out_dir/FILE_NAME` (for extra artefacts such as a training
    /// history), creating `out_dir`; returns the path.
    pub fn write_json(&self, file_name: &str, value: &impl Serialize) -> Result<PathBuf, ExperimentError> {
        let path = self.out_dir.join(file_name);
        let text = serde_json::to_string_pretty(value)
            .map_err(|source| ExperimentError::Json { path: path.clone(), source })?;
        self.write_text(&path, text + "\n")
    }

    /// Writes [`config`](Self::config) to `out_dir/config.json`.
    pub fn write_config(&self) -> Result<PathBuf, ExperimentError> {
        self.write_json("config.json", &self.config())
    }

    /// Writes `metrics` to `out_dir/metrics.json` (values at the top level, timings under `timings`).
    pub fn write_metrics(&self, metrics: &Metrics) -> Result<PathBuf, ExperimentError> {
        self.write_json("metrics.json", &metrics.to_json())
    }

    /// Writes `out_dir/report.md`: the title and description, the configuration, the metrics and timings
    /// as tables, the plots (PNG embedded, SVG linked) and the notes.
    pub fn write_report(&self, description: &str, metrics: &Metrics) -> Result<PathBuf, ExperimentError> {
        let text = report::render(&self.experiment, description, &self.config(), metrics, &self.plots, &self.notes);
        self.write_text(&self.out_dir.join("report.md"), text)
    }

    fn write_text(&self, path: &Path, text: String) -> Result<PathBuf, ExperimentError> {
        let io = |source| ExperimentError::Io { path: path.to_path_buf(), source };
        std::fs::create_dir_all(&self.out_dir).map_err(io)?;
        std::fs::write(path, text).map_err(io)?;
        Ok(path.to_path_buf())
    }
}
