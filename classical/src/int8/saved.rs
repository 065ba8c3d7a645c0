//! Saving and loading an [`Int8Model`] as a checkpoint of kind [`INT8_MODEL_KIND`].
//!
//! The file holds the integer weights, biases, requantization parameters and activation quantization
//! of every layer and what each layer reads — what a deployment needs (the `tinylab export-mcu`
//! command reads it) — never the derived kernel packing. Loading rebuilds every layer through its
//! checked constructor, so a file that passes the checksum but holds inconsistent sizes is an error
//! naming the layer, not a panic.
//!
//! Versions: the layer format is part of the kind string (`int8_model.v2`); format 1 (kind
//! `int8_model`, layers as a tree of residual blocks) is refused with both versions named.

use super::fixed_point::RoundingPolicy;
use super::kernels::add::QAdd;
use super::kernels::concat::QConcat;
use super::kernels::conv::QConv2d;
use super::kernels::depthwise::QDepthwiseConv2d;
use super::kernels::fully_connected::QLinear;
use super::model::{Int8Layer, Int8Model, Int8Node, Source};
use super::weights::QuantizedWeights;
use crate::checkpoint::{self, CheckpointError};
use crate::compress::quant::QuantParams;
use crate::error::{Result, arg_err};
use crate::ops::{Activation, Conv2dSpec, Pool2dSpec};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The layer format version this build writes and reads.
pub const INT8_MODEL_VERSION: u32 = 2;

/// The checkpoint kind of a saved int8 model (with the layer format version).
pub const INT8_MODEL_KIND: &str = "int8_model.v2";

/// The kind string of format 1.
const KIND_V1: &str = "int8_model";

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
    inputs: Vec<Source>,
    output: QuantParams,
    act: Option<Activation>,
    layer: SavedLayer,
}

#[derive(Serialize, Deserialize)]
enum SavedLayer {
    Conv { weights: QuantizedWeights, spec: Conv2dSpec },
    Depthwise { weights: QuantizedWeights, spec: Conv2dSpec },
    FullyConnected { weights: QuantizedWeights },
    MaxPool(Pool2dSpec),
    AvgPool(Pool2dSpec),
    GlobalAvgPool,
    Flatten,
    Clamp { min: i32, max: i32 },
    Add(QAdd),
    Concat(QConcat),
}

fn save_layer(layer: &Int8Layer) -> SavedLayer {
    match layer {
        Int8Layer::Conv(op) => SavedLayer::Conv { weights: op.weights().clone(), spec: op.spec() },
        Int8Layer::Depthwise(op) => SavedLayer::Depthwise { weights: op.weights().clone(), spec: op.spec() },
        Int8Layer::FullyConnected(op) => SavedLayer::FullyConnected { weights: op.weights().clone() },
        Int8Layer::MaxPool(s) => SavedLayer::MaxPool(*s),
        Int8Layer::AvgPool(s) => SavedLayer::AvgPool(*s),
        Int8Layer::GlobalAvgPool => SavedLayer::GlobalAvgPool,
        Int8Layer::Flatten => SavedLayer::Flatten,
        Int8Layer::Clamp { min, max } => SavedLayer::Clamp { min: *min, max: *max },
        Int8Layer::Add(add) => SavedLayer::Add(*add),
        Int8Layer::Concat(c) => SavedLayer::Concat(c.clone()),
    }
}

/// Rebuilds the requantization through its checked constructor.
fn checked(mut w: QuantizedWeights) -> Result<QuantizedWeights> {
    let r = w.requant;
    w.requant = super::fixed_point::Requant::new(r.multipliers, r.output_zero_point, r.act_min, r.act_max, r.policy)?;
    Ok(w)
}

fn load_layer(layer: SavedLayer) -> Result<Int8Layer> {
    Ok(match layer {
        SavedLayer::Conv { weights, spec } => Int8Layer::Conv(QConv2d::new(checked(weights)?, spec)?),
        SavedLayer::Depthwise { weights, spec } => {
            Int8Layer::Depthwise(QDepthwiseConv2d::new(checked(weights)?, spec)?)
        }
        SavedLayer::FullyConnected { weights } => Int8Layer::FullyConnected(QLinear::new(checked(weights)?)?),
        SavedLayer::MaxPool(s) => Int8Layer::MaxPool(s),
        SavedLayer::AvgPool(s) => Int8Layer::AvgPool(s),
        SavedLayer::GlobalAvgPool => Int8Layer::GlobalAvgPool,
        SavedLayer::Flatten => Int8Layer::Flatten,
        SavedLayer::Clamp { min, max } => Int8Layer::Clamp { min, max },
        SavedLayer::Add(add) => Int8Layer::Add(add),
        SavedLayer::Concat(c) => Int8Layer::Concat(c),
    })
}

impl Int8Model {
    /// Saves the model as a checkpoint (atomically: a failed save leaves an earlier file intact).
    pub fn save(&self, path: &Path) -> Result<()> {
        let nodes = self
            .nodes
            .iter()
            .map(|n| SavedNode {
                path: n.path.clone(),
                inputs: n.inputs.clone(),
                output: n.output.clone(),
                act: n.act,
                layer: save_layer(&n.layer),
            })
            .collect();
        let saved = SavedModel { input: self.input.clone(), input_shape: self.input_shape, policy: self.policy, nodes };
        Ok(checkpoint::save(path, INT8_MODEL_KIND, &saved)?)
    }

    /// Loads a model saved by [`save`](Self::save); a missing, corrupt or wrong-kind file, a file of
    /// another layer format version, or layers whose sizes disagree, are errors.
    pub fn load(path: &Path) -> Result<Self> {
        let saved: SavedModel = match checkpoint::load(path, INT8_MODEL_KIND) {
            Ok(s) => s,
            Err(CheckpointError::WrongKind { found, .. }) if found == KIND_V1 || found.starts_with("int8_model.v") => {
                let version = found.strip_prefix("int8_model.v").map_or("1".to_string(), str::to_string);
                return Err(arg_err(
                    "Int8Model::load",
                    format!(
                        "{}: int8 model format version {version} is not supported (this build reads version {INT8_MODEL_VERSION}); convert the float model again",
                        path.display()
                    ),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let in_file = |e| arg_err("Int8Model::load", format!("{}: {e}", path.display()));
        let nodes = saved
            .nodes
            .into_iter()
            .map(|n| {
                let layer = load_layer(n.layer).map_err(|e| in_file(arg_err("layer", format!("`{}`: {e}", n.path))))?;
                Ok(Int8Node { path: n.path, inputs: n.inputs, layer, output: n.output, act: n.act })
            })
            .collect::<Result<_>>()?;
        Int8Model::from_parts(saved.input, saved.input_shape, nodes, saved.policy).map_err(in_file)
    }
}
