//! Neural architecture search for microcontrollers: the MobileNetV2-style search space of MCUNet's
//! TinyNAS and of once-for-all (OFA) supernets, the cost-model interface the search is constrained by,
//! and the searches.
//!
//! - [`space`]: [`SearchSpace`] (a width multiplier and input resolution, stages with elastic depth,
//!   blocks with elastic kernel and expand ratio) and [`ArchConfig`] (one sub-network of it), with
//!   sampling, mutation, crossover and the fixed-length encoding the accuracy predictor reads.
//! - [`build`]: the standalone network of a sub-network in plain layers (its layout is the contract
//!   supernet extraction and the cost models share).
//! - [`cost`]: [`CostModel`], the exact costs of a sub-network (MACs, params, int8 flash, peak SRAM,
//!   latency) and [`Constraints`] on them. This crate defines the trait; `tinylab-mcu-export`
//!   implements it with its memory planners and latency table, so the dependency rule holds (the root
//!   experiment wires the two).
//! - [`predictor`]: OFA's accuracy predictor, an MLP on the encoding, judged by held-out RMSE and
//!   Kendall's τ.
//! - [`search`]: evolutionary and random search under constraints with a score function
//!   ([`search::SearchProblem`]).
//! - [`tinynas`]: MCUNet's choice of width and resolution by the MACs distribution of the models
//!   that satisfy the memory constraint.
//! - [`proxyless`]: ProxylessNAS' path binarisation with an expected-latency loss (Cai et al., ICLR
//!   2019).
//! - [`elastic`]: the elastic layers of a once-for-all supernet (sliced 1x1 convolutions, depthwise
//!   convolutions with OFA's kernel transformations, sliced BatchNorm, importance sorting of channels).
//! - [`supernet`]: [`Supernet`], the weight-sharing network running any [`ArchConfig`] of its space,
//!   and the extraction of a sub-network into its standalone network with the shared weights.
//! - [`shrink`]: progressive shrinking (full, then elastic kernel, depth, expand), distilling
//!   sampled sub-networks from the largest in place, with checkpoints that resume bit for bit.
//! - [`recalibrate`]: BatchNorm statistics of one sub-network, recomputed before it is evaluated.
//!
//! References: Cai et al., "Once-for-All: Train One Network and Specialize it for Efficient
//! Deployment" (ICLR 2020); Lin et al., "MCUNet: Tiny Deep Learning on IoT Devices" (NeurIPS 2020).

pub mod build;
pub mod cost;
pub mod elastic;
pub mod predictor;
pub mod proxyless;
pub mod recalibrate;
pub mod search;
pub mod shrink;
pub mod space;
pub mod supernet;
#[cfg(test)]
mod testing;
pub mod tinynas;

pub use cost::{ArchCost, Constraints, CostModel};
pub use space::{ArchConfig, BlockChoice, BlockSpec, SearchSpace, StageSpec};
pub use supernet::Supernet;
