//! MCUNetV2's patch-based inference (Lin et al., "MCUNetV2: Memory-Efficient Patch-based Inference for
//! Tiny Deep Learning", NeurIPS 2021): the first ops of the network run once per patch of a
//! `grid x grid` split of the stage's output map. Each patch needs a window of every tensor before it
//! (its receptive field, found by walking the ops backwards), so only patch-sized buffers live inside
//! the stage; neighbouring windows overlap, and the overlap is computed twice (the extra MACs).

use crate::error::{Result, arg_err};
use crate::graph::{McuGraph, TensorId, TensorShape, input_range};
use std::collections::HashMap;

/// A window of a tensor: rows `y0..y0 + h`, columns `x0..x0 + w`, all channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Region {
    /// First row.
    pub y0: usize,
    /// First column.
    pub x0: usize,
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
}

impl Region {
    /// The whole map.
    pub fn whole(s: TensorShape) -> Self {
        Self { y0: 0, x0: 0, h: s.h, w: s.w }
    }

    /// Pixels.
    pub fn area(&self) -> usize {
        self.h * self.w
    }

    /// The bounding box of both (`self` may be empty).
    fn union(self, other: Region) -> Region {
        if self.area() == 0 {
            return other;
        }
        let (y0, x0) = (self.y0.min(other.y0), self.x0.min(other.x0));
        let y1 = (self.y0 + self.h).max(other.y0 + other.h);
        let x1 = (self.x0 + self.w).max(other.x0 + other.w);
        Region { y0, x0, h: y1 - y0, w: x1 - x0 }
    }
}

/// The patch stage of a plan.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PatchStage {
    /// Patches per side.
    pub grid: usize,
    /// Ops `0..ops` run per patch.
    pub ops: usize,
    /// The stage's output tensor (stored whole).
    pub output: TensorId,
    /// `regions[p][t]`: the window of tensor `t` patch `p` computes (or reads, for the stage input).
    pub regions: Vec<Vec<Region>>,
    /// Tensors written inside the stage other than its output (stored one patch at a time).
    pub patch_tensors: Vec<TensorId>,
}

/// The stage lengths `k` for which ops `0..k` can run per patch: all patchable, and no tensor they write
/// other than the last op's output is read after the stage.
pub fn valid_stage_lengths(graph: &McuGraph) -> Vec<usize> {
    let last_use = graph.last_use();
    let mut out = Vec::new();
    for k in 1..=graph.ops.len() {
        if !graph.ops[k - 1].kind.is_patchable() {
            break;
        }
        let escapes = graph.ops[..k - 1].iter().any(|op| last_use[op.output].is_none_or(|u| u >= k));
        if !escapes {
            out.push(k);
        }
    }
    out
}

impl PatchStage {
    /// The stage of ops `0..ops` on a `grid x grid` split of its output.
    pub fn new(graph: &McuGraph, grid: usize, ops: usize) -> Result<Self> {
        if !valid_stage_lengths(graph).contains(&ops) {
            return Err(arg_err(
                "patch stage",
                format!(
                    "ops 0..{ops} cannot run per patch (an op that needs whole tensors, or an inner tensor read after the stage)"
                ),
            ));
        }
        let output = graph.ops[ops - 1].output;
        let out = graph.tensors[output];
        if grid == 0 || out.h < grid || out.w < grid {
            return Err(arg_err(
                "patch stage",
                format!("a {grid}x{grid} grid does not split the {}x{} stage output", out.h, out.w),
            ));
        }
        let split = |size: usize, i: usize| (i * size / grid, (i + 1) * size / grid);
        let mut regions = Vec::with_capacity(grid * grid);
        for py in 0..grid {
            for px in 0..grid {
                let ((y0, y1), (x0, x1)) = (split(out.h, py), split(out.w, px));
                let mut r = vec![Region::default(); graph.tensors.len()];
                r[output] = Region { y0, x0, h: y1 - y0, w: x1 - x0 };
                for op in graph.ops[..ops].iter().rev() {
                    let o = r[op.output];
                    if o.area() == 0 {
                        continue;
                    }
                    let [wy, wx] = op.kind.window();
                    for &t in &op.inputs {
                        let s = graph.tensors[t];
                        let (ry0, ry1) = input_range(o.y0, o.y0 + o.h, wy, s.h);
                        let (rx0, rx1) = input_range(o.x0, o.x0 + o.w, wx, s.w);
                        let need = Region { y0: ry0, x0: rx0, h: ry1.saturating_sub(ry0), w: rx1.saturating_sub(rx0) };
                        r[t] = r[t].union(need);
                    }
                }
                regions.push(r);
            }
        }
        let patch_tensors: Vec<TensorId> =
            graph.ops[..ops - 1].iter().map(|op| op.output).filter(|&t| t != output).collect();
        for r in &regions {
            if let Some(&t) = patch_tensors.iter().find(|&&t| r[t].area() == 0) {
                return Err(arg_err("patch stage", format!("tensor {t} is not needed by a patch")));
            }
        }
        Ok(Self { grid, ops, output, regions, patch_tensors })
    }

    /// True for tensors stored one patch at a time.
    pub fn is_patch_tensor(&self, t: TensorId) -> bool {
        self.patch_tensors.contains(&t)
    }

    /// Bytes of each patch tensor's buffer: its largest window.
    pub fn buffer_sizes(&self, graph: &McuGraph) -> HashMap<TensorId, usize> {
        self.patch_tensors
            .iter()
            .map(|&t| (t, self.regions.iter().map(|r| r[t].area()).max().unwrap_or(0) * graph.tensors[t].c))
            .collect()
    }

    /// The window of `t` in patch `p`.
    pub fn region(&self, p: usize, t: TensorId) -> Region {
        self.regions[p][t]
    }

    /// `(MACs of the stage run patch by patch, MACs of the same ops run once per pixel)`. The first
    /// exceeds the second by the recomputed overlap, and falls below it where a strided op never needs
    /// some pixels of its input.
    pub fn stage_macs(&self, graph: &McuGraph) -> (usize, usize) {
        let mut patched = 0;
        let mut once = 0;
        for op in &graph.ops[..self.ops] {
            let per = op.macs_per_pixel(graph.tensors[op.inputs[0]]);
            let out = graph.tensors[op.output];
            once += per * out.h * out.w;
            patched += self.regions.iter().map(|r| per * r[op.output].area()).sum::<usize>();
        }
        (patched, once)
    }
}
