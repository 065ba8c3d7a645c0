//! The exporter's graph of a sub-network, two ways.
//!
//! - [`arch_graph`]: straight from the architecture's shapes, without building, calibrating or
//!   converting a network: every op, tensor, path and constant length the exporter would produce for
//!   the standalone network ([`tinylab_classical::nas::build`]), with zero constants. Planning and
//!   costing only read shapes and lengths, so this is all a search needs, at a fraction of the cost.
//! - [`int8_standalone`] + [`McuGraph::from_int8`]: the real pipeline (standalone network with seeded
//!   weights, int8 conversion on seeded random calibration images), for export, measurement and the
//!   tests that hold [`arch_graph`] to it op for op.

use crate::error::Result;
use crate::graph::{ConvGeometry, McuGraph, Op, OpKind, RequantParams, TensorId, TensorShape};
use tinylab_classical::int8::kernels::out_size;
use tinylab_classical::int8::{ConvertOptions, Int8Model, RoundingPolicy, convert};
use tinylab_classical::nas::build::{STEM_LAYERS, standalone};
use tinylab_classical::nas::{ArchConfig, SearchSpace};
use tinylab_classical::tensor::{randn, rng};

/// Calibration images of [`int8_standalone`]: sizes do not depend on the ranges, so two suffice.
pub const CALIBRATION_IMAGES: usize = 2;

/// The int8 model of `arch`'s standalone network: weights from `seed`, activation ranges calibrated
/// on [`CALIBRATION_IMAGES`] standard normal images drawn from `seed + 1` (costs depend on shapes
/// only; values only matter for the outputs a measurement checks).
pub fn int8_standalone(space: &SearchSpace, arch: &ArchConfig, seed: u64) -> Result<Int8Model> {
    let mut net = standalone(space, arch, seed)?;
    let r = space.resolution;
    let calib = randn(&[CALIBRATION_IMAGES, space.in_channels, r, r], 1.0, &mut rng(seed.wrapping_add(1)));
    Ok(convert(&mut net, &calib, &ConvertOptions::default())?)
}

/// Builds the op list the exporter lowers a standalone network to.
struct Builder {
    tensors: Vec<TensorShape>,
    ops: Vec<Op>,
}

impl Builder {
    fn push(&mut self, path: String, kind: OpKind, inputs: Vec<TensorId>, shape: TensorShape) -> TensorId {
        self.tensors.push(shape);
        let output = self.tensors.len() - 1;
        self.ops.push(Op { path, kind, inputs, output });
        output
    }

    /// A convolution of `x` as the converter lowers it: depthwise when it has groups and one input
    /// channel per group, with BatchNorm folded (a bias) and the activation in the requantization.
    fn conv(
        &mut self,
        path: String,
        x: TensorId,
        c_out: usize,
        k: usize,
        stride: usize,
        groups: usize,
    ) -> Result<TensorId> {
        let s = self.tensors[x];
        let pad = k / 2;
        let oh = out_size("arch_graph", s.h, k, stride, pad, 1)?;
        let ow = out_size("arch_graph", s.w, k, stride, pad, 1)?;
        let geometry = ConvGeometry {
            kernel: (k, k),
            stride: (stride, stride),
            padding: (pad, pad),
            dilation: (1, 1),
            groups,
            c_out,
            input_zp: 0,
        };
        let requant = RequantParams {
            multipliers: vec![0; c_out],
            shifts: vec![0; c_out],
            output_zp: 0,
            act_min: -128,
            act_max: 127,
        };
        let bias = vec![0; c_out];
        let kind = if groups > 1 && s.c / groups == 1 {
            OpKind::Depthwise { geometry, weight: vec![0; k * k * c_out], bias, requant }
        } else {
            OpKind::Conv { geometry, weight: vec![0; c_out * k * k * s.c / groups], bias, requant }
        };
        Ok(self.push(path, kind, vec![x], TensorShape { h: oh, w: ow, c: c_out }))
    }

    /// The residual addition of a block: the body's output first, as the engine orders it.
    fn add(&mut self, path: String, body: TensorId, skip: TensorId) -> TensorId {
        let kind = OpKind::Add {
            input_zps: [0; 2],
            input_multipliers: [(0, 0); 2],
            output_multiplier: (0, 0),
            output_zp: 0,
            act_min: -128,
            act_max: 127,
        };
        let shape = self.tensors[body];
        self.push(path, kind, vec![body, skip], shape)
    }
}

/// The exporter's graph of `arch`'s standalone network, from its shapes alone: the same tensors, ops,
/// paths, geometries and constant lengths as `McuGraph::from_int8(&int8_standalone(..))` (the tests
/// check it op for op), but every constant, zero point and quantization parameter is zero. It is for
/// planning and costing ([`crate::plan`], [`McuGraph::constant_bytes`], [`McuGraph::macs`]), not for
/// code generation. Fails when `arch` is not in `space`.
pub fn arch_graph(space: &SearchSpace, arch: &ArchConfig) -> Result<McuGraph> {
    let blocks = space.active_blocks(arch)?;
    let r = space.resolution;
    let mut b = Builder { tensors: vec![TensorShape { h: r, w: r, c: space.in_channels }], ops: Vec::new() };
    let stem = space.stem_out();
    // Stem: conv, BN, ReLU6 at layers 0..3; the first block at layer 3.
    let mut x = b.conv("0".into(), 0, stem, 3, 2, 1)?;
    let first_out = space.first_block_out();
    let first_residual = stem == first_out;
    let body = |layer: usize, residual: bool| if residual { format!("{layer}.body") } else { layer.to_string() };
    let prefix = body(STEM_LAYERS - 1, first_residual);
    let dw = b.conv(format!("{prefix}.0"), x, stem, 3, 1, stem)?;
    let mut y = b.conv(format!("{prefix}.3"), dw, first_out, 1, 1, 1)?;
    if first_residual {
        y = b.add((STEM_LAYERS - 1).to_string(), y, x);
    }
    x = y;
    for (i, blk) in blocks.iter().enumerate() {
        let layer = STEM_LAYERS + i;
        let prefix = body(layer, blk.residual);
        // Layers of the body: [expand conv, BN, ReLU6,] depthwise, BN, ReLU6, projection, BN.
        let mut at = 0;
        let mut h = x;
        if blk.expand != 1 {
            h = b.conv(format!("{prefix}.0"), h, blk.hidden_channels, 1, 1, 1)?;
            at = 3;
        }
        h = b.conv(format!("{prefix}.{at}"), h, blk.hidden_channels, blk.kernel, blk.stride, blk.hidden_channels)?;
        h = b.conv(format!("{prefix}.{}", at + 3), h, blk.out_channels, 1, 1, 1)?;
        if blk.residual {
            h = b.add(layer.to_string(), h, x);
        }
        x = h;
    }
    let mut layer = STEM_LAYERS + blocks.len();
    if let Some(head) = space.head_channels {
        x = b.conv(layer.to_string(), x, space.scaled(head), 1, 1, 1)?;
        layer += 3;
    }
    let c = b.tensors[x].c;
    x = b.push(layer.to_string(), OpKind::GlobalAvgPool, vec![x], TensorShape { h: 1, w: 1, c });
    let requant = RequantParams {
        multipliers: vec![0; space.classes],
        shifts: vec![0; space.classes],
        output_zp: 0,
        act_min: -128,
        act_max: 127,
    };
    let fc = OpKind::FullyConnected {
        input_zp: 0,
        weight: vec![0; space.classes * c],
        bias: vec![0; space.classes],
        requant,
    };
    let output = b.push((layer + 1).to_string(), fc, vec![x], TensorShape { h: 1, w: 1, c: space.classes });
    Ok(McuGraph {
        tensors: b.tensors,
        ops: b.ops,
        input: 0,
        output,
        policy: RoundingPolicy::DoubleRounding,
        input_quant: (1.0, 0),
        output_quant: (1.0, 0),
        output_nchw: None,
    })
}

/// The graph with every value the converter chooses (constants, zero points, multipliers, clamp
/// ranges, quantization parameters) zeroed, keeping shapes, paths, geometries and constant lengths:
/// what [`arch_graph`] promises to equal.
pub fn layout_of(graph: &McuGraph) -> McuGraph {
    let mut g = graph.clone();
    let zero_requant = |r: &mut RequantParams| {
        r.multipliers.iter_mut().for_each(|m| *m = 0);
        r.shifts.iter_mut().for_each(|s| *s = 0);
        r.output_zp = 0;
        r.act_min = -128;
        r.act_max = 127;
    };
    for op in &mut g.ops {
        match &mut op.kind {
            OpKind::Conv { geometry, weight, bias, requant }
            | OpKind::Depthwise { geometry, weight, bias, requant } => {
                geometry.input_zp = 0;
                weight.iter_mut().for_each(|w| *w = 0);
                bias.iter_mut().for_each(|b| *b = 0);
                zero_requant(requant);
            }
            OpKind::FullyConnected { input_zp, weight, bias, requant } => {
                *input_zp = 0;
                weight.iter_mut().for_each(|w| *w = 0);
                bias.iter_mut().for_each(|b| *b = 0);
                zero_requant(requant);
            }
            OpKind::Add { input_zps, input_multipliers, output_multiplier, output_zp, act_min, act_max } => {
                *input_zps = [0; 2];
                *input_multipliers = [(0, 0); 2];
                *output_multiplier = (0, 0);
                *output_zp = 0;
                (*act_min, *act_max) = (-128, 127);
            }
            _ => {}
        }
    }
    g.policy = RoundingPolicy::DoubleRounding;
    g.input_quant = (1.0, 0);
    g.output_quant = (1.0, 0);
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tinylab_classical::graph::{FoldBatchNorm, apply_passes, cost, trace};

    fn space() -> SearchSpace {
        SearchSpace::tiny(0.5, 32, 1, 10).unwrap()
    }

    /// The exporter's graph of the real pipeline, constants zeroed.
    fn exported_layout(space: &SearchSpace, arch: &ArchConfig, seed: u64) -> McuGraph {
        layout_of(&McuGraph::from_int8(&int8_standalone(space, arch, seed).unwrap()).unwrap())
    }

    #[test]
    fn arch_graph_is_the_exporters_graph_of_the_extremes() {
        let spaces = [
            space(),
            SearchSpace::tiny(0.25, 32, 1, 10).unwrap(),
            SearchSpace::tiny(1.0, 28, 3, 4).unwrap(),
            SearchSpace::mcunet(0.35, 64, 3, 5).unwrap(),
        ];
        for s in spaces {
            for arch in [s.smallest(), s.largest()] {
                assert_eq!(arch_graph(&s, &arch).unwrap(), exported_layout(&s, &arch, 3), "{}", arch.key());
            }
        }
    }

    #[test]
    fn arch_graph_with_a_head_matches_too() {
        let mut s = space();
        s.head_channels = Some(64);
        let arch = s.smallest();
        let g = arch_graph(&s, &arch).unwrap();
        assert_eq!(g, exported_layout(&s, &arch, 4));
        assert!(g.ops.iter().any(|op| op.path == "12" && op.kind.name() == "conv1x1"));
    }

    #[test]
    fn params_and_macs_agree_with_the_float_graph() {
        // The independent count: the traced float network with BatchNorm folded
        // (tinylab_classical::graph::cost), weights and biases of every layer.
        let s = space();
        for arch in [s.smallest(), s.largest()] {
            let mut net = tinylab_classical::nas::build::standalone(&s, &arch, 0).unwrap();
            let mut g = trace(&mut net, &[1, 32, 32]).unwrap();
            apply_passes(&mut g, &[&FoldBatchNorm]).unwrap();
            let reference = cost(&g);
            let ours = arch_graph(&s, &arch).unwrap();
            assert_eq!(crate::nas::cost::params(&ours), reference.params);
            assert_eq!(ours.macs() as u64, reference.macs);
        }
    }

    #[test]
    fn a_config_outside_the_space_is_refused() {
        let s = space();
        let mut arch = s.smallest();
        arch.depths[0] = 7;
        assert!(arch_graph(&s, &arch).unwrap_err().to_string().contains("depth 7"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        #[test]
        fn arch_graph_is_the_exporters_graph(seed in 0u64..10_000) {
            let s = space();
            let arch = s.sample(&mut rng(seed));
            prop_assert_eq!(arch_graph(&s, &arch).unwrap(), exported_layout(&s, &arch, seed));
        }
    }
}
