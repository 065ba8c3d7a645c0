//! The whole int8 engine: on a random small CNN (residual blocks with identity and projection
//! shortcuts, a depthwise convolution, batch norms, ReLU / ReLU6, max / average / global pooling) the
//! engine equals the exact reference simulation of the same integer arithmetic bit for bit; a CNN
//! trained on the bundled digits keeps its accuracy after conversion and agrees with the fake-quant
//! model; size and MACs follow closed forms; bad input is refused.

use tinylab_classical::compress::calibrate::Calibration;
use tinylab_classical::data::digits;
use tinylab_classical::int8::{self, ConvertOptions, RoundingPolicy, reference};
use tinylab_classical::nn::{
    Act, AvgPool2d, BatchNorm, Conv2d, Dropout, Flatten, GlobalAvgPool, LayerNorm, Linear, MaxPool2d, Residual,
    Sequential, zoo,
};
use tinylab_classical::ops::{self, Activation, Conv2dSpec, Pool2dSpec};
use tinylab_classical::optim::{LrSchedule, Sgd};
use tinylab_classical::tensor::{Tensor, rand_uniform, rng, uniform};
use tinylab_classical::train::{TrainConfig, evaluate, fit};
use tinylab_classical::{
    Var,
    nn::{Ctx, Module},
};

/// A batch norm with random statistics, so folding matters.
fn bn(c: usize, r: &mut rand_chacha::ChaCha8Rng) -> BatchNorm {
    let mut b = BatchNorm::new(c);
    b.gamma.value = rand_uniform(&[c], 0.5, 1.5, r);
    b.beta.value = rand_uniform(&[c], -0.3, 0.3, r);
    b.stats.mean = (0..c).map(|_| (uniform(r) as f32 - 0.5) * 0.4).collect();
    b.stats.var = (0..c).map(|_| 0.5 + uniform(r) as f32).collect();
    b
}

fn act(kind: Activation) -> Act {
    Act { kind }
}

/// Input `(N, 3, 12, 12)`; `gap` picks the head (global pooling + two linear layers, or average
/// pooling with padding + flatten + linear).
fn small_cnn(seed: u64, gap: bool) -> Sequential {
    let mut r = rng(seed);
    let r = &mut r;
    let identity_block = Residual {
        body: Sequential::new()
            .push(Conv2d::new(8, 8, 3, Conv2dSpec::new(1, 1), false, r))
            .push(bn(8, r))
            .push(act(Activation::Relu))
            .push(Conv2d::new(8, 8, 3, Conv2dSpec::new(1, 1).with_groups(8), true, r))
            .push(bn(8, r)),
        shortcut: None,
        post: Some(Activation::Relu),
    };
    let projection_block = Residual {
        body: Sequential::new()
            .push(Conv2d::new(8, 16, 1, Conv2dSpec::default(), false, r))
            .push(bn(16, r))
            .push(act(Activation::Relu6))
            .push(Conv2d::new(
                16,
                16,
                3,
                Conv2dSpec { dilation: (2, 2), ..Conv2dSpec::new(2, 2) }.with_groups(16),
                false,
                r,
            ))
            .push(bn(16, r))
            .push(Conv2d::new(16, 16, 1, Conv2dSpec::default().with_groups(2), true, r)),
        shortcut: Some(Sequential::new().push(Conv2d::new(8, 16, 1, Conv2dSpec::new(2, 0), false, r)).push(bn(16, r))),
        post: None,
    };
    let net = Sequential::new()
        .push(Conv2d::new(3, 8, 3, Conv2dSpec::new(1, 1), true, r))
        .push(bn(8, r))
        .push(act(Activation::Relu6))
        .push(identity_block)
        .push(Sequential::new().push(projection_block).push(Dropout { p: 0.3 }))
        .push(MaxPool2d { spec: Pool2dSpec::new(2) });
    if gap {
        net.push(GlobalAvgPool)
            .push(Linear::new(16, 12, true, r))
            .push(bn(12, r))
            .push(act(Activation::Relu))
            .push(Linear::new(12, 10, true, r))
    } else {
        net.push(AvgPool2d { spec: Pool2dSpec { kernel: 2, stride: 1, padding: 1 } })
            .push(act(Activation::Relu))
            .push(Flatten)
            .push(Linear::new(16 * 4 * 4, 10, true, r))
    }
}

fn images(n: usize, seed: u64) -> Tensor {
    rand_uniform(&[n, 3, 12, 12], -1.0, 1.0, &mut rng(seed))
}

fn opts(policy: RoundingPolicy) -> ConvertOptions {
    ConvertOptions { policy, ..ConvertOptions::default() }
}

#[test]
fn engine_equals_exact_reference_on_a_random_cnn() {
    for (seed, gap, policy) in [
        (1, false, RoundingPolicy::DoubleRounding),
        (2, true, RoundingPolicy::DoubleRounding),
        (3, false, RoundingPolicy::SingleRounding),
        (4, true, RoundingPolicy::SingleRounding),
    ] {
        let mut model = small_cnn(seed, gap);
        let q = int8::convert(&mut model, &images(48, seed + 100), &opts(policy)).unwrap();
        let kinds: Vec<&str> = q.nodes().iter().map(|n| n.layer.name()).collect();
        assert_eq!(kinds[0], "conv");
        assert_eq!(kinds.iter().filter(|k| **k == "add").count(), 2, "{kinds:?}");
        assert_eq!(kinds.iter().filter(|k| **k == "depthwise").count(), 2, "{kinds:?}");
        // A residual addition reads its body's output and the block's input (or its projection).
        let add = q.nodes().iter().position(|n| n.layer.name() == "add").unwrap();
        assert!(
            q.nodes()[add].inputs.contains(&tinylab_classical::int8::Source::Node(0)),
            "{:?}",
            q.nodes()[add].inputs
        );
        // Inputs beyond the calibrated range exercise the clamps too.
        let x = images(16, seed + 200).mapv(|v| v * 1.3);
        let xq = q.quantize_input(&x).unwrap();
        let got = q.run_quantized(&xq, [16, 3, 12, 12]).unwrap();
        let want = reference::forward(&q, &xq, [16, 3, 12, 12]).unwrap();
        assert_eq!(got.shape, vec![16, 10]);
        assert_eq!(got, want, "seed {seed}");
        // The logits are not degenerate.
        let distinct: std::collections::BTreeSet<i8> = got.data.iter().copied().collect();
        assert!(distinct.len() > 10, "{distinct:?}");
    }
}

#[test]
fn int8_logits_track_the_float_and_fake_quant_models() {
    let mut model = small_cnn(7, true);
    let calib = images(64, 8);
    let q = int8::convert(&mut model, &calib, &ConvertOptions::default()).unwrap();
    let x = images(32, 9);
    let int8_logits = q.forward(&x).unwrap();
    let fake = q.forward_fake_quant(&x).unwrap();
    let float = tinylab_classical::nn::Module::forward(
        &mut model,
        &tinylab_classical::Var::constant(x.clone()),
        &mut tinylab_classical::nn::Ctx::eval(),
    )
    .unwrap()
    .value()
    .clone();
    let out_scale = q.output_params().scale[0];
    let spread = float.iter().fold(0f32, |m, v| m.max(v.abs()));
    let max_diff = |a: &Tensor, b: &Tensor| a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    // Fake quant and the integer engine differ by integer roundings only: a few output steps.
    assert!(max_diff(&int8_logits, &fake) <= 4.0 * out_scale, "{} vs step {out_scale}", max_diff(&int8_logits, &fake));
    // Both are close to the float model relative to the logits' spread.
    assert!(max_diff(&int8_logits, &float) <= 0.15 * spread, "{} vs spread {spread}", max_diff(&int8_logits, &float));
    let p = q.probabilities(&x).unwrap();
    for row in p.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-5);
    }
}

fn digits_config() -> TrainConfig {
    TrainConfig {
        epochs: 2,
        batch_size: 32,
        lr: LrSchedule::Constant { base: 0.05 },
        seed: 3,
        patience: None,
        clip_grad_norm: Some(5.0),
        progress: false,
        checkpoint: None,
    }
}

#[test]
fn trained_digits_cnn_keeps_its_accuracy_in_int8() {
    let all = digits().unwrap();
    let (train, test) = all.stratified_split(0.7, 1).unwrap();
    let mut model = zoo::reference_cnn(1, 8, 10, 4).unwrap();
    let mut opt = Sgd::new(0.9, 0.0);
    fit(&mut model, &mut opt, (&train.images, &train.labels), (&test.images, &test.labels), &digits_config()).unwrap();
    let (_, float_acc, _) = evaluate(&mut model, &test.images, &test.labels, 256).unwrap();
    assert!(float_acc > 0.85, "float accuracy {float_acc}");
    let calib = train.images.slice(ndarray::s![..256, .., .., ..]).to_owned().into_dyn();
    for calibration in [Calibration::MinMax, Calibration::Percentile(99.99)] {
        let q =
            int8::convert(&mut model, &calib, &ConvertOptions { calibration, ..ConvertOptions::default() }).unwrap();
        let x = test.images.clone().into_dyn();
        let pred = q.predict(&x).unwrap();
        let fake = q.forward_fake_quant(&x).unwrap();
        let fake_pred: Vec<usize> = fake
            .rows()
            .into_iter()
            .map(|r| r.iter().enumerate().fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0)
            .collect();
        let n = test.labels.len() as f32;
        let acc = pred.iter().zip(&test.labels).filter(|(p, l)| p == l).count() as f32 / n;
        let agree = pred.iter().zip(&fake_pred).filter(|(a, b)| a == b).count() as f32 / n;
        assert!((acc - float_acc).abs() <= 0.01, "{calibration:?}: int8 {acc} vs float {float_acc}");
        assert!(agree >= 0.99, "{calibration:?}: agreement with fake quant {agree}");
    }
}

#[test]
fn size_and_macs_follow_closed_forms() {
    let mut model = zoo::reference_cnn(1, 8, 10, 0).unwrap();
    let calib = rand_uniform(&[8, 1, 8, 8], 0.0, 1.0, &mut rng(1));
    let q = int8::convert(&mut model, &calib, &ConvertOptions::default()).unwrap();
    // conv 1->16 3x3 on 8x8, conv 16->32 3x3 on 4x4, linear 128->10.
    assert_eq!(q.macs().unwrap(), 16 * 64 * 9 + 32 * 16 * 16 * 9 + 10 * 128);
    let size = q.size();
    assert_eq!(size.weights, 16 * 9 + 32 * 16 * 9 + 10 * 128);
    assert_eq!(size.biases, 4 * (16 + 32 + 10));
    // Per channel 4 B scale + 5 B multiplier, per activation tensor 5 B (input and three outputs).
    assert_eq!(size.quant_params, 9 * (16 + 32 + 10) + 5 * 4);
    assert_eq!(size.total(), size.weights + size.biases + size.quant_params);
}

#[test]
fn bad_input_and_unsupported_layers_are_errors() {
    let mut model = small_cnn(1, true);
    let q = int8::convert(&mut model, &images(8, 1), &ConvertOptions::default()).unwrap();
    let err = q.forward(&rand_uniform(&[2, 3, 10, 12], 0.0, 1.0, &mut rng(0))).unwrap_err().to_string();
    assert!(err.contains("[2, 3, 10, 12]") && err.contains("[0, 3, 12, 12]"), "{err}");
    assert!(q.run_quantized(&[0; 5], [1, 3, 12, 12]).is_err());
    assert!(reference::forward(&q, &[0; 5], [1, 3, 12, 12]).is_err());
    assert!(
        int8::convert(&mut model, &rand_uniform(&[8, 3, 12], 0.0, 1.0, &mut rng(0)), &ConvertOptions::default())
            .is_err()
    );
    // Calibration images of the wrong shape fail in the float pass with the layer's shape error.
    assert!(
        int8::convert(&mut model, &rand_uniform(&[2, 4, 12, 12], 0.0, 1.0, &mut rng(0)), &ConvertOptions::default())
            .is_err()
    );

    let mut r = rng(0);
    let mut sigmoid = Sequential::new()
        .push(Conv2d::new(3, 4, 3, Conv2dSpec::new(1, 1), true, &mut r))
        .push(Sequential::new().push(act(Activation::Sigmoid)));
    let err = int8::convert(&mut sigmoid, &images(2, 0), &ConvertOptions::default()).unwrap_err().to_string();
    assert!(err.contains("Sigmoid") && err.contains("`1.0`"), "{err}");
    let mut layer_norm = Sequential::new().push(Flatten).push(LayerNorm::new(3 * 144));
    let err = int8::convert(&mut layer_norm, &images(2, 0), &ConvertOptions::default()).unwrap_err().to_string();
    assert!(err.contains("`1`") && err.contains("layer_norm") && err.contains("no int8 kernel"), "{err}");
    let mut lonely_bn = Sequential::new().push(bn(3, &mut r));
    let err = int8::convert(&mut lonely_bn, &images(2, 0), &ConvertOptions::default()).unwrap_err().to_string();
    assert!(err.contains("`0`") && err.contains("batch norm"), "{err}");
}

#[test]
fn saved_models_load_with_identical_outputs_and_corrupt_files_are_errors() {
    let dir = std::env::temp_dir().join(format!("tinylab-int8-save-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (seed, gap, policy) in [(5, false, RoundingPolicy::DoubleRounding), (6, true, RoundingPolicy::SingleRounding)] {
        let q = int8::convert(&mut small_cnn(seed, gap), &images(16, seed), &opts(policy)).unwrap();
        let path = dir.join(format!("m{seed}.ckpt"));
        q.save(&path).unwrap();
        let back = int8::Int8Model::load(&path).unwrap();
        assert_eq!(back.policy(), policy);
        assert_eq!(back.size(), q.size());
        let x = images(8, seed + 1);
        let xq = q.quantize_input(&x).unwrap();
        assert_eq!(back.run_quantized(&xq, [8, 3, 12, 12]).unwrap(), q.run_quantized(&xq, [8, 3, 12, 12]).unwrap());
        // One flipped payload byte fails the checksum; a truncated file is an error too.
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(int8::Int8Model::load(&path).is_err());
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(int8::Int8Model::load(&path).is_err());
    }
    assert!(int8::Int8Model::load(&dir.join("missing.ckpt")).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two convolution branches concatenated along channels, pooled, and multiplied by a weight matrix
/// through `ops::matmul` (not a `Linear`): the shape of an Inception block or a transformer
/// projection.
#[derive(Debug)]
struct ConcatMatmul {
    left: Conv2d,
    right: Conv2d,
    head: tinylab_classical::nn::Param,
}

impl Module for ConcatMatmul {
    fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> tinylab_classical::Result<Var> {
        let a = ops::relu(&self.left.forward(x, ctx)?);
        let b = self.right.forward(x, ctx)?;
        let joined = ops::concat(&[&a, &b], 1)?;
        let pooled = ops::global_avg_pool(&joined)?;
        ops::matmul(&pooled, &ctx.param(&self.head))
    }
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a tinylab_classical::nn::Param)) {
        self.left.visit_params(&tinylab_classical::nn::join(prefix, "left"), f);
        self.right.visit_params(&tinylab_classical::nn::join(prefix, "right"), f);
        f(tinylab_classical::nn::join(prefix, "head"), &self.head);
    }
    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut tinylab_classical::nn::Param)) {
        self.left.visit_params_mut(&tinylab_classical::nn::join(prefix, "left"), f);
        self.right.visit_params_mut(&tinylab_classical::nn::join(prefix, "right"), f);
        f(tinylab_classical::nn::join(prefix, "head"), &mut self.head);
    }
}

#[test]
fn a_model_with_concat_and_matmul_converts_and_runs_in_int8() {
    let mut r = rng(3);
    let mut model = ConcatMatmul {
        left: Conv2d::new(3, 4, 3, Conv2dSpec::new(1, 1), true, &mut r),
        right: Conv2d::new(3, 6, 1, Conv2dSpec::default(), true, &mut r),
        head: tinylab_classical::nn::Param::new("head", rand_uniform(&[10, 10], -0.5, 0.5, &mut r)),
    };
    let q = int8::convert(&mut model, &images(48, 7), &ConvertOptions::default()).unwrap();
    let kinds: Vec<&str> = q.nodes().iter().map(|n| n.layer.name()).collect();
    assert_eq!(kinds, ["conv", "conv", "concat", "global_avg_pool", "fully_connected"]);
    assert_eq!(
        q.nodes()[2].inputs,
        [tinylab_classical::int8::Source::Node(0), tinylab_classical::int8::Source::Node(1)]
    );
    // Bit for bit against the exact reference, on inputs beyond the calibrated range too.
    let x = images(16, 8).mapv(|v| v * 1.2);
    let xq = q.quantize_input(&x).unwrap();
    let got = q.run_quantized(&xq, [16, 3, 12, 12]).unwrap();
    assert_eq!(got, reference::forward(&q, &xq, [16, 3, 12, 12]).unwrap());
    // Within a few output steps of its fake-quant twin (the same tolerance as the CNN above), and close
    // to the float model relative to the logits' spread, on inputs in the calibrated range.
    let step = q.output_params().scale[0];
    let worst = |a: &Tensor, b: &Tensor| a.iter().zip(b.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let x = images(16, 9);
    let int8 = q.forward(&x).unwrap();
    let fake = worst(&int8, &q.forward_fake_quant(&x).unwrap());
    assert!(fake <= 4.0 * step, "{fake} from the fake-quant twin against an output step of {step}");
    let float = model.forward(&Var::constant(x.clone()), &mut Ctx::eval()).unwrap().value().clone();
    let spread =
        float.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v)) - float.iter().fold(f32::INFINITY, |m, v| m.min(*v));
    let err = worst(&float, &int8);
    assert!(err <= 0.1 * spread, "worst error {err} against a spread of {spread} (step {step})");
    // And through the saved format.
    let path = std::env::temp_dir().join(format!("tinylab-concat-{}.ckpt", std::process::id()));
    q.save(&path).unwrap();
    let back = int8::Int8Model::load(&path).unwrap();
    assert_eq!(back.run_quantized(&xq, [16, 3, 12, 12]).unwrap(), got);
    std::fs::remove_file(&path).ok();
}

#[test]
fn int8_models_of_format_1_are_refused_naming_both_versions() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/graph/int8_model_v1.ckpt");
    let err = int8::Int8Model::load(&path).unwrap_err().to_string();
    assert!(err.contains("version 1") && err.contains("version 2") && err.contains("int8_model_v1.ckpt"), "{err}");
}
