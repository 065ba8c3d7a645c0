//! The generator of the int8 corpus (`tests/fixtures/int8_corpus`): every case built here, from a
//! float model converted with calibration images (the path real models take) or from integer
//! parameters written by hand (the extremes calibration never produces: saturating multipliers,
//! asymmetric kernels, concatenations). Run it with
//! `cargo test -p tinylab-mcu-export --test int8_corpus -- --ignored write_int8_corpus`; it replaces the
//! case files of the directory. Everything is seeded, so a rerun writes the same files.

use super::{CaseFile, to_hex};
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use tinylab_classical::compress::quant::QuantParams;
use tinylab_classical::int8::kernels::add::QAdd;
use tinylab_classical::int8::kernels::concat::QConcat;
use tinylab_classical::int8::kernels::conv::QConv2d;
use tinylab_classical::int8::kernels::depthwise::QDepthwiseConv2d;
use tinylab_classical::int8::kernels::fully_connected::QLinear;
use tinylab_classical::int8::{
    ConvertOptions, Int8Layer, Int8Model, Int8Node, QuantizedMultiplier, QuantizedWeights, Requant, RoundingPolicy,
    Source, convert, quantize_multiplier,
};
use tinylab_classical::nn::{
    Act, AvgPool2d, BatchNorm, Conv2d, Flatten, GlobalAvgPool, Linear, MaxPool2d, Residual, Sequential, zoo,
};
use tinylab_classical::ops::{Activation, Conv2dSpec, Pool2dSpec};
use tinylab_classical::tensor::{rand_uniform, randn, rng, uniform};

const DOUBLE: RoundingPolicy = RoundingPolicy::DoubleRounding;
const SINGLE: RoundingPolicy = RoundingPolicy::SingleRounding;

/// One generated case before it is written.
struct Case {
    name: &'static str,
    description: &'static str,
    model: Int8Model,
    inputs: Vec<Vec<i8>>,
    planners: &'static [&'static str],
    c_export_rule: Option<&'static str>,
}

/// Uniform integer in `lo..=hi`.
fn int(r: &mut ChaCha8Rng, lo: i32, hi: i32) -> i32 {
    lo + (uniform(r) * (hi - lo + 1) as f64) as i32
}

fn i8s(r: &mut ChaCha8Rng, n: usize, lo: i32, hi: i32) -> Vec<i8> {
    (0..n).map(|_| int(r, lo, hi) as i8).collect()
}

/// The four test inputs of a case: a calibrated-range image (a little wider than the calibration,
/// so clamps act), uniform bytes over all of i8, bytes at the extremes -128 / 127 only, and the
/// constant input zero point (a real 0 image).
fn inputs(model: &Int8Model, seed: u64) -> Vec<Vec<i8>> {
    let [c, h, w] = model.input_shape();
    let n = c * h * w;
    let mut r = rng(seed ^ 0x5eed);
    let image = model.quantize_input(&randn(&[1, c, h, w], 1.3, &mut r)).unwrap();
    let full = i8s(&mut r, n, -128, 127);
    let extremes = (0..n).map(|_| if uniform(&mut r) < 0.5 { -128 } else { 127 }).collect();
    let zero = vec![model.input_params().zero_point[0] as i8; n];
    vec![image, full, extremes, zero]
}

fn bn(c: usize, r: &mut ChaCha8Rng) -> BatchNorm {
    let mut b = BatchNorm::new(c);
    b.gamma.value = rand_uniform(&[c], 0.5, 1.5, r);
    b.beta.value = rand_uniform(&[c], -0.3, 0.3, r);
    b
}

fn act(kind: Activation) -> Act {
    Act { kind }
}

/// `net` converted with 16 calibration images of `(c, h, w)`.
fn converted(mut net: Sequential, shape: [usize; 3], seed: u64, policy: RoundingPolicy) -> Int8Model {
    let [c, h, w] = shape;
    let calib = randn(&[16, c, h, w], 1.0, &mut rng(seed + 1));
    convert(&mut net, &calib, &ConvertOptions { policy, ..ConvertOptions::default() }).unwrap()
}

/// A case from a float network.
#[allow(clippy::too_many_arguments)]
fn float_case(
    name: &'static str,
    description: &'static str,
    seed: u64,
    shape: [usize; 3],
    policy: RoundingPolicy,
    planners: &'static [&'static str],
    build: impl FnOnce(&mut ChaCha8Rng) -> Sequential,
) -> Case {
    let mut r = rng(seed);
    let model = converted(build(&mut r), shape, seed, policy);
    let inputs = inputs(&model, seed);
    Case { name, description, model, inputs, planners, c_export_rule: None }
}

/// Per-tensor activation parameters.
fn qp(scale: f32, zero_point: i32) -> QuantParams {
    QuantParams { scale: vec![scale], zero_point: vec![zero_point], qmin: -128, qmax: 127, axis: None }
}

fn node(path: &str, inputs: Vec<Source>, layer: Int8Layer, output: QuantParams) -> Int8Node {
    Int8Node { path: path.to_string(), inputs, layer, output, act: None }
}

fn mult(real: f64, policy: RoundingPolicy) -> QuantizedMultiplier {
    quantize_multiplier(real, policy).unwrap()
}

/// A case from integer parameters.
fn hand_case(
    name: &'static str,
    description: &'static str,
    seed: u64,
    model: Int8Model,
    c_export_rule: Option<&'static str>,
) -> Case {
    let inputs = inputs(&model, seed);
    Case { name, description, model, inputs, planners: &["inplace"], c_export_rule }
}

/// Every case of the corpus.
fn cases() -> Vec<Case> {
    let s = Conv2dSpec::new;
    let mut v = vec![
        float_case(
            "conv3x3_pad1_relu",
            "3x3 convolution, padding 1, ReLU folded",
            1,
            [3, 8, 8],
            DOUBLE,
            &["inplace", "greedy"],
            |r| {
                Sequential::new()
                    .push(Conv2d::new(3, 5, 3, s(1, 1), true, r))
                    .push(bn(5, r))
                    .push(act(Activation::Relu))
            },
        ),
        float_case(
            "conv3x3_stride2_odd",
            "3x3 convolution, stride 2, no padding, odd 7x9 input",
            2,
            [2, 7, 9],
            SINGLE,
            &["inplace"],
            |r| Sequential::new().push(Conv2d::new(2, 4, 3, s(2, 0), true, r)),
        ),
        float_case(
            "conv5x5_stride2_pad2_relu6",
            "5x5 convolution, stride 2, padding 2, ReLU6 folded",
            3,
            [3, 9, 9],
            DOUBLE,
            &["inplace"],
            |r| {
                Sequential::new()
                    .push(Conv2d::new(3, 6, 5, s(2, 2), false, r))
                    .push(bn(6, r))
                    .push(act(Activation::Relu6))
            },
        ),
        float_case(
            "conv_dilation2",
            "3x3 convolution with dilation 2 and padding 2",
            4,
            [2, 10, 10],
            SINGLE,
            &["inplace"],
            |r| {
                let spec = Conv2dSpec { dilation: (2, 2), ..s(1, 2) };
                Sequential::new().push(Conv2d::new(2, 3, 3, spec, true, r))
            },
        ),
        float_case(
            "conv_groups2",
            "grouped (not depthwise) 3x3 convolution, 2 groups",
            5,
            [4, 6, 6],
            DOUBLE,
            &["inplace"],
            |r| {
                Sequential::new()
                    .push(Conv2d::new(4, 6, 3, s(1, 1).with_groups(2), true, r))
                    .push(act(Activation::Relu))
            },
        ),
        float_case(
            "conv1x1_pointwise",
            "pointwise 1x1 convolution (the C 1x1 fast path)",
            6,
            [8, 5, 5],
            SINGLE,
            &["inplace"],
            |r| Sequential::new().push(Conv2d::new(8, 4, 1, s(1, 0), true, r)).push(bn(4, r)),
        ),
        float_case(
            "depthwise3x3_relu6",
            "depthwise 3x3, padding 1, ReLU6 folded",
            7,
            [6, 8, 8],
            DOUBLE,
            &["inplace", "greedy"],
            |r| {
                Sequential::new()
                    .push(Conv2d::new(6, 6, 3, s(1, 1).with_groups(6), true, r))
                    .push(bn(6, r))
                    .push(act(Activation::Relu6))
            },
        ),
        float_case(
            "depthwise_multiplier2_stride2",
            "depthwise 3x3 with channel multiplier 2, stride 2",
            8,
            [3, 9, 9],
            SINGLE,
            &["inplace"],
            |r| Sequential::new().push(Conv2d::new(3, 6, 3, s(2, 1).with_groups(3), true, r)),
        ),
        float_case(
            "depthwise5x5_odd",
            "depthwise 5x5, padding 2, odd 7x11 input",
            9,
            [4, 7, 11],
            DOUBLE,
            &["inplace"],
            |r| Sequential::new().push(Conv2d::new(4, 4, 5, s(1, 2).with_groups(4), false, r)).push(bn(4, r)),
        ),
        float_case(
            "fc_flat_input",
            "flatten of a 1x1 map and a fully connected layer",
            10,
            [24, 1, 1],
            SINGLE,
            &["inplace"],
            |r| Sequential::new().push(Flatten).push(Linear::new(24, 7, true, r)),
        ),
        float_case(
            "fc_relu_fc",
            "two fully connected layers with a ReLU between",
            11,
            [3, 4, 4],
            DOUBLE,
            &["inplace"],
            |r| {
                Sequential::new()
                    .push(Flatten)
                    .push(Linear::new(48, 16, true, r))
                    .push(act(Activation::Relu))
                    .push(Linear::new(16, 5, true, r))
            },
        ),
        float_case(
            "flatten_spatial_fc",
            "flatten of a 3x5 map (NCHW order vs NHWC) into a linear layer",
            12,
            [2, 6, 10],
            SINGLE,
            &["inplace"],
            |r| {
                Sequential::new()
                    .push(Conv2d::new(2, 3, 3, s(2, 1), true, r))
                    .push(Flatten)
                    .push(Linear::new(45, 6, true, r))
            },
        ),
        float_case("maxpool2", "2x2 max pooling", 13, [3, 8, 8], DOUBLE, &["inplace"], |_| {
            Sequential::new().push(MaxPool2d { spec: Pool2dSpec::new(2) })
        }),
        float_case(
            "maxpool3_stride2_pad1",
            "3x3 max pooling, stride 2, padding 1 (padding ignored)",
            14,
            [2, 7, 7],
            SINGLE,
            &["inplace"],
            |_| Sequential::new().push(MaxPool2d { spec: Pool2dSpec { kernel: 3, stride: 2, padding: 1 } }),
        ),
        float_case(
            "avgpool2_pad1",
            "2x2 average pooling, stride 2, padding 1 (padded taps count)",
            15,
            [3, 7, 7],
            DOUBLE,
            &["inplace"],
            |_| Sequential::new().push(AvgPool2d { spec: Pool2dSpec { kernel: 2, stride: 2, padding: 1 } }),
        ),
        float_case(
            "avgpool3_stride1",
            "3x3 average pooling, stride 1, after a convolution",
            16,
            [2, 8, 8],
            SINGLE,
            &["inplace"],
            |r| {
                Sequential::new()
                    .push(Conv2d::new(2, 4, 3, s(1, 1), true, r))
                    .push(AvgPool2d { spec: Pool2dSpec { kernel: 3, stride: 1, padding: 0 } })
            },
        ),
        float_case(
            "gap_odd_plane_fc",
            "global average pooling of a 5x7 plane (rounded division by 35), linear",
            17,
            [3, 5, 7],
            DOUBLE,
            &["inplace"],
            |r| {
                Sequential::new()
                    .push(Conv2d::new(3, 6, 3, s(1, 1), true, r))
                    .push(GlobalAvgPool)
                    .push(Linear::new(6, 4, true, r))
            },
        ),
        float_case(
            "clamp_after_pool",
            "ReLU and ReLU6 after pooling: standalone clamps",
            18,
            [3, 8, 8],
            SINGLE,
            &["inplace", "greedy"],
            |r| {
                Sequential::new()
                    .push(Conv2d::new(3, 4, 3, s(1, 1), true, r))
                    .push(MaxPool2d { spec: Pool2dSpec::new(2) })
                    .push(act(Activation::Relu))
                    .push(AvgPool2d { spec: Pool2dSpec::new(2) })
                    .push(act(Activation::Relu6))
            },
        ),
        float_case(
            "residual_identity",
            "residual block, identity shortcut, ReLU after the sum",
            19,
            [4, 6, 6],
            DOUBLE,
            &["inplace", "greedy"],
            |r| {
                let body = Sequential::new()
                    .push(Conv2d::new(4, 4, 3, s(1, 1), false, r))
                    .push(bn(4, r))
                    .push(act(Activation::Relu))
                    .push(Conv2d::new(4, 4, 3, s(1, 1), false, r))
                    .push(bn(4, r));
                Sequential::new().push(Residual { body, shortcut: None, post: Some(Activation::Relu) })
            },
        ),
        float_case(
            "residual_projection_stride2",
            "residual block with a strided 1x1 projection shortcut",
            20,
            [3, 8, 8],
            SINGLE,
            &["inplace"],
            |r| {
                let body = Sequential::new()
                    .push(Conv2d::new(3, 5, 3, s(2, 1), false, r))
                    .push(bn(5, r))
                    .push(act(Activation::Relu))
                    .push(Conv2d::new(5, 5, 3, s(1, 1).with_groups(5), true, r))
                    .push(bn(5, r));
                let shortcut = Some(Sequential::new().push(Conv2d::new(3, 5, 1, s(2, 0), false, r)).push(bn(5, r)));
                Sequential::new().push(Residual { body, shortcut, post: None })
            },
        ),
        float_case(
            "mobilenet_block",
            "MobileNetV2-like stem and two inverted residuals (1x1 expand, ReLU6, depthwise, 1x1 project, add), GAP head",
            21,
            [3, 12, 12],
            DOUBLE,
            &["inplace", "greedy", "patch:2"],
            |r| {
                let inverted = |c: usize, r: &mut ChaCha8Rng| {
                    let e = 3 * c;
                    Sequential::new()
                        .push(Conv2d::new(c, e, 1, s(1, 0), false, r))
                        .push(bn(e, r))
                        .push(act(Activation::Relu6))
                        .push(Conv2d::new(e, e, 3, s(1, 1).with_groups(e), false, r))
                        .push(bn(e, r))
                        .push(act(Activation::Relu6))
                        .push(Conv2d::new(e, c, 1, s(1, 0), false, r))
                        .push(bn(c, r))
                };
                let (b1, b2) = (inverted(4, r), inverted(4, r));
                Sequential::new()
                    .push(Conv2d::new(3, 4, 3, s(2, 1), false, r))
                    .push(bn(4, r))
                    .push(act(Activation::Relu6))
                    .push(Residual { body: b1, shortcut: None, post: None })
                    .push(Residual { body: b2, shortcut: None, post: None })
                    .push(GlobalAvgPool)
                    .push(Linear::new(4, 5, true, r))
            },
        ),
        float_case(
            "conv_column_width1",
            "3x3 convolution, padding 1, on a 9x1 column (most taps padded)",
            24,
            [2, 9, 1],
            SINGLE,
            &["inplace"],
            |r| Sequential::new().push(Conv2d::new(2, 3, 3, s(1, 1), true, r)).push(act(Activation::Relu)),
        ),
        float_case(
            "single_pixel_input",
            "3x3 convolution on a 1x1 input, global average pooling of one pixel, linear",
            25,
            [5, 1, 1],
            DOUBLE,
            &["inplace"],
            |r| {
                Sequential::new()
                    .push(Conv2d::new(5, 4, 3, s(1, 1), true, r))
                    .push(GlobalAvgPool)
                    .push(Linear::new(4, 3, true, r))
            },
        ),
        float_case(
            "add_x_plus_x",
            "an addition reading one tensor twice (a residual with an empty body), ReLU after",
            26,
            [3, 6, 6],
            SINGLE,
            &["inplace", "greedy"],
            |r| {
                Sequential::new().push(Conv2d::new(3, 4, 3, s(1, 1), true, r)).push(Residual {
                    body: Sequential::new(),
                    shortcut: None,
                    post: Some(Activation::Relu),
                })
            },
        ),
        float_case(
            "fc_wide_odd",
            "fully connected 333 -> 19 (odd sizes past the SIMD widths and tails)",
            27,
            [37, 3, 3],
            DOUBLE,
            &["inplace"],
            |r| Sequential::new().push(Flatten).push(Linear::new(333, 19, true, r)),
        ),
        float_case(
            "conv_many_channels_odd",
            "3x3 convolution 37 -> 19 channels, then 1x1 19 -> 33 (GEMM tails)",
            28,
            [37, 5, 5],
            SINGLE,
            &["inplace"],
            |r| {
                Sequential::new()
                    .push(Conv2d::new(37, 19, 3, s(1, 1), true, r))
                    .push(bn(19, r))
                    .push(act(Activation::Relu))
                    .push(Conv2d::new(19, 33, 1, s(1, 0), true, r))
            },
        ),
        float_case(
            "depthwise_many_channels",
            "depthwise 3x3 on 35 channels, stride 2 (vector lanes and tails)",
            29,
            [35, 6, 5],
            DOUBLE,
            &["inplace", "greedy"],
            |r| {
                Sequential::new()
                    .push(Conv2d::new(35, 35, 1, s(1, 0), false, r))
                    .push(Conv2d::new(35, 35, 3, s(2, 1).with_groups(35), true, r))
                    .push(bn(35, r))
                    .push(act(Activation::Relu6))
            },
        ),
    ];
    for (name, policy, seed) in [("small_cnn", DOUBLE, 22), ("small_cnn_single_rounding", SINGLE, 23)] {
        let model = converted(zoo::reference_cnn(1, 8, 10, seed).unwrap(), [1, 8, 8], seed, policy);
        v.push(Case {
            name,
            description: "the reference CNN (conv-BN-ReLU-maxpool twice, linear) on 8x8 digits",
            inputs: inputs(&model, seed),
            model,
            planners: &["inplace", "greedy", "patch:2", "patch:3:1"],
            c_export_rule: None,
        });
    }
    v.extend(hand_cases());
    // The converter must still give the structure the descriptions promise.
    let x2 = v.iter().find(|c| c.name == "add_x_plus_x").unwrap();
    let add = x2.model.nodes().iter().find(|n| matches!(n.layer, Int8Layer::Add(_))).unwrap();
    assert_eq!(add.inputs[0], add.inputs[1], "add_x_plus_x: {:?}", add.inputs);
    v
}

/// Cases written as integers, each drawing its parameters from its own seed (so adding a case leaves
/// the others unchanged).
fn hand_cases() -> Vec<Case> {
    let mut v = Vec::new();

    // Saturation: per-channel multipliers from zero through tiny to far above 1, large biases, an
    // input zero point of 7: every output channel saturates differently, both clamps are reached.
    for (name, policy, seed) in [("saturating_conv", DOUBLE, 101), ("saturating_conv_single_rounding", SINGLE, 102)] {
        let mut r = rng(seed);
        let reals = [0.0, 1e-9, 2f64.powi(-31), 3e-5, 0.5, 1.0 - 1e-12, 1.0, 37.0, 300.0];
        let o = reals.len();
        let ms = reals.iter().map(|&m| mult(m, policy)).collect();
        let rq = Requant::new(ms, -5, -128, 127, policy).unwrap();
        let bias = (0..o).map(|k| [1 << 20, -(1 << 20), 12345, -7, 0][k % 5]).collect();
        let w = QuantizedWeights::unscaled(i8s(&mut r, o * 2 * 9, -127, 127), vec![o, 2, 3, 3], bias, 7, rq);
        let conv = QConv2d::new(w, Conv2dSpec::new(1, 1)).unwrap();
        let model = Int8Model::from_parts(
            qp(0.05, 7),
            [2, 5, 6],
            vec![node("0", vec![Source::Input], Int8Layer::Conv(conv), qp(0.1, -5))],
            policy,
        )
        .unwrap();
        v.push(hand_case(
            name,
            "3x3 convolution whose per-channel multipliers run from 0 to 300 with large biases: saturation",
            seed,
            model,
            None,
        ));
    }

    // A rectangular kernel with a rectangular stride, asymmetric padding and a dilation along one
    // axis, a ReLU-like clamp at a non-zero zero point.
    {
        let policy = SINGLE;
        let mut r = rng(103);
        let o = 3;
        let ms = (0..o).map(|k| mult(0.002 * (k + 1) as f64, policy)).collect();
        let rq = Requant::new(ms, 11, 11, 127, policy).unwrap();
        let bias = (0..o).map(|_| int(&mut r, -3000, 3000)).collect();
        let w = QuantizedWeights::unscaled(i8s(&mut r, o * 2 * 3 * 2, -127, 127), vec![o, 2, 3, 2], bias, -3, rq);
        let spec = Conv2dSpec { stride: (2, 1), padding: (1, 0), dilation: (1, 2), groups: 1 };
        let conv = QConv2d::new(w, spec).unwrap();
        let model = Int8Model::from_parts(
            qp(0.03, -3),
            [2, 7, 6],
            vec![node("0", vec![Source::Input], Int8Layer::Conv(conv), qp(0.2, 11))],
            policy,
        )
        .unwrap();
        v.push(hand_case(
            "conv_rect_kernel_asym_stride",
            "3x2 kernel, stride (2, 1), padding (1, 0), dilation (1, 2), ReLU clamp at zero point 11",
            103,
            model,
            None,
        ));
    }

    // Depthwise with a multiplier, rectangular stride and per-channel scales over four decades.
    {
        let policy = DOUBLE;
        let mut r = rng(104);
        let (c, mult_c) = (3, 2);
        let o = c * mult_c;
        let ms = (0..o).map(|k| mult(1e-4 * 10f64.powf(k as f64 * 0.8), policy)).collect();
        let rq = Requant::new(ms, -20, -128, 100, policy).unwrap();
        let bias = (0..o).map(|_| int(&mut r, -20000, 20000)).collect();
        let w = QuantizedWeights::unscaled(i8s(&mut r, o * 9, -127, 127), vec![o, 1, 3, 3], bias, 60, rq);
        let spec = Conv2dSpec { stride: (1, 2), padding: (1, 1), dilation: (1, 1), groups: c };
        let dw = QDepthwiseConv2d::new(w, spec).unwrap();
        let model = Int8Model::from_parts(
            qp(0.02, 60),
            [c, 6, 9],
            vec![node("0", vec![Source::Input], Int8Layer::Depthwise(dw), qp(0.05, -20))],
            policy,
        )
        .unwrap();
        v.push(hand_case(
            "depthwise_per_channel_scales",
            "depthwise 3x3 with multiplier 2, stride (1, 2), per-channel multipliers from 1e-4 to 10",
            104,
            model,
            None,
        ));
    }

    // Fully connected at the extreme input zero points, per-channel multipliers, a ReLU6-like clamp.
    for (name, zp, policy, seed) in [("fc_input_zp_min", -128, SINGLE, 105), ("fc_input_zp_max", 127, DOUBLE, 106)] {
        let mut r = rng(seed);
        let (o, k) = (6, 20);
        let ms = (0..o).map(|j| mult([1e-5, 3e-4, 1e-3, 0.01, 0.2, 0.9][j], policy)).collect();
        let rq = Requant::new(ms, 3, 3, 90, policy).unwrap();
        let bias = (0..o).map(|_| int(&mut r, -50000, 50000)).collect();
        let w = QuantizedWeights::unscaled(i8s(&mut r, o * k, -127, 127), vec![o, k], bias, zp, rq);
        let fc = QLinear::new(w).unwrap();
        let model = Int8Model::from_parts(
            qp(0.1, zp),
            [k, 1, 1],
            vec![
                node("0", vec![Source::Input], Int8Layer::Flatten, qp(0.1, zp)),
                node("1", vec![Source::Node(0)], Int8Layer::FullyConnected(fc), qp(0.3, 3)),
            ],
            policy,
        )
        .unwrap();
        v.push(hand_case(
            name,
            "fully connected layer at an extreme input zero point, per-channel multipliers, clamp [3, 90]",
            seed,
            model,
            None,
        ));
    }

    // An addition of inputs whose scales differ by 1000x into a small output scale: most sums
    // saturate, the clamp [-20, 90] cuts both ends.
    for (name, policy, seed) in [("add_saturating", DOUBLE, 107), ("add_saturating_single_rounding", SINGLE, 108)] {
        let mut r = rng(seed);
        let c = 4;
        let ms = (0..c).map(|k| mult(0.01 + 0.02 * k as f64, policy)).collect();
        let rq = Requant::new(ms, -40, -128, 127, policy).unwrap();
        let bias = (0..c).map(|_| int(&mut r, -500, 500)).collect();
        let w = QuantizedWeights::unscaled(i8s(&mut r, c * c, -127, 127), vec![c, c, 1, 1], bias, 9, rq);
        let conv = QConv2d::new(w, Conv2dSpec::new(1, 0)).unwrap();
        let (s_in, s_conv, s_out) = (0.001, 1.0, 0.004);
        let add = QAdd::new((s_conv, -40), (s_in, 9), (s_out, 2), -20, 90, policy).unwrap();
        let model = Int8Model::from_parts(
            qp(s_in, 9),
            [c, 5, 5],
            vec![
                node("0", vec![Source::Input], Int8Layer::Conv(conv), qp(s_conv, -40)),
                node("1", vec![Source::Node(0), Source::Input], Int8Layer::Add(add), qp(s_out, 2)),
            ],
            policy,
        )
        .unwrap();
        v.push(hand_case(
            name,
            "1x1 convolution plus the input at 1000x smaller scale, tiny output scale, clamp [-20, 90]",
            seed,
            model,
            None,
        ));
    }

    // Average pooling with a large zero point: padded taps count as the zero point.
    {
        let policy = SINGLE;
        let model = Int8Model::from_parts(
            qp(0.04, 100),
            [2, 5, 6],
            vec![
                node(
                    "0",
                    vec![Source::Input],
                    Int8Layer::AvgPool(Pool2dSpec { kernel: 3, stride: 2, padding: 1 }),
                    qp(0.04, 100),
                ),
                node("1", vec![Source::Node(0)], Int8Layer::Clamp { min: -50, max: 60 }, qp(0.04, 100)),
                node("2", vec![Source::Node(1)], Int8Layer::Flatten, qp(0.04, 100)),
                node("3", vec![Source::Node(2)], Int8Layer::Clamp { min: -60, max: 40 }, qp(0.04, 100)),
            ],
            policy,
        )
        .unwrap();
        v.push(hand_case(
            "avgpool_pad_zero_point_clamps",
            "3x3 average pooling, stride 2, padding 1 at zero point 100, a clamp of the map and of its flattening",
            109,
            model,
            None,
        ));
    }

    // Flat tensors: two fully connected branches of a flattened 2x2 map added, the sum flattened
    // again, clamped and fed to a last layer.
    {
        let policy = SINGLE;
        let mut r = rng(112);
        let fc = |r: &mut ChaCha8Rng, o: usize, k: usize, zp: i32, out_zp: i32| {
            let ms = (0..o).map(|j| mult(0.004 + 0.001 * j as f64, policy)).collect();
            let rq = Requant::new(ms, out_zp, -128, 127, policy).unwrap();
            let bias = (0..o).map(|_| int(r, -4000, 4000)).collect();
            let w = QuantizedWeights::unscaled(i8s(r, o * k, -127, 127), vec![o, k], bias, zp, rq);
            Int8Layer::FullyConnected(QLinear::new(w).unwrap())
        };
        let (a, b, last) = (fc(&mut r, 8, 12, -6, 10), fc(&mut r, 8, 12, -6, -30), fc(&mut r, 5, 8, 1, 0));
        let add = QAdd::new((0.2, 10), (0.05, -30), (0.15, 1), -128, 127, policy).unwrap();
        let model = Int8Model::from_parts(
            qp(0.03, -6),
            [3, 2, 2],
            vec![
                node("0", vec![Source::Input], Int8Layer::Flatten, qp(0.03, -6)),
                node("1", vec![Source::Node(0)], a, qp(0.2, 10)),
                node("2", vec![Source::Node(0)], b, qp(0.05, -30)),
                node("3", vec![Source::Node(1), Source::Node(2)], Int8Layer::Add(add), qp(0.15, 1)),
                node("4", vec![Source::Node(3)], Int8Layer::Flatten, qp(0.15, 1)),
                node("5", vec![Source::Node(4)], Int8Layer::Clamp { min: -100, max: 100 }, qp(0.15, 1)),
                node("6", vec![Source::Node(5)], last, qp(0.1, 0)),
            ],
            policy,
        )
        .unwrap();
        v.push(hand_case(
            "add_flat_vectors",
            "two fully connected branches of a flattened 2x2 map added, flattened again, clamped, a last layer",
            112,
            model,
            None,
        ));
    }

    // Concatenations: no C kernel yet, so the C engines skip them by rule.
    for (name, policy, seed) in [("concat_two_convs", DOUBLE, 110), ("concat_input_and_conv", SINGLE, 111)] {
        let mut r = rng(seed);
        let c = 2;
        let conv = |r: &mut ChaCha8Rng, o: usize| {
            let ms = (0..o).map(|k| mult(0.003 * (k + 1) as f64, policy)).collect();
            let rq = Requant::new(ms, -1, -128, 127, policy).unwrap();
            let bias = (0..o).map(|_| int(r, -1000, 1000)).collect();
            let w = QuantizedWeights::unscaled(i8s(r, o * c * 9, -127, 127), vec![o, c, 3, 3], bias, 4, rq);
            Int8Layer::Conv(QConv2d::new(w, Conv2dSpec::new(1, 1)).unwrap())
        };
        let (a, b) = (conv(&mut r, 3), conv(&mut r, 2));
        let nodes = if name == "concat_two_convs" {
            let cat = QConcat::new(&[(0.05, -1), (0.08, -1)], (0.1, 0), policy).unwrap();
            vec![
                node("0", vec![Source::Input], a, qp(0.05, -1)),
                node("1", vec![Source::Input], b, qp(0.08, -1)),
                node("2", vec![Source::Node(0), Source::Node(1)], Int8Layer::Concat(cat), qp(0.1, 0)),
            ]
        } else {
            let cat = QConcat::new(&[(0.02, 4), (0.05, -1)], (0.05, -1), policy).unwrap();
            vec![
                node("0", vec![Source::Input], a, qp(0.05, -1)),
                node("1", vec![Source::Input, Source::Node(0)], Int8Layer::Concat(cat), qp(0.05, -1)),
            ]
        };
        let model = Int8Model::from_parts(qp(0.02, 4), [c, 5, 5], nodes, policy).unwrap();
        v.push(hand_case(
            name,
            "channel concatenation with a requantized input (no C kernel: skipped by rule in C)",
            seed,
            model,
            Some("concatenation"),
        ));
    }
    v
}

/// Writes every case into `dir` (`<name>.json` and `<name>.int8`), after removing the case files
/// already there.
pub fn write_corpus(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if matches!(path.extension().and_then(|e| e.to_str()), Some("json" | "int8")) {
            std::fs::remove_file(&path).unwrap();
        }
    }
    for case in cases() {
        let model_file = format!("{}.int8", case.name);
        case.model.save(&dir.join(&model_file)).unwrap();
        let file = CaseFile {
            name: case.name.to_string(),
            description: case.description.to_string(),
            model: model_file,
            planners: case.planners.iter().map(|p| p.to_string()).collect(),
            c_export_rule: case.c_export_rule.map(str::to_string),
            inputs_hex: case.inputs.iter().map(|x| to_hex(x)).collect(),
        };
        let json = serde_json::to_string_pretty(&file).unwrap() + "\n";
        std::fs::write(dir.join(format!("{}.json", case.name)), json).unwrap();
    }
}
