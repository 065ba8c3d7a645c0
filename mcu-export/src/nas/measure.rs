//! Measuring a [`LatencyTable`] on the emulated Cortex-M, and its error against whole networks.
//!
//! [`covering_archs`] picks a few sub-networks of a space that together hold every op shape the space
//! can produce; [`measure_table`] exports each as a profiling build ([`crate::harness`]), runs it
//! under qemu ([`crate::toolchain::build_and_profile`]) and records every op's instructions (the mean
//! where several ops share a key), and the invoke's instructions outside the ops from a plain build
//! of the same network. [`validate`] measures random sub-networks whole (a plain build: the driver's
//! total count) and compares with the table's prediction. [`load_or_measure`] caches a table as JSON
//! (under `results/`, say) and measures again only when the cache misses a key of the space
//! ([`covers`]). Every measured run's outputs are checked byte for byte against the Rust int8
//! engine. Runs are sequential; counts are deterministic (`-icount`), so results do not depend on
//! scheduling.

use super::latency::{LatencyTable, OpKey};
use super::lower::{arch_graph, int8_standalone};
use crate::error::{Result, arg_err, io_err};
use crate::export::{ExportOptions, Samples, export_graph};
use crate::graph::McuGraph;
use crate::harness::write_profile_driver;
use crate::kernels::Kernels;
use crate::plan::{Planner, plan_with};
use crate::target::{Board, Target};
use crate::toolchain;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tinylab_classical::nas::{ArchConfig, BlockChoice, SearchSpace};
use tinylab_classical::tensor::{randn, rng};

/// Where and how to measure.
#[derive(Clone, Debug, PartialEq)]
pub struct MeasureOptions {
    /// The emulated board (a Cortex-M).
    pub target: Target,
    /// The kernels measured.
    pub kernels: Kernels,
    /// The per-layer planners whose ops the table covers (in-place and greedy differ in which
    /// depthwise kernels run).
    pub planners: Vec<Planner>,
    /// A directory for the build trees (each removed once measured).
    pub work_dir: PathBuf,
    /// Seed of the networks' weights, calibration and test images.
    pub seed: u64,
}

impl MeasureOptions {
    /// The setting: Cortex-M4 (mps2-an386), DSP kernels, in-place and greedy plans.
    pub fn cortex_m4(work_dir: impl Into<PathBuf>, seed: u64) -> Self {
        Self {
            target: Target::CortexM4,
            kernels: Kernels::Dsp,
            planners: vec![Planner::InPlace, Planner::Greedy],
            work_dir: work_dir.into(),
            seed,
        }
    }

    fn check(&self) -> Result<()> {
        if !self.target.is_cortex_m() {
            return Err(arg_err(
                "latency measurement",
                format!("target {}: instruction counts need a Cortex-M", self.target),
            ));
        }
        if self.planners.is_empty() {
            return Err(arg_err("latency measurement", "no planner to measure"));
        }
        for &p in &self.planners {
            if matches!(p, Planner::Patch { .. }) {
                return Err(arg_err("latency measurement", format!("planner {p}: tables cover per-layer plans only")));
            }
        }
        Ok(())
    }
}

/// Sub-networks that hold every op shape of `space` (under a per-layer plan), one per (kernel,
/// expand) choice: every stage at full depth; network `j` gives every stage's first block (whose
/// input comes from the stage before) the `j`-th choice and the later blocks (all of one shape within
/// a stage) the next choices in turn, so across the networks both see every choice. The stem, the
/// fixed first block, the head and the classifier have one shape and are in every network.
pub fn covering_archs(space: &SearchSpace) -> Vec<ArchConfig> {
    let choices: Vec<BlockChoice> = space
        .kernels
        .iter()
        .flat_map(|&kernel| space.expands.iter().map(move |&expand| BlockChoice { kernel, expand }))
        .collect();
    let n = choices.len();
    let later = space.max_depth() - 1;
    (0..n)
        .map(|j| {
            let mut arch = space.uniform(space.max_depth(), choices[0].kernel, choices[0].expand);
            for stage in &mut arch.blocks {
                stage[0] = choices[j % n];
                for (b, slot) in stage.iter_mut().enumerate().skip(1) {
                    *slot = choices[(j * later + b - 1) % n];
                }
            }
            arch
        })
        .collect()
}

/// One exported, int8-converted sub-network with its test sample.
struct Prepared {
    graph: McuGraph,
    samples: Samples,
}

fn prepare(space: &SearchSpace, arch: &ArchConfig, seed: u64) -> Result<Prepared> {
    let model = int8_standalone(space, arch, seed)?;
    let graph = McuGraph::from_int8(&model)?;
    let r = space.resolution;
    let x = randn(&[1, space.in_channels, r, r], 1.0, &mut rng(seed.wrapping_add(2)));
    let samples = Samples::from_engine(&model, &graph, &x)?;
    Ok(Prepared { graph, samples })
}

fn export_options(opts: &MeasureOptions, planner: Planner) -> ExportOptions {
    ExportOptions { planner, target: opts.target, board: Board::qemu(opts.target), kernels: Some(opts.kernels) }
}

/// Per-op instructions of `p` under `planner` (a profiling build in `dir`, removed afterwards).
fn profile(p: &Prepared, opts: &MeasureOptions, planner: Planner, dir: &Path) -> Result<Vec<f64>> {
    export_graph(&p.graph, dir, &export_options(opts, planner), &p.samples)?;
    write_profile_driver(dir)?;
    let measured = toolchain::build_and_profile(dir, opts.target);
    std::fs::remove_dir_all(dir).map_err(io_err(dir))?;
    Ok(measured?.per_op)
}

/// Instructions of one whole invoke of `p` under `planner` (a plain build in `dir`, removed
/// afterwards): the driver's count, checked outputs.
fn whole(p: &Prepared, opts: &MeasureOptions, planner: Planner, dir: &Path) -> Result<u64> {
    export_graph(&p.graph, dir, &export_options(opts, planner), &p.samples)?;
    let run = toolchain::build(dir, opts.target).and_then(|elf| toolchain::run(&elf, opts.target));
    std::fs::remove_dir_all(dir).map_err(io_err(dir))?;
    let run = run?;
    if run.mismatches != 0 || !run.errors.is_empty() || run.instructions.is_empty() {
        return Err(arg_err(
            "latency measurement",
            format!("{}: {} mismatching samples, errors {:?}", dir.display(), run.mismatches, run.errors),
        ));
    }
    Ok(run.instructions.iter().sum::<u64>() / run.instructions.len() as u64)
}

/// Measures a table from `archs` (sub-networks of `space`, [`covering_archs`] usually): every op of
/// every network under every planner of `opts`, and the base (a whole invoke less its ops' sum,
/// averaged over the networks under the first planner).
pub fn measure_table(space: &SearchSpace, archs: &[ArchConfig], opts: &MeasureOptions) -> Result<LatencyTable> {
    opts.check()?;
    if archs.is_empty() {
        return Err(arg_err("measure_table", "no networks to measure"));
    }
    let mut sums: BTreeMap<OpKey, (f64, usize)> = BTreeMap::new();
    let mut base = 0.0;
    for (j, arch) in archs.iter().enumerate() {
        let p = prepare(space, arch, opts.seed.wrapping_add(j as u64))?;
        for (pi, &planner) in opts.planners.iter().enumerate() {
            let plan = plan_with(&p.graph, planner, opts.kernels)?;
            let dir = opts.work_dir.join(format!("table-{j}-{pi}"));
            let per_op = profile(&p, opts, planner, &dir)?;
            if per_op.len() != p.graph.ops.len() {
                return Err(arg_err(
                    "measure_table",
                    format!("{} op counts for {} ops", per_op.len(), p.graph.ops.len()),
                ));
            }
            for (i, &n) in per_op.iter().enumerate() {
                let e = sums.entry(OpKey::of(&p.graph, &plan, i)?).or_insert((0.0, 0));
                e.0 += n;
                e.1 += 1;
            }
            if pi == 0 {
                let total = whole(&p, opts, planner, &opts.work_dir.join(format!("table-{j}-whole")))?;
                base += total as f64 - per_op.iter().sum::<f64>();
            }
        }
    }
    Ok(LatencyTable {
        target: opts.target,
        kernels: opts.kernels,
        base_instructions: (base / archs.len() as f64).round().max(0.0) as u64,
        entries: sums.into_iter().map(|(k, (s, n))| (k, (s / n as f64).round() as u64)).collect(),
    })
}

/// Whether `table` holds every op shape of `space` under each of `planners` with `kernels`: every
/// key of the [`covering_archs`] (which hold every key of the space; computed from shapes alone).
pub fn covers(table: &LatencyTable, space: &SearchSpace, planners: &[Planner], kernels: Kernels) -> Result<bool> {
    if table.kernels != kernels {
        return Ok(false);
    }
    for arch in covering_archs(space) {
        let graph = arch_graph(space, &arch)?;
        for &planner in planners {
            let plan = plan_with(&graph, planner, kernels)?;
            for i in 0..graph.ops.len() {
                if !table.entries.contains_key(&OpKey::of(&graph, &plan, i)?) {
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

/// The table cached at `path` when it exists, was measured on `opts.target` and [`covers`] `space`
/// under `opts`; otherwise a table measured from `space`'s [`covering_archs`], written to `path`
/// (its directory created). A file that does not parse is an error, not silently replaced.
pub fn load_or_measure(path: &Path, space: &SearchSpace, opts: &MeasureOptions) -> Result<LatencyTable> {
    if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        let table = LatencyTable::from_json(&text)
            .map_err(|e| arg_err("latency table cache", format!("{}: {e}", path.display())))?;
        if table.target == opts.target && covers(&table, space, &opts.planners, opts.kernels)? {
            return Ok(table);
        }
    }
    let table = measure_table(space, &covering_archs(space), opts)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    std::fs::write(path, table.to_json()?).map_err(io_err(path))?;
    Ok(table)
}

/// A table's prediction for one sub-network against its whole measurement.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LatencyCheck {
    /// The sub-network ([`ArchConfig::key`]).
    pub arch: String,
    /// The table's instructions.
    pub predicted: u64,
    /// The driver's instructions of one invoke.
    pub measured: u64,
    /// `(predicted - measured) / measured`.
    pub relative_error: f64,
}

/// Measures `n` random sub-networks of `space` (drawn from `seed`) whole under `planner` and
/// compares each with `table`'s prediction: [`check_archs`] of [`SearchSpace::sample`]s.
pub fn validate(
    space: &SearchSpace,
    table: &LatencyTable,
    planner: Planner,
    n: usize,
    seed: u64,
    opts: &MeasureOptions,
) -> Result<Vec<LatencyCheck>> {
    let mut r = rng(seed);
    let archs: Vec<ArchConfig> = (0..n).map(|_| space.sample(&mut r)).collect();
    check_archs(space, table, planner, &archs, seed, opts)
}

/// Measures every one of `archs` whole under `planner` (weights from `seed + 1000 + j`) and
/// compares it with `table`'s prediction.
pub fn check_archs(
    space: &SearchSpace,
    table: &LatencyTable,
    planner: Planner,
    archs: &[ArchConfig],
    seed: u64,
    opts: &MeasureOptions,
) -> Result<Vec<LatencyCheck>> {
    opts.check()?;
    table.check_compatible(planner, opts.kernels)?;
    let mut out = Vec::with_capacity(archs.len());
    for (j, arch) in archs.iter().enumerate() {
        let p = prepare(space, arch, seed.wrapping_add(1000 + j as u64))?;
        let plan = plan_with(&p.graph, planner, opts.kernels)?;
        let predicted = table.predict(&p.graph, &plan)?;
        let measured = whole(&p, opts, planner, &opts.work_dir.join(format!("check-{j}")))?;
        let relative_error = (predicted as f64 - measured as f64) / measured.max(1) as f64;
        out.push(LatencyCheck { arch: arch.key(), predicted, measured, relative_error });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn keys(space: &SearchSpace, arch: &ArchConfig, planner: Planner) -> BTreeSet<OpKey> {
        let g = arch_graph(space, arch).unwrap();
        let plan = plan_with(&g, planner, Kernels::Dsp).unwrap();
        (0..g.ops.len()).map(|i| OpKey::of(&g, &plan, i).unwrap()).collect()
    }

    #[test]
    fn covering_networks_hold_every_key_of_random_ones() {
        for space in [SearchSpace::tiny(0.25, 32, 1, 10).unwrap(), SearchSpace::mcunet(0.35, 64, 3, 10).unwrap()] {
            let cover = covering_archs(&space);
            assert_eq!(cover.len(), space.kernels.len() * space.expands.len());
            for planner in [Planner::InPlace, Planner::Greedy] {
                let covered: BTreeSet<OpKey> = cover.iter().flat_map(|a| keys(&space, a, planner)).collect();
                let mut r = rng(3);
                for _ in 0..40 {
                    let arch = space.sample(&mut r);
                    let missing: Vec<_> = keys(&space, &arch, planner).difference(&covered).cloned().collect();
                    assert!(missing.is_empty(), "{planner} {}: {missing:?}", arch.key());
                }
            }
        }
    }

    #[test]
    fn measurement_options_are_checked() {
        let mut opts = MeasureOptions::cortex_m4(std::env::temp_dir(), 0);
        opts.check().unwrap();
        opts.planners.push(Planner::Patch { grid: 2, stage_ops: None });
        assert!(opts.check().unwrap_err().to_string().contains("per-layer"));
        opts.planners.clear();
        assert!(opts.check().is_err());
        let host = MeasureOptions { target: Target::Host, ..MeasureOptions::cortex_m4(std::env::temp_dir(), 0) };
        assert!(host.check().unwrap_err().to_string().contains("Cortex-M"));
        let space = SearchSpace::tiny(0.25, 32, 1, 10).unwrap();
        let good = MeasureOptions::cortex_m4(std::env::temp_dir(), 0);
        assert!(measure_table(&space, &[], &good).is_err());
    }

    #[test]
    fn a_cached_table_that_covers_the_space_is_loaded_without_measuring() {
        // A table holding every key of the covering networks (made-up counts): load_or_measure must
        // return it as stored (measuring would need qemu and give other numbers).
        let space = SearchSpace::tiny(0.25, 32, 1, 10).unwrap();
        let opts = MeasureOptions::cortex_m4(std::env::temp_dir(), 0);
        let mut entries = BTreeMap::new();
        for arch in covering_archs(&space) {
            let g = arch_graph(&space, &arch).unwrap();
            for &planner in &opts.planners {
                let plan = plan_with(&g, planner, Kernels::Dsp).unwrap();
                for i in 0..g.ops.len() {
                    entries.insert(OpKey::of(&g, &plan, i).unwrap(), 5);
                }
            }
        }
        let table = LatencyTable { target: Target::CortexM4, kernels: Kernels::Dsp, base_instructions: 1, entries };
        assert!(covers(&table, &space, &opts.planners, Kernels::Dsp).unwrap());
        assert!(!covers(&table, &space, &opts.planners, Kernels::Portable).unwrap());
        let wider = SearchSpace::tiny(0.5, 32, 1, 10).unwrap();
        assert!(!covers(&table, &wider, &opts.planners, Kernels::Dsp).unwrap());
        let dir = std::env::temp_dir().join(format!("tl-nas-cache-{}", std::process::id()));
        let path = dir.join("table.json");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&path, table.to_json().unwrap()).unwrap();
        assert_eq!(load_or_measure(&path, &space, &opts).unwrap(), table);
        std::fs::write(&path, "not json").unwrap();
        assert!(load_or_measure(&path, &space, &opts).unwrap_err().to_string().contains("table.json"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
