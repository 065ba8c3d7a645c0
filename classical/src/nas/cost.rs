//! What a sub-network costs on a microcontroller, and the budget a search must respect.
//!
//! The search in this crate only sees the [`CostModel`] trait; `tinylab-mcu-export` implements it
//! from the exported int8 graph (flash as the exporter lays it out, peak SRAM under one of its memory
//! planners, latency from a per-op table of emulated Cortex-M instruction counts).

use super::space::{ArchConfig, SearchSpace};
use crate::error::Result;
use serde::{Deserialize, Serialize};

/// The costs of one sub-network.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchCost {
    /// Multiply-accumulates of one inference.
    pub macs: u64,
    /// Trainable parameters of the float model (BatchNorm folded into the convolutions).
    pub params: u64,
    /// Flash bytes of the int8 export: weights, biases and requantization constants.
    pub flash_bytes: u64,
    /// Peak SRAM bytes of the activation arena under the model's memory planner.
    pub peak_sram_bytes: u64,
    /// Predicted latency in instructions on the target core, when the model has a latency table.
    pub latency_instructions: Option<u64>,
}

/// Budgets on [`ArchCost`]; `None` leaves a cost unconstrained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Constraints {
    /// Most peak SRAM bytes.
    pub max_sram_bytes: Option<u64>,
    /// Most flash bytes.
    pub max_flash_bytes: Option<u64>,
    /// Most instructions per inference.
    pub max_latency_instructions: Option<u64>,
}

impl Constraints {
    /// Whether `cost` is within every budget. A latency budget with no latency estimate fails.
    pub fn admits(&self, cost: &ArchCost) -> bool {
        let within = |limit: Option<u64>, value: Option<u64>| match (limit, value) {
            (None, _) => true,
            (Some(l), Some(v)) => v <= l,
            (Some(_), None) => false,
        };
        within(self.max_sram_bytes, Some(cost.peak_sram_bytes))
            && within(self.max_flash_bytes, Some(cost.flash_bytes))
            && within(self.max_latency_instructions, cost.latency_instructions)
    }
}

/// Exact costs of sub-networks of a search space.
pub trait CostModel {
    /// The costs of `arch`, a member of `space`.
    fn cost(&self, space: &SearchSpace, arch: &ArchConfig) -> Result<ArchCost>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_admit_exactly_the_costs_within_budget() {
        let cost = ArchCost { macs: 10, params: 5, flash_bytes: 100, peak_sram_bytes: 50, latency_instructions: None };
        assert!(Constraints::default().admits(&cost));
        let c = Constraints { max_sram_bytes: Some(50), max_flash_bytes: Some(100), max_latency_instructions: None };
        assert!(c.admits(&cost));
        assert!(!Constraints { max_sram_bytes: Some(49), ..c }.admits(&cost));
        assert!(!Constraints { max_latency_instructions: Some(1_000), ..c }.admits(&cost));
        let timed = ArchCost { latency_instructions: Some(999), ..cost };
        assert!(Constraints { max_latency_instructions: Some(1_000), ..c }.admits(&timed));
    }
}
