//! The NAS cost model against the exporter: for random sub-networks of the tiny search space, what
//! `McuCostModel` computes from the architecture alone equals what exporting the standalone int8
//! network reports (flash bytes, arena and peak SRAM, MACs), under every planner and kernel set; and
//! the latency table measured under qemu predicts whole networks.
// Measured numbers and skip notes go to stderr (shown with --nocapture).
#![allow(clippy::print_stderr)]

use proptest::prelude::*;
use std::path::PathBuf;
use std::time::Instant;
use tinylab_classical::nas::{CostModel, SearchSpace};
use tinylab_classical::tensor::rng;
use tinylab_mcu_export::export::{ExportOptions, export};
use tinylab_mcu_export::kernels::Kernels;
use tinylab_mcu_export::nas::measure::{MeasureOptions, check_archs, covering_archs, measure_table, validate};
use tinylab_mcu_export::nas::{LatencyTable, McuCostModel, arch_graph, int8_standalone};
use tinylab_mcu_export::plan::Planner;
use tinylab_mcu_export::target::{Board, Target};
use tinylab_mcu_export::toolchain;

const PLANNERS: [Planner; 4] = [
    Planner::Greedy,
    Planner::InPlace,
    Planner::Patch { grid: 2, stage_ops: None },
    Planner::Patch { grid: 4, stage_ops: Some(1) },
];

fn fresh_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("nas-cost-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]
    /// The property: cost counts equal the mcu-export plan of the extracted model.
    #[test]
    fn costs_equal_the_export_report(seed in 0u64..10_000, wide in any::<bool>()) {
        let space = SearchSpace::tiny(if wide { 0.5 } else { 0.25 }, 32, 1, 10).unwrap();
        let arch = space.sample(&mut rng(seed));
        let model = int8_standalone(&space, &arch, seed).unwrap();
        let dir = fresh_dir(&format!("prop-{seed}-{wide}"));
        for planner in PLANNERS {
            for kernels in [Kernels::Portable, Kernels::Dsp] {
                let cost = McuCostModel::new(planner, kernels, Board::default()).cost(&space, &arch).unwrap();
                let board = Board::default();
                let opts = ExportOptions { planner, target: Target::Host, board, kernels: Some(kernels) };
                let report = export(&model, &dir, &opts, None).unwrap();
                let external = if report.external_input { report.input_bytes } else { 0 };
                let what = format!("{planner} {kernels} {}", arch.key());
                prop_assert_eq!(cost.flash_bytes, report.constant_bytes as u64, "{}", what);
                prop_assert_eq!(cost.peak_sram_bytes, (report.arena_bytes + external) as u64, "{}", what);
                prop_assert_eq!(cost.macs, report.macs as u64, "{}", what);
                prop_assert!(cost.latency_instructions.is_none());
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn cheaper_choices_cost_less_and_the_board_bounds_the_search() {
    let space = SearchSpace::tiny(0.5, 32, 1, 10).unwrap();
    let m = McuCostModel::new(Planner::InPlace, Kernels::Dsp, Board::new(64 * 1024, 256 * 1024).unwrap());
    let small = m.cost(&space, &space.smallest()).unwrap();
    let large = m.cost(&space, &space.largest()).unwrap();
    assert!(small.macs < large.macs && small.params < large.params && small.flash_bytes < large.flash_bytes);
    assert!(small.peak_sram_bytes <= large.peak_sram_bytes);
    let c = m.board_constraints();
    assert_eq!(c.max_sram_bytes, Some(64 * 1024 - 12 * 1024));
    assert_eq!(c.max_flash_bytes, Some(256 * 1024));
    assert!(c.admits(&small));
    // The patch planner never needs more SRAM than the in-place one here (MCUNetV2's point).
    let patch = McuCostModel::new(Planner::Patch { grid: 2, stage_ops: None }, Kernels::Dsp, Board::default());
    assert!(patch.cost(&space, &space.largest()).unwrap().peak_sram_bytes <= large.peak_sram_bytes);
    // Bad input is an error, not a panic.
    let mut bad = space.smallest();
    bad.blocks[0][0].kernel = 4;
    assert!(m.cost(&space, &bad).is_err());
    let grid = McuCostModel::new(Planner::Patch { grid: 64, stage_ops: None }, Kernels::Dsp, Board::default());
    assert!(grid.cost(&space, &space.smallest()).unwrap_err().to_string().contains("64x64"));
}

/// Cost-model evaluations per second on random sub-networks (the search's inner loop); run with
/// `cargo test -p tinylab-mcu-export --test nas_cost -- --ignored --nocapture throughput` (the test
/// profile is optimised, opt-level 2).
#[test]
#[ignore = "timing"]
fn throughput() {
    for (name, space) in [
        ("tiny 0.5 @32", SearchSpace::tiny(0.5, 32, 1, 10).unwrap()),
        ("mcunet 0.35 @96", SearchSpace::mcunet(0.35, 96, 3, 10).unwrap()),
    ] {
        let archs: Vec<_> = {
            let mut r = rng(7);
            (0..500).map(|_| space.sample(&mut r)).collect()
        };
        for planner in [Planner::Greedy, Planner::InPlace, Planner::Patch { grid: 4, stage_ops: None }] {
            let m = McuCostModel::new(planner, Kernels::Dsp, Board::default());
            // Warm-up (allocator, caches), then the timed pass.
            for a in archs.iter().take(20) {
                m.cost(&space, a).unwrap();
            }
            let t = Instant::now();
            let mut sram = 0;
            for a in &archs {
                sram += m.cost(&space, a).unwrap().peak_sram_bytes;
            }
            let per_s = archs.len() as f64 / t.elapsed().as_secs_f64();
            eprintln!("{name} {planner}: {per_s:.0} evaluations/s (mean peak SRAM {} B)", sram / archs.len() as u64);
        }
        // The full int8 pipeline, for comparison (what an evaluation would cost without arch_graph).
        let t = Instant::now();
        for a in archs.iter().take(10) {
            let g = tinylab_mcu_export::graph::McuGraph::from_int8(&int8_standalone(&space, a, 0).unwrap()).unwrap();
            let _ = tinylab_mcu_export::plan::plan_with(&g, Planner::InPlace, Kernels::Dsp).unwrap();
        }
        eprintln!("{name} via int8 conversion: {:.1} evaluations/s", 10.0 / t.elapsed().as_secs_f64());
    }
    // With a latency table (made-up counts for every key of the space: this times the lookup).
    let space = SearchSpace::tiny(0.5, 32, 1, 10).unwrap();
    let mut entries = std::collections::BTreeMap::new();
    for arch in covering_archs(&space) {
        let g = arch_graph(&space, &arch).unwrap();
        let plan = tinylab_mcu_export::plan::plan_with(&g, Planner::InPlace, Kernels::Dsp).unwrap();
        for i in 0..g.ops.len() {
            entries.insert(tinylab_mcu_export::nas::OpKey::of(&g, &plan, i).unwrap(), 1);
        }
    }
    let table = LatencyTable { target: Target::CortexM4, kernels: Kernels::Dsp, base_instructions: 0, entries };
    let m = McuCostModel::new(Planner::InPlace, Kernels::Dsp, Board::default()).with_latency(table).unwrap();
    let mut r = rng(8);
    let archs: Vec<_> = (0..500).map(|_| space.sample(&mut r)).collect();
    let t = Instant::now();
    for a in &archs {
        assert!(m.cost(&space, a).unwrap().latency_instructions.is_some());
    }
    eprintln!("tiny 0.5 @32 inplace with latency: {:.0} evaluations/s", 500.0 / t.elapsed().as_secs_f64());
}

fn tiny_space() -> SearchSpace {
    SearchSpace::tiny(0.25, 32, 1, 10).unwrap()
}

/// A table from one covering network predicts that network within a fraction of a percent (the only
/// differences: ops of one key averaged, the base), and refuses a network with shapes it lacks.
#[test]
fn a_measured_table_predicts_its_own_network() {
    if !toolchain::available_or_skip(Target::CortexM4, "a_measured_table_predicts_its_own_network") {
        return;
    }
    let space = tiny_space();
    let mut opts = MeasureOptions::cortex_m4(fresh_dir("own"), 5);
    opts.planners = vec![Planner::InPlace];
    let arch = covering_archs(&space)[0].clone();
    let t = Instant::now();
    let table = measure_table(&space, std::slice::from_ref(&arch), &opts).unwrap();
    let model =
        McuCostModel::new(Planner::InPlace, Kernels::Dsp, Board::default()).with_latency(table.clone()).unwrap();
    let predicted = model.cost(&space, &arch).unwrap().latency_instructions.unwrap();
    // The network measured whole (a plain build, other weights) against the prediction.
    let check = check_archs(&space, &table, Planner::InPlace, std::slice::from_ref(&arch), 9, &opts).unwrap();
    assert_eq!(check[0].predicted, predicted);
    eprintln!(
        "own network: predicted {predicted}, measured {}, error {:+.4}%",
        check[0].measured,
        100.0 * check[0].relative_error
    );
    assert!(check[0].relative_error.abs() < 0.005, "{check:?}");
    eprintln!(
        "table of {} entries, base {} instructions, measured in {:.1?}",
        table.entries.len(),
        table.base_instructions,
        t.elapsed()
    );
    let round = LatencyTable::from_json(&table.to_json().unwrap()).unwrap();
    assert_eq!(round, table);
    // Another network has kernel sizes this one lacks.
    let other = covering_archs(&space)[8].clone();
    let err = model.cost(&space, &other).unwrap_err().to_string();
    assert!(err.contains("no entry for op"), "{err}");
}

/// The measurement: the table from the covering networks, its error on 20 random
/// sub-networks measured whole, under the in-place and the greedy plan. Writes the table and the
/// errors to `$TINYLAB_NAS_LATENCY_OUT` when set.
#[test]
#[ignore = "about 50 qemu builds: minutes"]
fn latency_table_error_on_20_random_subnetworks() {
    if !toolchain::available_or_skip(Target::CortexM4, "latency_table_error_on_20_random_subnetworks") {
        return;
    }
    let space = tiny_space();
    let opts = MeasureOptions::cortex_m4(fresh_dir("twenty"), 11);
    let t = Instant::now();
    let table = measure_table(&space, &covering_archs(&space), &opts).unwrap();
    eprintln!("table: {} entries, base {}, {:.1?}", table.entries.len(), table.base_instructions, t.elapsed());
    let mut report = serde_json::Map::new();
    let mut worst = 0.0f64;
    for planner in [Planner::InPlace, Planner::Greedy] {
        let checks = validate(&space, &table, planner, 20, 2024, &opts).unwrap();
        assert_eq!(checks.len(), 20);
        let errs: Vec<f64> = checks.iter().map(|c| c.relative_error.abs()).collect();
        let mean = errs.iter().sum::<f64>() / errs.len() as f64;
        let max = errs.iter().copied().fold(0.0, f64::max);
        for c in &checks {
            eprintln!(
                "{planner} {} predicted {} measured {} error {:+.4}%",
                c.arch,
                c.predicted,
                c.measured,
                100.0 * c.relative_error
            );
        }
        eprintln!(
            "{planner}: mean |error| {:.4}%, max {:.4}% over {} sub-networks",
            100.0 * mean,
            100.0 * max,
            checks.len()
        );
        report.insert(
            planner.to_string(),
            serde_json::json!({"checks": checks, "mean_abs_relative_error": mean, "max_abs_relative_error": max}),
        );
        worst = worst.max(max);
    }
    eprintln!("{:.1?} in all", t.elapsed());
    if let Ok(out) = std::env::var("TINYLAB_NAS_LATENCY_OUT") {
        let out = PathBuf::from(out);
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("latency_table.json"), table.to_json().unwrap()).unwrap();
        std::fs::write(out.join("latency_errors.json"), serde_json::to_string_pretty(&report).unwrap()).unwrap();
    }
    assert!(worst < 0.01, "max error {worst}");
}
