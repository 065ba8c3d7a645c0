//! The C MFCC front end (`c/tl_mfcc.c`) against the Rust one (`tinylab_classical::data::audio::mfcc`),
//! byte for byte, on the host (gcc) and on the Cortex-M4 under qemu, on random, extreme, tonal and
//! synthesised-speech clips; and the whole keyword-spotting path (raw audio -> C MFCC -> an int8 CNN
//! trained on the bundled features) on both. Tests that need a tool follow
//! `toolchain::available_or_skip`: a note without the tool, a failure when
//! `TINYLAB_REQUIRE_TOOLCHAINS` is set.
// Measured instruction counts go to stderr (shown with --nocapture).
#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use tinylab_classical::data::audio::augment::{Augment, centred_clip};
use tinylab_classical::data::audio::bundle::bundled;
use tinylab_classical::data::audio::kws::{KWS_CLASSES, KwsOptions, KwsSource, kws_dataset};
use tinylab_classical::data::audio::mfcc::{CLIP_SAMPLES, MfccTables};
use tinylab_classical::int8::{ConvertOptions, convert};
use tinylab_classical::nn::{Act, Conv2d, Flatten, Linear, MaxPool2d, Sequential};
use tinylab_classical::ops::{Activation, Conv2dSpec, Pool2dSpec};
use tinylab_classical::optim::{Adam, LrSchedule};
use tinylab_classical::tensor::{rng, uniform};
use tinylab_classical::train::{TrainConfig, fit};
use tinylab_mcu_export::export::ExportOptions;
use tinylab_mcu_export::kws::{MFCC_TABLES_H, export_kws, export_mfcc, mfcc_expected, parse_kws_lines, tables_header};
use tinylab_mcu_export::target::{Board, Target};
use tinylab_mcu_export::toolchain::{self, build, run};

fn fresh_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kws-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_committed_tables_header_is_the_rust_tables() {
    let want = tables_header(MfccTables::get());
    if std::env::var("TINYLAB_UPDATE_FIXTURES").is_ok_and(|v| v == "1") {
        std::fs::write(Path::new(env!("CARGO_MANIFEST_DIR")).join("c/tl_mfcc_tables.h"), &want).unwrap();
        return;
    }
    assert_eq!(MFCC_TABLES_H, want, "c/tl_mfcc_tables.h is stale: rerun with TINYLAB_UPDATE_FIXTURES=1");
}

/// Seeded clips that exercise the arithmetic: uniform noise at full scale and at a few LSBs, the
/// int16 extremes (constant -32768, alternating +-full scale: the largest FFT values), digital
/// silence, an impulse, pure tones from 30 Hz to 7.9 kHz at several levels, and the bundled espeak-ng
/// utterances, centred and augmented.
fn test_clips(seed: u64) -> Vec<(String, Vec<i16>)> {
    let r = &mut rng(seed);
    let mut clips = Vec::new();
    for amp in [32767.0, 3000.0, 4.0] {
        clips.push((
            format!("noise {amp}"),
            (0..CLIP_SAMPLES).map(|_| ((uniform(r) * 2.0 - 1.0) * amp).round() as i16).collect(),
        ));
    }
    clips.push(("min".into(), vec![i16::MIN; CLIP_SAMPLES]));
    clips.push((
        "alternating".into(),
        (0..CLIP_SAMPLES).map(|n| if n % 2 == 0 { i16::MAX } else { i16::MIN }).collect(),
    ));
    clips.push(("silence".into(), vec![0; CLIP_SAMPLES]));
    let mut impulse = vec![0; CLIP_SAMPLES];
    impulse[4321] = 20000;
    clips.push(("impulse".into(), impulse));
    for (f, a) in [(30.0, 20000.0), (440.0, 32767.0), (1000.0, 500.0), (3999.0, 8000.0), (7900.0, 12000.0)] {
        let tone = (0..CLIP_SAMPLES)
            .map(|n| (a * (2.0 * std::f64::consts::PI * f * n as f64 / 16000.0).sin()).round() as i16)
            .collect();
        clips.push((format!("tone {f} Hz"), tone));
    }
    let b = bundled().unwrap();
    for (i, c) in b.clips.iter().enumerate() {
        clips.push((format!("{} centred", KWS_CLASSES[c.class]), centred_clip(&c.samples)));
        clips.push((
            format!("{} augmented", KWS_CLASSES[c.class]),
            Augment::default().clip(&c.samples, seed + i as u64),
        ));
    }
    clips
}

/// Builds and runs the MFCC-only program on `target`; every clip's bytes must equal Rust's.
fn check_front_end(target: Target, clips: &[(String, Vec<i16>)]) -> Vec<u64> {
    let dir = fresh_dir(&format!("mfcc-{target}"));
    let audio: Vec<Vec<i16>> = clips.iter().map(|c| c.1.clone()).collect();
    let opts = ExportOptions { target, board: Board::qemu(target), ..ExportOptions::default() };
    export_mfcc(&dir, &opts, &audio).unwrap();
    build(&dir, target).unwrap();
    let out = run(&dir, target).unwrap();
    for (i, (name, clip)) in clips.iter().enumerate() {
        assert_eq!(out.outputs[i], mfcc_expected(clip).unwrap(), "{target}: clip {i} ({name}) differs");
    }
    assert_eq!(out.mismatches, 0, "{}", out.stdout);
    out.instructions
}

#[test]
fn c_mfcc_matches_rust_on_the_host() {
    if !toolchain::available_or_skip(Target::Host, "c_mfcc_matches_rust_on_the_host") {
        return;
    }
    let clips = test_clips(1);
    assert!(clips.len() > 30);
    check_front_end(Target::Host, &clips);
}

#[test]
fn c_mfcc_matches_rust_on_cortex_m4() {
    if !toolchain::available_or_skip(Target::CortexM4, "c_mfcc_matches_rust_on_cortex_m4") {
        return;
    }
    // A few of each kind (each clip is 32 KB of flash and about 2 M instructions).
    let clips: Vec<_> = test_clips(2).into_iter().enumerate().filter(|(i, _)| i % 3 == 0).map(|(_, c)| c).collect();
    let instructions = check_front_end(Target::CortexM4, &clips);
    // No floating point on the MCU path: the front end's object code has no VFP instruction (their
    // mnemonics all start with `v`).
    let obj = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kws-tests/mfcc-cortex-m4/tl_mfcc.o");
    let dis = std::process::Command::new("arm-none-eabi-objdump").arg("-d").arg(&obj).output().unwrap();
    let text = String::from_utf8_lossy(&dis.stdout);
    assert!(text.contains("tl_mfcc_frame_q7"), "{text}");
    let vfp: Vec<&str> = text.lines().filter(|l| l.split('\t').nth(2).is_some_and(|m| m.starts_with('v'))).collect();
    assert!(vfp.is_empty(), "floating-point instructions in tl_mfcc.o: {vfp:?}");
    for ((name, _), n) in clips.iter().zip(&instructions) {
        eprintln!("cortex-m4 MFCC of one 1 s clip ({name}): {n} instructions");
    }
    // Digital silence skips the FFT; every other clip runs the same loops.
    assert!(instructions.iter().all(|&n| n > 0));
}

/// A small int8 CNN trained on the features of `source`: conv 3x3 (8) - pool 2 - conv 3x3 (16) - pool
/// 2 - linear 12; its int8 accuracy on the held-out voices must exceed `min_accuracy`.
fn small_kws_model(source: KwsSource, min_accuracy: f64) -> tinylab_classical::int8::Int8Model {
    let data = kws_dataset(&KwsOptions { source, ..KwsOptions::default() }).unwrap();
    let r = &mut rng(5);
    let same = Conv2dSpec { stride: (1, 1), padding: (1, 1), dilation: (1, 1), groups: 1 };
    let pool = Pool2dSpec { kernel: 2, stride: 2, padding: 0 };
    let mut net = Sequential::new()
        .push(Conv2d::new(1, 8, 3, same, true, r))
        .push(Act { kind: Activation::Relu })
        .push(MaxPool2d { spec: pool })
        .push(Conv2d::new(8, 16, 3, same, true, r))
        .push(Act { kind: Activation::Relu })
        .push(MaxPool2d { spec: pool })
        .push(Flatten)
        .push(Linear::new(16 * 12 * 2, KWS_CLASSES.len(), true, r));
    let cfg = TrainConfig {
        epochs: 15,
        batch_size: 32,
        lr: LrSchedule::Constant { base: 0.003 },
        seed: 3,
        patience: None,
        clip_grad_norm: Some(5.0),
        progress: false,
        checkpoint: None,
    };
    let (train, test) = (&data.train, &data.test);
    fit(&mut net, &mut Adam::new(0.0), (&train.images, &train.labels), (&test.images, &test.labels), &cfg).unwrap();
    let model = convert(&mut net, &data.train.images.clone().into_dyn(), &ConvertOptions::default()).unwrap();
    // The model learned: its int8 accuracy on the held-out voices is far above chance (1/12).
    let predicted = model.predict(&test.images.clone().into_dyn()).unwrap();
    let correct = predicted.iter().zip(&test.labels).filter(|(p, l)| p == l).count();
    let accuracy = correct as f64 / test.len() as f64;
    eprintln!(
        "small int8 CNN on the {:?} form ({} training clips): test accuracy {accuracy:.3} ({correct}/{}, unseen voices)",
        data.form,
        train.len(),
        test.len()
    );
    assert!(accuracy > min_accuracy, "{accuracy}");
    model
}

/// Raw audio -> C MFCC -> the CNN on `target`: the model's input and output bytes and the keyword
/// equal the Rust front end and engine's.
fn check_kws(target: Target, model: &tinylab_classical::int8::Int8Model, clips: &[Vec<i16>]) -> (Vec<u64>, Vec<u64>) {
    let dir = fresh_dir(&format!("kws-{target}"));
    let opts = ExportOptions { target, board: Board::qemu(target), ..ExportOptions::default() };
    let expected = export_kws(model, &dir, &opts, clips).unwrap();
    build(&dir, target).unwrap();
    let out = run(&dir, target).unwrap();
    assert_eq!(out.outputs, expected.bytes, "{target}");
    assert_eq!(out.mismatches, 0);
    let (model_cycles, keywords) = parse_kws_lines(&out.stdout).unwrap();
    assert_eq!(keywords, expected.keywords, "{target}");
    let model_instr = model_cycles
        .iter()
        .map(|&c| {
            if target.is_cortex_m() {
                toolchain::ticks_to_instructions(c.saturating_sub(out.timer_overhead))
            } else {
                0
            }
        })
        .collect();
    (out.instructions, model_instr)
}

#[test]
fn keyword_spotting_from_raw_audio_on_host_and_cortex_m4() {
    let host = toolchain::available_or_skip(Target::Host, "keyword_spotting_from_raw_audio (host)");
    let m4 = toolchain::available_or_skip(Target::CortexM4, "keyword_spotting_from_raw_audio (cortex-m4)");
    if !host && !m4 {
        return;
    }
    let model = small_kws_model(KwsSource::Bundled, 0.4);
    let b = bundled().unwrap();
    let clips: Vec<Vec<i16>> =
        b.clips.iter().map(|c| centred_clip(&c.samples)).chain([vec![0; CLIP_SAMPLES]]).collect();
    if host {
        check_kws(Target::Host, &model, &clips);
    }
    if m4 {
        let (mfcc, model_instr) = check_kws(Target::CortexM4, &model, &clips[..4]);
        eprintln!("cortex-m4 keyword spotting per 1 s clip: MFCC {mfcc:?} instructions, CNN {model_instr:?}");
    }
}

/// The same CNN on the full form (the espeak-ng cache of `scripts/gen_kws.sh`; fails without it).
#[test]
#[ignore = "needs the espeak-ng cache of scripts/gen_kws.sh; trains on 3,360 clips"]
fn the_small_cnn_on_the_full_form() {
    let dir = tinylab_classical::data::audio::kws::default_cache_dir().expect("a cache directory");
    small_kws_model(KwsSource::Cache(dir), 0.6);
}
