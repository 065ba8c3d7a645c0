//! Every registered experiment, run with `--quick` through the CLI: it writes the documented files,
//! the same seed gives the same `metrics.json` apart from the wall-clock `timings`, and the quick
//! forms reach their headline results (not only files that exist).

use std::path::{Path, PathBuf};
use std::process::Command;
use tinylab::experiments::{TIMINGS_KEY, registry};

fn run(name: &str, seed: &str, out: &Path) -> serde_json::Value {
    let status = Command::new(env!("CARGO_BIN_EXE_tinylab"))
        .args(["run", name, "--quick", "--seed", seed, "--out"])
        .arg(out)
        .output()
        .expect("tinylab runs");
    assert!(status.status.success(), "{name}: {}", String::from_utf8_lossy(&status.stderr));
    let text = std::fs::read_to_string(out.join("metrics.json")).expect("metrics.json written");
    let mut metrics: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    metrics.as_object_mut().expect("an object").remove(TIMINGS_KEY);
    metrics
}

/// The value at `path` of `metrics`: a top-level key of that name (some experiments flatten their
/// keys), else the dotted path through nested objects.
fn at<'a>(metrics: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    match metrics.get(path) {
        Some(v) => v,
        None => path.split('.').fold(metrics, |v, k| &v[k]),
    }
}

fn number(metrics: &serde_json::Value, path: &str) -> f64 {
    at(metrics, path).as_f64().unwrap_or_else(|| panic!("{path} is not a number in {metrics}"))
}

/// Each experiment's headline claim on its quick form (seed 3).
fn assert_headline(name: &str, m: &serde_json::Value) {
    match name {
        "digits_cnn" => assert!(number(m, "test_accuracy") >= 0.97, "{name}: {}", m["test_accuracy"]),
        "prune_lab" => {
            // The 5x fewer non-zero weights (80% sparse) model, fine-tuned, within a point of dense.
            let (dense, pruned) =
                (number(m, "digits.baseline_accuracy"), number(m, "digits.five_x.accuracy_finetuned"));
            assert!(pruned >= dense - 0.01, "{name}: {pruned} vs dense {dense}");
        }
        "mcu_deploy" => {
            for model in ["digits_cnn", "mbv2_w035"] {
                for plan in at(m, &format!("{model}.plans")).as_array().expect("plans") {
                    for target in ["host", "cortex_m4"] {
                        let mismatches = &plan[target]["mismatching_outputs"];
                        if !mismatches.is_null() || std::env::var_os("TINYLAB_REQUIRE_TOOLCHAINS").is_some() {
                            assert_eq!(mismatches, 0, "{name}: {model} {target} {}", plan["planner"]);
                        }
                    }
                }
            }
        }
        "quant_lab" => {
            // The int8 engine equals its fake-quant twin under every calibration (the 0.1-point goal).
            let runs = m["int8"].as_array().expect("int8 runs");
            assert!(!runs.is_empty(), "{name}: no int8 runs");
            for run in runs {
                assert!(number(run, "engine_minus_fake_quant_points").abs() <= 0.1, "{name}: {run}");
            }
        }
        "vqe_h2" => assert_eq!(m["ucc_all_within_chemical_accuracy"], true, "{name}"),
        "qaoa_maxcut" => {
            let (p1, p2) = (number(m, "mean_ratio_p1"), number(m, "mean_ratio_p2"));
            assert!(p2 > p1, "{name}: p = 2 ratio {p2} is not above p = 1's {p1}");
        }
        "quantumnat" => {
            let gain = number(m, "quantumnat_gain_over_baseline_points");
            assert!(gain > 0.0, "{name}: the combined method is {gain} points from the baseline on the device");
        }
        _ => {}
    }
}

fn scratch(name: &str, tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tinylab-exp-{}-{name}-{tag}", std::process::id()))
}

/// Each experiment writes config, metrics, report and PNG+SVG plots, and reruns reproduce its metrics.
#[test]
fn every_experiment_is_reproducible_and_writes_its_files() {
    for experiment in registry() {
        let name = experiment.name();
        let (a, b) = (scratch(name, "a"), scratch(name, "b"));
        let first = run(name, "3", &a);
        let second = run(name, "3", &b);
        assert_eq!(first, second, "{name}: metrics differ between two runs with the same seed");
        assert_headline(name, &first);
        for file in ["config.json", "metrics.json", "report.md"] {
            assert!(a.join(file).is_file(), "{name}: {file} missing");
        }
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(a.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["seed"], 3);
        assert_eq!(config["experiment"], name);
        let pngs: Vec<PathBuf> = std::fs::read_dir(&a)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
            .collect();
        assert!(!pngs.is_empty(), "{name}: no plots");
        for png in &pngs {
            assert!(png.with_extension("svg").is_file(), "{name}: {} has no SVG twin", png.display());
            let bytes = std::fs::read(png).unwrap();
            assert!(bytes.starts_with(b"\x89PNG"), "{name}: {} is not a PNG", png.display());
        }
        std::fs::remove_dir_all(&a).ok();
        std::fs::remove_dir_all(&b).ok();
    }
}

/// The digits CNN reaches the accuracy the issue asks for even in its quick form (3 epochs).
#[test]
fn digits_cnn_quick_run_learns() {
    let out = scratch("digits_cnn", "acc");
    let metrics = run("digits_cnn", "7", &out);
    let accuracy = metrics["test_accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.9, "quick test accuracy {accuracy}");
    let confusion = metrics["confusion_matrix"].as_array().unwrap();
    let total: u64 = confusion.iter().flat_map(|r| r.as_array().unwrap()).map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(total, metrics["test_samples"].as_u64().unwrap());
    std::fs::remove_dir_all(&out).ok();
}

/// Unknown experiments and bad flags are one-line errors with a non-zero exit.
#[test]
fn unknown_experiment_is_a_one_line_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_tinylab")).args(["run", "no_such_study"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("digits_cnn") && err.contains("quickstart"), "{err}");
}
