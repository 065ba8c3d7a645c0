//! The model graph on the zoo against what the module-tree walkers gave before the graph replaced
//! them (`fixtures/graph/zoo_before.json`, written by the walkers at commit 0b36ce0 with the generator
//! that commit holds): parameter and MAC counts, batch-norm folding, channel pruning tensor for tensor,
//! int8 conversion byte for byte; and the graph's own invariants.

use serde_json::Value;
use tinylab_classical::Var;
use tinylab_classical::compress::channel::{ChannelPlan, Importance, prune_channels};
use tinylab_classical::graph::{self, FoldBatchNorm, FuseActivations, NodeOp, Pass, RemoveDropout};
use tinylab_classical::int8::{self, ConvertOptions};
use tinylab_classical::nn::{self, Ctx, Module, Sequential, zoo};
use tinylab_classical::tensor::{Tensor, rand_uniform, rng, uniform};

fn fnv(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The same perturbation of batch-norm statistics and 1-d parameters as the fixture generator.
fn randomize_bn(model: &mut Sequential, seed: u64) {
    let mut r = rng(seed);
    model.visit_buffers_mut("", &mut |name, b| {
        for v in b.iter_mut() {
            *v = if name.ends_with("running_mean") {
                (uniform(&mut r) as f32 - 0.5) * 0.4
            } else {
                0.5 + uniform(&mut r) as f32
            };
        }
    });
    model.visit_params_mut("", &mut |_, p| {
        if p.value.ndim() == 1 {
            let n = p.value.len();
            p.value = rand_uniform(&[n], -0.3, 0.3, &mut r) + &p.value;
        }
    });
}

fn state_hash(model: &mut Sequential) -> u64 {
    let sd = nn::state_dict(model);
    let mut bytes = Vec::new();
    for (k, (shape, data)) in &sd.params {
        bytes.extend(k.bytes());
        shape.iter().for_each(|s| bytes.extend((*s as u64).to_le_bytes()));
        data.iter().for_each(|v| bytes.extend(v.to_bits().to_le_bytes()));
    }
    for (k, data) in &sd.buffers {
        bytes.extend(k.bytes());
        data.iter().for_each(|v| bytes.extend(v.to_bits().to_le_bytes()));
    }
    fnv(bytes)
}

type Build = fn() -> Sequential;

fn zoo_models() -> Vec<(&'static str, Vec<usize>, Build)> {
    vec![
        ("mlp", vec![1, 8, 8], || zoo::mlp(&[64, 32, 10], 1).unwrap()),
        ("reference_cnn", vec![1, 8, 8], || zoo::reference_cnn(1, 8, 10, 2).unwrap()),
        ("vgg_small", vec![3, 32, 32], || zoo::vgg_small(3, &[8, 16], 10, 3).unwrap()),
        ("resnet8", vec![3, 32, 32], || zoo::resnet_cifar(8, 10, 4).unwrap()),
        ("resnet20", vec![3, 32, 32], || zoo::resnet_cifar(20, 10, 5).unwrap()),
        ("mobilenet_v2", vec![3, 32, 32], || zoo::mobilenet_v2(0.35, 10, 6).unwrap()),
    ]
}

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/graph/zoo_before.json")).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

/// The calibration batch and test batch of the generator.
fn inputs(shape: &[usize]) -> (Tensor, Tensor) {
    let mut r = rng(99);
    let mut full = vec![16];
    full.extend(shape);
    let calib = rand_uniform(&full, -1.0, 1.0, &mut r);
    let mut small = vec![4];
    small.extend(shape);
    (calib, rand_uniform(&small, -1.0, 1.0, &mut r))
}

fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{what}[{i}]: {a} vs {b}");
    }
}

fn eval(model: &mut dyn Module, x: &Tensor) -> Vec<f32> {
    model.forward(&Var::constant(x.clone()), &mut Ctx::eval()).unwrap().value().iter().copied().collect()
}

#[test]
fn tracing_the_zoo_counts_the_same_params_and_macs_and_runs_the_same_function() {
    let fx = fixture();
    for (name, shape, build) in zoo_models() {
        let want = &fx[name];
        let mut m = build();
        randomize_bn(&mut m, 11);
        let g = graph::trace(&mut m, &shape).unwrap();
        let cost = graph::cost(&g);
        assert_eq!(cost.params as u64, want["params"].as_u64().unwrap(), "{name} params");
        assert_eq!(cost.params, nn::param_count(&m), "{name} params vs param_count");
        assert_eq!(cost.macs, want["macs"].as_u64().unwrap(), "{name} MACs");
        let (_, x) = inputs(&shape);
        assert_close(name, g.run(&x).unwrap().as_slice().unwrap(), &floats(&want["eval"]));
        assert_eq!(g.run(&x).unwrap().as_slice().unwrap(), eval(&mut m, &x).as_slice(), "{name}: graph = model");
    }
}

#[test]
fn batch_norm_folding_on_the_graph_equals_the_folded_models() {
    let fx = fixture();
    for (name, shape, build) in zoo_models() {
        let want = &fx[name];
        let mut m = build();
        randomize_bn(&mut m, 11);
        let mut g = graph::trace(&mut m, &shape).unwrap();
        let report = FoldBatchNorm.apply(&mut g).unwrap();
        assert_eq!(report.changed.len() as u64, want["folded_count"].as_u64().unwrap(), "{name}");
        assert!(!g.nodes().iter().any(|n| matches!(n.op, NodeOp::BatchNorm { .. })), "{name}");
        let (_, x) = inputs(&shape);
        assert_close(name, g.run(&x).unwrap().as_slice().unwrap(), &floats(&want["folded_eval"]));
    }
}

#[test]
fn channel_pruning_through_the_graph_reproduces_the_pruned_models() {
    let fx = fixture();
    for (name, shape, build) in zoo_models() {
        let want = &fx[name];
        let mut m = build();
        randomize_bn(&mut m, 11);
        let report = prune_channels(&mut m, &shape, &ChannelPlan::Uniform(0.5), Importance::L1).unwrap();
        assert_eq!(report.params_after as u64, want["pruned_params"].as_u64().unwrap(), "{name}");
        assert_eq!(report.macs_after, want["pruned_macs"].as_u64().unwrap(), "{name}");
        assert_eq!(format!("{:016x}", state_hash(&mut m)), want["pruned_state_hash"].as_str().unwrap(), "{name}");
        let (_, x) = inputs(&shape);
        assert_close(name, &eval(&mut m, &x), &floats(&want["pruned_eval"]));
    }
}

#[test]
fn int8_conversion_through_the_graph_is_byte_identical_to_the_engine_before() {
    let fx = fixture();
    for (name, shape, build) in zoo_models() {
        let want = &fx[name];
        let mut m = build();
        randomize_bn(&mut m, 11);
        let (calib, x) = inputs(&shape);
        let q = int8::convert(&mut m, &calib, &ConvertOptions::default()).unwrap();
        let xq = q.quantize_input(&x).unwrap();
        let y = q.run_quantized(&xq, [x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]]).unwrap();
        let want_data: Vec<i8> =
            want["int8_output"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap() as i8).collect();
        assert_eq!(y.data, want_data, "{name}: int8 output bytes");
        assert_eq!(q.macs().unwrap() as u64, want["int8_macs"].as_u64().unwrap(), "{name}");
        assert_eq!(serde_json::to_value(q.size()).unwrap(), want["int8_size"], "{name}");
        assert_close(name, q.forward_fake_quant(&x).unwrap().as_slice().unwrap(), &floats(&want["fake_quant"]));
    }
}

#[test]
fn passes_report_what_they_changed_and_compose() {
    let mut m = zoo::reference_cnn(1, 8, 10, 0).unwrap();
    let mut g = graph::trace(&mut m, &[1, 8, 8]).unwrap();
    let reports = graph::apply_passes(&mut g, &[&RemoveDropout, &FoldBatchNorm, &FuseActivations::relus()]).unwrap();
    assert!(reports[0].changed.is_empty());
    assert_eq!(reports[1].changed, vec!["batch norm `1` folded into `0`", "batch norm `5` folded into `4`"]);
    assert_eq!(reports[2].changed.len(), 2);
    let ops: Vec<String> = g.nodes().iter().filter(|n| !n.op.is_value()).map(|n| n.op.name()).collect();
    assert_eq!(ops, ["input", "conv2d", "max_pool2d", "conv2d", "max_pool2d", "reshape", "linear"]);
    assert_eq!(g.node(g.output()).shape, vec![1, 10]);
}
