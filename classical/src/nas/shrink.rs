//! Progressive shrinking (Cai et al., "Once-for-All", ICLR 2020, sec. 3.2): train the largest
//! network, then make the kernel size elastic, then the depth, then the expand ratio, each phase
//! sampling several sub-networks per step among the choices made elastic so far and distilling them
//! from the largest network in place (its logits of the same step, detached, as the teacher: the
//! "sandwich" of BigNAS, Yu et al. 2020, without a separately trained teacher).
//!
//! One step of a phase on a batch `(x, y)`: zero the gradients; run the largest config, take the
//! cross-entropy, back-propagate it and keep its logits `t`; then for `i` in `0..subnets_per_step`
//! draw a config with the generator seeded `seed::derive(seed, &[phase, step, i])` ([`Phase::sample`]),
//! run it, back-propagate [`kd_loss`]`(s, t, y, T, alpha)`; finally one optimizer step on the summed
//! gradients. Each phase starts with a fresh optimizer (OFA trains its phases as separate runs); the
//! expand phase starts with [`Supernet::sort_channels`].
//!
//! Every random choice is a function of the seed, the phase, the epoch and the step, and a checkpoint
//! after every epoch holds the supernet, the optimizer and the history, so a run resumed from it makes
//! exactly the updates of the uninterrupted run (tested bit for bit).

use super::space::{ArchConfig, SearchSpace};
use super::supernet::Supernet;
use crate::autograd::Var;
use crate::checkpoint;
use crate::compress::distill::kd_loss;
use crate::error::{Result, arg_err};
use crate::nn::{self, Ctx, Module, StateDict};
use crate::ops;
use crate::optim::{LrSchedule, Optimizer};
use crate::seed;
use crate::train::{Batches, LabelledArray, evaluate_labelled};
use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A phase of progressive shrinking: which choices are elastic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// The largest network alone.
    Full,
    /// Elastic kernel size; depth and expand ratio at their largest.
    Kernel,
    /// Elastic kernel size and depth; expand ratio at its largest.
    Depth,
    /// Everything elastic.
    Expand,
}

impl Phase {
    /// OFA's order of the phases.
    pub const ORDER: [Phase; 4] = [Phase::Full, Phase::Kernel, Phase::Depth, Phase::Expand];

    /// A config of `space` for this phase: drawn uniformly ([`SearchSpace::sample`]), then every
    /// choice that is not elastic yet set to its largest.
    pub fn sample(self, space: &SearchSpace, rng: &mut ChaCha8Rng) -> ArchConfig {
        let largest = space.largest();
        let mut arch = space.sample(rng);
        if matches!(self, Phase::Full | Phase::Kernel) {
            arch.depths.clone_from(&largest.depths);
        }
        if self != Phase::Expand {
            let max_expand = largest.blocks[0][0].expand;
            arch.blocks.iter_mut().flatten().for_each(|c| c.expand = max_expand);
        }
        if self == Phase::Full {
            return largest;
        }
        arch
    }
}

/// One phase of the plan: its epochs and learning-rate schedule (indexed by the epoch inside the
/// phase).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhasePlan {
    /// Which choices are elastic.
    pub phase: Phase,
    /// Passes over the training set.
    pub epochs: usize,
    /// Learning rate per epoch of the phase.
    pub lr: LrSchedule,
}

/// Settings of [`progressive_shrink`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShrinkConfig {
    /// The phases in order (OFA: [`Phase::ORDER`]).
    pub phases: Vec<PhasePlan>,
    /// Samples per step.
    pub batch_size: usize,
    /// Sub-networks sampled and distilled per step (OFA and BigNAS use 2 to 4).
    pub subnets_per_step: usize,
    /// Softmax temperature of the distillation.
    pub temperature: f32,
    /// Weight of the soft targets in [`kd_loss`] (`1 - alpha` on the labels).
    pub alpha: f32,
    /// Base seed of shuffles, configs and dropout.
    pub seed: u64,
    /// Show an indicatif progress bar.
    pub progress: bool,
    /// Write a checkpoint here after every epoch, and resume from it when it exists.
    pub checkpoint: Option<PathBuf>,
    /// Return after this many epochs (counted over all phases, from the start of the plan), to split
    /// a long run over several jobs that resume from the checkpoint; `None` runs the whole plan.
    pub stop_after: Option<usize>,
}

impl ShrinkConfig {
    /// OFA's plan: the four phases of [`Phase::ORDER`] with `epochs` epochs each and a cosine
    /// schedule from `lr` per phase, 2 sub-networks per step, temperature 1 and soft targets only
    /// (as OFA's `kd_ratio` distillation with an in-place teacher).
    pub fn ofa(epochs: usize, lr: f32, batch_size: usize, seed: u64) -> Self {
        let schedule = LrSchedule::Cosine { base: lr, min: 0.0, warmup: 0, total: epochs };
        Self {
            phases: Phase::ORDER.iter().map(|&phase| PhasePlan { phase, epochs, lr: schedule }).collect(),
            batch_size,
            subnets_per_step: 2,
            temperature: 1.0,
            alpha: 1.0,
            seed,
            progress: false,
            checkpoint: None,
            stop_after: None,
        }
    }

    fn total_epochs(&self) -> usize {
        self.phases.iter().map(|p| p.epochs).sum()
    }
}

/// The record of one epoch of progressive shrinking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShrinkEpoch {
    /// The phase.
    pub phase: Phase,
    /// Epoch inside the phase (0-based).
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f32,
    /// Mean cross-entropy of the largest network over the epoch's steps.
    pub largest_loss: f32,
    /// Mean distillation loss of the sampled sub-networks (`None` in [`Phase::Full`]).
    pub subnet_loss: Option<f32>,
    /// Accuracy of the largest network on the validation set after the epoch, when one was given.
    pub val_accuracy: Option<f32>,
}

/// The result of [`progressive_shrink`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShrinkReport {
    /// Every epoch so far, including those before a resume.
    pub history: Vec<ShrinkEpoch>,
    /// Epochs (over all phases) done when the run started: 0 for a fresh run.
    pub resumed_from: usize,
    /// False when [`ShrinkConfig::stop_after`] ended the run before the plan.
    pub finished: bool,
}

/// What a progressive-shrinking checkpoint holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ShrinkState<O> {
    epochs_done: usize,
    model: StateDict,
    optimizer: O,
    history: Vec<ShrinkEpoch>,
}

/// Checkpoint kind string of progressive-shrinking states.
pub const SHRINK_STATE_KIND: &str = "ofa_shrink_state.1";

/// Runs progressive shrinking of `net` on `data` (see the module docs); each phase's optimizer is a
/// fresh `new_optimizer()`. With a validation set, every epoch records the largest network's
/// accuracy on it. Leaves the largest config active. Errors on an empty plan or batch size, on
/// bad distillation settings, and on a checkpoint that cannot be read or does not fit `net`.
pub fn progressive_shrink<B, O>(
    net: &mut Supernet,
    new_optimizer: impl Fn() -> O,
    data: &B,
    val: Option<&LabelledArray>,
    cfg: &ShrinkConfig,
) -> Result<ShrinkReport>
where
    B: Batches<Targets = Vec<usize>> + ?Sized,
    O: Optimizer + Serialize + DeserializeOwned + Clone,
{
    if cfg.batch_size == 0 || cfg.phases.is_empty() || data.is_empty() {
        return Err(arg_err("progressive_shrink", "needs a positive batch size, phases and training data"));
    }
    if cfg.temperature.is_nan() || cfg.temperature <= 0.0 || !(0.0..=1.0).contains(&cfg.alpha) {
        return Err(arg_err(
            "progressive_shrink",
            format!("temperature {} must be > 0 and alpha {} in [0, 1]", cfg.temperature, cfg.alpha),
        ));
    }
    let mut optimizer = new_optimizer();
    let (mut history, mut start) = (Vec::new(), 0);
    if let Some(path) = &cfg.checkpoint
        && path.exists()
    {
        let state: ShrinkState<O> = checkpoint::load(path, SHRINK_STATE_KIND)?;
        nn::load_state_dict(net, &state.model)?;
        optimizer = state.optimizer;
        history = state.history;
        start = state.epochs_done;
    }
    let steps_per_epoch = data.len().div_ceil(cfg.batch_size);
    let bar = progress_bar(cfg, steps_per_epoch, start)?;
    let largest = net.space().largest();
    let mut global = 0;
    let mut finished = true;
    'plan: for (p, plan) in cfg.phases.iter().enumerate() {
        for epoch in 0..plan.epochs {
            if global < start {
                global += 1;
                continue;
            }
            if cfg.stop_after.is_some_and(|n| global >= n) {
                finished = false;
                break 'plan;
            }
            if epoch == 0 {
                optimizer = new_optimizer();
                if plan.phase == Phase::Expand {
                    net.sort_channels();
                }
            }
            let lr = plan.lr.at(epoch);
            let order = data.order(seed::derive(cfg.seed, &[p as u64, epoch as u64]));
            let (mut largest_sum, mut subnet_sum, mut subnets) = (0.0f64, 0.0f64, 0usize);
            for (b, chunk) in order.chunks(cfg.batch_size).enumerate() {
                let step = (epoch * steps_per_epoch + b) as u64;
                let batch = data.batch(chunk)?;
                let x = Var::constant(batch.input);
                let y = batch.targets;
                nn::zero_grads(net);
                net.set_active(&largest)?;
                let mut ctx = Ctx::train(seed::derive(cfg.seed, &[p as u64, step]));
                let logits = net.forward(&x, &mut ctx)?;
                let loss = ops::cross_entropy(&logits, &y)?;
                loss.backward()?;
                nn::accumulate_grads(net, &ctx);
                largest_sum += loss.item()? as f64;
                let teacher = logits.detach();
                if plan.phase != Phase::Full {
                    for i in 0..cfg.subnets_per_step as u64 {
                        let mut r = crate::tensor::rng(seed::derive(cfg.seed, &[p as u64, step, i]));
                        net.set_active(&plan.phase.sample(net.space(), &mut r))?;
                        let mut ctx = Ctx::train(seed::derive(cfg.seed, &[p as u64, step, i, 1]));
                        let student = net.forward(&x, &mut ctx)?;
                        let kd = kd_loss(&student, &teacher, &y, cfg.temperature, cfg.alpha)?;
                        kd.backward()?;
                        nn::accumulate_grads(net, &ctx);
                        subnet_sum += kd.item()? as f64;
                        subnets += 1;
                    }
                }
                optimizer.step(net, lr);
                bar.set_message(format!("{:?} {}/{}", plan.phase, epoch + 1, plan.epochs));
                bar.inc(1);
            }
            net.set_active(&largest)?;
            let val_accuracy = match val {
                Some(v) => Some(evaluate_labelled(net, v, 256)?.1),
                None => None,
            };
            history.push(ShrinkEpoch {
                phase: plan.phase,
                epoch,
                lr,
                largest_loss: (largest_sum / steps_per_epoch as f64) as f32,
                subnet_loss: (subnets > 0).then(|| (subnet_sum / subnets as f64) as f32),
                val_accuracy,
            });
            global += 1;
            if let Some(path) = &cfg.checkpoint {
                let state = ShrinkState {
                    epochs_done: global,
                    model: nn::state_dict(net),
                    optimizer: optimizer.clone(),
                    history: history.clone(),
                };
                checkpoint::save(path, SHRINK_STATE_KIND, &state)?;
            }
        }
    }
    bar.finish_and_clear();
    net.set_active(&largest)?;
    Ok(ShrinkReport { history, resumed_from: start, finished })
}

fn progress_bar(cfg: &ShrinkConfig, steps_per_epoch: usize, start: usize) -> Result<indicatif::ProgressBar> {
    if !cfg.progress {
        return Ok(indicatif::ProgressBar::hidden());
    }
    let bar = indicatif::ProgressBar::new((cfg.total_epochs() * steps_per_epoch) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} steps, {msg} [{elapsed} < {eta}]")
            .map_err(|e| arg_err("progressive_shrink", format!("progress template: {e}")))?,
    );
    bar.set_position((start * steps_per_epoch) as u64);
    Ok(bar)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Sgd;
    use crate::tensor::rng;
    use proptest::prelude::*;

    fn space() -> SearchSpace {
        SearchSpace::tiny(0.25, 16, 1, 4).unwrap()
    }

    fn config(seed: u64) -> ShrinkConfig {
        let mut cfg = ShrinkConfig::ofa(1, 0.05, 16, seed);
        cfg.alpha = 0.5;
        cfg.temperature = 2.0;
        cfg
    }

    fn bits(net: &mut Supernet) -> StateDict {
        nn::state_dict(net)
    }

    #[test]
    fn a_resumed_run_matches_the_uninterrupted_one_bit_for_bit() {
        let data = crate::data::synthetic::shapes(32, 16, 0.1, 3).unwrap();
        let train = LabelledArray::new(data.images.view(), &data.labels).unwrap();
        let sgd = || Sgd::new(0.9, 1e-4);
        let mut whole = Supernet::new(space(), 1).unwrap();
        let report = progressive_shrink(&mut whole, sgd, &train, Some(&train), &config(9)).unwrap();
        assert!(report.finished && report.history.len() == 4);
        assert!(report.history.iter().all(|e| e.largest_loss.is_finite()));
        assert!(report.history[0].subnet_loss.is_none() && report.history[3].subnet_loss.is_some());

        let dir = std::env::temp_dir().join(format!("tinylab-ofa-shrink-{}", std::process::id()));
        let mut cfg = config(9);
        cfg.checkpoint = Some(dir.join("shrink.ckpt"));
        for stop in [1, 3] {
            // Each job starts from a fresh supernet and resumes from the checkpoint.
            cfg.stop_after = Some(stop);
            let mut part = Supernet::new(space(), 1).unwrap();
            let r = progressive_shrink(&mut part, sgd, &train, Some(&train), &cfg).unwrap();
            assert!(!r.finished && r.history.len() == stop);
        }
        cfg.stop_after = None;
        let mut resumed = Supernet::new(space(), 1).unwrap();
        let r = progressive_shrink(&mut resumed, sgd, &train, Some(&train), &cfg).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(r.resumed_from, 3);
        assert_eq!(r.history, report.history);
        let to_bits = |s: StateDict| -> Vec<(String, Vec<u32>)> {
            s.params.into_iter().map(|(n, (_, v))| (n, v.iter().map(|x| x.to_bits()).collect())).collect()
        };
        let (a, b) = (bits(&mut whole), bits(&mut resumed));
        assert_eq!(a.buffers, b.buffers);
        assert_eq!(to_bits(a), to_bits(b));
    }

    #[test]
    fn bad_settings_are_errors() {
        let data = crate::data::synthetic::shapes(8, 16, 0.1, 3).unwrap();
        let train = LabelledArray::new(data.images.view(), &data.labels).unwrap();
        let mut net = Supernet::new(space(), 1).unwrap();
        let mut cfg = config(0);
        cfg.batch_size = 0;
        assert!(progressive_shrink(&mut net, || Sgd::new(0.9, 0.0), &train, None, &cfg).is_err());
        let mut cfg = config(0);
        cfg.alpha = 2.0;
        assert!(progressive_shrink(&mut net, || Sgd::new(0.9, 0.0), &train, None, &cfg).is_err());
    }

    #[test]
    #[allow(clippy::print_stderr)]
    #[ignore = "trains for a while: cargo test -p tinylab-classical --lib nas::shrink -- --ignored"]
    fn shrinking_trains_the_largest_and_the_smallest_subnets() {
        let all = crate::data::synthetic::shapes(768, 16, 0.2, 5).unwrap();
        let (train_set, val_set) = all.split(0.75, 6).unwrap();
        let train = LabelledArray::new(train_set.images.view(), &train_set.labels).unwrap();
        let val = LabelledArray::new(val_set.images.view(), &val_set.labels).unwrap();
        let mut net = Supernet::new(space(), 1).unwrap();
        let cfg = ShrinkConfig::ofa(3, 0.05, 32, 2);
        let report = progressive_shrink(&mut net, || Sgd::new(0.9, 1e-4), &train, Some(&val), &cfg).unwrap();
        let last = report.history.last().unwrap().val_accuracy.unwrap();
        let s = space();
        let mut smallest = net.extract(&s.smallest()).unwrap();
        let calib: Vec<_> =
            (0..4).map(|b| train.batch(&(b * 32..b * 32 + 32).collect::<Vec<_>>()).unwrap().input).collect();
        crate::nas::recalibrate::recalibrate_batch_norm(&mut smallest, &calib).unwrap();
        let (_, small_acc, _) = evaluate_labelled(&mut smallest, &val, 256).unwrap();
        eprintln!("largest {last}, smallest {small_acc}, history {:?}", report.history);
        // Four classes: chance is 0.25.
        assert!(last > 0.8, "largest {last}");
        assert!(small_acc > 0.6, "smallest {small_acc}");
    }

    proptest! {
        #[test]
        fn phases_sample_only_their_elastic_choices(seed in 0u64..10_000) {
            let s = space();
            let largest = s.largest();
            for phase in Phase::ORDER {
                let a = phase.sample(&s, &mut rng(seed));
                prop_assert!(s.check(&a).is_ok());
                let expands_max = a.blocks.iter().flatten().all(|c| c.expand == largest.blocks[0][0].expand);
                match phase {
                    Phase::Full => prop_assert_eq!(&a, &largest),
                    Phase::Kernel => prop_assert!(a.depths == largest.depths && expands_max),
                    Phase::Depth => prop_assert!(expands_max),
                    Phase::Expand => {}
                }
                if phase != Phase::Full {
                    // The kernel choices are those of the plain sample, in every elastic phase.
                    let plain = s.sample(&mut rng(seed));
                    let kernels = |c: &ArchConfig| c.blocks.iter().flatten().map(|b| b.kernel).collect::<Vec<_>>();
                    prop_assert_eq!(kernels(&a), kernels(&plain));
                }
            }
        }
    }
}
