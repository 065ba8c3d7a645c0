//! Bad input, end to end, for the classical loaders: checkpoints, saved int8 models
//! (`int8_model.v2`), IDX and CIFAR-10 files. Truncated, bit-flipped, wrong-version, wrong-kind,
//! random and mutated-but-resealed files (the checksum fixed up, so the payload decoder and the
//! model's checks see the damage) must give a typed error naming the file, never a panic, and a
//! model that loads must run.

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use tinylab_classical::checkpoint::{self, CheckpointError, FORMAT_VERSION, MAGIC};
use tinylab_classical::data::{DataError, cifar, idx};
use tinylab_classical::int8::{self, ConvertOptions, INT8_MODEL_KIND, Int8Model};
use tinylab_classical::nn::{Act, Conv2d, Flatten, Linear, MaxPool2d, Residual, Sequential};
use tinylab_classical::ops::{Activation, Conv2dSpec, Pool2dSpec};
use tinylab_classical::tensor::{rand_uniform, rng};

/// A scratch file for one test (tests run in parallel threads).
fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tinylab-loader-props-{}-{name}", std::process::id()))
}

/// Offset of the payload in checkpoint bytes.
fn header_len(bytes: &[u8]) -> usize {
    let kind_len = u16::from_le_bytes([bytes[12], bytes[13]]) as usize;
    MAGIC.len() + 4 + 2 + kind_len + 8 + 4
}

/// `bytes` with its payload replaced by `payload` and the length and CRC fixed up to match.
fn reseal(bytes: &[u8], payload: &[u8]) -> Vec<u8> {
    let h = header_len(bytes);
    let mut out = bytes[..h].to_vec();
    out[h - 12..h - 4].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    out[h - 4..h].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// A few byte-level edits of `data`: overwrite, insert, delete or cut.
#[derive(Debug, Clone)]
enum Edit {
    Set(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Delete(prop::sample::Index),
    Cut(prop::sample::Index),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        4 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        1 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        1 => any::<prop::sample::Index>().prop_map(Edit::Delete),
        1 => any::<prop::sample::Index>().prop_map(Edit::Cut),
    ];
    prop::collection::vec(edit, 1..4)
}

fn apply(data: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut d = data.to_vec();
    for e in edits {
        if d.is_empty() {
            break;
        }
        match e {
            Edit::Set(i, b) => {
                let i = i.index(d.len());
                d[i] = *b;
            }
            Edit::Insert(i, b) => d.insert(i.index(d.len() + 1), *b),
            Edit::Delete(i) => {
                d.remove(i.index(d.len()));
            }
            Edit::Cut(i) => d.truncate(i.index(d.len())),
        }
    }
    d
}

// ---------------------------------------------------------------------------------------------
// Checkpoints of any type.

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct State {
    step: u64,
    name: String,
    weights: Vec<f32>,
    layers: Vec<Vec<u32>>,
}

fn state() -> State {
    State { step: 41, name: "w".into(), weights: vec![1.0, -2.5, f32::NAN], layers: vec![vec![1, 2], vec![], vec![7]] }
}

fn state_bytes() -> Vec<u8> {
    checkpoint::to_bytes("state", &state()).unwrap()
}

fn names_the_file(e: &CheckpointError, path: &Path) {
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any proper prefix is truncated (or, shorter than the magic, not a checkpoint).
    #[test]
    fn checkpoint_prefixes_are_truncated(cut in any::<prop::sample::Index>()) {
        let bytes = state_bytes();
        let p = Path::new("cut.ckpt");
        let e = checkpoint::from_bytes::<State>(&bytes[..cut.index(bytes.len())], "state", p).unwrap_err();
        prop_assert!(matches!(e, CheckpointError::Truncated { .. } | CheckpointError::NotACheckpoint { .. }), "{e}");
        names_the_file(&e, p);
    }

    /// Any single flipped bit is caught: by the magic, version, kind, length or checksum.
    #[test]
    fn checkpoint_bit_flips_are_errors(at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = state_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let p = Path::new("flip.ckpt");
        let e = checkpoint::from_bytes::<State>(&bytes, "state", p).unwrap_err();
        names_the_file(&e, p);
    }

    /// Random bytes, with or without a valid magic and version in front.
    #[test]
    fn random_bytes_are_not_checkpoints(mut bytes in prop::collection::vec(any::<u8>(), 0..256), prefix in any::<bool>()) {
        if prefix {
            let mut b = MAGIC.to_vec();
            b.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            b.append(&mut bytes);
            bytes = b;
        }
        let p = Path::new("random.ckpt");
        let e = checkpoint::from_bytes::<State>(&bytes, "state", p).unwrap_err();
        names_the_file(&e, p);
    }

    /// A resealed payload with random edits decodes or is a payload error; lengths inside the
    /// payload (a `Vec` claiming 2^60 elements) never allocate beyond what the file holds.
    #[test]
    fn resealed_payload_edits_decode_or_fail(e in edits()) {
        let bytes = state_bytes();
        let payload = apply(&bytes[header_len(&bytes)..], &e);
        let p = Path::new("resealed.ckpt");
        match checkpoint::from_bytes::<State>(&reseal(&bytes, &payload), "state", p) {
            Ok(s) => prop_assert!(s.weights.len() + s.layers.len() <= payload.len()),
            Err(err) => {
                prop_assert!(matches!(err, CheckpointError::Payload { .. }), "{err}");
                names_the_file(&err, p);
            }
        }
    }
}

/// Wrong version and wrong kind name both, and a header claiming 2^60 payload bytes is a truncation
/// error (checked against the file size before anything is allocated).
#[test]
fn checkpoint_header_lies_are_named() {
    let p = Path::new("lie.ckpt");
    let bytes = state_bytes();
    let mut v = bytes.clone();
    v[8..12].copy_from_slice(&2u32.to_le_bytes());
    let e = checkpoint::from_bytes::<State>(&v, "state", p).unwrap_err();
    assert!(matches!(e, CheckpointError::UnsupportedVersion { found: 2, supported: 1, .. }), "{e}");
    let e = checkpoint::from_bytes::<State>(&bytes, "train_state", p).unwrap_err();
    assert!(e.to_string().contains("\"state\"") && e.to_string().contains("\"train_state\""), "{e}");
    let mut huge = bytes.clone();
    let h = header_len(&bytes);
    huge[h - 12..h - 4].copy_from_slice(&(1u64 << 60).to_le_bytes());
    let e = checkpoint::from_bytes::<State>(&huge, "state", p).unwrap_err();
    assert!(matches!(e, CheckpointError::Truncated { expected, .. } if expected > 1 << 60), "{e}");
    // A payload whose first vector claims 2^60 elements.
    let mut payload = vec![41, 1, b'w'];
    let mut n: u64 = 1 << 60;
    while n >= 0x80 {
        payload.push((n as u8) | 0x80);
        n >>= 7;
    }
    payload.push(n as u8);
    let e = checkpoint::from_bytes::<State>(&reseal(&bytes, &payload), "state", p).unwrap_err();
    assert!(matches!(e, CheckpointError::Payload { .. }), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Saved int8 models.

/// A small int8 model with a residual addition, depthwise convolution, pooling and a linear head,
/// saved as bytes. Input `(1, 8, 8)`.
fn int8_model_bytes() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        let r = &mut rng(5);
        let mut model = Sequential::new()
            .push(Conv2d::new(1, 4, 3, Conv2dSpec::new(1, 1), true, r))
            .push(Act { kind: Activation::Relu })
            .push(Residual {
                body: Sequential::new().push(Conv2d::new(4, 4, 3, Conv2dSpec::new(1, 1).with_groups(4), true, r)),
                shortcut: None,
                post: Some(Activation::Relu),
            })
            .push(MaxPool2d { spec: Pool2dSpec::new(2) })
            .push(Flatten)
            .push(Linear::new(4 * 4 * 4, 3, true, r));
        let calib = rand_uniform(&[8, 1, 8, 8], -1.0, 1.0, r);
        let q = int8::convert(&mut model, &calib, &ConvertOptions::default()).unwrap();
        let path = scratch("int8-source.ckpt");
        q.save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).ok();
        bytes
    })
}

/// Loads `bytes` from a file; an error must name the file and fit on one line; a model that loads
/// must compute its shapes and run on a zero input of its shape.
fn check_int8(bytes: &[u8], name: &str) {
    let path = scratch(name);
    std::fs::write(&path, bytes).unwrap();
    match Int8Model::load(&path) {
        Ok(m) => {
            if let Ok((_, shapes)) = m.shapes() {
                let [c, h, w] = m.input_shape();
                let big = shapes.iter().any(|(d, _)| d.c.saturating_mul(d.h).saturating_mul(d.w) > 1 << 16);
                if c.saturating_mul(h).saturating_mul(w) <= 1 << 12 && !big {
                    let _ = m.run_quantized(&vec![0; c * h * w], [1, c, h, w]);
                }
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(message.contains(&path.display().to_string()) && !message.contains('\n'), "{message}");
        }
    }
    std::fs::remove_file(&path).ok();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The saved model with its payload edited and resealed: the decoder and the layers' checked
    /// constructors see every edit.
    #[test]
    fn int8_resealed_payload_edits_load_or_fail(e in edits()) {
        let bytes = int8_model_bytes();
        let payload = apply(&bytes[header_len(bytes)..], &e);
        check_int8(&reseal(bytes, &payload), "int8-resealed.ckpt");
    }

    /// The saved file with raw edits (the checksum left as it was) is an error.
    #[test]
    fn int8_raw_edits_are_errors(e in edits()) {
        let bytes = int8_model_bytes();
        let edited = apply(bytes, &e);
        prop_assume!(edited != bytes);
        let path = scratch("int8-raw.ckpt");
        std::fs::write(&path, &edited).unwrap();
        let err = Int8Model::load(&path).unwrap_err();
        prop_assert!(err.to_string().contains(&path.display().to_string()), "{err}");
        std::fs::remove_file(&path).ok();
    }
}

/// Every saved kind other than `int8_model.v2` is refused, naming the file; older and newer layer
/// formats name both versions.
#[test]
fn int8_wrong_kind_and_version_are_named() {
    let bytes = int8_model_bytes();
    let payload = &bytes[header_len(bytes)..];
    let path = scratch("int8-kind.ckpt");
    for (kind, needle) in
        [("int8_model.v3", "version 3"), ("int8_model", "version 1"), ("train_state", "\"train_state\"")]
    {
        let mut b = checkpoint::to_bytes(kind, &0u8).unwrap();
        b = reseal(&b, payload);
        std::fs::write(&path, &b).unwrap();
        let e = Int8Model::load(&path).unwrap_err().to_string();
        assert!(e.contains(needle) && e.contains(&path.display().to_string()), "{kind}: {e}");
    }
    assert_eq!(INT8_MODEL_KIND, "int8_model.v2");
    std::fs::remove_file(&path).ok();
}

// ---------------------------------------------------------------------------------------------
// IDX and CIFAR-10.

fn idx_file(code: u8, dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, code, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(body);
    b
}

fn data_err_names(e: &DataError, path: &Path) {
    let m = e.to_string();
    assert!(m.contains(&path.display().to_string()) && !m.contains('\n'), "{m}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Edited IDX bytes (header and body): parsed arrays always hold as many values as their
    /// dimensions say; everything else is a format error naming the file.
    #[test]
    fn idx_edits_parse_consistently_or_fail(e in edits()) {
        let body: Vec<u8> = (0..24).collect();
        let bytes = apply(&idx_file(0x08, &[2, 3, 4], &body), &e);
        let p = Path::new("edit.idx");
        match idx::parse_idx(&bytes, p) {
            Ok(a) => prop_assert_eq!(a.dims.iter().product::<usize>(), a.data.len()),
            Err(err) => data_err_names(&err, p),
        }
    }

    /// Headers with arbitrary dimensions (up to 2^32 - 1 each, so products past 2^64) over a short
    /// body are refused before anything is allocated.
    #[test]
    fn idx_dimensions_are_checked_against_the_file(code in prop::sample::select(vec![8u8, 9, 0x0B, 0x0C, 0x0D, 0x0E]), dims in prop::collection::vec(any::<u32>(), 0..6), body in prop::collection::vec(any::<u8>(), 0..64)) {
        let bytes = idx_file(code, &dims, &body);
        let p = Path::new("dims.idx");
        match idx::parse_idx(&bytes, p) {
            Ok(a) => prop_assert!(a.data.len() <= body.len()),
            Err(err) => data_err_names(&err, p),
        }
    }

    /// Image/label pairs with edited label files load only with labels that are class indices.
    #[test]
    fn idx_pairs_with_edited_labels_load_or_fail(e in edits(), code in prop::sample::select(vec![8u8, 9, 0x0D])) {
        let dir = scratch("idx-pair");
        std::fs::create_dir_all(&dir).unwrap();
        let (ip, lp) = (dir.join("img.idx"), dir.join("lab.idx"));
        std::fs::write(&ip, idx_file(0x08, &[3, 2, 2], &[0, 9, 255, 1, 2, 3, 4, 5, 6, 7, 8, 9])).unwrap();
        let labels: Vec<u8> = match code {
            0x0D => [1.0f32, 2.0, 0.0].iter().flat_map(|v| v.to_be_bytes()).collect(),
            _ => vec![1, 2, 0],
        };
        std::fs::write(&lp, apply(&idx_file(code, &[3], &labels), &e)).unwrap();
        match idx::load_idx_pair(&ip, &lp, 10) {
            Ok(d) => prop_assert!(d.labels.len() == 3 && d.labels.iter().all(|&l| l < 10)),
            Err(err) => data_err_names(&err, &lp),
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    /// CIFAR-10 batches of any length and label bytes.
    #[test]
    fn cifar_batches_of_any_shape_load_or_fail(records in 0usize..3, extra in 0usize..4, labels in prop::collection::vec(any::<u8>(), 3)) {
        let mut bytes = vec![0u8; records * cifar::RECORD_BYTES + extra];
        for r in 0..records {
            bytes[r * cifar::RECORD_BYTES] = labels[r];
        }
        let p = Path::new("batch.bin");
        match cifar::parse_batch(&bytes, p) {
            Ok(d) => {
                prop_assert!(extra == 0 && records > 0 && labels[..records].iter().all(|&l| l < 10));
                prop_assert_eq!(d.images.shape(), &[records, 3, 32, 32]);
            }
            Err(err) => data_err_names(&err, p),
        }
    }
}

/// A gzip file that is not valid gzip after its magic is a format error naming the file.
#[test]
fn broken_gzip_idx_is_a_format_error() {
    let path = scratch("broken.idx.gz");
    std::fs::write(&path, [0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap();
    let e = idx::read_idx(&path).unwrap_err();
    assert!(matches!(e, DataError::Format { .. }), "{e}");
    data_err_names(&e, &path);
    std::fs::remove_file(&path).ok();
}

// ---------------------------------------------------------------------------------------------
// Int8 models whose parts pass the decoder but not the engine: what a file can hold, built here
// through `Int8Model::from_parts` (which `Int8Model::load` ends in). Regressions of bugs found
// while fuzzing the loader.

mod int8_parts {
    use super::*;
    use tinylab_classical::compress::quant::QuantParams;
    use tinylab_classical::int8::kernels::add::QAdd;
    use tinylab_classical::int8::kernels::concat::QConcat;
    use tinylab_classical::int8::kernels::conv::QConv2d;
    use tinylab_classical::int8::kernels::fully_connected::QLinear;
    use tinylab_classical::int8::{
        Int8Layer, Int8Node, QuantizedMultiplier, QuantizedWeights, Requant, RoundingPolicy, Source,
    };

    fn params() -> QuantParams {
        QuantParams { scale: vec![0.05], zero_point: vec![0], qmin: -128, qmax: 127, axis: None }
    }

    fn node(layer: Int8Layer, inputs: Vec<Source>) -> Int8Node {
        Int8Node { path: "0".into(), inputs, layer, output: params(), act: None }
    }

    /// `from_parts` must refuse; if it accepts, running the model shows what went wrong.
    fn refused(input: QuantParams, shape: [usize; 3], nodes: Vec<Int8Node>, needle: &str) {
        match Int8Model::from_parts(input, shape, nodes, RoundingPolicy::default()) {
            Err(e) => assert!(e.to_string().contains(needle), "{e}"),
            Ok(m) => {
                let [c, h, w] = shape;
                let r = m.run_quantized(&vec![0; c * h * w], [1, c, h, w]);
                panic!("accepted; running it gave {r:?}");
            }
        }
    }

    /// Regression: `Clamp { min: 5, max: -5 }` was accepted; running it panicked in `i32::clamp`
    /// (`min > max`).
    #[test]
    fn a_clamp_with_min_above_max_is_refused() {
        refused(params(), [1, 2, 2], vec![node(Int8Layer::Clamp { min: 5, max: -5 }, vec![Source::Input])], "clamp");
    }

    /// Regression: input parameters with a scale but no zero point were accepted; quantizing an
    /// input indexed `zero_point[0]` out of bounds.
    #[test]
    fn input_parameters_without_a_zero_point_are_refused() {
        let input = QuantParams { zero_point: vec![], ..params() };
        let m = Int8Model::from_parts(input, [1, 2, 2], vec![], RoundingPolicy::default());
        assert!(m.is_err_and(|e| e.to_string().contains("zero point")));
        let nan = QuantParams { scale: vec![f32::NAN], ..params() };
        refused(
            params(),
            [1, 2, 2],
            vec![Int8Node { output: nan, ..node(Int8Layer::Flatten, vec![Source::Input]) }],
            "scale",
        );
    }

    /// Regression: a concatenation of no inputs passed the arity check (0 == 0); every consumer
    /// then read `inputs[0]` and panicked.
    #[test]
    fn a_concatenation_of_nothing_is_refused() {
        let c = QConcat { inputs: vec![], output_zero_point: 0, policy: RoundingPolicy::default() };
        refused(params(), [1, 2, 2], vec![node(Int8Layer::Concat(c), vec![])], "concatenation of 0");
    }

    /// Regression: an addition with zero point `i32::MAX` was accepted; `(x - zp) << 20` overflowed
    /// (a panic with overflow checks, garbage without).
    #[test]
    fn an_addition_with_out_of_range_parameters_is_refused() {
        let mut add = QAdd::new((0.05, 0), (0.05, 0), (0.1, 0), -128, 127, RoundingPolicy::default()).unwrap();
        add.input_zero_points[1] = i32::MAX;
        refused(params(), [1, 2, 2], vec![node(Int8Layer::Add(add), vec![Source::Input, Source::Input])], "zero point");
        let mut add = QAdd::new((0.05, 0), (0.05, 0), (0.1, 0), -128, 127, RoundingPolicy::SingleRounding).unwrap();
        add.output_multiplier = QuantizedMultiplier { multiplier: 1 << 30, shift: 40 };
        refused(params(), [1, 2, 2], vec![node(Int8Layer::Add(add), vec![Source::Input, Source::Input])], "multiplier");
    }

    /// Regression: pooling padding of `usize::MAX / 2` overflowed `size + 2 * pad` in the shape
    /// computation (a panic in `shapes`, which `macs` and export call).
    #[test]
    fn pooling_windows_that_overflow_are_refused() {
        let spec = tinylab_classical::ops::Pool2dSpec { kernel: 2, stride: 1, padding: usize::MAX / 2 };
        refused(params(), [1, 2, 2], vec![node(Int8Layer::MaxPool(spec), vec![Source::Input])], "pooling window");
        let spec = tinylab_classical::ops::Pool2dSpec { kernel: 1 << 40, stride: 1, padding: 1 << 39 };
        refused(params(), [1, 2, 2], vec![node(Int8Layer::AvgPool(spec), vec![Source::Input])], "pooling window");
    }

    /// A weight shape `[2^32, 2^32]` whose element count overflows is an error (the per-channel
    /// length checks catch it first; the element count is computed with checked arithmetic too).
    #[test]
    fn weight_shapes_whose_size_overflows_are_refused() {
        let requant = Requant::new(
            vec![QuantizedMultiplier { multiplier: 1 << 30, shift: -3 }],
            0,
            -128,
            127,
            RoundingPolicy::default(),
        )
        .unwrap();
        let w = QuantizedWeights {
            values: vec![],
            shape: vec![1 << 32, 1 << 32],
            scales: vec![],
            zero_points: vec![],
            bias: vec![],
            input_zero_point: 0,
            requant,
        };
        let e = QLinear::new(w).unwrap_err();
        assert!(e.to_string().contains("QLinear::new"), "{e}");
    }

    /// Regression: a convolution padded by 2^20 on a 4x4 input was accepted and its output
    /// (4 x 2^21 x 2^21, 2^44 bytes) allocated on the first run: activation sizes are now bounded
    /// when the model is built.
    #[test]
    fn activations_beyond_the_bound_are_refused_before_running() {
        let m = Int8Model::load(&{
            let p = scratch("int8-huge.ckpt");
            std::fs::write(&p, int8_model_bytes()).unwrap();
            p
        })
        .unwrap();
        let mut nodes = m.nodes().to_vec();
        let Int8Layer::Conv(op) = &nodes[0].layer else { panic!("the first layer is a convolution") };
        let mut spec = op.spec();
        spec.padding = (1 << 20, 1 << 20);
        nodes[0].layer = Int8Layer::Conv(QConv2d::new(op.weights().clone(), spec).unwrap());
        let e = Int8Model::from_parts(m.input_params().clone(), m.input_shape(), nodes, m.policy()).unwrap_err();
        assert!(e.to_string().contains("elements"), "{e}");
        let e = Int8Model::from_parts(m.input_params().clone(), [1, 1 << 20, 1 << 20], m.nodes().to_vec(), m.policy())
            .unwrap_err();
        assert!(e.to_string().contains("elements"), "{e}");
    }
}
