//! The `tinylab sim` command end to end: JSON output against Aer's fixture, seeded counts, and one-line
//! errors with a non-zero exit status.

use std::path::Path;
use std::process::Command;

fn tinylab(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tinylab")).args(args).output().expect("tinylab runs")
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/circuits").join(name).display().to_string()
}

#[test]
fn sim_json_matches_the_aer_fixture() {
    let out = tinylab(&["sim", &fixture("registers_broadcast.qasm"), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("registers_broadcast.json")).unwrap()).unwrap();
    assert_eq!(got["n_qubits"], want["n_qubits"]);
    let (g, w) = (got["probabilities"].as_array().unwrap(), want["probabilities"].as_array().unwrap());
    assert_eq!(g.len(), w.len());
    for (a, b) in g.iter().zip(w) {
        assert!((a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-10);
    }
    assert!(got.get("counts").is_none());
}

#[test]
fn sim_counts_are_seeded_and_keyed_by_classical_bits() {
    let file = fixture("registers_broadcast.qasm");
    let run = |seed: &str| {
        let out = tinylab(&["sim", &file, "--shots", "1000", "--seed", seed, "--json"]);
        assert!(out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["counts"].as_object().unwrap().clone()
    };
    let a = run("3");
    assert_eq!(a, run("3"));
    assert_ne!(a, run("4"));
    // Five classical bits over three registers; the counts add up to the shots.
    assert!(a.keys().all(|k| k.len() == 5 && k.chars().all(|c| c == '0' || c == '1')));
    assert_eq!(a.values().map(|v| v.as_u64().unwrap()).sum::<u64>(), 1000);
}

#[test]
fn sim_without_json_prints_a_summary() {
    let out = tinylab(&["sim", &fixture("bell.qasm"), "--shots", "100"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("|00>") && text.contains("|11>") && text.contains("counts"), "{text}");
}

#[test]
fn failures_print_one_line_and_exit_non_zero() {
    let dir = std::env::temp_dir().join(format!("tinylab-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.qasm");
    std::fs::write(&bad, "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\nfoo q[0];\n").unwrap();
    let missing = dir.join("missing.qasm");
    for path in [&bad, &missing] {
        let out = tinylab(&["sim", path.to_str().unwrap(), "--json"]);
        assert!(!out.status.success());
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("error: "), "{err}");
        assert!(out.stdout.is_empty());
    }
    let err = String::from_utf8(tinylab(&["sim", bad.to_str().unwrap()]).stderr).unwrap();
    assert!(err.contains("line 4") && err.contains("foo"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn noisy_fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("noise/tests/fixtures/noisy").join(name).display().to_string()
}

/// `--noise DEVICE` (density matrix by default) reproduces Aer's probabilities and
/// `measured_probabilities`; a profile file works like the built-in name.
#[test]
fn noisy_sim_json_matches_aer() {
    let qasm = noisy_fixture("manila_ghz5.qasm");
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(noisy_fixture("manila_ghz5.json")).unwrap()).unwrap();
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("noise/profiles/manila.json").display().to_string();
    for noise in ["manila", profile.as_str()] {
        let out = tinylab(&["sim", &qasm, "--noise", noise, "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for key in ["probabilities", "measured_probabilities"] {
            let (g, w) = (got[key].as_array().unwrap(), want[key].as_array().unwrap());
            assert_eq!(g.len(), w.len());
            for (a, b) in g.iter().zip(w) {
                assert!((a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-9, "{key}");
            }
        }
    }
}

/// Trajectories agree with the density matrix within sampling error; `--transpile` makes a circuit
/// outside the device basis runnable and reports the final layout; without it the refusal says why.
#[test]
fn trajectories_and_transpile_from_the_cli() {
    let qasm = noisy_fixture("manila_ghz5.qasm");
    let run = |args: &[&str]| {
        let out = tinylab(args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let density = run(&["sim", &qasm, "--noise", "manila", "--json"]);
    let traj = run(&["sim", &qasm, "--noise", "manila", "--method", "trajectories", "--shots", "3000", "--json"]);
    for (a, b) in density["probabilities"].as_array().unwrap().iter().zip(traj["probabilities"].as_array().unwrap()) {
        assert!((a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 0.04);
    }
    let general = fixture("registers_broadcast.qasm");
    let refused = tinylab(&["sim", &general, "--noise", "manila"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("not in the target basis") && err.contains("--transpile"), "{err}");
    let routed = run(&["sim", &general, "--noise", "manila", "--transpile", "--json"]);
    assert!(routed["final_layout"].is_array());
    let total: f64 = routed["measured_probabilities"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-9);
    let bad = tinylab(&["sim", &qasm, "--noise", "atlantis"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("guadalupe"));
}

/// Runs tinylab with `args` and checks the failure contract: non-zero exit, nothing on stdout, one
/// line `error: ...` on stderr that contains every one of `needles`.
fn assert_one_line_failure(args: &[&str], needles: &[&str]) {
    let out = tinylab(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(err.starts_with("error: "), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "{args:?}: `{needle}` not in {err}");
    }
    assert!(out.stdout.is_empty(), "{args:?}");
}

/// Malformed int8 checkpoints, device profiles and run arguments: one line naming the file and the
/// fault, exit 1, and no output directory left behind.
#[test]
fn malformed_inputs_print_one_line_and_write_nothing() {
    let dir = std::env::temp_dir().join(format!("tinylab-cli-malformed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("c-out");
    let out_s = out.to_str().unwrap();

    let garbage = dir.join("garbage.ckpt");
    std::fs::write(&garbage, b"definitely not a checkpoint").unwrap();
    assert_one_line_failure(&["export-mcu", garbage.to_str().unwrap(), "--out", out_s], &["garbage.ckpt", "magic"]);
    let mut truncated = b"TINYLAB\0".to_vec();
    truncated.extend_from_slice(&1u32.to_le_bytes());
    truncated.extend_from_slice(&13u16.to_le_bytes());
    truncated.extend_from_slice(b"int8_model.v2");
    let truncated_path = dir.join("truncated.ckpt");
    std::fs::write(&truncated_path, &truncated).unwrap();
    assert_one_line_failure(
        &["export-mcu", truncated_path.to_str().unwrap(), "--out", out_s],
        &["truncated.ckpt", "truncated"],
    );
    let mut v9 = truncated.clone();
    v9[8] = 9;
    std::fs::write(&truncated_path, &v9).unwrap();
    assert_one_line_failure(
        &["export-mcu", truncated_path.to_str().unwrap(), "--out", out_s],
        &["truncated.ckpt", "version 9"],
    );
    assert!(!out.exists(), "a failed export wrote {}", out.display());

    let qasm = fixture("bell.qasm");
    let profile = dir.join("profile.json");
    let manila =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("noise/profiles/manila.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&manila).unwrap();
    v["qubits"][1]["t2"] = serde_json::json!(v["qubits"][1]["t1"].as_f64().unwrap() * 2.5);
    std::fs::write(&profile, v.to_string()).unwrap();
    assert_one_line_failure(&["sim", &qasm, "--noise", profile.to_str().unwrap()], &["profile.json", "qubits[1]"]);
    std::fs::write(&profile, &manila[..manila.len() / 2]).unwrap();
    assert_one_line_failure(&["sim", &qasm, "--noise", profile.to_str().unwrap()], &["profile.json", "line"]);

    assert_one_line_failure(&["run", "no_such_experiment", "--quick", "--out", out_s], &["no_such_experiment"]);
    assert!(!out.exists());
    let precious = dir.join("precious");
    std::fs::create_dir_all(&precious).unwrap();
    std::fs::write(precious.join("notes.txt"), "keep me").unwrap();
    assert_one_line_failure(&["run", "quickstart", "--quick", "--out", precious.to_str().unwrap()], &["precious"]);
    assert_eq!(std::fs::read_to_string(precious.join("notes.txt")).unwrap(), "keep me");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `export-mcu --kernels`: the choice reaches the generated C (`TL_USE_DSP`) and the summary line, the
/// default follows the target, and an unknown kernel set is one line naming it.
#[test]
fn export_mcu_kernels_flag_selects_the_c_kernels() {
    use tinylab_classical::int8::{ConvertOptions, convert};
    use tinylab_classical::nn::{Conv2d, Flatten, GlobalAvgPool, Linear, Sequential};
    use tinylab_classical::ops::Conv2dSpec;
    use tinylab_classical::tensor::{randn, rng};

    let dir = std::env::temp_dir().join(format!("tinylab-cli-kernels-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let r = &mut rng(7);
    let spec = Conv2dSpec { stride: (1, 1), padding: (1, 1), dilation: (1, 1), groups: 1 };
    let mut net = Sequential::new()
        .push(Conv2d::new(1, 4, 3, spec, true, r))
        .push(GlobalAvgPool)
        .push(Flatten)
        .push(Linear::new(4, 3, true, r));
    let calib = randn(&[8, 1, 6, 6], 1.0, &mut rng(8));
    let model = convert(&mut net, &calib, &ConvertOptions::default()).unwrap();
    let ckpt = dir.join("tiny.ckpt");
    model.save(&ckpt).unwrap();
    let ckpt = ckpt.to_str().unwrap();

    for (flags, want) in
        [(&[][..], "portable"), (&["--kernels", "dsp"][..], "dsp"), (&["--kernels", "portable"][..], "portable")]
    {
        let out_dir = dir.join(format!("c-{want}-{}", flags.len()));
        let mut args = vec!["export-mcu", ckpt, "--out", out_dir.to_str().unwrap()];
        args.extend_from_slice(flags);
        let out = tinylab(&args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let summary = String::from_utf8(out.stdout).unwrap();
        assert!(summary.contains(&format!("{want} kernels")), "{args:?}: {summary}");
        let kernels_c = std::fs::read_to_string(out_dir.join("tl_kernels.c")).unwrap();
        let dsp = if want == "dsp" { 1 } else { 0 };
        assert!(kernels_c.contains(&format!("#define TL_USE_DSP {dsp}")), "{args:?}");
    }
    let m4 = dir.join("c-m4");
    let out = tinylab(&["export-mcu", ckpt, "--out", m4.to_str().unwrap(), "--target", "cortex-m4"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8(out.stdout).unwrap().contains("dsp kernels"));

    let bogus = dir.join("c-bogus");
    let out = tinylab(&["export-mcu", ckpt, "--out", bogus.to_str().unwrap(), "--kernels", "bogus"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus"));
    assert!(!bogus.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
