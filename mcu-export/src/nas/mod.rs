//! The microcontroller side of neural architecture search (`tinylab_classical::nas`): exact costs
//! of a sub-network as this crate deploys it, and a latency table measured on the emulated Cortex-M.
//!
//! - [`lower`]: the exporter's graph of a sub-network from its shapes alone ([`arch_graph`]), and
//!   the real int8 pipeline ([`int8_standalone`]) it is held to.
//! - [`cost`]: [`McuCostModel`], the [`tinylab_classical::nas::CostModel`] of a planner, kernel set
//!   and board: MACs, parameters, flash and peak SRAM as the exporter plans them, latency from a table.
//! - [`latency`]: [`LatencyTable`], instructions per op shape, summed per network.
//! - [`measure`]: measuring a table under qemu from a covering set of sub-networks (cached as
//!   JSON), and its error on random ones measured whole.

pub mod cost;
pub mod latency;
pub mod lower;
pub mod measure;

pub use cost::McuCostModel;
pub use latency::{LatencyTable, OpKey};
pub use lower::{arch_graph, int8_standalone};
