//! What an experiment measured: deterministic values and wall-clock timings, kept apart.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The key of `metrics.json` that holds the timings (and that no value may use).
pub const TIMINGS_KEY: &str = "timings";

/// The results of one run.
///
/// `values` are everything the seed determines (accuracies, probabilities, counts): two runs with the
/// same seed and `quick` setting must give identical values. `timings` are wall-clock seconds (and ratios
/// of them), which differ from run to run. In `metrics.json` the values are top-level keys and the
/// timings one object under [`TIMINGS_KEY`], so determinism checks compare everything but that key.
///
/// ```
/// use tinylab::experiments::Metrics;
/// let mut m = Metrics::new();
/// m.insert("accuracy", 0.97).insert("epochs", 3).insert_timing("train_seconds", 1.25);
/// let json = m.to_json();
/// assert_eq!(json["accuracy"], 0.97);
/// assert_eq!(json["timings"]["train_seconds"], 1.25);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    values: BTreeMap<String, Value>,
    timings: BTreeMap<String, f64>,
}

impl Metrics {
    /// No metrics yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a deterministic value (a number, string, bool, array or `serde_json::json!` object;
    /// non-finite floats become `null`, as in JSON). A second insert under `key` replaces the first.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        self.values.insert(key.into(), value.into());
        self
    }

    /// Records a wall-clock measurement in seconds (or a ratio of two), kept out of determinism checks.
    pub fn insert_timing(&mut self, key: impl Into<String>, seconds: f64) -> &mut Self {
        self.timings.insert(key.into(), seconds);
        self
    }

    /// The value recorded under `key`, if any.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// The timing recorded under `key`, if any.
    pub fn timing(&self, key: &str) -> Option<f64> {
        self.timings.get(key).copied()
    }

    /// Every deterministic value, by key.
    pub fn values(&self) -> &BTreeMap<String, Value> {
        &self.values
    }

    /// Every timing, by key.
    pub fn timings(&self) -> &BTreeMap<String, f64> {
        &self.timings
    }

    /// The first value key that collides with the reserved [`TIMINGS_KEY`], if any.
    pub(crate) fn reserved_key(&self) -> Option<&str> {
        self.values.keys().map(String::as_str).find(|k| *k == TIMINGS_KEY)
    }

    /// The layout of `metrics.json`: the values as top-level keys, the timings under [`TIMINGS_KEY`].
    pub fn to_json(&self) -> Value {
        let mut object: Map<String, Value> = self.values.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let timings: Map<String, Value> = self.timings.iter().map(|(k, &v)| (k.clone(), Value::from(v))).collect();
        object.insert(TIMINGS_KEY.to_string(), Value::Object(timings));
        Value::Object(object)
    }
}
