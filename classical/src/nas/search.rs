//! Searches over a [`SearchSpace`] under [`Constraints`]: once-for-all's evolutionary search (Cai et
//! al., ICLR 2020, section 3.3; the regularised evolution of Real et al., AAAI 2019, without ageing)
//! and random search as its baseline at an equal number of score evaluations.
//!
//! Both see the problem as a [`SearchProblem`]: the space, a [`CostModel`] and the constraints its
//! costs must satisfy. A candidate is proposed (sampled, mutated or crossed over) until the cost
//! model admits it; only admitted candidates are scored, by a caller's score function (an
//! [`AccuracyPredictor`](super::predictor::AccuracyPredictor), or measured accuracy). Cost queries are
//! not counted as evaluations; scores are. Every random choice follows from the seed, so a search is
//! a pure function of its inputs.

use super::cost::{ArchCost, Constraints, CostModel};
use super::space::{ArchConfig, SearchSpace};
use crate::error::{Result, arg_err};
use crate::tensor::rng;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::Rng;
use serde::{Deserialize, Serialize};

/// What a search optimises over: a space, the costs of its members and the budget they must meet.
#[derive(Clone, Copy)]
pub struct SearchProblem<'a> {
    /// The space candidates come from.
    pub space: &'a SearchSpace,
    /// The costs of candidates.
    pub cost_model: &'a dyn CostModel,
    /// The budget a candidate must meet to be scored.
    pub constraints: Constraints,
    /// Most proposals for one admitted candidate before the search gives up (the constraints may
    /// admit nothing).
    pub max_tries: usize,
}

/// Settings of [`evolution_search`] (defaults: OFA's population 100, parent ratio 0.25, mutation
/// probability 0.1 and mutation ratio 0.5, with 30 generations instead of 500).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvolutionConfig {
    /// Candidates per generation.
    pub population: usize,
    /// Share of the population kept as parents of the next generation (the best-scored).
    pub parents_fraction: f64,
    /// Probability that each depth and block slot is resampled when mutating.
    pub mutation_prob: f64,
    /// Share of the children made by mutating one parent; the rest cross over two.
    pub mutation_fraction: f64,
    /// Generations after the initial population.
    pub generations: usize,
    /// Seed of every proposal.
    pub seed: u64,
}

impl Default for EvolutionConfig {
    fn default() -> Self {
        Self {
            population: 100,
            parents_fraction: 0.25,
            mutation_prob: 0.1,
            mutation_fraction: 0.5,
            generations: 30,
            seed: 0,
        }
    }
}

impl EvolutionConfig {
    /// Parents kept per generation: `round(population * parents_fraction)`, at least 1.
    pub fn parents(&self) -> usize {
        ((self.population as f64 * self.parents_fraction).round() as usize).max(1)
    }

    /// Score evaluations the search makes: the initial population and every generation's children.
    pub fn evaluations(&self) -> usize {
        self.population + self.generations * self.population.saturating_sub(self.parents())
    }

    fn check(&self) -> Result<()> {
        let op = "EvolutionConfig";
        let unit = |p: f64| (0.0..=1.0).contains(&p);
        if self.population < 2 || self.parents() >= self.population {
            return Err(arg_err(
                op,
                format!(
                    "population {} with parents fraction {} must keep at least one parent and make a child",
                    self.population, self.parents_fraction
                ),
            ));
        }
        if !unit(self.parents_fraction) || !unit(self.mutation_prob) || !unit(self.mutation_fraction) {
            return Err(arg_err(
                op,
                format!(
                    "parents fraction {}, mutation probability {} and mutation fraction {} must lie in [0, 1]",
                    self.parents_fraction, self.mutation_prob, self.mutation_fraction
                ),
            ));
        }
        Ok(())
    }
}

/// The outcome of a search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// The best-scored admitted config.
    pub best: ArchConfig,
    /// Its score.
    pub score: f64,
    /// Its cost.
    pub cost: ArchCost,
    /// The best score so far after each score evaluation (non-decreasing; its length is the number
    /// of evaluations).
    pub history: Vec<f64>,
}

/// A scored, admitted candidate.
#[derive(Clone, Debug)]
struct Scored {
    arch: ArchConfig,
    cost: ArchCost,
    score: f64,
}

/// Scores candidates and keeps the best and the best-so-far history.
struct Tracker<'s> {
    score: &'s mut dyn FnMut(&ArchConfig) -> Result<f64>,
    best: Option<Scored>,
    history: Vec<f64>,
}

impl Tracker<'_> {
    fn evaluate(&mut self, arch: ArchConfig, cost: ArchCost) -> Result<Scored> {
        let score = (self.score)(&arch)?;
        if !score.is_finite() {
            return Err(arg_err("search", format!("score {score} of {} is not finite", arch.key())));
        }
        let s = Scored { arch, cost, score };
        if self.best.as_ref().is_none_or(|b| score > b.score) {
            self.best = Some(s.clone());
        }
        self.history.push(self.best.as_ref().expect("set above").score);
        Ok(s)
    }

    fn finish(self) -> Result<SearchResult> {
        let best = self.best.ok_or_else(|| arg_err("search", "no candidate was evaluated"))?;
        Ok(SearchResult { best: best.arch, score: best.score, cost: best.cost, history: self.history })
    }
}

impl SearchProblem<'_> {
    /// The first of up to `max_tries` proposals the constraints admit, with its cost.
    fn admitted(
        &self,
        rng: &mut ChaCha8Rng,
        mut propose: impl FnMut(&mut ChaCha8Rng) -> ArchConfig,
    ) -> Result<(ArchConfig, ArchCost)> {
        for _ in 0..self.max_tries {
            let arch = propose(rng);
            let cost = self.cost_model.cost(self.space, &arch)?;
            if self.constraints.admits(&cost) {
                return Ok((arch, cost));
            }
        }
        Err(arg_err(
            "search",
            format!("no admitted config in {} proposals under {:?}", self.max_tries, self.constraints),
        ))
    }

    fn check(&self) -> Result<()> {
        if self.max_tries == 0 {
            return Err(arg_err("search", "max_tries must be positive"));
        }
        Ok(())
    }
}

/// Once-for-all's evolutionary search: a population of admitted random configs, then per generation
/// the best `parents()` survive and the rest is refilled with admitted children, a
/// `mutation_fraction` share by [`SearchSpace::mutate`] of a random parent, the others by
/// [`SearchSpace::crossover`] of two. Makes exactly [`EvolutionConfig::evaluations`] score calls.
pub fn evolution_search(
    problem: &SearchProblem<'_>,
    score: &mut dyn FnMut(&ArchConfig) -> Result<f64>,
    cfg: &EvolutionConfig,
) -> Result<SearchResult> {
    problem.check()?;
    cfg.check()?;
    let space = problem.space;
    let mut r = rng(cfg.seed);
    let mut tracker = Tracker { score, best: None, history: Vec::with_capacity(cfg.evaluations()) };
    let mut population = Vec::with_capacity(cfg.population);
    for _ in 0..cfg.population {
        let (arch, cost) = problem.admitted(&mut r, |r| space.sample(r))?;
        population.push(tracker.evaluate(arch, cost)?);
    }
    let parents = cfg.parents();
    let children = cfg.population - parents;
    let mutants = (children as f64 * cfg.mutation_fraction).round() as usize;
    for _ in 0..cfg.generations {
        // Stable sort: equal scores keep their order, so the result does not depend on the sort.
        population.sort_by(|a, b| b.score.total_cmp(&a.score));
        population.truncate(parents);
        let mut next = Vec::with_capacity(children);
        for c in 0..children {
            let (arch, cost) = if c < mutants {
                let p = &population[index(&mut r, parents)].arch;
                problem.admitted(&mut r, |r| space.mutate(p, cfg.mutation_prob, r))?
            } else {
                let a = &population[index(&mut r, parents)].arch;
                let b = &population[index(&mut r, parents)].arch;
                problem.admitted(&mut r, |r| space.crossover(a, b, r))?
            };
            next.push(tracker.evaluate(arch, cost)?);
        }
        population.extend(next);
    }
    tracker.finish()
}

/// Random search: `evaluations` admitted uniform samples ([`SearchSpace::sample`]), each scored once.
pub fn random_search(
    problem: &SearchProblem<'_>,
    score: &mut dyn FnMut(&ArchConfig) -> Result<f64>,
    evaluations: usize,
    seed: u64,
) -> Result<SearchResult> {
    problem.check()?;
    if evaluations == 0 {
        return Err(arg_err("random_search", "needs at least one evaluation"));
    }
    let mut r = rng(seed);
    let mut tracker = Tracker { score, best: None, history: Vec::with_capacity(evaluations) };
    for _ in 0..evaluations {
        let (arch, cost) = problem.admitted(&mut r, |r| problem.space.sample(r))?;
        tracker.evaluate(arch, cost)?;
    }
    tracker.finish()
}

fn index(r: &mut ChaCha8Rng, n: usize) -> usize {
    (r.next_u64() % n as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nas::testing::{ClosedFormCost, synthetic_score};
    use std::cell::RefCell;
    use std::time::Instant;

    fn problem<'a>(space: &'a SearchSpace, cost: &'a ClosedFormCost, constraints: Constraints) -> SearchProblem<'a> {
        SearchProblem { space, cost_model: cost, constraints, max_tries: 10_000 }
    }

    /// A budget that admits roughly the smaller half of the space.
    fn constraints(space: &SearchSpace) -> Constraints {
        let c = ClosedFormCost.cost(space, &space.uniform(3, 5, 4)).unwrap();
        Constraints {
            max_sram_bytes: Some(c.peak_sram_bytes),
            max_latency_instructions: c.latency_instructions,
            ..Constraints::default()
        }
    }

    fn small_cfg(seed: u64) -> EvolutionConfig {
        EvolutionConfig { population: 20, generations: 8, seed, ..EvolutionConfig::default() }
    }

    #[test]
    fn every_evaluated_config_is_admitted_and_the_history_is_the_running_best() {
        let space = SearchSpace::tiny(0.5, 32, 1, 10).unwrap();
        let cons = constraints(&space);
        let p = problem(&space, &ClosedFormCost, cons);
        let seen = RefCell::new(Vec::new());
        let mut score = |a: &ArchConfig| {
            seen.borrow_mut().push(a.clone());
            Ok(synthetic_score(&space, a))
        };
        let cfg = small_cfg(3);
        let res = evolution_search(&p, &mut score, &cfg).unwrap();
        let seen = seen.into_inner();
        assert_eq!(seen.len(), cfg.evaluations());
        assert_eq!(res.history.len(), cfg.evaluations());
        for a in &seen {
            space.check(a).unwrap();
            assert!(cons.admits(&ClosedFormCost.cost(&space, a).unwrap()), "{}", a.key());
        }
        // The history is the running maximum of the scores in evaluation order.
        let mut best = f64::NEG_INFINITY;
        for (a, h) in seen.iter().zip(&res.history) {
            best = best.max(synthetic_score(&space, a));
            assert_eq!(*h, best);
        }
        assert_eq!(res.score, best);
        assert_eq!(res.cost, ClosedFormCost.cost(&space, &res.best).unwrap());
        assert!(cons.admits(&res.cost));
        let rnd = random_search(&p, &mut |a| Ok(synthetic_score(&space, a)), 50, 3).unwrap();
        assert!(cons.admits(&rnd.cost) && rnd.history.len() == 50);
    }

    #[test]
    #[allow(clippy::print_stderr)] // The scores and evaluations per second, for the record.
    fn evolution_beats_random_search_at_equal_evaluations_and_is_deterministic() {
        let space = SearchSpace::tiny(0.5, 32, 1, 10).unwrap();
        let p = problem(&space, &ClosedFormCost, constraints(&space));
        let mut score = |a: &ArchConfig| Ok(synthetic_score(&space, a));
        let (mut evo, mut rnd) = (0.0, 0.0);
        let seeds = 5;
        let start = Instant::now();
        let mut evaluations = 0;
        for seed in 0..seeds {
            let cfg = small_cfg(seed);
            let e = evolution_search(&p, &mut score, &cfg).unwrap();
            let r = random_search(&p, &mut score, cfg.evaluations(), seed).unwrap();
            evaluations += 2 * cfg.evaluations();
            evo += e.score / seeds as f64;
            rnd += r.score / seeds as f64;
        }
        eprintln!(
            "evolution {evo:.4} vs random {rnd:.4}; {:.0} evaluations/s (closed-form cost and score)",
            evaluations as f64 / start.elapsed().as_secs_f64()
        );
        assert!(evo > rnd, "evolution {evo} random {rnd}");
        let a = evolution_search(&p, &mut score, &small_cfg(7)).unwrap();
        let b = evolution_search(&p, &mut score, &small_cfg(7)).unwrap();
        assert_eq!(a, b);
        assert_eq!(random_search(&p, &mut score, 30, 7).unwrap(), random_search(&p, &mut score, 30, 7).unwrap());
    }

    /// The accuracy predictor as the score (the intended use), fitted to the synthetic score: both
    /// searches stay admitted, and the evaluation rate is printed (run with `--release -- --ignored
    /// --nocapture` for the number in the report).
    #[test]
    #[ignore = "timing"]
    #[allow(clippy::print_stderr)]
    fn searches_scored_by_the_accuracy_predictor() {
        use crate::nas::predictor::{AccuracyPredictor, PredictorConfig};
        let space = SearchSpace::tiny(0.5, 32, 1, 10).unwrap();
        let cons = constraints(&space);
        let p = problem(&space, &ClosedFormCost, cons);
        let mut r = rng(11);
        let pairs: Vec<(ArchConfig, f64)> = (0..300)
            .map(|_| {
                let a = space.sample(&mut r);
                let y = synthetic_score(&space, &a);
                (a, y)
            })
            .collect();
        let predictor = RefCell::new(AccuracyPredictor::fit(&space, &pairs, &PredictorConfig::default()).unwrap());
        let mut score = |a: &ArchConfig| predictor.borrow_mut().predict(a);
        let cfg = EvolutionConfig { generations: 20, ..EvolutionConfig::default() };
        let start = Instant::now();
        let evo = evolution_search(&p, &mut score, &cfg).unwrap();
        let evo_rate = cfg.evaluations() as f64 / start.elapsed().as_secs_f64();
        let start = Instant::now();
        let rnd = random_search(&p, &mut score, cfg.evaluations(), 0).unwrap();
        let rnd_rate = cfg.evaluations() as f64 / start.elapsed().as_secs_f64();
        assert!(cons.admits(&evo.cost) && cons.admits(&rnd.cost));
        eprintln!(
            "{} evaluations: evolution predicted {:.4} (true {:.4}) at {evo_rate:.0}/s, random predicted {:.4} (true {:.4}) at {rnd_rate:.0}/s",
            cfg.evaluations(),
            evo.score,
            synthetic_score(&space, &evo.best),
            rnd.score,
            synthetic_score(&space, &rnd.best)
        );
    }

    proptest::proptest! {
        /// At any small population, parent share and generation count: the best is admitted, the
        /// history has one entry per evaluation, never decreases and ends at the best score.
        #[test]
        fn results_are_admitted_and_histories_monotone(seed in 0u64..1000, population in 2usize..12, fraction in 0.0f64..0.9, generations in 0usize..4) {
            let space = SearchSpace::tiny(0.5, 32, 1, 10).unwrap();
            let cons = constraints(&space);
            let p = problem(&space, &ClosedFormCost, cons);
            let cfg = EvolutionConfig { population, parents_fraction: fraction, generations, seed, ..EvolutionConfig::default() };
            let mut score = |a: &ArchConfig| Ok(synthetic_score(&space, a));
            let res = match evolution_search(&p, &mut score, &cfg) {
                Ok(r) => r,
                Err(e) => {
                    // Only a share that leaves no child is refused.
                    proptest::prop_assert!(cfg.parents() >= population, "{e}");
                    return Ok(());
                }
            };
            proptest::prop_assert!(cons.admits(&res.cost));
            proptest::prop_assert_eq!(res.history.len(), cfg.evaluations());
            proptest::prop_assert!(res.history.windows(2).all(|w| w[0] <= w[1]));
            proptest::prop_assert_eq!(res.history.last().copied(), Some(res.score));
        }
    }

    #[test]
    fn impossible_budgets_and_bad_settings_are_errors() {
        let space = SearchSpace::tiny(0.5, 32, 1, 10).unwrap();
        let none = Constraints { max_sram_bytes: Some(1), ..Constraints::default() };
        let p = SearchProblem { max_tries: 50, ..problem(&space, &ClosedFormCost, none) };
        let mut score = |a: &ArchConfig| Ok(synthetic_score(&space, a));
        let e = random_search(&p, &mut score, 5, 0).unwrap_err().to_string();
        assert!(e.contains("no admitted config in 50 proposals"), "{e}");
        let ok = problem(&space, &ClosedFormCost, Constraints::default());
        let bad = EvolutionConfig { parents_fraction: 1.0, ..small_cfg(0) };
        assert!(evolution_search(&ok, &mut score, &bad).unwrap_err().to_string().contains("parents fraction 1"));
        let bad = EvolutionConfig { mutation_prob: 1.5, ..small_cfg(0) };
        assert!(evolution_search(&ok, &mut score, &bad).is_err());
        assert!(random_search(&ok, &mut score, 0, 0).is_err());
        let mut nan = |_: &ArchConfig| Ok(f64::NAN);
        assert!(random_search(&ok, &mut nan, 3, 0).unwrap_err().to_string().contains("not finite"));
    }
}
