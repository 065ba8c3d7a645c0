//! Bad input gets a typed error naming what was wrong, never a panic.

use tinylab_quantum::pauli::PauliString;
use tinylab_quantum::{Angle, BatchedStatevector, C64, Circuit, Gate, Matrix, QuantumError, StandardGate, Statevector};

#[test]
fn qubit_out_of_range() {
    let mut c = Circuit::new(3);
    let e = c.cx(0, 3).unwrap_err();
    assert_eq!(e, QuantumError::QubitOutOfRange { qubit: 3, n_qubits: 3 });
    assert_eq!(e.to_string(), "qubit index 3 out of range for a register of 3 qubits");
}

#[test]
fn repeated_qubit() {
    let mut c = Circuit::new(3);
    let e = c.ccx(0, 2, 0).unwrap_err();
    assert_eq!(e, QuantumError::RepeatedQubit { gate: "ccx".into(), qubit: 0 });
}

#[test]
fn wrong_parameter_and_qubit_counts() {
    let mut c = Circuit::new(2);
    let e = c.append(Gate::Standard(StandardGate::U3), &[0], &[Angle::Const(1.0)]).unwrap_err();
    assert_eq!(e, QuantumError::ParamCount { gate: "u3".into(), expected: 3, got: 1 });
    let e = c.append(Gate::Standard(StandardGate::Cx), &[0], &[]).unwrap_err();
    assert_eq!(e, QuantumError::QubitCount { gate: "cx".into(), expected: 2, got: 1 });
}

#[test]
fn non_unitary_matrix_is_refused() {
    let m = Matrix::from_2x2([[C64::new(1.0, 0.0), C64::new(1.0, 0.0)], [C64::new(0.0, 0.0), C64::new(1.0, 0.0)]]);
    match Gate::unitary(m).unwrap_err() {
        QuantumError::NotUnitary { deviation, .. } => assert!((deviation - 1.0).abs() < 1e-12, "{deviation}"),
        other => panic!("unexpected {other:?}"),
    }
    let three_qubits = Matrix::identity(8);
    assert!(matches!(Gate::unitary(three_qubits), Err(QuantumError::Unsupported(_))));
}

#[test]
fn states_that_do_not_fit_are_refused_with_the_bytes_needed() {
    let e = Statevector::new(60).unwrap_err();
    match &e {
        QuantumError::TooLarge { n_qubits: 60, bytes_needed, .. } => assert_eq!(*bytes_needed, 16u128 << 60),
        other => panic!("unexpected {other:?}"),
    }
    assert!(e.to_string().contains(&(16u128 << 60).to_string()), "{e}");
    assert!(matches!(Statevector::new(200), Err(QuantumError::TooLarge { .. })));
    assert!(matches!(BatchedStatevector::new(30, 1 << 20), Err(QuantumError::TooLarge { .. })));
}

#[test]
fn bindings_must_match_the_circuit() {
    let mut c = Circuit::new(1);
    let theta = c.param("theta").unwrap();
    c.rx(theta, 0).unwrap().ry(Angle::input(0), 0).unwrap();
    let e = Statevector::from_circuit(&c, &[], &[0.1]).unwrap_err();
    assert_eq!(e, QuantumError::BindingCount { what: "trainable parameters", expected: 1, got: 0 });
    let e = Statevector::from_circuit(&c, &[0.1], &[]).unwrap_err();
    assert_eq!(e, QuantumError::BindingCount { what: "input features", expected: 1, got: 0 });
    assert_eq!(c.param("theta").unwrap_err(), QuantumError::DuplicateParameter("theta".into()));
    let mut b = BatchedStatevector::new(1, 3).unwrap();
    assert!(matches!(b.run(&c, &[0.1], &[0.1, 0.2], &Default::default()), Err(QuantumError::SizeMismatch { .. })));
}

#[test]
fn mid_circuit_measurement_is_refused_by_the_statevector() {
    let mut c = Circuit::new(1);
    c.add_clbits("c", 1);
    c.h(0).unwrap().measure(0, 0).unwrap().h(0).unwrap();
    assert!(matches!(Statevector::from_circuit(&c, &[], &[]), Err(QuantumError::Unsupported(_))));
    assert_eq!(c.measure(0, 1).unwrap_err(), QuantumError::ClbitOutOfRange { clbit: 1, n_clbits: 1 });
}

#[test]
fn bad_pauli_labels() {
    let e = PauliString::from_label("XQZ").unwrap_err();
    assert_eq!(e, QuantumError::InvalidPauli { label: "XQZ".into(), ch: 'Q', position: 1 });
    let sv = Statevector::new(2).unwrap();
    assert!(matches!(
        PauliString::from_label("ZII").unwrap().expectation(&sv),
        Err(QuantumError::QubitOutOfRange { .. })
    ));
}

#[test]
fn non_finite_angles_are_refused() {
    let mut c = Circuit::new(1);
    assert!(matches!(c.rx(f64::NAN, 0), Err(QuantumError::Unsupported(_))));
}

/// Regression: a 1x1 "unitary" built from the enum variant directly used to reach the kernels and
/// panic there; `append` now validates gates however they were made.
#[test]
fn gates_built_from_variants_are_validated() {
    let mut c = Circuit::new(2);
    let zero_qubit = Gate::Unitary(std::sync::Arc::new(Matrix::identity(1)));
    assert!(matches!(c.append(zero_qubit, &[], &[]), Err(QuantumError::Unsupported(_))));
    let not_unitary = Gate::Unitary(std::sync::Arc::new(Matrix::diagonal(&[C64::new(2.0, 0.0), C64::new(1.0, 0.0)])));
    assert!(matches!(c.append(not_unitary, &[0], &[]), Err(QuantumError::NotUnitary { .. })));
    let no_controls = Gate::Controlled { base: Box::new(Gate::Standard(StandardGate::X)), n_controls: 0 };
    assert!(matches!(c.append(no_controls, &[0], &[]), Err(QuantumError::Unsupported(_))));
}

/// Regression: comparing `cx` with `iswap` up to phase used to report 0 because a 0/0 phase made a
/// NaN that `f64::max` dropped.
#[test]
fn phase_insensitive_distance_sees_different_matrices() {
    let two = |build: fn(&mut Circuit)| {
        let mut c = Circuit::new(2);
        build(&mut c);
        tinylab_quantum::statevector::unitary(&c, &[], &[]).unwrap()
    };
    let cx = two(|c| {
        c.cx(0, 1).unwrap();
    });
    let iswap = two(|c| {
        c.iswap(0, 1).unwrap();
    });
    assert!(cx.max_abs_diff_up_to_phase(&iswap) > 0.5);
    assert!(cx.max_abs_diff_up_to_phase(&cx.scale(C64::from_polar(1.0, 0.7))) < 1e-15);
}
