//! The MobileNetV2-style search space of MCUNet (TinyNAS) and once-for-all, and its sub-networks.
//!
//! A [`SearchSpace`] fixes what TinyNAS optimises over first: the width multiplier and the input
//! resolution. Inside it, a network is a stem (3x3 convolution, stride 2), a fixed first block
//! (depthwise 3x3 and projection, expand ratio 1), then [`StageSpec`] stages of inverted-residual
//! (MBConv) blocks, an optional 1x1 feature-mix convolution, global average pooling and a linear
//! classifier. Each stage has an elastic depth (the first `depth` of its `max_depth` blocks run), each
//! block an elastic depthwise kernel size and expand ratio. An [`ArchConfig`] picks one value of each:
//! it keeps a choice for every block slot, also the inactive ones, as OFA does, so mutation and
//! crossover act on a fixed-length genome.

use crate::error::{Result, arg_err};
use crate::nn::zoo::make_divisible_channels;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::Rng;
use serde::{Deserialize, Serialize};

/// One stage of MBConv blocks: its output channels before the width multiplier and the stride of its
/// first block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageSpec {
    /// Output channels at width 1.0 (rounded with [`make_divisible_channels`] after scaling).
    pub channels: usize,
    /// Stride of the stage's first block (1 or 2); the other blocks have stride 1.
    pub stride: usize,
}

/// A MobileNetV2-style search space at one width multiplier and input resolution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchSpace {
    /// Width multiplier applied to every channel count.
    pub width: f32,
    /// Input resolution (square images of `resolution x resolution`).
    pub resolution: usize,
    /// Input channels (1 for grayscale, 3 for RGB).
    pub in_channels: usize,
    /// Classes of the classifier.
    pub classes: usize,
    /// Stem output channels at width 1.0 (stride-2 3x3 convolution).
    pub stem_channels: usize,
    /// Output channels of the fixed first block (expand 1, kernel 3, stride 1) at width 1.0.
    pub first_block_channels: usize,
    /// The elastic stages.
    pub stages: Vec<StageSpec>,
    /// Channels of the 1x1 feature-mix convolution before pooling at width 1.0, if any.
    pub head_channels: Option<usize>,
    /// Depth choices per stage, ascending (OFA: {2, 3, 4}).
    pub depths: Vec<usize>,
    /// Depthwise kernel choices, ascending odd sizes (OFA: {3, 5, 7}).
    pub kernels: Vec<usize>,
    /// Expand-ratio choices, ascending (OFA: {3, 4, 6}).
    pub expands: Vec<usize>,
}

/// The choices of one block slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlockChoice {
    /// Depthwise kernel size.
    pub kernel: usize,
    /// Expand ratio of the 1x1 expansion.
    pub expand: usize,
}

/// One sub-network of a [`SearchSpace`]: the space's width and resolution (so a config describes its
/// network on its own), a depth per stage, and a [`BlockChoice`] for every block slot of every stage
/// (`blocks[s].len() == max depth`; slots at and past `depths[s]` are inactive).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchConfig {
    /// Width multiplier (equal to the space's).
    pub width: f32,
    /// Input resolution (equal to the space's).
    pub resolution: usize,
    /// Active blocks per stage.
    pub depths: Vec<usize>,
    /// Choices per stage and block slot.
    pub blocks: Vec<Vec<BlockChoice>>,
}

/// One active MBConv block of a sub-network, with its resolved channels and stride.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockSpec {
    /// Stage index.
    pub stage: usize,
    /// Block index inside the stage.
    pub index: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Hidden (expanded) channels: `in_channels * expand`.
    pub hidden_channels: usize,
    /// Depthwise kernel size.
    pub kernel: usize,
    /// Expand ratio.
    pub expand: usize,
    /// Stride of the depthwise convolution.
    pub stride: usize,
    /// Whether the block adds its input (stride 1 and equal channels).
    pub residual: bool,
    /// Spatial size of the block's input.
    pub in_hw: usize,
}

impl SearchSpace {
    /// MCUNet's MobileNetV2 space (OFA's channels 16 / 24, 40, 80, 96, 192, 320 with strides
    /// 2, 2, 2, 1, 2, 1) at `width` and `resolution`, depths {2, 3, 4}, kernels {3, 5, 7}, expands
    /// {3, 4, 6}, no feature-mix layer.
    pub fn mcunet(width: f32, resolution: usize, in_channels: usize, classes: usize) -> Result<Self> {
        let stages = [(24, 2), (40, 2), (80, 2), (96, 1), (192, 2), (320, 1)];
        Self::ofa_choices(width, resolution, in_channels, classes, (32, 16), &stages)
    }

    /// A small space for 28x28-class images (Fashion-MNIST) and quick runs: stem 16, first block 8,
    /// stages 16 (s2), 24 (s2), 40 (s2), 48 (s1), the OFA depth, kernel and expand choices.
    pub fn tiny(width: f32, resolution: usize, in_channels: usize, classes: usize) -> Result<Self> {
        let stages = [(16, 2), (24, 2), (40, 2), (48, 1)];
        Self::ofa_choices(width, resolution, in_channels, classes, (16, 8), &stages)
    }

    /// A checked space with OFA's choices (depths {2, 3, 4}, kernels {3, 5, 7}, expands {3, 4, 6}),
    /// no feature-mix layer, the `(stem, first block)` channels and `(channels, stride)` stages given.
    fn ofa_choices(
        width: f32,
        resolution: usize,
        in_channels: usize,
        classes: usize,
        (stem_channels, first_block_channels): (usize, usize),
        stages: &[(usize, usize)],
    ) -> Result<Self> {
        Self::new_checked(SearchSpace {
            width,
            resolution,
            in_channels,
            classes,
            stem_channels,
            first_block_channels,
            stages: stages.iter().map(|&(channels, stride)| StageSpec { channels, stride }).collect(),
            head_channels: None,
            depths: vec![2, 3, 4],
            kernels: vec![3, 5, 7],
            expands: vec![3, 4, 6],
        })
    }

    /// `space` after checking it: positive width, resolution at least the total downsampling,
    /// non-empty ascending choices, odd kernels, strides 1 or 2.
    pub fn new_checked(space: SearchSpace) -> Result<Self> {
        let op = "SearchSpace";
        if !(space.width > 0.0 && space.width.is_finite()) {
            return Err(arg_err(op, format!("width multiplier {} must be positive", space.width)));
        }
        if space.in_channels == 0 || space.classes == 0 || space.stem_channels == 0 {
            return Err(arg_err(op, "input channels, classes and stem channels must be positive"));
        }
        for (what, list) in [("depths", &space.depths), ("kernels", &space.kernels), ("expands", &space.expands)] {
            if list.is_empty() || list.contains(&0) || list.windows(2).any(|w| w[0] >= w[1]) {
                return Err(arg_err(op, format!("{what} {list:?} must be positive, strictly ascending, non-empty")));
            }
        }
        if let Some(k) = space.kernels.iter().find(|&&k| k % 2 == 0) {
            return Err(arg_err(op, format!("kernel size {k} must be odd")));
        }
        if space.stages.is_empty() {
            return Err(arg_err(op, "needs at least one stage"));
        }
        if let Some(s) = space.stages.iter().find(|s| !(s.stride == 1 || s.stride == 2) || s.channels == 0) {
            return Err(arg_err(op, format!("stage {s:?}: stride must be 1 or 2 and channels positive")));
        }
        let down = space.downsampling();
        if space.resolution < down {
            return Err(arg_err(op, format!("resolution {} is below the total stride {down}", space.resolution)));
        }
        Ok(space)
    }

    /// Total stride of the network (stem and stages).
    pub fn downsampling(&self) -> usize {
        self.stages.iter().fold(2, |d, s| d * s.stride)
    }

    /// The largest depth choice: the number of block slots per stage.
    pub fn max_depth(&self) -> usize {
        *self.depths.last().expect("checked non-empty")
    }

    /// Channels after the width multiplier (MCUNet's rounding to multiples of 8).
    pub fn scaled(&self, channels: usize) -> usize {
        make_divisible_channels(channels, self.width)
    }

    /// Stem output channels.
    pub fn stem_out(&self) -> usize {
        self.scaled(self.stem_channels)
    }

    /// Output channels of the fixed first block.
    pub fn first_block_out(&self) -> usize {
        self.scaled(self.first_block_channels)
    }

    /// Output channels of stage `s`.
    pub fn stage_out(&self, s: usize) -> usize {
        self.scaled(self.stages[s].channels)
    }

    /// Channels entering the classifier (the feature-mix output, or the last stage's).
    pub fn feature_channels(&self) -> usize {
        self.head_channels.map_or_else(|| self.stage_out(self.stages.len() - 1), |c| self.scaled(c))
    }

    /// The config with every choice at its largest (the supernet's full network).
    pub fn largest(&self) -> ArchConfig {
        let k = *self.kernels.last().expect("checked");
        let e = *self.expands.last().expect("checked");
        self.uniform(self.max_depth(), k, e)
    }

    /// The config with every choice at its smallest.
    pub fn smallest(&self) -> ArchConfig {
        self.uniform(self.depths[0], self.kernels[0], self.expands[0])
    }

    /// Every stage at `depth`, every block at `kernel` and `expand` (need not be choices of the
    /// space; [`SearchSpace::check`] says whether they are).
    pub fn uniform(&self, depth: usize, kernel: usize, expand: usize) -> ArchConfig {
        let slots = self.max_depth().max(depth);
        ArchConfig {
            width: self.width,
            resolution: self.resolution,
            depths: vec![depth; self.stages.len()],
            blocks: vec![vec![BlockChoice { kernel, expand }; slots]; self.stages.len()],
        }
    }

    /// Checks that `arch` belongs to this space: same width and resolution, one depth and
    /// `max_depth` block slots per stage, every value one of the space's choices.
    pub fn check(&self, arch: &ArchConfig) -> Result<()> {
        let op = "ArchConfig";
        if arch.width != self.width || arch.resolution != self.resolution {
            return Err(arg_err(
                op,
                format!(
                    "width {} / resolution {} differ from the space's {} / {}",
                    arch.width, arch.resolution, self.width, self.resolution
                ),
            ));
        }
        let stages = self.stages.len();
        if arch.depths.len() != stages || arch.blocks.len() != stages {
            return Err(arg_err(
                op,
                format!(
                    "{} depths and {} block lists for a space of {stages} stages",
                    arch.depths.len(),
                    arch.blocks.len()
                ),
            ));
        }
        for (s, (&d, blocks)) in arch.depths.iter().zip(&arch.blocks).enumerate() {
            if !self.depths.contains(&d) {
                return Err(arg_err(op, format!("stage {s}: depth {d} is not one of {:?}", self.depths)));
            }
            if blocks.len() != self.max_depth() {
                return Err(arg_err(
                    op,
                    format!("stage {s}: {} block slots, the space has {}", blocks.len(), self.max_depth()),
                ));
            }
            for (b, c) in blocks.iter().enumerate() {
                if !self.kernels.contains(&c.kernel) || !self.expands.contains(&c.expand) {
                    return Err(arg_err(
                        op,
                        format!(
                            "stage {s} block {b}: kernel {} / expand {} not among {:?} / {:?}",
                            c.kernel, c.expand, self.kernels, self.expands
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// A uniformly random config: every depth, kernel and expand drawn independently.
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> ArchConfig {
        ArchConfig {
            width: self.width,
            resolution: self.resolution,
            depths: (0..self.stages.len()).map(|_| pick(&self.depths, rng)).collect(),
            blocks: (0..self.stages.len())
                .map(|_| (0..self.max_depth()).map(|_| self.sample_block(rng)).collect())
                .collect(),
        }
    }

    fn sample_block(&self, rng: &mut ChaCha8Rng) -> BlockChoice {
        BlockChoice { kernel: pick(&self.kernels, rng), expand: pick(&self.expands, rng) }
    }

    /// OFA's mutation: every depth and every block slot is resampled with probability `prob`.
    pub fn mutate(&self, arch: &ArchConfig, prob: f64, rng: &mut ChaCha8Rng) -> ArchConfig {
        let mut out = arch.clone();
        for d in &mut out.depths {
            if uniform01(rng) < prob {
                *d = pick(&self.depths, rng);
            }
        }
        for slot in out.blocks.iter_mut().flatten() {
            if uniform01(rng) < prob {
                *slot = self.sample_block(rng);
            }
        }
        out
    }

    /// Uniform crossover: every depth and block slot taken from `a` or `b` with equal probability.
    pub fn crossover(&self, a: &ArchConfig, b: &ArchConfig, rng: &mut ChaCha8Rng) -> ArchConfig {
        let mut out = a.clone();
        for (d, &db) in out.depths.iter_mut().zip(&b.depths) {
            if rng.next_u32() & 1 == 1 {
                *d = db;
            }
        }
        for (slot, &sb) in out.blocks.iter_mut().flatten().zip(b.blocks.iter().flatten()) {
            if rng.next_u32() & 1 == 1 {
                *slot = sb;
            }
        }
        out
    }

    /// Length of [`SearchSpace::encode`]'s vector.
    pub fn encoding_len(&self) -> usize {
        self.stages.len() * self.max_depth() * (self.kernels.len() + self.expands.len())
    }

    /// OFA's architecture encoding for the accuracy predictor: per stage and block slot, a one-hot of
    /// the kernel and a one-hot of the expand ratio, all zeros for an inactive slot (so depth is
    /// encoded by which slots are zero). Fails when `arch` is not in the space.
    pub fn encode(&self, arch: &ArchConfig) -> Result<Vec<f32>> {
        self.check(arch)?;
        let mut v = Vec::with_capacity(self.encoding_len());
        for (&d, blocks) in arch.depths.iter().zip(&arch.blocks) {
            for (b, c) in blocks.iter().enumerate() {
                let active = b < d;
                v.extend(self.kernels.iter().map(|&k| f32::from(u8::from(active && k == c.kernel))));
                v.extend(self.expands.iter().map(|&e| f32::from(u8::from(active && e == c.expand))));
            }
        }
        Ok(v)
    }

    /// The active MBConv blocks of `arch` in execution order, with channels, strides, residuals and
    /// input sizes resolved (the fixed first block is not included). Fails when `arch` is not in the
    /// space.
    pub fn active_blocks(&self, arch: &ArchConfig) -> Result<Vec<BlockSpec>> {
        self.check(arch)?;
        let mut cin = self.first_block_out();
        let mut hw = self.resolution.div_ceil(2);
        let mut out = Vec::new();
        for (s, stage) in self.stages.iter().enumerate() {
            let cout = self.stage_out(s);
            for (index, c) in arch.blocks[s][..arch.depths[s]].iter().enumerate() {
                let stride = if index == 0 { stage.stride } else { 1 };
                out.push(BlockSpec {
                    stage: s,
                    index,
                    in_channels: cin,
                    out_channels: cout,
                    hidden_channels: cin * c.expand,
                    kernel: c.kernel,
                    expand: c.expand,
                    stride,
                    residual: stride == 1 && cin == cout,
                    in_hw: hw,
                });
                hw = hw.div_ceil(stride);
                cin = cout;
            }
        }
        Ok(out)
    }
}

impl ArchConfig {
    /// A short stable text key, e.g. `r48w0.5|d2,3|k3e6,k5e4,...` listing active blocks only, for
    /// deduplication and logs: two configs with equal keys build the same network.
    pub fn key(&self) -> String {
        let stages: Vec<String> = self
            .depths
            .iter()
            .zip(&self.blocks)
            .map(|(&d, b)| {
                b[..d.min(b.len())].iter().map(|c| format!("k{}e{}", c.kernel, c.expand)).collect::<Vec<_>>().join(",")
            })
            .collect();
        let depths: Vec<String> = self.depths.iter().map(|d| d.to_string()).collect();
        format!("r{}w{}|d{}|{}", self.resolution, self.width, depths.join(","), stages.join("|"))
    }
}

fn pick(choices: &[usize], rng: &mut ChaCha8Rng) -> usize {
    choices[(rng.next_u64() % choices.len() as u64) as usize]
}

fn uniform01(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::rng;
    use proptest::prelude::*;

    fn space() -> SearchSpace {
        SearchSpace::tiny(0.5, 32, 1, 10).unwrap()
    }

    #[test]
    fn largest_and_smallest_are_in_the_space() {
        let s = space();
        s.check(&s.largest()).unwrap();
        s.check(&s.smallest()).unwrap();
        assert_eq!(s.active_blocks(&s.largest()).unwrap().len(), 4 * 4);
        assert_eq!(s.active_blocks(&s.smallest()).unwrap().len(), 4 * 2);
    }

    #[test]
    fn blocks_resolve_channels_strides_and_sizes() {
        let s = space();
        let blocks = s.active_blocks(&s.smallest()).unwrap();
        // Stem halves 32 to 16; stage strides 2, 2, 2, 1.
        let sizes: Vec<usize> = blocks.iter().map(|b| b.in_hw).collect();
        assert_eq!(sizes, vec![16, 8, 8, 4, 4, 2, 2, 2]);
        assert_eq!(blocks[0].in_channels, s.first_block_out());
        assert!(!blocks[0].residual && blocks[1].residual);
        assert_eq!(blocks[1].hidden_channels, blocks[1].in_channels * 3);
    }

    #[test]
    fn bad_configs_are_refused_with_the_reason() {
        let s = space();
        let mut a = s.largest();
        a.depths[1] = 5;
        assert!(s.check(&a).unwrap_err().to_string().contains("stage 1: depth 5"));
        let mut b = s.largest();
        b.blocks[0][2].kernel = 4;
        assert!(s.check(&b).unwrap_err().to_string().contains("stage 0 block 2"));
        let mut c = s.largest();
        c.resolution = 40;
        assert!(s.check(&c).is_err());
        assert!(SearchSpace::tiny(0.5, 8, 1, 10).unwrap_err().to_string().contains("total stride"));
    }

    #[test]
    fn encoding_marks_active_slots_only() {
        let s = space();
        let e = s.encode(&s.smallest()).unwrap();
        assert_eq!(e.len(), s.encoding_len());
        // Two active slots per stage, each with one kernel and one expand bit.
        assert_eq!(e.iter().sum::<f32>(), (4 * 2 * 2) as f32);
    }

    proptest! {
        #[test]
        fn sampled_mutated_and_crossed_configs_stay_in_the_space(seed in 0u64..1000, p in 0.0f64..1.0) {
            let s = space();
            let mut r = rng(seed);
            let a = s.sample(&mut r);
            let b = s.sample(&mut r);
            prop_assert!(s.check(&a).is_ok());
            let m = s.mutate(&a, p, &mut r);
            prop_assert!(s.check(&m).is_ok());
            let c = s.crossover(&a, &b, &mut r);
            prop_assert!(s.check(&c).is_ok());
            for (i, (&dc, slots)) in c.depths.iter().zip(&c.blocks).enumerate() {
                prop_assert!(dc == a.depths[i] || dc == b.depths[i]);
                for (j, slot) in slots.iter().enumerate() {
                    prop_assert!(*slot == a.blocks[i][j] || *slot == b.blocks[i][j]);
                }
            }
            prop_assert_eq!(s.encode(&a).unwrap() == s.encode(&b).unwrap(), a.key() == b.key());
        }
    }
}
