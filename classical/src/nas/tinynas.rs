//! TinyNAS' first stage (Lin et al., "MCUNet: Tiny Deep Learning on IoT Devices", NeurIPS 2020,
//! section 3.1): choose the search space (width multiplier and input resolution) before searching in
//! it. For each candidate space, sample sub-networks uniformly, keep those the memory constraint
//! admits, and look at the distribution of their MACs: a space whose satisfying models compute more
//! is more likely to hold accurate ones under the same memory, so it wins.
//!
//! The rule is MCUNet's heuristic; [`SpaceCriterion`] says which statistic decides: the mean MACs of
//! the satisfying models (the default, the comparison of MCUNet's figure 3 text) or their MACs at a
//! fixed CDF quantile. Each [`SpaceReport`] carries the empirical CDF points for plotting.

use super::build::standalone;
use super::cost::{ArchCost, Constraints, CostModel};
use super::space::{ArchConfig, SearchSpace};
use crate::error::{Result, arg_err};
use crate::graph;
use crate::tensor::rng;
use serde::{Deserialize, Serialize};

/// Where a sub-network's MACs come from.
#[derive(Clone, Copy)]
pub enum MacsSource<'a> {
    /// [`ArchCost::macs`] of the cost model (already computed for the constraint check).
    CostModel,
    /// [`graph_macs`]: the traced standalone network (stem and classifier included).
    Graph,
    /// A caller's function.
    Custom(&'a dyn Fn(&SearchSpace, &ArchConfig) -> Result<u64>),
}

/// The statistic of the satisfying models' MACs that ranks spaces.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum SpaceCriterion {
    /// Their mean MACs.
    MeanMacs,
    /// Their MACs at CDF quantile `q` in `(0, 1]` (the smallest value with at least a `q` share of
    /// the satisfying models at or below it).
    QuantileMacs(f64),
}

/// Settings of [`choose_space`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TinyNasConfig {
    /// Sub-networks sampled per space.
    pub samples: usize,
    /// Seed; space `i` samples with `seed::derive(seed, &[i])`.
    pub seed: u64,
    /// What ranks the spaces.
    pub criterion: SpaceCriterion,
}

/// One point of an empirical CDF: a share `fraction` of the satisfying models has at most `macs`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CdfPoint {
    /// MACs.
    pub macs: u64,
    /// Share of satisfying models with at most `macs` MACs.
    pub fraction: f64,
}

/// What sampling one candidate space found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpaceReport {
    /// The space's width multiplier.
    pub width: f32,
    /// The space's input resolution.
    pub resolution: usize,
    /// Sub-networks sampled.
    pub sampled: usize,
    /// Sub-networks the constraints admitted.
    pub satisfying: usize,
    /// Mean MACs of the satisfying ones (`None` when none satisfied).
    pub mean_macs: Option<f64>,
    /// The criterion's statistic (`None` when none satisfied).
    pub score: Option<f64>,
    /// Empirical CDF of the satisfying models' MACs: one point per distinct value, ascending.
    pub cdf: Vec<CdfPoint>,
}

/// The outcome of [`choose_space`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TinyNasReport {
    /// One report per candidate space, in the order given.
    pub spaces: Vec<SpaceReport>,
    /// Index of the chosen space (the highest score; the first of equals).
    pub chosen: usize,
    /// The criterion used.
    pub criterion: SpaceCriterion,
}

/// The candidate spaces of a width x resolution grid, made by `make(width, resolution)` (e.g.
/// `|w, r| SearchSpace::tiny(w, r, 1, 10)`), widths outermost.
pub fn grid(
    widths: &[f32],
    resolutions: &[usize],
    make: &dyn Fn(f32, usize) -> Result<SearchSpace>,
) -> Result<Vec<SearchSpace>> {
    widths.iter().flat_map(|&w| resolutions.iter().map(move |&r| make(w, r))).collect()
}

/// MACs of `arch`'s standalone network ([`standalone`]) as [`graph::cost`] counts them.
pub fn graph_macs(space: &SearchSpace, arch: &ArchConfig) -> Result<u64> {
    let mut net = standalone(space, arch, 0)?;
    let g = graph::trace(&mut net, &[space.in_channels, space.resolution, space.resolution])?;
    Ok(graph::cost(&g).macs)
}

/// Samples every space, keeps the sub-networks `constraints` admit under `cost_model`, and picks the
/// space whose satisfying models score highest under `cfg.criterion`. Fails on no spaces, zero
/// samples, a quantile outside `(0, 1]`, or when no space has a satisfying model.
pub fn choose_space(
    spaces: &[SearchSpace],
    cost_model: &dyn CostModel,
    constraints: &Constraints,
    macs: MacsSource<'_>,
    cfg: &TinyNasConfig,
) -> Result<TinyNasReport> {
    let op = "tinynas::choose_space";
    if spaces.is_empty() || cfg.samples == 0 {
        return Err(arg_err(op, format!("needs spaces ({}) and samples ({}) above zero", spaces.len(), cfg.samples)));
    }
    if let SpaceCriterion::QuantileMacs(q) = cfg.criterion
        && !(q > 0.0 && q <= 1.0)
    {
        return Err(arg_err(op, format!("quantile {q} is not in (0, 1]")));
    }
    let mut reports = Vec::with_capacity(spaces.len());
    for (i, space) in spaces.iter().enumerate() {
        let mut r = rng(crate::seed::derive(cfg.seed, &[i as u64]));
        let mut values = Vec::new();
        for _ in 0..cfg.samples {
            let arch = space.sample(&mut r);
            let cost = cost_model.cost(space, &arch)?;
            if constraints.admits(&cost) {
                values.push(macs_of(macs, space, &arch, &cost)?);
            }
        }
        reports.push(report(space, cfg.samples, values, cfg.criterion));
    }
    let chosen = reports
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.score.map(|s| (i, s)))
        .fold(None, |best: Option<(usize, f64)>, (i, s)| match best {
            Some((_, b)) if b >= s => best,
            _ => Some((i, s)),
        })
        .map(|(i, _)| i)
        .ok_or_else(|| arg_err(op, format!("no sampled model of any space satisfies {constraints:?}")))?;
    Ok(TinyNasReport { spaces: reports, chosen, criterion: cfg.criterion })
}

fn macs_of(source: MacsSource<'_>, space: &SearchSpace, arch: &ArchConfig, cost: &ArchCost) -> Result<u64> {
    match source {
        MacsSource::CostModel => Ok(cost.macs),
        MacsSource::Graph => graph_macs(space, arch),
        MacsSource::Custom(f) => f(space, arch),
    }
}

/// The report of one space from the MACs of its satisfying samples.
fn report(space: &SearchSpace, sampled: usize, mut values: Vec<u64>, criterion: SpaceCriterion) -> SpaceReport {
    values.sort_unstable();
    let n = values.len();
    let mean_macs = (n > 0).then(|| values.iter().map(|&v| v as f64).sum::<f64>() / n as f64);
    let score = match criterion {
        SpaceCriterion::MeanMacs => mean_macs,
        SpaceCriterion::QuantileMacs(q) => (n > 0).then(|| values[quantile_index(n, q)] as f64),
    };
    let mut cdf: Vec<CdfPoint> = Vec::new();
    for (i, &v) in values.iter().enumerate() {
        let fraction = (i + 1) as f64 / n as f64;
        match cdf.last_mut() {
            Some(p) if p.macs == v => p.fraction = fraction,
            _ => cdf.push(CdfPoint { macs: v, fraction }),
        }
    }
    SpaceReport { width: space.width, resolution: space.resolution, sampled, satisfying: n, mean_macs, score, cdf }
}

/// The index of the empirical `q` quantile of `n` sorted values: the smallest `i` with
/// `(i + 1) / n >= q`.
fn quantile_index(n: usize, q: f64) -> usize {
    ((q * n as f64).ceil() as usize).clamp(1, n) - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nas::testing::ClosedFormCost;

    fn tiny(w: f32, r: usize) -> Result<SearchSpace> {
        SearchSpace::tiny(w, r, 1, 10)
    }

    #[test]
    fn quantiles_and_cdf_follow_their_definitions() {
        // Sorted values 10, 20, 20, 40: the 0.5 quantile is 20, 0.25 is 10, 0.8 and 1.0 are 40.
        let values = vec![40, 20, 10, 20];
        assert_eq!(quantile_index(4, 0.25), 0);
        assert_eq!(quantile_index(4, 0.5), 1);
        assert_eq!(quantile_index(4, 0.8), 3);
        assert_eq!(quantile_index(4, 1.0), 3);
        let space = tiny(0.5, 32).unwrap();
        let r = report(&space, 9, values, SpaceCriterion::QuantileMacs(0.5));
        assert_eq!(r.score, Some(20.0));
        assert_eq!(r.mean_macs, Some(22.5));
        let cdf: Vec<(u64, f64)> = r.cdf.iter().map(|p| (p.macs, p.fraction)).collect();
        assert_eq!(cdf, vec![(10, 0.25), (20, 0.75), (40, 1.0)]);
        let empty = report(&space, 9, Vec::new(), SpaceCriterion::MeanMacs);
        assert_eq!((empty.satisfying, empty.score, empty.cdf.len()), (0, None, 0));
    }

    /// Without a budget every sample satisfies and MACs grow with width and resolution, so the
    /// largest space wins; under a tight SRAM budget the largest space admits no model.
    #[test]
    fn the_space_with_the_most_computation_under_the_budget_wins() {
        let spaces = grid(&[0.5, 1.0], &[32, 48], &tiny).unwrap();
        let cfg = TinyNasConfig { samples: 200, seed: 4, criterion: SpaceCriterion::MeanMacs };
        let free =
            choose_space(&spaces, &ClosedFormCost, &Constraints::default(), MacsSource::CostModel, &cfg).unwrap();
        assert_eq!(free.chosen, 3);
        assert!(free.spaces.iter().all(|r| r.satisfying == 200 && r.cdf.last().unwrap().fraction == 1.0));
        // A budget just below the smallest peak SRAM of the largest space (its smallest config, every
        // expand ratio at 3, has the least): that space admits nothing, the others some.
        let floor = ClosedFormCost.cost(&spaces[3], &spaces[3].smallest()).unwrap().peak_sram_bytes;
        let budget = Constraints { max_sram_bytes: Some(floor - 1), ..Constraints::default() };
        let tight = choose_space(&spaces, &ClosedFormCost, &budget, MacsSource::CostModel, &cfg).unwrap();
        // The chosen space has the largest mean among the spaces with satisfying models.
        let best = tight.spaces.iter().filter_map(|r| r.mean_macs).fold(f64::MIN, f64::max);
        assert_eq!(tight.spaces[tight.chosen].mean_macs, Some(best));
        assert_eq!(tight.spaces[3].satisfying, 0);
        assert!(tight.spaces[0].satisfying > 0);
        assert_ne!(tight.chosen, 3);
        assert_eq!(choose_space(&spaces, &ClosedFormCost, &budget, MacsSource::CostModel, &cfg).unwrap(), tight);
    }

    /// The graph count is the closed form of the elastic blocks plus a part every sub-network shares:
    /// the stem `(r/2)^2 * stem * 9`, the first block's depthwise `(r/2)^2 * stem * 9` and projection
    /// `(r/2)^2 * stem * first`, and the classifier `features * classes`.
    #[test]
    fn graph_macs_are_the_block_closed_form_plus_the_fixed_stem_and_head() {
        let space = tiny(0.5, 32).unwrap();
        let hw = 16 * 16;
        let fixed = (hw * space.stem_out() * 9 * 2
            + hw * space.stem_out() * space.first_block_out()
            + space.feature_channels() * space.classes) as u64;
        let mut r = rng(9);
        for arch in [space.smallest(), space.largest(), space.sample(&mut r)] {
            let blocks = ClosedFormCost.cost(&space, &arch).unwrap().macs;
            assert_eq!(graph_macs(&space, &arch).unwrap(), blocks + fixed, "{}", arch.key());
        }
        let custom = |_: &SearchSpace, _: &ArchConfig| Ok(7);
        let cfg = TinyNasConfig { samples: 3, seed: 0, criterion: SpaceCriterion::QuantileMacs(0.9) };
        let one = [space.clone()];
        let rep =
            choose_space(&one, &ClosedFormCost, &Constraints::default(), MacsSource::Custom(&custom), &cfg).unwrap();
        assert_eq!(rep.spaces[0].score, Some(7.0));
        let rep = choose_space(&one, &ClosedFormCost, &Constraints::default(), MacsSource::Graph, &cfg).unwrap();
        assert_eq!(rep.spaces[0].satisfying, 3);
    }

    #[test]
    fn bad_settings_and_impossible_budgets_are_errors() {
        let spaces = grid(&[0.5], &[32], &tiny).unwrap();
        let cfg = TinyNasConfig { samples: 10, seed: 0, criterion: SpaceCriterion::QuantileMacs(1.5) };
        let free = Constraints::default();
        let e = choose_space(&spaces, &ClosedFormCost, &free, MacsSource::CostModel, &cfg).unwrap_err().to_string();
        assert!(e.contains("quantile 1.5"), "{e}");
        let cfg = TinyNasConfig { criterion: SpaceCriterion::MeanMacs, ..cfg };
        assert!(choose_space(&[], &ClosedFormCost, &free, MacsSource::CostModel, &cfg).is_err());
        let none = Constraints { max_sram_bytes: Some(1), ..free };
        let e = choose_space(&spaces, &ClosedFormCost, &none, MacsSource::CostModel, &cfg).unwrap_err().to_string();
        assert!(e.contains("no sampled model"), "{e}");
        assert!(grid(&[0.5], &[4], &tiny).is_err());
    }
}
