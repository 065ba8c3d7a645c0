//! The fixed-point MFCC against references: the Rust float implementation of the same definition,
//! the numbers of an independent implementation (librosa 0.11 + scipy, committed as
//! `tests/fixtures/mfcc/librosa_mfcc.json` by `benches/peers/kws_mfcc_librosa.py`), and the closed
//! form of a pure tone (its energy lands in the mel band whose centre it sits on).
// The measured errors go to stderr (shown with --nocapture).
#![allow(clippy::print_stderr)]

use serde::Deserialize;
use tinylab_classical::data::audio::augment::{Augment, centred_clip};
use tinylab_classical::data::audio::bundle::bundled;
use tinylab_classical::data::audio::mfcc::tables::{hz_to_mel, mel_filterbank, mel_to_hz};
use tinylab_classical::data::audio::mfcc::{
    CLIP_SAMPLES, INT8_SCALE, INT8_ZERO_POINT, N_FRAMES, N_MEL, log_mel_fixed, log_mel_float, mfcc_float, mfcc_int8,
    mfcc_q7,
};
use tinylab_classical::tensor::{rng, uniform};

#[derive(Deserialize)]
struct Fixture {
    librosa: String,
    clips: Vec<FixtureClip>,
    mel_filterbank: Vec<(usize, usize, f64)>,
}

#[derive(Deserialize)]
struct FixtureClip {
    name: String,
    mfcc: Vec<Vec<f64>>,
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("fixtures/mfcc/librosa_mfcc.json")).unwrap()
}

/// The fixture's signals, rebuilt as the peer script builds them.
fn fixture_signals() -> Vec<Vec<i16>> {
    let mut s: Vec<Vec<i16>> = bundled().unwrap().clips.iter().map(|c| centred_clip(&c.samples)).collect();
    s.push((0..CLIP_SAMPLES).map(|n| if (n / 16) % 2 == 0 { 12000 } else { -12000 }).collect());
    s.push((0..CLIP_SAMPLES).map(|n| if n % 5 < 2 { 9000 } else { -6000 }).collect());
    s
}

/// Max and mean absolute difference.
fn diff(a: &[f64], b: &[f64]) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| (x - y).abs()).collect();
    (d.iter().cloned().fold(0.0, f64::max), d.iter().sum::<f64>() / d.len() as f64)
}

fn q7_as_f64(q: &[i16]) -> Vec<f64> {
    q.iter().map(|&v| f64::from(v) / 128.0).collect()
}

#[test]
fn the_mel_filterbank_is_librosas() {
    let fx = fixture();
    let mut dense = vec![[0.0f64; 257]; N_MEL];
    for f in mel_filterbank().iter().enumerate() {
        for (j, &w) in f.1.weights.iter().enumerate() {
            dense[f.0][f.1.first_bin + j] = w;
        }
    }
    let mut peer = vec![[0.0f64; 257]; N_MEL];
    for &(m, k, w) in &fx.mel_filterbank {
        peer[m][k] = w;
    }
    for m in 0..N_MEL {
        for k in 0..257 {
            assert!(
                (dense[m][k] - peer[m][k]).abs() < 1e-9,
                "filter {m}, bin {k}: {} vs librosa {}",
                dense[m][k],
                peer[m][k]
            );
        }
    }
}

#[test]
fn the_float_reference_matches_librosa() {
    let fx = fixture();
    let signals = fixture_signals();
    assert_eq!(fx.clips.len(), signals.len());
    let (mut worst, mut mean) = (0.0f64, 0.0);
    for (c, s) in fx.clips.iter().zip(&signals) {
        let peer: Vec<f64> = c.mfcc.iter().flatten().copied().collect();
        let (mx, mn) = diff(&mfcc_float(s).unwrap(), &peer);
        assert!(mx < 1e-4, "{}: float reference differs from librosa {} by up to {mx}", c.name, fx.librosa);
        worst = worst.max(mx);
        mean += mn / signals.len() as f64;
    }
    eprintln!("float reference vs librosa {}: max |d| {worst:.2e}, mean {mean:.2e}", fx.librosa);
}

/// The fixed-point MFCC (Q7) is within its quantization error of the float reference, and of
/// librosa's numbers, on the fixture's speech and closed-form signals and on seeded noise and
/// augmented speech; the int8 output is the Q7 one rounded to its 2/3 step.
#[test]
fn fixed_point_is_within_its_quantization_error() {
    let fx = fixture();
    let mut signals = fixture_signals();
    let peer: Vec<Vec<f64>> = fx.clips.iter().map(|c| c.mfcc.iter().flatten().copied().collect()).collect();
    let r = &mut rng(11);
    for amp in [30000.0, 300.0] {
        signals.push((0..CLIP_SAMPLES).map(|_| ((uniform(r) * 2.0 - 1.0) * amp).round() as i16).collect());
    }
    for (i, c) in bundled().unwrap().clips.iter().enumerate() {
        signals.push(Augment::default().clip(&c.samples, 100 + i as u64));
    }
    let (mut worst, mut sum, mut n) = (0.0f64, 0.0, 0usize);
    let (mut worst_peer, mut sum_peer) = (0.0f64, 0.0);
    let mut worst_int8 = 0.0f64;
    for (i, s) in signals.iter().enumerate() {
        let fixed = q7_as_f64(&mfcc_q7(s).unwrap());
        let float = mfcc_float(s).unwrap();
        let (mx, mn) = diff(&fixed, &float);
        worst = worst.max(mx);
        sum += mn;
        n += 1;
        if let Some(p) = peer.get(i) {
            let (mx, mn) = diff(&fixed, p);
            worst_peer = worst_peer.max(mx);
            sum_peer += mn;
        }
        let deq: Vec<f64> = mfcc_int8(s)
            .unwrap()
            .iter()
            .map(|&q| f64::from((i32::from(q) - INT8_ZERO_POINT) as f32 * INT8_SCALE))
            .collect();
        // Inside the int8 range the error is the fixed-point one plus half a step.
        let inside: Vec<(f64, f64)> =
            deq.iter().zip(&float).filter(|(_, f)| **f > -124.0 && **f < 46.0).map(|(a, b)| (*a, *b)).collect();
        let (a, b): (Vec<f64>, Vec<f64>) = inside.into_iter().unzip();
        worst_int8 = worst_int8.max(diff(&a, &b).0);
    }
    let mean = sum / n as f64;
    let mean_peer = sum_peer / peer.len() as f64;
    eprintln!(
        "fixed Q7 vs float reference ({n} clips): max |d| {worst:.4}, mean {mean:.4}; vs librosa ({} clips): max \
         {worst_peer:.4}, mean {mean_peer:.4}; int8 vs float: max {worst_int8:.4}",
        peer.len()
    );
    // Measured: max 0.038, mean 0.0022 (the Q7 step is 0.0078). q15 twiddles put the FFT's rounding
    // noise about 90 dB below a frame's peak, so a band far below the peak has a larger log error;
    // a full-scale pure tone (not in this set) reaches 0.3.
    assert!(worst < 0.1 && mean < 0.01, "max {worst}, mean {mean}");
    assert!(worst_peer < 0.1 && mean_peer < 0.01, "max {worst_peer}, mean {mean_peer}");
    // int8: half its 2/3 step on top.
    assert!(worst_int8 < 1.0 / 3.0 + 0.1, "{worst_int8}");
}

/// A pure tone at a filter's centre frequency puts the most energy in that filter (every frame),
/// and the fixed-point log-mel energies follow the float ones there.
#[test]
fn a_pure_tone_lands_in_its_mel_band() {
    let (lo, hi) = (hz_to_mel(20.0), hz_to_mel(4000.0));
    for m in 0..N_MEL {
        let centre = mel_to_hz(lo + (hi - lo) * (m + 1) as f64 / (N_MEL + 1) as f64);
        let tone: Vec<i16> = (0..CLIP_SAMPLES)
            .map(|n| (10000.0 * (2.0 * std::f64::consts::PI * centre * n as f64 / 16000.0).sin()).round() as i16)
            .collect();
        let fixed = log_mel_fixed(&tone).unwrap();
        let float = log_mel_float(&tone).unwrap();
        for t in [0, N_FRAMES / 2, N_FRAMES - 1] {
            let row = &fixed[t * N_MEL..(t + 1) * N_MEL];
            let best = (0..N_MEL).fold(0, |b, i| if row[i] > row[b] { i } else { b });
            // Below ~300 Hz the filters are narrower than the Hann window's main lobe (4 bins of
            // 31.25 Hz): the neighbour may tie within the lobe.
            let slack = if centre < 300.0 { 1 } else { 0 };
            assert!(
                best.abs_diff(m) <= slack,
                "tone at {centre:.1} Hz (filter {m}), frame {t}: band {best} is largest"
            );
            assert!(
                (row[m] - float[t * N_MEL + m]).abs() < 0.01,
                "tone {centre:.1} Hz: {} vs {}",
                row[m],
                float[t * N_MEL + m]
            );
        }
    }
}
