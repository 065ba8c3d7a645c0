//! [`McuCostModel`]: the exact costs of a sub-network as `mcu-export` would deploy it, for the search
//! of `tinylab_classical::nas`.
//!
//! One evaluation lowers the architecture to the exporter's graph from its shapes
//! ([`super::arch_graph`]: no weights, no conversion, no files), plans the arena with the model's
//! planner and kernels ([`crate::plan::plan_with`]), and reads off
//! - MACs as planned ([`MemoryPlan::macs`]: the patch overlap included),
//! - parameters: int8 weights and biases (BatchNorm folded),
//! - flash: [`McuGraph::constant_bytes`], the weights, biases and requantization constants the
//!   exporter writes (what its report calls `constant_bytes`),
//! - peak SRAM: the arena, plus the caller's input buffer when the plan reads the input in place
//!   (what [`crate::export::plan_for_board_with`] holds against the board),
//! - latency: the [`LatencyTable`]'s prediction, when the model has one.

use super::latency::LatencyTable;
use super::lower::arch_graph;
use crate::error::{ExportError, Result};
use crate::graph::{McuGraph, OpKind};
use crate::kernels::Kernels;
use crate::plan::{MemoryPlan, Planner, plan_with};
use crate::target::Board;
use tinylab_classical::error::ClassicalError;
use tinylab_classical::nas::{ArchConfig, ArchCost, Constraints, CostModel, SearchSpace};

/// The cost model of a board: a planner and kernel set, and optionally a latency table measured for
/// them (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct McuCostModel {
    /// How the arena is planned.
    pub planner: Planner,
    /// The C kernels (their scratch areas are part of the arena).
    pub kernels: Kernels,
    /// The board whose memory [`McuCostModel::board_constraints`] turns into budgets.
    pub board: Board,
    /// Per-op instruction counts for the latency estimate; `None` leaves latency unestimated.
    pub latency: Option<LatencyTable>,
}

impl McuCostModel {
    /// A model without latency table.
    pub fn new(planner: Planner, kernels: Kernels, board: Board) -> Self {
        Self { planner, kernels, board, latency: None }
    }

    /// The model with `table` for latency; fails unless the table was measured for this model's
    /// kernels and planner.
    pub fn with_latency(mut self, table: LatencyTable) -> Result<Self> {
        table.check_compatible(self.planner, self.kernels)?;
        self.latency = Some(table);
        Ok(self)
    }

    /// The board's memory as budgets: SRAM left after the stack and heap, and the flash (constants
    /// only: code is not counted, as in [`crate::export::plan_for_board_with`]).
    pub fn board_constraints(&self) -> Constraints {
        Constraints {
            max_sram_bytes: Some(self.board.sram_for_data() as u64),
            max_flash_bytes: Some(self.board.flash_bytes as u64),
            max_latency_instructions: None,
        }
    }

    /// The plan of `graph` under this model's planner and kernels.
    pub fn plan(&self, graph: &McuGraph) -> Result<MemoryPlan> {
        plan_with(graph, self.planner, self.kernels)
    }

    /// The costs of `graph` under `plan` (see the module docs).
    pub fn cost_of_plan(&self, graph: &McuGraph, plan: &MemoryPlan) -> Result<ArchCost> {
        let latency = match &self.latency {
            Some(t) => Some(t.predict(graph, plan)?),
            None => None,
        };
        Ok(ArchCost {
            macs: plan.macs as u64,
            params: params(graph) as u64,
            flash_bytes: graph.constant_bytes() as u64,
            peak_sram_bytes: peak_sram(graph, plan) as u64,
            latency_instructions: latency,
        })
    }

    /// The costs of `arch`, with this crate's error type (the [`CostModel`] impl converts it).
    pub fn evaluate(&self, space: &SearchSpace, arch: &ArchConfig) -> Result<ArchCost> {
        let graph = arch_graph(space, arch)?;
        let plan = self.plan(&graph)?;
        self.cost_of_plan(&graph, &plan)
    }
}

/// SRAM the plan needs for data: the arena, plus the input buffer it reads in place when it does.
pub fn peak_sram(graph: &McuGraph, plan: &MemoryPlan) -> usize {
    plan.arena_bytes + if plan.external_input { graph.input_bytes() } else { 0 }
}

/// Weights and biases of the graph's convolutions and fully connected layers.
pub fn params(graph: &McuGraph) -> usize {
    graph
        .ops
        .iter()
        .map(|op| match &op.kind {
            OpKind::Conv { weight, bias, .. }
            | OpKind::Depthwise { weight, bias, .. }
            | OpKind::FullyConnected { weight, bias, .. } => weight.len() + bias.len(),
            _ => 0,
        })
        .sum()
}

impl CostModel for McuCostModel {
    fn cost(&self, space: &SearchSpace, arch: &ArchConfig) -> tinylab_classical::error::Result<ArchCost> {
        self.evaluate(space, arch).map_err(|e| match e {
            ExportError::Engine(inner) => inner,
            other => ClassicalError::InvalidArgument { op: "McuCostModel", why: other.to_string() },
        })
    }
}
