//! One corpus of int8 layers and models (`tests/fixtures/int8_corpus`, see its README) run through
//! every int8 engine, byte for byte:
//!
//! - the Rust engine ([`Int8Model::run_quantized`]) against the exact i128 reference
//!   ([`tinylab_classical::int8::reference::forward`]), on all of a case's inputs as one batch, one
//!   sample at a time, and repeated to a batch of 64;
//! - the generated C built with the host gcc (the portable kernels), and
//! - the generated C built with arm-none-eabi-gcc (the DSP kernels, SXTB16 / SMLAD) and run on an
//!   emulated Cortex-M4 (qemu, mps2-an386) and an emulated Cortex-M7 (mps2-an500),
//!   all against the Rust engine.
//!
//! The C runners batch: every case (under each of its planners) is exported, its `model.c` renamed to
//! `case_<k>.c` with `model_invoke` renamed to `case_<k>_invoke`, and one image per rounding policy
//! calls them all from one `model_invoke` whose input and output are the cases' inputs and outputs
//! laid end to end; the standard driver (`main.c`) and test data then run every case's sample `i` as
//! the image's sample `i`. So the corpus costs two builds and two boots per C engine, whatever its
//! size. Cases the C export cannot lower (a concatenation) say so in their file (`c_export_rule`);
//! the runners check the exporter refuses exactly those, and count and print them as skipped by rule.
//!
//! Every runner prints the cases it ran, the skipped ones, and the worst mismatch (bytes of one
//! output that differ): it must be 0.

// The per-engine counts go to stderr (shown with --nocapture).
#![allow(clippy::print_stderr)]

#[path = "int8_corpus/generate.rs"]
mod generate;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tinylab_classical::int8::{Int8Model, RoundingPolicy, reference};
use tinylab_mcu_export::ExportError;
use tinylab_mcu_export::codegen::generate;
use tinylab_mcu_export::export::{plan_for_board, plan_for_board_with};
use tinylab_mcu_export::graph::McuGraph;
use tinylab_mcu_export::harness::{self, write_main, write_testdata};
use tinylab_mcu_export::kernels::Kernels;
use tinylab_mcu_export::plan::Planner;
use tinylab_mcu_export::target::{Board, Target, write_target_files};
use tinylab_mcu_export::toolchain;

/// The corpus must not shrink below this many cases unnoticed.
const MIN_CASES: usize = 20;

/// The batch of the Rust engine's many-sample run (the inputs repeated).
const BIG_BATCH: usize = 64;

/// One case file: `<name>.json` beside the model checkpoint it names.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaseFile {
    /// The case's name (the file's stem).
    pub name: String,
    /// What it exercises.
    pub description: String,
    /// File name of the model, an `int8_model.v2` checkpoint ([`Int8Model::save`]) in the same
    /// directory.
    pub model: String,
    /// The memory planners the C engines export it with (`greedy`, `inplace`, `patch:G`, ...).
    pub planners: Vec<String>,
    /// `None` when the C export lowers the model; otherwise a phrase of the exporter's
    /// "unsupported" error: the C engines skip the case by this rule, and the runner checks the
    /// exporter does refuse it.
    pub c_export_rule: Option<String>,
    /// The test inputs: one sample each, NCHW int8 as lowercase hex (two digits per byte, two's
    /// complement), already quantized with the model's input parameters.
    pub inputs_hex: Vec<String>,
}

/// A loaded case.
struct Case {
    file: CaseFile,
    model: Int8Model,
    inputs: Vec<Vec<i8>>,
}

/// Lowercase hex of bytes (the driver's format).
pub fn to_hex(bytes: &[i8]) -> String {
    harness::to_hex(bytes)
}

fn from_hex(hex: &str, what: &str) -> Vec<i8> {
    assert!(hex.len().is_multiple_of(2) && hex.is_ascii(), "{what}: odd or non-ASCII hex");
    (0..hex.len() / 2)
        .map(|k| u8::from_str_radix(&hex[2 * k..2 * k + 2], 16).unwrap_or_else(|e| panic!("{what}: {e}")) as i8)
        .collect()
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/int8_corpus")
}

/// Every case of the corpus, by name; checks each file names itself, its inputs fit the model.
fn load_corpus() -> Vec<Case> {
    let dir = corpus_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let cases: Vec<Case> = paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            let file: CaseFile =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not a case file: {e}", path.display()));
            assert_eq!(Some(file.name.as_str()), path.file_stem().and_then(|s| s.to_str()), "{}", path.display());
            let model = Int8Model::load(&dir.join(&file.model)).unwrap_or_else(|e| panic!("{}: {e}", file.name));
            let [c, h, w] = model.input_shape();
            let inputs: Vec<Vec<i8>> = file.inputs_hex.iter().map(|x| from_hex(x, &file.name)).collect();
            assert!(!inputs.is_empty(), "{}: no inputs", file.name);
            assert!(inputs.iter().all(|x| x.len() == c * h * w), "{}: inputs must have {} bytes", file.name, c * h * w);
            assert!(!file.planners.is_empty(), "{}: no planner", file.name);
            Case { file, model, inputs }
        })
        .collect();
    assert!(cases.len() >= MIN_CASES, "the corpus has {} cases, fewer than {MIN_CASES}", cases.len());
    cases
}

/// Bytes at which `a` and `b` differ (a length difference counts every missing byte).
fn mismatched_bytes(a: &[i8], b: &[i8]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count() + a.len().abs_diff(b.len())
}

/// The Rust engine's output of one sample (batch 1).
fn engine_output(model: &Int8Model, x: &[i8]) -> tinylab_classical::int8::QuantizedOutput {
    let [c, h, w] = model.input_shape();
    model.run_quantized(x, [1, c, h, w]).unwrap()
}

/// Prints one engine pair's summary and fails on any mismatching byte.
fn report(pair: &str, ran: usize, runs: usize, skipped: &[String], worst: (usize, String)) {
    eprintln!(
        "{pair}: {ran} cases ({runs} runs), {} skipped by rule {:?}, worst mismatch {} bytes{}",
        skipped.len(),
        skipped,
        worst.0,
        if worst.0 > 0 { format!(" ({})", worst.1) } else { String::new() }
    );
    assert_eq!(worst.0, 0, "{pair}: {} mismatching bytes in {}", worst.0, worst.1);
}

#[test]
fn rust_engine_equals_the_i128_reference() {
    let t = Instant::now();
    let cases = load_corpus();
    let mut worst = (0, String::new());
    let mut runs = 0;
    for case in &cases {
        let name = &case.file.name;
        let [c, h, w] = case.model.input_shape();
        let n = case.inputs.len();
        let batch: Vec<i8> = case.inputs.concat();
        let engine = case.model.run_quantized(&batch, [n, c, h, w]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let oracle = reference::forward(&case.model, &batch, [n, c, h, w]).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(engine.shape, oracle.shape, "{name}");
        let mut consider = |bad: usize, what: String| {
            if bad > worst.0 {
                worst = (bad, what);
            }
        };
        consider(mismatched_bytes(&engine.data, &oracle.data), format!("{name}, batch of {n}"));
        // One sample at a time: the batch-1 path (the MCU's) agrees with the batch.
        let per = engine.data.len() / n;
        for (i, x) in case.inputs.iter().enumerate() {
            let one = engine_output(&case.model, x);
            consider(mismatched_bytes(&one.data, &oracle.data[i * per..(i + 1) * per]), format!("{name}, sample {i}"));
        }
        // A large batch (the inputs repeated): the engine's parallel and many-row paths.
        let big: Vec<i8> = batch.repeat(BIG_BATCH / n);
        let m = n * (BIG_BATCH / n);
        let engine_big = case.model.run_quantized(&big, [m, c, h, w]).unwrap_or_else(|e| panic!("{name}: {e}"));
        consider(mismatched_bytes(&engine_big.data, &oracle.data.repeat(m / n)), format!("{name}, batch of {m}"));
        runs += 2 + n;
    }
    report("rust engine vs i128 reference", cases.len(), runs, &[], worst);
    eprintln!("({:.2} s)", t.elapsed().as_secs_f64());
}

/// One exported case under one planner, ready to batch.
struct Lowered {
    label: String,
    model_h: String,
    model_c: String,
    kernels_c: String,
    inputs: Vec<Vec<i8>>,
    expected: Vec<Vec<i8>>,
}

/// Lowers every case of the corpus under each of its planners for `kernels`, grouped by rounding
/// policy; returns the groups, the number of cases lowered and the names of those skipped by rule
/// (after checking the exporter refuses exactly the cases whose file says it will).
fn lower_corpus(
    cases: &[Case],
    board: &Board,
    kernels: Kernels,
) -> (BTreeMap<&'static str, Vec<Lowered>>, usize, Vec<String>) {
    let mut groups: BTreeMap<&'static str, Vec<Lowered>> = BTreeMap::new();
    let mut skipped = Vec::new();
    let mut lowered = 0;
    for case in cases {
        let name = &case.file.name;
        let graph = match (McuGraph::from_int8(&case.model), &case.file.c_export_rule) {
            (Ok(g), None) => g,
            (Err(ExportError::Unsupported { layer, why }), Some(rule)) => {
                assert!(why.contains(rule.as_str()), "{name}: refused for `{why}` (layer {layer}), not `{rule}`");
                skipped.push(name.clone());
                continue;
            }
            (Ok(_), Some(rule)) => panic!("{name}: says the C export refuses it ({rule}) but it lowers"),
            (Err(e), _) => panic!("{name}: {e}"),
        };
        lowered += 1;
        let inputs: Vec<Vec<i8>> = case.inputs.iter().map(|x| graph.engine_input_to_c(x).unwrap()).collect();
        let expected: Vec<Vec<i8>> =
            case.inputs.iter().map(|x| graph.engine_output_to_c(&engine_output(&case.model, x)).unwrap()).collect();
        for planner in &case.file.planners {
            let p: Planner = planner.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
            let plan =
                plan_for_board_with(&graph, p, kernels, board).unwrap_or_else(|e| panic!("{name} ({planner}): {e}"));
            let g = generate(&graph, &plan).unwrap_or_else(|e| panic!("{name} ({planner}): {e}"));
            let policy = match graph.policy {
                RoundingPolicy::DoubleRounding => "double",
                RoundingPolicy::SingleRounding => "single",
            };
            groups.entry(policy).or_default().push(Lowered {
                label: format!("{name} ({planner})"),
                model_h: g.model_h,
                model_c: g.model_c,
                kernels_c: g.kernels_c,
                inputs: inputs.clone(),
                expected: expected.clone(),
            });
        }
    }
    (groups, lowered, skipped)
}

/// Writes one image of `cases` (all of one rounding policy) into `dir`: `case_<k>.{c,h}`, the
/// dispatching `model.{c,h}`, the kernels, driver, test data (image sample `i` = every case's
/// sample `i`, or its last one when it has fewer) and the target's build files. Returns each case's
/// output offset.
fn write_batch(dir: &Path, cases: &[Lowered], target: Target, board: &Board) -> Vec<usize> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let mut model_c =
        String::from("/* All cases of the int8 corpus, one after the other. */\n#include \"model.h\"\n\n");
    let mut body = String::new();
    let (mut in_off, mut out_off) = (0, 0);
    let mut offsets = Vec::new();
    for (k, case) in cases.iter().enumerate() {
        let renamed = |text: &str| text.replace("model_invoke", &format!("case_{k}_invoke"));
        assert_eq!(case.model_c.matches("model_invoke").count(), 1, "{}", case.label);
        let c = renamed(&case.model_c).replace("#include \"model.h\"", &format!("#include \"case_{k}.h\""));
        std::fs::write(dir.join(format!("case_{k}.c")), c).unwrap();
        std::fs::write(dir.join(format!("case_{k}.h")), renamed(&case.model_h)).unwrap();
        let _ = writeln!(model_c, "int case_{k}_invoke(const int8_t *input, int8_t *output); /* {} */", case.label);
        let _ = writeln!(body, "    rc |= case_{k}_invoke(input + {in_off}, output + {out_off});");
        offsets.push(out_off);
        in_off += case.inputs[0].len();
        out_off += case.expected[0].len();
    }
    let _ = write!(
        model_c,
        "\nint model_invoke(const int8_t *input, int8_t *output)\n{{\n    int rc = 0;\n{body}    return rc;\n}}\n"
    );
    let model_h = format!(
        "#ifndef TL_MODEL_H\n#define TL_MODEL_H\n#include <stdint.h>\n#define TL_INPUT_SIZE {in_off}\n\
         #define TL_OUTPUT_SIZE {out_off}\nint model_invoke(const int8_t *input, int8_t *output);\n#endif\n"
    );
    std::fs::write(dir.join("model.c"), model_c).unwrap();
    std::fs::write(dir.join("model.h"), model_h).unwrap();
    std::fs::write(dir.join("tl_kernels.h"), tinylab_mcu_export::KERNELS_H).unwrap();
    assert!(cases.windows(2).all(|w| w[0].kernels_c == w[1].kernels_c), "one rounding policy per image");
    std::fs::write(dir.join("tl_kernels.c"), &cases[0].kernels_c).unwrap();
    let samples = cases.iter().map(|c| c.inputs.len()).max().unwrap_or(0);
    let sample = |rows: &[Vec<i8>], i: usize| rows[i.min(rows.len() - 1)].clone();
    let inputs: Vec<Vec<i8>> =
        (0..samples).map(|i| cases.iter().flat_map(|c| sample(&c.inputs, i)).collect()).collect();
    let expected: Vec<Vec<i8>> =
        (0..samples).map(|i| cases.iter().flat_map(|c| sample(&c.expected, i)).collect()).collect();
    write_main(dir).unwrap();
    write_testdata(dir, &inputs, &expected).unwrap();
    write_target_files(dir, target, board).unwrap();
    offsets
}

/// Builds and runs the corpus on `target` with its kernels (one image per rounding policy) and
/// compares every case's output bytes with the Rust engine's.
fn c_engine_equals_the_rust_engine(target: Target) {
    if !toolchain::available_or_skip(target, &format!("the int8 corpus on {target}")) {
        return;
    }
    let t = Instant::now();
    let cases = load_corpus();
    let board = Board::qemu(target);
    let kernels = Kernels::for_target(target);
    let (groups, lowered, skipped) = lower_corpus(&cases, &board, kernels);
    assert!(!skipped.is_empty(), "the corpus should hold a case the C export refuses (a concatenation)");
    let mut worst = (0, String::new());
    let mut runs = 0;
    for (policy, group) in &groups {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("int8-corpus-{target}-{policy}"));
        let offsets = write_batch(&dir, group, target, &board);
        let built = Instant::now();
        let program = toolchain::build(&dir, target).unwrap();
        let build_s = built.elapsed().as_secs_f64();
        let run = toolchain::run(&program, target).unwrap();
        eprintln!(
            "{target} ({kernels} kernels), {policy} rounding: {} case runs in one image, build {build_s:.1} s, run {:.2} s",
            group.len(),
            run.wall.as_secs_f64()
        );
        assert!(run.errors.is_empty(), "{:?}", run.errors);
        for (k, case) in group.iter().enumerate() {
            let len = case.expected[0].len();
            for (i, want) in case.expected.iter().enumerate() {
                let got = &run.outputs[i][offsets[k]..offsets[k] + len];
                let bad = mismatched_bytes(got, want);
                if bad > worst.0 {
                    worst = (bad, format!("{}, sample {i}", case.label));
                }
            }
            runs += 1;
        }
        assert_eq!(run.mismatches, 0, "the driver counted mismatching samples");
        std::fs::remove_dir_all(&dir).ok();
    }
    report(&format!("generated C on {target} ({kernels} kernels) vs rust engine"), lowered, runs, &skipped, worst);
    eprintln!("({:.2} s)", t.elapsed().as_secs_f64());
}

#[test]
fn generated_c_on_the_host_equals_the_rust_engine() {
    c_engine_equals_the_rust_engine(Target::Host);
}

#[test]
fn generated_c_on_an_emulated_cortex_m4_equals_the_rust_engine() {
    c_engine_equals_the_rust_engine(Target::CortexM4);
}

#[test]
fn generated_c_on_an_emulated_cortex_m7_equals_the_rust_engine() {
    c_engine_equals_the_rust_engine(Target::CortexM7);
}

/// Regression: a model whose kernel calls take no view (here fully connected layers only) got the
/// static `tl_view_at` helper anyway, and its export failed to build under -Werror
/// (-Wunused-function). The corpus case `fc_input_zp_max` found it; the helper is now emitted only
/// where a call uses it.
#[test]
fn the_view_helper_is_emitted_only_where_used() {
    let cases = load_corpus();
    let model_c = |name: &str| {
        let case = cases.iter().find(|c| c.file.name == name).unwrap();
        let graph = McuGraph::from_int8(&case.model).unwrap();
        let plan = plan_for_board(&graph, Planner::InPlace, &Board::default()).unwrap();
        generate(&graph, &plan).unwrap().model_c
    };
    assert!(!model_c("fc_input_zp_max").contains("tl_view_at"));
    assert_eq!(model_c("conv3x3_pad1_relu").matches("static tl_view tl_view_at(").count(), 1);
}

/// Rewrites the corpus (see the fixture directory's README).
#[test]
#[ignore = "writes the corpus files; run on purpose"]
fn write_int8_corpus() {
    generate::write_corpus(&corpus_dir());
    let n = load_corpus().len();
    eprintln!("wrote {n} cases to {}", corpus_dir().display());
}
