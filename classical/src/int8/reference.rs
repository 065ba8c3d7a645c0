//! A test oracle: the same integer arithmetic written as plainly as possible, independent of the
//! engine's kernels. Requantization is computed exactly in i128 from its mathematical definition
//! (`x M 2^(shift - 31)` with the documented roundings), the kernels are direct NCHW loops with i64
//! accumulators, and [`forward`] runs a whole [`Int8Model`] with them.

use super::fixed_point::{QuantizedMultiplier, Requant, RoundingPolicy};
use super::kernels::add::{ADD_LEFT_SHIFT, QAdd};
use super::kernels::concat::QConcat;
use super::kernels::{Dims, conv_out, out_size};
use super::model::{Int8Layer, Int8Model, QuantizedOutput, Source};
use crate::error::{Result, arg_err, shape_err};
use crate::ops::{Conv2dSpec, Pool2dSpec};

/// `floor(a / 2^e)` for `e >= 0`.
fn floor_pow2(a: i128, e: i32) -> i128 {
    a.div_euclid(1i128 << e)
}

/// `a / 2^e` rounded to nearest, ties towards +inf.
fn round_half_up_pow2(a: i128, e: i32) -> i128 {
    if e == 0 { a } else { floor_pow2(a + (1i128 << (e - 1)), e) }
}

/// `a / 2^e` rounded to nearest, ties away from zero.
fn round_half_away_pow2(a: i128, e: i32) -> i128 {
    if e == 0 {
        a
    } else {
        let m = floor_pow2(a.abs() + (1i128 << (e - 1)), e);
        if a < 0 { -m } else { m }
    }
}

/// Exact requantization `x M 2^(shift - 31)` under `policy`, in i128:
///
/// - double rounding: `h = round_half_up(x 2^max(shift,0) M / 2^31)` (the doubling high multiply),
///   then `round_half_away(h / 2^max(-shift, 0))`;
/// - single rounding: `round_half_up(x M / 2^(31 - shift))`.
///
/// Callers keep `x 2^max(shift, 0)` within i32 (where the engine's i32 arithmetic is exact).
pub fn requantize_exact(x: i32, m: QuantizedMultiplier, policy: RoundingPolicy) -> i64 {
    let (x, mm) = (x as i128, m.multiplier as i128);
    match policy {
        RoundingPolicy::DoubleRounding => {
            let h = round_half_up_pow2((x << m.shift.max(0)) * mm, 31);
            round_half_away_pow2(h, (-m.shift).max(0)) as i64
        }
        RoundingPolicy::SingleRounding => round_half_up_pow2(x * mm, 31 - m.shift) as i64,
    }
}

/// The output integer of accumulator `acc` in `channel`: exact rescale, zero point, clamp.
pub fn requant_output(rq: &Requant, acc: i64, channel: usize) -> Result<i8> {
    let acc = i32::try_from(acc).map_err(|_| arg_err("reference", format!("accumulator {acc} overflows i32")))?;
    let m = if rq.multipliers.len() == 1 { rq.multipliers[0] } else { rq.multipliers[channel] };
    let v = requantize_exact(acc, m, rq.policy) + rq.output_zero_point as i64;
    Ok(v.clamp(rq.act_min as i64, rq.act_max as i64) as i8)
}

#[allow(clippy::too_many_arguments)]
/// Reference convolution on NCHW `x`: weight `(O, C/g, KH, KW)`, groups from `spec`.
pub fn conv2d(
    x: &[i8],
    d: Dims,
    weight: &[i8],
    wshape: [usize; 4],
    bias: &[i32],
    spec: Conv2dSpec,
    input_zero_point: i32,
    rq: &Requant,
) -> Result<(Vec<i8>, Dims)> {
    let [o, cg, kh, kw] = wshape;
    let g = spec.groups;
    if d.c != cg * g || o % g != 0 || x.len() != d.len() {
        return Err(shape_err("reference conv2d", &d.nchw(), &wshape, "channels / groups"));
    }
    let (oh, ow) = conv_out("reference conv2d", d, kh, kw, &spec)?;
    let og = o / g;
    let mut out = Vec::with_capacity(d.n * o * oh * ow);
    for n in 0..d.n {
        for oc in 0..o {
            let grp = oc / og;
            for oi in 0..oh {
                for oj in 0..ow {
                    let mut acc = bias[oc] as i64;
                    for c in 0..cg {
                        let ic = grp * cg + c;
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let ih = (oi * spec.stride.0 + ki * spec.dilation.0) as i64 - spec.padding.0 as i64;
                                let iw = (oj * spec.stride.1 + kj * spec.dilation.1) as i64 - spec.padding.1 as i64;
                                if ih < 0 || iw < 0 || ih >= d.h as i64 || iw >= d.w as i64 {
                                    continue; // TFLite skips padded taps
                                }
                                let xv = x[((n * d.c + ic) * d.h + ih as usize) * d.w + iw as usize] as i64;
                                let wv = weight[((oc * cg + c) * kh + ki) * kw + kj] as i64;
                                acc += (xv - input_zero_point as i64) * wv;
                            }
                        }
                    }
                    out.push(requant_output(rq, acc, oc)?);
                }
            }
        }
    }
    Ok((out, Dims::new(d.n, o, oh, ow)))
}

#[allow(clippy::too_many_arguments)]
/// Reference fully connected layer: `(n, k)` -> `(n, o)`.
pub fn fully_connected(
    x: &[i8],
    n: usize,
    weight: &[i8],
    o: usize,
    k: usize,
    bias: &[i32],
    input_zero_point: i32,
    rq: &Requant,
) -> Result<Vec<i8>> {
    if x.len() != n * k || weight.len() != o * k {
        return Err(shape_err("reference fully_connected", &[n, k], &[o, k], "input (n, k), weight (o, k)"));
    }
    let mut out = Vec::with_capacity(n * o);
    for i in 0..n {
        for oc in 0..o {
            let mut acc = bias[oc] as i64;
            for j in 0..k {
                acc += (x[i * k + j] as i64 - input_zero_point as i64) * weight[oc * k + j] as i64;
            }
            out.push(requant_output(rq, acc, oc)?);
        }
    }
    Ok(out)
}

/// Reference int8 addition.
pub fn add(a: &[i8], b: &[i8], p: &QAdd) -> Result<Vec<i8>> {
    if a.len() != b.len() {
        return Err(shape_err("reference add", &[a.len()], &[b.len()], "same length"));
    }
    let scaled = |x: i8, i: usize| -> Result<i64> {
        let shifted = (x as i64 - p.input_zero_points[i] as i64) << ADD_LEFT_SHIFT;
        let shifted = i32::try_from(shifted).map_err(|_| arg_err("reference add", "shifted input overflows"))?;
        Ok(requantize_exact(shifted, p.input_multipliers[i], p.policy))
    };
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let sum =
                i32::try_from(scaled(x, 0)? + scaled(y, 1)?).map_err(|_| arg_err("reference add", "sum overflows"))?;
            let v = requantize_exact(sum, p.output_multiplier, p.policy) + p.output_zero_point as i64;
            Ok(v.clamp(p.act_min as i64, p.act_max as i64) as i8)
        })
        .collect()
}

/// `sum / count` rounded half away from zero, exactly.
fn average(sum: i64, count: i64) -> i64 {
    let q = (2 * sum.abs() + count) / (2 * count);
    if sum < 0 { -q } else { q }
}

/// Reference pooling on NCHW `x`: max (`avg = false`, padding ignored) or average (padding counted
/// as `zero_point`, a `k x k` count).
pub fn pool(x: &[i8], d: Dims, spec: Pool2dSpec, avg: bool, zero_point: i32) -> Result<(Vec<i8>, Dims)> {
    let oh = out_size("reference pool", d.h, spec.kernel, spec.stride, spec.padding, 1)?;
    let ow = out_size("reference pool", d.w, spec.kernel, spec.stride, spec.padding, 1)?;
    let mut out = Vec::with_capacity(d.n * d.c * oh * ow);
    for plane in 0..d.n * d.c {
        for oi in 0..oh {
            for oj in 0..ow {
                let (mut best, mut sum) = (i64::MIN, 0i64);
                for ki in 0..spec.kernel {
                    for kj in 0..spec.kernel {
                        let ih = (oi * spec.stride + ki) as i64 - spec.padding as i64;
                        let iw = (oj * spec.stride + kj) as i64 - spec.padding as i64;
                        if ih < 0 || iw < 0 || ih >= d.h as i64 || iw >= d.w as i64 {
                            sum += zero_point as i64;
                            continue;
                        }
                        let v = x[(plane * d.h + ih as usize) * d.w + iw as usize] as i64;
                        best = best.max(v);
                        sum += v;
                    }
                }
                let v = if avg { average(sum, (spec.kernel * spec.kernel) as i64) } else { best };
                out.push(v.clamp(-128, 127) as i8);
            }
        }
    }
    Ok((out, Dims::new(d.n, d.c, oh, ow)))
}

/// Reference global average pooling: NCHW -> `(N, C)`.
pub fn global_avg_pool(x: &[i8], d: Dims) -> Vec<i8> {
    let plane = d.h * d.w;
    (0..d.n * d.c)
        .map(|p| average(x[p * plane..(p + 1) * plane].iter().map(|&v| v as i64).sum(), plane as i64) as i8)
        .collect()
}

/// Reference concatenation along channels of NCHW inputs (features for flat ones): every value
/// rescaled exactly to the output's parameters.
pub fn concat(xs: &[(&[i8], Dims)], p: &QConcat) -> Result<(Vec<i8>, Dims)> {
    let d0 = xs[0].1;
    let c: usize = xs.iter().map(|(_, d)| d.c).sum();
    let plane = d0.h * d0.w;
    let mut out = Vec::with_capacity(d0.n * c * plane);
    for n in 0..d0.n {
        for (i, (x, d)) in xs.iter().enumerate() {
            if (d.n, d.h, d.w) != (d0.n, d0.h, d0.w) {
                return Err(shape_err("reference concat", &d0.nchw(), &d.nchw(), "inputs differ outside channels"));
            }
            let input = p.inputs[i];
            for &v in &x[n * d.c * plane..(n + 1) * d.c * plane] {
                out.push(match input.multiplier {
                    None => v,
                    Some(m) => {
                        let r = requantize_exact(v as i32 - input.zero_point, m, p.policy) + p.output_zero_point as i64;
                        r.clamp(-128, 127) as i8
                    }
                });
            }
        }
    }
    Ok((out, Dims::new(d0.n, c, d0.h, d0.w)))
}

/// Runs `model` on NCHW i8 input `x` of `shape` with the reference kernels.
pub fn forward(model: &Int8Model, x: &[i8], shape: [usize; 4]) -> Result<QuantizedOutput> {
    let d = Dims::new(shape[0], shape[1], shape[2], shape[3]);
    if x.len() != d.len() || shape[1..] != model.input_shape() {
        return Err(shape_err("reference forward", &shape, &model.input_shape(), "input (N, C, H, W)"));
    }
    let input = (x.to_vec(), d, false);
    let mut values: Vec<(Vec<i8>, Dims, bool)> = Vec::with_capacity(model.nodes().len());
    for node in model.nodes() {
        let args: Vec<&(Vec<i8>, Dims, bool)> = node
            .inputs
            .iter()
            .map(|s| match s {
                Source::Input => &input,
                Source::Node(j) => &values[*j],
            })
            .collect();
        let (x, d, flat) = (&args[0].0, args[0].1, args[0].2);
        let out = match &node.layer {
            Int8Layer::Conv(op) => {
                let w = op.weights();
                let (y, od) =
                    conv2d(x, d, &w.values, op.weight_shape(), &w.bias, op.spec(), w.input_zero_point, &w.requant)?;
                (y, od, false)
            }
            Int8Layer::Depthwise(op) => {
                let w = op.weights();
                let (y, od) =
                    conv2d(x, d, &w.values, op.weight_shape(), &w.bias, op.spec(), w.input_zero_point, &w.requant)?;
                (y, od, false)
            }
            Int8Layer::FullyConnected(op) => {
                let (o, k) = op.features();
                let w = op.weights();
                let y = fully_connected(x, d.n, &w.values, o, k, &w.bias, w.input_zero_point, &w.requant)?;
                (y, Dims::new(d.n, o, 1, 1), true)
            }
            Int8Layer::MaxPool(s) => {
                let (y, od) = pool(x, d, *s, false, 0)?;
                (y, od, false)
            }
            Int8Layer::AvgPool(s) => {
                let (y, od) = pool(x, d, *s, true, node.output.zero_point[0])?;
                (y, od, false)
            }
            Int8Layer::GlobalAvgPool => (global_avg_pool(x, d), Dims::new(d.n, d.c, 1, 1), true),
            Int8Layer::Flatten => (x.clone(), Dims::new(d.n, d.c * d.h * d.w, 1, 1), true),
            Int8Layer::Clamp { min, max } => (x.iter().map(|&v| (v as i32).clamp(*min, *max) as i8).collect(), d, flat),
            Int8Layer::Add(p) => (add(x, &args[1].0, p)?, d, flat),
            Int8Layer::Concat(p) => {
                let xs: Vec<(&[i8], Dims)> = args.iter().map(|a| (a.0.as_slice(), a.1)).collect();
                let (y, od) = concat(&xs, p)?;
                (y, od, flat)
            }
        };
        values.push(out);
    }
    let (data, d, flat) = values.pop().unwrap_or(input);
    let shape = if flat { vec![d.n, d.c] } else { d.nchw().to_vec() };
    Ok(QuantizedOutput { data, shape })
}
