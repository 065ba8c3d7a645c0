//! Co-search of a SubCircuit and its qubit mapping (Wang et al., QuantumNAS, HPCA 2022, Sec. 3.2):
//! a gene is an architecture (blocks kept, width of every layer) and an initial layout of the logical
//! qubits on the device; its score is the loss on a validation set of the SubCircuit with weights
//! inherited from the trained SuperCircuit, compiled for the device from that layout and evaluated
//! under the device's noise model. Candidates whose compiled circuit exceeds a [`Budget`] of
//! two-qubit gates or depth are rejected and proposed again.
//!
//! [`evolutionary_search`] keeps the best `parents` of each population and breeds the next one by
//! mutation (each architecture gene redrawn with some probability; the layout moves one logical
//! qubit or swaps two) and crossover (each gene from either parent, the layout whole from one);
//! [`random_search`] draws candidates uniformly until it has evaluated as many as the evolution did.
//! Both count distinct (architecture, layout) pairs, each evaluated once.

use super::evaluate::{DeviceEvaluator, Scores};
use super::model::SuperCircuitModel;
use super::supercircuit::{Architecture, SubCircuitConfig, SuperCircuit, uniform_in};
use super::train::Labelled;
use crate::error::{NoiseError, Result};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use tinylab_classical::tensor;
use tinylab_quantum::circuit::CircuitStats;

/// A gene of the co-search: an architecture and a layout.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Candidate {
    /// The architecture.
    pub arch: Architecture,
    /// Physical qubit of each logical qubit.
    pub layout: Vec<usize>,
}

impl Candidate {
    /// A uniformly drawn gene for `supercircuit` on a device of `n_physical` qubits.
    pub fn random(supercircuit: &SuperCircuit, n_physical: usize, rng: &mut ChaCha8Rng) -> Result<Self> {
        let n = supercircuit.n_qubits();
        if n > n_physical {
            return Err(NoiseError::QubitCount {
                what: "a device layout of the SuperCircuit's logical qubits",
                min: 1,
                max: n_physical,
                got: n,
            });
        }
        let arch = Architecture::random(supercircuit, rng);
        let mut physical: Vec<usize> = (0..n_physical).collect();
        for i in (1..n_physical).rev() {
            physical.swap(i, uniform_in(rng, 0, i));
        }
        physical.truncate(n);
        Ok(Self { arch, layout: physical })
    }

    /// A copy with every architecture gene redrawn with probability `p` and, with probability `p`,
    /// one logical qubit moved to another physical qubit (swapping with the logical qubit already
    /// there, if any).
    fn mutate(&self, supercircuit: &SuperCircuit, n_physical: usize, p: f64, rng: &mut ChaCha8Rng) -> Self {
        let mut child = self.clone();
        for gene in 0..child.arch.n_genes() {
            if tensor::uniform(rng) < p {
                child.arch.redraw(supercircuit, gene, rng);
            }
        }
        if tensor::uniform(rng) < p && n_physical > 1 && !child.layout.is_empty() {
            let v = uniform_in(rng, 0, child.layout.len() - 1);
            let target = (child.layout[v] + uniform_in(rng, 1, n_physical - 1)) % n_physical;
            if let Some(w) = child.layout.iter().position(|&q| q == target) {
                child.layout.swap(v, w);
            } else {
                child.layout[v] = target;
            }
        }
        child
    }

    /// Each architecture gene from `self` or `other` with equal odds; the layout whole from one.
    fn crossover(&self, other: &Self, rng: &mut ChaCha8Rng) -> Self {
        let mut arch = self.arch.clone();
        for gene in 0..arch.n_genes() {
            if tensor::uniform(rng) >= 0.5 {
                arch.set_gene(gene, other.arch.gene(gene));
            }
        }
        let layout = if tensor::uniform(rng) < 0.5 { self.layout.clone() } else { other.layout.clone() };
        Self { arch, layout }
    }
}

/// Limits on the compiled circuit (`None`: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Budget {
    /// Most two-qubit gates (`cx` after routing).
    pub max_two_qubit_gates: Option<usize>,
    /// Greatest depth.
    pub max_depth: Option<usize>,
}

impl Budget {
    /// True when `stats` is within the budget.
    pub fn allows(&self, stats: &CircuitStats) -> bool {
        self.max_two_qubit_gates.is_none_or(|m| stats.two_qubit_gates <= m)
            && self.max_depth.is_none_or(|m| stats.depth <= m)
    }
}

/// An evaluated candidate.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Scored {
    /// The gene.
    pub candidate: Candidate,
    /// Trainable parameters of its SubCircuit.
    pub n_params: usize,
    /// Gate counts and depth of the compiled circuit.
    pub stats: CircuitStats,
    /// Noisy validation scores (the loss is the search's objective).
    pub scores: Scores,
}

/// What a search is over: the trained SuperCircuit (the weights candidates inherit), the device, the
/// validation rows and the budget.
#[derive(Debug, Clone, Copy)]
pub struct SearchProblem<'a> {
    /// The trained SuperCircuit.
    pub model: &'a SuperCircuitModel,
    /// The device and read-out.
    pub evaluator: &'a DeviceEvaluator,
    /// Rows of the validation loss.
    pub validation: &'a Labelled,
    /// Limits on the compiled circuit.
    pub budget: Budget,
}

/// Settings of [`evolutionary_search`] (TorchQuantum's names).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct EvolutionSettings {
    /// Candidates in the first population.
    pub population: usize,
    /// Best candidates kept as parents of the next population.
    pub parents: usize,
    /// Mutants per generation.
    pub mutations: usize,
    /// Crossover children per generation.
    pub crossovers: usize,
    /// Generations (scored populations).
    pub iterations: usize,
    /// Probability of redrawing each gene element in a mutation.
    pub mutation_prob: f64,
    /// Seed of every random choice.
    pub seed: u64,
}

/// The result of a search.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchOutcome {
    /// Every distinct candidate evaluated, in order.
    pub evaluated: Vec<Scored>,
    /// Index in `evaluated` of the lowest validation loss (the first on ties).
    pub best: usize,
}

impl SearchOutcome {
    /// The best candidate.
    pub fn best(&self) -> &Scored {
        &self.evaluated[self.best]
    }

    /// The lowest validation loss after each evaluation.
    pub fn best_so_far(&self) -> Vec<f64> {
        self.evaluated
            .iter()
            .scan(f64::INFINITY, |best, s| {
                *best = best.min(s.scores.loss);
                Some(*best)
            })
            .collect()
    }
}

/// Proposals tried for one candidate within the budget before giving up.
const MAX_PROPOSALS: usize = 1000;

/// The evaluations of one search: a cache by (architecture, layout) and the running list.
struct Searcher<'a, 'b> {
    problem: SearchProblem<'a>,
    seen: HashMap<(SubCircuitConfig, Vec<usize>), Option<usize>>,
    evaluated: Vec<Scored>,
    tick: &'b mut dyn FnMut(usize),
}

impl Searcher<'_, '_> {
    /// The index in `evaluated` of `candidate`, scoring it if new; `None` when over the budget.
    fn score(&mut self, candidate: &Candidate) -> Result<Option<usize>> {
        let key = (candidate.arch.config(), candidate.layout.clone());
        if let Some(&known) = self.seen.get(&key) {
            return Ok(known);
        }
        let supercircuit = self.problem.model.supercircuit();
        let sub = supercircuit.build(&key.0)?;
        let weights = sub.inherit(&self.problem.model.weights())?;
        let compiled = self.problem.evaluator.compile(&sub.circuit, &weights, &candidate.layout)?;
        let stats = compiled.stats();
        let index = if self.problem.budget.allows(&stats) {
            let scores = self.problem.evaluator.scores(&compiled, self.problem.validation, None, 0)?;
            self.evaluated.push(Scored {
                candidate: candidate.clone(),
                n_params: sub.circuit.n_params(),
                stats,
                scores,
            });
            (self.tick)(1);
            Some(self.evaluated.len() - 1)
        } else {
            None
        };
        self.seen.insert(key, index);
        Ok(index)
    }

    /// The first proposal of `propose` within the budget, scored: its index and gene.
    fn propose(&mut self, propose: &mut dyn FnMut() -> Result<Candidate>) -> Result<(usize, Candidate)> {
        for _ in 0..MAX_PROPOSALS {
            let candidate = propose()?;
            if let Some(index) = self.score(&candidate)? {
                return Ok((index, candidate));
            }
        }
        Err(NoiseError::BudgetNotMet {
            search: "the proposal loop",
            found: 0,
            wanted: 1,
            budget: format!("{:?}", self.problem.budget),
            proposals: MAX_PROPOSALS,
        })
    }

    fn outcome(self) -> Result<SearchOutcome> {
        let best = (0..self.evaluated.len())
            .min_by(|&a, &b| self.evaluated[a].scores.loss.total_cmp(&self.evaluated[b].scores.loss).then(a.cmp(&b)))
            .ok_or(NoiseError::Empty {
                what: "the evaluated candidates",
                requirement: "a search outcome needs a scored candidate",
            })?;
        Ok(SearchOutcome { evaluated: self.evaluated, best })
    }
}

/// Evolutionary co-search of architecture and layout (see the module documentation). `tick` is
/// called with 1 after each new evaluation.
pub fn evolutionary_search(
    problem: SearchProblem<'_>,
    settings: &EvolutionSettings,
    tick: &mut dyn FnMut(usize),
) -> Result<SearchOutcome> {
    let s = settings;
    if s.parents == 0 || s.parents > s.population || s.iterations == 0 || !(0.0..=1.0).contains(&s.mutation_prob) {
        return Err(NoiseError::InvalidSetting {
            setting: "evolution settings (parents, population, iterations, mutation probability)",
            value: format!("({}, {}, {}, {})", s.parents, s.population, s.iterations, s.mutation_prob),
            requirement: "1 <= parents <= population, at least one iteration, a mutation probability in [0, 1]",
        });
    }
    let supercircuit = problem.model.supercircuit();
    let n_physical = problem.evaluator.n_physical();
    let mut rng = tensor::rng(s.seed);
    let mut searcher = Searcher { problem, seen: HashMap::new(), evaluated: Vec::new(), tick };
    let mut genes: HashMap<usize, Candidate> = HashMap::new();
    let mut population = Vec::with_capacity(s.population);
    for _ in 0..s.population {
        let (index, candidate) = searcher.propose(&mut || Candidate::random(supercircuit, n_physical, &mut rng))?;
        genes.entry(index).or_insert(candidate);
        population.push(index);
    }
    for iteration in 0..s.iterations {
        population.sort_by(|&a, &b| {
            let (sa, sb) = (&searcher.evaluated[a].scores, &searcher.evaluated[b].scores);
            sa.loss.total_cmp(&sb.loss).then(a.cmp(&b))
        });
        population.dedup();
        let parents: Vec<usize> = population.iter().copied().take(s.parents).collect();
        if iteration + 1 == s.iterations {
            break;
        }
        let mut next = parents.clone();
        for k in 0..s.mutations + s.crossovers {
            let (index, candidate) = searcher.propose(&mut || {
                let a = &genes[&parents[uniform_in(&mut rng, 0, parents.len() - 1)]];
                Ok(if k < s.mutations {
                    a.mutate(supercircuit, n_physical, s.mutation_prob, &mut rng)
                } else {
                    let b = &genes[&parents[uniform_in(&mut rng, 0, parents.len() - 1)]];
                    a.crossover(b, &mut rng)
                })
            })?;
            genes.entry(index).or_insert(candidate);
            next.push(index);
        }
        population = next;
    }
    searcher.outcome()
}

/// Random search: uniformly drawn candidates within the budget until `evaluations` distinct ones
/// are scored (the baseline of equal search cost). `tick` is called with 1 after each evaluation.
pub fn random_search(
    problem: SearchProblem<'_>,
    evaluations: usize,
    seed: u64,
    tick: &mut dyn FnMut(usize),
) -> Result<SearchOutcome> {
    let supercircuit = problem.model.supercircuit();
    let n_physical = problem.evaluator.n_physical();
    let mut rng = tensor::rng(seed);
    let mut searcher = Searcher { problem, seen: HashMap::new(), evaluated: Vec::new(), tick };
    let mut proposals = 0;
    while searcher.evaluated.len() < evaluations {
        if proposals == MAX_PROPOSALS * evaluations.max(1) {
            return Err(NoiseError::BudgetNotMet {
                search: "random search",
                found: searcher.evaluated.len(),
                wanted: evaluations,
                budget: format!("{:?}", searcher.problem.budget),
                proposals,
            });
        }
        proposals += 1;
        searcher.score(&Candidate::random(supercircuit, n_physical, &mut rng)?)?;
    }
    searcher.outcome()
}
