//! Every int8 kernel equals the plain reference loop of the same integer arithmetic bit for bit, on
//! random shapes, strides, paddings, dilations, groups, zero points and multipliers, on every GEMM
//! backend this CPU has.

use proptest::prelude::*;
use tinylab_classical::int8::fixed_point::{Requant, RoundingPolicy, quantize_multiplier};
use tinylab_classical::int8::gemm::{Backend, Epilogue, PackedWeights, correction, gemm_requant_i8};
use tinylab_classical::int8::kernels::ConvKernel;
use tinylab_classical::int8::kernels::add::QAdd;
use tinylab_classical::int8::kernels::conv::QConv2d;
use tinylab_classical::int8::kernels::depthwise::QDepthwiseConv2d;
use tinylab_classical::int8::kernels::fully_connected::QLinear;
use tinylab_classical::int8::kernels::{Dims, nchw_to_nhwc, nhwc_to_nchw, pool};
use tinylab_classical::int8::reference;
use tinylab_classical::ops::{Conv2dSpec, Pool2dSpec};
use tinylab_classical::tensor::{rng, uniform};

type Rng = rand_chacha::ChaCha8Rng;

fn int(r: &mut Rng, lo: i32, hi: i32) -> i32 {
    lo + (uniform(r) * (hi - lo + 1) as f64) as i32
}

fn bytes(r: &mut Rng, n: usize, lo: i32) -> Vec<i8> {
    (0..n).map(|_| int(r, lo, 127) as i8).collect()
}

fn policy(single: bool) -> RoundingPolicy {
    if single { RoundingPolicy::SingleRounding } else { RoundingPolicy::DoubleRounding }
}

/// Random per-channel output stage: multipliers between 2^-14 and 2^-4 (accumulators of these sizes
/// then land around the i8 range, so clamps and roundings are both exercised).
fn requant(r: &mut Rng, channels: usize, single: bool) -> Requant {
    let policy = policy(single);
    let ms =
        (0..channels).map(|_| quantize_multiplier(2f64.powf(-14.0 + 10.0 * uniform(r)), policy).unwrap()).collect();
    let zp = int(r, -128, 127);
    let (lo, hi) = if uniform(r) < 0.5 { (-128, 127) } else { (zp.max(-128), int(r, zp, 127)) };
    Requant::new(ms, zp, lo, hi, policy).unwrap()
}

fn backends() -> Vec<Backend> {
    [Backend::Portable, Backend::Avx2, Backend::Avx512Vnni].into_iter().filter(|b| b.available()).collect()
}

#[derive(Debug, Clone)]
struct ConvCase {
    n: usize,
    cg: usize,
    groups: usize,
    og: usize,
    h: usize,
    w: usize,
    k: (usize, usize),
    stride: (usize, usize),
    pad: (usize, usize),
    dil: (usize, usize),
    seed: u64,
    single: bool,
}

fn conv_case() -> impl Strategy<Value = ConvCase> {
    (
        (1usize..3, 1usize..6, 1usize..3, 1usize..40),
        (1usize..9, 1usize..9, (1usize..4, 1usize..4)),
        ((1usize..3, 1usize..3), (0usize..3, 0usize..2), (1usize..3, 1usize..2)),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(|((n, cg, groups, og), (h, w, k), (stride, pad, dil), seed, single)| ConvCase {
            n,
            cg,
            groups,
            og,
            h: h + (dil.0 * (k.0 - 1)),
            w: w + (dil.1 * (k.1 - 1)),
            k,
            stride,
            pad,
            dil,
            seed,
            single,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn conv_equals_reference(c in conv_case()) {
        let mut r = rng(c.seed);
        let (cin, o) = (c.cg * c.groups, c.og * c.groups);
        let d = Dims::new(c.n, cin, c.h, c.w);
        let x = bytes(&mut r, d.len(), -128);
        let shape = [o, c.cg, c.k.0, c.k.1];
        let weight = bytes(&mut r, o * c.cg * c.k.0 * c.k.1, -127);
        let bias: Vec<i32> = (0..o).map(|_| int(&mut r, -20000, 20000)).collect();
        let spec = Conv2dSpec { stride: c.stride, padding: c.pad, dilation: c.dil, groups: c.groups };
        let zp = int(&mut r, -128, 127);
        let rq = requant(&mut r, o, c.single);
        let (want, wd) = reference::conv2d(&x, d, &weight, shape, &bias, spec, zp, &rq).unwrap();
        let conv = QConv2d::from_parts(weight, shape, bias, spec, zp, rq).unwrap();
        let xh = nchw_to_nhwc(&x, d);
        for b in backends() {
            let (got, gd) = conv.forward_with(b, &xh, d).unwrap();
            prop_assert_eq!(gd, wd);
            prop_assert_eq!(&nhwc_to_nchw(&got, gd), &want, "backend {:?}", b);
        }
    }

    #[test]
    fn depthwise_equals_reference(c in conv_case(), mult in 1usize..3) {
        let mut r = rng(c.seed);
        let ch = c.cg * c.groups;
        let o = ch * mult;
        let d = Dims::new(c.n, ch, c.h, c.w);
        let x = bytes(&mut r, d.len(), -128);
        let shape = [o, 1, c.k.0, c.k.1];
        let weight = bytes(&mut r, o * c.k.0 * c.k.1, -127);
        let bias: Vec<i32> = (0..o).map(|_| int(&mut r, -3000, 3000)).collect();
        let spec = Conv2dSpec { stride: c.stride, padding: c.pad, dilation: c.dil, groups: ch };
        let zp = int(&mut r, -128, 127);
        let rq = requant(&mut r, o, c.single);
        let (want, wd) = reference::conv2d(&x, d, &weight, shape, &bias, spec, zp, &rq).unwrap();
        let dw = QDepthwiseConv2d::from_parts(weight, shape, bias, spec, zp, rq).unwrap();
        let (got, gd) = dw.forward(&nchw_to_nhwc(&x, d), d).unwrap();
        prop_assert_eq!(gd, wd);
        prop_assert_eq!(nhwc_to_nchw(&got, gd), want);
    }

    #[test]
    fn fully_connected_equals_reference(n in 1usize..20, k in 1usize..80, o in 1usize..80, seed in any::<u64>(), single in any::<bool>()) {
        let mut r = rng(seed);
        let x = bytes(&mut r, n * k, -128);
        let weight = bytes(&mut r, o * k, -127);
        let bias: Vec<i32> = (0..o).map(|_| int(&mut r, -20000, 20000)).collect();
        let zp = int(&mut r, -128, 127);
        let rq = requant(&mut r, o, single);
        let want = reference::fully_connected(&x, n, &weight, o, k, &bias, zp, &rq).unwrap();
        let fc = QLinear::from_parts(weight, o, k, bias, zp, rq).unwrap();
        for b in backends() {
            prop_assert_eq!(&fc.forward_with(b, &x, n).unwrap(), &want, "backend {:?}", b);
        }
    }

    /// The GEMM itself, every backend against the portable loop byte for byte: random rows, `k` (not a
    /// multiple of 4), channel counts across panel and half-panel edges, an output column offset inside
    /// a wider output, and extreme operands (u8 255 against weight -128 everywhere: the largest products,
    /// where a saturating i16 pair sum would differ).
    #[test]
    fn gemm_backends_equal_portable(rows in 1usize..30, k in 1usize..300, o in 1usize..100, channel0 in 0usize..5,
                                    extreme in any::<bool>(), seed in any::<u64>(), single in any::<bool>()) {
        let mut r = rng(seed);
        let (x, weight) = if extreme {
            (vec![127i8; rows * k], vec![-128i8; o * k])
        } else {
            (bytes(&mut r, rows * k, -128), bytes(&mut r, o * k, -128))
        };
        let bias: Vec<i32> = (0..o).map(|_| int(&mut r, -20000, 20000)).collect();
        let zp = int(&mut r, -128, 127);
        let rq = requant(&mut r, channel0 + o, single);
        let packed = PackedWeights::new(&weight, o, k).unwrap();
        let ep = Epilogue::new(&packed, &correction(&packed, &bias, zp), &rq, channel0).unwrap();
        let ldc = channel0 + o + 3;
        let run = |b: Backend| {
            let mut out = vec![0i8; rows * ldc];
            gemm_requant_i8(b, &x, k, rows, &packed, &ep, &mut out, ldc).unwrap();
            out
        };
        let want = run(Backend::Portable);
        for b in backends() {
            prop_assert_eq!(&run(b), &want, "backend {:?}", b);
        }
    }

    #[test]
    fn add_equals_reference(len in 1usize..300, seed in any::<u64>(), single in any::<bool>()) {
        let mut r = rng(seed);
        let a = bytes(&mut r, len, -128);
        let b = bytes(&mut r, len, -128);
        let mut q = || (2f32.powf(-8.0 + 8.0 * uniform(&mut r) as f32), int(&mut r, -128, 127));
        let (p1, p2, po) = (q(), q(), q());
        let add = QAdd::new(p1, p2, po, -128, 127, policy(single)).unwrap();
        prop_assert_eq!(add.forward(&a, &b).unwrap(), reference::add(&a, &b, &add).unwrap());
        // The result is the rounded real sum, up to the roundings of three rescales.
        for ((&x, &y), &z) in a.iter().zip(&b).zip(&add.forward(&a, &b).unwrap()) {
            let real = p1.0 * (x as i32 - p1.1) as f32 + p2.0 * (y as i32 - p2.1) as f32;
            let ideal = (real / po.0).round() as i32 + po.1;
            prop_assert!((z as i32 - ideal.clamp(-128, 127)).abs() <= 1, "{x} {y} -> {z}, ideal {ideal}");
        }
    }

    #[test]
    fn pools_equal_reference(n in 1usize..3, c in 1usize..9, h in 2usize..9, w in 2usize..9, k in 1usize..4,
                             stride in 1usize..3, pad in 0usize..2, seed in any::<u64>()) {
        prop_assume!(pad * 2 <= k && h + 2 * pad >= k && w + 2 * pad >= k);
        let mut r = rng(seed);
        let d = Dims::new(n, c, h, w);
        let x = bytes(&mut r, d.len(), -128);
        let zp = int(&mut r, -128, 127);
        let spec = Pool2dSpec { kernel: k, stride, padding: pad };
        let xh = nchw_to_nhwc(&x, d);
        let (mx, md) = pool::max_pool(&xh, d, spec).unwrap();
        let (want, wd) = reference::pool(&x, d, spec, false, zp).unwrap();
        prop_assert_eq!(md, wd);
        prop_assert_eq!(nhwc_to_nchw(&mx, md), want);
        let (av, ad) = pool::avg_pool(&xh, d, spec, zp).unwrap();
        let (want, _) = reference::pool(&x, d, spec, true, zp).unwrap();
        prop_assert_eq!(nhwc_to_nchw(&av, ad), want);
        let (g, _) = pool::global_avg_pool(&xh, d).unwrap();
        prop_assert_eq!(g, reference::global_avg_pool(&x, d));
    }
}

#[test]
fn average_rounds_half_away_from_zero_as_tflite() {
    // Windows of 2 values: (1 + 2) / 2 = 1.5 -> 2, (-1 + -2) / 2 = -1.5 -> -2, (-1 + 0)/2 = -0.5 -> -1.
    let d = Dims::new(1, 1, 1, 6);
    let x = [1i8, 2, -1, -2, -1, 0];
    let spec = Pool2dSpec { kernel: 1, stride: 1, padding: 0 };
    let (same, _) = pool::avg_pool(&x, d, spec, 0).unwrap();
    assert_eq!(same, x);
    let d2 = Dims::new(1, 1, 2, 3);
    let x2 = [1i8, -1, -1, 2, -2, 0];
    let (out, od) = pool::avg_pool(&x2, d2, Pool2dSpec { kernel: 2, stride: 1, padding: 0 }, 0).unwrap();
    assert_eq!(od, Dims::new(1, 1, 1, 2));
    // Windows {1, -1, 2, -2} = 0 and {-1, -1, -2, 0} = -4/4 = -1.
    assert_eq!(out, vec![0, -1]);
    let (g, _) = pool::global_avg_pool(&[1, 2, -1, -2, -1, 0, 3, 3], Dims::new(2, 1, 2, 2)).unwrap();
    // (1 + 2 - 1 - 2) / 4 = 0; (-1 + 0 + 3 + 3) / 4 = 1.25 -> 1.
    assert_eq!(g, vec![0, 1]);
}

#[test]
fn kernels_reject_bad_shapes() {
    let rq = Requant::new(
        vec![quantize_multiplier(0.01, RoundingPolicy::DoubleRounding).unwrap()],
        0,
        -128,
        127,
        RoundingPolicy::DoubleRounding,
    )
    .unwrap();
    let conv = QConv2d::from_parts(vec![1; 2 * 3 * 9], [2, 3, 3, 3], vec![0; 2], Conv2dSpec::new(1, 1), 0, rq.clone())
        .unwrap();
    let err = conv.forward(&[0; 4 * 25], Dims::new(1, 4, 5, 5)).unwrap_err().to_string();
    assert!(err.contains("[1, 4, 5, 5]") && err.contains("[2, 3, 3, 3]"), "{err}");
    assert!(conv.forward(&[0; 10], Dims::new(1, 3, 5, 5)).is_err());
    assert!(QConv2d::from_parts(vec![1; 5], [2, 3, 3, 3], vec![0; 2], Conv2dSpec::new(1, 1), 0, rq.clone()).is_err());
    assert!(
        QConv2d::from_parts(vec![1; 54], [2, 3, 3, 3], vec![0; 2], Conv2dSpec::new(1, 1), 200, rq.clone()).is_err()
    );
    let fc = QLinear::from_parts(vec![1; 6], 2, 3, vec![0; 2], 0, rq.clone()).unwrap();
    assert!(fc.forward(&[0; 7], 2).is_err());
    assert!(Requant::new(vec![], 0, -128, 127, RoundingPolicy::DoubleRounding).is_err());
    assert!(Requant::new(rq.multipliers.clone(), 0, 10, -10, RoundingPolicy::DoubleRounding).is_err());
    let add = QAdd::new((0.1, 0), (0.2, 0), (0.3, 0), -128, 127, RoundingPolicy::DoubleRounding).unwrap();
    assert!(add.forward(&[0; 3], &[0; 4]).is_err());
    assert!(QAdd::new((0.0, 0), (0.2, 0), (0.3, 0), -128, 127, RoundingPolicy::DoubleRounding).is_err());
}
