//! Malformed device profiles, end to end: mutated, truncated and random JSON given to
//! [`DeviceProfile::from_json_str`] is either refused with a typed [`DeviceError`] naming the source, or
//! accepted only when it is physically consistent (every T1, T2 positive and finite, `T2 <= 2 T1`,
//! every coupling and gate index on the device), and an accepted profile builds a noise model.

use proptest::prelude::*;
use serde_json::{Value, json};
use tinylab_noise::NoiseModel;
use tinylab_noise::device::{DeviceError, DeviceProfile, MAX_GATE_QUBITS};

const SOURCE: &str = "fuzz.json";

fn manila() -> Value {
    serde_json::to_value(DeviceProfile::builtin("manila").unwrap()).unwrap()
}

/// Every JSON pointer to a value inside `v` (the root excluded).
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                let p = format!("{at}/{k}");
                out.push(p.clone());
                pointers(c, p, out);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(c, p, out);
            }
        }
        _ => {}
    }
}

/// Values a broken exporter or a hand edit could leave: wrong types, negative, zero, huge, tiny,
/// out-of-range indices, strings that look like numbers.
fn bad_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!(true)),
        Just(json!("NaN")),
        Just(json!("1e-4")),
        Just(json!([])),
        Just(json!({})),
        Just(json!([0, 1, 2])),
        Just(json!(-1)),
        Just(json!(0)),
        Just(json!(0.0)),
        Just(json!(1e308)),
        Just(json!(5e-324)),
        Just(json!(u64::MAX)),
        Just(json!(-1e-4)),
        (0u64..40).prop_map(|n| json!(n)),
        (-1.0f64..2.0).prop_map(|x| json!(x)),
        (0.0f64..1e-3).prop_map(|x| json!(x)),
    ]
}

/// The invariants an accepted profile must satisfy, checked here independently of `validate`.
fn assert_consistent(p: &DeviceProfile) {
    let n = p.num_qubits;
    assert!(n > 0 && p.qubits.len() == n);
    for &[a, b] in &p.coupling_map {
        assert!(a < n && b < n && a != b, "coupling [{a}, {b}] on {n} qubits");
    }
    for q in &p.qubits {
        for t in [q.t1, q.t2].into_iter().flatten() {
            assert!(t.is_finite() && t > 0.0, "time {t}");
        }
        if let (Some(t1), Some(t2)) = (q.t1, q.t2) {
            assert!(t2 <= 2.0 * t1, "T2 {t2} > 2 T1 {t1}");
        }
        if let Some(e) = q.readout_error {
            assert!((0.0..=1.0).contains(&e));
        }
    }
    for g in &p.gates {
        assert!(!g.qubits.is_empty() && g.qubits.len() <= MAX_GATE_QUBITS && g.qubits.iter().all(|&q| q < n));
        if let Some(e) = g.error {
            assert!((0.0..=1.0).contains(&e));
        }
    }
}

/// Parses `text`; an error must name the source, an accepted profile must be consistent and build a
/// noise model.
fn check(text: &str) {
    match DeviceProfile::from_json_str(text, SOURCE) {
        Ok(p) => {
            assert_consistent(&p);
            NoiseModel::from_profile(&p).expect("an accepted profile builds a noise model");
        }
        Err(e) => {
            assert!(!matches!(e, DeviceError::Io { .. } | DeviceError::UnknownDevice { .. }), "{e:?}");
            let message = e.to_string();
            assert!(message.contains(SOURCE) && !message.contains('\n'), "{message}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// One value anywhere in a valid profile replaced by a bad one.
    #[test]
    fn a_replaced_value_is_refused_or_consistent(pick in any::<prop::sample::Index>(), value in bad_value()) {
        let mut v = manila();
        let mut ps = Vec::new();
        pointers(&v, String::new(), &mut ps);
        let p = pick.get(&ps);
        *v.pointer_mut(p).unwrap() = value;
        check(&v.to_string());
    }

    /// One key anywhere in a valid profile removed (a missing field reads as null where optional).
    #[test]
    fn a_removed_field_is_refused_or_consistent(pick in any::<prop::sample::Index>()) {
        let mut v = manila();
        let mut ps = Vec::new();
        pointers(&v, String::new(), &mut ps);
        let p = pick.get(&ps).clone();
        let (parent, key) = p.rsplit_once('/').unwrap();
        match v.pointer_mut(parent).unwrap() {
            Value::Object(m) => { m.remove(key); }
            Value::Array(a) => { a.remove(key.parse::<usize>().unwrap()); }
            _ => unreachable!(),
        }
        check(&v.to_string());
    }

    /// Physical times of one qubit drawn around the `T2 = 2 T1` boundary.
    #[test]
    fn t1_t2_pairs_are_physical_or_refused(q in 0usize..5, t1 in -1e-4f64..3e-4, ratio in 0.0f64..4.0) {
        let mut v = manila();
        v["qubits"][q]["t1"] = json!(t1);
        v["qubits"][q]["t2"] = json!(t1 * ratio);
        let accepted = DeviceProfile::from_json_str(&v.to_string(), SOURCE);
        prop_assert_eq!(accepted.is_ok(), t1 > 0.0 && ratio > 0.0 && ratio <= 2.0, "{:?}", accepted.err());
        check(&v.to_string());
    }

    /// A valid profile's text cut short or with one byte changed.
    #[test]
    fn truncated_or_flipped_text_is_refused_or_consistent(cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let text = manila().to_string();
        check(&text[..cut.index(text.len())]);
        let mut bytes = text.into_bytes();
        let i = flip.index(bytes.len());
        bytes[i] = byte;
        check(&String::from_utf8_lossy(&bytes));
    }

    /// Arbitrary text.
    #[test]
    fn random_text_is_refused(text in ".{0,200}") {
        check(&text);
    }
}

/// A file that is not UTF-8 is an I/O-level error naming the file, not a panic.
#[test]
fn a_binary_file_is_a_typed_error() {
    let path = std::env::temp_dir().join(format!("tinylab-profile-{}.json", std::process::id()));
    std::fs::write(&path, [0xff, 0xfe, 0x00, 0x7b]).unwrap();
    let e = DeviceProfile::load(&path).unwrap_err();
    assert!(matches!(e, DeviceError::Io { .. }) && e.to_string().contains(&path.display().to_string()), "{e}");
    std::fs::remove_file(&path).unwrap();
}
