//! Memory planning: where every activation of an [`McuGraph`] lives in the one static arena.
//!
//! Three planners, each a set of rules for turning tensors into buffers (a size and a lifetime in op
//! steps), after which one placement ([`place::greedy_by_size`], TFLite Micro's greedy-by-size) gives
//! the offsets:
//!
//! - [`Planner::Greedy`]: TFLite Micro's baseline: every tensor its own buffer, alive from the op that
//!   writes it to the last op that reads it.
//! - [`Planner::InPlace`]: TinyEngine's (Lin et al., MCUNet, NeurIPS 2020) in-place depthwise
//!   convolution (the output overwrites the input channel by channel through a one-plane scratch
//!   buffer) and in-place element-wise ops (add, clamp) when the input dies there.
//! - [`Planner::Patch`]: MCUNetV2's patch-based inference (Lin et al., NeurIPS 2021): the first
//!   `stage_ops` ops run patch by patch on a `grid x grid` split of the stage's output, each patch
//!   computing its receptive field (overlapping its neighbours: extra MACs), so only patch-sized
//!   buffers are needed inside the stage; the rest runs per layer with the in-place rules.
//!
//! Every plan is checked by simulating the lifetimes ([`MemoryPlan::check`]): no two buffers alive at
//! the same step share a byte.
//!
//! A plan is made for one implementation of the C kernels ([`Kernels`]): the scratch areas its kernel
//! calls need (the DSP kernels' q15 columns and rows, the in-place depthwise convolution's plane or
//! ring; [`crate::kernels`]) are buffers of the arena like the tensors, alive for their op only, so
//! `arena_bytes` is all the activation SRAM the kernels use. [`plan`] plans for the portable kernels,
//! [`plan_with`] for either.

pub mod patch;
pub mod place;

use crate::error::{ExportError, Result, arg_err};
use crate::graph::{McuGraph, OpKind, TensorId};
use crate::kernels::{self, Kernels};
use patch::{PatchStage, Region};
use place::Interval;

/// Offsets are aligned to this many bytes (word loads on Cortex-M).
pub const ALIGN: usize = 4;

/// How the arena is planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "planner", rename_all = "lowercase")]
pub enum Planner {
    /// TFLite Micro's greedy-by-size plan, one buffer per tensor.
    Greedy,
    /// TinyEngine's in-place depthwise and element-wise ops on top of the greedy plan.
    InPlace,
    /// MCUNetV2 patch-based inference for the first ops, then the in-place plan.
    Patch {
        /// Patches per side of the stage output.
        grid: usize,
        /// Ops run patch by patch (from the first); `None` picks the count with the smallest arena.
        stage_ops: Option<usize>,
    },
}

impl std::fmt::Display for Planner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Planner::Greedy => write!(f, "greedy"),
            Planner::InPlace => write!(f, "inplace"),
            Planner::Patch { grid, stage_ops: None } => write!(f, "patch {grid}x{grid}"),
            Planner::Patch { grid, stage_ops: Some(k) } => write!(f, "patch {grid}x{grid} ({k} ops)"),
        }
    }
}

impl std::str::FromStr for Planner {
    type Err = ExportError;
    /// `greedy`, `inplace`, `patch` (4x4, stage chosen automatically), `patch:G` or `patch:G:K`.
    fn from_str(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split(':').collect();
        let num = |t: &str| {
            t.parse::<usize>().map_err(|_| arg_err("planner", format!("`{t}` in `{s}` is not a positive number")))
        };
        match parts.as_slice() {
            ["greedy"] => Ok(Planner::Greedy),
            ["inplace"] => Ok(Planner::InPlace),
            ["patch"] => Ok(Planner::Patch { grid: 4, stage_ops: None }),
            ["patch", g] => Ok(Planner::Patch { grid: num(g)?, stage_ops: None }),
            ["patch", g, k] => Ok(Planner::Patch { grid: num(g)?, stage_ops: Some(num(k)?) }),
            _ => {
                Err(arg_err("planner", format!("`{s}`: expected greedy, inplace, patch, patch:GRID or patch:GRID:OPS")))
            }
        }
    }
}

/// What a buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BufferRole {
    /// Whole tensors (several when ops run in place or reshape).
    Tensor,
    /// One patch of a tensor inside the patch stage (sized for the largest patch).
    Patch,
    /// The scratch area of one kernel call: the DSP kernels' q15 columns / rows, the in-place
    /// depthwise convolution's plane or ring.
    Scratch,
    /// The model input read in place from the caller's buffer (patch plans: the stage reads the
    /// image window by window, as a camera frame buffer would be read); no arena bytes.
    External,
}

/// A range of the arena with its lifetime.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Buffer {
    /// Byte offset in the arena.
    pub offset: usize,
    /// Bytes.
    pub size: usize,
    /// First op step it is alive (the input is alive from step 0).
    pub first: usize,
    /// Last op step it is alive (the output stays alive to the end).
    pub last: usize,
    /// What it holds.
    pub role: BufferRole,
    /// Tensors stored in it, in order of writing.
    pub tensors: Vec<TensorId>,
}

/// Memory in use while one op runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OpMemory {
    /// The op's layer path.
    pub path: String,
    /// Its kind.
    pub op: &'static str,
    /// Bytes of all buffers alive at this step.
    pub live_bytes: usize,
    /// Highest arena byte in use at this step.
    pub high_water: usize,
    /// True when it runs patch by patch.
    pub patched: bool,
}

/// A memory plan for one graph.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MemoryPlan {
    /// The planner that made it (with the stage it chose, for patches).
    pub planner: Planner,
    /// The C kernels it is planned for (their scratch areas are in the arena).
    pub kernels: Kernels,
    /// The buffers, placed.
    pub buffers: Vec<Buffer>,
    /// For every tensor, its buffer.
    pub tensor_buffer: Vec<usize>,
    /// For every op, true when its output shares its input's buffer (in-place depthwise, add, clamp).
    pub in_place: Vec<bool>,
    /// For every op, the buffer of its kernel's scratch area (`None`: the kernel needs none).
    pub scratch: Vec<Option<usize>>,
    /// The patch stage, for patch-based plans.
    pub patch: Option<PatchStage>,
    /// Arena bytes: the peak SRAM of activations (without the caller's input buffer when
    /// `external_input`).
    pub arena_bytes: usize,
    /// True when the model reads its input from the caller's buffer instead of a copy in the arena.
    pub external_input: bool,
    /// Per op, the memory in use.
    pub per_op: Vec<OpMemory>,
    /// Multiply-accumulates of one inference as planned (with patch overlap).
    pub macs: usize,
    /// MACs the patch overlap adds over per-layer execution (0 when patches skip more unused pixels of
    /// strided ops than they recompute).
    pub extra_macs: usize,
}

/// Union-find over tensors: tensors that share a buffer.
struct Groups(Vec<usize>);

impl Groups {
    fn root(&mut self, t: usize) -> usize {
        let mut r = t;
        while self.0[r] != r {
            r = self.0[r];
        }
        self.0[t] = r;
        r
    }
    fn join(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.root(a), self.root(b));
        self.0[rb] = ra;
    }
}

/// Plans `graph` with `planner` for the portable kernels.
pub fn plan(graph: &McuGraph, planner: Planner) -> Result<MemoryPlan> {
    plan_with(graph, planner, Kernels::Portable)
}

/// Plans `graph` with `planner` for `kernels`.
pub fn plan_with(graph: &McuGraph, planner: Planner, kernels: Kernels) -> Result<MemoryPlan> {
    let build = |planner: Planner, in_place_rules: bool, stage: Option<PatchStage>| {
        build(graph, planner, kernels, in_place_rules, stage)
    };
    match planner {
        Planner::Greedy => build(planner, false, None),
        Planner::InPlace => {
            // Greedy-by-size placement is a heuristic: merging buffers can, rarely, place worse than
            // keeping them apart. The in-place plan is then the plain one (never larger than greedy).
            let merged = build(planner, true, None)?;
            let plain = build(planner, false, None)?;
            Ok(if plain.arena_bytes < merged.arena_bytes { plain } else { merged })
        }
        Planner::Patch { grid, stage_ops: Some(k) } => {
            let stage = PatchStage::new(graph, grid, k)?;
            build(planner, true, Some(stage))
        }
        Planner::Patch { grid, stage_ops: None } => {
            let candidates = patch::valid_stage_lengths(graph);
            if candidates.is_empty() {
                return Err(arg_err("patch planner", "the graph does not start with spatial ops to patch"));
            }
            let mut best: Option<MemoryPlan> = None;
            for k in candidates {
                let Ok(stage) = PatchStage::new(graph, grid, k) else { continue };
                let p = build(Planner::Patch { grid, stage_ops: Some(k) }, true, Some(stage))?;
                let better =
                    best.as_ref().is_none_or(|b| (p.arena_bytes, p.extra_macs) < (b.arena_bytes, b.extra_macs));
                if better {
                    best = Some(p);
                }
            }
            best.ok_or_else(|| {
                arg_err("patch planner", format!("no stage of the graph splits into {grid}x{grid} patches"))
            })
        }
    }
}

fn build(
    graph: &McuGraph,
    planner: Planner,
    kernels: Kernels,
    in_place_rules: bool,
    stage: Option<PatchStage>,
) -> Result<MemoryPlan> {
    let n_ops = graph.ops.len();
    let n_t = graph.tensors.len();
    let last_use = graph.last_use();
    let producer = graph.producer();
    let stage_ops = stage.as_ref().map_or(0, |s| s.ops);

    // Lifetimes per tensor.
    let mut first: Vec<usize> = (0..n_t).map(|t| producer[t].unwrap_or(0)).collect();
    let mut last: Vec<usize> = (0..n_t).map(|t| last_use[t].unwrap_or(first[t])).collect();
    last[graph.output] = n_ops;
    if let Some(s) = &stage {
        // The stage input is read by every patch, the stage output written from the first patch on.
        last[graph.input] = last[graph.input].max(s.ops - 1);
        first[s.output] = 0;
    }

    // Patch plans read the input from the caller's buffer when only the stage reads it.
    let external_input = stage.as_ref().is_some_and(|s| last_use[graph.input].is_some_and(|u| u < s.ops))
        && !graph.ops.iter().any(|op| matches!(op.kind, OpKind::Reshape) && op.inputs[0] == graph.input);

    // Which tensors share a buffer.
    let mut groups = Groups((0..n_t).collect());
    let mut in_place = vec![false; n_ops];
    let mut scratch_size = vec![0usize; n_ops];
    for (i, op) in graph.ops.iter().enumerate() {
        let input = op.inputs[0];
        match &op.kind {
            OpKind::Reshape => groups.join(input, op.output),
            _ if i < stage_ops || !in_place_rules => {}
            OpKind::Depthwise { geometry, .. } => {
                let (si, so) = (graph.tensors[input], graph.tensors[op.output]);
                if geometry.c_out == si.c
                    && last_use[input] == Some(i)
                    && so.bytes() <= si.bytes()
                    && input != graph.output
                {
                    groups.join(input, op.output);
                    in_place[i] = true;
                }
            }
            OpKind::Clamp { .. } if last_use[input] == Some(i) => {
                groups.join(input, op.output);
                in_place[i] = true;
            }
            OpKind::Add { .. } => {
                if let Some(&dying) = op.inputs.iter().find(|&&t| last_use[t] == Some(i)) {
                    groups.join(dying, op.output);
                    in_place[i] = true;
                }
            }
            _ => {}
        }
    }

    // The kernels' scratch areas. Inside the patch stage a kernel runs on every patch's window: its
    // area is sized for the widest.
    for (i, op) in graph.ops.iter().enumerate() {
        let (si, so) = (graph.tensors[op.inputs[0]], graph.tensors[op.output]);
        let out_w = match &stage {
            Some(s) if i < stage_ops => s.regions.iter().map(|r| r[op.output].w).max().unwrap_or(so.w),
            _ => so.w,
        };
        scratch_size[i] = match &op.kind {
            OpKind::Conv { geometry, .. } => kernels::conv_scratch_bytes(kernels, geometry, si.c),
            OpKind::Depthwise { geometry, .. } if in_place[i] || geometry.c_out == si.c => {
                kernels::depthwise_scratch_bytes(kernels, geometry, si.c, (si.h, si.w), (so.h, out_w), in_place[i])
            }
            _ => 0,
        };
    }

    // Buffers: one per group, plus the scratch areas.
    let mut tensor_buffer = vec![usize::MAX; n_t];
    let mut buffers: Vec<Buffer> = Vec::new();
    let mut group_buffer = vec![usize::MAX; n_t];
    let patch_size = stage.as_ref().map(|s| s.buffer_sizes(graph)).unwrap_or_default();
    for t in 0..n_t {
        let r = groups.root(t);
        let in_patch = stage.as_ref().is_some_and(|s| s.is_patch_tensor(t));
        let external = external_input && t == graph.input;
        let size = match (in_patch, external) {
            (true, _) => patch_size[&t],
            (_, true) => 0,
            _ => graph.tensors[t].bytes(),
        };
        if group_buffer[r] == usize::MAX {
            group_buffer[r] = buffers.len();
            let role = match (in_patch, external) {
                (true, _) => BufferRole::Patch,
                (_, true) => BufferRole::External,
                _ => BufferRole::Tensor,
            };
            buffers.push(Buffer { offset: 0, size, first: first[t], last: last[t], role, tensors: Vec::new() });
        }
        let b = &mut buffers[group_buffer[r]];
        b.size = b.size.max(size);
        b.first = b.first.min(first[t]);
        b.last = b.last.max(last[t]);
        b.tensors.push(t);
        tensor_buffer[t] = group_buffer[r];
    }
    let mut scratch = vec![None; n_ops];
    for (i, &size) in scratch_size.iter().enumerate() {
        if size > 0 {
            scratch[i] = Some(buffers.len());
            buffers.push(Buffer { offset: 0, size, first: i, last: i, role: BufferRole::Scratch, tensors: vec![] });
        }
    }

    let intervals: Vec<Interval> =
        buffers.iter().map(|b| Interval { size: b.size, first: b.first, last: b.last }).collect();
    let (offsets, arena_bytes) = place::greedy_by_size(&intervals, ALIGN);
    for (b, o) in buffers.iter_mut().zip(offsets) {
        b.offset = o;
    }

    let per_op = graph
        .ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let live = buffers.iter().filter(|b| b.first <= i && i <= b.last);
            let (bytes, high) = live.fold((0, 0), |(s, h), b| (s + b.size, h.max(b.offset + b.size)));
            OpMemory {
                path: op.path.clone(),
                op: op.kind.name(),
                live_bytes: bytes,
                high_water: high,
                patched: i < stage_ops,
            }
        })
        .collect();
    let (patched, once) = stage.as_ref().map_or((0, 0), |s| s.stage_macs(graph));
    let macs = graph.macs() - once + patched;
    let extra_macs = patched.saturating_sub(once);
    let plan = MemoryPlan {
        planner,
        kernels,
        buffers,
        tensor_buffer,
        in_place,
        scratch,
        patch: stage,
        arena_bytes,
        external_input,
        per_op,
        macs,
        extra_macs,
    };
    plan.check(graph)?;
    Ok(plan)
}

impl MemoryPlan {
    /// Simulates the lifetimes: every tensor has a buffer large enough for it (or for its largest
    /// patch), buffers lie inside the arena, no two buffers alive at the same step share a byte, and a
    /// tensor's buffer is alive whenever the tensor is. An error names the first violation.
    pub fn check(&self, graph: &McuGraph) -> Result<()> {
        let bad = |why: String| Err(arg_err("memory plan check", why));
        let patch_size = self.patch.as_ref().map(|s| s.buffer_sizes(graph)).unwrap_or_default();
        for (t, &b) in self.tensor_buffer.iter().enumerate() {
            let buf = &self.buffers[b];
            let need = match &self.patch {
                _ if buf.role == BufferRole::External => 0,
                Some(s) if s.is_patch_tensor(t) => patch_size[&t],
                _ => graph.tensors[t].bytes(),
            };
            if buf.size < need {
                return bad(format!("tensor {t} needs {need} bytes, its buffer has {}", buf.size));
            }
        }
        for b in &self.buffers {
            if b.offset % ALIGN != 0 || b.offset + b.size > self.arena_bytes {
                return bad(format!(
                    "buffer at {} of {} bytes leaves the {}-byte arena",
                    b.offset, b.size, self.arena_bytes
                ));
            }
        }
        for (i, op) in graph.ops.iter().enumerate() {
            for &t in op.inputs.iter().chain([&op.output]) {
                let b = &self.buffers[self.tensor_buffer[t]];
                if !(b.first <= i && i <= b.last) {
                    return bad(format!("tensor {t} is used at op {i} but its buffer lives {}..={}", b.first, b.last));
                }
            }
        }
        let intervals: Vec<Interval> =
            self.buffers.iter().map(|b| Interval { size: b.size, first: b.first, last: b.last }).collect();
        let offsets: Vec<usize> = self.buffers.iter().map(|b| b.offset).collect();
        if let Some((a, b)) = place::first_overlap(&intervals, &offsets) {
            return bad(format!("buffers {a} and {b} are alive together and overlap"));
        }
        Ok(())
    }

    /// The region of tensor `t` computed by patch `p` (the whole tensor outside the patch stage).
    pub fn region(&self, graph: &McuGraph, t: TensorId, p: usize) -> Region {
        match &self.patch {
            Some(s) if s.is_patch_tensor(t) || t == s.output => s.region(p, t),
            _ => Region::whole(graph.tensors[t]),
        }
    }
}
