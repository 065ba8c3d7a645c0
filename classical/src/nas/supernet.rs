//! The once-for-all supernet of a [`SearchSpace`] (Cai et al., "Once-for-All", ICLR 2020): the
//! largest network's weights, shared by every sub-network, with elastic depth (the first `d` block
//! slots of a stage run), elastic depthwise kernels and elastic expand ratios ([`super::elastic`]).
//!
//! [`Supernet`] is a [`Module`]: its forward pass runs the config set by [`Supernet::set_active`],
//! and its parameters (every block slot, active or not) are ordinary [`Param`]s, so optimizers,
//! [`crate::nn::named_params`] and checkpoints work unchanged. [`Supernet::extract`] copies one
//! sub-network's sliced and transformed weights and BatchNorm statistics into the plain-layer network
//! of [`build::standalone`], which then traces, converts to int8 and exports like any model; its
//! outputs equal the supernet's on that config bit for bit.
//!
//! Parameter paths: `stem.<i>.*` (the standalone network's first [`build::STEM_LAYERS`] layers: stem
//! and the fixed first block), `blocks.<stage>.<slot>.{expand, expand_bn, depthwise, depthwise_bn,
//! project, project_bn}.*`, `tail.<j>.*` (feature mix if any, pooling, classifier).

use super::build::{self, STEM_LAYERS};
use super::elastic::{BlockPaths, ElasticBlock};
use super::space::{ArchConfig, SearchSpace};
use crate::autograd::Var;
use crate::error::{Result, arg_err};
use crate::nn::{self, Ctx, Module, Param, Sequential, StateDict, join};
use crate::tensor::Tensor;
use std::collections::BTreeMap;

/// A weight-sharing supernet over a [`SearchSpace`] (see the module docs).
///
/// ```
/// use tinylab_classical::nas::{SearchSpace, Supernet};
/// use tinylab_classical::nn::{Ctx, Module};
/// use tinylab_classical::{Var, tensor};
/// let space = SearchSpace::tiny(0.25, 16, 1, 10)?;
/// let mut net = Supernet::new(space.clone(), 0)?;
/// let arch = space.sample(&mut tensor::rng(1));
/// net.set_active(&arch)?;
/// let x = Var::constant(tensor::randn(&[2, 1, 16, 16], 1.0, &mut tensor::rng(2)));
/// let y = net.forward(&x, &mut Ctx::eval())?; // (N, 1, 16, 16) -> (N, classes)
/// let mut sub = net.extract(&arch)?; // a plain Sequential with the shared weights
/// assert_eq!(sub.forward(&x, &mut Ctx::eval())?.value(), y.value());
/// # Ok::<(), tinylab_classical::ClassicalError>(())
/// ```
#[derive(Debug)]
pub struct Supernet {
    space: SearchSpace,
    stem: Sequential,
    blocks: Vec<Vec<ElasticBlock>>,
    tail: Sequential,
    active: ArchConfig,
}

/// The layer prefix of the `i`-th active block in the standalone network.
fn block_prefix(i: usize, residual: bool) -> String {
    let at = (STEM_LAYERS + i).to_string();
    if residual { join(&at, "body") } else { at }
}

impl Supernet {
    /// The supernet of `space`, initialised with the weights of the largest standalone network
    /// `build::standalone(space, space.largest(), seed)` (so its largest sub-network starts as that
    /// network, parameter for parameter), kernel transformations at the identity, the largest
    /// config active.
    pub fn new(space: SearchSpace, seed: u64) -> Result<Self> {
        let largest = space.largest();
        let specs = space.active_blocks(&largest)?;
        let mut net = build::standalone(&space, &largest, seed)?;
        let weights: BTreeMap<String, Tensor> =
            nn::named_params(&net).into_iter().map(|(n, p)| (n, p.value.clone())).collect();
        let weight = |layer: &str| {
            weights.get(&join(layer, "weight")).cloned().ok_or_else(|| {
                arg_err("Supernet::new", format!("the standalone network has no `{layer}.weight` (layout changed?)"))
            })
        };
        let has_expand = largest.blocks[0][0].expand != 1;
        let mut blocks: Vec<Vec<ElasticBlock>> = vec![Vec::new(); space.stages.len()];
        for (i, spec) in specs.iter().enumerate() {
            let paths = BlockPaths::new(&block_prefix(i, spec.residual), has_expand);
            let expand = paths.expand.as_ref().map(|(conv, _)| weight(conv)).transpose()?;
            blocks[spec.stage].push(ElasticBlock::new(
                expand,
                weight(&paths.depthwise.0)?,
                weight(&paths.project.0)?,
                &space.kernels,
                spec.stride,
                spec.residual,
            )?);
        }
        let mut layers = std::mem::take(&mut net.layers).into_iter();
        let stem = Sequential { layers: layers.by_ref().take(STEM_LAYERS).collect() };
        let tail = Sequential { layers: layers.skip(specs.len()).collect() };
        Ok(Self { space, stem, blocks, tail, active: largest })
    }

    /// The search space.
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }

    /// The config the forward pass runs.
    pub fn active(&self) -> &ArchConfig {
        &self.active
    }

    /// Makes `arch` the config the forward pass runs; fails, changing nothing, when it is not in the
    /// space.
    pub fn set_active(&mut self, arch: &ArchConfig) -> Result<()> {
        self.space.check(arch)?;
        self.active = arch.clone();
        Ok(())
    }

    /// The elastic block of stage `stage`, slot `slot`.
    pub fn block(&self, stage: usize, slot: usize) -> Option<&ElasticBlock> {
        self.blocks.get(stage)?.get(slot)
    }

    /// The parameters and buffers of the standalone network of `arch` ([`build::standalone`]'s
    /// paths): the fixed layers as they are, every active block's weights sliced and transformed
    /// as the forward pass computes them. Fails when `arch` is not in the space.
    pub fn subnet_state(&mut self, arch: &ArchConfig) -> Result<StateDict> {
        let specs = self.space.active_blocks(arch)?;
        let mut state = nn::state_dict(&mut self.stem);
        for (i, spec) in specs.iter().enumerate() {
            let choice = arch.blocks[spec.stage][spec.index];
            let paths = BlockPaths::new(&block_prefix(i, spec.residual), choice.expand != 1);
            self.blocks[spec.stage][spec.index].export(choice, &paths, &mut state)?;
        }
        let tail = nn::state_dict(&mut self.tail);
        let shift = |name: String| -> Result<String> {
            let (head, rest) = name.split_once('.').unwrap_or((&name, ""));
            let j: usize =
                head.parse().map_err(|_| arg_err("Supernet::subnet_state", format!("tail path `{name}`")))?;
            Ok(join(&(STEM_LAYERS + specs.len() + j).to_string(), rest))
        };
        for (name, v) in tail.params {
            state.params.insert(shift(name)?, v);
        }
        for (name, v) in tail.buffers {
            state.buffers.insert(shift(name)?, v);
        }
        Ok(state)
    }

    /// The standalone network of `arch` with this supernet's weights (see [`Supernet::subnet_state`]):
    /// in evaluation mode its outputs equal the supernet's running `arch`.
    pub fn extract(&mut self, arch: &ArchConfig) -> Result<Sequential> {
        let mut net = build::standalone(&self.space, arch, 0)?;
        nn::load_state_dict(&mut net, &self.subnet_state(arch)?)?;
        Ok(net)
    }

    /// Sorts every block's hidden channels by importance ([`ElasticBlock::sort_channels`], OFA's
    /// step before training elastic expand ratios): the largest network's function is unchanged.
    pub fn sort_channels(&mut self) {
        for b in self.blocks.iter_mut().flatten() {
            b.sort_channels();
        }
    }
}

impl Module for Supernet {
    fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        let mut h = self.stem.forward(x, ctx)?;
        for (s, stage) in self.blocks.iter_mut().enumerate() {
            let depth = self.active.depths[s];
            for (b, block) in stage.iter_mut().take(depth).enumerate() {
                h = block.forward(&h, self.active.blocks[s][b], ctx)?;
            }
        }
        self.tail.forward(&h, ctx)
    }

    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Param)) {
        self.stem.visit_params(&join(prefix, "stem"), f);
        for (s, stage) in self.blocks.iter().enumerate() {
            for (b, block) in stage.iter().enumerate() {
                block.visit_params(&join(prefix, &format!("blocks.{s}.{b}")), f);
            }
        }
        self.tail.visit_params(&join(prefix, "tail"), f);
    }

    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Param)) {
        self.stem.visit_params_mut(&join(prefix, "stem"), f);
        for (s, stage) in self.blocks.iter_mut().enumerate() {
            for (b, block) in stage.iter_mut().enumerate() {
                block.visit_params_mut(&join(prefix, &format!("blocks.{s}.{b}")), f);
            }
        }
        self.tail.visit_params_mut(&join(prefix, "tail"), f);
    }

    fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Vec<f32>)) {
        self.stem.visit_buffers_mut(&join(prefix, "stem"), f);
        for (s, stage) in self.blocks.iter_mut().enumerate() {
            for (b, block) in stage.iter_mut().enumerate() {
                block.visit_buffers_mut(&join(prefix, &format!("blocks.{s}.{b}")), f);
            }
        }
        self.tail.visit_buffers_mut(&join(prefix, "tail"), f);
    }

    fn child(&self, name: &str) -> Option<&dyn Module> {
        match name {
            "stem" => Some(&self.stem),
            "tail" => Some(&self.tail),
            _ => None,
        }
    }

    fn child_mut(&mut self, name: &str) -> Option<&mut dyn Module> {
        match name {
            "stem" => Some(&mut self.stem),
            "tail" => Some(&mut self.tail),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::int8::{self, ConvertOptions};
    use crate::tensor::{randn, rng};
    use proptest::prelude::*;

    fn space() -> SearchSpace {
        SearchSpace::tiny(0.25, 16, 1, 10).unwrap()
    }

    /// Moves every parameter and BN statistic away from its initial value (transforms off the
    /// identity, running variances positive), so that a wrong slice or path shows in the outputs.
    fn perturb(net: &mut Supernet, seed: u64) {
        let mut r = rng(seed);
        net.visit_params_mut("", &mut |_, p| p.value = &p.value + &randn(p.value.shape(), 0.1, &mut r));
        net.visit_buffers_mut("", &mut |name, b| {
            let noise = randn(&[b.len()], 0.2, &mut r);
            for (v, n) in b.iter_mut().zip(noise.iter()) {
                *v = if name.ends_with("running_var") { 0.5 + n.abs() } else { *n };
            }
        });
    }

    fn eval(net: &mut dyn Module, x: &Tensor) -> Tensor {
        net.forward(&Var::constant(x.clone()), &mut Ctx::eval()).unwrap().value().clone()
    }

    #[test]
    fn the_largest_subnet_starts_as_the_standalone_network_of_the_seed() {
        let s = space();
        let mut net = Supernet::new(s.clone(), 5).unwrap();
        let extracted = net.extract(&s.largest()).unwrap();
        let reference = build::standalone(&s, &s.largest(), 5).unwrap();
        let values = |m: &Sequential| -> Vec<(String, Vec<u32>)> {
            nn::named_params(m).into_iter().map(|(n, p)| (n, p.value.iter().map(|v| v.to_bits()).collect())).collect()
        };
        assert_eq!(values(&extracted), values(&reference));
    }

    #[test]
    fn sorting_channels_keeps_the_largest_network() {
        let s = space();
        let mut net = Supernet::new(s.clone(), 1).unwrap();
        perturb(&mut net, 2);
        let x = randn(&[2, 1, 16, 16], 1.0, &mut rng(3));
        let before = eval(&mut net, &x);
        net.sort_channels();
        let after = eval(&mut net, &x);
        let diff = before.iter().zip(after.iter()).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(diff < 1e-5, "{diff}");
    }

    #[test]
    fn gradients_reach_only_the_active_slices() {
        let s = space();
        let mut net = Supernet::new(s.clone(), 1).unwrap();
        let mut arch = s.largest();
        arch.depths = vec![2; s.stages.len()];
        arch.blocks[0][0] = super::super::BlockChoice { kernel: 3, expand: 3 };
        net.set_active(&arch).unwrap();
        let x = Var::constant(randn(&[4, 1, 16, 16], 1.0, &mut rng(3)));
        let mut ctx = Ctx::train(0);
        let y = net.forward(&x, &mut ctx).unwrap();
        crate::ops::cross_entropy(&y, &[0, 1, 2, 3]).unwrap().backward().unwrap();
        nn::accumulate_grads(&mut net, &ctx);
        let grads: BTreeMap<String, Option<Tensor>> =
            nn::named_params(&net).into_iter().map(|(n, p)| (n, p.grad.clone())).collect();
        let g = grads["blocks.0.0.expand.weight"].as_ref().unwrap();
        let hidden = net.block(0, 0).unwrap().in_channels * 3;
        assert!(g.iter().take(hidden * g.shape()[1]).any(|v| *v != 0.0));
        assert!(g.iter().skip(hidden * g.shape()[1]).all(|v| *v == 0.0), "inactive channels get no gradient");
        assert!(grads["blocks.0.0.depthwise.transform3"].as_ref().is_some_and(|t| t.iter().any(|v| *v != 0.0)));
        assert!(grads["blocks.0.2.project.weight"].is_none(), "an inactive slot is not used");
        assert!(grads["blocks.0.1.depthwise.transform5"].is_none(), "a 7x7 kernel uses no transformation");
    }

    #[test]
    fn a_space_with_a_feature_mix_layer_extracts_too() {
        let mut s = space();
        s.head_channels = Some(64);
        let s = SearchSpace::new_checked(s).unwrap();
        let mut net = Supernet::new(s.clone(), 3).unwrap();
        perturb(&mut net, 4);
        let x = randn(&[2, 1, 16, 16], 1.0, &mut rng(5));
        for arch in [s.smallest(), s.sample(&mut rng(6))] {
            net.set_active(&arch).unwrap();
            let want = eval(&mut net, &x);
            let mut sub = net.extract(&arch).unwrap();
            assert_eq!(eval(&mut sub, &x), want, "{}", arch.key());
        }
    }

    #[test]
    fn bad_configs_are_refused() {
        let s = space();
        let mut net = Supernet::new(s.clone(), 1).unwrap();
        let mut arch = s.largest();
        arch.depths[0] = 9;
        assert!(net.set_active(&arch).is_err());
        assert!(net.extract(&arch).is_err());
        assert_eq!(net.active(), &s.largest());
    }

    #[test]
    fn an_extracted_subnet_converts_to_int8() {
        let s = space();
        let mut net = Supernet::new(s.clone(), 7).unwrap();
        perturb(&mut net, 8);
        let arch = s.sample(&mut rng(9));
        let mut sub = net.extract(&arch).unwrap();
        let calib = randn(&[8, 1, 16, 16], 1.0, &mut rng(10));
        let q = int8::convert(&mut sub, &calib, &ConvertOptions::default()).unwrap();
        let float = eval(&mut sub, &calib);
        let fake = q.forward_fake_quant(&calib).unwrap();
        assert_eq!(fake.shape(), float.shape());
        // Fake-quantized logits stay close to the float ones (8 bits, a few layers).
        let scale = float.iter().map(|v| v.abs()).fold(0.0, f32::max);
        let err = fake.iter().zip(float.iter()).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(err < 0.25 * scale + 1e-3, "{err} vs {scale}");
    }

    /// One plain SGD step (no momentum or decay) in training mode on `model`.
    fn sgd_step(model: &mut dyn Module, x: &Tensor, y: &[usize]) {
        use crate::optim::{Optimizer, Sgd};
        let mut ctx = Ctx::train(0);
        let logits = model.forward(&Var::constant(x.clone()), &mut ctx).unwrap();
        let loss = crate::ops::cross_entropy(&logits, y).unwrap();
        Sgd::new(0.0, 0.0).backward_step(model, &loss, &ctx, 0.1).unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]
        #[test]
        fn a_training_step_of_a_subnet_is_the_step_of_its_standalone_network(seed in 0u64..10_000) {
            // With every kernel at its largest the extracted weights are plain slices, so a step of
            // the supernet running `arch` (batch-statistics BN, sliced gradients) must move them as
            // the same step moves the extracted network.
            let s = space();
            let mut net = Supernet::new(s.clone(), seed).unwrap();
            perturb(&mut net, seed ^ 1);
            let mut arch = s.sample(&mut rng(seed ^ 2));
            arch.blocks.iter_mut().flatten().for_each(|c| c.kernel = 7);
            net.set_active(&arch).unwrap();
            let x = randn(&[4, 1, 16, 16], 1.0, &mut rng(seed ^ 3));
            let y = [0, 3, 1, 2];
            let mut sub = net.extract(&arch).unwrap();
            sgd_step(&mut net, &x, &y);
            sgd_step(&mut sub, &x, &y);
            let after = net.subnet_state(&arch).unwrap();
            let want = nn::state_dict(&mut sub);
            prop_assert_eq!(after.buffers, want.buffers);
            for (name, (_, v)) in &want.params {
                let got = &after.params[name].1;
                let diff = got.iter().zip(v).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
                prop_assert!(diff <= 1e-6, "{}: {}", name, diff);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn every_sampled_config_extracts_to_the_same_outputs(seed in 0u64..10_000, res in prop::sample::select(vec![16usize, 32])) {
            let s = SearchSpace::tiny(0.25, res, 1, 10).unwrap();
            let mut net = Supernet::new(s.clone(), seed).unwrap();
            perturb(&mut net, seed ^ 1);
            let arch = s.sample(&mut rng(seed ^ 2));
            net.set_active(&arch).unwrap();
            let x = randn(&[2, 1, res, res], 1.0, &mut rng(seed ^ 3));
            let want = eval(&mut net, &x);
            let mut sub = net.extract(&arch).unwrap();
            prop_assert_eq!(nn::param_count(&sub), build::param_count(&s, &arch).unwrap());
            let got = eval(&mut sub, &x);
            let bits = |t: &Tensor| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&got), bits(&want), "config {}", arch.key());
        }
    }
}
