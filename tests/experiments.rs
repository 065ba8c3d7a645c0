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

/// `mlperf_tiny`'s quick form: the least int8 accuracy of ResNet-8 on the 10 shape classes (chance is
/// 0.1; 3 short epochs, seed 3 reaches 0.19) ...
const IC_QUICK_MIN: f64 = 0.6;
/// DS-CNN's quick-form int8 accuracy floor on the bundled keyword maps (chance is 1/12).
const KWS_QUICK_MIN: f64 = 0.2;
/// ... and the least int8 AUC of the autoencoder (chance 0.5; seed 3 reaches 0.81).
const AD_QUICK_MIN: f64 = 0.75;

/// `mcunet`'s quick-form floor on the searched network's int8 test accuracy (10 classes: chance is
/// 0.1; seed 3 reaches 0.6).
const MCUNET_QUICK_MIN: f64 = 0.3;

/// Each experiment's headline claim on its quick form (seed 3).
fn assert_headline(name: &str, m: &serde_json::Value) {
    match name {
        "digits_cnn" => {
            assert!(number(m, "test_accuracy") >= 0.97, "{name}: {}", m["test_accuracy"]);
            // Three trials, the first being the run above, all of them learning.
            let trials = at(m, "trials.test_accuracy.values").as_array().expect("trial accuracies");
            assert_eq!(trials.len(), 3, "{name}: {trials:?}");
            assert_eq!(trials[0].as_f64(), Some(number(m, "test_accuracy")), "{name}: trial 0 is the run");
            assert!(number(m, "trials.test_accuracy.min") >= 0.9, "{name}: {}", m["trials"]);
        }
        "prune_lab" => {
            // The 5x fewer non-zero weights (80% sparse) model, fine-tuned, within a point of dense.
            let (dense, pruned) =
                (number(m, "digits.baseline_accuracy"), number(m, "digits.five_x.accuracy_finetuned"));
            assert!(pruned >= dense - 0.01, "{name}: {pruned} vs dense {dense}");
        }
        "mcu_deploy" => {
            for model in ["digits_cnn", "mbv2_w035"] {
                let trials = at(m, &format!("{model}.trials.int8_engine_accuracy.values")).as_array().expect("trials");
                assert_eq!(trials.len(), 3, "{name}: {model} {trials:?}");
                assert_eq!(trials[0].as_f64(), Some(number(m, &format!("{model}.int8_engine_accuracy"))));
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
        "mlperf_tiny" => {
            for model in ["kws", "ic", "vww", "ad"] {
                assert_eq!(m[model]["params_equal_reference"], true, "{name}: {model} parameter count");
                let d = &m[model]["deployment"];
                assert_eq!(d["host"]["mismatching_outputs"], 0, "{name}: {model} host");
                for target in ["cortex_m4", "cortex_m7"] {
                    let mismatches = &d[target]["mismatching_outputs"];
                    if !mismatches.is_null() || std::env::var_os("TINYLAB_REQUIRE_TOOLCHAINS").is_some() {
                        assert_eq!(mismatches, 0, "{name}: {model} {target}");
                    }
                }
            }
            // The three trained models learn even in the quick form: IC (chance 10%) and KWS (chance 1/12) well above chance,
            // AD's int8 autoencoder separates faulty clips from normal ones.
            assert!(number(m, "ic.quality.int8") >= IC_QUICK_MIN, "{name}: {}", m["ic"]["quality"]);
            assert!(number(m, "kws.quality.int8") >= KWS_QUICK_MIN, "{name}: {}", m["kws"]["quality"]);
            assert!(number(m, "ad.quality.int8") >= AD_QUICK_MIN, "{name}: {}", m["ad"]["quality"]);
        }
        "mcunet" => {
            for b in at(m, "budgets").as_array().expect("budgets") {
                let budget = &b["budget"]["name"];
                let d = &b["deployment"];
                // The searched network fits its budget (cost model and the exported plan) and the host
                // C build gives the Rust engine's bytes on every test image.
                assert_eq!(d["fits_budget"], true, "{name}: {budget} {d}");
                assert!(number(d, "predicted.peak_sram_bytes") <= number(b, "budget.sram_bytes"), "{name}: {budget}");
                assert!(number(d, "predicted.flash_bytes") <= number(b, "budget.flash_bytes"), "{name}: {budget}");
                assert_eq!(d["host"]["mismatching_outputs"], 0, "{name}: {budget} host");
                assert_eq!(d["host"]["accuracy"], d["host"]["engine_accuracy"], "{name}: {budget} host accuracy");
                for target in ["cortex_m4", "cortex_m7"] {
                    if !d[target].is_null() {
                        assert_eq!(d[target]["mismatching_outputs"], 0, "{name}: {budget} {target}");
                    }
                }
                let accuracy = number(d, "int8_engine_test_accuracy");
                assert!(accuracy >= MCUNET_QUICK_MIN, "{name}: {budget} int8 accuracy {accuracy}");
                // The predictor's held-out rank correlation is reported (its value is not a claim at
                // this scale).
                let tau = number(b, "predictor.kendall_tau");
                assert!((-1.0..=1.0).contains(&tau), "{name}: {budget} tau {tau}");
            }
        }
        "mcu_kernels" if !at(m, "end_to_end").is_null() => {
            // The DSP kernels beat the portable ones end to end on every model and both targets, and
            // the in-place depthwise convolutions are no slower than the out-of-place ones.
            let rows = at(m, "end_to_end").as_array().expect("end_to_end rows");
            let per = |model: &str, target: &str, kernels: &str| {
                rows.iter()
                    .find(|r| r["model"] == model && r["target"] == target && r["kernels"] == kernels)
                    .and_then(|r| r["instructions_per_mac"].as_f64())
                    .unwrap_or_else(|| panic!("{name}: no {model} {target} {kernels} row"))
            };
            for model in ["mbv2_w035", "digits_cnn", "ds_cnn_kws"] {
                for target in ["cortex-m4", "cortex-m7"] {
                    let (portable, dsp) = (per(model, target, "portable"), per(model, target, "dsp"));
                    assert!(dsp < portable, "{name}: {model} on {target}: dsp {dsp} vs portable {portable}");
                }
            }
            for row in at(m, "depthwise_in_place_vs_out_of_place").as_array().expect("in-place rows") {
                if row["kernels"] == "dsp" {
                    assert_eq!(row["in_place_no_slower"], true, "{name}: {row}");
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
        "llm_quant" => {
            // Quick form, seed 3 (seed 7 in brackets), fp32 2.7014 (2.7033) bpc. Outlier model (3
            // channels of every norm output x50, float bpc change 9e-8): naive W8A8 +0.032 (+0.015),
            // SmoothQuant alpha 0.5 +0.0005 (+0.0008). Int4 g32: RTN +0.006 (+0.012), AWQ +0.012
            // (+0.004), GPTQ +0.009 (+0.005): at this scale AWQ and GPTQ do not beat RTN reliably, so
            // that is not asserted. KV int8 -0.0001 (+0.0001), int4 +0.005 (+0.003).
            let fp32 = number(m, "methods.fp32.bpc");
            assert!(number(m, "outlier.fp32_bpc_change").abs() < 1e-4, "{name}: {}", m["outlier"]);
            let (naive, smooth) = (number(m, "outlier.w8a8_bpc"), number(m, "outlier.smoothquant_w8a8_bpc"));
            assert!(
                naive > smooth + 0.008 && smooth < fp32 + 0.003,
                "{name}: naive {naive}, smooth {smooth}, fp32 {fp32}"
            );
            for key in ["w8a8", "smoothquant_w8a8", "kv_int8"] {
                let b = number(m, &format!("methods.{key}.bpc"));
                assert!((b - fp32).abs() < 0.003, "{name}: {key} {b} vs fp32 {fp32}");
            }
            for key in ["int4_rtn", "int4_awq", "int4_gptq", "kv_int4"] {
                let b = number(m, &format!("methods.{key}.bpc"));
                assert!(b < fp32 + 0.03, "{name}: {key} {b} vs fp32 {fp32}");
            }
            let bytes = |k: &str| number(m, &format!("methods.{k}.bytes"));
            assert!(bytes("int4_gptq") < bytes("w8a8") && bytes("w8a8") * 3.0 < bytes("fp32"), "{name}: bytes");
        }
        "llm_prune" => {
            // Quick form, seed 3 (seed 7 in brackets): dense 2.945 (2.952) bpc, 2.924 (2.933) after the
            // control fine-tune. Global magnitude pruning, fine-tuned with masks held: 50% +0.009
            // (-0.010), 70% +0.16 (+0.13), 90% +0.68 (+0.65). Half the MLP channels removed, fine-tuned:
            // +0.025 (+0.015). 4-bit per-channel weights: RTN 2.954 (2.955), fine-tune then RTN 2.945
            // (2.945), QAT 2.933 (2.939).
            let dense_ft = number(m, "dense_finetuned_bpc");
            let rows = at(m, "unstructured").as_array().expect("unstructured rows");
            let field = |r: &serde_json::Value, k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k} in {r}"));
            for r in rows {
                assert_eq!(field(r, "sparsity_after_fine_tune"), field(r, "sparsity"), "{name}: masks held");
            }
            assert!(rows.windows(2).all(|w| field(&w[0], "oneshot_bpc") < field(&w[1], "oneshot_bpc")), "{name}");
            assert!((field(&rows[1], "finetuned_bpc") - dense_ft).abs() < 0.02, "{name}: 50% sparse {}", rows[1]);
            assert!(field(&rows[3], "finetuned_bpc") < field(&rows[3], "oneshot_bpc") - 0.2, "{name}: {}", rows[3]);
            for key in ["heads", "mlp_channels", "both"] {
                let rows = at(m, &format!("structured.{key}")).as_array().expect("structured rows");
                assert_eq!(field(&rows[0], "oneshot_bpc"), number(m, "dense_bpc"), "{name}: {key} keeps all at 1.0");
                for k in ["parameters", "linear_macs_per_token"] {
                    assert!(rows.windows(2).all(|w| field(&w[1], k) < field(&w[0], k)), "{name}: {key} {k}");
                }
                for r in &rows[1..] {
                    assert!(field(r, "finetuned_bpc") < field(r, "oneshot_bpc"), "{name}: {key} {r}");
                }
            }
            let half_mlp = &at(m, "structured.mlp_channels").as_array().expect("rows")[2];
            assert!(field(half_mlp, "finetuned_bpc") < dense_ft + 0.05, "{name}: {half_mlp}");
            let w = at(m, "weights_4bit");
            let (rtn, ft_rtn, qat) = (field(w, "ptq_rtn_bpc"), field(w, "finetune_then_rtn_bpc"), field(w, "qat_bpc"));
            assert_eq!(qat, field(w, "qat_fake_quant_bpc"), "{name}: baking keeps the fake-quantized function");
            assert!(qat < rtn - 0.005 && qat < ft_rtn, "{name}: QAT {qat}, RTN {rtn}, fine-tune then RTN {ft_rtn}");
        }
        "char_gpt" => {
            // Even the quick form learns more than character frequencies: below the unigram model's
            // bits per character on the held-out text, and far below its own start.
            let (start, end, unigram) =
                (number(m, "initial_val_bpc"), number(m, "final_val_bpc"), number(m, "unigram_val_bpc"));
            assert!(end < unigram - 0.5 && end < start - 2.0, "{name}: {start} -> {end} (unigram {unigram})");
            let samples = at(m, "samples").as_array().expect("samples");
            assert_eq!(samples.len(), 3, "{name}");
        }
        "long_context" => {
            // The dense cache with absolute positions stops at the training context; the evicting
            // caches (positions within the cache) stream all 8 contexts. At this scale attention sinks
            // do not matter: past the context, window attention and StreamingLLM are within 0.05 bits
            // per character of recomputing over the last C tokens (seed 3: recompute 2.938, window
            // 2.938, 4 sinks + window 2.945; seed 7: 2.998, 2.997, 3.013) -- no collapse of window
            // attention, which the paper sees in LLMs trained with a fixed first token.
            let c = number(m, "context");
            assert_eq!(number(m, "dense_cache_positions"), c, "{name}");
            let past = |k: &str| number(m, &format!("mean_bpc_past_context.{k}"));
            let reference = past("dense_recompute");
            for method in ["window", "streaming_llm"] {
                assert!(
                    (past(method) - reference).abs() < 0.05,
                    "{name}: {method} {} vs recompute {reference}",
                    past(method)
                );
                let buckets = at(m, &format!("bucket_bpc.{method}")).as_array().expect("buckets");
                assert_eq!(buckets.len(), 16, "{name}: {method}");
            }
            // The model learned something: well below uniform guessing (about 6 bits) on held-out text.
            assert!(number(m, "val_bpc") < 3.5 && reference < 3.5, "{name}: {}", m["val_bpc"]);
        }
        "token_pruning" => {
            // SpAtten's claim: pruning tokens by cumulative attention keeps the accuracy where keeping
            // random tokens loses it. At a quarter of the tokens in the last layer (a cascade 32 -> 16
            // -> 8), quick seed 3 measured 0.945 unpruned, 0.945 SpAtten, 0.849 random (seeds 7 and 1:
            // 0.938 / 0.938 / 0.854 and 0.891 / 0.891 / 0.862).
            let (dense, spatten, random) = (
                number(m, "unpruned_accuracy"),
                number(m, "spatten_accuracy_at_headline"),
                number(m, "random_accuracy_at_headline"),
            );
            assert_eq!(number(m, "headline_fraction"), 0.25, "{name}");
            assert!(dense > 0.8, "{name}: unpruned {dense}");
            assert!(spatten >= dense - 0.02 && spatten >= random + 0.05, "{name}: {dense} / {spatten} / {random}");
            assert_eq!(number(m, "prune_forward_unpruned_accuracy"), dense, "{name}: the pruned pass at keep 1");
        }
        _ => {}
    }
}

/// The pinned quick-form metrics (seed 3) of every experiment and the machine they were made on.
const PINNED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/experiments/quick_seed3.json");

/// Set to rewrite [`PINNED`] from this run (on purpose, after a change that moves the numbers).
const UPDATE_ENV: &str = "TINYLAB_UPDATE_FIXTURES";

/// Metrics that the installed C toolchain decides (sizes of the ELF, qemu's instruction counts).
const TOOLCHAIN_FIGURES: [&str; 11] = [
    "flash_bytes",
    "text",
    "data",
    "bss",
    "instructions_per_inference",
    "instructions_per_mac",
    "instructions",
    "depthwise_instructions_in_place",
    "depthwise_instructions_out_of_place",
    "in_place_over_out_of_place",
    "mbv2_cortex_m4_dsp_instructions_per_mac",
];

/// What decides the bits of the float results besides the code: the CPU model, the SIMD paths the
/// kernels pick at run time (the `gemm` crate and the statevector kernels use FMA when present) and
/// the cache sizes (the `gemm` crate blocks the summation over `k` by them). Results are
/// bit-identical across thread counts on any machine, and across machines with the same signature.
fn machine_signature() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown", str::trim)
        .to_string();
    let caches: Vec<String> = (0..4)
        .filter_map(|i| std::fs::read_to_string(format!("/sys/devices/system/cpu/cpu0/cache/index{i}/size")).ok())
        .map(|s| s.trim().to_string())
        .collect();
    #[cfg(target_arch = "x86_64")]
    let features: Vec<&str> = [
        ("avx2", std::arch::is_x86_feature_detected!("avx2")),
        ("fma", std::arch::is_x86_feature_detected!("fma")),
        ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    #[cfg(not(target_arch = "x86_64"))]
    let features: Vec<&str> = Vec::new();
    serde_json::json!({"arch": std::env::consts::ARCH, "cpu": model, "features": features, "caches": caches})
}

/// Where `a` and `b` differ: the first path whose value differs, with a relative numeric tolerance
/// (`None` for equality up to JSON's float parsing).
fn first_difference(
    a: &serde_json::Value,
    b: &serde_json::Value,
    tolerance: Option<f64>,
    path: &str,
) -> Option<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                // What the ARM compiler and qemu make of the C (code size, instruction counts) moves
                // with their versions, not with ours: compared loosely everywhere.
                (Some(u), Some(v)) if TOOLCHAIN_FIGURES.contains(&k.as_str()) => {
                    first_difference(u, v, Some(0.05), &format!("{path}.{k}"))
                }
                (Some(u), Some(v)) => first_difference(u, v, tolerance, &format!("{path}.{k}")),
                _ => Some(format!("{path}.{k}: present on one side only")),
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (u, v))| first_difference(u, v, tolerance, &format!("{path}[{i}]"))),
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            let off = (x - y).abs();
            let moved = match tolerance {
                Some(t) => off > t * x.abs().max(y.abs()).max(1.0),
                // serde_json's default float parser can be one unit in the last place off, so a
                // number read back from the fixture may differ by an ulp from the same bits read from
                // metrics.json: allow 4 ulps, nothing more.
                None => off > 4.0 * f64::EPSILON * x.abs().max(y.abs()),
            };
            (moved || off.is_nan() && x.to_bits() != y.to_bits()).then(|| format!("{path}: {x} vs pinned {y}"))
        }
        _ => (a != b).then(|| format!("{path}: {a} vs pinned {b}")),
    }
}

/// Compares this run's quick-form metrics with the pinned ones: bit for bit on a machine with the
/// fixture's signature, else to a loose tolerance (training amplifies rounding differences). With
/// [`UPDATE_ENV`] set it writes the fixture instead.
fn check_pinned(all: &serde_json::Map<String, serde_json::Value>) {
    let here = machine_signature();
    if std::env::var_os(UPDATE_ENV).is_some() {
        let fixture = serde_json::json!({"machine": here, "seed": 3, "metrics": all});
        std::fs::create_dir_all(Path::new(PINNED).parent().unwrap()).unwrap();
        std::fs::write(PINNED, serde_json::to_string_pretty(&fixture).unwrap() + "\n").unwrap();
        eprintln!("wrote {PINNED}");
        return;
    }
    let text =
        std::fs::read_to_string(PINNED).unwrap_or_else(|e| panic!("{PINNED}: {e} (set {UPDATE_ENV}=1 to make it)"));
    let pinned: serde_json::Value = serde_json::from_str(&text).expect("pinned metrics are JSON");
    let same_machine = pinned["machine"] == here;
    let tolerance = if same_machine { None } else { Some(0.05) };
    eprintln!(
        "pinned metrics: comparing {} (this machine {here}, fixture made on {})",
        if same_machine { "bit for bit" } else { "to 5% (another machine signature)" },
        pinned["machine"]
    );
    let arm = tinylab_mcu_export::toolchain::available(tinylab_mcu_export::target::Target::CortexM4);
    for (name, metrics) in all {
        if (name == "mcu_deploy" || name == "mlperf_tiny" || name == "mcu_kernels") && !arm {
            // Their Cortex-M figures exist only with the ARM toolchain (CI requires it).
            eprintln!("pinned metrics: {name} not compared (no ARM toolchain and qemu here)");
            continue;
        }
        let expected = &pinned["metrics"][name];
        assert!(!expected.is_null(), "{name} has no pinned metrics: set {UPDATE_ENV}=1 and commit {PINNED}");
        if let Some(diff) = first_difference(metrics, expected, tolerance, name) {
            panic!(
                "{diff}: the quick-form metrics moved; if on purpose, rerun with {UPDATE_ENV}=1 and commit {PINNED}"
            );
        }
    }
}

fn scratch(name: &str, tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tinylab-exp-{}-{name}-{tag}", std::process::id()))
}

/// Each experiment writes config, metrics, report and PNG+SVG plots, reruns reproduce its metrics,
/// and the metrics are the pinned ones.
#[test]
fn every_experiment_is_reproducible_and_writes_its_files() {
    let mut all = serde_json::Map::new();
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
        all.insert(name.to_string(), first);
    }
    check_pinned(&all);
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
