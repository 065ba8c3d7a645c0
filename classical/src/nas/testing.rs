//! Test doubles for the searches: a closed-form cost model and a synthetic score.

use super::cost::{ArchCost, CostModel};
use super::space::{ArchConfig, SearchSpace};
use crate::error::Result;

/// MobileNetV2 arithmetic of the active blocks: MACs of the expansion, depthwise and projection
/// convolutions; peak SRAM the largest int8 input + hidden + output of one block; flash the weights;
/// latency one instruction per MAC.
pub(crate) struct ClosedFormCost;

impl CostModel for ClosedFormCost {
    fn cost(&self, space: &SearchSpace, arch: &ArchConfig) -> Result<ArchCost> {
        let (mut macs, mut params, mut peak) = (0u64, 0u64, 0u64);
        for b in space.active_blocks(arch)? {
            let out_hw = b.in_hw.div_ceil(b.stride) as u64;
            let (cin, hid, cout, k) =
                (b.in_channels as u64, b.hidden_channels as u64, b.out_channels as u64, b.kernel as u64);
            let in_px = (b.in_hw * b.in_hw) as u64;
            let w = cin * hid + hid * k * k + hid * cout;
            macs += in_px * cin * hid + out_hw * out_hw * (hid * k * k + hid * cout);
            params += w;
            peak = peak.max(in_px * (cin + hid) + out_hw * out_hw * cout);
        }
        Ok(ArchCost { macs, params, flash_bytes: params, peak_sram_bytes: peak, latency_instructions: Some(macs) })
    }
}

/// A score that grows with capacity (so the best configs sit at the budget's edge) plus a
/// preference for kernel 5 in stage 1 and expand 3 in the last stage, so size alone is not optimal.
pub(crate) fn synthetic_score(space: &SearchSpace, arch: &ArchConfig) -> f64 {
    let blocks = space.active_blocks(arch).expect("in the space");
    let capacity: f64 = blocks.iter().map(|b| (1.0 + b.stage as f64) * (b.kernel * b.expand) as f64).sum();
    let bonus: f64 = blocks
        .iter()
        .map(|b| match (b.stage, b.kernel, b.expand) {
            (1, 5, _) => 0.02,
            (s, _, 3) if s + 1 == space.stages.len() => 0.03,
            _ => 0.0,
        })
        .sum();
    0.9 - 0.4 * (-capacity / 200.0).exp() + bonus
}
