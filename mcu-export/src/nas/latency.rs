//! A per-op latency lookup table: instructions of every op shape a search space can produce, measured
//! once on the emulated Cortex-M (qemu `-icount`, see [`crate::toolchain`]) and summed to predict a
//! whole network, as MCUNet's and once-for-all's latency tables do (Cai et al., ICLR 2020; Lin et al.,
//! NeurIPS 2020), with instruction counts in place of measured milliseconds.
//!
//! An op's entry is keyed by what its kernel's cost depends on ([`OpKey`]): its kind, input and
//! output shapes, window (kernel, stride, padding), groups, and whether it runs in place (the
//! in-place depthwise kernels differ from the out-of-place ones). A prediction is the table's
//! `base_instructions` (what an invoke costs outside the ops: copying the input in and the output
//! out, the calls) plus the entries of every op; a key the table lacks is an error naming the op.
//! Tables cover per-layer plans (greedy and in-place): in a patch stage an op runs once per window,
//! which no per-shape entry describes, so a patch plan is refused.

use crate::error::{Result, arg_err};
use crate::graph::{McuGraph, OpKind};
use crate::kernels::Kernels;
use crate::plan::{MemoryPlan, Planner};
use crate::target::Target;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What an op's instruction count depends on.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OpKey {
    /// The op's kind ([`OpKind::name`]: `conv`, `conv1x1`, `depthwise`, `fc`, `add`, `gap`, ...).
    pub op: String,
    /// Input `[h, w, c]`.
    pub input: [usize; 3],
    /// Output `[h, w, c]`.
    pub output: [usize; 3],
    /// Window `[kh, kw]` (`[1, 1]` for element-wise ops).
    pub kernel: [usize; 2],
    /// Stride `[rows, columns]`.
    pub stride: [usize; 2],
    /// Padding `[rows, columns]`.
    pub padding: [usize; 2],
    /// Channel groups (1 for ops without).
    pub groups: usize,
    /// Whether the op's output overwrites its input ([`MemoryPlan::in_place`]).
    pub in_place: bool,
}

impl OpKey {
    /// The key of op `i` of `graph` under `plan`.
    pub fn of(graph: &McuGraph, plan: &MemoryPlan, i: usize) -> Result<OpKey> {
        let op = graph.ops.get(i).ok_or_else(|| arg_err("OpKey", format!("op {i} of {}", graph.ops.len())))?;
        let shape = |t: usize| {
            let s = graph.tensors[t];
            [s.h, s.w, s.c]
        };
        let [wy, wx] = op.kind.window();
        let groups = match &op.kind {
            OpKind::Conv { geometry, .. } | OpKind::Depthwise { geometry, .. } => geometry.groups,
            _ => 1,
        };
        Ok(OpKey {
            op: op.kind.name().to_string(),
            input: shape(op.inputs[0]),
            output: shape(op.output),
            kernel: [wy.0, wx.0],
            stride: [wy.1, wx.1],
            padding: [wy.2, wx.2],
            groups,
            in_place: plan.in_place.get(i).copied().unwrap_or(false),
        })
    }
}

impl std::fmt::Display for OpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [ih, iw, ic] = self.input;
        let [oh, ow, oc] = self.output;
        write!(
            f,
            "{} {ih}x{iw}x{ic} -> {oh}x{ow}x{oc} k{}x{} s{} p{} g{}{}",
            self.op,
            self.kernel[0],
            self.kernel[1],
            self.stride[0],
            self.padding[0],
            self.groups,
            if self.in_place { " in place" } else { "" }
        )
    }
}

/// Instructions per op shape on one target with one kernel set (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TableFile", into = "TableFile")]
pub struct LatencyTable {
    /// The target it was measured on.
    pub target: Target,
    /// The kernels it was measured with.
    pub kernels: Kernels,
    /// Instructions of one invoke outside its ops.
    pub base_instructions: u64,
    /// Instructions of one call of each op shape.
    pub entries: BTreeMap<OpKey, u64>,
}

/// One row of a table's JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct TableRow {
    key: OpKey,
    instructions: u64,
}

/// A table's JSON form: target and kernels by name, entries as a list (JSON maps need text keys).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct TableFile {
    target: String,
    kernels: String,
    base_instructions: u64,
    entries: Vec<TableRow>,
}

impl From<LatencyTable> for TableFile {
    fn from(t: LatencyTable) -> Self {
        TableFile {
            target: t.target.name().to_string(),
            kernels: t.kernels.name().to_string(),
            base_instructions: t.base_instructions,
            entries: t.entries.into_iter().map(|(key, instructions)| TableRow { key, instructions }).collect(),
        }
    }
}

impl TryFrom<TableFile> for LatencyTable {
    type Error = crate::ExportError;
    fn try_from(f: TableFile) -> Result<Self> {
        let mut entries = BTreeMap::new();
        for row in f.entries {
            let key = row.key.to_string();
            if entries.insert(row.key, row.instructions).is_some() {
                return Err(arg_err("latency table", format!("the entry `{key}` appears twice")));
            }
        }
        Ok(LatencyTable {
            target: f.target.parse()?,
            kernels: f.kernels.parse()?,
            base_instructions: f.base_instructions,
            entries,
        })
    }
}

impl LatencyTable {
    /// Fails unless the table can predict plans of `planner` with `kernels`: the same kernels, and a
    /// per-layer planner (greedy or in-place).
    pub fn check_compatible(&self, planner: Planner, kernels: Kernels) -> Result<()> {
        if kernels != self.kernels {
            return Err(arg_err(
                "latency table",
                format!("measured with the {} kernels, asked for the {kernels} ones", self.kernels),
            ));
        }
        if matches!(planner, Planner::Patch { .. }) {
            return Err(arg_err(
                "latency table",
                format!("planner {planner}: a table covers per-layer plans (greedy, inplace), not a patch stage"),
            ));
        }
        Ok(())
    }

    /// Predicted instructions of one invoke of `graph` under `plan`: the base plus every op's entry.
    /// A missing entry is an error naming the op and its key.
    pub fn predict(&self, graph: &McuGraph, plan: &MemoryPlan) -> Result<u64> {
        self.check_compatible(plan.planner, plan.kernels)?;
        let mut total = self.base_instructions;
        for (i, op) in graph.ops.iter().enumerate() {
            let key = OpKey::of(graph, plan, i)?;
            let n = self.entries.get(&key).ok_or_else(|| {
                arg_err(
                    "latency table",
                    format!("no entry for op {i} `{}` ({key}): measure a covering set that includes it", op.path),
                )
            })?;
            total += n;
        }
        Ok(total)
    }

    /// The table as pretty JSON (for caching under `results/`).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| arg_err("latency table", e.to_string()))
    }

    /// A table from [`LatencyTable::to_json`]'s text.
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| arg_err("latency table", format!("bad JSON: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nas::lower::arch_graph;
    use crate::plan::plan_with;
    use tinylab_classical::nas::SearchSpace;

    /// A table whose entry for op `i` of `graph` is `10 * (i + 1)` (later ops of a key overwrite).
    fn table_of(graph: &McuGraph, plan: &MemoryPlan) -> LatencyTable {
        let mut entries = BTreeMap::new();
        for i in 0..graph.ops.len() {
            entries.insert(OpKey::of(graph, plan, i).unwrap(), 10 * (i as u64 + 1));
        }
        LatencyTable { target: Target::CortexM4, kernels: Kernels::Dsp, base_instructions: 7, entries }
    }

    #[test]
    fn a_prediction_is_the_base_plus_every_ops_entry() {
        let space = SearchSpace::tiny(0.5, 32, 1, 10).unwrap();
        let g = arch_graph(&space, &space.smallest()).unwrap();
        let plan = plan_with(&g, Planner::InPlace, Kernels::Dsp).unwrap();
        let table = table_of(&g, &plan);
        // Brute force: look every op's key up by scanning the entries.
        let expected: u64 = 7
            + (0..g.ops.len())
                .map(|i| {
                    let k = OpKey::of(&g, &plan, i).unwrap();
                    table.entries.iter().find(|(e, _)| **e == k).map(|(_, v)| *v).unwrap()
                })
                .sum::<u64>();
        assert_eq!(table.predict(&g, &plan).unwrap(), expected);
        // Blocks of one stage share keys, so the table has fewer entries than ops.
        assert!(table.entries.len() < g.ops.len());
    }

    #[test]
    fn a_missing_key_names_the_op() {
        let space = SearchSpace::tiny(0.5, 32, 1, 10).unwrap();
        let small = arch_graph(&space, &space.smallest()).unwrap();
        let plan = plan_with(&small, Planner::InPlace, Kernels::Dsp).unwrap();
        let table = table_of(&small, &plan);
        let large = arch_graph(&space, &space.largest()).unwrap();
        let lplan = plan_with(&large, Planner::InPlace, Kernels::Dsp).unwrap();
        let err = table.predict(&large, &lplan).unwrap_err().to_string();
        // The first op that differs: stage 0's first block has expand 6 instead of 3.
        assert!(err.contains("no entry for op 4 `4.0` (conv1x1 16x16x8 -> 16x16x48"), "{err}");
        // Ops out of place (greedy) have other keys than in place: the first residual addition.
        let gplan = plan_with(&small, Planner::Greedy, Kernels::Dsp).unwrap();
        let err = table.predict(&small, &gplan).unwrap_err().to_string();
        assert!(err.contains("no entry for op 3 `3` (add"), "{err}");
    }

    #[test]
    fn tables_refuse_other_kernels_and_patch_plans() {
        let space = SearchSpace::tiny(0.5, 32, 1, 10).unwrap();
        let g = arch_graph(&space, &space.smallest()).unwrap();
        let plan = plan_with(&g, Planner::InPlace, Kernels::Dsp).unwrap();
        let table = table_of(&g, &plan);
        assert!(
            table.check_compatible(Planner::Greedy, Kernels::Portable).unwrap_err().to_string().contains("portable")
        );
        let patch = Planner::Patch { grid: 2, stage_ops: None };
        assert!(table.check_compatible(patch, Kernels::Dsp).unwrap_err().to_string().contains("patch"));
        let pplan = plan_with(&g, patch, Kernels::Dsp).unwrap();
        assert!(table.predict(&g, &pplan).is_err());
        assert!(table.check_compatible(Planner::Greedy, Kernels::Dsp).is_ok());
    }

    #[test]
    fn tables_round_trip_through_json_and_bad_files_are_refused() {
        let space = SearchSpace::tiny(0.25, 32, 1, 10).unwrap();
        let g = arch_graph(&space, &space.largest()).unwrap();
        let plan = plan_with(&g, Planner::InPlace, Kernels::Dsp).unwrap();
        let table = table_of(&g, &plan);
        let text = table.to_json().unwrap();
        assert_eq!(LatencyTable::from_json(&text).unwrap(), table);
        assert!(LatencyTable::from_json("{").unwrap_err().to_string().contains("bad JSON"));
        let wrong = text.replace("cortex-m4", "cortex-m0");
        assert!(LatencyTable::from_json(&wrong).unwrap_err().to_string().contains("cortex-m0"));
        // The same key twice.
        let mut file: serde_json::Value = serde_json::from_str(&text).unwrap();
        let first = file["entries"][0].clone();
        file["entries"].as_array_mut().unwrap().push(first);
        let err = LatencyTable::from_json(&file.to_string()).unwrap_err().to_string();
        assert!(err.contains("twice"), "{err}");
    }

    #[test]
    fn keys_print_their_shape() {
        let space = SearchSpace::tiny(0.5, 32, 1, 10).unwrap();
        let g = arch_graph(&space, &space.smallest()).unwrap();
        let plan = plan_with(&g, Planner::InPlace, Kernels::Dsp).unwrap();
        assert_eq!(OpKey::of(&g, &plan, 0).unwrap().to_string(), "conv 32x32x1 -> 16x16x8 k3x3 s2 p1 g1");
        assert!(OpKey::of(&g, &plan, g.ops.len()).is_err());
    }
}
