//! End to end on the host: random int8 models (random layer shapes, strides, padding, dilation, groups,
//! depthwise multipliers, residual blocks with and without projections, pooling, both heads) exported
//! under every planner, compiled with gcc and run; every output byte must equal the Rust int8 engine's.
//! Also: the planners never let two live tensors share a byte (an independent simulation of the
//! lifetimes), patch and in-place plans use no more memory than the greedy one, and the published
//! anchors' architectures plan as expected.

#![allow(clippy::print_stderr)]

use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;
use tinylab_classical::int8::{ConvertOptions, Int8Model, RoundingPolicy, convert};
use tinylab_classical::nn::{
    Act, AvgPool2d, BatchNorm, Conv2d, Flatten, GlobalAvgPool, Linear, MaxPool2d, Residual, Sequential, zoo,
};
use tinylab_classical::ops::{Activation, Conv2dSpec, Pool2dSpec};
use tinylab_classical::tensor::{Tensor, rand_uniform, randn, rng, uniform};
use tinylab_mcu_export::export::{ExportOptions, Samples, export_graph};
use tinylab_mcu_export::graph::{McuGraph, OpKind};
use tinylab_mcu_export::plan::{BufferRole, MemoryPlan, Planner, plan};
use tinylab_mcu_export::target::{Board, Target};
use tinylab_mcu_export::toolchain;

fn pick(r: &mut ChaCha8Rng, n: usize) -> usize {
    (uniform(r) * n as f64) as usize % n
}

fn bn(c: usize, r: &mut ChaCha8Rng) -> BatchNorm {
    let mut b = BatchNorm::new(c);
    b.gamma.value = rand_uniform(&[c], 0.5, 1.5, r);
    b.beta.value = rand_uniform(&[c], -0.3, 0.3, r);
    b
}

/// A random CNN on `(c, size, size)` inputs: a few blocks, each a convolution (random kernel, stride,
/// padding, dilation, groups), a depthwise convolution (multiplier 1 or 2), a residual block (identity or
/// projection) or a pooling layer; then global pooling or flatten, and one or two linear layers.
fn random_model(seed: u64, c_in: usize, size: usize) -> (Sequential, usize) {
    let r = &mut rng(seed);
    let mut net = Sequential::new();
    let (mut c, mut s) = (c_in, size);
    for _ in 0..2 + pick(r, 4) {
        let act = [None, Some(Activation::Relu), Some(Activation::Relu6)][pick(r, 3)];
        match pick(r, 5) {
            0 | 1 => {
                let groups = if c % 2 == 0 && pick(r, 3) == 0 { 2 } else { 1 };
                let out = groups * (1 + pick(r, 6));
                let k = 1 + pick(r, 4);
                let dil = if k > 1 && pick(r, 4) == 0 { 2 } else { 1 };
                let span = dil * (k - 1) + 1;
                let pad = pick(r, k / 2 + 2);
                if s + 2 * pad < span {
                    continue;
                }
                let stride = 1 + pick(r, 2);
                let spec = Conv2dSpec { stride: (stride, stride), padding: (pad, pad), dilation: (dil, dil), groups };
                net = net.push(Conv2d::new(c, out, k, spec, pick(r, 2) == 0, r)).push(bn(out, r));
                s = (s + 2 * pad - span) / stride + 1;
                c = out;
            }
            2 => {
                let mult = 1 + pick(r, 2);
                let k = [3, 5, 7][pick(r, 3)].min(s + 2);
                let stride = 1 + pick(r, 2);
                let pad = k / 2;
                let spec = Conv2dSpec::new(stride, pad).with_groups(c);
                net = net.push(Conv2d::new(c, c * mult, k, spec, true, r)).push(bn(c * mult, r));
                s = (s + 2 * pad - k) / stride + 1;
                c *= mult;
            }
            3 => {
                let stride = if s >= 4 && pick(r, 2) == 0 { 2 } else { 1 };
                let out = if stride == 2 || pick(r, 2) == 0 { c + 2 } else { c };
                let body = Sequential::new()
                    .push(Conv2d::new(c, out, 3, Conv2dSpec::new(stride, 1), false, r))
                    .push(bn(out, r))
                    .push(Act { kind: Activation::Relu })
                    .push(Conv2d::new(out, out, 3, Conv2dSpec::new(1, 1).with_groups(out), true, r))
                    .push(bn(out, r));
                let shortcut = (out != c || stride != 1).then(|| {
                    Sequential::new()
                        .push(Conv2d::new(c, out, 1, Conv2dSpec::new(stride, 0), false, r))
                        .push(bn(out, r))
                });
                net = net.push(Residual { body, shortcut, post: [None, Some(Activation::Relu)][pick(r, 2)] });
                s = (s - 1) / stride + 1;
                c = out;
                continue;
            }
            _ => {
                if s < 2 {
                    continue;
                }
                let spec =
                    Pool2dSpec { kernel: 2 + pick(r, 2).min(s - 2), stride: 1 + pick(r, 2), padding: pick(r, 2) };
                let spec = Pool2dSpec { padding: spec.padding.min(spec.kernel / 2), ..spec };
                net = if pick(r, 2) == 0 { net.push(MaxPool2d { spec }) } else { net.push(AvgPool2d { spec }) };
                s = (s + 2 * spec.padding - spec.kernel) / spec.stride + 1;
                continue;
            }
        }
        if let Some(kind) = act {
            net = net.push(Act { kind });
        }
    }
    let classes = 3 + pick(r, 6);
    let features = if pick(r, 2) == 0 {
        net = net.push(GlobalAvgPool);
        c
    } else {
        net = net.push(Flatten);
        c * s * s
    };
    if pick(r, 2) == 0 {
        net = net.push(Linear::new(features, 12, true, r)).push(Act { kind: Activation::Relu });
        net = net.push(Linear::new(12, classes, true, r));
    } else {
        net = net.push(Linear::new(features, classes, true, r));
    }
    (net, classes)
}

fn scratch(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tinylab-mcu-{}-{tag}", std::process::id()))
}

fn converted(seed: u64, policy: RoundingPolicy) -> (Int8Model, Tensor) {
    let c = 1 + (seed as usize % 3);
    let size = 6 + (seed as usize * 7) % 9;
    let (mut model, _) = random_model(seed, c, size);
    let calib = randn(&[16, c, size, size], 1.0, &mut rng(seed + 1));
    let q = convert(&mut model, &calib, &ConvertOptions { policy, ..ConvertOptions::default() }).unwrap();
    // Test inputs a little beyond the calibrated range, so the clamps are exercised.
    let x = randn(&[3, c, size, size], 1.3, &mut rng(seed + 2));
    (q, x)
}

fn all_planners() -> [Planner; 4] {
    [
        Planner::Greedy,
        Planner::InPlace,
        Planner::Patch { grid: 2, stage_ops: None },
        Planner::Patch { grid: 3, stage_ops: Some(1) },
    ]
}

/// An independent simulation of the lifetimes: at every op, the tensors alive then (written, not yet
/// read for the last time) must occupy disjoint bytes, except an in-place op's input and output.
fn assert_no_live_overlap(graph: &McuGraph, p: &MemoryPlan) {
    let last = graph.last_use();
    let producer = graph.producer();
    let stage = p.patch.as_ref().map_or(0, |s| s.ops);
    let alive = |t: usize, i: usize| {
        let from = if p.patch.as_ref().is_some_and(|s| s.output == t) { 0 } else { producer[t].unwrap_or(0) };
        let mut to = last[t].unwrap_or(from);
        if t == graph.output {
            to = graph.ops.len();
        }
        if t == graph.input && stage > 0 {
            to = to.max(stage - 1);
        }
        from <= i && i <= to
    };
    let bytes = |t: usize| {
        let b = &p.buffers[p.tensor_buffer[t]];
        let len = match &p.patch {
            Some(s) if s.is_patch_tensor(t) => {
                s.regions.iter().map(|r| r[t].area()).max().unwrap() * graph.tensors[t].c
            }
            _ if b.role == BufferRole::External => 0,
            _ => graph.tensors[t].bytes(),
        };
        assert!(len <= b.size);
        (b.offset, b.offset + len)
    };
    for i in 0..graph.ops.len() {
        let live: Vec<usize> = (0..graph.tensors.len()).filter(|&t| alive(t, i)).collect();
        for (a_i, &a) in live.iter().enumerate() {
            for &b in &live[a_i + 1..] {
                let op = &graph.ops[i];
                let aliased_by_op = (p.in_place[i] || matches!(op.kind, OpKind::Reshape))
                    && ((op.inputs.contains(&a) && op.output == b) || (op.inputs.contains(&b) && op.output == a));
                let reshaped = p.tensor_buffer[a] == p.tensor_buffer[b]
                    && graph.ops.iter().any(|o| {
                        matches!(o.kind, OpKind::Reshape)
                            && ((o.inputs[0] == a && o.output == b) || (o.inputs[0] == b && o.output == a))
                    });
                if aliased_by_op || reshaped {
                    continue;
                }
                let ((a0, a1), (b0, b1)) = (bytes(a), bytes(b));
                assert!(a1 <= b0 || b1 <= a0 || a0 == a1 || b0 == b1, "op {i}: tensors {a} and {b} overlap");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Plans of random models are consistent, never overlap live tensors, and the in-place plan is no
    /// larger than the greedy one.
    #[test]
    fn plans_never_overlap_live_tensors(seed in 0u64..10_000) {
        let (q, _) = converted(seed, RoundingPolicy::DoubleRounding);
        let graph = McuGraph::from_int8(&q).unwrap();
        let greedy = plan(&graph, Planner::Greedy).unwrap();
        for planner in all_planners() {
            let Ok(p) = plan(&graph, planner) else { continue };
            assert_no_live_overlap(&graph, &p);
            if planner == Planner::InPlace {
                prop_assert!(p.arena_bytes <= greedy.arena_bytes, "{planner}: {} > {}", p.arena_bytes, greedy.arena_bytes);
            }
        }
    }
}

/// Random models under every planner and both rounding policies: the host build's bytes equal the
/// engine's.
#[test]
fn generated_c_equals_the_rust_engine_byte_for_byte() {
    if !toolchain::available_or_skip(Target::Host, "the host build test") {
        return;
    }
    let mut checked = 0;
    for seed in 0..10u64 {
        let policy = if seed % 2 == 0 { RoundingPolicy::DoubleRounding } else { RoundingPolicy::SingleRounding };
        let (q, x) = converted(seed, policy);
        let graph = McuGraph::from_int8(&q).unwrap();
        let samples = Samples::from_engine(&q, &graph, &x).unwrap();
        for (k, planner) in all_planners().into_iter().enumerate() {
            if plan(&graph, planner).is_err() {
                continue; // no patchable stage in this model
            }
            let dir = scratch(&format!("e2e-{seed}-{k}"));
            let opts = ExportOptions { planner, target: Target::Host, board: Board::default(), kernels: None };
            export_graph(&graph, &dir, &opts, &samples).unwrap();
            let exe = toolchain::build(&dir, Target::Host).unwrap();
            let run = toolchain::run(&exe, Target::Host).unwrap();
            assert_eq!(run.outputs, samples.expected, "seed {seed}, {planner}");
            assert_eq!((run.mismatches, run.exit_code), (0, 0));
            std::fs::remove_dir_all(&dir).ok();
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} builds checked");
}

/// A small MobileNetV2 (residuals, depthwise, ReLU6) under every planner, on more samples; the
/// in-place plan is no larger than the greedy one and patches are smaller still, for it and for the
/// digits-sized reference CNN (whose bytes the int8 corpus checks under the same planners, in
/// `tests/int8_corpus.rs`).
#[test]
fn zoo_models_run_bit_exact_on_the_host() {
    let planners = [Planner::Greedy, Planner::InPlace, Planner::Patch { grid: 2, stage_ops: None }];
    {
        let mut cnn = zoo::reference_cnn(1, 8, 10, 3).unwrap();
        let q = convert(&mut cnn, &randn(&[12, 1, 8, 8], 1.0, &mut rng(2)), &ConvertOptions::default()).unwrap();
        let graph = McuGraph::from_int8(&q).unwrap();
        let arenas: Vec<usize> = planners.iter().map(|&p| plan(&graph, p).unwrap().arena_bytes).collect();
        assert!(arenas[1] <= arenas[0] && arenas[2] < arenas[1], "cnn: {arenas:?}");
    }
    if !toolchain::available_or_skip(Target::Host, "the host build test") {
        return;
    }
    let mut model = zoo::mobilenet_v2(0.35, 10, 5).unwrap();
    let x = randn(&[6, 3, 40, 40], 1.0, &mut rng(2));
    let q = convert(&mut model, &x, &ConvertOptions::default()).unwrap();
    let graph = McuGraph::from_int8(&q).unwrap();
    let samples = Samples::from_engine(&q, &graph, &x).unwrap();
    let mut arenas = Vec::new();
    for planner in planners {
        let dir = scratch(&format!("zoo-mbv2-{}", arenas.len()));
        let opts = ExportOptions { planner, target: Target::Host, board: Board::default(), kernels: None };
        let report = export_graph(&graph, &dir, &opts, &samples).unwrap();
        let run = toolchain::run(&toolchain::build(&dir, Target::Host).unwrap(), Target::Host).unwrap();
        assert_eq!(run.outputs, samples.expected, "mbv2 {planner}");
        arenas.push(report.arena_bytes);
        std::fs::remove_dir_all(&dir).ok();
    }
    assert!(arenas[1] <= arenas[0] && arenas[2] < arenas[1], "mbv2: {arenas:?}");
}

/// A plan larger than the board is refused with the numbers; bad planner strings are errors.
#[test]
fn oversized_plans_and_bad_options_are_refused() {
    let (q, _) = converted(3, RoundingPolicy::DoubleRounding);
    let graph = McuGraph::from_int8(&q).unwrap();
    let p = plan(&graph, Planner::Greedy).unwrap();
    let big = Board::default().sram_bytes;
    let check = |board: Board| tinylab_mcu_export::export::plan_for_board(&graph, Planner::Greedy, &board);
    let err = check(Board { sram_bytes: big, flash_bytes: 64 }).unwrap_err().to_string();
    assert!(err.contains("does not fit") && err.contains("flash") && err.contains("64"), "{err}");
    let err = check(Board { sram_bytes: 0, flash_bytes: big }).unwrap_err().to_string();
    assert!(err.contains("SRAM") && err.contains(&p.arena_bytes.to_string()), "{err}");
    assert!(check(Board::default()).is_ok());
    for bad in ["patch:0", "patch:x", "greedy:2", "nope"] {
        let parsed: Result<Planner, _> = bad.parse();
        if let Ok(planner) = parsed {
            assert!(plan(&graph, planner).is_err(), "{bad}");
        }
    }
    assert_eq!("patch:4:7".parse::<Planner>().unwrap(), Planner::Patch { grid: 4, stage_ops: Some(7) });
}

/// The published anchors' architectures: MobileNetV2 at 224x224 needs 1372 KiB per layer (the block-2
/// expansion's input + output, MCUNetV2's figure) and patch-based inference with 4x4 patches at least 6x
/// less; mbv2-w0.3 at 64x64 fits TinyEngine's 61 kB with the in-place plan.
#[test]
fn anchor_architectures_plan_as_published() {
    let arena = |width: f32, res: usize, planner: Planner| {
        let mut m = zoo::mobilenet_v2_rounded(width, 1000, 0, zoo::make_divisible_channels).unwrap();
        let q = convert(&mut m, &randn(&[1, 3, res, res], 1.0, &mut rng(1)), &ConvertOptions::default()).unwrap();
        let g = McuGraph::from_int8(&q).unwrap();
        plan(&g, planner).unwrap().arena_bytes
    };
    let per_layer = arena(1.0, 224, Planner::InPlace);
    assert_eq!(per_layer, 112 * 112 * (96 + 16));
    let patched = arena(1.0, 224, Planner::Patch { grid: 4, stage_ops: None });
    assert!(patched * 6 <= per_layer, "{patched} vs {per_layer}");
    assert!(arena(0.3, 64, Planner::InPlace) <= 61 * 1024);
}

#[test]
fn every_module_kind_is_reachable_from_the_generator() {
    // The generator must produce every op kind the exporter handles, or the tests above miss some.
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 0..60 {
        let (q, _) = converted(seed, RoundingPolicy::DoubleRounding);
        for op in McuGraph::from_int8(&q).unwrap().ops {
            kinds.insert(op.kind.name());
        }
    }
    for k in ["conv", "conv1x1", "depthwise", "fc", "add", "maxpool", "avgpool", "gap", "reshape"] {
        assert!(kinds.contains(k), "no {k} in {kinds:?}");
    }
}

/// A small MobileNetV2 built for the Cortex-M4 and run under qemu: every output byte equals the
/// engine's under every planner (qemu's exit code is the number of mismatching samples), and the
/// instruction counts are deterministic. (The digits-sized CNN runs there as part of the int8 corpus,
/// `tests/int8_corpus.rs`.)
#[test]
fn zoo_models_run_bit_exact_on_an_emulated_cortex_m4() {
    if !toolchain::available_or_skip(Target::CortexM4, "the Cortex-M4 test") {
        return;
    }
    let mut model = zoo::mobilenet_v2(0.35, 4, 6).unwrap();
    let x = randn(&[2, 3, 32, 32], 1.0, &mut rng(3));
    let q = convert(&mut model, &x, &ConvertOptions::default()).unwrap();
    let graph = McuGraph::from_int8(&q).unwrap();
    let samples = Samples::from_engine(&q, &graph, &x).unwrap();
    for (k, planner) in
        [Planner::Greedy, Planner::InPlace, Planner::Patch { grid: 2, stage_ops: None }].into_iter().enumerate()
    {
        let dir = scratch(&format!("m4-mbv2-{k}"));
        let opts = ExportOptions { planner, target: Target::CortexM4, board: Board::default(), kernels: None };
        export_graph(&graph, &dir, &opts, &samples).unwrap();
        let elf = toolchain::build(&dir, Target::CortexM4).unwrap();
        let first = toolchain::run(&elf, Target::CortexM4).unwrap();
        assert_eq!(first.outputs, samples.expected, "mbv2 {planner}");
        assert_eq!((first.exit_code, first.mismatches), (0, 0));
        assert!(first.instructions.iter().all(|&n| n as usize > graph.macs()), "{:?}", first.instructions);
        if k == 0 {
            let again = toolchain::run(&elf, Target::CortexM4).unwrap();
            assert_eq!(again.instructions, first.instructions);
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
