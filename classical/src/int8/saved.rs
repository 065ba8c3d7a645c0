//! Saving and loading an [`Int8Model`] as a checkpoint (kind [`INT8_MODEL_KIND`]).
//!
//! The file holds the integer weights, biases, requantization parameters and activation quantization
//! of every layer — what a deployment needs (the `tinylab export-mcu` command reads it) — never the
//! derived kernel packing. Loading rebuilds every layer through its checked constructor, so a file that
//! passes the checksum but holds inconsistent sizes is an error naming the layer, not a panic.

use super::fixed_point::{Requant, RoundingPolicy};
use super::graph::{Int8Layer, Int8Model, Int8Node};
use super::kernels::add::QAdd;
use super::kernels::conv::QConv2d;
use super::kernels::depthwise::QDepthwiseConv2d;
use super::kernels::fully_connected::QLinear;
use crate::checkpoint;
use crate::compress::quant::QuantParams;
use crate::error::Result;
use crate::ops::{Activation, Conv2dSpec, Pool2dSpec};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The checkpoint kind of a saved int8 model.
pub const INT8_MODEL_KIND: &str = "int8_model";

#[derive(Serialize, Deserialize)]
struct SavedModel {
    input: QuantParams,
    input_shape: [usize; 3],
    policy: RoundingPolicy,
    nodes: Vec<SavedNode>,
}

#[derive(Serialize, Deserialize)]
struct SavedNode {
    path: String,
    output: QuantParams,
    act: Option<Activation>,
    layer: SavedLayer,
}

/// A convolution's parts, the arguments of `QConv2d::new` / `QDepthwiseConv2d::new`.
#[derive(Serialize, Deserialize)]
struct SavedConv {
    weight: Vec<i8>,
    shape: [usize; 4],
    bias: Vec<i32>,
    spec: Conv2dSpec,
    input_zero_point: i32,
    requant: Requant,
    weight_scales: Vec<f32>,
}

impl SavedConv {
    /// The parts of a conv or depthwise layer: `(weight, shape, bias)`, `(spec, input zero point,
    /// requant)` and the weight scales.
    fn of(
        (weight, shape, bias): (&[i8], [usize; 4], &[i32]),
        (spec, input_zero_point, requant): (Conv2dSpec, i32, &Requant),
        weight_scales: &[f32],
    ) -> Self {
        Self {
            weight: weight.to_vec(),
            shape,
            bias: bias.to_vec(),
            spec,
            input_zero_point,
            requant: requant.clone(),
            weight_scales: weight_scales.to_vec(),
        }
    }
}

#[derive(Serialize, Deserialize)]
enum SavedLayer {
    Conv(SavedConv),
    Depthwise(SavedConv),
    FullyConnected {
        weight: Vec<i8>,
        features: (usize, usize),
        bias: Vec<i32>,
        input_zero_point: i32,
        requant: Requant,
        weight_scales: Vec<f32>,
    },
    MaxPool(Pool2dSpec),
    AvgPool(Pool2dSpec),
    GlobalAvgPool,
    Flatten,
    Clamp {
        min: i32,
        max: i32,
    },
    Residual {
        body: Vec<SavedNode>,
        shortcut: Option<Vec<SavedNode>>,
        add: QAdd,
    },
}

fn save_nodes(nodes: &[Int8Node]) -> Vec<SavedNode> {
    nodes
        .iter()
        .map(|n| {
            let layer = match &n.layer {
                Int8Layer::Conv { op, weight_scales } => SavedLayer::Conv(SavedConv::of(
                    (op.weight(), op.weight_shape(), op.bias()),
                    (op.spec(), op.input_zero_point(), op.requant()),
                    weight_scales,
                )),
                Int8Layer::Depthwise { op, weight_scales } => SavedLayer::Depthwise(SavedConv::of(
                    (op.weight(), op.weight_shape(), op.bias()),
                    (op.spec(), op.input_zero_point(), op.requant()),
                    weight_scales,
                )),
                Int8Layer::FullyConnected { op, weight_scales } => SavedLayer::FullyConnected {
                    weight: op.weight().to_vec(),
                    features: op.features(),
                    bias: op.bias().to_vec(),
                    input_zero_point: op.input_zero_point(),
                    requant: op.requant().clone(),
                    weight_scales: weight_scales.clone(),
                },
                Int8Layer::MaxPool(s) => SavedLayer::MaxPool(*s),
                Int8Layer::AvgPool(s) => SavedLayer::AvgPool(*s),
                Int8Layer::GlobalAvgPool => SavedLayer::GlobalAvgPool,
                Int8Layer::Flatten => SavedLayer::Flatten,
                Int8Layer::Clamp { min, max } => SavedLayer::Clamp { min: *min, max: *max },
                Int8Layer::Residual { body, shortcut, add } => SavedLayer::Residual {
                    body: save_nodes(body),
                    shortcut: shortcut.as_deref().map(save_nodes),
                    add: *add,
                },
            };
            SavedNode { path: n.path.clone(), output: n.output.clone(), act: n.act, layer }
        })
        .collect()
}

fn requant(r: Requant) -> Result<Requant> {
    Requant::new(r.multipliers, r.output_zero_point, r.act_min, r.act_max, r.policy)
}

fn load_nodes(nodes: Vec<SavedNode>) -> Result<Vec<Int8Node>> {
    nodes
        .into_iter()
        .map(|n| {
            let layer = match n.layer {
                SavedLayer::Conv(c) => Int8Layer::Conv {
                    op: QConv2d::new(c.weight, c.shape, c.bias, c.spec, c.input_zero_point, requant(c.requant)?)?,
                    weight_scales: c.weight_scales,
                },
                SavedLayer::Depthwise(c) => Int8Layer::Depthwise {
                    op: QDepthwiseConv2d::new(
                        c.weight,
                        c.shape,
                        c.bias,
                        c.spec,
                        c.input_zero_point,
                        requant(c.requant)?,
                    )?,
                    weight_scales: c.weight_scales,
                },
                SavedLayer::FullyConnected { weight, features, bias, input_zero_point, requant: r, weight_scales } => {
                    Int8Layer::FullyConnected {
                        op: QLinear::new(weight, features.0, features.1, bias, input_zero_point, requant(r)?)?,
                        weight_scales,
                    }
                }
                SavedLayer::MaxPool(s) => Int8Layer::MaxPool(s),
                SavedLayer::AvgPool(s) => Int8Layer::AvgPool(s),
                SavedLayer::GlobalAvgPool => Int8Layer::GlobalAvgPool,
                SavedLayer::Flatten => Int8Layer::Flatten,
                SavedLayer::Clamp { min, max } => Int8Layer::Clamp { min, max },
                SavedLayer::Residual { body, shortcut, add } => Int8Layer::Residual {
                    body: load_nodes(body)?,
                    shortcut: shortcut.map(load_nodes).transpose()?,
                    add,
                },
            };
            Ok(Int8Node { path: n.path, layer, output: n.output, act: n.act })
        })
        .collect()
}

impl Int8Model {
    /// Saves the model as a checkpoint (atomically: a failed save leaves an earlier file intact).
    pub fn save(&self, path: &Path) -> Result<()> {
        let saved = SavedModel {
            input: self.input.clone(),
            input_shape: self.input_shape,
            policy: self.policy,
            nodes: save_nodes(&self.nodes),
        };
        Ok(checkpoint::save(path, INT8_MODEL_KIND, &saved)?)
    }

    /// Loads a model saved by [`save`](Self::save); a missing, corrupt or wrong-kind file, or layers
    /// whose sizes disagree, are errors.
    pub fn load(path: &Path) -> Result<Self> {
        let saved: SavedModel = checkpoint::load(path, INT8_MODEL_KIND)?;
        let nodes = load_nodes(saved.nodes)?;
        Int8Model::from_parts(saved.input, saved.input_shape, nodes, saved.policy)
    }
}
